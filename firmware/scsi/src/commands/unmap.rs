//! UNMAP and GET LBA STATUS: deallocation and the provisioning status of blocks.

use super::{Ctx, Plan};
use crate::backend::BlockBackend;
use crate::lun::Lun;
use crate::sense::{asc, Sense};
use crate::status::CommandResult;
use crate::table::{CommandEntry as E, Kind};
use alloc::vec::Vec;

pub(crate) const ENTRIES: &[E] = &[];

/// Most logical blocks one UNMAP may deallocate (VPD Block Limits MAXIMUM UNMAP LBA COUNT).
#[allow(dead_code)] // SCAFFOLD: remove when the family uses it
pub(crate) const MAX_UNMAP_LBA_COUNT: u32 = 1 << 22;
/// Most block descriptors in one UNMAP parameter list (MAXIMUM UNMAP BLOCK DESCRIPTOR COUNT).
#[allow(dead_code)] // SCAFFOLD: remove when the family uses it
pub(crate) const MAX_UNMAP_DESCRIPTORS: u32 = 256;

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
