//! The firmware under test as a child process: started on a loopback port with its own
//! enclosure directory, considered up once it prints its `ready` line, stopped with SIGTERM
//! (a clean stop must keep acknowledged data), and killed on drop.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crate::child::{self, Echo, SharedLog};
use crate::console_client::{console_socket, ConsoleClient, ConsoleReply};
use crate::paths;
use crate::port::free_loopback_port;
use crate::tempdir::TempDir;

/// How long a stop waits for a clean exit after SIGTERM before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// How long [`Firmware::console`] waits for the console to take the connection and for
/// each answer.
const CONSOLE_TIMEOUT: Duration = Duration::from_secs(30);

/// How to start the firmware. `Default` is what the tests want: release binary, fresh
/// temporary enclosure, free loopback port, default target name, firmware's default LUN.
#[derive(Clone, Debug)]
pub struct FirmwareConfig {
    pub binary: PathBuf,
    pub controller: u8,
    /// `None`: a fresh temporary directory, removed with the guard.
    pub enclosure: Option<PathBuf>,
    /// `None`: 127.0.0.1 on a free port. With `config` it must be given: the portal the
    /// test wrote into that file, which `url()` then uses.
    pub listen: Option<SocketAddr>,
    /// With `config`, only the name `url()` uses: the target is the file's.
    pub target_iqn: String,
    /// A ctl.conf to start from (`--config PATH`) instead of `--listen` and `--target`.
    pub config: Option<PathBuf>,
    /// Further firmware flags (`--lun`, `--chap`, ...), passed as they are.
    pub args: Vec<String>,
    /// Copy the firmware's output to ours as it comes (for `dyad run`); it is kept either way.
    pub echo: bool,
    /// Start it in a process group of its own, so a terminal's Ctrl-C reaches only the
    /// launcher, which forwards it once (`dyad run`). Tests leave it in theirs so that
    /// interrupting `cargo test` takes the firmware down too.
    pub own_process_group: bool,
    pub ready_timeout: Duration,
}

impl Default for FirmwareConfig {
    fn default() -> Self {
        FirmwareConfig {
            binary: paths::firmware_binary(),
            controller: 1,
            enclosure: None,
            listen: None,
            target_iqn: crate::DEFAULT_TARGET_IQN.to_string(),
            config: None,
            args: Vec::new(),
            echo: false,
            own_process_group: false,
            ready_timeout: Duration::from_secs(30),
        }
    }
}

impl FirmwareConfig {
    /// The default configuration with `args` appended.
    pub fn with_args<S: AsRef<str>>(args: &[S]) -> Self {
        FirmwareConfig {
            args: args.iter().map(|a| a.as_ref().to_string()).collect(),
            ..FirmwareConfig::default()
        }
    }
}

/// A running firmware process; killed when dropped.
pub struct Firmware {
    binary: PathBuf,
    controller: u8,
    enclosure: PathBuf,
    listen: SocketAddr,
    target_iqn: String,
    config: Option<PathBuf>,
    args: Vec<String>,
    echo: bool,
    own_process_group: bool,
    ready_timeout: Duration,
    child: Option<Child>,
    stdout: SharedLog,
    stderr: SharedLog,
    ready_line: String,
    // Declared last so the process is gone before its enclosure is removed.
    _tempdir: Option<TempDir>,
}

impl Firmware {
    /// Starts the firmware with the default configuration plus `args`.
    pub fn start<S: AsRef<str>>(args: &[S]) -> io::Result<Firmware> {
        Firmware::start_with(FirmwareConfig::with_args(args))
    }

