//! The libiscsi suites dyad is held to, in one place: extend these lists as the firmware
//! grows (a new command set, a new suite).
//!
//! Two sets: [`CONFORMANCE`] (issue 2, the required gate of `make test`) runs on one plain
//! LUN; the full set of issue 3 ([`FULL_FAMILIES`] minus [`FULL_EXCLUDED`]) runs every test
//! on the LUN it needs, by [`LunRole`]:
//!
//! | role        | dyad LUN | dyad `--lun`                          | tgtd LUN | tgtd `--params`        | tests ([`SPECIAL_LUNS`]) |
//! |-------------|----------|---------------------------------------|----------|------------------------|--------------------------|
//! | `Plain`     | 0        | `slot:0,size=1G`                      | 1        |                        | everything else |
//! | `ReadOnly`  | 1        | `slot:1,size=1G,ro,thin`              | 2        | `readonly=1,thin_provisioning=1` | `ReadOnly.*` |
//! | `Removable` | 2        | `slot:2,size=1G,removable`            | 3        | `removable=1`          | `PreventAllow.*`, `StartStopUnit.*`, `NoMedia.*` |
//! | `Thin`      | 3        | `slot:3,size=1G,thin,pbs=4096`        | 4        | `thin_provisioning=1`  | `Unmap.*`, `WriteSame*.Unmap*`, `*.InvalidDataOutSize`, `Inquiry.BlockLimits`, `Sanitize.*` |
//! | `ThinUnitBlocks` | 4   | `slot:4,size=1G,thin`                 | 5        | `thin_provisioning=1`  | `GetLBAStatus.*` |
//! | `LongSanitize` | 5     | `slot:5,size=8G,thin,pbs=4096`        | 6        | `thin_provisioning=1`  | `Sanitize.Reset` |
//!
//! One firmware (and one tgtd) serves all four LUNs; each role's tests are one
//! `iscsi-test-cu` run against that LUN's URL, and the per-suite counts are summed.

use crate::glob;

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

/// The families of the full run (issue 3); `iscsi-test-cu -l` lists their tests.
pub const FULL_FAMILIES: &[&str] = &["SCSI.*", "iSCSI.*"];

/// Left out of the full run: third-party copy and multipath have issues of their own.
pub const FULL_EXCLUDED: &[&str] = &[
    "SCSI.ExtendedCopy.*",
    "SCSI.ReceiveCopyResults.*",
    "SCSI.MultipathIO.*",
];

/// The flags of the full run: write tests and the SANITIZE tests may destroy data.
/// The reservation suites log in a second session with `-I` (issue 4 names both initiators).
pub const FULL_ARGS: &[&str] = &[
    "--allow-sanitize",
    "-i",
    "iqn.2026-11.dev.dyad.test:initiator-1",
    "-I",
    "iqn.2026-11.dev.dyad.test:initiator-2",
];

/// Issue 4's acceptance suites: run with two initiator names, zero failures.
pub const RESERVATIONS: &[&str] = &[
    "SCSI.PrinReadKeys.*",
    "SCSI.PrinServiceactionRange.*",
    "SCSI.PrinReportCapabilities.*",
    "SCSI.ProutRegister.*",
    "SCSI.ProutReserve.*",
    "SCSI.ProutClear.*",
    "SCSI.ProutPreempt.*",
    "SCSI.Reserve6.*",
];

