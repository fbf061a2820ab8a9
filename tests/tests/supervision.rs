//! `dyad run` as the sim board's supervisor (issue 6): a controller that stops petting its
//! watchdog is killed and started again, as is one that dies; one the peer fenced off
//! (`controller-a.off`) is left off and `dyad run` ends with an error; a crash loop is given
//! up on; SIGTERM stops it cleanly.
//!
//! The firmware runs with a 3 s watchdog (`DYAD_WATCHDOG_MS`, petted every 750 ms), so a
//! hang is noticed in about three seconds.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use dyad_tests::child::{self, Echo, RunOutput, SharedLog};
use dyad_tests::port::free_loopback_port;
use dyad_tests::{paths, TempDir};

const WATCHDOG_MS: u64 = 3000;
/// How long a restart may take: the watchdog, the launcher's poll and a firmware start, with
/// room for a loaded machine.
const RESTART_WITHIN: Duration = Duration::from_secs(15);
/// How long the first start may take (`dyad run` itself waits up to 60 s).
const START_WITHIN: Duration = Duration::from_secs(45);

fn dyad() -> PathBuf {
    let tool = paths::target_dir().join("release").join("dyad");
    paths::require_file(&tool, "build it with `cargo build --release -p tools`").expect("dyad");
    paths::require_file(
        &paths::firmware_binary(),
        "build it with `cargo build --release -p firmware`",
    )
    .expect("dyad-firmware");
    tool
}

/// `dyad run` on a fresh enclosure, its output (both streams) read line by line.
struct Launcher {
    enclosure: TempDir,
    process: Option<Child>,
    lines: Receiver<String>,
    log: SharedLog,
}

impl Launcher {
    fn start(name: &str) -> Launcher {
        let enclosure = TempDir::new(name).expect("enclosure");
        let port = free_loopback_port().expect("port");
        let mut cmd = Command::new(dyad());
        cmd.arg("run")
            .arg("--enclosure")
            .arg(enclosure.path())
            .args(["--", "--listen", &format!("127.0.0.1:{port}")])
            .args(["--lun", "ramdisk:8M"])
            .env("DYAD_WATCHDOG_MS", WATCHDOG_MS.to_string())
            .env("DYAD_FIRMWARE", paths::firmware_binary())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut process = cmd.spawn().expect("start dyad run");
        let log = SharedLog::default();
        let (tx, lines) = mpsc::channel();
        let out = process.stdout.take().expect("stdout");
        let err = process.stderr.take().expect("stderr");
        child::drain(out, log.clone(), Some(tx.clone()), Echo::None);
        child::drain(err, log.clone(), Some(tx), Echo::None);
        let mut launcher = Launcher {
            enclosure,
            process: Some(process),
            lines,
            log,
        };
        launcher.expect_line_within("the banner", START_WITHIN, |l| l.contains("is up;"));
        launcher
    }

    fn dir(&self) -> &Path {
        self.enclosure.path()
    }

    fn log(&self) -> String {
        child::snapshot(&self.log)
    }

    /// Waits up to [`RESTART_WITHIN`] for a line `want` accepts; returns it.
    fn expect_line(&mut self, what: &str, want: impl Fn(&str) -> bool) -> String {
        self.expect_line_within(what, RESTART_WITHIN, want)
    }

    fn expect_line_within(
        &mut self,
        what: &str,
        within: Duration,
        want: impl Fn(&str) -> bool,
    ) -> String {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if want(&line) => return line,
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout) => {
                    panic!("no line with {what} in {within:?}:\n{}", self.log())
                }
                Err(RecvTimeoutError::Disconnected) => {
                    panic!("dyad run ended before {what}:\n{}", self.log())
                }
            }
        }
    }

    /// The firmware's process id, from its pid file.
    fn firmware_pid(&self) -> u32 {
        let file = self.dir().join("controller-a.pid");
        let text = fs::read_to_string(&file)
            .unwrap_or_else(|e| panic!("{}: {e}\n{}", file.display(), self.log()));
        text.trim().parse().expect("a pid")
    }

    /// After the firmware was killed: a restart, with a new process that answers its
    /// console. Returns the new pid.
    fn expect_restart(&mut self, old: u32, why: impl Fn(&str) -> bool) -> u32 {
        self.expect_line("why it restarts", |l| {
            why(l) && l.ends_with(": restarting it")
        });
        self.expect_line("the banner again", |l| l.contains("is up again"));
        let pid = self.firmware_pid();
        assert_ne!(pid, old, "the same process?\n{}", self.log());
        assert!(!is_running(old), "pid {old} still runs\n{}", self.log());
        let devlist = self.console("devlist");
        assert!(devlist.success(), "devlist: {}", devlist.combined());
        pid
    }

    /// `dyad console a -c LINE --enclosure DIR`.
    fn console(&self, line: &str) -> RunOutput {
        let mut cmd = Command::new(dyad());
        cmd.args(["console", "a", "-c", line, "--enclosure"])
            .arg(self.dir());
        child::run_with_timeout(&mut cmd, Duration::from_secs(30)).expect("dyad console")
    }

    /// Waits for `dyad run` to end by itself.
    fn wait(&mut self) -> ExitStatus {
        let mut process = self.process.take().expect("running");
        match child::wait_timeout(&mut process, RESTART_WITHIN).expect("wait") {
            Some(status) => status,
            None => {
                let _ = process.kill();
                let _ = process.wait();
                panic!("dyad run did not end:\n{}", self.log());
            }
        }
    }

    fn signal(&self, signal: libc::c_int) {
        let pid = self.process.as_ref().expect("running").id();
        child::signal(pid, signal).expect("signal dyad run");
    }
}

