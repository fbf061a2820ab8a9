//! The sim backplane's slot map and hot-plug: which slot holds which drive, pulling a drive
//! out into `pulled/` and inserting it again (into its own slot or another), the LUN label
//! on each drive, and the slots' locate and fault indicators. Also the `hal` backplane
//! traits over all of it.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::PathBuf;

use hal::backplane::{
    self, Backplane, DriveHealth, DriveIdentity, DriveKey, Indicator, Indicators, SlotIndicators,
};

use super::sidecar::DriveRecord;
use super::{bay_transport, write_atomic, Enclosure, HEALTH_NOT_AVAILABLE, SLOTS};
use crate::backplane::SlotView;

/// Which pulled drive an insert puts back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PulledDrive {
    /// The one pulled from this slot.
    FromSlot(u32),
    /// The one with this designator.
    Key(DriveKey),
}

impl PulledDrive {
    /// The pulled drive named by its designator as listings print it (`naa.…`, `eui.…`).
    pub fn by_designator(text: &str) -> Option<PulledDrive> {
        DriveKey::parse(text).map(PulledDrive::Key)
    }
}

/// A pulled drive: its record and where its data waits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pulled {
    pub record: DriveRecord,
    pub data: PathBuf,
}

/// The whole backplane at one moment: what the firmware's poll compares with what it saw.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// The drives in the slots, by slot.
    pub slots: BTreeMap<u32, DriveRecord>,
    /// The drives out of the enclosure.
    pub pulled: Vec<Pulled>,
}

impl Snapshot {
    /// The slots whose drive holds LUN `lun`'s data (normally one).
    pub fn slots_holding(&self, lun: &str) -> Vec<u32> {
        self.slots
            .iter()
            .filter(|(_, r)| r.lun.as_deref() == Some(lun))
            .map(|(n, _)| *n)
            .collect()
    }

    /// The pulled drive that holds LUN `lun`'s data, if one does.
    pub fn pulled_holding(&self, lun: &str) -> Option<&Pulled> {
        self.pulled
            .iter()
            .find(|p| p.record.lun.as_deref() == Some(lun))
    }

    /// The slot holding the drive `key`.
    pub fn slot_of(&self, key: DriveKey) -> Option<u32> {
        self.slots
            .iter()
            .find(|(_, r)| r.key() == key)
            .map(|(n, _)| *n)
    }
}

impl Enclosure {
    /// The drive in slot `n`, `None` when the slot is empty.
    pub fn drive_in(&self, n: u32) -> io::Result<Option<DriveRecord>> {
        self.check_slot(n)?;
        let data = self.slot_path(n);
        let sidecar = self.sidecar_path(n);
        read_drive(&sidecar, &data)
    }

