//! Hot-plug on the sim board end to end (issue 6): a LUN on a backplane drive, an initiator
//! reading while the drive is pulled and put back with `dyad enclosure`, the console's
//! `slot` verbs, and a drive moved to another slot keeping its LUN, live and across a
//! restart, even when it is out of the enclosure while the controller starts.
//!
//! The initiator is `iscsi-pr` (tests/initiator/iscsi-pr.c): each step sends exactly the
//! command it names, so the test sees every status and sense as the target sent it. Steps
//! with `within-ms` repeat until the expected answer comes: a read loop that runs across
//! the pull, a TEST UNIT READY loop across the insert. The data is checked with
//! `iscsi-pattern` before and after.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use dyad_tests::child::{self, RunOutput};
use dyad_tests::initiator::{pattern_verify, pattern_write};
use dyad_tests::reservation_client::{self, spawn_script, RunningScript, Transcript};
use dyad_tests::{paths, Firmware};

/// A 16 MiB LUN on the drive in slot 3, created by the firmware at its first start.
const LUN: &[&str] = &["--lun", "slot:3,size=16M"];
const INITIATOR: &str = "iqn.2026-11.dev.dyad.test:hotplug";
/// The pattern's extent: 1 MiB at the start of the LUN.
const BLOCKS: u64 = 2048;
/// How long a step waits for the firmware to notice the backplane (it polls every 200 ms).
const NOTICE_MS: u32 = 20_000;

fn start() -> Firmware {
    Firmware::start(LUN).expect("start the firmware")
}

/// `dyad enclosure ARGS --enclosure DIR`, which must succeed.
fn enclosure(dir: &Path, args: &[&str]) -> String {
    let tool = paths::target_dir().join("release").join("dyad");
    paths::require_file(&tool, "build it with `cargo build --release -p tools`").expect("dyad");
    let mut cmd = Command::new(tool);
    cmd.arg("enclosure").args(args).arg("--enclosure").arg(dir);
    let name = child::describe(&cmd);
    let out: RunOutput = child::run_with_timeout(&mut cmd, Duration::from_secs(30))
        .unwrap_or_else(|e| panic!("cannot run {name}: {e}"));
    assert!(out.success(), "{name} failed:\n{}", out.combined());
    out.stdout
}

fn console(firmware: &Firmware, line: &str) -> String {
    let reply = firmware.console(line).expect("console");
    assert!(reply.ok, "`{line}` failed:\n{}", reply.output);
    reply.output
}

/// The `slot list` line of slot `n`, split into words.
fn slot_line(list: &str, n: u32) -> Vec<String> {
    list.lines()
        .map(|l| l.split_whitespace().map(String::from).collect::<Vec<_>>())
        .find(|w| w.first().map(String::as_str) == Some(&n.to_string()))
        .unwrap_or_else(|| panic!("no line for slot {n} in:\n{list}"))
}

