//! One concrete storage type for every LUN, chosen from its configuration, and the errors of
//! opening it.
//!
//! [`Storage`] dispatches with a `match` instead of a trait object so that the futures stay
//! unboxed on the data path.

use std::fmt;
use std::io;
use std::path::PathBuf;

use scsi::backend::{BackendError, BlockBackend, Extent, Geometry, IoResult};

use crate::file::{FileBackend, FileOptions};
use crate::ramdisk::RamDisk;

/// Where a LUN's data lives, as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageSpec {
    /// In memory, zero-filled and sparse, of `size` bytes.
    Ramdisk { size: u64 },
    /// In a regular file or on a block device; with `size`, a missing file is created and a
    /// shorter one grown to it.
    File { path: PathBuf, size: Option<u64> },
}

/// A LUN's storage.
pub enum Storage {
    Ram(RamDisk),
    File(FileBackend),
}

/// Why storage could not be opened. Messages name the path (or "ramdisk") and the problem.
#[derive(Debug)]
#[non_exhaustive]
pub enum OpenError {
    /// Only 512- and 4096-byte logical blocks are served.
    BlockSize { block_size: u32 },
    /// The medium would hold no whole block. `path` is `None` for a ramdisk.
    TooSmall {
        path: Option<PathBuf>,
        size: u64,
        block_size: u32,
    },
    /// The file does not exist and cannot be created: no size given, or read-only.
    Missing { path: PathBuf, read_only: bool },
    /// Neither a regular file nor a block device (a directory, a character device...).
    NotStorage { path: PathBuf },
    /// The configured size exceeds the medium, which cannot grow.
    CannotGrow {
        path: PathBuf,
        size: u64,
        wanted: u64,
        block_device: bool,
    },
    /// Direct I/O was asked for on a file system without O_DIRECT.
    DirectUnsupported { path: PathBuf },
    /// The operating system refused `action`.
    Io {
        path: PathBuf,
        action: &'static str,
        error: io::Error,
    },
}

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpenError::BlockSize { block_size } => write!(
                f,
                "logical block size {block_size} is not supported: use 512 or 4096"
            ),
            OpenError::TooSmall {
                path,
                size,
                block_size,
            } => {
                match path {
                    Some(path) => write!(f, "{}", path.display())?,
                    None => f.write_str("ramdisk")?,
                }
                write!(
                    f,
                    ": {size} bytes is smaller than one {block_size}-byte block"
                )
            }
            OpenError::Missing { path, read_only } => {
                let why = if *read_only {
                    "a read-only LUN cannot create it"
                } else {
                    "no size is configured to create it with"
                };
                write!(f, "{}: no such file, and {why}", path.display())
            }
            OpenError::NotStorage { path } => {
                write!(f, "{}: not a regular file or block device", path.display())
            }
            OpenError::CannotGrow {
                path,
                size,
                wanted,
                block_device,
            } => {
                let why = if *block_device {
                    "a block device cannot grow"
                } else {
                    "a read-only LUN cannot grow its file"
                };
                write!(
                    f,
                    "{}: holds {size} bytes, less than the configured {wanted}, and {why}",
                    path.display()
                )
            }
            OpenError::DirectUnsupported { path } => write!(
                f,
                "{}: the file system does not support direct I/O (O_DIRECT)",
                path.display()
            ),
            OpenError::Io {
                path,
                action,
                error,
            } => write!(f, "{}: {action}: {error}", path.display()),
        }
    }
}

impl std::error::Error for OpenError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            OpenError::Io { error, .. } => Some(error),
            _ => None,
        }
    }
}

/// Accepts only the logical block sizes the core serves.
pub(crate) fn check_block_size(block_size: u32) -> Result<(), OpenError> {
    match block_size {
        512 | 4096 => Ok(()),
        _ => Err(OpenError::BlockSize { block_size }),
    }
}

/// Opens the storage `spec` describes with `block_size`-byte logical blocks. Files get the
/// default number of I/O threads and buffered I/O; use [`FileBackend::open`] for more control.
pub fn open(spec: &StorageSpec, block_size: u32, read_only: bool) -> Result<Storage, OpenError> {
    check_block_size(block_size)?;
    match spec {
        StorageSpec::Ramdisk { size } => {
            let blocks = size / u64::from(block_size);
            if blocks == 0 {
                return Err(OpenError::TooSmall {
                    path: None,
                    size: *size,
                    block_size,
                });
            }
            Ok(Storage::Ram(
                RamDisk::new(block_size, blocks).with_read_only(read_only),
            ))
        }
        StorageSpec::File { path, size } => FileBackend::open(
            path,
            FileOptions {
                block_size,
                size: *size,
                read_only,
                ..FileOptions::default()
            },
        )
        .map(Storage::File),
    }
}

impl BlockBackend for Storage {
    fn geometry(&self) -> Geometry {
        match self {
            Storage::Ram(disk) => disk.geometry(),
            Storage::File(file) => file.geometry(),
        }
    }

    async fn read(&self, offset: u64, buf: Vec<u8>) -> (Vec<u8>, IoResult) {
        match self {
            Storage::Ram(disk) => disk.read(offset, buf).await,
            Storage::File(file) => file.read(offset, buf).await,
        }
    }

    async fn write(&self, offset: u64, buf: Vec<u8>, fua: bool) -> (Vec<u8>, IoResult) {
        match self {
            Storage::Ram(disk) => disk.write(offset, buf, fua).await,
            Storage::File(file) => file.write(offset, buf, fua).await,
        }
    }

    async fn flush(&self) -> IoResult {
        match self {
            Storage::Ram(disk) => disk.flush().await,
            Storage::File(file) => file.flush().await,
        }
    }

    fn set_write_cache(&self, enabled: bool) {
        match self {
            Storage::Ram(disk) => disk.set_write_cache(enabled),
            Storage::File(file) => file.set_write_cache(enabled),
        }
    }

    fn can_deallocate(&self) -> bool {
        match self {
            Storage::Ram(disk) => disk.can_deallocate(),
            Storage::File(file) => file.can_deallocate(),
        }
    }

    async fn unmap(&self, offset: u64, len: u64) -> IoResult {
        match self {
            Storage::Ram(disk) => disk.unmap(offset, len).await,
            Storage::File(file) => file.unmap(offset, len).await,
        }
    }

    async fn extent(&self, offset: u64, len: u64) -> Result<Extent, BackendError> {
        match self {
            Storage::Ram(disk) => disk.extent(offset, len).await,
            Storage::File(file) => file.extent(offset, len).await,
        }
    }

    fn allocated_bytes(&self) -> u64 {
        match self {
            Storage::Ram(disk) => BlockBackend::allocated_bytes(disk),
            Storage::File(file) => file.allocated_bytes(),
        }
    }

    fn resize(&self, bytes: u64) -> IoResult {
        match self {
            Storage::Ram(disk) => disk.resize(bytes),
            Storage::File(file) => file.resize(bytes),
        }
    }

    fn set_read_only(&self, read_only: bool) -> IoResult {
        match self {
            Storage::Ram(disk) => BlockBackend::set_read_only(disk, read_only),
            Storage::File(file) => file.set_read_only(read_only),
        }
    }

    fn detach_medium(&self) {
        match self {
            Storage::Ram(disk) => disk.detach_medium(),
            Storage::File(file) => file.detach_medium(),
        }
    }

    fn attach_medium(&self, path: Option<&str>) -> IoResult {
        match self {
            Storage::Ram(disk) => disk.attach_medium(path),
            Storage::File(file) => BlockBackend::attach_medium(file, path),
        }
    }
}
