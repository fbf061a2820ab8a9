//! WRITE ATOMIC(16) (SBC-4 §5.48): a write that is all or nothing. Against other commands the
//! task set provides that (the range is a Write in the access class and one backend write
//! carries the whole transfer); a power loss in the middle of the backend write may still tear
//! it on a file backend, whose page cache writes back at its own granularity.

use super::block_access::{
    block_range, byte_offset, decoded, medium_error, plan_len, SHORT_DATA_OUT,
};
use super::{Ctx, Plan};
use crate::backend::BlockBackend;
use crate::cdb::{be16, be64, byte};
use crate::lun::Lun;
use crate::sense::{asc, Sense};
use crate::status::CommandResult;
use crate::table::{AccessClass as A, CommandEntry as E, Flags as F, Kind};
use alloc::vec::Vec;

pub(crate) const ENTRIES: &[E] = &[E::new(
    0x9C,
    "WRITE ATOMIC(16)",
    Kind::WriteAtomic16,
    F::DATA_OUT,
    A::Write,
    // ATOMIC BOUNDARY (bytes 10-11) stays reserved: MAXIMUM ATOMIC BOUNDARY SIZE is zero.
    &[
        0x9C, 0x18, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0xFF, 0xFF, 0x00,
        0x07,
    ],
)
.timeouts(30, 60)];

/// Largest WRITE ATOMIC in bytes (MAXIMUM ATOMIC TRANSFER LENGTH is this over the block size).
/// At least 256 blocks of 4096 bytes, and within MAXIMUM TRANSFER LENGTH.
pub(crate) const MAX_ATOMIC_TRANSFER_BYTES: u32 = 1 << 20;

const FUA: u8 = 0x08;

/// ATOMIC ALIGNMENT of the Block Limits page, in logical blocks: an atomic write starts on a
/// physical block, the unit a medium writes whole.
pub(crate) fn atomic_alignment<B: BlockBackend>(lun: &Lun<B>) -> u32 {
    // LOGICAL BLOCKS PER PHYSICAL BLOCK EXPONENT is a four-bit field.
    1 << (lun.config().pblock_exp & 0x0F)
}

/// One validated WRITE ATOMIC.
struct WriteAtomic {
    lba: u64,
    blocks: u64,
    offset: u64,
    len: u64,
    fua: bool,
}

fn check<B: BlockBackend>(lun: &Lun<B>, cdb: &[u8]) -> Result<WriteAtomic, Sense> {
    let lba = be64(cdb, 2);
    let blocks = u64::from(be16(cdb, 12));
    block_range(lun, lba, blocks)?;
    let len = blocks
        .checked_mul(u64::from(lun.block_size()))
        .filter(|&len| len <= u64::from(MAX_ATOMIC_TRANSFER_BYTES))
        .ok_or(Sense::invalid_field_in_cdb(12, None))?;
    if !lba.is_multiple_of(u64::from(atomic_alignment(lun))) {
        return Err(Sense::invalid_field_in_cdb(2, None));
    }
    if lun.write_protected() {
        return Err(asc::WRITE_PROTECTED);
    }
    Ok(WriteAtomic {
        lba,
        blocks,
        offset: byte_offset(lun, lba)?,
        len,
        fua: byte(cdb, 1) & FUA != 0,
    })
}

pub(crate) fn precheck<B: BlockBackend>(
    _kind: Kind,
    lun: Option<&Lun<B>>,
    cdb: &[u8],
) -> Result<Plan, Sense> {
    let lun = lun.ok_or(asc::LOGICAL_UNIT_NOT_SUPPORTED)?;
    let w = check(lun, cdb)?;
    Ok(Plan {
        range: (w.lba, w.lba.saturating_add(w.blocks)),
        data_out_len: plan_len(w.len),
        data_in_len: 0,
        exact_data_out: false,
    })
}

