//! The SCSI target device: LUNs, target ports and I_T nexuses, the command pipeline
//! (LUN mapping, lookup, CDB validation, unit attentions, ALUA admission, ordering, dispatch)
//! and task management.

use crate::alua::AccessState;
use crate::backend::BlockBackend;
use crate::buffer_pool::BufferPool;
use crate::commands::{self, Ctx};
use crate::lun::{Lun, LunConfig, LunId};
use crate::lun_address;
use crate::mutation::{Mutation, MutationError};
use crate::nexus::{InitiatorPort, NexusId, NexusInfo, PortConfig};
use crate::reservations::{ITNexus, Spc2Reservation};
use crate::sense::{asc, Sense};
use crate::status::{CommandResult, ScsiStatus};
use crate::store::{MemoryStore, ParameterStore};
use crate::table::{self, CommandEntry, Flags, Lookup};
use crate::task_set::{AbortKind, TaskAttribute, TaskEntry};
use crate::ua::{PendingAttentions, UnitAttention};
use crate::wait_queue::WaitQueue;
use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::rc::Rc;
use alloc::string::String;
use alloc::vec::Vec;
use core::cell::{Cell, RefCell};
use core::future::Future;
use core::pin::Pin;

/// An operation that runs on after the command that started it (a sanitize).
pub type BackgroundOperation = Pin<Box<dyn Future<Output = ()>>>;

/// Opens the storage behind a LUN when a `LunAdded` mutation is applied.
pub trait BackendOpener<B> {
    fn open(&self, config: &LunConfig) -> Result<B, String>;
}

/// One SCSI command as a transport hands it over.
pub struct CommandRequest<'a> {
    pub nexus: NexusId,
    /// The LUN field of the transport (SAM-6 §4.7).
    pub lun: [u8; 8],
    pub cdb: &'a [u8],
    /// The transport's task tag (iSCSI ITT).
    pub tag: u64,
    pub attr: TaskAttribute,
    /// Expected data-out transfer length the initiator announced (iSCSI EDTL for writes).
    pub data_out_len: u32,
}

/// What `submit` decided.
pub enum Submission<B: BlockBackend> {
    /// The command finished at admission (an error, a unit attention, ...).
    Complete(CommandResult),
    /// The command is in the task set; the transport gathers `data_out_len()` bytes and calls
    /// [`TargetDevice::execute`].
    Queued(Task<B>),
}

/// How an executed command ended.
pub enum Completion {
    Done(CommandResult),
    /// Aborted by task management; see [`AbortKind`] for what the initiator is told.
    Aborted(AbortKind),
}

/// A command admitted into a LUN's task set. Dropping it without executing removes it.
pub struct Task<B: BlockBackend> {
    lun: Option<Rc<Lun<B>>>,
    port: Rc<PortConfig>,
    nexus: NexusId,
    entry: Option<Rc<TaskEntry>>,
    command: &'static CommandEntry,
    cdb: [u8; 32],
    cdb_len: u8,
    data_out_len: u32,
    wanted_out: u32,
    /// Bytes of the buffer budget this command holds until it ends.
    reserved: u64,
    device_buffers: Rc<BufferPool>,
}

impl<B: BlockBackend> Task<B> {
    /// Bytes of data-out the command needs from the initiator.
    pub fn data_out_len(&self) -> u32 {
        self.data_out_len
    }

    /// Bytes of data-out the CDB asks for (SPDTL), for the transport's residual.
    pub fn wanted_out(&self) -> u32 {
        self.wanted_out
    }

    pub fn is_aborted(&self) -> bool {
        self.abort_kind().is_some()
    }

    /// How task management ended this task, if it did.
    pub fn abort_kind(&self) -> Option<AbortKind> {
        self.entry.as_ref().and_then(|e| e.aborted.get())
    }

    pub fn name(&self) -> &'static str {
        self.command.name
    }
}

impl<B: BlockBackend> Drop for Task<B> {
    fn drop(&mut self) {
        self.device_buffers.release(self.reserved);
        if let (Some(lun), Some(entry)) = (&self.lun, &self.entry) {
            lun.tasks.remove(entry);
        }
    }
}

/// What a command run by [`TargetDevice::run_command`] produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandOutcome {
    /// The SCSI status byte (SAM-6 §5.3).
    pub status: u8,
    /// Sense data, fixed or descriptor format as the LUN is set to, when there is any.
    pub sense: Option<Vec<u8>>,
    /// Data-in, cut to the caller's allocation.
    pub data: Vec<u8>,
}

/// Outcome of a task management function (iSCSI TMF response codes map onto these).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TmfOutcome {
    FunctionComplete,
    /// QUERY TASK, QUERY TASK SET, QUERY ASYNCHRONOUS EVENT: what was asked about exists.
    FunctionSucceeded,
    TaskDoesNotExist,
    LunDoesNotExist,
}

/// The first task tag of `run_command`'s commands.
const FIRST_INTERNAL_TAG: u64 = 1 << 32;

/// Where the device's notices go (the firmware's log).
type NoticeSink = Box<dyn Fn(&str)>;

pub struct TargetDevice<B: BlockBackend> {
    controller: u8,
    opener: Box<dyn BackendOpener<B>>,
    luns: RefCell<BTreeMap<LunId, Rc<Lun<B>>>>,
    ports: RefCell<BTreeMap<u16, Rc<PortConfig>>>,
    /// Shared so that admission takes a reference count, not a copy of the initiator name.
    nexuses: RefCell<BTreeMap<NexusId, Rc<NexusInfo>>>,
    /// Unit attentions each nexus meets on the LUN numbers that map to no LUN: REPORTED LUNS
    /// DATA HAS CHANGED must reach an initiator whose next command goes to the number a LUN
    /// just left, before it is told LOGICAL UNIT NOT SUPPORTED there.
    no_lun_attentions: RefCell<BTreeMap<NexusId, PendingAttentions>>,
    next_nexus: Cell<u32>,
    /// Task tags of the commands `run_command` issues: above every 32-bit transport tag, so
    /// they never meet an initiator's.
    next_internal_tag: Cell<u64>,
    /// ALUA state per target port group; a group not listed is Active/Optimized.
    access: RefCell<BTreeMap<u16, AccessState>>,
    pub buffers: Rc<BufferPool>,
    /// Where saved parameters (mode pages) persist.
    store: Box<dyn ParameterStore>,
    /// The board's wall clock in milliseconds since 1970 (REPORT TIMESTAMP); the core has
    /// no clock of its own.
    clock: Option<fn() -> u64>,
    /// Runs operations that outlive the command that started them (a sanitize) on the
    /// runtime; without one they run within their command.
    spawner: Option<Box<dyn Fn(BackgroundOperation)>>,
    /// Notified whenever task management (or a nexus or LUN going away) aborts tasks, so a
    /// transport can end the ones it holds that are still waiting for data.
    pub aborts: WaitQueue,
    /// Things the operator should hear about that a command's status cannot tell (a saved
    /// record that could not be restored or written): handed to the sink when there is one,
    /// kept for [`TargetDevice::take_notices`] otherwise.
    notices: RefCell<Vec<String>>,
    notice_sink: Option<NoticeSink>,
}

