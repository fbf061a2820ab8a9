//! WRITE SAME (10, 16) (SBC-4 §5.50, §5.51), with UNMAP, ANCHOR and NDOB, and the fill of a
//! block range with one block of data that UNMAP also uses when a backend cannot deallocate.

use super::block_access::{
    block_len, block_range, byte_offset, decoded, medium_error, plan_len, transfer_bytes,
    CHUNK_BYTES, SHORT_DATA_OUT,
};
use super::{Ctx, Plan};
use crate::backend::BlockBackend;
use crate::cdb::{be16, be32, be64, byte};
use crate::lun::Lun;
use crate::sense::{asc, Sense};
use crate::status::CommandResult;
use crate::table::{AccessClass as A, CommandEntry as E, Flags as F, Kind};
use alloc::vec::Vec;

pub(crate) const ENTRIES: &[E] = &[
    E::new(
        0x41,
        "WRITE SAME(10)",
        Kind::WriteSame10,
        F::DATA_OUT,
        A::Write,
        &[0x41, 0x18, 0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0xFF, 0xFF, 0x07],
    )
    .timeouts(60, 120),
    E::new(
        0x93,
        "WRITE SAME(16)",
        Kind::WriteSame16,
        F::DATA_OUT,
        A::Write,
        &[
            0x93, 0x19, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
            0x00, 0x07,
        ],
    )
    .timeouts(60, 120),
];

/// Most logical blocks one WRITE SAME may write (VPD Block Limits MAXIMUM WRITE SAME LENGTH).
/// Below 64 Ki blocks so that one command writes at most 256 MiB and ends well within its
/// timeout even when it cannot deallocate; a NUMBER OF LOGICAL BLOCKS of zero ("to the end of
/// the medium", WSNZ = 0) is bound by it too.
pub(crate) const MAX_WRITE_SAME_BLOCKS: u64 = 0xFFFF;

const ANCHOR: u8 = 0x10;
const UNMAP: u8 = 0x08;
/// NO DATA-OUT BUFFER (WRITE SAME(16) only): the block is all zeros and none is transferred.
const NDOB: u8 = 0x01;

/// One validated WRITE SAME.
struct WriteSame {
    lba: u64,
    /// The range in bytes on the medium.
    offset: u64,
    len: u64,
    /// UNMAP or ANCHOR: deallocate the range on a thin LUN.
    unmap: bool,
    ndob: bool,
}

fn check<B: BlockBackend>(kind: Kind, lun: &Lun<B>, cdb: &[u8]) -> Result<WriteSame, Sense> {
    // A write-protected LUN refuses every WRITE SAME, whatever its other fields ask.
    if lun.write_protected() {
        return Err(asc::WRITE_PROTECTED);
    }
    let flags = byte(cdb, 1);
    let (lba, blocks, length_byte, ndob) = match kind {
        Kind::WriteSame10 => (u64::from(be32(cdb, 2)), u64::from(be16(cdb, 7)), 7, false),
        _ => (
            be64(cdb, 2),
            u64::from(be32(cdb, 10)),
            10,
            flags & NDOB != 0,
        ),
    };
    let anchor = flags & ANCHOR != 0;
    let unmap = flags & UNMAP != 0;
    if anchor && !unmap {
        return Err(Sense::invalid_field_in_cdb(1, Some(4)));
    }
    // LBPWS and LBPWS10 follow the LUN's thin provisioning: a fully provisioned LUN has
    // nothing to deallocate or anchor.
    if unmap && !lun.thin() {
        return Err(Sense::invalid_field_in_cdb(1, Some(3)));
    }
    let blocks = if blocks == 0 {
        // Zero is "to the last block": the starting block must exist.
        lun.blocks()
            .checked_sub(lba)
            .filter(|&n| n > 0)
            .ok_or(asc::LBA_OUT_OF_RANGE)?
    } else {
        block_range(lun, lba, blocks)?;
        blocks
    };
    if blocks > MAX_WRITE_SAME_BLOCKS {
        return Err(Sense::invalid_field_in_cdb(length_byte, None));
    }
    let len = transfer_bytes(lun, blocks, u64::MAX, length_byte)?;
    Ok(WriteSame {
        lba,
        offset: byte_offset(lun, lba)?,
        len,
        unmap,
        ndob,
    })
}

