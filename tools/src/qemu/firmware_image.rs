//! The signed image `dyad qemu` boots the boards from: the kernel and initramfs it prepared,
//! bundled and signed with the development key (as `make image` does), and flashed into each
//! board's flash file (`<enclosure>/board-a.flash`) when that flash does not hold it yet.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use ::image::bundle::{INITRAMFS, KERNEL};
use ::image::hex::Hex;
use ::image::{
    BoardFlash, Bundle, FlashError, Flashed, Image, ImageSpec, PublicKey, SigningKey, Slot,
    SlotStatus, Version,
};

/// The key files' stem: `dyad-image.pem` (private) and `dyad-image.pub.pem` (public), as
/// `dyad image keygen` and `make image` name them.
pub const KEY_NAME: &str = "dyad-image";
/// Where `make image` keeps the development key, which the default enclosure shares.
pub const SHARED_KEYS: &str = "var/enclosure/keys";

/// The signing key and the boot ROM's trusted key.
pub struct Keys {
    pub signing: SigningKey,
    /// The boot ROM's key: the `.pub.pem` beside the private key (else its public half).
    pub trusted: PublicKey,
    pub private_path: PathBuf,
    /// Made just now (the first use).
    pub made: bool,
}

/// The private key file `dyad qemu` signs with: `explicit` (`--key`), else
/// `<enclosure>/keys/dyad-image.pem` when there is one, else the development key of `make
/// image` (`var/enclosure/keys/`) for the default enclosure, else one made in
/// `<enclosure>/keys/`.
pub fn key_path(explicit: Option<&Path>, enclosure: &Path, default_enclosure: bool) -> PathBuf {
    if let Some(path) = explicit {
        return path.to_path_buf();
    }
    let own = enclosure.join("keys").join(format!("{KEY_NAME}.pem"));
    if own.exists() || !default_enclosure {
        own
    } else {
        Path::new(SHARED_KEYS).join(format!("{KEY_NAME}.pem"))
    }
}

/// The public key file beside a private one (`x.pem` -> `x.pub.pem`).
fn public_path(private: &Path) -> PathBuf {
    let stem = private
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = stem.strip_suffix(".pem").unwrap_or(&stem);
    private.with_file_name(format!("{stem}.pub.pem"))
}

/// Reads the key at `private` (and its public half's file when there is one), making a
/// fresh key pair there first when `make_missing` and there is none. A key is never
/// overwritten.
pub fn keys(private: &Path, make_missing: bool) -> Result<Keys, String> {
    let public = public_path(private);
    let mut made = false;
    if !private.exists() {
        if !make_missing {
            return Err(format!("{}: no such key", private.display()));
        }
        make_key(private, &public)?;
        made = true;
    }
    let text =
        std::fs::read_to_string(private).map_err(|e| format!("{}: {e}", private.display()))?;
    let signing = SigningKey::from_pem(&text).map_err(|e| format!("{}: {e}", private.display()))?;
    let trusted = match std::fs::read_to_string(&public) {
        Ok(text) => PublicKey::from_pem(&text).map_err(|e| format!("{}: {e}", public.display()))?,
        Err(_) => signing.public_key(),
    };
    if trusted.key_hash() != signing.public_key().key_hash() {
        return Err(format!(
            "{} is not the public half of {}",
            public.display(),
            private.display()
        ));
    }
    Ok(Keys {
        signing,
        trusted,
        private_path: private.to_path_buf(),
        made,
    })
}

/// A fresh Ed25519 key pair (as `dyad image keygen` makes it): the private key readable by
/// its owner only from the start, in a folder of the owner's when the folder is new.
fn make_key(private: &Path, public: &Path) -> Result<(), String> {
    if let Some(dir) = private.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| format!("no randomness for the key: {e}"))?;
    let key = SigningKey::from_seed(&seed);
    seed.fill(0);
    let private_pem = key.to_pem().map_err(|e| e.to_string())?;
    let public_pem = key.public_key().to_pem().map_err(|e| e.to_string())?;
    for (path, text, mode) in [(private, &private_pem, 0o600), (public, &public_pem, 0o644)] {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(path)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        file.write_all(text.as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}

/// What goes into the image besides the kernel and the initramfs.
pub struct Spec<'a> {
    pub version: Version,
    pub security_counter: u32,
    /// The unstripped firmware ELF: its GNU build-id is the image's BUILD_ID.
    pub elf: Option<&'a Path>,
    /// The GIT_COMMIT TLV.
    pub git_commit: Option<String>,
}

