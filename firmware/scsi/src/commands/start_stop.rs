//! TEST UNIT READY, START STOP UNIT and PREVENT ALLOW MEDIUM REMOVAL (SPC-5 §6.47, SBC-4
//! §5.25, §5.13): whether the unit is ready and its medium (loaded, ejected, locked by which
//! nexuses).

use super::{Ctx, Plan};
use crate::backend::BlockBackend;
use crate::cdb::byte;
use crate::lun::Lun;
use crate::mutation::Mutation;
use crate::nexus::NexusId;
use crate::sense::{asc, Sense, SenseKey};
use crate::status::CommandResult;
use crate::table::{AccessClass as A, CommandEntry as E, Flags as F, Kind};
use crate::ua::UnitAttention;
use alloc::collections::BTreeSet;
use alloc::vec::Vec;

/// TEST UNIT READY's entry: REQUEST SENSE reports the conditions it would get.
pub(crate) const TEST_UNIT_READY: &E = &ENTRIES[0];

pub(crate) const ENTRIES: &[E] = &[
    E::new(
        0x00,
        "TEST UNIT READY",
        Kind::TestUnitReady,
        F::ALLOW_ON_PR_RESV,
        A::Free,
        &[0x00, 0, 0, 0, 0, 0x07],
    ),
    // Flush ordering: stopping or ejecting synchronizes the cache, so earlier writes must have
    // reached the backend first.
    E::new(
        0x1B,
        "START STOP UNIT",
        Kind::StartStopUnit,
        F::ALLOW_ON_PR_RESV.union(F::OK_ON_NO_MEDIA),
        A::Flush,
        &[0x1B, 0x01, 0x00, 0x0F, 0xF7, 0x07],
    ),
    E::new(
        0x1E,
        "PREVENT ALLOW MEDIUM REMOVAL",
        Kind::PreventAllowMediumRemoval,
        F::OK_ON_NO_MEDIA,
        A::Free,
        &[0x1E, 0, 0, 0, 0x03, 0x07],
    ),
];

/// MEDIUM REMOVAL PREVENTED (53h/02h).
const MEDIUM_REMOVAL_PREVENTED: Sense = Sense::new(SenseKey::IllegalRequest, 0x53, 0x02);

/// START STOP UNIT byte 4.
const START: u8 = 0x01;
const LOEJ: u8 = 0x02;
const NO_FLUSH: u8 = 0x04;

/// POWER CONDITION values (SBC-4 table 109) whose modifier may be non-zero.
const IDLE: u8 = 0x2;
const STANDBY: u8 = 0x3;
const FORCE_IDLE_0: u8 = 0xA;
const FORCE_STANDBY_0: u8 = 0xB;

/// PREVENT field values that apply to a direct-access device (10b and 11b are obsolete).
const ALLOW: u8 = 0x0;
const PREVENT: u8 = 0x1;

/// The medium of a LUN: whether it is loaded, whether its drive is there at all, and which
/// nexuses prevent its removal.
///
/// Only a removable LUN is ever ejected or prevented; any LUN on a backplane drive can find
/// its drive pulled.
#[derive(Debug, Default)]
pub(crate) struct MediumState {
    ejected: bool,
    /// The drive is out of the enclosure ([`crate::mutation::Mutation::MediumRemoved`]).
    /// Apart from `ejected`: an initiator's LOAD cannot bring back a pulled drive, and
    /// putting the drive back does not load an ejected medium.
    absent: bool,
    /// PREVENT MEDIUM REMOVAL is per I_T nexus (SBC-4 §5.13): removal stays prevented while
    /// any nexus holds it.
    preventing: BTreeSet<NexusId>,
}

impl MediumState {
    /// The sense a command gets when the medium state does not admit it (MEDIUM NOT PRESENT
    /// after an eject); `None` when it may run.
    pub(crate) fn media_check(&self, command: &E) -> Option<Sense> {
        (self.has_no_medium() && !command.flags.contains(F::OK_ON_NO_MEDIA))
            .then_some(asc::MEDIUM_NOT_PRESENT)
    }

