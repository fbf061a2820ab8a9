//! COMPARE AND WRITE under contention: two sessions (two `iscsi-pattern caw-increment`
//! processes) each increment a 64-bit counter kept in one block N times, each increment a
//! READ and a COMPARE AND WRITE of the value read, retried on MISCOMPARE. With COMPARE AND
//! WRITE atomic against every other write to the block, no increment is lost: the counter
//! ends 2N above where it started, and the block is never torn. `DYAD_CAW_INCREMENTS`
//! sets N (default 500); `DYAD_TEST_TARGET=tgtd` runs it against tgtd.

use std::thread;

use dyad_tests::child::RunOutput;
use dyad_tests::initiator::{self, parse_caw_counter, parse_caw_increments, CawCounter};
use dyad_tests::target::{start_target, TargetKind, TargetSpec, TestTarget};

/// The counter block: away from LBA 0, where other tools look first.
const LBA: u64 = 4242;

fn increments() -> u64 {
    std::env::var("DYAD_CAW_INCREMENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500)
}

fn show(out: &RunOutput) -> String {
    format!(
        "status {:?}\n--- stdout:\n{}--- stderr:\n{}",
        out.status, out.stdout, out.stderr
    )
}

fn read_counter(target: &dyn TestTarget) -> CawCounter {
    let out = initiator::caw_read(&target.disk_url(), LBA).expect("run iscsi-pattern caw-read");
    let counter = parse_caw_counter(&out.stdout);
    assert!(
        out.success() && counter.is_some_and(|c| c.consistent),
        "the counter block at LBA {LBA} is unreadable or torn: {}\n--- target output:\n{}",
        show(&out),
        target.log()
    );
    counter.expect("checked above")
}

#[test]
fn compare_and_write_storm_from_two_sessions_loses_no_update() {
    let target =
        start_target(TargetKind::from_env(), &TargetSpec::default()).expect("start the target");
    let n = increments();
    let before = read_counter(target.as_ref());

    let url = target.disk_url();
    let writers: Vec<_> = [1u64, 2]
        .into_iter()
        .map(|writer| {
            let url = url.clone();
            thread::spawn(move || initiator::caw_increment(&url, LBA, n, writer))
        })
        .collect();
    let outputs: Vec<RunOutput> = writers
        .into_iter()
        .map(|w| {
            w.join()
                .expect("writer thread")
                .expect("run iscsi-pattern caw-increment")
        })
        .collect();

    let mut miscompares = 0;
    for out in &outputs {
        let stats = parse_caw_increments(&out.stdout);
        assert!(
            out.success() && stats.is_some_and(|s| s.increments == n),
            "a writer did not finish its {n} increments: {}\n--- target output:\n{}",
            show(out),
            target.log()
        );
        let stats = stats.expect("checked above");
        println!(
            "writer {}: {} increments, {} MISCOMPAREs, {} BUSY/TASK SET FULL, last value {}",
            stats.writer, stats.increments, stats.miscompares, stats.busy, stats.last
        );
        miscompares += stats.miscompares;
    }
    if miscompares == 0 {
        println!(
            "note: no MISCOMPARE at all: the two writers never raced (a slow start?); the \
             count still proves nothing was lost"
        );
    }

    let after = read_counter(target.as_ref());
    println!(
        "counter: {} before, {} after ({} expected)",
        before.counter,
        after.counter,
        before.counter + 2 * n
    );
    assert_eq!(
        after.counter,
        before.counter + 2 * n,
        "COMPARE AND WRITE lost {} of {} updates",
        (before.counter + 2 * n).saturating_sub(after.counter),
        2 * n
    );
}
