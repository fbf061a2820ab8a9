//! Opens the storage behind a LUN when the core applies `LunAdded`.

use backend::file::{FileBackend, FileOptions};
use backend::storage::{Storage, StorageSpec as BackendSpec};
use scsi::{BackendOpener, LunConfig, StorageSpec};

pub struct StorageOpener {
    pub io_threads: usize,
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
                    direct: false,
                    io_threads: self.io_threads,
                },
            )
            .map(Storage::File)
            .map_err(|e| named(&e)),
        }
    }
}
