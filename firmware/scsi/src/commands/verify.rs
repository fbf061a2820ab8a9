//! VERIFY and WRITE AND VERIFY (10, 12, 16) (SBC-4 §5.33–5.35, §5.43–5.45), with BYTCHK 0, 1
//! and 3, and the helpers the other medium-comparing and medium-filling families (WRITE SAME,
//! UNMAP, COMPARE AND WRITE, ORWRITE, WRITE ATOMIC, PRE-FETCH) share: range and length checks,
//! chunked medium reads and compares, and the sense a failed backend operation maps to.

use super::block_access::{
    block_len, block_range, byte_offset, compare_medium, compare_replicated, decoded, plan_len,
    read_through, transfer_bytes, write_blocks, CHUNK_BYTES, SHORT_DATA_OUT,
};
use super::read_write::MAX_TRANSFER_BYTES;
use super::{Ctx, Plan};
use crate::backend::BlockBackend;
use crate::cdb::{be16, be32, be64, byte};
use crate::lun::Lun;
use crate::sense::{asc, Sense};
use crate::status::CommandResult;
use crate::table::{AccessClass as A, CommandEntry as E, Flags as F, Kind};
use alloc::vec::Vec;

/// Every command here reads or writes at most MAXIMUM TRANSFER LENGTH blocks, which an
/// initiator expects to finish well within half a minute.
const TIMEOUTS: (u32, u32) = (30, 60);

pub(crate) const ENTRIES: &[E] = &[
    E::new(
        0x2E,
        "WRITE AND VERIFY(10)",
        Kind::WriteAndVerify10,
        F::DATA_OUT,
        A::Write,
        &[0x2E, 0x16, 0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0xFF, 0xFF, 0x07],
    )
    .timeouts(TIMEOUTS.0, TIMEOUTS.1),
    E::new(
        0x2F,
        "VERIFY(10)",
        Kind::Verify10,
        F::ALLOW_ON_PR_WRESV.union(F::DATA_OUT),
        A::Read,
        &[0x2F, 0x16, 0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0xFF, 0xFF, 0x07],
    )
    .timeouts(TIMEOUTS.0, TIMEOUTS.1),
    E::new(
        0x8E,
        "WRITE AND VERIFY(16)",
        Kind::WriteAndVerify16,
        F::DATA_OUT,
        A::Write,
        &[
            0x8E, 0x16, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
            0x00, 0x07,
        ],
    )
    .timeouts(TIMEOUTS.0, TIMEOUTS.1),
    E::new(
        0x8F,
        "VERIFY(16)",
        Kind::Verify16,
        F::ALLOW_ON_PR_WRESV.union(F::DATA_OUT),
        A::Read,
        &[
            0x8F, 0x16, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
            0x00, 0x07,
        ],
    )
    .timeouts(TIMEOUTS.0, TIMEOUTS.1),
    E::new(
        0xAE,
        "WRITE AND VERIFY(12)",
        Kind::WriteAndVerify12,
        F::DATA_OUT,
        A::Write,
        &[
            0xAE, 0x16, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x07,
        ],
    )
    .timeouts(TIMEOUTS.0, TIMEOUTS.1),
    E::new(
        0xAF,
        "VERIFY(12)",
        Kind::Verify12,
        F::ALLOW_ON_PR_WRESV.union(F::DATA_OUT),
        A::Read,
        &[
            0xAF, 0x16, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x07,
        ],
    )
    .timeouts(TIMEOUTS.0, TIMEOUTS.1),
];

/// BYTCHK: the data-out holds every block, compared byte by byte.
const BYTCHK_ALL: u8 = 0b01;
/// BYTCHK: the data-out holds one block, compared against every block (VERIFY only).
const BYTCHK_ONE: u8 = 0b11;

/// One validated VERIFY or WRITE AND VERIFY.
struct Verify {
    lba: u64,
    blocks: u64,
    /// The range in bytes on the medium.
    offset: u64,
    len: u64,
    bytchk: u8,
    write: bool,
}

