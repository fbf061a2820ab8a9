//! The interlink NIC as raw Ethernet frames (AF_PACKET), and the bring-up check that the
//! cable to the other controller carries frames both ways.
//!
//! A packet socket also sees the frames it sends, so frames from our own MAC are skipped;
//! the shortest Ethernet frame is 60 bytes (without the FCS), so short ones are padded.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use super::cmdline::Mac;
use super::init::note;
use super::net::Nic;
use super::sys;

/// The shortest Ethernet frame without its FCS.
pub const MIN_FRAME: usize = 60;
const HEADER: usize = 14;

/// Raw Ethernet frames of one EtherType on one NIC.
pub struct PacketSocket {
    file: File,
    mac: Mac,
    ethertype: u16,
}

impl PacketSocket {
    /// A packet socket bound to `nic` that receives frames of `ethertype`.
    pub fn open(nic: &Nic, ethertype: u16) -> io::Result<PacketSocket> {
        let fd = sys::socket(
            libc::AF_PACKET,
            libc::SOCK_RAW,
            libc::c_int::from(ethertype.to_be()),
        )?;
        sys::bind_packet(fd.as_fd(), nic.ifindex, ethertype)?;
        Ok(PacketSocket {
            file: File::from(fd),
            mac: nic.mac,
            ethertype,
        })
    }

    /// Sends `payload` to `to` in one frame (padded to the minimum length).
    pub fn send(&self, to: Mac, payload: &[u8]) -> io::Result<()> {
        let mut frame = Vec::with_capacity((HEADER + payload.len()).max(MIN_FRAME));
        frame.extend_from_slice(&to.0);
        frame.extend_from_slice(&self.mac.0);
        frame.extend_from_slice(&self.ethertype.to_be_bytes());
        frame.extend_from_slice(payload);
        frame.resize(frame.len().max(MIN_FRAME), 0);
        (&self.file).write_all(&frame)
    }

    /// Waits up to `timeout` for a frame from another station; its source and payload
    /// (padding included). `Ok(None)` when none came.
    pub fn receive(&self, timeout: Duration) -> io::Result<Option<(Mac, Vec<u8>)>> {
        let deadline = Instant::now() + timeout;
        let mut buf = [0u8; 2048];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            sys::set_receive_timeout(self.file.as_fd(), left.max(Duration::from_millis(1)))?;
            let n = match (&self.file).read(&mut buf) {
                Ok(n) => n,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    return Ok(None)
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if n < HEADER {
                continue;
            }
            let mut source = [0u8; 6];
            source.copy_from_slice(&buf[6..12]);
            if source == self.mac.0 {
                continue;
            }
            return Ok(Some((Mac(source), buf[HEADER..n].to_vec())));
        }
    }
}

/// The probe's payload: `dyad-link <letter> seen=<0|1>`.
fn probe(letter: char, seen: bool) -> Vec<u8> {
    format!("dyad-link {letter} seen={}", u8::from(seen)).into_bytes()
}

/// Reads a probe: the sender's letter and whether it has seen us.
fn parse_probe(payload: &[u8]) -> Option<(char, bool)> {
    let text = payload.split(|&b| b == 0).next()?;
    let text = std::str::from_utf8(text).ok()?;
    let mut words = text.split(' ');
    if words.next()? != "dyad-link" {
        return None;
    }
    let letter = words.next()?.chars().next()?;
    let seen = match words.next()? {
        "seen=1" => true,
        "seen=0" => false,
        _ => return None,
    };
    Some((letter, seen))
}

/// Checks the cable on a thread of its own: broadcasts a probe every 200 ms until the peer's
/// probe has arrived and says it sees ours (or until `timeout`), noting on the kernel
/// console when the peer answers. Needs no start order: whoever boots first keeps calling.
/// The socket is closed at the end, leaving the NIC to the interlink proper.
pub fn check_cable(nic: Nic, letter: char, ethertype: u16, timeout: Duration) {
    let spawned = std::thread::Builder::new()
        .name("link-probe".into())
        .spawn(move || {
            let started = Instant::now();
            let socket = match PacketSocket::open(&nic, ethertype) {
                Ok(s) => s,
                Err(e) => {
                    note(&format!("interlink: cannot open {}: {e}", nic.name));
                    return;
                }
            };
            let broadcast = Mac([0xff; 6]);
            let mut seen: Option<Mac> = None;
            let mut peer_sees_us = false;
            while started.elapsed() < timeout {
                if let Err(e) = socket.send(broadcast, &probe(letter, seen.is_some())) {
                    note(&format!("interlink: sending on {}: {e}", nic.name));
                    return;
                }
                let round = Instant::now() + Duration::from_millis(200);
                while let Ok(Some((from, payload))) =
                    socket.receive(round.saturating_duration_since(Instant::now()))
                {
                    let Some((peer, peer_saw)) = parse_probe(&payload) else {
                        continue;
                    };
                    if seen.is_none() {
                        note(&format!(
                            "interlink: controller {} ({from}) answers on {} after {:.3} s",
                            peer.to_ascii_uppercase(),
                            nic.name,
                            started.elapsed().as_secs_f64()
                        ));
                    }
                    seen = Some(from);
                    peer_sees_us |= peer_saw;
                }
                if seen.is_some() && peer_sees_us {
                    // A few more, so the peer hears that we see it too.
                    for _ in 0..3 {
                        let _ = socket.send(broadcast, &probe(letter, true));
                        std::thread::sleep(Duration::from_millis(50));
                    }
                    note("interlink: cable checked both ways");
                    return;
                }
            }
            note(&format!(
                "interlink: {} on {} within {timeout:?}",
                if seen.is_some() {
                    "the other controller never confirmed hearing us"
                } else {
                    "no answer from the other controller"
                },
                nic.name
            ));
        });
    if let Err(e) = spawned {
        note(&format!("interlink: cannot start the cable check: {e}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probes_round_trip() {
        let mut payload = probe('b', true);
        payload.resize(46, 0);
        assert_eq!(parse_probe(&payload), Some(('b', true)));
        assert_eq!(parse_probe(&probe('a', false)), Some(('a', false)));
        assert_eq!(parse_probe(b"ST node=b seq=1"), None);
        assert_eq!(parse_probe(b"dyad-link a seen=2"), None);
    }
}
