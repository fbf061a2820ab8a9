//! A portal group: its listening addresses, the targets it serves (changed live by the
//! console), login and discovery policy, and the controller's session table it registers
//! its sessions in. Accepts connections and runs each on the current-thread runtime.

use crate::discovery::DiscoveryFilter;
/// A portal group's `discovery-auth-group`; defined with the login machine that checks it.
pub use crate::login::DiscoveryAccess;
use crate::login::{LoginPolicy, TargetAccess};
use crate::params::TargetLimits;
use crate::session::SessionTable;
use scsi::backend::BlockBackend;
use scsi::TargetDevice;
use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;
use tokio::net::TcpListener;

/// One target reachable through this portal group, and the target port it is in the core.
#[derive(Debug, Clone)]
pub struct TargetDef {
    pub access: TargetAccess,
    /// Relative target port id of the (target, portal group) port in the SCSI core.
    pub port: u16,
}

/// Connection timers (CTL's `ping_timeout` and `login_timeout`).
#[derive(Debug, Clone, Copy)]
pub struct Timers {
    /// Idle time after which the target pings the initiator with a NOP-In; zero: never.
    pub nop_interval: Duration,
    /// How long a ping may go unanswered before the connection is dropped.
    pub nop_timeout: Duration,
    /// How long a login may take.
    pub login_timeout: Duration,
}

impl Default for Timers {
    fn default() -> Self {
        Timers {
            nop_interval: Duration::from_secs(5),
            nop_timeout: Duration::from_secs(5),
            login_timeout: Duration::from_secs(60),
        }
    }
}

pub struct PortalGroup<B: BlockBackend> {
    pub tag: u16,
    /// The addresses SendTargets announces (`listen`); the console may change them.
    listen: RefCell<Vec<SocketAddr>>,
    /// The targets reachable here; the console adds and removes them while serving.
    targets: RefCell<Vec<TargetDef>>,
    /// Who may open discovery sessions (`discovery-auth-group`).
    pub discovery: DiscoveryAccess,
    /// Which targets SendTargets shows to whom (`discovery-filter`).
    pub discovery_filter: DiscoveryFilter,
    pub limits: TargetLimits,
    pub timers: Timers,
    pub device: Rc<TargetDevice<B>>,
    /// The controller's sessions; shared with its other portal groups.
    pub sessions: Rc<SessionTable>,
    /// Commands a session may have outstanding (bounds the CmdSN window).
    pub queue_depth: u32,
    connections: Cell<usize>,
    /// Connections beyond this are refused at login with "out of resources".
    pub max_connections: usize,
}

impl<B: BlockBackend> PortalGroup<B> {
    /// A portal group with a session table of its own; [`Self::with_sessions`] shares the
    /// controller's instead. Discovery is open to everyone and unfiltered until configured.
    pub fn new(
        tag: u16,
        listen: Vec<SocketAddr>,
        targets: Vec<TargetDef>,
        device: Rc<TargetDevice<B>>,
    ) -> Self {
        PortalGroup {
            tag,
            listen: RefCell::new(listen),
            targets: RefCell::new(targets),
            discovery: DiscoveryAccess::default(),
            discovery_filter: DiscoveryFilter::None,
            limits: TargetLimits::default(),
            timers: Timers::default(),
            device,
            sessions: Rc::new(SessionTable::default()),
            queue_depth: 128,
            connections: Cell::new(0),
            max_connections: 1024,
        }
    }

    /// Registers this portal group's sessions in `sessions`, the table the controller's
    /// other portal groups and its console use. Set it before serving: sessions already
    /// in the old table stay there.
    pub fn with_sessions(mut self, sessions: Rc<SessionTable>) -> Self {
        self.sessions = sessions;
        self
    }

    /// The target with this iSCSI name (compared without regard to case), if it is served here.
    pub fn target(&self, name: &str) -> Option<TargetDef> {
        self.targets
            .borrow()
            .iter()
            .find(|t| t.access.name.eq_ignore_ascii_case(name))
            .cloned()
    }

