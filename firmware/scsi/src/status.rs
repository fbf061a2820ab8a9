//! SCSI status codes (SAM-6 §5.3) and the result of one command.

use crate::sense::{Sense, SenseBytes};
use alloc::vec::Vec;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ScsiStatus {
    Good = 0x00,
    CheckCondition = 0x02,
    ConditionMet = 0x04,
    Busy = 0x08,
    ReservationConflict = 0x18,
    TaskSetFull = 0x28,
    AcaActive = 0x30,
    TaskAborted = 0x40,
}

/// What a command produced: its status, sense bytes when CHECK CONDITION, and data-in.
///
/// `data` is the data-in the device server produced; the transport clips it to the
/// initiator's expected length and reports the residual.
#[derive(Debug, Default)]
pub struct CommandResult {
    pub status: Option<ScsiStatus>,
    pub sense: SenseBytes,
    pub data: Vec<u8>,
}

impl CommandResult {
    pub fn good(data: Vec<u8>) -> Self {
        CommandResult {
            status: Some(ScsiStatus::Good),
            sense: SenseBytes::new(),
            data,
        }
    }

    pub fn check_condition(sense: &Sense, descriptor: bool) -> Self {
        CommandResult {
            status: Some(ScsiStatus::CheckCondition),
            sense: sense.encode(descriptor),
            data: Vec::new(),
        }
    }

    pub fn status(status: ScsiStatus) -> Self {
        CommandResult {
            status: Some(status),
            sense: SenseBytes::new(),
            data: Vec::new(),
        }
    }

    pub fn scsi_status(&self) -> ScsiStatus {
        self.status.unwrap_or(ScsiStatus::Good)
    }
}
