//! The board flash as a file on the host (`<enclosure>/board-a.flash`), and the boot ROM's
//! hand-off: the chosen kernel and initramfs written out for QEMU's `-kernel`/`-initrd`.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

use super::{BoardFlash, Boot, FlashError, Layout};

impl BoardFlash<File> {
    /// Opens an existing flash file (or block device) of a board.
    pub fn open_file(path: &Path) -> Result<BoardFlash<File>, FlashError> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(|e| FlashError::Io(std::format!("{}: {e}", path.display())))?;
        BoardFlash::open(file, Layout::BOARD)
    }

    /// Opens the flash file at `path`, first creating it as a blank board's flash (sparse,
    /// both slots empty) when there is none.
    pub fn create_file(path: &Path) -> Result<BoardFlash<File>, FlashError> {
        let in_path = |e: io::Error| FlashError::Io(std::format!("{}: {e}", path.display()));
        match OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(path)
        {
            Ok(file) => {
                file.set_len(Layout::BOARD.size()).map_err(in_path)?;
                file.sync_all().map_err(in_path)?;
                BoardFlash::open(file, Layout::BOARD)
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => BoardFlash::open_file(path),
            Err(e) => Err(in_path(e)),
        }
    }
}

/// Where [`Boot::extract_to`] put the kernel and the initramfs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extracted {
    /// `DIR/kernel`.
    pub kernel: PathBuf,
    /// `DIR/initramfs`.
    pub initramfs: PathBuf,
}

impl Boot {
    /// Writes the kernel and the initramfs to `dir/kernel` and `dir/initramfs` (each
    /// written beside and renamed into place, so QEMU never sees half a file).
    pub fn extract_to(&self, dir: &Path) -> io::Result<Extracted> {
        std::fs::create_dir_all(dir)?;
        let write = |name: &str, data: &[u8]| -> io::Result<PathBuf> {
            let path = dir.join(name);
            let partial = dir.join(std::format!(".{name}.partial"));
            std::fs::write(&partial, data)?;
            std::fs::rename(&partial, &path)?;
            Ok(path)
        };
        Ok(Extracted {
            kernel: write("kernel", self.kernel())?,
            initramfs: write("initramfs", self.initramfs())?,
        })
    }
}
