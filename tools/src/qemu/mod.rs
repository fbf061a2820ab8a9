//! `dyad qemu`: the enclosure as two QEMU machines, one per controller board.
//!
//! It prepares what the boards boot (Debian's kernel, fetched and cached under
//! `target/qemu/`, its ELF for a PVH boot, and an initramfs with the static firmware as
//! `/init`, the kernel modules and the configuration), bundles them into a signed image
//! (the development key, made on first use), flashes that image into each board's flash
//! file (`<enclosure>/board-a.flash`, `board-b.flash`) unless the flash holds it already,
//! then plays the boot ROM for each board (revert an unconfirmed trial, choose the slot,
//! verify the signature, extract the kernel and initramfs) and starts its machine with its
//! flash attached, where the firmware confirms the image after its self-test. It creates
//! the backplane's drives in the enclosure folder, keeps both machines until Ctrl-C (or
//! SIGTERM), and then stops them cleanly: Ctrl-Alt-Del to each, whose firmware stops and
//! powers off. The consoles are `dyad console qemu-a` and `qemu-b`; the host reaches board
//! A's iSCSI portal at 127.0.0.1:13260 and B's at 13261.

pub mod boot_rom;
pub mod cpio;
pub mod firmware_image;
pub mod initramfs;
pub mod kernel;
pub mod launch;
pub mod monitor;
pub mod vmlinux;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::thread;
use std::time::{Duration, Instant};

use ::image::Version;
use boot_rom::{BootRom, DirectBoot, FlashBoot};
use firmware_image::{Built, FlashOutcome};
use launch::{Accel, Board, BootFiles, Drive, DriveKind, Echo, Ending, Machine, MachineOptions};

/// The enclosure folder `dyad qemu` uses unless told otherwise.
pub const DEFAULT_ENCLOSURE: &str = "var/qemu";
/// The configuration built into the image unless `--config` says otherwise.
pub const DEFAULT_CONFIG: &str = include_str!("qemu-ctl.conf");
/// The board build of the firmware (`make firmware-defmt`).
pub const FIRMWARE_TARGET: &str = "x86_64-unknown-linux-gnu";
/// How long a machine may take to power off after Ctrl-Alt-Del.
const STOP_GRACE: Duration = Duration::from_secs(60);

#[derive(clap::Args, Debug)]
pub struct QemuArgs {
    /// The enclosure folder: the drives (slot-NN.img), the enclosure's identity, and each
    /// board's flash (board-a.flash), the kernel and initramfs its boot ROM extracted
    /// (qemu-a.boot/), console socket (qemu-a.console), logs (qemu-a.log, qemu-a.defmt) and
    /// monitor socket.
    #[arg(long, value_name = "DIR", default_value = DEFAULT_ENCLOSURE)]
    pub enclosure: PathBuf,
    /// tcg (emulation, the default) or kvm (hardware virtualisation, when it works); the
    /// ACCEL environment variable sets it too.
    #[arg(long, value_parser = ["tcg", "kvm"])]
    pub accel: Option<String>,
    /// The static firmware to boot (default: the board build, `make firmware-defmt`).
    #[arg(long, value_name = "PATH")]
    pub firmware: Option<PathBuf>,
    /// The ctl.conf to build into the image (default: one target over the two drives).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The backplane's drives, one per slot from 0: virtio or nvme each.
    #[arg(long, value_delimiter = ',', default_value = "virtio,nvme")]
    pub drives: Vec<String>,
    /// The size of a drive created new (existing drive files are kept).
    #[arg(long, default_value = "64M", value_parser = parse_size)]
    pub drive_size: u64,
    /// Memory of each machine.
    #[arg(long, default_value = "256M")]
    pub memory: String,
    /// More kernel parameters for both machines (e.g. `loglevel=7`), repeatable.
    #[arg(long, value_name = "PARAM")]
    pub append: Vec<String>,
    /// The kernel package (default: the one linux-image-amd64 depends on today).
    #[arg(long, value_name = "PACKAGE")]
    pub kernel_package: Option<String>,
    /// Where the kernel and the image are cached (default: target/qemu).
    #[arg(long, value_name = "DIR")]
    pub cache: Option<PathBuf>,
    /// Host port forwarded to board A's iSCSI port; B gets the next one.
    #[arg(long, default_value_t = 13260)]
    pub iscsi_port: u16,
    /// UDP port of board A's end of the interlink tunnel; B gets the next one.
    #[arg(long, default_value_t = 13270)]
    pub link_port: u16,
    /// Stop both machines after this many seconds (0: run until Ctrl-C).
    #[arg(long, default_value_t = 0, value_name = "SECONDS")]
    pub timeout: u64,
    /// Only prepare the kernel, the initramfs and the signed image, then exit.
    #[arg(long)]
    pub prepare_only: bool,
    /// Boot the prepared kernel and initramfs directly: no image, no flash, no signature
    /// check, nothing for the firmware to confirm (for development).
    #[arg(long)]
    pub no_flash: bool,
    /// The private key the image is signed with; the boot ROM trusts its public half
    /// (KEY.pub.pem beside it). Default: <enclosure>/keys/dyad-image.pem when there is one,
    /// else (for the default enclosure) make image's var/enclosure/keys/dyad-image.pem;
    /// made on first use. Never commit it.
    #[arg(long, value_name = "KEY.pem")]
    pub key: Option<PathBuf>,
    /// The image's version (default: the workspace's).
    #[arg(long, value_name = "X.Y.Z[+B]")]
    pub image_version: Option<Version>,
    /// The image's security counter (boards refuse images below the highest they confirmed).
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub security_counter: u32,
    /// Which boards to start: a, b or both.
    #[arg(long, value_delimiter = ',', default_value = "a,b", value_parser = ["a", "b"])]
    pub boards: Vec<String>,
    /// Print nothing of the machines' kernel consoles (they are in the logs either way;
    /// by default the firmware's lines are printed).
    #[arg(long, short, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Print all of the kernel consoles, the kernel's boot messages too.
    #[arg(long, short)]
    pub verbose: bool,
}

fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let (digits, unit) = match text.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&text[..i], c.to_ascii_uppercase()),
        _ => (text, 'B'),
    };
    let shift = match unit {
        'B' => 0,
        'K' => 10,
        'M' => 20,
        'G' => 30,
        _ => return Err(format!("size '{text}': use K, M or G")),
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("size '{text}' is not a number"))?;
    n.checked_shl(shift)
        .filter(|v| v >> shift == n && *v > 0)
        .ok_or_else(|| format!("size '{text}' is out of range"))
}

/// The enclosure folder a console name refers to: `dir` unless it is the sim's default.
pub fn enclosure_for_console(dir: &Path, sim_default: &str) -> PathBuf {
    if dir == Path::new(sim_default) {
        PathBuf::from(DEFAULT_ENCLOSURE)
    } else {
        dir.to_path_buf()
    }
}

/// The console socket of board `letter` in `enclosure`.
pub fn console_socket(enclosure: &Path, letter: char) -> PathBuf {
    launch::console_socket(enclosure, letter)
}

/// The board build of the firmware.
pub fn board_firmware() -> PathBuf {
    dyad_tests::paths::target_dir()
        .join(FIRMWARE_TARGET)
        .join("release")
        .join("dyad-firmware")
}

/// What a prepared image is made of.
#[derive(Debug)]
pub struct Prepared {
    pub kernel: kernel::Kernel,
    pub initrd: PathBuf,
    pub initrd_bytes: u64,
    pub firmware: PathBuf,
    /// Where the image cache is (`target/qemu/image`).
    pub image_dir: PathBuf,
}

