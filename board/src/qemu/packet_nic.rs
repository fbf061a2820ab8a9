//! The interlink NIC as a [`FrameNic`]: every Ethernet frame of one interface through a
//! non-blocking AF_PACKET socket, for the firmware's own TCP/IP stack (smoltcp).
//!
//! smoltcp's own `RawSocket` panics on any I/O error but `WouldBlock` (`ENETDOWN` when the
//! link drops, `ENOBUFS` under load); this one counts them, reports them by kind and goes
//! on. A packet socket hears the frames it sends too, so those (and anything with our own
//! source MAC) are skipped; short frames are padded to the 60-byte Ethernet minimum.
//!
//! Keep the Linux interface up with no IP address: the kernel then never answers ARP or
//! sends resets for the stack's connections, and the stack uses the NIC's own MAC, so no
//! promiscuous mode is needed.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU64, Ordering};

use hal::nic::{self, ErrorType, FrameNic, STANDARD_FRAME};

use super::cmdline::Mac;
use super::net::Nic;
use super::sys;

/// The shortest Ethernet frame without its FCS.
pub const MIN_FRAME: usize = 60;
const HEADER: usize = 14;

/// An error of the packet NIC: the system's error, or a frame too long.
#[derive(Debug)]
pub struct PacketNicError(pub io::Error);

impl std::fmt::Display for PacketNicError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for PacketNicError {}

impl nic::Error for PacketNicError {
    fn kind(&self) -> nic::ErrorKind {
        match self.0.raw_os_error() {
            Some(libc::ENETDOWN | libc::ENXIO | libc::ENODEV | libc::ENETUNREACH) => {
                nic::ErrorKind::LinkDown
            }
            Some(libc::EMSGSIZE) => nic::ErrorKind::FrameTooLong,
            Some(libc::ENOBUFS | libc::EAGAIN) => nic::ErrorKind::Busy,
            Some(_) => nic::ErrorKind::Io,
            None if self.0.kind() == io::ErrorKind::InvalidInput => nic::ErrorKind::FrameTooLong,
            None => nic::ErrorKind::Other,
        }
    }
}

/// What the NIC counted since it was opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PacketCounters {
    pub tx_frames: u64,
    pub tx_errors: u64,
    pub rx_frames: u64,
    pub rx_errors: u64,
    /// Frames heard from our own MAC (our own transmissions), skipped.
    pub rx_own: u64,
    /// Frames longer than the NIC carries, dropped.
    pub rx_too_long: u64,
}

#[derive(Debug, Default)]
struct Counters {
    tx_frames: AtomicU64,
    tx_errors: AtomicU64,
    rx_frames: AtomicU64,
    rx_errors: AtomicU64,
    rx_own: AtomicU64,
    rx_too_long: AtomicU64,
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// A frame NIC over an AF_PACKET socket bound to one interface. Its descriptor
/// ([`AsRawFd`]) signals readable when a frame waits.
#[derive(Debug)]
pub struct PacketNic {
    fd: OwnedFd,
    mac: [u8; 6],
    max_frame: usize,
    counters: Counters,
    pad: Vec<u8>,
}

impl PacketNic {
    /// Opens `nic` for every EtherType, standard frames.
    pub fn open(nic: &Nic) -> io::Result<PacketNic> {
        PacketNic::open_index(nic.ifindex, nic.mac)
    }

