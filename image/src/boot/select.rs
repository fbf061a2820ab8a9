//! The boot state's transitions: where a new image goes, the boot ROM's choice (trial,
//! revert, fallback), and the firmware's confirmation. Pure logic over [`BootState`]: the
//! caller brings the image check (signature, board, counter) as a closure, so this runs the
//! same over a file, a block device or memory.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

use super::{BootState, Slot, SlotRecord, SlotStatus};
use crate::flash::FlashError;

/// Longest reason kept in a slot record or the boot log (the record must fit its block).
const MAX_REASON: usize = 240;

/// What the boot ROM decided: which slot boots, whether as a trial, what the check
/// returned for it, and one line per slot considered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision<T> {
    /// The slot that boots.
    pub slot: Slot,
    /// A pending image's first boot: it must confirm, or the next boot reverts it.
    pub trial: bool,
    /// What the check returned for the slot.
    pub value: T,
    /// What happened to each slot considered, in order.
    pub log: Vec<String>,
}

impl BootState {
    /// The slot a new image is written to: the preferred slot while it holds nothing
    /// confirmed (a blank board, or a first image that never confirmed), else the other
    /// one, so the confirmed image stays as the fallback.
    pub fn flash_target(&self) -> Slot {
        if self.slot(self.preferred).status == SlotStatus::Confirmed {
            self.preferred.other()
        } else {
            self.preferred
        }
    }

    /// Whether an image with `security_counter` may be flashed: not below the board's
    /// counter unless `force`. Returns whether the flash is a forced downgrade.
    pub fn admit(&self, security_counter: u32, force: bool) -> Result<bool, FlashError> {
        let downgrade = security_counter < self.security_counter;
        if downgrade && !force {
            return Err(FlashError::Downgrade {
                image: security_counter,
                board: self.security_counter,
            });
        }
        Ok(downgrade)
    }

    /// Empties `slot` before it is written, so a write cut short never looks pending.
    pub fn erase(&mut self, slot: Slot) {
        *self.slot_mut(slot) = SlotRecord::default();
        if self.booted == Some(slot) {
            self.booted = None;
        }
    }

    /// The lowest SEC_CNT `slot` may boot with: the board's counter, or anything for a
    /// forced downgrade.
    pub fn min_security_counter(&self, slot: Slot) -> u32 {
        if self.slot(slot).forced {
            0
        } else {
            self.security_counter
        }
    }

    /// The boot ROM's choice. First, a trial that never confirmed is reverted. Then a
    /// pending image, if `check` accepts it, boots as a trial (marked trying before it
    /// runs, so a crash counts as its try); one `check` refuses is rejected. Otherwise
    /// the confirmed images, preferred first, the other as the fallback. `check(slot,
    /// record, minimum security counter)` verifies the slot's image.
    ///
    /// A confirmed image that fails the check keeps its status: a wrong key or board
    /// handed to the boot ROM must not brick the board. On `Err`, the log lines name every
    /// slot and its reason.
    pub fn select<T, E: fmt::Display>(
        &mut self,
        mut check: impl FnMut(Slot, &SlotRecord, u32) -> Result<T, E>,
    ) -> Result<Decision<T>, FlashError> {
        let mut log = Vec::new();
        for slot in Slot::ALL {
            if self.slot(slot).status == SlotStatus::Trying {
                log.push(format!(
                    "slot {slot} ({}): booted as a trial and never confirmed: reverted",
                    self.slot(slot).version
                ));
                self.slot_mut(slot).status =
                    SlotStatus::Rejected("booted as a trial and never confirmed".to_string());
                if self.booted == Some(slot) {
                    self.booted = None;
                }
            }
        }
        for slot in [self.preferred.other(), self.preferred] {
            if self.slot(slot).status != SlotStatus::Pending {
                continue;
            }
            let minimum = self.min_security_counter(slot);
            let version = self.slot(slot).version;
            match check(slot, self.slot(slot), minimum) {
                Ok(value) => {
                    self.slot_mut(slot).status = SlotStatus::Trying;
                    log.push(format!(
                        "slot {slot} ({version}): pending: trial boot, it must confirm or the next boot reverts it"
                    ));
                    return Ok(self.decide(slot, true, value, log));
                }
                Err(why) => {
                    let why = bounded(format!("{why}"));
                    log.push(format!("slot {slot} ({version}): refused: {why}"));
                    self.slot_mut(slot).status = SlotStatus::Rejected(why);
                }
            }
        }
        for slot in [self.preferred, self.preferred.other()] {
            if self.slot(slot).status != SlotStatus::Confirmed {
                continue;
            }
            let minimum = self.min_security_counter(slot);
            let version = self.slot(slot).version;
            match check(slot, self.slot(slot), minimum) {
                Ok(value) => {
                    log.push(if slot == self.preferred {
                        format!("slot {slot} ({version}): confirmed")
                    } else {
                        format!("slot {slot} ({version}): confirmed, booting it as the fallback")
                    });
                    return Ok(self.decide(slot, false, value, log));
                }
                Err(why) => {
                    log.push(format!(
                        "slot {slot} ({version}): refused: {}",
                        bounded(format!("{why}"))
                    ));
                }
            }
        }
        for slot in Slot::ALL {
            match &self.slot(slot).status {
                SlotStatus::Empty => log.push(format!("slot {slot}: empty")),
                SlotStatus::Rejected(why)
                    if !log.iter().any(|l| l.starts_with(&format!("slot {slot} "))) =>
                {
                    log.push(format!("slot {slot}: rejected earlier: {why}"))
                }
                _ => {}
            }
        }
        self.booted = None;
        self.last_boot = bounded(format!("no bootable image: {}", log.join("; ")));
        Err(FlashError::NoBootableImage { log })
    }

