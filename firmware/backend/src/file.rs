//! LUN storage on a regular file or a block device, with the blocking I/O on an I/O thread pool.
//!
//! A regular file may be created or grown (sparsely) to the configured size. The medium's
//! capacity is the configured size, or else the file or device size, in whole logical blocks.

use std::cell::{Cell, RefCell};
use std::fs::{File, OpenOptions};
use std::io::{self, Seek, SeekFrom};
use std::os::unix::fs::{FileExt, FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use scsi::backend::{BackendError, BackendErrorKind, BlockBackend, Geometry, IoResult};

use crate::io_pool::{self, IoOp, IoPool, IoTarget};
use crate::storage::{check_block_size, OpenError};

/// Memory alignment O_DIRECT transfers get: 4096 satisfies every logical block size we serve.
const DIRECT_ALIGN: usize = 4096;

/// How to open a [`FileBackend`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileOptions {
    /// Logical block size in bytes: 512 or 4096.
    pub block_size: u32,
    /// Size of the medium in bytes. A missing regular file is created and a shorter one grown
    /// (sparsely) to it; a longer file is left alone and only its first `size` bytes are used.
    /// Without it the medium is the whole file or device.
    pub size: Option<u64>,
    /// Open the file read-only and refuse every write.
    pub read_only: bool,
    /// Bypass the page cache (O_DIRECT). Unaligned buffers go through a per-thread bounce
    /// buffer; the file system must support it, else opening fails.
    pub direct: bool,
    /// I/O threads. 0 runs the I/O inline on the runtime thread: only sensible for files in
    /// memory (tmpfs), where a pread is a memcpy and cheaper than the handoff to a thread.
    pub io_threads: usize,
}

impl Default for FileOptions {
    fn default() -> Self {
        FileOptions {
            block_size: 512,
            size: None,
            read_only: false,
            direct: false,
            io_threads: io_pool::DEFAULT_THREADS,
        }
    }
}

/// The open file as the I/O threads use it.
pub struct FileTarget {
    file: File,
    direct: bool,
}

/// Maps an OS error to what the core can report; `fallback` names the failed direction.
pub(crate) fn error_kind(error: &io::Error, fallback: BackendErrorKind) -> BackendErrorKind {
    match error.raw_os_error() {
        Some(libc::ENOENT | libc::ENXIO | libc::ENODEV) => BackendErrorKind::NoMedium,
        Some(libc::ENOSPC | libc::EDQUOT) => BackendErrorKind::NoSpace,
        _ => fallback,
    }
}

fn failed(error: &io::Error, fallback: BackendErrorKind) -> BackendError {
    BackendError::new(error_kind(error, fallback))
}

