//! READ and WRITE (6, 10, 12, 16): the data path.

use super::{Ctx, Plan};
use crate::backend::BlockBackend;
use crate::cdb::{be16, be24, be32, be64, byte};
use crate::lun::Lun;
use crate::sense::{asc, Sense};
use crate::status::CommandResult;
use alloc::vec::Vec;

use super::block_access::medium_error;
use crate::table::{AccessClass as A, CommandEntry as E, Flags as F, Kind};

/// READ and WRITE (6, 10, 12, 16).
pub(crate) const ENTRIES: &[E] = &[
    E::new(
        0x08,
        "READ(6)",
        Kind::Read6,
        crate::table::READ,
        A::Read,
        &[0x08, 0x1F, 0xFF, 0xFF, 0xFF, 0x07],
    ),
    E::new(
        0x0A,
        "WRITE(6)",
        Kind::Write6,
        F::DATA_OUT,
        A::Write,
        &[0x0A, 0x1F, 0xFF, 0xFF, 0xFF, 0x07],
    ),
    E::new(
        0x28,
        "READ(10)",
        Kind::Read10,
        crate::table::READ,
        A::Read,
        &[0x28, 0x1A, 0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0xFF, 0xFF, 0x07],
    ),
    E::new(
        0x2A,
        "WRITE(10)",
        Kind::Write10,
        F::DATA_OUT,
        A::Write,
        &[0x2A, 0x1A, 0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0xFF, 0xFF, 0x07],
    ),
    E::new(
        0x88,
        "READ(16)",
        Kind::Read16,
        crate::table::READ,
        A::Read,
        &[
            0x88, 0x1A, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
            0x00, 0x07,
        ],
    ),
    E::new(
        0x8A,
        "WRITE(16)",
        Kind::Write16,
        F::DATA_OUT,
        A::Write,
        &[
            0x8A, 0x1A, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
            0x00, 0x07,
        ],
    ),
    E::new(
        0xA8,
        "READ(12)",
        Kind::Read12,
        crate::table::READ,
        A::Read,
        &[
            0xA8, 0x1A, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x07,
        ],
    ),
    E::new(
        0xAA,
        "WRITE(12)",
        Kind::Write12,
        F::DATA_OUT,
        A::Write,
        &[
            0xAA, 0x1A, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x07,
        ],
    ),
];

/// Largest single transfer, advertised in the Block Limits VPD page; bounds the memory one
/// command can make us allocate.
pub(crate) const MAX_TRANSFER_BYTES: u64 = 8 << 20;

struct Access {
    lba: u64,
    blocks: u64,
    fua: bool,
    /// CDB byte holding the transfer length, for the sense field pointer.
    length_byte: u16,
}

fn decode(kind: Kind, cdb: &[u8]) -> Access {
    let fua = byte(cdb, 1) & 0x08 != 0;
    match kind {
        Kind::Read6 | Kind::Write6 => {
            let blocks = match byte(cdb, 4) {
                0 => 256,
                n => u64::from(n),
            };
            Access {
                lba: u64::from(be24(cdb, 1) & 0x1F_FFFF),
                blocks,
                fua: false,
                length_byte: 4,
            }
        }
        Kind::Read10 | Kind::Write10 => Access {
            lba: u64::from(be32(cdb, 2)),
            blocks: u64::from(be16(cdb, 7)),
            fua,
            length_byte: 7,
        },
        Kind::Read12 | Kind::Write12 => Access {
            lba: u64::from(be32(cdb, 2)),
            blocks: u64::from(be32(cdb, 6)),
            fua,
            length_byte: 6,
        },
        _ => Access {
            lba: be64(cdb, 2),
            blocks: u64::from(be32(cdb, 10)),
            fua,
            length_byte: 10,
        },
    }
}

pub(crate) fn precheck<B: BlockBackend>(
    kind: Kind,
    lun: &Lun<B>,
    cdb: &[u8],
    write: bool,
) -> Result<Plan, Sense> {
    let a = decode(kind, cdb);
    let end = a.lba.checked_add(a.blocks).ok_or(asc::LBA_OUT_OF_RANGE)?;
    if end > lun.blocks() {
        return Err(asc::LBA_OUT_OF_RANGE);
    }
    let bytes = a.blocks * u64::from(lun.block_size());
    if bytes > MAX_TRANSFER_BYTES {
        return Err(Sense::invalid_field_in_cdb(a.length_byte, None));
    }
    if write && lun.write_protected() {
        return Err(asc::WRITE_PROTECTED);
    }
    Ok(Plan {
        range: (a.lba, end),
        data_out_len: if write { bytes as u32 } else { 0 },
        data_in_len: if write { 0 } else { bytes as u32 },
        exact_data_out: false,
    })
}