    /// The drives pulled out of the enclosure, in no particular order.
    pub fn pulled(&self) -> io::Result<Vec<Pulled>> {
        let dir = self.pulled_dir();
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(named(&dir, e)),
        };
        let mut out = Vec::new();
        for entry in entries {
            let path = entry.map_err(|e| named(&dir, e))?.path();
            if path.extension().is_none_or(|x| x != "drive") {
                continue;
            }
            let data = path.with_extension("img");
            if let Some(record) = read_drive(&path, &data)? {
                out.push(Pulled { record, data });
            }
        }
        Ok(out)
    }

    /// Every slot and every pulled drive.
    pub fn snapshot(&self) -> io::Result<Snapshot> {
        let mut slots = BTreeMap::new();
        for n in 0..SLOTS {
            if let Some(record) = self.drive_in(n)? {
                slots.insert(n, record);
            }
        }
        Ok(Snapshot {
            slots,
            pulled: self.pulled()?,
        })
    }

    /// Pulls the drive out of slot `n` into `pulled/`. The slot reads empty from the first
    /// step on; a controller with the drive open sees it gone at its next poll.
    pub fn pull(&self, n: u32) -> io::Result<DriveRecord> {
        let mut record = self
            .drive_in(n)?
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("slot {n} is empty")))?;
        let dir = self.pulled_dir();
        fs::create_dir_all(&dir).map_err(|e| named(&dir, e))?;
        let (sidecar, data) = self.pulled_paths(record.key());
        if data.exists() || sidecar.exists() {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!(
                    "{} is already there: a drive of the same identity was pulled before",
                    data.display()
                ),
            ));
        }
        // The sidecar first: without it the slot is empty, so nobody sees a drive whose
        // data is half gone.
        rename(&self.sidecar_path(n), &sidecar)?;
        if let Err(e) = rename(&self.slot_path(n), &data) {
            // Put the sidecar back: a data file left without one would later be taken for
            // a drive from before sidecars and given a new identity.
            let _ = fs::rename(&sidecar, self.sidecar_path(n));
            return Err(e);
        }
        record.pulled_from = Some(n);
        write_atomic(&sidecar, &record.to_text())?;
        Ok(record)
    }

    /// Inserts a pulled drive into the empty slot `n`.
    pub fn insert(&self, n: u32, which: PulledDrive) -> io::Result<DriveRecord> {
        self.check_slot(n)?;
        if self.slot_path(n).exists() {
            let holder = match self.drive_in(n)? {
                Some(r) => format!("drive {}", r.key()),
                None => "a data file without a sidecar".into(),
            };
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("slot {n} is not empty: it holds {holder}"),
            ));
        }
        let pulled = self.pulled()?;
        let matching: Vec<&Pulled> = pulled
            .iter()
            .filter(|p| match which {
                PulledDrive::FromSlot(s) => p.record.pulled_from == Some(s),
                PulledDrive::Key(k) => p.record.key() == k,
            })
            .collect();
        let what = match which {
            PulledDrive::FromSlot(s) => format!("pulled from slot {s}"),
            PulledDrive::Key(k) => format!("{k} among the pulled drives"),
        };
        let chosen = match matching.as_slice() {
            [] => {
                return Err(io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("no drive {what}"),
                ))
            }
            [one] => *one,
            several => {
                let keys: Vec<String> =
                    several.iter().map(|p| p.record.key().to_string()).collect();
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("several drives {what}: {}; name one", keys.join(", ")),
                ));
            }
        };
        let (pulled_sidecar, data) = self.pulled_paths(chosen.record.key());
        let mut record = chosen.record.clone();
        record.pulled_from = None;
        // The data first, the sidecar last: the drive appears whole.
        rename(&data, &self.slot_path(n))?;
        if let Err(e) = write_atomic(&self.sidecar_path(n), &record.to_text()) {
            // Back out whole: the drive stays pulled rather than half inserted.
            let _ = fs::rename(self.slot_path(n), &data);
            return Err(e);
        }
        fs::remove_file(&pulled_sidecar).map_err(|e| named(&pulled_sidecar, e))?;
        record.identity.capacity = super::drive_size(&self.slot_path(n)).unwrap_or(0);
        Ok(record)
    }

    /// Moves the drive in slot `from` to the empty slot `to`: a pull and an insert.
    pub fn move_drive(&self, from: u32, to: u32) -> io::Result<DriveRecord> {
        self.check_slot(to)?;
        if self.slot_path(to).exists() {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("slot {to} is not empty"),
            ));
        }
        let pulled = self.pull(from)?;
        self.insert(to, PulledDrive::Key(pulled.key()))
    }

    /// Writes on the drive in slot `n` that it holds LUN `lun`'s data (`None`: nobody's).
    pub fn set_lun_label(&self, n: u32, lun: Option<&str>) -> io::Result<()> {
        let mut record = self
            .drive_in(n)?
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("slot {n} is empty")))?;
        if record.lun.as_deref() == lun {
            return Ok(());
        }
        record.lun = lun.map(str::to_string);
        // The drive may have been pulled since it was read: labelling an empty slot would
        // leave a sidecar without data behind.
        if !self.slot_path(n).exists() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("slot {n} is empty"),
            ));
        }
        write_atomic(&self.sidecar_path(n), &record.to_text())
    }

    /// Every slot as the slot table shows it, the LUN column saying the drive's label.
    pub fn slot_views(&self) -> io::Result<Vec<SlotView>> {
        let snapshot = self.snapshot()?;
        let mut views = Vec::new();
        for slot in 0..SLOTS {
            let record = snapshot.slots.get(&slot);
            views.push(SlotView {
                slot,
                bay: bay_transport(slot),
                drive: record.map(|r| r.identity.clone()),
                indicators: self.slot_indicators(slot)?,
                lun: record.and_then(|r| r.lun.clone()),
                health: record.map(|_| DriveHealth::NotAvailable(HEALTH_NOT_AVAILABLE)),
            });
        }
        Ok(views)
    }

    /// Slot `n`'s locate and fault indicators.
    pub fn slot_indicators(&self, n: u32) -> io::Result<Indicators> {
        self.check_slot(n)?;
        let path = self.indicator_path(n);
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Indicators::default()),
            Err(e) => return Err(named(&path, e)),
        };
        let mut out = Indicators::default();
        for line in text.lines() {
            let Some((key, value)) = line.split_once('=') else {
                continue;
            };
            let on = value.trim() == "on";
            match key.trim() {
                "locate" => out.locate = on,
                "fault" => out.fault = on,
                _ => {}
            }
        }
        Ok(out)
    }

    /// Turns slot `n`'s `which` indicator on or off.
    pub fn set_slot_indicator(&self, n: u32, which: Indicator, on: bool) -> io::Result<()> {
        let mut state = self.slot_indicators(n)?;
        state.set(which, on);
        let word = |b: bool| if b { "on" } else { "off" };
        write_atomic(
            &self.indicator_path(n),
            &format!(
                "locate = {}\nfault = {}\n",
                word(state.locate),
                word(state.fault)
            ),
        )
    }

    /// Where a pulled drive's sidecar and data wait.
    fn pulled_paths(&self, key: DriveKey) -> (PathBuf, PathBuf) {
        let dir = self.pulled_dir();
        (
            dir.join(format!("{key}.drive")),
            dir.join(format!("{key}.img")),
        )
    }
}

