//! CPU time a process uses over an interval, from /proc/PID/stat (utime + stime, all
//! threads), as a fraction of one core.

use std::io;
use std::time::Instant;

/// utime + stime of `pid` in clock ticks.
pub fn cpu_ticks(pid: u32) -> io::Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    parse_ticks(&stat)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "unexpected /proc/PID/stat"))
}

/// Fields 14 (utime) and 15 (stime) of a stat line. The command name (field 2) is in
/// parentheses and may hold spaces, so counting starts after the last `)`.
fn parse_ticks(stat: &str) -> Option<u64> {
    let after = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    // `after` starts at field 3, so field N is index N - 3.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

fn ticks_per_second() -> f64 {
    // SAFETY: sysconf reads a configuration value and touches no memory of ours.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 {
        ticks as f64
    } else {
        100.0
    }
}

/// Measures one process from `start` to `finish`.
pub struct CpuMeter {
    pid: u32,
    ticks: u64,
    started: Instant,
}

impl CpuMeter {
    pub fn start(pid: u32) -> io::Result<CpuMeter> {
        Ok(CpuMeter {
            pid,
            ticks: cpu_ticks(pid)?,
            started: Instant::now(),
        })
    }

    /// CPU seconds used per wall-clock second since `start` (1.0 = one core busy).
    pub fn finish(&self) -> io::Result<f64> {
        let used = cpu_ticks(self.pid)?.saturating_sub(self.ticks) as f64 / ticks_per_second();
        let wall = self.started.elapsed().as_secs_f64();
        Ok(if wall > 0.0 { used / wall } else { 0.0 })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_utime_and_stime_past_a_name_with_spaces() {
        let stat = "1234 (tgt d) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 3 0";
        assert_eq!(parse_ticks(stat), Some(300));
    }

    #[test]
    fn measures_this_process() {
        let meter = CpuMeter::start(std::process::id()).expect("own stat");
        assert!(meter.finish().expect("own stat") >= 0.0);
    }
}
