//! The controller's iSCSI sessions, shared by all its portal groups: TSIH allocation,
//! reinstatement by initiator name + ISID, and what the console sees and does with them
//! (ctladm `islist`, `islogout`, `isterminate`).

use crate::access::same_host;
use crate::params::SessionType;
use scsi::NexusId;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;
use tokio::sync::Notify;

/// How long an initiator asked to log out has to do so (the Asynchronous Message's
/// Parameter3, RFC 7143 §11.9.1) before the target drops the session. CTL's `islogout`
/// sends 10 seconds.
pub const DEFAULT_LOGOUT_TIME_LIMIT: u16 = 10;

/// The identity of a session (RFC 7143 §4.4.3): a new login with the same key reinstates it.
/// The portal group tag is part of it because the same initiator port reaches the target
/// through each portal group as a different I_T nexus.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SessionKey {
    pub initiator: String,
    pub isid: [u8; 6],
    /// The target's canonical name; empty for discovery sessions.
    pub target: String,
    /// The portal group tag.
    pub tag: u16,
}

/// One session as the console lists it (ctladm `islist -v`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionInfo {
    /// Unique per controller and never reused while it runs; what `islogout -c` and
    /// `isterminate -c` name. With one connection per session it is also the connection id.
    pub id: u32,
    pub tsih: u16,
    pub initiator: String,
    pub initiator_alias: Option<String>,
    pub isid: [u8; 6],
    /// The target's canonical name; `None` for a discovery session.
    pub target: Option<String>,
    /// The tag of the portal group the session logged in through.
    pub tag: u16,
    /// The initiator's end of the connection.
    pub peer: SocketAddr,
    /// Our end of the connection.
    pub local: SocketAddr,
    pub session_type: SessionType,
    /// Whether CRC32C header digests are in use (else None), as in [`crate::params::SessionParams`].
    pub header_digest: bool,
    /// Whether CRC32C data digests are in use.
    pub data_digest: bool,
    /// The CHAP user the initiator authenticated as, if it did.
    pub chap_user: Option<String>,
    /// The I_T nexus the SCSI core gave a normal session.
    pub nexus: Option<NexusId>,
}

/// Which sessions a console command applies to (ctladm's `-a`, `-c`, `-i`, `-p`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SessionSelector {
    All,
    /// The session (connection) id of [`SessionInfo::id`].
    Id(u32),
    /// Every session of this initiator name (compared without regard to case).
    Initiator(String),
    /// Every session from this initiator address (IPv4-mapped IPv6 counts as IPv4).
    Portal(IpAddr),
}

impl SessionSelector {
    pub fn matches(&self, s: &SessionInfo) -> bool {
        match self {
            SessionSelector::All => true,
            SessionSelector::Id(id) => s.id == *id,
            SessionSelector::Initiator(name) => s.initiator.eq_ignore_ascii_case(name),
            SessionSelector::Portal(addr) => same_host(s.peer.ip(), *addr),
        }
    }
}

/// What other parts of the controller see of a live session: its description and the
/// means to ask it to end.
pub struct SessionHandle {
    pub id: u32,
    pub tsih: u16,
    info: RefCell<SessionInfo>,
    /// Set to end the session (reinstatement, target cold reset, target removed, console).
    stop: Notify,
    stopped: Cell<bool>,
    /// Set when the console asks the initiator to log out.
    logout: Notify,
    logout_requested: Cell<bool>,
}

impl SessionHandle {
    pub fn info(&self) -> SessionInfo {
        self.info.borrow().clone()
    }

    /// Records the I_T nexus the SCSI core registered for the session.
    pub fn set_nexus(&self, nexus: NexusId) {
        self.info.borrow_mut().nexus = Some(nexus);
    }

    pub fn stop(&self) {
        self.stopped.set(true);
        self.stop.notify_waiters();
    }

    pub fn is_stopped(&self) -> bool {
        self.stopped.get()
    }

    /// Resolves when the session is asked to end.
    pub async fn stopped(&self) {
        if self.stopped.get() {
            return;
        }
        let notified = self.stop.notified();
        if self.stopped.get() {
            return;
        }
        notified.await;
    }

