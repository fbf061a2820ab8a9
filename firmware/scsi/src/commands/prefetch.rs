//! PRE-FETCH (10, 16) (SBC-4 §5.16, §5.17): reading a range ahead so later reads find it in
//! the cache (the backend's page cache for a file; a ramdisk is all cache already).

use super::block_access::{block_range, byte_offset, decoded, plan_len, read_through, CHUNK_BYTES};
use super::{Ctx, Plan};
use crate::backend::BlockBackend;
use crate::cdb::{be16, be32, be64, byte};
use crate::lun::Lun;
use crate::sense::{asc, Sense};
use crate::status::{CommandResult, ScsiStatus};
use crate::table::{AccessClass as A, CommandEntry as E, Flags as F, Kind};
use alloc::vec::Vec;

pub(crate) const ENTRIES: &[E] = &[
    E::new(
        0x34,
        "PRE-FETCH(10)",
        Kind::PreFetch10,
        F::ALLOW_ON_PR_WRESV,
        A::Read,
        // GROUP NUMBER is accepted and ignored: grouping only tunes a cache we do not have.
        &[0x34, 0x02, 0xFF, 0xFF, 0xFF, 0xFF, 0x1F, 0xFF, 0xFF, 0x07],
    )
    .timeouts(30, 60),
    E::new(
        0x90,
        "PRE-FETCH(16)",
        Kind::PreFetch16,
        F::ALLOW_ON_PR_WRESV,
        A::Read,
        &[
            0x90, 0x02, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
            0x1F, 0x07,
        ],
    )
    .timeouts(30, 60),
];

/// Most bytes one PRE-FETCH reads ahead: the part of the cache one command may claim. A range
/// that fits gets CONDITION MET, a larger one GOOD after its first part is read.
const PREFETCH_BYTES: u64 = 8 << 20;

const IMMED: u8 = 0x02;

/// One validated PRE-FETCH.
struct PreFetch {
    lba: u64,
    blocks: u64,
    offset: u64,
    len: u64,
    immed: bool,
}

fn check<B: BlockBackend>(kind: Kind, lun: &Lun<B>, cdb: &[u8]) -> Result<PreFetch, Sense> {
    let (lba, blocks) = match kind {
        Kind::PreFetch10 => (u64::from(be32(cdb, 2)), u64::from(be16(cdb, 7))),
        _ => (be64(cdb, 2), u64::from(be32(cdb, 10))),
    };
    let blocks = if blocks == 0 {
        // Zero is "through the last block": the starting block must exist.
        lun.blocks()
            .checked_sub(lba)
            .filter(|&n| n > 0)
            .ok_or(asc::LBA_OUT_OF_RANGE)?
    } else {
        block_range(lun, lba, blocks)?;
        blocks
    };
    let len = blocks
        .checked_mul(u64::from(lun.block_size()))
        .ok_or(asc::LBA_OUT_OF_RANGE)?;
    Ok(PreFetch {
        lba,
        blocks,
        offset: byte_offset(lun, lba)?,
        len,
        immed: byte(cdb, 1) & IMMED != 0,
    })
}

pub(crate) fn precheck<B: BlockBackend>(
    kind: Kind,
    lun: Option<&Lun<B>>,
    cdb: &[u8],
) -> Result<Plan, Sense> {
    let lun = lun.ok_or(asc::LOGICAL_UNIT_NOT_SUPPORTED)?;
    let p = check(kind, lun, cdb)?;
    Ok(Plan {
        range: (p.lba, p.lba.saturating_add(p.blocks)),
        data_out_len: 0,
        data_in_len: if p.immed {
            0
        } else {
            plan_len(p.len.min(CHUNK_BYTES))
        },
        exact_data_out: false,
    })
}

pub(crate) async fn execute<B: BlockBackend>(
    ctx: &Ctx<'_, B>,
    kind: Kind,
    data_out: Vec<u8>,
) -> CommandResult {
    let (lun, p, data_out) = match decoded(ctx, data_out, |l| check(kind, l, ctx.cdb)) {
        Ok(d) => d,
        Err(failed) => return failed,
    };
    ctx.device.buffers.give(data_out);
    // With IMMED the status is due before any reading; reading ahead in the background would
    // only fill a cache we do not have, so the range is left to the reads that follow.
    if !p.immed {
        if let Err(sense) = read_through(ctx, lun, p.offset, p.len.min(PREFETCH_BYTES)).await {
            return ctx.fail(&sense);
        }
    }
    if p.len <= PREFETCH_BYTES {
        CommandResult::status(ScsiStatus::ConditionMet)
    } else {
        CommandResult::good(Vec::new())
    }
}