/// What a LUN is configured as, for the tests that need a special one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LunRole {
    /// A plain 1 GiB disk, as `make run` serves.
    Plain,
    /// Write-protected (DATA PROTECT on writes; the WP bit in MODE SENSE), and thin
    /// provisioned so that UNMAP exists to be refused: `ReadOnly.ReadOnlySBC` sends UNMAP
    /// too, and a fully provisioned LUN answers it INVALID COMMAND OPERATION CODE, which
    /// libiscsi counts as a skip.
    ReadOnly,
    /// Removable medium (RMB): ejectable, lockable with PREVENT ALLOW MEDIUM REMOVAL.
    Removable,
    /// Thin provisioned (LBPME, UNMAP, WRITE SAME with UNMAP, GET LBA STATUS), with 4 KiB
    /// physical blocks so the tests that need LBPPB > 1 run instead of skipping.
    Thin,
    /// Thin provisioned with physical block = logical block: GetLBAStatus.UnmapSingle
    /// expects a deallocated extent to start at the very block it unmapped, which a LUN that
    /// deallocates whole 4 KiB physical blocks cannot report.
    ThinUnitBlocks,
    /// Thin provisioned like `Thin`, but 8 GiB: `Sanitize.Reset` needs an overwrite still
    /// running about 4 s after it starts (3 s of sleep, five task management functions, a
    /// reconnect after another second). A sparse file costs nothing until that one test
    /// overwrites it; the other SANITIZE tests overwrite their LUN several times, so they
    /// stay on the 1 GiB one.
    LongSanitize,
}

impl LunRole {
    /// In LUN order.
    pub const ALL: [LunRole; 6] = [
        LunRole::Plain,
        LunRole::ReadOnly,
        LunRole::Removable,
        LunRole::Thin,
        LunRole::ThinUnitBlocks,
        LunRole::LongSanitize,
    ];

    /// The LUN number the firmware serves this role on (its `--lun` flags are in this order).
    pub fn firmware_lun(self) -> u32 {
        match self {
            LunRole::Plain => 0,
            LunRole::ReadOnly => 1,
            LunRole::Removable => 2,
            LunRole::Thin => 3,
            LunRole::ThinUnitBlocks => 4,
            LunRole::LongSanitize => 5,
        }
    }

    /// The firmware's `--lun` value for this role: a 1 GiB sim-board slot (8 GiB for the
    /// long sanitize).
    pub fn firmware_spec(self) -> String {
        let options = match self {
            LunRole::Plain => "size=1G",
            LunRole::ReadOnly => "size=1G,ro,thin",
            LunRole::Removable => "size=1G,removable",
            LunRole::Thin => "size=1G,thin,pbs=4096",
            LunRole::ThinUnitBlocks => "size=1G,thin",
            LunRole::LongSanitize => "size=8G,thin,pbs=4096",
        };
        format!("slot:{},{options}", self.firmware_lun())
    }

    /// The LUN number on tgtd (its LUN 0 is its controller, so disks start at 1).
    pub fn tgtd_lun(self) -> u32 {
        self.firmware_lun() + 1
    }

    /// tgtadm's `--params` for this role (`None`: a plain disk).
    pub fn tgtd_params(self) -> Option<&'static str> {
        match self {
            LunRole::Plain => None,
            LunRole::ReadOnly => Some("readonly=1,thin_provisioning=1"),
            LunRole::Removable => Some("removable=1"),
            LunRole::Thin | LunRole::ThinUnitBlocks | LunRole::LongSanitize => {
                Some("thin_provisioning=1")
            }
        }
    }
}

/// The firmware flags of the full run: one `--lun` per role, in LUN order, and no NOP-In
/// pings: libiscsi's synchronous API reads nothing while a test sleeps (Sanitize.Reset
/// sleeps 60 s between two commands), so a pinging target drops the session, and the test's
/// reconnect then meets a unit attention and sleeps again, forever.
pub fn firmware_full_args() -> Vec<String> {
    LunRole::ALL
        .iter()
        .flat_map(|role| ["--lun".to_string(), role.firmware_spec()])
        .chain(["--ping-timeout".to_string(), "0".to_string()])
        .collect()
}

