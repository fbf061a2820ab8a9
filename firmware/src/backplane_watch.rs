//! The backplane watch: notices drives pulled from and inserted into the sim board's
//! enclosure (it has no interrupt to give, so the folder is polled every 200 ms) and keeps
//! each LUN on `path slot:N` with its drive.
//!
//! A LUN is bound to a drive by the drive's `lun` label (see `configuration::lun_config`);
//! the first poll that finds an unbound LUN on the unlabelled drive of its configured slot
//! writes the label. From then on, every poll:
//! - the LUN's drive gone from every slot: `MediumRemoved` (NOT READY, MEDIUM NOT PRESENT);
//! - the drive back, in its slot or another: `MediumInserted` with the new path when it
//!   moved (the backend reopens it; NOT READY TO READY CHANGE, MEDIUM MAY HAVE CHANGED);
//! - the drive moved between two polls: `MediumInserted` at the new place.
//!
//! What it does goes to the log, each change once.

use crate::configuration::live::LiveConfiguration;
use board::sim::{Enclosure, Snapshot};
use config::{Backend, LunPath};
use scsi::mutation::Mutation;
use scsi::StorageSpec;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::Duration;

/// How often the enclosure folder is looked at: a pull is noticed within this.
pub const POLL: Duration = Duration::from_millis(200);

/// What one LUN needs, as a poll decides it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Write the LUN's label on the drive in this slot: its first binding.
    pub bind: Option<u32>,
    pub medium: MediumStep,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediumStep {
    /// As it is.
    Keep,
    /// The drive is gone: no medium.
    Remove,
    /// The drive is in `slot`; `path` when that is not where the LUN had it.
    Insert { slot: u32, path: Option<PathBuf> },
}

/// What LUN `name` (configured on slot `configured`, its medium now at `current` and
/// `present` or not) needs, given the backplane `snapshot`.
pub fn decide(
    enclosure: &Enclosure,
    snapshot: &Snapshot,
    name: &str,
    configured: u32,
    current: &Path,
    present: bool,
) -> Decision {
    let holding = snapshot.slots_holding(name);
    // Where it is now, if it still is; else the first drive holding its data.
    let mut slot = holding
        .iter()
        .copied()
        .find(|s| enclosure.slot_path(*s) == current)
        .or_else(|| holding.first().copied());
    let mut bind = None;
    if slot.is_none() && snapshot.pulled_holding(name).is_none() {
        // Never bound: the drive the LUN opened in its configured slot becomes its drive,
        // unless it holds another LUN's data.
        let unlabelled = snapshot
            .slots
            .get(&configured)
            .is_some_and(|d| d.lun.is_none());
        if unlabelled && enclosure.slot_path(configured) == current {
            bind = Some(configured);
            slot = Some(configured);
        }
    }
    let medium = match slot {
        None if present => MediumStep::Remove,
        None => MediumStep::Keep,
        Some(s) => {
            let path = enclosure.slot_path(s);
            let moved = path != current;
            if present && !moved {
                MediumStep::Keep
            } else {
                MediumStep::Insert {
                    slot: s,
                    path: moved.then_some(path),
                }
            }
        }
    };
    Decision { bind, medium }
}

/// One line for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Logged {
    /// A drive came or went, a LUN followed it.
    Notice(String),
    /// Something the watch cannot do (and will not repeat until it changes).
    Warning(String),
}

fn write_log(lines: Vec<Logged>) {
    for line in lines {
        match line {
            Logged::Notice(text) => crate::log::notice(&text),
            Logged::Warning(text) => crate::log::warning(&text),
        }
    }
}

/// Polls the backplane for one controller.
pub struct BackplaneWatch {
    live: Rc<LiveConfiguration>,
    enclosure: Enclosure,
    /// The last problem reported per LUN (or for the backplane, under ""), so a lasting
    /// one is logged once.
    problems: RefCell<BTreeMap<String, String>>,
}

