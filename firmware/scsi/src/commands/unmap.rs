//! UNMAP (SBC-4 §5.32) and GET LBA STATUS (SBC-4 §5.6): deallocation and the provisioning
//! status of blocks.

use super::block_access::{block_len, block_range, byte_offset, medium_error};
use super::write_same::fill;
use super::{Ctx, Plan};
use crate::backend::BlockBackend;
use crate::cdb::{be16, be32, be64, put};
use crate::lun::Lun;
use crate::sense::{asc, Sense};
use crate::status::CommandResult;
use crate::table::{AccessClass as A, CommandEntry as E, Flags as F, Kind};
use alloc::vec::Vec;

pub(crate) const ENTRIES: &[E] = &[
    E::new(
        0x42,
        "UNMAP",
        Kind::Unmap,
        F::DATA_OUT,
        A::Write,
        &[0x42, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0x07],
    )
    .timeouts(30, 60),
    E::new(
        0x9E,
        "GET LBA STATUS",
        Kind::GetLbaStatus,
        F::ALLOW_ON_PR_WRESV.union(F::DATA_IN),
        A::Read,
        &[
            0x9E, 0x12, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
            0x00, 0x07,
        ],
    )
    .service_action(0x12)
    .timeouts(10, 30),
];

/// Most logical blocks one UNMAP may deallocate (VPD Block Limits MAXIMUM UNMAP LBA COUNT).
/// libiscsi holds an explicit limit above 1 Mi blocks for insane; 1 Mi blocks of 4096 bytes is
/// still 4 GiB per command.
pub(crate) const MAX_UNMAP_LBA_COUNT: u32 = 1 << 20;
/// Most block descriptors in one UNMAP parameter list (MAXIMUM UNMAP BLOCK DESCRIPTOR COUNT).
pub(crate) const MAX_UNMAP_DESCRIPTORS: u32 = 256;

/// UNMAP parameter list header and block descriptor sizes.
const HEADER: usize = 8;
const DESCRIPTOR: usize = 16;

/// Most LBA status descriptors one GET LBA STATUS returns: each costs a backend query.
const MAX_LBA_STATUS_DESCRIPTORS: usize = 64;
/// PROVISIONING STATUS values (SBC-4 table 66).
const MAPPED: u8 = 0x0;
const DEALLOCATED: u8 = 0x1;

pub(crate) fn precheck<B: BlockBackend>(
    kind: Kind,
    lun: Option<&Lun<B>>,
    cdb: &[u8],
) -> Result<Plan, Sense> {
    let lun = lun.ok_or(asc::LOGICAL_UNIT_NOT_SUPPORTED)?;
    match kind {
        Kind::Unmap => {
            // LBPU follows thin provisioning: a fully provisioned LUN has no UNMAP command,
            // as SBC-4 has it for a device server that does not implement one.
            if !lun.thin() {
                return Err(asc::INVALID_COMMAND_OPERATION_CODE);
            }
            if lun.write_protected() {
                return Err(asc::WRITE_PROTECTED);
            }
            let length = be16(cdb, 7);
            if length != 0 && usize::from(length) < HEADER {
                return Err(asc::PARAMETER_LIST_LENGTH_ERROR);
            }
            // Where the descriptors fall is known only from the data-out, so the command
            // orders against every other command touching the medium.
            Ok(Plan {
                range: (0, lun.blocks()),
                data_out_len: u32::from(length),
                data_in_len: 0,
                exact_data_out: false,
            })
        }
        _ => {
            let lba = be64(cdb, 2);
            if lba >= lun.blocks() {
                return Err(asc::LBA_OUT_OF_RANGE);
            }
            let most = HEADER + DESCRIPTOR * MAX_LBA_STATUS_DESCRIPTORS;
            Ok(Plan {
                range: (lba, lun.blocks()),
                data_out_len: 0,
                data_in_len: be32(cdb, 10).min(most as u32),
                exact_data_out: false,
            })
        }
    }
}

