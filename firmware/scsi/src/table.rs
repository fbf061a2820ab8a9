//! The command table: every command the device server knows, with its CDB usage mask and flags.
//!
//! One table drives validation (bits outside the usage mask are INVALID FIELD IN CDB), admission
//! (flags), ordering (the access class) and, later, REPORT SUPPORTED OPERATION CODES, so what is
//! reported can never disagree with what is executed.

/// What a command is, for dispatch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    TestUnitReady,
    RequestSense,
    Inquiry,
    ModeSense6,
    ModeSense10,
    ReadCapacity10,
    ReadCapacity16,
    Read6,
    Read10,
    Read12,
    Read16,
    Write6,
    Write10,
    Write12,
    Write16,
    SynchronizeCache10,
    SynchronizeCache16,
    ReportLuns,
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
}

impl CommandEntry {
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

use AccessClass as A;
use Flags as F;

const LUNLESS: Flags = F::OK_ON_NO_LUN
    .union(F::NO_SENSE)
    .union(F::OK_ON_STANDBY)
    .union(F::OK_ON_UNAVAIL)
    .union(F::ALLOW_ON_PR_RESV);
const READ: Flags = F::ALLOW_ON_PR_WRESV.union(F::DATA_IN);

/// Sorted by opcode, then service action.
pub static COMMANDS: &[CommandEntry] = &[
    CommandEntry {
        opcode: 0x00,
        service_action: None,
        name: "TEST UNIT READY",
        kind: Kind::TestUnitReady,
        flags: F::ALLOW_ON_PR_RESV,
        access: A::Free,
        usage: &[0x00, 0, 0, 0, 0, 0x07],
    },
    CommandEntry {
        opcode: 0x03,
        service_action: None,
        name: "REQUEST SENSE",
        kind: Kind::RequestSense,
        flags: LUNLESS.union(F::RUN_HERE).union(F::DATA_IN),
        access: A::Free,
        usage: &[0x03, 0x01, 0, 0, 0xFF, 0x07],
    },
    CommandEntry {
        opcode: 0x08,
        service_action: None,
        name: "READ(6)",
        kind: Kind::Read6,
        flags: READ,
        access: A::Read,
        usage: &[0x08, 0x1F, 0xFF, 0xFF, 0xFF, 0x07],
    },
    CommandEntry {
        opcode: 0x0A,
        service_action: None,
        name: "WRITE(6)",
        kind: Kind::Write6,
        flags: F::DATA_OUT,
        access: A::Write,
        usage: &[0x0A, 0x1F, 0xFF, 0xFF, 0xFF, 0x07],
    },
    CommandEntry {
        opcode: 0x12,
        service_action: None,
        name: "INQUIRY",
        kind: Kind::Inquiry,
        flags: LUNLESS.union(F::DATA_IN),
        access: A::Free,
        usage: &[0x12, 0x01, 0xFF, 0xFF, 0xFF, 0x07],
    },
    CommandEntry {
        opcode: 0x1A,
        service_action: None,
        name: "MODE SENSE(6)",
        kind: Kind::ModeSense6,
        flags: F::OK_ON_STANDBY
            .union(F::ALLOW_ON_PR_WRESV)
            .union(F::DATA_IN),
        access: A::Free,
        usage: &[0x1A, 0x08, 0xFF, 0xFF, 0xFF, 0x07],
    },
    CommandEntry {
        opcode: 0x25,
        service_action: None,
        name: "READ CAPACITY(10)",
        kind: Kind::ReadCapacity10,
        flags: F::ALLOW_ON_PR_RESV.union(F::DATA_IN),
        access: A::Free,
        usage: &[0x25, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x01, 0x07],
    },
    CommandEntry {
        opcode: 0x28,
        service_action: None,
        name: "READ(10)",
        kind: Kind::Read10,
        flags: READ,
        access: A::Read,
        usage: &[0x28, 0x1A, 0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0xFF, 0xFF, 0x07],
    },
    CommandEntry {
        opcode: 0x2A,
        service_action: None,
        name: "WRITE(10)",
        kind: Kind::Write10,
        flags: F::DATA_OUT,
        access: A::Write,
        usage: &[0x2A, 0x1A, 0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0xFF, 0xFF, 0x07],
    },
    CommandEntry {
        opcode: 0x35,
        service_action: None,
        name: "SYNCHRONIZE CACHE(10)",
        kind: Kind::SynchronizeCache10,
        flags: F::NONE,
        access: A::Flush,
        usage: &[0x35, 0x06, 0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0xFF, 0xFF, 0x07],
    },
    CommandEntry {
        opcode: 0x5A,
        service_action: None,
        name: "MODE SENSE(10)",
        kind: Kind::ModeSense10,
        flags: F::OK_ON_STANDBY
            .union(F::ALLOW_ON_PR_WRESV)
            .union(F::DATA_IN),
        access: A::Free,
        usage: &[0x5A, 0x18, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0x07],
    },
    CommandEntry {
        opcode: 0x88,
        service_action: None,
        name: "READ(16)",
        kind: Kind::Read16,
        flags: READ,
        access: A::Read,
        usage: &[
            0x88, 0x1A, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
            0x00, 0x07,
        ],
    },
    CommandEntry {
        opcode: 0x8A,
        service_action: None,
        name: "WRITE(16)",
        kind: Kind::Write16,
        flags: F::DATA_OUT,
        access: A::Write,
        usage: &[
            0x8A, 0x1A, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
            0x00, 0x07,
        ],
    },
    CommandEntry {
        opcode: 0x91,
        service_action: None,
        name: "SYNCHRONIZE CACHE(16)",
        kind: Kind::SynchronizeCache16,
        flags: F::NONE,
        access: A::Flush,
        usage: &[
            0x91, 0x06, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
            0x00, 0x07,
        ],
    },
    CommandEntry {
        opcode: 0x9E,
        service_action: Some(0x10),
        name: "READ CAPACITY(16)",
        kind: Kind::ReadCapacity16,
        flags: F::ALLOW_ON_PR_RESV.union(F::DATA_IN),
        access: A::Free,
        usage: &[
            0x9E, 0x10, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
            0x01, 0x07,
        ],
    },
    CommandEntry {
        opcode: 0xA0,
        service_action: None,
        name: "REPORT LUNS",
        kind: Kind::ReportLuns,
        flags: LUNLESS.union(F::RUN_HERE).union(F::DATA_IN),
        access: A::Free,
        usage: &[
            0xA0, 0x00, 0xFF, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x07,
        ],
    },
    CommandEntry {
        opcode: 0xA8,
        service_action: None,
        name: "READ(12)",
        kind: Kind::Read12,
        flags: READ,
        access: A::Read,
        usage: &[
            0xA8, 0x1A, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x07,
        ],
    },
    CommandEntry {
        opcode: 0xAA,
        service_action: None,
        name: "WRITE(12)",
        kind: Kind::Write12,
        flags: F::DATA_OUT,
        access: A::Write,
        usage: &[
            0xAA, 0x1A, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x07,
        ],
    },
];

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
    let start = COMMANDS.partition_point(|e| e.opcode < opcode);
    let mut with_opcode = COMMANDS[start..]
        .iter()
        .take_while(|e| e.opcode == opcode)
        .peekable();
    if with_opcode.peek().is_none() {
        return Lookup::UnknownOpcode;
    }
    let sa = cdb.get(1).copied().unwrap_or(0) & 0x1F;
    for e in with_opcode {
        match e.service_action {
            None => return Lookup::Found(e),
            Some(want) if want == sa => return Lookup::Found(e),
            Some(_) => {}
        }
    }
    Lookup::UnknownServiceAction
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_and_unique() {
        for w in COMMANDS.windows(2) {
            let a = (w[0].opcode, w[0].service_action);
            let b = (w[1].opcode, w[1].service_action);
            assert!(a < b, "{} before {}", w[0].name, w[1].name);
        }
    }

    #[test]
    fn usage_byte_zero_is_the_opcode() {
        for e in COMMANDS {
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
        let e = COMMANDS.iter().find(|e| e.kind == Kind::Read10).unwrap();
        assert_eq!(
            e.invalid_bit(&[0x28, 0x20, 0, 0, 0, 0, 0, 0, 1, 0]),
            Some((1, 5))
        );
        assert_eq!(e.invalid_bit(&[0x28, 0x08, 0, 0, 0, 0, 0, 0, 1, 0]), None);
    }
}
