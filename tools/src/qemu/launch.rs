//! Starting, watching and stopping the two QEMU machines of the enclosure.
//!
//! Each machine: PVH kernel + initramfs (whatever the boot ROM step hands over), the pc
//! machine type with qboot, two virtio NICs (the first on QEMU's user network with the host
//! port forwarded to the guest's iSCSI port, the second the interlink, cabled to the other
//! machine with `-netdev dgram`, a UDP tunnel on the loopback that needs no start order),
//! every backplane drive with `share-rw=on`, the board's own flash (when the boot ROM
//! booted it from one) as a virtio disk with the serial `FLASH`, and four serial ports:
//! - ttyS0: the console, a Unix socket QEMU serves (`<enclosure>/qemu-a.console`);
//! - ttyS1: the defmt log port, written to `<enclosure>/qemu-a.defmt`;
//! - ttyS2: the kernel console (and the firmware's standard output), read by the launcher
//!   from QEMU's standard output, stamped with the time since QEMU started and kept in
//!   `<enclosure>/qemu-a.log`;
//! - ttyS3: the peer-fence line: a line `reset` from one machine makes the launcher reset
//!   the other (its monitor's `system_reset`).
//!
//! The monitor is a Unix socket too (`<enclosure>/qemu-a.monitor`); a clean stop is
//! Ctrl-Alt-Del through it (PID 1 gets SIGINT, the firmware stops and powers off).

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use board::qemu::cmdline::{BootParams, Mac};
use board::qemu::{slot_serial, IMAGE_LINE, KERNEL_CONSOLE, POWER_OFF_LINE};

use super::monitor::Monitor;

/// How a drive attaches to both machines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DriveKind {
    Virtio,
    Nvme,
}

impl DriveKind {
    pub fn parse(text: &str) -> Result<DriveKind, String> {
        match text {
            "virtio" | "virtio-blk" => Ok(DriveKind::Virtio),
            "nvme" => Ok(DriveKind::Nvme),
            _ => Err(format!("drive kind '{text}': want virtio or nvme")),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            DriveKind::Virtio => "virtio",
            DriveKind::Nvme => "nvme",
        }
    }
}

/// A backplane drive: a raw file both machines attach.
#[derive(Clone, Debug)]
pub struct Drive {
    pub slot: u32,
    pub kind: DriveKind,
    pub path: PathBuf,
}

/// One controller board.
#[derive(Clone, Debug)]
pub struct Board {
    /// 1 (A) or 2 (B).
    pub controller: u8,
    pub iscsi_mac: Mac,
    pub link_mac: Mac,
    /// The host port forwarded to the machine's iSCSI port.
    pub iscsi_port: u16,
    /// The interlink tunnel: our UDP port and the other machine's.
    pub link_port: u16,
    pub peer_link_port: u16,
}

impl Board {
    /// Board A (controller 1) or B (2) at the given port bases: iSCSI `iscsi_base + 0|1`,
    /// interlink `link_base + 0|1`.
    pub fn new(controller: u8, iscsi_base: u16, link_base: u16) -> Board {
        let index = controller - 1;
        let peer = 1 - index;
        Board {
            controller,
            iscsi_mac: Mac([0x52, 0x54, 0x00, 0x12, 0x00, 0x0a + index]),
            link_mac: Mac([0x52, 0x54, 0x00, 0x12, 0x01, 0x0a + index]),
            iscsi_port: iscsi_base + u16::from(index),
            link_port: link_base + u16::from(index),
            peer_link_port: link_base + u16::from(peer),
        }
    }

    /// `a` or `b`.
    pub fn letter(&self) -> char {
        if self.controller == 2 {
            'b'
        } else {
            'a'
        }
    }

    /// `qemu-a`.
    pub fn name(&self) -> String {
        format!("qemu-{}", self.letter())
    }
}

/// The enclosure's files for `board`.
pub fn console_socket(enclosure: &Path, letter: char) -> PathBuf {
    enclosure.join(format!("qemu-{letter}.console"))
}

fn monitor_socket(enclosure: &Path, letter: char) -> PathBuf {
    enclosure.join(format!("qemu-{letter}.monitor"))
}

fn fence_socket(enclosure: &Path, letter: char) -> PathBuf {
    enclosure.join(format!("qemu-{letter}.fence"))
}

