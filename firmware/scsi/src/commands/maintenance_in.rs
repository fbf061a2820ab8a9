//! MAINTENANCE IN reports (SPC-5 §6.36, §6.37, §6.38, §6.39): REPORT TARGET PORT GROUPS,
//! REPORT SUPPORTED OPERATION CODES (generated from the command table, so it can never
//! disagree with what is executed), REPORT SUPPORTED TASK MANAGEMENT FUNCTIONS and REPORT
//! TIMESTAMP.

use super::{sanitize, Ctx, Plan};
use crate::backend::BlockBackend;
use crate::cdb::{be16, be32, byte};
use crate::lun::Lun;
use crate::sense::{asc, Sense};
use crate::status::CommandResult;
use crate::table::{self, AccessClass as A, CommandEntry as E, Flags as F, Kind};
use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};

/// Reports about the device, never about the medium: admitted in every ALUA state, under any
/// reservation and without a medium (CTL's flags for these service actions).
const REPORT: F = F::OK_ON_STANDBY
    .union(F::OK_ON_UNAVAIL)
    .union(F::ALLOW_ON_PR_RESV)
    .union(F::ALLOW_ON_RESV)
    .union(F::OK_ON_NO_MEDIA)
    .union(F::DATA_IN);

const REPORT_TARGET_PORT_GROUPS: u8 = 0x0A;
const REPORT_SUPPORTED_OPERATION_CODES: u8 = 0x0C;
const REPORT_SUPPORTED_TMFS: u8 = 0x0D;
const REPORT_TIMESTAMP: u8 = 0x0F;

pub(crate) const ENTRIES: &[E] = &[
    E::new(
        0xA3,
        "REPORT TARGET PORT GROUPS",
        Kind::ReportTargetPortGroups,
        REPORT,
        A::Free,
        &[
            0xA3,
            0xE0 | REPORT_TARGET_PORT_GROUPS,
            0,
            0,
            0,
            0,
            0xFF,
            0xFF,
            0xFF,
            0xFF,
            0,
            0x07,
        ],
    )
    .service_action(REPORT_TARGET_PORT_GROUPS),
    E::new(
        0xA3,
        "REPORT SUPPORTED OPERATION CODES",
        Kind::ReportSupportedOperationCodes,
        REPORT,
        A::Free,
        &[
            0xA3,
            REPORT_SUPPORTED_OPERATION_CODES,
            0x87,
            0xFF,
            0xFF,
            0xFF,
            0xFF,
            0xFF,
            0xFF,
            0xFF,
            0,
            0x07,
        ],
    )
    .service_action(REPORT_SUPPORTED_OPERATION_CODES),
    E::new(
        0xA3,
        "REPORT SUPPORTED TASK MANAGEMENT FUNCTIONS",
        Kind::ReportSupportedTaskManagementFunctions,
        REPORT,
        A::Free,
        &[
            0xA3,
            REPORT_SUPPORTED_TMFS,
            0x80,
            0,
            0,
            0,
            0xFF,
            0xFF,
            0xFF,
            0xFF,
            0,
            0x07,
        ],
    )
    .service_action(REPORT_SUPPORTED_TMFS),
    E::new(
        0xA3,
        "REPORT TIMESTAMP",
        Kind::ReportTimestamp,
        REPORT,
        A::Free,
        &[
            0xA3,
            REPORT_TIMESTAMP,
            0,
            0,
            0,
            0,
            0xFF,
            0xFF,
            0xFF,
            0xFF,
            0,
            0x07,
        ],
    )
    .service_action(REPORT_TIMESTAMP),
];

/// REPORT SUPPORTED OPERATION CODES reporting options (SPC-5 table 272).
const ALL_COMMANDS: u8 = 0b000;
const ONE_OPCODE: u8 = 0b001;
const OPCODE_AND_SERVICE_ACTION: u8 = 0b010;
const OPCODE_WITH_OR_WITHOUT_SERVICE_ACTION: u8 = 0b011;
const RCTD: u8 = 0x80;

