//! RESERVE(6)/(10) and RELEASE(6)/(10) (SPC-2 §7.21–7.24): the logical unit reserved for one
//! I_T nexus, as clusters older than SCSI-3 reservations still use. Third-party reservations
//! and extents are not supported: their CDB fields are outside the usage masks.

use super::Ctx;
use crate::backend::BlockBackend;
use crate::mutation::Mutation;
use crate::reservations::{Refusal, Spc2Reservation};
use crate::sense::asc;
use crate::status::{CommandResult, ScsiStatus};
use crate::table::{AccessClass as A, CommandEntry as E, Flags as F, Kind};
use alloc::vec::Vec;

/// Persistent reservations decide these themselves (SPC-4 §5.13.3, CRH = 1); in ALUA Standby
/// they run as CTL lets them.
const FLAGS: F = F::OK_ON_STANDBY
    .union(F::ALLOW_ON_PR_RESV)
    .union(F::OK_ON_NO_MEDIA);

pub(crate) const ENTRIES: &[E] = &[
    E::new(
        0x16,
        "RESERVE(6)",
        Kind::Reserve,
        FLAGS,
        A::Free,
        &[0x16, 0, 0, 0, 0, 0x07],
    ),
    E::new(
        0x17,
        "RELEASE(6)",
        Kind::Release,
        FLAGS.union(F::ALLOW_ON_RESV),
        A::Free,
        &[0x17, 0, 0, 0, 0, 0x07],
    ),
    E::new(
        0x56,
        "RESERVE(10)",
        Kind::Reserve,
        FLAGS,
        A::Free,
        &[0x56, 0, 0, 0, 0, 0, 0, 0, 0, 0x07],
    ),
    E::new(
        0x57,
        "RELEASE(10)",
        Kind::Release,
        FLAGS.union(F::ALLOW_ON_RESV),
        A::Free,
        &[0x57, 0, 0, 0, 0, 0, 0, 0, 0, 0x07],
    ),
];

pub(crate) fn execute<B: BlockBackend>(
    ctx: &Ctx<'_, B>,
    kind: Kind,
    data_out: Vec<u8>,
) -> CommandResult {
    ctx.device.buffers.give(data_out);
    let Some(lun) = ctx.lun else {
        return ctx.fail(&asc::LOGICAL_UNIT_NOT_SUPPORTED);
    };
    let Some(requester) = ctx.device.it_nexus(ctx.nexus) else {
        return ctx.fail(&asc::INTERNAL_TARGET_FAILURE);
    };
    let mut spc2: Spc2Reservation = lun.spc2.borrow().clone();
    let result = {
        let pr = lun.reservations.borrow();
        match kind {
            Kind::Reserve => spc2.reserve(&requester, &pr),
            _ => spc2.release(&requester, &pr),
        }
    };
    match result {
        Ok(()) => {
            if spc2 != *lun.spc2.borrow() {
                let _ = ctx.device.apply(Mutation::Spc2ReservationChanged {
                    lun: lun.id(),
                    holder: spc2.holder().cloned(),
                });
            }
            CommandResult::good(Vec::new())
        }
        Err(Refusal::ReservationConflict) => CommandResult::status(ScsiStatus::ReservationConflict),
        Err(Refusal::Check(sense)) => ctx.fail(&sense),
    }
}
