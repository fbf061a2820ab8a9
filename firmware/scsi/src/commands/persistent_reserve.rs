//! PERSISTENT RESERVE IN and OUT (SPC-4 §6.15, §6.16): the CDBs and parameter lists around the
//! state machine of `crate::reservations`. A PERSISTENT RESERVE OUT works on a copy of the
//! LUN's state; only when the service action succeeds (and an APTPL save did) does the copy
//! become the state, through the one mutation path, with its unit attentions and aborts.

use super::{aptpl, Ctx, Plan};
use crate::backend::BlockBackend;
use crate::cdb::{be16, be32, be64, byte};
use crate::device::TargetDevice;
use crate::lun::Lun;
use crate::mutation::Mutation;
use crate::reservations::{ITNexus, ProutParameters, Refusal};
use crate::sense::{asc, Sense, SenseKey};
use crate::status::{CommandResult, ScsiStatus};
use crate::table::{AccessClass as A, CommandEntry as E, Flags as F, Kind};
use crate::transport_id;
use alloc::vec::Vec;

/// Both run whatever is reserved (the service actions decide), in ALUA Standby (CTL forwards
/// them to the primary there) and without a medium.
const FLAGS: F = F::OK_ON_STANDBY
    .union(F::ALLOW_ON_PR_RESV)
    .union(F::OK_ON_NO_MEDIA);
const PRIN: F = FLAGS.union(F::DATA_IN);
const PROUT: F = FLAGS.union(F::DATA_OUT);

const fn prin_usage(sa: u8) -> [u8; 10] {
    [0x5E, sa, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0x07]
}

const fn prout_usage(sa: u8) -> [u8; 10] {
    [0x5F, sa, 0xFF, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0x07]
}

pub(crate) const ENTRIES: &[E] = &[
    prin(0, "PERSISTENT RESERVE IN: READ KEYS", &prin_usage(0)),
    prin(1, "PERSISTENT RESERVE IN: READ RESERVATION", &prin_usage(1)),
    prin(
        2,
        "PERSISTENT RESERVE IN: REPORT CAPABILITIES",
        &prin_usage(2),
    ),
    prin(3, "PERSISTENT RESERVE IN: READ FULL STATUS", &prin_usage(3)),
    prout(
        REGISTER,
        "PERSISTENT RESERVE OUT: REGISTER",
        &prout_usage(REGISTER),
    ),
    prout(
        RESERVE,
        "PERSISTENT RESERVE OUT: RESERVE",
        &prout_usage(RESERVE),
    ),
    prout(
        RELEASE,
        "PERSISTENT RESERVE OUT: RELEASE",
        &prout_usage(RELEASE),
    ),
    prout(CLEAR, "PERSISTENT RESERVE OUT: CLEAR", &prout_usage(CLEAR)),
    prout(
        PREEMPT,
        "PERSISTENT RESERVE OUT: PREEMPT",
        &prout_usage(PREEMPT),
    ),
    prout(
        PREEMPT_AND_ABORT,
        "PERSISTENT RESERVE OUT: PREEMPT AND ABORT",
        &prout_usage(PREEMPT_AND_ABORT),
    ),
    prout(
        REGISTER_AND_IGNORE_EXISTING_KEY,
        "PERSISTENT RESERVE OUT: REGISTER AND IGNORE EXISTING KEY",
        &prout_usage(REGISTER_AND_IGNORE_EXISTING_KEY),
    ),
    prout(
        REGISTER_AND_MOVE,
        "PERSISTENT RESERVE OUT: REGISTER AND MOVE",
        &prout_usage(REGISTER_AND_MOVE),
    ),
];

const fn prin(sa: u8, name: &'static str, usage: &'static [u8]) -> E {
    E::new(0x5E, name, Kind::PersistentReserveIn, PRIN, A::Free, usage).service_action(sa)
}

const fn prout(sa: u8, name: &'static str, usage: &'static [u8]) -> E {
    E::new(
        0x5F,
        name,
        Kind::PersistentReserveOut,
        PROUT,
        A::Free,
        usage,
    )
    .service_action(sa)
}