fn check<B: BlockBackend>(kind: Kind, lun: &Lun<B>, cdb: &[u8]) -> Result<Verify, Sense> {
    let (lba, blocks, length_byte) = match kind {
        Kind::Verify10 | Kind::WriteAndVerify10 => {
            (u64::from(be32(cdb, 2)), u64::from(be16(cdb, 7)), 7)
        }
        Kind::Verify12 | Kind::WriteAndVerify12 => {
            (u64::from(be32(cdb, 2)), u64::from(be32(cdb, 6)), 6)
        }
        _ => (be64(cdb, 2), u64::from(be32(cdb, 10)), 10),
    };
    let write = matches!(
        kind,
        Kind::WriteAndVerify10 | Kind::WriteAndVerify12 | Kind::WriteAndVerify16
    );
    let bytchk = (byte(cdb, 1) >> 1) & 0b11;
    // 10b is reserved for both; WRITE AND VERIFY has no single-block form either.
    if bytchk == 0b10 || (write && bytchk == BYTCHK_ONE) {
        return Err(Sense::invalid_field_in_cdb(1, Some(2)));
    }
    block_range(lun, lba, blocks)?;
    let len = transfer_bytes(lun, blocks, MAX_TRANSFER_BYTES, length_byte)?;
    if write && lun.write_protected() {
        return Err(asc::WRITE_PROTECTED);
    }
    Ok(Verify {
        lba,
        blocks,
        offset: byte_offset(lun, lba)?,
        len,
        bytchk,
        write,
    })
}

pub(crate) fn precheck<B: BlockBackend>(
    kind: Kind,
    lun: Option<&Lun<B>>,
    cdb: &[u8],
) -> Result<Plan, Sense> {
    let lun = lun.ok_or(asc::LOGICAL_UNIT_NOT_SUPPORTED)?;
    let v = check(kind, lun, cdb)?;
    let data_out = match v.bytchk {
        _ if v.write => v.len,
        BYTCHK_ALL => v.len,
        BYTCHK_ONE if v.blocks > 0 => u64::from(lun.block_size()),
        _ => 0,
    };
    Ok(Plan {
        range: (v.lba, v.lba.saturating_add(v.blocks)),
        data_out_len: plan_len(data_out),
        data_in_len: plan_len(v.len.min(CHUNK_BYTES)),
        exact_data_out: false,
    })
}

pub(crate) async fn execute<B: BlockBackend>(
    ctx: &Ctx<'_, B>,
    kind: Kind,
    data_out: Vec<u8>,
) -> CommandResult {
    let (lun, v, data_out) = match decoded(ctx, data_out, |l| check(kind, l, ctx.cdb)) {
        Ok(d) => d,
        Err(failed) => return failed,
    };
    let result = if v.write {
        write_and_verify(ctx, lun, &v, data_out).await
    } else {
        verify(ctx, lun, &v, data_out).await
    };
    match result {
        Ok(()) => CommandResult::good(Vec::new()),
        Err(sense) => ctx.fail(&sense),
    }
}

async fn verify<B: BlockBackend>(
    ctx: &Ctx<'_, B>,
    lun: &Lun<B>,
    v: &Verify,
    data: Vec<u8>,
) -> Result<(), Sense> {
    let result = match v.bytchk {
        // Less data-out than the CDB asked for (EDTL < SPDTL) is compared as far as it goes.
        BYTCHK_ALL => compare_medium(ctx, lun, v.offset, &data).await,
        BYTCHK_ONE if v.blocks > 0 => match data.get(..block_len(lun)) {
            Some(pattern) => compare_replicated(ctx, lun, v.offset, v.len, pattern).await,
            None => Err(SHORT_DATA_OUT),
        },
        _ => read_through(ctx, lun, v.offset, v.len).await,
    };
    ctx.device.buffers.give(data);
    result
}