/// A built, signed image.
pub struct Built {
    pub path: PathBuf,
    pub bytes: Vec<u8>,
    /// Its SHA256 TLV: what the flash records per slot.
    pub digest: [u8; 32],
    pub version: Version,
    pub security_counter: u32,
}

/// Bundles `kernel` and `initramfs`, signs the image with `key` and writes it to `out`
/// (beside, then renamed into place).
pub fn build(
    kernel: &Path,
    initramfs: &Path,
    spec: &Spec<'_>,
    key: &SigningKey,
    out: &Path,
) -> Result<Built, String> {
    let read = |path: &Path| std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()));
    let kernel = read(kernel)?;
    let initramfs = read(initramfs)?;
    let build_id = spec
        .elf
        .map(read)
        .transpose()?
        .map(|elf| crate::image::build_id::of_elf(&elf));
    let bundle = Bundle::build(&[(KERNEL, &kernel), (INITRAMFS, &initramfs)])
        .map_err(|e| format!("bundle: {e}"))?;
    drop((kernel, initramfs));
    let image = ::image::build_unsigned(
        &bundle,
        &ImageSpec {
            version: spec.version,
            security_counter: spec.security_counter,
            board: board::qemu::IMAGE_BOARD,
            component: "controller",
            build_id: build_id.as_deref(),
            git_commit: spec.git_commit.as_deref(),
        },
    )
    .map_err(|e| format!("image: {e}"))?;
    drop(bundle);
    let bytes = ::image::sign(&image, key).map_err(|e| format!("signing: {e}"))?;
    drop(image);
    let digest = Image::parse(&bytes)
        .map_err(|e| format!("the signed image: {e}"))?
        .sha256;
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let partial = out.with_extension("partial");
    std::fs::write(&partial, &bytes).map_err(|e| format!("{}: {e}", partial.display()))?;
    std::fs::rename(&partial, out).map_err(|e| format!("{}: {e}", out.display()))?;
    Ok(Built {
        path: out.to_path_buf(),
        bytes,
        digest,
        version: spec.version,
        security_counter: spec.security_counter,
    })
}

/// The commit the tree is at (`-dirty` when it has changes), when `dir` is in a git work
/// tree and git is there.
pub fn git_commit(dir: &Path) -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["rev-parse", "HEAD"])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let commit = String::from_utf8(out.stdout).ok()?.trim().to_string();
    if !out.status.success() || commit.is_empty() {
        return None;
    }
    let clean = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["diff", "--quiet", "HEAD"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    Some(if clean {
        commit
    } else {
        format!("{commit}-dirty")
    })
}

/// A board's flash file in the enclosure.
pub fn flash_path(enclosure: &Path, letter: char) -> PathBuf {
    enclosure.join(format!("board-{letter}.flash"))
}

/// What [`flash_if_new`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlashOutcome {
    /// Written to this slot, pending.
    Flashed(Flashed),
    /// The flash holds the image already in `slot` (pending, on trial or confirmed).
    AlreadyThere { slot: Slot, status: SlotStatus },
}

/// Writes `image` into the flash file at `path` (created blank when missing) unless one of
/// its slots holds it already, pending, on trial or confirmed: restarting `dyad qemu` on the
/// same build must neither push the confirmed fallback out of the other slot nor start
/// another trial. An image the flash rejected (a trial that never confirmed) is written
/// again: that is one more try.
pub fn flash_if_new(path: &Path, image: &Built) -> Result<FlashOutcome, String> {
    let mut flash = BoardFlash::create_file(path).map_err(|e| in_flash(path, e))?;
    for slot in Slot::ALL {
        let record = flash.state().slot(slot);
        let holds = matches!(
            record.status,
            SlotStatus::Pending | SlotStatus::Trying | SlotStatus::Confirmed
        );
        if holds && record.digest == image.digest {
            return Ok(FlashOutcome::AlreadyThere {
                slot,
                status: record.status.clone(),
            });
        }
    }
    let flashed = flash
        .flash(&image.bytes, false)
        .map_err(|e| in_flash(path, e))?;
    Ok(FlashOutcome::Flashed(flashed))
}