// PERSISTENT RESERVE OUT service actions (SPC-4 table 168).
const REGISTER: u8 = 0x00;
const RESERVE: u8 = 0x01;
const RELEASE: u8 = 0x02;
const CLEAR: u8 = 0x03;
const PREEMPT: u8 = 0x04;
const PREEMPT_AND_ABORT: u8 = 0x05;
const REGISTER_AND_IGNORE_EXISTING_KEY: u8 = 0x06;
const REGISTER_AND_MOVE: u8 = 0x07;

/// The basic parameter list (SPC-4 table 174), and what REGISTER AND MOVE's starts with.
const BASIC_LEN: usize = 24;
/// SPEC_I_PT's TRANSPORTID PARAMETER DATA LENGTH follows the basic list.
const SPEC_I_PT_HEADER: usize = BASIC_LEN + 4;
/// The longest parameter list accepted: SPEC_I_PT with a few hundred TransportIDs. Longer ones
/// are refused before their data moves.
const MAX_LIST: u32 = 64 * 1024;
/// Registrations one LUN holds at most; beyond, INSUFFICIENT REGISTRATION RESOURCES.
const MAX_REGISTRANTS: usize = 4096;
/// Basic parameter list byte 20: reserved bits 7..4 and 1 around SPEC_I_PT, ALL_TG_PT, APTPL.
const FLAGS_BYTE: usize = 20;
const SPEC_I_PT: u8 = 0x08;
const ALL_TG_PT: u8 = 0x04;
const APTPL: u8 = 0x01;
/// REGISTER AND MOVE byte 17: UNREG and APTPL, the rest reserved.
const MOVE_FLAGS_BYTE: usize = 17;
const UNREG: u8 = 0x02;
const MOVE_PORT_BYTE: usize = 18;
const MOVE_TID_LENGTH_BYTE: usize = 20;

/// INSUFFICIENT REGISTRATION RESOURCES (55h/04h).
const INSUFFICIENT_REGISTRATION_RESOURCES: Sense = Sense::new(SenseKey::IllegalRequest, 0x55, 0x04);

fn parameter_list_length(cdb: &[u8]) -> u32 {
    be32(cdb, 5)
}

pub(crate) fn precheck<B: BlockBackend>(
    kind: Kind,
    _lun: Option<&Lun<B>>,
    cdb: &[u8],
) -> Result<Plan, Sense> {
    if kind == Kind::PersistentReserveIn {
        return Ok(Plan::data_in(u32::from(be16(cdb, 7))));
    }
    let len = parameter_list_length(cdb);
    let fits = match byte(cdb, 1) & 0x1F {
        // Only these may carry TransportIDs after the basic list.
        REGISTER | REGISTER_AND_MOVE => (BASIC_LEN as u32..=MAX_LIST).contains(&len),
        _ => len == BASIC_LEN as u32,
    };
    if !fits {
        return Err(asc::PARAMETER_LIST_LENGTH_ERROR);
    }
    Ok(Plan::parameter_list(len))
}

pub(crate) async fn execute<B: BlockBackend>(
    ctx: &Ctx<'_, B>,
    kind: Kind,
    data_out: Vec<u8>,
) -> CommandResult {
    let result = match kind {
        Kind::PersistentReserveIn => persistent_reserve_in(ctx),
        _ => persistent_reserve_out(ctx, &data_out).await,
    };
    ctx.device.buffers.give(data_out);
    result
}

fn persistent_reserve_in<B: BlockBackend>(ctx: &Ctx<'_, B>) -> CommandResult {
    let Some(lun) = ctx.lun else {
        return ctx.fail(&asc::LOGICAL_UNIT_NOT_SUPPORTED);
    };
    let pr = lun.reservations.borrow();
    let data = match byte(ctx.cdb, 1) & 0x1F {
        0 => pr.read_keys(),
        1 => pr.read_reservation(),
        2 => pr.report_capabilities(),
        _ => pr.read_full_status(),
    };
    ctx.data_in(data, usize::from(be16(ctx.cdb, 7)))
}

/// What a PERSISTENT RESERVE OUT asks for, parsed from its CDB and parameter list.
enum Request {
    Basic {
        p: ProutParameters,
        specified: Option<Vec<crate::reservations::SpecifiedInitiator>>,
    },
    Move {
        p: ProutParameters,
        unreg: bool,
        destination: ITNexus,
    },
}