async fn write_and_verify<B: BlockBackend>(
    ctx: &Ctx<'_, B>,
    lun: &Lun<B>,
    v: &Verify,
    mut data: Vec<u8>,
) -> Result<(), Sense> {
    // Only what arrived is written (FCP-4 §9.4.2 option a, as WRITE does).
    data.truncate(usize::try_from(v.len).unwrap_or(usize::MAX));
    if data.is_empty() {
        ctx.device.buffers.give(data);
        return Ok(());
    }
    let received = data.len();
    // The verification must see the medium, not a volatile cache: write through.
    let (data, written) = write_blocks(ctx, lun, v.offset, data, true).await;
    let result = match written {
        Ok(written) => {
            lun.stats.record_write(received as u64);
            if v.bytchk == BYTCHK_ALL {
                let sent = data.get(..received).unwrap_or(&data);
                compare_medium(ctx, lun, v.offset, sent).await
            } else {
                read_through(ctx, lun, v.offset, written).await
            }
        }
        Err(sense) => Err(sense),
    };
    ctx.device.buffers.give(data);
    result
}

#[cfg(test)]
mod tests {
    use super::super::memory_fixture::{MemFixture, BLOCKS};
    use super::super::test_support::*;
    use crate::status::ScsiStatus;
    use alloc::vec;
    use alloc::vec::Vec;

    fn cdb10(op: u8, byte1: u8, lba: u32, blocks: u16) -> Vec<u8> {
        let mut c = vec![0u8; 10];
        c[0] = op;
        c[1] = byte1;
        c[2..6].copy_from_slice(&lba.to_be_bytes());
        c[7..9].copy_from_slice(&blocks.to_be_bytes());
        c
    }

    fn cdb12(op: u8, byte1: u8, lba: u32, blocks: u32) -> Vec<u8> {
        let mut c = vec![0u8; 12];
        c[0] = op;
        c[1] = byte1;
        c[2..6].copy_from_slice(&lba.to_be_bytes());
        c[6..10].copy_from_slice(&blocks.to_be_bytes());
        c
    }

    fn cdb16(op: u8, byte1: u8, lba: u64, blocks: u32) -> Vec<u8> {
        let mut c = vec![0u8; 16];
        c[0] = op;
        c[1] = byte1;
        c[2..10].copy_from_slice(&lba.to_be_bytes());
        c[10..14].copy_from_slice(&blocks.to_be_bytes());
        c
    }

    const BYTCHK1: u8 = 0x02;
    const BYTCHK3: u8 = 0x06;

    fn pattern(len: usize, seed: u8) -> Vec<u8> {
        (0..len).map(|i| (i as u8).wrapping_mul(7) ^ seed).collect()
    }

    fn miscompare_at(r: &crate::status::CommandResult) -> u32 {
        assert_eq!(r.scsi_status(), ScsiStatus::CheckCondition);
        assert_eq!(sense_code(&r.sense), (0x0E, 0x1D, 0x00), "{:02x?}", r.sense);
        assert_eq!(r.sense[0] & 0x80, 0x80, "VALID");
        u32::from_be_bytes([r.sense[3], r.sense[4], r.sense[5], r.sense[6]])
    }

    #[test]
    fn verify_compares_the_data_out_and_names_the_first_difference() {
        let f = MemFixture::new(false);
        let data = pattern(4 * 512, 3);
        f.put(100, &data);
        for cdb in [
            cdb10(0x2F, BYTCHK1, 100, 4),
            cdb12(0xAF, BYTCHK1, 100, 4),
            cdb16(0x8F, BYTCHK1, 100, 4),
        ] {
            good(f.run(&cdb, &data));
            let mut bad = data.clone();
            bad[1234] ^= 0x58;
            assert_eq!(miscompare_at(&f.run(&cdb, &bad)), 1234);
        }
    }

    #[test]
    fn verify_without_bytchk_reads_the_medium_and_takes_no_data() {
        let f = MemFixture::new(false);
        let cdb = cdb10(0x2F, 0, 0, 16);
        good(f.run(&cdb, &[]));
        f.lun().backend.bad_block.set(Some(7));
        let r = f.run(&cdb, &[]);
        assert_eq!(sense_code(&r.sense), (0x03, 0x11, 0x00));
        // DPO is accepted and means nothing to us.
        f.lun().backend.bad_block.set(None);
        good(f.run(&cdb10(0x2F, 0x10, 0, 16), &[]));
    }

