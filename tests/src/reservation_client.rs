//! Persistent reservation scripts through `iscsi-pr` (tests/initiator/iscsi-pr.c): run a
//! script to its end or in the background (a writer to fence while it runs), and read its
//! transcript back as typed step results, so a test can both let the tool check `expect`
//! lines and compare values across steps (generations, keys, the writer's progress).
//!
//! The tool prints `LINE S OP = RESULT` per step, `LINE S OP > DETAIL` for detail lines and
//! `LINE S OP ! expected ..., got ...` when an expectation fails (then it exits 1). Anything
//! else on its stdout is ignored by the parser but kept for failure reports.

use std::fmt::Write as _;
use std::io::{self, Write as _};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::child::{self, Echo, SharedLog};
use crate::paths;

/// A whole script of a few dozen steps; each command inside has the tool's own 30 s limit.
pub const SCRIPT_TIMEOUT: Duration = Duration::from_secs(180);

/// One initiator port: a session letter in scripts, an iSCSI name and an ISID. Two values
/// with the same name and ISID are the same I_T nexus to the target, whatever the process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Initiator {
    pub session: char,
    pub name: String,
    /// The 6-byte ISID in the low 48 bits.
    pub isid: u64,
}

impl Initiator {
    pub fn new(session: char, name: &str, isid: u64) -> Initiator {
        Initiator {
            session,
            name: name.to_string(),
            isid: isid & 0xffff_ffff_ffff,
        }
    }

    /// The same initiator port under another session letter (to hold two sessions at once).
    pub fn as_session(&self, session: char) -> Initiator {
        Initiator {
            session,
            ..self.clone()
        }
    }

    /// The same initiator name with another ISID: another initiator port, another I_T nexus.
    pub fn with_isid(&self, isid: u64) -> Initiator {
        Initiator::new(self.session, &self.name, isid)
    }

    /// `0x` and 12 hex digits, as the login step and TransportIDs write it.
    pub fn isid_hex(&self) -> String {
        format!("0x{:012x}", self.isid)
    }

    /// The script line that logs this initiator port in to `url`.
    pub fn login(&self, url: &str) -> String {
        format!(
            "{} login {url} {} isid={}",
            self.session,
            self.name,
            self.isid_hex()
        )
    }

    /// Its iSCSI TransportID in format 01b text: `NAME,i,0xISID`.
    pub fn transport_id(&self) -> String {
        format!("{},i,{}", self.name, self.isid_hex())
    }
}

/// A SCSI status (or the tool's transport outcome) as the result line names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Status {
    Good,
    CheckCondition(Sense),
    ReservationConflict,
    TaskAborted,
    Busy,
    TaskSetFull,
    AcaActive,
    ConditionMet,
    /// No status within the tool's command timeout.
    Timeout,
    /// A transport failure, with libiscsi's reason.
    Error(String),
    /// `--dry-run`: nothing was sent.
    Dry,
    Other(String),
}

/// Sense data as the result line gives it: `UNIT_ATTENTION 0x2a/0x05`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sense {
    pub key: String,
    pub asc: Option<u8>,
    pub ascq: Option<u8>,
}

impl Sense {
    /// Whether it is `key` with this additional sense code and qualifier.
    pub fn is(&self, key: &str, asc: u8, ascq: u8) -> bool {
        self.key == key && self.asc == Some(asc) && self.ascq == Some(ascq)
    }
}

/// A parsed result: the status and the words after it (`name=value` fields and bare words).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// The result text as printed.
    pub text: String,
    pub status: Status,
    words: Vec<String>,
}

