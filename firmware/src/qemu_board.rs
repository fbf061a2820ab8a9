//! The firmware on the qemu board: PID 1 of a QEMU machine (see `board::qemu`).
//!
//! Before the controller starts, [`start`] brings the machine up (file systems, modules,
//! NICs, drives) and points the options at it: the enclosure folder is a tmpfs in which each
//! backplane slot is a link to its drive's block device, the configuration is the one the
//! image carries, the log goes to the log port. While it runs, [`serve_console`] serves the
//! console on the first serial port and, the controller being up (the self-test so far),
//! [`confirm_image`] confirms the image the board booted in its flash. When it stops
//! (Ctrl-Alt-Del from the launcher arrives as SIGINT), [`power_off`] flushes and powers the
//! machine off, which ends the QEMU process.
//! A failed bring-up and a panic power off too: PID 1 must never just exit.

use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::OnceLock;

use board::qemu::init::{self, note};
use board::qemu::machine::{self, Machine};
use board::qemu::serial::SerialPort;
use embedded_io_adapters::tokio_1::FromTokio;
use scsi::nexus::NexusId;

use crate::configuration::live::LiveConfiguration;
use crate::console::executor::ControllerConsole;
use crate::console::socket::controller_letter;
use crate::options::Options;

/// The machine, once brought up.
static MACHINE: OnceLock<Machine> = OnceLock::new();

/// Whether the firmware runs on the qemu board: `--board qemu`, or, without `--board`, when
/// the kernel started it as the machine's init (PID 1, called `/init`; a container's PID 1
/// has another name).
pub fn wanted(options: &Options) -> bool {
    match options.board.as_deref() {
        Some(board) => board == "qemu",
        None => {
            machine::is_init()
                && std::env::args_os().next().as_deref() == Some(std::ffi::OsStr::new("/init"))
        }
    }
}

/// Brings the machine up and sets `options` for it. Powers the machine off, saying why,
/// if that fails.
pub fn start(options: &mut Options) {
    let machine = match machine::bring_up() {
        Ok(machine) => machine,
        Err(e) => {
            note(&format!("bring-up failed: {e}"));
            init::power_off();
        }
    };
    if let Err(e) = prepare(&machine, options) {
        note(&format!("bring-up failed: {e}"));
        init::power_off();
    }
    note(&format!(
        "starting controller {} from {}",
        machine.params.letter().to_ascii_uppercase(),
        options
            .config
            .as_deref()
            .map_or("the command line".into(), |c| c.display().to_string())
    ));
    let _ = MACHINE.set(machine);
}

