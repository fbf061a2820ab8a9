//! dyad's SCSI target core, modelled on FreeBSD's CAM Target Layer: one command table, sense
//! data, unit attentions, task set ordering and task management, LUNs behind target ports, and
//! the single mutation path the HA peer mirrors. Pure logic: no sockets, threads or clocks; it
//! is driven by calls and reaches storage through [`backend::BlockBackend`].
#![no_std]
#![deny(unsafe_code)]

extern crate alloc;
#[cfg(test)]
extern crate std;

pub mod alua;
pub mod backend;
pub mod buffer_pool;
pub mod cdb;
mod commands;
pub mod device;
pub mod lun;
pub mod lun_address;
pub mod mutation;
pub mod nexus;
pub mod reservations;
pub mod sense;
pub mod status;
pub mod store;
pub mod table;
pub mod task_set;
pub mod transport_id;
pub mod ua;
pub mod wait_queue;

pub use device::{
    BackendOpener, CommandOutcome, CommandRequest, Completion, Submission, TargetDevice, Task,
    TmfOutcome,
};
pub use lun::{LunConfig, LunId, StorageSpec};
pub use nexus::{InitiatorPort, NexusId, PortConfig};
pub use status::{CommandResult, ScsiStatus};
pub use task_set::{AbortKind, TaskAttribute};