/// Fetches the kernel (once) and builds the initramfs.
pub fn prepare(args: &QemuArgs) -> Result<Prepared, String> {
    let cache = args
        .cache
        .clone()
        .unwrap_or_else(|| dyad_tests::paths::target_dir().join("qemu"));
    let kernel = kernel::prepare(&cache, args.kernel_package.as_deref())?;
    let firmware = args.firmware.clone().unwrap_or_else(board_firmware);
    if !firmware.is_file() {
        return Err(format!(
            "{} not found: build the board firmware with `make firmware-defmt` (or give --firmware)",
            firmware.display()
        ));
    }
    let (config_name, config_text) = match &args.config {
        Some(path) => (
            path.display().to_string(),
            std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?,
        ),
        None => (
            "the default QEMU ctl.conf".to_string(),
            DEFAULT_CONFIG.to_string(),
        ),
    };
    config::Config::parse(&config_name, &config_text).map_err(|e| e.to_string())?;
    let image_dir = cache.join("image");
    std::fs::create_dir_all(&image_dir).map_err(|e| format!("{}: {e}", image_dir.display()))?;
    let initrd = image_dir.join("initramfs.cpio.gz");
    let initrd_bytes = initramfs::build(
        &initramfs::Inputs {
            firmware: &firmware,
            modules: &kernel.modules,
            config: &config_text,
        },
        &initrd,
    )?;
    Ok(Prepared {
        kernel,
        initrd,
        initrd_bytes,
        firmware,
        image_dir,
    })
}

/// Bundles the prepared kernel and initramfs into the signed image
/// (`target/qemu/image/dyad-qemu.img`), with the key [`firmware_image::key_path`] picks
/// (made on first use), and returns it with the boot ROM's trusted key.
pub fn build_image(
    args: &QemuArgs,
    prepared: &Prepared,
) -> Result<(Built, firmware_image::Keys), String> {
    let default_enclosure = args.enclosure == Path::new(DEFAULT_ENCLOSURE);
    let key_path =
        firmware_image::key_path(args.key.as_deref(), &args.enclosure, default_enclosure);
    let keys = firmware_image::keys(&key_path, args.key.is_none())?;
    if keys.made {
        println!(
            "dyad: made the development key {} (never commit it)",
            keys.private_path.display()
        );
    }
    let version = match args.image_version {
        Some(v) => v,
        None => env!("CARGO_PKG_VERSION")
            .parse()
            .map_err(|e| format!("the workspace version: {e}"))?,
    };
    let spec = firmware_image::Spec {
        version,
        security_counter: args.security_counter,
        elf: Some(&prepared.firmware),
        git_commit: firmware_image::git_commit(&dyad_tests::paths::workspace_root()),
    };
    let out = prepared
        .image_dir
        .join(format!("{}.img", board::qemu::IMAGE_BOARD));
    // The image carries the compressed bzImage (8 MB, not the 66 MB PVH ELF); the boot ROM
    // unpacks the ELF after verifying it.
    let built = firmware_image::build(
        &prepared.kernel.vmlinuz,
        &prepared.initrd,
        &spec,
        &keys.signing,
        &out,
    )?;
    Ok((built, keys))
}

fn file_size(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

/// Stop requests (Ctrl-C, SIGTERM, SIGHUP), noted for the main loop.
mod stop_signals {
    use std::sync::atomic::{AtomicI32, Ordering};

    static RECEIVED: AtomicI32 = AtomicI32::new(0);

    extern "C" fn note(signal: libc::c_int) {
        // Only an atomic store: async-signal-safe.
        RECEIVED.store(signal, Ordering::SeqCst);
    }

    pub fn install() {
        for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
            // SAFETY: `note` is an extern "C" fn(c_int) that only stores to an atomic;
            // signal(2) with it replaces the default disposition.
            unsafe {
                libc::signal(signal, note as *const () as libc::sighandler_t);
            }
        }
    }

    pub fn received() -> Option<i32> {
        match RECEIVED.load(Ordering::SeqCst) {
            0 => None,
            s => Some(s),
        }
    }
}

