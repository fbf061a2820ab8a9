//! A portal group: its listening sockets, the targets it serves, login policy, and the sessions
//! it holds. Accepts connections and runs each on the current-thread runtime.

use crate::login::{Auth, LoginPolicy, TargetAccess};
use crate::params::TargetLimits;
use crate::session::SessionTable;
use scsi::backend::BlockBackend;
use scsi::TargetDevice;
use std::cell::Cell;
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
    pub listen: Vec<SocketAddr>,
    pub targets: Vec<TargetDef>,
    pub discovery_auth: Auth,
    pub limits: TargetLimits,
    pub timers: Timers,
    pub device: Rc<TargetDevice<B>>,
    pub sessions: SessionTable,
    /// Commands a session may have outstanding (bounds the CmdSN window).
    pub queue_depth: u32,
    connections: Cell<usize>,
    /// Connections beyond this are refused at login with "out of resources".
    pub max_connections: usize,
}

impl<B: BlockBackend> PortalGroup<B> {
    pub fn new(
        tag: u16,
        listen: Vec<SocketAddr>,
        targets: Vec<TargetDef>,
        device: Rc<TargetDevice<B>>,
    ) -> Self {
        PortalGroup {
            tag,
            listen,
            targets,
            discovery_auth: Auth::None,
            limits: TargetLimits::default(),
            timers: Timers::default(),
            device,
            sessions: SessionTable::default(),
            queue_depth: 128,
            connections: Cell::new(0),
            max_connections: 1024,
        }
    }

    pub fn target(&self, name: &str) -> Option<&TargetDef> {
        self.targets
            .iter()
            .find(|t| t.access.name.eq_ignore_ascii_case(name))
    }

    /// `TargetAddress` values for SendTargets, for a connection that arrived on `local`.
    pub fn addresses(&self, local: SocketAddr) -> Vec<String> {
        self.listen
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
        PortalGroup::target(self, name).map(|t| t.access.clone())
    }

    fn discovery_auth(&self) -> Auth {
        self.discovery_auth.clone()
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
