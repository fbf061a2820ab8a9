//! COMPARE AND WRITE (SBC-4 §5.3) and ORWRITE(16) (SBC-4 §5.12): a read, then a compare or an
//! OR, then a write, atomic against every other command on the range because the task set
//! keeps every overlapping command out while it runs (both are Write in the access class).

use super::block_access::{
    block_len, block_range, byte_offset, decoded, first_difference, medium_error, miscompare,
    plan_len, read_medium, transfer_bytes, write_blocks, SHORT_DATA_OUT,
};
use super::read_write::MAX_TRANSFER_BYTES;
use super::{Ctx, Plan};
use crate::backend::BlockBackend;
use crate::cdb::{be32, be64, byte};
use crate::lun::Lun;
use crate::sense::{asc, Sense};
use crate::status::CommandResult;
use crate::table::{AccessClass as A, CommandEntry as E, Flags as F, Kind};
use alloc::vec::Vec;

pub(crate) const ENTRIES: &[E] = &[
    E::new(
        0x89,
        "COMPARE AND WRITE",
        Kind::CompareAndWrite,
        F::DATA_OUT,
        A::Write,
        &[
            0x89, 0x1A, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0xFF,
            0x00, 0x07,
        ],
    )
    .timeouts(30, 60),
    E::new(
        0x8B,
        "ORWRITE(16)",
        Kind::OrWrite16,
        F::DATA_OUT,
        A::Write,
        &[
            0x8B, 0x1A, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
            0x00, 0x07,
        ],
    )
    .timeouts(30, 60),
];

/// Most logical blocks one COMPARE AND WRITE may cover (MAXIMUM COMPARE AND WRITE LENGTH).
pub(crate) const MAX_COMPARE_AND_WRITE_BLOCKS: u8 = 255;

const FUA: u8 = 0x08;

/// One validated COMPARE AND WRITE or ORWRITE.
struct Access {
    lba: u64,
    blocks: u64,
    /// The range in bytes on the medium.
    offset: u64,
    len: u64,
    fua: bool,
}

fn check<B: BlockBackend>(kind: Kind, lun: &Lun<B>, cdb: &[u8]) -> Result<Access, Sense> {
    let lba = be64(cdb, 2);
    let (blocks, length_byte, limit) = match kind {
        Kind::CompareAndWrite => {
            let blocks = u64::from(byte(cdb, 13));
            block_range(lun, lba, blocks)?;
            if blocks > u64::from(MAX_COMPARE_AND_WRITE_BLOCKS) {
                return Err(Sense::invalid_field_in_cdb(13, None));
            }
            (blocks, 13, u64::MAX)
        }
        _ => (u64::from(be32(cdb, 10)), 10, MAX_TRANSFER_BYTES),
    };
    block_range(lun, lba, blocks)?;
    let len = transfer_bytes(lun, blocks, limit, length_byte)?;
    if lun.write_protected() {
        return Err(asc::WRITE_PROTECTED);
    }
    Ok(Access {
        lba,
        blocks,
        offset: byte_offset(lun, lba)?,
        len,
        fua: byte(cdb, 1) & FUA != 0,
    })
}

pub(crate) fn precheck<B: BlockBackend>(
    kind: Kind,
    lun: Option<&Lun<B>>,
    cdb: &[u8],
) -> Result<Plan, Sense> {
    let lun = lun.ok_or(asc::LOGICAL_UNIT_NOT_SUPPORTED)?;
    let a = check(kind, lun, cdb)?;
    // COMPARE AND WRITE carries the verify data and then the write data.
    let data_out = match kind {
        Kind::CompareAndWrite => a.len.saturating_mul(2),
        _ => a.len,
    };
    Ok(Plan {
        range: (a.lba, a.lba.saturating_add(a.blocks)),
        data_out_len: plan_len(data_out),
        // The current contents are read into a buffer of their own.
        data_in_len: plan_len(a.len),
        exact_data_out: kind == Kind::CompareAndWrite,
    })
}

pub(crate) async fn execute<B: BlockBackend>(
    ctx: &Ctx<'_, B>,
    kind: Kind,
    data_out: Vec<u8>,
) -> CommandResult {
    let (lun, a, data_out) = match decoded(ctx, data_out, |l| check(kind, l, ctx.cdb)) {
        Ok(d) => d,
        Err(failed) => return failed,
    };
    let result = match kind {
        Kind::CompareAndWrite => compare_and_write(ctx, lun, &a, data_out).await,
        _ => or_write(ctx, lun, &a, data_out).await,
    };
    match result {
        Ok(()) => CommandResult::good(Vec::new()),
        Err(sense) => ctx.fail(&sense),
    }
}

