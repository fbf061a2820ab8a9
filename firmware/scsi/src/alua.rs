//! Asymmetric logical unit access (SPC-5 §5.16): access states and target port groups.

use crate::sense::{asc, Sense};
use serde::{Deserialize, Serialize};

/// ALUA access state of a (LUN, target port group), with its REPORT TARGET PORT GROUPS code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[repr(u8)]
pub enum AccessState {
    ActiveOptimized = 0x0,
    ActiveNonOptimized = 0x1,
    Standby = 0x2,
    Unavailable = 0x3,
    Transitioning = 0xF,
}

impl AccessState {
    /// The NOT READY condition this state puts a logical unit in for the commands it does not
    /// admit (SPC-5 §5.16.2); `None` for the active states.
    pub const fn not_ready_sense(self) -> Option<Sense> {
        match self {
            AccessState::ActiveOptimized | AccessState::ActiveNonOptimized => None,
            AccessState::Standby => Some(asc::LUN_NOT_ACCESSIBLE_STANDBY),
            AccessState::Unavailable => Some(asc::LUN_NOT_ACCESSIBLE_UNAVAILABLE),
            AccessState::Transitioning => Some(asc::LUN_NOT_READY_TRANSITIONING),
        }
    }
}

/// Target port group 1 holds the ports of a controller that runs without a peer; 2 and 3 are
/// controller 1's and controller 2's ports in HA (the layout CTL uses).
pub const TPG_SINGLE: u16 = 1;

pub const fn tpg_of_controller(controller: u8) -> u16 {
    1 + controller as u16
}

/// Relative target port identifiers are unique across both controllers: each owns a range.
pub const PORTS_PER_CONTROLLER: u16 = 256;

/// The relative target port id of a controller's `index`-th port (index from 0).
pub const fn relative_port_id(controller: u8, index: u16) -> u16 {
    (controller.saturating_sub(1) as u16) * PORTS_PER_CONTROLLER + index + 1
}