/// The kernel console log of a board.
pub fn log_path(enclosure: &Path, letter: char) -> PathBuf {
    enclosure.join(format!("qemu-{letter}.log"))
}

/// The defmt log port's capture of a board.
pub fn defmt_path(enclosure: &Path, letter: char) -> PathBuf {
    enclosure.join(format!("qemu-{letter}.defmt"))
}

/// The accelerator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Accel {
    /// Emulation: works everywhere (the default; nested KVM is often broken).
    Tcg,
    /// Hardware virtualisation, only when asked (`ACCEL=kvm`).
    Kvm,
}

/// How the machines are made.
#[derive(Clone, Debug)]
pub struct MachineOptions {
    pub qemu: PathBuf,
    pub accel: Accel,
    /// `-m`.
    pub memory: String,
    /// The firmware QEMU starts the kernel with (qboot when installed).
    pub bios: Option<PathBuf>,
    /// Extra kernel parameters.
    pub append: Vec<String>,
}

/// What the boot ROM hands over: the kernel and initramfs to start, the board's flash for
/// the machine (where the firmware confirms the image), and what the ROM decided.
#[derive(Clone, Debug, Default)]
pub struct BootFiles {
    pub kernel: PathBuf,
    pub initrd: PathBuf,
    /// The board's flash file, attached to the machine alone.
    pub flash: Option<PathBuf>,
    /// The boot ROM's lines: one per slot considered, then what boots.
    pub log: Vec<String>,
}

/// Host-side facts of the drive files: the cache mode QEMU can use on them.
fn cache_mode(path: &Path) -> &'static str {
    // cache=none opens the file O_DIRECT: no host page cache in between, what one machine
    // wrote is on the file for the other. A file system without O_DIRECT gets writeback,
    // which is coherent too (both QEMUs share the host's page cache of the one file).
    let direct = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECT)
        .open(path)
        .is_ok();
    if direct {
        "none"
    } else {
        "writeback"
    }
}

/// The QEMU command line of `board`.
pub fn command(
    board: &Board,
    options: &MachineOptions,
    boot: &BootFiles,
    enclosure: &Path,
    enclosure_id: u64,
    drives: &[Drive],
) -> Command {
    let letter = board.letter();
    let mut cmd = Command::new(&options.qemu);
    cmd.args(["-name", &format!("dyad-{letter}")]);
    match options.accel {
        Accel::Tcg => cmd.args(["-accel", "tcg"]),
        Accel::Kvm => cmd.args(["-accel", "kvm", "-cpu", "host"]),
    };
    cmd.args(["-machine", "pc", "-m", &options.memory, "-smp", "1"]);
    cmd.args([
        "-nodefaults",
        "-no-user-config",
        "-display",
        "none",
        "-no-reboot",
    ]);
    if let Some(bios) = &options.bios {
        cmd.arg("-bios").arg(bios);
    }
    cmd.arg("-kernel").arg(&boot.kernel);
    cmd.arg("-initrd").arg(&boot.initrd);
    let params = BootParams {
        controller: board.controller,
        iscsi_mac: board.iscsi_mac,
        link_mac: board.link_mac,
        enclosure_id: Some(enclosure_id),
        drives: drives.len() as u32,
        flash: boot.flash.is_some(),
    };
    let mut append = vec![format!("console={KERNEL_CONSOLE}"), "panic=-1".to_string()];
    append.extend(params.to_words());
    append.extend(options.append.iter().cloned());
    cmd.arg("-append").arg(append.join(" "));
    // Serial ports, in order ttyS0..ttyS3.
    cmd.arg("-chardev").arg(format!(
        "socket,id=console,path={},server=on,wait=off",
        console_socket(enclosure, letter).display()
    ));
    cmd.args(["-serial", "chardev:console"]);
    cmd.arg("-serial")
        .arg(format!("file:{}", defmt_path(enclosure, letter).display()));
    cmd.args([
        "-chardev",
        "stdio,id=kernel,signal=off",
        "-serial",
        "chardev:kernel",
    ]);
    cmd.arg("-chardev").arg(format!(
        "socket,id=fence,path={},server=on,wait=off",
        fence_socket(enclosure, letter).display()
    ));
    cmd.args(["-serial", "chardev:fence"]);
    cmd.arg("-monitor").arg(format!(
        "unix:{},server=on,wait=off",
        monitor_socket(enclosure, letter).display()
    ));
    // NICs: addr= keeps their PCI slots (and probe order) fixed.
    cmd.arg("-netdev").arg(format!(
        "user,id=iscsi,hostfwd=tcp:127.0.0.1:{}-10.0.2.15:{}",
        board.iscsi_port,
        board::qemu::ISCSI_PORT
    ));
    cmd.arg("-device").arg(format!(
        "virtio-net-pci,netdev=iscsi,mac={},addr=0x3",
        board.iscsi_mac
    ));
    cmd.arg("-netdev").arg(format!(
        "dgram,id=link,local.type=inet,local.host=127.0.0.1,local.port={},\
         remote.type=inet,remote.host=127.0.0.1,remote.port={}",
        board.link_port, board.peer_link_port
    ));
    cmd.arg("-device").arg(format!(
        "virtio-net-pci,netdev=link,mac={},addr=0x4",
        board.link_mac
    ));
    for (i, drive) in drives.iter().enumerate() {
        let id = format!("slot{}", drive.slot);
        cmd.arg("-drive").arg(format!(
            "file={},if=none,id={id},format=raw,cache={}",
            drive.path.display(),
            cache_mode(&drive.path)
        ));
        let device = match drive.kind {
            DriveKind::Virtio => "virtio-blk-pci",
            DriveKind::Nvme => "nvme",
        };
        cmd.arg("-device").arg(format!(
            "{device},drive={id},serial={},share-rw=on,addr={:#x}",
            slot_serial(drive.slot),
            0x5 + i
        ));
    }
    // The board's flash: this machine's alone (no share-rw); the firmware's confirmation is
    // a write and a flush, which QEMU passes on to the file before the machine powers off.
    if let Some(flash) = &boot.flash {
        cmd.arg("-drive").arg(format!(
            "file={},if=none,id=flash,format=raw,cache={}",
            flash.display(),
            cache_mode(flash)
        ));
        cmd.arg("-device").arg(format!(
            "virtio-blk-pci,drive=flash,serial={},addr={:#x}",
            board::qemu::FLASH_SERIAL,
            0x5 + drives.len()
        ));
    }
    cmd
}

