//! SCSI-3 persistent reservations (SPC-4 §5.13, §6.15, §6.16) and SPC-2 RESERVE/RELEASE
//! end to end (issue 4): the firmware on a plain LUN, driven by `iscsi-pr` scripts over two
//! or three sessions with different initiator names, in the sequences real cluster software
//! runs (Windows Failover Clustering validation, Pacemaker's fence_scsi) and through the
//! corners SPC-4 defines (REGISTER AND MOVE, SPEC_I_PT, APTPL across a restart, the I_T
//! nexus as initiator name + ISID, SPC-2 reservations lost with the nexus).
//!
//! Every step that matters carries an `expect`, so a failure names the script line, the
//! expected and the actual result. Each test starts its own firmware (own port, own
//! enclosure), so they run in parallel.

use std::time::Duration;

use dyad_tests::reservation_client::{
    self, relative_target_port, spawn_script, Initiator, Status, StepResult, Transcript,
};
use dyad_tests::Firmware;

const LUN: &[&str] = &["--lun", "slot:0,size=64M"];

/// Reservation keys: distinct and recognisable in a transcript.
const KA: u64 = 0xa1a1_0000_0000_00a1;
const KA2: u64 = 0xa2a2_0000_0000_00a2;
const KB: u64 = 0xb1b1_0000_0000_00b1;
const KB2: u64 = 0xb2b2_0000_0000_00b2;
const KD: u64 = 0xd1d1_0000_0000_00d1;
const KS: u64 = 0x5151_0000_0000_0051;

/// Windows' ISID (type 01b, enterprise number 311) with a per-node qualifier.
const ISID_A: u64 = 0x4000_0137_0001;
const ISID_B: u64 = 0x4000_0137_0002;
const ISID_C: u64 = 0x4000_0137_0003;

fn node_a() -> Initiator {
    Initiator::new('A', "iqn.2026-11.dev.dyad.test:node-a", ISID_A)
}

fn node_b() -> Initiator {
    Initiator::new('B', "iqn.2026-11.dev.dyad.test:node-b", ISID_B)
}

fn node_c() -> Initiator {
    Initiator::new('C', "iqn.2026-11.dev.dyad.test:node-c", ISID_C)
}

fn start() -> Firmware {
    Firmware::start(LUN).expect("start the firmware")
}

/// Login lines for each initiator, each followed by `clear-ua`: a new I_T nexus starts
/// with the power-on unit attention, which is not what these tests look at.
fn logins(firmware: &Firmware, who: &[&Initiator]) -> String {
    who.iter()
        .map(|i| {
            format!(
                "{}\n{} clear-ua expect GOOD\n",
                i.login(&firmware.url(0)),
                i.session
            )
        })
        .collect()
}

/// The last lines of the firmware's output: enough to see what it did with the commands.
fn firmware_tail(firmware: &Firmware) -> String {
    let log = firmware.log();
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(60)..].join("\n")
}

fn failure(what: &str, t: &Transcript, firmware: &Firmware) -> String {
    format!(
        "{what}: {}\n{}\n--- firmware (last lines):\n{}",
        t.summary(),
        t.report(),
        firmware_tail(firmware)
    )
}

/// Runs `script` and fails the test, naming `what`, unless every expectation held.
fn run(firmware: &Firmware, what: &str, script: &str) -> Transcript {
    let t = reservation_client::run_script(script).expect("run iscsi-pr");
    assert!(t.success(), "{}", failure(what, &t, firmware));
    t
}

/// Every result of `session` doing `op`, in script order.
fn results<'a>(t: &'a Transcript, session: char, op: &str) -> Vec<&'a StepResult> {
    t.steps
        .iter()
        .filter(|s| s.session == session && s.op == op)
        .collect()
}