/// Starts watching the enclosure in `dir` for `live`'s LUNs: one poll now, before anything
/// is served, so a LUN whose drive is out already starts without a medium; then one every
/// [`POLL`] on the runtime.
pub fn start(live: &Rc<LiveConfiguration>, dir: &Path) -> Result<(), String> {
    let enclosure = Enclosure::open(dir).map_err(|e| format!("enclosure: {e}"))?;
    let watch = BackplaneWatch {
        live: live.clone(),
        enclosure,
        problems: RefCell::new(BTreeMap::new()),
    };
    write_log(watch.poll());
    tokio::task::spawn_local(async move {
        let mut tick = tokio::time::interval(POLL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tick.tick().await;
            write_log(watch.poll());
        }
    });
    Ok(())
}

impl BackplaneWatch {
    /// Brings every slot LUN in line with the backplane; returns what it did, for the log.
    pub fn poll(&self) -> Vec<Logged> {
        let mut log = Vec::new();
        let snapshot = match self.enclosure.snapshot() {
            Ok(s) => {
                self.problems.borrow_mut().remove("");
                s
            }
            Err(e) => {
                self.problem(&mut log, "", format!("cannot read the backplane: {e}"));
                return log;
            }
        };
        let config = self.live.config();
        let plan = self.live.plan();
        let device = self.live.device();
        for lun in config.all_luns() {
            let (Backend::Block, Some(LunPath::Slot(configured))) =
                (lun.effective_backend(), &lun.path)
            else {
                continue;
            };
            let name = lun.name.as_str();
            let Some(id) = plan.luns.get(name).map(|l| l.config.id) else {
                continue;
            };
            let Some(core) = device.lun(id) else {
                continue;
            };
            let current = match &core.config().storage {
                StorageSpec::File { path, .. } => PathBuf::from(path),
                StorageSpec::Ramdisk { .. } => continue,
            };
            let present = core.medium_present();
            drop(core);
            let who = format!("LUN {} ({name})", id.0);
            let d = decide(
                &self.enclosure,
                &snapshot,
                name,
                *configured,
                &current,
                present,
            );
            let key_in = |slot: u32| {
                snapshot
                    .slots
                    .get(&slot)
                    .map_or_else(|| "?".to_string(), |r| r.key().to_string())
            };
            if let Some(slot) = d.bind {
                match self.enclosure.set_lun_label(slot, Some(name)) {
                    Ok(()) => log.push(Logged::Notice(format!(
                        "{who}: bound to drive {} in slot {slot}",
                        key_in(slot)
                    ))),
                    Err(e) => {
                        self.problem(&mut log, name, format!("{who}: cannot bind its drive: {e}"));
                        continue;
                    }
                }
            }
            let step = match &d.medium {
                MediumStep::Keep => {
                    self.problems.borrow_mut().remove(name);
                    continue;
                }
                MediumStep::Remove => Mutation::MediumRemoved { lun: id },
                MediumStep::Insert { path, .. } => Mutation::MediumInserted {
                    lun: id,
                    path: path.as_ref().map(|p| p.to_string_lossy().into_owned()),
                },
            };
            match device.apply(step) {
                Ok(()) => {
                    self.problems.borrow_mut().remove(name);
                    log.push(Logged::Notice(match &d.medium {
                        MediumStep::Remove => format!(
                            "{who}: its drive left the enclosure (was {}): NOT READY, \
                             MEDIUM NOT PRESENT",
                            current.display()
                        ),
                        MediumStep::Insert {
                            slot,
                            path: Some(_),
                        } => format!(
                            "{who}: follows its drive {} to slot {slot} (was {})",
                            key_in(*slot),
                            current.display()
                        ),
                        MediumStep::Insert { slot, path: None } => {
                            format!("{who}: its drive {} is back in slot {slot}", key_in(*slot))
                        }
                        MediumStep::Keep => String::new(),
                    }));
                }
                Err(e) => self.problem(&mut log, name, format!("{who}: {e}")),
            }
        }
        log
    }

