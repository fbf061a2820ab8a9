//! The QEMU acceptance tests (issue 6): both controller boards as QEMU machines (`dyad qemu`:
//! Debian's kernel, the static board firmware as PID 1), booted from a signed image flashed
//! into each board's flash file by the launcher playing the boot ROM, driven from the host as
//! a person would: through their serial consoles, with libiscsi over the forwarded iSCSI
//! ports, and with the launcher's clean stop (Ctrl-Alt-Del, the firmware powers off).
//!
//! The first checks that the boot ROM boots each board's freshly flashed image on trial and
//! the firmware confirms it (the flash shows it confirmed afterwards), that both boards come
//! up to their console prompt, see the same backplane drives with the same identities, that
//! data written through one board is read back fresh through the other (the drives are
//! opened O_DIRECT: neither board may serve what it cached before the other wrote), that the
//! interlink cable carries frames both ways, that the defmt log port decodes, and that both
//! machines power off cleanly. It prints the time from QEMU's start to the first iSCSI login
//! and the image's sizes.
//!
//! The second is the revert: board A alone, confirmed on v1, is flashed with a v2 whose
//! firmware exits before confirming (its ctl.conf does not parse, so it refuses to start and
//! powers off); the boot ROM boots v2 on trial, and at the next boot reverts it and boots v1,
//! which comes back to its console prompt.
//!
//! The two run one after the other (a lock), each with its own key in its temporary folder.
//!
//! Needs qemu-system-x86_64 (`make deps`), the board firmware (`make firmware-defmt`), the
//! release `dyad` tool and `make initiator`; the kernel is fetched and cached by `dyad qemu`.
//! Host ports 13260/13261 (iSCSI) and UDP 13270/13271 (interlink) must be free, and 13262
//! and UDP 13272 for the revert.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use dyad_tests::initiator::{iscsi_inq, pattern_verify, pattern_write};
use dyad_tests::{child, paths, ConsoleClient, TempDir};

const TARGET: &str = "iqn.2026-11.dev.dyad:qemu";
/// Each machine's boot, generously: two TCG machines on a shared 2-core host.
const BOOT_TIMEOUT: Duration = Duration::from_secs(120);
/// The launcher's own guard: it stops both machines after this long whatever happens.
const LAUNCHER_LIMIT_SECONDS: u64 = 170;
/// How long the clean stop may take.
const STOP_TIMEOUT: Duration = Duration::from_secs(90);
/// The BOARD of the qemu board's images.
const IMAGE_BOARD: &str = "dyad-qemu";

/// One QEMU test at a time: they share the host's CPUs and the launcher's image cache.
fn one_at_a_time() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

fn board_firmware() -> PathBuf {
    std::env::var_os("DYAD_QEMU_FIRMWARE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            paths::target_dir()
                .join("x86_64-unknown-linux-gnu")
                .join("release")
                .join("dyad-firmware")
        })
}

fn dyad_tool() -> PathBuf {
    paths::target_dir().join("release").join("dyad")
}

