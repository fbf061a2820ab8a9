//! `dyad bench`: the firmware and tgtd, each serving a 1 GiB file in /dev/shm with 512-byte
//! blocks on its own loopback port, measured in one run with the rounds interleaved (the
//! machine is shared: only side-by-side figures compare). tgtd runs once at its defaults
//! and once with 256 KiB data segments. Reports medians, CPU use, the ratios, what each
//! side negotiated, and the loopback TCP ceiling measured in the same run.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use dyad_tests::initiator::{self, capacity};
use dyad_tests::tgtd::LARGE_SEGMENT;
use dyad_tests::{Firmware, FirmwareConfig, Tgtd, TgtdConfig};

use crate::workload::{self, Sample, QUEUE_DEPTH, WORKLOADS};
use crate::{locate, loopback};

const OUR_IMAGE: &str = "/dev/shm/dyad-bench.img";
const TGTD_IMAGE: &str = "/dev/shm/dyad-bench-tgtd.img";
const IMAGE_SIZE: u64 = 1 << 30;
/// The longest loopback measurement per round: its figure settles within seconds.
const LOOPBACK_SECONDS: u32 = 5;

#[derive(clap::Args)]
pub struct BenchArgs {
    /// Seconds per measurement.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=3600))]
    pub seconds: u32,
    /// Rounds; each measures every workload on every target, medians are reported.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub rounds: u32,
}

/// The two LUN files, written out in full first so neither side reads holes (tmpfs serves
/// holes from the zero page, which would flatter whoever reads more of them), and removed
/// at the end.
struct Images(Vec<PathBuf>);

impl Images {
    fn create(paths: &[&str]) -> Result<Images, String> {
        let mut images = Images(Vec::new());
        let chunk = vec![0u8; 1 << 20];
        for path in paths {
            let path = PathBuf::from(path);
            let mut file = File::create(&path)
                .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
            images.0.push(path.clone());
            for _ in 0..IMAGE_SIZE / chunk.len() as u64 {
                file.write_all(&chunk)
                    .map_err(|e| format!("cannot fill {}: {e}", path.display()))?;
            }
        }
        Ok(images)
    }
}

