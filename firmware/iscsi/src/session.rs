//! The sessions a portal group holds: TSIH allocation and reinstatement by initiator name + ISID.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use tokio::sync::Notify;

/// The I_T identity of a session: initiator name and ISID (RFC 7143 §4.4.3).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SessionKey {
    pub initiator: String,
    pub isid: [u8; 6],
    pub target: String,
}

/// What other sessions see of a live session: enough to ask it to end.
pub struct SessionHandle {
    pub tsih: u16,
    /// Set to end the session (reinstatement, target cold reset, shutdown).
    stop: Notify,
    stopped: Cell<bool>,
}

impl SessionHandle {
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
}

#[derive(Default)]
pub struct SessionTable {
    sessions: RefCell<HashMap<SessionKey, Rc<SessionHandle>>>,
    next_tsih: Cell<u16>,
}

impl SessionTable {
    /// Registers a new session, ending any older one with the same key (session reinstatement).
    pub fn open(&self, key: SessionKey) -> Rc<SessionHandle> {
        let tsih = self.allocate_tsih();
        let handle = Rc::new(SessionHandle {
            tsih,
            stop: Notify::new(),
            stopped: Cell::new(false),
        });
        if let Some(old) = self.sessions.borrow_mut().insert(key, handle.clone()) {
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

    /// Ends every session logged in to `target` (TARGET COLD RESET).
    pub fn stop_target(&self, target: &str) {
        for (k, h) in self.sessions.borrow().iter() {
            if k.target == target {
                h.stop();
            }
        }
    }

    pub fn stop_all(&self) {
        for h in self.sessions.borrow().values() {
            h.stop();
        }
    }

    pub fn len(&self) -> usize {
        self.sessions.borrow().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn allocate_tsih(&self) -> u16 {
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
        }
    }

    #[test]
    fn same_isid_reinstates() {
        let t = SessionTable::default();
        let a = t.open(key(1));
        let b = t.open(key(2));
        assert!(!a.is_stopped());
        let c = t.open(key(1));
        assert!(a.is_stopped());
        assert!(!b.is_stopped());
        assert_ne!(a.tsih, c.tsih);
        t.close(&key(1), &a);
        assert_eq!(t.len(), 2);
        t.close(&key(1), &c);
        assert_eq!(t.len(), 1);
    }
}