    /// Asks the connection to send the initiator a logout request; a second request
    /// while one is pending changes nothing.
    pub fn request_logout(&self) {
        if !self.logout_requested.replace(true) {
            self.logout.notify_waiters();
        }
    }

    pub fn is_logout_requested(&self) -> bool {
        self.logout_requested.get()
    }

    /// Resolves when a logout request was asked for.
    pub async fn logout_requested(&self) {
        if self.logout_requested.get() {
            return;
        }
        let notified = self.logout.notified();
        if self.logout_requested.get() {
            return;
        }
        notified.await;
    }
}

/// The sessions of one controller. Portal groups share it through an `Rc`, so TSIHs and
/// session ids are unique per controller and the console has one list.
pub struct SessionTable {
    sessions: RefCell<HashMap<SessionKey, Rc<SessionHandle>>>,
    next_tsih: Cell<u16>,
    next_id: Cell<u32>,
    logout_time_limit: Cell<u16>,
}

impl Default for SessionTable {
    fn default() -> Self {
        Self {
            sessions: RefCell::new(HashMap::new()),
            next_tsih: Cell::new(0),
            next_id: Cell::new(0),
            logout_time_limit: Cell::new(DEFAULT_LOGOUT_TIME_LIMIT),
        }
    }
}

impl SessionTable {
    /// Registers a session entering the full feature phase, ending any older one with the
    /// same key (session reinstatement). `info.id` and `info.tsih` are assigned here.
    pub fn open(&self, key: SessionKey, mut info: SessionInfo) -> Rc<SessionHandle> {
        let tsih = self.allocate_tsih();
        let id = self.next_id.get().wrapping_add(1).max(1);
        self.next_id.set(id);
        info.id = id;
        info.tsih = tsih;
        let handle = Rc::new(SessionHandle {
            id,
            tsih,
            info: RefCell::new(info),
            stop: Notify::new(),
            stopped: Cell::new(false),
            logout: Notify::new(),
            logout_requested: Cell::new(false),
        });
        let old = self.sessions.borrow_mut().insert(key, handle.clone());
        if let Some(old) = old {
            old.stop();
        }
        handle
    }

    /// Forgets a session that ended, unless a newer one has replaced it.
    pub fn close(&self, key: &SessionKey, handle: &Rc<SessionHandle>) {
        let mut sessions = self.sessions.borrow_mut();
        if sessions.get(key).is_some_and(|h| Rc::ptr_eq(h, handle)) {
            sessions.remove(key);
        }
    }

    pub fn exists(&self, tsih: u16) -> bool {
        self.sessions.borrow().values().any(|h| h.tsih == tsih)
    }

    /// The live sessions (not yet asked to end) that `pick` selects. Collected first so
    /// that what is done to them cannot re-enter the table while it is borrowed.
    fn live(&self, pick: impl Fn(&SessionInfo) -> bool) -> Vec<Rc<SessionHandle>> {
        self.sessions
            .borrow()
            .values()
            .filter(|h| !h.is_stopped() && pick(&h.info.borrow()))
            .cloned()
            .collect()
    }

    /// Ends every session logged in to `target` through the portal group tagged `tag`, that is to
    /// one target port (TARGET COLD RESET; the target or its port went away). Returns how
    /// many were live.
    pub fn stop_port(&self, target: &str, tag: u16) -> usize {
        let victims = self.live(|s| {
            s.tag == tag
                && s.target
                    .as_deref()
                    .is_some_and(|t| t.eq_ignore_ascii_case(target))
        });
        for h in &victims {
            h.stop();
        }
        victims.len()
    }

    pub fn stop_all(&self) {
        for h in self.live(|_| true) {
            h.stop();
        }
    }

    /// The sessions in the full feature phase, oldest first (ctladm `islist`). Sessions
    /// already asked to end are left out.
    pub fn list(&self) -> Vec<SessionInfo> {
        let mut all: Vec<SessionInfo> = self.live(|_| true).iter().map(|h| h.info()).collect();
        all.sort_by_key(|s| s.id);
        all
    }

