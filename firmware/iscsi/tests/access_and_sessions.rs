//! End-to-end tests of access control and of the console's session verbs against the real
//! connection engine over TCP on 127.0.0.1: initiator-name and initiator-portal lists,
//! discovery filters, the live target list, one session table shared by two portal groups,
//! and islist / islogout / isterminate.

// Each test binary uses a different part of the shared fixture.
#[allow(dead_code)]
mod support;

use iscsi::access::InitiatorNetwork;
use iscsi::discovery::DiscoveryFilter;
use iscsi::login::{Auth, ChapCredential};
use iscsi::params::SessionType;
use iscsi::portal::{self, PortalGroup, TargetDef};
use iscsi::session::SessionSelector;
use scsi::alua::{relative_port_id, TPG_SINGLE};
use scsi::mutation::Mutation;
use scsi::PortConfig;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};
use support::initiator::{
    op, parse_text, text, Initiator, LoginFields, Pdu, INITIATOR, READ_TIMEOUT, RESERVED,
};
use support::{isid, quiet_timers, run, Target, TARGET};
use tokio::net::TcpListener;

const AUTHORIZATION_FAILURE: (u8, u8) = (2, 2);
const NOT_FOUND: (u8, u8) = (2, 3);

fn network(s: &str) -> InitiatorNetwork {
    s.parse().expect("network")
}

/// Changes the fixture's one target.
fn edit_target(pg: &PortalGroup<backend::storage::Storage>, edit: impl FnOnce(&mut TargetDef)) {
    let mut targets = pg.targets();
    edit(&mut targets[0]);
    pg.set_targets(targets);
}

/// One login PDU (to `target`, or discovery) that is expected to fail; returns its status.
async fn refused_login(addr: SocketAddr, target: Option<&str>) -> (u8, u8) {
    let mut i = Initiator::connect(addr, isid(9)).await;
    let mut pairs = vec![("InitiatorName", INITIATOR)];
    match target {
        Some(t) => pairs.push(("TargetName", t)),
        None => pairs.push(("SessionType", "Discovery")),
    }
    let r = i.login_pdu(&LoginFields::new(isid(9)), &text(&pairs)).await;
    i.expect_closed(READ_TIMEOUT).await;
    r.login_status()
}

/// Asks `SendTargets=<value>` and returns the answer's pairs.
async fn send_targets(i: &mut Initiator, value: &str) -> Vec<(String, String)> {
    let itt = i.itt();
    let b = i.text_request(itt, RESERVED, true, false);
    i.send(b, &[], &text(&[("SendTargets", value)]))
        .await
        .expect("send Text Request");
    let r = i.recv().await;
    assert_eq!(r.opcode(), op::TEXT_RESPONSE);
    assert!(r.final_());
    parse_text(&r.data)
}

/// The target names in a SendTargets answer.
fn names(pairs: &[(String, String)]) -> Vec<String> {
    pairs
        .iter()
        .filter(|(k, _)| k == "TargetName")
        .map(|(_, v)| v.clone())
        .collect()
}

async fn discovery_session(t: &Target) -> Initiator {
    let mut i = Initiator::connect(t.addr, isid(50)).await;
    i.login(None, &[]).await;
    i
}

async fn normal_session(addr: SocketAddr, n: u16) -> Initiator {
    let mut i = Initiator::connect(addr, isid(n)).await;
    i.login(Some(TARGET), &[]).await;
    i
}