/// Tests that need a special LUN (`FAMILY.Suite.Test` globs; the first match wins, any
/// other test runs on the plain LUN). Each skips itself, or silently passes without testing
/// anything, on a LUN that is not configured so; libiscsi 1.19.0's conditions:
pub const SPECIAL_LUNS: &[(&str, LunRole)] = &[
    // CHECK_FOR_READONLY: the WP bit of MODE SENSE's device-specific parameter.
    ("SCSI.ReadOnly.*", LunRole::ReadOnly),
    // CHECK_FOR_REMOVABLE (INQUIRY RMB); NoMedia and StartStopUnit.PwrCnd/NoLoej return
    // early without a `[SKIPPED]` line on a fixed disk, so they must go here to test at all.
    ("SCSI.PreventAllow.*", LunRole::Removable),
    ("SCSI.StartStopUnit.*", LunRole::Removable),
    ("SCSI.NoMedia.*", LunRole::Removable),
    // CHECK_FOR_THIN_PROVISIONING (READ CAPACITY (16) LBPME), LBPU, LBPWS, LBPWS10 and
    // LBPPB > 1 (the unaligned-unmap and data-out-size tests).
    ("SCSI.Unmap.*", LunRole::Thin),
    ("SCSI.GetLBAStatus.*", LunRole::ThinUnitBlocks),
    ("SCSI.WriteSame10.Unmap*", LunRole::Thin),
    ("SCSI.WriteSame16.Unmap*", LunRole::Thin),
    ("SCSI.WriteSame10.InvalidDataOutSize", LunRole::Thin),
    ("SCSI.WriteSame16.InvalidDataOutSize", LunRole::Thin),
    ("SCSI.CompareAndWrite.InvalidDataOutSize", LunRole::Thin),
    ("SCSI.Inquiry.BlockLimits", LunRole::Thin),
    // Sanitize.BlockErase fails when BLOCK ERASE is offered with LBPME=0: block erase is
    // deallocation, so the whole SANITIZE suite runs where deallocation is real.
    ("SCSI.Sanitize.Reset", LunRole::LongSanitize),
    ("SCSI.Sanitize.*", LunRole::Thin),
];

/// The role a `FAMILY.Suite.Test` runs on.
pub fn role_of(test: &str) -> LunRole {
    SPECIAL_LUNS
        .iter()
        .find(|(pattern, _)| glob::matches(pattern, test))
        .map_or(LunRole::Plain, |&(_, role)| role)
}

/// Whether the full run includes a listed `FAMILY.Suite.Test`.
pub fn in_full_run(test: &str) -> bool {
    FULL_FAMILIES.iter().any(|p| glob::matches(p, test))
        && !FULL_EXCLUDED.iter().any(|p| glob::matches(p, test))
}

/// Splits the full run's tests (from `iscsi-test-cu -l`) by the LUN role they need, in
/// [`LunRole::ALL`] order, leaving out roles with no test.
pub fn full_plan(listed: &[String]) -> Vec<(LunRole, Vec<String>)> {
    LunRole::ALL
        .iter()
        .map(|&role| {
            let tests: Vec<String> = listed
                .iter()
                .filter(|t| in_full_run(t) && role_of(t) == role)
                .cloned()
                .collect();
            (role, tests)
        })
        .filter(|(_, tests)| !tests.is_empty())
        .collect()
}

/// The `-t` argument that runs exactly `tests` (a part of the full run's tests from
/// `listed`): `FAMILY.Suite.*` for a suite whose every full-run test is in `tests`, the
/// single names otherwise.
///
/// Whole suites go as globs because iscsi-test-cu registers each comma-separated item as a
/// CUnit suite of its own (set-up and clean-up, a fresh login, per item), and the tests of
/// 1.19.0 depend on running together as a suite: `iSCSITMF.AbortTaskSimpleAsync` logs out
/// and leaves no iSCSI context, so the `LUNResetSimpleAsync` after it passes without
/// running; run alone, `LUNResetSimpleAsync` always fails (its assert on
/// `reconnect_succeeded` comes before the callback that sets it; libiscsi fixed this after
/// 1.19.0, commit 5553d6b) and then stops. Either way 1.19.0 does not test LUN RESET; globs
/// keep the behaviour `make test`'s issue-2 set and the tgtd reference numbers have.
pub fn run_pattern(tests: &[String], listed: &[String]) -> String {
    let suite_of = |t: &str| -> Option<String> {
        let mut parts = t.splitn(3, '.');
        let family = parts.next()?;
        let suite = parts.next()?;
        parts.next()?;
        Some(format!("{family}.{suite}"))
    };
    let mut items: Vec<String> = Vec::new();
    for test in tests {
        let Some(suite) = suite_of(test) else {
            items.push(test.clone());
            continue;
        };
        let whole = listed
            .iter()
            .filter(|t| in_full_run(t) && suite_of(t).as_deref() == Some(suite.as_str()))
            .all(|t| tests.contains(t));
        let item = if whole {
            format!("{suite}.*")
        } else {
            test.clone()
        };
        if !items.contains(&item) {
            items.push(item);
        }
    }
    items.join(",")
}