/// Which kernel console lines the launcher prints (all go to the log file).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Echo {
    None,
    /// The firmware's lines and the kernel's cries for help (panics, oopses, warnings).
    Firmware,
    All,
}

impl Echo {
    fn shows(self, line: &str) -> bool {
        match self {
            Echo::None => false,
            Echo::All => true,
            Echo::Firmware => [
                "dyad:",
                "Kernel panic",
                "BUG:",
                "Oops",
                "WARNING:",
                "Call Trace",
            ]
            .iter()
            .any(|w| line.contains(w)),
        }
    }
}

/// What the launcher learnt from a machine's kernel console.
#[derive(Clone, Debug, Default)]
pub struct ConsoleFacts {
    /// The firmware said it powers off.
    pub powered_off: bool,
    /// The kernel panicked.
    pub panicked: bool,
    /// The controller's `ready` line, and when it came (since QEMU started).
    pub ready: Option<Duration>,
    /// The firmware's line about the image it booted (confirmed or not), and when it came.
    pub image: Option<(Duration, String)>,
    /// Lines seen.
    pub lines: usize,
}

/// A running machine.
pub struct Machine {
    pub board: Board,
    child: Child,
    pub started: Instant,
    facts: Arc<Mutex<ConsoleFacts>>,
    readers: Vec<JoinHandle<()>>,
    monitor: PathBuf,
    pub exit: Option<ExitStatus>,
    /// When QEMU was seen to have exited.
    pub exited_at: Option<Instant>,
}

/// How a machine ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ending {
    /// The firmware stopped and powered the machine off.
    PoweredOff,
    /// Anything else, described.
    Unclean(String),
}