pub(crate) async fn read<B: BlockBackend>(ctx: &Ctx<'_, B>, kind: Kind) -> CommandResult {
    let Some(lun) = ctx.lun else {
        return ctx.fail(&asc::LOGICAL_UNIT_NOT_SUPPORTED);
    };
    let a = decode(kind, ctx.cdb);
    let bs = u64::from(lun.block_size());
    let len = (a.blocks * bs) as usize;
    if len == 0 {
        return CommandResult::good(Vec::new());
    }
    let buf = ctx.device.buffers.take(len);
    let (buf, r) = lun.backend.read(a.lba * bs, buf).await;
    match r {
        Ok(()) => {
            lun.stats.record_read(len as u64);
            CommandResult::good(buf)
        }
        Err(e) => {
            ctx.device.buffers.give(buf);
            ctx.fail(&medium_error(e.kind, a.lba, false))
        }
    }
}

pub(crate) async fn write<B: BlockBackend>(
    ctx: &Ctx<'_, B>,
    kind: Kind,
    data: Vec<u8>,
) -> CommandResult {
    let Some(lun) = ctx.lun else {
        ctx.device.buffers.give(data);
        return ctx.fail(&asc::LOGICAL_UNIT_NOT_SUPPORTED);
    };
    let a = decode(kind, ctx.cdb);
    let bs = u64::from(lun.block_size());
    if a.blocks == 0 {
        ctx.device.buffers.give(data);
        return CommandResult::good(Vec::new());
    }
    let full = a.blocks * bs;
    let mut data = data;
    let len = data.len() as u64;
    if len > full {
        data.truncate(full as usize);
    } else if len < full {
        // The initiator sent less than the CDB asked for (EDTL < SPDTL): write exactly what
        // came, completing a trailing partial block with what the medium holds.
        let tail = len % bs;
        if len == 0 {
            ctx.device.buffers.give(data);
            return CommandResult::good(Vec::new());
        }
        if tail != 0 {
            let block_start = a.lba * bs + (len - tail);
            let old = ctx.device.buffers.take(bs as usize);
            let (old, r) = lun.backend.read(block_start, old).await;
            if let Err(e) = r {
                ctx.device.buffers.give(old);
                ctx.device.buffers.give(data);
                return ctx.fail(&medium_error(e.kind, a.lba, false));
            }
            data.extend_from_slice(old.get(tail as usize..).unwrap_or(&[]));
            ctx.device.buffers.give(old);
        }
    }
    let written = data.len() as u64;
    let (buf, r) = lun.backend.write(a.lba * bs, data, a.fua).await;
    ctx.device.buffers.give(buf);
    match r {
        Ok(()) => {
            lun.stats.record_write(written);
            CommandResult::good(Vec::new())
        }
        Err(e) => ctx.fail(&medium_error(e.kind, a.lba, true)),
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use crate::device::{CommandRequest, Submission};
    use crate::lun_address;
    use crate::status::ScsiStatus;
    use crate::task_set::TaskAttribute;

    fn read10(lba: u32, blocks: u16) -> [u8; 10] {
        let l = lba.to_be_bytes();
        let n = blocks.to_be_bytes();
        [0x28, 0, l[0], l[1], l[2], l[3], 0, n[0], n[1], 0]
    }

    fn submit(f: &Fixture, tag: u64, cdb: &[u8]) -> Submission<TestBackend> {
        f.device.submit(&CommandRequest {
            nexus: f.nexus,
            lun: lun_address::encode(0),
            cdb,
            tag,
            attr: TaskAttribute::Simple,
            data_out_len: 0,
        })
    }

    #[test]
    fn commands_beyond_the_data_budget_get_task_set_full_until_others_end() {
        let f = Fixture::new();
        f.device.buffers.set_budget(64 * 512);
        let Submission::Queued(first) = submit(&f, 1, &read10(0, 64)) else {
            panic!("first read should be admitted");
        };
        match submit(&f, 2, &read10(64, 1)) {
            Submission::Complete(r) => assert_eq!(r.scsi_status(), ScsiStatus::TaskSetFull),
            Submission::Queued(_) => panic!("the budget is spent"),
        }
        drop(first);
        assert_eq!(f.device.buffers.reserved(), 0);
        assert!(matches!(
            submit(&f, 3, &read10(64, 1)),
            Submission::Queued(_)
        ));
    }

    #[test]
    fn reads_past_the_end_and_oversized_transfers_are_refused() {
        let f = Fixture::new();
        let r = f.run(0, &read10(2047, 2));
        assert_eq!(sense_code(&r.sense), (0x05, 0x21, 0x00));
        let mut huge = [0u8; 16];
        huge[0] = 0x88;
        huge[10..14].copy_from_slice(&u32::MAX.to_be_bytes());
        let r = f.run(0, &huge);
        assert_eq!(sense_code(&r.sense), (0x05, 0x21, 0x00));
        good(f.run(0, &read10(2047, 1)));
    }
}
