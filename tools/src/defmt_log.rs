//! Shows a board's defmt log as it is written: follows the log port's capture file, feeds
//! it to `defmt-print` with the firmware ELF, and prints each decoded line with a prefix.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

/// How often the capture file is checked for new bytes.
const FOLLOW_EVERY: Duration = Duration::from_millis(100);

/// Whether `elf` is a defmt build (it has the `.defmt` section the decoder needs).
pub fn is_defmt_build(elf: &Path) -> bool {
    std::fs::read(elf)
        .is_ok_and(|bytes| board::qemu::modinfo::elf_section(&bytes, ".defmt").is_ok())
}

/// A running decoder; dropping it stops following and ends `defmt-print`.
pub struct LogFollower {
    stop: Arc<AtomicBool>,
    child: Child,
    pump: Option<thread::JoinHandle<()>>,
    printer: Option<thread::JoinHandle<()>>,
}

impl Drop for LogFollower {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(p) = self.pump.take() {
            let _ = p.join();
        }
        let _ = self.child.wait();
        // The last lines are printed before the launcher goes on (and exits).
        if let Some(p) = self.printer.take() {
            let _ = p.join();
        }
    }
}

/// Follows `capture` (from its current end when `from_end`, else from the start), decoding
/// against `elf` and printing each line after `prefix`. `None`, with a note, when
/// `defmt-print` is not installed (`make deps` installs it).
pub fn follow(capture: &Path, elf: &Path, prefix: &str, from_end: bool) -> Option<LogFollower> {
    use std::os::unix::process::CommandExt;
    let mut child = match Command::new("defmt-print")
        .arg("-e")
        .arg(elf)
        // Its own process group: a terminal's Ctrl-C stops the controller, and the decoder
        // goes on until it has printed the controller's last lines (its input then ends).
        .process_group(0)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!(
                "dyad: cannot run defmt-print ({e}): the log in {} stays undecoded \
                 (`make deps` installs it)",
                capture.display()
            );
            return None;
        }
    };
    let mut input = child.stdin.take()?;
    let output = child.stdout.take()?;
    let prefix = prefix.to_string();
    let printer = thread::spawn(move || {
        for line in BufReader::new(output).lines().map_while(Result::ok) {
            println!("{prefix}{line}");
        }
    });
    let stop = Arc::new(AtomicBool::new(false));
    let stopping = stop.clone();
    let capture: PathBuf = capture.to_path_buf();
    let pump = thread::spawn(move || {
        let mut offset = if from_end {
            std::fs::metadata(&capture).map_or(0, |m| m.len())
        } else {
            0
        };
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let done = stopping.load(Ordering::Relaxed);
            if let Ok(mut f) = File::open(&capture) {
                let len = f.metadata().map_or(0, |m| m.len());
                // A new capture (the board restarted): start again from its beginning.
                if len < offset {
                    offset = 0;
                }
                if f.seek(SeekFrom::Start(offset)).is_ok() {
                    while let Ok(n) = f.read(&mut buf) {
                        if n == 0 {
                            break;
                        }
                        offset += n as u64;
                        if input.write_all(&buf[..n]).is_err() {
                            return;
                        }
                    }
                    let _ = input.flush();
                }
            }
            if done {
                // Closing its input lets defmt-print finish what it has and exit.
                return;
            }
            thread::sleep(FOLLOW_EVERY);
        }
    });
    Some(LogFollower {
        stop,
        child,
        pump: Some(pump),
        printer: Some(printer),
    })
}
