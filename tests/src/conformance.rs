//! Runs libiscsi's conformance suite (`iscsi-test-cu`) against a URL and reports per-suite
//! counts. The tool has no timeout of its own, so a hung command would hang the run: the
//! runner kills it at a deadline and re-runs, one by one, the tests that had not finished.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::child::{self, RunOutput};
use crate::cunit::{self, Outcome, Parsed};
use crate::glob;

/// The longest one test may take when tests are re-run singly after a timeout.
const SINGLE_TEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Counts for one suite. CUnit calls a skipped test passed; here `passed` excludes skips.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SuiteCounts {
    pub passed: u32,
    pub failed: u32,
    pub skipped: u32,
}

impl SuiteCounts {
    pub fn total(&self) -> u32 {
        self.passed + self.failed + self.skipped
    }

    fn add(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Passed => self.passed += 1,
            Outcome::Failed => self.failed += 1,
            Outcome::Skipped => self.skipped += 1,
        }
    }
}

/// What one `run_suite` found.
#[derive(Clone, Debug, Default)]
pub struct SuiteReport {
    pub pattern: String,
    /// Per suite, in the order the suite first reported.
    pub suites: Vec<(String, SuiteCounts)>,
    /// `Suite.Test` of every test that passed (skips excluded).
    pub passed: Vec<String>,
    /// `Suite.Test` of every failed test, timed-out and crashed ones included.
    pub failed: Vec<String>,
    /// Why each of `failed` failed, as far as the output says (see `cunit::TestResult`).
    pub failure_details: BTreeMap<String, Vec<String>>,
    /// `Suite.Test` of the tests killed at the deadline (also in `failed`).
    pub timed_out: Vec<String>,
    /// `Suite.Test` of the tests that skipped themselves (a feature the target lacks).
    pub skipped: Vec<String>,
    /// Why each of `skipped` skipped: the text of its `[SKIPPED]` lines.
    pub skip_reasons: BTreeMap<String, Vec<String>>,
    /// Problems that are not one test's: the tool could not run or log in, a suite's
    /// set-up failed, the list of tests could not be read.
    pub errors: Vec<String>,
    /// Whether the first run was cut short and the rest re-run one test at a time.
    pub reran_singly: bool,
    pub elapsed: Duration,
}

impl SuiteReport {
    fn new(pattern: &str) -> SuiteReport {
        SuiteReport {
            pattern: pattern.to_string(),
            ..SuiteReport::default()
        }
    }

    fn record(&mut self, suite: &str, test: &str, outcome: Outcome, skip_reasons: &[String]) {
        let index = match self.suites.iter().position(|(name, _)| name == suite) {
            Some(i) => i,
            None => {
                self.suites
                    .push((suite.to_string(), SuiteCounts::default()));
                self.suites.len() - 1
            }
        };
        self.suites[index].1.add(outcome);
        match outcome {
            Outcome::Failed => self.failed.push(format!("{suite}.{test}")),
            Outcome::Skipped => {
                let name = format!("{suite}.{test}");
                self.skip_reasons
                    .insert(name.clone(), skip_reasons.to_vec());
                self.skipped.push(name);
            }
            Outcome::Passed => self.passed.push(format!("{suite}.{test}")),
        }
    }

    /// Takes in one run's parsed output; `cut_short` says whether the run was killed at the
    /// deadline (else an unfinished test means the tool crashed in it).
    fn absorb(&mut self, parsed: &Parsed, cut_short: bool) {
        for r in &parsed.results {
            self.record(&r.suite, &r.test, r.outcome, &r.skip_reasons);
            if !r.details.is_empty() {
                self.failure_details.insert(r.name(), r.details.clone());
            }
        }
        if let Some(name) = &parsed.unfinished {
            let (suite, test) = name.split_once('.').unwrap_or((name.as_str(), ""));
            self.record(suite, test, Outcome::Failed, &[]);
            if cut_short {
                self.timed_out.push(name.clone());
            } else {
                self.errors
                    .push(format!("iscsi-test-cu died during {name}"));
            }
        }
        self.errors.extend(parsed.suite_errors.iter().cloned());
    }