impl<B: BlockBackend> TargetDevice<B> {
    pub fn new(controller: u8, opener: Box<dyn BackendOpener<B>>) -> Self {
        TargetDevice {
            controller,
            opener,
            luns: RefCell::new(BTreeMap::new()),
            ports: RefCell::new(BTreeMap::new()),
            nexuses: RefCell::new(BTreeMap::new()),
            no_lun_attentions: RefCell::new(BTreeMap::new()),
            next_nexus: Cell::new(1),
            next_internal_tag: Cell::new(FIRST_INTERNAL_TAG),
            access: RefCell::new(BTreeMap::new()),
            buffers: Rc::new(BufferPool::default()),
            aborts: WaitQueue::default(),
            store: Box::new(MemoryStore::default()),
            clock: None,
            spawner: None,
            notices: RefCell::new(Vec::new()),
            notice_sink: None,
        }
    }

    /// Gives the device a way to run background operations on the runtime (the firmware
    /// passes tokio's `spawn_local`).
    pub fn set_spawner(&mut self, spawn: impl Fn(BackgroundOperation) + 'static) {
        self.spawner = Some(Box::new(spawn));
    }

    /// Starts `operation` in the background; hands it back when there is no spawner.
    pub(crate) fn spawn(&self, operation: BackgroundOperation) -> Option<BackgroundOperation> {
        match &self.spawner {
            Some(spawn) => {
                spawn(operation);
                None
            }
            None => Some(operation),
        }
    }

    /// Gives the device the board's wall clock (milliseconds since 1970).
    pub fn set_clock(&mut self, clock: fn() -> u64) {
        self.clock = Some(clock);
    }

    pub fn now_ms(&self) -> Option<u64> {
        self.clock.map(|c| c())
    }

    /// Replaces the in-memory parameter store (the firmware's persists across restarts).
    pub fn set_store(&mut self, store: Box<dyn ParameterStore>) {
        self.store = store;
    }

    pub fn store(&self) -> &dyn ParameterStore {
        &*self.store
    }

    /// Where notices go from now on (the firmware's log).
    pub fn set_notice_sink(&mut self, sink: impl Fn(&str) + 'static) {
        self.notice_sink = Some(Box::new(sink));
    }

    /// The notices gathered since the last call, when no sink takes them.
    pub fn take_notices(&self) -> Vec<String> {
        core::mem::take(&mut *self.notices.borrow_mut())
    }

    pub(crate) fn notice(&self, text: String) {
        match &self.notice_sink {
            Some(sink) => sink(&text),
            None => self.notices.borrow_mut().push(text),
        }
    }

    pub fn controller(&self) -> u8 {
        self.controller
    }

    /// Applies one change. Local changes and changes received from the peer come through here.
    pub fn apply(&self, m: Mutation) -> Result<(), MutationError> {
        match m {
            Mutation::LunAdded(config) => {
                if self.luns.borrow().contains_key(&config.id) {
                    return Err(MutationError::LunExists(config.id));
                }
                let backend = self.opener.open(&config).map_err(MutationError::Backend)?;
                let lun = Rc::new(Lun::new(config, backend));
                commands::restore_saved_mode(&lun, &*self.store);
                if let Some(notice) = commands::restore_reservations(&lun, &*self.store) {
                    self.notice(notice);
                }
                for n in self.nexuses.borrow().keys() {
                    lun.nexus_added(*n);
                }
                self.luns.borrow_mut().insert(lun.id(), lun.clone());
                let id = lun.id();
                self.inventory_changed(|p| p.unmap(id).is_some());
                lun.raise_all(UnitAttention::PowerOnReset, None);
            }
            Mutation::LunRemoved { id } => {
                let lun = self
                    .luns
                    .borrow_mut()
                    .remove(&id)
                    .ok_or(MutationError::NoSuchLun(id))?;
                // The port numbers that showed it now map to no LUN: the nexuses hear of it
                // through the queue for those numbers.
                self.inventory_changed(|p| p.unmap(id).is_some());
                lun.tasks.abort_where(|_| Some(AbortKind::TaskAborted));
                self.aborts.notify_all();
            }
            Mutation::LunModified { id, config } => {
                let l = self.lun(id).ok_or(MutationError::NoSuchLun(id))?;
                let modified = l.modify(config)?;
                for (changed, ua) in [
                    (modified.mode, UnitAttention::ModeParametersChanged),
                    (modified.capacity, UnitAttention::CapacityDataChanged),
                    (modified.inquiry, UnitAttention::InquiryDataChanged),
                ] {
                    if changed {
                        l.raise_all(ua, None);
                    }
                }
            }
            Mutation::PortAdded(port) => {
                let mut ports = self.ports.borrow_mut();
                if ports.contains_key(&port.relative_id) {
                    return Err(MutationError::PortExists(port.relative_id));
                }
                ports.insert(port.relative_id, Rc::new(port));
            }
            Mutation::PortChanged(port) => {
                let id = port.relative_id;
                let old = self.port(id).ok_or(MutationError::NoSuchPort(id))?;
                let map_changed = old.lun_map != port.lun_map;
                let identity_changed = old.tpg != port.tpg
                    || old.target_name != port.target_name
                    || old.port_name != port.port_name;
                let port = Rc::new(port);
                self.ports.borrow_mut().insert(id, port.clone());
                if map_changed {
                    self.inventory_changed(|p| p.relative_id == id);
                }
                if identity_changed {
                    // The port's names and group are in VPD page 83h and REPORT TARGET PORT
                    // GROUPS (CTL raises this on PORT_SYNC).
                    self.raise_through(&port, UnitAttention::InquiryDataChanged);
                }
            }
            Mutation::PortRemoved { relative_id } => {
                self.ports
                    .borrow_mut()
                    .remove(&relative_id)
                    .ok_or(MutationError::NoSuchPort(relative_id))?;
            }
            Mutation::NexusLogin {
                nexus,
                port,
                initiator,
            } => {
                if !self.ports.borrow().contains_key(&port) {
                    return Err(MutationError::NoSuchPort(port));
                }
                let mut nexuses = self.nexuses.borrow_mut();
                if nexuses.contains_key(&nexus) {
                    return Err(MutationError::NexusExists(nexus));
                }
                nexuses.insert(
                    nexus,
                    Rc::new(NexusInfo {
                        it: ITNexus {
                            initiator,
                            relative_target_port: port,
                        },
                    }),
                );
                for lun in self.luns.borrow().values() {
                    lun.nexus_added(nexus);
                }
                self.no_lun_attentions
                    .borrow_mut()
                    .insert(nexus, PendingAttentions::default());
            }
            Mutation::NexusLogout { nexus } => {
                let gone = self.nexuses.borrow_mut().remove(&nexus);
                self.no_lun_attentions.borrow_mut().remove(&nexus);
                for lun in self.luns.borrow().values() {
                    lun.tasks
                        .abort_where(|e| (e.nexus == nexus).then_some(AbortKind::Silent));
                    lun.nexus_removed(nexus);
                    lun.medium.borrow_mut().nexus_lost(nexus);
                    if let Some(info) = &gone {
                        Self::release_spc2_of(lun, &info.it);
                    }
                }
                self.aborts.notify_all();
            }
            Mutation::ModeChanged { lun, mode, by } => {
                let l = self.lun(lun).ok_or(MutationError::NoSuchLun(lun))?;
                l.set_mode(mode);
                l.raise_all(UnitAttention::ModeParametersChanged, by);
            }
            Mutation::AttentionRaised { lun, ua, except } => {
                for l in self.luns.borrow().values() {
                    if lun.is_none() || lun == Some(l.id()) {
                        l.raise_all(ua, except);
                    }
                }
            }
            Mutation::ReservationsChanged {
                lun,
                state,
                attentions,
                abort,
                by,
            } => {
                let l = self.lun(lun).ok_or(MutationError::NoSuchLun(lun))?;
                *l.reservations.borrow_mut() = state;
                let nexuses = self.nexuses.borrow().clone();
                for (set, ua) in &attentions {
                    for (n, info) in &nexuses {
                        if set.contains(&info.it) {
                            l.raise(*n, *ua);
                        }
                    }
                }
                if !abort.is_empty() {
                    let victims: alloc::collections::BTreeSet<NexusId> = nexuses
                        .iter()
                        .filter(|(_, info)| abort.iter().any(|s| s.contains(&info.it)))
                        .map(|(n, _)| *n)
                        .collect();
                    self.abort_tasks_of(&l, by.0, |e| {
                        victims.contains(&e.nexus) && (e.nexus, e.tag) != by
                    });
                }
            }
            Mutation::Spc2ReservationChanged { lun, holder } => {
                let l = self.lun(lun).ok_or(MutationError::NoSuchLun(lun))?;
                *l.spc2.borrow_mut() = Spc2Reservation::held_by(holder);
            }
            Mutation::MediumRemoved { lun } => {
                let l = self.lun(lun).ok_or(MutationError::NoSuchLun(lun))?;
                l.medium.borrow_mut().set_present(false);
                l.backend.detach_medium();
            }
            Mutation::MediumInserted { lun, path } => {
                let l = self.lun(lun).ok_or(MutationError::NoSuchLun(lun))?;
                let capacity_changed = l.medium_inserted(path.as_deref())?;
                l.raise_all(UnitAttention::MediumChanged, None);
                if capacity_changed {
                    l.raise_all(UnitAttention::CapacityDataChanged, None);
                }
            }
        }
        Ok(())
    }