/// SUPPORT field values (SPC-5 table 276).
const NOT_SUPPORTED: u8 = 0b001;
const SUPPORTED_AS_STANDARD: u8 = 0b011;

/// Command timeouts descriptor length (SPC-5 table 277).
const TIMEOUTS_DESCRIPTOR_LENGTH: u16 = 0x0A;

/// REPORT TARGET PORT GROUPS PARAMETER DATA FORMAT values.
const LENGTH_ONLY: u8 = 0b000;
const EXTENDED: u8 = 0b001;
/// Supported access states: T_SUP, U_SUP, S_SUP, AN_SUP, AO_SUP (no Offline, no LBA
/// dependent), as CTL reports.
const SUPPORTED_STATES: u8 = 0x80 | 0x08 | 0x04 | 0x02 | 0x01;
/// STATUS CODE: the state was last changed implicitly (we implement implicit ALUA only).
const STATUS_IMPLICIT: u8 = 0x02;

/// REPORT SUPPORTED TASK MANAGEMENT FUNCTIONS byte 0: ATS, ATSS, CTSS, LURS, QTS, TRS.
const TMF_BYTE0: u8 = 0x80 | 0x40 | 0x10 | 0x08 | 0x04 | 0x02;
/// Byte 1: QAES, QTSS, ITNRS.
const TMF_BYTE1: u8 = 0x04 | 0x02 | 0x01;
const REPD: u8 = 0x80;

/// Without a clock from the board (tests), REPORT TIMESTAMP reports this counter, which
/// starts at 0 with the process and advances by one per report, with the TIMESTAMP ORIGIN
/// saying it was initialized to zero at power on (SPC-5 table 288, 000b): monotonic, never a
/// date.
static TIMESTAMP: AtomicU64 = AtomicU64::new(0);

/// TIMESTAMP ORIGIN 011b: set by a method outside SPC (the board's clock).
const ORIGIN_OUTSIDE: u8 = 0b011;

/// Upper bound on the data REPORT TARGET PORT GROUPS returns, for the buffer budget.
const MAX_PORT_GROUPS_DATA: u32 = 64 << 10;

/// Whether `opcode` is one whose commands are told apart by service action.
fn has_service_actions(opcode: u8) -> bool {
    table::entries().any(|e| e.opcode == opcode && e.service_action.is_some())
}

fn opcode_known(opcode: u8) -> bool {
    table::entries().any(|e| e.opcode == opcode)
}

pub(crate) fn precheck<B: BlockBackend>(
    kind: Kind,
    _lun: Option<&Lun<B>>,
    cdb: &[u8],
) -> Result<Plan, Sense> {
    let allocation_length = be32(cdb, 6);
    let bound = match kind {
        Kind::ReportTargetPortGroups => {
            if !matches!(byte(cdb, 1) >> 5, LENGTH_ONLY | EXTENDED) {
                return Err(Sense::invalid_field_in_cdb(1, Some(7)));
            }
            MAX_PORT_GROUPS_DATA
        }
        Kind::ReportSupportedOperationCodes => {
            let opcode = byte(cdb, 3);
            match byte(cdb, 2) & 0x07 {
                ALL_COMMANDS | OPCODE_WITH_OR_WITHOUT_SERVICE_ACTION => {}
                // SPC-5 table 272: asking for an opcode the wrong way, with or without a
                // service action, is INVALID FIELD IN CDB.
                ONE_OPCODE if has_service_actions(opcode) => {
                    return Err(Sense::invalid_field_in_cdb(2, Some(2)));
                }
                OPCODE_AND_SERVICE_ACTION
                    if opcode_known(opcode) && !has_service_actions(opcode) =>
                {
                    return Err(Sense::invalid_field_in_cdb(2, Some(2)));
                }
                ONE_OPCODE | OPCODE_AND_SERVICE_ACTION => {}
                _ => return Err(Sense::invalid_field_in_cdb(2, Some(2))),
            }
            u32::try_from(table::entries().count() * 20 + 4).unwrap_or(u32::MAX)
        }
        Kind::ReportSupportedTaskManagementFunctions => 16,
        _ => 12,
    };
    Ok(Plan::data_in(allocation_length.min(bound)))
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
    let allocation_length = usize::try_from(be32(ctx.cdb, 6)).unwrap_or(usize::MAX);
    let data = match kind {
        Kind::ReportTargetPortGroups => report_target_port_groups(ctx, lun),
        Kind::ReportSupportedOperationCodes => report_supported_operation_codes(ctx.cdb, lun),
        Kind::ReportSupportedTaskManagementFunctions => {
            report_supported_task_management_functions(ctx.cdb)
        }
        Kind::ReportTimestamp => report_timestamp(ctx.device.now_ms()),
        _ => return ctx.fail(&asc::INVALID_COMMAND_OPERATION_CODE),
    };
    ctx.data_in(data, allocation_length)
}