fn in_flash(path: &Path, why: FlashError) -> String {
    format!("{}: {why}", path.display())
}

/// `version 0.1.0, security counter 1, 67.9 MB, digest 0123…`.
pub fn describe(image: &Built) -> String {
    format!(
        "version {}, security counter {}, board {}, {} bytes, digest {}…",
        image.version,
        image.security_counter,
        board::qemu::IMAGE_BOARD,
        image.bytes.len(),
        Hex(&image.digest[..8])
    )
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn sample(dir: &Path, key: &SigningKey, initramfs: &[u8], build: u32) -> Built {
        let kernel_path = dir.join("kernel");
        let initramfs_path = dir.join(format!("initramfs-{build}"));
        std::fs::write(&kernel_path, b"a kernel").unwrap();
        std::fs::write(&initramfs_path, initramfs).unwrap();
        super::build(
            &kernel_path,
            &initramfs_path,
            &Spec {
                version: format!("1.0.0+{build}").parse().unwrap(),
                security_counter: 1,
                elf: None,
                git_commit: Some("0123abcd".into()),
            },
            key,
            &dir.join(format!("image-{build}.img")),
        )
        .unwrap()
    }

    #[test]
    fn keys_are_made_once_and_found_again() {
        let dir = dyad_tests::TempDir::new("qemu-keys").unwrap();
        let enclosure = dir.path().join("enclosure");
        let path = key_path(None, &enclosure, false);
        assert_eq!(path, enclosure.join("keys/dyad-image.pem"));
        assert!(keys(&path, false).is_err());
        let made = keys(&path, true).unwrap();
        assert!(made.made);
        assert!(enclosure.join("keys/dyad-image.pub.pem").is_file());
        let again = keys(&path, true).unwrap();
        assert!(!again.made);
        assert_eq!(again.trusted.key_hash(), made.trusted.key_hash());
        // The default enclosure shares make image's key unless it has its own.
        let shared = key_path(None, &dir.path().join("other"), true);
        assert_eq!(shared, Path::new(SHARED_KEYS).join("dyad-image.pem"));
        assert_eq!(key_path(None, &enclosure, true), path);
        assert_eq!(
            key_path(Some(Path::new("k.pem")), &enclosure, true),
            Path::new("k.pem")
        );
        assert_eq!(public_path(Path::new("x/k.pem")), Path::new("x/k.pub.pem"));
    }

    #[test]
    fn an_image_is_flashed_once() {
        let dir = dyad_tests::TempDir::new("qemu-flash-once").unwrap();
        let key = SigningKey::from_seed(&[7; 32]);
        let v1 = sample(dir.path(), &key, b"initramfs one", 1);
        let v2 = sample(dir.path(), &key, b"initramfs two", 2);
        let path = dir.path().join("board-a.flash");
        let FlashOutcome::Flashed(f) = flash_if_new(&path, &v1).unwrap() else {
            panic!("not flashed")
        };
        assert_eq!(f.slot, Slot::A);
        assert_eq!(
            flash_if_new(&path, &v1).unwrap(),
            FlashOutcome::AlreadyThere {
                slot: Slot::A,
                status: SlotStatus::Pending
            }
        );
        // Booted and confirmed: still not flashed again; a new build goes to the other slot.
        let mut flash = BoardFlash::open_file(&path).unwrap();
        flash.boot(&key.public_key(), "dyad-qemu").unwrap();
        flash.confirm().unwrap();
        drop(flash);
        assert!(matches!(
            flash_if_new(&path, &v1).unwrap(),
            FlashOutcome::AlreadyThere {
                slot: Slot::A,
                status: SlotStatus::Confirmed
            }
        ));
        let FlashOutcome::Flashed(f) = flash_if_new(&path, &v2).unwrap() else {
            panic!("v2 not flashed")
        };
        assert_eq!(f.slot, Slot::B);
        assert!(describe(&v2).starts_with("version 1.0.0+2, security counter 1"));
    }
}