    /// The targets served here now.
    pub fn targets(&self) -> Vec<TargetDef> {
        self.targets.borrow().clone()
    }

    /// Replaces the target list. Sessions of targets no longer in it, or whose target port
    /// changed (the port was recreated), are ended; the others keep running under their
    /// new settings for the next login. Returns how many sessions were ended.
    pub fn set_targets(&self, targets: Vec<TargetDef>) -> usize {
        let old = std::mem::replace(&mut *self.targets.borrow_mut(), targets);
        let mut ended = 0;
        for t in &old {
            let kept = self
                .target(&t.access.name)
                .is_some_and(|new| new.port == t.port);
            if !kept {
                ended += self.sessions.stop_port(&t.access.name, self.tag);
            }
        }
        ended
    }

    /// Adds a target, or replaces the one with the same name (ending its sessions if its
    /// port changed). Returns how many sessions were ended.
    pub fn add_target(&self, target: TargetDef) -> usize {
        let mut targets = self.targets();
        targets.retain(|t| !t.access.name.eq_ignore_ascii_case(&target.access.name));
        targets.push(target);
        self.set_targets(targets)
    }

    /// Stops serving a target and ends its sessions on this portal group. Returns the
    /// removed target and how many sessions were ended, or `None` if it was not served here.
    pub fn remove_target(&self, name: &str) -> Option<(TargetDef, usize)> {
        let removed = self.target(name)?;
        let mut targets = self.targets();
        targets.retain(|t| !t.access.name.eq_ignore_ascii_case(name));
        let ended = self.set_targets(targets);
        Some((removed, ended))
    }

    /// The addresses SendTargets announces.
    pub fn listen(&self) -> Vec<SocketAddr> {
        self.listen.borrow().clone()
    }

    /// Changes the announced addresses. The sockets are the caller's: this portal group
    /// only reports them, and running sessions are not affected.
    pub fn set_listen(&self, listen: Vec<SocketAddr>) {
        *self.listen.borrow_mut() = listen;
    }

    /// `TargetAddress` values for SendTargets, for a connection that arrived on `local`.
    pub fn addresses(&self, local: SocketAddr) -> Vec<String> {
        self.listen
            .borrow()
            .iter()
            .map(|a| {
                // A wildcard listener is announced with the address the initiator reached.
                let addr = if a.ip().is_unspecified() { local } else { *a };
                match addr {
                    SocketAddr::V4(v4) => format!("{}:{},{}", v4.ip(), v4.port(), self.tag),
                    SocketAddr::V6(v6) => format!("[{}]:{},{}", v6.ip(), v6.port(), self.tag),
                }
            })
            .collect()
    }

    pub(crate) fn connection_opened(&self) -> bool {
        let n = self.connections.get();
        self.connections.set(n + 1);
        n < self.max_connections
    }

    pub(crate) fn connection_closed(&self) {
        self.connections
            .set(self.connections.get().saturating_sub(1));
    }

    pub fn connections(&self) -> usize {
        self.connections.get()
    }
}

impl<B: BlockBackend> LoginPolicy for PortalGroup<B> {
    fn target(&self, name: &str) -> Option<TargetAccess> {
        PortalGroup::target(self, name).map(|t| t.access)
    }

    fn discovery(&self) -> DiscoveryAccess {
        self.discovery.clone()
    }

    fn limits(&self) -> TargetLimits {
        self.limits.clone()
    }
}

/// Accepts connections on `listener` until the runtime stops; each runs as a local task.
pub async fn serve<B: BlockBackend + 'static>(listener: TcpListener, portal: Rc<PortalGroup<B>>) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                let _ = stream.set_nodelay(true);
                let portal = portal.clone();
                tokio::task::spawn_local(async move {
                    crate::connection::run(stream, peer, portal).await;
                });
            }
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                eprintln!("iscsi: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}