    /// I_T nexus loss releases the SPC-2 reservation the nexus held (SPC-2 §5.5.1).
    fn release_spc2_of(l: &Lun<B>, it: &ITNexus) {
        let mut spc2 = l.spc2.borrow_mut();
        if spc2.holder() == Some(it) {
            spc2.reset();
        }
    }

    /// The I_T nexus `nexus` is, as reservations name it.
    pub fn it_nexus(&self, nexus: NexusId) -> Option<ITNexus> {
        self.nexuses
            .borrow()
            .get(&nexus)
            .map(|info| info.it.clone())
    }

    /// Aborts the tasks of `l` that `which` selects, as task management by `issuer` does: the
    /// issuer's own end silently, the others' with TASK ABORTED when TAS is set, else silently
    /// with COMMANDS CLEARED BY ANOTHER INITIATOR (SAM-5 §5.6).
    fn abort_tasks_of(&self, l: &Lun<B>, issuer: NexusId, which: impl Fn(&TaskEntry) -> bool) {
        let tas = l.mode().tas;
        let mut others_cleared = alloc::collections::BTreeSet::new();
        l.tasks.abort_where(|e| {
            if !which(e) {
                None
            } else if e.nexus == issuer {
                Some(AbortKind::Silent)
            } else if tas {
                Some(AbortKind::TaskAborted)
            } else {
                others_cleared.insert(e.nexus);
                Some(AbortKind::Silent)
            }
        });
        for n in others_cleared {
            l.raise(n, UnitAttention::CommandsCleared);
        }
        self.aborts.notify_all();
    }

    /// The LUNs `port` exposes, each once.
    fn luns_behind(&self, port: &PortConfig) -> Vec<Rc<Lun<B>>> {
        let luns = self.luns.borrow();
        match &port.lun_map {
            None => luns.values().cloned().collect(),
            Some(map) => {
                let ids: alloc::collections::BTreeSet<LunId> = map.values().copied().collect();
                ids.iter().filter_map(|id| luns.get(id).cloned()).collect()
            }
        }
    }

    /// Raises `ua` for every nexus logged in through `port`, on every LUN the port exposes;
    /// REPORTED LUNS DATA HAS CHANGED also on the port's LUN numbers that map to no LUN.
    fn raise_through(&self, port: &PortConfig, ua: UnitAttention) {
        let on_port: Vec<NexusId> = self
            .nexuses
            .borrow()
            .iter()
            .filter(|(_, info)| info.port() == port.relative_id)
            .map(|(n, _)| *n)
            .collect();
        if on_port.is_empty() {
            return;
        }
        for l in self.luns_behind(port) {
            for n in &on_port {
                l.raise(*n, ua);
            }
        }
        if ua == UnitAttention::ReportedLunsDataChanged {
            let mut queues = self.no_lun_attentions.borrow_mut();
            for n in &on_port {
                queues.entry(*n).or_default().raise(ua);
            }
        }
    }

    /// REPORTED LUNS DATA HAS CHANGED for the nexuses of every port `affected` selects (SPC-5
    /// §5.14: the logical unit inventory a port reports changed); nexuses on other ports hear
    /// nothing.
    fn inventory_changed(&self, affected: impl Fn(&PortConfig) -> bool) {
        let ports: Vec<Rc<PortConfig>> = self
            .ports
            .borrow()
            .values()
            .filter(|p| affected(p))
            .cloned()
            .collect();
        for port in ports {
            self.raise_through(&port, UnitAttention::ReportedLunsDataChanged);
        }
    }

    /// Reports and clears the unit attention pending for `nexus` on the LUN numbers that map
    /// to no LUN.
    pub(crate) fn take_no_lun_attention(&self, nexus: NexusId) -> Option<UnitAttention> {
        self.no_lun_attentions
            .borrow_mut()
            .get_mut(&nexus)
            .and_then(|p| p.take())
    }

    /// Clears `ua` for `nexus` on the LUN numbers that map to no LUN.
    pub(crate) fn clear_no_lun_attention(&self, nexus: NexusId, ua: UnitAttention) {
        if let Some(p) = self.no_lun_attentions.borrow_mut().get_mut(&nexus) {
            p.clear(ua);
        }
    }

    /// Registers a new I_T nexus for an initiator port logged in through `port`.
    pub fn login(&self, port: u16, initiator: InitiatorPort) -> Result<NexusId, MutationError> {
        let index = self.next_nexus.get();
        self.next_nexus
            .set(index.wrapping_add(1).max(1) & 0x00FF_FFFF);
        let nexus = NexusId::new(self.controller, index);
        self.apply(Mutation::NexusLogin {
            nexus,
            port,
            initiator,
        })?;
        Ok(nexus)
    }

    pub fn logout(&self, nexus: NexusId) {
        let _ = self.apply(Mutation::NexusLogout { nexus });
    }

    pub fn lun(&self, id: LunId) -> Option<Rc<Lun<B>>> {
        self.luns.borrow().get(&id).cloned()
    }

    pub fn has_lun(&self, id: LunId) -> bool {
        self.luns.borrow().contains_key(&id)
    }

    pub fn luns(&self) -> Vec<Rc<Lun<B>>> {
        self.luns.borrow().values().cloned().collect()
    }

    pub fn port(&self, relative_id: u16) -> Option<Rc<PortConfig>> {
        self.ports.borrow().get(&relative_id).cloned()
    }

    pub fn ports(&self) -> Vec<Rc<PortConfig>> {
        self.ports.borrow().values().cloned().collect()
    }

