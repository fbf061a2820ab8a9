//! READ and WRITE (6, 10, 12, 16): the data path.

use super::{Ctx, Plan};
use crate::backend::{BackendErrorKind, BlockBackend};
use crate::cdb::{be16, be24, be32, be64, byte};
use crate::lun::Lun;
use crate::sense::{asc, Sense};
use crate::status::CommandResult;
use crate::table::Kind;
use alloc::vec::Vec;

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
    })
}

fn medium_error(kind: BackendErrorKind, lba: u64, write: bool) -> Sense {
    match kind {
        BackendErrorKind::NoMedium => asc::MEDIUM_NOT_PRESENT,
        BackendErrorKind::NoSpace => Sense::new(crate::sense::SenseKey::DataProtect, 0x27, 0x07),
        BackendErrorKind::Unavailable => asc::INTERNAL_TARGET_FAILURE,
        _ if write => asc::WRITE_ERROR.with_information(lba),
        _ => asc::UNRECOVERED_READ_ERROR.with_information(lba),
    }
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
        Ok(()) => CommandResult::good(buf),
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
    let (buf, r) = lun.backend.write(a.lba * bs, data, a.fua).await;
    ctx.device.buffers.give(buf);
    match r {
        Ok(()) => CommandResult::good(Vec::new()),
        Err(e) => ctx.fail(&medium_error(e.kind, a.lba, true)),
    }
}
