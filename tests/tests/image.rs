//! Firmware images and the boot ROM end to end (issue 6, "Image"), through the release
//! `dyad image` commands as a developer or the QEMU launcher runs them: PyPI's `imgtool
//! verify` accepts our images (and we accept its), every tampering, a wrong key, a wrong
//! board and a downgrade are refused with a message naming the reason, and a pending image
//! that never confirms is reverted on the next boot.
//!
//! These tests build nothing: they need `target/release/dyad` (`cargo build --release -p
//! tools`, or `make test`) and imgtool in `target/imgtool-venv` (tools/install-deps.sh).

use std::ffi::{OsStr, OsString};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use dyad_tests::{paths, TempDir};

const BOARD: &str = "dyad-qemu";

/// `DYAD_TOOL`, else `<target>/release/dyad`.
fn dyad_binary() -> PathBuf {
    std::env::var_os("DYAD_TOOL")
        .map(PathBuf::from)
        .unwrap_or_else(|| paths::target_dir().join("release").join("dyad"))
}

/// `IMGTOOL`, else the venv install-deps.sh makes, else `imgtool` on PATH; `None` if none runs.
fn imgtool() -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("IMGTOOL").map(PathBuf::from),
        Some(paths::workspace_root().join("target/imgtool-venv/bin/imgtool")),
        Some(PathBuf::from("imgtool")),
    ];
    candidates.into_iter().flatten().find(|path| {
        Command::new(path)
            .arg("version")
            .output()
            .is_ok_and(|out| out.status.success())
    })
}

