//! QEMU's human monitor (HMP) on a Unix socket: the launcher's hand on the machine's
//! buttons (`sendkey ctrl-alt-delete` for a clean stop, `system_reset` for the peer fence,
//! `quit` as the last resort). Each command is a line; the monitor answers, then prints its
//! `(qemu) ` prompt again.

use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

const PROMPT: &[u8] = b"(qemu) ";

/// A connection to one machine's monitor.
pub struct Monitor {
    stream: UnixStream,
}

impl Monitor {
    /// Connects (retrying while QEMU is still creating the socket, up to `timeout`) and
    /// reads up to the first prompt.
    pub fn connect(socket: &Path, timeout: Duration) -> io::Result<Monitor> {
        let deadline = Instant::now() + timeout;
        let stream = loop {
            match UnixStream::connect(socket) {
                Ok(s) => break s,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused
                    ) && Instant::now() < deadline =>
                {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => {
                    return Err(io::Error::new(
                        e.kind(),
                        format!("QEMU monitor {}: {e}", socket.display()),
                    ))
                }
            }
        };
        let mut monitor = Monitor { stream };
        monitor.read_to_prompt(deadline)?;
        Ok(monitor)
    }

    fn read_to_prompt(&mut self, deadline: Instant) -> io::Result<String> {
        let mut got = Vec::new();
        let mut chunk = [0u8; 1024];
        while !got.ends_with(PROMPT) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "QEMU monitor: no prompt; it said {:?}",
                        String::from_utf8_lossy(&got)
                    ),
                ));
            }
            self.stream.set_read_timeout(Some(left))?;
            match self.stream.read(&mut chunk) {
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "QEMU monitor closed the connection",
                    ))
                }
                Ok(n) => got.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(String::from_utf8_lossy(&got[..got.len() - PROMPT.len()]).into_owned())
    }

    /// Runs one command and returns what the monitor printed for it (the echo included).
    pub fn command(&mut self, line: &str, timeout: Duration) -> io::Result<String> {
        self.stream.write_all(format!("{line}\n").as_bytes())?;
        self.read_to_prompt(Instant::now() + timeout)
    }

    /// Sends a command without waiting for an answer (`quit` ends QEMU before it answers).
    pub fn send(&mut self, line: &str) -> io::Result<()> {
        self.stream.write_all(format!("{line}\n").as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;

    #[test]
    fn talks_hmp() {
        let dir = dyad_tests::TempDir::new("monitor").unwrap();
        let socket = dir.path().join("m.sock");
        let listener = UnixListener::bind(&socket).unwrap();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            s.write_all(b"QEMU 7.2.22 monitor - type 'help' for more information\r\n(qemu) ")
                .unwrap();
            let mut line = Vec::new();
            let mut byte = [0u8; 1];
            while s.read(&mut byte).unwrap() == 1 && byte[0] != b'\n' {
                line.push(byte[0]);
            }
            s.write_all(b"sendkey ctrl-alt-delete\r\n(qemu) ").unwrap();
            line
        });
        let mut m = Monitor::connect(&socket, Duration::from_secs(5)).unwrap();
        let reply = m
            .command("sendkey ctrl-alt-delete", Duration::from_secs(5))
            .unwrap();
        assert!(reply.contains("sendkey"), "{reply}");
        assert_eq!(server.join().unwrap(), b"sendkey ctrl-alt-delete");
    }
}
