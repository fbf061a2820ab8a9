//! Command handlers, one file per command family, and the dispatch from the command table.

mod inquiry;
mod mode_sense;
mod read_capacity;
mod read_write;
mod report_luns;
mod request_sense;
mod synchronize_cache;
#[cfg(test)]
mod test_support;
pub(crate) mod vpd;

use crate::backend::BlockBackend;
use crate::device::TargetDevice;
use crate::lun::Lun;
use crate::nexus::{NexusId, PortConfig};
use crate::sense::{asc, Sense};
use crate::status::CommandResult;
use crate::table::{CommandEntry, Kind};
use alloc::vec::Vec;

/// Everything a handler may look at while it runs.
pub(crate) struct Ctx<'a, B: BlockBackend> {
    pub device: &'a TargetDevice<B>,
    /// `None` when the LUN does not exist on this port (only OK_ON_NO_LUN commands get here).
    pub lun: Option<&'a Lun<B>>,
    pub port: &'a PortConfig,
    pub nexus: NexusId,
    pub cdb: &'a [u8],
}

impl<B: BlockBackend> Ctx<'_, B> {
    /// CHECK CONDITION in the sense format the LUN is set to.
    pub fn fail(&self, sense: &Sense) -> CommandResult {
        CommandResult::check_condition(sense, self.lun.is_some_and(|l| l.descriptor_sense()))
    }

    /// GOOD with `data` cut to the allocation length.
    pub fn data_in(&self, mut data: Vec<u8>, allocation_length: usize) -> CommandResult {
        data.truncate(allocation_length);
        CommandResult::good(data)
    }
}

/// What admission learnt from the CDB: the block range the command touches (for ordering)
/// and how much data-out it needs.
pub(crate) struct Plan {
    pub range: (u64, u64),
    pub data_out_len: u32,
    /// Data-in the command will produce, counted against the buffer budget.
    pub data_in_len: u32,
}

impl Plan {
    const NONE: Plan = Plan {
        range: (0, 0),
        data_out_len: 0,
        data_in_len: 0,
    };
}

/// Checks that need the CDB and the LUN but no data: ranges, write protection, lengths.
pub(crate) fn precheck<B: BlockBackend>(
    command: &CommandEntry,
    lun: Option<&Lun<B>>,
    cdb: &[u8],
) -> Result<Plan, Sense> {
    match command.kind {
        Kind::Read6 | Kind::Read10 | Kind::Read12 | Kind::Read16 => {
            let lun = lun.ok_or(asc::LOGICAL_UNIT_NOT_SUPPORTED)?;
            read_write::precheck(command.kind, lun, cdb, false)
        }
        Kind::Write6 | Kind::Write10 | Kind::Write12 | Kind::Write16 => {
            let lun = lun.ok_or(asc::LOGICAL_UNIT_NOT_SUPPORTED)?;
            read_write::precheck(command.kind, lun, cdb, true)
        }
        Kind::SynchronizeCache10 | Kind::SynchronizeCache16 => {
            let lun = lun.ok_or(asc::LOGICAL_UNIT_NOT_SUPPORTED)?;
            synchronize_cache::precheck(command.kind, lun, cdb)
        }
        _ => Ok(Plan::NONE),
    }
}

pub(crate) async fn execute<B: BlockBackend>(
    ctx: &Ctx<'_, B>,
    command: &CommandEntry,
    data_out: Vec<u8>,
) -> CommandResult {
    match command.kind {
        Kind::TestUnitReady => CommandResult::good(Vec::new()),
        Kind::RequestSense => request_sense::request_sense(ctx),
        Kind::Inquiry => inquiry::inquiry(ctx),
        Kind::ModeSense6 => mode_sense::mode_sense(ctx, false),
        Kind::ModeSense10 => mode_sense::mode_sense(ctx, true),
        Kind::ReadCapacity10 => read_capacity::read_capacity10(ctx),
        Kind::ReadCapacity16 => read_capacity::read_capacity16(ctx),
        Kind::ReportLuns => report_luns::report_luns(ctx),
        Kind::Read6 | Kind::Read10 | Kind::Read12 | Kind::Read16 => {
            ctx.device.buffers.give(data_out);
            read_write::read(ctx, command.kind).await
        }
        Kind::Write6 | Kind::Write10 | Kind::Write12 | Kind::Write16 => {
            read_write::write(ctx, command.kind, data_out).await
        }
        Kind::SynchronizeCache10 | Kind::SynchronizeCache16 => {
            ctx.device.buffers.give(data_out);
            synchronize_cache::synchronize_cache(ctx).await
        }
    }
}
