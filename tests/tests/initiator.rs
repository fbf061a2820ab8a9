//! The firmware seen through real initiators (libiscsi's command-line tools and our
//! iscsi-pattern helper): discovery, INQUIRY and its VPD pages, READ CAPACITY (16), CHAP,
//! and data surviving a clean restart. `DYAD_TEST_TARGET=tgtd` runs them against tgtd.

use dyad_tests::child::RunOutput;
use dyad_tests::initiator::{self, capacity};
use dyad_tests::target::{start_target, Credentials, TargetKind, TargetSpec, TestTarget};

fn start(spec: TargetSpec) -> Box<dyn TestTarget> {
    start_target(TargetKind::from_env(), &spec).expect("start the target")
}

fn show(out: &RunOutput) -> String {
    format!(
        "status {:?}\n--- stdout:\n{}--- stderr:\n{}",
        out.status, out.stdout, out.stderr
    )
}

/// The text between `[` and `]` after `label`, e.g. `Unit Serial Number:[ABC]`.
fn bracketed<'a>(text: &'a str, label: &str) -> Option<&'a str> {
    let rest = &text[text.find(label)? + label.len()..];
    let rest = rest.strip_prefix('[')?;
    Some(&rest[..rest.find(']')?])
}

#[test]
fn discovery_lists_the_target_and_its_lun() {
    let target = start(TargetSpec::default());
    let out = initiator::iscsi_ls(&target.portal_url()).expect("run iscsi-ls");
    assert!(out.success(), "iscsi-ls failed: {}", show(&out));
    assert!(
        out.stdout.contains(&format!("Target:{}", target.iqn()))
            && out.stdout.contains(&format!("Portal:{}", target.portal())),
        "iscsi-ls does not list target {} at {}: {}",
        target.iqn(),
        target.portal(),
        show(&out)
    );
    let lun_line = out
        .stdout
        .lines()
        .find(|l| l.starts_with(&format!("Lun:{} ", target.disk_lun())));
    assert!(
        lun_line.is_some_and(|l| l.contains("DIRECT_ACCESS")),
        "iscsi-ls does not list LUN {} as a disk: {}",
        target.disk_lun(),
        show(&out)
    );
}

#[test]
fn inquiry_answers_standard_data_and_vpd_pages() {
    let target = start(TargetSpec::default());
    let url = target.disk_url();

    let standard = initiator::iscsi_inq(&url, None).expect("run iscsi-inq");
    assert!(
        standard.success()
            && standard
                .stdout
                .contains("Peripheral Device Type:DIRECT_ACCESS"),
        "standard INQUIRY: {}",
        show(&standard)
    );

    let supported = initiator::iscsi_inq(&url, Some(0x00)).expect("run iscsi-inq -e 1 -c 0");
    assert!(
        supported.success()
            && supported.stdout.contains("Page:0x80")
            && supported.stdout.contains("Page:0x83"),
        "supported VPD pages should include 0x80 and 0x83: {}",
        show(&supported)
    );

    let serial = initiator::iscsi_inq(&url, Some(0x80)).expect("run iscsi-inq -e 1 -c 128");
    let number = bracketed(&serial.stdout, "Unit Serial Number:").map(str::trim);
    assert!(
        serial.success() && number.is_some_and(|n| !n.is_empty()),
        "unit serial number page: {}",
        show(&serial)
    );

    let ids = initiator::iscsi_inq(&url, Some(0x83)).expect("run iscsi-inq -e 1 -c 131");
    assert!(
        ids.success()
            && ids.stdout.contains("DEVICE_IDENTIFICATION")
            && ids.stdout.contains("DEVICE DESIGNATOR #0")
            && ids.stdout.contains("Association:(0) LOGICAL_UNIT"),
        "device identification page should carry a logical-unit designator: {}",
        show(&ids)
    );
}

#[test]
fn read_capacity_16_reports_the_lun_size() {
    let spec = TargetSpec::default();
    let target = start(spec.clone());
    let cap = capacity(&target.disk_url()).expect("READ CAPACITY (16)");
    assert_eq!(cap.block_length, 512, "default logical block size");
    assert_eq!(
        cap.bytes(),
        spec.size,
        "capacity of a {} byte LUN",
        spec.size
    );
}

#[test]
fn chap_refuses_a_wrong_secret_and_admits_the_right_one() {
    let right = Credentials::new("dyad-initiator", "dyad-chap-secret-16");
    let wrong = Credentials::new("dyad-initiator", "not-the-secret-16");
    let target = start(TargetSpec {
        chap: Some(right.clone()),
        ..TargetSpec::default()
    });

    let refused_ls = initiator::iscsi_ls(&wrong.in_url(&target.portal_url())).expect("iscsi-ls");
    assert!(
        !refused_ls.success() && refused_ls.combined().contains("Authentication failure"),
        "iscsi-ls with a wrong secret must fail with an authentication failure: {}",
        show(&refused_ls)
    );
    let refused_inq =
        initiator::iscsi_inq(&wrong.in_url(&target.disk_url()), None).expect("iscsi-inq");
    assert!(
        !refused_inq.success() && refused_inq.combined().contains("Authentication failure"),
        "iscsi-inq with a wrong secret must fail with an authentication failure: {}",
        show(&refused_inq)
    );
    let anonymous = initiator::iscsi_inq(&target.disk_url(), None).expect("iscsi-inq");
    assert!(
        !anonymous.success(),
        "a login without CHAP must be refused when CHAP is configured: {}",
        show(&anonymous)
    );

    let admitted =
        initiator::iscsi_inq(&right.in_url(&target.disk_url()), None).expect("iscsi-inq");
    assert!(
        admitted.success()
            && admitted
                .stdout
                .contains("Peripheral Device Type:DIRECT_ACCESS"),
        "iscsi-inq with the right secret must log in: {}",
        show(&admitted)
    );
    let listed = initiator::iscsi_ls(&right.in_url(&target.portal_url())).expect("iscsi-ls");
    assert!(
        listed.success()
            && listed
                .stdout
                .contains(&format!("Lun:{} ", target.disk_lun())),
        "iscsi-ls with the right secret must list the LUN: {}",
        show(&listed)
    );
}

#[test]
fn written_data_survives_a_clean_restart() {
    let mut target = start(TargetSpec::default());
    let url = target.disk_url();
    let cap = capacity(&url).expect("READ CAPACITY (16)");
    // A 1 MiB run in the middle and the last blocks of the LUN, each with its own seed.
    let ranges = [
        (4096, (1 << 20) / u64::from(cap.block_length), 7),
        (cap.blocks - 64, 64, 11),
    ];
    for (lba, count, seed) in ranges {
        let out = initiator::pattern_write(&url, lba, count, seed).expect("iscsi-pattern write");
        assert!(out.success(), "write {lba}+{count}: {}", show(&out));
        let out = initiator::pattern_verify(&url, lba, count, seed).expect("iscsi-pattern verify");
        assert!(
            out.success(),
            "verify before restart {lba}+{count}: {}",
            show(&out)
        );
    }

    target
        .restart()
        .expect("stop with SIGTERM (exit 0) and start again on the same storage");

    for (lba, count, seed) in ranges {
        let out = initiator::pattern_verify(&url, lba, count, seed).expect("iscsi-pattern verify");
        assert!(
            out.success(),
            "data at {lba}+{count} did not survive the restart: {}\n--- target output:\n{}",
            show(&out),
            target.log()
        );
    }
}