    fn decide<T>(&mut self, slot: Slot, trial: bool, value: T, log: Vec<String>) -> Decision<T> {
        self.booted = Some(slot);
        self.last_boot = bounded(format!("booted slot {slot}: {}", log.join("; ")));
        Decision {
            slot,
            trial,
            value,
            log,
        }
    }

    /// The firmware's confirmation of the image it runs: sets `image_ok`, makes its slot the
    /// preferred one and raises the board's security counter to its SEC_CNT. Returns false
    /// when it was already confirmed (confirming twice is harmless).
    pub fn confirm(&mut self) -> Result<(Slot, bool), FlashError> {
        let slot = self.booted.ok_or(FlashError::NothingBooted)?;
        match self.slot(slot).status {
            SlotStatus::Trying => {
                let record = self.slot_mut(slot);
                record.status = SlotStatus::Confirmed;
                let counter = record.security_counter;
                self.preferred = slot;
                self.security_counter = self.security_counter.max(counter);
                Ok((slot, true))
            }
            SlotStatus::Confirmed => Ok((slot, false)),
            ref other => Err(FlashError::NotOnTrial {
                slot,
                status: format!("{other}"),
            }),
        }
    }
}

/// `text` cut to [`MAX_REASON`] bytes at a character boundary.
fn bounded(mut text: String) -> String {
    if text.len() > MAX_REASON {
        let mut cut = MAX_REASON - 3;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push_str("...");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::header::Version;

    fn record(status: SlotStatus, major: u8, counter: u32) -> SlotRecord {
        SlotRecord {
            status,
            len: 1000,
            version: Version {
                major,
                ..Version::default()
            },
            security_counter: counter,
            digest: [major; 32],
            forced: false,
        }
    }

    /// Accepts every image whose counter reaches the minimum.
    fn accept(_: Slot, record: &SlotRecord, minimum: u32) -> Result<u8, String> {
        if record.security_counter >= minimum {
            Ok(record.version.major)
        } else {
            Err(format!(
                "downgrade: {} below {minimum}",
                record.security_counter
            ))
        }
    }

    /// A board with v1 confirmed in A (counter 1).
    fn confirmed_v1() -> BootState {
        let mut state = BootState::default();
        *state.slot_mut(Slot::A) = record(SlotStatus::Confirmed, 1, 1);
        state.security_counter = 1;
        state
    }

    #[test]
    fn blank_board_flashes_into_a_then_b() {
        let mut state = BootState::default();
        assert_eq!(state.flash_target(), Slot::A);
        *state.slot_mut(Slot::A) = record(SlotStatus::Pending, 1, 1);
        assert_eq!(state.flash_target(), Slot::A, "nothing confirmed yet");
        let state = confirmed_v1();
        assert_eq!(state.flash_target(), Slot::B);
    }

    #[test]
    fn pending_boots_as_trial_then_confirms() {
        let mut state = confirmed_v1();
        *state.slot_mut(Slot::B) = record(SlotStatus::Pending, 2, 2);
        let decision = state.select(accept).unwrap();
        assert_eq!(
            (decision.slot, decision.trial, decision.value),
            (Slot::B, true, 2)
        );
        assert_eq!(state.slot(Slot::B).status, SlotStatus::Trying);
        assert_eq!(state.confirm(), Ok((Slot::B, true)));
        assert_eq!(state.preferred, Slot::B);
        assert_eq!(state.security_counter, 2);
        assert_eq!(state.confirm(), Ok((Slot::B, false)));
        // Next boot: B, no trial; A stays as the (now too old) fallback.
        let decision = state.select(accept).unwrap();
        assert_eq!((decision.slot, decision.trial), (Slot::B, false));
        assert_eq!(state.flash_target(), Slot::A);
    }

    #[test]
    fn unconfirmed_trial_is_reverted() {
        let mut state = confirmed_v1();
        *state.slot_mut(Slot::B) = record(SlotStatus::Pending, 2, 2);
        state.select(accept).unwrap();
        // The firmware died before confirming: the next boot reverts.
        let decision = state.select(accept).unwrap();
        assert_eq!(
            (decision.slot, decision.trial, decision.value),
            (Slot::A, false, 1)
        );
        assert!(
            decision.log[0]
                .contains("slot B (2.0.0): booted as a trial and never confirmed: reverted"),
            "{:?}",
            decision.log
        );
        assert!(matches!(
            state.slot(Slot::B).status,
            SlotStatus::Rejected(_)
        ));
        assert_eq!(
            state.security_counter, 1,
            "a reverted image never raises the counter"
        );
        assert!(state.last_boot.contains("reverted"));
    }

    #[test]
    fn refused_pending_image_is_rejected_and_the_confirmed_one_boots() {
        let mut state = confirmed_v1();
        *state.slot_mut(Slot::B) = record(SlotStatus::Pending, 2, 2);
        let decision = state
            .select(|slot, record, min| {
                if slot == Slot::B {
                    Err("bad signature: no".to_string())
                } else {
                    accept(slot, record, min)
                }
            })
            .unwrap();
        assert_eq!(decision.slot, Slot::A);
        assert_eq!(
            decision.log[0],
            "slot B (2.0.0): refused: bad signature: no"
        );
        assert_eq!(
            state.slot(Slot::B).status,
            SlotStatus::Rejected("bad signature: no".to_string())
        );
    }

    #[test]
    fn confirmed_fallback_and_its_counter() {
        let mut state = confirmed_v1();
        *state.slot_mut(Slot::B) = record(SlotStatus::Confirmed, 2, 2);
        state.preferred = Slot::B;
        state.security_counter = 2;
        // B fails (damaged): A is older than the counter, so nothing boots.
        let refuse_b = |slot: Slot, record: &SlotRecord, min: u32| {
            if slot == Slot::B {
                Err("SHA-256 mismatch".to_string())
            } else {
                accept(slot, record, min)
            }
        };
        let err = state.select(refuse_b).unwrap_err();
        let FlashError::NoBootableImage { log } = &err else {
            panic!("{err:?}")
        };
        assert_eq!(log[0], "slot B (2.0.0): refused: SHA-256 mismatch");
        assert_eq!(log[1], "slot A (1.0.0): refused: downgrade: 1 below 2");
        assert_eq!(state.booted, None);
        // Confirmed slots keep their status: the next boot tries them again.
        assert_eq!(state.slot(Slot::B).status, SlotStatus::Confirmed);
        // Had A been a forced downgrade, it would boot as the fallback.
        state.slot_mut(Slot::A).forced = true;
        let decision = state.select(refuse_b).unwrap();
        assert_eq!(decision.slot, Slot::A);
        assert!(decision.log[1].ends_with("confirmed, booting it as the fallback"));
    }

    #[test]
    fn no_bootable_image_names_every_slot() {
        let mut state = BootState::default();
        *state.slot_mut(Slot::A) = record(SlotStatus::Trying, 1, 1);
        state.booted = Some(Slot::A);
        let err = state.select(accept).unwrap_err();
        let FlashError::NoBootableImage { log } = &err else {
            panic!("{err:?}")
        };
        assert_eq!(log.len(), 2);
        assert!(log[0].contains("reverted"));
        assert_eq!(log[1], "slot B: empty");
        assert!(format!("{err}").starts_with("no bootable image: slot A"));
        assert_eq!(state.confirm(), Err(FlashError::NothingBooted));
    }

    #[test]
    fn downgrades_need_force() {
        let state = confirmed_v1();
        assert_eq!(state.admit(1, false), Ok(false));
        assert_eq!(
            state.admit(0, false),
            Err(FlashError::Downgrade { image: 0, board: 1 })
        );
        assert_eq!(state.admit(0, true), Ok(true));
    }

    #[test]
    fn confirm_refuses_what_is_not_on_trial() {
        let mut state = confirmed_v1();
        *state.slot_mut(Slot::B) = record(SlotStatus::Pending, 2, 2);
        state.select(accept).unwrap();
        // Re-flashed while on trial: the booted slot is erased, nothing to confirm.
        state.erase(Slot::B);
        assert_eq!(state.confirm(), Err(FlashError::NothingBooted));
        state.booted = Some(Slot::A);
        state.slot_mut(Slot::A).status = SlotStatus::Rejected("x".into());
        assert!(matches!(
            state.confirm(),
            Err(FlashError::NotOnTrial { slot: Slot::A, .. })
        ));
    }

    #[test]
    fn reasons_are_bounded() {
        let long = "é".repeat(500);
        let cut = bounded(long);
        assert!(cut.len() <= MAX_REASON);
        assert!(cut.ends_with("..."));
    }
}