fn invalid(byte: usize, bit: Option<u8>) -> Sense {
    Sense::invalid_field_in_parameter_list(u16::try_from(byte).unwrap_or(u16::MAX), bit)
}

/// The first reserved bit set in `value`, as a field pointer bit.
fn reserved_bit(value: u8, reserved: u8) -> Option<u8> {
    let extra = value & reserved;
    (extra != 0).then(|| 7 - extra.leading_zeros() as u8)
}

fn parse_request<B: BlockBackend>(
    device: &TargetDevice<B>,
    sa: u8,
    cdb: &[u8],
    list: &[u8],
) -> Result<Request, Sense> {
    if list.len() < BASIC_LEN {
        return Err(asc::PARAMETER_LIST_LENGTH_ERROR);
    }
    let mut p = ProutParameters {
        reservation_key: be64(list, 0),
        service_action_key: be64(list, 8),
        scope: byte(cdb, 2) >> 4,
        type_code: byte(cdb, 2) & 0x0F,
        aptpl: false,
        all_tg_pt: false,
    };
    if sa == REGISTER_AND_MOVE {
        let flags = byte(list, MOVE_FLAGS_BYTE);
        if byte(list, 16) != 0 {
            return Err(invalid(16, reserved_bit(byte(list, 16), 0xFF)));
        }
        if let Some(bit) = reserved_bit(flags, !(UNREG | APTPL)) {
            return Err(invalid(MOVE_FLAGS_BYTE, Some(bit)));
        }
        p.aptpl = flags & APTPL != 0;
        let tid_len = be32(list, MOVE_TID_LENGTH_BYTE) as usize;
        if BASIC_LEN.checked_add(tid_len) != Some(list.len()) {
            return Err(asc::PARAMETER_LIST_LENGTH_ERROR);
        }
        let (target, n) = transport_id::parse_one(list, BASIC_LEN)?;
        // The destination is one I_T nexus: its TransportID must name the port (ISID).
        if target.any_isid || n != tid_len {
            return Err(invalid(BASIC_LEN, None));
        }
        let port = be16(list, MOVE_PORT_BYTE);
        if device.port(port).is_none() {
            return Err(invalid(MOVE_PORT_BYTE, None));
        }
        return Ok(Request::Move {
            p,
            unreg: flags & UNREG != 0,
            destination: ITNexus {
                initiator: target.initiator,
                relative_target_port: port,
            },
        });
    }
    let flags = byte(list, FLAGS_BYTE);
    if let Some(bit) = reserved_bit(flags, !(SPEC_I_PT | ALL_TG_PT | APTPL)) {
        return Err(invalid(FLAGS_BYTE, Some(bit)));
    }
    if byte(list, 21) != 0 {
        return Err(invalid(21, reserved_bit(byte(list, 21), 0xFF)));
    }
    let registering = sa == REGISTER || sa == REGISTER_AND_IGNORE_EXISTING_KEY;
    // APTPL and ALL_TG_PT mean something only when registering; elsewhere SPC-4 says to
    // ignore them.
    if registering {
        p.aptpl = flags & APTPL != 0;
        p.all_tg_pt = flags & ALL_TG_PT != 0;
    }
    if flags & SPEC_I_PT == 0 {
        if list.len() != BASIC_LEN {
            return Err(asc::PARAMETER_LIST_LENGTH_ERROR);
        }
        return Ok(Request::Basic { p, specified: None });
    }
    if sa != REGISTER {
        return Err(invalid(FLAGS_BYTE, Some(3)));
    }
    if list.len() < SPEC_I_PT_HEADER {
        return Err(asc::PARAMETER_LIST_LENGTH_ERROR);
    }
    let tid_len = be32(list, BASIC_LEN) as usize;
    if SPEC_I_PT_HEADER.checked_add(tid_len) != Some(list.len()) {
        return Err(asc::PARAMETER_LIST_LENGTH_ERROR);
    }
    let specified = transport_id::parse_list(list, SPEC_I_PT_HEADER, tid_len)?;
    Ok(Request::Basic {
        p,
        specified: Some(specified),
    })
}