    /// Ejected, or its drive pulled.
    fn has_no_medium(&self) -> bool {
        self.ejected || self.absent
    }

    /// Whether the LUN's drive is in the enclosure.
    pub(crate) fn is_present(&self) -> bool {
        !self.absent
    }

    pub(crate) fn set_present(&mut self, present: bool) {
        self.absent = !present;
    }

    /// The nexus is gone (logout, I_T nexus loss): its PREVENT MEDIUM REMOVAL ends.
    pub(crate) fn nexus_lost(&mut self, nexus: NexusId) {
        self.preventing.remove(&nexus);
    }

    /// LUN or target reset: every PREVENT MEDIUM REMOVAL ends.
    pub(crate) fn reset(&mut self) {
        self.preventing.clear();
    }

    fn removal_prevented(&self) -> bool {
        !self.preventing.is_empty()
    }
}

/// The largest POWER CONDITION MODIFIER each power condition defines (SBC-4 table 109).
fn max_modifier(condition: u8) -> u8 {
    match condition {
        IDLE | FORCE_IDLE_0 => 2,
        STANDBY | FORCE_STANDBY_0 => 1,
        _ => 0,
    }
}

pub(crate) fn precheck<B: BlockBackend>(
    kind: Kind,
    lun: Option<&Lun<B>>,
    cdb: &[u8],
) -> Result<Plan, Sense> {
    let lun = lun.ok_or(asc::LOGICAL_UNIT_NOT_SUPPORTED)?;
    match kind {
        Kind::StartStopUnit => {
            let how = byte(cdb, 4);
            let condition = how >> 4;
            if byte(cdb, 3) & 0x0F > max_modifier(condition) {
                return Err(Sense::invalid_field_in_cdb(3, Some(3)));
            }
            // A POWER CONDITION other than START_VALID makes START and LOEJ ignored (SBC-4
            // §5.25), so only then can LOEJ ask for something a fixed medium cannot do.
            if condition == 0 && how & LOEJ != 0 && !lun.config().removable {
                return Err(Sense::invalid_field_in_cdb(4, Some(1)));
            }
        }
        Kind::PreventAllowMediumRemoval if !matches!(byte(cdb, 4) & 0x03, ALLOW | PREVENT) => {
            return Err(Sense::invalid_field_in_cdb(4, Some(1)));
        }
        _ => {}
    }
    Ok(Plan::NONE)
}

pub(crate) async fn execute<B: BlockBackend>(
    ctx: &Ctx<'_, B>,
    kind: Kind,
    data_out: Vec<u8>,
) -> CommandResult {
    ctx.device.buffers.give(data_out);
    let Some(lun) = ctx.lun else {
        return ctx.fail(&asc::LOGICAL_UNIT_NOT_SUPPORTED);
    };
    match kind {
        // An absent medium was refused at admission; nothing else makes the unit not ready.
        Kind::TestUnitReady => CommandResult::good(Vec::new()),
        Kind::StartStopUnit => start_stop_unit(ctx, lun).await,
        Kind::PreventAllowMediumRemoval => {
            prevent_allow_medium_removal(ctx, lun);
            CommandResult::good(Vec::new())
        }
        _ => ctx.fail(&asc::INVALID_COMMAND_OPERATION_CODE),
    }
}

