//! The boot ROM's part of starting a board: deciding what kernel and initramfs it boots.
//! On real hardware the ROM picks the flash slot, verifies the image's signature and unpacks
//! the bundle; in emulation the launcher plays it, once per board, before QEMU starts.

use super::launch::{Board, BootFiles};

/// What the launcher asks before starting a board's machine.
pub trait BootRom {
    /// The kernel and initramfs `board` boots, or why it cannot boot.
    fn boot(&self, board: &Board) -> Result<BootFiles, String>;
}

/// Boots the kernel and initramfs built on the host as they are (no flash, no signature):
/// the step a flash-reading, signature-checking ROM replaces.
pub struct DirectBoot(pub BootFiles);

impl BootRom for DirectBoot {
    fn boot(&self, _board: &Board) -> Result<BootFiles, String> {
        for path in [&self.0.kernel, &self.0.initrd] {
            if !path.is_file() {
                return Err(format!("{} is missing", path.display()));
            }
        }
        Ok(self.0.clone())
    }
}