pub fn qemu(args: &QemuArgs) -> Result<ExitCode, String> {
    let prepared = prepare(args)?;
    let k = &prepared.kernel;
    println!(
        "dyad: kernel {} ({}): {} modules ({} built in: {})",
        k.release,
        k.package,
        k.modules.len(),
        k.builtin.len(),
        k.builtin.join(" ")
    );
    println!(
        "dyad: image: vmlinux {} bytes (bzImage {} bytes), initramfs {} bytes \
         (firmware {} bytes before stripping), at {}",
        file_size(&k.vmlinux),
        file_size(&k.vmlinuz),
        prepared.initrd_bytes,
        file_size(&prepared.firmware),
        prepared.initrd.display()
    );
    let image = if args.no_flash {
        None
    } else {
        let (built, keys) = build_image(args, &prepared)?;
        println!(
            "dyad: signed image {}: {}, signed with {}",
            built.path.display(),
            firmware_image::describe(&built),
            keys.private_path.display()
        );
        Some((built, keys))
    };
    if args.prepare_only {
        return Ok(ExitCode::SUCCESS);
    }

    let accel = match args
        .accel
        .clone()
        .or_else(|| std::env::var("ACCEL").ok())
        .as_deref()
    {
        None | Some("") | Some("tcg") => Accel::Tcg,
        Some("kvm") => Accel::Kvm,
        Some(other) => return Err(format!("ACCEL={other}: want tcg or kvm")),
    };
    let dir = &args.enclosure;
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let enclosure_id = launch::enclosure_id(dir)?;
    let mut drives = Vec::new();
    for (slot, kind) in args.drives.iter().enumerate() {
        let slot = slot as u32;
        let path = dir.join(format!("slot-{slot:02}.img"));
        launch::ensure_drive_file(&path, args.drive_size)?;
        drives.push(Drive {
            slot,
            kind: DriveKind::parse(kind)?,
            path,
        });
    }
    let described: Vec<String> = drives
        .iter()
        .map(|d| format!("slot {} {} ({})", d.slot, d.kind.name(), d.path.display()))
        .collect();
    println!("dyad: drives: {}", described.join(", "));
    let boards: Vec<Board> = [1, 2]
        .into_iter()
        .map(|controller| Board::new(controller, args.iscsi_port, args.link_port))
        .filter(|b| args.boards.iter().any(|l| l.starts_with(b.letter())))
        .collect();
    launch::check_ports_free(&boards)?;
    let qemu = std::env::var_os("DYAD_QEMU")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("qemu-system-x86_64"));
    let qboot = Path::new("/usr/share/qemu/qboot.rom");
    let options = MachineOptions {
        qemu,
        accel,
        memory: args.memory.clone(),
        bios: qboot.exists().then(|| qboot.to_path_buf()),
        append: args.append.clone(),
    };
    let mut followers = Vec::new();
    let rom: Box<dyn BootRom> = match &image {
        None => {
            println!("dyad: --no-flash: booting the kernel and initramfs directly (no boot ROM)");
            Box::new(DirectBoot(BootFiles {
                kernel: k.vmlinux.clone(),
                initrd: prepared.initrd.clone(),
                ..BootFiles::default()
            }))
        }
        Some((built, keys)) => {
            for board in &boards {
                let path = firmware_image::flash_path(dir, board.letter());
                match firmware_image::flash_if_new(&path, built)? {
                    FlashOutcome::Flashed(f) => println!(
                        "dyad: {}: flashed the image into slot {} of {}: pending, its next boot is a trial",
                        board.name(),
                        f.slot,
                        path.display()
                    ),
                    FlashOutcome::AlreadyThere { slot, status } => println!(
                        "dyad: {}: {} holds the image already (slot {slot}, {status}): not flashed",
                        board.name(),
                        path.display()
                    ),
                }
            }
            Box::new(FlashBoot {
                enclosure: dir.clone(),
                key: keys.trusted.clone(),
                board_name: board::qemu::IMAGE_BOARD.to_string(),
            })
        }
    };

    stop_signals::install();
    let mut machines: Vec<Machine> = Vec::new();
    for board in &boards {
        let boot = match rom.boot(board) {
            Ok(boot) => {
                for line in &boot.log {
                    println!("dyad: {}: boot ROM: {line}", board.name());
                }
                boot
            }
            Err(e) => {
                for m in &mut machines {
                    m.kill();
                }
                return Err(format!("{}: the boot ROM refuses: {e}", board.name()));
            }
        };
        let cmd = launch::command(board, &options, &boot, dir, enclosure_id, &drives);
        let echo = if args.quiet {
            Echo::None
        } else if args.verbose {
            Echo::All
        } else {
            Echo::Firmware
        };
        match Machine::start(board, cmd, dir, echo) {
            Ok(machine) => {
                println!(
                    "dyad: {}: QEMU started (pid {}): console `dyad console {}`, iSCSI \
                     iscsi://127.0.0.1:{}, kernel log {}",
                    board.name(),
                    machine.pid(),
                    board.name(),
                    board.iscsi_port,
                    launch::log_path(dir, board.letter()).display()
                );
                machines.push(machine);
                // The defmt log, decoded as it comes (not with --quiet: the tests decode
                // the capture themselves).
                if !args.quiet {
                    followers.extend(crate::defmt_log::follow(
                        &launch::defmt_path(dir, board.letter()),
                        &prepared.firmware,
                        &format!("dyad: {}: log: ", board.name()),
                        false,
                    ));
                }
            }
            Err(e) => {
                for m in &mut machines {
                    m.kill();
                }
                return Err(e);
            }
        }
    }
    let letters: Vec<char> = boards.iter().map(Board::letter).collect();
    launch::serve_fence_lines(dir, &letters);

    let started = Instant::now();
    let limit = (args.timeout > 0).then(|| Duration::from_secs(args.timeout));
    let mut announced = vec![false; machines.len()];
    let mut announced_image = vec![false; machines.len()];
    let mut timed_out = false;
    loop {
        if let Some(signal) = stop_signals::received() {
            println!("dyad: signal {signal}: stopping both machines");
            break;
        }
        if limit.is_some_and(|l| started.elapsed() >= l) {
            println!("dyad: {} s are up: stopping both machines", args.timeout);
            timed_out = true;
            break;
        }
        for (i, m) in machines.iter_mut().enumerate() {
            let ready = m.facts().ready;
            if let (false, Some(at)) = (announced[i], ready) {
                announced[i] = true;
                println!(
                    "dyad: {}: controller ready {:.3} s after QEMU started",
                    m.board.name(),
                    at.as_secs_f64()
                );
            }
            if let (false, Some((at, line))) = (announced_image[i], m.facts().image) {
                announced_image[i] = true;
                println!(
                    "dyad: {}: firmware: {line} ({:.3} s after QEMU started)",
                    m.board.name(),
                    at.as_secs_f64()
                );
            }
            if m.exit.is_none() {
                if let Some(status) = m.poll() {
                    let panicked = if m.facts().panicked {
                        ", kernel panic"
                    } else {
                        ""
                    };
                    println!(
                        "dyad: {}: the machine stopped by itself after {:.3} s ({status}{panicked})",
                        m.board.name(),
                        m.run_time().as_secs_f64(),
                    );
                }
            }
        }
        if machines.iter().all(|m| m.exit.is_some()) {
            break;
        }
        thread::sleep(Duration::from_millis(50));
    }

    // Ctrl-Alt-Del to every machine still up, then wait for each to power off.
    let mut clean = !timed_out;
    let running: Vec<bool> = machines.iter().map(|m| m.exit.is_none()).collect();
    let requested = Instant::now();
    for (m, up) in machines.iter().zip(&running) {
        if *up {
            if let Err(e) = m.request_stop() {
                println!("dyad: {}: Ctrl-Alt-Del failed: {e}", m.board.name());
            }
        }
    }
    for (m, up) in machines.iter_mut().zip(&running) {
        let ending = m.finish(STOP_GRACE);
        let after = m
            .exited_at
            .map_or(Duration::ZERO, |at| at.saturating_duration_since(requested));
        match (&ending, up) {
            (Ending::PoweredOff, true) => println!(
                "dyad: {}: powered off cleanly {:.3} s after Ctrl-Alt-Del (up {:.1} s)",
                m.board.name(),
                after.as_secs_f64(),
                m.run_time().as_secs_f64()
            ),
            (Ending::PoweredOff, false) => {
                clean = false;
                println!("dyad: {}: had powered off by itself", m.board.name())
            }
            (Ending::Unclean(why), _) => {
                clean = false;
                println!("dyad: {}: {why}", m.board.name());
            }
        }
    }
    Ok(if clean {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("64M"), Ok(64 << 20));
        assert_eq!(parse_size("1g"), Ok(1 << 30));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert!(parse_size("0").is_err());
        assert!(parse_size("1T").is_err());
        assert!(parse_size("x").is_err());
    }

    #[test]
    fn the_default_configuration_parses() {
        config::Config::parse("qemu-ctl.conf", DEFAULT_CONFIG).unwrap();
    }
}