    pub fn nexus(&self, id: NexusId) -> Option<Rc<NexusInfo>> {
        self.nexuses.borrow().get(&id).cloned()
    }

    pub fn access_state(&self, tpg: u16) -> AccessState {
        self.access
            .borrow()
            .get(&tpg)
            .copied()
            .unwrap_or(AccessState::ActiveOptimized)
    }

    pub fn set_access_state(&self, tpg: u16, state: AccessState) {
        self.access.borrow_mut().insert(tpg, state);
    }

    /// Admits a command: everything that can be decided before data moves.
    pub fn submit(&self, req: &CommandRequest<'_>) -> Submission<B> {
        let submission = self.admit(req);
        if let Submission::Complete(r) = &submission {
            if r.scsi_status() == ScsiStatus::CheckCondition {
                if let Some(l) = self.mapped_lun(req.nexus, req.lun) {
                    self.apply_qerr(&l, req.nexus, None);
                }
            }
        }
        submission
    }

    /// Queue error management (Control mode page QERR, SPC-5 §7.5.10): after a CHECK
    /// CONDITION, QERR 01b aborts every other task of the LUN, 11b those of the failing nexus.
    /// The failing nexus's tasks end without status (it knows from the CHECK CONDITION); other
    /// nexuses' end per TAS.
    fn apply_qerr(&self, l: &Lun<B>, nexus: NexusId, failed: Option<u64>) {
        let mode = l.mode();
        if mode.qerr != 0b01 && mode.qerr != 0b11 {
            return;
        }
        let mut cleared = alloc::collections::BTreeSet::new();
        let n = l.tasks.abort_where(|e| {
            if Some(e.seq) == failed {
                None
            } else if e.nexus == nexus {
                Some(AbortKind::Silent)
            } else if mode.qerr == 0b11 {
                None
            } else if mode.tas {
                Some(AbortKind::TaskAborted)
            } else {
                cleared.insert(e.nexus);
                Some(AbortKind::Silent)
            }
        });
        for other in cleared {
            l.raise(other, UnitAttention::CommandsCleared);
        }
        if n > 0 {
            self.aborts.notify_all();
        }
    }

    fn admit(&self, req: &CommandRequest<'_>) -> Submission<B> {
        let Some(info) = self.nexuses.borrow().get(&req.nexus).cloned() else {
            return Submission::Complete(CommandResult::check_condition(
                &asc::INTERNAL_TARGET_FAILURE,
                false,
            ));
        };
        let Some(port) = self.port(info.port()) else {
            return Submission::Complete(CommandResult::check_condition(
                &asc::INTERNAL_TARGET_FAILURE,
                false,
            ));
        };
        let lun = lun_address::decode(req.lun)
            .and_then(|n| port.map(n))
            .and_then(|id| self.lun(id));
        let descriptor = lun.as_ref().is_some_and(|l| l.descriptor_sense());
        let fail = |s: &Sense| Submission::Complete(CommandResult::check_condition(s, descriptor));

        let lookup = table::lookup(req.cdb);
        if lun.is_none() {
            // Only INQUIRY, REPORT LUNS and REQUEST SENSE run without a LUN; any other command
            // sent to a number that maps to no LUN first meets what the nexus was not yet told
            // about it (that a LUN left it), then LOGICAL UNIT NOT SUPPORTED. REQUEST SENSE
            // returns the condition as its data.
            let lunless =
                matches!(&lookup, Lookup::Found(e) if e.flags.contains(Flags::OK_ON_NO_LUN));
            if !lunless {
                if let Some(ua) = self.take_no_lun_attention(req.nexus) {
                    return fail(&ua.sense());
                }
            }
        }
        let command = match lookup {
            Lookup::Found(e) => e,
            Lookup::UnknownOpcode if lun.is_none() => {
                return fail(&asc::LOGICAL_UNIT_NOT_SUPPORTED)
            }
            Lookup::UnknownOpcode => return fail(&asc::INVALID_COMMAND_OPERATION_CODE),
            Lookup::UnknownServiceAction => {
                return fail(&Sense::invalid_field_in_cdb(1, Some(4)));
            }
        };
        if lun.is_none() && !command.flags.contains(Flags::OK_ON_NO_LUN) {
            return fail(&asc::LOGICAL_UNIT_NOT_SUPPORTED);
        }
        if req.cdb.len() < command.cdb_len() {
            return fail(&asc::INVALID_COMMAND_OPERATION_CODE);
        }
        if let Some((byte, bit)) = command.invalid_bit(req.cdb) {
            return fail(&Sense::invalid_field_in_cdb(byte, Some(bit)));
        }
        if let Some(l) = &lun {
            if !command.flags.contains(Flags::NO_SENSE) {
                if let Some(ua) = l.take_attention(req.nexus) {
                    return fail(&ua.sense());
                }
            }
            if commands::reservation_conflict(l, &info, command, req.cdb) {
                return Submission::Complete(CommandResult::status(
                    ScsiStatus::ReservationConflict,
                ));
            }
            if let Some(sense) = admission(self.access_state(port.tpg), command.flags) {
                return fail(&sense);
            }
            let media = l.medium.borrow().media_check(command);
            if let Some(sense) = media.or_else(|| l.sanitize.borrow().media_check(command)) {
                return fail(&sense);
            }
        }
        let plan = match commands::precheck(command, lun.as_deref(), req.cdb) {
            Ok(p) => p,
            Err(sense) => return fail(&sense),
        };
        // FCP-4 §9.4.2 option a: when the initiator announced a different length than the CDB
        // asks for, only the smaller amount moves; the transport reports the residual.
        if plan.exact_data_out && plan.data_out_len != req.data_out_len {
            // A length mismatch there means a CDB and a buffer that do not belong together
            // (an 8-bit block count that wrapped, a pattern of the wrong size).
            return fail(&asc::INVALID_FIELD_IN_CDB);
        }
        let data_out_len = if command.flags.contains(Flags::DATA_OUT) {
            plan.data_out_len.min(req.data_out_len)
        } else {
            0
        };
        let reserved = u64::from(data_out_len.max(plan.data_in_len));
        if !self.buffers.reserve(reserved) {
            // Commands in flight hold all the data memory we allow: the initiator retries.
            return Submission::Complete(CommandResult::status(ScsiStatus::TaskSetFull));
        }
        let entry = lun.as_ref().map(|l| {
            l.tasks
                .insert(req.nexus, req.tag, req.attr, command.access, plan.range)
        });
        let mut cdb = [0u8; 32];
        let cdb_len = req.cdb.len().min(32);
        cdb[..cdb_len].copy_from_slice(&req.cdb[..cdb_len]);
        Submission::Queued(Task {
            lun,
            port,
            nexus: req.nexus,
            entry,
            command,
            cdb,
            cdb_len: cdb_len as u8,
            data_out_len,
            wanted_out: plan.data_out_len,
            reserved,
            device_buffers: self.buffers.clone(),
        })
    }

