//! The storage a LUN sits on, as the core sees it: positional reads and writes of owned buffers.
//!
//! Buffers are owned and handed back so a backend may carry them to an I/O thread and the
//! transport can recycle them; no backend ever sees a borrowed pointer it could outlive.

use alloc::vec::Vec;
use core::future::Future;
use serde::{Deserialize, Serialize};

/// Why a backend operation failed, in terms the core can turn into sense data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum BackendErrorKind {
    /// The medium could not be read at this place.
    Read,
    /// The medium could not be written at this place.
    Write,
    /// The medium is gone (drive pulled, file removed).
    NoMedium,
    /// The backing store has no room for the write (thin backend full).
    NoSpace,
    /// The I/O machinery is shutting down or overloaded.
    Unavailable,
    /// The backend cannot do this (deallocation on a medium without it).
    Unsupported,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackendError {
    pub kind: BackendErrorKind,
}

impl BackendError {
    pub const fn new(kind: BackendErrorKind) -> Self {
        BackendError { kind }
    }
}

/// Size and block layout of a backend's medium.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Geometry {
    /// Logical block size in bytes (512 or 4096).
    pub block_size: u32,
    /// Number of logical blocks.
    pub blocks: u64,
}

pub type IoResult = Result<(), BackendError>;

/// One LUN's storage. Implementations: `ramdisk` and `file` in the `backend` crate.
///
/// Offsets and lengths are in bytes and always whole logical blocks: the core has checked
/// them against [`Geometry`] before calling.
/// `'static`: a LUN's storage lives as long as the LUN, and background operations (a
/// sanitize) hold the LUN beyond the command that started them.
pub trait BlockBackend: 'static {
    fn geometry(&self) -> Geometry;

    /// Fills `buf` (its whole length) from byte `offset`; returns the buffer.
    fn read(&self, offset: u64, buf: Vec<u8>) -> impl Future<Output = (Vec<u8>, IoResult)>;

    /// Writes all of `buf` at byte `offset`; with `fua` the data is durable on return.
    fn write(
        &self,
        offset: u64,
        buf: Vec<u8>,
        fua: bool,
    ) -> impl Future<Output = (Vec<u8>, IoResult)>;

    /// Makes every completed write durable.
    fn flush(&self) -> impl Future<Output = IoResult>;

    /// Tells the backend whether the Caching mode page's WCE bit is set: without a write
    /// cache every write must be durable before it completes.
    fn set_write_cache(&self, _enabled: bool) {}

    /// Whether `unmap` really deallocates (and deallocated blocks read as zeros).
    fn can_deallocate(&self) -> bool {
        false
    }

    /// Deallocates `len` bytes at `offset` (whole blocks); afterwards they read as zeros.
    fn unmap(&self, _offset: u64, _len: u64) -> impl Future<Output = IoResult> {
        core::future::ready(Err(BackendError::new(BackendErrorKind::Unsupported)))
    }

    /// The provisioning status of the bytes from `offset`: whether they are mapped, and how
    /// far (at most `len` bytes) that status runs.
    fn extent(&self, _offset: u64, len: u64) -> impl Future<Output = Result<Extent, BackendError>> {
        core::future::ready(Ok(Extent { mapped: true, len }))
    }

    /// Bytes of backing store in use (for the Logical Block Provisioning log page).
    fn allocated_bytes(&self) -> u64 {
        0
    }

    /// Changes the medium to `bytes` (whole logical blocks of it; at least one); afterwards
    /// [`BlockBackend::geometry`] reports the new size. Data beyond a smaller size is gone, and
    /// growing again reads zeros there.
    ///
    /// Synchronous because it runs inside [`crate::TargetDevice::apply`], which the HA peer's
    /// mirror calls too: a backend resizes by changing a length (a metadata operation), not by
    /// moving data.
    fn resize(&self, _bytes: u64) -> IoResult {
        Err(BackendError::new(BackendErrorKind::Unsupported))
    }

    /// Follows the LUN's configured write protection. The core refuses writes to a
    /// write-protected LUN before they reach the backend, so a backend that does not enforce
    /// read-only itself has nothing to do; one that does (it refuses writes, or opened its
    /// medium read-only) must follow, or fail when it cannot become writable.
    fn set_read_only(&self, _read_only: bool) -> IoResult {
        Ok(())
    }

    /// The board took the medium away (a drive pulled from its slot): let go of it. I/O
    /// from now on, including what is queued and not yet started, fails with
    /// [`BackendErrorKind::NoMedium`] until [`BlockBackend::attach_medium`]; I/O already
    /// running on the drive ends as the drive lets it. A backend whose medium cannot leave
    /// (memory) has nothing to do.
    ///
    /// Synchronous, like [`BlockBackend::resize`]: it runs inside
    /// [`crate::TargetDevice::apply`] and only swaps what later I/O finds.
    fn detach_medium(&self) {}

    /// The medium is back: opens it again, at `path` when it is elsewhere now (the drive was
    /// inserted into another slot), else where it was. The capacity stays the LUN's: a
    /// medium smaller than that is refused. A medium that never leaves (memory) is back as
    /// soon as asked, and cannot be anywhere else.
    fn attach_medium(&self, path: Option<&str>) -> IoResult {
        match path {
            None => Ok(()),
            Some(_) => Err(BackendError::new(BackendErrorKind::Unsupported)),
        }
    }
}

/// A run of blocks with one provisioning status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extent {
    pub mapped: bool,
    /// Length in bytes, never 0 for a non-empty query.
    pub len: u64,
}