impl Outcome {
    /// Parses `GOOD generation=3 keys=0xaa`, `CHECK_CONDITION UNIT_ATTENTION 0x2a/0x05`,
    /// `ERROR why ...` and the like.
    pub fn parse(text: &str) -> Outcome {
        let text = text.trim();
        let mut words = text.split_whitespace();
        let first = words.next().unwrap_or("");
        let rest: Vec<String> = words.map(str::to_string).collect();
        let status = match first {
            "GOOD" => Status::Good,
            "CHECK_CONDITION" => Status::CheckCondition(parse_sense(&rest)),
            "RESERVATION_CONFLICT" => Status::ReservationConflict,
            "TASK_ABORTED" => Status::TaskAborted,
            "BUSY" => Status::Busy,
            "TASK_SET_FULL" => Status::TaskSetFull,
            "ACA_ACTIVE" => Status::AcaActive,
            "CONDITION_MET" => Status::ConditionMet,
            "TIMEOUT" => Status::Timeout,
            "DRY" => Status::Dry,
            "ERROR" => Status::Error(rest.join(" ")),
            other => Status::Other(other.to_string()),
        };
        Outcome {
            text: text.to_string(),
            status,
            words: rest,
        }
    }

    /// The value of the first `name=value` word.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.words
            .iter()
            .find_map(|w| w.strip_prefix(name).and_then(|rest| rest.strip_prefix('=')))
    }

    /// Whether a bare word (or a whole `name=value` word) is among the result's words.
    pub fn has_word(&self, word: &str) -> bool {
        self.words.iter().any(|w| w == word)
    }

    pub fn is_good(&self) -> bool {
        self.status == Status::Good
    }

    /// CHECK CONDITION with this sense key, ASC and ASCQ.
    pub fn is_sense(&self, key: &str, asc: u8, ascq: u8) -> bool {
        matches!(&self.status, Status::CheckCondition(s) if s.is(key, asc, ascq))
    }
}

fn parse_sense(words: &[String]) -> Sense {
    let key = words.first().cloned().unwrap_or_default();
    let (asc, ascq) = words
        .get(1)
        .and_then(|code| code.split_once('/'))
        .map(|(a, q)| (parse_u8(a), parse_u8(q)))
        .unwrap_or((None, None));
    Sense { key, asc, ascq }
}

/// `0x..` hex or decimal.
pub fn parse_number(text: &str) -> Option<u64> {
    match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

fn parse_u8(text: &str) -> Option<u8> {
    parse_number(text).and_then(|v| u8::try_from(v).ok())
}

/// The reservation READ RESERVATION reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reservation {
    pub key: u64,
    /// `we`, `ea`, `we-ro`, `ea-ro`, `we-ar`, `ea-ar` (or `0xN` for a code SPC-4 lacks).
    pub kind: String,
}

/// One registration of READ FULL STATUS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FullStatusEntry {
    pub key: u64,
    pub all_tg_pt: bool,
    pub holder: bool,
    /// The reservation type when it is the holder.
    pub kind: Option<String>,
    pub relative_target_port: u16,
    /// The TransportID as text: `NAME,i,0xISID` (format 01b) or `NAME` (format 00b).
    pub transport_id: String,
}

impl FullStatusEntry {
    /// Reads `key=0xaa all_tg_pt=0 r_holder=1 type=we-ro port=1 tid=NAME,i,0xISID`.
    pub fn parse(line: &str) -> Option<FullStatusEntry> {
        let outcome = Outcome::parse(&format!("GOOD {line}"));
        let flag = |name| match outcome.field(name)? {
            "0" => Some(false),
            "1" => Some(true),
            _ => None,
        };
        Some(FullStatusEntry {
            key: parse_number(outcome.field("key")?)?,
            all_tg_pt: flag("all_tg_pt")?,
            holder: flag("r_holder")?,
            kind: match outcome.field("type")? {
                "none" => None,
                kind => Some(kind.to_string()),
            },
            relative_target_port: u16::try_from(parse_number(outcome.field("port")?)?).ok()?,
            transport_id: outcome.field("tid")?.to_string(),
        })
    }

    /// Whether the TransportID names `initiator` exactly (name and ISID); iSCSI names and
    /// hex digits compare without regard to case.
    pub fn names(&self, initiator: &Initiator) -> bool {
        self.transport_id
            .eq_ignore_ascii_case(&initiator.transport_id())
    }

    /// Whether the TransportID is the bare initiator name (format 00b).
    pub fn names_device(&self, name: &str) -> bool {
        self.transport_id.eq_ignore_ascii_case(name)
    }
}

