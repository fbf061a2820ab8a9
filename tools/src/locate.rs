//! Finds the programs `dyad` drives: the firmware beside its own executable, and the C
//! initiator helper that `make initiator` builds into `target/initiator/`.

use std::env;
use std::path::PathBuf;

fn own_dir() -> Result<PathBuf, String> {
    let exe = env::current_exe().map_err(|e| format!("cannot find my own executable: {e}"))?;
    exe.parent()
        .map(PathBuf::from)
        .ok_or_else(|| format!("{} has no parent directory", exe.display()))
}

/// `dyad-firmware` next to `dyad` (both land in target/release), or `DYAD_FIRMWARE`.
pub fn firmware() -> Result<PathBuf, String> {
    if let Some(path) = env::var_os("DYAD_FIRMWARE") {
        return Ok(PathBuf::from(path));
    }
    let path = own_dir()?.join("dyad-firmware");
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!(
            "{} not found; build it with `cargo build --release -p firmware`",
            path.display()
        ))
    }
}

/// `iscsi-pattern` in `target/initiator/` (a sibling of `target/release/`), or
/// `DYAD_ISCSI_PATTERN`.
pub fn pattern_helper() -> Result<PathBuf, String> {
    if let Some(path) = env::var_os("DYAD_ISCSI_PATTERN") {
        return Ok(PathBuf::from(path));
    }
    let dir = own_dir()?;
    let path = dir
        .parent()
        .unwrap_or(&dir)
        .join("initiator")
        .join("iscsi-pattern");
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!(
            "{} not found; build it with `make initiator`",
            path.display()
        ))
    }
}