async fn compare_and_write<B: BlockBackend>(
    ctx: &Ctx<'_, B>,
    lun: &Lun<B>,
    a: &Access,
    mut data: Vec<u8>,
) -> Result<(), Sense> {
    let half = a.len as usize;
    if half == 0 {
        ctx.device.buffers.give(data);
        return Ok(());
    }
    // Both halves are needed whole: a compare or write of part of them would not be the
    // atomic operation the initiator asked for.
    if data.len() < 2 * half {
        ctx.device.buffers.give(data);
        return Err(SHORT_DATA_OUT);
    }
    let current = match read_medium(ctx, lun, a.offset, half).await {
        Ok(current) => current,
        Err(sense) => {
            ctx.device.buffers.give(data);
            return Err(sense);
        }
    };
    let differs = first_difference(&current, data.get(..half).unwrap_or(&[]));
    ctx.device.buffers.give(current);
    if let Some(offset) = differs {
        ctx.device.buffers.give(data);
        return Err(miscompare(offset as u64));
    }
    // The write data follows the verify data: move it to the front and write it from there.
    data.copy_within(half..2 * half, 0);
    data.truncate(half);
    let (data, r) = lun.backend.write(a.offset, data, a.fua).await;
    ctx.device.buffers.give(data);
    r.map_err(|e| medium_error(e.kind, a.lba, true))?;
    lun.stats.record_write(2 * half as u64);
    Ok(())
}

