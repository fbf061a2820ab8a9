//! The board's watchdog: once started, the firmware must pet it within its timeout or the
//! board (or, on the sim board, the launcher) restarts the controller.

/// What went wrong with the watchdog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The timeout is outside what the hardware can count.
    TimeoutOutOfRange,
    /// The watchdog cannot do this (most cannot be stopped once started).
    Unsupported,
    /// Reaching the watchdog failed.
    Io,
    /// Anything else.
    Other,
}

crate::error_traits!("the watchdog");

/// The watchdog timer.
pub trait Watchdog: ErrorType {
    /// Arms it: from now on a pet is due every `timeout_ms`.
    fn start(&mut self, timeout_ms: u32) -> Result<(), Self::Error>;

    /// Restarts the countdown.
    fn pet(&mut self) -> Result<(), Self::Error>;

    /// Disarms it, on a clean shutdown, where the hardware allows.
    fn stop(&mut self) -> Result<(), Self::Error>;
}
