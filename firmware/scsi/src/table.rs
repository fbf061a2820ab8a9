//! The command table: every command the device server knows, with its CDB usage mask and flags.
//!
//! One table drives validation (bits outside the usage mask are INVALID FIELD IN CDB), admission
//! (flags), ordering (the access class) and, later, REPORT SUPPORTED OPERATION CODES, so what is
//! reported can never disagree with what is executed.

/// What a command is, for dispatch. Each family file under `commands/` handles its kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    // commands/start_stop.rs: readiness and the medium
    TestUnitReady,
    StartStopUnit,
    PreventAllowMediumRemoval,
    // commands/request_sense.rs, inquiry.rs, report_luns.rs, read_capacity.rs
    RequestSense,
    Inquiry,
    ReportLuns,
    ReadCapacity10,
    ReadCapacity16,
    // commands/mode_sense.rs, mode_select.rs, log_sense.rs
    ModeSense6,
    ModeSense10,
    ModeSelect6,
    ModeSelect10,
    LogSense,
    // commands/read_write.rs
    Read6,
    Read10,
    Read12,
    Read16,
    Write6,
    Write10,
    Write12,
    Write16,
    // commands/verify.rs
    Verify10,
    Verify12,
    Verify16,
    WriteAndVerify10,
    WriteAndVerify12,
    WriteAndVerify16,
    // commands/write_same.rs
    WriteSame10,
    WriteSame16,
    // commands/unmap.rs
    Unmap,
    GetLbaStatus,
    // commands/compare_and_write.rs
    CompareAndWrite,
    OrWrite16,
    // commands/write_atomic.rs
    WriteAtomic16,
    // commands/prefetch.rs
    PreFetch10,
    PreFetch16,
    // commands/synchronize_cache.rs
    SynchronizeCache10,
    SynchronizeCache16,
    // commands/format_unit.rs, sanitize.rs, read_defect_data.rs
    FormatUnit,
    Sanitize,
    ReadDefectData10,
    ReadDefectData12,
    // commands/buffer.rs
    ReadBuffer10,
    ReadBuffer16,
    WriteBuffer,
    // commands/maintenance_in.rs
    ReportSupportedOperationCodes,
    ReportSupportedTaskManagementFunctions,
    ReportTimestamp,
    ReportTargetPortGroups,
    // commands/persistent_reserve.rs, reserve_release.rs
    PersistentReserveIn,
    PersistentReserveOut,
    Reserve,
    Release,
}

/// Command flags, named after CTL's `CTL_CMD_FLAG_*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flags(u32);

impl Flags {
    pub const NONE: Flags = Flags(0);
    /// Runs without a LUN behind it (INQUIRY, REPORT LUNS, REQUEST SENSE).
    pub const OK_ON_NO_LUN: Flags = Flags(1 << 0);
    /// Does not report or clear a pending unit attention.
    pub const NO_SENSE: Flags = Flags(1 << 1);
    /// Admitted through a port whose group is in ALUA Standby.
    pub const OK_ON_STANDBY: Flags = Flags(1 << 2);
    /// Admitted through a port whose group is Unavailable or Transitioning.
    pub const OK_ON_UNAVAIL: Flags = Flags(1 << 3);
    /// Allowed despite a persistent reservation held by another nexus.
    pub const ALLOW_ON_PR_RESV: Flags = Flags(1 << 4);
    /// Allowed under Write Exclusive reservation types (reads).
    pub const ALLOW_ON_PR_WRESV: Flags = Flags(1 << 5);
    /// Never forwarded to the HA peer.
    pub const RUN_HERE: Flags = Flags(1 << 6);
    /// Transfers data from the initiator.
    pub const DATA_OUT: Flags = Flags(1 << 7);
    /// Transfers data to the initiator.
    pub const DATA_IN: Flags = Flags(1 << 8);
    /// Allowed despite an SPC-2 reservation held by another nexus.
    pub const ALLOW_ON_RESV: Flags = Flags(1 << 9);
    /// Runs when the medium is not present (removable LUN ejected).
    pub const OK_ON_NO_MEDIA: Flags = Flags(1 << 10);

    pub const fn union(self, other: Flags) -> Flags {
        Flags(self.0 | other.0)
    }

    pub const fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }
}

/// How a command takes part in task-set ordering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessClass {
    /// Touches no medium state; never waits.
    Free,
    /// Reads a block range.
    Read,
    /// Writes a block range.
    Write,
    /// Waits for every earlier write (SYNCHRONIZE CACHE).
    Flush,
}

pub struct CommandEntry {
    pub opcode: u8,
    pub service_action: Option<u8>,
    pub name: &'static str,
    pub kind: Kind,
    pub flags: Flags,
    pub access: AccessClass,
    /// CDB usage data: byte 0 is the opcode, each further byte the bits the command honours.
    pub usage: &'static [u8],
    /// Nominal and recommended command timeouts in seconds (0: not specified), reported by
    /// REPORT SUPPORTED OPERATION CODES with RCTD.
    pub timeouts: (u32, u32),
}

