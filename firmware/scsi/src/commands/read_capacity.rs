//! READ CAPACITY (10) and (16) (SBC-4 §5.20, §5.21): the last LBA and the block layout.

use super::Ctx;
use crate::backend::BlockBackend;
use crate::cdb::{be32, be64, byte};
use crate::lun::Lun;
use crate::sense::{asc, Sense};
use crate::status::CommandResult;
use alloc::vec::Vec;

use crate::table::{AccessClass as A, CommandEntry as E, Flags as F, Kind};

pub(crate) const ENTRIES: &[E] = &[
    E::new(
        0x25,
        "READ CAPACITY(10)",
        Kind::ReadCapacity10,
        F::ALLOW_ON_PR_RESV.union(F::DATA_IN),
        A::Free,
        &[0x25, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x01, 0x07],
    ),
    E::new(
        0x9E,
        "READ CAPACITY(16)",
        Kind::ReadCapacity16,
        F::ALLOW_ON_PR_RESV.union(F::DATA_IN),
        A::Free,
        &[
            0x9E, 0x10, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
            0x01, 0x07,
        ],
    )
    .service_action(0x10),
];

/// READ CAPACITY(16) parameter data length.
const RC16_LEN: usize = 32;

/// The address of the last logical block (0 for an empty medium, as there is no better
/// answer: the field cannot say "none").
fn last_lba<B: BlockBackend>(lun: &Lun<B>) -> u64 {
    lun.blocks().saturating_sub(1)
}

/// SBC-3 requires a zero LOGICAL BLOCK ADDRESS unless PMI is set; SBC-4 made both obsolete
/// but initiators written to SBC-3 still expect the check.
fn check_pmi(cdb: &[u8], pmi_byte: usize, lba: u64) -> Result<(), Sense> {
    if byte(cdb, pmi_byte) & 0x01 == 0 && lba != 0 {
        return Err(Sense::invalid_field_in_cdb(2, None));
    }
    Ok(())
}

pub(crate) fn read_capacity10<B: BlockBackend>(ctx: &Ctx<'_, B>) -> CommandResult {
    let Some(lun) = ctx.lun else {
        return ctx.fail(&asc::LOGICAL_UNIT_NOT_SUPPORTED);
    };
    if let Err(sense) = check_pmi(ctx.cdb, 8, u64::from(be32(ctx.cdb, 2))) {
        return ctx.fail(&sense);
    }
    // FFFFFFFFh tells the initiator to ask READ CAPACITY(16) instead.
    let lba = u32::try_from(last_lba(lun)).unwrap_or(u32::MAX);
    let mut data = Vec::with_capacity(8);
    data.extend_from_slice(&lba.to_be_bytes());
    data.extend_from_slice(&lun.block_size().to_be_bytes());
    CommandResult::good(data)
}