/// Fills `buf` from `offset`; bytes past the end of the file read as zeros, as they would
/// from a sparse hole, so a file truncated behind our back yields zeros rather than a panic.
fn read_full(file: &File, mut buf: &mut [u8], mut offset: u64) -> io::Result<()> {
    while !buf.is_empty() {
        match file.read_at(buf, offset) {
            Ok(0) => {
                buf.fill(0);
                break;
            }
            Ok(n) => {
                buf = &mut buf[n..];
                offset += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// A `len`-byte region of `scratch` aligned for O_DIRECT; `scratch` grows to the largest
/// transfer seen and is then reused.
fn aligned_region(scratch: &mut Vec<u8>, len: usize) -> &mut [u8] {
    if scratch.len() < len + DIRECT_ALIGN {
        scratch.resize(len + DIRECT_ALIGN, 0);
    }
    let misalignment = scratch.as_ptr() as usize % DIRECT_ALIGN;
    let start = (DIRECT_ALIGN - misalignment) % DIRECT_ALIGN;
    &mut scratch[start..start + len]
}

impl FileTarget {
    fn needs_bounce(&self, buf: &[u8]) -> bool {
        self.direct && !(buf.as_ptr() as usize).is_multiple_of(DIRECT_ALIGN)
    }

    fn read(&self, offset: u64, buf: &mut [u8], scratch: &mut Vec<u8>) -> io::Result<()> {
        if self.needs_bounce(buf) {
            let bounce = aligned_region(scratch, buf.len());
            read_full(&self.file, bounce, offset)?;
            buf.copy_from_slice(bounce);
            Ok(())
        } else {
            read_full(&self.file, buf, offset)
        }
    }

    fn write(&self, offset: u64, buf: &[u8], scratch: &mut Vec<u8>) -> io::Result<()> {
        if self.needs_bounce(buf) {
            let bounce = aligned_region(scratch, buf.len());
            bounce.copy_from_slice(buf);
            self.file.write_all_at(bounce, offset)
        } else {
            self.file.write_all_at(buf, offset)
        }
    }
}

impl IoTarget for FileTarget {
    fn execute(&self, op: IoOp, offset: u64, buf: &mut [u8], scratch: &mut Vec<u8>) -> IoResult {
        match op {
            IoOp::Read => self
                .read(offset, buf, scratch)
                .map_err(|e| failed(&e, BackendErrorKind::Read)),
            IoOp::Write { fua } => {
                self.write(offset, buf, scratch)
                    .map_err(|e| failed(&e, BackendErrorKind::Write))?;
                if fua {
                    self.file
                        .sync_data()
                        .map_err(|e| failed(&e, BackendErrorKind::Write))?;
                }
                Ok(())
            }
            IoOp::Flush => self
                .file
                .sync_data()
                .map_err(|e| failed(&e, BackendErrorKind::Write)),
        }
    }
}

/// Where the I/O runs.
enum Io {
    /// On the runtime thread (`io_threads == 0`).
    Inline {
        target: FileTarget,
        scratch: RefCell<Vec<u8>>,
    },
    Pool(IoPool<FileTarget>),
}

/// A LUN stored in a regular file or on a block device.
pub struct FileBackend {
    path: PathBuf,
    geometry: Geometry,
    capacity: u64,
    read_only: bool,
    /// Cleared by the Caching mode page (WCE=0): every write then completes durable.
    write_cache: Cell<bool>,
    io: Io,
}

impl FileBackend {
    /// Opens (and, for a regular file with `size`, creates or grows) the medium at `path`.
    pub fn open(path: impl AsRef<Path>, opts: FileOptions) -> Result<Self, OpenError> {
        let path = path.as_ref();
        check_block_size(opts.block_size)?;
        let io_error = |action: &'static str| {
            let path = path.to_path_buf();
            move |error| OpenError::Io {
                path,
                action,
                error,
            }
        };

        let exists = match std::fs::metadata(path) {
            Ok(meta) => {
                let kind = meta.file_type();
                if !kind.is_file() && !kind.is_block_device() {
                    return Err(OpenError::NotStorage {
                        path: path.to_path_buf(),
                    });
                }
                true
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if opts.size.is_none() || opts.read_only {
                    return Err(OpenError::Missing {
                        path: path.to_path_buf(),
                        read_only: opts.read_only,
                    });
                }
                false
            }
            Err(e) => return Err(io_error("looking it up")(e)),
        };

        let mut options = OpenOptions::new();
        options
            .read(true)
            .write(!opts.read_only)
            .create(!exists && !opts.read_only);
        if opts.direct {
            options.custom_flags(libc::O_DIRECT);
        }
        let mut file = match options.open(path) {
            Ok(file) => file,
            Err(e) if opts.direct && e.raw_os_error() == Some(libc::EINVAL) => {
                return Err(OpenError::DirectUnsupported {
                    path: path.to_path_buf(),
                })
            }
            Err(e) => return Err(io_error("opening it")(e)),
        };

        let meta = file.metadata().map_err(io_error("reading its size"))?;
        let block_device = meta.file_type().is_block_device();
        let current = if block_device {
            // A block device's metadata says 0 bytes; its end is its size.
            file.seek(SeekFrom::End(0))
                .map_err(io_error("reading its size"))?
        } else {
            meta.len()
        };
        let capacity = match opts.size {
            None => current,
            Some(wanted) if wanted <= current => wanted,
            Some(wanted) => {
                if block_device || opts.read_only {
                    return Err(OpenError::CannotGrow {
                        path: path.to_path_buf(),
                        size: current,
                        wanted,
                        block_device,
                    });
                }
                // set_len leaves a hole: no data blocks are written.
                file.set_len(wanted)
                    .map_err(io_error("growing it to the configured size"))?;
                wanted
            }
        };
        let blocks = capacity / u64::from(opts.block_size);
        if blocks == 0 {
            return Err(OpenError::TooSmall {
                path: Some(path.to_path_buf()),
                size: capacity,
                block_size: opts.block_size,
            });
        }

        let target = FileTarget {
            file,
            direct: opts.direct,
        };
        let io = if opts.io_threads == 0 {
            Io::Inline {
                target,
                scratch: RefCell::new(Vec::new()),
            }
        } else {
            Io::Pool(
                IoPool::new(
                    target,
                    "dyad-io",
                    opts.io_threads,
                    io_pool::DEFAULT_QUEUE_DEPTH,
                )
                .map_err(io_error("starting its I/O threads"))?,
            )
        };
        Ok(FileBackend {
            path: path.to_path_buf(),
            geometry: Geometry {
                block_size: opts.block_size,
                blocks,
            },
            capacity: blocks * u64::from(opts.block_size),
            read_only: opts.read_only,
            write_cache: Cell::new(true),
            io,
        })
    }

    /// The path the medium was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Size of the medium in bytes (whole blocks).
    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    /// Whether completed writes may sit in the page cache until a flush.
    pub fn write_cache_enabled(&self) -> bool {
        self.write_cache.get()
    }

    fn in_bounds(&self, offset: u64, len: usize) -> bool {
        offset
            .checked_add(len as u64)
            .is_some_and(|end| end <= self.capacity)
    }

    async fn run(&self, op: IoOp, offset: u64, mut buf: Vec<u8>) -> (Vec<u8>, IoResult) {
        match &self.io {
            Io::Inline { target, scratch } => {
                let result = target.execute(op, offset, &mut buf, &mut scratch.borrow_mut());
                (buf, result)
            }
            Io::Pool(pool) => pool.submit(op, offset, buf).await,
        }
    }
}

impl BlockBackend for FileBackend {
    fn geometry(&self) -> Geometry {
        self.geometry
    }

    async fn read(&self, offset: u64, buf: Vec<u8>) -> (Vec<u8>, IoResult) {
        if !self.in_bounds(offset, buf.len()) {
            return (buf, Err(BackendError::new(BackendErrorKind::Read)));
        }
        self.run(IoOp::Read, offset, buf).await
    }

    async fn write(&self, offset: u64, buf: Vec<u8>, fua: bool) -> (Vec<u8>, IoResult) {
        if self.read_only || !self.in_bounds(offset, buf.len()) {
            return (buf, Err(BackendError::new(BackendErrorKind::Write)));
        }
        let fua = fua || !self.write_cache.get();
        self.run(IoOp::Write { fua }, offset, buf).await
    }

    async fn flush(&self) -> IoResult {
        if self.read_only {
            return Ok(());
        }
        self.run(IoOp::Flush, 0, Vec::new()).await.1
    }

    fn set_write_cache(&self, enabled: bool) {
        self.write_cache.set(enabled);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_errors_map_to_backend_kinds() {
        let kind = |errno, fallback| error_kind(&io::Error::from_raw_os_error(errno), fallback);
        use BackendErrorKind::*;
        assert_eq!(kind(libc::ENOENT, Read), NoMedium);
        assert_eq!(kind(libc::ENXIO, Write), NoMedium);
        assert_eq!(kind(libc::ENODEV, Read), NoMedium);
        assert_eq!(kind(libc::ENOSPC, Write), NoSpace);
        assert_eq!(kind(libc::EDQUOT, Write), NoSpace);
        assert_eq!(kind(libc::EIO, Read), Read);
        assert_eq!(kind(libc::EIO, Write), Write);
        assert_eq!(
            error_kind(&io::Error::other("no errno"), Write),
            BackendErrorKind::Write
        );
    }

    #[test]
    fn aligned_region_is_aligned_and_reused() {
        let mut scratch = Vec::new();
        for len in [512, 4096, 131072, 4096] {
            let region = aligned_region(&mut scratch, len);
            assert_eq!(region.len(), len);
            assert_eq!(region.as_ptr() as usize % DIRECT_ALIGN, 0);
        }
        assert_eq!(scratch.len(), 131072 + DIRECT_ALIGN);
    }
}