/// The drive whose sidecar and data are these, `None` unless both are there.
fn read_drive(
    sidecar: &std::path::Path,
    data: &std::path::Path,
) -> io::Result<Option<DriveRecord>> {
    let text = match fs::read_to_string(sidecar) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(named(sidecar, e)),
    };
    let capacity = match super::drive_size(data) {
        Ok(size) => size,
        // Half-way through a pull or an insert: not a drive yet (or any more).
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(named(data, e)),
    };
    let mut record = DriveRecord::parse(&sidecar.display().to_string(), &text)?;
    record.identity.capacity = capacity;
    Ok(Some(record))
}

fn named(path: &std::path::Path, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

fn rename(from: &std::path::Path, to: &std::path::Path) -> io::Result<()> {
    fs::rename(from, to).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("{} -> {}: {e}", from.display(), to.display()),
        )
    })
}

/// An error of the sim board: the host's I/O error, whose kind says what it means for
/// each `hal` trait.
#[derive(Debug)]
pub struct SimError(pub io::Error);

impl From<io::Error> for SimError {
    fn from(e: io::Error) -> Self {
        SimError(e)
    }
}

impl std::fmt::Display for SimError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for SimError {}

impl backplane::Error for SimError {
    fn kind(&self) -> backplane::ErrorKind {
        use backplane::ErrorKind as K;
        match self.0.kind() {
            io::ErrorKind::InvalidInput => K::NoSuchSlot,
            io::ErrorKind::NotFound => K::Empty,
            io::ErrorKind::InvalidData => K::BadIdentity,
            io::ErrorKind::Unsupported => K::Unsupported,
            _ => K::Io,
        }
    }
}

impl hal::drive::Error for SimError {
    fn kind(&self) -> hal::drive::ErrorKind {
        use hal::drive::ErrorKind as K;
        match self.0.kind() {
            io::ErrorKind::NotFound => K::NotPresent,
            io::ErrorKind::InvalidInput => K::OutOfRange,
            io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded => K::NoSpace,
            io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem => K::ReadOnly,
            io::ErrorKind::Unsupported => K::Unsupported,
            _ => K::Medium,
        }
    }
}

impl hal::fence::Error for SimError {
    fn kind(&self) -> hal::fence::ErrorKind {
        use hal::fence::ErrorKind as K;
        match self.0.kind() {
            io::ErrorKind::TimedOut => K::NotConfirmed,
            io::ErrorKind::Unsupported => K::Unsupported,
            _ => K::Io,
        }
    }
}