    #[test]
    fn verify_with_bytchk_3_compares_one_block_against_every_block() {
        let f = MemFixture::new(false);
        let block = pattern(512, 9);
        for lba in 10..14 {
            f.put(lba, &block);
        }
        good(f.run(&cdb16(0x8F, BYTCHK3, 10, 4), &block));
        f.put(12, &[0xEE; 1]);
        // Block 12 (the third) now differs at its first byte.
        assert_eq!(
            miscompare_at(&f.run(&cdb16(0x8F, BYTCHK3, 10, 4), &block)),
            2 * 512
        );
        // Less than the one block is a broken transfer.
        let r = f.run(&cdb16(0x8F, BYTCHK3, 10, 4), &block[..100]);
        assert_eq!(sense_code(&r.sense), (0x05, 0x0E, 0x03));
    }

    #[test]
    fn reserved_bytchk_and_protection_fields_are_invalid() {
        let f = Fixture::new();
        // BYTCHK 10b.
        assert_invalid_field(&f.run(0, &cdb10(0x2F, 0x04, 0, 1)), 1);
        // BYTCHK 11b is reserved for WRITE AND VERIFY.
        assert_invalid_field(&f.run(0, &cdb10(0x2E, 0x06, 0, 1)), 1);
        for vrprotect in 1..8u8 {
            assert_invalid_field(&f.run(0, &cdb10(0x2F, vrprotect << 5, 0, 1)), 1);
            assert_invalid_field(&f.run(0, &cdb16(0x8E, vrprotect << 5, 0, 1)), 1);
        }
        // Group number and reserved bits.
        let mut c = cdb10(0x2F, 0, 0, 1);
        c[6] = 3;
        assert_invalid_field(&f.run(0, &c), 6);
        assert_invalid_field(&f.run(0, &cdb10(0x2F, 0x08, 0, 1)), 1);
    }

    #[test]
    fn ranges_past_the_end_and_overflowing_ranges_are_out_of_range() {
        let f = Fixture::new();
        let oob = |r: crate::status::CommandResult| {
            assert_eq!(sense_code(&r.sense), (0x05, 0x21, 0x00), "{:02x?}", r.sense)
        };
        oob(f.run(0, &cdb10(0x2F, 0, 2047, 2)));
        oob(f.run(0, &cdb10(0x2F, 0, 2049, 0)));
        oob(f.run(0, &cdb10(0x2F, 0, u32::MAX, 1)));
        oob(f.run(0, &cdb16(0x8F, 0, u64::MAX, 1)));
        oob(f.run(0, &cdb16(0x8F, 0, u64::MAX, u32::MAX)));
        oob(f.run(0, &cdb16(0x8E, 0, 1 << 63, 1)));
        oob(f.run(0, &cdb12(0xAE, 0, 0x8000_0000, 0)));
        good(f.run(0, &cdb10(0x2F, 0, 2047, 1)));
        good(f.run(0, &cdb10(0x2F, 0, 2048, 0)));
    }

    #[test]
    fn transfers_over_the_maximum_are_invalid_and_zero_blocks_are_good() {
        let mut c = lun_config(0, 1 << 20);
        c.block_size = 512;
        let f = Fixture::with(port_config(None), [c]);
        let blocks = (super::MAX_TRANSFER_BYTES / 512) as u32 + 1;
        assert_invalid_field(&f.run(0, &cdb16(0x8F, 0, 0, blocks)), 10);
        assert_invalid_field(&f.run(0, &cdb12(0xAF, BYTCHK1, 0, blocks)), 6);
        good(f.run(0, &cdb10(0x2F, BYTCHK1, 0, 0)));
        good(f.run(0, &cdb10(0x2E, BYTCHK1, 0, 0)));
    }

    #[test]
    fn write_and_verify_writes_then_compares() {
        let f = MemFixture::new(false);
        let data = pattern(8 * 512, 1);
        for (i, cdb) in [
            cdb10(0x2E, BYTCHK1, 8, 8),
            cdb12(0xAE, 0, 16, 8),
            cdb16(0x8E, BYTCHK1 | 0x10, 24, 8),
        ]
        .iter()
        .enumerate()
        {
            good(f.run(cdb, &data));
            assert_eq!(f.backend_bytes(8 + 8 * i as u64, 8), data);
        }
        assert!(!f.lun().backend.outside.get());
    }