    /// Opens the interface with index `ifindex` whose MAC is `mac`.
    pub fn open_index(ifindex: u32, mac: Mac) -> io::Result<PacketNic> {
        let all = libc::ETH_P_ALL as u16;
        let fd = sys::socket(
            libc::AF_PACKET,
            libc::SOCK_RAW | libc::SOCK_NONBLOCK,
            libc::c_int::from(all.to_be()),
        )?;
        sys::bind_packet(fd.as_fd(), ifindex, all)?;
        // Linux 4.20 and later can leave our own transmissions out; older kernels refuse
        // the option and the source-MAC filter does the job alone.
        let one: libc::c_int = 1;
        // SAFETY: the option value is a c_int of the size given, alive across the call;
        // setsockopt only reads it.
        let _ = unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_PACKET,
                libc::PACKET_IGNORE_OUTGOING,
                (&one as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        Ok(PacketNic {
            fd,
            mac: mac.0,
            max_frame: STANDARD_FRAME,
            counters: Counters::default(),
            pad: Vec::with_capacity(MIN_FRAME),
        })
    }

    /// Carries frames of up to `bytes` (jumbo frames: 9014; the interface's MTU must
    /// allow them).
    pub fn with_max_frame(mut self, bytes: usize) -> Self {
        self.max_frame = bytes;
        self
    }

    /// What the NIC counted.
    pub fn counters(&self) -> PacketCounters {
        let c = &self.counters;
        PacketCounters {
            tx_frames: c.tx_frames.load(Ordering::Relaxed),
            tx_errors: c.tx_errors.load(Ordering::Relaxed),
            rx_frames: c.rx_frames.load(Ordering::Relaxed),
            rx_errors: c.rx_errors.load(Ordering::Relaxed),
            rx_own: c.rx_own.load(Ordering::Relaxed),
            rx_too_long: c.rx_too_long.load(Ordering::Relaxed),
        }
    }

    fn send(&self, frame: &[u8]) -> io::Result<()> {
        loop {
            // SAFETY: `frame` is valid for reads of its length for the whole call; the
            // descriptor is open while `self` lives.
            let r = unsafe {
                libc::send(
                    self.fd.as_raw_fd(),
                    frame.as_ptr().cast(),
                    frame.len(),
                    libc::MSG_DONTWAIT,
                )
            };
            if r >= 0 {
                return Ok(());
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }
}

impl AsFd for PacketNic {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for PacketNic {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl ErrorType for PacketNic {
    type Error = PacketNicError;
}

impl FrameNic for PacketNic {
    fn mac_address(&self) -> [u8; 6] {
        self.mac
    }

    fn max_frame_len(&self) -> usize {
        self.max_frame
    }

    fn receive(&mut self, buf: &mut [u8]) -> Result<Option<usize>, PacketNicError> {
        loop {
            // SAFETY: `buf` is valid for writes of its length for the whole call; with
            // MSG_TRUNC the kernel still writes at most that much and returns the frame's
            // real length.
            let r = unsafe {
                libc::recv(
                    self.fd.as_raw_fd(),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    libc::MSG_DONTWAIT | libc::MSG_TRUNC,
                )
            };
            if r < 0 {
                let e = io::Error::last_os_error();
                match e.kind() {
                    io::ErrorKind::WouldBlock => return Ok(None),
                    io::ErrorKind::Interrupted => continue,
                    _ => {
                        bump(&self.counters.rx_errors);
                        return Err(PacketNicError(e));
                    }
                }
            }
            let n = r as usize;
            if n < HEADER {
                bump(&self.counters.rx_errors);
                continue;
            }
            if n > buf.len() || n > self.max_frame {
                bump(&self.counters.rx_too_long);
                return Err(PacketNicError(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "a {n}-byte frame, longer than {}",
                        self.max_frame.min(buf.len())
                    ),
                )));
            }
            if buf[6..12] == self.mac {
                bump(&self.counters.rx_own);
                continue;
            }
            bump(&self.counters.rx_frames);
            return Ok(Some(n));
        }
    }

    fn transmit(&mut self, frame: &[u8]) -> Result<(), PacketNicError> {
        if frame.len() > self.max_frame {
            bump(&self.counters.tx_errors);
            return Err(PacketNicError(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "a {}-byte frame, longer than {}",
                    frame.len(),
                    self.max_frame
                ),
            )));
        }
        let result = if frame.len() < MIN_FRAME {
            let mut pad = std::mem::take(&mut self.pad);
            pad.clear();
            pad.extend_from_slice(frame);
            pad.resize(MIN_FRAME, 0);
            let r = self.send(&pad);
            self.pad = pad;
            r
        } else {
            self.send(frame)
        };
        match result {
            Ok(()) => {
                bump(&self.counters.tx_frames);
                Ok(())
            }
            Err(e) => {
                bump(&self.counters.tx_errors);
                Err(PacketNicError(e))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hal::nic::Error as _;

    /// The loopback interface: index 1, MAC all zeros. Opening a packet socket needs
    /// CAP_NET_RAW; without it the test has nothing to check.
    fn open_lo() -> Option<PacketNic> {
        match PacketNic::open_index(1, Mac([0; 6])) {
            Ok(nic) => Some(nic),
            Err(e) if e.raw_os_error() == Some(libc::EPERM) => {
                eprintln!("no CAP_NET_RAW: skipped ({e})");
                None
            }
            Err(e) => panic!("opening lo: {e}"),
        }
    }

    fn frame(source: [u8; 6], ethertype: u16, payload: &[u8]) -> Vec<u8> {
        let mut f = vec![0xff; 6];
        f.extend_from_slice(&source);
        f.extend_from_slice(&ethertype.to_be_bytes());
        f.extend_from_slice(payload);
        f
    }

    fn wait_for(nic: &mut PacketNic, payload: &[u8]) -> Option<Vec<u8>> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
        let mut buf = vec![0u8; STANDARD_FRAME];
        while std::time::Instant::now() < deadline {
            // Other traffic on lo (long frames included) is skipped.
            match nic.receive(&mut buf).unwrap_or(Some(0)) {
                Some(n) if buf[..n].windows(payload.len()).any(|w| w == payload) => {
                    return Some(buf[..n].to_vec())
                }
                Some(_) => {}
                None => std::thread::sleep(std::time::Duration::from_millis(1)),
            }
        }
        None
    }

    #[test]
    fn frames_pass_short_ones_padded_own_ones_skipped() {
        let Some(mut nic) = open_lo() else { return };
        // Our own MAC as source: heard back on lo, and skipped.
        let own = frame([0; 6], 0x88B5, b"dyad-own-frame");
        nic.transmit(&own).unwrap();
        // Another source: heard back, padded to 60 bytes.
        let tag = b"dyad-packet-nic-test";
        let other = frame([2, 0xda, 0xd0, 0, 0, 9], 0x88B5, tag);
        nic.transmit(&other).unwrap();
        let got = wait_for(&mut nic, tag).expect("the frame came back");
        assert_eq!(got.len(), MIN_FRAME);
        assert_eq!(&got[..other.len()], &other[..]);
        assert!(got[other.len()..].iter().all(|&b| b == 0));
        let c = nic.counters();
        assert!(c.rx_own >= 1, "{c:?}");
        assert_eq!(c.tx_frames, 2);
        assert_eq!(c.tx_errors, 0);
    }

    #[test]
    fn oversized_frames_are_errors_not_panics() {
        let Some(mut nic) = open_lo() else { return };
        let long = vec![0u8; STANDARD_FRAME + 1];
        let e = nic.transmit(&long).unwrap_err();
        assert_eq!(e.kind(), nic::ErrorKind::FrameTooLong);
        assert_eq!(nic.counters().tx_errors, 1);
        // A jumbo frame on lo (MTU 65536) reaches a standard-frame receiver as too long.
        let mut sender = open_lo().unwrap().with_max_frame(9014);
        let tag = b"dyad-jumbo-too-long";
        let mut jumbo = frame([2, 0xda, 0xd0, 0, 0, 8], 0x88B5, tag);
        jumbo.resize(9014, 7);
        sender.transmit(&jumbo).unwrap();
        let mut buf = vec![0u8; STANDARD_FRAME];
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
        loop {
            match nic.receive(&mut buf) {
                Err(e) => {
                    assert_eq!(e.kind(), nic::ErrorKind::FrameTooLong);
                    break;
                }
                Ok(_) => {
                    assert!(std::time::Instant::now() < deadline, "never came");
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
            }
        }
        assert!(nic.counters().rx_too_long >= 1);
    }

    #[test]
    fn errors_have_kinds() {
        let kind = |errno| PacketNicError(io::Error::from_raw_os_error(errno)).kind();
        assert_eq!(kind(libc::ENETDOWN), nic::ErrorKind::LinkDown);
        assert_eq!(kind(libc::ENOBUFS), nic::ErrorKind::Busy);
        assert_eq!(kind(libc::EMSGSIZE), nic::ErrorKind::FrameTooLong);
        assert_eq!(kind(libc::EIO), nic::ErrorKind::Io);
    }
}
