//! A logical unit: its configuration, its storage backend, and its per-nexus state.

use crate::backend::{BlockBackend, Geometry};
use crate::commands::statistics::Statistics;
use crate::commands::{BufferState, MediumState, SanitizeState};
use crate::nexus::NexusId;
use crate::reservations::{PersistentReservations, Spc2Reservation};
use crate::task_set::TaskSet;
use crate::ua::{PendingAttentions, UnitAttention};
use alloc::collections::BTreeMap;
use alloc::string::String;
use core::cell::{Cell, RefCell};
use serde::{Deserialize, Serialize};

/// A LUN's global identity: the same number on both controllers (CTL's `ctl-lun`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct LunId(pub u32);

/// Where a LUN's data lives, as the configuration names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum StorageSpec {
    /// A sparse in-memory disk of `size` bytes.
    Ramdisk { size: u64 },
    /// A regular file or block device; created (sparse) or extended to `size` if given.
    File { path: String, size: Option<u64> },
}

/// Everything that defines a LUN, mirrored verbatim to the HA peer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LunConfig {
    pub id: LunId,
    pub name: String,
    pub storage: StorageSpec,
    /// Logical block size: 512 or 4096.
    pub block_size: u32,
    /// Physical block = logical block << `pblock_exp` (READ CAPACITY(16) LOGICAL BLOCKS PER
    /// PHYSICAL BLOCK EXPONENT).
    pub pblock_exp: u8,
    /// LOWEST ALIGNED LOGICAL BLOCK ADDRESS.
    pub pblock_offset: u16,
    /// Unit serial number (VPD 0x80).
    pub serial: String,
    /// Vendor-specific device id for the T10 vendor designator (VPD 0x83).
    pub device_id: String,
    /// NAA IEEE Registered Extended (type 6) designator, 16 bytes.
    pub naa: [u8; 16],
    /// EUI-64 designator.
    pub eui64: [u8; 8],
    pub vendor: String,
    pub product: String,
    pub revision: String,
    pub read_only: bool,
    pub removable: bool,
    /// Initial WCE of the Caching mode page.
    pub write_cache: bool,
    /// Initial RCD (read cache disable) is the negation of this.
    pub read_cache: bool,
    /// Thin provisioned: LBPME, UNMAP and WRITE SAME with UNMAP deallocate, deallocated
    /// blocks read as zeros (LBPRZ).
    pub thin: bool,
}

/// Changeable mode parameters of one LUN: the current values, and in the same shape the
/// default and saved values MODE SENSE reports. Fields that never change are not here; the
/// mode page encoders in `commands/mode_sense.rs` write them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModeParameters {
    /// Caching page: write cache enable.
    pub wce: bool,
    /// Caching page: read cache disable.
    pub rcd: bool,
    /// Control page: descriptor-format sense.
    pub d_sense: bool,
    /// Control page: software write protect.
    pub swp: bool,
    /// Control page: queue algorithm modifier (0 restricted, 1 unrestricted reordering).
    pub qam: u8,
    /// Control page: queue error management (0 the other tasks continue after a CHECK
    /// CONDITION, 1 every task of every nexus is aborted, 3 only the failing nexus's are).
    pub qerr: u8,
    /// Control page: task aborted status.
    pub tas: bool,
    /// Informational Exceptions Control page: disable exception control.
    pub dexcpt: bool,
    /// Informational Exceptions Control page: TEST (report a false exception).
    pub ie_test: bool,
    /// Informational Exceptions Control page: method of reporting informational exceptions.
    pub mrie: u8,
    /// Informational Exceptions Control page: INTERVAL TIMER, in 100 ms units.
    pub interval_timer: u32,
    /// Informational Exceptions Control page: REPORT COUNT.
    pub report_count: u32,
    /// Logical Block Provisioning page: single initiator threshold unit attention.
    pub situa: bool,
    /// Logical Block Provisioning page: the available-resources soft threshold is enabled.
    pub available_threshold_enabled: bool,
    /// Available-resources THRESHOLD COUNT, in threshold sets (VPD B2h THRESHOLD EXPONENT).
    pub available_threshold_count: u32,
    /// Logical Block Provisioning page: the used-resources soft threshold is enabled.
    pub used_threshold_enabled: bool,
    /// Used-resources THRESHOLD COUNT, in threshold sets.
    pub used_threshold_count: u32,
}

impl ModeParameters {
    /// The default values: what a LUN starts with when nothing was saved.
    pub fn from_config(c: &LunConfig) -> Self {
        ModeParameters {
            wce: c.write_cache,
            rcd: !c.read_cache,
            d_sense: false,
            swp: false,
            qam: 0,
            qerr: 0,
            tas: true,
            // No failure prediction exists to report: exceptions start disabled.
            dexcpt: true,
            ie_test: false,
            mrie: 0,
            interval_timer: 0,
            report_count: 0,
            situa: false,
            available_threshold_enabled: false,
            available_threshold_count: 0,
            used_threshold_enabled: false,
            used_threshold_count: 0,
        }
    }
}