    #[test]
    fn write_and_verify_writes_only_what_arrived() {
        let f = MemFixture::new(false);
        f.put(0, &[b'a'; 1024]);
        // Two blocks asked for, one sent: only the first block changes.
        good(f.run_edtl(&cdb10(0x2E, BYTCHK1, 0, 2), &[b'b'; 512], 512));
        assert_eq!(f.backend_bytes(0, 1), vec![b'b'; 512]);
        assert_eq!(f.backend_bytes(1, 1), vec![b'a'; 512]);
        // 200 bytes: the rest of the block keeps what the medium held.
        good(f.run_edtl(&cdb10(0x2E, BYTCHK1, 1, 1), &[b'c'; 200], 200));
        let block = f.backend_bytes(1, 1);
        assert_eq!(&block[..200], &[b'c'; 200][..]);
        assert_eq!(&block[200..], &[b'a'; 312][..]);
        // Nothing sent: nothing written.
        let writes = f.lun().backend.writes.get();
        good(f.run_edtl(&cdb10(0x2E, BYTCHK1, 0, 1), &[], 0));
        assert_eq!(f.lun().backend.writes.get(), writes);
    }

    #[test]
    fn random_cdbs_of_this_group_never_panic_or_reach_past_the_medium() {
        // Opcodes and service actions of every family in this group, with the CDB length.
        const OPS: [(u8, u8, usize); 19] = [
            (0x2F, 0, 10),
            (0xAF, 0, 12),
            (0x8F, 0, 16),
            (0x2E, 0, 10),
            (0xAE, 0, 12),
            (0x8E, 0, 16),
            (0x41, 0, 10),
            (0x93, 0, 16),
            (0x42, 0, 10),
            (0x9E, 0x12, 16),
            (0x89, 0, 16),
            (0x8B, 0, 16),
            (0x9C, 0, 16),
            (0x34, 0, 10),
            (0x90, 0, 16),
            (0x2F, 0, 10),
            (0x42, 0, 10),
            (0x93, 0, 16),
            (0x89, 0, 16),
        ];
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for thin in [false, true] {
            let f = MemFixture::new(thin);
            for _ in 0..4000 {
                let (op, sa, len) = OPS[(next() % OPS.len() as u64) as usize];
                let mut cdb: Vec<u8> = (0..len).map(|_| next() as u8).collect();
                cdb[0] = op;
                if sa != 0 {
                    cdb[1] = (cdb[1] & 0xE0) | sa;
                }
                // Mostly plausible values: small lengths, LBAs near the end, clear flags.
                if next() % 4 != 0 {
                    cdb[1] &= 0x1F;
                    for b in cdb.iter_mut().skip(2).take(len - 4) {
                        if next() % 3 != 0 {
                            *b = 0;
                        }
                    }
                    let at = len - 3;
                    cdb[at] = (next() % 0x21) as u8;
                }
                let data: Vec<u8> = (0..(next() % 9000) as usize)
                    .map(|_| if next() % 3 == 0 { 0 } else { next() as u8 })
                    .collect();
                let edtl = if next() % 2 == 0 {
                    data.len() as u32
                } else {
                    (next() % 70000) as u32
                };
                let _ = f.run_edtl(&cdb, &data, edtl);
                assert!(!f.lun().backend.outside.get(), "{cdb:02x?}");
            }
        }
    }

    #[test]
    fn write_and_verify_on_a_write_protected_lun_is_refused() {
        let mut c = lun_config(0, BLOCKS);
        c.read_only = true;
        let f = Fixture::with(port_config(None), [c]);
        let r = f.run(0, &cdb10(0x2E, 0, 0, 1));
        assert_eq!(sense_code(&r.sense), (0x07, 0x27, 0x00));
        // Verifying a write-protected medium is fine.
        good(f.run(0, &cdb10(0x2F, 0, 0, 1)));
    }
}
