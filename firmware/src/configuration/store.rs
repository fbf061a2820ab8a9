//! The controller's configuration store: the running ctl.conf and the one before it, each
//! replaced atomically (write, fsync, rename, fsync the folder), so a power cut leaves one
//! complete version or the other.
//!
//! The stored file remembers which start-up file it grew from (a CRC-32C in its first
//! line): a restart with the same file comes back to the stored state, console changes
//! included; a changed or different file wins, and the stored state becomes the previous
//! version, so `config rollback` can bring it back.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

const CURRENT: &str = "ctl.conf";
const PREVIOUS: &str = "ctl.conf.prev";
const SEED_MARK: &str = "# dyad: seeded from ";

pub struct ConfigStore {
    dir: PathBuf,
}

/// A stored configuration: its text and the seed it grew from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub text: String,
    pub seed: Option<u32>,
}

/// The seed fingerprint of a start-up configuration text.
pub fn seed_of(text: &str) -> u32 {
    crc32c::crc32c(text.as_bytes())
}

impl ConfigStore {
    /// The store in `dir` (created if missing).
    pub fn open(dir: &Path) -> io::Result<ConfigStore> {
        fs::create_dir_all(dir)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", dir.display())))?;
        Ok(ConfigStore {
            dir: dir.to_path_buf(),
        })
    }

    pub fn current_path(&self) -> PathBuf {
        self.dir.join(CURRENT)
    }

    pub fn previous_path(&self) -> PathBuf {
        self.dir.join(PREVIOUS)
    }

    pub fn current(&self) -> io::Result<Option<Stored>> {
        read_stored(&self.current_path())
    }

    pub fn previous(&self) -> io::Result<Option<Stored>> {
        read_stored(&self.previous_path())
    }

    /// Makes `text` (grown from `seed`) the current version; the current one becomes the
    /// previous one.
    pub fn save(&self, text: &str, seed: Option<u32>) -> io::Result<()> {
        if let Some(current) = self.current()? {
            self.write_atomically(PREVIOUS, &render(&current))?;
        }
        self.write_atomically(
            CURRENT,
            &render(&Stored {
                text: text.to_string(),
                seed,
            }),
        )
    }

    /// Swaps the current and the previous versions (a rollback); the previous version must
    /// exist.
    pub fn swap(&self) -> io::Result<()> {
        let previous = self.previous()?.ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                "there is no previous configuration",
            )
        })?;
        let current = self.current()?;
        self.write_atomically(CURRENT, &render(&previous))?;
        if let Some(c) = current {
            self.write_atomically(PREVIOUS, &render(&c))?;
        }
        Ok(())
    }

    fn write_atomically(&self, name: &str, text: &str) -> io::Result<()> {
        let path = self.dir.join(name);
        let temporary = self.dir.join(format!("{name}.new"));
        let named = |e: io::Error| io::Error::new(e.kind(), format!("{}: {e}", path.display()));
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&temporary)
            .map_err(named)?;
        f.write_all(text.as_bytes()).map_err(named)?;
        f.sync_all().map_err(named)?;
        drop(f);
        fs::rename(&temporary, &path).map_err(named)?;
        // The rename is durable only once the folder is.
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(named)
    }
}

fn render(stored: &Stored) -> String {
    match stored.seed {
        Some(seed) => format!("{SEED_MARK}{seed:08x}\n{}", stored.text),
        None => stored.text.clone(),
    }
}

fn read_stored(path: &Path) -> io::Result<Option<Stored>> {
    let text = match fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io::Error::new(e.kind(), format!("{}: {e}", path.display()))),
    };
    let (seed, body) = match text
        .strip_prefix(SEED_MARK)
        .and_then(|rest| rest.split_once('\n'))
    {
        Some((hex, body)) => match u32::from_str_radix(hex.trim(), 16) {
            Ok(seed) => (Some(seed), body.to_string()),
            Err(_) => (None, text.clone()),
        },
        None => (None, text.clone()),
    };
    Ok(Some(Stored { text: body, seed }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("dyad-store-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn keeps_the_previous_version_and_swaps_back() {
        let dir = temp_dir("swap");
        let store = ConfigStore::open(&dir).unwrap();
        assert_eq!(store.current().unwrap(), None);
        store.save("a\n", Some(7)).unwrap();
        assert_eq!(store.previous().unwrap(), None);
        store.save("b\n", Some(7)).unwrap();
        assert_eq!(store.current().unwrap().unwrap().text, "b\n");
        assert_eq!(store.previous().unwrap().unwrap().text, "a\n");
        assert_eq!(store.current().unwrap().unwrap().seed, Some(7));
        store.swap().unwrap();
        assert_eq!(store.current().unwrap().unwrap().text, "a\n");
        assert_eq!(store.previous().unwrap().unwrap().text, "b\n");
        assert!(!dir.join("ctl.conf.new").exists());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn rollback_without_a_previous_version_says_so() {
        let dir = temp_dir("none");
        let store = ConfigStore::open(&dir).unwrap();
        let e = store.swap().unwrap_err();
        assert!(e.to_string().contains("no previous configuration"));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_hand_written_store_has_no_seed() {
        let dir = temp_dir("hand");
        let store = ConfigStore::open(&dir).unwrap();
        fs::write(store.current_path(), "# mine\nlun a { }\n").unwrap();
        let s = store.current().unwrap().unwrap();
        assert_eq!(s.seed, None);
        assert_eq!(s.text, "# mine\nlun a { }\n");
        fs::remove_dir_all(&dir).unwrap();
    }
}
