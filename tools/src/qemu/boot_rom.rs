//! The boot ROM's part of starting a board: deciding what kernel and initramfs it boots.
//! On real hardware the ROM picks the flash slot, verifies the image's signature and unpacks
//! the bundle; in emulation the launcher plays it, once per board, before QEMU starts
//! ([`FlashBoot`]). [`DirectBoot`] skips it for development (`dyad qemu --no-flash`).

use std::path::{Path, PathBuf};

use ::image::{BoardFlash, FlashError, PublicKey};

use super::firmware_image::flash_path;
use super::launch::{Board, BootFiles};

/// What the launcher asks before starting a board's machine.
pub trait BootRom {
    /// The kernel and initramfs `board` boots (and the flash its machine gets, with the
    /// ROM's log), or why it cannot boot.
    fn boot(&self, board: &Board) -> Result<BootFiles, String>;
}

/// Boots the kernel and initramfs built on the host as they are (no flash, no signature):
/// the step [`FlashBoot`] replaces, kept for development.
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

/// The boot ROM over each board's flash file (`<enclosure>/board-a.flash`): reverts a trial
/// that never confirmed, picks the slot (pending first, then the confirmed ones), verifies
/// its signature against the trusted key, its board and the security counter, and extracts
/// the kernel and the initramfs (`<enclosure>/qemu-a.boot/`) for QEMU. The machine gets its
/// flash as a disk, where the firmware confirms the image after its self-test.
pub struct FlashBoot {
    pub enclosure: PathBuf,
    /// The ROM's trusted key.
    pub key: PublicKey,
    /// The board name the images must carry.
    pub board_name: String,
}

/// Where the boot ROM extracts `letter`'s kernel and initramfs.
pub fn boot_dir(enclosure: &Path, letter: char) -> PathBuf {
    enclosure.join(format!("qemu-{letter}.boot"))
}

impl BootRom for FlashBoot {
    fn boot(&self, board: &Board) -> Result<BootFiles, String> {
        let path = flash_path(&self.enclosure, board.letter());
        let mut flash = BoardFlash::open_file(&path).map_err(|e| e.to_string())?;
        let boot = match flash.boot(&self.key, &self.board_name) {
            Ok(boot) => boot,
            Err(FlashError::NoBootableImage { log }) => {
                return Err(format!(
                    "{}: no bootable image: {}",
                    path.display(),
                    log.join("; ")
                ))
            }
            Err(e) => return Err(format!("{}: {e}", path.display())),
        };
        drop(flash);
        let mut log = boot.log.clone();
        log.push(format!(
            "booting slot {}, version {}, security counter {}, {}",
            boot.slot,
            boot.version,
            boot.security_counter,
            if boot.trial {
                "on trial: the firmware must confirm it, or the next boot reverts it"
            } else {
                "confirmed"
            }
        ));
        let dir = boot_dir(&self.enclosure, board.letter());
        let files = boot
            .extract_to(&dir)
            .map_err(|e| format!("extracting to {}: {e}", dir.display()))?;
        let kernel = pvh_kernel(&files.kernel, &dir, &mut log)?;
        Ok(BootFiles {
            kernel,
            initrd: files.initramfs,
            flash: Some(path),
            log,
        })
    }
}

/// The kernel QEMU boots quickest: a bzImage from the image is unpacked to its PVH ELF
/// (skipping seconds of decompression inside the guest under TCG), kept next to it and
/// reused while the bzImage is the same; anything else is booted as it is.
fn pvh_kernel(kernel: &Path, dir: &Path, log: &mut Vec<String>) -> Result<PathBuf, String> {
    let bzimage = std::fs::read(kernel).map_err(|e| format!("{}: {e}", kernel.display()))?;
    if bzimage.get(0x202..0x206) != Some(b"HdrS".as_slice()) {
        return Ok(kernel.to_path_buf());
    }
    let elf = dir.join("vmlinux");
    let stamp = dir.join("vmlinux.from");
    let digest: String = ::image::sha256(&bzimage)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    if elf.exists() && std::fs::read_to_string(&stamp).is_ok_and(|s| s.trim() == digest) {
        return Ok(elf);
    }
    let unpacked =
        super::vmlinux::extract(&bzimage).map_err(|e| format!("{}: {e}", kernel.display()))?;
    let partial = dir.join("vmlinux.partial");
    std::fs::write(&partial, &unpacked).map_err(|e| format!("{}: {e}", partial.display()))?;
    std::fs::rename(&partial, &elf).map_err(|e| format!("{}: {e}", elf.display()))?;
    std::fs::write(&stamp, &digest).map_err(|e| format!("{}: {e}", stamp.display()))?;
    log.push(format!(
        "unpacked the PVH kernel ({} bytes) from the image's bzImage ({} bytes)",
        unpacked.len(),
        bzimage.len()
    ));
    Ok(elf)
}

#[cfg(test)]
mod tests {
    use super::super::firmware_image::{self, flash_if_new, FlashOutcome};
    use super::*;
    use ::image::SigningKey;

    #[test]
    fn trial_confirm_and_revert() {
        let dir = dyad_tests::TempDir::new("qemu-boot-rom").unwrap();
        let key = SigningKey::from_seed(&[9; 32]);
        let board = Board::new(1, 13260, 13270);
        let rom = FlashBoot {
            enclosure: dir.path().to_path_buf(),
            key: key.public_key(),
            board_name: "dyad-qemu".into(),
        };
        // A blank board refuses to boot, naming each slot.
        let flash = flash_path(dir.path(), 'a');
        BoardFlash::create_file(&flash).unwrap();
        let e = rom.boot(&board).unwrap_err();
        assert!(e.contains("slot A: empty; slot B: empty"), "{e}");

        let v1 = firmware_image::tests::sample(dir.path(), &key, b"one", 1);
        assert!(matches!(
            flash_if_new(&flash, &v1).unwrap(),
            FlashOutcome::Flashed(_)
        ));
        let boot = rom.boot(&board).unwrap();
        assert_eq!(boot.flash.as_deref(), Some(flash.as_path()));
        assert_eq!(std::fs::read(&boot.kernel).unwrap(), b"a kernel");
        assert_eq!(std::fs::read(&boot.initrd).unwrap(), b"one");
        assert!(boot.log[0].contains("slot A (1.0.0+1): pending: trial boot"));
        assert!(boot.log[1].starts_with("booting slot A, version 1.0.0+1"));
        assert!(boot.log[1].contains("on trial"));
        BoardFlash::open_file(&flash).unwrap().confirm().unwrap();

        // v2 never confirms: its trial is reverted at the next boot.
        let v2 = firmware_image::tests::sample(dir.path(), &key, b"two", 2);
        flash_if_new(&flash, &v2).unwrap();
        let boot = rom.boot(&board).unwrap();
        assert_eq!(std::fs::read(&boot.initrd).unwrap(), b"two");
        let boot = rom.boot(&board).unwrap();
        assert_eq!(std::fs::read(&boot.initrd).unwrap(), b"one");
        assert_eq!(
            boot.log[0],
            "slot B (1.0.0+2): booted as a trial and never confirmed: reverted"
        );
        assert!(boot.log.last().unwrap().ends_with("confirmed"));

        // Another key's ROM refuses both.
        let other = FlashBoot {
            key: SigningKey::from_seed(&[1; 32]).public_key(),
            ..rom
        };
        let e = other.boot(&board).unwrap_err();
        assert!(e.contains("no bootable image"), "{e}");
    }
}
