//! A drive of the backplane as the firmware sees it: positional block I/O, its geometry and
//! the identity it reports.

use crate::backplane::DriveIdentity;

/// What went wrong on a drive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The drive is gone (pulled from its slot, powered off): nothing reaches it.
    NotPresent,
    /// The medium could not be read or written at this place.
    Medium,
    /// The offset and length run past the end of the drive.
    OutOfRange,
    /// The backing store is full (a thin drive).
    NoSpace,
    /// The drive refuses writes.
    ReadOnly,
    /// The drive cannot do this (discard on a drive without it).
    Unsupported,
    /// Anything else.
    Other,
}

crate::error_traits!("a drive");

/// Sizes of a drive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    /// Bytes per logical block (the unit of addressing): 512 or 4096.
    pub logical_block_size: u32,
    /// Bytes per physical block (the unit the medium writes atomically), a power-of-two
    /// multiple of the logical block.
    pub physical_block_size: u32,
    /// Capacity in bytes, whole logical blocks.
    pub capacity: u64,
}

/// A drive reachable through positional reads and writes. Calls block: the firmware runs
/// them on its I/O threads, never on the runtime thread, hence `&self` and several callers
/// at once.
pub trait BlockDevice: ErrorType {
    /// What the drive says it is (the same as the backplane's slot map shows).
    fn identity(&self) -> &DriveIdentity;

    /// Its block sizes and capacity.
    fn geometry(&self) -> Geometry;

    /// Fills `buf` from byte `offset`.
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), Self::Error>;

    /// Writes all of `buf` at byte `offset`.
    fn write_at(&self, offset: u64, buf: &[u8]) -> Result<(), Self::Error>;

    /// Makes completed writes durable.
    fn flush(&self) -> Result<(), Self::Error>;

    /// Tells the drive that `len` bytes at `offset` hold nothing worth keeping (SCSI UNMAP,
    /// NVMe Deallocate); afterwards they read as zeros.
    fn discard(&self, offset: u64, len: u64) -> Result<(), Self::Error>;
}
