//! Free TCP ports on the loopback interface for targets started by tests.

use std::collections::BTreeSet;
use std::io;
use std::net::{Ipv4Addr, TcpListener};
use std::sync::Mutex;

/// Ports already handed out by this process: the kernel may give the same ephemeral port
/// to two threads that each bind and release it, and tests run in parallel threads.
static HANDED_OUT: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());

/// A loopback port that was free a moment ago: bind port 0, note what the kernel chose,
/// release it. The small window before the target binds it is acceptable for tests.
pub fn free_loopback_port() -> io::Result<u16> {
    for _ in 0..64 {
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
            .local_addr()?
            .port();
        let mut seen = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
        if seen.insert(port) {
            return Ok(port);
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AddrNotAvailable,
        "no fresh loopback port after 64 tries",
    ))
}