    /// Runs an admitted command once the task set lets it, with its data-out.
    pub async fn execute(&self, task: Task<B>, data_out: Vec<u8>) -> Completion {
        if let (Some(lun), Some(entry)) = (&task.lun, &task.entry) {
            loop {
                if let Some(kind) = entry.aborted.get() {
                    self.buffers.give(data_out);
                    return Completion::Aborted(kind);
                }
                if !lun.tasks.blocked(entry) {
                    break;
                }
                lun.tasks.changed.changed().await;
            }
            entry.running.set(true);
        }
        let ctx = Ctx {
            device: self,
            lun: task.lun.as_deref(),
            port: &task.port,
            nexus: task.nexus,
            cdb: &task.cdb[..usize::from(task.cdb_len)],
            task: task.entry.as_deref(),
        };
        let result = commands::execute(&ctx, task.command, data_out).await;
        if let Some(kind) = task.entry.as_ref().and_then(|e| e.aborted.get()) {
            self.buffers.give(result.data);
            return Completion::Aborted(kind);
        }
        if result.scsi_status() == ScsiStatus::CheckCondition {
            if let (Some(l), Some(e)) = (&task.lun, &task.entry) {
                self.apply_qerr(l, task.nexus, Some(e.seq));
            }
        }
        Completion::Done(result)
    }

    /// Runs one command without data-out through the same admission and execution as a
    /// transport's (CTL's ioctl frontend: ctladm `tur`, `inquiry`, `readcap`, `reportluns`,
    /// `reqsense`). `nexus` must be logged in; `allocation` bounds the data-in returned. A
    /// command that needs data-out is refused with INVALID FIELD IN CDB.
    pub async fn run_command(
        &self,
        nexus: NexusId,
        lun: [u8; 8],
        cdb: &[u8],
        allocation: u32,
    ) -> CommandOutcome {
        let tag = self.next_internal_tag.get();
        self.next_internal_tag
            .set(tag.checked_add(1).unwrap_or(FIRST_INTERNAL_TAG));
        let req = CommandRequest {
            nexus,
            lun,
            cdb,
            tag,
            attr: TaskAttribute::Simple,
            data_out_len: 0,
        };
        let result = match self.submit(&req) {
            Submission::Complete(r) => r,
            Submission::Queued(task) if task.wanted_out() > 0 => {
                // Dropping the task takes it out of the task set again.
                drop(task);
                let descriptor = self
                    .mapped_lun(nexus, lun)
                    .is_some_and(|l| l.descriptor_sense());
                CommandResult::check_condition(&asc::INVALID_FIELD_IN_CDB, descriptor)
            }
            Submission::Queued(task) => match self.execute(task, Vec::new()).await {
                Completion::Done(r) => r,
                // There is no initiator to leave in the dark: say what happened.
                Completion::Aborted(_) => CommandResult::status(ScsiStatus::TaskAborted),
            },
        };
        let status = result.scsi_status() as u8;
        let sense = (!result.sense.is_empty()).then(|| result.sense.to_vec());
        let mut data = result.data;
        data.truncate(usize::try_from(allocation).unwrap_or(usize::MAX));
        CommandOutcome {
            status,
            sense,
            data,
        }
    }

    fn mapped_lun(&self, nexus: NexusId, lun: [u8; 8]) -> Option<Rc<Lun<B>>> {
        let info = self.nexuses.borrow().get(&nexus).cloned()?;
        let port = self.port(info.port())?;
        lun_address::decode(lun)
            .and_then(|n| port.map(n))
            .and_then(|id| self.lun(id))
    }

    /// Waits until no aborted task of `lun` is still executing.
    pub(crate) async fn drain_aborted(lun: &Lun<B>) {
        while lun.tasks.aborted_running() {
            lun.tasks.changed.changed().await;
        }
    }

    /// ABORT TASK.
    pub async fn abort_task(&self, nexus: NexusId, lun: [u8; 8], tag: u64) -> TmfOutcome {
        let Some(l) = self.mapped_lun(nexus, lun) else {
            return TmfOutcome::LunDoesNotExist;
        };
        if !l.tasks.contains(nexus, tag) {
            return TmfOutcome::TaskDoesNotExist;
        }
        l.tasks
            .abort_where(|e| (e.nexus == nexus && e.tag == tag).then_some(AbortKind::Silent));
        self.aborts.notify_all();
        Self::drain_aborted(&l).await;
        TmfOutcome::FunctionComplete
    }

    /// ABORT TASK SET: every task of this nexus on the LUN.
    pub async fn abort_task_set(&self, nexus: NexusId, lun: [u8; 8]) -> TmfOutcome {
        let Some(l) = self.mapped_lun(nexus, lun) else {
            return TmfOutcome::LunDoesNotExist;
        };
        l.tasks
            .abort_where(|e| (e.nexus == nexus).then_some(AbortKind::Silent));
        self.aborts.notify_all();
        Self::drain_aborted(&l).await;
        TmfOutcome::FunctionComplete
    }

    /// A LUN reset: its tasks aborted (see `clear_lun`) and the state a reset clears.
    fn reset_lun(&self, l: &Lun<B>, issuer: NexusId) {
        self.clear_lun(l, issuer);
        l.medium.borrow_mut().reset();
        // A LUN reset releases an SPC-2 reservation; persistent reservations stay.
        l.spc2.borrow_mut().reset();
        let _ = self.apply(Mutation::AttentionRaised {
            lun: Some(l.id()),
            ua: UnitAttention::BusDeviceReset,
            except: None,
        });
    }

    /// Aborts every task on `l`: the issuer's silently, the others' per TAS.
    fn clear_lun(&self, l: &Lun<B>, issuer: NexusId) {
        self.abort_tasks_of(l, issuer, |_| true);
    }

    /// CLEAR TASK SET: every task of every nexus on the LUN.
    pub async fn clear_task_set(&self, nexus: NexusId, lun: [u8; 8]) -> TmfOutcome {
        let Some(l) = self.mapped_lun(nexus, lun) else {
            return TmfOutcome::LunDoesNotExist;
        };
        self.clear_lun(&l, nexus);
        Self::drain_aborted(&l).await;
        TmfOutcome::FunctionComplete
    }

    /// LOGICAL UNIT RESET.
    pub async fn lun_reset(&self, nexus: NexusId, lun: [u8; 8]) -> TmfOutcome {
        let Some(l) = self.mapped_lun(nexus, lun) else {
            return TmfOutcome::LunDoesNotExist;
        };
        self.reset_lun(&l, nexus);
        Self::drain_aborted(&l).await;
        TmfOutcome::FunctionComplete
    }

    /// TARGET WARM/COLD RESET: a LUN reset of every LUN the nexus's port exposes.
    pub async fn target_reset(&self, nexus: NexusId) -> TmfOutcome {
        let Some(info) = self.nexus(nexus) else {
            return TmfOutcome::FunctionComplete;
        };
        let Some(port) = self.port(info.port()) else {
            return TmfOutcome::FunctionComplete;
        };
        let luns: Vec<_> = self
            .luns()
            .into_iter()
            .filter(|l| port.unmap(l.id()).is_some())
            .collect();
        for l in &luns {
            self.reset_lun(l, nexus);
        }
        for l in &luns {
            Self::drain_aborted(l).await;
        }
        TmfOutcome::FunctionComplete
    }

