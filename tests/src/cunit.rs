//! Parses the verbose console output of CUnit as `iscsi-test-cu` prints it:
//!
//! ```text
//! Suite: Inquiry
//!   Test: Standard ...passed
//!   Test: BlockLimits ...    [SKIPPED] Logical unit is fully provisioned. Skipping test
//! passed
//!   Test: iSCSIDataSnInvalid ...FAILED
//!     1. test_iscsi_datasn_invalid.c:98  - CU_ASSERT_NOT_EQUAL(ret,0)
//! ```
//!
//! CUnit prints the verdict (`passed` or `FAILED`) when the test is done: right after the
//! `...`, or at the start of a line when the test logged something. Text after the verdict
//! on its line belongs to the suite's clean-up (libiscsi's clears reservations there and
//! may log `[SKIPPED] PERSISTENT RESERVE IN is not implemented.`), not to the test.
//!
//! CUnit reports a skipped test as passed; the skip shows only as a `[SKIPPED]` line the
//! test logs, so a passed test that logged one before its verdict counts as skipped.

/// How one test ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Passed,
    Skipped,
    Failed,
}

/// One finished test.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestResult {
    pub suite: String,
    pub test: String,
    pub outcome: Outcome,
    /// The text after each `[SKIPPED]` the test logged before its verdict (the reason,
    /// e.g. `SANITIZE CRYPTO_ERASE is not implemented ...`); empty unless it skipped.
    pub skip_reasons: Vec<String>,
    /// Why a failed test failed: the `[FAILED]` lines it logged and CUnit's list of failed
    /// assertions (`1. test_x.c:98  - CU_ASSERT...`); empty unless it failed.
    pub details: Vec<String>,
}

impl TestResult {
    /// `Suite.Test`.
    pub fn name(&self) -> String {
        format!("{}.{}", self.suite, self.test)
    }
}

/// Everything one run's output says.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Parsed {
    pub results: Vec<TestResult>,
    /// `Suite.Test` that started but never reported (the run was killed or crashed in it).
    pub unfinished: Option<String>,
    /// Suites whose set-up or clean-up failed (their tests did not run).
    pub suite_errors: Vec<String>,
}

struct Pending {
    suite: String,
    test: String,
    result: Option<Outcome>,
    skip_reasons: Vec<String>,
    details: Vec<String>,
}

