//! The sim board's interlink NIC: Ethernet frames carried one per UDP datagram between two
//! host ports, the framing QEMU's `-netdev dgram` uses, so a sim controller can be cabled to
//! another or to a QEMU guest.

use std::collections::BinaryHeap;
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hal::nic::{self, ErrorType, FrameNic, STANDARD_FRAME};

use super::fault::{Dice, FaultHandle};
use super::slots::SimError;

/// The socket buffers asked for (the kernel may give less): a TCP window of frames in
/// flight must fit, or loopback drops them silently.
const SOCKET_BUFFER: usize = 8 << 20;

/// How late a reordered frame arrives.
const REORDER_DELAY: Duration = Duration::from_millis(1);

/// What a NIC counted since it was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NicCounters {
    /// Frames sent (each copy of a doubled frame counts).
    pub tx_frames: u64,
    /// Frames that could not be sent.
    pub tx_errors: u64,
    /// Frames received and handed on.
    pub rx_frames: u64,
    /// Receive failures (oversized frames included).
    pub rx_errors: u64,
    /// Frames the fault plan dropped (cut or drop), either way.
    pub fault_dropped: u64,
    /// Frames the fault plan damaged.
    pub fault_corrupted: u64,
}

#[derive(Debug, Default)]
struct Counters {
    tx_frames: AtomicU64,
    tx_errors: AtomicU64,
    rx_frames: AtomicU64,
    rx_errors: AtomicU64,
    fault_dropped: AtomicU64,
    fault_corrupted: AtomicU64,
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

impl Counters {
    fn snapshot(&self) -> NicCounters {
        NicCounters {
            tx_frames: self.tx_frames.load(Ordering::Relaxed),
            tx_errors: self.tx_errors.load(Ordering::Relaxed),
            rx_frames: self.rx_frames.load(Ordering::Relaxed),
            rx_errors: self.rx_errors.load(Ordering::Relaxed),
            fault_dropped: self.fault_dropped.load(Ordering::Relaxed),
            fault_corrupted: self.fault_corrupted.load(Ordering::Relaxed),
        }
    }
}

/// A frame held back until `due`; the heap pops the earliest first.
struct Late {
    due: Instant,
    seq: u64,
    frame: Vec<u8>,
}

impl PartialEq for Late {
    fn eq(&self, other: &Self) -> bool {
        (self.due, self.seq) == (other.due, other.seq)
    }
}
impl Eq for Late {}
impl PartialOrd for Late {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Late {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (other.due, other.seq).cmp(&(self.due, self.seq))
    }
}

/// Sends held-back frames when they are due, on a thread of its own (started at the first
/// late frame, ended when the NIC is dropped).
fn late_sender(socket: UdpSocket, counters: Arc<Counters>) -> mpsc::Sender<Late> {
    let (tx, rx) = mpsc::channel::<Late>();
    let spawned = std::thread::Builder::new()
        .name("sim-nic-delay".into())
        .spawn(move || {
            let mut heap = BinaryHeap::new();
            loop {
                let now = Instant::now();
                while heap.peek().is_some_and(|l: &Late| l.due <= now) {
                    if let Some(late) = heap.pop() {
                        match socket.send(&late.frame) {
                            Ok(_) => bump(&counters.tx_frames),
                            Err(_) => bump(&counters.tx_errors),
                        }
                    }
                }
                let next = match heap.peek() {
                    Some(l) => rx.recv_timeout(l.due.saturating_duration_since(now)),
                    None => rx.recv().map_err(|_| mpsc::RecvTimeoutError::Disconnected),
                };
                match next {
                    Ok(late) => heap.push(late),
                    Err(mpsc::RecvTimeoutError::Timeout) => {}
                    Err(mpsc::RecvTimeoutError::Disconnected) => return,
                }
            }
        });
    if spawned.is_err() {
        // No thread: the receiver is gone, and every late frame counts as a send error.
    }
    tx
}

/// Asks for socket buffers of `bytes` both ways; best effort (root may exceed the
/// system's limit, others get what `rmem_max`/`wmem_max` allow).
fn grow_buffers(socket: &UdpSocket, bytes: usize) {
    let value = bytes as libc::c_int;
    for option in [
        libc::SO_RCVBUFFORCE,
        libc::SO_RCVBUF,
        libc::SO_SNDBUFFORCE,
        libc::SO_SNDBUF,
    ] {
        // SAFETY: the option value is a c_int of the size given, alive across the call;
        // setsockopt only reads it. A refusal (EPERM for the FORCE variants) is ignored.
        unsafe {
            libc::setsockopt(
                socket.as_raw_fd(),
                libc::SOL_SOCKET,
                option,
                (&value as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
    }
}

/// A frame NIC over a connected, non-blocking UDP socket, with a [`FaultHandle`] for fault
/// injection. Its descriptor ([`AsRawFd`]) signals readable when a frame waits, so an
/// async runtime can wait on it (tokio's `AsyncFd`).
#[derive(Debug)]
pub struct UdpFrameNic {
    socket: UdpSocket,
    mac: [u8; 6],
    max_frame: usize,
    faults: FaultHandle,
    dice: Dice,
    counters: Arc<Counters>,
    late: Option<mpsc::Sender<Late>>,
    late_seq: u64,
    scratch: Vec<u8>,
}

impl std::fmt::Debug for Late {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Late({} bytes)", self.frame.len())
    }
}

impl UdpFrameNic {
    /// Binds `local` and sends to (and only hears from) `peer`; standard frames, no faults.
    pub fn bind(local: SocketAddr, peer: SocketAddr, mac: [u8; 6]) -> io::Result<UdpFrameNic> {
        UdpFrameNic::from_socket(UdpSocket::bind(local)?, peer, mac)
    }

    /// Two NICs on loopback ports of the system's choosing, cabled to each other.
    pub fn cabled_pair(mac_a: [u8; 6], mac_b: [u8; 6]) -> io::Result<(UdpFrameNic, UdpFrameNic)> {
        let any = SocketAddr::from(([127, 0, 0, 1], 0));
        let (a, b) = (UdpSocket::bind(any)?, UdpSocket::bind(any)?);
        let (a_addr, b_addr) = (a.local_addr()?, b.local_addr()?);
        Ok((
            UdpFrameNic::from_socket(a, b_addr, mac_a)?,
            UdpFrameNic::from_socket(b, a_addr, mac_b)?,
        ))
    }

    /// A NIC on a bound socket, sending to (and only hearing from) `peer`.
    pub fn from_socket(
        socket: UdpSocket,
        peer: SocketAddr,
        mac: [u8; 6],
    ) -> io::Result<UdpFrameNic> {
        socket.connect(peer)?;
        socket.set_nonblocking(true)?;
        grow_buffers(&socket, SOCKET_BUFFER);
        let seed = u64::from_le_bytes([mac[0], mac[1], mac[2], mac[3], mac[4], mac[5], 0x5a, 0xd1]);
        Ok(UdpFrameNic {
            socket,
            mac,
            max_frame: STANDARD_FRAME,
            faults: FaultHandle::new(),
            dice: Dice::new(seed),
            counters: Arc::default(),
            late: None,
            late_seq: 0,
            scratch: Vec::new(),
        })
    }

    /// Carries frames of up to `bytes` (jumbo frames: 9014).
    pub fn with_max_frame(mut self, bytes: usize) -> Self {
        self.max_frame = bytes;
        self
    }

    /// Follows `faults` (shared: whoever holds a clone changes what this NIC does).
    pub fn with_faults(mut self, faults: FaultHandle) -> Self {
        self.faults = faults;
        self
    }

    /// Seeds the fault dice (the default seed comes from the MAC).
    pub fn with_fault_seed(mut self, seed: u64) -> Self {
        self.dice = Dice::new(seed);
        self
    }

    /// The plan this NIC follows.
    pub fn faults(&self) -> FaultHandle {
        self.faults.clone()
    }

    /// What the NIC counted.
    pub fn counters(&self) -> NicCounters {
        self.counters.snapshot()
    }

    /// The bound address (a port 0 resolved).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    fn too_long(&self, n: usize) -> SimError {
        SimError(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("a {n}-byte frame, longer than {}", self.max_frame),
        ))
    }

    /// Sends `frame` now, or hands it to the late sender when it is due later.
    fn emit(&mut self, frame: &[u8], delay: Duration) -> Result<(), SimError> {
        if delay.is_zero() {
            return match self.socket.send(frame) {
                Ok(_) => {
                    bump(&self.counters.tx_frames);
                    Ok(())
                }
                Err(e) => {
                    bump(&self.counters.tx_errors);
                    Err(SimError(e))
                }
            };
        }
        if self.late.is_none() {
            let socket = self
                .socket
                .try_clone()
                .inspect_err(|_| bump(&self.counters.tx_errors))?;
            self.late = Some(late_sender(socket, self.counters.clone()));
        }
        self.late_seq += 1;
        let late = Late {
            due: Instant::now() + delay,
            seq: self.late_seq,
            frame: frame.to_vec(),
        };
        if let Some(sender) = &self.late {
            if sender.send(late).is_err() {
                bump(&self.counters.tx_errors);
                return Err(SimError(io::Error::other("the delay thread is gone")));
            }
        }
        Ok(())
    }
}

impl AsFd for UdpFrameNic {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.socket.as_fd()
    }
}