async fn start_stop_unit<B: BlockBackend>(ctx: &Ctx<'_, B>, lun: &Lun<B>) -> CommandResult {
    let how = byte(ctx.cdb, 4);
    // Power conditions change nothing a host can observe on this storage: there is no
    // spindle to spin down, and the data stays reachable.
    if how >> 4 != 0 {
        return CommandResult::good(Vec::new());
    }
    let start = how & START != 0;
    let loej = how & LOEJ != 0;
    // Both loading and unloading count as removal (SBC-4 §5.13); libiscsi's
    // PreventAllow.Eject checks the load direction too.
    if loej && lun.medium.borrow().removal_prevented() {
        return ctx.fail(&MEDIUM_REMOVAL_PREVENTED);
    }
    // Stopping writes the cache out first unless NO_FLUSH says not to. Without LOEJ the unit
    // stays ready: a stopped ramdisk or file has no spin-up to wait for, and libiscsi's
    // StartStopUnit.NoLoej expects TEST UNIT READY to keep passing.
    let flush = !start && how & NO_FLUSH == 0 && !lun.medium.borrow().has_no_medium();
    if flush && lun.backend.flush().await.is_err() {
        return ctx.fail(&asc::WRITE_ERROR);
    }
    if !loej {
        return CommandResult::good(Vec::new());
    }
    let loaded = {
        let mut medium = lun.medium.borrow_mut();
        let was_ejected = medium.ejected;
        medium.ejected = !start;
        start && was_ejected
    };
    if loaded {
        // Other nexuses may hold state about the medium that was taken out; the loading
        // nexus knows what it did (libiscsi's StartStopUnit.Simple expects GOOD next).
        let _ = ctx.device.apply(Mutation::AttentionRaised {
            lun: Some(lun.id()),
            ua: UnitAttention::MediumChanged,
            except: Some(ctx.nexus),
        });
    }
    CommandResult::good(Vec::new())
}