    /// Thin-provisioning soft thresholds (SBC-4 §4.7.3.7): the firmware calls this now and
    /// then. A thin LUN whose used blocks reach, or whose available blocks fall to, an enabled
    /// threshold of its Logical Block Provisioning mode page raises THIN PROVISIONING SOFT
    /// THRESHOLD REACHED once; it is armed again when the LUN is back on the other side.
    pub fn check_provisioning_thresholds(&self) {
        for l in self.luns() {
            if !l.thin() {
                continue;
            }
            let m = l.mode();
            let set = 1u64 << crate::commands::vpd::THRESHOLD_EXPONENT;
            let used = l.backend.allocated_bytes() / u64::from(l.block_size().max(1));
            let available = l.blocks().saturating_sub(used);
            let reached = (m.used_threshold_enabled
                && used >= u64::from(m.used_threshold_count).saturating_mul(set))
                || (m.available_threshold_enabled
                    && available <= u64::from(m.available_threshold_count).saturating_mul(set));
            if reached && !l.threshold_reached.get() {
                let _ = self.apply(Mutation::AttentionRaised {
                    lun: Some(l.id()),
                    ua: UnitAttention::ThinProvisioningThreshold,
                    except: None,
                });
            }
            l.threshold_reached.set(reached);
        }
    }

    /// QUERY TASK: whether the nexus's task `tag` is in the LUN's task set.
    pub fn query_task(&self, nexus: NexusId, lun: [u8; 8], tag: u64) -> TmfOutcome {
        match self.mapped_lun(nexus, lun) {
            None => TmfOutcome::LunDoesNotExist,
            Some(l) if l.tasks.contains(nexus, tag) => TmfOutcome::FunctionSucceeded,
            Some(_) => TmfOutcome::FunctionComplete,
        }
    }

    /// QUERY TASK SET: whether the nexus has any task in the LUN's task set.
    pub fn query_task_set(&self, nexus: NexusId, lun: [u8; 8]) -> TmfOutcome {
        match self.mapped_lun(nexus, lun) {
            None => TmfOutcome::LunDoesNotExist,
            Some(l) if l.tasks.any_of(nexus) => TmfOutcome::FunctionSucceeded,
            Some(_) => TmfOutcome::FunctionComplete,
        }
    }

    /// QUERY ASYNCHRONOUS EVENT: the unit attention that would be reported next, without
    /// clearing it.
    pub fn query_async_event(&self, nexus: NexusId, lun: [u8; 8]) -> (TmfOutcome, Option<Sense>) {
        match self.mapped_lun(nexus, lun) {
            None => (TmfOutcome::LunDoesNotExist, None),
            Some(l) => match l.peek_attention(nexus) {
                Some(ua) => (TmfOutcome::FunctionSucceeded, Some(ua.sense())),
                None => (TmfOutcome::FunctionComplete, None),
            },
        }
    }

    /// I_T NEXUS RESET: the nexus's tasks on every LUN end, what it held is released, and it
    /// is told I_T NEXUS LOSS OCCURRED on every LUN.
    pub async fn i_t_nexus_reset(&self, nexus: NexusId) -> TmfOutcome {
        let luns = self.luns();
        for l in &luns {
            l.tasks
                .abort_where(|e| (e.nexus == nexus).then_some(AbortKind::Silent));
            l.medium.borrow_mut().nexus_lost(nexus);
            if let Some(it) = self.it_nexus(nexus) {
                Self::release_spc2_of(l, &it);
            }
            l.raise(nexus, UnitAttention::ITNexusLoss);
        }
        self.aborts.notify_all();
        for l in &luns {
            Self::drain_aborted(l).await;
        }
        TmfOutcome::FunctionComplete
    }

    /// Tasks currently in `id`'s task set (for statistics and tests).
    pub fn tasks_in_set(&self, id: LunId) -> usize {
        self.lun(id).map_or(0, |l| l.tasks.len())
    }
}