fn have_qemu() -> bool {
    Command::new("qemu-system-x86_64")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// `dyad qemu` as a child: its output lines with the moment each arrived; stopped with
/// SIGTERM (the clean stop) or killed on drop (its machines die with it).
struct Launcher {
    child: Child,
    lines: Arc<Mutex<Vec<(Instant, String)>>>,
}

impl Launcher {
    fn start(enclosure: &Path, firmware: &Path, extra: &[&str]) -> Launcher {
        let mut child = Command::new(dyad_tool())
            .arg("qemu")
            .arg("--enclosure")
            .arg(enclosure)
            .arg("--firmware")
            .arg(firmware)
            .arg("--timeout")
            .arg(LAUNCHER_LIMIT_SECONDS.to_string())
            .arg("--quiet")
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start dyad qemu");
        let lines: Arc<Mutex<Vec<(Instant, String)>>> = Arc::default();
        for pipe in [
            Box::new(child.stdout.take().expect("stdout")) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().expect("stderr")),
        ] {
            let lines = lines.clone();
            thread::spawn(move || {
                for line in BufReader::new(pipe).lines() {
                    let Ok(line) = line else { break };
                    println!("  | {line}");
                    lines.lock().unwrap().push((Instant::now(), line));
                }
            });
        }
        Launcher { child, lines }
    }

    /// When the first line containing `text` came, waiting up to `timeout` for it.
    fn wait_for(&mut self, text: &str, timeout: Duration) -> Instant {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some((at, _)) = self
                .lines
                .lock()
                .unwrap()
                .iter()
                .find(|(_, l)| l.contains(text))
            {
                return *at;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                thread::sleep(Duration::from_millis(200));
                panic!(
                    "dyad qemu ended ({status}) before printing '{text}':\n{}",
                    self.output()
                );
            }
            assert!(
                Instant::now() < deadline,
                "no '{text}' from dyad qemu within {timeout:?}:\n{}",
                self.output()
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    fn output(&self) -> String {
        let lines = self.lines.lock().unwrap();
        lines.iter().map(|(_, l)| format!("{l}\n")).collect()
    }

    /// The first line containing `text`, waiting up to `timeout` for it.
    fn line(&mut self, text: &str, timeout: Duration) -> String {
        self.wait_for(text, timeout);
        let lines = self.lines.lock().unwrap();
        let found = lines.iter().find(|(_, l)| l.contains(text));
        found.map(|(_, l)| l.clone()).unwrap_or_default()
    }

    /// Waits for the launcher to end by itself.
    fn wait_end(&mut self, timeout: Duration) -> ExitStatus {
        let status = child::wait_timeout(&mut self.child, timeout)
            .expect("wait")
            .unwrap_or_else(|| {
                panic!("dyad qemu still runs after {timeout:?}:\n{}", self.output())
            });
        // The readers finish the last lines.
        thread::sleep(Duration::from_millis(200));
        status
    }

    /// The clean stop (SIGTERM: Ctrl-Alt-Del to the machines); how long it took.
    fn stop(&mut self) -> Duration {
        let stop = Instant::now();
        child::signal(self.child.id(), libc::SIGTERM).expect("SIGTERM to dyad qemu");
        let status = self.wait_end(STOP_TIMEOUT);
        let took = stop.elapsed();
        assert!(status.success(), "dyad qemu: {status}\n{}", self.output());
        took
    }
}

/// A fresh signing key in `dir/keys`, where `dyad qemu --enclosure dir` finds it.
fn make_key(dir: &Path) -> PathBuf {
    let keys = dir.join("keys");
    let out = child::run_with_timeout(
        Command::new(dyad_tool())
            .args(["image", "keygen", "--out"])
            .arg(&keys),
        Duration::from_secs(30),
    )
    .expect("dyad image keygen");
    assert!(out.success(), "dyad image keygen: {}", out.combined());
    keys.join("dyad-image.pem")
}

/// `dyad image ARGS...`, which must succeed; its output.
fn dyad_image(args: &[&std::ffi::OsStr]) -> String {
    let out = child::run_with_timeout(
        Command::new(dyad_tool()).arg("image").args(args),
        Duration::from_secs(120),
    )
    .expect("dyad image");
    assert!(out.success(), "dyad image {args:?}: {}", out.combined());
    out.stdout
}

/// `dyad image status` of a flash file.
fn flash_status(flash: &Path) -> String {
    dyad_image(&["status".as_ref(), "--flash".as_ref(), flash.as_os_str()])
}

/// The status line of `slot` (`slot A: offset ...: confirmed`).
fn slot_line(status: &str, slot: char) -> String {
    status
        .lines()
        .find(|l| l.starts_with(&format!("slot {slot}:")))
        .unwrap_or_default()
        .to_string()
}

/// The launcher's cache: the kernel (the bzImage the image carries, and the PVH vmlinux
/// unpacked from it) and the initramfs it built, and the signed image.
fn cached_kernel(name: &str) -> PathBuf {
    let cache = paths::target_dir().join("qemu");
    std::fs::read_dir(cache.join("kernel"))
        .ok()
        .and_then(|d| {
            d.flatten()
                .map(|e| e.path().join(name))
                .find(|p| p.exists())
        })
        .unwrap_or_default()
}

fn cached_image(name: &str) -> PathBuf {
    paths::target_dir().join("qemu").join("image").join(name)
}

/// One file in a "newc" cpio archive (ended by its trailer), as the kernel unpacks an
/// initramfs: appended to an initramfs, its file replaces the one of the same name.
fn cpio_with_file(name: &str, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut entry = |ino: u32, mode: u32, name: &str, data: &[u8]| {
        out.extend_from_slice(b"070701");
        for field in [
            ino,
            mode,
            0,
            0,
            1,
            0,
            data.len() as u32,
            0,
            0,
            0,
            0,
            name.len() as u32 + 1,
            0,
        ] {
            out.extend_from_slice(format!("{field:08x}").as_bytes());
        }
        out.extend_from_slice(name.as_bytes());
        out.push(0);
        out.resize(out.len().next_multiple_of(4), 0);
        out.extend_from_slice(data);
        out.resize(out.len().next_multiple_of(4), 0);
    };
    entry(1, 0o100644, name, data);
    entry(0, 0, "TRAILER!!!", &[]);
    out
}

impl Drop for Launcher {
    fn drop(&mut self) {
        let _ = child::terminate(&mut self.child, STOP_TIMEOUT);
    }
}

/// The LUN lines of `devlist -v` that name a drive's identity (serial, device id, NAA,
/// EUI), in order.
fn identities(devlist: &str) -> Vec<String> {
    devlist
        .lines()
        .filter(|l| {
            let t = l.trim_start();
            t.starts_with("naa=")
                || t.starts_with("eui=")
                || t.starts_with("path=")
                || t.split_whitespace()
                    .next()
                    .is_some_and(|w| w.parse::<u32>().is_ok())
        })
        .map(|l| l.trim().to_string())
        .collect()
}

fn url(port: u16, lun: u32) -> String {
    format!("iscsi://127.0.0.1:{port}/{TARGET}/{lun}")
}

fn file_size(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

/// QEMU, the board firmware and the `dyad` tool, each named with how to get it; the
/// firmware's path.
fn prerequisites() -> PathBuf {
    assert!(
        have_qemu(),
        "qemu-system-x86_64 is not installed: `make deps` installs qemu-system-x86"
    );
    let firmware = board_firmware();
    paths::require_file(
        &firmware,
        "build the board firmware with `make firmware-defmt`",
    )
    .expect("board firmware");
    paths::require_file(
        &dyad_tool(),
        "build it with `cargo build --release -p tools`",
    )
    .expect("dyad tool");
    firmware
}

#[test]
fn two_qemu_boards_boot_and_serve_the_shared_drives() {
    let firmware = prerequisites();
    paths::require_file(&paths::pattern_binary(), "build it with `make initiator`")
        .expect("iscsi-pattern");
    let _one = one_at_a_time();
    let test_started = Instant::now();
    let dir = TempDir::new("qemu").expect("enclosure folder");
    let enclosure = dir.path();
    make_key(enclosure);

    let launched = Instant::now();
    let mut launcher = Launcher::start(enclosure, &firmware, &[]);
    let started_a = launcher.wait_for("dyad: qemu-a: QEMU started", Duration::from_secs(300));
    let started_b = launcher.wait_for("dyad: qemu-b: QEMU started", Duration::from_secs(10));
    // The boot ROM booted each board's freshly flashed image on trial.
    for board in ["qemu-a", "qemu-b"] {
        let booting = launcher.line(
            &format!("dyad: {board}: boot ROM: booting slot"),
            Duration::ZERO,
        );
        assert!(
            booting.contains("booting slot A") && booting.contains("on trial"),
            "{board}: {booting}\n{}",
            launcher.output()
        );
    }

    // The consoles, connected while the machines boot: the banner and the first prompt
    // come once the firmware is up.
    let connect = |letter: char| {
        let socket = enclosure.join(format!("qemu-{letter}.console"));
        thread::spawn(move || {
            let client = ConsoleClient::connect(&socket, BOOT_TIMEOUT);
            (client, Instant::now())
        })
    };
    let (console_a, console_b) = (connect('a'), connect('b'));
    let (console_a, prompt_a) = console_a.join().unwrap();
    let (console_b, prompt_b) = console_b.join().unwrap();
    let mut console_a =
        console_a.unwrap_or_else(|e| panic!("console A: {e}\n{}", launcher.output()));
    let mut console_b =
        console_b.unwrap_or_else(|e| panic!("console B: {e}\n{}", launcher.output()));
    assert_eq!(console_a.prompt(), "dyad-a> ");
    assert_eq!(console_b.prompt(), "dyad-b> ");
    assert!(
        console_a.banner().contains("controller A"),
        "{}",
        console_a.banner()
    );

    // Both boards see the same drives with the same identities.
    let devlist_a = console_a.run("devlist -v").expect("devlist on A");
    let devlist_b = console_b.run("devlist -v").expect("devlist on B");
    assert!(devlist_a.ok, "{}", devlist_a.output);
    assert!(devlist_b.ok, "{}", devlist_b.output);
    println!("board A devlist -v:\n{}", devlist_a.output);
    let ids_a = identities(&devlist_a.output);
    assert!(
        ids_a.iter().any(|l| l == "path=slot:0"),
        "{}",
        devlist_a.output
    );
    assert!(
        ids_a.iter().any(|l| l == "path=slot:1"),
        "{}",
        devlist_a.output
    );
    assert_eq!(
        ids_a,
        identities(&devlist_b.output),
        "A and B disagree on the drives"
    );
    // The backplane as each board sees it: the same drives, with the same identities, in
    // the same slots (both derive them from what the drive reports and the enclosure).
    let mut tables = Vec::new();
    for (name, console) in [("A", &mut console_a), ("B", &mut console_b)] {
        let slots = console.run("slot list").expect("slot list");
        println!("board {name} slot list:\n{}", slots.output);
        assert!(
            slots.ok,
            "board {name}: slot list refused: {}",
            slots.output
        );
        let present: Vec<String> = slots
            .output
            .lines()
            .filter(|l| l.contains(" present "))
            .map(|l| {
                // Slot, transport, presence, designator, serial: not the LEDs or the LUN.
                l.split_whitespace().take(5).collect::<Vec<_>>().join(" ")
            })
            .collect();
        assert!(
            !present.is_empty(),
            "board {name} sees no drive: {}",
            slots.output
        );
        tables.push(present);
    }
    assert_eq!(
        tables[0], tables[1],
        "the boards disagree about the backplane"
    );

    // iSCSI from the host: discovery, then the first full login. (Discovery announces the
    // machine's own portal, 10.0.2.15:3260, which only the forwarded port reaches: so no
    // `iscsi-ls -s`, which would log in there to list the LUNs.)
    let discovery = child::run_with_timeout(
        Command::new("iscsi-ls").arg("iscsi://127.0.0.1:13260"),
        Duration::from_secs(60),
    )
    .expect("iscsi-ls");
    assert!(
        discovery.success() && discovery.stdout.contains(TARGET),
        "discovery through board A: {}",
        discovery.combined()
    );
    let login_deadline = Instant::now() + BOOT_TIMEOUT;
    let logged_in = loop {
        let inq = iscsi_inq(&url(13260, 0), None).expect("iscsi-inq");
        if inq.success() {
            break Instant::now();
        }
        assert!(
            Instant::now() < login_deadline,
            "no login to board A: {}",
            inq.combined()
        );
        thread::sleep(Duration::from_millis(200));
    };

    // Data through one board, read back through the other, on each drive (virtio-blk on
    // LUN 0, NVMe on LUN 1). B reads the range first: a board that kept its own page cache
    // of the drive would answer the second read from it, stale.
    for lun in [0u32, 1] {
        let (a, b) = (url(13260, lun), url(13261, lun));
        let seed = 6000 + u64::from(lun);
        let before = pattern_verify(&b, 2048, 64, seed).expect("read on B");
        assert_eq!(
            before.status.and_then(|s| s.code()),
            Some(1),
            "LUN {lun} before the write: {}",
            before.combined()
        );
        let wrote = pattern_write(&a, 2048, 64, seed).expect("write on A");
        assert!(
            wrote.success(),
            "LUN {lun} write through A: {}",
            wrote.combined()
        );
        let fresh = pattern_verify(&b, 2048, 64, seed).expect("read on B");
        assert!(
            fresh.success(),
            "LUN {lun}: B does not read what A wrote: {}",
            fresh.combined()
        );
        let wrote = pattern_write(&b, 8192, 128, seed + 10).expect("write on B");
        assert!(
            wrote.success(),
            "LUN {lun} write through B: {}",
            wrote.combined()
        );
        let back = pattern_verify(&a, 8192, 128, seed + 10).expect("read on A");
        assert!(
            back.success(),
            "LUN {lun}: A does not read what B wrote: {}",
            back.combined()
        );
        // The same unit serial number through either board.
        let serial_a = iscsi_inq(&a, Some(0x80)).expect("inquiry on A");
        let serial_b = iscsi_inq(&b, Some(0x80)).expect("inquiry on B");
        assert!(serial_a.success(), "{}", serial_a.combined());
        assert_eq!(
            serial_a.stdout, serial_b.stdout,
            "LUN {lun}'s serial differs between boards"
        );
    }
    let inquiry_b = console_b
        .run("inquiry -l 1")
        .expect("inquiry on B's console");
    println!("board B inquiry -l 1:\n{}", inquiry_b.output);

    // Each firmware confirmed its image once it was up.
    for board in ["qemu-a", "qemu-b"] {
        let confirmed = launcher.line(&format!("dyad: {board}: firmware: image "), BOOT_TIMEOUT);
        assert!(
            confirmed.contains("image confirmed: slot A"),
            "{board}: {confirmed}"
        );
    }

    // The clean stop: Ctrl-Alt-Del to both, each firmware stops and powers off.
    drop(console_a);
    drop(console_b);
    let stopped_in = launcher.stop();
    let qemu_time = launched.elapsed();
    let output = launcher.output();
    for board in ["qemu-a", "qemu-b"] {
        assert!(
            output.contains(&format!("dyad: {board}: powered off cleanly")),
            "{board} did not power off cleanly:\n{output}"
        );
    }
    // The flash shows the image confirmed: it boots as it is from now on.
    for letter in ['a', 'b'] {
        let status = flash_status(&enclosure.join(format!("board-{letter}.flash")));
        println!("board {letter}'s flash:\n{status}");
        assert!(
            slot_line(&status, 'A').ends_with(": confirmed") && status.contains("booted: slot A"),
            "board {letter}: {status}"
        );
        assert!(slot_line(&status, 'B').ends_with(": empty"), "{status}");
    }

    // What the kernel consoles recorded: the interlink cable checked both ways.
    for letter in ['a', 'b'] {
        let log = std::fs::read_to_string(enclosure.join(format!("qemu-{letter}.log"))).unwrap();
        assert!(
            log.contains("interlink: cable checked both ways"),
            "qemu-{letter}'s interlink:\n{log}"
        );
        assert!(log.contains("dyad: powering off"), "qemu-{letter}:\n{log}");
    }
    // The data is on the shared drive files.
    let drive = std::fs::read(enclosure.join("slot-00.img")).unwrap();
    assert!(
        drive[2048 * 512..2112 * 512].iter().any(|&b| b != 0),
        "slot 0 holds no data where A wrote"
    );

    // The defmt log port, decoded against the firmware's ELF.
    let decoded = Command::new("defmt-print")
        .arg("-e")
        .arg(&firmware)
        .stdin(std::fs::File::open(enclosure.join("qemu-a.defmt")).expect("qemu-a.defmt"))
        .output()
        .expect("run defmt-print (installed by `make deps`)");
    let log = String::from_utf8_lossy(&decoded.stdout);
    println!("board A's defmt log:\n{log}");
    for line in ["INFO  controller 1 ready", "INFO  stopping"] {
        assert!(
            log.contains(line),
            "board A's defmt log lacks '{line}':\n{log}"
        );
    }

    let bzimage = cached_kernel("vmlinuz");
    let vmlinux = cached_kernel("vmlinux");
    let initramfs = cached_image("initramfs.cpio.gz");
    println!(
        "QEMU start to console prompt: A {:.2} s, B {:.2} s",
        prompt_a.duration_since(started_a).as_secs_f64(),
        prompt_b.duration_since(started_b).as_secs_f64()
    );
    println!(
        "QEMU start to first iSCSI login: {:.2} s",
        logged_in.duration_since(started_a).as_secs_f64()
    );
    println!(
        "clean stop of both machines: {:.2} s",
        stopped_in.as_secs_f64()
    );
    println!(
        "image: kernel bzImage {} bytes (PVH vmlinux {} bytes, unpacked by the boot ROM), \
         initramfs {} bytes (firmware {} bytes unstripped); signed image {} bytes",
        file_size(&bzimage),
        file_size(&vmlinux),
        file_size(&initramfs),
        file_size(&firmware),
        file_size(&cached_image("dyad-qemu.img"))
    );
    println!(
        "dyad qemu from start to both machines powered off: {:.2} s; the whole test {:.2} s",
        qemu_time.as_secs_f64(),
        test_started.elapsed().as_secs_f64()
    );
}

#[test]
fn a_broken_image_is_reverted_and_the_board_comes_back_on_the_previous_one() {
    let firmware = prerequisites();
    let _one = one_at_a_time();
    let test_started = Instant::now();
    let dir = TempDir::new("qemu-revert").expect("enclosure folder");
    let enclosure = dir.path();
    let key = make_key(enclosure);
    let flash = enclosure.join("board-a.flash");
    // Board A alone, on ports of its own.
    let only_a = [
        "--boards",
        "a",
        "--iscsi-port",
        "13262",
        "--link-port",
        "13272",
    ];
    let mut qemu_time = Duration::ZERO;

    // v1: flashed, booted on trial, confirmed by the firmware.
    let launched = Instant::now();
    let mut launcher = Launcher::start(enclosure, &firmware, &only_a);
    let flashed = launcher.line(
        "dyad: qemu-a: flashed the image into slot A",
        Duration::from_secs(300),
    );
    println!("v1: {flashed}");
    let booting = launcher.line(
        "dyad: qemu-a: boot ROM: booting slot",
        Duration::from_secs(60),
    );
    assert!(
        booting.contains("booting slot A") && booting.contains("on trial"),
        "{booting}"
    );
    let v1 = booting
        .split("version ")
        .nth(1)
        .and_then(|v| v.split(',').next())
        .expect("v1's version")
        .to_string();
    let confirmed = launcher.line("dyad: qemu-a: firmware: image ", BOOT_TIMEOUT);
    assert!(confirmed.contains("image confirmed: slot A"), "{confirmed}");
    launcher.stop();
    qemu_time += launched.elapsed();
    drop(launcher);
    let status = flash_status(&flash);
    assert!(slot_line(&status, 'A').ends_with(": confirmed"), "{status}");

    // v2: the same kernel, an initramfs whose ctl.conf does not parse (appended to v1's
    // initramfs, whose own ctl.conf it replaces): its firmware refuses to start and powers
    // off without confirming.
    let mut initramfs = std::fs::read(cached_image("initramfs.cpio.gz")).expect("the initramfs");
    initramfs.resize(initramfs.len().next_multiple_of(4), 0);
    initramfs.extend_from_slice(&cpio_with_file(
        "etc/ctl.conf",
        b"# v2: deliberately broken\nthis is { not a ctl.conf\n",
    ));
    let broken = enclosure.join("broken-initramfs");
    std::fs::write(&broken, &initramfs).unwrap();
    let v2_image = enclosure.join("v2.img");
    let v2 = format!("{v1}+1");
    let built = dyad_image(&[
        "build".as_ref(),
        "--kernel".as_ref(),
        cached_kernel("vmlinuz").as_os_str(),
        "--initramfs".as_ref(),
        broken.as_os_str(),
        "--version".as_ref(),
        v2.as_ref(),
        "--security-counter".as_ref(),
        "1".as_ref(),
        "--board".as_ref(),
        IMAGE_BOARD.as_ref(),
        "--key".as_ref(),
        key.as_os_str(),
        "--out".as_ref(),
        v2_image.as_os_str(),
    ]);
    println!("v2 (broken): {}", built.trim());
    let flashed = dyad_image(&[
        "flash".as_ref(),
        v2_image.as_os_str(),
        "--flash".as_ref(),
        flash.as_os_str(),
    ]);
    assert!(flashed.contains("slot B"), "{flashed}");

    // The boot ROM boots v2 on trial; its firmware powers off before confirming.
    let launched = Instant::now();
    let mut launcher = Launcher::start(enclosure, &firmware, &only_a);
    let trial = launcher.line(
        "dyad: qemu-a: boot ROM: booting slot",
        Duration::from_secs(300),
    );
    assert!(
        trial.contains(&format!("booting slot B, version {v2}")) && trial.contains("on trial"),
        "{trial}\n{}",
        launcher.output()
    );
    let status = launcher.wait_end(BOOT_TIMEOUT);
    qemu_time += launched.elapsed();
    let output = launcher.output();
    drop(launcher);
    assert!(!status.success(), "dyad qemu: {status}\n{output}");
    assert!(
        output.contains(&format!(
            "{} holds the image already (slot A, confirmed)",
            flash.display()
        )),
        "the launcher flashed v1 again:\n{output}"
    );
    assert!(
        output.contains("dyad: qemu-a: the machine stopped by itself"),
        "{output}"
    );
    assert!(!output.contains("image confirmed"), "{output}");
    let log = std::fs::read_to_string(enclosure.join("qemu-a.log")).unwrap();
    println!("v2's firmware on the kernel console:");
    for line in log.lines().filter(|l| l.contains("dyad")) {
        println!("    {line}");
    }
    assert!(
        log.contains("/etc/ctl.conf") && log.contains("dyad: powering off"),
        "v2's kernel console:\n{log}"
    );
    assert!(!log.contains("dyad: image"), "v2's kernel console:\n{log}");
    let status = flash_status(&flash);
    assert!(slot_line(&status, 'B').ends_with(": on trial"), "{status}");

    // The next boot reverts v2 and boots v1, which comes back to its console prompt.
    let launched = Instant::now();
    let mut launcher = Launcher::start(enclosure, &firmware, &only_a);
    let started = launcher.wait_for("dyad: qemu-a: QEMU started", Duration::from_secs(300));
    let output = launcher.output();
    for line in [
        format!("dyad: qemu-a: boot ROM: slot B ({v2}): booted as a trial and never confirmed: reverted"),
        format!("dyad: qemu-a: boot ROM: slot A ({v1}): confirmed"),
        format!("dyad: qemu-a: boot ROM: booting slot A, version {v1}"),
    ] {
        assert!(output.contains(&line), "no '{line}' in:\n{output}");
    }
    let console = ConsoleClient::connect(&enclosure.join("qemu-a.console"), BOOT_TIMEOUT)
        .unwrap_or_else(|e| panic!("console A: {e}\n{}", launcher.output()));
    let prompt = Instant::now();
    assert_eq!(console.prompt(), "dyad-a> ");
    let again = launcher.line("dyad: qemu-a: firmware: image ", BOOT_TIMEOUT);
    assert!(again.contains("image already confirmed: slot A"), "{again}");
    drop(console);
    launcher.stop();
    qemu_time += launched.elapsed();
    assert!(
        launcher
            .output()
            .contains("dyad: qemu-a: powered off cleanly"),
        "{}",
        launcher.output()
    );
    drop(launcher);
    let status = flash_status(&flash);
    println!("board A's flash after the revert:\n{status}");
    assert!(
        slot_line(&status, 'A').ends_with(": confirmed") && status.contains("booted: slot A"),
        "{status}"
    );
    assert!(
        slot_line(&status, 'B').contains("rejected: booted as a trial and never confirmed"),
        "{status}"
    );
    println!(
        "revert: QEMU start to console prompt on v1 again: {:.2} s; images {} bytes (v1) and {} bytes (v2)",
        prompt.duration_since(started).as_secs_f64(),
        file_size(&cached_image("dyad-qemu.img")),
        file_size(&v2_image)
    );
    println!(
        "revert: dyad qemu ran {:.2} s over three boots; the whole test {:.2} s",
        qemu_time.as_secs_f64(),
        test_started.elapsed().as_secs_f64()
    );
}