/// Points the controller at the machine: its id, the enclosure folder with the slot links
/// and the enclosure's identity, the image's configuration, the log port.
fn prepare(machine: &Machine, options: &mut Options) -> Result<(), String> {
    options.controller = machine.params.controller;
    let dir = PathBuf::from(board::qemu::ENCLOSURE_DIR);
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    // Both boards derive LUN designators from the enclosure's identity: the launcher gives
    // them the same one (the sim board keeps it in this file).
    if let Some(id) = machine.params.enclosure_id {
        let path = dir.join("enclosure.id");
        std::fs::write(&path, format!("{id:016x}\n"))
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    let enclosure = board::sim::Enclosure::open(&dir).map_err(|e| format!("enclosure: {e}"))?;
    for drive in &machine.drives {
        let link = enclosure.slot_path(drive.slot);
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(&drive.path, &link)
            .map_err(|e| format!("{} -> {}: {e}", link.display(), drive.path.display()))?;
        // The drive's identity as both boards see it: derived from what the drive reports
        // (its serial) and the enclosure, never random, so the two controllers agree.
        let record = board::sim::DriveRecord::fresh(
            match drive.kind {
                board::qemu::drives::DriveKind::Nvme => hal::backplane::Transport::Nvme,
                board::qemu::drives::DriveKind::Virtio => hal::backplane::Transport::Sas,
            },
            identity_bytes(enclosure.id(), &drive.serial),
        );
        let sidecar = enclosure.sidecar_path(drive.slot);
        std::fs::write(&sidecar, record.to_text())
            .map_err(|e| format!("{}: {e}", sidecar.display()))?;
    }
    options.enclosure = dir;
    let config = Path::new(board::qemu::CONFIG_PATH);
    if options.config.is_none() && config.exists() {
        options.config = Some(config.to_path_buf());
    }
    if options.log_port.is_none() {
        options.log_port = machine.log_port();
    }
    Ok(())
}

/// 16 bytes that name a drive: CRC-32C of the enclosure id and the drive's serial, four
/// times with a different salt.
fn identity_bytes(enclosure: u64, serial: &str) -> [u8; 16] {
    let mut out = [0u8; 16];
    for (salt, chunk) in out.chunks_exact_mut(4).enumerate() {
        let text = format!("{salt}:{enclosure:016x}:{serial}");
        chunk.copy_from_slice(&crc32c::crc32c(text.as_bytes()).to_be_bytes());
    }
    out
}

/// Serves the console on the first serial port, one session after another (like a getty:
/// `quit` ends a session and the next one starts with the banner), then confirms the
/// image the board booted ([`confirm_image`]). Does nothing off the qemu board.
pub fn serve_console(live: &Rc<LiveConfiguration>, nexus: NexusId) {
    let Some(machine) = MACHINE.get() else {
        return;
    };
    let live = live.clone();
    tokio::task::spawn_local(async move {
        let path = Path::new(board::qemu::CONSOLE_PORT);
        let port = match SerialPort::open(path) {
            Ok(port) => port,
            Err(e) => {
                note(&format!("console port {}: {e}", path.display()));
                return;
            }
        };
        let letter = controller_letter(live.controller());
        let prompt = format!("dyad-{letter}> ");
        let banner = format!(
            "dyad controller {} console; 'help' lists the commands, 'quit' leaves",
            letter.to_ascii_uppercase()
        );
        loop {
            let mut input = FromTokio::new(port.try_clone());
            let mut output = FromTokio::new(port.try_clone());
            let mut executor = ControllerConsole::new(live.clone(), nexus);
            // The slots are linked to the machine's drives in the enclosure folder.
            if let Ok(enclosure) =
                board::sim::Enclosure::open(Path::new(board::qemu::ENCLOSURE_DIR))
            {
                executor = executor.with_enclosure(enclosure);
            }
            if let Err(e) =
                ::console::shell::run(&mut input, &mut output, &mut executor, &prompt, &banner)
                    .await
            {
                note(&format!("console port: {e}"));
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
        }
    });
    // Spawned after the console, and run once `run` waits for its stop signal: by then the
    // configuration is applied, the listeners are bound, the console port is open and the
    // ready line is out.
    let flash = machine.flash.as_ref().map(|d| d.path.clone());
    tokio::task::spawn_local(async move {
        let Some(path) = flash else {
            note("image not confirmed: the machine has no board flash (started without the boot ROM)");
            return;
        };
        let line = match tokio::task::spawn_blocking(move || confirm_image(&path)).await {
            Ok(line) => line,
            Err(e) => format!("image not confirmed: {e}"),
        };
        note(&line);
        crate::log::notice(&line);
    });
}

/// The firmware's side of the trial boot: once its self-test has passed (for now: the
/// controller is up; with HA, also having met its peer), it confirms the image it booted,
/// so the boot ROM keeps booting it instead of reverting it at the next boot. Returns the
/// line to log (see [`board::qemu::IMAGE_LINE`]). The flash is a block device: the boot
/// state is written and synced (a flush QEMU passes on to the host's flash file) before
/// this returns.
fn confirm_image(path: &Path) -> String {
    let result = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| format!("{}: {e}", path.display()))
        .and_then(|file| {
            ::image::BoardFlash::open(file, ::image::Layout::BOARD)
                .and_then(|mut flash| flash.confirm())
                .map_err(|e| format!("{}: {e}", path.display()))
        });
    match result {
        Ok(c) if c.newly => format!(
            "image confirmed: slot {}, version {}, board security counter {}",
            c.slot, c.version, c.security_counter
        ),
        Ok(c) => format!(
            "image already confirmed: slot {}, version {}",
            c.slot, c.version
        ),
        Err(why) => format!("image not confirmed: {why}"),
    }
}

/// Flushes everything and powers the machine off; never returns.
pub fn power_off() -> ! {
    init::power_off()
}