pub(crate) fn read_capacity16<B: BlockBackend>(ctx: &Ctx<'_, B>) -> CommandResult {
    let Some(lun) = ctx.lun else {
        return ctx.fail(&asc::LOGICAL_UNIT_NOT_SUPPORTED);
    };
    if let Err(sense) = check_pmi(ctx.cdb, 14, be64(ctx.cdb, 2)) {
        return ctx.fail(&sense);
    }
    let allocation_length = usize::try_from(be32(ctx.cdb, 10)).unwrap_or(usize::MAX);
    let mut data = Vec::with_capacity(RC16_LEN);
    data.extend_from_slice(&last_lba(lun).to_be_bytes());
    data.extend_from_slice(&lun.block_size().to_be_bytes());
    // P_TYPE and PROT_EN: no protection information.
    data.push(0);
    // P_I_EXPONENT 0, LOGICAL BLOCKS PER PHYSICAL BLOCK EXPONENT.
    data.push(lun.config().pblock_exp & 0x0F);
    // LBPME and LBPRZ: a thin LUN deallocates, and what it deallocated reads as zeros. Then
    // LOWEST ALIGNED LOGICAL BLOCK ADDRESS.
    let lbp = if lun.thin() { 0xC000 } else { 0 };
    data.extend_from_slice(&(lbp | (lun.config().pblock_offset & 0x3FFF)).to_be_bytes());
    data.resize(RC16_LEN, 0);
    ctx.data_in(data, allocation_length)
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use crate::cdb::{be16, be32, be64};
    use crate::status::ScsiStatus;

    fn rc10(lba: u32, pmi: bool) -> [u8; 10] {
        let l = lba.to_be_bytes();
        [0x25, 0, l[0], l[1], l[2], l[3], 0, 0, u8::from(pmi), 0]
    }

    fn rc16(lba: u64, alloc: u32, pmi: bool) -> [u8; 16] {
        let mut c = [0u8; 16];
        c[0] = 0x9E;
        c[1] = 0x10;
        c[2..10].copy_from_slice(&lba.to_be_bytes());
        c[10..14].copy_from_slice(&alloc.to_be_bytes());
        c[14] = u8::from(pmi);
        c
    }

    fn fixture_with(blocks: u64, block_size: u32, exp: u8, offset: u16) -> Fixture {
        let mut c = lun_config(0, blocks);
        c.block_size = block_size;
        c.storage = crate::lun::StorageSpec::Ramdisk {
            size: blocks * u64::from(block_size),
        };
        c.pblock_exp = exp;
        c.pblock_offset = offset;
        Fixture::with(port_config(None), [c])
    }

    #[test]
    fn read_capacity_10_reports_last_lba_and_block_length() {
        // (blocks, block size, expected RETURNED LOGICAL BLOCK ADDRESS)
        let cases = [
            (2048u64, 512u32, 2047u32),
            (1 << 20, 4096, (1 << 20) - 1),
            (1 << 32, 512, 0xFFFF_FFFF),
            ((1 << 32) + 1, 512, 0xFFFF_FFFF),
            (1 << 40, 512, 0xFFFF_FFFF),
        ];
        for (blocks, bs, want) in cases {
            let f = fixture_with(blocks, bs, 0, 0);
            let d = good(f.run(0, &rc10(0, false)));
            assert_eq!(d.len(), 8);
            assert_eq!(be32(&d, 0), want, "{blocks} blocks");
            assert_eq!(be32(&d, 4), bs);
        }
    }

    #[test]
    fn read_capacity_16_reports_the_full_layout() {
        let f = fixture_with((1 << 33) + 5, 512, 3, 7);
        let d = good(f.run(0, &rc16(0, 32, false)));
        assert_eq!(d.len(), 32);
        assert_eq!(be64(&d, 0), (1 << 33) + 4);
        assert_eq!(be32(&d, 8), 512);
        assert_eq!(d[12], 0, "P_TYPE, PROT_EN");
        assert_eq!(d[13], 3, "LOGICAL BLOCKS PER PHYSICAL BLOCK EXPONENT");
        assert_eq!(be16(&d, 14), 7, "LBPME, LBPRZ clear; LOWEST ALIGNED LBA");
        assert!(d[16..].iter().all(|&b| b == 0));
    }

    #[test]
    fn a_thin_lun_reports_lbpme_and_lbprz() {
        let mut c = lun_config(0, 2048);
        c.thin = true;
        c.pblock_offset = 3;
        let f = Fixture::with(port_config(None), [c]);
        let d = good(f.run(0, &rc16(0, 32, false)));
        assert_eq!(be16(&d, 14), 0xC000 | 3, "LBPME, LBPRZ, LOWEST ALIGNED LBA");
    }

    #[test]
    fn read_capacity_16_honours_every_allocation_length() {
        let f = Fixture::new();
        let full = good(f.run(0, &rc16(0, 32, false)));
        for alloc in [0u32, 1, 8, 12, 15, 16, 31, 32, 33, 96, u32::MAX] {
            let d = good(f.run(0, &rc16(0, alloc, false)));
            assert_eq!(
                d,
                full[..full.len().min(alloc as usize)],
                "allocation length {alloc}"
            );
        }
    }

    #[test]
    fn lba_without_pmi_is_an_invalid_field() {
        let f = Fixture::new();
        assert_invalid_field(&f.run(0, &rc10(1, false)), 2);
        assert_invalid_field(&f.run(0, &rc16(1, 32, false)), 2);
        // With PMI the LBA is accepted and the answer is still the last LBA.
        assert_eq!(be32(&good(f.run(0, &rc10(5, true))), 0), 2047);
        assert_eq!(be64(&good(f.run(0, &rc16(5, 32, true))), 0), 2047);
    }

    #[test]
    fn a_missing_lun_is_not_supported() {
        let f = Fixture::new();
        let r = f.run(3, &rc10(0, false));
        assert_eq!(r.scsi_status(), ScsiStatus::CheckCondition);
        assert_eq!(sense_code(&r.sense), (0x05, 0x25, 0x00));
    }
}