/// What one script line did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StepResult {
    pub line: u32,
    /// The session letter, or `-` for a global step.
    pub session: char,
    pub op: String,
    /// `None` when the tool stopped (or was stopped) before the step finished.
    pub outcome: Option<Outcome>,
    pub details: Vec<String>,
    /// The `expected ..., got ...` text of a failed expectation.
    pub mismatch: Option<String>,
}

impl StepResult {
    fn field(&self, name: &str) -> Option<&str> {
        self.outcome.as_ref()?.field(name)
    }

    pub fn status(&self) -> Option<&Status> {
        self.outcome.as_ref().map(|o| &o.status)
    }

    /// The result text, or a note that there was none.
    pub fn text(&self) -> &str {
        self.outcome
            .as_ref()
            .map_or("(no result)", |o| o.text.as_str())
    }

    /// PRgeneration of a PR IN step.
    pub fn generation(&self) -> Option<u32> {
        u32::try_from(parse_number(self.field("generation")?)?).ok()
    }

    /// The keys of `read-keys`, in the order the target listed them.
    pub fn keys(&self) -> Option<Vec<u64>> {
        match self.field("keys")? {
            "none" => Some(Vec::new()),
            list => list.split(',').map(parse_number).collect(),
        }
    }

    /// `read-reservation`: `Some(None)` when there is no reservation.
    pub fn reservation(&self) -> Option<Option<Reservation>> {
        let outcome = self.outcome.as_ref()?;
        if !outcome.has_word("reservation") {
            return None;
        }
        if outcome.has_word("none") {
            return Some(None);
        }
        Some(Some(Reservation {
            key: parse_number(outcome.field("key")?)?,
            kind: outcome.field("type")?.to_string(),
        }))
    }

    /// `report-target-port`: the relative target port identifier.
    pub fn port(&self) -> Option<u16> {
        u16::try_from(parse_number(self.field("port")?)?).ok()
    }

    /// `writer`: how many writes succeeded.
    pub fn writes(&self) -> Option<u64> {
        parse_number(self.field("writes")?)
    }

    /// `read`: the byte every byte of the block is (`None` for a mixed block).
    pub fn fill(&self) -> Option<u8> {
        parse_u8(self.field("fill")?)
    }

    /// `clear-ua`: the (ASC, ASCQ) of each unit attention it cleared.
    pub fn cleared(&self) -> Option<Vec<(u8, u8)>> {
        match self.field("cleared")? {
            "none" => Some(Vec::new()),
            list => list
                .split(',')
                .map(|code| {
                    let (asc, ascq) = code.split_once('/')?;
                    Some((parse_u8(asc)?, parse_u8(ascq)?))
                })
                .collect(),
        }
    }

    /// `read-full-status`: its registrations, from the detail lines.
    pub fn full_status(&self) -> Option<Vec<FullStatusEntry>> {
        if !self.outcome.as_ref()?.is_good() {
            return None;
        }
        self.details
            .iter()
            .map(|d| FullStatusEntry::parse(d))
            .collect()
    }
}

/// Reads the tool's stdout into step results, in script order. Lines that are not step
/// lines are skipped: a partial line from a killed process must not fail the parse.
pub fn parse_transcript(stdout: &str) -> Vec<StepResult> {
    let mut steps: Vec<StepResult> = Vec::new();
    for text in stdout.lines() {
        let Some((line, session, op, marker, rest)) = split_step_line(text) else {
            continue;
        };
        let index = match steps.iter().rposition(|s| s.line == line) {
            Some(i) => i,
            None => {
                steps.push(StepResult {
                    line,
                    session,
                    op: op.to_string(),
                    outcome: None,
                    details: Vec::new(),
                    mismatch: None,
                });
                steps.len() - 1
            }
        };
        let step = &mut steps[index];
        match marker {
            "=" => step.outcome = Some(Outcome::parse(rest)),
            ">" => step.details.push(rest.to_string()),
            _ => step.mismatch = Some(rest.to_string()),
        }
    }
    steps
}

