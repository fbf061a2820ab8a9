//! MODE SENSE (placeholder until written).
use super::Ctx;
use crate::backend::BlockBackend;
use crate::sense::asc;
use crate::status::CommandResult;
pub(crate) fn mode_sense<B: BlockBackend>(ctx: &Ctx<'_, B>, _ten: bool) -> CommandResult {
    ctx.fail(&asc::INVALID_COMMAND_OPERATION_CODE)
}