pub(crate) async fn execute<B: BlockBackend>(
    ctx: &Ctx<'_, B>,
    kind: Kind,
    data_out: Vec<u8>,
) -> CommandResult {
    let Some(lun) = ctx.lun else {
        ctx.device.buffers.give(data_out);
        return ctx.fail(&asc::LOGICAL_UNIT_NOT_SUPPORTED);
    };
    match kind {
        Kind::Unmap => {
            let result = unmap(ctx, lun, &data_out).await;
            ctx.device.buffers.give(data_out);
            match result {
                Ok(()) => CommandResult::good(Vec::new()),
                Err(sense) => ctx.fail(&sense),
            }
        }
        _ => {
            ctx.device.buffers.give(data_out);
            match get_lba_status(ctx, lun).await {
                Ok(r) => r,
                Err(sense) => ctx.fail(&sense),
            }
        }
    }
}

/// The block descriptors of a validated parameter list: (LBA, number of blocks).
fn descriptors(list: &[u8], count: usize) -> impl Iterator<Item = (u64, u64)> + '_ {
    list.get(HEADER..)
        .unwrap_or(&[])
        .chunks_exact(DESCRIPTOR)
        .take(count)
        .map(|d| (be64(d, 0), u64::from(be32(d, 8))))
}

/// Checks the whole parameter list before anything is deallocated; returns how many block
/// descriptors it holds.
fn validate<B: BlockBackend>(lun: &Lun<B>, list: &[u8]) -> Result<usize, Sense> {
    if list.len() < HEADER {
        // Fewer bytes arrived than the header needs.
        return Err(asc::PARAMETER_LIST_LENGTH_ERROR);
    }
    let data_length = usize::from(be16(list, 0));
    let descriptor_length = usize::from(be16(list, 2));
    // The header must describe data that was sent, and its two lengths must agree.
    if data_length + 2 > list.len() {
        return Err(Sense::invalid_field_in_parameter_list(0, None));
    }
    if descriptor_length + HEADER > list.len() || descriptor_length + HEADER - 2 > data_length {
        return Err(Sense::invalid_field_in_parameter_list(2, None));
    }
    // An incomplete last descriptor is ignored (SBC-4 §5.32.2).
    let count = descriptor_length / DESCRIPTOR;
    if count > MAX_UNMAP_DESCRIPTORS as usize {
        return Err(Sense::invalid_field_in_parameter_list(2, None));
    }
    let mut total = 0u64;
    for (i, (lba, blocks)) in descriptors(list, count).enumerate() {
        block_range(lun, lba, blocks)?;
        total = total.saturating_add(blocks);
        if total > u64::from(MAX_UNMAP_LBA_COUNT) {
            let number_of_blocks = HEADER + i * DESCRIPTOR + 8;
            return Err(Sense::invalid_field_in_parameter_list(
                number_of_blocks as u16,
                None,
            ));
        }
    }
    Ok(count)
}

async fn unmap<B: BlockBackend>(ctx: &Ctx<'_, B>, lun: &Lun<B>, list: &[u8]) -> Result<(), Sense> {
    if be16(ctx.cdb, 7) == 0 {
        return Ok(());
    }
    let count = validate(lun, list)?;
    let bs = u64::from(lun.block_size());
    for (lba, blocks) in descriptors(list, count).filter(|&(_, n)| n > 0) {
        let offset = byte_offset(lun, lba)?;
        // block_range accepted lba + blocks, so its size in bytes is within the medium.
        let len = blocks.saturating_mul(bs);
        if lun.backend.can_deallocate() {
            lun.backend
                .unmap(offset, len)
                .await
                .map_err(|e| medium_error(e.kind, lba, true))?;
        } else {
            // Deallocated blocks must read as zeros (LBPRZ); this medium cannot forget them.
            fill(ctx, lun, offset, len, None).await?;
        }
    }
    Ok(())
}