impl AsRawFd for UdpFrameNic {
    fn as_raw_fd(&self) -> RawFd {
        self.socket.as_raw_fd()
    }
}

impl nic::Error for SimError {
    fn kind(&self) -> nic::ErrorKind {
        match self.0.kind() {
            // A connected UDP socket hears ICMP port unreachable as this: nobody listens.
            io::ErrorKind::ConnectionRefused | io::ErrorKind::NotConnected => {
                nic::ErrorKind::LinkDown
            }
            io::ErrorKind::InvalidInput => nic::ErrorKind::FrameTooLong,
            io::ErrorKind::WouldBlock => nic::ErrorKind::Busy,
            _ => nic::ErrorKind::Io,
        }
    }
}

impl ErrorType for UdpFrameNic {
    type Error = SimError;
}

impl FrameNic for UdpFrameNic {
    fn mac_address(&self) -> [u8; 6] {
        self.mac
    }

    fn max_frame_len(&self) -> usize {
        self.max_frame
    }

    fn receive(&mut self, buf: &mut [u8]) -> Result<Option<usize>, SimError> {
        loop {
            let n = match self.socket.recv(buf) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    bump(&self.counters.rx_errors);
                    return Err(SimError(e));
                }
            };
            if self.faults.plan().cut {
                bump(&self.counters.fault_dropped);
                continue;
            }
            if n > self.max_frame {
                bump(&self.counters.rx_errors);
                return Err(self.too_long(n));
            }
            bump(&self.counters.rx_frames);
            return Ok(Some(n));
        }
    }

    fn transmit(&mut self, frame: &[u8]) -> Result<(), SimError> {
        if frame.len() > self.max_frame {
            bump(&self.counters.tx_errors);
            return Err(self.too_long(frame.len()));
        }
        let plan = self.faults.plan();
        if plan.is_clear() {
            return self.emit(frame, Duration::ZERO);
        }
        if plan.cut || self.dice.chance(plan.drop_pct) {
            bump(&self.counters.fault_dropped);
            return Ok(());
        }
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        scratch.extend_from_slice(frame);
        if self.dice.chance(plan.corrupt_pct) {
            // Past the Ethernet header (the frame still reaches the peer's stack), or
            // anywhere in a runt.
            let from = if scratch.len() > 14 { 14 } else { 0 };
            if scratch.len() > from {
                let at = from + self.dice.below(scratch.len() - from);
                scratch[at] ^= 1 << self.dice.below(8);
                bump(&self.counters.fault_corrupted);
            }
        }
        let copies = if self.dice.chance(plan.dup_pct) { 2 } else { 1 };
        let mut delay = Duration::from_millis(u64::from(plan.delay_ms));
        if self.dice.chance(plan.reorder_pct) {
            delay += REORDER_DELAY;
        }
        let mut result = Ok(());
        for _ in 0..copies {
            result = self.emit(&scratch, delay);
        }
        self.scratch = scratch;
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::FaultPlan;
    use hal::nic::Error as _;
    use std::time::{Duration, Instant};

    fn loopback(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    fn receive_within(nic: &mut UdpFrameNic, wait: Duration) -> Vec<Vec<u8>> {
        let deadline = Instant::now() + wait;
        let mut got = Vec::new();
        let mut buf = [0u8; STANDARD_FRAME];
        while Instant::now() < deadline {
            match nic.receive(&mut buf).unwrap() {
                Some(n) => got.push(buf[..n].to_vec()),
                None => std::thread::sleep(Duration::from_millis(1)),
            }
        }
        got
    }

    fn frame(tag: u8) -> Vec<u8> {
        (0..100u8).map(|i| i ^ tag).collect()
    }

    #[test]
    fn a_cut_stops_both_ways_and_clear_mends_it() {
        let (mut a, mut b) =
            UdpFrameNic::cabled_pair([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]).unwrap();
        a.faults().command("cut").unwrap();
        a.transmit(&frame(1)).unwrap();
        b.transmit(&frame(2)).unwrap();
        assert!(receive_within(&mut b, Duration::from_millis(50)).is_empty());
        assert!(receive_within(&mut a, Duration::from_millis(50)).is_empty());
        assert_eq!(a.counters().fault_dropped, 2, "{:?}", a.counters());
        a.faults().command("clear").unwrap();
        a.transmit(&frame(3)).unwrap();
        assert_eq!(
            receive_within(&mut b, Duration::from_millis(50)),
            vec![frame(3)]
        );
    }

    #[test]
    fn drop_dup_and_corrupt_do_what_they_say() {
        let (mut a, mut b) =
            UdpFrameNic::cabled_pair([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]).unwrap();
        let faults = a.faults();
        faults.command("drop 100").unwrap();
        a.transmit(&frame(1)).unwrap();
        assert!(receive_within(&mut b, Duration::from_millis(30)).is_empty());
        faults.set(FaultPlan::parse("dup").unwrap());
        a.transmit(&frame(2)).unwrap();
        assert_eq!(
            receive_within(&mut b, Duration::from_millis(30)),
            vec![frame(2), frame(2)]
        );
        faults.set(FaultPlan::parse("corrupt").unwrap());
        a.transmit(&frame(3)).unwrap();
        let got = receive_within(&mut b, Duration::from_millis(30));
        assert_eq!(got.len(), 1);
        let differing: Vec<usize> = (0..100).filter(|&i| got[0][i] != frame(3)[i]).collect();
        assert_eq!(differing.len(), 1, "one byte flipped");
        assert!(differing[0] >= 14, "past the Ethernet header");
        assert_eq!(
            (got[0][differing[0]] ^ frame(3)[differing[0]]).count_ones(),
            1
        );
        assert_eq!(a.counters().fault_corrupted, 1);
    }

    #[test]
    fn delay_and_reorder_hold_frames_back() {
        let (mut a, mut b) =
            UdpFrameNic::cabled_pair([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]).unwrap();
        a.faults().command("delay 40").unwrap();
        let sent = Instant::now();
        a.transmit(&frame(1)).unwrap();
        assert!(receive_within(&mut b, Duration::from_millis(20)).is_empty());
        assert_eq!(
            receive_within(&mut b, Duration::from_millis(100)),
            vec![frame(1)]
        );
        assert!(sent.elapsed() >= Duration::from_millis(40));
        a.faults().set(FaultPlan::parse("reorder").unwrap());
        a.transmit(&frame(2)).unwrap();
        a.faults().clear();
        a.transmit(&frame(3)).unwrap();
        assert_eq!(
            receive_within(&mut b, Duration::from_millis(30)),
            vec![frame(3), frame(2)]
        );
    }

    #[test]
    fn two_nics_cabled_back_to_back_exchange_frames() {
        // Bind both first on free ports, then cable them to each other.
        let a_sock = UdpSocket::bind(loopback(0)).unwrap();
        let b_sock = UdpSocket::bind(loopback(0)).unwrap();
        let (a_addr, b_addr) = (a_sock.local_addr().unwrap(), b_sock.local_addr().unwrap());
        drop((a_sock, b_sock));
        let mut a = UdpFrameNic::bind(a_addr, b_addr, [2, 0, 0, 0, 0, 1]).unwrap();
        let mut b = UdpFrameNic::bind(b_addr, a_addr, [2, 0, 0, 0, 0, 2]).unwrap();
        let mut buf = [0u8; STANDARD_FRAME];
        assert_eq!(b.receive(&mut buf).unwrap(), None);
        let frame: Vec<u8> = (0..100u8).collect();
        a.transmit(&frame).unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        let n = loop {
            if let Some(n) = b.receive(&mut buf).unwrap() {
                break n;
            }
            assert!(Instant::now() < deadline, "no frame arrived");
            std::thread::sleep(Duration::from_millis(1));
        };
        assert_eq!(&buf[..n], &frame[..]);
        assert_eq!(a.mac_address(), [2, 0, 0, 0, 0, 1]);
        let long = vec![0u8; STANDARD_FRAME + 1];
        assert_eq!(
            a.transmit(&long).unwrap_err().kind(),
            hal::nic::ErrorKind::FrameTooLong
        );
    }
}
