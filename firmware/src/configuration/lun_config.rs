//! A ctl.conf LUN as the SCSI core's `LunConfig`: storage, geometry, identity and options,
//! with the enclosure-derived identity for whatever the file leaves out.
//!
//! A LUN on `path slot:N` is bound to a drive, not to a slot: the firmware writes the LUN's
//! name on the drive it first uses (the drive's `lun` label, which the sim board keeps in
//! the drive's sidecar, as a real array keeps its configuration on its member disks). The
//! label travels with the drive, so wherever the drive sits now (another slot after a move,
//! or out of the enclosure) the LUN follows it; both controllers read the same label.

use crate::identity;
use board::sim::{Enclosure, Snapshot};
use config::{Backend, Lun, LunPath};
use scsi::{LunConfig, LunId, StorageSpec};
use std::path::PathBuf;

/// A backplane drive's size when neither the file nor the drive says one.
pub const DEFAULT_SLOT_SIZE: u64 = 1 << 30;

/// Where a planned LUN's data lives before the core opens it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Medium {
    Ramdisk,
    File,
    /// A backplane slot: the drive is made to exist (at least `size`) before the LUN opens.
    Slot {
        slot: u32,
        size: u64,
    },
}

/// LOWEST ALIGNED LOGICAL BLOCK ADDRESS from ctl.conf's `pblockoffset` (bytes), as CTL reads
/// it: the offset says where the first physical block starts *before* LBA 0.
pub fn lowest_aligned_lba(block_size: u32, pblocksize: u32, pblockoffset: u32) -> u16 {
    let per_physical = (pblocksize / block_size.max(1)).max(1);
    let offset_blocks = pblockoffset / block_size.max(1);
    ((per_physical - offset_blocks % per_physical) % per_physical) as u16
}

/// The byte `pblockoffset` that gives `lalba` (the inverse of [`lowest_aligned_lba`]).
pub fn pblockoffset_for(block_size: u32, pblocksize: u32, lalba: u16) -> u32 {
    let per_physical = (pblocksize / block_size.max(1)).max(1);
    ((per_physical - u32::from(lalba) % per_physical) % per_physical) * block_size
}

/// Where the drive of a LUN on `path slot:N` is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DrivePlace {
    /// In this slot: the drive that holds the LUN's data, or, for a LUN not bound yet, the
    /// drive in its configured slot (made if there is none).
    Slot(u32),
    /// Out of the enclosure, its data at this path: the LUN opens it there and reports no
    /// medium until the drive is back (the backplane watch sees to that).
    Pulled { data: PathBuf, size: u64 },
}

/// The drive of LUN `name`, configured on slot `configured`, as `snapshot` shows the
/// backplane (`None`: it could not be read; the configured slot then). A drive labelled
/// with the LUN's name wins wherever it sits, the configured slot first if two are.
pub fn drive_place(name: &str, configured: u32, snapshot: Option<&Snapshot>) -> DrivePlace {
    let Some(snapshot) = snapshot else {
        return DrivePlace::Slot(configured);
    };
    let holding = snapshot.slots_holding(name);
    if holding.contains(&configured) {
        return DrivePlace::Slot(configured);
    }
    if let Some(slot) = holding.first() {
        return DrivePlace::Slot(*slot);
    }
    match snapshot.pulled_holding(name) {
        Some(p) => DrivePlace::Pulled {
            data: p.data.clone(),
            size: p.record.identity.capacity,
        },
        None => DrivePlace::Slot(configured),
    }
}

