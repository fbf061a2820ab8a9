//! libiscsi's conformance suites (`iscsi-test-cu`) against the firmware started as
//! `make run` starts it: one 1 GiB file LUN on a sim-board slot. The suites are listed in
//! `dyad_tests::suites`. `DYAD_TEST_TARGET=tgtd` runs the same against tgtd, where only
//! tgt's known failures are allowed.

use std::time::Duration;

use dyad_tests::conformance::{list_tests, run_suite, SuiteReport};
use dyad_tests::suites;
use dyad_tests::target::{start_target, Credentials, TargetKind, TargetSpec, TestTarget};

/// A deadline for the whole list; a hung test costs this once, then the rest run singly.
const SUITE_TIMEOUT: Duration = Duration::from_secs(900);

/// Failures a target may have: none for the firmware.
fn allowed_failures(kind: TargetKind) -> &'static [&'static str] {
    match kind {
        TargetKind::Firmware => &[],
        TargetKind::Tgtd => suites::TGTD_KNOWN_FAILURES,
    }
}

fn assert_passes(report: &SuiteReport, target: &dyn TestTarget) {
    let allowed = allowed_failures(target.kind());
    let unexpected: Vec<&String> = report
        .failed
        .iter()
        .filter(|name| !allowed.contains(&name.as_str()))
        .collect();
    assert!(
        unexpected.is_empty() && report.errors.is_empty() && report.total().total() > 0,
        "libiscsi suites '{}' did not pass on {:?}.\nunexpected failures: {unexpected:?}\n\
         errors: {:?}\n{}\n--- target output:\n{}",
        report.pattern,
        target.kind(),
        report.errors,
        report.table(),
        target.log()
    );
}

#[test]
fn libiscsi_conformance_suites_pass() {
    let kind = TargetKind::from_env();
    let target = start_target(kind, &TargetSpec::default()).expect("start the target");
    let report = run_suite(
        &target.disk_url(),
        &suites::pattern(suites::CONFORMANCE),
        &[],
        SUITE_TIMEOUT,
    );
    assert_passes(&report, target.as_ref());
}

#[test]
fn libiscsi_chap_suite_passes_with_chap_configured() {
    let kind = TargetKind::from_env();
    let chap = Credentials::new("dyad-initiator", "dyad-chap-secret-16");
    let target = start_target(
        kind,
        &TargetSpec {
            chap: Some(chap.clone()),
            ..TargetSpec::default()
        },
    )
    .expect("start the target with CHAP");
    let mut pattern = suites::pattern(suites::CHAP);
    let listed = list_tests(&pattern).expect("iscsi-test-cu -l lists its tests");
    if listed.is_empty() {
        println!(
            "note: this libiscsi has no iSCSICHAP suite (it came in 1.20); running {:?} \
             through a CHAP login instead",
            suites::CHAP_FALLBACK
        );
        pattern = suites::pattern(suites::CHAP_FALLBACK);
    }
    let report = run_suite(
        &chap.in_url(&target.disk_url()),
        &pattern,
        &[],
        SUITE_TIMEOUT,
    );
    assert_passes(&report, target.as_ref());
}