async fn get_lba_status<B: BlockBackend>(
    ctx: &Ctx<'_, B>,
    lun: &Lun<B>,
) -> Result<CommandResult, Sense> {
    let lba = be64(ctx.cdb, 2);
    let allocation_length = be32(ctx.cdb, 10) as usize;
    if lba >= lun.blocks() {
        return Err(asc::LBA_OUT_OF_RANGE);
    }
    if allocation_length == 0 {
        return Ok(CommandResult::good(Vec::new()));
    }
    // At least one descriptor, even when the allocation length cuts it off: PARAMETER DATA
    // LENGTH then still tells the initiator how much there is.
    let room = allocation_length.saturating_sub(HEADER) / DESCRIPTOR;
    let wanted = room.clamp(1, MAX_LBA_STATUS_DESCRIPTORS);
    let bs = block_len(lun) as u64;
    let mut data = ctx.device.buffers.take(HEADER + wanted * DESCRIPTOR);
    let mut at = lba;
    let mut count = 0;
    while count < wanted && at < lun.blocks() {
        // A descriptor's NUMBER OF LOGICAL BLOCKS is 32 bits wide.
        let most = (lun.blocks() - at).min(u64::from(u32::MAX));
        let (mapped, blocks) = if lun.thin() {
            let extent = lun
                .backend
                .extent(at.saturating_mul(bs), most.saturating_mul(bs))
                .await;
            match extent {
                // A run ending inside a block is reported to the end of that block.
                Ok(e) => (e.mapped, e.len.div_ceil(bs).clamp(1, most)),
                Err(e) => {
                    ctx.device.buffers.give(data);
                    return Err(medium_error(e.kind, at, false));
                }
            }
        } else {
            // A fully provisioned LUN has every block mapped, whatever the medium keeps.
            (true, most)
        };
        let d = HEADER + count * DESCRIPTOR;
        put(&mut data, d, &at.to_be_bytes());
        put(&mut data, d + 8, &(blocks as u32).to_be_bytes());
        put(
            &mut data,
            d + 12,
            &[if mapped { MAPPED } else { DEALLOCATED }],
        );
        at += blocks;
        count += 1;
    }
    data.truncate(HEADER + count * DESCRIPTOR);
    // PARAMETER DATA LENGTH counts the bytes after itself.
    let parameter_length = (data.len() - 4) as u32;
    put(&mut data, 0, &parameter_length.to_be_bytes());
    Ok(ctx.data_in(data, allocation_length))
}

#[cfg(test)]
mod tests {
    use super::super::memory_fixture::{MemFixture, BLOCKS};
    use super::super::test_support::*;
    use super::{MAX_UNMAP_DESCRIPTORS, MAX_UNMAP_LBA_COUNT};
    use crate::cdb::{be32, be64};
    use crate::device::{CommandRequest, Completion, Submission};
    use crate::lun_address;
    use crate::status::CommandResult;
    use crate::task_set::TaskAttribute;
    use alloc::vec;
    use alloc::vec::Vec;

    fn unmap_cdb(anchor: bool, length: u16) -> Vec<u8> {
        let mut c = vec![0x42, u8::from(anchor), 0, 0, 0, 0, 0, 0, 0, 0];
        c[7..9].copy_from_slice(&length.to_be_bytes());
        c
    }

    fn list(descriptors: &[(u64, u32)]) -> Vec<u8> {
        let n = 8 + 16 * descriptors.len();
        let mut l = vec![0u8; n];
        l[0..2].copy_from_slice(&((n - 2) as u16).to_be_bytes());
        l[2..4].copy_from_slice(&((n - 8) as u16).to_be_bytes());
        for (i, (lba, blocks)) in descriptors.iter().enumerate() {
            let d = 8 + 16 * i;
            l[d..d + 8].copy_from_slice(&lba.to_be_bytes());
            l[d + 8..d + 12].copy_from_slice(&blocks.to_be_bytes());
        }
        l
    }

    fn run_unmap(f: &MemFixture, l: &[u8]) -> CommandResult {
        f.run(&unmap_cdb(false, l.len() as u16), l)
    }

    fn ipl_at(r: &CommandResult, byte: u16) {
        assert_eq!(sense_code(&r.sense), (0x05, 0x26, 0x00), "{:02x?}", r.sense);
        let sks = &r.sense[15..18];
        assert_eq!(sks[0] & 0xC0, 0x80, "SKSV set, C/D clear: {:02x?}", r.sense);
        assert_eq!(u16::from_be_bytes([sks[1], sks[2]]), byte);
    }

    fn get_lba_status(lba: u64, allocation: u32) -> Vec<u8> {
        let mut c = vec![0u8; 16];
        c[0] = 0x9E;
        c[1] = 0x12;
        c[2..10].copy_from_slice(&lba.to_be_bytes());
        c[10..14].copy_from_slice(&allocation.to_be_bytes());
        c
    }

