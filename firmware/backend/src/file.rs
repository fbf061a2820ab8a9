//! LUN storage on a regular file or a block device, with the blocking I/O on an I/O thread pool.
//!
//! A regular file may be created or grown (sparsely) to the configured size. The medium's
//! capacity is the configured size, or else the file or device size, in whole logical blocks.
//! Deallocation punches holes (zeros where the file system cannot), and the provisioning status
//! of a range is what SEEK_DATA/SEEK_HOLE say of it; both run on the I/O threads too.

use std::cell::{Cell, RefCell};
use std::fs::{File, OpenOptions};
use std::io::{self, Seek, SeekFrom};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileExt, FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use scsi::backend::{BackendError, BackendErrorKind, BlockBackend, Extent, Geometry, IoResult};

use crate::io_pool::{self, IoOp, IoOutcome, IoPool, IoReply, IoTarget};
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

/// Bytes of zeros one write puts down where a hole cannot be punched.
const ZERO_CHUNK: usize = 1 << 20;

/// The open file as the I/O threads use it.
pub struct FileTarget {
    /// `None` while the medium is detached (its drive pulled). Each operation takes its own
    /// reference for as long as it runs, so a detach never waits for I/O in flight, and the
    /// old file closes when the last of that I/O ends.
    file: RwLock<Option<Arc<File>>>,
    direct: bool,
    /// Cleared the first time the file system refuses to punch a hole: from then on
    /// deallocation writes zeros without asking again.
    punch_holes: AtomicBool,
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

/// Whether an error says the file system (or device) cannot do the operation at all, rather
/// than that this particular call failed.
fn unsupported(error: &io::Error) -> bool {
    matches!(
        error.raw_os_error(),
        Some(libc::EOPNOTSUPP | libc::ENOSYS | libc::ENOTTY)
    )
}

/// Deallocates `len` bytes at `offset` without changing the file size; they read as zeros.
#[allow(unsafe_code)]
fn punch_hole(file: &File, offset: u64, len: u64) -> io::Result<()> {
    let (Ok(offset), Ok(len)) = (libc::off_t::try_from(offset), libc::off_t::try_from(len)) else {
        return Err(io::Error::from_raw_os_error(libc::EFBIG));
    };
    loop {
        // SAFETY: fallocate takes a descriptor and three integers and touches no memory of
        // ours; `file` owns the descriptor and outlives the call.
        let r = unsafe {
            libc::fallocate(
                file.as_raw_fd(),
                libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
                offset,
                len,
            )
        };
        if r == 0 {
            return Ok(());
        }
        let error = io::Error::last_os_error();
        if error.kind() != io::ErrorKind::Interrupted {
            return Err(error);
        }
    }
}

/// The next offset at or after `offset` that starts data (`SEEK_DATA`) or a hole
/// (`SEEK_HOLE`); `None` when there is none before the end of the file.
#[allow(unsafe_code)]
fn seek_next(file: &File, offset: u64, whence: libc::c_int) -> io::Result<Option<u64>> {
    let Ok(at) = libc::off_t::try_from(offset) else {
        return Ok(None);
    };
    // SAFETY: lseek takes a descriptor and two integers and touches no memory of ours; `file`
    // owns the descriptor and outlives the call. The file position it moves is never used:
    // every transfer is positional (pread/pwrite).
    let r = unsafe { libc::lseek(file.as_raw_fd(), at, whence) };
    if r >= 0 {
        return Ok(u64::try_from(r).ok());
    }
    let error = io::Error::last_os_error();
    if error.raw_os_error() == Some(libc::ENXIO) {
        Ok(None)
    } else {
        Err(error)
    }
}

impl FileTarget {
    fn new(file: File, direct: bool) -> FileTarget {
        FileTarget {
            file: RwLock::new(Some(Arc::new(file))),
            direct,
            punch_holes: AtomicBool::new(true),
        }
    }

