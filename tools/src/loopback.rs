//! The loopback TCP ceiling for one stream: what any iSCSI target on this machine could
//! move at best. iperf3 when it is installed, else a plain sender/receiver pair here.

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use dyad_tests::child;
use dyad_tests::port::free_loopback_port;

/// Bytes per second, and which tool measured it.
pub fn measure(seconds: u32) -> Result<(f64, &'static str), String> {
    if iperf3_installed() {
        iperf3(seconds).map(|rate| (rate, "iperf3"))
    } else {
        builtin(seconds)
            .map(|rate| (rate, "built-in std TCP pair"))
            .map_err(|e| format!("loopback measurement failed: {e}"))
    }
}

fn iperf3_installed() -> bool {
    Command::new("iperf3")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn iperf3(seconds: u32) -> Result<f64, String> {
    let port = free_loopback_port()
        .map_err(|e| format!("no port for iperf3: {e}"))?
        .to_string();
    // `-1`: the server serves one test and exits.
    let mut server = Command::new("iperf3")
        .args(["-s", "-1", "-B", "127.0.0.1", "-p", &port])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start iperf3 -s: {e}"))?;
    // The server may need a moment to listen; a refused client leaves it untouched.
    let mut result = Err("iperf3 client never connected".to_string());
    for _ in 0..50 {
        let mut client = Command::new("iperf3");
        client.args(["-c", "127.0.0.1", "-p", &port, "-t", &seconds.to_string()]);
        match child::run_with_timeout(&mut client, Duration::from_secs(u64::from(seconds) + 30)) {
            Ok(out) if out.success() => {
                result = parse_iperf3(&out.stdout)
                    .ok_or_else(|| format!("cannot read iperf3's result:\n{}", out.stdout));
                break;
            }
            Ok(out) if out.combined().contains("unable to connect") => {
                thread::sleep(Duration::from_millis(100));
            }
            Ok(out) => {
                result = Err(format!("iperf3 -c failed: {}", out.combined().trim()));
                break;
            }
            Err(e) => {
                result = Err(format!("cannot run iperf3 -c: {e}"));
                break;
            }
        }
    }
    let _ = server.kill();
    let _ = server.wait();
    result
}

/// The receiver's summary line: `[  5]   0.00-5.00  sec  13.9 GBytes  23.9 Gbits/sec  receiver`.
fn parse_iperf3(output: &str) -> Option<f64> {
    let line = output
        .lines()
        .rev()
        .find(|l| l.trim_end().ends_with("receiver"))?;
    let words: Vec<&str> = line.split_whitespace().collect();
    let unit_at = words.iter().position(|w| w.ends_with("bits/sec"))?;
    let value: f64 = words.get(unit_at.checked_sub(1)?)?.parse().ok()?;
    let scale = match words[unit_at].chars().next()? {
        'K' => 1e3,
        'M' => 1e6,
        'G' => 1e9,
        'T' => 1e12,
        _ => 1.0,
    };
    Some(value * scale / 8.0)
}

/// One TCP stream over loopback for `seconds`, timed at the receiver.
fn builtin(seconds: u32) -> io::Result<f64> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    let addr = listener.local_addr()?;
    let receiver = thread::spawn(move || -> io::Result<f64> {
        let (mut stream, _) = listener.accept()?;
        let mut buf = vec![0u8; 1 << 20];
        let mut total = 0u64;
        let mut first: Option<Instant> = None;
        loop {
            let n = stream.read(&mut buf)?;
            if n == 0 {
                break;
            }
            first.get_or_insert_with(Instant::now);
            total += n as u64;
        }
        let elapsed = first.map(|t| t.elapsed().as_secs_f64()).unwrap_or(0.0);
        Ok(if elapsed > 0.0 {
            total as f64 / elapsed
        } else {
            0.0
        })
    });
    let mut stream = TcpStream::connect(addr)?;
    // 128 KiB writes, as iperf3 does by default.
    let buf = vec![0x5au8; 128 << 10];
    let deadline = Instant::now() + Duration::from_secs(u64::from(seconds));
    while Instant::now() < deadline {
        stream.write_all(&buf)?;
    }
    drop(stream);
    receiver
        .join()
        .map_err(|_| io::Error::other("receiver thread panicked"))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_iperf3_receiver_line() {
        let out = "[  5]   0.00-5.00   sec  13.9 GBytes  23.9 Gbits/sec    0             sender\n\
                   [  5]   0.00-5.00   sec  13.9 GBytes  24.0 Gbits/sec                  receiver\n\n\
                   iperf Done.\n";
        assert_eq!(parse_iperf3(out), Some(24.0e9 / 8.0));
    }

    #[test]
    fn builtin_pair_moves_data() {
        let rate = builtin(1).expect("loopback stream");
        assert!(rate > 1e6, "loopback moved only {rate} B/s");
    }
}
