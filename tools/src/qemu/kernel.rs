//! Debian's kernel for the QEMU boards, fetched without installing it and cached under
//! `target/qemu/`: `apt-get download` of the package `linux-image-amd64` points at today
//! (its name moves with each ABI bump, so it is looked up, and the `.deb` is kept: the
//! mirror drops old versions), its `/boot` and `/lib/modules` unpacked, the modules the
//! machines need picked with their dependencies (read from each module's `.modinfo`; the
//! package has no modules.dep), and the kernel's ELF extracted for a PVH boot.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use board::qemu::modinfo;

use super::vmlinux;

/// The modules the machines need: the virtio PCI transport, virtio NICs, virtio-blk and
/// NVMe drives. Their dependencies come along; AF_PACKET is built into Debian's kernel.
pub const MODULES: &[&str] = &[
    "virtio_pci",
    "virtio_net",
    "virtio_blk",
    "nvme",
    "af_packet",
];

/// The meta-package whose dependency names the current kernel package.
const META_PACKAGE: &str = "linux-image-amd64";
/// The file in a prepared kernel folder that says it is complete, and for which modules.
const COMPLETE: &str = ".complete";

/// A kernel ready to boot.
#[derive(Clone, Debug)]
pub struct Kernel {
    /// `6.1.0-56-amd64`.
    pub release: String,
    /// The Debian package it came from, with its version when known.
    pub package: String,
    /// The PVH-bootable ELF.
    pub vmlinux: PathBuf,
    /// The compressed bzImage as shipped.
    pub vmlinuz: PathBuf,
    /// The modules for the image (plain `.ko` files).
    pub modules: Vec<PathBuf>,
    /// Dependencies that are built into the kernel.
    pub builtin: Vec<String>,
}

fn run(cmd: &mut Command) -> Result<String, String> {
    let name = format!("{cmd:?}");
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {name}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{name} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The kernel package `linux-image-amd64` depends on (`linux-image-6.1.0-56-amd64`).
pub fn current_package() -> Result<String, String> {
    let out = run(Command::new("apt-cache").args(["depends", META_PACKAGE]))?;
    out.lines()
        .filter_map(|l| l.trim().strip_prefix("Depends:"))
        .map(str::trim)
        .find(|p| p.starts_with("linux-image-") && p.ends_with("-amd64"))
        .map(str::to_string)
        .ok_or_else(|| format!("apt-cache depends {META_PACKAGE} names no kernel package"))
}

/// The release a kernel package carries (`linux-image-6.1.0-56-amd64` → `6.1.0-56-amd64`).
fn release_of(package: &str) -> Result<String, String> {
    package
        .strip_prefix("linux-image-")
        .map(str::to_string)
        .ok_or_else(|| format!("'{package}' is not a linux-image-* package"))
}

/// The newest kernel already prepared under `cache` (for machines without apt).
fn cached_release(cache: &Path) -> Option<String> {
    let mut releases: Vec<String> = fs::read_dir(cache.join("kernel"))
        .ok()?
        .flatten()
        .filter(|e| e.path().join(COMPLETE).exists())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    releases.sort();
    releases.pop()
}

/// The `.deb` of `package` in `debs`, downloaded if it is not there yet.
fn deb(debs: &Path, package: &str) -> Result<PathBuf, String> {
    let find = || -> Option<PathBuf> {
        let prefix = format!("{package}_");
        let mut found: Vec<PathBuf> = fs::read_dir(debs)
            .ok()?
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(&prefix) && n.ends_with(".deb"))
            })
            .collect();
        found.sort();
        found.pop()
    };
    if let Some(deb) = find() {
        return Ok(deb);
    }
    fs::create_dir_all(debs).map_err(|e| format!("{}: {e}", debs.display()))?;
    eprintln!(
        "dyad: downloading {package} (apt-get download) into {}",
        debs.display()
    );
    run(Command::new("apt-get")
        .args(["download", "-q", package])
        .current_dir(debs))?;
    find().ok_or_else(|| {
        format!(
            "apt-get download {package} left no .deb in {}",
            debs.display()
        )
    })
}

/// Unpacks `./boot` and `./lib/modules` of `deb` into `into`.
fn unpack(deb: &Path, into: &Path) -> Result<(), String> {
    fs::create_dir_all(into).map_err(|e| format!("{}: {e}", into.display()))?;
    let mut dpkg = Command::new("dpkg-deb")
        .arg("--fsys-tarfile")
        .arg(deb)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run dpkg-deb: {e}"))?;
    let tar_input = dpkg.stdout.take().ok_or("dpkg-deb: no output")?;
    let tar = Command::new("tar")
        .arg("-x")
        .arg("-C")
        .arg(into)
        .args(["./boot", "./lib/modules"])
        .stdin(tar_input)
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| format!("cannot run tar: {e}"))?;
    let dpkg = dpkg
        .wait_with_output()
        .map_err(|e| format!("dpkg-deb: {e}"))?;
    if !dpkg.status.success() || !tar.status.success() {
        return Err(format!(
            "unpacking {} failed: {}{}",
            deb.display(),
            String::from_utf8_lossy(&dpkg.stderr).trim(),
            String::from_utf8_lossy(&tar.stderr).trim()
        ));
    }
    Ok(())
}

/// Every `.ko` under `dir`, by module name.
fn module_files(dir: &Path, out: &mut BTreeMap<String, PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            module_files(&path, out);
        } else if let Some(name) = modinfo::name_of_file(&entry.file_name().to_string_lossy()) {
            out.insert(name, path);
        }
    }
}