    /// The medium's file, or NoMedium while it is detached.
    fn current(&self) -> Result<Arc<File>, BackendError> {
        // The lock only guards the swap of a pointer, never I/O: a poisoned one still holds
        // a whole value.
        self.file
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .ok_or(BackendError::new(BackendErrorKind::NoMedium))
    }

    /// Puts `file` in place of the medium's (`None`: detaches it).
    fn replace(&self, file: Option<File>) {
        *self.file.write().unwrap_or_else(PoisonError::into_inner) = file.map(Arc::new);
    }

    fn needs_bounce(&self, buf: &[u8]) -> bool {
        self.direct && !(buf.as_ptr() as usize).is_multiple_of(DIRECT_ALIGN)
    }

    fn read(
        &self,
        file: &File,
        offset: u64,
        buf: &mut [u8],
        scratch: &mut Vec<u8>,
    ) -> io::Result<()> {
        if self.needs_bounce(buf) {
            let bounce = aligned_region(scratch, buf.len());
            read_full(file, bounce, offset)?;
            buf.copy_from_slice(bounce);
            Ok(())
        } else {
            read_full(file, buf, offset)
        }
    }

    fn write(&self, file: &File, offset: u64, buf: &[u8], scratch: &mut Vec<u8>) -> io::Result<()> {
        if self.needs_bounce(buf) {
            let bounce = aligned_region(scratch, buf.len());
            bounce.copy_from_slice(buf);
            file.write_all_at(bounce, offset)
        } else {
            file.write_all_at(buf, offset)
        }
    }

    /// Deallocates `len` bytes at `offset`: punches a hole, or writes zeros where the file
    /// system cannot punch one (the blocks stay allocated but read as zeros all the same).
    fn deallocate(
        &self,
        file: &File,
        offset: u64,
        len: u64,
        scratch: &mut Vec<u8>,
    ) -> io::Result<()> {
        if self.punch_holes.load(Ordering::Relaxed) {
            match punch_hole(file, offset, len) {
                Ok(()) => return Ok(()),
                Err(e) if unsupported(&e) => self.punch_holes.store(false, Ordering::Relaxed),
                Err(e) => return Err(e),
            }
        }
        self.write_zeros(file, offset, len, scratch)
    }

    fn write_zeros(
        &self,
        file: &File,
        offset: u64,
        len: u64,
        scratch: &mut Vec<u8>,
    ) -> io::Result<()> {
        let mut done = 0u64;
        while done < len {
            let n = usize::try_from(len - done).map_or(ZERO_CHUNK, |n| n.min(ZERO_CHUNK));
            // Aligned so that it also suits O_DIRECT; scratch holds other data between jobs.
            let zeros = aligned_region(scratch, n);
            zeros.fill(0);
            file.write_all_at(zeros, offset + done)?;
            done += n as u64;
        }
        Ok(())
    }

