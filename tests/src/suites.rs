//! The libiscsi suites dyad is held to, in one place: extend these lists as the firmware
//! grows (a new command set, a new suite).

/// Run by `tests/conformance.rs` against the firmware with a plain 1 GiB disk LUN; every
/// test must pass or skip.
pub const CONFORMANCE: &[&str] = &[
    "iSCSI.*",
    "SCSI.TestUnitReady.*",
    "SCSI.Inquiry.*",
    "SCSI.Mandatory.*",
    "SCSI.ReadCapacity10.*",
    "SCSI.ReadCapacity16.*",
    "SCSI.Read6.*",
    "SCSI.Read10.*",
    "SCSI.Read12.*",
    "SCSI.Read16.*",
    "SCSI.Write10.*",
    "SCSI.Write12.*",
    "SCSI.Write16.*",
    "SCSI.ModeSense6.*",
];

/// Run against a target that requires CHAP, with the credentials in the URL. libiscsi's
/// CHAP suite logs in with the second initiator name and needs CHAP_A=5 (MD5); it exists
/// only from libiscsi 1.20 on (Debian 12 ships 1.19.0).
pub const CHAP: &[&str] = &["iSCSI.iSCSICHAP.*"];

/// When the installed libiscsi has no CHAP suite, these run through a CHAP login instead,
/// so the suite's own login path is still exercised with authentication.
pub const CHAP_FALLBACK: &[&str] = &["SCSI.TestUnitReady.*", "SCSI.Inquiry.Standard"];

/// What tgtd (Debian 1.0.85) fails on `-t ALL --dataloss` (see shared/reference/measuring.md),
/// so the harness can be checked against it: with `DYAD_TEST_TARGET=tgtd` these may fail.
pub const TGTD_KNOWN_FAILURES: &[&str] = &[
    "GetLBAStatus.BeyondEol",
    "PrinServiceactionRange.Range",
    "ProutReserve.OwnershipEA",
    "ProutReserve.OwnershipWE",
    "ProutReserve.OwnershipEARO",
    "ProutReserve.OwnershipWERO",
    "Reserve6.2Initiators",
    "iSCSIdatasn.iSCSIDataSnInvalid",
];

/// A list as one `-t` argument.
pub fn pattern(list: &[&str]) -> String {
    list.join(",")
}
