//! COMPARE AND WRITE and ORWRITE(16): read-compare/modify-write atomic against every other write to the range.

use super::{Ctx, Plan};
use crate::backend::BlockBackend;
use crate::lun::Lun;
use crate::sense::{asc, Sense};
use crate::status::CommandResult;
use crate::table::{CommandEntry as E, Kind};
use alloc::vec::Vec;

pub(crate) const ENTRIES: &[E] = &[];

/// Most logical blocks one COMPARE AND WRITE may cover (MAXIMUM COMPARE AND WRITE LENGTH).
#[allow(dead_code)] // SCAFFOLD: remove when the family uses it
pub(crate) const MAX_COMPARE_AND_WRITE_BLOCKS: u8 = 255;

pub(crate) fn precheck<B: BlockBackend>(
    _kind: Kind,
    _lun: Option<&Lun<B>>,
    _cdb: &[u8],
) -> Result<Plan, Sense> {
    Ok(Plan::NONE)
}

pub(crate) async fn execute<B: BlockBackend>(
    ctx: &Ctx<'_, B>,
    _kind: Kind,
    data_out: Vec<u8>,
) -> CommandResult {
    ctx.device.buffers.give(data_out);
    ctx.fail(&asc::INVALID_COMMAND_OPERATION_CODE)
}