    /// Whether the bytes at `offset` are mapped (hold data) and how far, at most `len`, that
    /// runs. A file system that cannot tell has every byte mapped.
    fn extent(&self, file: &File, offset: u64, len: u64) -> io::Result<Extent> {
        let end = offset.saturating_add(len);
        let whole = |mapped| Extent { mapped, len };
        let data = match seek_next(file, offset, libc::SEEK_DATA) {
            Ok(data) => data,
            Err(e) if unsupported(&e) || e.raw_os_error() == Some(libc::EINVAL) => {
                return Ok(whole(true));
            }
            Err(e) => return Err(e),
        };
        let run_end = match data {
            // No data from here to the end of the file: one hole.
            None => return Ok(whole(false)),
            Some(data) if data > offset => {
                return Ok(Extent {
                    mapped: false,
                    len: data.min(end) - offset,
                })
            }
            // Data here: it runs to the next hole (the end of the file at the latest).
            Some(_) => seek_next(file, offset, libc::SEEK_HOLE)?.unwrap_or(end),
        };
        let run = run_end.min(end).saturating_sub(offset);
        Ok(if run == 0 {
            whole(true)
        } else {
            Extent {
                mapped: true,
                len: run,
            }
        })
    }
}

impl IoTarget for FileTarget {
    fn execute(&self, op: IoOp, offset: u64, buf: &mut [u8], scratch: &mut Vec<u8>) -> IoOutcome {
        let write_error = |e: io::Error| failed(&e, BackendErrorKind::Write);
        // Taken once per operation: a detach from now on does not reach this one, which ends
        // on the file it started on.
        let file = self.current()?;
        let file = &*file;
        match op {
            IoOp::Read => self
                .read(file, offset, buf, scratch)
                .map_err(|e| failed(&e, BackendErrorKind::Read))?,
            IoOp::Write { fua } => {
                self.write(file, offset, buf, scratch)
                    .map_err(write_error)?;
                if fua {
                    file.sync_data().map_err(write_error)?;
                }
            }
            IoOp::Flush => file.sync_data().map_err(write_error)?,
            IoOp::Unmap { len, durable } => {
                self.deallocate(file, offset, len, scratch)
                    .map_err(write_error)?;
                if durable {
                    file.sync_data().map_err(write_error)?;
                }
            }
            IoOp::Extent { len } => {
                return self
                    .extent(file, offset, len)
                    .map(IoReply::Extent)
                    .map_err(|e| failed(&e, BackendErrorKind::Read));
            }
        }
        Ok(IoReply::Done)
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
    /// Where the medium was last opened; an attach elsewhere changes it.
    path: RefCell<PathBuf>,
    /// Both change when the LUN is resized.
    geometry: Cell<Geometry>,
    capacity: Cell<u64>,
    /// Writes are refused; follows the LUN's configuration.
    read_only: Cell<bool>,
    /// The file was opened without write access, so it can never become writable.
    opened_read_only: bool,
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

        let target = FileTarget::new(file, opts.direct);
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
            path: RefCell::new(path.to_path_buf()),
            geometry: Cell::new(Geometry {
                block_size: opts.block_size,
                blocks,
            }),
            capacity: Cell::new(blocks * u64::from(opts.block_size)),
            read_only: Cell::new(opts.read_only),
            opened_read_only: opts.read_only,
            write_cache: Cell::new(true),
            io,
        })
    }

    /// The path the medium was opened from (last).
    pub fn path(&self) -> PathBuf {
        self.path.borrow().clone()
    }

    /// Lets go of the medium (its drive was pulled): the file closes once the I/O still
    /// running on it ends, and every operation from now on fails with NoMedium.
    pub fn detach_medium(&self) {
        self.target().replace(None);
    }

    /// Opens the medium again, at `path` when it moved, as it was opened at first (read-only
    /// or not, direct or not). It must still be a regular file or block device of at least
    /// the LUN's capacity: anything else is not this LUN's medium and is refused
    /// (NoMedium), leaving the backend as it was.
    pub fn attach_medium(&self, path: Option<&Path>) -> IoResult {
        let path = path.map_or_else(|| self.path(), Path::to_path_buf);
        let no_medium = || BackendError::new(BackendErrorKind::NoMedium);
        let mut options = OpenOptions::new();
        options.read(true).write(!self.opened_read_only);
        if self.target().direct {
            options.custom_flags(libc::O_DIRECT);
        }
        let mut file = options
            .open(&path)
            .map_err(|e| failed(&e, BackendErrorKind::NoMedium))?;
        let meta = file.metadata().map_err(|_| no_medium())?;
        let kind = meta.file_type();
        let size = if kind.is_block_device() {
            file.seek(SeekFrom::End(0)).map_err(|_| no_medium())?
        } else if kind.is_file() {
            meta.len()
        } else {
            return Err(no_medium());
        };
        if size < self.capacity.get() {
            return Err(no_medium());
        }
        self.target().replace(Some(file));
        *self.path.borrow_mut() = path;
        Ok(())
    }

    /// Size of the medium in bytes (whole blocks).
    pub fn capacity(&self) -> u64 {
        self.capacity.get()
    }

    pub fn is_read_only(&self) -> bool {
        self.read_only.get()
    }

    /// Changes the medium to `bytes`, in whole blocks (at least one). A regular file opened
    /// for writing is cut or extended (sparsely, set_len) to exactly that size: data beyond a
    /// smaller size is gone, and growing again reads zeros there. A block device or a file
    /// opened read-only cannot change, so only a size within it is accepted.
    ///
    /// Runs on the caller's thread: changing a file's length is a metadata operation.
    pub fn resize(&self, bytes: u64) -> IoResult {
        let block_size = self.geometry.get().block_size;
        let blocks = bytes / u64::from(block_size);
        if blocks == 0 {
            return Err(BackendError::new(BackendErrorKind::Unsupported));
        }
        let capacity = blocks * u64::from(block_size);
        let file = self.target().current()?;
        let mut file = &*file;
        let meta = file
            .metadata()
            .map_err(|e| failed(&e, BackendErrorKind::Write))?;
        let block_device = meta.file_type().is_block_device();
        if block_device || self.opened_read_only {
            let size = if block_device {
                // Only positional I/O is ever done, so moving the file position is harmless.
                file.seek(SeekFrom::End(0))
                    .map_err(|e| failed(&e, BackendErrorKind::Read))?
            } else {
                meta.len()
            };
            if capacity > size {
                return Err(BackendError::new(BackendErrorKind::Unsupported));
            }
        } else {
            file.set_len(capacity)
                .map_err(|e| failed(&e, BackendErrorKind::Write))?;
        }
        self.capacity.set(capacity);
        self.geometry.set(Geometry { block_size, blocks });
        Ok(())
    }

    /// Refuses writes from now on when `read_only` is set. A file opened read-only cannot
    /// accept them again: that takes opening it anew (removing and re-adding the LUN).
    pub fn set_read_only(&self, read_only: bool) -> IoResult {
        if !read_only && self.opened_read_only {
            return Err(BackendError::new(BackendErrorKind::Unsupported));
        }
        self.read_only.set(read_only);
        Ok(())
    }

    /// Whether completed writes may sit in the page cache until a flush.
    pub fn write_cache_enabled(&self) -> bool {
        self.write_cache.get()
    }

    fn in_bounds(&self, offset: u64, len: u64) -> bool {
        offset
            .checked_add(len)
            .is_some_and(|end| end <= self.capacity.get())
    }

    fn target(&self) -> &FileTarget {
        match &self.io {
            Io::Inline { target, .. } => target,
            Io::Pool(pool) => pool.target(),
        }
    }

    async fn run(&self, op: IoOp, offset: u64, mut buf: Vec<u8>) -> (Vec<u8>, IoOutcome) {
        match &self.io {
            Io::Inline { target, scratch } => {
                let result = target.execute(op, offset, &mut buf, &mut scratch.borrow_mut());
                (buf, result)
            }
            Io::Pool(pool) => pool.submit(op, offset, buf).await,
        }
    }

    /// Runs an operation that reports nothing but success.
    async fn run_done(&self, op: IoOp, offset: u64, buf: Vec<u8>) -> (Vec<u8>, IoResult) {
        let (buf, result) = self.run(op, offset, buf).await;
        (buf, result.map(|_| ()))
    }
}

