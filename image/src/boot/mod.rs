//! The board's boot state: what each of the two slots holds and how far it got, which slot
//! boots when nothing is pending, and the monotonic security counter.
//!
//! The states follow MCUboot's trailer flags (magic, `copy_done`, `image_ok`) and its
//! direct-xip revert rule: a new image is *pending* (swap type TEST), its first boot marks it
//! *trying* (`copy_done`), and only the firmware's confirmation sets *confirmed*
//! (`image_ok`). A trial that is found still unconfirmed at the next boot is reverted.

mod record;
mod select;

pub use record::{decode, encode, pick, RecordError, BLOCK, RECORD_MAGIC};
pub use select::Decision;

use alloc::string::String;
use core::fmt;

use serde::{Deserialize, Serialize};

use crate::header::Version;

/// One of the two slots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Slot {
    /// The first slot.
    A,
    /// The second slot.
    B,
}

impl Slot {
    /// Both slots, in order.
    pub const ALL: [Slot; 2] = [Slot::A, Slot::B];

    /// The other slot.
    pub fn other(self) -> Slot {
        match self {
            Slot::A => Slot::B,
            Slot::B => Slot::A,
        }
    }

    /// 0 for A, 1 for B.
    pub fn index(self) -> usize {
        match self {
            Slot::A => 0,
            Slot::B => 1,
        }
    }
}

impl fmt::Display for Slot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Slot::A => "A",
            Slot::B => "B",
        })
    }
}

/// How far the image in a slot got.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum SlotStatus {
    /// Nothing there (erased, or being written).
    #[default]
    Empty,
    /// Flashed and never booted: MCUboot's magic set, `copy_done` and `image_ok` unset.
    Pending,
    /// Booted once as a trial and not confirmed yet: `copy_done` set, `image_ok` unset.
    Trying,
    /// Confirmed by the firmware after its self-test: `image_ok` set.
    Confirmed,
    /// Reverted, or refused by the boot ROM; why, for `status`. (MCUboot would erase it.)
    Rejected(String),
}

impl fmt::Display for SlotStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SlotStatus::Empty => f.write_str("empty"),
            SlotStatus::Pending => f.write_str("pending"),
            SlotStatus::Trying => f.write_str("on trial"),
            SlotStatus::Confirmed => f.write_str("confirmed"),
            SlotStatus::Rejected(why) => write!(f, "rejected: {why}"),
        }
    }
}

/// A slot's record: its status and what was written there.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SlotRecord {
    /// How far it got.
    pub status: SlotStatus,
    /// Length of the image at the start of the slot.
    pub len: u32,
    /// The image's version, for messages.
    pub version: Version,
    /// The image's SEC_CNT as flashed.
    pub security_counter: u32,
    /// The image's SHA256 TLV as flashed, to tell images apart in `status`.
    pub digest: [u8; 32],
    /// Flashed with `--force` below the board's security counter: the boot ROM lets this
    /// one image past the counter check (a deliberate downgrade by someone with the flash
    /// in hand), without lowering the counter for any other image.
    pub forced: bool,
}

/// The whole boot state, stored twice in the flash's state area.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BootState {
    /// Slot A, then slot B.
    pub slots: [SlotRecord; 2],
    /// The slot that boots when none is pending: the last one confirmed.
    pub preferred: Slot,
    /// The slot the last boot started, which `confirm` confirms.
    pub booted: Option<Slot>,
    /// The NV security counter: the highest SEC_CNT ever confirmed. Never goes down.
    pub security_counter: u32,
    /// What the last boot decided and why, one line per slot considered.
    pub last_boot: String,
}

impl Default for BootState {
    /// A blank board: both slots empty, counter 0.
    fn default() -> BootState {
        BootState {
            slots: Default::default(),
            preferred: Slot::A,
            booted: None,
            security_counter: 0,
            last_boot: String::new(),
        }
    }
}

impl BootState {
    /// The record of `slot`.
    pub fn slot(&self, slot: Slot) -> &SlotRecord {
        &self.slots[slot.index()]
    }

    /// The record of `slot`, to change it.
    pub fn slot_mut(&mut self, slot: Slot) -> &mut SlotRecord {
        &mut self.slots[slot.index()]
    }
}