/// Flags of the commands that run without a LUN and in every ALUA state (INQUIRY, REPORT
/// LUNS, REQUEST SENSE).
pub const LUNLESS: Flags = Flags::OK_ON_NO_LUN
    .union(Flags::NO_SENSE)
    .union(Flags::OK_ON_STANDBY)
    .union(Flags::OK_ON_UNAVAIL)
    .union(Flags::ALLOW_ON_PR_RESV);
/// Flags of the block reads.
pub const READ: Flags = Flags::ALLOW_ON_PR_WRESV.union(Flags::DATA_IN);

impl CommandEntry {
    /// An entry without service action and with unspecified timeouts.
    pub const fn new(
        opcode: u8,
        name: &'static str,
        kind: Kind,
        flags: Flags,
        access: AccessClass,
        usage: &'static [u8],
    ) -> Self {
        CommandEntry {
            opcode,
            service_action: None,
            name,
            kind,
            flags,
            access,
            usage,
            timeouts: (0, 0),
        }
    }

    pub const fn service_action(mut self, sa: u8) -> Self {
        self.service_action = Some(sa);
        self
    }

    /// Nominal and recommended timeouts in seconds.
    pub const fn timeouts(mut self, nominal: u32, recommended: u32) -> Self {
        self.timeouts = (nominal, recommended);
        self
    }

    pub const fn cdb_len(&self) -> usize {
        self.usage.len()
    }

    /// Finds the first CDB bit outside the usage mask: (byte, bit).
    pub fn invalid_bit(&self, cdb: &[u8]) -> Option<(u16, u8)> {
        for (i, (&b, &mask)) in cdb.iter().zip(self.usage.iter()).enumerate().skip(1) {
            // The service action byte is matched, not masked.
            if self.service_action.is_some() && i == 1 {
                if b & !0x1F & !mask != 0 {
                    let extra = b & !0x1F & !mask;
                    return Some((1, 7 - extra.leading_zeros() as u8));
                }
                continue;
            }
            let extra = b & !mask;
            if extra != 0 {
                return Some((i as u16, 7 - extra.leading_zeros() as u8));
            }
        }
        None
    }
}

/// Every entry of every command family.
pub fn entries() -> impl Iterator<Item = &'static CommandEntry> {
    crate::commands::FAMILIES.iter().flat_map(|f| f.iter())
}

/// Result of looking a CDB up in the table.
pub enum Lookup {
    Found(&'static CommandEntry),
    /// The opcode is unknown.
    UnknownOpcode,
    /// The opcode is known but not with this service action.
    UnknownServiceAction,
}

pub fn lookup(cdb: &[u8]) -> Lookup {
    let Some(&opcode) = cdb.first() else {
        return Lookup::UnknownOpcode;
    };
    let sa = cdb.get(1).copied().unwrap_or(0) & 0x1F;
    let mut opcode_known = false;
    for e in entries().filter(|e| e.opcode == opcode) {
        opcode_known = true;
        match e.service_action {
            None => return Lookup::Found(e),
            Some(want) if want == sa => return Lookup::Found(e),
            Some(_) => {}
        }
    }
    if opcode_known {
        Lookup::UnknownServiceAction
    } else {
        Lookup::UnknownOpcode
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_opcode_and_service_action_is_listed_once() {
        let mut seen: alloc::vec::Vec<_> =
            entries().map(|e| (e.opcode, e.service_action)).collect();
        let n = seen.len();
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), n, "an opcode/service action appears twice");
        for e in entries() {
            if e.service_action.is_some() {
                assert!(
                    !entries().any(|o| o.opcode == e.opcode && o.service_action.is_none()),
                    "{} mixes entries with and without service actions",
                    e.name
                );
            }
        }
    }

    #[test]
    fn usage_byte_zero_is_the_opcode() {
        for e in entries() {
            assert_eq!(e.usage[0], e.opcode, "{}", e.name);
            if let Some(sa) = e.service_action {
                assert_eq!(e.usage[1] & 0x1F, sa, "{}", e.name);
            }
        }
    }

    #[test]
    fn finds_by_service_action() {
        assert!(
            matches!(lookup(&[0x9E, 0x10]), Lookup::Found(e) if e.kind == Kind::ReadCapacity16)
        );
        assert!(matches!(
            lookup(&[0x9E, 0x11]),
            Lookup::UnknownServiceAction
        ));
        assert!(matches!(lookup(&[0xFF]), Lookup::UnknownOpcode));
        assert!(matches!(lookup(&[]), Lookup::UnknownOpcode));
    }

    #[test]
    fn reports_the_first_bit_outside_the_mask() {
        let e = entries().find(|e| e.kind == Kind::Read10).unwrap();
        assert_eq!(
            e.invalid_bit(&[0x28, 0x20, 0, 0, 0, 0, 0, 0, 1, 0]),
            Some((1, 5))
        );
        assert_eq!(e.invalid_bit(&[0x28, 0x08, 0, 0, 0, 0, 0, 0, 1, 0]), None);
    }
}