/// `slot list` once `done` accepts it (the firmware polls the backplane every 200 ms).
fn wait_for_slot_list(firmware: &Firmware, done: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_millis(u64::from(NOTICE_MS));
    loop {
        let list = console(firmware, "slot list");
        if done(&list) {
            return list;
        }
        assert!(
            Instant::now() < deadline,
            "the slot list never changed as expected:\n{list}\n--- firmware:\n{}",
            firmware.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn write_pattern(firmware: &Firmware, seed: u64) {
    let out = pattern_write(&firmware.url(0), 0, BLOCKS, seed).expect("iscsi-pattern");
    assert!(out.success(), "write: {}", out.combined());
}

fn verify_pattern(firmware: &Firmware, seed: u64, when: &str) {
    let out = pattern_verify(&firmware.url(0), 0, BLOCKS, seed).expect("iscsi-pattern");
    assert!(
        out.success(),
        "{when}: the data is not what was written: {}\n{}",
        out.combined(),
        firmware.log()
    );
}

fn failure(what: &str, t: &Transcript, firmware: &Firmware) -> String {
    format!(
        "{what}: {}\n{}\n--- firmware:\n{}",
        t.summary(),
        t.report(),
        firmware.log()
    )
}

/// Waits until the script prints the result of its line `line`.
fn wait_for_step(script: &mut RunningScript, line: u32, firmware: &Firmware) {
    let prefix = format!("{line} ");
    let reached = script.wait_for_line(Duration::from_secs(60), |l| {
        l.starts_with(&prefix) && l.contains(" = ")
    });
    assert!(
        reached,
        "the script never reached line {line}: {:?}\n--- firmware:\n{}",
        script.steps_so_far(),
        firmware.log()
    );
}

#[test]
fn reads_fail_with_medium_not_present_while_the_drive_is_out_and_the_data_survives() {
    let firmware = start();
    let dir = firmware.enclosure().to_path_buf();
    write_pattern(&firmware, 7);
    // Bound at start-up: the drive carries its LUN's name.
    let slots = console(&firmware, "slot list");
    let three = slot_line(&slots, 3);
    assert_eq!(&three[..3], ["3", "sas", "present"], "{slots}");
    assert!(three.contains(&"(LUN".to_string()), "{slots}");

    let url = firmware.url(0);
    let script = format!(
        "A login {url} {INITIATOR}\n\
         A clear-ua expect GOOD\n\
         A write lba=4000 fill=0x5a expect GOOD\n\
         A read lba=4000 expect fill=0x5a\n\
         A read lba=4000 within-ms={NOTICE_MS} expect NOT_READY 0x3a/0x00\n\
         A tur expect NOT_READY 0x3a/0x00\n\
         A read lba=0 expect NOT_READY 0x3a/0x00\n\
         A write lba=4001 fill=0x11 expect NOT_READY 0x3a/0x00\n\
         A inquiry expect GOOD\n\
         A tur within-ms={NOTICE_MS} expect UNIT_ATTENTION 0x28/0x00\n\
         A tur expect GOOD\n\
         A read lba=4000 expect fill=0x5a\n\
         A read lba=4001 expect fill=0x00\n"
    );
    let mut running = spawn_script(&script).expect("iscsi-pr");
    // Reading (line 4 done, line 5 looping on GOOD reads) when the drive goes.
    wait_for_step(&mut running, 4, &firmware);
    let said = enclosure(&dir, &["pull", "3"]);
    assert!(said.contains("slot 3: pulled drive naa."), "{said}");
    // Out: the reads failed with the standard sense, and the console says why.
    wait_for_step(&mut running, 9, &firmware);
    let slots = console(&firmware, "slot list");
    assert_eq!(&slot_line(&slots, 3)[..3], ["3", "sas", "empty"], "{slots}");
    assert!(
        slots.contains("its drive is not in the enclosure"),
        "{slots}"
    );
    let tur = firmware.console("tur 0").expect("console");
    assert!(
        !tur.ok && tur.output.contains("NOT READY"),
        "{}",
        tur.output
    );
    enclosure(&dir, &["insert", "3"]);
    let t = running
        .finish(reservation_client::SCRIPT_TIMEOUT)
        .expect("iscsi-pr");
    assert!(t.success(), "{}", failure("pull and insert", &t, &firmware));
    verify_pattern(&firmware, 7, "after the drive came back");
    let log = firmware.log();
    assert!(log.contains("left the enclosure"), "{log}");
    assert!(log.contains("is back in slot 3"), "{log}");
}

#[test]
fn a_drive_moved_to_another_slot_keeps_its_lun_live_across_a_restart_and_pulled_at_start() {
    let mut firmware = start();
    let dir = firmware.enclosure().to_path_buf();
    let url = firmware.url(0);
    write_pattern(&firmware, 11);
    let before = slot_line(&console(&firmware, "slot list"), 3);
    let designator = before[3].clone();
    assert!(designator.starts_with("naa."), "{before:?}");

    // Live: the drive goes from slot 3 to slot 7; the LUN follows it.
    let said = enclosure(&dir, &["move", "3", "7"]);
    assert!(said.contains("moved from slot 3 to slot 7"), "{said}");
    let slots = wait_for_slot_list(&firmware, |list| {
        slot_line(list, 7).join(" ").contains("(LUN 0)") && !list.contains("unused")
    });
    verify_pattern(&firmware, 11, "after the move");
    let seven = slot_line(&slots, 7);
    assert_eq!(seven[3], designator, "{slots}");
    assert!(slots.contains("(LUN 0)"), "{slots}");
    assert!(!slots.contains("unused"), "{slots}");
    assert_eq!(slot_line(&slots, 3)[2], "empty", "{slots}");
    // The configuration still says slot 3: the binding is by identity.
    assert!(console(&firmware, "devlist -v").contains("path=slot:3"));
    assert!(
        firmware.log().contains("follows its drive")
            || firmware.log().contains("is back in slot 7")
    );

    // Across a restart: the LUN starts on its drive in slot 7, and slot 3 stays empty (no
    // blank drive is made there).
    firmware.restart().expect("restart");
    verify_pattern(&firmware, 11, "after a restart");
    let slots = console(&firmware, "slot list");
    assert_eq!(slot_line(&slots, 3)[2], "empty", "{slots}");
    assert_eq!(slot_line(&slots, 7)[3], designator, "{slots}");

    // Out of the enclosure while the controller starts: the LUN is there, without medium,
    // until its drive is inserted (into yet another slot).
    firmware.stop().expect("stop");
    enclosure(&dir, &["pull", "7"]);
    firmware.restart().expect("start with the drive out");
    let script = format!(
        "A login {url} {INITIATOR}\n\
         A clear-ua expect NOT_READY 0x3a/0x00\n\
         A read lba=0 expect NOT_READY 0x3a/0x00\n\
         A tur within-ms={NOTICE_MS} expect UNIT_ATTENTION 0x28/0x00\n\
         A tur expect GOOD\n"
    );
    let mut running = spawn_script(&script).expect("iscsi-pr");
    wait_for_step(&mut running, 3, &firmware);
    let listed = enclosure(&dir, &["list"]);
    assert!(
        listed.contains(&format!("{designator} from slot 7")),
        "{listed}"
    );
    enclosure(&dir, &["insert", "5", "--from-slot", "7"]);
    let t = running
        .finish(reservation_client::SCRIPT_TIMEOUT)
        .expect("iscsi-pr");
    assert!(
        t.success(),
        "{}",
        failure("inserted after start", &t, &firmware)
    );
    verify_pattern(
        &firmware,
        11,
        "inserted into slot 5 after a start without it",
    );
    assert_eq!(
        slot_line(&console(&firmware, "slot list"), 5)[3],
        designator
    );
}

#[test]
fn slot_leds_show_on_the_console_and_on_the_host() {
    let firmware = start();
    let dir = firmware.enclosure().to_path_buf();
    assert_eq!(
        console(&firmware, "slot locate 3 on"),
        "slot 3: locate LED on"
    );
    console(&firmware, "slot fault 12 on");
    console(&firmware, "slot fault 12 off");
    let slots = console(&firmware, "slot list");
    let three = slot_line(&slots, 3);
    // Slot Transport Drive Designator Serial Capacity(2 words) LB/PB Locate Fault ...
    assert_eq!(&three[8..10], ["on", "off"], "{slots}");
    assert_eq!(&slot_line(&slots, 12)[7..9], ["off", "off"], "{slots}");
    assert!(
        slots.contains("health n/a: not available on the sim board"),
        "{slots}"
    );
    // The host sees what the controller set: the LEDs are the enclosure's.
    let listed = enclosure(&dir, &["list"]);
    assert_eq!(&slot_line(&listed, 3)[8..10], ["on", "off"], "{listed}");
    let verbose = console(&firmware, "slot list -v");
    assert!(
        verbose.contains("health=not available on the sim board"),
        "{verbose}"
    );
    let reply = firmware.console("slot locate 24 on").expect("console");
    assert!(!reply.ok, "{}", reply.output);
    assert!(
        reply.output.contains("slot 24 does not exist"),
        "{}",
        reply.output
    );
}

#[test]
fn the_controller_registers_for_the_peer_fence_and_pets_its_watchdog() {
    let mut firmware = start();
    let dir = firmware.enclosure().to_path_buf();
    let pid_file = dir.join("controller-a.pid");
    let watchdog = dir.join("controller-a.watchdog");
    let pid = std::fs::read_to_string(&pid_file).expect("controller-a.pid");
    assert_eq!(pid.trim().parse::<u32>().ok(), firmware.pid());
    let armed = std::fs::read_to_string(&watchdog).expect("controller-a.watchdog");
    assert!(armed.contains("timeout-ms = "), "{armed}");
    // Petted: the file's time keeps moving on while the firmware runs (once a second).
    let stamp = || {
        std::fs::metadata(&watchdog)
            .and_then(|m| m.modified())
            .expect("watchdog time")
    };
    let mut seen = vec![stamp()];
    let deadline = Instant::now() + Duration::from_secs(15);
    while seen.len() < 3 {
        assert!(
            Instant::now() < deadline,
            "the watchdog was not petted: {seen:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
        let now = stamp();
        if seen.last() != Some(&now) {
            seen.push(now);
        }
    }
    // A clean stop disarms it and leaves no registration for a fence to act on.
    let status = firmware.stop().expect("stop");
    assert!(status.success(), "{status}");
    assert!(!watchdog.exists() && !pid_file.exists());
}