    /// Drops the selected sessions now (ctladm `isterminate`): their connections close and
    /// their tasks end as at a connection loss. Returns how many matched.
    pub fn terminate(&self, selector: &SessionSelector) -> usize {
        let victims = self.live(|s| selector.matches(s));
        for h in &victims {
            h.stop();
        }
        victims.len()
    }

    /// Asks the selected sessions' initiators to log out (ctladm `islogout`): each gets an
    /// Asynchronous Message "target requests logout" and is dropped if it is still there
    /// after [`Self::logout_time_limit`] seconds. Returns how many matched.
    pub fn request_logout(&self, selector: &SessionSelector) -> usize {
        let asked = self.live(|s| selector.matches(s));
        for h in &asked {
            h.request_logout();
        }
        asked.len()
    }

    /// Seconds an initiator has to log out when asked (Parameter3).
    pub fn logout_time_limit(&self) -> u16 {
        self.logout_time_limit.get()
    }

    pub fn set_logout_time_limit(&self, seconds: u16) {
        self.logout_time_limit.set(seconds);
    }

    pub fn len(&self) -> usize {
        self.sessions.borrow().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn allocate_tsih(&self) -> u16 {
        // 65535 live sessions would make this spin; the portal groups' connection limits
        // keep the count far below that.
        loop {
            let t = self.next_tsih.get().wrapping_add(1).max(1);
            self.next_tsih.set(t);
            if !self.exists(t) {
                return t;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(isid: u8) -> SessionKey {
        SessionKey {
            initiator: "iqn.a".into(),
            isid: [isid, 0, 0, 0, 0, 0],
            target: "t".into(),
            tag: 1,
        }
    }

    fn info(initiator: &str, target: &str, tag: u16, peer: &str) -> SessionInfo {
        SessionInfo {
            id: 0,
            tsih: 0,
            initiator: initiator.into(),
            initiator_alias: None,
            isid: [0x80, 0, 0, 0, 0, 1],
            target: Some(target.into()),
            tag,
            peer: peer.parse().unwrap(),
            local: "192.0.2.1:3260".parse().unwrap(),
            session_type: SessionType::Normal,
            header_digest: false,
            data_digest: false,
            chap_user: None,
            nexus: None,
        }
    }

    fn open(t: &SessionTable, isid: u8, initiator: &str, peer: &str) -> Rc<SessionHandle> {
        t.open(
            SessionKey {
                initiator: initiator.into(),
                isid: [isid, 0, 0, 0, 0, 0],
                target: "t".into(),
                tag: 1,
            },
            info(initiator, "t", 1, peer),
        )
    }

    #[test]
    fn same_isid_reinstates() {
        let t = SessionTable::default();
        let i = || info("iqn.a", "t", 1, "192.0.2.9:5000");
        let a = t.open(key(1), i());
        let b = t.open(key(2), i());
        assert!(!a.is_stopped());
        let c = t.open(key(1), i());
        assert!(a.is_stopped());
        assert!(!b.is_stopped());
        assert_ne!(a.tsih, c.tsih);
        t.close(&key(1), &a);
        assert_eq!(t.len(), 2);
        t.close(&key(1), &c);
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn same_isid_through_another_portal_group_is_another_session() {
        let t = SessionTable::default();
        let a = t.open(key(1), info("iqn.a", "t", 1, "192.0.2.9:5000"));
        let other = SessionKey { tag: 2, ..key(1) };
        let b = t.open(other, info("iqn.a", "t", 2, "192.0.2.9:5001"));
        assert!(!a.is_stopped() && !b.is_stopped());
        assert_eq!(t.len(), 2);
    }

    #[test]
    fn ids_and_tsihs_are_unique_and_listed_in_order() {
        let t = SessionTable::default();
        let a = open(&t, 1, "iqn.a", "192.0.2.9:5000");
        let b = open(&t, 2, "iqn.b", "192.0.2.10:5000");
        assert_ne!(a.id, b.id);
        assert_ne!(a.tsih, b.tsih);
        b.set_nexus(NexusId(7));
        let list = t.list();
        assert_eq!(list.len(), 2);
        assert_eq!((list[0].id, list[0].tsih), (a.id, a.tsih));
        assert_eq!(list[1].initiator, "iqn.b");
        assert_eq!(list[1].nexus, Some(NexusId(7)));
    }

    #[test]
    fn selector_matching() {
        let s = info(
            "iqn.2024-01.org.example:Host",
            "t",
            1,
            "[::ffff:192.0.2.9]:5000",
        );
        let s = SessionInfo { id: 5, ..s };
        assert!(SessionSelector::All.matches(&s));
        assert!(SessionSelector::Id(5).matches(&s));
        assert!(!SessionSelector::Id(6).matches(&s));
        assert!(SessionSelector::Initiator("IQN.2024-01.ORG.EXAMPLE:HOST".into()).matches(&s));
        assert!(!SessionSelector::Initiator("iqn.2024-01.org.example:other".into()).matches(&s));
        assert!(SessionSelector::Portal("192.0.2.9".parse().unwrap()).matches(&s));
        assert!(SessionSelector::Portal("::ffff:192.0.2.9".parse().unwrap()).matches(&s));
        assert!(!SessionSelector::Portal("192.0.2.10".parse().unwrap()).matches(&s));
        let v6 = SessionInfo {
            peer: "[2001:db8::5]:4000".parse().unwrap(),
            ..s
        };
        assert!(SessionSelector::Portal("2001:db8::5".parse().unwrap()).matches(&v6));
        assert!(!SessionSelector::Portal("2001:db8::6".parse().unwrap()).matches(&v6));
    }

    #[test]
    fn terminate_stops_what_matches_and_counts_it() {
        let t = SessionTable::default();
        let a = open(&t, 1, "iqn.a", "192.0.2.9:5000");
        let b = open(&t, 2, "iqn.b", "192.0.2.10:5000");
        let c = open(&t, 3, "iqn.b", "192.0.2.11:5000");
        assert_eq!(t.terminate(&SessionSelector::Id(999)), 0);
        assert_eq!(t.terminate(&SessionSelector::Initiator("IQN.B".into())), 2);
        assert!(!a.is_stopped() && b.is_stopped() && c.is_stopped());
        // Stopped sessions are no longer listed or matched, even before they close.
        assert_eq!(t.list().len(), 1);
        assert_eq!(t.terminate(&SessionSelector::Initiator("iqn.b".into())), 0);
        assert_eq!(
            t.terminate(&SessionSelector::Portal("192.0.2.9".parse().unwrap())),
            1
        );
        assert!(a.is_stopped());
        assert_eq!(t.terminate(&SessionSelector::All), 0);
    }

    #[test]
    fn request_logout_marks_what_matches_and_counts_it() {
        let t = SessionTable::default();
        let a = open(&t, 1, "iqn.a", "192.0.2.9:5000");
        let b = open(&t, 2, "iqn.b", "192.0.2.10:5000");
        assert_eq!(t.request_logout(&SessionSelector::Id(a.id)), 1);
        assert!(a.is_logout_requested() && !b.is_logout_requested());
        // Asking does not end anything by itself.
        assert!(!a.is_stopped());
        assert_eq!(t.request_logout(&SessionSelector::All), 2);
        assert!(b.is_logout_requested());
        assert_eq!(t.logout_time_limit(), DEFAULT_LOGOUT_TIME_LIMIT);
    }

    #[test]
    fn stop_port_ends_one_target_port_only() {
        let t = SessionTable::default();
        let a = t.open(key(1), info("iqn.a", "t", 1, "192.0.2.9:5000"));
        let other_tpg = SessionKey { tag: 2, ..key(1) };
        let b = t.open(other_tpg, info("iqn.a", "t", 2, "192.0.2.9:5001"));
        let other_target = SessionKey {
            target: "u".into(),
            ..key(1)
        };
        let c = t.open(other_target, info("iqn.a", "u", 1, "192.0.2.9:5002"));
        assert_eq!(t.stop_port("T", 1), 1);
        assert!(a.is_stopped() && !b.is_stopped() && !c.is_stopped());
    }
}