/// One target port group descriptor per group with a port that exposes the LUN (SPC-5
/// §6.37), after the 4-byte or, for the extended format, 8-byte header.
fn report_target_port_groups<B: BlockBackend>(ctx: &Ctx<'_, B>, lun: &Lun<B>) -> Vec<u8> {
    let mut groups: BTreeMap<u16, Vec<u16>> = BTreeMap::new();
    for port in ctx.device.ports() {
        if port.unmap(lun.id()).is_some() {
            groups.entry(port.tpg).or_default().push(port.relative_id);
        }
    }
    let extended = byte(ctx.cdb, 1) >> 5 == EXTENDED;
    let mut data = Vec::new();
    data.extend_from_slice(&[0; 4]);
    if extended {
        // FORMAT TYPE 001b, IMPLICIT TRANSITION TIME 0: transitions are immediate.
        data.extend_from_slice(&[EXTENDED << 4, 0, 0, 0]);
    }
    for (tpg, ports) in groups {
        let state = ctx.device.access_state(tpg) as u8;
        data.push(state); // PREF 0
        data.push(SUPPORTED_STATES);
        data.extend_from_slice(&tpg.to_be_bytes());
        data.push(0);
        data.push(STATUS_IMPLICIT);
        data.push(0); // vendor specific
        data.push(u8::try_from(ports.len()).unwrap_or(u8::MAX));
        for relative_id in ports.iter().take(usize::from(u8::MAX)) {
            data.extend_from_slice(&[0, 0]);
            data.extend_from_slice(&relative_id.to_be_bytes());
        }
    }
    // RETURN DATA LENGTH counts what follows the length field itself.
    let length = u32::try_from(data.len() - 4).unwrap_or(u32::MAX);
    data[..4].copy_from_slice(&length.to_be_bytes());
    data
}

/// The entries REPORT SUPPORTED OPERATION CODES lists for `lun`: the table, less what this
/// LUN cannot run, by opcode then service action.
fn offered<B: BlockBackend>(lun: &Lun<B>) -> Vec<&'static E> {
    let mut entries: Vec<&'static E> = table::entries()
        .filter(|e| sanitize::offered(e, lun))
        .collect();
    entries.sort_by_key(|e| (e.opcode, e.service_action));
    entries
}

/// Command timeouts descriptor (SPC-5 §6.39.4).
fn timeouts_descriptor(e: &E, out: &mut Vec<u8>) {
    out.extend_from_slice(&TIMEOUTS_DESCRIPTOR_LENGTH.to_be_bytes());
    out.extend_from_slice(&[0, 0]); // reserved, COMMAND SPECIFIC
    out.extend_from_slice(&e.timeouts.0.to_be_bytes());
    out.extend_from_slice(&e.timeouts.1.to_be_bytes());
}