impl BlockBackend for FileBackend {
    fn geometry(&self) -> Geometry {
        self.geometry.get()
    }

    async fn read(&self, offset: u64, buf: Vec<u8>) -> (Vec<u8>, IoResult) {
        if !self.in_bounds(offset, buf.len() as u64) {
            return (buf, Err(BackendError::new(BackendErrorKind::Read)));
        }
        self.run_done(IoOp::Read, offset, buf).await
    }

    async fn write(&self, offset: u64, buf: Vec<u8>, fua: bool) -> (Vec<u8>, IoResult) {
        if self.read_only.get() || !self.in_bounds(offset, buf.len() as u64) {
            return (buf, Err(BackendError::new(BackendErrorKind::Write)));
        }
        let fua = fua || !self.write_cache.get();
        self.run_done(IoOp::Write { fua }, offset, buf).await
    }

    async fn flush(&self) -> IoResult {
        // Writes made before the LUN became read-only may still need flushing.
        if self.opened_read_only {
            return Ok(());
        }
        self.run_done(IoOp::Flush, 0, Vec::new()).await.1
    }

    fn set_write_cache(&self, enabled: bool) {
        self.write_cache.set(enabled);
    }

    // A hole where the file system can punch one, zeros where it cannot: either way the
    // blocks read as zeros afterwards.
    fn can_deallocate(&self) -> bool {
        !self.read_only.get()
    }