/// State of a LUN that commands change.
#[derive(Debug, Default)]
pub struct LunState {
    pub attentions: BTreeMap<NexusId, PendingAttentions>,
    pub mode: Option<ModeParameters>,
}

pub struct Lun<B> {
    pub config: LunConfig,
    pub backend: B,
    pub geometry: Geometry,
    pub(crate) state: RefCell<LunState>,
    pub(crate) tasks: TaskSet,
    /// State of the command families that keep some (medium, buffer, sanitize, counters).
    pub(crate) medium: RefCell<MediumState>,
    pub(crate) buffer: RefCell<BufferState>,
    pub(crate) sanitize: RefCell<SanitizeState>,
    pub(crate) stats: Statistics,
    /// SPC-4 persistent reservations and the SPC-2 RESERVE/RELEASE reservation; changed only
    /// through [`crate::mutation::Mutation`].
    pub(crate) reservations: RefCell<PersistentReservations>,
    pub(crate) spc2: RefCell<Spc2Reservation>,
    /// A thin-provisioning soft threshold was reported and has not been uncrossed since.
    pub(crate) threshold_reached: Cell<bool>,
}

impl<B: BlockBackend> Lun<B> {
    pub fn new(config: LunConfig, backend: B) -> Self {
        let geometry = backend.geometry();
        let mode = ModeParameters::from_config(&config);
        backend.set_write_cache(mode.wce);
        Lun {
            config,
            backend,
            geometry,
            state: RefCell::new(LunState {
                attentions: BTreeMap::new(),
                mode: Some(mode),
            }),
            tasks: TaskSet::default(),
            medium: RefCell::default(),
            buffer: RefCell::default(),
            sanitize: RefCell::default(),
            stats: Statistics::default(),
            reservations: RefCell::default(),
            spc2: RefCell::default(),
            threshold_reached: Cell::new(false),
        }
    }

    pub fn id(&self) -> LunId {
        self.config.id
    }

    pub fn mode(&self) -> ModeParameters {
        self.state
            .borrow()
            .mode
            .unwrap_or_else(|| ModeParameters::from_config(&self.config))
    }

    pub fn set_mode(&self, mode: ModeParameters) {
        self.backend.set_write_cache(mode.wce);
        self.state.borrow_mut().mode = Some(mode);
    }

    /// Whether sense for this LUN is reported in descriptor format.
    pub fn descriptor_sense(&self) -> bool {
        self.mode().d_sense
    }

    /// Write-protected by configuration or by the Control page's SWP.
    pub fn write_protected(&self) -> bool {
        self.config.read_only || self.mode().swp
    }

    pub fn raise(&self, nexus: NexusId, ua: UnitAttention) {
        self.state
            .borrow_mut()
            .attentions
            .entry(nexus)
            .or_default()
            .raise(ua);
    }

    pub fn raise_all(&self, ua: UnitAttention, except: Option<NexusId>) {
        let mut st = self.state.borrow_mut();
        for (n, p) in st.attentions.iter_mut() {
            if Some(*n) != except {
                p.raise(ua);
            }
        }
    }

    /// Reports and clears the highest-priority unit attention pending for `nexus`.
    pub fn take_attention(&self, nexus: NexusId) -> Option<UnitAttention> {
        self.state
            .borrow_mut()
            .attentions
            .get_mut(&nexus)
            .and_then(|p| p.take())
    }

    /// The unit attention that would be reported next to `nexus`, left pending.
    pub fn peek_attention(&self, nexus: NexusId) -> Option<UnitAttention> {
        self.state
            .borrow()
            .attentions
            .get(&nexus)
            .and_then(|p| p.peek())
    }

    pub fn has_attention(&self, nexus: NexusId) -> bool {
        self.state
            .borrow()
            .attentions
            .get(&nexus)
            .is_some_and(|p| !p.is_empty())
    }

    pub(crate) fn nexus_added(&self, nexus: NexusId) {
        let mut st = self.state.borrow_mut();
        let p = st.attentions.entry(nexus).or_default();
        p.raise(UnitAttention::PowerOnReset);
    }

    pub(crate) fn nexus_removed(&self, nexus: NexusId) {
        self.state.borrow_mut().attentions.remove(&nexus);
    }

    /// Number of logical blocks.
    pub fn blocks(&self) -> u64 {
        self.geometry.blocks
    }

    pub fn block_size(&self) -> u32 {
        self.geometry.block_size
    }
}
