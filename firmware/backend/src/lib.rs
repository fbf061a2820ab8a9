//! dyad's LUN storage backends: a sparse ramdisk and a file or block device served by I/O threads.
//!
//! Both implement [`scsi::backend::BlockBackend`]; [`Storage`] wraps either without boxing so
//! the core sees one concrete type per LUN. Everything here is driven from the controller's
//! single current-thread runtime: backends are `!Sync` and are meant to live in an `Rc`.

// The only unsafe code is the two syscalls std has no wrapper for (fallocate to punch holes,
// lseek with SEEK_DATA/SEEK_HOLE), each allowed where it is made.
#![deny(unsafe_code)]

pub mod file;
pub mod io_pool;
pub mod ramdisk;
pub mod storage;

pub use file::{FileBackend, FileOptions};
pub use io_pool::{IoOp, IoOutcome, IoPool, IoReply, IoTarget};
pub use ramdisk::RamDisk;
pub use storage::{open, OpenError, Storage, StorageSpec};
