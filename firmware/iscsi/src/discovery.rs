//! SendTargets (RFC 7143 §13, SendTargets key; Appendix C): the text a target answers with
//! when an initiator asks which targets and portals it offers.
//!
//! The caller decides which targets the initiator may see (discovery filters, LUN maps)
//! and formats their portals as `TargetAddress` values ("192.0.2.1:3260,1"); this module
//! only applies the request's scope and writes the text.

use crate::text::TextWriter;

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
    use crate::text::parse;

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
