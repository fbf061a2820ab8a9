//! SendTargets (RFC 7143 §13, SendTargets key; Appendix C): the text a target answers with
//! when an initiator asks which targets and portals it offers.
//!
//! The caller formats the targets' portals as `TargetAddress` values ("192.0.2.1:3260,1");
//! [`target_visible`] says which targets a portal group's `discovery-filter` lets the
//! initiator see, and [`send_targets`] applies the request's scope and writes the text.

use crate::access::{initiator_name_allowed, initiator_portal_allowed};
use crate::chap::ChapCredential;
use crate::login::{Auth, TargetAccess};
use crate::text::TextWriter;
use std::net::IpAddr;

/// A portal group's `discovery-filter` (ctl.conf(5)): which targets SendTargets reports to
/// an initiator. Each level adds a condition to the one before.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DiscoveryFilter {
    /// Every target of the portal group.
    #[default]
    None,
    /// Targets whose `initiator-portal` list admits the initiator's address.
    Portal,
    /// ... and whose `initiator-name` list admits its name.
    PortalName,
    /// ... and, for a target that authenticates, the initiator authenticated its discovery
    /// session with CHAP as a user the target knows, with the same secret.
    PortalNameAuth,
}

/// The initiator of a session asking SendTargets, as the filter sees it.
#[derive(Clone, Copy, Debug)]
pub struct Asker<'a> {
    pub name: &'a str,
    /// The address its connection comes from.
    pub addr: IpAddr,
    /// The CHAP credential its session authenticated with, if it did.
    pub chap: Option<&'a ChapCredential>,
}

/// Whether `filter` lets `asker` see `target` (ctld's discovery.c,
/// `discovery_target_filtered_out`). As in ctld, only `PortalNameAuth` looks at the target's
/// authentication: it hides a `deny` target always (nobody can authenticate to it) and a
/// CHAP target unless the asker's CHAP user and secret are among the target's; `Portal` and
/// `PortalName` show a `deny` target whose lists admit the asker, whose login then fails.
pub fn target_visible(filter: DiscoveryFilter, target: &TargetAccess, asker: &Asker<'_>) -> bool {
    if filter == DiscoveryFilter::None {
        return true;
    }
    if !initiator_portal_allowed(&target.allowed_portals, asker.addr) {
        return false;
    }
    if filter == DiscoveryFilter::Portal {
        return true;
    }
    if !initiator_name_allowed(&target.allowed_initiators, asker.name) {
        return false;
    }
    if filter == DiscoveryFilter::PortalName {
        return true;
    }
    match &target.auth {
        Auth::None => true,
        Auth::Deny => false,
        Auth::Chap(credentials) => asker
            .chap
            .is_some_and(|mine| credentials.iter().any(|c| c.same_user_and_secret(mine))),
    }
}

/// A target as SendTargets reports it: its name and its `TargetAddress` values.
pub type TargetEntry = (String, Vec<String>);

/// Whether `value` has the form of an iSCSI name (RFC 7143 §4.2.7): `iqn.`, `eui.` or `naa.`.
fn looks_like_iscsi_name(value: &str) -> bool {
    let prefix = value.get(..4).unwrap_or_default();
    ["iqn.", "eui.", "naa."]
        .iter()
        .any(|p| prefix.eq_ignore_ascii_case(p))
        && value.len() > 4
}

fn write_target(out: &mut TextWriter, name: &str, addresses: &[String]) {
    out.push("TargetName", name);
    for a in addresses {
        out.push("TargetAddress", a);
    }
}

/// Answers `SendTargets=<request_value>`:
/// - `All`: every target in `targets`;
/// - an iSCSI name: that target, or nothing if it is not in `targets`;
/// - empty: the session's own target (`session_target`, the normal session's TargetName);
///   in a discovery session (`session_target` is `None`) this is invalid.
///
/// Anything else, including `all` in the wrong case, is answered `SendTargets=Reject`.
pub fn send_targets(
    request_value: &str,
    targets: &[TargetEntry],
    session_target: Option<&str>,
) -> Vec<u8> {
    let mut out = TextWriter::new();
    match request_value {
        "All" => {
            for (name, addresses) in targets {
                write_target(&mut out, name, addresses);
            }
        }
        "" => match session_target {
            Some(own) => {
                if let Some((name, addresses)) =
                    targets.iter().find(|(n, _)| n.eq_ignore_ascii_case(own))
                {
                    write_target(&mut out, name, addresses);
                }
            }
            None => out.push("SendTargets", "Reject"),
        },
        name if looks_like_iscsi_name(name) => {
            // iSCSI names are case-insensitive (normalised to lower case).
            if let Some((name, addresses)) =
                targets.iter().find(|(n, _)| n.eq_ignore_ascii_case(name))
            {
                write_target(&mut out, name, addresses);
            }
        }
        _ => out.push("SendTargets", "Reject"),
    }
    out.into_bytes()
}