pub(crate) fn precheck<B: BlockBackend>(
    kind: Kind,
    lun: Option<&Lun<B>>,
    cdb: &[u8],
) -> Result<Plan, Sense> {
    let lun = lun.ok_or(asc::LOGICAL_UNIT_NOT_SUPPORTED)?;
    let ws = check(kind, lun, cdb)?;
    let bs = block_len(lun) as u64;
    Ok(Plan {
        range: (ws.lba, ws.lba.saturating_add(ws.len / bs)),
        data_out_len: if ws.ndob { 0 } else { lun.block_size() },
        data_in_len: plan_len(ws.len.min(CHUNK_BYTES)),
        exact_data_out: !ws.ndob,
    })
}

pub(crate) async fn execute<B: BlockBackend>(
    ctx: &Ctx<'_, B>,
    kind: Kind,
    data_out: Vec<u8>,
) -> CommandResult {
    let (lun, ws, data_out) = match decoded(ctx, data_out, |l| check(kind, l, ctx.cdb)) {
        Ok(d) => d,
        Err(failed) => return failed,
    };
    let result = write_same(ctx, lun, &ws, &data_out).await;
    if result.is_ok() {
        // The statistics count what initiators send: one block, or none with NDOB.
        lun.stats.record_write(data_out.len() as u64);
    }
    ctx.device.buffers.give(data_out);
    match result {
        Ok(()) => CommandResult::good(Vec::new()),
        Err(sense) => ctx.fail(&sense),
    }
}

async fn write_same<B: BlockBackend>(
    ctx: &Ctx<'_, B>,
    lun: &Lun<B>,
    ws: &WriteSame,
    data: &[u8],
) -> Result<(), Sense> {
    let pattern = if ws.ndob {
        None
    } else {
        let block = data.get(..block_len(lun)).ok_or(SHORT_DATA_OUT)?;
        (!block.iter().all(|&b| b == 0)).then_some(block)
    };
    // With UNMAP set a thin LUN should deallocate every LBA of the range (SBC-4 WRITE SAME,
    // table "ANCHOR bit, UNMAP bit and ANC_SUP bit relationships"): each LBA is either written
    // or deallocated, and the host asked for deallocation. Deallocated blocks read as zeros.
    if ws.unmap && lun.backend.can_deallocate() {
        return lun
            .backend
            .unmap(ws.offset, ws.len)
            .await
            .map_err(|e| medium_error(e.kind, ws.lba, true));
    }
    fill(ctx, lun, ws.offset, ws.len, pattern).await
}

