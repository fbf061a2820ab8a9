//! Command handlers, one file per command family, each owning its command table entries, and
//! the dispatch from the command table to them.

mod aptpl;
mod block_access;
mod buffer;
mod compare_and_write;
mod format_unit;
mod inquiry;
mod log_sense;
mod maintenance_in;
#[cfg(test)]
mod memory_fixture;
mod mode_select;
mod mode_sense;
mod persistent_reserve;
mod prefetch;
mod read_capacity;
mod read_defect_data;
mod read_write;
mod report_luns;
mod request_sense;
mod reservation_conflict;
mod reserve_release;
mod sanitize;
mod start_stop;
pub(crate) mod statistics;
mod synchronize_cache;
#[cfg(test)]
pub(crate) mod test_support;
mod unmap;
mod verify;
pub(crate) mod vpd;
mod write_atomic;
mod write_same;

pub(crate) use aptpl::restore_reservations;
pub(crate) use buffer::BufferState;
pub(crate) use mode_select::restore_saved_mode;
pub(crate) use reservation_conflict::reservation_conflict;
pub(crate) use sanitize::SanitizeState;
pub(crate) use start_stop::MediumState;

use crate::backend::BlockBackend;
use crate::device::TargetDevice;
use crate::lun::Lun;
use crate::nexus::{NexusId, PortConfig};
use crate::sense::{asc, Sense};
use crate::status::CommandResult;
use crate::table::{CommandEntry, Kind};
use crate::task_set::TaskEntry;

/// Every family's entries; the data path's first, as lookup scans them in this order.
pub(crate) const FAMILIES: &[&[CommandEntry]] = &[
    read_write::ENTRIES,
    start_stop::ENTRIES,
    synchronize_cache::ENTRIES,
    verify::ENTRIES,
    write_same::ENTRIES,
    unmap::ENTRIES,
    compare_and_write::ENTRIES,
    write_atomic::ENTRIES,
    prefetch::ENTRIES,
    request_sense::ENTRIES,
    inquiry::ENTRIES,
    report_luns::ENTRIES,
    read_capacity::ENTRIES,
    mode_sense::ENTRIES,
    mode_select::ENTRIES,
    log_sense::ENTRIES,
    format_unit::ENTRIES,
    sanitize::ENTRIES,
    read_defect_data::ENTRIES,
    buffer::ENTRIES,
    maintenance_in::ENTRIES,
    persistent_reserve::ENTRIES,
    reserve_release::ENTRIES,
];
use alloc::vec::Vec;

/// Everything a handler may look at while it runs.
pub(crate) struct Ctx<'a, B: BlockBackend> {
    pub device: &'a TargetDevice<B>,
    /// `None` when the LUN does not exist on this port (only OK_ON_NO_LUN commands get here).
    pub lun: Option<&'a Lun<B>>,
    pub port: &'a PortConfig,
    pub nexus: NexusId,
    pub cdb: &'a [u8],
    /// The command's place in the task set (`None` for LUN-less commands).
    pub task: Option<&'a TaskEntry>,
}

impl<B: BlockBackend> Ctx<'_, B> {
    /// Whether task management has aborted this command while it runs.
    pub fn is_aborted(&self) -> bool {
        self.task.is_some_and(|t| t.aborted.get().is_some())
    }

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
    /// The data-out must be exactly `data_out_len` (COMPARE AND WRITE, WRITE SAME): any other
    /// expected length is refused before data moves instead of being trimmed.
    pub exact_data_out: bool,
}

impl Plan {
    const NONE: Plan = Plan {
        range: (0, 0),
        data_out_len: 0,
        data_in_len: 0,
        exact_data_out: false,
    };

    /// A command that touches no blocks and takes a parameter list of up to `len` bytes.
    const fn parameter_list(len: u32) -> Plan {
        Plan {
            data_out_len: len,
            ..Plan::NONE
        }
    }

    /// A command that touches no blocks and returns up to `len` bytes.
    const fn data_in(len: u32) -> Plan {
        Plan {
            data_in_len: len,
            ..Plan::NONE
        }
    }
}