fn report_supported_operation_codes<B: BlockBackend>(cdb: &[u8], lun: &Lun<B>) -> Vec<u8> {
    let rctd = byte(cdb, 2) & RCTD != 0;
    let options = byte(cdb, 2) & 0x07;
    let entries = offered(lun);
    if options == ALL_COMMANDS {
        let mut data = alloc::vec![0u8; 4];
        for e in entries {
            data.push(e.opcode);
            data.push(0);
            data.extend_from_slice(&u16::from(e.service_action.unwrap_or(0)).to_be_bytes());
            data.push(0);
            data.push(u8::from(rctd) << 1 | u8::from(e.service_action.is_some()));
            data.extend_from_slice(&(e.cdb_len() as u16).to_be_bytes());
            if rctd {
                timeouts_descriptor(e, &mut data);
            }
        }
        let length = u32::try_from(data.len() - 4).unwrap_or(u32::MAX);
        data[..4].copy_from_slice(&length.to_be_bytes());
        return data;
    }
    let opcode = byte(cdb, 3);
    let requested_sa = be16(cdb, 4);
    // Precheck refused the combinations that ask for an opcode the wrong way; what is left
    // either names one entry or nothing supported. Without service actions only the
    // requested service action 0 names the command.
    let found = entries.into_iter().find(|e| {
        e.opcode == opcode
            && match e.service_action {
                Some(sa) => u16::from(sa) == requested_sa,
                None => options == ONE_OPCODE || requested_sa == 0,
            }
    });
    let Some(e) = found else {
        return alloc::vec![0, NOT_SUPPORTED, 0, 0];
    };
    let mut data = alloc::vec![0, u8::from(rctd) << 7 | SUPPORTED_AS_STANDARD];
    data.extend_from_slice(&(e.cdb_len() as u16).to_be_bytes());
    // The usage data is the mask validation applies: byte 0 the opcode, the service action
    // field holding the service action itself.
    data.extend_from_slice(e.usage);
    if rctd {
        timeouts_descriptor(e, &mut data);
    }
    data
}

/// SPC-5 §6.38: what task management the iSCSI transport carries to the core.
fn report_supported_task_management_functions(cdb: &[u8]) -> Vec<u8> {
    let mut data = alloc::vec![TMF_BYTE0, TMF_BYTE1, 0, 0];
    if byte(cdb, 2) & REPD != 0 {
        // Extended: ADDITIONAL DATA LENGTH 0Ch and TMFTMOV 0 (no timeouts reported).
        data[3] = 0x0C;
        data.extend_from_slice(&[0; 12]);
    }
    data
}

