//! The simulated enclosure: a folder holding the backplane's drives and the enclosure's
//! identity, kept across runs so LUN identities and data survive restarts.
//!
//! ```text
//! enclosure.id              the enclosure's 64-bit identity
//! slot-03.img, slot-03.drive the drive in slot 3: its data and its sidecar (identity, LUN)
//! slot-03.leds              slot 3's locate and fault indicators (absent: both off)
//! pulled/<designator>.img   a drive pulled out of the enclosure, with its sidecar
//! controller-a.pid          the running controllers, for the peer fence
//! controller-a.watchdog     controller A's watchdog, for the launcher
//! ```
//!
//! A slot holds a drive when both its files are there. Hot-plug moves them: a pull moves
//! the sidecar out first, so the slot reads empty before its data goes; an insert moves the
//! data in first and the sidecar last, so the drive appears whole. The firmware sees hot-plug
//! by polling the folder (board `sim` has no interrupt to give).

mod clock;
mod drive;
mod fault;
mod fence;
mod nic;
mod sidecar;
mod slots;
mod watchdog;

pub use clock::SimClock;
pub use drive::SimDrive;
pub use fault::{FaultCommand, FaultHandle, FaultParseError, FaultPlan};
pub use fence::{ControllerRegistration, SimPeerFence};
pub use nic::{NicCounters, UdpFrameNic};
pub use sidecar::DriveRecord;
pub use slots::{Pulled, PulledDrive, SimError, Snapshot};
pub use watchdog::{watchdog_state, SimWatchdog, WatchdogState};

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use hal::backplane::Transport;

/// Slots of the simulated backplane.
pub const SLOTS: u32 = 24;

/// The backplane's NVMe bays: the last four, as on a hybrid 24-bay chassis; the others are
/// SAS. A drive created in a bay gets the bay's transport; a drive moved keeps its own (the
/// bays are tri-mode).
pub const NVME_BAYS: std::ops::Range<u32> = 20..24;

/// The transport of the drives bay `slot` creates.
pub fn bay_transport(slot: u32) -> Transport {
    if NVME_BAYS.contains(&slot) {
        Transport::Nvme
    } else {
        Transport::Sas
    }
}

/// The health text of every sim drive: it has no SMART data or NVMe log to give.
pub const HEALTH_NOT_AVAILABLE: &str = "not available on the sim board";

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

    /// The data file of the drive in slot `n`.
    pub fn slot_path(&self, n: u32) -> PathBuf {
        self.dir.join(format!("slot-{n:02}.img"))
    }

    /// The sidecar of the drive in slot `n`.
    pub fn sidecar_path(&self, n: u32) -> PathBuf {
        self.dir.join(format!("slot-{n:02}.drive"))
    }

    /// Slot `n`'s indicator states.
    pub fn indicator_path(&self, n: u32) -> PathBuf {
        self.dir.join(format!("slot-{n:02}.leds"))
    }

    /// Where pulled drives wait to be inserted again.
    pub fn pulled_dir(&self) -> PathBuf {
        self.dir.join("pulled")
    }

    /// Refuses slot numbers the backplane does not have.
    pub fn check_slot(&self, n: u32) -> io::Result<()> {
        if n < SLOTS {
            Ok(())
        } else {
            Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "slot {n} does not exist: the backplane has slots 0 to {}",
                    SLOTS - 1
                ),
            ))
        }
    }

    /// Makes sure slot `n` holds a drive of at least `size` bytes (a sparse file). A new
    /// drive gets a fresh identity of its bay's transport; a data file left without a
    /// sidecar (an enclosure from before sidecars) gets one too.
    pub fn ensure_drive(&self, n: u32, size: u64) -> io::Result<PathBuf> {
        self.check_slot(n)?;
        let path = self.slot_path(n);
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        let meta = f.metadata()?;
        if std::os::unix::fs::FileTypeExt::is_block_device(&meta.file_type()) {
            // A real drive (the qemu board links its slots to block devices): its size is
            // what it is.
            let have = drive_size(&path)?;
            if have < size {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("the drive in slot {n} holds {have} bytes, less than {size}"),
                ));
            }
        } else if meta.len() < size {
            f.set_len(size)?;
        }
        let sidecar = self.sidecar_path(n);
        if !sidecar.exists() {
            let record = DriveRecord::fresh(bay_transport(n), random_bytes()?);
            write_atomic(&sidecar, &record.to_text())?;
        }
        Ok(path)
    }
}