pub(crate) async fn execute<B: BlockBackend>(
    ctx: &Ctx<'_, B>,
    _kind: Kind,
    data_out: Vec<u8>,
) -> CommandResult {
    let (lun, w, data_out) = match decoded(ctx, data_out, |l| check(l, ctx.cdb)) {
        Ok(d) => d,
        Err(failed) => return failed,
    };
    if w.len == 0 {
        ctx.device.buffers.give(data_out);
        return CommandResult::good(Vec::new());
    }
    // Writing part of an atomic write is exactly what it must never do.
    if (data_out.len() as u64) < w.len {
        ctx.device.buffers.give(data_out);
        return ctx.fail(&SHORT_DATA_OUT);
    }
    let (data, r) = lun.backend.write(w.offset, data_out, w.fua).await;
    ctx.device.buffers.give(data);
    match r {
        Ok(()) => {
            lun.stats.record_write(w.len);
            CommandResult::good(Vec::new())
        }
        Err(e) => ctx.fail(&medium_error(e.kind, w.lba, true)),
    }
}

#[cfg(test)]
mod tests {
    use super::super::memory_fixture::{MemFixture, BLOCKS};
    use super::super::test_support::*;
    use super::MAX_ATOMIC_TRANSFER_BYTES;
    use crate::status::CommandResult;
    use alloc::vec;
    use alloc::vec::Vec;

    fn wa16(byte1: u8, lba: u64, blocks: u16) -> Vec<u8> {
        let mut c = vec![0u8; 16];
        c[0] = 0x9C;
        c[1] = byte1;
        c[2..10].copy_from_slice(&lba.to_be_bytes());
        c[12..14].copy_from_slice(&blocks.to_be_bytes());
        c
    }

    fn oob(r: &CommandResult) {
        assert_eq!(sense_code(&r.sense), (0x05, 0x21, 0x00), "{:02x?}", r.sense);
    }

    #[test]
    fn writes_the_whole_transfer_at_an_aligned_lba() {
        // The fixture's LUN has 8 logical blocks per physical block.
        let f = MemFixture::new(false);
        good(f.run(&wa16(0x18, 16, 3), &[4; 1536]));
        assert_eq!(f.backend_bytes(16, 3), vec![4; 1536]);
        good(f.run(&wa16(0, BLOCKS - 8, 8), &[5; 4096]));
        assert_eq!(f.backend_bytes(BLOCKS - 8, 8), vec![5; 4096]);
        assert!(!f.lun().backend.outside.get());
    }

    #[test]
    fn misaligned_oversized_and_reserved_are_invalid() {
        let f = MemFixture::new(false);
        assert_invalid_field(&f.run(&wa16(0, 1, 1), &[0; 512]), 2);
        let over = (MAX_ATOMIC_TRANSFER_BYTES / 512) as u16 + 1;
        assert_invalid_field(&f.run(&wa16(0, 0, over), &[]), 12);
        good(f.run(&wa16(0, 0, over - 1), &vec![1; (over as usize - 1) * 512]));
        for wrprotect in 1..8u8 {
            assert_invalid_field(&f.run(&wa16(wrprotect << 5, 0, 1), &[0; 512]), 1);
        }
        let mut c = wa16(0, 0, 1);
        c[10] = 1;
        assert_invalid_field(&f.run(&c, &[0; 512]), 10);
        // A short data-out writes nothing.
        let writes = f.lun().backend.writes.get();
        let r = f.run_edtl(&wa16(0, 0, 2), &[1; 512], 512);
        assert_eq!(sense_code(&r.sense), (0x05, 0x0E, 0x03));
        assert_eq!(f.lun().backend.writes.get(), writes);
    }

    #[test]
    fn ranges_are_checked_before_lengths_and_zero_blocks_are_good() {
        let f = Fixture::new();
        good(f.run(0, &wa16(0, 0, 0)));
        oob(&f.run(0, &wa16(0, 2048 + 8, 0)));
        oob(&f.run(0, &wa16(0, 1 << 63, 0)));
        oob(&f.run(0, &wa16(0, 0u64.wrapping_sub(8), 1)));
        // Past the end with more than the atomic maximum: the range is what is wrong.
        oob(&f.run(0, &wa16(0, 2048 - 8, u16::MAX)));
        let mut c = lun_config(0, BLOCKS);
        c.read_only = true;
        let f = Fixture::with(port_config(None), [c]);
        let r = f.run(0, &wa16(0, 0, 1));
        assert_eq!(sense_code(&r.sense), (0x07, 0x27, 0x00));
    }
}
