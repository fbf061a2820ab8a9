//! The peer fence: the line from one controller board to the other's reset or power, which a
//! controller pulls before it takes over the peer's LUNs (ARCHITECTURE.md, HA rule 6), so
//! that the peer can no longer write to the shared drives.

/// What went wrong fencing the peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The fence was pulled but the peer cannot be confirmed down: taking over is unsafe.
    NotConfirmed,
    /// This board cannot do that action (power-off on a board with only a reset line).
    Unsupported,
    /// The fence path itself failed.
    Io,
    /// Anything else.
    Other,
}

crate::error_traits!("the peer fence");

/// What the fence does to the peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FenceAction {
    /// Hold the peer in reset and let it boot again.
    Reset,
    /// Cut the peer's power until an operator restores it.
    PowerOff,
}

/// The fence line to the peer controller.
pub trait PeerFence: ErrorType {
    /// Fences the peer. `Ok` means the peer is down (or was not there at all): it no longer
    /// touches the shared drives.
    fn fence(&mut self, action: FenceAction) -> Result<(), Self::Error>;
}
