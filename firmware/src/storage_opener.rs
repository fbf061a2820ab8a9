//! Opens the storage behind a LUN when the core applies `LunAdded`.

use crate::options::IoThreads;
use backend::file::{FileBackend, FileOptions};
use backend::storage::{Storage, StorageSpec as BackendSpec};
use scsi::{BackendOpener, LunConfig, StorageSpec};
use std::path::Path;

pub struct StorageOpener {
    pub io_threads: IoThreads,
}

/// I/O threads when the file is not in memory.
const DEFAULT_IO_THREADS: usize = 2;

impl StorageOpener {
    fn threads_for(&self, path: &str) -> usize {
        match self.io_threads {
            IoThreads::Fixed(n) => n,
            IoThreads::Auto if board::host_fs::is_memory_backed(Path::new(path)) => 0,
            IoThreads::Auto => DEFAULT_IO_THREADS,
        }
    }
}

fn is_block_device(path: &str) -> bool {
    use std::os::unix::fs::FileTypeExt;
    std::fs::metadata(path).is_ok_and(|m| m.file_type().is_block_device())
}

impl BackendOpener<Storage> for StorageOpener {
    fn open(&self, config: &LunConfig) -> Result<Storage, String> {
        let named =
            |e: &dyn std::fmt::Display| format!("LUN {} ({}): {e}", config.id.0, config.name);
        match &config.storage {
            StorageSpec::Ramdisk { size } => backend::storage::open(
                &BackendSpec::Ramdisk { size: *size },
                config.block_size,
                config.read_only,
            )
            .map_err(|e| named(&e)),
            StorageSpec::File { path, size } => FileBackend::open(
                path,
                FileOptions {
                    block_size: config.block_size,
                    size: *size,
                    read_only: config.read_only,
                    // A drive (block device) is shared with the other controller: bypass
                    // the page cache, or one controller reads what it cached before the
                    // other wrote.
                    direct: is_block_device(path),
                    io_threads: self.threads_for(path),
                },
            )
            .map(Storage::File)
            .map_err(|e| named(&e)),
        }
    }
}