impl hal::watchdog::Error for SimError {
    fn kind(&self) -> hal::watchdog::ErrorKind {
        use hal::watchdog::ErrorKind as K;
        match self.0.kind() {
            io::ErrorKind::InvalidInput => K::TimeoutOutOfRange,
            io::ErrorKind::Unsupported => K::Unsupported,
            _ => K::Io,
        }
    }
}

impl backplane::ErrorType for Enclosure {
    type Error = SimError;
}

impl Backplane for Enclosure {
    fn slot_count(&self) -> u32 {
        SLOTS
    }

    fn drive(&self, slot: u32) -> Result<Option<DriveIdentity>, SimError> {
        Ok(self.drive_in(slot)?.map(|r| r.identity))
    }

    fn health(&self, slot: u32) -> Result<DriveHealth, SimError> {
        match self.drive_in(slot)? {
            Some(_) => Ok(DriveHealth::NotAvailable(HEALTH_NOT_AVAILABLE)),
            None => Err(SimError(io::Error::new(
                io::ErrorKind::NotFound,
                format!("slot {slot} is empty"),
            ))),
        }
    }
}

impl SlotIndicators for Enclosure {
    fn indicators(&self, slot: u32) -> Result<Indicators, SimError> {
        Ok(self.slot_indicators(slot)?)
    }

    fn set_indicator(&mut self, slot: u32, which: Indicator, on: bool) -> Result<(), SimError> {
        Ok(self.set_slot_indicator(slot, which, on)?)
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_dir::TestDir;
    use super::*;
    use hal::backplane::Error as _;

    fn enclosure(name: &str) -> (Enclosure, TestDir) {
        let dir = TestDir::new(name);
        (Enclosure::open(dir.path()).unwrap(), dir)
    }

    #[test]
    fn a_pulled_drive_leaves_its_slot_empty_and_comes_back_whole() {
        let (e, _dir) = enclosure("pull");
        e.ensure_drive(3, 1 << 20).unwrap();
        fs::write(e.slot_path(3), vec![0x5a; 1 << 20]).unwrap();
        e.set_lun_label(3, Some("lun0")).unwrap();
        let before = e.drive_in(3).unwrap().unwrap();

        let pulled = e.pull(3).unwrap();
        assert_eq!(pulled.key(), before.key());
        assert!(e.drive_in(3).unwrap().is_none());
        assert!(!e.slot_path(3).exists());
        let out = e.pulled().unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].record.pulled_from, Some(3));
        assert_eq!(out[0].record.lun.as_deref(), Some("lun0"));
        assert!(e.pull(3).is_err(), "nothing left to pull");