fn prevent_allow_medium_removal<B: BlockBackend>(ctx: &Ctx<'_, B>, lun: &Lun<B>) {
    // A fixed medium cannot be removed, so there is nothing to prevent.
    if !lun.config().removable {
        return;
    }
    let mut medium = lun.medium.borrow_mut();
    if byte(ctx.cdb, 4) & 0x03 == PREVENT {
        medium.preventing.insert(ctx.nexus);
    } else {
        medium.preventing.remove(&ctx.nexus);
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use crate::lun::LunId;
    use crate::status::ScsiStatus;

    const TUR: [u8; 6] = [0x00, 0, 0, 0, 0, 0];
    const EJECT: [u8; 6] = [0x1B, 0, 0, 0, LOEJ, 0];
    const LOAD: [u8; 6] = [0x1B, 0, 0, 0, LOEJ | START, 0];
    const PREVENT_CDB: [u8; 6] = [0x1E, 0, 0, 0, 1, 0];
    const ALLOW_CDB: [u8; 6] = [0x1E, 0, 0, 0, 0, 0];

    use super::{LOEJ, START};

    fn removable() -> Fixture {
        let mut c = lun_config(0, 2048);
        c.removable = true;
        Fixture::with(port_config(None), [c])
    }

    #[track_caller]
    fn assert_sense(r: &crate::status::CommandResult, want: (u8, u8, u8)) {
        assert_eq!(r.scsi_status(), ScsiStatus::CheckCondition);
        assert_eq!(sense_code(&r.sense), want, "sense {:02x?}", r.sense);
    }

    #[test]
    fn eject_and_load_a_removable_medium() {
        let f = removable();
        good(f.run(0, &TUR));
        good(f.run(0, &EJECT));
        assert_sense(&f.run(0, &TUR), (0x02, 0x3A, 0x00));
        // Ejecting an ejected medium is not an error.
        good(f.run(0, &EJECT));
        let read10 = [0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0];
        assert_sense(&f.run(0, &read10), (0x02, 0x3A, 0x00));
        // Commands about the device rather than the medium still run.
        good(f.run(0, &[0x12, 0, 0, 0, 36, 0]));
        good(f.run(0, &[0xA3, 0x0C, 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0]));
        good(f.run(0, &LOAD));
        good(f.run(0, &TUR));
        good(f.run(0, &read10));
    }

    #[test]
    fn loading_tells_the_other_nexuses_the_medium_changed() {
        let f = removable();
        let other = f.login();
        good(f.run(0, &EJECT));
        good(f.run(0, &LOAD));
        good(f.run(0, &TUR));
        assert_sense(&f.run_on(other, 0, &TUR), (0x06, 0x28, 0x00));
        good(f.run_on(other, 0, &TUR));
    }

    #[test]
    fn start_and_stop_without_loej_keep_the_medium() {
        let f = removable();
        for how in [0, START, 0x04, 0x04 | START] {
            good(f.run(0, &[0x1B, 0, 0, 0, how, 0]));
            good(f.run(0, &[0x1B, 1, 0, 0, how, 0]));
            good(f.run(0, &TUR));
        }
    }

    #[test]
    fn a_power_condition_ignores_start_and_loej() {
        let f = removable();
        for condition in 1u8..16 {
            good(f.run(0, &[0x1B, 1, 0, 0, condition << 4 | LOEJ, 0]));
            good(f.run(0, &TUR));
        }
        good(f.run(0, &[0x1B, 0, 0, 2, 0x20, 0]));
        assert_invalid_field(&f.run(0, &[0x1B, 0, 0, 3, 0x20, 0]), 3);
        assert_invalid_field(&f.run(0, &[0x1B, 0, 0, 1, 0x10, 0]), 3);
        assert_invalid_field(&f.run(0, &[0x1B, 0, 0, 1, 0x00, 0]), 3);
    }

    #[test]
    fn reserved_bits_are_refused() {
        let f = removable();
        assert_invalid_field(&f.run(0, &[0x1B, 0x02, 0, 0, 0, 0]), 1);
        assert_invalid_field(&f.run(0, &[0x1B, 0, 1, 0, 0, 0]), 2);
        assert_invalid_field(&f.run(0, &[0x1B, 0, 0, 0x10, 0, 0]), 3);
        assert_invalid_field(&f.run(0, &[0x1B, 0, 0, 0, 0x08, 0]), 4);
        assert_invalid_field(&f.run(0, &[0x1E, 1, 0, 0, 0, 0]), 1);
        assert_invalid_field(&f.run(0, &[0x1E, 0, 0, 0, 0x04, 0]), 4);
        assert_invalid_field(&f.run(0, &[0x1E, 0, 0, 0, 0x02, 0]), 4);
        assert_invalid_field(&f.run(0, &[0x00, 0, 0, 0, 1, 0]), 4);
    }

    #[test]
    fn loej_on_a_fixed_medium_is_an_invalid_field() {
        let f = Fixture::new();
        assert_invalid_field(&f.run(0, &EJECT), 4);
        assert_invalid_field(&f.run(0, &LOAD), 4);
        good(f.run(0, &[0x1B, 0, 0, 0, START, 0]));
        // Nothing to prevent on a fixed medium: accepted and without effect.
        good(f.run(0, &PREVENT_CDB));
        good(f.run(0, &[0x1B, 0, 0, 0, 0, 0]));
    }

    #[test]
    fn prevention_blocks_eject_and_load_for_every_nexus() {
        let f = removable();
        let other = f.login();
        good(f.run(0, &PREVENT_CDB));
        assert_sense(&f.run(0, &EJECT), (0x05, 0x53, 0x02));
        assert_sense(&f.run_on(other, 0, &EJECT), (0x05, 0x53, 0x02));
        good(f.run(0, &TUR));
        // Another nexus's ALLOW does not lift this nexus's PREVENT.
        good(f.run_on(other, 0, &ALLOW_CDB));
        assert_sense(&f.run(0, &EJECT), (0x05, 0x53, 0x02));
        good(f.run(0, &ALLOW_CDB));
        good(f.run(0, &EJECT));
        good(f.run(0, &PREVENT_CDB));
        assert_sense(&f.run(0, &LOAD), (0x05, 0x53, 0x02));
        good(f.run(0, &ALLOW_CDB));
        good(f.run(0, &LOAD));
    }

    #[test]
    fn logout_ends_the_nexus_prevention() {
        let f = removable();
        let other = f.login();
        good(f.run_on(other, 0, &PREVENT_CDB));
        assert_sense(&f.run(0, &EJECT), (0x05, 0x53, 0x02));
        f.device.logout(other);
        good(f.run(0, &EJECT));
        good(f.run(0, &LOAD));
    }

    #[test]
    fn lun_reset_ends_every_prevention() {
        let f = removable();
        let other = f.login();
        good(f.run(0, &PREVENT_CDB));
        good(f.run_on(other, 0, &PREVENT_CDB));
        let outcome = block_on(f.device.lun_reset(f.nexus, crate::lun_address::encode(0)));
        assert_eq!(outcome, crate::TmfOutcome::FunctionComplete);
        // The reset's unit attention comes first.
        assert_sense(&f.run(0, &EJECT), (0x06, 0x29, 0x03));
        good(f.run(0, &EJECT));
        let lun = f.device.lun(LunId(0)).unwrap();
        assert!(!lun.medium.borrow().removal_prevented());
    }

    // Hot-plug: the LUN's drive pulled from the backplane and put back
    // (Mutation::MediumRemoved / MediumInserted).

    use crate::device::{CommandRequest, Completion, Submission};
    use crate::lun::StorageSpec;
    use crate::mutation::{Mutation, MutationError};
    use crate::task_set::TaskAttribute;

    const READ10: [u8; 10] = [0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0];
    const WRITE10: [u8; 10] = [0x2A, 0, 0, 0, 0, 0, 0, 0, 1, 0];
    const NOT_PRESENT: (u8, u8, u8) = (0x02, 0x3A, 0x00);
    const MEDIUM_CHANGED: (u8, u8, u8) = (0x06, 0x28, 0x00);

    fn pull(f: &Fixture) {
        f.device
            .apply(Mutation::MediumRemoved { lun: LunId(0) })
            .expect("pulled");
    }

    fn insert(f: &Fixture, path: Option<&str>) -> Result<(), MutationError> {
        f.device.apply(Mutation::MediumInserted {
            lun: LunId(0),
            path: path.map(alloc::string::String::from),
        })
    }

    /// LUN 0 on a drive file in slot 3.
    fn on_a_drive() -> Fixture {
        let mut c = lun_config(0, 2048);
        c.storage = StorageSpec::File {
            path: "/enclosure/slot-03.img".into(),
            size: Some(2048 * 512),
        };
        Fixture::with(port_config(None), [c])
    }

    #[test]
    fn a_pulled_drive_is_not_ready_for_medium_commands_only() {
        let f = Fixture::new();
        pull(&f);
        assert!(!f.device.lun(LunId(0)).unwrap().medium_present());
        assert_sense(&f.run(0, &TUR), NOT_PRESENT);
        assert_sense(&f.run(0, &READ10), NOT_PRESENT);
        assert_sense(
            &f.run_with_data(f.nexus, 0, &WRITE10, &[0; 512]),
            NOT_PRESENT,
        );
        assert_sense(&f.run(0, &[0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0]), NOT_PRESENT);
        // No unit attention: every command keeps saying it, nothing is used up.
        assert_sense(&f.run(0, &TUR), NOT_PRESENT);
        // What is about the logical unit rather than its medium still answers.
        good(f.run(0, &[0x12, 0, 0, 0, 36, 0]));
        good(f.run(0, &[0xA0, 0, 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0]));
        let sense = good(f.run(0, &[0x03, 0, 0, 0, 18, 0]));
        assert_eq!(sense_code(&sense), NOT_PRESENT);
        // A second report of the same pull changes nothing.
        pull(&f);
        assert_sense(&f.run(0, &TUR), NOT_PRESENT);
    }

    #[test]
    fn a_command_admitted_before_the_pull_fails_cleanly_when_it_runs() {
        let f = Fixture::new();
        let task = match f.device.submit(&CommandRequest {
            nexus: f.nexus,
            lun: crate::lun_address::encode(0),
            cdb: &READ10,
            tag: 99,
            attr: TaskAttribute::Simple,
            data_out_len: 0,
        }) {
            Submission::Queued(t) => t,
            Submission::Complete(r) => panic!("not queued: {:?}", r.sense),
        };
        pull(&f);
        match block_on(f.device.execute(task, alloc::vec::Vec::new())) {
            Completion::Done(r) => assert_sense(&r, NOT_PRESENT),
            Completion::Aborted(kind) => panic!("aborted: {kind:?}"),
        }
        assert_eq!(f.device.tasks_in_set(LunId(0)), 0);
    }

    #[test]
    fn the_drive_back_tells_every_nexus_the_medium_may_have_changed() {
        let f = Fixture::new();
        let other = f.login();
        pull(&f);
        insert(&f, None).unwrap();
        assert!(f.device.lun(LunId(0)).unwrap().medium_present());
        for n in [f.nexus, other] {
            assert_sense(&f.run_on(n, 0, &READ10), MEDIUM_CHANGED);
            good(f.run_on(n, 0, &READ10));
        }
    }

    #[test]
    fn a_drive_back_in_another_slot_takes_the_lun_path_along() {
        let f = on_a_drive();
        pull(&f);
        insert(&f, Some("/enclosure/slot-05.img")).unwrap();
        let lun = f.device.lun(LunId(0)).unwrap();
        let path = match &lun.config().storage {
            StorageSpec::File { path, .. } => path.clone(),
            other => panic!("{other:?}"),
        };
        assert_eq!(path, "/enclosure/slot-05.img");
        assert_sense(&f.run(0, &TUR), MEDIUM_CHANGED);
        good(f.run(0, &READ10));
        // A configuration that names the new place is no change of path.
        let mut config = lun.config().clone();
        drop(lun);
        config.vendor = "MOVED".into();
        f.device
            .apply(Mutation::LunModified {
                id: LunId(0),
                config,
            })
            .unwrap();
    }

    #[test]
    fn a_medium_that_cannot_be_opened_again_changes_nothing() {
        let f = on_a_drive();
        pull(&f);
        let r = insert(&f, Some(super::super::test_support::UNOPENABLE));
        assert!(matches!(r, Err(MutationError::Backend(_))), "{r:?}");
        assert_sense(&f.run(0, &TUR), NOT_PRESENT);
        let lun = f.device.lun(LunId(0)).unwrap();
        assert!(matches!(
            &lun.config().storage,
            StorageSpec::File { path, .. } if path == "/enclosure/slot-03.img"
        ));
        // A ramdisk has no place to be found at.
        let ram = Fixture::new();
        pull(&ram);
        assert!(matches!(
            insert(&ram, Some("/x")),
            Err(MutationError::Backend(_))
        ));
        for m in [
            Mutation::MediumRemoved { lun: LunId(7) },
            Mutation::MediumInserted {
                lun: LunId(7),
                path: None,
            },
        ] {
            assert_eq!(f.device.apply(m), Err(MutationError::NoSuchLun(LunId(7))));
        }
    }

    #[test]
    fn an_ejected_medium_stays_ejected_when_its_drive_comes_back() {
        let f = removable();
        good(f.run(0, &EJECT));
        pull(&f);
        insert(&f, None).unwrap();
        assert_sense(&f.run(0, &TUR), MEDIUM_CHANGED);
        assert_sense(&f.run(0, &TUR), NOT_PRESENT);
        good(f.run(0, &LOAD));
        good(f.run(0, &TUR));
        // And a LOAD cannot bring back a pulled drive.
        pull(&f);
        good(f.run(0, &LOAD));
        assert_sense(&f.run(0, &TUR), NOT_PRESENT);
    }
}