/// A skip that is not a gap: the test needs a feature dyad deliberately does not claim.
#[derive(Clone, Copy, Debug)]
pub struct ExpectedSkip {
    /// `Suite.Test`, as results name it.
    pub test: &'static str,
    /// Every `[SKIPPED]` line of the test must contain this; a skip for any other reason
    /// is a gap.
    pub reason: &'static str,
    /// Why dyad does not claim the feature.
    pub why: &'static str,
}

/// The skips the full run allows on dyad. Anything else that skips is a feature we claim
/// and do not deliver, and fails the run. (The parser counts a test that logged any
/// `[SKIPPED]` line as skipped, even when the rest of it ran: hence the per-reason match.)
pub const EXPECTED_SKIPS: &[ExpectedSkip] = &[
    ExpectedSkip {
        test: "Sanitize.CryptoErase",
        reason: "SANITIZE CRYPTO_ERASE is not implemented",
        why: "no self-encrypting media: there is no key to change (issue 3 scopes SANITIZE to \
              overwrite, block erase and exit failure mode)",
    },
    ExpectedSkip {
        test: "Sanitize.CryptoEraseReserved",
        reason: "SANITIZE CRYPTO_ERASE is not implemented",
        why: "as Sanitize.CryptoErase",
    },
    ExpectedSkip {
        test: "Sanitize.Readonly",
        reason: "SANITIZE CRYPTO_ERASE is not implemented",
        why: "its OVERWRITE and BLOCK ERASE parts run; only the CRYPTO ERASE part skips",
    },
    ExpectedSkip {
        test: "Sanitize.Reservations",
        reason: "SANITIZE CRYPTO_ERASE is not implemented",
        why: "its OVERWRITE and BLOCK ERASE parts run against another initiator's RESERVE(6) \
              and get RESERVATION CONFLICT; only the CRYPTO ERASE part skips",
    },
];

/// The entry that allows `test` to skip for these `reasons`, if one does: every reason
/// must contain the entry's text (and a skip with no reason line never matches).
pub fn expected_skip(test: &str, reasons: &[String]) -> Option<&'static ExpectedSkip> {
    EXPECTED_SKIPS.iter().find(|e| {
        e.test == test && !reasons.is_empty() && reasons.iter().all(|r| r.contains(e.reason))
    })
}

/// A test dyad is known to fail, and why. The full run tolerates these and only these, and
/// fails when one starts passing so that the list shrinks as the gaps close.
pub struct KnownGap {
    pub test: &'static str,
    pub why: &'static str,
}

pub const KNOWN_GAPS: &[KnownGap] = &[];

