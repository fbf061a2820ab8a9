//! A drive of the backplane as the firmware sees it: positional block I/O and its identity.

/// What went wrong on a drive, without the board's own error types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DriveErrorKind {
    Io,
    NotPresent,
    NoSpace,
    ReadOnly,
}

/// A drive reachable through positional reads and writes. Calls block: the firmware runs them
/// on its I/O threads, never on the runtime thread.
pub trait BlockDevice {
    /// Capacity in bytes.
    fn capacity(&self) -> u64;
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), DriveErrorKind>;
    fn write_at(&self, offset: u64, buf: &[u8]) -> Result<(), DriveErrorKind>;
    /// Makes completed writes durable.
    fn flush(&self) -> Result<(), DriveErrorKind>;
}