impl Drop for Images {
    fn drop(&mut self) {
        for path in &self.0 {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// One column of the comparison: a target and, for tgtd, its data-segment limit.
struct Side<'a> {
    label: &'static str,
    url: String,
    pid: u32,
    block_size: u32,
    /// `Some` for tgtd: the limits to set before each of this side's runs.
    tgtd: Option<(&'a Tgtd, Option<u32>)>,
}

impl Side<'_> {
    fn prepare(&self) -> Result<(), String> {
        match self.tgtd {
            Some((tgtd, limit)) => tgtd
                .set_segment_limits(limit)
                .map_err(|e| format!("cannot set tgtd's limits: {e}")),
            None => Ok(()),
        }
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    }
}

fn median_sample(samples: &[Sample]) -> Option<Sample> {
    if samples.is_empty() {
        return None;
    }
    Some(Sample {
        iops: median(samples.iter().map(|s| s.iops).collect()),
        mib_per_s: median(samples.iter().map(|s| s.mib_per_s).collect()),
        cpu: median(samples.iter().map(|s| s.cpu).collect()),
    })
}

pub fn bench(args: &BenchArgs) -> Result<ExitCode, String> {
    let firmware_binary = locate::firmware()?;
    let helper = locate::pattern_helper()?;
    if !Path::new("/dev/shm").is_dir() {
        return Err("/dev/shm is missing: the benchmark keeps its LUN files in memory".into());
    }
    println!("dyad bench: preparing two 1 GiB LUN files in /dev/shm");
    let _images = Images::create(&[OUR_IMAGE, TGTD_IMAGE])?;

    let firmware = Firmware::start_with(FirmwareConfig {
        binary: firmware_binary,
        args: vec!["--lun".into(), format!("file:{OUR_IMAGE},size=1G")],
        ..FirmwareConfig::default()
    })
    .map_err(|e| format!("cannot start the firmware: {e}"))?;
    let tgtd = Tgtd::start(TgtdConfig {
        backing_file: Some(PathBuf::from(TGTD_IMAGE)),
        size: IMAGE_SIZE,
        ..TgtdConfig::default()
    })
    .map_err(|e| format!("cannot start tgtd: {e}"))?;

    let pid_of = |pid: Option<u32>, what: &str| pid.ok_or_else(|| format!("{what} is not running"));
    let mut sides = vec![
        Side {
            label: "dyad",
            url: firmware.url(0),
            pid: pid_of(firmware.pid(), "the firmware")?,
            block_size: 0,
            tgtd: None,
        },
        Side {
            label: "tgtd",
            url: tgtd.url(Tgtd::DISK_LUN),
            pid: pid_of(tgtd.pid(), "tgtd")?,
            block_size: 0,
            tgtd: Some((&tgtd, None)),
        },
        Side {
            label: "tgtd-256K",
            url: tgtd.url(Tgtd::DISK_LUN),
            pid: pid_of(tgtd.pid(), "tgtd")?,
            block_size: 0,
            tgtd: Some((&tgtd, Some(LARGE_SEGMENT))),
        },
    ];
    for side in &mut sides {
        side.block_size = capacity(&side.url)
            .map_err(|e| format!("{}: {e}", side.label))?
            .block_length;
    }

    println!(
        "dyad bench: {} rounds x {} s per run, queue depth {QUEUE_DEPTH}, 1 GiB file LUNs in \
         /dev/shm, {} CPUs\n  reads: iscsi-perf (READ16); writes: iscsi-pattern bench-write \
         (WRITE16); CPU = target's utime+stime / wall time (1.00 = one core)",
        args.rounds,
        args.seconds,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    print_negotiated(&sides, &tgtd)?;

    let mut errors = Vec::new();
    let mut loopback_rates = Vec::new();
    let mut loopback_tool = "";
    // samples[workload][side]
    let mut samples: Vec<Vec<Vec<Sample>>> = vec![vec![Vec::new(); sides.len()]; WORKLOADS.len()];
    for round in 0..args.rounds {
        println!("-- round {}/{}", round + 1, args.rounds);
        match loopback::measure(args.seconds.min(LOOPBACK_SECONDS)) {
            Ok((rate, tool)) => {
                println!(
                    "   loopback TCP, one stream: {:.2} GiB/s ({tool})",
                    rate / f64::from(1 << 30)
                );
                loopback_rates.push(rate);
                loopback_tool = tool;
            }
            Err(e) => errors.push(e),
        }
        for (w, load) in WORKLOADS.iter().enumerate() {
            // Rotate who goes first each round so slow drift in the machine spreads evenly.
            for k in 0..sides.len() {
                let s = (k + round as usize) % sides.len();
                let side = &sides[s];
                let result = side.prepare().and_then(|()| {
                    workload::measure(
                        load,
                        &side.url,
                        side.block_size,
                        args.seconds,
                        side.pid,
                        &helper,
                    )
                });
                match result {
                    Ok(sample) => {
                        println!(
                            "   {:<16} {:<10} {:>9.0} IOPS {:>8.1} MiB/s  CPU {:.2}",
                            load.name, side.label, sample.iops, sample.mib_per_s, sample.cpu
                        );
                        samples[w][s].push(sample);
                    }
                    Err(e) => {
                        println!("   {:<16} {:<10} failed: {e}", load.name, side.label);
                        errors.push(format!("{} on {}: {e}", load.name, side.label));
                    }
                }
            }
        }
    }

    print_summary(&sides, &samples, args.rounds);
    if !loopback_rates.is_empty() {
        let rate = median(loopback_rates);
        println!(
            "loopback TCP ceiling, one stream ({loopback_tool}): {:.2} GiB/s = {:.1} Gbit/s (median)",
            rate / f64::from(1 << 30),
            rate * 8.0 / 1e9
        );
    }
    if errors.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("dyad bench: {} run(s) failed:", errors.len());
        for e in &errors {
            eprintln!("  {e}");
        }
        eprintln!("--- firmware output:\n{}", firmware.log());
        Ok(ExitCode::FAILURE)
    }
}

/// The login keys each side sent. iscsi-perf prints none, so a separate login with
/// libiscsi's debug log tells; a key the target left out takes the RFC default.
fn print_negotiated(sides: &[Side], tgtd: &Tgtd) -> Result<(), String> {
    println!(
        "login keys each target sent (libiscsi declares MaxRecvDataSegmentLength=262144 for \
         itself, so that caps every target's Data-In PDUs):"
    );
    const KEYS: [&str; 5] = [
        "MaxRecvDataSegmentLength",
        "MaxBurstLength",
        "FirstBurstLength",
        "ImmediateData",
        "InitialR2T",
    ];
    for side in sides {
        side.prepare()?;
        let keys = match initiator::login_keys(&side.url) {
            Ok(keys) => keys,
            Err(e) => {
                println!("  {:<10} cannot log in: {e}", side.label);
                continue;
            }
        };
        let mut line = String::new();
        for key in KEYS {
            let value = keys
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.clone())
                .unwrap_or_else(|| match key {
                    "MaxRecvDataSegmentLength" => "8192 (not sent: RFC default)".to_string(),
                    _ => "(not sent)".to_string(),
                });
            line.push_str(&format!(" {key}={value}"));
        }
        if side.tgtd.is_some() {
            // tgtd's own Data-In size is not a login key; its configuration shows it.
            let xmit = tgtd
                .parameters()
                .ok()
                .and_then(|p| {
                    p.lines().find_map(|l| {
                        l.trim()
                            .strip_prefix("MaxXmitDataSegmentLength=")
                            .map(str::to_string)
                    })
                })
                .unwrap_or_else(|| "?".to_string());
            line.push_str(&format!("; configured MaxXmitDataSegmentLength={xmit}"));
        } else {
            line.push_str("; its Data-In size is not a login key (at most the initiator's 262144)");
        }
        println!("  {:<10}{line}", side.label);
    }
    Ok(())
}

fn print_summary(sides: &[Side], samples: &[Vec<Vec<Sample>>], rounds: u32) {
    println!("\nmedians over {rounds} round(s); ratios are dyad / that row (throughput, CPU):");
    println!(
        "{:<16} {:<10} {:>9} {:>9} {:>6}   {:>8} {:>6}",
        "workload", "target", "IOPS", "MiB/s", "CPU", "x IOPS", "x CPU"
    );
    for (w, load) in WORKLOADS.iter().enumerate() {
        let ours = median_sample(&samples[w][0]);
        for (s, side) in sides.iter().enumerate() {
            let name = if s == 0 { load.name } else { "" };
            match median_sample(&samples[w][s]) {
                Some(m) => {
                    let ratios = match (s, ours) {
                        (0, _) | (_, None) => String::new(),
                        (_, Some(o)) => {
                            format!("   {:>7.2}x {:>5.2}x", o.iops / m.iops, o.cpu / m.cpu)
                        }
                    };
                    println!(
                        "{name:<16} {:<10} {:>9.0} {:>9.1} {:>6.2}{ratios}",
                        side.label, m.iops, m.mib_per_s, m.cpu
                    );
                }
                None => println!("{name:<16} {:<10} {:>9}", side.label, "n/a"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 3.0, 2.0]), 2.5);
        assert!(median(Vec::new()).is_nan());
    }
}