#[cfg(test)]
mod tests {
    use super::super::memory_fixture::MemFixture;
    use super::super::test_support::*;
    use crate::status::{CommandResult, ScsiStatus};
    use alloc::vec;
    use alloc::vec::Vec;

    fn pf10(byte1: u8, lba: u32, blocks: u16, group: u8) -> Vec<u8> {
        let mut c = vec![0x34, byte1, 0, 0, 0, 0, group, 0, 0, 0];
        c[2..6].copy_from_slice(&lba.to_be_bytes());
        c[7..9].copy_from_slice(&blocks.to_be_bytes());
        c
    }

    fn pf16(byte1: u8, lba: u64, blocks: u32, group: u8) -> Vec<u8> {
        let mut c = vec![0u8; 16];
        c[0] = 0x90;
        c[1] = byte1;
        c[2..10].copy_from_slice(&lba.to_be_bytes());
        c[10..14].copy_from_slice(&blocks.to_be_bytes());
        c[14] = group;
        c
    }

    fn met(r: CommandResult) {
        assert_eq!(
            r.scsi_status(),
            ScsiStatus::ConditionMet,
            "{:02x?}",
            r.sense
        );
    }

    fn oob(r: &CommandResult) {
        assert_eq!(sense_code(&r.sense), (0x05, 0x21, 0x00), "{:02x?}", r.sense);
    }

    #[test]
    fn a_range_that_fits_is_condition_met_with_or_without_immed() {
        let f = MemFixture::new(false);
        met(f.run(&pf10(0, 0, 256, 0), &[]));
        met(f.run(&pf10(0x02, 100, 1, 3), &[]));
        met(f.run(&pf16(0x02, 2047, 1, 0x1F), &[]));
        // Zero blocks: through the end of the (1 MiB) LUN.
        met(f.run(&pf16(0, 0, 0, 0), &[]));
        f.lun().backend.bad_block.set(Some(5));
        let r = f.run(&pf10(0, 0, 8, 0), &[]);
        assert_eq!(sense_code(&r.sense), (0x03, 0x11, 0x00));
    }

    #[test]
    fn a_range_larger_than_the_cache_is_good() {
        let f = Fixture::with(port_config(None), [lun_config(0, 1 << 20)]);
        let r = f.run(0, &pf16(0, 0, 0, 0));
        assert_eq!(r.scsi_status(), ScsiStatus::Good);
        let r = f.run(0, &pf16(0x02, 0, 1 << 19, 0));
        assert_eq!(r.scsi_status(), ScsiStatus::Good);
    }

    #[test]
    fn ranges_past_the_end_are_out_of_range() {
        let f = Fixture::new();
        oob(&f.run(0, &pf10(0, 2049, 0, 0)));
        oob(&f.run(0, &pf10(0, 2047, 2, 0)));
        oob(&f.run(0, &pf10(0, u32::MAX, 1, 0)));
        oob(&f.run(0, &pf16(0, u64::MAX, u32::MAX, 0)));
        oob(&f.run(0, &pf16(0, 1 << 63, 0, 0)));
        met(f.run(0, &pf10(0, 2047, 1, 0)));
    }

    #[test]
    fn reserved_bits_are_invalid() {
        let f = Fixture::new();
        assert_invalid_field(&f.run(0, &pf10(0x04, 0, 1, 0)), 1);
        assert_invalid_field(&f.run(0, &pf10(0x01, 0, 1, 0)), 1);
        assert_invalid_field(&f.run(0, &pf10(0, 0, 1, 0x20)), 6);
        assert_invalid_field(&f.run(0, &pf16(0x80, 0, 1, 0)), 1);
        assert_invalid_field(&f.run(0, &pf16(0, 0, 1, 0x40)), 14);
    }
}
