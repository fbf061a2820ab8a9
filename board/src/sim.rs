//! The simulated enclosure: a folder holding one file per backplane slot and the enclosure's
//! identity, kept across runs so LUN identities and data survive restarts.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

/// Slots of the simulated backplane.
pub const SLOTS: u32 = 24;

/// An enclosure folder (default `./var/enclosure`).
#[derive(Debug, Clone)]
pub struct Enclosure {
    dir: PathBuf,
    id: u64,
}

impl Enclosure {
    /// Opens (creating if needed) the enclosure folder and its identity.
    pub fn open(dir: &Path) -> io::Result<Enclosure> {
        fs::create_dir_all(dir)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", dir.display())))?;
        let id = load_or_create_id(&dir.join("enclosure.id"))?;
        Ok(Enclosure {
            dir: dir.to_path_buf(),
            id,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A 64-bit identity, random at creation, from which LUN designators are derived.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The file behind slot `n`.
    pub fn slot_path(&self, n: u32) -> PathBuf {
        self.dir.join(format!("slot-{n:02}.img"))
    }

    /// Makes sure slot `n` holds a drive of at least `size` bytes (a sparse file).
    pub fn ensure_drive(&self, n: u32, size: u64) -> io::Result<PathBuf> {
        if n >= SLOTS {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "slot {n} does not exist: the backplane has slots 0 to {}",
                    SLOTS - 1
                ),
            ));
        }
        let path = self.slot_path(n);
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        if f.metadata()?.len() < size {
            f.set_len(size)?;
        }
        Ok(path)
    }
}

fn load_or_create_id(path: &Path) -> io::Result<u64> {
    if let Ok(mut f) = File::open(path) {
        let mut s = String::new();
        f.read_to_string(&mut s)?;
        if let Ok(id) = u64::from_str_radix(s.trim(), 16) {
            return Ok(id);
        }
    }
    let mut bytes = [0u8; 8];
    File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    let id = u64::from_le_bytes(bytes);
    // Written to a temporary name and renamed, so a crash never leaves a torn identity.
    let tmp = path.with_extension("id.tmp");
    let mut f = File::create(&tmp)?;
    writeln!(f, "{id:016x}")?;
    f.sync_all()?;
    fs::rename(&tmp, path)?;
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_and_drives_persist() {
        let dir = std::env::temp_dir().join(format!("dyad-sim-{}", std::process::id()));
        let e = Enclosure::open(&dir).unwrap();
        let p = e.ensure_drive(3, 1 << 20).unwrap();
        assert_eq!(fs::metadata(&p).unwrap().len(), 1 << 20);
        let again = Enclosure::open(&dir).unwrap();
        assert_eq!(e.id(), again.id());
        assert!(e.ensure_drive(SLOTS, 1).is_err());
        fs::remove_dir_all(&dir).unwrap();
    }
}
