//! TEST UNIT READY, START STOP UNIT and PREVENT ALLOW MEDIUM REMOVAL: whether the unit is ready and its medium (loaded, ejected, locked by which nexuses).

use super::{Ctx, Plan};
use crate::backend::BlockBackend;
use crate::lun::Lun;
use crate::sense::{asc, Sense};
use crate::status::CommandResult;
use crate::table::{AccessClass as A, CommandEntry as E, Flags as F, Kind};
use alloc::vec::Vec;

pub(crate) const ENTRIES: &[E] = &[E::new(
    0x00,
    "TEST UNIT READY",
    Kind::TestUnitReady,
    F::ALLOW_ON_PR_RESV,
    A::Free,
    &[0x00, 0, 0, 0, 0, 0x07],
)];

/// This family's per-LUN state.
#[derive(Debug, Default)]
pub(crate) struct MediumState {
    ejected: bool,
}

impl MediumState {
    /// The sense a command gets when the medium state does not admit it (MEDIUM NOT PRESENT
    /// after an eject); `None` when it may run.
    pub(crate) fn media_check(&self, command: &E) -> Option<Sense> {
        (self.ejected && !command.flags.contains(F::OK_ON_NO_MEDIA))
            .then_some(asc::MEDIUM_NOT_PRESENT)
    }

    /// The nexus is gone (logout, I_T nexus loss): its PREVENT MEDIUM REMOVAL ends.
    pub(crate) fn nexus_lost(&mut self, _nexus: crate::nexus::NexusId) {}

    /// LUN or target reset: every PREVENT MEDIUM REMOVAL ends.
    pub(crate) fn reset(&mut self) {}
}

pub(crate) fn precheck<B: BlockBackend>(
    _kind: Kind,
    _lun: Option<&Lun<B>>,
    _cdb: &[u8],
) -> Result<Plan, Sense> {
    Ok(Plan::NONE)
}

pub(crate) async fn execute<B: BlockBackend>(
    ctx: &Ctx<'_, B>,
    kind: Kind,
    data_out: Vec<u8>,
) -> CommandResult {
    ctx.device.buffers.give(data_out);
    match kind {
        Kind::TestUnitReady => CommandResult::good(Vec::new()),
        _ => ctx.fail(&asc::INVALID_COMMAND_OPERATION_CODE),
    }
}