    #[test]
    fn unmap_deallocates_every_descriptor_and_reads_back_zeros() {
        let f = MemFixture::new(true);
        f.put(0, &[b'a'; 512 * 64]);
        good(run_unmap(&f, &list(&[(0, 4), (10, 2), (20, 0)])));
        assert_eq!(f.backend_bytes(0, 4), vec![0; 2048]);
        assert_eq!(f.backend_bytes(4, 6), vec![b'a'; 3072]);
        assert_eq!(f.backend_bytes(10, 2), vec![0; 1024]);
        assert!(!f.lun().backend.is_mapped(11));
        assert!(f.lun().backend.is_mapped(12));
        // A zero-length descriptor does nothing.
        assert_eq!(f.lun().backend.unmaps.get(), 2);
        // ANCHOR on a thin LUN deallocates too.
        good(f.run(&unmap_cdb(true, 24), &list(&[(30, 1)])));
        assert_eq!(f.backend_bytes(30, 1), vec![0; 512]);
    }

    #[test]
    fn empty_lists_are_good() {
        let f = MemFixture::new(true);
        good(f.run(&unmap_cdb(false, 0), &[]));
        good(run_unmap(&f, &list(&[])));
        good(run_unmap(&f, &list(&[(BLOCKS, 0)])));
        assert_eq!(f.lun().backend.unmaps.get(), 0);
    }

    #[test]
    fn unmap_without_thin_provisioning_is_not_a_command() {
        let f = MemFixture::new(false);
        let r = run_unmap(&f, &list(&[(0, 1)]));
        assert_eq!(sense_code(&r.sense), (0x05, 0x20, 0x00));
    }

    #[test]
    fn descriptors_past_the_end_or_overflowing_are_out_of_range_and_change_nothing() {
        let f = MemFixture::new(true);
        f.put(0, &[1; 512]);
        for bad in [
            (BLOCKS - 1, 2),
            (BLOCKS + 1, 0),
            (u64::MAX, 1),
            (1 << 63, u32::MAX),
        ] {
            let r = run_unmap(&f, &list(&[(0, 1), bad]));
            assert_eq!(sense_code(&r.sense), (0x05, 0x21, 0x00), "{bad:?}");
        }
        assert_eq!(f.backend_bytes(0, 1), vec![1; 512]);
        assert_eq!(f.lun().backend.unmaps.get(), 0);
        assert!(!f.lun().backend.outside.get());
    }

    #[test]
    fn wrong_parameter_list_lengths_are_refused() {
        let f = MemFixture::new(true);
        // PARAMETER LIST LENGTH shorter than the header.
        let r = f.run(&unmap_cdb(false, 7), &[0; 7]);
        assert_eq!(sense_code(&r.sense), (0x05, 0x1A, 0x00));
        // The initiator sent less than the header.
        let r = f.run_edtl(&unmap_cdb(false, 24), &list(&[(0, 1)]), 6);
        assert_eq!(sense_code(&r.sense), (0x05, 0x1A, 0x00));
        // UNMAP DATA LENGTH claims more than was sent.
        let mut l = list(&[(0, 1)]);
        l[1] = 40;
        ipl_at(&run_unmap(&f, &l), 0);
        // BLOCK DESCRIPTOR DATA LENGTH claims more than was sent.
        let mut l = list(&[(0, 1)]);
        l[3] = 32;
        ipl_at(&run_unmap(&f, &l), 2);
        // ... or more than UNMAP DATA LENGTH leaves room for.
        let mut l = list(&[(0, 1)]);
        l[0..2].copy_from_slice(&10u16.to_be_bytes());
        ipl_at(&run_unmap(&f, &l), 2);
        // An incomplete last descriptor is ignored.
        let mut l = list(&[(0, 1), (BLOCKS + 5, 1)]);
        l[3] -= 1;
        good(run_unmap(&f, &l));
    }