/// The outcome of one command: exit code and both streams.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    fn from(output: Output) -> Run {
        Run {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    #[track_caller]
    /// Asserts that standard output says `text`.
    fn says(&self, text: &str) {
        assert!(
            self.stdout.contains(text),
            "expected '{text}' in:\n{}",
            self.stdout
        );
    }

    fn ok(self) -> Run {
        assert_eq!(
            self.code,
            Some(0),
            "stdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        self
    }

    /// Exit 1 with `reason` in the message.
    #[track_caller]
    fn refused(self, reason: &str) -> Run {
        assert_eq!(
            self.code,
            Some(1),
            "stdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        assert!(
            self.stderr.contains(reason) || self.stdout.contains(reason),
            "expected {reason:?}\nstdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        self
    }
}

fn dyad<I, S>(args: I) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let binary = dyad_binary();
    paths::require_file(
        &binary,
        "build it with `cargo build --release -p tools` (or `make test`)",
    )
    .unwrap();
    Run::from(Command::new(&binary).args(args).output().expect("run dyad"))
}

/// A temporary folder with a key pair, a second key, and dummy kernel/initramfs files.
struct Bench {
    dir: TempDir,
}

impl Bench {
    fn new() -> Bench {
        let dir = TempDir::new("image").expect("temporary folder");
        let bench = Bench { dir };
        let keys = bench.path("keys");
        dyad([
            OsStr::new("image"),
            OsStr::new("keygen"),
            OsStr::new("--out"),
            keys.as_os_str(),
        ])
        .ok();
        dyad([
            OsStr::new("image"),
            OsStr::new("keygen"),
            OsStr::new("--name"),
            OsStr::new("other"),
            OsStr::new("--out"),
            keys.as_os_str(),
        ])
        .ok();
        bench
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn private_key(&self) -> PathBuf {
        self.path("keys/dyad-image.pem")
    }

    fn public_key(&self) -> PathBuf {
        self.path("keys/dyad-image.pub.pem")
    }

    fn other_key(&self) -> PathBuf {
        self.path("keys/other.pem")
    }

    fn flash_file(&self) -> PathBuf {
        self.path("board-a.flash")
    }

    /// Builds `NAME.img` of `version` with `counter` for `board`, signed with `key`, from a
    /// kernel whose bytes say which version it is.
    fn build_with(
        &self,
        name: &str,
        version: &str,
        counter: u32,
        board: &str,
        key: &Path,
    ) -> PathBuf {
        let kernel = self.path(&format!("{name}.kernel"));
        let initramfs = self.path(&format!("{name}.initramfs"));
        std::fs::write(&kernel, format!("kernel {version}").repeat(1000)).unwrap();
        std::fs::write(&initramfs, vec![counter as u8; 20_000]).unwrap();
        let out = self.path(&format!("{name}.img"));
        let run = dyad([
            OsStr::new("image"),
            OsStr::new("build"),
            OsStr::new("--kernel"),
            kernel.as_os_str(),
            OsStr::new("--initramfs"),
            initramfs.as_os_str(),
            OsStr::new("--version"),
            OsStr::new(version),
            OsStr::new("--security-counter"),
            OsStr::new(&counter.to_string()),
            OsStr::new("--board"),
            OsStr::new(board),
            OsStr::new("--key"),
            key.as_os_str(),
            OsStr::new("--build-id"),
            OsStr::new("00112233445566778899aabbccddeeff00112233"),
            OsStr::new("--git-commit"),
            OsStr::new("0123456789abcdef0123456789abcdef01234567"),
            OsStr::new("--out"),
            out.as_os_str(),
        ])
        .ok();
        assert!(
            run.stdout
                .starts_with(&format!("image: {}\n", out.display())),
            "{}",
            run.stdout
        );
        out
    }

    fn build(&self, name: &str, version: &str, counter: u32) -> PathBuf {
        self.build_with(name, version, counter, BOARD, &self.private_key())
    }

    /// A copy of `image` with byte `at` flipped (negative: from the end).
    fn flipped(&self, image: &Path, name: &str, at: isize) -> PathBuf {
        let mut bytes = std::fs::read(image).unwrap();
        let at = if at < 0 {
            (bytes.len() as isize + at) as usize
        } else {
            at as usize
        };
        bytes[at] ^= 0x01;
        let out = self.path(name);
        std::fs::write(&out, bytes).unwrap();
        out
    }

    fn verify(&self, image: &Path, extra: &[&str]) -> Run {
        let mut args: Vec<OsString> = vec![
            "image".into(),
            "verify".into(),
            image.into(),
            "--key".into(),
            self.public_key().into(),
        ];
        args.extend(extra.iter().map(OsString::from));
        dyad(args)
    }

    fn flash(&self, image: &Path, force: bool) -> Run {
        let mut args: Vec<OsString> = vec![
            "image".into(),
            "flash".into(),
            image.into(),
            "--flash".into(),
            self.flash_file().into(),
        ];
        if force {
            args.push("--force".into());
        }
        dyad(args)
    }

    /// The boot ROM, extracting to `boot/`.
    fn boot(&self) -> Run {
        dyad([
            OsStr::new("image"),
            OsStr::new("boot"),
            OsStr::new("--flash"),
            self.flash_file().as_os_str(),
            OsStr::new("--key"),
            self.public_key().as_os_str(),
            OsStr::new("--board"),
            OsStr::new(BOARD),
            OsStr::new("--extract"),
            self.path("boot").as_os_str(),
        ])
    }

    fn confirm(&self) -> Run {
        dyad([
            OsStr::new("image"),
            OsStr::new("confirm"),
            OsStr::new("--flash"),
            self.flash_file().as_os_str(),
        ])
    }

    fn status(&self) -> Run {
        dyad([
            OsStr::new("image"),
            OsStr::new("status"),
            OsStr::new("--flash"),
            self.flash_file().as_os_str(),
        ])
    }

    /// The kernel the last boot extracted.
    fn booted_kernel(&self) -> String {
        String::from_utf8(std::fs::read(self.path("boot/kernel")).unwrap()).unwrap()
    }

    /// A board running v1 (security counter 1), confirmed, in slot A.
    fn running_v1(&self) -> PathBuf {
        let v1 = self.build("v1", "1.0.0", 1);
        self.flash(&v1, false).ok();
        self.boot().ok();
        self.confirm().ok();
        v1
    }
}

/// Offsets inside an image: the protected TLV area and the first value in it.
fn protected_area(image: &Path) -> usize {
    let bytes = std::fs::read(image).unwrap();
    let hdr_size = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    let img_size = u32::from_le_bytes(bytes[12..16].try_into().unwrap()) as usize;
    hdr_size + img_size
}

#[test]
fn imgtool_verifies_our_images_and_we_verify_its() {
    let Some(imgtool) = imgtool() else {
        eprintln!("SKIPPED: imgtool is not installed (tools/install-deps.sh installs it into target/imgtool-venv)");
        return;
    };
    let bench = Bench::new();
    let image = bench.build("v1", "1.2.3+4", 5);
    for key in [bench.public_key(), bench.private_key()] {
        let run = Run::from(
            Command::new(&imgtool)
                .arg("verify")
                .arg("-k")
                .arg(&key)
                .arg(&image)
                .output()
                .unwrap(),
        )
        .ok();
        run.says("Image was correctly validated");
        run.says("Image version: 1.2.3+4");
    }
    // imgtool refuses a tampered payload too: the same oracle, both ways.
    let tampered = bench.flipped(&image, "tampered.img", 0x200 + 4096);
    let run = Run::from(
        Command::new(&imgtool)
            .arg("verify")
            .arg("-k")
            .arg(bench.public_key())
            .arg(&tampered)
            .output()
            .unwrap(),
    );
    assert_ne!(
        run.code,
        Some(0),
        "imgtool accepted a tampered image: {}",
        run.stdout
    );
    // imgtool signs our bundle (with the board as a protected custom TLV): we accept it.
    let bytes = std::fs::read(&image).unwrap();
    let bundle = bench.path("bundle.bin");
    std::fs::write(&bundle, &bytes[0x200..protected_area(&image)]).unwrap();
    let theirs = bench.path("imgtool.img");
    Run::from(
        Command::new(&imgtool)
            .args(["sign", "-k"])
            .arg(bench.private_key())
            .args([
                "--header-size",
                "0x200",
                "--pad-header",
                "--version",
                "2.0.0+7",
            ])
            .args(["--security-counter", "9", "--custom-tlv", "0xa0", BOARD])
            .args(["--slot-size", "0x8000000"])
            .arg(&bundle)
            .arg(&theirs)
            .output()
            .unwrap(),
    )
    .ok();
    let run = bench
        .verify(&theirs, &["--board", BOARD, "--min-security-counter", "9"])
        .ok();
    run.says("version 2.0.0+7, security counter 9, board dyad-qemu");
}

#[test]
fn verify_accepts_a_good_image_and_inspect_shows_it() {
    let bench = Bench::new();
    let image = bench.build("v1", "1.2.3", 5);
    let run = bench
        .verify(&image, &["--board", BOARD, "--min-security-counter", "5"])
        .ok();
    run.says("version 1.2.3, security counter 5, board dyad-qemu, component controller");
    run.says("bundle: kernel 12000 bytes, initramfs 20000 bytes");
    let run = dyad([
        OsStr::new("image"),
        OsStr::new("inspect"),
        image.as_os_str(),
    ])
    .ok();
    for expected in [
        "magic             0x96f3b83d",
        "hdr_size          0x200",
        "version           1.2.3",
        "SEC_CNT (0x0050)     5",
        "BOARD (0x00a0)       dyad-qemu",
        "COMPONENT (0x00a1)   controller",
        "BUILD_ID (0x00a2)    00112233445566778899aabbccddeeff00112233",
        "GIT_COMMIT (0x00a3)  0123456789abcdef0123456789abcdef01234567",
        "KEYHASH (0x0001)",
        "ED25519 (0x0024)",
        "digest: matches SHA256",
        "  dyad-bundle 1",
        "  component kernel offset=4096 length=12000 sha256=",
        "  component initramfs offset=16384 length=20000 sha256=",
    ] {
        run.says(expected);
    }
}

#[test]
fn verify_refuses_each_reason_by_name() {
    let bench = Bench::new();
    let image = bench.build("v1", "1.0.0", 2);
    let header = bench.flipped(&image, "header.img", 20);
    bench.verify(&header, &[]).refused("SHA-256 mismatch");
    let payload = bench.flipped(&image, "payload.img", 0x200 + 4096);
    bench
        .verify(&payload, &[])
        .refused("SHA-256 mismatch")
        .refused("the payload is damaged: component kernel: SHA-256 does not match the manifest");
    let protected = bench.flipped(&image, "protected.img", protected_area(&image) as isize + 8);
    bench.verify(&protected, &[]).refused("SHA-256 mismatch");
    let signature = bench.flipped(&image, "signature.img", -10);
    bench.verify(&signature, &[]).refused("bad signature");
    let other = bench.build_with("other", "1.0.0", 2, BOARD, &bench.other_key());
    bench
        .verify(&other, &[])
        .refused("unknown key: the image was signed by the key with hash");
    bench
        .verify(&image, &["--board", "dyad-sim"])
        .refused("wrong board: the image is for dyad-qemu, this board is dyad-sim");
    bench
        .verify(&image, &["--min-security-counter", "3"])
        .refused("downgrade: the image's security counter 2 is below 3");
    let magic = bench.flipped(&image, "magic.img", 0);
    bench.verify(&magic, &[]).refused("bad magic");
    // The untouched image still passes: each refusal was about its own change.
    bench
        .verify(&image, &["--board", BOARD, "--min-security-counter", "2"])
        .ok();
}

#[test]
fn build_unsigned_then_sign() {
    let bench = Bench::new();
    std::fs::write(bench.path("k"), b"kernel").unwrap();
    std::fs::write(bench.path("i"), b"initramfs").unwrap();
    let unsigned = bench.path("unsigned.img");
    let run = dyad([
        OsStr::new("image"),
        OsStr::new("build"),
        OsStr::new("--kernel"),
        bench.path("k").as_os_str(),
        OsStr::new("--initramfs"),
        bench.path("i").as_os_str(),
        OsStr::new("--version"),
        OsStr::new("0.1.0"),
        OsStr::new("--security-counter"),
        OsStr::new("1"),
        OsStr::new("--board"),
        OsStr::new(BOARD),
        OsStr::new("--out"),
        unsigned.as_os_str(),
    ])
    .ok();
    run.says("unsigned");
    bench
        .verify(&unsigned, &[])
        .refused("unsigned: the image has no ED25519 signature");
    let signed = bench.path("signed.img");
    dyad([
        OsStr::new("image"),
        OsStr::new("sign"),
        unsigned.as_os_str(),
        OsStr::new("--key"),
        bench.private_key().as_os_str(),
        OsStr::new("--out"),
        signed.as_os_str(),
    ])
    .ok();
    bench.verify(&signed, &["--board", BOARD]).ok();
}

#[test]
fn usage_errors_exit_2_and_keys_are_never_overwritten() {
    let bench = Bench::new();
    let run = bench.verify(&bench.path("missing.img"), &[]);
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    assert!(run.stderr.contains("missing.img"), "{}", run.stderr);
    let run = dyad(["image", "build", "--version", "1.2"]);
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    let keys = bench.path("keys");
    let run = dyad([
        OsStr::new("image"),
        OsStr::new("keygen"),
        OsStr::new("--out"),
        keys.as_os_str(),
    ]);
    run.refused("exists: a key is never overwritten");
    let run = dyad([
        OsStr::new("image"),
        OsStr::new("confirm"),
        OsStr::new("--flash"),
        bench.path("none.flash").as_os_str(),
    ]);
    assert_eq!(run.code, Some(2), "{}", run.stderr);
}

#[test]
fn pending_image_that_never_confirms_is_reverted() {
    let bench = Bench::new();
    bench.running_v1();
    assert!(bench.booted_kernel().starts_with("kernel 1.0.0"));
    let v2 = bench.build("v2", "2.0.0", 2);
    let run = bench.flash(&v2, false).ok();
    run.says("flashed: slot B");
    let run = bench.boot().ok();
    assert!(
        run.stdout
            .contains("booting: slot B, version 2.0.0, security counter 2, board dyad-qemu (trial"),
        "{}",
        run.stdout
    );
    assert!(bench.booted_kernel().starts_with("kernel 2.0.0"));
    // The firmware exits before confirming. Next boot:
    let run = bench.boot().ok();
    run.says("boot: slot B (2.0.0): booted as a trial and never confirmed: reverted");
    run.says("booting: slot A, version 1.0.0, security counter 1");
    assert!(bench.booted_kernel().starts_with("kernel 1.0.0"));
    let run = bench.status().ok();
    run.says("rejected: booted as a trial and never confirmed");
    run.says("security counter: 1\n");
    // And the board stays on v1.
    let run = bench.boot().ok();
    run.says("booting: slot A, version 1.0.0");
}

#[test]
fn confirmed_update_stays() {
    let bench = Bench::new();
    bench.running_v1();
    let v2 = bench.build("v2", "2.0.0", 2);
    bench.flash(&v2, false).ok();
    bench.boot().ok();
    let run = bench.confirm().ok();
    run.says("confirmed: slot B, version 2.0.0, board security counter 2");
    let run = bench.boot().ok();
    run.says("boot: slot B (2.0.0): confirmed");
    assert!(!run.stdout.contains("trial"), "{}", run.stdout);
    assert!(bench.booted_kernel().starts_with("kernel 2.0.0"));
}

#[test]
fn downgrade_is_refused_unless_forced() {
    let bench = Bench::new();
    bench.running_v1();
    let v2 = bench.build("v2", "2.0.0", 2);
    bench.flash(&v2, false).ok();
    bench.boot().ok();
    bench.confirm().ok();
    let old = bench.build("old", "1.5.0", 1);
    bench
        .flash(&old, false)
        .refused("downgrade: the image's security counter 1 is below the board's 2");
    let run = bench.flash(&old, true).ok();
    run.says("forced downgrade");
    let run = bench.boot().ok();
    run.says("booting: slot A, version 1.5.0, security counter 1");
    assert!(bench.booted_kernel().starts_with("kernel 1.5.0"));
}

/// Flashes `bad` over a board running v1 and boots: B is refused with `reason`, A boots.
fn boot_rom_refuses(bench: &Bench, bad: &Path, reason: &str) {
    bench.flash(bad, false).ok();
    let run = bench.boot().ok();
    let line = format!("boot: slot B (2.0.0): refused: {reason}");
    run.says(&line);
    run.says("booting: slot A, version 1.0.0");
    assert!(bench.booted_kernel().starts_with("kernel 1.0.0"));
}

#[test]
fn boot_rom_refuses_each_reason_by_name_and_falls_back() {
    let bench = Bench::new();
    bench.running_v1();
    let v2 = bench.build("v2", "2.0.0", 2);
    boot_rom_refuses(
        &bench,
        &bench.flipped(&v2, "header.img", 4),
        "SHA-256 mismatch",
    );
    boot_rom_refuses(
        &bench,
        &bench.flipped(&v2, "payload.img", 0x200 + 4096),
        "SHA-256 mismatch",
    );
    let protected = bench.flipped(&v2, "protected.img", protected_area(&v2) as isize + 8);
    boot_rom_refuses(&bench, &protected, "SHA-256 mismatch");
    boot_rom_refuses(
        &bench,
        &bench.flipped(&v2, "signature.img", -1),
        "bad signature",
    );
    let other = bench.build_with("other", "2.0.0", 2, BOARD, &bench.other_key());
    boot_rom_refuses(&bench, &other, "unknown key");
    let sim = bench.build_with("sim", "2.0.0", 2, "dyad-sim", &bench.private_key());
    boot_rom_refuses(
        &bench,
        &sim,
        "wrong board: the image is for dyad-sim, this board is dyad-qemu",
    );
    let run = bench.status().ok();
    run.says("rejected: wrong board");
}

#[test]
fn boot_rom_refuses_a_downgrade_when_the_current_image_is_damaged() {
    let bench = Bench::new();
    bench.running_v1();
    let v2 = bench.build("v2", "2.0.0", 2);
    bench.flash(&v2, false).ok();
    bench.boot().ok();
    bench.confirm().ok();
    // Bit rot in slot B: the boot ROM may not fall back to v1, which the counter now forbids.
    let run = bench.status().ok();
    let line = run
        .stdout
        .lines()
        .find(|l| l.starts_with("slot B: offset 0x"))
        .unwrap();
    let hex = line["slot B: offset 0x".len()..].split(',').next().unwrap();
    let offset = u64::from_str_radix(hex, 16).unwrap();
    let flash = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(bench.flash_file())
        .unwrap();
    let at = offset + 0x200 + 4096;
    let mut byte = [0u8];
    flash.read_exact_at(&mut byte, at).unwrap();
    flash.write_all_at(&[byte[0] ^ 1], at).unwrap();
    drop(flash);
    let run = bench.boot().refused("no bootable image");
    run.says("boot: slot B (2.0.0): refused: SHA-256 mismatch");
    run.says("boot: slot A (1.0.0): refused: downgrade: the image's security counter 1 is below 2");
}