/// The modules built into the kernel, from `modules.builtin` (`kernel/net/packet/af_packet.ko`).
fn builtin_modules(tree: &Path) -> BTreeSet<String> {
    fs::read_to_string(tree.join("modules.builtin"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            Path::new(l.trim())
                .file_name()?
                .to_str()
                .map(str::to_string)
        })
        .filter_map(|f| modinfo::name_of_file(&f))
        .collect()
}

/// `wanted` and their dependencies out of a module tree: the files in load order, and the
/// dependencies built into the kernel. A module that is neither there nor built in is an
/// error.
pub fn select_modules(tree: &Path, wanted: &[&str]) -> Result<(Vec<PathBuf>, Vec<String>), String> {
    let mut files = BTreeMap::new();
    module_files(&tree.join("kernel"), &mut files);
    let builtin = builtin_modules(tree);
    let order = modinfo::load_order(wanted, |name| {
        let Some(path) = files.get(name) else {
            return Ok(None);
        };
        let bytes = fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        modinfo::modinfo(&bytes)
            .map(|info| Some(info.depends))
            .map_err(|e| format!("{}: {e}", path.display()))
    })?;
    let missing: Vec<&String> = order
        .absent
        .iter()
        .filter(|m| !builtin.contains(*m))
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "module(s) {} are neither in {} nor built into the kernel",
            missing
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            tree.display()
        ));
    }
    let paths = order.order.iter().map(|name| files[name].clone()).collect();
    Ok((paths, order.absent.into_iter().collect()))
}

/// Prepares (once) and returns the kernel under `cache`: `package` if given, else the one
/// apt names today, else the newest already prepared.
pub fn prepare(cache: &Path, package: Option<&str>) -> Result<Kernel, String> {
    let package = match package {
        Some(p) => p.to_string(),
        None => match current_package() {
            Ok(p) => p,
            Err(e) => match cached_release(cache) {
                Some(release) => format!("linux-image-{release}"),
                None => return Err(e),
            },
        },
    };
    let release = release_of(&package)?;
    let dir = cache.join("kernel").join(&release);
    let complete = dir.join(COMPLETE);
    let wanted = MODULES.join(" ");
    let ready = fs::read_to_string(&complete)
        .ok()
        .is_some_and(|text| text.lines().next() == Some(wanted.as_str()));
    if !ready {
        let deb = deb(&cache.join("debs"), &package)?;
        eprintln!("dyad: unpacking {}", deb.display());
        let scratch = cache
            .join("kernel")
            .join(format!(".unpack-{}", std::process::id()));
        let _ = fs::remove_dir_all(&scratch);
        let result = (|| -> Result<(), String> {
            unpack(&deb, &scratch)?;
            let tree = scratch.join("lib/modules").join(&release);
            let (modules, builtin) = select_modules(&tree, MODULES)?;
            let _ = fs::remove_dir_all(&dir);
            let module_dir = dir.join("modules");
            fs::create_dir_all(&module_dir)
                .map_err(|e| format!("{}: {e}", module_dir.display()))?;
            let copy = |from: &Path, to: &Path| {
                fs::copy(from, to)
                    .map(|_| ())
                    .map_err(|e| format!("{} -> {}: {e}", from.display(), to.display()))
            };
            let mut order = Vec::new();
            for module in &modules {
                let name = module.file_name().ok_or("module without a name")?;
                copy(module, &module_dir.join(name))?;
                order.push(name.to_string_lossy().into_owned());
            }
            copy(
                &scratch.join(format!("boot/vmlinuz-{release}")),
                &dir.join("vmlinuz"),
            )?;
            copy(
                &scratch.join(format!("boot/config-{release}")),
                &dir.join("config"),
            )?;
            let deb_name = deb
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            fs::write(
                &complete,
                format!(
                    "{wanted}\n{deb_name}\n{}\nbuilt in: {}\n",
                    order.join(" "),
                    builtin.join(" ")
                ),
            )
            .map_err(|e| format!("{}: {e}", complete.display()))
        })();
        let _ = fs::remove_dir_all(&scratch);
        result?;
    }
    let vmlinuz = dir.join("vmlinuz");
    let vmlinux = dir.join("vmlinux");
    if !vmlinux.exists() {
        let bzimage = fs::read(&vmlinuz).map_err(|e| format!("{}: {e}", vmlinuz.display()))?;
        let elf = vmlinux::extract(&bzimage).map_err(|e| format!("{}: {e}", vmlinuz.display()))?;
        let partial = dir.join("vmlinux.partial");
        fs::write(&partial, elf).map_err(|e| format!("{}: {e}", partial.display()))?;
        fs::rename(&partial, &vmlinux).map_err(|e| format!("{}: {e}", vmlinux.display()))?;
    }
    let record = fs::read_to_string(&complete).unwrap_or_default();
    let mut lines = record.lines().skip(1);
    let deb_name = lines.next().unwrap_or_default();
    let order: Vec<&str> = lines
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    let builtin = lines
        .next()
        .and_then(|l| l.strip_prefix("built in:"))
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_string)
        .collect();
    Ok(Kernel {
        release,
        package: deb_name
            .strip_suffix(".deb")
            .unwrap_or(&package)
            .to_string(),
        vmlinux,
        vmlinuz,
        modules: order.iter().map(|f| dir.join("modules").join(f)).collect(),
        builtin,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn releases_of_packages() {
        assert_eq!(
            release_of("linux-image-6.1.0-56-amd64").unwrap(),
            "6.1.0-56-amd64"
        );
        assert!(release_of("linux-headers-6.1.0").is_err());
    }
}
