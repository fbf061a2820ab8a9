//! An Ethernet frame NIC, the interlink between the two controllers: whole frames in and
//! out, the firmware's own TCP/IP stack (smoltcp) on top.

/// What went wrong on the NIC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// No carrier: the cable or the peer is gone.
    LinkDown,
    /// The frame is longer than the NIC carries.
    FrameTooLong,
    /// The transmit queue is full; try again after receiving.
    Busy,
    /// The device failed.
    Io,
    /// Anything else.
    Other,
}

crate::error_traits!("a frame NIC");

/// The standard Ethernet frame without FCS: 14 bytes of header and 1500 of payload.
pub const STANDARD_FRAME: usize = 1514;

/// A NIC that moves whole Ethernet frames. Non-blocking: the firmware's network task polls
/// it and waits on the board's readiness signal between polls.
pub trait FrameNic: ErrorType {
    /// The NIC's MAC address.
    fn mac_address(&self) -> [u8; 6];

    /// The longest frame it carries, header included ([`STANDARD_FRAME`], or more with
    /// jumbo frames).
    fn max_frame_len(&self) -> usize;

    /// Takes one received frame into `buf`: its length, or `None` when none is waiting. A
    /// frame longer than `buf` is dropped with [`ErrorKind::FrameTooLong`].
    fn receive(&mut self, buf: &mut [u8]) -> Result<Option<usize>, Self::Error>;

    /// Sends one frame.
    fn transmit(&mut self, frame: &[u8]) -> Result<(), Self::Error>;
}
