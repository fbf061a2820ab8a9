//! A smoltcp [`Device`] over a board's [`FrameNic`]: one receive and one transmit buffer of
//! the longest frame, no queues (the NIC's own socket buffers are the queue). NIC errors
//! are counted and the frame is lost (TCP sends it again); nothing here panics.

use std::os::fd::{AsRawFd, RawFd};

use hal::nic::{Error as _, ErrorKind, FrameNic};
use smoltcp::phy::{self, Device, DeviceCapabilities, Medium};
use smoltcp::time::Instant;

/// The Ethernet header: what a frame carries past the IP MTU.
pub const ETHERNET_HEADER: usize = 14;

/// Frames and errors the stack's device counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DeviceCounters {
    pub rx_frames: u64,
    pub tx_frames: u64,
    /// Receive errors (frames too long included).
    pub rx_errors: u64,
    /// Frames that could not be sent: the NIC was busy.
    pub tx_busy: u64,
    /// Frames that could not be sent: the link was down.
    pub tx_link_down: u64,
    /// Frames that could not be sent for any other reason.
    pub tx_errors: u64,
}

/// How many receive errors in a row one `receive` call skips before giving up (and asking
/// to be polled again soon): a NIC failing for good must not hold the task.
const ERRORS_PER_RECEIVE: u32 = 8;

/// The frame NIC `N` as a smoltcp device with an IP MTU of `mtu`.
pub struct NicDevice<N> {
    nic: N,
    rx: Vec<u8>,
    tx: Vec<u8>,
    mtu: usize,
    counters: DeviceCounters,
    /// A receive call stopped on errors before the NIC said it had nothing more.
    pub(crate) undrained: bool,
}

impl<N: FrameNic> NicDevice<N> {
    /// The device for `nic`, frames of up to `mtu + 14` bytes (the NIC must carry them).
    pub fn new(nic: N, mtu: usize) -> NicDevice<N> {
        let frame = mtu + ETHERNET_HEADER;
        NicDevice {
            nic,
            rx: vec![0; frame],
            tx: vec![0; frame],
            mtu,
            counters: DeviceCounters::default(),
            undrained: false,
        }
    }

    /// What the device counted.
    pub fn counters(&self) -> DeviceCounters {
        self.counters
    }

    /// The NIC.
    pub fn nic(&self) -> &N {
        &self.nic
    }
}

impl<N: AsRawFd> AsRawFd for NicDevice<N> {
    /// The NIC's descriptor, readable when a frame waits.
    fn as_raw_fd(&self) -> RawFd {
        self.nic.as_raw_fd()
    }
}

/// A received frame, lent to smoltcp.
pub struct NicRxToken<'a> {
    frame: &'a [u8],
}

impl phy::RxToken for NicRxToken<'_> {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(self.frame)
    }
}

/// Room for one frame to send.
pub struct NicTxToken<'a, N> {
    nic: &'a mut N,
    buf: &'a mut [u8],
    counters: &'a mut DeviceCounters,
}

impl<N: FrameNic> phy::TxToken for NicTxToken<'_, N> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        // smoltcp never asks for more than the MTU it was given; a longer request gets a
        // buffer of its own rather than a panic.
        let mut spill;
        let buf = if len <= self.buf.len() {
            &mut self.buf[..len]
        } else {
            spill = vec![0; len];
            &mut spill[..]
        };
        let r = f(buf);
        match self.nic.transmit(buf) {
            Ok(()) => self.counters.tx_frames += 1,
            Err(e) => match e.kind() {
                ErrorKind::Busy => self.counters.tx_busy += 1,
                ErrorKind::LinkDown => self.counters.tx_link_down += 1,
                _ => self.counters.tx_errors += 1,
            },
        }
        r
    }
}

impl<N: FrameNic> Device for NicDevice<N> {
    type RxToken<'a>
        = NicRxToken<'a>
    where
        Self: 'a;
    type TxToken<'a>
        = NicTxToken<'a, N>
    where
        Self: 'a;

    fn receive(&mut self, _now: Instant) -> Option<(NicRxToken<'_>, NicTxToken<'_, N>)> {
        let mut errors = 0;
        let n = loop {
            match self.nic.receive(&mut self.rx) {
                Ok(Some(n)) => break n,
                Ok(None) => {
                    self.undrained = false;
                    return None;
                }
                Err(_) => {
                    self.counters.rx_errors += 1;
                    errors += 1;
                    if errors >= ERRORS_PER_RECEIVE {
                        self.undrained = true;
                        return None;
                    }
                }
            }
        };
        self.counters.rx_frames += 1;
        Some((
            NicRxToken {
                frame: &self.rx[..n],
            },
            NicTxToken {
                nic: &mut self.nic,
                buf: &mut self.tx,
                counters: &mut self.counters,
            },
        ))
    }

    fn transmit(&mut self, _now: Instant) -> Option<NicTxToken<'_, N>> {
        Some(NicTxToken {
            nic: &mut self.nic,
            buf: &mut self.tx,
            counters: &mut self.counters,
        })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = self.mtu + ETHERNET_HEADER;
        // Checksums stay the default, computed on send and verified on receipt: the frames
        // carry no FCS, so the IP and TCP checksums are all that catches a damaged frame.
        caps
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hal::nic::{ErrorType, STANDARD_FRAME};

    /// A NIC that fails every call.
    struct Broken;

    impl ErrorType for Broken {
        type Error = ErrorKind;
    }

    impl FrameNic for Broken {
        fn mac_address(&self) -> [u8; 6] {
            [2, 0, 0, 0, 0, 1]
        }
        fn max_frame_len(&self) -> usize {
            STANDARD_FRAME
        }
        fn receive(&mut self, _: &mut [u8]) -> Result<Option<usize>, ErrorKind> {
            Err(ErrorKind::Io)
        }
        fn transmit(&mut self, _: &[u8]) -> Result<(), ErrorKind> {
            Err(ErrorKind::LinkDown)
        }
    }

    #[test]
    fn checksums_are_verified_on_receipt_and_computed_on_send() {
        let caps = NicDevice::new(Broken, 9000).capabilities();
        assert_eq!(caps.max_transmission_unit, 9014);
        for c in [&caps.checksum.ipv4, &caps.checksum.tcp] {
            assert!(c.rx() && c.tx());
        }
    }

    #[test]
    fn a_failing_nic_is_counted_not_a_panic() {
        use smoltcp::phy::TxToken as _;
        let mut dev = NicDevice::new(Broken, 1500);
        assert!(dev.receive(Instant::from_millis(0)).is_none());
        assert!(dev.undrained);
        let tx = dev.transmit(Instant::from_millis(0)).unwrap();
        tx.consume(60, |buf| buf.fill(0));
        let c = dev.counters();
        assert_eq!(c.rx_errors, u64::from(ERRORS_PER_RECEIVE));
        assert_eq!(c.tx_link_down, 1);
    }
}
