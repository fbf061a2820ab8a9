//! READ CAPACITY (placeholder until written).
use super::Ctx;
use crate::backend::BlockBackend;
use crate::sense::asc;
use crate::status::CommandResult;
pub(crate) fn read_capacity10<B: BlockBackend>(ctx: &Ctx<'_, B>) -> CommandResult {
    ctx.fail(&asc::INVALID_COMMAND_OPERATION_CODE)
}
pub(crate) fn read_capacity16<B: BlockBackend>(ctx: &Ctx<'_, B>) -> CommandResult {
    ctx.fail(&asc::INVALID_COMMAND_OPERATION_CODE)
}