#[test]
fn windows_cluster_validation_sequence() {
    let fw = start();
    let (a, b, c) = (node_a(), node_b(), node_c());
    let script = format!(
        "{logins}\
         # Both nodes register; A takes the disk with Write Exclusive, Registrants Only.
         A register sakey={KA:#x} expect GOOD
         B register sakey={KB:#x} expect GOOD
         A reserve key={KA:#x} type=we-ro expect GOOD
         B read-keys expect keys={KA:#x},{KB:#x}
         B read-reservation expect reservation key={KA:#x} type=we-ro
         # A registrant may write under WE-RO; an unregistered initiator may only read.
         B write lba=100 fill=0xb1 expect GOOD
         C read lba=100 expect fill=0xb1
         C write lba=100 fill=0xc1 expect RESERVATION_CONFLICT
         # B takes over: A's registration is preempted and A is told so on its next command.
         B preempt key={KB:#x} sakey={KA:#x} type=we-ro expect GOOD
         B read-reservation expect reservation key={KB:#x} type=we-ro
         B read-keys expect keys={KB:#x}
         A tur expect UNIT_ATTENTION 0x2a/0x05
         A write lba=101 fill=0xa1 expect RESERVATION_CONFLICT
         A release key={KA:#x} type=we-ro expect RESERVATION_CONFLICT
         B release key={KB:#x} type=we-ro expect GOOD
         B read-reservation expect reservation none
         B read-keys expect keys={KB:#x}
         B clear key={KB:#x} expect GOOD
         B read-keys expect keys=none
         B read-reservation expect reservation none
         C write lba=100 fill=0xc1 expect GOOD
         ",
        logins = logins(&fw, &[&a, &b, &c]),
    );
    let t = run(&fw, "Windows cluster validation", &script);

    let keys = results(&t, 'B', "read-keys");
    let before = keys
        .get(keys.len().saturating_sub(2))
        .and_then(|s| s.generation());
    let after = keys.last().and_then(|s| s.generation());
    assert!(
        before.is_some() && after.is_some() && before != after,
        "CLEAR must move PRgeneration (SPC-4 §6.16.2): {before:?} before, {after:?} after\n{}",
        t.report()
    );
    let first = keys.first().and_then(|s| s.generation());
    assert!(
        first.is_some() && first != before,
        "PREEMPT must move PRgeneration: {first:?} after the registrations, {before:?} after the preempt\n{}",
        t.report()
    );
}

#[test]
fn fence_scsi_preempt_and_abort_stops_a_writer_in_flight() {
    const LBA: u32 = 2000;
    let fw = start();
    let (a, b) = (node_a(), node_b());
    // fence_scsi: every node registers its own key ignoring any old one, one node holds
    // WE-RO, and fencing a node is PREEMPT AND ABORT of its key.
    let setup = format!(
        "{logins}\
         A register-ignore sakey={KA:#x} expect GOOD
         B register-ignore sakey={KB:#x} expect GOOD
         A reserve key={KA:#x} type=we-ro expect GOOD
         B write lba={LBA} fill=0xbb expect GOOD
         A logout expect GOOD
         B logout expect GOOD
         ",
        logins = logins(&fw, &[&a, &b]),
    );
    run(&fw, "fence_scsi setup", &setup);

    let writer_script = format!(
        "{}B writer lba={LBA} count=500000 fill=0xbb\n",
        logins(&fw, &[&b])
    );
    let mut writer = spawn_script(&writer_script).expect("start the writer");
    let started = writer.wait_for_line(Duration::from_secs(60), |l| l.ends_with("write OK 50"));
    if !started {
        let t = writer
            .finish(Duration::from_secs(5))
            .expect("collect the writer");
        panic!(
            "{}",
            failure(
                "the writer (a registrant under WE-RO) could not write",
                &t,
                &fw
            )
        );
    }

    // A fences B, then writes a marker to the very block the writer keeps writing: any
    // write of B that lands after the preempt returned would overwrite it.
    let fence = format!(
        "{}\
         A preempt-abort key={KA:#x} sakey={KB:#x} type=we-ro expect GOOD
         A write lba={LBA} fill=0xaa expect GOOD
         A read-keys expect keys={KA:#x}
         A read-reservation expect reservation key={KA:#x} type=we-ro
         ",
        logins(&fw, &[&a])
    );
    let fenced = reservation_client::run_script(&fence).expect("run iscsi-pr");
    assert!(fenced.success(), "{}", failure("fencing B", &fenced, &fw));

    let t = writer
        .finish(Duration::from_secs(60))
        .expect("collect the writer");
    let end = t.last('B', "writer");
    let outcome = end.and_then(|s| s.outcome.as_ref());
    let stopped_right = outcome.is_some_and(|o| {
        matches!(o.status, Status::ReservationConflict | Status::TaskAborted)
            || o.is_sense("UNIT_ATTENTION", 0x2a, 0x05)
    });
    assert!(
        stopped_right,
        "the fenced writer must end with RESERVATION CONFLICT, TASK ABORTED or UNIT ATTENTION \
         REGISTRATIONS PREEMPTED, not {}\n{}",
        end.map_or("(no writer step)", StepResult::text),
        failure("writer", &t, &fw)
    );
    println!(
        "writer stopped after {} writes with {}",
        end.and_then(StepResult::writes).unwrap_or(0),
        end.map_or("?", StepResult::text)
    );

    let check = format!("{}A read lba={LBA} expect fill=0xaa\n", logins(&fw, &[&a]));
    run(
        &fw,
        "the fenced writer wrote after PREEMPT AND ABORT returned (A's marker is gone)",
        &check,
    );
}

#[test]
fn register_and_move_hands_the_reservation_to_another_initiator_port() {
    let fw = start();
    let (a, b) = (node_a(), node_b());
    let probe = Initiator::new('D', "iqn.2026-11.dev.dyad.test:probe", 0x4000_0137_0099);
    let port =
        relative_target_port(&fw.url(0), &probe).expect("relative target port from VPD page 83h");
    let script = format!(
        "{logins}\
         A register sakey={KA:#x} expect GOOD
         A reserve key={KA:#x} type=we expect GOOD
         A register-move key={KA:#x} sakey={KB2:#x} type=we port={port} tid={tid} unreg expect GOOD
         B read-reservation expect reservation key={KB2:#x} type=we
         B read-keys expect keys={KB2:#x}
         B read-full-status expect registrants=1
         B write lba=300 fill=0xb2 expect GOOD
         A write lba=300 fill=0xa2 expect RESERVATION_CONFLICT
         A read lba=300 expect fill=0xb2
         A release key={KA:#x} type=we expect RESERVATION_CONFLICT
         ",
        logins = logins(&fw, &[&a, &b]),
        tid = b.transport_id(),
    );
    let t = run(&fw, "REGISTER AND MOVE", &script);
    let status = t
        .last('B', "read-full-status")
        .and_then(StepResult::full_status)
        .unwrap_or_default();
    let moved = status.first();
    assert!(
        moved.is_some_and(|e| e.names(&b)
            && e.holder
            && e.kind.as_deref() == Some("we")
            && e.key == KB2
            && e.relative_target_port == port),
        "READ FULL STATUS must show B ({}) holding WE with key {KB2:#x} through port {port}: \
         {status:?}\n{}",
        b.transport_id(),
        t.report()
    );
}

#[test]
fn spec_i_pt_registers_other_initiator_ports_in_one_command() {
    let fw = start();
    let (a, b, c) = (node_a(), node_b(), node_c());
    let script = format!(
        "{logins}\
         # A registers itself, B's initiator port (name + ISID) and C's device (name only).
         A register-spec sakey={KS:#x} tid={tid_b} tid={name_c} expect GOOD
         A read-keys expect keys={KS:#x},{KS:#x},{KS:#x}
         A read-full-status expect registrants=3
         # B never registered itself, yet holds the key.
         B reserve key={KS:#x} type=we expect GOOD
         B read-reservation expect reservation key={KS:#x} type=we
         # C is registered too: releasing as a non-holder is GOOD and changes nothing.
         C release key={KS:#x} type=we expect GOOD
         A read-reservation expect reservation key={KS:#x} type=we
         C write lba=400 fill=0xc4 expect RESERVATION_CONFLICT
         B write lba=400 fill=0xb4 expect GOOD
         ",
        logins = logins(&fw, &[&a, &b, &c]),
        tid_b = b.transport_id(),
        name_c = c.name,
    );
    let t = run(&fw, "SPEC_I_PT", &script);
    let status = t
        .last('A', "read-full-status")
        .and_then(StepResult::full_status)
        .unwrap_or_default();
    let has_a = status.iter().any(|e| e.names(&a));
    let has_b = status.iter().any(|e| e.names(&b));
    // A name-only TransportID registers the device; the target may report it by name or
    // by the initiator port it has seen log in.
    let has_c = status.iter().any(|e| {
        e.names_device(&c.name)
            || e.transport_id
                .to_ascii_lowercase()
                .starts_with(&format!("{},i,", c.name))
    });
    assert!(
        status.len() == 3 && status.iter().all(|e| e.key == KS) && has_a && has_b && has_c,
        "READ FULL STATUS must list A ({}), B ({}) and C ({}) with key {KS:#x}: {status:?}\n{}",
        a.transport_id(),
        b.transport_id(),
        c.name,
        t.report()
    );
}

#[test]
fn aptpl_registrations_and_reservation_survive_a_restart() {
    let mut fw = start();
    let (a, b) = (node_a(), node_b());
    let before = format!(
        "{logins}\
         B write lba=500 fill=0xb5 expect GOOD
         A register sakey={KA:#x} aptpl expect GOOD
         A reserve key={KA:#x} type=we expect GOOD
         A report-capabilities expect ptpl_c=1 ptpl_a=1
         B write lba=500 fill=0xb6 expect RESERVATION_CONFLICT
         ",
        logins = logins(&fw, &[&a, &b]),
    );
    run(&fw, "APTPL registration before the restart", &before);

    fw.restart()
        .expect("restart the firmware on the same enclosure");
    let after = format!(
        "{logins}\
         A read-keys expect keys={KA:#x}
         A read-reservation expect reservation key={KA:#x} type=we
         B write lba=500 fill=0xb6 expect RESERVATION_CONFLICT
         B read lba=500 expect fill=0xb5
         A write lba=500 fill=0xa5 expect GOOD
         ",
        logins = logins(&fw, &[&a, &b]),
    );
    run(&fw, "APTPL state after the restart", &after);
}

#[test]
fn registrations_without_aptpl_are_gone_after_a_restart() {
    let mut fw = start();
    let (a, b) = (node_a(), node_b());
    let before = format!(
        "{logins}\
         A register sakey={KA:#x} expect GOOD
         A reserve key={KA:#x} type=we expect GOOD
         A report-capabilities expect ptpl_a=0
         ",
        logins = logins(&fw, &[&a]),
    );
    run(&fw, "registration without APTPL", &before);

    fw.restart()
        .expect("restart the firmware on the same enclosure");
    let after = format!(
        "{logins}\
         A read-keys expect keys=none
         A read-reservation expect reservation none
         B write lba=510 fill=0xb5 expect GOOD
         ",
        logins = logins(&fw, &[&a, &b]),
    );
    run(&fw, "state without APTPL after the restart", &after);
}

#[test]
fn the_i_t_nexus_is_the_initiator_name_and_isid() {
    let fw = start();
    let a = node_a();
    let other_port = a.with_isid(0x4000_0137_00a2).as_session('D');
    let script = format!(
        "{login_a}\
         A register sakey={KA:#x} expect GOOD
         A logout expect GOOD
         # Same name, same ISID: the same I_T nexus, still registered.
         {login_a}\
         A register key={KA:#x} sakey={KA2:#x} expect GOOD
         A read-keys expect keys={KA2:#x}
         A logout expect GOOD
         # Same name, another ISID: another initiator port, not registered.
         {login_d}\
         D reserve key={KA2:#x} type=we expect RESERVATION_CONFLICT
         D register key={KA2:#x} sakey={KD:#x} expect RESERVATION_CONFLICT
         D read-keys expect keys={KA2:#x}
         ",
        login_a = logins(&fw, &[&a]),
        login_d = logins(&fw, &[&other_port]),
    );
    run(&fw, "I_T nexus identity", &script);
}

#[test]
fn spc2_reserve_is_released_when_its_nexus_is_lost() {
    let fw = start();
    let (a, b) = (node_a(), node_b());
    let script = format!(
        "{logins}\
         A reserve6 expect GOOD
         B write lba=700 fill=0xb7 expect RESERVATION_CONFLICT
         B read lba=700 expect RESERVATION_CONFLICT
         B inquiry expect GOOD
         A write lba=700 fill=0xa7 expect GOOD
         # A's connection goes without a logout: the nexus is lost and its reservation with it.
         A drop expect GOOD
         B reserve6 within-ms=10000 expect GOOD
         B read lba=700 expect fill=0xa7
         B release6 expect GOOD
         ",
        logins = logins(&fw, &[&a, &b]),
    );
    run(&fw, "SPC-2 RESERVE(6)/RELEASE(6)", &script);
}

// ---- the tool itself ----

#[test]
fn iscsi_pr_builds_the_spc4_cdbs_and_parameter_lists() {
    let script = "\
        A login iscsi://127.0.0.1:1/iqn.t/0 iqn.a
        A register sakey=0x1122334455667788 aptpl all_tg_pt
        A register-ignore sakey=0xbb
        A reserve key=0xaa type=we-ro
        A release key=0xaa type=ea-ar
        A clear key=0xaa
        A preempt key=0xaa sakey=0xbb type=we
        A preempt-abort key=0xaa sakey=0xbb type=ea
        A register-spec sakey=0xcc tid=iqn.b,i,0x400001370002 tid=iqn.c
        A register-move key=0xaa sakey=0xb2 type=we port=1 tid=iqn.b,i,0x400001370002 unreg aptpl
        A read-keys
        A read-full-status
        A read lba=7
        A reserve6
        A report-target-port
        ";
    let t = reservation_client::dry_run(script).expect("run iscsi-pr --dry-run");
    assert!(t.success(), "{}", t.report());
    let cdb = |line: u32| {
        t.step(line)
            .and_then(|s| s.outcome.as_ref())
            .and_then(|o| o.field("cdb"))
            .unwrap_or("")
            .to_string()
    };
    let data = |line: u32| {
        t.step(line)
            .and_then(|s| s.outcome.as_ref())
            .and_then(|o| o.field("data"))
            .unwrap_or("")
            .to_string()
    };
    let key = |k: &str| format!("{k:0>16}");
    // REGISTER: PARAMETER LIST LENGTH 24 in CDB bytes 5-8; ALL_TG_PT and APTPL in byte 20.
    assert_eq!(cdb(2), "5f000000000000001800");
    assert_eq!(
        data(2),
        format!("{}1122334455667788{}05000000", key("0"), "00000000")
    );
    assert_eq!(cdb(3), "5f060000000000001800");
    assert_eq!(cdb(4), "5f010500000000001800", "RESERVE, type 5 (WE-RO)");
    assert_eq!(cdb(5), "5f020800000000001800", "RELEASE, type 8 (EA-AR)");
    assert_eq!(cdb(6), "5f030000000000001800");
    assert_eq!(cdb(7), "5f040100000000001800");
    assert_eq!(cdb(8), "5f050300000000001800");
    // SPEC_I_PT: byte 20 bit 3, TRANSPORTID PARAMETER DATA LENGTH at 24, then a format 01b
    // TransportID (45h) and a format 00b one (05h) padded to 20 bytes.
    let tid_b = format!("45000018{}0000", hex("iqn.b,i,0x400001370002"));
    let tid_c = format!("05000014{}{}", hex("iqn.c"), "00".repeat(15));
    assert_eq!(cdb(9), "5f000000000000005000", "80 bytes");
    assert_eq!(
        data(9),
        format!(
            "{}{}{}08000000{:08x}{tid_b}{tid_c}",
            key("0"),
            key("cc"),
            "00000000",
            (tid_b.len() + tid_c.len()) / 2
        )
    );
    // REGISTER AND MOVE (SPC-4 table 176): UNREG and APTPL in byte 17, the relative target
    // port in 18-19, the TransportID length in 20-23.
    assert_eq!(cdb(10), "5f070100000000003400");
    assert_eq!(
        data(10),
        format!("{}{}000300010000001c{tid_b}", key("aa"), key("b2"))
    );
    assert_eq!(
        cdb(11),
        "5e000000000000200000",
        "READ KEYS, allocation length 8192"
    );
    assert_eq!(cdb(12), "5e030000000000200000");
    assert_eq!(cdb(13), "28000000000700000100");
    assert_eq!(cdb(14), "160000000000");
    assert_eq!(cdb(15), "120183040000", "INQUIRY VPD 83h");
}

fn hex(text: &str) -> String {
    text.bytes().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn iscsi_pr_refuses_bad_scripts_naming_the_line() {
    let script = "\
        A login iscsi://127.0.0.1:1/iqn.t/0 iqn.a
        A reserve key=0xaa
        A reserve key=0xaa type=wx
        A register sakey=1 expect GODO
        A register-move key=1 sakey=2 type=we port=1 tid=iqn.b
        A login iscsi://x/y/0 iqn.a isid=0x410000000001
        A tur within-ms=100
        sleep
        B
        ";
    let t = reservation_client::dry_run(script).expect("run iscsi-pr --dry-run");
    assert_eq!(
        t.status.and_then(|s| s.code()),
        Some(2),
        "a script error is exit 2: {}",
        t.report()
    );
    for line in 2..=9 {
        assert!(
            t.stderr.contains(&format!("line {line}:")),
            "line {line} should be reported: {}",
            t.report()
        );
    }
    assert!(t.stdout.is_empty(), "nothing runs: {}", t.report());
}

#[test]
fn iscsi_pr_checks_expectations_against_a_live_target() {
    let fw = start();
    let a = node_a();
    let script = format!(
        "{login}\
         A write lba=9 fill=0x5a expect GOOD
         A read lba=9 expect fill=0x5a
         A read lba=9 expect fill=0x01 | fill=0x5A
         A inquiry expect pdt=0
         A report-target-port expect GOOD
         A tur expect BUSY | RESERVATION_CONFLICT
         A tur
         ",
        login = logins(&fw, &[&a]),
    );
    let t = reservation_client::run_script(&script).expect("run iscsi-pr");
    assert_eq!(
        t.status.and_then(|s| s.code()),
        Some(1),
        "a failed expectation is exit 1: {}",
        t.report()
    );
    let miss = t.mismatch().expect("a mismatch line");
    assert_eq!(miss.line, 8, "{}", t.report());
    assert_eq!(
        miss.mismatch.as_deref(),
        Some("expected BUSY | RESERVATION_CONFLICT, got GOOD")
    );
    assert!(t.step(9).is_none(), "the script stops at the mismatch");
    assert!(
        t.last('A', "report-target-port")
            .and_then(StepResult::port)
            .is_some(),
        "{}",
        t.report()
    );
    assert!(t.stderr.contains("line 8 (A tur)"), "{}", t.report());

    // A refused login is a result, not a crash; later steps say why they cannot run.
    let dead = dyad_tests::port::free_loopback_port().expect("a free port");
    let refused = format!(
        "A login iscsi://127.0.0.1:{dead}/iqn.t/0 iqn.a expect ERROR\nA tur expect ERROR\n"
    );
    let t = reservation_client::run_script(&refused).expect("run iscsi-pr");
    assert!(t.success(), "{}", t.report());
}