fn report_timestamp(clock: Option<u64>) -> Vec<u8> {
    let mut data = alloc::vec![0u8; 12];
    data[..2].copy_from_slice(&10u16.to_be_bytes()); // TIMESTAMP PARAMETER DATA LENGTH
    let now = match clock {
        Some(ms) => {
            data[2] = ORIGIN_OUTSIDE;
            ms
        }
        // TIMESTAMP ORIGIN 000b: initialized to zero at power on.
        None => TIMESTAMP.fetch_add(1, Ordering::Relaxed),
    };
    data[4..10].copy_from_slice(&(now & 0xFFFF_FFFF_FFFF).to_be_bytes()[2..]);
    data
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;
    use crate::alua::AccessState;
    use crate::lun::LunId;
    use crate::mutation::Mutation;
    use crate::nexus::PortConfig;
    use alloc::string::ToString;

    fn rsoc(rctd: bool, options: u8, opcode: u8, sa: u16, alloc: u32) -> [u8; 12] {
        let s = sa.to_be_bytes();
        let a = alloc.to_be_bytes();
        let b2 = if rctd { RCTD } else { 0 } | options;
        [
            0xA3, 0x0C, b2, opcode, s[0], s[1], a[0], a[1], a[2], a[3], 0, 0,
        ]
    }

    /// (opcode, service action, CTDP, SERVACTV, CDB length) of an all-commands report.
    fn descriptors(d: &[u8]) -> Vec<(u8, u16, bool, bool, u16)> {
        let mut out = Vec::new();
        let end = 4 + be32(d, 0) as usize;
        assert_eq!(end, d.len());
        let mut i = 4;
        while i < end {
            let ctdp = d[i + 5] & 0x02 != 0;
            out.push((
                d[i],
                be16(d, i + 2),
                ctdp,
                d[i + 5] & 0x01 != 0,
                be16(d, i + 6),
            ));
            i += 8;
            if ctdp {
                assert_eq!(be16(d, i), 0x0A);
                i += 12;
            }
        }
        out
    }

    #[test]
    fn all_commands_come_from_the_table_sorted() {
        let f = Fixture::new();
        let d = good(f.run(0, &rsoc(false, 0, 0, 0, 65535)));
        let got = descriptors(&d);
        let mut want: Vec<_> = table::entries()
            .filter(|e| e.kind != Kind::Sanitize || e.service_action != Some(0x02))
            .map(|e| {
                let sa = e.service_action;
                (
                    e.opcode,
                    u16::from(sa.unwrap_or(0)),
                    false,
                    sa.is_some(),
                    e.cdb_len() as u16,
                )
            })
            .collect();
        want.sort();
        assert_eq!(got, want);
        // SERVACTV clear means service action 0.
        assert!(got
            .iter()
            .all(|&(_, sa, _, servactv, _)| servactv || sa == 0));
        let read10 = got.iter().find(|d| d.0 == 0x28).unwrap();
        assert_eq!(read10.4, 10);
    }

    #[test]
    fn rctd_adds_a_timeouts_descriptor_to_every_command() {
        let f = Fixture::new();
        let d = good(f.run(0, &rsoc(true, 0, 0, 0, 65535)));
        let got = descriptors(&d);
        assert!(!got.is_empty());
        assert!(got.iter().all(|d| d.2));
        // The overwrite's recommended timeout is in its descriptor.
        let mut i = 4;
        while d[i] != 0x48 {
            i += 20;
        }
        assert_eq!(be32(&d, i + 8 + 8), 3600);
    }

    #[test]
    fn one_command_reports_the_usage_mask() {
        let f = Fixture::new();
        let d = good(f.run(0, &rsoc(false, 1, 0x28, 0, 65535)));
        let read10 = table::entries().find(|e| e.kind == Kind::Read10).unwrap();
        assert_eq!(d[1], SUPPORTED_AS_STANDARD);
        assert_eq!(be16(&d, 2), 10);
        assert_eq!(&d[4..], read10.usage);
        assert_eq!(d[5] & 0x18, 0x18, "DPO and FUA are honoured");
        let d = good(f.run(0, &rsoc(true, 2, 0x9E, 0x10, 65535)));
        assert_eq!(d[1], 0x80 | SUPPORTED_AS_STANDARD);
        assert_eq!(d[4], 0x9E);
        assert_eq!(d[5] & 0x1F, 0x10);
        assert_eq!(d.len(), 4 + 16 + 12);
        assert_eq!(be16(&d, 20), 0x0A);
    }

    #[test]
    fn one_command_of_something_unsupported_says_so() {
        let f = Fixture::new();
        assert_eq!(good(f.run(0, &rsoc(false, 1, 0xFF, 0, 64))), [0, 1, 0, 0]);
        assert_eq!(
            good(f.run(0, &rsoc(false, 2, 0x9E, 0x11, 64))),
            [0, 1, 0, 0]
        );
        assert_eq!(good(f.run(0, &rsoc(false, 3, 0x28, 1, 64))), [0, 1, 0, 0]);
        assert_eq!(good(f.run(0, &rsoc(false, 3, 0x28, 0, 64)))[1], 3);
        assert_eq!(good(f.run(0, &rsoc(false, 3, 0xA3, 0x0C, 64)))[1], 3);
        // Block erase exists only where the backend deallocates; the test backend does not.
        assert_eq!(
            good(f.run(0, &rsoc(false, 2, 0x48, 0x02, 64))),
            [0, 1, 0, 0]
        );
        assert_eq!(good(f.run(0, &rsoc(false, 2, 0x48, 0x01, 64)))[1], 3);
    }

    #[test]
    fn asking_for_an_opcode_the_wrong_way_is_an_invalid_field() {
        let f = Fixture::new();
        assert_invalid_field(&f.run(0, &rsoc(false, 1, 0xA3, 0, 64)), 2);
        assert_invalid_field(&f.run(0, &rsoc(false, 1, 0x48, 0, 64)), 2);
        assert_invalid_field(&f.run(0, &rsoc(false, 2, 0x28, 0, 64)), 2);
        for options in 4..8 {
            assert_invalid_field(&f.run(0, &rsoc(false, options, 0, 0, 64)), 2);
        }
        let mut cdb = rsoc(false, 0, 0, 0, 64);
        cdb[2] |= 0x08;
        assert_invalid_field(&f.run(0, &cdb), 2);
        cdb = rsoc(false, 0, 0, 0, 64);
        cdb[10] = 1;
        assert_invalid_field(&f.run(0, &cdb), 10);
    }

    #[test]
    fn every_listed_command_reads_back_as_one_command() {
        let f = Fixture::new();
        let all = descriptors(&good(f.run(0, &rsoc(false, 0, 0, 0, 65535))));
        for (opcode, sa, _, servactv, len) in all {
            let options = if servactv { 2 } else { 1 };
            let d = good(f.run(0, &rsoc(false, options, opcode, sa, 65535)));
            assert_eq!(d[1] & 0x07, SUPPORTED_AS_STANDARD, "{opcode:02x}/{sa:02x}");
            assert_eq!(be16(&d, 2), len);
            assert_eq!(d[4], opcode);
        }
    }

    #[test]
    fn allocation_length_truncates() {
        let f = Fixture::new();
        let d = good(f.run(0, &rsoc(false, 0, 0, 0, 10)));
        assert_eq!(d.len(), 10);
        assert!(good(f.run(0, &rsoc(false, 0, 0, 0, 0))).is_empty());
    }

    #[test]
    fn task_management_functions_in_both_formats() {
        let f = Fixture::new();
        let cdb = |repd: u8, alloc: u8| [0xA3, 0x0D, repd, 0, 0, 0, 0, 0, 0, alloc, 0, 0];
        assert_eq!(good(f.run(0, &cdb(0, 255))), [0xDE, 0x07, 0, 0]);
        let d = good(f.run(0, &cdb(0x80, 255)));
        assert_eq!(d.len(), 16);
        assert_eq!(&d[..4], [0xDE, 0x07, 0, 0x0C]);
        assert_eq!(good(f.run(0, &cdb(0x80, 2))), [0xDE, 0x07]);
        assert_invalid_field(&f.run(0, &cdb(0x40, 255)), 2);
    }

    #[test]
    fn timestamps_never_go_backwards() {
        let f = Fixture::new();
        let cdb = [0xA3, 0x0F, 0, 0, 0, 0, 0, 0, 0, 12, 0, 0];
        let first = good(f.run(0, &cdb));
        let second = good(f.run(0, &cdb));
        assert_eq!(first.len(), 12);
        assert_eq!(be16(&first, 0), 10);
        assert_eq!(first[2] & 0x07, 0, "origin: zero at power on");
        assert!(crate::cdb::be(&second, 4, 6) > crate::cdb::be(&first, 4, 6));
        assert_invalid_field(&f.run(0, &[0xA3, 0x0F, 1, 0, 0, 0, 0, 0, 0, 12, 0, 0]), 2);
    }

    #[test]
    fn timestamps_come_from_the_board_clock_when_there_is_one() {
        let mut f = Fixture::new();
        f.device.set_clock(|| 1_764_028_800_123);
        let d = good(f.run(0, &[0xA3, 0x0F, 0, 0, 0, 0, 0, 0, 0, 12, 0, 0]));
        assert_eq!(d[2] & 0x07, 0b011);
        assert_eq!(crate::cdb::be(&d, 4, 6), 1_764_028_800_123);
    }

    fn rtpg(format: u8, alloc: u32) -> [u8; 12] {
        let a = alloc.to_be_bytes();
        [
            0xA3,
            format << 5 | 0x0A,
            0,
            0,
            0,
            0,
            a[0],
            a[1],
            a[2],
            a[3],
            0,
            0,
        ]
    }

    fn second_port(
        relative_id: u16,
        tpg: u16,
        lun_map: Option<BTreeMap<u32, LunId>>,
    ) -> PortConfig {
        PortConfig {
            relative_id,
            tpg,
            target_name: TARGET_NAME.to_string(),
            port_name: alloc::format!("{TARGET_NAME},t,0x{relative_id:04x}"),
            lun_map,
        }
    }

    #[test]
    fn one_group_per_tpg_with_its_state_and_ports() {
        let f = Fixture::new();
        f.device
            .apply(Mutation::PortAdded(second_port(0x101, 3, None)))
            .unwrap();
        f.device
            .apply(Mutation::PortAdded(second_port(0x102, 3, None)))
            .unwrap();
        // A port that does not expose LUN 0 does not make its group appear.
        let elsewhere = BTreeMap::from([(0, LunId(9))]);
        f.device
            .apply(Mutation::PortAdded(second_port(0x200, 4, Some(elsewhere))))
            .unwrap();
        f.device.set_access_state(3, AccessState::Standby);
        let d = good(f.run(0, &rtpg(0, 1024)));
        assert_eq!(be32(&d, 0) as usize, d.len() - 4);
        assert_eq!(d.len(), 4 + (8 + 4) + (8 + 8));
        let g = &d[4..];
        assert_eq!(g[0], AccessState::ActiveOptimized as u8);
        assert_eq!(g[1], SUPPORTED_STATES);
        assert_eq!(be16(g, 2), TPG);
        assert_eq!(g[5], STATUS_IMPLICIT);
        assert_eq!(g[7], 1);
        assert_eq!(be16(g, 10), PORT);
        let g = &d[16..];
        assert_eq!(g[0], AccessState::Standby as u8);
        assert_eq!(be16(g, 2), 3);
        assert_eq!(g[7], 2);
        assert_eq!((be16(g, 10), be16(g, 14)), (0x101, 0x102));
    }

    #[test]
    fn the_extended_header_carries_the_format_and_transition_time() {
        let f = Fixture::new();
        let d = good(f.run(0, &rtpg(1, 1024)));
        assert_eq!(be32(&d, 0) as usize, d.len() - 4);
        assert_eq!(&d[4..8], [0x10, 0, 0, 0]);
        assert_eq!(d.len(), 8 + 12);
        assert_eq!(be16(&d, 10), TPG);
        // Truncated to the allocation length, the length field still tells the whole size.
        let d = good(f.run(0, &rtpg(0, 6)));
        assert_eq!(d.len(), 6);
        assert_eq!(be32(&d, 0), 12);
        assert_invalid_field(&f.run(0, &rtpg(2, 1024)), 1);
    }

    #[test]
    fn reports_run_in_every_access_state() {
        let f = Fixture::new();
        for state in [
            AccessState::Standby,
            AccessState::Unavailable,
            AccessState::Transitioning,
        ] {
            f.device.set_access_state(TPG, state);
            let d = good(f.run(0, &rtpg(0, 1024)));
            assert_eq!(d[4] & 0x0F, state as u8);
            good(f.run(0, &rsoc(false, 0, 0, 0, 64)));
            good(f.run(0, &[0xA3, 0x0D, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0]));
            good(f.run(0, &[0xA3, 0x0F, 0, 0, 0, 0, 0, 0, 0, 12, 0, 0]));
        }
    }
}