        let back = e.insert(3, PulledDrive::FromSlot(3)).unwrap();
        assert_eq!(back, before);
        assert_eq!(e.drive_in(3).unwrap().unwrap(), before);
        assert_eq!(fs::read(e.slot_path(3)).unwrap(), vec![0x5a; 1 << 20]);
        assert!(e.pulled().unwrap().is_empty());
    }

    #[test]
    fn a_drive_goes_into_another_slot_with_its_identity_and_label() {
        let (e, _dir) = enclosure("move");
        e.ensure_drive(3, 4096).unwrap();
        e.ensure_drive(4, 4096).unwrap();
        e.set_lun_label(3, Some("db")).unwrap();
        let key = e.drive_in(3).unwrap().unwrap().key();
        let err = e.move_drive(3, 4).unwrap_err();
        assert!(err.to_string().contains("slot 4 is not empty"), "{err}");
        let moved = e.move_drive(3, 7).unwrap();
        assert_eq!(moved.key(), key);
        let snap = e.snapshot().unwrap();
        assert_eq!(snap.slots_holding("db"), vec![7]);
        assert_eq!(snap.slot_of(key), Some(7));
        assert!(!snap.slots.contains_key(&3));
        assert!(snap.pulled_holding("db").is_none());
    }

    #[test]
    fn insert_says_what_it_cannot_do() {
        let (e, _dir) = enclosure("insert-errors");
        e.ensure_drive(1, 4096).unwrap();
        e.ensure_drive(2, 4096).unwrap();
        let err = e.insert(5, PulledDrive::FromSlot(1)).unwrap_err();
        assert!(
            err.to_string().contains("no drive pulled from slot 1"),
            "{err}"
        );
        let k1 = e.pull(1).unwrap().key();
        e.insert(1, PulledDrive::Key(k1)).unwrap();
        let err = e.insert(2, PulledDrive::Key(k1)).unwrap_err();
        assert!(err.to_string().contains("slot 2 is not empty"), "{err}");
        assert!(e.insert(SLOTS, PulledDrive::Key(k1)).is_err());
        // Two drives pulled from the same slot: the insert has to be told which.
        e.pull(1).unwrap();
        e.ensure_drive(1, 4096).unwrap();
        e.pull(1).unwrap();
        let err = e.insert(1, PulledDrive::FromSlot(1)).unwrap_err();
        assert!(
            err.to_string()
                .contains("several drives pulled from slot 1"),
            "{err}"
        );
        e.insert(1, PulledDrive::Key(k1)).unwrap();
        assert_eq!(e.drive_in(1).unwrap().unwrap().key(), k1);
    }

    #[test]
    fn indicators_belong_to_the_slot_and_persist() {
        let (mut e, dir) = enclosure("leds");
        assert_eq!(e.slot_indicators(0).unwrap(), Indicators::default());
        e.set_indicator(0, Indicator::Locate, true).unwrap();
        e.set_indicator(0, Indicator::Fault, true).unwrap();
        e.set_indicator(0, Indicator::Fault, false).unwrap();
        let again = Enclosure::open(dir.path()).unwrap();
        assert_eq!(
            again.indicators(0).unwrap(),
            Indicators {
                locate: true,
                fault: false
            }
        );
        assert_eq!(
            e.set_indicator(SLOTS, Indicator::Locate, true)
                .unwrap_err()
                .kind(),
            backplane::ErrorKind::NoSuchSlot
        );
    }

    #[test]
    fn the_backplane_trait_reports_identity_and_a_health_placeholder() {
        let (e, _dir) = enclosure("hal");
        e.ensure_drive(20, 8192).unwrap();
        assert_eq!(e.slot_count(), SLOTS);
        let id = Backplane::drive(&e, 20).unwrap().unwrap();
        assert_eq!(id.transport, hal::backplane::Transport::Nvme);
        assert_eq!(id.capacity, 8192);
        assert_eq!(Backplane::drive(&e, 0).unwrap(), None);
        assert_eq!(
            e.health(20).unwrap(),
            DriveHealth::NotAvailable(HEALTH_NOT_AVAILABLE)
        );
        assert_eq!(e.health(0).unwrap_err().kind(), backplane::ErrorKind::Empty);
    }

    #[test]
    fn slot_views_cover_every_slot_with_its_label_and_leds() {
        let (e, _dir) = enclosure("views");
        e.ensure_drive(2, 4096).unwrap();
        e.set_lun_label(2, Some("x")).unwrap();
        e.set_slot_indicator(5, Indicator::Locate, true).unwrap();
        let views = e.slot_views().unwrap();
        assert_eq!(views.len(), SLOTS as usize);
        assert_eq!(views[2].lun.as_deref(), Some("x"));
        assert!(views[2].drive.is_some() && views[3].drive.is_none());
        assert!(views[5].indicators.locate);
        assert_eq!(views[21].bay, hal::backplane::Transport::Nvme);
        assert_eq!(
            PulledDrive::by_designator("naa.502dad0000000001"),
            Some(PulledDrive::Key(DriveKey::Wwn([
                0x50, 0x2d, 0xad, 0, 0, 0, 0, 1
            ])))
        );
        assert_eq!(PulledDrive::by_designator("slot-3"), None);
    }

    #[test]
    fn labels_are_written_on_the_drive_only() {
        let (e, _dir) = enclosure("label");
        assert!(e.set_lun_label(2, Some("x")).is_err(), "empty slot");
        e.ensure_drive(2, 4096).unwrap();
        e.set_lun_label(2, Some("x")).unwrap();
        assert_eq!(e.drive_in(2).unwrap().unwrap().lun.as_deref(), Some("x"));
        e.set_lun_label(2, None).unwrap();
        assert_eq!(e.drive_in(2).unwrap().unwrap().lun, None);
    }
}