/// The core's configuration of `lun`, numbered `id` in `enclosure`, whose backplane
/// `snapshot` shows (`None` when it could not be read).
pub fn lun_config(
    lun: &Lun,
    id: LunId,
    enclosure: &Enclosure,
    snapshot: Option<&Snapshot>,
) -> (LunConfig, Medium) {
    let block_size = lun.block_size();
    let (storage, medium) = match (lun.effective_backend(), &lun.path) {
        (Backend::Ramdisk, _) | (Backend::Block, None) => (
            StorageSpec::Ramdisk {
                size: lun.size.unwrap_or(0),
            },
            Medium::Ramdisk,
        ),
        (Backend::Block, Some(LunPath::File(path))) => (
            StorageSpec::File {
                path: path.clone(),
                size: lun.size,
            },
            Medium::File,
        ),
        (Backend::Block, Some(LunPath::Slot(n))) => {
            match drive_place(&lun.name, *n, snapshot) {
                DrivePlace::Slot(slot) => {
                    let existing = snapshot
                        .and_then(|s| s.slots.get(&slot))
                        .map(|d| d.identity.capacity);
                    let size = lun.size.or(existing).unwrap_or(DEFAULT_SLOT_SIZE);
                    (
                        StorageSpec::File {
                            path: enclosure.slot_path(slot).to_string_lossy().into_owned(),
                            size: Some(size),
                        },
                        Medium::Slot { slot, size },
                    )
                }
                // Opened where it waits, never made anew in its slot: the data is on it.
                DrivePlace::Pulled { data, size } => (
                    StorageSpec::File {
                        path: data.to_string_lossy().into_owned(),
                        size: Some(lun.size.unwrap_or(size)),
                    },
                    Medium::File,
                ),
            }
        }
    };
    let o = &lun.options;
    let pblocksize = o.pblocksize.unwrap_or(block_size);
    let enclosure_id = enclosure.id();
    let config = LunConfig {
        id,
        name: lun.name.clone(),
        storage,
        block_size,
        pblock_exp: (pblocksize / block_size.max(1)).max(1).trailing_zeros() as u8,
        pblock_offset: lowest_aligned_lba(block_size, pblocksize, o.pblockoffset.unwrap_or(0)),
        serial: lun
            .serial
            .clone()
            .unwrap_or_else(|| identity::serial(enclosure_id, id.0)),
        device_id: lun
            .device_id
            .clone()
            .unwrap_or_else(|| format!("{enclosure_id:016x}-{:04}", id.0)),
        naa: o.naa.unwrap_or_else(|| identity::naa6(enclosure_id, id.0)),
        eui64: o.eui.unwrap_or_else(|| identity::eui64(enclosure_id, id.0)),
        vendor: o.vendor.clone().unwrap_or_else(|| "DYAD".into()),
        product: o.product.clone().unwrap_or_else(|| "dyad disk".into()),
        revision: o.revision.clone().unwrap_or_else(|| "0001".into()),
        read_only: o.readonly.unwrap_or(false),
        removable: o.removable.unwrap_or(false),
        write_cache: o.writecache.unwrap_or(true),
        read_cache: o.readcache.unwrap_or(true),
        thin: o.thin(),
    };
    (config, medium)
}

#[cfg(test)]
mod tests {
    use super::*;
    use board::sim::PulledDrive;

    #[test]
    fn a_slot_lun_follows_the_drive_that_holds_its_data() {
        let dir = std::env::temp_dir().join(format!("dyad-place-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let e = Enclosure::open(&dir).unwrap();
        let snap = |e: &Enclosure| e.snapshot().unwrap();
        // Nothing bound yet: the configured slot, drive or not.
        assert_eq!(drive_place("db", 3, Some(&snap(&e))), DrivePlace::Slot(3));
        assert_eq!(drive_place("db", 3, None), DrivePlace::Slot(3));
        e.ensure_drive(3, 1 << 20).unwrap();
        e.set_lun_label(3, Some("db")).unwrap();
        assert_eq!(drive_place("db", 3, Some(&snap(&e))), DrivePlace::Slot(3));
        // Moved: the LUN goes along; another LUN on slot 3 does not get it.
        e.move_drive(3, 8).unwrap();
        assert_eq!(drive_place("db", 3, Some(&snap(&e))), DrivePlace::Slot(8));
        assert_eq!(drive_place("logs", 8, Some(&snap(&e))), DrivePlace::Slot(8));
        // Out of the enclosure: its data where it waits.
        e.pull(8).unwrap();
        match drive_place("db", 3, Some(&snap(&e))) {
            DrivePlace::Pulled { data, size } => {
                assert!(data.starts_with(e.pulled_dir()));
                assert_eq!(size, 1 << 20);
            }
            other => panic!("{other:?}"),
        }
        e.insert(3, PulledDrive::FromSlot(8)).unwrap();
        assert_eq!(drive_place("db", 3, Some(&snap(&e))), DrivePlace::Slot(3));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn pblockoffset_is_ctls_reading() {
        // 512-byte blocks in 4 KiB physical blocks; the first physical block starts one
        // logical block before LBA 0, so LBA 7 is the first aligned one.
        assert_eq!(lowest_aligned_lba(512, 4096, 512), 7);
        assert_eq!(lowest_aligned_lba(512, 4096, 0), 0);
        assert_eq!(lowest_aligned_lba(512, 512, 0), 0);
        for lalba in 0..8 {
            let ofs = pblockoffset_for(512, 4096, lalba);
            assert_eq!(lowest_aligned_lba(512, 4096, ofs), lalba);
        }
    }
}