/// ALUA admission (HA-readiness rule 2): the command table's flags say what each state admits.
fn admission(state: AccessState, flags: Flags) -> Option<Sense> {
    let admitted = match state {
        AccessState::ActiveOptimized | AccessState::ActiveNonOptimized => true,
        AccessState::Standby => flags.contains(Flags::OK_ON_STANDBY),
        AccessState::Unavailable | AccessState::Transitioning => {
            flags.contains(Flags::OK_ON_UNAVAIL)
        }
    };
    if admitted {
        None
    } else {
        state.not_ready_sense()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::test_support::*;
    use crate::lun_address;
    use crate::sense::SenseKey;
    use alloc::collections::BTreeMap;

    const LUN0: [u8; 8] = [0; 8];

    fn read10(tag: u64, f: &Fixture, nexus: NexusId) -> Task<TestBackend> {
        let cdb = [0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0];
        match f.device.submit(&CommandRequest {
            nexus,
            lun: lun_address::encode(0),
            cdb: &cdb,
            tag,
            attr: TaskAttribute::Simple,
            data_out_len: 0,
        }) {
            Submission::Queued(t) => t,
            Submission::Complete(r) => panic!("not queued: {:?}", r.status),
        }
    }

    #[test]
    fn query_task_and_task_set_see_queued_tasks() {
        let f = Fixture::new();
        let other = f.login();
        assert_eq!(
            f.device.query_task_set(f.nexus, LUN0),
            TmfOutcome::FunctionComplete
        );
        let t = read10(7, &f, f.nexus);
        assert_eq!(
            f.device.query_task(f.nexus, LUN0, 7),
            TmfOutcome::FunctionSucceeded
        );
        assert_eq!(
            f.device.query_task(f.nexus, LUN0, 8),
            TmfOutcome::FunctionComplete
        );
        assert_eq!(
            f.device.query_task(other, LUN0, 7),
            TmfOutcome::FunctionComplete
        );
        assert_eq!(
            f.device.query_task_set(f.nexus, LUN0),
            TmfOutcome::FunctionSucceeded
        );
        assert_eq!(
            f.device.query_task_set(other, LUN0),
            TmfOutcome::FunctionComplete
        );
        assert_eq!(
            f.device.query_task(f.nexus, lun_address::encode(9), 7),
            TmfOutcome::LunDoesNotExist
        );
        drop(t);
        assert_eq!(
            f.device.query_task_set(f.nexus, LUN0),
            TmfOutcome::FunctionComplete
        );
    }

    #[test]
    fn i_t_nexus_reset_aborts_the_nexus_tasks_and_reports_nexus_loss() {
        let f = Fixture::new();
        let other = f.login();
        let mine = read10(1, &f, f.nexus);
        let theirs = read10(2, &f, other);
        assert_eq!(
            block_on(f.device.i_t_nexus_reset(f.nexus)),
            TmfOutcome::FunctionComplete
        );
        assert_eq!(mine.abort_kind(), Some(AbortKind::Silent));
        assert!(!theirs.is_aborted());
        let (outcome, sense) = f.device.query_async_event(f.nexus, LUN0);
        assert_eq!(outcome, TmfOutcome::FunctionSucceeded);
        assert_eq!(sense.map(|s| (s.asc, s.ascq)), Some((0x29, 0x07)));
        // Querying leaves it pending; the next command reports it.
        let r = f.run(0, &[0x00, 0, 0, 0, 0, 0]);
        assert_eq!(sense_code(&r.sense), (0x06, 0x29, 0x07));
        assert_eq!(
            f.device.query_async_event(f.nexus, LUN0).0,
            TmfOutcome::FunctionComplete
        );
        assert_eq!(
            f.device.query_async_event(other, LUN0).0,
            TmfOutcome::FunctionComplete
        );
    }

    #[test]
    fn clear_task_set_reports_task_aborted_with_tas_and_a_unit_attention_without() {
        for tas in [true, false] {
            let f = Fixture::new();
            let other = f.login();
            let lun = f.device.lun(LunId(0)).expect("LUN 0");
            let mut mode = lun.mode();
            mode.tas = tas;
            lun.set_mode(mode);
            let theirs = read10(2, &f, other);
            let mine = read10(1, &f, f.nexus);
            assert_eq!(
                block_on(f.device.clear_task_set(f.nexus, LUN0)),
                TmfOutcome::FunctionComplete
            );
            assert_eq!(mine.abort_kind(), Some(AbortKind::Silent));
            if tas {
                assert_eq!(theirs.abort_kind(), Some(AbortKind::TaskAborted));
            } else {
                assert_eq!(theirs.abort_kind(), Some(AbortKind::Silent));
                let r = f.run_on(other, 0, &[0x00, 0, 0, 0, 0, 0]);
                assert_eq!(
                    sense_code(&r.sense),
                    (SenseKey::UnitAttention as u8, 0x2F, 0x00)
                );
            }
        }
    }

    #[test]
    fn qerr_aborts_other_tasks_after_a_check_condition() {
        for (qerr, own_aborted, other_aborted) in [
            (0b00, false, false),
            (0b01, true, true),
            (0b11, true, false),
        ] {
            let f = Fixture::new();
            let other = f.login();
            let lun = f.device.lun(LunId(0)).expect("LUN 0");
            let mut mode = lun.mode();
            mode.qerr = qerr;
            lun.set_mode(mode);
            let mine = read10(1, &f, f.nexus);
            let theirs = read10(2, &f, other);
            // READ(10) past the end: CHECK CONDITION at admission.
            let r = f.run(0, &[0x28, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 1, 0]);
            assert_eq!(sense_code(&r.sense), (0x05, 0x21, 0x00));
            assert_eq!(mine.is_aborted(), own_aborted, "QERR {qerr}");
            assert_eq!(theirs.is_aborted(), other_aborted, "QERR {qerr}");
            if other_aborted {
                assert_eq!(theirs.abort_kind(), Some(AbortKind::TaskAborted));
            }
        }
    }

    #[test]
    fn a_crossed_provisioning_threshold_is_reported_once_until_uncrossed() {
        let mut c = lun_config(0, 4096);
        c.thin = true;
        let f = Fixture::with(port_config(None), [c]);
        let lun = f.device.lun(LunId(0)).expect("LUN 0");
        let mut m = lun.mode();
        // Used threshold at one threshold set (2048 blocks); the test backend reports 0 used,
        // so arm it through the available threshold instead: 4096 available <= 2 sets.
        m.available_threshold_enabled = true;
        m.available_threshold_count = 2;
        lun.set_mode(m);
        f.device.check_provisioning_thresholds();
        let r = f.run(0, &[0x00, 0, 0, 0, 0, 0]);
        assert_eq!(sense_code(&r.sense), (0x06, 0x38, 0x07));
        f.device.check_provisioning_thresholds();
        good(f.run(0, &[0x00, 0, 0, 0, 0, 0]));
        m.available_threshold_count = 1;
        lun.set_mode(m);
        f.device.check_provisioning_thresholds();
        m.available_threshold_count = 2;
        lun.set_mode(m);
        f.device.check_provisioning_thresholds();
        let r = f.run(0, &[0x00, 0, 0, 0, 0, 0]);
        assert_eq!(sense_code(&r.sense), (0x06, 0x38, 0x07));
    }

    const TUR: [u8; 6] = [0x00, 0, 0, 0, 0, 0];
    const INQUIRY: [u8; 6] = [0x12, 0, 0, 0, 36, 0];
    const REQUEST_SENSE: [u8; 6] = [0x03, 0, 0, 0, 18, 0];
    const REPORT_LUNS: [u8; 12] = [0xA0, 0, 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0];
    const RLDHC: (u8, u8, u8) = (0x06, 0x3F, 0x0E);
    const NOT_SUPPORTED: (u8, u8, u8) = (0x05, 0x25, 0x00);

    fn map(entries: &[(u32, u32)]) -> Option<BTreeMap<u32, LunId>> {
        Some(entries.iter().map(|&(n, id)| (n, LunId(id))).collect())
    }

    #[track_caller]
    fn check(r: &CommandResult, want: (u8, u8, u8)) {
        assert_eq!(r.scsi_status(), ScsiStatus::CheckCondition);
        assert_eq!(sense_code(&r.sense), want, "sense {:02x?}", r.sense);
    }

    /// LUN 0 at number 0 and LUN 1 at number 3 on the fixture's port.
    fn moved_lun_fixture() -> Fixture {
        Fixture::with(
            port_config(map(&[(0, 0), (3, 1)])),
            [lun_config(0, 64), lun_config(1, 64)],
        )
    }

    /// ctladm lunmap: LUN 1 moves from number 3 to number 7.
    fn move_3_to_7(f: &Fixture) {
        f.device
            .apply(Mutation::PortChanged(port_config(map(&[(0, 0), (7, 1)]))))
            .expect("port changed");
    }

    /// A second port (relative id 4) of the same target with `lun_map`.
    fn second_port(f: &Fixture, lun_map: Option<BTreeMap<u32, LunId>>) {
        let mut p = port_config(lun_map);
        p.relative_id = 4;
        p.port_name = alloc::format!("{TARGET_NAME},t,0x0002");
        f.device.apply(Mutation::PortAdded(p)).expect("port added");
    }

    #[test]
    fn a_lun_moved_to_another_number_reports_the_change_on_the_old_number_first() {
        let f = moved_lun_fixture();
        move_3_to_7(&f);
        check(&f.run(3, &TUR), RLDHC);
        check(&f.run(3, &TUR), NOT_SUPPORTED);
        check(&f.run(3, &[0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0]), NOT_SUPPORTED);
        // The LUNs the port still shows carry it too, each once.
        for n in [0, 7] {
            check(&f.run(n, &TUR), RLDHC);
            good(f.run(n, &TUR));
        }
    }

    #[test]
    fn an_unknown_opcode_on_an_unmapped_number_also_reports_the_change_first() {
        let f = moved_lun_fixture();
        move_3_to_7(&f);
        check(&f.run(3, &[0xFF, 0, 0, 0, 0, 0]), RLDHC);
        check(&f.run(3, &[0xFF, 0, 0, 0, 0, 0]), NOT_SUPPORTED);
    }

    #[test]
    fn inquiry_leaves_the_change_pending_and_request_sense_returns_it_as_data() {
        let f = moved_lun_fixture();
        move_3_to_7(&f);
        let d = good(f.run(3, &INQUIRY));
        assert_eq!(d[0] >> 5, 0b011, "no logical unit at this number");
        assert_eq!(sense_code(&good(f.run(3, &REQUEST_SENSE))), RLDHC);
        assert_eq!(sense_code(&good(f.run(3, &REQUEST_SENSE))), NOT_SUPPORTED);
        check(&f.run(3, &TUR), NOT_SUPPORTED);
    }

    #[test]
    fn report_luns_clears_the_change_on_unmapped_numbers_too() {
        let f = moved_lun_fixture();
        move_3_to_7(&f);
        // Sent to the number that lost its LUN: runs, and reports the new inventory.
        let d = good(f.run(3, &REPORT_LUNS));
        assert_eq!(&d[..4], &16u32.to_be_bytes());
        assert_eq!(d[8 + 8 + 1], 7);
        check(&f.run(3, &TUR), NOT_SUPPORTED);
        good(f.run(0, &TUR));
        good(f.run(7, &TUR));
    }

    #[test]
    fn a_map_change_reaches_only_the_nexuses_of_that_port() {
        let f = moved_lun_fixture();
        second_port(&f, map(&[(0, 0), (3, 1)]));
        let elsewhere = f.login_on(4, "iqn.2024-01.org.test:other", 1);
        move_3_to_7(&f);
        good(f.run_on(elsewhere, 0, &TUR));
        good(f.run_on(elsewhere, 3, &TUR));
        check(&f.run_on(elsewhere, 7, &TUR), NOT_SUPPORTED);
        check(&f.run(3, &TUR), RLDHC);
    }

    #[test]
    fn a_new_port_identity_is_new_inquiry_data_and_an_unchanged_map_no_inventory_change() {
        let f = moved_lun_fixture();
        let mut p = port_config(map(&[(0, 0), (3, 1)]));
        p.tpg = TPG + 1;
        f.device.apply(Mutation::PortChanged(p)).unwrap();
        for n in [0, 3] {
            check(&f.run(n, &TUR), (0x06, 0x3F, 0x03));
            good(f.run(n, &TUR));
        }
        check(&f.run(5, &TUR), NOT_SUPPORTED);
        assert_eq!(f.device.port(PORT).map(|p| p.tpg), Some(TPG + 1));
    }

    #[test]
    fn changing_a_port_that_does_not_exist_is_refused() {
        let f = Fixture::new();
        let mut p = port_config(None);
        p.relative_id = 99;
        assert_eq!(
            f.device.apply(Mutation::PortChanged(p)),
            Err(MutationError::NoSuchPort(99))
        );
    }

    #[test]
    fn adding_or_removing_a_lun_tells_only_the_ports_that_map_it_on_their_own_luns() {
        let f = Fixture::with(
            port_config(map(&[(0, 0), (1, 1)])),
            [lun_config(0, 64), lun_config(1, 64), lun_config(9, 64)],
        );
        second_port(&f, map(&[(0, 0), (9, 9)]));
        let elsewhere = f.login_on(4, "iqn.2024-01.org.test:other", 1);
        let lun9 = f.device.lun(LunId(9)).expect("LUN 9");
        // Its power-on condition, which the fixture's port never reaches to clear.
        while lun9.take_attention(f.nexus).is_some() {}
        f.device
            .apply(Mutation::LunRemoved { id: LunId(1) })
            .unwrap();
        // Not on LUN 9, which the fixture's port does not show.
        assert_eq!(lun9.peek_attention(f.nexus), None);
        assert_eq!(lun9.peek_attention(elsewhere), None);
        check(&f.run(1, &TUR), RLDHC);
        check(&f.run(1, &TUR), NOT_SUPPORTED);
        check(&f.run(0, &TUR), RLDHC);
        good(f.run_on(elsewhere, 0, &TUR));
        check(&f.run_on(elsewhere, 1, &TUR), NOT_SUPPORTED);

        // Back at its number: that port's nexuses hear of it again, the other port's do not.
        f.device
            .apply(Mutation::LunAdded(lun_config(1, 64)))
            .unwrap();
        check(&f.run(0, &TUR), RLDHC);
        check(&f.run(5, &TUR), RLDHC);
        check(&f.run(1, &TUR), (0x06, 0x29, 0x00));
        good(f.run_on(elsewhere, 0, &TUR));
        check(&f.run_on(elsewhere, 1, &TUR), NOT_SUPPORTED);
        assert_eq!(
            f.device.apply(Mutation::LunRemoved { id: LunId(42) }),
            Err(MutationError::NoSuchLun(LunId(42)))
        );
    }

    #[test]
    fn the_unmapped_number_queue_lives_from_login_to_logout() {
        let f = moved_lun_fixture();
        move_3_to_7(&f);
        assert!(f.device.no_lun_attentions.borrow().contains_key(&f.nexus));
        f.device.logout(f.nexus);
        assert!(!f.device.no_lun_attentions.borrow().contains_key(&f.nexus));
        // A nexus that logs in afterwards starts with nothing to hear about.
        let fresh = f.login();
        check(&f.run_on(fresh, 3, &TUR), NOT_SUPPORTED);
    }

    #[test]
    fn run_command_runs_tur_inquiry_and_read_capacity() {
        let f = Fixture::new();
        let run =
            |cdb: &[u8], allocation| block_on(f.device.run_command(f.nexus, LUN0, cdb, allocation));
        let tur = run(&TUR, 0);
        assert_eq!(
            tur,
            CommandOutcome {
                status: 0,
                sense: None,
                data: Vec::new()
            }
        );
        let inquiry = run(&[0x12, 0, 0, 0, 96, 0], 255);
        assert_eq!(inquiry.status, 0);
        assert_eq!(&inquiry.data[8..12], b"DYAD");
        assert_eq!(run(&[0x12, 0, 0, 0, 96, 0], 8).data.len(), 8);
        let capacity = run(&[0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0], 8);
        assert_eq!(capacity.status, 0);
        assert_eq!(capacity.data, [0, 0, 0x07, 0xFF, 0, 0, 0x02, 0]);
    }

    #[test]
    fn run_command_reports_check_conditions_and_refuses_data_out() {
        let f = Fixture::new();
        let run = |lun: u32, cdb: &[u8]| {
            block_on(
                f.device
                    .run_command(f.nexus, lun_address::encode(lun), cdb, 255),
            )
        };
        let write = run(0, &[0x2A, 0, 0, 0, 0, 0, 0, 0, 1, 0]);
        assert_eq!(write.status, ScsiStatus::CheckCondition as u8);
        assert_eq!(
            write.sense.as_deref().map(sense_code),
            Some((0x05, 0x24, 0x00))
        );
        assert_eq!(f.device.tasks_in_set(LunId(0)), 0, "nothing left queued");
        // No data-out needed (no blocks): it runs.
        assert_eq!(run(0, &[0x2A, 0, 0, 0, 0, 0, 0, 0, 0, 0]).status, 0);
        let missing = run(5, &TUR);
        assert_eq!(
            missing.sense.as_deref().map(sense_code),
            Some(NOT_SUPPORTED)
        );
        let luns = run(5, &REPORT_LUNS);
        assert_eq!((luns.status, luns.data.len()), (0, 16));
        f.device
            .apply(Mutation::AttentionRaised {
                lun: None,
                ua: UnitAttention::InquiryDataChanged,
                except: None,
            })
            .unwrap();
        let ua = run(0, &TUR);
        assert_eq!(ua.status, 0x02);
        assert_eq!(
            ua.sense.as_deref().map(sense_code),
            Some((0x06, 0x3F, 0x03))
        );
        let sense = run(0, &REQUEST_SENSE);
        assert_eq!((sense.status, sense_code(&sense.data)), (0, (0, 0, 0)));
        let unknown = block_on(f.device.run_command(NexusId(0x00FF_FFFF), LUN0, &TUR, 0));
        assert_eq!(unknown.status, 0x02);
    }

    #[test]
    fn lun_reset_reports_bus_device_reset_to_every_nexus() {
        let f = Fixture::new();
        let other = f.login();
        assert_eq!(
            block_on(f.device.lun_reset(f.nexus, LUN0)),
            TmfOutcome::FunctionComplete
        );
        for n in [f.nexus, other] {
            let r = f.run_on(n, 0, &[0x00, 0, 0, 0, 0, 0]);
            assert_eq!(sense_code(&r.sense), (0x06, 0x29, 0x03));
        }
    }
}