impl Drop for Launcher {
    fn drop(&mut self) {
        // Never leave a firmware behind: it is in a process group of its own.
        if let Ok(text) = fs::read_to_string(self.dir().join("controller-a.pid")) {
            if let Ok(pid) = text.trim().parse::<u32>() {
                if is_firmware(pid) {
                    let _ = child::signal(pid, libc::SIGKILL);
                }
            }
        }
        if let Some(mut process) = self.process.take() {
            let _ = process.kill();
            let _ = process.wait();
        }
    }
}

/// Whether `pid` is a live (not zombie) process.
fn is_running(pid: u32) -> bool {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.trim_start().chars().next());
    !matches!(state, None | Some('Z' | 'X'))
}

fn is_firmware(pid: u32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim_end() == "dyad-firmware")
        && is_running(pid)
}

#[test]
fn a_hung_or_dead_controller_is_restarted_and_a_fenced_one_left_off() {
    let mut run = Launcher::start("supervise");
    let first = run.firmware_pid();
    assert!(is_firmware(first), "{}", run.log());

    // (1) Hung: stopped, it pets no more; the watchdog expires and the launcher restarts it.
    let stopped = Instant::now();
    child::signal(first, libc::SIGSTOP).expect("SIGSTOP");
    let second = run.expect_restart(first, |l| {
        l.contains("controller A's watchdog expired") && l.contains("ms overdue")
    });
    let took = stopped.elapsed();
    assert!(
        took >= Duration::from_millis(WATCHDOG_MS) - Duration::from_millis(500),
        "restarted after {took:?}, before the watchdog could expire\n{}",
        run.log()
    );

    // (2) Dead: killed, as a crash or the peer's reset fence would.
    child::signal(second, libc::SIGKILL).expect("SIGKILL");
    let third = run.expect_restart(second, |l| {
        l.contains("controller A ended with signal 9 (SIGKILL)")
    });

    // (3) Fenced off by the peer: the marker, then the kill. Left off; nothing removed.
    let off = run.dir().join("controller-a.off");
    fs::write(&off, "fenced by the peer\n").expect("off marker");
    child::signal(third, libc::SIGKILL).expect("SIGKILL");
    let status = run.wait();
    assert!(!status.success(), "{status}\n{}", run.log());
    let log = run.log();
    assert!(
        log.contains("the peer fenced it off") && log.contains("not restarting it"),
        "{log}"
    );
    assert!(!log.contains("restart 3"), "{log}");
    assert!(off.exists(), "the marker was removed");
    assert!(!is_running(third));
}

#[test]
fn sigterm_stops_it_cleanly() {
    let mut run = Launcher::start("supervise-stop");
    let pid = run.firmware_pid();
    run.signal(libc::SIGTERM);
    let status = run.wait();
    assert!(status.success(), "{status}\n{}", run.log());
    assert!(!is_running(pid), "the firmware still runs\n{}", run.log());
    let log = run.log();
    assert!(log.contains("controller 1 stopped"), "{log}");
    assert!(!log.contains("restarting"), "{log}");
    assert!(
        !run.dir().join("controller-a.pid").exists(),
        "a clean stop removes the pid file"
    );
    assert!(
        !run.dir().join("controller-a.watchdog").exists(),
        "a clean stop disarms the watchdog"
    );
}

#[test]
fn a_crash_loop_is_given_up_on() {
    let mut run = Launcher::start("supervise-loop");
    let mut pid = run.firmware_pid();
    for _ in 0..5 {
        child::signal(pid, libc::SIGKILL).expect("SIGKILL");
        run.expect_line("a restart", |l| l.ends_with(": restarting it"));
        run.expect_line("the banner again", |l| l.contains("is up again"));
        pid = run.firmware_pid();
    }
    child::signal(pid, libc::SIGKILL).expect("SIGKILL");
    let status = run.wait();
    assert!(!status.success(), "{status}\n{}", run.log());
    let log = run.log();
    assert!(
        log.contains("after 5 restarts in the last 60 s: giving up"),
        "{log}"
    );
    assert!(!is_running(pid));
}
