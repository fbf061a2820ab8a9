//! SYNCHRONIZE CACHE (10, 16): makes every completed write durable.

use super::{Ctx, Plan};
use crate::backend::BlockBackend;
use crate::cdb::{be16, be32, be64};
use crate::lun::Lun;
use crate::sense::{asc, Sense};
use crate::status::CommandResult;
use alloc::vec::Vec;

use crate::table::{AccessClass as A, CommandEntry as E, Flags as F, Kind};

pub(crate) const ENTRIES: &[E] = &[
    E::new(
        0x35,
        "SYNCHRONIZE CACHE(10)",
        Kind::SynchronizeCache10,
        F::NONE,
        A::Flush,
        &[0x35, 0x06, 0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0xFF, 0xFF, 0x07],
    ),
    E::new(
        0x91,
        "SYNCHRONIZE CACHE(16)",
        Kind::SynchronizeCache16,
        F::NONE,
        A::Flush,
        &[
            0x91, 0x06, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
            0x00, 0x07,
        ],
    ),
];

pub(crate) fn precheck<B: BlockBackend>(
    kind: Kind,
    lun: &Lun<B>,
    cdb: &[u8],
) -> Result<Plan, Sense> {
    let (lba, blocks) = match kind {
        Kind::SynchronizeCache10 => (u64::from(be32(cdb, 2)), u64::from(be16(cdb, 7))),
        _ => (be64(cdb, 2), u64::from(be32(cdb, 10))),
    };
    let end = lba.checked_add(blocks).ok_or(asc::LBA_OUT_OF_RANGE)?;
    // Zero blocks means "through the last block": the starting block must still exist.
    if lba >= lun.blocks() {
        return Err(asc::LBA_OUT_OF_RANGE);
    }
    if end > lun.blocks() {
        return Err(asc::LBA_OUT_OF_RANGE);
    }
    Ok(Plan::NONE)
}

pub(crate) async fn synchronize_cache<B: BlockBackend>(ctx: &Ctx<'_, B>) -> CommandResult {
    let Some(lun) = ctx.lun else {
        return ctx.fail(&asc::LOGICAL_UNIT_NOT_SUPPORTED);
    };
    // The whole LUN is flushed: a partial flush buys nothing on a file or block device.
    match lun.backend.flush().await {
        Ok(()) => CommandResult::good(Vec::new()),
        Err(_) => ctx.fail(&asc::WRITE_ERROR),
    }
}