    #[test]
    fn limits_on_descriptors_and_blocks_are_enforced() {
        let f = MemFixture::new(true);
        let many: Vec<(u64, u32)> = (0..=MAX_UNMAP_DESCRIPTORS as u64).map(|i| (i, 1)).collect();
        ipl_at(&run_unmap(&f, &list(&many)), 2);
        good(run_unmap(&f, &list(&many[1..])));
        // The shared test backend holds no data, so a LUN this large costs nothing.
        let mut c = lun_config(0, u64::from(MAX_UNMAP_LBA_COUNT) + 8);
        c.thin = true;
        let f = Fixture::with(port_config(None), [c]);
        let run = |l: &[u8]| {
            let req = CommandRequest {
                nexus: f.nexus,
                lun: lun_address::encode(0),
                cdb: &unmap_cdb(false, l.len() as u16),
                tag: 1000,
                attr: TaskAttribute::Simple,
                data_out_len: l.len() as u32,
            };
            match f.device.submit(&req) {
                Submission::Complete(r) => r,
                Submission::Queued(t) => match block_on(f.device.execute(t, l.to_vec())) {
                    Completion::Done(r) => r,
                    Completion::Aborted(_) => panic!("aborted"),
                },
            }
        };
        good(run(&list(&[(0, MAX_UNMAP_LBA_COUNT)])));
        ipl_at(&run(&list(&[(0, MAX_UNMAP_LBA_COUNT), (8, 1)])), 8 + 16 + 8);
    }

    #[test]
    fn reserved_cdb_fields_and_write_protection() {
        let f = MemFixture::new(true);
        let mut c = unmap_cdb(false, 0);
        c[6] = 1;
        assert_invalid_field(&f.run(&c, &[]), 6);
        let mut c = unmap_cdb(false, 0);
        c[1] = 0x02;
        assert_invalid_field(&f.run(&c, &[]), 1);
        let mut c = lun_config(0, BLOCKS);
        c.thin = true;
        c.read_only = true;
        let f = MemFixture::with(c, true);
        let r = run_unmap(&f, &list(&[(0, 1)]));
        assert_eq!(sense_code(&r.sense), (0x07, 0x27, 0x00));
    }

    #[test]
    fn thin_lun_whose_backend_cannot_deallocate_is_zeroed() {
        let mut c = lun_config(0, BLOCKS);
        c.thin = true;
        let f = MemFixture::with(c, false);
        f.put(5, &[3; 1024]);
        good(run_unmap(&f, &list(&[(5, 2)])));
        assert_eq!(f.backend_bytes(5, 2), vec![0; 1024]);
    }

    #[test]
    fn lba_status_reports_mapped_and_deallocated_runs() {
        let f = MemFixture::new(true);
        f.put(8, &[1; 512 * 8]);
        let d = good(f.run(&get_lba_status(0, 1024), &[]));
        // Three runs: 0-7 deallocated, 8-15 mapped, 16.. deallocated.
        assert_eq!(be32(&d, 0) as usize, d.len() - 4);
        assert_eq!(d.len(), 8 + 3 * 16);
        let desc = |i: usize| {
            let x = &d[8 + 16 * i..];
            (be64(x, 0), be32(x, 8), x[12] & 0x0F)
        };
        assert_eq!(desc(0), (0, 8, 1));
        assert_eq!(desc(1), (8, 8, 0));
        assert_eq!(desc(2), (16, BLOCKS as u32 - 16, 1));
        // Starting inside a run, and cut to the allocation length.
        let d = good(f.run(&get_lba_status(10, 24), &[]));
        assert_eq!(d.len(), 24);
        assert_eq!(be64(&d, 8), 10);
        assert_eq!(be32(&d, 16), 6);
        let d = good(f.run(&get_lba_status(10, 12), &[]));
        assert_eq!(d.len(), 12);
        assert_eq!(be32(&d, 0), 20);
        assert!(good(f.run(&get_lba_status(10, 0), &[])).is_empty());
    }

    #[test]
    fn lba_status_of_a_fully_provisioned_lun_is_all_mapped() {
        let f = MemFixture::new(false);
        let d = good(f.run(&get_lba_status(BLOCKS - 1, 64), &[]));
        assert_eq!(d.len(), 24);
        assert_eq!((be64(&d, 8), be32(&d, 16), d[20]), (BLOCKS - 1, 1, 0));
    }

    #[test]
    fn lba_status_past_the_end_is_out_of_range() {
        let f = Fixture::new();
        for lba in [2048, 2049, 1 << 63, u64::MAX] {
            let r = f.run(0, &get_lba_status(lba, 24));
            assert_eq!(sense_code(&r.sense), (0x05, 0x21, 0x00));
        }
        let mut c = get_lba_status(0, 24);
        c[14] = 1;
        assert_invalid_field(&f.run(0, &c), 14);
    }
}