/// Writes `pattern` (one block; `None` for zeros) to every block of `len` bytes from `offset`,
/// a bounded chunk at a time.
pub(super) async fn fill<B: BlockBackend>(
    ctx: &Ctx<'_, B>,
    lun: &Lun<B>,
    offset: u64,
    len: u64,
    pattern: Option<&[u8]>,
) -> Result<(), Sense> {
    let bs = block_len(lun) as u64;
    let chunk = len.min(CHUNK_BYTES) as usize;
    let mut buf = ctx.device.buffers.take(chunk);
    if let Some(p) = pattern {
        for block in buf.chunks_mut(p.len().max(1)) {
            block.copy_from_slice(p.get(..block.len()).unwrap_or(p));
        }
    }
    let mut done = 0u64;
    while done < len {
        // Whole chunks are block multiples, so a shorter last one still starts on the pattern.
        let n = (len - done).min(chunk as u64) as usize;
        buf.truncate(n);
        let (back, r) = lun.backend.write(offset + done, buf, false).await;
        buf = back;
        if let Err(e) = r {
            ctx.device.buffers.give(buf);
            return Err(medium_error(e.kind, (offset + done) / bs, true));
        }
        done += n as u64;
    }
    ctx.device.buffers.give(buf);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::memory_fixture::{MemFixture, BLOCKS};
    use super::super::test_support::*;
    use super::MAX_WRITE_SAME_BLOCKS;
    use crate::status::CommandResult;
    use alloc::vec;
    use alloc::vec::Vec;

    fn ws10(byte1: u8, lba: u32, blocks: u16) -> Vec<u8> {
        let mut c = vec![0x41, byte1, 0, 0, 0, 0, 0, 0, 0, 0];
        c[2..6].copy_from_slice(&lba.to_be_bytes());
        c[7..9].copy_from_slice(&blocks.to_be_bytes());
        c
    }

    fn ws16(byte1: u8, lba: u64, blocks: u32) -> Vec<u8> {
        let mut c = vec![0u8; 16];
        c[0] = 0x93;
        c[1] = byte1;
        c[2..10].copy_from_slice(&lba.to_be_bytes());
        c[10..14].copy_from_slice(&blocks.to_be_bytes());
        c
    }

    fn oob(r: &CommandResult) {
        assert_eq!(sense_code(&r.sense), (0x05, 0x21, 0x00), "{:02x?}", r.sense);
    }

    #[test]
    fn replicates_one_block_over_the_range() {
        let f = MemFixture::new(false);
        let block: Vec<u8> = (0..512).map(|i| i as u8).collect();
        good(f.run(&ws10(0, 10, 3), &block));
        for lba in 10..13 {
            assert_eq!(f.backend_bytes(lba, 1), block);
        }
        assert_eq!(f.backend_bytes(13, 1), vec![0; 512]);
        // More than one chunk of the fill buffer.
        let big = (super::CHUNK_BYTES / 512) as u32 + 5;
        good(f.run(&ws16(0, 100, big), &block));
        assert_eq!(f.backend_bytes(100 + u64::from(big) - 1, 1), block);
        assert!(!f.lun().backend.outside.get());
    }

    #[test]
    fn zero_blocks_means_to_the_end_of_the_lun() {
        let f = MemFixture::new(false);
        good(f.run(&ws10(0, BLOCKS as u32 - 4, 0), &[7; 512]));
        assert_eq!(f.backend_bytes(BLOCKS - 4, 4), vec![7; 2048]);
        assert_eq!(f.backend_bytes(BLOCKS - 5, 1), vec![0; 512]);
        // The starting block must exist.
        oob(&f.run(&ws10(0, BLOCKS as u32, 0), &[7; 512]));
        oob(&f.run(&ws16(0, u64::MAX, 0), &[7; 512]));
    }

    #[test]
    fn the_maximum_length_bounds_explicit_and_implicit_lengths() {
        let c = lun_config(0, MAX_WRITE_SAME_BLOCKS + 10);
        let f = Fixture::with(port_config(None), [c]);
        let over = MAX_WRITE_SAME_BLOCKS as u32 + 1;
        assert_invalid_field(&f.run(0, &ws16(0, 0, over)), 10);
        // Zero from LBA 0 covers more than the maximum.
        assert_invalid_field(&f.run(0, &ws10(0, 0, 0)), 7);
        let r = f.device.submit(&crate::device::CommandRequest {
            nexus: f.nexus,
            lun: crate::lun_address::encode(0),
            cdb: &ws10(0, 10, 0),
            tag: 99,
            attr: crate::task_set::TaskAttribute::Simple,
            data_out_len: 512,
        });
        assert!(matches!(r, crate::device::Submission::Queued(_)));
    }

    #[test]
    fn ranges_past_the_end_and_overflows_are_out_of_range() {
        let f = Fixture::new();
        oob(&f.run(0, &ws10(0, 2047, 2)));
        oob(&f.run(0, &ws10(0, u32::MAX, 1)));
        oob(&f.run(0, &ws16(0, u64::MAX, 1)));
        oob(&f.run(0, &ws16(0, 1 << 63, u32::MAX)));
        oob(&f.run(0, &ws10(0, 2049, 0)));
    }

    #[test]
    fn reserved_bits_protection_and_anchor_without_unmap_are_invalid() {
        let f = MemFixture::new(true);
        for wrprotect in 1..8u8 {
            assert_invalid_field(&f.run(&ws10(wrprotect << 5, 0, 1), &[0; 512]), 1);
        }
        assert_invalid_field(&f.run(&ws10(0x04, 0, 1), &[0; 512]), 1);
        // NDOB exists only in the 16-byte CDB.
        assert_invalid_field(&f.run(&ws10(0x01, 0, 1), &[0; 512]), 1);
        assert_invalid_field(&f.run(&ws10(0x10, 0, 1), &[0; 512]), 1);
        assert_eq!(
            field_pointer(&f.run(&ws16(0x10, 0, 1), &[0; 512]).sense),
            Some(1)
        );
        let mut c = ws10(0, 0, 1);
        c[6] = 1;
        assert_invalid_field(&f.run(&c, &[0; 512]), 6);
    }

    #[test]
    fn unmap_on_a_thin_lun_deallocates_whatever_the_block_holds() {
        let f = MemFixture::new(true);
        f.put(0, &[0xFF; 512 * 8]);
        good(f.run(&ws10(0x08, 0, 8), &[0; 512]));
        assert_eq!(f.lun().backend.unmaps.get(), 1);
        assert!(!f.lun().backend.is_mapped(3));
        assert_eq!(f.backend_bytes(0, 8), vec![0; 4096]);
        // Other data with UNMAP deallocates too: the host asked for deallocation.
        f.put(0, &[0xFF; 1024]);
        good(f.run(&ws16(0x08, 0, 2), &[5; 512]));
        assert_eq!(f.lun().backend.unmaps.get(), 2);
        assert_eq!(f.backend_bytes(0, 2), vec![0; 1024]);
        // Without UNMAP the data is written.
        good(f.run(&ws16(0x00, 0, 2), &[5; 512]));
        assert_eq!(f.backend_bytes(0, 2), vec![5; 1024]);
        // ANCHOR with UNMAP, and NDOB with UNMAP: no data-out at all.
        good(f.run(&ws16(0x18, 0, 1), &[0; 512]));
        good(f.run(&ws16(0x09, 1, 1), &[]));
        assert_eq!(f.backend_bytes(0, 2), vec![0; 1024]);
        assert_eq!(f.lun().backend.unmaps.get(), 4);
    }

    #[test]
    fn unmap_on_a_fully_provisioned_lun_is_invalid_and_ndob_writes_zeros() {
        let f = MemFixture::new(false);
        assert_eq!(
            field_pointer(&f.run(&ws10(0x08, 0, 1), &[0; 512]).sense),
            Some(1)
        );
        assert_invalid_field(&f.run(&ws16(0x18, 0, 1), &[0; 512]), 1);
        f.put(4, &[9; 512]);
        good(f.run(&ws16(0x01, 4, 1), &[]));
        assert_eq!(f.backend_bytes(4, 1), vec![0; 512]);
        assert_eq!(f.lun().backend.unmaps.get(), 0);
    }

    #[test]
    fn thin_lun_whose_backend_cannot_deallocate_writes_zeros() {
        let mut c = lun_config(0, BLOCKS);
        c.thin = true;
        let f = MemFixture::with(c, false);
        f.put(0, &[1; 512]);
        good(f.run(&ws10(0x08, 0, 1), &[0; 512]));
        assert_eq!(f.backend_bytes(0, 1), vec![0; 512]);
        assert_eq!(f.lun().backend.unmaps.get(), 0);
    }

    #[test]
    fn a_short_block_is_a_broken_transfer_and_write_protection_is_honoured() {
        let f = MemFixture::new(false);
        // A pattern of the wrong size is refused before any data moves.
        let r = f.run(&ws10(0, 0, 1), &[1; 256]);
        assert_eq!(sense_code(&r.sense), (0x05, 0x24, 0x00));
        let mut c = lun_config(0, BLOCKS);
        c.read_only = true;
        let f = Fixture::with(port_config(None), [c]);
        let r = f.run(0, &ws10(0, 0, 1));
        assert_eq!(sense_code(&r.sense), (0x07, 0x27, 0x00));
    }
}
