//! The board's clocks: a monotonic one for timeouts, and the wall clock for timestamps the
//! target reports (REPORT TIMESTAMP, log entries).

/// What went wrong reading a clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The wall clock was never set (no RTC battery, no time from the peer yet).
    NotSet,
    /// Reading the clock failed.
    Io,
    /// Anything else.
    Other,
}

crate::error_traits!("a clock");

/// The board's clocks.
pub trait Clock: ErrorType {
    /// Microseconds since some fixed point (the board's start); never goes backwards.
    fn monotonic_us(&self) -> u64;

    /// Milliseconds since 1970-01-01 UTC.
    fn wall_clock_ms(&self) -> Result<u64, Self::Error>;
}