impl Pending {
    /// Reads one line of the test's block (the first is what follows `...`). The first
    /// line that starts with a verdict decides; what comes after it is not the test's.
    fn observe(&mut self, line: &str) {
        if self.result.is_some() {
            // CUnit lists a failed test's assertions right after its verdict.
            let trimmed = line.trim_start();
            let numbered = trimmed
                .split_once(". ")
                .is_some_and(|(n, _)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
            if self.result == Some(Outcome::Failed) && line.starts_with(' ') && numbered {
                // The suite's clean-up may log on the same line as the last assertion.
                let assertion = trimmed.split("    [").next().unwrap_or(trimmed);
                self.details.push(assertion.trim_end().to_string());
            }
            return;
        }
        if line.contains("[FAILED]") {
            self.details.push(line.trim().to_string());
        }
        if line.starts_with("passed") {
            self.result = Some(Outcome::Passed);
        } else if line.starts_with("FAILED") {
            self.result = Some(Outcome::Failed);
        } else if let Some(at) = line.find("[SKIPPED]") {
            let reason = line[at + "[SKIPPED]".len()..].trim();
            self.skip_reasons.push(reason.to_string());
        }
    }
}

/// Parses a whole run's stdout (stderr interleaved is fine).
pub fn parse(output: &str) -> Parsed {
    let mut parsed = Parsed::default();
    let mut suite = String::new();
    let mut pending: Option<Pending> = None;

    fn finish(parsed: &mut Parsed, pending: Option<Pending>) {
        let Some(p) = pending else { return };
        let outcome = match p.result {
            Some(Outcome::Passed) if !p.skip_reasons.is_empty() => Outcome::Skipped,
            Some(outcome) => outcome,
            None => {
                parsed.unfinished = Some(format!("{}.{}", p.suite, p.test));
                return;
            }
        };
        let skip_reasons = if outcome == Outcome::Skipped {
            p.skip_reasons
        } else {
            Vec::new()
        };
        let details = if outcome == Outcome::Failed {
            p.details
        } else {
            Vec::new()
        };
        parsed.results.push(TestResult {
            suite: p.suite,
            test: p.test,
            outcome,
            skip_reasons,
            details,
        });
    }

    for line in output.lines() {
        if let Some(name) = line.strip_prefix("Suite: ") {
            finish(&mut parsed, pending.take());
            suite = name.trim().to_string();
        } else if let Some(rest) = line.strip_prefix("  Test: ") {
            finish(&mut parsed, pending.take());
            let (test, tail) = match rest.find(" ...") {
                Some(at) => (&rest[..at], &rest[at + 4..]),
                None => (rest, ""),
            };
            let mut p = Pending {
                suite: suite.clone(),
                test: test.trim().to_string(),
                result: None,
                skip_reasons: Vec::new(),
                details: Vec::new(),
            };
            p.observe(tail);
            pending = Some(p);
        } else if line.starts_with("Run Summary:") {
            finish(&mut parsed, pending.take());
        } else if let Some(at) = line.find("Suite initialization failed for '") {
            let name = &line[at + "Suite initialization failed for '".len()..];
            parsed.suite_errors.push(format!(
                "{} (set-up failed)",
                name.trim_end_matches(['\'', '.'])
            ));
        } else if let Some(at) = line.find("Suite cleanup failed for '") {
            let name = &line[at + "Suite cleanup failed for '".len()..];
            parsed.suite_errors.push(format!(
                "{} (clean-up failed)",
                name.trim_end_matches(['\'', '.'])
            ));
        } else if let Some(p) = pending.as_mut() {
            p.observe(line);
        }
    }
    finish(&mut parsed, pending.take());
    parsed
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\n\n     CUnit - A unit testing framework for C - Version 2.1-3
     http://cunit.sourceforge.net/


Suite: iSCSIdatasn
  Test: iSCSIDataSnInvalid ...FAILED
    1. test_iscsi_datasn_invalid.c:98  - CU_ASSERT_NOT_EQUAL(ret,0)
    2. test_iscsi_datasn_invalid.c:116  - CU_ASSERT_NOT_EQUAL(ret,0)    [SKIPPED] PERSISTENT RESERVE IN is not implemented.
Suite: Inquiry
  Test: Standard ...passed
  Test: BlockLimits ...    [SKIPPED] Logical unit is fully provisioned. Skipping test
passed
  Test: Control ...    [WARNING] BUSY_TIMEOUT_PERIOD is undefined.
passed
Suite: TestUnitReady
  Test: Simple ...passed    [SKIPPED] PERSISTENT RESERVE IN is not implemented.

Run Summary:    Type  Total    Ran Passed Failed Inactive
              suites      2      2    n/a      0        0
";

    #[test]
    fn counts_pass_fail_and_skip() {
        let parsed = parse(SAMPLE);
        let got: Vec<(String, Outcome)> = parsed
            .results
            .iter()
            .map(|r| (r.name(), r.outcome))
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    "iSCSIdatasn.iSCSIDataSnInvalid".to_string(),
                    Outcome::Failed
                ),
                ("Inquiry.Standard".to_string(), Outcome::Passed),
                ("Inquiry.BlockLimits".to_string(), Outcome::Skipped),
                ("Inquiry.Control".to_string(), Outcome::Passed),
                ("TestUnitReady.Simple".to_string(), Outcome::Passed),
            ]
        );
        assert_eq!(parsed.unfinished, None);
        assert_eq!(
            parsed.results[2].skip_reasons,
            vec!["Logical unit is fully provisioned. Skipping test".to_string()]
        );
        assert!(
            parsed.results[4].skip_reasons.is_empty(),
            "clean-up text is not the test's"
        );
        assert_eq!(
            parsed.results[0].details,
            vec![
                "1. test_iscsi_datasn_invalid.c:98  - CU_ASSERT_NOT_EQUAL(ret,0)".to_string(),
                "2. test_iscsi_datasn_invalid.c:116  - CU_ASSERT_NOT_EQUAL(ret,0)".to_string()
            ]
        );
        assert!(parsed.results[1].details.is_empty());
    }

    #[test]
    fn a_killed_run_leaves_the_running_test_unfinished() {
        let parsed = parse("Suite: Read10\n  Test: Simple ...passed\n  Test: Async ...");
        assert_eq!(parsed.results.len(), 1);
        assert_eq!(parsed.unfinished.as_deref(), Some("Read10.Async"));
    }

    #[test]
    fn suite_setup_failures_are_reported() {
        let parsed = parse("\nWARNING - Suite initialization failed for 'Unmap'.\n");
        assert_eq!(
            parsed.suite_errors,
            vec!["Unmap (set-up failed)".to_string()]
        );
    }
}