async fn persistent_reserve_out<B: BlockBackend>(ctx: &Ctx<'_, B>, data: &[u8]) -> CommandResult {
    let Some(lun) = ctx.lun else {
        return ctx.fail(&asc::LOGICAL_UNIT_NOT_SUPPORTED);
    };
    let Some(requester) = ctx.device.it_nexus(ctx.nexus) else {
        return ctx.fail(&asc::INTERNAL_TARGET_FAILURE);
    };
    let sa = byte(ctx.cdb, 1) & 0x1F;
    // The initiator may have sent less than the CDB announced: what came is the list.
    let len = (parameter_list_length(ctx.cdb) as usize).min(data.len());
    let list = data.get(..len).unwrap_or_default();
    let request = match parse_request(ctx.device, sa, ctx.cdb, list) {
        Ok(r) => r,
        Err(sense) => return ctx.fail(&sense),
    };
    let mut state = lun.reservations.borrow().clone();
    let outcome = match (&request, sa) {
        (
            Request::Move {
                p,
                unreg,
                destination,
            },
            _,
        ) => state.register_and_move(&requester, p, *unreg, destination),
        (
            Request::Basic {
                p,
                specified: Some(s),
            },
            _,
        ) => state.register_specified(&requester, p, s),
        (Request::Basic { p, .. }, REGISTER) => state.register(&requester, p),
        (Request::Basic { p, .. }, RESERVE) => state.reserve(&requester, p),
        (Request::Basic { p, .. }, RELEASE) => state.release(&requester, p),
        (Request::Basic { p, .. }, CLEAR) => state.clear(&requester, p),
        (Request::Basic { p, .. }, PREEMPT) => state.preempt(&requester, p),
        (Request::Basic { p, .. }, PREEMPT_AND_ABORT) => state.preempt_and_abort(&requester, p),
        (Request::Basic { p, .. }, _) => state.register_and_ignore_existing_key(&requester, p),
    };
    let outcome = match outcome {
        Ok(o) => o,
        Err(Refusal::ReservationConflict) => {
            return CommandResult::status(ScsiStatus::ReservationConflict)
        }
        Err(Refusal::Check(sense)) => return ctx.fail(&sense),
    };
    if state.registrants().len() > MAX_REGISTRANTS {
        return ctx.fail(&INSUFFICIENT_REGISTRATION_RESOURCES);
    }
    // Saved before applied: a store that fails leaves the reservations as they were.
    if outcome.persist {
        if let Err(why) = aptpl::save(ctx.device.store(), lun.id(), &state) {
            ctx.device.notice(alloc::format!(
                "LUN {}: persistent reservations not changed, they could not be saved: {why}",
                lun.id().0
            ));
            return ctx.fail(&asc::INTERNAL_TARGET_FAILURE);
        }
    }
    let aborts = !outcome.abort.is_empty();
    let tag = ctx.task.map_or(0, |t| t.tag);
    let _ = ctx.device.apply(Mutation::ReservationsChanged {
        lun: lun.id(),
        state,
        attentions: outcome.attentions,
        abort: outcome.abort,
        by: (ctx.nexus, tag),
    });
    // PREEMPT AND ABORT completes once the preempted tasks have ended (SPC-4 §5.13.11.2.6).
    if aborts {
        TargetDevice::drain_aborted(lun).await;
    }
    CommandResult::good(Vec::new())
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;
    use crate::device::{CommandRequest, Completion, Submission};
    use crate::lun::LunId;
    use crate::lun_address;
    use crate::mutation::Mutation;
    use crate::nexus::NexusId;
    use crate::reservations::{iscsi_name_transport_id, iscsi_transport_id};
    use crate::status::{CommandResult, ScsiStatus};
    use crate::task_set::{AbortKind, TaskAttribute};
    use alloc::vec;
    use alloc::vec::Vec;

    const KA: u64 = 0xA0A0;
    const KB: u64 = 0xB0B0;
    const WE: u8 = 1;
    const EA: u8 = 3;
    const WRITE10: [u8; 10] = [0x2A, 0, 0, 0, 0, 0, 0, 0, 1, 0];
    const READ10: [u8; 10] = [0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0];

    /// Two initiators, A (the fixture's first nexus) and B.
    fn two() -> (Fixture, NexusId, NexusId) {
        let f = Fixture::new();
        let a = f.login_as("iqn.test:a", 1);
        let b = f.login_as("iqn.test:b", 2);
        (f, a, b)
    }

    fn cdb(sa: u8, kind: u8, len: u32) -> [u8; 10] {
        let l = len.to_be_bytes();
        [0x5F, sa, kind, 0, 0, l[0], l[1], l[2], l[3], 0]
    }

    fn basic(key: u64, sa_key: u64, flags: u8) -> Vec<u8> {
        let mut list = vec![0u8; 24];
        list[..8].copy_from_slice(&key.to_be_bytes());
        list[8..16].copy_from_slice(&sa_key.to_be_bytes());
        list[20] = flags;
        list
    }

    fn prout(f: &Fixture, n: NexusId, sa: u8, kind: u8, list: &[u8]) -> CommandResult {
        let len = u32::try_from(list.len()).unwrap();
        f.run_with_data(n, 0, &cdb(sa, kind, len), list)
    }

    fn register(f: &Fixture, n: NexusId, key: u64) {
        good(prout(f, n, REGISTER, 0, &basic(0, key, 0)));
    }

    fn keys(f: &Fixture, n: NexusId) -> Vec<u64> {
        let data = good(f.run_on(n, 0, &[0x5E, 0, 0, 0, 0, 0, 0, 0x10, 0, 0]));
        data[8..]
            .chunks(8)
            .map(|c| u64::from_be_bytes(c.try_into().unwrap()))
            .collect()
    }

    fn status(r: &CommandResult) -> ScsiStatus {
        r.scsi_status()
    }

    #[track_caller]
    fn assert_sense(r: &CommandResult, code: (u8, u8, u8), pointer: Option<u16>) {
        assert_eq!(status(r), ScsiStatus::CheckCondition);
        assert_eq!(sense_code(&r.sense), code, "sense {:02x?}", r.sense);
        if pointer.is_some() {
            // Sense-key specific valid (SKSV), C/D clear: a byte of the parameter list.
            let sks = &r.sense[15..18];
            assert_eq!(sks[0] & 0xC0, 0x80, "sense {:02x?}", r.sense);
            let byte = u16::from_be_bytes([sks[1], sks[2]]);
            assert_eq!(Some(byte), pointer, "sense {:02x?}", r.sense);
        }
    }

    const PARAMETER_LIST_LENGTH: (u8, u8, u8) = (0x05, 0x1A, 0x00);
    const INVALID_IN_LIST: (u8, u8, u8) = (0x05, 0x26, 0x00);

    /// Each malformed PERSISTENT RESERVE OUT gets the sense SPC-4 names and changes nothing.
    #[test]
    fn malformed_parameter_lists_are_refused_by_field() {
        let (f, a, _) = two();
        let mut long = basic(0, KA, 0);
        long.extend_from_slice(&[0; 4]);
        assert_sense(
            &prout(&f, a, RESERVE, WE, &long),
            PARAMETER_LIST_LENGTH,
            None,
        );
        assert_sense(
            &prout(&f, a, REGISTER, 0, &long),
            PARAMETER_LIST_LENGTH,
            None,
        );
        assert_sense(
            &f.run_with_data(a, 0, &cdb(REGISTER, 0, 16), &[0; 16]),
            PARAMETER_LIST_LENGTH,
            None,
        );
        assert_sense(
            &f.run_with_data(a, 0, &cdb(REGISTER, 0, MAX_LIST + 1), &[]),
            PARAMETER_LIST_LENGTH,
            None,
        );
        // Reserved bits of byte 20 and byte 21.
        assert_sense(
            &prout(&f, a, REGISTER, 0, &basic(0, KA, 0x10)),
            INVALID_IN_LIST,
            Some(20),
        );
        assert_sense(
            &prout(&f, a, REGISTER, 0, &basic(0, KA, 0x02)),
            INVALID_IN_LIST,
            Some(20),
        );
        let mut byte21 = basic(0, KA, 0);
        byte21[21] = 1;
        assert_sense(
            &prout(&f, a, REGISTER, 0, &byte21),
            INVALID_IN_LIST,
            Some(21),
        );
        // SPEC_I_PT only with REGISTER, and with a TransportID length that fits the list.
        assert_sense(
            &prout(
                &f,
                a,
                REGISTER_AND_IGNORE_EXISTING_KEY,
                0,
                &basic(0, KA, SPEC_I_PT),
            ),
            INVALID_IN_LIST,
            Some(20),
        );
        let mut spec = basic(0, KA, SPEC_I_PT);
        let tid = iscsi_transport_id(&crate::nexus::InitiatorPort {
            name: "iqn.test:b".into(),
            isid: [0x40, 0, 0, 0, 0, 2],
        });
        spec.extend_from_slice(&(tid.len() as u32 + 4).to_be_bytes());
        spec.extend_from_slice(&tid);
        assert_sense(
            &prout(&f, a, REGISTER, 0, &spec),
            PARAMETER_LIST_LENGTH,
            None,
        );
        let mut bad_tid = basic(0, KA, SPEC_I_PT);
        let mut fc = tid.clone();
        fc[0] = 0x40 | 0x01;
        bad_tid.extend_from_slice(&(fc.len() as u32).to_be_bytes());
        bad_tid.extend_from_slice(&fc);
        assert_sense(
            &prout(&f, a, REGISTER, 0, &bad_tid),
            INVALID_IN_LIST,
            Some(28),
        );
        // REGISTER AND MOVE: a port that does not exist, a TransportID without ISID.
        let mut to_nowhere = basic(KA, KB, 0);
        to_nowhere[18..20].copy_from_slice(&999u16.to_be_bytes());
        to_nowhere[20..24].copy_from_slice(&(tid.len() as u32).to_be_bytes());
        to_nowhere.extend_from_slice(&tid);
        assert_sense(
            &prout(&f, a, REGISTER_AND_MOVE, WE, &to_nowhere),
            INVALID_IN_LIST,
            Some(18),
        );
        let name_only = iscsi_name_transport_id("iqn.test:b");
        let mut to_name = basic(KA, KB, 0);
        to_name[18..20].copy_from_slice(&PORT.to_be_bytes());
        to_name[20..24].copy_from_slice(&(name_only.len() as u32).to_be_bytes());
        to_name.extend_from_slice(&name_only);
        assert_sense(
            &prout(&f, a, REGISTER_AND_MOVE, WE, &to_name),
            INVALID_IN_LIST,
            Some(24),
        );
        assert!(
            keys(&f, a).is_empty(),
            "a refused command registered something"
        );
    }

    #[test]
    fn a_write_exclusive_reservation_lets_others_read_and_not_write() {
        let (f, a, b) = two();
        register(&f, a, KA);
        good(prout(&f, a, RESERVE, WE, &basic(KA, 0, 0)));
        good(f.run_on(a, 0, &WRITE10));
        assert_eq!(
            status(&f.run_on(b, 0, &WRITE10)),
            ScsiStatus::ReservationConflict
        );
        good(f.run_on(b, 0, &READ10));
        good(f.run_on(b, 0, &[0x00, 0, 0, 0, 0, 0]));
        // The same under Exclusive Access: reads conflict too.
        good(prout(&f, a, RELEASE, WE, &basic(KA, 0, 0)));
        good(prout(&f, a, RESERVE, EA, &basic(KA, 0, 0)));
        assert_eq!(
            status(&f.run_on(b, 0, &READ10)),
            ScsiStatus::ReservationConflict
        );
        good(f.run_on(b, 0, &[0x12, 0, 0, 0, 36, 0]));
    }

    /// PREEMPT AND ABORT: the preempted nexus's queued write ends with TASK ABORTED (TAS is
    /// set by default), it is told REGISTRATIONS PREEMPTED, and later writes conflict.
    #[test]
    fn preempt_and_abort_cuts_off_the_preempted_writer() {
        let (f, a, b) = two();
        register(&f, a, KA);
        register(&f, b, KB);
        good(prout(&f, b, RESERVE, WE, &basic(KB, 0, 0)));
        let req = CommandRequest {
            nexus: b,
            lun: lun_address::encode(0),
            cdb: &WRITE10,
            tag: 0xBEEF,
            attr: TaskAttribute::Simple,
            data_out_len: 512,
        };
        let Submission::Queued(in_flight) = f.device.submit(&req) else {
            panic!("B's write was not admitted");
        };
        good(prout(&f, a, PREEMPT_AND_ABORT, WE, &basic(KA, KB, 0)));
        match block_on(f.device.execute(in_flight, vec![0; 512])) {
            Completion::Aborted(kind) => assert_eq!(kind, AbortKind::TaskAborted),
            Completion::Done(r) => panic!("B's write ran: {:?}", r.scsi_status()),
        }
        assert_sense(&f.run_on(b, 0, &WRITE10), (0x06, 0x2A, 0x05), None);
        assert_eq!(
            status(&f.run_on(b, 0, &WRITE10)),
            ScsiStatus::ReservationConflict
        );
        assert_eq!(keys(&f, a), vec![KA]);
        good(f.run_on(a, 0, &WRITE10));
    }

    #[test]
    fn an_spc2_reservation_is_lost_with_its_nexus_and_on_lun_reset() {
        let (f, a, b) = two();
        let c = f.login_as("iqn.test:c", 3);
        good(f.run_on(a, 0, &[0x16, 0, 0, 0, 0, 0]));
        assert_eq!(
            status(&f.run_on(b, 0, &[0x00, 0, 0, 0, 0, 0])),
            ScsiStatus::ReservationConflict
        );
        assert_eq!(
            status(&f.run_on(b, 0, &[0x16, 0, 0, 0, 0, 0])),
            ScsiStatus::ReservationConflict
        );
        good(f.run_on(b, 0, &[0x12, 0, 0, 0, 36, 0]));
        // A RELEASE from a non-holder is GOOD and releases nothing.
        good(f.run_on(b, 0, &[0x17, 0, 0, 0, 0, 0]));
        assert_eq!(
            status(&f.run_on(b, 0, &READ10)),
            ScsiStatus::ReservationConflict
        );
        f.device.logout(a);
        good(f.run_on(b, 0, &[0x16, 0, 0, 0, 0, 0]));
        assert_eq!(
            status(&f.run_on(c, 0, &READ10)),
            ScsiStatus::ReservationConflict
        );
        block_on(f.device.lun_reset(c, lun_address::encode(0)));
        f.run_on(c, 0, &READ10); // the reset's unit attention
        good(f.run_on(c, 0, &READ10));
    }

    #[test]
    fn aptpl_state_survives_the_lun_coming_back_and_only_with_aptpl() {
        for aptpl in [true, false] {
            let (f, a, b) = two();
            let flags = if aptpl { APTPL } else { 0 };
            good(prout(&f, a, REGISTER, 0, &basic(0, KA, flags)));
            good(prout(&f, a, RESERVE, WE, &basic(KA, 0, 0)));
            let config = f.device.lun(LunId(0)).unwrap().config().clone();
            f.device
                .apply(Mutation::LunRemoved { id: LunId(0) })
                .unwrap();
            f.device.apply(Mutation::LunAdded(config)).unwrap();
            f.run_on(b, 0, &[0x00, 0, 0, 0, 0, 0]); // power on
            let expected = if aptpl { vec![KA] } else { vec![] };
            assert_eq!(keys(&f, b), expected, "APTPL {aptpl}");
            let write = status(&f.run_on(b, 0, &WRITE10));
            let blocked = write == ScsiStatus::ReservationConflict;
            assert_eq!(blocked, aptpl, "APTPL {aptpl}: {write:?}");
            assert!(f.device.take_notices().is_empty());
        }
    }

    #[test]
    fn a_damaged_saved_record_is_ignored_with_a_notice() {
        let (f, a, b) = two();
        good(prout(&f, a, REGISTER, 0, &basic(0, KA, APTPL)));
        let mut record = f
            .device
            .store()
            .load(LunId(0), super::aptpl::STORE_KEY)
            .unwrap();
        let last = record.len() - 1;
        record[last] ^= 1;
        f.device
            .store()
            .save(LunId(0), super::aptpl::STORE_KEY, &record)
            .unwrap();
        let config = f.device.lun(LunId(0)).unwrap().config().clone();
        f.device
            .apply(Mutation::LunRemoved { id: LunId(0) })
            .unwrap();
        f.device.apply(Mutation::LunAdded(config)).unwrap();
        f.run_on(b, 0, &[0x00, 0, 0, 0, 0, 0]);
        assert!(keys(&f, b).is_empty());
        let notices = f.device.take_notices();
        assert_eq!(notices.len(), 1);
        assert!(notices[0].contains("checksum"), "{notices:?}");
    }
}