    async fn unmap(&self, offset: u64, len: u64) -> IoResult {
        if self.read_only.get() || !self.in_bounds(offset, len) {
            return Err(BackendError::new(BackendErrorKind::Write));
        }
        // Without a write cache a deallocation, like a write, is durable when it completes.
        let durable = !self.write_cache.get();
        self.run_done(IoOp::Unmap { len, durable }, offset, Vec::new())
            .await
            .1
    }

    async fn extent(&self, offset: u64, len: u64) -> Result<Extent, BackendError> {
        if len == 0 || !self.in_bounds(offset, len) {
            return Err(BackendError::new(BackendErrorKind::Read));
        }
        match self.run(IoOp::Extent { len }, offset, Vec::new()).await.1? {
            IoReply::Extent(extent) => Ok(extent),
            IoReply::Done => Ok(Extent { mapped: true, len }),
        }
    }

    fn allocated_bytes(&self) -> u64 {
        let Ok(file) = self.target().current() else {
            // No medium, nothing in use that can be counted.
            return 0;
        };
        match file.metadata() {
            // A device has no notion of allocation: all of it is in use.
            Ok(meta) if meta.file_type().is_block_device() => self.capacity.get(),
            // st_blocks counts 512-byte units whatever the file system's block size.
            Ok(meta) => meta.blocks().saturating_mul(512),
            Err(_) => 0,
        }
    }

    fn resize(&self, bytes: u64) -> IoResult {
        FileBackend::resize(self, bytes)
    }

    fn set_read_only(&self, read_only: bool) -> IoResult {
        FileBackend::set_read_only(self, read_only)
    }

    fn detach_medium(&self) {
        FileBackend::detach_medium(self);
    }

    fn attach_medium(&self, path: Option<&str>) -> IoResult {
        FileBackend::attach_medium(self, path.map(Path::new))
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

    fn target(name: &str, len: u64) -> (FileTarget, std::path::PathBuf) {
        let path = std::env::temp_dir().join(format!("dyad-file-{}-{name}", std::process::id()));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .unwrap();
        file.set_len(len).unwrap();
        (FileTarget::new(file, false), path)
    }

    #[test]
    fn deallocation_writes_zeros_where_holes_cannot_be_punched() {
        let (t, path) = target("zeros", 4 << 20);
        let mut scratch = Vec::new();
        let file = t.current().unwrap();
        file.write_all_at(&vec![9; 3 << 20], 0).unwrap();
        // As after a file system refused FALLOC_FL_PUNCH_HOLE once.
        t.punch_holes.store(false, Ordering::Relaxed);
        let r = t.execute(
            IoOp::Unmap {
                len: (2 << 20) + 4096,
                durable: true,
            },
            4096,
            &mut [],
            &mut scratch,
        );
        assert_eq!(r, Ok(IoReply::Done));
        let mut back = vec![0xAA; 3 << 20];
        read_full(&file, &mut back, 0).unwrap();
        assert!(back[..4096].iter().all(|&b| b == 9));
        assert!(back[4096..(2 << 20) + 8192].iter().all(|&b| b == 0));
        assert!(back[(2 << 20) + 8192..].iter().all(|&b| b == 9));
        std::fs::remove_file(path).unwrap();
    }

    #[test]
    fn unsupported_means_the_operation_not_the_call() {
        let e = |errno| unsupported(&io::Error::from_raw_os_error(errno));
        assert!(e(libc::EOPNOTSUPP));
        assert!(e(libc::ENOSYS));
        assert!(!e(libc::EIO));
        assert!(!e(libc::ENOSPC));
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