async fn or_write<B: BlockBackend>(
    ctx: &Ctx<'_, B>,
    lun: &Lun<B>,
    a: &Access,
    mut data: Vec<u8>,
) -> Result<(), Sense> {
    // Only what arrived is ORed in (EDTL < SPDTL), as WRITE writes only what arrived.
    data.truncate(a.len as usize);
    if data.is_empty() {
        ctx.device.buffers.give(data);
        return Ok(());
    }
    let bs = block_len(lun);
    let mut merged = match read_medium(ctx, lun, a.offset, data.len().div_ceil(bs) * bs).await {
        Ok(current) => current,
        Err(sense) => {
            ctx.device.buffers.give(data);
            return Err(sense);
        }
    };
    for (m, d) in merged.iter_mut().zip(data.iter()) {
        *m |= d;
    }
    let received = data.len() as u64;
    ctx.device.buffers.give(data);
    let (merged, r) = write_blocks(ctx, lun, a.offset, merged, a.fua).await;
    ctx.device.buffers.give(merged);
    r?;
    lun.stats.record_write(received);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::memory_fixture::{MemFixture, BLOCKS};
    use super::super::test_support::*;
    use crate::status::{CommandResult, ScsiStatus};
    use alloc::vec;
    use alloc::vec::Vec;

    fn caw(byte1: u8, lba: u64, blocks: u8) -> Vec<u8> {
        let mut c = vec![0u8; 16];
        c[0] = 0x89;
        c[1] = byte1;
        c[2..10].copy_from_slice(&lba.to_be_bytes());
        c[13] = blocks;
        c
    }

    fn orwrite(byte1: u8, lba: u64, blocks: u32) -> Vec<u8> {
        let mut c = vec![0u8; 16];
        c[0] = 0x8B;
        c[1] = byte1;
        c[2..10].copy_from_slice(&lba.to_be_bytes());
        c[10..14].copy_from_slice(&blocks.to_be_bytes());
        c
    }

    fn oob(r: &CommandResult) {
        assert_eq!(sense_code(&r.sense), (0x05, 0x21, 0x00), "{:02x?}", r.sense);
    }

    #[test]
    fn compare_and_write_writes_when_the_medium_matches() {
        let f = MemFixture::new(false);
        f.put(40, &[b'A'; 1024]);
        let mut data = vec![b'A'; 1024];
        data.extend_from_slice(&[b'B'; 1024]);
        good(f.run(&caw(0x18, 40, 2), &data));
        assert_eq!(f.backend_bytes(40, 2), vec![b'B'; 1024]);
        assert!(!f.lun().backend.outside.get());
    }

    #[test]
    fn a_miscompare_writes_nothing_and_names_the_offset() {
        let f = MemFixture::new(false);
        f.put(0, &[b'A'; 1536]);
        let mut data = vec![b'A'; 1536];
        data[1536 - 27] = b'C';
        data.extend_from_slice(&[b'B'; 1536]);
        let r = f.run(&caw(0, 0, 3), &data);
        assert_eq!(r.scsi_status(), ScsiStatus::CheckCondition);
        assert_eq!(sense_code(&r.sense), (0x0E, 0x1D, 0x00));
        assert_eq!(
            u32::from_be_bytes([r.sense[3], r.sense[4], r.sense[5], r.sense[6]]),
            1536 - 27
        );
        assert_eq!(f.backend_bytes(0, 3), vec![b'A'; 1536]);
    }

    #[test]
    fn a_counter_incremented_by_compare_and_write_never_loses_an_update() {
        let f = MemFixture::new(false);
        let mut expected = 0u64;
        for round in 0..50u64 {
            // Two initiators race: both read the counter, both try to bump it; one loses.
            let current = f.backend_bytes(7, 1);
            let mut first = current.clone();
            first[..8].copy_from_slice(&(expected + 1).to_be_bytes());
            let mut second = current.clone();
            second[..8].copy_from_slice(&(expected + 1).to_be_bytes());
            second[8] = round as u8 + 1;
            let a = f.run(&caw(0, 7, 1), &[current.clone(), first].concat());
            let b = f.run(&caw(0, 7, 1), &[current, second].concat());
            good(a);
            assert_eq!(sense_code(&b.sense), (0x0E, 0x1D, 0x00));
            expected += 1;
            assert_eq!(f.backend_bytes(7, 1)[..8], expected.to_be_bytes());
        }
    }

    #[test]
    fn zero_blocks_are_good_and_limits_and_ranges_are_enforced() {
        let f = Fixture::new();
        good(f.run(0, &caw(0, 0, 0)));
        good(f.run(0, &caw(0, 2048, 0)));
        oob(&f.run(0, &caw(0, 2049, 0)));
        oob(&f.run(0, &caw(0, 2047, 2)));
        oob(&f.run(0, &caw(0, u64::MAX, 1)));
        oob(&f.run(0, &caw(0, u64::MAX - 1, 255)));
        let f = MemFixture::new(false);
        let max = super::MAX_COMPARE_AND_WRITE_BLOCKS;
        let half = usize::from(max) * 512;
        let data = [vec![0; half], vec![9; half]].concat();
        good(f.run(&caw(0, 1, max), &data));
        assert_eq!(f.backend_bytes(1, u64::from(max)), vec![9; half]);
    }

    #[test]
    fn reserved_fields_and_short_data_are_refused() {
        let f = MemFixture::new(false);
        for wrprotect in 1..8u8 {
            assert_invalid_field(&f.run(&caw(wrprotect << 5, 0, 1), &[0; 1024]), 1);
            assert_invalid_field(&f.run(&orwrite(wrprotect << 5, 0, 1), &[0; 512]), 1);
        }
        let mut c = caw(0, 0, 1);
        c[12] = 1;
        assert_invalid_field(&f.run(&c, &[0; 1024]), 12);
        let mut c = orwrite(0, 0, 1);
        c[14] = 1;
        assert_invalid_field(&f.run(&c, &[0; 512]), 14);
        // Three blocks asked for, only two blocks' worth (of six) announced: refused before
        // any data moves.
        let r = f.run_edtl(&caw(0, 0, 3), &[0; 1024], 1024);
        assert_eq!(sense_code(&r.sense), (0x05, 0x24, 0x00));
    }

    #[test]
    fn orwrite_ors_the_data_into_the_medium() {
        let f = MemFixture::new(false);
        good(f.run(&orwrite(0, BLOCKS - 2, 2), &[0xA5; 1024]));
        assert_eq!(f.backend_bytes(BLOCKS - 2, 2), vec![0xA5; 1024]);
        good(f.run(&orwrite(0x18, BLOCKS - 2, 2), &[0x5A; 1024]));
        assert_eq!(f.backend_bytes(BLOCKS - 2, 2), vec![0xFF; 1024]);
        // Only what arrived is ORed in; the rest of the partial block is kept.
        f.put(0, &[0x01; 1024]);
        good(f.run_edtl(&orwrite(0, 0, 2), &[0x10; 100], 100));
        let b = f.backend_bytes(0, 2);
        assert_eq!(&b[..100], &[0x11; 100][..]);
        assert_eq!(&b[100..], &[0x01; 924][..]);
        assert!(!f.lun().backend.outside.get());
    }

    #[test]
    fn orwrite_ranges_lengths_and_protection() {
        let f = Fixture::new();
        good(f.run(0, &orwrite(0, 0, 0)));
        oob(&f.run(0, &orwrite(0, 2049, 0)));
        oob(&f.run(0, &orwrite(0, 2047, 2)));
        oob(&f.run(0, &orwrite(0, 1 << 63, 1)));
        oob(&f.run(0, &orwrite(0, u64::MAX, u32::MAX)));
        let mut c = lun_config(0, 1 << 20);
        c.read_only = true;
        let f = Fixture::with(port_config(None), [c]);
        let over = (super::MAX_TRANSFER_BYTES / 512) as u32 + 1;
        assert_invalid_field(&f.run(0, &orwrite(0, 0, over)), 10);
        let r = f.run(0, &orwrite(0, 0, 1));
        assert_eq!(sense_code(&r.sense), (0x07, 0x27, 0x00));
        let r = f.run(0, &caw(0, 0, 1));
        assert_eq!(sense_code(&r.sense), (0x07, 0x27, 0x00));
    }
}
