//! One measured load: reads through libiscsi's `iscsi-perf`, writes through our
//! `iscsi-pattern bench-write` (iscsi-perf only reads), both at a fixed queue depth, with
//! the target's CPU use over the same interval.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use dyad_tests::child;
use dyad_tests::cpu::CpuMeter;

/// Requests in flight, for every workload.
pub const QUEUE_DEPTH: u32 = 32;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    Read,
    Write,
}

/// A load shape.
#[derive(Clone, Copy, Debug)]
pub struct Workload {
    pub name: &'static str,
    pub direction: Direction,
    pub random: bool,
    /// Bytes per request.
    pub request: u32,
}

/// The four loads the benchmark reports.
pub const WORKLOADS: [Workload; 4] = [
    Workload {
        name: "4K random read",
        direction: Direction::Read,
        random: true,
        request: 4096,
    },
    Workload {
        name: "128K seq read",
        direction: Direction::Read,
        random: false,
        request: 128 * 1024,
    },
    Workload {
        name: "4K random write",
        direction: Direction::Write,
        random: true,
        request: 4096,
    },
    Workload {
        name: "128K seq write",
        direction: Direction::Write,
        random: false,
        request: 128 * 1024,
    },
];

/// One run's figures.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Sample {
    pub iops: f64,
    pub mib_per_s: f64,
    /// The target's CPU use, in cores (1.0 = one core busy).
    pub cpu: f64,
}

/// Runs `workload` against `url` for `seconds` and meters the target process `pid`.
pub fn measure(
    workload: &Workload,
    url: &str,
    block_size: u32,
    seconds: u32,
    pid: u32,
    helper: &Path,
) -> Result<Sample, String> {
    let blocks = (workload.request / block_size.max(1)).max(1);
    let mut cmd = match workload.direction {
        Direction::Read => Command::new("iscsi-perf"),
        Direction::Write => {
            let mut cmd = Command::new(helper);
            cmd.arg("bench-write");
            cmd
        }
    };
    if workload.random {
        cmd.arg("-r");
    }
    cmd.arg("-m")
        .arg(QUEUE_DEPTH.to_string())
        .arg("-b")
        .arg(blocks.to_string())
        .arg("-t")
        .arg(seconds.to_string())
        .arg(url);
    let what = child::describe(&cmd);
    let meter = CpuMeter::start(pid).map_err(|e| format!("cannot meter pid {pid}: {e}"))?;
    let out = child::run_with_timeout(&mut cmd, Duration::from_secs(u64::from(seconds) + 60))
        .map_err(|e| format!("cannot run {what}: {e}"))?;
    let cpu = meter
        .finish()
        .map_err(|e| format!("cannot meter pid {pid} (did the target die?): {e}"))?;
    if !out.success() {
        return Err(format!(
            "{what} failed ({:?}): {}",
            out.status,
            out.combined().trim()
        ));
    }
    let iops = match workload.direction {
        Direction::Read => parse_iscsi_perf(&out.stdout),
        Direction::Write => parse_bench_write(&out.stdout),
    }
    .ok_or_else(|| format!("cannot read the result of {what}:\n{}", out.stdout))?;
    let bytes = f64::from(blocks) * f64::from(block_size);
    Ok(Sample {
        iops,
        mib_per_s: iops * bytes / f64::from(1 << 20),
        cpu,
    })
}

/// iscsi-perf redraws a status line with `\r` and ends with a summary; the last
/// `iops average N` is the whole run's.
pub fn parse_iscsi_perf(output: &str) -> Option<f64> {
    let at = output.rfind("iops average ")?;
    output[at + "iops average ".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// `bench-write: ios N seconds S iops I mibps M blocksize B`.
pub fn parse_bench_write(output: &str) -> Option<f64> {
    let line = output.lines().find(|l| l.starts_with("bench-write:"))?;
    let mut words = line.split_whitespace();
    words.find(|w| *w == "iops")?;
    words.next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_iscsi_perf_summary() {
        let out = "will run for 3 seconds.\n\n00:00:02 - lba 426431, iops current 41261 (161 MB/s), \
                   iops average 41261 (161 MB/s), in_flight 32, busy 0        \r00:00:01 - lba 1626609, \
                   iops current 37351 (145 MB/s), iops average 39306 (153 MB/s), in_flight 32, busy 0\r\
                   iops average 39195 (153 MB/s)                  \n\nfinished.\n";
        assert_eq!(parse_iscsi_perf(out), Some(39195.0));
        assert_eq!(parse_iscsi_perf("connection failed"), None);
    }

    #[test]
    fn reads_bench_write_line() {
        let out = "bench-write: ios 108768 seconds 3.000 iops 36253 mibps 141.6 blocksize 512\n";
        assert_eq!(parse_bench_write(out), Some(36253.0));
    }
}