pub fn known_gap(test: &str) -> Option<&'static KnownGap> {
    KNOWN_GAPS.iter().find(|g| g.test == test)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_tests_go_to_their_luns() {
        assert_eq!(role_of("SCSI.ReadOnly.ReadOnlySBC"), LunRole::ReadOnly);
        assert_eq!(role_of("SCSI.PreventAllow.Eject"), LunRole::Removable);
        assert_eq!(role_of("SCSI.NoMedia.NoMediaSBC"), LunRole::Removable);
        assert_eq!(role_of("SCSI.WriteSame16.UnmapUntilEnd"), LunRole::Thin);
        assert_eq!(role_of("SCSI.WriteSame16.Simple"), LunRole::Plain);
        assert_eq!(role_of("SCSI.Inquiry.BlockLimits"), LunRole::Thin);
        assert_eq!(role_of("SCSI.Inquiry.Standard"), LunRole::Plain);
        assert_eq!(
            role_of("iSCSI.iSCSITMF.LUNResetSimpleAsync"),
            LunRole::Plain
        );
    }

    #[test]
    fn the_full_run_leaves_out_copy_and_multipath() {
        assert!(in_full_run("SCSI.Read10.Simple"));
        assert!(in_full_run("iSCSI.iSCSIcmdsn.iSCSICmdSnTooLow"));
        assert!(in_full_run("SCSI.PrinReadKeys.Simple"));
        assert!(in_full_run("SCSI.ProutRegister.Simple"));
        assert!(in_full_run("SCSI.Reserve6.Simple"));
        assert!(!in_full_run("SCSI.ExtendedCopy.Simple"));
        assert!(!in_full_run("SCSI.ReceiveCopyResults.CopyStatus"));
        assert!(!in_full_run("SCSI.MultipathIO.Simple"));
        assert!(!in_full_run("ALL.Read10.Simple"));
        let listed: Vec<String> = [
            "SCSI.Read10.Simple",
            "SCSI.Unmap.Simple",
            "SCSI.ExtendedCopy.Simple",
            "ALL.Unmap.Simple",
        ]
        .map(String::from)
        .to_vec();
        let plan = full_plan(&listed);
        assert_eq!(
            plan,
            vec![
                (LunRole::Plain, vec!["SCSI.Read10.Simple".to_string()]),
                (LunRole::Thin, vec!["SCSI.Unmap.Simple".to_string()]),
            ]
        );
    }

    #[test]
    fn whole_suites_run_as_globs_and_split_ones_by_name() {
        let listed: Vec<String> = [
            "SCSI.Inquiry.Standard",
            "SCSI.Inquiry.BlockLimits",
            "SCSI.Read10.Simple",
            "SCSI.Read10.Async",
            "SCSI.Unmap.Simple",
            "iSCSI.iSCSITMF.AbortTaskSimpleAsync",
            "iSCSI.iSCSITMF.LUNResetSimpleAsync",
        ]
        .map(String::from)
        .to_vec();
        let plan = full_plan(&listed);
        let patterns: Vec<(LunRole, String)> = plan
            .iter()
            .map(|(role, tests)| (*role, run_pattern(tests, &listed)))
            .collect();
        assert_eq!(
            patterns,
            vec![
                (
                    LunRole::Plain,
                    "SCSI.Inquiry.Standard,SCSI.Read10.*,iSCSI.iSCSITMF.*".to_string()
                ),
                (
                    LunRole::Thin,
                    "SCSI.Inquiry.BlockLimits,SCSI.Unmap.*".to_string()
                ),
            ]
        );
    }

    #[test]
    fn luns_are_numbered_in_role_order_on_both_targets() {
        let args = firmware_full_args();
        assert_eq!(args.len(), 2 * LunRole::ALL.len() + 2);
        for (i, role) in LunRole::ALL.iter().enumerate() {
            assert_eq!(role.firmware_lun() as usize, i);
            assert_eq!(role.tgtd_lun() as usize, i + 1);
            assert_eq!(args[2 * i + 1], role.firmware_spec());
        }
        assert_eq!(
            LunRole::Thin.firmware_spec(),
            "slot:3,size=1G,thin,pbs=4096"
        );
    }

    #[test]
    fn skips_match_by_test_and_every_reason() {
        let crypto = "SANITIZE CRYPTO_ERASE is not implemented according to \
                      REPORT_SUPPORTED_OPCODES."
            .to_string();
        let overwrite = "SANITIZE OVERWRITE is not implemented according to \
                         REPORT_SUPPORTED_OPCODES."
            .to_string();
        assert!(expected_skip("Sanitize.Readonly", std::slice::from_ref(&crypto)).is_some());
        assert!(expected_skip("Sanitize.Readonly", &[crypto.clone(), overwrite]).is_none());
        assert!(expected_skip("Sanitize.Readonly", &[]).is_none());
        assert!(expected_skip("Sanitize.Overwrite", &[crypto]).is_none());
    }
}