/// Copies QEMU's standard output (the kernel console) line by line into the log file,
/// stamped with the time since QEMU started, echoing (as `echo` says) with the board's letter.
fn console_reader(
    pipe: impl Read + Send + 'static,
    started: Instant,
    mut log: File,
    prefix: String,
    echo: Echo,
    facts: Arc<Mutex<ConsoleFacts>>,
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
            let at = started.elapsed();
            let text = String::from_utf8_lossy(&raw);
            let text = text.trim_end_matches(['\r', '\n']);
            let line = format!("[{:>8.3}] {text}\n", at.as_secs_f64());
            let _ = log.write_all(line.as_bytes());
            if echo.shows(text) {
                let mut out = io::stdout().lock();
                let _ = out.write_all(format!("{prefix} {line}").as_bytes());
                let _ = out.flush();
            }
            let mut facts = facts.lock().unwrap_or_else(|e| e.into_inner());
            facts.lines += 1;
            if text.contains(POWER_OFF_LINE) {
                facts.powered_off = true;
            }
            if text.contains("Kernel panic") {
                facts.panicked = true;
            }
            if facts.ready.is_none() && text.contains("dyad: controller") && text.contains(" ready")
            {
                facts.ready = Some(at);
            }
            if facts.image.is_none() {
                if let Some(i) = text.find(IMAGE_LINE) {
                    facts.image = Some((at, text[i + "dyad: ".len()..].to_string()));
                }
            }
        }
    })
}

