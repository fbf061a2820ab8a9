//! The controller's serial console: the shell (console crate) wired to the live
//! configuration, the SCSI core and the iSCSI sessions, on the board's console port.

pub mod edits;
pub mod executor;
pub mod listing;
pub mod scsi_verbs;
pub mod slots;
pub mod socket;
