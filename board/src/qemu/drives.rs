//! The backplane's drives as the machine sees them: virtio-blk or NVMe block devices, each
//! named by the serial QEMU gives it (`SLOT00`, see [`super::slot_serial`]), which is how a
//! slot finds its `/dev/vdX` or `/dev/nvmeXnY` whatever order the kernel probed them in.
//! The board's flash is found the same way, by its serial ([`super::FLASH_SERIAL`]).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How the drive attaches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DriveKind {
    Virtio,
    Nvme,
}

impl DriveKind {
    pub fn name(self) -> &'static str {
        match self {
            DriveKind::Virtio => "virtio",
            DriveKind::Nvme => "nvme",
        }
    }
}

/// A block device with a slot serial.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Drive {
    pub slot: u32,
    /// `vda`, `nvme0n1`.
    pub name: String,
    /// `/dev/vda`.
    pub path: PathBuf,
    pub kind: DriveKind,
    pub serial: String,
    /// NVMe model number; virtio-blk has none.
    pub model: Option<String>,
    pub bytes: u64,
    pub logical_block_size: u32,
}

fn read_trimmed(path: &Path) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
}

/// One /sys/block entry as a drive, if it is a virtio or NVMe disk with a serial.
fn drive(sys_block: &Path, name: &str) -> Option<(Option<u32>, Drive)> {
    let dir = sys_block.join(name);
    let (kind, serial, model) = if name.starts_with("vd") {
        (DriveKind::Virtio, read_trimmed(&dir.join("serial"))?, None)
    } else if name.starts_with("nvme") {
        (
            DriveKind::Nvme,
            read_trimmed(&dir.join("device/serial"))?,
            read_trimmed(&dir.join("device/model")),
        )
    } else {
        return None;
    };
    let sectors: u64 = read_trimmed(&dir.join("size"))?.parse().ok()?;
    let logical_block_size = read_trimmed(&dir.join("queue/logical_block_size"))
        .and_then(|s| s.parse().ok())
        .unwrap_or(512);
    let slot = super::slot_of_serial(&serial);
    Some((
        slot,
        Drive {
            slot: slot.unwrap_or(u32::MAX),
            name: name.to_string(),
            path: Path::new("/dev").join(name),
            kind,
            serial,
            model,
            bytes: sectors * 512,
            logical_block_size,
        },
    ))
}

/// The drives with slot serials under `sys_block` (normally `/sys/block`), by slot, and the
/// names of block devices that have no slot serial.
pub fn scan_in(sys_block: &Path) -> (Vec<Drive>, Vec<String>) {
    let mut drives = Vec::new();
    let mut others = Vec::new();
    let Ok(entries) = std::fs::read_dir(sys_block) else {
        return (drives, others);
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        match drive(sys_block, &name) {
            Some((Some(_), d)) => drives.push(d),
            Some((None, d)) => others.push(format!("{name} (serial '{}')", d.serial)),
            None => {}
        }
    }
    drives.sort_by_key(|d| d.slot);
    (drives, others)
}

/// The board's flash disk under `sys_block`: the virtio disk with the serial
/// [`super::FLASH_SERIAL`]. It has no slot, so [`scan_in`] lists it among the others.
pub fn find_flash_in(sys_block: &Path) -> Option<Drive> {
    let entries = std::fs::read_dir(sys_block).ok()?;
    entries.flatten().find_map(|entry| {
        let name = entry.file_name().to_string_lossy().into_owned();
        match drive(sys_block, &name) {
            Some((None, d)) if d.kind == DriveKind::Virtio && d.serial == super::FLASH_SERIAL => {
                Some(d)
            }
            _ => None,
        }
    })
}

/// Waits up to `timeout` for the board's flash disk and its device node.
pub fn wait_for_flash(timeout: Duration) -> Result<Drive, String> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(flash) = find_flash_in(Path::new("/sys/block")).filter(|d| d.path.exists()) {
            return Ok(flash);
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "no board flash (a virtio disk with serial {}) after {timeout:?}",
                super::FLASH_SERIAL
            ));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Waits up to `timeout` until at least `count` slot drives are there with their device
/// nodes (NVMe namespaces appear a while after the driver loads), then returns them all.
pub fn wait_for(count: u32, timeout: Duration) -> Result<Vec<Drive>, String> {
    let deadline = Instant::now() + timeout;
    loop {
        let (drives, others) = scan_in(Path::new("/sys/block"));
        let ready = drives.iter().filter(|d| d.path.exists()).count();
        if ready >= count as usize {
            return Ok(drives);
        }
        if Instant::now() >= deadline {
            let seen: Vec<String> = drives
                .iter()
                .map(|d| format!("{} ({})", d.name, d.serial))
                .chain(others)
                .collect();
            return Err(format!(
                "{count} backplane drive(s) expected, {ready} found after {timeout:?} (block devices: {})",
                if seen.is_empty() { "none".to_string() } else { seen.join(", ") }
            ));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A short description: `slot 0: vda virtio 64 MiB serial SLOT00`.
pub fn describe(d: &Drive) -> String {
    format!(
        "slot {}: {} {} {} MiB, {}-byte blocks, serial {}{}",
        d.slot,
        d.path.display(),
        d.kind.name(),
        d.bytes >> 20,
        d.logical_block_size,
        d.serial,
        d.model
            .as_deref()
            .map(|m| format!(", model {m}"))
            .unwrap_or_default()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, text: &str) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    #[test]
    fn finds_virtio_and_nvme_drives_by_serial() {
        let root = std::env::temp_dir().join(format!("dyad-qemu-drives-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        write(&root.join("vda/serial"), "SLOT01\n");
        write(&root.join("vda/size"), "131072\n");
        write(&root.join("vda/queue/logical_block_size"), "512\n");
        write(
            &root.join("nvme0n1/device/serial"),
            "SLOT00              \n",
        );
        write(
            &root.join("nvme0n1/device/model"),
            "QEMU NVMe Ctrl                          \n",
        );
        write(&root.join("nvme0n1/size"), "131072\n");
        write(&root.join("nvme0n1/queue/logical_block_size"), "4096\n");
        write(&root.join("vdb/serial"), "BOOT\n");
        write(&root.join("vdb/size"), "8\n");
        write(&root.join("loop0/size"), "0\n");
        assert_eq!(find_flash_in(&root), None);
        write(&root.join("vdc/serial"), "FLASH\n");
        write(&root.join("vdc/size"), "526336\n");
        let flash = find_flash_in(&root).unwrap();
        assert_eq!(flash.path, Path::new("/dev/vdc"));
        assert_eq!(flash.bytes, 257 << 20);
        std::fs::remove_dir_all(root.join("vdc")).unwrap();
        let (drives, others) = scan_in(&root);
        assert_eq!(drives.len(), 2);
        assert_eq!(
            (drives[0].slot, drives[0].name.as_str(), drives[0].kind),
            (0, "nvme0n1", DriveKind::Nvme)
        );
        assert_eq!(drives[0].path, Path::new("/dev/nvme0n1"));
        assert_eq!(drives[0].model.as_deref(), Some("QEMU NVMe Ctrl"));
        assert_eq!(
            (drives[0].bytes, drives[0].logical_block_size),
            (64 << 20, 4096)
        );
        assert_eq!((drives[1].slot, drives[1].kind), (1, DriveKind::Virtio));
        assert_eq!(others, ["vdb (serial 'BOOT')"]);
        assert!(describe(&drives[1]).starts_with("slot 1: /dev/vda virtio 64 MiB"));
        std::fs::remove_dir_all(&root).unwrap();
    }
}