/// The size of the drive file or block device at `path` (a block device's metadata says 0).
pub fn drive_size(path: &Path) -> io::Result<u64> {
    use std::io::{Seek, SeekFrom};
    use std::os::unix::fs::FileTypeExt;
    let meta = fs::metadata(path)?;
    if meta.file_type().is_block_device() {
        File::open(path)?.seek(SeekFrom::End(0))
    } else {
        Ok(meta.len())
    }
}

/// 16 bytes from the kernel's random source.
pub(crate) fn random_bytes() -> io::Result<[u8; 16]> {
    let mut bytes = [0u8; 16];
    File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes)
}

/// Replaces `path` with `text` so that a reader sees the old or the new content, never a
/// torn one: written to a temporary name, synced, renamed.
pub(crate) fn write_atomic(path: &Path, text: &str) -> io::Result<()> {
    let fail = |what: &str, e: io::Error| {
        io::Error::new(e.kind(), format!("{}: {what}: {e}", path.display()))
    };
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".tmp{}", std::process::id()));
    let tmp = PathBuf::from(name);
    let mut f = File::create(&tmp).map_err(|e| fail("create", e))?;
    f.write_all(text.as_bytes()).map_err(|e| fail("write", e))?;
    f.sync_all().map_err(|e| fail("fsync", e))?;
    fs::rename(&tmp, path).map_err(|e| {
        let _ = fs::remove_file(&tmp);
        fail("rename", e)
    })
}

fn load_or_create_id(path: &Path) -> io::Result<u64> {
    if let Ok(mut f) = File::open(path) {
        let mut s = String::new();
        f.read_to_string(&mut s)?;
        if let Ok(id) = u64::from_str_radix(s.trim(), 16) {
            return Ok(id);
        }
    }
    let [a, b, c, d, e, f, g, h, ..] = random_bytes()?;
    let id = u64::from_le_bytes([a, b, c, d, e, f, g, h]);
    write_atomic(path, &format!("{id:016x}\n"))?;
    Ok(id)
}

#[cfg(test)]
pub(crate) mod test_dir {
    use std::path::{Path, PathBuf};
    use std::sync::atomic::{AtomicU32, Ordering};

    /// A fresh folder under the system's temporary one, removed on drop.
    pub struct TestDir(PathBuf);

    impl TestDir {
        pub fn new(name: &str) -> TestDir {
            static NEXT: AtomicU32 = AtomicU32::new(0);
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let dir =
                std::env::temp_dir().join(format!("dyad-board-{name}-{}-{n}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            TestDir(dir)
        }

        pub fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for TestDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::test_dir::TestDir;
    use super::*;

    #[test]
    fn identity_and_drives_persist() {
        let dir = TestDir::new("persist");
        let e = Enclosure::open(dir.path()).unwrap();
        let p = e.ensure_drive(3, 1 << 20).unwrap();
        assert_eq!(fs::metadata(&p).unwrap().len(), 1 << 20);
        let again = Enclosure::open(dir.path()).unwrap();
        assert_eq!(e.id(), again.id());
        assert!(e.ensure_drive(SLOTS, 1).is_err());
    }

    #[test]
    fn a_new_drive_gets_an_identity_of_its_bays_transport_once() {
        let dir = TestDir::new("identity");
        let e = Enclosure::open(dir.path()).unwrap();
        e.ensure_drive(0, 1 << 20).unwrap();
        e.ensure_drive(21, 1 << 20).unwrap();
        let sas = e.drive_in(0).unwrap().unwrap();
        assert_eq!(sas.identity.transport, Transport::Sas);
        assert_eq!(sas.identity.capacity, 1 << 20);
        assert_eq!(
            e.drive_in(21).unwrap().unwrap().identity.transport,
            Transport::Nvme
        );
        // Growing it keeps who it is.
        e.ensure_drive(0, 2 << 20).unwrap();
        let grown = e.drive_in(0).unwrap().unwrap();
        assert_eq!(grown.key(), sas.key());
        assert_eq!(grown.identity.capacity, 2 << 20);
    }

    #[test]
    fn a_drive_from_before_sidecars_gets_one() {
        let dir = TestDir::new("legacy");
        let e = Enclosure::open(dir.path()).unwrap();
        fs::write(e.slot_path(5), vec![7u8; 4096]).unwrap();
        assert!(e.drive_in(5).unwrap().is_none(), "no sidecar, no drive");
        e.ensure_drive(5, 1024).unwrap();
        let d = e.drive_in(5).unwrap().unwrap();
        assert_eq!(d.identity.capacity, 4096, "never shrunk");
        assert_eq!(fs::read(e.slot_path(5)).unwrap(), vec![7u8; 4096]);
    }
}
