//! Where the binaries under test live: the release firmware and the C initiator helpers,
//! overridable by environment variables so CI or a developer can point elsewhere.

use std::env;
use std::io;
use std::path::{Path, PathBuf};

/// The workspace root: this crate sits one level below it (`<root>/tests`).
pub fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// Cargo's target directory, honouring `CARGO_TARGET_DIR` as cargo does.
pub fn target_dir() -> PathBuf {
    match env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => {
            let dir = PathBuf::from(dir);
            if dir.is_absolute() {
                dir
            } else {
                workspace_root().join(dir)
            }
        }
        None => workspace_root().join("target"),
    }
}

/// `DYAD_FIRMWARE`, else `<target>/release/dyad-firmware`.
pub fn firmware_binary() -> PathBuf {
    env::var_os("DYAD_FIRMWARE")
        .map(PathBuf::from)
        .unwrap_or_else(|| target_dir().join("release").join("dyad-firmware"))
}

/// `DYAD_ISCSI_PATTERN`, else `<target>/initiator/iscsi-pattern` (built by `make initiator`).
pub fn pattern_binary() -> PathBuf {
    env::var_os("DYAD_ISCSI_PATTERN")
        .map(PathBuf::from)
        .unwrap_or_else(|| target_dir().join("initiator").join("iscsi-pattern"))
}

/// `DYAD_ISCSI_PR`, else `<target>/initiator/iscsi-pr` (built by `make initiator`).
pub fn pr_binary() -> PathBuf {
    env::var_os("DYAD_ISCSI_PR")
        .map(PathBuf::from)
        .unwrap_or_else(|| target_dir().join("initiator").join("iscsi-pr"))
}

/// Fails with a message naming the build step when `path` is missing, so a test run
/// without `make` says what to do instead of "No such file or directory".
pub fn require_file(path: &Path, how_to_build: &str) -> io::Result<()> {
    if path.is_file() {
        Ok(())
    } else {
        Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("{} not found; {how_to_build}", path.display()),
        ))
    }
}