/// Checks that need the CDB and the LUN but no data: ranges, write protection, lengths.
pub(crate) fn precheck<B: BlockBackend>(
    command: &CommandEntry,
    lun: Option<&Lun<B>>,
    cdb: &[u8],
) -> Result<Plan, Sense> {
    use Kind::*;
    let kind = command.kind;
    match kind {
        Read6 | Read10 | Read12 | Read16 => read_write::precheck(
            kind,
            lun.ok_or(asc::LOGICAL_UNIT_NOT_SUPPORTED)?,
            cdb,
            false,
        ),
        Write6 | Write10 | Write12 | Write16 => {
            read_write::precheck(kind, lun.ok_or(asc::LOGICAL_UNIT_NOT_SUPPORTED)?, cdb, true)
        }
        SynchronizeCache10 | SynchronizeCache16 => {
            synchronize_cache::precheck(kind, lun.ok_or(asc::LOGICAL_UNIT_NOT_SUPPORTED)?, cdb)
        }
        TestUnitReady | StartStopUnit | PreventAllowMediumRemoval => {
            start_stop::precheck(kind, lun, cdb)
        }
        Verify10 | Verify12 | Verify16 | WriteAndVerify10 | WriteAndVerify12 | WriteAndVerify16 => {
            verify::precheck(kind, lun, cdb)
        }
        WriteSame10 | WriteSame16 => write_same::precheck(kind, lun, cdb),
        Unmap | GetLbaStatus => unmap::precheck(kind, lun, cdb),
        CompareAndWrite | OrWrite16 => compare_and_write::precheck(kind, lun, cdb),
        WriteAtomic16 => write_atomic::precheck(kind, lun, cdb),
        PreFetch10 | PreFetch16 => prefetch::precheck(kind, lun, cdb),
        FormatUnit => format_unit::precheck(kind, lun, cdb),
        Sanitize => sanitize::precheck(kind, lun, cdb),
        ReadDefectData10 | ReadDefectData12 => read_defect_data::precheck(kind, lun, cdb),
        ReadBuffer10 | ReadBuffer16 | WriteBuffer => buffer::precheck(kind, lun, cdb),
        ReportSupportedOperationCodes
        | ReportSupportedTaskManagementFunctions
        | ReportTimestamp
        | ReportTargetPortGroups => maintenance_in::precheck(kind, lun, cdb),
        ModeSelect6 | ModeSelect10 => mode_select::precheck(kind, lun, cdb),
        LogSense => log_sense::precheck(kind, lun, cdb),
        PersistentReserveIn | PersistentReserveOut => persistent_reserve::precheck(kind, lun, cdb),
        Reserve | Release => Ok(Plan::NONE),
        RequestSense | Inquiry | ReportLuns | ReadCapacity10 | ReadCapacity16 | ModeSense6
        | ModeSense10 => Ok(Plan::NONE),
    }
}

pub(crate) async fn execute<B: BlockBackend>(
    ctx: &Ctx<'_, B>,
    command: &CommandEntry,
    data_out: Vec<u8>,
) -> CommandResult {
    use Kind::*;
    let kind = command.kind;
    let buffers = &ctx.device.buffers;
    match kind {
        Read6 | Read10 | Read12 | Read16 => {
            buffers.give(data_out);
            read_write::read(ctx, kind).await
        }
        Write6 | Write10 | Write12 | Write16 => read_write::write(ctx, kind, data_out).await,
        SynchronizeCache10 | SynchronizeCache16 => {
            buffers.give(data_out);
            synchronize_cache::synchronize_cache(ctx).await
        }
        RequestSense | Inquiry | ReportLuns | ReadCapacity10 | ReadCapacity16 | ModeSense6
        | ModeSense10 => {
            buffers.give(data_out);
            match kind {
                RequestSense => request_sense::request_sense(ctx),
                Inquiry => inquiry::inquiry(ctx),
                ReportLuns => report_luns::report_luns(ctx),
                ReadCapacity10 => read_capacity::read_capacity10(ctx),
                ReadCapacity16 => read_capacity::read_capacity16(ctx),
                ModeSense6 => mode_sense::mode_sense(ctx, false),
                _ => mode_sense::mode_sense(ctx, true),
            }
        }
        TestUnitReady | StartStopUnit | PreventAllowMediumRemoval => {
            start_stop::execute(ctx, kind, data_out).await
        }
        Verify10 | Verify12 | Verify16 | WriteAndVerify10 | WriteAndVerify12 | WriteAndVerify16 => {
            verify::execute(ctx, kind, data_out).await
        }
        WriteSame10 | WriteSame16 => write_same::execute(ctx, kind, data_out).await,
        Unmap | GetLbaStatus => unmap::execute(ctx, kind, data_out).await,
        CompareAndWrite | OrWrite16 => compare_and_write::execute(ctx, kind, data_out).await,
        WriteAtomic16 => write_atomic::execute(ctx, kind, data_out).await,
        PreFetch10 | PreFetch16 => prefetch::execute(ctx, kind, data_out).await,
        FormatUnit => format_unit::execute(ctx, kind, data_out).await,
        Sanitize => sanitize::execute(ctx, kind, data_out).await,
        ReadDefectData10 | ReadDefectData12 => read_defect_data::execute(ctx, kind, data_out).await,
        ReadBuffer10 | ReadBuffer16 | WriteBuffer => buffer::execute(ctx, kind, data_out).await,
        ReportSupportedOperationCodes
        | ReportSupportedTaskManagementFunctions
        | ReportTimestamp
        | ReportTargetPortGroups => maintenance_in::execute(ctx, kind, data_out).await,
        ModeSelect6 | ModeSelect10 => mode_select::execute(ctx, kind, data_out).await,
        LogSense => log_sense::execute(ctx, kind, data_out).await,
        PersistentReserveIn | PersistentReserveOut => {
            persistent_reserve::execute(ctx, kind, data_out).await
        }
        Reserve | Release => reserve_release::execute(ctx, kind, data_out),
    }
}
