//! The boards' initramfs: the static firmware as `/init`, the device nodes the kernel needs
//! before devtmpfs is mounted, the kernel modules, and the configuration; gzip-compressed
//! (the kernel unpacks gzip fast; xz would need `--check=crc32` and is slow under TCG).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use board::qemu::{CONFIG_PATH, MODULE_DIR};

use super::cpio::Archive;

/// What goes into the image.
pub struct Inputs<'a> {
    /// The static firmware.
    pub firmware: &'a Path,
    pub modules: &'a [PathBuf],
    /// ctl.conf's text.
    pub config: &'a str,
}

/// The firmware without symbols and debug information (`strip`), or as it is when strip
/// is not there. The host keeps the full ELF: the defmt log is decoded against it.
fn stripped(firmware: &Path, scratch: &Path) -> Result<Vec<u8>, String> {
    let out = scratch.with_extension("stripped");
    let status = Command::new("strip")
        .arg("--strip-all")
        .arg("-o")
        .arg(&out)
        .arg(firmware)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .status();
    let bytes = match status {
        Ok(s) if s.success() => fs::read(&out).map_err(|e| format!("{}: {e}", out.display()))?,
        _ => fs::read(firmware).map_err(|e| format!("{}: {e}", firmware.display()))?,
    };
    let _ = fs::remove_file(&out);
    Ok(bytes)
}

/// Refuses a firmware the kernel could not start as init: not a static x86_64 ELF.
fn check_static_elf(bytes: &[u8], path: &Path) -> Result<(), String> {
    if bytes.get(..4) != Some(b"\x7fELF")
        || bytes.get(4) != Some(&2)
        || bytes.get(0x12) != Some(&0x3e)
    {
        return Err(format!("{} is not an x86_64 ELF program", path.display()));
    }
    let interp = board::qemu::modinfo::elf_section(bytes, ".interp");
    if interp.is_ok() {
        return Err(format!(
            "{} is dynamically linked; the machine has no libraries: build it static \
             (make firmware-defmt)",
            path.display()
        ));
    }
    Ok(())
}

/// The uncompressed newc archive.
pub fn archive(inputs: &Inputs<'_>, scratch: &Path) -> Result<Vec<u8>, String> {
    let init = stripped(inputs.firmware, scratch)?;
    check_static_elf(&init, inputs.firmware)?;
    let mut a = Archive::new();
    for dir in [
        "dev",
        "proc",
        "sys",
        "run",
        "etc",
        "lib",
        MODULE_DIR.trim_start_matches('/'),
    ] {
        a.dir(dir);
    }
    // The kernel opens /dev/console for init's descriptors before init mounts devtmpfs.
    a.char_device("dev/console", 0o600, 5, 1);
    a.char_device("dev/null", 0o666, 1, 3);
    a.char_device("dev/kmsg", 0o644, 1, 11);
    a.file("init", 0o755, &init);
    for module in inputs.modules {
        let name = module
            .file_name()
            .ok_or_else(|| format!("{}: no file name", module.display()))?;
        let data = fs::read(module).map_err(|e| format!("{}: {e}", module.display()))?;
        a.file(
            &format!("{MODULE_DIR}/{}", name.to_string_lossy()),
            0o644,
            &data,
        );
    }
    a.file(CONFIG_PATH, 0o644, inputs.config.as_bytes());
    Ok(a.finish())
}

/// gzip -9 -n (no name or time: the same inputs give the same image).
pub fn gzip(data: &[u8]) -> Result<Vec<u8>, String> {
    let mut child = Command::new("gzip")
        .args(["-9", "-n", "-c"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run gzip: {e}"))?;
    let mut stdin = child.stdin.take().ok_or("gzip: no stdin")?;
    let input = data.to_vec();
    let feeder = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output().map_err(|e| format!("gzip: {e}"))?;
    let fed = feeder
        .join()
        .map_err(|_| "gzip feeder panicked".to_string())?;
    fed.map_err(|e| format!("gzip: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "gzip failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(out.stdout)
}

/// Builds the compressed initramfs at `out` (written to a temporary name, then renamed).
pub fn build(inputs: &Inputs<'_>, out: &Path) -> Result<u64, String> {
    let partial = out.with_extension("partial");
    let cpio = archive(inputs, &partial)?;
    let compressed = gzip(&cpio)?;
    fs::write(&partial, &compressed).map_err(|e| format!("{}: {e}", partial.display()))?;
    fs::rename(&partial, out).map_err(|e| format!("{}: {e}", out.display()))?;
    Ok(compressed.len() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::qemu::cpio;

    #[test]
    fn the_archive_holds_init_nodes_modules_and_config() {
        let dir = dyad_tests::TempDir::new("initramfs").unwrap();
        // A stand-in "static" program: an x86_64 ELF header without .interp.
        let mut elf = board_elf();
        elf.resize(4096, 0);
        let firmware = dir.path().join("fw");
        fs::write(&firmware, &elf).unwrap();
        let module = dir.path().join("virtio_net.ko");
        fs::write(&module, b"module").unwrap();
        let inputs = Inputs {
            firmware: &firmware,
            modules: &[module],
            config: "lun x {\n}\n",
        };
        let bytes = archive(&inputs, &dir.path().join("scratch")).unwrap();
        let entries = cpio::read(&bytes);
        let find = |name: &str| {
            entries
                .iter()
                .find(|e| e.name == name)
                .unwrap_or_else(|| panic!("{name}"))
        };
        assert_eq!(find("dev/console").rdev, (5, 1));
        assert_eq!(find("init").mode, 0o100755);
        assert_eq!(find("lib/modules/virtio_net.ko").data, b"module");
        assert_eq!(find("etc/ctl.conf").data, b"lun x {\n}\n");
        assert!(gzip(&bytes).unwrap().starts_with(b"\x1f\x8b"));
    }

    #[test]
    fn refuses_a_dynamic_program() {
        let e = check_static_elf(b"#!/bin/sh", Path::new("x")).unwrap_err();
        assert!(e.contains("not an x86_64 ELF"), "{e}");
        // This very test binary is dynamically linked.
        let me = std::env::current_exe().unwrap();
        let bytes = fs::read(&me).unwrap();
        let e = check_static_elf(&bytes, &me).unwrap_err();
        assert!(e.contains("dynamically linked"), "{e}");
    }

    /// A minimal ELF64 x86_64 header with an empty section table (one null section and a
    /// string table), enough for the checks.
    fn board_elf() -> Vec<u8> {
        let mut elf = vec![0u8; 64];
        elf[..4].copy_from_slice(b"\x7fELF");
        elf[4] = 2;
        elf[5] = 1;
        elf[0x12] = 0x3e;
        let names_at = elf.len();
        elf.extend_from_slice(b"\0.shstrtab\0");
        elf.resize(elf.len().next_multiple_of(8), 0);
        let shoff = elf.len();
        elf.extend_from_slice(&[0u8; 64]);
        let mut header = [0u8; 64];
        header[..4].copy_from_slice(&1u32.to_le_bytes());
        header[24..32].copy_from_slice(&(names_at as u64).to_le_bytes());
        header[32..40].copy_from_slice(&11u64.to_le_bytes());
        elf.extend_from_slice(&header);
        elf[0x28..0x30].copy_from_slice(&(shoff as u64).to_le_bytes());
        elf[0x3a..0x3c].copy_from_slice(&64u16.to_le_bytes());
        elf[0x3c..0x3e].copy_from_slice(&2u16.to_le_bytes());
        elf[0x3e..0x40].copy_from_slice(&1u16.to_le_bytes());
        elf
    }
}