    /// Logs `text` about `what` unless it is what was logged about it last.
    fn problem(&self, log: &mut Vec<Logged>, what: &str, text: String) {
        let mut problems = self.problems.borrow_mut();
        if problems.get(what) != Some(&text) {
            log.push(Logged::Warning(text.clone()));
            problems.insert(what.to_string(), text);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use board::sim::PulledDrive;

    struct Dir(PathBuf);

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn enclosure(name: &str) -> (Enclosure, Dir) {
        let dir = std::env::temp_dir().join(format!("dyad-watch-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        (Enclosure::open(&dir).unwrap(), Dir(dir))
    }

    fn decide_now(e: &Enclosure, current: &Path, present: bool) -> Decision {
        decide(e, &e.snapshot().unwrap(), "db", 3, current, present)
    }

    const KEEP: Decision = Decision {
        bind: None,
        medium: MediumStep::Keep,
    };

    #[test]
    fn the_first_poll_binds_the_drive_the_lun_opened() {
        let (e, _d) = enclosure("bind");
        e.ensure_drive(3, 4096).unwrap();
        let slot3 = e.slot_path(3);
        assert_eq!(
            decide_now(&e, &slot3, true),
            Decision {
                bind: Some(3),
                medium: MediumStep::Keep
            }
        );
        e.set_lun_label(3, Some("db")).unwrap();
        assert_eq!(decide_now(&e, &slot3, true), KEEP);
        // Not a drive holding another LUN's data.
        e.set_lun_label(3, Some("other")).unwrap();
        assert_eq!(
            decide_now(&e, &slot3, true),
            Decision {
                bind: None,
                medium: MediumStep::Remove
            }
        );
    }

    #[test]
    fn pull_insert_and_move_as_the_lun_sees_them() {
        let (e, _d) = enclosure("hotplug");
        e.ensure_drive(3, 4096).unwrap();
        e.set_lun_label(3, Some("db")).unwrap();
        let slot3 = e.slot_path(3);
        e.pull(3).unwrap();
        let removed = Decision {
            bind: None,
            medium: MediumStep::Remove,
        };
        assert_eq!(decide_now(&e, &slot3, true), removed);
        // Once removed, nothing more until it is back; a blank drive in its slot is not it.
        assert_eq!(decide_now(&e, &slot3, false), KEEP);
        e.ensure_drive(4, 4096).unwrap();
        e.move_drive(4, 3).unwrap();
        assert_eq!(decide_now(&e, &slot3, false), KEEP);
        e.move_drive(3, 4).unwrap();
        // Back in another slot: the LUN goes there.
        e.insert(6, PulledDrive::FromSlot(3)).unwrap();
        let key = e.drive_in(6).unwrap().unwrap();
        assert_eq!(key.lun.as_deref(), Some("db"));
        assert_eq!(
            decide_now(&e, &slot3, false),
            Decision {
                bind: None,
                medium: MediumStep::Insert {
                    slot: 6,
                    path: Some(e.slot_path(6))
                }
            }
        );
        // Back in its own slot: no new path.
        let slot6 = e.slot_path(6);
        e.move_drive(6, 7).unwrap();
        e.move_drive(7, 6).unwrap();
        assert_eq!(
            decide_now(&e, &slot6, false),
            Decision {
                bind: None,
                medium: MediumStep::Insert {
                    slot: 6,
                    path: None
                }
            }
        );
        // Moved between two polls, never seen gone.
        e.move_drive(6, 9).unwrap();
        assert_eq!(
            decide_now(&e, &slot6, true),
            Decision {
                bind: None,
                medium: MediumStep::Insert {
                    slot: 9,
                    path: Some(e.slot_path(9))
                }
            }
        );
    }

    #[test]
    fn a_lun_started_on_its_pulled_drive_loses_the_medium_at_the_first_poll() {
        let (e, _d) = enclosure("startup");
        e.ensure_drive(3, 4096).unwrap();
        e.set_lun_label(3, Some("db")).unwrap();
        e.pull(3).unwrap();
        let pulled = e.pulled().unwrap().remove(0).data;
        // Even with an unlabelled drive in its slot: its data is on the pulled one.
        e.ensure_drive(3, 4096).unwrap();
        assert_eq!(
            decide_now(&e, &pulled, true),
            Decision {
                bind: None,
                medium: MediumStep::Remove
            }
        );
    }
}
