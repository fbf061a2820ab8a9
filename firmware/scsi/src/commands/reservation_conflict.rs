//! Admission's reservation check: which commands an SPC-2 reservation or a persistent
//! reservation held by another I_T nexus turns into RESERVATION CONFLICT.

use crate::backend::BlockBackend;
use crate::cdb::byte;
use crate::lun::Lun;
use crate::nexus::NexusInfo;
use crate::reservations::AccessKind;
use crate::table::{CommandEntry, Kind};

/// START STOP UNIT byte 4: START, and POWER CONDITION in bits 7..4.
const START: u8 = 0x01;
const POWER_CONDITION: u8 = 0xF0;
/// PREVENT ALLOW MEDIUM REMOVAL byte 4: PREVENT.
const PREVENT: u8 = 0x03;

/// Whether `command` from the nexus `info` meets a reservation it may not pass. Costs two
/// borrows when nothing is reserved, which is the data path's usual case, and no copy when
/// something is.
pub(crate) fn reservation_conflict<B: BlockBackend>(
    l: &Lun<B>,
    info: &NexusInfo,
    command: &CommandEntry,
    cdb: &[u8],
) -> bool {
    let spc2_held = l.spc2.borrow().holder().is_some();
    let pr_held = l.reservations.borrow().reservation().is_some();
    if !spc2_held && !pr_held {
        return false;
    }
    let requester = &info.it;
    if spc2_held && l.spc2.borrow().conflicts(requester, command.flags) {
        return true;
    }
    pr_held
        && l.reservations
            .borrow()
            .conflicts(requester, access_kind(command, cdb))
}

/// The command's class under a persistent reservation: its table flags, except for the two
/// commands whose class depends on the CDB (SBC-4 table 13).
fn access_kind(command: &CommandEntry, cdb: &[u8]) -> AccessKind {
    match command.kind {
        // Starting the unit is harmless; stopping it or changing its power condition is not.
        Kind::StartStopUnit if byte(cdb, 4) & START == 0 || byte(cdb, 4) & POWER_CONDITION != 0 => {
            AccessKind::Write
        }
        Kind::StartStopUnit => AccessKind::Allowed,
        // Allowing removal is harmless; preventing it is not.
        Kind::PreventAllowMediumRemoval if byte(cdb, 4) & PREVENT == 0 => AccessKind::Allowed,
        Kind::PreventAllowMediumRemoval => AccessKind::Write,
        _ => AccessKind::from_flags(command.flags),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::{entries, lookup, Lookup};

    fn entry(cdb: &[u8]) -> &'static CommandEntry {
        match lookup(cdb) {
            Lookup::Found(e) => e,
            _ => panic!("{cdb:02x?} is not in the table"),
        }
    }

    fn kind(cdb: &[u8]) -> AccessKind {
        access_kind(entry(cdb), cdb)
    }

    /// SPC-4 table 63 and SBC-4 table 13, for the commands we implement: what a non-holder
    /// may still do under the Write Exclusive types (`Read`) and under every type (`Allowed`).
    #[test]
    fn commands_are_classed_as_the_standards_list_them() {
        use AccessKind::*;
        let cases: &[(&str, &[u8], AccessKind)] = &[
            ("TEST UNIT READY", &[0x00, 0, 0, 0, 0, 0], Allowed),
            ("REQUEST SENSE", &[0x03, 0, 0, 0, 18, 0], Allowed),
            ("INQUIRY", &[0x12, 0, 0, 0, 36, 0], Allowed),
            (
                "REPORT LUNS",
                &[0xA0, 0, 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0],
                Allowed,
            ),
            (
                "READ CAPACITY(10)",
                &[0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0],
                Allowed,
            ),
            ("LOG SENSE", &[0x4D, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0], Allowed),
            (
                "PERSISTENT RESERVE IN",
                &[0x5E, 0, 0, 0, 0, 0, 0, 0, 8, 0],
                Allowed,
            ),
            (
                "PERSISTENT RESERVE OUT",
                &[0x5F, 0, 0, 0, 0, 0, 0, 0, 24, 0],
                Allowed,
            ),
            ("RESERVE(6)", &[0x16, 0, 0, 0, 0, 0], Allowed),
            ("RELEASE(6)", &[0x17, 0, 0, 0, 0, 0], Allowed),
            ("START STOP UNIT start", &[0x1B, 0, 0, 0, 0x01, 0], Allowed),
            ("START STOP UNIT stop", &[0x1B, 0, 0, 0, 0x00, 0], Write),
            ("START STOP UNIT idle", &[0x1B, 0, 0, 0, 0x21, 0], Write),
            ("PREVENT ALLOW allow", &[0x1E, 0, 0, 0, 0, 0], Allowed),
            ("PREVENT ALLOW prevent", &[0x1E, 0, 0, 0, 1, 0], Write),
            ("READ(10)", &[0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0], Read),
            ("VERIFY(10)", &[0x2F, 0, 0, 0, 0, 0, 0, 0, 1, 0], Read),
            ("MODE SENSE(6)", &[0x1A, 0, 0x3F, 0, 0xFF, 0], Read),
            ("PRE-FETCH(10)", &[0x34, 0, 0, 0, 0, 0, 0, 0, 1, 0], Read),
            ("WRITE(10)", &[0x2A, 0, 0, 0, 0, 0, 0, 0, 1, 0], Write),
            ("MODE SELECT(6)", &[0x15, 0x10, 0, 0, 0, 0], Write),
            (
                "SYNCHRONIZE CACHE(10)",
                &[0x35, 0, 0, 0, 0, 0, 0, 0, 0, 0],
                Write,
            ),
            ("UNMAP", &[0x42, 0, 0, 0, 0, 0, 0, 0, 24, 0], Write),
            ("FORMAT UNIT", &[0x04, 0, 0, 0, 0, 0], Write),
        ];
        for (name, cdb, expected) in cases {
            assert_eq!(kind(cdb), *expected, "{name}");
        }
    }

    /// SPC-2 reservations let through only what SPC-2 lists: INQUIRY, REQUEST SENSE, REPORT
    /// LUNS, RELEASE and the reports of MAINTENANCE IN.
    #[test]
    fn only_the_spc2_exceptions_pass_an_spc2_reservation() {
        use crate::table::Flags;
        let passing: alloc::vec::Vec<&str> = entries()
            .filter(|e| e.flags.contains(Flags::ALLOW_ON_RESV))
            .map(|e| e.name)
            .collect();
        for name in [
            "INQUIRY",
            "REQUEST SENSE",
            "REPORT LUNS",
            "RELEASE(6)",
            "RELEASE(10)",
        ] {
            assert!(passing.contains(&name), "{name} must pass");
        }
        for name in ["TEST UNIT READY", "MODE SENSE(6)", "READ(10)", "RESERVE(6)"] {
            assert!(!passing.contains(&name), "{name} must conflict");
        }
    }
}