    /// Adds the results of another run (e.g. the same target's tests on another LUN): suites
    /// seen in both are summed, new ones appended.
    pub fn merge(&mut self, other: SuiteReport) {
        for (name, c) in other.suites {
            match self.suites.iter_mut().find(|(n, _)| *n == name) {
                Some((_, mine)) => {
                    mine.passed += c.passed;
                    mine.failed += c.failed;
                    mine.skipped += c.skipped;
                }
                None => self.suites.push((name, c)),
            }
        }
        self.passed.extend(other.passed);
        self.failed.extend(other.failed);
        self.timed_out.extend(other.timed_out);
        self.skipped.extend(other.skipped);
        self.skip_reasons.extend(other.skip_reasons);
        self.failure_details.extend(other.failure_details);
        self.errors.extend(other.errors);
        self.reran_singly |= other.reran_singly;
        self.elapsed += other.elapsed;
    }

    /// The counts of one suite, if it reported.
    pub fn counts(&self, suite: &str) -> Option<SuiteCounts> {
        self.suites
            .iter()
            .find(|(name, _)| name == suite)
            .map(|(_, c)| *c)
    }

    /// The sum over all suites.
    pub fn total(&self) -> SuiteCounts {
        self.suites
            .iter()
            .fold(SuiteCounts::default(), |mut sum, (_, c)| {
                sum.passed += c.passed;
                sum.failed += c.failed;
                sum.skipped += c.skipped;
                sum
            })
    }

    /// Everything that should fail a test run: failed tests and run-level errors.
    pub fn problems(&self) -> Vec<String> {
        let mut all = self.failed.clone();
        all.extend(self.errors.iter().cloned());
        all
    }

    /// No failed test, no error, and at least one test ran.
    pub fn is_clean(&self) -> bool {
        self.problems().is_empty() && self.total().total() > 0
    }

    /// The per-suite table, the totals and the names of what failed.
    pub fn table(&self) -> String {
        let width = self
            .suites
            .iter()
            .map(|(name, _)| name.len())
            .chain([5])
            .max()
            .unwrap_or(5);
        let mut out = String::new();
        let _ = writeln!(out, "{:<width$}  passed  failed  skipped", "suite");
        for (name, c) in &self.suites {
            let _ = writeln!(
                out,
                "{name:<width$}  {:>6}  {:>6}  {:>7}",
                c.passed, c.failed, c.skipped
            );
        }
        let t = self.total();
        let _ = writeln!(
            out,
            "{:<width$}  {:>6}  {:>6}  {:>7}   ({} tests in {:.1} s)",
            "total",
            t.passed,
            t.failed,
            t.skipped,
            t.total(),
            self.elapsed.as_secs_f64()
        );
        for name in &self.skipped {
            let reasons = self.skip_reasons.get(name).map_or(&[][..], Vec::as_slice);
            let _ = writeln!(out, "skipped: {name}: {}", reasons.join(" / "));
        }
        for name in &self.failed {
            let note = if self.timed_out.contains(name) {
                " (timed out)"
            } else {
                ""
            };
            let _ = writeln!(out, "FAILED: {name}{note}");
            for detail in self.failure_details.get(name).into_iter().flatten() {
                let _ = writeln!(out, "    {detail}");
            }
        }
        for error in &self.errors {
            let _ = writeln!(out, "ERROR: {error}");
        }
        if self.reran_singly {
            let _ = writeln!(
                out,
                "(the run was cut short; unfinished tests were re-run one by one)"
            );
        }
        out
    }
}