/// Waits up to `within` for the session table to hold `n` sessions.
async fn wait_sessions(t: &Target, n: usize, within: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    while t.portal.sessions.len() != n {
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    true
}

fn is_logout_request(p: &Pdu, seconds: u16) -> bool {
    p.opcode() == op::ASYNC_MESSAGE
        && p.itt() == RESERVED
        && p.bhs[36] == 1
        && p.bhs[42..44] == seconds.to_be_bytes()
}

// --- initiator-name and initiator-portal --------------------------------------------------

#[test]
fn login_from_an_address_outside_the_portal_list_is_not_authorized() {
    run(
        |pg| {
            edit_target(pg, |t| {
                t.access.allowed_portals = vec![network("192.0.2.0/24")]
            })
        },
        |t| async move {
            assert_eq!(
                refused_login(t.addr, Some(TARGET)).await,
                AUTHORIZATION_FAILURE
            );
            assert!(t.portal.sessions.is_empty());
            // The list applies to the next login as soon as it changes.
            edit_target(&t.portal, |d| {
                d.access.allowed_portals = vec![network("192.0.2.0/24"), network("127.0.0.0/8")]
            });
            normal_session(t.addr, 1).await.ping(b"").await;
        },
    );
}

#[test]
fn login_with_an_unlisted_initiator_name_is_not_authorized() {
    run(
        |pg| {
            edit_target(pg, |t| {
                t.access.allowed_initiators = vec!["iqn.2024-01.org.example:someone-else".into()]
            })
        },
        |t| async move {
            assert_eq!(
                refused_login(t.addr, Some(TARGET)).await,
                AUTHORIZATION_FAILURE
            );
            edit_target(&t.portal, |d| {
                d.access.allowed_initiators = vec![INITIATOR.to_uppercase()]
            });
            normal_session(t.addr, 1).await;
        },
    );
}

#[test]
fn discovery_from_an_address_outside_the_portal_list_is_not_authorized() {
    run(
        |pg| pg.discovery.allowed_portals = vec![network("[2001:db8::]/32")],
        |t| async move {
            assert_eq!(refused_login(t.addr, None).await, AUTHORIZATION_FAILURE);
        },
    );
}

// --- discovery filters ----------------------------------------------------------------------

#[test]
fn portal_filter_hides_a_target_from_unlisted_addresses() {
    run(
        |pg| {
            pg.discovery_filter = DiscoveryFilter::Portal;
            edit_target(pg, |t| {
                t.access.allowed_portals = vec![network("192.0.2.0/24")]
            });
        },
        |t| async move {
            let mut i = discovery_session(&t).await;
            assert!(send_targets(&mut i, "All").await.is_empty());
            assert!(send_targets(&mut i, TARGET).await.is_empty());
            edit_target(&t.portal, |d| {
                d.access.allowed_portals = vec![network("127.0.0.1")]
            });
            assert_eq!(names(&send_targets(&mut i, "All").await), vec![TARGET]);
        },
    );
}

#[test]
fn portal_name_auth_filter_hides_a_chap_target_from_an_unauthenticated_session() {
    run(
        |pg| {
            pg.discovery_filter = DiscoveryFilter::PortalNameAuth;
            edit_target(pg, |t| {
                t.access.auth = Auth::Chap(vec![ChapCredential::new("user", "secretsecret")])
            });
        },
        |t| async move {
            let mut i = discovery_session(&t).await;
            assert!(send_targets(&mut i, "All").await.is_empty());
            // The same target without authentication is shown.
            edit_target(&t.portal, |d| d.access.auth = Auth::None);
            assert_eq!(names(&send_targets(&mut i, "All").await), vec![TARGET]);
            // A deny target is hidden too: nobody can authenticate to it.
            edit_target(&t.portal, |d| d.access.auth = Auth::Deny);
            assert!(send_targets(&mut i, "All").await.is_empty());
        },
    );
}

// --- the live target list -------------------------------------------------------------------

#[test]
fn removing_a_target_ends_its_sessions_and_hides_it() {
    run(
        |_| {},
        |t| async move {
            let mut a = normal_session(t.addr, 1).await;
            let mut d = discovery_session(&t).await;
            let (removed, ended) = t.portal.remove_target(TARGET).expect("served");
            assert_eq!(removed.access.name, TARGET);
            assert_eq!(ended, 1, "the discovery session is not the target's");
            a.expect_closed(READ_TIMEOUT).await;
            assert!(send_targets(&mut d, "All").await.is_empty());
            assert_eq!(refused_login(t.addr, Some(TARGET)).await, NOT_FOUND);
            assert!(t.portal.remove_target(TARGET).is_none());
            // Back again.
            assert_eq!(t.portal.add_target(removed), 0);
            normal_session(t.addr, 2).await.ping(b"").await;
        },
    );
}

#[test]
fn a_target_whose_port_changed_loses_its_sessions() {
    run(
        |_| {},
        |t| async move {
            let mut a = normal_session(t.addr, 1).await;
            let mut moved = t.portal.targets();
            moved[0].port += 1;
            assert_eq!(t.portal.set_targets(moved), 1);
            a.expect_closed(READ_TIMEOUT).await;
            // Setting the same list again ends nothing.
            assert_eq!(t.portal.set_targets(t.portal.targets()), 0);
        },
    );
}

// --- one session table for the controller ---------------------------------------------------

/// A second portal group (tag 2) for the fixture's target, sharing its session table.
async fn second_portal_group(
    t: &Target,
) -> (SocketAddr, Rc<PortalGroup<backend::storage::Storage>>) {
    let port = relative_port_id(1, 1);
    t.device
        .apply(Mutation::PortAdded(PortConfig {
            relative_id: port,
            tpg: TPG_SINGLE,
            target_name: TARGET.into(),
            port_name: format!("{TARGET},t,0x0002"),
            lun_map: None,
        }))
        .expect("add the second port");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local addr");
    let mut target = t.portal.targets()[0].clone();
    target.port = port;
    let mut pg = PortalGroup::new(2, vec![addr], vec![target], t.device.clone())
        .with_sessions(t.portal.sessions.clone());
    pg.timers = quiet_timers();
    let pg = Rc::new(pg);
    tokio::task::spawn_local(portal::serve(listener, pg.clone()));
    (addr, pg)
}

#[test]
fn portal_groups_share_one_session_table() {
    run(
        |_| {},
        |t| async move {
            let (addr2, pg2) = second_portal_group(&t).await;
            let mut a = normal_session(t.addr, 1).await;
            // The same initiator port through the other portal group: another I_T nexus,
            // not a reinstatement.
            let mut b = normal_session(addr2, 1).await;
            assert_ne!(a.tsih, b.tsih, "TSIHs are unique per controller");
            a.ping(b"").await;
            b.ping(b"").await;
            let list = pg2.sessions.list();
            assert_eq!(list.iter().map(|s| s.tag).collect::<Vec<_>>(), vec![1, 2]);
            assert_ne!(list[0].nexus, list[1].nexus);
            // Removing the target from one portal group ends only the session there.
            assert_eq!(pg2.remove_target(TARGET).map(|(_, n)| n), Some(1));
            b.expect_closed(READ_TIMEOUT).await;
            a.ping(b"still here").await;
            assert!(wait_sessions(&t, 1, Duration::from_secs(1)).await);
        },
    );
}

// --- islist, isterminate, islogout ----------------------------------------------------------

#[test]
fn session_list_describes_each_session() {
    run(
        |_| {},
        |t| async move {
            let mut a = Initiator::connect(t.addr, isid(1)).await;
            a.login(Some(TARGET), &[("InitiatorAlias", "host-a")]).await;
            let d = discovery_session(&t).await;
            let list = t.portal.sessions.list();
            assert_eq!(list.len(), 2);
            let s = &list[0];
            assert_eq!(s.tsih, a.tsih);
            assert_eq!(s.initiator, INITIATOR);
            assert_eq!(s.initiator_alias.as_deref(), Some("host-a"));
            assert_eq!(s.isid, isid(1));
            assert_eq!(s.target.as_deref(), Some(TARGET));
            assert_eq!(s.tag, 1);
            assert_eq!(s.peer, a.local_addr());
            assert_eq!(s.local, t.addr);
            assert_eq!(s.session_type, SessionType::Normal);
            assert!(!s.header_digest && !s.data_digest);
            assert_eq!(s.chap_user, None);
            assert!(s.nexus.is_some(), "the SCSI core's I_T nexus");
            let s = &list[1];
            assert!(s.id > list[0].id);
            assert_eq!(s.session_type, SessionType::Discovery);
            assert_eq!((s.target.as_deref(), s.nexus), (None, None));
            assert_eq!(s.peer, d.local_addr());
            a.logout().await;
            assert!(wait_sessions(&t, 1, Duration::from_secs(1)).await);
            assert_eq!(t.portal.sessions.list().len(), 1);
        },
    );
}

#[test]
fn terminate_drops_the_selected_sessions() {
    run(
        |_| {},
        |t| async move {
            let mut a = normal_session(t.addr, 1).await;
            let mut b = normal_session(t.addr, 2).await;
            let sessions = &t.portal.sessions;
            let id_a = sessions.list()[0].id;
            assert_eq!(sessions.terminate(&SessionSelector::Id(id_a + 100)), 0);
            assert_eq!(sessions.terminate(&SessionSelector::Id(id_a)), 1);
            a.expect_closed(READ_TIMEOUT).await;
            b.ping(b"unaffected").await;
            let from = SessionSelector::Portal(b.local_addr().ip());
            assert_eq!(sessions.terminate(&from), 1);
            b.expect_closed(READ_TIMEOUT).await;
            assert!(wait_sessions(&t, 0, Duration::from_secs(1)).await);
            assert_eq!(sessions.terminate(&SessionSelector::All), 0);
        },
    );
}

#[test]
fn logout_request_is_an_async_message_the_initiator_answers() {
    run(
        |_| {},
        |t| async move {
            let mut a = normal_session(t.addr, 1).await;
            let mut b = normal_session(t.addr, 2).await;
            let selector = SessionSelector::Initiator(INITIATOR.to_uppercase());
            assert_eq!(t.portal.sessions.request_logout(&selector), 2);
            for i in [&mut a, &mut b] {
                let p = i.recv().await;
                assert!(is_logout_request(&p, 10), "opcode {:#04x}", p.opcode());
            }
            a.logout().await;
            b.logout().await;
            assert!(wait_sessions(&t, 0, Duration::from_secs(1)).await);
        },
    );
}

#[test]
fn initiator_that_ignores_a_logout_request_is_dropped_after_the_limit() {
    run(
        |pg| pg.sessions.set_logout_time_limit(1),
        |t| async move {
            let mut a = normal_session(t.addr, 1).await;
            let start = Instant::now();
            assert_eq!(t.portal.sessions.request_logout(&SessionSelector::All), 1);
            let p = a.recv().await;
            assert!(is_logout_request(&p, 1));
            // Still working until the limit.
            a.ping(b"").await;
            a.expect_closed(Duration::from_secs(3)).await;
            let waited = start.elapsed();
            assert!(
                waited >= Duration::from_millis(900),
                "dropped after {waited:?}"
            );
            assert!(wait_sessions(&t, 0, Duration::from_secs(1)).await);
        },
    );
}
