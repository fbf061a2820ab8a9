//! Child processes: drain their output on threads (so a chatty child never blocks on a full
//! pipe), wait with a deadline, and stop them with SIGTERM then SIGKILL.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// Keep at most this much of a long-running child's output: enough for any failure report.
const LOG_CAP: usize = 4 << 20;

/// Output shared between the reader threads and whoever wants to look at it.
pub type SharedLog = Arc<Mutex<String>>;

/// Where a reader thread copies each line besides the shared log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Echo {
    None,
    Stdout,
    Stderr,
}

/// Reads `pipe` line by line until EOF into `log`, optionally sending each line to `lines`
/// and echoing it. Bytes that are not UTF-8 (a binary log frame, say) are kept lossily.
pub fn drain<R: Read + Send + 'static>(
    pipe: R,
    log: SharedLog,
    lines: Option<Sender<String>>,
    echo: Echo,
) -> JoinHandle<()> {
    thread::spawn(move || {
        let mut reader = BufReader::new(pipe);
        let mut raw = Vec::new();
        loop {
            raw.clear();
            match reader.read_until(b'\n', &mut raw) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            let line = String::from_utf8_lossy(&raw).into_owned();
            match echo {
                Echo::None => {}
                Echo::Stdout => {
                    let mut out = io::stdout().lock();
                    let _ = out.write_all(line.as_bytes());
                    let _ = out.flush();
                }
                Echo::Stderr => {
                    let _ = io::stderr().lock().write_all(line.as_bytes());
                }
            }
            {
                let mut log = log.lock().unwrap_or_else(|e| e.into_inner());
                if log.len() + line.len() > LOG_CAP {
                    // Drop the older half: the end of a log is what explains a failure.
                    let mut cut = log.len() / 2;
                    while !log.is_char_boundary(cut) {
                        cut += 1;
                    }
                    log.replace_range(..cut, "[...]\n");
                }
                log.push_str(&line);
            }
            if let Some(tx) = &lines {
                // The receiver goes away once it has seen what it waited for; keep draining.
                let _ = tx.send(line.trim_end().to_string());
            }
        }
    })
}

/// A copy of what a shared log holds now.
pub fn snapshot(log: &SharedLog) -> String {
    log.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

/// Sends `signal` to process `pid`.
pub fn signal(pid: u32, signal: libc::c_int) -> io::Result<()> {
    let pid = libc::pid_t::try_from(pid)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "pid out of range"))?;
    // SAFETY: kill(2) takes plain integers and touches no memory of ours.
    if unsafe { libc::kill(pid, signal) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Waits for `child` until `timeout`; `None` if it is still running then.
pub fn wait_timeout(child: &mut Child, timeout: Duration) -> io::Result<Option<ExitStatus>> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        if Instant::now() >= deadline {
            return Ok(None);
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// SIGTERM, up to `grace` for a clean exit, then SIGKILL. Returns how it ended.
pub fn terminate(child: &mut Child, grace: Duration) -> io::Result<ExitStatus> {
    if let Some(status) = child.try_wait()? {
        return Ok(status);
    }
    signal(child.id(), libc::SIGTERM)?;
    if let Some(status) = wait_timeout(child, grace)? {
        return Ok(status);
    }
    child.kill()?;
    child.wait()
}

/// What a command run to completion (or to its deadline) left behind.
#[derive(Debug)]
pub struct RunOutput {
    /// `None` when it was killed at the deadline.
    pub status: Option<ExitStatus>,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl RunOutput {
    pub fn timed_out(&self) -> bool {
        self.status.is_none()
    }

    pub fn success(&self) -> bool {
        self.status.is_some_and(|s| s.success())
    }

    /// stdout then stderr, for assertions that do not care which stream said it.
    pub fn combined(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

/// Runs `cmd` with its output captured, killing it at `timeout`.
pub fn run_with_timeout(cmd: &mut Command, timeout: Duration) -> io::Result<RunOutput> {
    let started = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let out: SharedLog = Arc::default();
    let err: SharedLog = Arc::default();
    let mut readers = Vec::new();
    if let Some(pipe) = child.stdout.take() {
        readers.push(drain(pipe, out.clone(), None, Echo::None));
    }
    if let Some(pipe) = child.stderr.take() {
        readers.push(drain(pipe, err.clone(), None, Echo::None));
    }
    let status = match wait_timeout(&mut child, timeout)? {
        Some(status) => Some(status),
        None => {
            child.kill()?;
            child.wait()?;
            None
        }
    };
    for reader in readers {
        // A reader only ends at EOF, which the exit of the child brings.
        let _ = reader.join();
    }
    Ok(RunOutput {
        status,
        stdout: snapshot(&out),
        stderr: snapshot(&err),
        elapsed: started.elapsed(),
    })
}

/// A command's name and arguments as one line, for logs and error messages.
pub fn describe(cmd: &Command) -> String {
    let mut text = cmd.get_program().to_string_lossy().into_owned();
    for arg in cmd.get_args() {
        text.push(' ');
        text.push_str(&arg.to_string_lossy());
    }
    text
}