/// Answers a whole Text request in full feature phase: `SendTargets` as above, any other
/// key `NotUnderstood` (RFC 7143 §6.2). Keys are case-sensitive, so `sENDtARGETS` is not
/// understood.
pub fn text_response(
    pairs: &[(String, String)],
    targets: &[TargetEntry],
    session_target: Option<&str>,
) -> Vec<u8> {
    let mut out = Vec::new();
    for (key, value) in pairs {
        if key == "SendTargets" {
            out.extend(send_targets(value, targets, session_target));
        } else {
            let mut w = TextWriter::new();
            w.push(key, "NotUnderstood");
            out.extend(w.into_bytes());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::InitiatorNetwork;
    use crate::text::parse;

    const ME: &str = "iqn.2024-01.org.example:host";

    fn access(auth: Auth, names: &[&str], portals: &[&str]) -> TargetAccess {
        TargetAccess {
            name: "iqn.2024-01.org.dyad:t".into(),
            alias: None,
            auth,
            allowed_initiators: names.iter().map(|n| n.to_string()).collect(),
            allowed_portals: portals
                .iter()
                .map(|p| p.parse::<InitiatorNetwork>().unwrap())
                .collect(),
        }
    }

    fn asker<'a>(addr: &str, chap: Option<&'a ChapCredential>) -> Asker<'a> {
        Asker {
            name: ME,
            addr: addr.parse().unwrap(),
            chap,
        }
    }

    const ALL: [DiscoveryFilter; 4] = [
        DiscoveryFilter::None,
        DiscoveryFilter::Portal,
        DiscoveryFilter::PortalName,
        DiscoveryFilter::PortalNameAuth,
    ];

    /// Which of the four filters show `target` to `who`, in the order of [`ALL`].
    fn shown(target: &TargetAccess, who: &Asker<'_>) -> [bool; 4] {
        ALL.map(|f| target_visible(f, target, who))
    }

    #[test]
    fn open_target_is_shown_by_every_filter() {
        let t = access(Auth::None, &[], &[]);
        assert_eq!(shown(&t, &asker("192.0.2.1", None)), [true; 4]);
    }

    #[test]
    fn portal_filter_hides_targets_for_other_addresses() {
        let t = access(Auth::None, &[], &["192.0.2.0/24"]);
        assert_eq!(shown(&t, &asker("192.0.2.1", None)), [true; 4]);
        assert_eq!(
            shown(&t, &asker("198.51.100.1", None)),
            [true, false, false, false]
        );
        let v6 = access(Auth::None, &[], &["[2001:db8::]/32"]);
        assert_eq!(shown(&v6, &asker("2001:db8:5::1", None)), [true; 4]);
        assert_eq!(
            shown(&v6, &asker("2001:db9::1", None)),
            [true, false, false, false]
        );
    }

    #[test]
    fn portal_name_filter_hides_targets_for_other_names() {
        let t = access(Auth::None, &["iqn.2024-01.org.example:other"], &[]);
        assert_eq!(
            shown(&t, &asker("192.0.2.1", None)),
            [true, true, false, false]
        );
        let t = access(Auth::None, &["IQN.2024-01.ORG.EXAMPLE:HOST"], &[]);
        assert_eq!(shown(&t, &asker("192.0.2.1", None)), [true; 4]);
    }

    #[test]
    fn portal_name_auth_filter_needs_the_targets_chap_credentials() {
        let alice = ChapCredential::new("alice", "alicesecret1");
        let t = access(
            Auth::Chap(vec![
                ChapCredential::new("bob", "bobsecret123"),
                alice.clone().with_mutual("t", "targetsecret"),
            ]),
            &[],
            &[],
        );
        // Authenticated as a user the target knows, with the same secret.
        assert_eq!(shown(&t, &asker("192.0.2.1", Some(&alice))), [true; 4]);
        // Not authenticated at all.
        assert_eq!(
            shown(&t, &asker("192.0.2.1", None)),
            [true, true, true, false]
        );
        // A user the target does not know.
        let carol = ChapCredential::new("carol", "alicesecret1");
        assert_eq!(
            shown(&t, &asker("192.0.2.1", Some(&carol))),
            [true, true, true, false]
        );
        // The right user with another secret.
        let other = ChapCredential::new("alice", "notthesecret");
        assert_eq!(
            shown(&t, &asker("192.0.2.1", Some(&other))),
            [true, true, true, false]
        );
    }

    #[test]
    fn portal_name_auth_filter_still_checks_the_lists() {
        let alice = ChapCredential::new("alice", "alicesecret1");
        let t = access(Auth::Chap(vec![alice.clone()]), &[], &["192.0.2.0/24"]);
        assert_eq!(
            shown(&t, &asker("203.0.113.1", Some(&alice))),
            [true, false, false, false]
        );
    }

    #[test]
    fn deny_target_is_hidden_by_portal_name_auth() {
        // ctld: only portal-name-auth looks at the auth type; nobody has credentials for a
        // deny group, so it is hidden, while the list-only filters show it.
        let t = access(Auth::Deny, &[], &[]);
        let alice = ChapCredential::new("alice", "alicesecret1");
        assert_eq!(
            shown(&t, &asker("192.0.2.1", None)),
            [true, true, true, false]
        );
        assert_eq!(
            shown(&t, &asker("192.0.2.1", Some(&alice))),
            [true, true, true, false]
        );
        let fenced = access(Auth::Deny, &[], &["198.51.100.0/24"]);
        assert_eq!(
            shown(&fenced, &asker("192.0.2.1", None)),
            [true, false, false, false]
        );
    }

    fn targets() -> Vec<TargetEntry> {
        vec![
            (
                "iqn.2024-01.org.dyad:disk0".into(),
                vec!["192.0.2.1:3260,1".into(), "[2001:db8::1]:3260,1".into()],
            ),
            (
                "iqn.2024-01.org.dyad:disk1".into(),
                vec!["192.0.2.1:3260,1".into()],
            ),
        ]
    }

    fn pairs(data: &[u8]) -> Vec<(String, String)> {
        // Repeated keys are legal in SendTargets answers, so split by hand.
        data.split(|&c| c == 0)
            .filter(|e| !e.is_empty())
            .map(|e| {
                let s = std::str::from_utf8(e).unwrap();
                let (k, v) = s.split_once('=').unwrap();
                (k.to_string(), v.to_string())
            })
            .collect()
    }

    fn p(k: &str, v: &str) -> (String, String) {
        (k.to_string(), v.to_string())
    }

    #[test]
    fn all() {
        let out = send_targets("All", &targets(), None);
        assert_eq!(
            pairs(&out),
            vec![
                p("TargetName", "iqn.2024-01.org.dyad:disk0"),
                p("TargetAddress", "192.0.2.1:3260,1"),
                p("TargetAddress", "[2001:db8::1]:3260,1"),
                p("TargetName", "iqn.2024-01.org.dyad:disk1"),
                p("TargetAddress", "192.0.2.1:3260,1"),
            ]
        );
        assert!(out.ends_with(&[0]));
    }

    #[test]
    fn one_by_name() {
        let out = send_targets("iqn.2024-01.org.dyad:disk1", &targets(), None);
        assert_eq!(
            pairs(&out),
            vec![
                p("TargetName", "iqn.2024-01.org.dyad:disk1"),
                p("TargetAddress", "192.0.2.1:3260,1"),
            ]
        );
        let out = send_targets("IQN.2024-01.ORG.DYAD:DISK1", &targets(), None);
        assert_eq!(pairs(&out).len(), 2);
        assert!(send_targets("iqn.2024-01.org.dyad:nope", &targets(), None).is_empty());
    }

    #[test]
    fn empty_value() {
        let out = send_targets("", &targets(), Some("iqn.2024-01.org.dyad:disk0"));
        assert_eq!(pairs(&out).len(), 3);
        assert_eq!(
            send_targets("", &targets(), None),
            b"SendTargets=Reject\0".to_vec()
        );
    }

    #[test]
    fn invalid_values() {
        // libiscsi's test_iscsi_sendtargets_invalid expects these to be refused.
        for v in ["Alle", "A", "aLL", "all", "iqn.", "foo"] {
            assert_eq!(
                send_targets(v, &targets(), None),
                b"SendTargets=Reject\0".to_vec(),
                "{v}"
            );
        }
    }

    #[test]
    fn no_targets() {
        assert!(send_targets("All", &[], None).is_empty());
    }

    #[test]
    fn whole_text_request() {
        let req = parse(b"sENDtARGETS=aLL\0").unwrap();
        assert_eq!(
            text_response(&req, &targets(), None),
            b"sENDtARGETS=NotUnderstood\0".to_vec()
        );
        let req = parse(b"SendTargets=All\0").unwrap();
        assert_eq!(pairs(&text_response(&req, &targets(), None)).len(), 5);
    }
}
