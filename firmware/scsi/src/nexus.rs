//! I_T nexuses (an initiator port logged in through a target port) and target ports.

use crate::lun::LunId;
use crate::reservations::ITNexus;
use alloc::collections::BTreeMap;
use alloc::string::String;
use serde::{Deserialize, Serialize};

/// An I_T nexus, numbered uniquely across both controllers (the controller id is in the top
/// byte) so the peer can hold state for nexuses it does not host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct NexusId(pub u32);

impl NexusId {
    pub const fn new(controller: u8, index: u32) -> Self {
        NexusId(((controller as u32) << 24) | (index & 0x00FF_FFFF))
    }
}

/// An iSCSI initiator port: the initiator name and the session's ISID (SAM's I_T identity).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct InitiatorPort {
    pub name: String,
    pub isid: [u8; 6],
}

/// A target port: one (target, portal group) pair, with its LUN map.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortConfig {
    /// Relative target port identifier, unique across both controllers.
    pub relative_id: u16,
    /// Target port group (ALUA).
    pub tpg: u16,
    /// The target's iSCSI name (SCSI target device name).
    pub target_name: String,
    /// The port's iSCSI name: `<target>,t,0x<tpgt>`.
    pub port_name: String,
    /// Port LUN number → global LUN. `None` exposes every LUN as its global id.
    pub lun_map: Option<BTreeMap<u32, LunId>>,
}

impl PortConfig {
    /// The global LUN behind the port's LUN number `lun`, if the map exposes one.
    pub fn map(&self, lun: u32) -> Option<LunId> {
        match &self.lun_map {
            Some(map) => map.get(&lun).copied(),
            None => Some(LunId(lun)),
        }
    }

    /// The port LUN number under which `id` is exposed, if it is.
    pub fn unmap(&self, id: LunId) -> Option<u32> {
        match &self.lun_map {
            Some(map) => map.iter().find(|(_, v)| **v == id).map(|(k, _)| *k),
            None => Some(id.0),
        }
    }
}

/// What the core knows about a logged-in nexus: its identity as reservations know it (the
/// initiator port and the target port), which survives a re-login with the same ISID.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NexusInfo {
    pub it: ITNexus,
}

impl NexusInfo {
    /// The relative target port it logged in through.
    pub fn port(&self) -> u16 {
        self.it.relative_target_port
    }
}
