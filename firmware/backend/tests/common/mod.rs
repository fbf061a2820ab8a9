//! Helpers shared by the backend's integration tests: scratch directories and a runtime.

#![allow(dead_code)] // each test binary uses its own subset

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// A directory unique to this process and call, removed on drop.
pub struct ScratchDir(PathBuf);

impl ScratchDir {
    /// Under `base` (e.g. /dev/shm), or the system temp dir when `base` is `None`.
    pub fn new_in(base: Option<&Path>, label: &str) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let base = base.map_or_else(std::env::temp_dir, Path::to_path_buf);
        let dir = base.join(format!(
            "dyad-backend-{}-{label}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("create scratch dir");
        ScratchDir(dir)
    }

    pub fn new(label: &str) -> Self {
        Self::new_in(None, label)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("test runtime")
        .block_on(f)
}
