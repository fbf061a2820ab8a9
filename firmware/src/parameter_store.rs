//! Saved LUN parameters on the controller's config store: one file per LUN and key under
//! `<enclosure>/params/`, replaced atomically (write, fsync, rename, fsync the folder), so a
//! crash leaves either the old or the new value, never a torn one.

use scsi::store::ParameterStore;
use scsi::LunId;
use std::fs::{self, File};
use std::io::Write;
use std::path::PathBuf;

pub struct FileStore {
    dir: PathBuf,
}

impl FileStore {
    pub fn new(dir: PathBuf) -> std::io::Result<Self> {
        fs::create_dir_all(&dir)?;
        Ok(FileStore { dir })
    }

    fn path(&self, lun: LunId, key: &str) -> Option<PathBuf> {
        // Keys are ours, but a path must never escape the folder whatever they hold.
        if key.is_empty()
            || !key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return None;
        }
        Some(self.dir.join(format!("lun-{}.{key}", lun.0)))
    }
}

impl ParameterStore for FileStore {
    fn load(&self, lun: LunId, key: &str) -> Option<Vec<u8>> {
        fs::read(self.path(lun, key)?).ok()
    }

    fn save(&self, lun: LunId, key: &str, data: &[u8]) -> Result<(), String> {
        let path = self
            .path(lun, key)
            .ok_or_else(|| format!("parameter key '{key}' is not a plain name"))?;
        let tmp = path.with_extension(format!("{key}.tmp"));
        let fail = |what: &str, e: std::io::Error| format!("{}: {what}: {e}", path.display());
        let mut f = File::create(&tmp).map_err(|e| fail("create", e))?;
        f.write_all(data).map_err(|e| fail("write", e))?;
        f.sync_all().map_err(|e| fail("fsync", e))?;
        fs::rename(&tmp, &path).map_err(|e| fail("rename", e))?;
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| fail("fsync folder", e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saves_atomically_and_refuses_odd_keys() {
        let dir = std::env::temp_dir().join(format!("dyad-params-{}", std::process::id()));
        let s = FileStore::new(dir.clone()).unwrap();
        assert_eq!(s.load(LunId(1), "mode"), None);
        s.save(LunId(1), "mode", b"abc").unwrap();
        s.save(LunId(1), "mode", b"defg").unwrap();
        assert_eq!(s.load(LunId(1), "mode").as_deref(), Some(&b"defg"[..]));
        assert!(s.save(LunId(1), "../x", b"no").is_err());
        assert_eq!(s.load(LunId(1), "../x"), None);
        let leftovers = fs::read_dir(&dir).unwrap().filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        });
        assert_eq!(leftovers.count(), 0);
        fs::remove_dir_all(&dir).unwrap();
    }
}