    pub fn start_with(config: FirmwareConfig) -> io::Result<Firmware> {
        paths::require_file(
            &config.binary,
            "build it with `cargo build --release -p firmware` (or set DYAD_FIRMWARE)",
        )?;
        let (enclosure, tempdir) = match config.enclosure {
            Some(dir) => (dir, None),
            None => {
                let dir = TempDir::new("enclosure")?;
                (dir.path().to_path_buf(), Some(dir))
            }
        };
        let listen = match (config.listen, &config.config) {
            (Some(addr), _) => addr,
            (None, None) => SocketAddr::from((Ipv4Addr::LOCALHOST, free_loopback_port()?)),
            (None, Some(file)) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "FirmwareConfig with config {} needs listen: the portal that file \
                         names, for url()",
                        file.display()
                    ),
                ))
            }
        };
        let mut firmware = Firmware {
            binary: config.binary,
            controller: config.controller,
            enclosure,
            listen,
            target_iqn: config.target_iqn,
            config: config.config,
            args: config.args,
            echo: config.echo,
            own_process_group: config.own_process_group,
            ready_timeout: config.ready_timeout,
            child: None,
            stdout: SharedLog::default(),
            stderr: SharedLog::default(),
            ready_line: String::new(),
            _tempdir: tempdir,
        };
        firmware.launch()?;
        Ok(firmware)
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new(&self.binary);
        cmd.arg("--controller")
            .arg(self.controller.to_string())
            .arg("--enclosure")
            .arg(&self.enclosure);
        match &self.config {
            // The portals and targets are the file's.
            Some(file) => cmd.arg("--config").arg(file),
            None => cmd
                .arg("--listen")
                .arg(self.listen.to_string())
                .arg("--target")
                .arg(&self.target_iqn),
        };
        cmd.args(&self.args);
        cmd
    }

    /// Spawns the process and waits for its ready line.
    fn launch(&mut self) -> io::Result<()> {
        let mut cmd = self.command();
        let description = child::describe(&cmd);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if self.own_process_group {
            use std::os::unix::process::CommandExt;
            cmd.process_group(0);
        }
        let mut process = cmd
            .spawn()
            .map_err(|e| io::Error::new(e.kind(), format!("cannot start {description}: {e}")))?;
        // Fresh logs per launch: a restart's failure report shows only its own output.
        self.stdout = Arc::default();
        self.stderr = Arc::default();
        let (tx, rx) = mpsc::channel();
        let (out_echo, err_echo) = if self.echo {
            (Echo::Stdout, Echo::Stderr)
        } else {
            (Echo::None, Echo::None)
        };
        if let Some(pipe) = process.stdout.take() {
            child::drain(pipe, self.stdout.clone(), Some(tx), out_echo);
        }
        if let Some(pipe) = process.stderr.take() {
            child::drain(pipe, self.stderr.clone(), None, err_echo);
        }
        self.child = Some(process);

        let deadline = Instant::now() + self.ready_timeout;
        let why = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break format!("no ready line within {:?}", self.ready_timeout);
            }
            match rx.recv_timeout(left.min(Duration::from_millis(200))) {
                Ok(line) if line.contains("ready") => {
                    self.ready_line = line;
                    return Ok(());
                }
                Ok(_) | Err(RecvTimeoutError::Timeout) => {}
                // stdout closed: the process is most likely exiting; its status tells.
                Err(RecvTimeoutError::Disconnected) => thread::sleep(Duration::from_millis(50)),
            }
            if let Some(process) = self.child.as_mut() {
                if let Some(status) = process.try_wait()? {
                    break format!("it exited with {status} before it was ready");
                }
            }
        };
        if let Some(mut process) = self.child.take() {
            let _ = process.kill();
            let _ = process.wait();
        }
        Err(io::Error::other(format!(
            "dyad-firmware did not start: {why}\n--- command: {description}\n--- stdout:\n{}--- stderr:\n{}",
            child::snapshot(&self.stdout),
            child::snapshot(&self.stderr)
        )))
    }

    /// `iscsi://127.0.0.1:PORT/IQN/LUN`.
    pub fn url(&self, lun: u32) -> String {
        format!("iscsi://{}/{}/{lun}", self.listen, self.target_iqn)
    }

    pub fn listen(&self) -> SocketAddr {
        self.listen
    }

    pub fn iqn(&self) -> &str {
        &self.target_iqn
    }

    pub fn enclosure(&self) -> &Path {
        &self.enclosure
    }

    /// Its console's Unix socket: `<enclosure>/console-a.sock` (or `-b` for controller 2).
    pub fn console_socket(&self) -> PathBuf {
        console_socket(&self.enclosure, self.controller)
    }

    /// Runs one console command on a connection of its own and returns its output (the
    /// reply's `ok` is false when a line says `error: `).
    pub fn console(&self, line: &str) -> io::Result<ConsoleReply> {
        ConsoleClient::connect(&self.console_socket(), CONSOLE_TIMEOUT)?.run(line)
    }

    /// The process id while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The line that said it was ready.
    pub fn ready_line(&self) -> &str {
        &self.ready_line
    }

    /// Everything it printed since the last start: stdout, then stderr.
    pub fn log(&self) -> String {
        format!(
            "--- stdout:\n{}--- stderr:\n{}",
            child::snapshot(&self.stdout),
            child::snapshot(&self.stderr)
        )
    }

    /// SIGTERM, then SIGKILL after 10 s. Returns how it exited (`Ok` with a non-zero status
    /// is for the caller to judge; a clean stop is exit 0).
    pub fn stop(&mut self) -> io::Result<ExitStatus> {
        match self.child.take() {
            Some(mut process) => child::terminate(&mut process, STOP_GRACE),
            None => Err(io::Error::other("the firmware is not running")),
        }
    }

    /// Stops it if it runs, then starts it again with the same port, enclosure and flags.
    pub fn restart(&mut self) -> io::Result<()> {
        if self.child.is_some() {
            self.stop()?;
        }
        self.launch()
    }

    /// Whether it has exited, without waiting: `Some(status)` once it has (it is then reaped,
    /// and `pid()` is `None` until it is started again), `None` while it runs.
    pub fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        let Some(process) = self.child.as_mut() else {
            return Err(io::Error::other("the firmware is not running"));
        };
        let status = process.try_wait()?;
        if status.is_some() {
            self.child = None;
        }
        Ok(status)
    }

    /// SIGKILL at once, for a firmware not trusted to stop cleanly (a hung one); returns how
    /// it ended (its own exit status if it had already ended).
    pub fn kill(&mut self) -> io::Result<ExitStatus> {
        let Some(mut process) = self.child.take() else {
            return Err(io::Error::other("the firmware is not running"));
        };
        if let Err(e) = process.kill() {
            // Already ended (and reaped, on older std): its status is what is left to tell.
            if process.try_wait()?.is_none() {
                self.child = Some(process);
                return Err(e);
            }
        }
        process.wait()
    }

    /// Waits until it exits by itself (or by a signal someone else sent).
    pub fn wait(&mut self) -> io::Result<ExitStatus> {
        match self.child.take() {
            Some(mut process) => process.wait(),
            None => Err(io::Error::other("the firmware is not running")),
        }
    }
}

impl Drop for Firmware {
    fn drop(&mut self) {
        if let Some(mut process) = self.child.take() {
            let _ = process.kill();
            let _ = process.wait();
        }
    }
}