/// `LINE S OP MARKER REST`, with MARKER one of `=`, `>`, `!`.
fn split_step_line(text: &str) -> Option<(u32, char, &str, &str, &str)> {
    let mut parts = text.splitn(5, ' ');
    let line = parts.next()?.parse().ok()?;
    let mut session_chars = parts.next()?.chars();
    let session = session_chars.next()?;
    if session_chars.next().is_some() || !(session.is_ascii_uppercase() || session == '-') {
        return None;
    }
    let op = parts.next()?;
    let marker = parts.next()?;
    if !matches!(marker, "=" | ">" | "!") {
        return None;
    }
    Some((line, session, op, marker, parts.next().unwrap_or("")))
}

/// A finished (or stopped) run of a script.
#[derive(Debug)]
pub struct Transcript {
    pub script: String,
    /// `None` when it was killed at its deadline.
    pub status: Option<ExitStatus>,
    pub stdout: String,
    pub stderr: String,
    pub steps: Vec<StepResult>,
}

impl Transcript {
    fn new(script: &str, status: Option<ExitStatus>, stdout: String, stderr: String) -> Self {
        Transcript {
            script: script.to_string(),
            status,
            steps: parse_transcript(&stdout),
            stdout,
            stderr,
        }
    }

    /// Exit 0: every step ran and every expectation held.
    pub fn success(&self) -> bool {
        self.status.is_some_and(|s| s.success())
    }

    /// The step on script line `line` (1-based, as the tool numbers them).
    pub fn step(&self, line: u32) -> Option<&StepResult> {
        self.steps.iter().find(|s| s.line == line)
    }

    /// The last step of `session` doing `op`.
    pub fn last(&self, session: char, op: &str) -> Option<&StepResult> {
        self.steps
            .iter()
            .rev()
            .find(|s| s.session == session && s.op == op)
    }

    /// The step whose expectation failed.
    pub fn mismatch(&self) -> Option<&StepResult> {
        self.steps.iter().find(|s| s.mismatch.is_some())
    }

    /// One line on what went wrong, for the first line of a failure message.
    pub fn summary(&self) -> String {
        if let Some(step) = self.mismatch() {
            let why = step.mismatch.as_deref().unwrap_or("");
            let mut text = format!("line {} ({} {}): {why}", step.line, step.session, step.op);
            if let Some(hint) = step.outcome.as_ref().and_then(hint) {
                let _ = write!(text, " [{hint}]");
            }
            return text;
        }
        match self.status {
            None => "iscsi-pr did not finish in time".to_string(),
            Some(s) if s.code() == Some(2) => format!(
                "iscsi-pr refused the script: {}",
                self.stderr.lines().next().unwrap_or("(no reason given)")
            ),
            Some(s) if !s.success() => format!("iscsi-pr exited with {s}"),
            Some(_) => "every expectation held".to_string(),
        }
    }

    /// The script with line numbers, the exit status and both outputs.
    pub fn report(&self) -> String {
        let mut out = String::from("--- script:\n");
        for (i, line) in self.script.lines().enumerate() {
            let _ = writeln!(out, "{:3}  {line}", i + 1);
        }
        let status = self
            .status
            .map_or_else(|| "killed at its deadline".to_string(), |s| s.to_string());
        let _ = write!(
            out,
            "--- iscsi-pr: {status}\n--- stdout:\n{}--- stderr:\n{}",
            self.stdout, self.stderr
        );
        out
    }
}

/// What a failing result most likely means, for results that point at a missing feature
/// rather than a wrong answer.
fn hint(outcome: &Outcome) -> Option<&'static str> {
    if outcome.is_sense("ILLEGAL_REQUEST", 0x20, 0x00) {
        Some("INVALID COMMAND OPERATION CODE: the target does not implement this command")
    } else if outcome.is_sense("ILLEGAL_REQUEST", 0x24, 0x00) {
        Some("INVALID FIELD IN CDB: a service action or type the target does not support")
    } else if outcome.is_sense("ILLEGAL_REQUEST", 0x26, 0x00) {
        Some("INVALID FIELD IN PARAMETER LIST")
    } else {
        None
    }
}

fn command(args: &[&str]) -> io::Result<Command> {
    let tool = paths::pr_binary();
    paths::require_file(
        &tool,
        "build it with `make initiator` (or set DYAD_ISCSI_PR)",
    )?;
    let mut cmd = Command::new(tool);
    cmd.args(args).arg("-");
    Ok(cmd)
}