impl Machine {
    /// Starts the machine.
    pub fn start(
        board: &Board,
        mut cmd: Command,
        enclosure: &Path,
        echo: Echo,
    ) -> Result<Machine, String> {
        let letter = board.letter();
        for socket in [
            console_socket(enclosure, letter),
            monitor_socket(enclosure, letter),
            fence_socket(enclosure, letter),
        ] {
            let _ = fs::remove_file(socket);
        }
        let log = File::create(log_path(enclosure, letter))
            .map_err(|e| format!("{}: {e}", log_path(enclosure, letter).display()))?;
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // A terminal's Ctrl-C is for the launcher, which stops the machines cleanly.
            .process_group(0);
        // SAFETY: the closure only calls prctl(2), which is async-signal-safe, between fork
        // and exec.
        unsafe {
            cmd.pre_exec(|| {
                // The machine dies with the launcher, however the launcher ends.
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let started = Instant::now();
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", cmd.get_program().to_string_lossy()))?;
        let facts = Arc::new(Mutex::new(ConsoleFacts::default()));
        let prefix = letter.to_ascii_uppercase().to_string();
        let mut readers = Vec::new();
        let log_err = log.try_clone().map_err(|e| e.to_string())?;
        if let Some(out) = child.stdout.take() {
            readers.push(console_reader(
                out,
                started,
                log,
                prefix.clone(),
                echo,
                facts.clone(),
            ));
        }
        if let Some(err) = child.stderr.take() {
            // QEMU's own complaints, in the same log.
            readers.push(console_reader(
                err,
                started,
                log_err,
                format!("{prefix} qemu:"),
                Echo::All,
                Arc::new(Mutex::new(ConsoleFacts::default())),
            ));
        }
        Ok(Machine {
            board: board.clone(),
            child,
            started,
            facts,
            readers,
            monitor: monitor_socket(enclosure, letter),
            exit: None,
            exited_at: None,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// How long QEMU ran (so far, or until it exited).
    pub fn run_time(&self) -> Duration {
        self.exited_at
            .unwrap_or_else(Instant::now)
            .duration_since(self.started)
    }

    /// What the kernel console showed so far.
    pub fn facts(&self) -> ConsoleFacts {
        self.facts.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Whether QEMU has exited (and notes how).
    pub fn poll(&mut self) -> Option<ExitStatus> {
        if self.exit.is_none() {
            if let Ok(Some(status)) = self.child.try_wait() {
                self.exit = Some(status);
                self.exited_at = Some(Instant::now());
            }
        }
        self.exit
    }

    fn wait_until(&mut self, deadline: Instant) -> Option<ExitStatus> {
        loop {
            if let Some(status) = self.poll() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Presses Ctrl-Alt-Del (the firmware stops cleanly and powers off).
    pub fn request_stop(&self) -> Result<(), String> {
        let mut monitor =
            Monitor::connect(&self.monitor, Duration::from_secs(5)).map_err(|e| e.to_string())?;
        monitor
            .command("sendkey ctrl-alt-delete", Duration::from_secs(5))
            .map_err(|e| e.to_string())?;
        Ok(())
    }

    /// Waits up to `grace` for the machine to power off after [`Machine::request_stop`]; if
    /// it does not, quits QEMU, and kills it as the last resort. Says how it ended.
    pub fn finish(&mut self, grace: Duration) -> Ending {
        let status = match self.wait_until(Instant::now() + grace) {
            Some(status) => status,
            None => {
                let quit = Monitor::connect(&self.monitor, Duration::from_secs(2))
                    .and_then(|mut m| m.send("quit"));
                let status = match (
                    quit,
                    self.wait_until(Instant::now() + Duration::from_secs(5)),
                ) {
                    (Ok(()), Some(status)) => status,
                    _ => {
                        let _ = self.child.kill();
                        self.child.wait().unwrap_or_else(|_| ExitStatus::default())
                    }
                };
                self.exit = Some(status);
                self.exited_at = Some(Instant::now());
                self.join_readers();
                return Ending::Unclean(format!(
                    "it did not power off within {grace:?} and was stopped with `quit` ({status})"
                ));
            }
        };
        self.join_readers();
        let facts = self.facts();
        if status.success() && facts.powered_off && !facts.panicked {
            Ending::PoweredOff
        } else if facts.panicked {
            Ending::Unclean(format!("the kernel panicked ({status})"))
        } else {
            Ending::Unclean(format!(
                "QEMU exited ({status}) without the firmware powering off"
            ))
        }
    }

    fn join_readers(&mut self) {
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
    }

    /// Kills QEMU at once (for a launcher that gives up).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Listens on the fence line of each machine started (`letters`): a `reset` line from one
/// resets the other. Runs until the launcher ends.
pub fn serve_fence_lines(enclosure: &Path, letters: &[char]) {
    for &letter in letters {
        let socket = fence_socket(enclosure, letter);
        let peer_letter = if letter == 'a' { 'b' } else { 'a' };
        let peer_monitor = monitor_socket(enclosure, peer_letter);
        thread::spawn(move || {
            let stream = loop {
                match UnixStream::connect(&socket) {
                    Ok(s) => break s,
                    Err(_) => thread::sleep(Duration::from_millis(50)),
                }
            };
            for line in BufReader::new(stream).lines() {
                let Ok(line) = line else { break };
                if line.trim() == "reset" {
                    let result = Monitor::connect(&peer_monitor, Duration::from_secs(5))
                        .and_then(|mut m| m.command("system_reset", Duration::from_secs(5)));
                    println!(
                        "dyad: qemu-{letter} fenced qemu-{peer_letter}: {}",
                        match result {
                            Ok(_) => "reset".to_string(),
                            Err(e) => format!("reset failed: {e}"),
                        }
                    );
                }
            }
        });
    }
}

/// Creates `path` as a sparse file of at least `size` bytes (as `truncate -s` does).
pub fn ensure_drive_file(path: &Path, size: u64) -> Result<(), String> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let len = file
        .metadata()
        .map_err(|e| format!("{}: {e}", path.display()))?
        .len();
    if len < size {
        file.set_len(size)
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}

/// The enclosure's identity: `enclosure.id` in the folder (as the sim board keeps it),
/// created at random the first time.
pub fn enclosure_id(dir: &Path) -> Result<u64, String> {
    let path = dir.join("enclosure.id");
    if let Ok(text) = fs::read_to_string(&path) {
        if let Ok(id) = u64::from_str_radix(text.trim(), 16) {
            return Ok(id);
        }
    }
    let mut bytes = [0u8; 8];
    File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| format!("/dev/urandom: {e}"))?;
    let id = u64::from_le_bytes(bytes);
    fs::write(&path, format!("{id:016x}\n")).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(id)
}

/// Fails early, with a clear message, when a port the machines need is taken.
pub fn check_ports_free(boards: &[Board]) -> Result<(), String> {
    for board in boards {
        std::net::TcpListener::bind(("127.0.0.1", board.iscsi_port)).map_err(|e| {
            format!(
                "host port {} (board {}'s iSCSI) is taken: {e}; is another `dyad qemu` running?",
                board.iscsi_port,
                board.letter().to_ascii_uppercase()
            )
        })?;
        std::net::UdpSocket::bind(("127.0.0.1", board.link_port)).map_err(|e| {
            format!(
                "UDP port {} (board {}'s interlink) is taken: {e}",
                board.link_port,
                board.letter().to_ascii_uppercase()
            )
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(cmd: &Command) -> Vec<String> {
        cmd.get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn boards_are_cabled_to_each_other() {
        let a = Board::new(1, 13260, 13270);
        let b = Board::new(2, 13260, 13270);
        assert_eq!((a.iscsi_port, b.iscsi_port), (13260, 13261));
        assert_eq!((a.link_port, a.peer_link_port), (13270, 13271));
        assert_eq!((b.link_port, b.peer_link_port), (13271, 13270));
        assert_eq!(a.iscsi_mac.to_string(), "52:54:00:12:00:0a");
        assert_eq!(b.link_mac.to_string(), "52:54:00:12:01:0b");
        assert_eq!(b.name(), "qemu-b");
    }

    #[test]
    fn the_command_line_has_what_the_board_expects() {
        let dir = dyad_tests::TempDir::new("qemu-cmd").unwrap();
        let drives = [
            Drive {
                slot: 0,
                kind: DriveKind::Virtio,
                path: dir.path().join("slot-00.img"),
            },
            Drive {
                slot: 1,
                kind: DriveKind::Nvme,
                path: dir.path().join("slot-01.img"),
            },
        ];
        for d in &drives {
            ensure_drive_file(&d.path, 1 << 20).unwrap();
        }
        let options = MachineOptions {
            qemu: "qemu-system-x86_64".into(),
            accel: Accel::Tcg,
            memory: "256M".into(),
            bios: None,
            append: vec![],
        };
        let flash = dir.path().join("board-b.flash");
        ensure_drive_file(&flash, 1 << 20).unwrap();
        let mut boot = BootFiles {
            kernel: "vmlinux".into(),
            initrd: "initramfs.cpio.gz".into(),
            ..BootFiles::default()
        };
        let b = Board::new(2, 13260, 13270);
        let unflashed = args(&command(&b, &options, &boot, dir.path(), 0xabc, &drives)).join(" ");
        assert!(!unflashed.contains("FLASH"), "{unflashed}");
        assert!(!unflashed.contains("dyad.flash"), "{unflashed}");
        boot.flash = Some(flash.clone());
        let cmd = command(&b, &options, &boot, dir.path(), 0xabc, &drives);
        let line = args(&cmd).join(" ");
        for part in [
            "-accel tcg",
            "-no-reboot",
            "-kernel vmlinux",
            "console=ttyS2 panic=-1 dyad.controller=2 dyad.iscsi_mac=52:54:00:12:00:0b",
            "dyad.enclosure=0000000000000abc dyad.drives=2",
            "qemu-b.console,server=on,wait=off",
            "hostfwd=tcp:127.0.0.1:13261-10.0.2.15:3260",
            "local.port=13271,remote.type=inet,remote.host=127.0.0.1,remote.port=13270",
            "virtio-blk-pci,drive=slot0,serial=SLOT00,share-rw=on,addr=0x5",
            "nvme,drive=slot1,serial=SLOT01,share-rw=on,addr=0x6",
            "dyad.drives=2 dyad.flash=1",
            &format!("file={},if=none,id=flash,format=raw", flash.display()),
            "virtio-blk-pci,drive=flash,serial=FLASH,addr=0x7",
        ] {
            assert!(line.contains(part), "no '{part}' in {line}");
        }
        // The serial ports in order: console, defmt log, kernel console, fence line.
        let serials: Vec<String> = args(&cmd)
            .windows(2)
            .filter(|w| w[0] == "-serial")
            .map(|w| w[1].clone())
            .collect();
        assert_eq!(serials[0], "chardev:console");
        assert!(serials[1].starts_with("file:") && serials[1].ends_with("qemu-b.defmt"));
        assert_eq!(&serials[2..], ["chardev:kernel", "chardev:fence"]);
    }

    #[test]
    fn the_enclosure_keeps_its_identity() {
        let dir = dyad_tests::TempDir::new("qemu-id").unwrap();
        let id = enclosure_id(dir.path()).unwrap();
        assert_eq!(enclosure_id(dir.path()).unwrap(), id);
        let drive = dir.path().join("slot-00.img");
        ensure_drive_file(&drive, 4096).unwrap();
        ensure_drive_file(&drive, 1024).unwrap();
        assert_eq!(fs::metadata(&drive).unwrap().len(), 4096);
    }
}
