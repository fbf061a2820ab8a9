//! The one mutation path: every change the HA peer must mirror is a serialisable event applied
//! by [`crate::TargetDevice::apply`], whether it was made here or received from the peer.

use crate::lun::{LunConfig, LunId, ModeParameters};
use crate::nexus::{InitiatorPort, NexusId, PortConfig};
use crate::reservations::{ITNexus, NexusSet, PersistentReservations};
use crate::ua::UnitAttention;
use alloc::string::String;
use alloc::vec::Vec;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Mutation {
    LunAdded(LunConfig),
    LunRemoved {
        id: LunId,
    },
    /// ctladm `modify`: the LUN's new configuration. Only the storage size, vendor, product,
    /// revision, read_only, write_cache and read_cache may differ from the current one (else
    /// [`MutationError::Immutable`]). A new size resizes the backend (CAPACITY DATA HAS
    /// CHANGED), new identity strings raise INQUIRY DATA HAS CHANGED, and write protection or
    /// caching (current and default values alike) MODE PARAMETERS CHANGED, for every nexus.
    LunModified {
        id: LunId,
        config: LunConfig,
    },
    PortAdded(PortConfig),
    /// Replaces the port with the same relative id (ctladm `lunmap`, a portal group's new
    /// identity). A changed LUN map raises REPORTED LUNS DATA HAS CHANGED for the nexuses
    /// logged in through this port only, on every LUN it now exposes and on the LUN numbers
    /// that expose none; a changed identity (names, port group) INQUIRY DATA HAS CHANGED.
    PortChanged(PortConfig),
    PortRemoved {
        relative_id: u16,
    },
    NexusLogin {
        nexus: NexusId,
        port: u16,
        initiator: InitiatorPort,
    },
    NexusLogout {
        nexus: NexusId,
    },
    /// MODE SELECT changed the LUN's mode parameters: every nexus but `by` is told MODE
    /// PARAMETERS CHANGED.
    ModeChanged {
        lun: LunId,
        mode: ModeParameters,
        by: Option<NexusId>,
    },
    /// A unit attention for every nexus on `lun` (all LUNs when `None`) except `except`.
    AttentionRaised {
        lun: Option<LunId>,
        ua: UnitAttention,
        except: Option<NexusId>,
    },
    /// A PERSISTENT RESERVE OUT changed `lun`'s persistent reservations to `state`: the
    /// nexuses of each set get its unit attention, and PREEMPT AND ABORT's victims (`abort`)
    /// lose their tasks on the LUN, all but the command `by` (nexus and task tag) itself.
    ReservationsChanged {
        lun: LunId,
        state: PersistentReservations,
        attentions: Vec<(NexusSet, UnitAttention)>,
        abort: Vec<NexusSet>,
        by: (NexusId, u64),
    },
    /// RESERVE or RELEASE (SPC-2) gave `lun`'s reservation to `holder`, or released it.
    Spc2ReservationChanged {
        lun: LunId,
        holder: Option<ITNexus>,
    },
    /// The board reports `lun`'s drive gone (pulled from its slot). Every command that needs
    /// the medium gets NOT READY, MEDIUM NOT PRESENT (02h/3Ah/00h) from then on, as CTL's
    /// `ctl_lun_no_media` makes it; the backend lets go of the drive, so commands already
    /// admitted fail with the same sense when they reach it. No unit attention: the NOT
    /// READY is what each initiator is told, on its next command. Applying it to a LUN whose
    /// medium is already gone changes nothing.
    MediumRemoved {
        lun: LunId,
    },
    /// `lun`'s drive is back, at `path` when it now sits elsewhere (inserted into another
    /// slot): the backend opens it again and the LUN's configured path follows. Every nexus
    /// is told NOT READY TO READY CHANGE, MEDIUM MAY HAVE CHANGED (28h/00h), as CTL raises
    /// `CTL_UA_MEDIUM_CHANGE` when a LUN has media again: what was read before may not be
    /// what the medium holds now. Nothing changes if the backend cannot open it.
    MediumInserted {
        lun: LunId,
        path: Option<String>,
    },
}

/// Why a mutation could not be applied; nothing changed when it is returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MutationError {
    LunExists(LunId),
    NoSuchLun(LunId),
    PortExists(u16),
    NoSuchPort(u16),
    NexusExists(NexusId),
    /// The backend could not be opened or changed; the text names the LUN or path and the
    /// problem.
    Backend(alloc::string::String),
    /// `LunModified` would change this field of the LUN's configuration (named as in
    /// [`LunConfig`], e.g. "block_size"), which only removing and re-adding the LUN can.
    Immutable(&'static str),
}

impl core::fmt::Display for MutationError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            MutationError::LunExists(id) => write!(f, "LUN {} already exists", id.0),
            MutationError::NoSuchLun(id) => write!(f, "no LUN {}", id.0),
            MutationError::PortExists(p) => write!(f, "target port {p} already exists"),
            MutationError::NoSuchPort(p) => write!(f, "no target port {p}"),
            MutationError::NexusExists(n) => write!(f, "I_T nexus {:#x} already exists", n.0),
            MutationError::Backend(e) => write!(f, "{e}"),
            MutationError::Immutable(field) => {
                write!(f, "{field} of an existing LUN cannot be modified")
            }
        }
    }
}