/// Runs `script` to its end (at most [`SCRIPT_TIMEOUT`]).
pub fn run_script(script: &str) -> io::Result<Transcript> {
    spawn(script, &[])?.finish(SCRIPT_TIMEOUT)
}

/// Prints the bytes each step would send, connecting nowhere.
pub fn dry_run(script: &str) -> io::Result<Transcript> {
    spawn(script, &["--dry-run"])?.finish(SCRIPT_TIMEOUT)
}

/// Starts `script` in the background, e.g. a `writer` to be fenced while it runs.
pub fn spawn_script(script: &str) -> io::Result<RunningScript> {
    spawn(script, &[])
}

fn spawn(script: &str, args: &[&str]) -> io::Result<RunningScript> {
    let mut cmd = command(args)?;
    let name = child::describe(&cmd);
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut process = cmd
        .spawn()
        .map_err(|e| io::Error::new(e.kind(), format!("cannot run {name}: {e}")))?;
    // The tool reads the whole script before it prints anything, so writing it all first
    // cannot deadlock on a full stdout pipe.
    if let Some(mut stdin) = process.stdin.take() {
        stdin.write_all(script.as_bytes())?;
    }
    let stdout: SharedLog = Arc::default();
    let stderr: SharedLog = Arc::default();
    let (tx, lines) = mpsc::channel();
    let mut readers = Vec::new();
    if let Some(pipe) = process.stdout.take() {
        readers.push(child::drain(pipe, stdout.clone(), Some(tx), Echo::None));
    }
    if let Some(pipe) = process.stderr.take() {
        readers.push(child::drain(pipe, stderr.clone(), None, Echo::None));
    }
    Ok(RunningScript {
        script: script.to_string(),
        process: Some(process),
        lines,
        readers,
        stdout,
        stderr,
    })
}

/// A script running in the background; killed if dropped unfinished.
pub struct RunningScript {
    script: String,
    process: Option<Child>,
    lines: Receiver<String>,
    readers: Vec<JoinHandle<()>>,
    stdout: SharedLog,
    stderr: SharedLog,
}

impl RunningScript {
    /// Waits until it prints a line `done` accepts; false if it ended or `timeout` passed
    /// first.
    pub fn wait_for_line(&mut self, timeout: Duration, done: impl Fn(&str) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            match self.lines.recv_timeout(left) {
                Ok(line) if done(&line) => return true,
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => return false,
            }
        }
    }

    /// What it printed so far, parsed.
    pub fn steps_so_far(&self) -> Vec<StepResult> {
        parse_transcript(&child::snapshot(&self.stdout))
    }

    /// Waits for it to end (killing it after `timeout`) and returns its transcript.
    pub fn finish(mut self, timeout: Duration) -> io::Result<Transcript> {
        let status = match self.process.as_mut() {
            Some(process) => match child::wait_timeout(process, timeout)? {
                Some(status) => Some(status),
                None => {
                    process.kill()?;
                    process.wait()?;
                    None
                }
            },
            None => None,
        };
        self.process = None;
        for reader in self.readers.drain(..) {
            // Readers end at EOF, which the exit brings.
            let _ = reader.join();
        }
        Ok(Transcript::new(
            &self.script,
            status,
            child::snapshot(&self.stdout),
            child::snapshot(&self.stderr),
        ))
    }
}

impl Drop for RunningScript {
    fn drop(&mut self) {
        if let Some(mut process) = self.process.take() {
            let _ = process.kill();
            let _ = process.wait();
        }
    }
}

