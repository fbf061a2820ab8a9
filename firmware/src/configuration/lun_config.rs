//! A ctl.conf LUN as the SCSI core's `LunConfig`: storage, geometry, identity and options,
//! with the enclosure-derived identity for whatever the file leaves out.

use crate::identity;
use board::sim::Enclosure;
use config::{Backend, Lun, LunPath};
use scsi::{LunConfig, LunId, StorageSpec};

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

/// The core's configuration of `lun`, numbered `id` in an enclosure with identity
/// `enclosure_id`; `existing_slot_size` tells how big a slot's drive already is.
pub fn lun_config(
    lun: &Lun,
    id: LunId,
    enclosure: &Enclosure,
    existing_slot_size: impl Fn(u32) -> Option<u64>,
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
            let size = lun
                .size
                .or_else(|| existing_slot_size(*n))
                .unwrap_or(DEFAULT_SLOT_SIZE);
            (
                StorageSpec::File {
                    path: enclosure.slot_path(*n).to_string_lossy().into_owned(),
                    size: Some(size),
                },
                Medium::Slot { slot: *n, size },
            )
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