/// Runs `iscsi-test-cu -t PATTERN --dataloss EXTRA... URL` with a deadline of `timeout`,
/// prints the table and returns the report. `extra_args` takes e.g. `-i IQN -I IQN2`.
pub fn run_suite(url: &str, pattern: &str, extra_args: &[&str], timeout: Duration) -> SuiteReport {
    println!("== iscsi-test-cu -t '{pattern}' {url}");
    let started = Instant::now();
    let mut report = SuiteReport::new(pattern);
    let mut finished: Vec<String> = Vec::new();

    match run_once(url, pattern, extra_args, timeout) {
        Err(e) => report.errors.push(format!(
            "cannot run iscsi-test-cu (apt-get install libiscsi-bin): {e}"
        )),
        Ok(out) => {
            let parsed = cunit::parse(&out.stdout);
            report.absorb(&parsed, out.timed_out());
            finished.extend(parsed.results.iter().map(|r| r.name()));
            finished.extend(parsed.unfinished.iter().cloned());
            // A clean end is an exit status (0, or 1 when tests failed) with no test left
            // open; anything else means some tests never ran.
            let complete =
                out.status.is_some_and(|s| s.code().is_some()) && parsed.unfinished.is_none();
            if !complete {
                report.reran_singly = true;
                rerun_rest(url, pattern, extra_args, timeout, &mut report, &finished);
            } else if parsed.results.is_empty() && !out.success() {
                report.errors.push(format!(
                    "iscsi-test-cu ran no test and exited with {}: {}",
                    out.status.map(|s| s.to_string()).unwrap_or_default(),
                    tail(&out.combined(), 1500)
                ));
            }
        }
    }
    report.elapsed = started.elapsed();
    print!("{}", report.table());
    report
}

/// Runs singly every test `pattern` covers that is not in `finished`.
fn rerun_rest(
    url: &str,
    pattern: &str,
    extra_args: &[&str],
    timeout: Duration,
    report: &mut SuiteReport,
    finished: &[String],
) {
    let listed = match list_tests(pattern) {
        Ok(listed) => listed,
        Err(e) => {
            report
                .errors
                .push(format!("cannot list the tests to re-run: {e}"));
            return;
        }
    };
    let mut done: Vec<String> = finished.to_vec();
    for full in listed {
        // `FAMILY.Suite.Test`: results name `Suite.Test`; two families may list one test.
        let Some((_, suite_test)) = full.split_once('.') else {
            continue;
        };
        if done.iter().any(|d| d == suite_test) {
            continue;
        }
        done.push(suite_test.to_string());
        println!("   re-running {full} alone");
        match run_once(url, &full, extra_args, timeout.min(SINGLE_TEST_TIMEOUT)) {
            Ok(out) => {
                let parsed = cunit::parse(&out.stdout);
                if parsed.results.is_empty() && parsed.unfinished.is_none() {
                    report.errors.push(format!(
                        "{full} did not run: {}",
                        tail(&out.combined(), 500)
                    ));
                }
                report.absorb(&parsed, out.timed_out());
            }
            Err(e) => report.errors.push(format!("cannot run {full}: {e}")),
        }
    }
}

fn run_once(
    url: &str,
    pattern: &str,
    extra_args: &[&str],
    timeout: Duration,
) -> io::Result<RunOutput> {
    // stdbuf: CUnit writes through stdio, which buffers a pipe fully; a test killed at the
    // deadline would take the unflushed results of the tests before it along.
    let mut cmd = Command::new("stdbuf");
    cmd.args(["-oL", "-eL", "iscsi-test-cu", "-t", pattern, "--dataloss"])
        .args(extra_args)
        .arg(url);
    child::run_with_timeout(&mut cmd, timeout)
}

/// The `FAMILY.Suite.Test` names `pattern` covers, from `iscsi-test-cu -l` (which ignores
/// `-t`, so the filtering is ours).
pub fn list_tests(pattern: &str) -> io::Result<Vec<String>> {
    let mut cmd = Command::new("iscsi-test-cu");
    cmd.arg("-l");
    let out = child::run_with_timeout(&mut cmd, Duration::from_secs(30))?;
    if !out.success() {
        return Err(io::Error::other(format!(
            "iscsi-test-cu -l failed: {}",
            tail(&out.combined(), 500)
        )));
    }
    Ok(out
        .stdout
        .lines()
        .map(str::trim)
        .filter(|name| name.matches('.').count() == 2 && glob::matches_any(pattern, name))
        .map(str::to_string)
        .collect())
}

/// The last `max` bytes of `text` (on a character boundary), for error messages.
fn tail(text: &str, max: usize) -> &str {
    let text = text.trim();
    let mut start = text.len().saturating_sub(max);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}