/// The relative target port identifier of the port `url` reaches (VPD page 83h), asked
/// through `probe`'s own session, which logs out again.
pub fn relative_target_port(url: &str, probe: &Initiator) -> io::Result<u16> {
    let s = probe.session;
    let script = format!("{}\n{s} report-target-port expect GOOD\n", probe.login(url));
    let transcript = run_script(&script)?;
    transcript
        .last(s, "report-target-port")
        .and_then(StepResult::port)
        .filter(|_| transcript.success())
        .ok_or_else(|| {
            io::Error::other(format!(
                "no relative target port designator in VPD page 83h: {}\n{}",
                transcript.summary(),
                transcript.report()
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
2 A login = GOOD isid=0x400001370001
3 A clear-ua = GOOD cleared=0x29/0x00,0x2a/0x03
3 A clear-ua > cleared UNIT_ATTENTION 0x29/0x00
3 A clear-ua > cleared UNIT_ATTENTION 0x2a/0x03
4 B read-keys = GOOD generation=2 keys=0xaa,0xbb
5 B read-reservation = GOOD generation=2 reservation key=0xaa type=we-ro
6 C read-reservation = GOOD generation=0 reservation none
7 A tur = CHECK_CONDITION UNIT_ATTENTION 0x2a/0x05
8 C write = RESERVATION_CONFLICT
9 B read-full-status = GOOD generation=3 registrants=2
9 B read-full-status > key=0xaa all_tg_pt=0 r_holder=1 type=we-ro port=1 tid=iqn.x:a,i,0x400001370001
9 B read-full-status > key=0xbb all_tg_pt=1 r_holder=0 type=none port=0 tid=iqn.x:c
10 B writer > write OK 1
10 B writer > write OK 2
10 B writer = TASK_ABORTED writes=2
11 A read = GOOD fill=0xab
12 A report-target-port = GOOD port=1
13 A read-keys = GOOD generation=4 keys=none
14 - sleep = GOOD
15 A login = ERROR login failed: Failed to connect: Connection refused
16 A reserve = CHECK_CONDITION ILLEGAL_REQUEST 0x20/0x00
16 A reserve ! expected GOOD, got CHECK_CONDITION ILLEGAL_REQUEST 0x20/0x00
";

    #[test]
    fn reads_results_details_and_mismatches_by_line() {
        let steps = parse_transcript(SAMPLE);
        assert_eq!(steps.len(), 15);
        let clear = &steps[1];
        assert_eq!(
            (clear.line, clear.session, clear.op.as_str()),
            (3, 'A', "clear-ua")
        );
        assert_eq!(clear.cleared(), Some(vec![(0x29, 0), (0x2a, 3)]));
        assert_eq!(clear.details.len(), 2);
        let keys = &steps[2];
        assert_eq!(keys.keys(), Some(vec![0xaa, 0xbb]));
        assert_eq!(keys.generation(), Some(2));
        assert_eq!(
            steps[3].reservation(),
            Some(Some(Reservation {
                key: 0xaa,
                kind: "we-ro".into()
            }))
        );
        assert_eq!(steps[4].reservation(), Some(None));
        assert_eq!(keys.reservation(), None, "read-keys has no reservation");
        let last = steps.last().expect("a last step");
        assert_eq!(
            last.mismatch.as_deref(),
            Some("expected GOOD, got CHECK_CONDITION ILLEGAL_REQUEST 0x20/0x00")
        );
    }

    #[test]
    fn reads_statuses_and_sense() {
        let steps = parse_transcript(SAMPLE);
        let tur = &steps[5];
        assert!(tur
            .outcome
            .as_ref()
            .is_some_and(|o| o.is_sense("UNIT_ATTENTION", 0x2a, 0x05)));
        assert_eq!(steps[6].status(), Some(&Status::ReservationConflict));
        assert_eq!(
            steps[13].status(),
            Some(&Status::Error(
                "login failed: Failed to connect: Connection refused".into()
            ))
        );
        assert_eq!(Outcome::parse("TIMEOUT").status, Status::Timeout);
        assert_eq!(
            Outcome::parse("STATUS_0x22").status,
            Status::Other("STATUS_0x22".into())
        );
        // A CHECK CONDITION without sense data still parses.
        assert_eq!(
            Outcome::parse("CHECK_CONDITION NO_SENSE_DATA").status,
            Status::CheckCondition(Sense {
                key: "NO_SENSE_DATA".into(),
                asc: None,
                ascq: None
            })
        );
    }

    #[test]
    fn reads_full_status_writer_read_and_port() {
        let steps = parse_transcript(SAMPLE);
        let full = steps[7].full_status().expect("full status parses");
        assert_eq!(full.len(), 2);
        assert_eq!(
            full[0],
            FullStatusEntry {
                key: 0xaa,
                all_tg_pt: false,
                holder: true,
                kind: Some("we-ro".into()),
                relative_target_port: 1,
                transport_id: "iqn.x:a,i,0x400001370001".into()
            }
        );
        assert!(full[0].names(&Initiator::new('A', "IQN.x:a", 0x4000_0137_0001)));
        assert!(full[1].names_device("iqn.x:c") && full[1].all_tg_pt && full[1].kind.is_none());
        let writer = &steps[8];
        assert_eq!(writer.writes(), Some(2));
        assert_eq!(writer.details, vec!["write OK 1", "write OK 2"]);
        assert_eq!(writer.status(), Some(&Status::TaskAborted));
        assert_eq!(steps[9].fill(), Some(0xab));
        assert_eq!(steps[10].port(), Some(1));
        assert_eq!(steps[11].keys(), Some(vec![]));
        assert_eq!(steps[12].session, '-');
    }

    #[test]
    fn skips_lines_that_are_not_step_lines() {
        let noisy = "garbage\n3 A tur\n4 AB tur = GOOD\nx A tur = GOOD\n5 a tur = GOOD\n\
                     6 A tur ? GOOD\n7 A tur = GOOD\n8 A read-full-status = GOOD generation=1 registrants=1\n\
                     8 A read-full-status > key=zz\n9 A read-keys = GOOD generation=1 keys=0xaa,oops\n";
        let steps = parse_transcript(noisy);
        let lines: Vec<u32> = steps.iter().map(|s| s.line).collect();
        assert_eq!(lines, vec![7, 8, 9]);
        assert_eq!(
            steps[1].full_status(),
            None,
            "a malformed entry is no entry"
        );
        assert_eq!(steps[2].keys(), None, "a malformed key list is no list");
        assert_eq!(StepResult::port(&steps[0]), None);
    }

    #[test]
    fn a_step_that_never_finished_has_details_but_no_outcome() {
        let steps = parse_transcript("4 B writer > write OK 1\n4 B writer > write OK 2\n");
        assert_eq!(steps.len(), 1);
        assert_eq!(steps[0].outcome, None);
        assert_eq!(steps[0].text(), "(no result)");
        assert_eq!(steps[0].writes(), None);
    }

    #[test]
    fn initiators_write_logins_and_transport_ids() {
        let a = Initiator::new('A', "iqn.2026-11.dev.dyad.test:node-a", 0x4000_0137_0001);
        assert_eq!(
            a.login("iscsi://127.0.0.1:3260/iqn.t/0"),
            "A login iscsi://127.0.0.1:3260/iqn.t/0 iqn.2026-11.dev.dyad.test:node-a \
             isid=0x400001370001"
        );
        assert_eq!(
            a.transport_id(),
            "iqn.2026-11.dev.dyad.test:node-a,i,0x400001370001"
        );
        let other = a.with_isid(0x4000_0137_0009).as_session('D');
        assert_eq!((other.session, other.isid), ('D', 0x4000_0137_0009));
        assert_eq!(
            Initiator::new('A', "n", u64::MAX).isid_hex(),
            "0xffffffffffff"
        );
    }

    #[test]
    fn summarises_a_mismatch_with_a_hint() {
        let t = Transcript::new(
            "A reserve key=1 type=we expect GOOD\n",
            None,
            SAMPLE.into(),
            "".into(),
        );
        let summary = t.summary();
        assert!(
            summary.starts_with("line 16 (A reserve): expected GOOD")
                && summary.contains("does not implement"),
            "{summary}"
        );
        assert!(t
            .report()
            .contains("  1  A reserve key=1 type=we expect GOOD"));
        let clean = Transcript::new("", None, "1 A tur = GOOD\n".into(), "".into());
        assert_eq!(clean.summary(), "iscsi-pr did not finish in time");
    }

    #[test]
    fn numbers_parse_in_hex_and_decimal() {
        assert_eq!(parse_number("0x2A"), Some(42));
        assert_eq!(parse_number("42"), Some(42));
        assert_eq!(parse_number("0xfffffffffffffffff"), None);
        assert_eq!(parse_number("-1"), None);
        assert_eq!(parse_number(""), None);
    }
}