/// Two targets' per-suite counts next to each other:
/// `suite | LEFT pass fail skip | RIGHT pass fail skip`, suites in `order` first, then any
/// other suite either side reported; a side that did not run shows `-`.
pub fn side_by_side(
    order: &[String],
    left: (&str, Option<&SuiteReport>),
    right: (&str, Option<&SuiteReport>),
) -> String {
    let mut suites: Vec<String> = order.to_vec();
    for report in [left.1, right.1].into_iter().flatten() {
        for (name, _) in &report.suites {
            if !suites.contains(name) {
                suites.push(name.clone());
            }
        }
    }
    let width = suites.iter().map(String::len).chain([5]).max().unwrap_or(5);
    let cell = |report: Option<&SuiteReport>, counts: Option<SuiteCounts>| match (report, counts) {
        (None, _) => format!("{:>4} {:>4} {:>4}", "-", "-", "-"),
        (Some(_), None) => format!("{:>4} {:>4} {:>4}", 0, 0, 0),
        (Some(_), Some(c)) => format!("{:>4} {:>4} {:>4}", c.passed, c.failed, c.skipped),
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<width$} | {:<14} | {:<14}",
        "suite", left.0, right.0
    );
    let _ = writeln!(
        out,
        "{:<width$} | {:>4} {:>4} {:>4} | {:>4} {:>4} {:>4}",
        "", "pass", "fail", "skip", "pass", "fail", "skip"
    );
    for suite in &suites {
        let _ = writeln!(
            out,
            "{suite:<width$} | {} | {}",
            cell(left.1, left.1.and_then(|r| r.counts(suite))),
            cell(right.1, right.1.and_then(|r| r.counts(suite)))
        );
    }
    let _ = writeln!(
        out,
        "{:<width$} | {} | {}",
        "total",
        cell(left.1, left.1.map(SuiteReport::total)),
        cell(right.1, right.1.map(SuiteReport::total))
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(suites: &[(&str, u32, u32, u32)]) -> SuiteReport {
        SuiteReport {
            suites: suites
                .iter()
                .map(|&(name, passed, failed, skipped)| {
                    (
                        name.to_string(),
                        SuiteCounts {
                            passed,
                            failed,
                            skipped,
                        },
                    )
                })
                .collect(),
            ..SuiteReport::default()
        }
    }

    #[test]
    fn merging_sums_suites_seen_twice() {
        let mut a = report(&[("Read10", 3, 1, 0), ("Inquiry", 5, 0, 1)]);
        a.failed.push("Read10.Async".into());
        let mut b = report(&[("Inquiry", 1, 0, 0), ("Unmap", 2, 0, 0)]);
        b.skipped.push("Unmap.VPD".into());
        a.merge(b);
        assert_eq!(
            a.counts("Inquiry"),
            Some(SuiteCounts {
                passed: 6,
                failed: 0,
                skipped: 1
            })
        );
        assert_eq!(a.counts("Unmap").map(|c| c.passed), Some(2));
        assert_eq!(a.total().total(), 13);
        assert_eq!(a.failed, vec!["Read10.Async".to_string()]);
        assert_eq!(a.skipped, vec!["Unmap.VPD".to_string()]);
    }

    #[test]
    fn side_by_side_shows_both_targets_per_suite() {
        let ours = report(&[("Read10", 6, 0, 0)]);
        let theirs = report(&[("Read10", 5, 1, 0), ("Unmap", 0, 0, 3)]);
        let table = side_by_side(
            &["Read10".to_string()],
            ("dyad", Some(&ours)),
            ("tgtd", Some(&theirs)),
        );
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines[2], "Read10 |    6    0    0 |    5    1    0");
        assert_eq!(lines[3], "Unmap  |    0    0    0 |    0    0    3");
        assert_eq!(lines[4], "total  |    6    0    0 |    5    1    3");
        let alone = side_by_side(&[], ("dyad", Some(&ours)), ("tgtd", None));
        assert!(alone.contains("Read10 |    6    0    0 |    -    -    -"));
    }
}
