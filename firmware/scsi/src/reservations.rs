//! Persistent reservations (SPC-4 §5.13) and SPC-2 RESERVE/RELEASE, as a pure per-LUN state
//! machine: each PERSISTENT RESERVE OUT service action is a method that either refuses without
//! changing anything or changes the state and returns the side effects (unit attentions, task
//! aborts, APTPL saves) for the caller to carry out. Nothing here knows about the command
//! pipeline, the HA peer or the store; the state is serialisable so both can carry it.

use crate::nexus::InitiatorPort;
use crate::sense::{Sense, SenseKey};
use crate::table::Flags;
use crate::ua::UnitAttention;
use alloc::vec::Vec;
use serde::{Deserialize, Serialize};

/// Parameter-list byte of SPEC_I_PT / ALL_TG_PT / APTPL (SPC-4 table 174).
const FLAGS_BYTE: u16 = 20;
const SPEC_I_PT_BIT: u8 = 3;
const ALL_TG_PT_BIT: u8 = 2;
/// Parameter-list byte of the SERVICE ACTION RESERVATION KEY.
const SA_KEY_BYTE: u16 = 8;
/// CDB byte holding SCOPE (bits 7..4) and TYPE (bits 3..0).
const SCOPE_TYPE_BYTE: u16 = 2;
/// CDB byte holding the SERVICE ACTION (bits 4..0).
const SERVICE_ACTION_BYTE: u16 = 1;
/// REGISTER AND MOVE parameter list: where the TransportID starts (SPC-4 table 176).
const MOVE_TRANSPORT_ID_BYTE: u16 = 24;
/// SCOPE value LU_SCOPE, the only scope SPC-4 still defines.
const LU_SCOPE: u8 = 0;
/// REPORT CAPABILITIES ALLOW COMMANDS value, as CTL reports it (ctl.md §3.1): our conflict
/// rules let TEST UNIT READY and the other ALLOW_ON_PR_RESV commands through every type.
const ALLOW_COMMANDS: u8 = 5;
/// TransportID byte 0 for iSCSI (protocol identifier 5h) in format 01b (name + ISID).
const ISCSI_TRANSPORT_ID_FORMAT_01: u8 = 0x40 | 0x05;
/// TransportID byte 0 for iSCSI in format 00b (name only).
const ISCSI_TRANSPORT_ID_FORMAT_00: u8 = 0x05;

/// Persistent reservation types (SPC-4 table 169).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[repr(u8)]
pub enum ReservationType {
    WriteExclusive = 1,
    ExclusiveAccess = 3,
    WriteExclusiveRegistrantsOnly = 5,
    ExclusiveAccessRegistrantsOnly = 6,
    WriteExclusiveAllRegistrants = 7,
    ExclusiveAccessAllRegistrants = 8,
}

impl ReservationType {
    pub const ALL: [ReservationType; 6] = [
        ReservationType::WriteExclusive,
        ReservationType::ExclusiveAccess,
        ReservationType::WriteExclusiveRegistrantsOnly,
        ReservationType::ExclusiveAccessRegistrantsOnly,
        ReservationType::WriteExclusiveAllRegistrants,
        ReservationType::ExclusiveAccessAllRegistrants,
    ];

    pub const fn from_code(code: u8) -> Option<Self> {
        match code {
            1 => Some(ReservationType::WriteExclusive),
            3 => Some(ReservationType::ExclusiveAccess),
            5 => Some(ReservationType::WriteExclusiveRegistrantsOnly),
            6 => Some(ReservationType::ExclusiveAccessRegistrantsOnly),
            7 => Some(ReservationType::WriteExclusiveAllRegistrants),
            8 => Some(ReservationType::ExclusiveAccessAllRegistrants),
            _ => None,
        }
    }

    pub const fn code(self) -> u8 {
        self as u8
    }

    /// Write Exclusive family: non-holders may still read.
    pub const fn is_write_exclusive(self) -> bool {
        matches!(
            self,
            ReservationType::WriteExclusive
                | ReservationType::WriteExclusiveRegistrantsOnly
                | ReservationType::WriteExclusiveAllRegistrants
        )
    }

    /// All registrants types: every registered I_T nexus is a reservation holder.
    pub const fn is_all_registrants(self) -> bool {
        matches!(
            self,
            ReservationType::WriteExclusiveAllRegistrants
                | ReservationType::ExclusiveAccessAllRegistrants
        )
    }

    /// Registrants only and all registrants types: registrants get the holder's access.
    pub const fn registrants_have_access(self) -> bool {
        !matches!(
            self,
            ReservationType::WriteExclusive | ReservationType::ExclusiveAccess
        )
    }
}

/// An I_T nexus as persistent reservations see it: the initiator port (name + ISID) and the
/// relative target port it reaches the LUN through. A re-login with the same ISID is the same
/// I_T nexus, so registrations survive it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ITNexus {
    pub initiator: InitiatorPort,
    pub relative_target_port: u16,
}

/// One registration. With ALL_TG_PT it stands for the I_T nexuses of the initiator port through
/// every target port; it is still one registration (one key, unregistered as a whole).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registrant {
    pub initiator: InitiatorPort,
    /// Registered through a name-only TransportID (SPEC_I_PT, format 00b): it stands for every
    /// initiator port of the named initiator device, whatever its ISID.
    pub any_isid: bool,
    /// The port it registered through; reported by READ FULL STATUS, ignored with ALL_TG_PT.
    pub relative_target_port: u16,
    pub all_tg_pt: bool,
    pub key: u64,
}

impl Registrant {
    /// Whether this registration is the one of I_T nexus `n`.
    pub fn covers(&self, n: &ITNexus) -> bool {
        same_initiator(&self.initiator, self.any_isid, &n.initiator, false)
            && (self.all_tg_pt || self.relative_target_port == n.relative_target_port)
    }

    /// Whether a registration of `initiator` (any of its ports with `any_isid`) through `port`
    /// (all ports with `all`) would share an I_T nexus with this one.
    fn overlaps(&self, initiator: &InitiatorPort, any_isid: bool, port: u16, all: bool) -> bool {
        same_initiator(&self.initiator, self.any_isid, initiator, any_isid)
            && (self.all_tg_pt || all || self.relative_target_port == port)
    }

    /// Its TransportID, as READ FULL STATUS reports it: name and ISID, or the name alone.
    pub fn transport_id(&self) -> Vec<u8> {
        if self.any_isid {
            iscsi_name_transport_id(&self.initiator.name)
        } else {
            iscsi_transport_id(&self.initiator)
        }
    }

    /// The I_T nexuses of this registration, less `except` when it is one of them.
    fn nexuses(&self, except: Option<&ITNexus>) -> Option<NexusSet> {
        let target_ports = match except.filter(|e| self.covers(e)) {
            Some(e) if self.all_tg_pt => TargetPorts::AllExcept(e.relative_target_port),
            Some(_) => return None,
            None if self.all_tg_pt => TargetPorts::All,
            None => TargetPorts::Only(self.relative_target_port),
        };
        Some(NexusSet {
            initiator: self.initiator.clone(),
            any_isid: self.any_isid,
            target_ports,
        })
    }
}

/// Who holds the persistent reservation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Holder {
    /// The registration of this I_T nexus (the one that reserved, or the REGISTER AND MOVE
    /// destination).
    Registrant(ITNexus),
    /// Every registrant (the all registrants types).
    AllRegistrants,
}

/// The persistent reservation; its scope is always LU_SCOPE.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reservation {
    pub holder: Holder,
    pub kind: ReservationType,
}

/// A set of I_T nexuses of one initiator port, for the side effects of an outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NexusSet {
    pub initiator: InitiatorPort,
    /// Every initiator port of the initiator's name, not only the one with its ISID.
    pub any_isid: bool,
    pub target_ports: TargetPorts,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TargetPorts {
    Only(u16),
    All,
    /// Every port but the one the PERSISTENT RESERVE OUT arrived through.
    AllExcept(u16),
}

impl NexusSet {
    pub fn contains(&self, n: &ITNexus) -> bool {
        same_initiator(&self.initiator, self.any_isid, &n.initiator, false)
            && match self.target_ports {
                TargetPorts::Only(p) => n.relative_target_port == p,
                TargetPorts::All => true,
                TargetPorts::AllExcept(p) => n.relative_target_port != p,
            }
    }
}

/// What the caller must do after a PERSISTENT RESERVE OUT succeeded.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    /// Unit attentions to raise on this LUN for these nexuses.
    pub attentions: Vec<(NexusSet, UnitAttention)>,
    /// PREEMPT AND ABORT: abort every task of these nexuses on this LUN (except the PERSISTENT
    /// RESERVE OUT itself, which may be among them on a self-preempt).
    pub abort: Vec<NexusSet>,
    /// The state changed while APTPL was (or has just stopped being) in force: write it, or
    /// remove the saved copy when [`PersistentReservations::aptpl`] is now false.
    pub persist: bool,
}

/// Why a PERSISTENT RESERVE OUT (or SPC-2 RESERVE/RELEASE) was refused; nothing changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Refusal {
    /// RESERVATION CONFLICT status (18h).
    ReservationConflict,
    /// CHECK CONDITION with this sense.
    Check(Sense),
}

/// INVALID RELEASE OF PERSISTENT RESERVATION (26h/04h).
pub const INVALID_RELEASE_OF_PERSISTENT_RESERVATION: Sense =
    Sense::new(SenseKey::IllegalRequest, 0x26, 0x04);

/// The fields of a PERSISTENT RESERVE OUT the service actions use: SCOPE and TYPE from the
/// CDB, the rest from the basic parameter list. SPEC_I_PT selects
/// [`PersistentReservations::register_specified`]; its TransportIDs come separately.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProutParameters {
    pub reservation_key: u64,
    pub service_action_key: u64,
    pub scope: u8,
    pub type_code: u8,
    pub aptpl: bool,
    pub all_tg_pt: bool,
}

/// An initiator port named by a SPEC_I_PT TransportID, with the byte offset of that
/// TransportID in the parameter list (the field pointer when it is refused).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecifiedInitiator {
    pub initiator: InitiatorPort,
    /// Named by a name-only TransportID (format 00b): every port of that initiator device.
    pub any_isid: bool,
    pub offset: u16,
}

/// How a command meets a reservation held by someone else, from its command-table flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessKind {
    /// Reads the medium: allowed under the Write Exclusive types (ALLOW_ON_PR_WRESV).
    Read,
    /// Anything else that touches the medium or its state: holders only.
    Write,
    /// Allowed under every persistent reservation (ALLOW_ON_PR_RESV: INQUIRY, PERSISTENT
    /// RESERVE IN/OUT, TEST UNIT READY, ...).
    Allowed,
}

impl AccessKind {
    pub fn from_flags(flags: Flags) -> Self {
        if flags.contains(Flags::ALLOW_ON_PR_RESV) {
            AccessKind::Allowed
        } else if flags.contains(Flags::ALLOW_ON_PR_WRESV) {
            AccessKind::Read
        } else {
            AccessKind::Write
        }
    }
}

/// One LUN's persistent reservation state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersistentReservations {
    /// In registration order, which READ KEYS and READ FULL STATUS report.
    registrants: Vec<Registrant>,
    reservation: Option<Reservation>,
    generation: u32,
    aptpl: bool,
}

/// Whether two initiator identities share an initiator port; `*_any` widens one to every
/// port (ISID) of its name.
fn same_initiator(a: &InitiatorPort, a_any: bool, b: &InitiatorPort, b_any: bool) -> bool {
    a.name == b.name && (a_any || b_any || a.isid == b.isid)
}

fn conflict<T>() -> Result<T, Refusal> {
    Err(Refusal::ReservationConflict)
}

fn invalid_parameter(byte: u16, bit: Option<u8>) -> Refusal {
    Refusal::Check(Sense::invalid_field_in_parameter_list(byte, bit))
}

/// The reservation type of the CDB, which must be LU_SCOPE with a defined TYPE.
fn cdb_type(p: &ProutParameters) -> Result<ReservationType, Refusal> {
    if p.scope != LU_SCOPE {
        return Err(Refusal::Check(Sense::invalid_field_in_cdb(
            SCOPE_TYPE_BYTE,
            Some(7),
        )));
    }
    ReservationType::from_code(p.type_code).ok_or(Refusal::Check(Sense::invalid_field_in_cdb(
        SCOPE_TYPE_BYTE,
        Some(3),
    )))
}

fn push_u32(out: &mut Vec<u8>, v: usize) {
    // Lengths beyond 4 GiB cannot be expressed; the caller truncates to the allocation length
    // long before that, so saturating only affects data nobody can receive.
    out.extend_from_slice(&u32::try_from(v).unwrap_or(u32::MAX).to_be_bytes());
}

/// iSCSI TransportID, format 01b: "<name>,i,0x<ISID>" (SPC-4 §7.6.4.6).
pub fn iscsi_transport_id(initiator: &InitiatorPort) -> Vec<u8> {
    let mut name = Vec::with_capacity(initiator.name.len().saturating_add(20));
    name.extend_from_slice(initiator.name.as_bytes());
    name.extend_from_slice(b",i,0x");
    for b in initiator.isid {
        for nibble in [b >> 4, b & 0x0F] {
            let digit = char::from_digit(u32::from(nibble), 16).unwrap_or('0');
            name.push(u8::try_from(digit).unwrap_or(b'0'));
        }
    }
    transport_id(ISCSI_TRANSPORT_ID_FORMAT_01, name)
}

/// iSCSI TransportID, format 00b: the initiator device's name alone.
pub fn iscsi_name_transport_id(name: &str) -> Vec<u8> {
    transport_id(ISCSI_TRANSPORT_ID_FORMAT_00, name.as_bytes().to_vec())
}

/// The TransportID with byte 0 `format` around `name`: NUL-terminated, padded to a multiple
/// of four and to at least 20 bytes of additional length.
fn transport_id(format: u8, mut name: Vec<u8>) -> Vec<u8> {
    name.push(0);
    while !name.len().is_multiple_of(4) || name.len() < 20 {
        name.push(0);
    }
    let len = u16::try_from(name.len()).unwrap_or(u16::MAX);
    let mut out = Vec::with_capacity(name.len().saturating_add(4));
    out.push(format);
    out.push(0);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&name);
    out
}

impl PersistentReservations {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn registrants(&self) -> &[Registrant] {
        &self.registrants
    }

    pub fn reservation(&self) -> Option<&Reservation> {
        self.reservation.as_ref()
    }

    pub fn generation(&self) -> u32 {
        self.generation
    }

    /// APTPL: whether the state must survive a power loss (PTPL_A).
    pub fn aptpl(&self) -> bool {
        self.aptpl
    }

    /// The state after a power on, from what was saved: without APTPL nothing survives, and
    /// PRgeneration restarts at zero either way (SPC-4 §6.16.2).
    pub fn after_power_on(mut self) -> Self {
        if !self.aptpl {
            self = Self::default();
        }
        self.generation = 0;
        self
    }

    /// Whether the state could have come from PERSISTENT RESERVE OUT: registrations do not
    /// share an I_T nexus, and a reservation's holder is registered (for a record read back
    /// from storage, which must not grant access to nobody in particular).
    pub fn is_consistent(&self) -> bool {
        let distinct = self.registrants.iter().enumerate().all(|(i, r)| {
            self.registrants.iter().skip(i + 1).all(|o| {
                !o.overlaps(
                    &r.initiator,
                    r.any_isid,
                    r.relative_target_port,
                    r.all_tg_pt,
                )
            })
        });
        let held = match &self.reservation {
            None => true,
            Some(Reservation {
                holder: Holder::AllRegistrants,
                kind,
            }) => kind.is_all_registrants() && !self.registrants.is_empty(),
            Some(Reservation {
                holder: Holder::Registrant(h),
                kind,
            }) => !kind.is_all_registrants() && self.is_registered(h),
        };
        distinct && held
    }

    pub fn registrant(&self, n: &ITNexus) -> Option<&Registrant> {
        self.registrants.iter().find(|r| r.covers(n))
    }

    pub fn is_registered(&self, n: &ITNexus) -> bool {
        self.registrant(n).is_some()
    }

    /// Whether `n` is a persistent reservation holder (SPC-4 §5.13.10).
    pub fn is_holder(&self, n: &ITNexus) -> bool {
        match &self.reservation {
            None => false,
            Some(Reservation {
                holder: Holder::AllRegistrants,
                ..
            }) => self.is_registered(n),
            Some(Reservation {
                holder: Holder::Registrant(h),
                ..
            }) => self.registrant(n).is_some_and(|r| r.covers(h)),
        }
    }

    /// Whether `n` has the access of a holder: the holder, or any registrant under the
    /// registrants only and all registrants types.
    fn has_holder_access(&self, n: &ITNexus) -> bool {
        match &self.reservation {
            None => false,
            Some(r) if r.kind.registrants_have_access() => self.is_registered(n),
            Some(_) => self.is_holder(n),
        }
    }

    /// Whether a command of `kind` from `requester` gets RESERVATION CONFLICT (SPC-4 table
    /// "SPC commands that are allowed in the presence of various reservations", reduced to the
    /// command table's flags).
    pub fn conflicts(&self, requester: &ITNexus, kind: AccessKind) -> bool {
        let Some(r) = &self.reservation else {
            return false;
        };
        match kind {
            AccessKind::Allowed => false,
            _ if self.has_holder_access(requester) => false,
            AccessKind::Read => !r.kind.is_write_exclusive(),
            AccessKind::Write => true,
        }
    }

    fn bump(&mut self) {
        self.generation = self.generation.wrapping_add(1);
    }

    /// The registration of a registered requester whose RESERVATION KEY matches it; SPC-4
    /// answers RESERVATION CONFLICT to anyone else for every action but the registering ones.
    fn checked_registrant(&self, requester: &ITNexus, key: u64) -> Result<&Registrant, Refusal> {
        match self.registrant(requester) {
            Some(r) if r.key == key => Ok(r),
            _ => conflict(),
        }
    }

    /// Drops the reservation once its holder's registration is gone (SPC-4 §5.13.10); for the
    /// all registrants types, once the last registration is.
    fn release_if_holder_gone(&mut self) {
        let gone = match &self.reservation {
            Some(Reservation {
                holder: Holder::Registrant(h),
                ..
            }) => !self.registrants.iter().any(|r| r.covers(h)),
            Some(Reservation {
                holder: Holder::AllRegistrants,
                ..
            }) => self.registrants.is_empty(),
            None => false,
        };
        if gone {
            self.reservation = None;
        }
    }

    /// The holder a reservation of `kind` made by `n` has.
    fn holder_for(kind: ReservationType, n: &ITNexus) -> Holder {
        if kind.is_all_registrants() {
            Holder::AllRegistrants
        } else {
            Holder::Registrant(n.clone())
        }
    }

    /// UA `ua` for every registered nexus but `except`.
    fn notify_registrants(&self, except: &ITNexus, ua: UnitAttention, out: &mut Outcome) {
        out.attentions.extend(
            self.registrants
                .iter()
                .filter_map(|r| r.nexuses(Some(except)))
                .map(|s| (s, ua)),
        );
    }

    /// REGISTER (00h) without SPEC_I_PT.
    pub fn register(
        &mut self,
        requester: &ITNexus,
        p: &ProutParameters,
    ) -> Result<Outcome, Refusal> {
        match self.registrant(requester) {
            Some(r) if r.key != p.reservation_key => conflict(),
            None if p.reservation_key != 0 => conflict(),
            _ => self.register_common(requester, p),
        }
    }

    /// REGISTER AND IGNORE EXISTING KEY (06h): REGISTER without the key check. SPEC_I_PT is not
    /// allowed with it (INVALID FIELD IN PARAMETER LIST, byte 20 bit 3: the caller's check).
    pub fn register_and_ignore_existing_key(
        &mut self,
        requester: &ITNexus,
        p: &ProutParameters,
    ) -> Result<Outcome, Refusal> {
        self.register_common(requester, p)
    }

    fn register_common(
        &mut self,
        requester: &ITNexus,
        p: &ProutParameters,
    ) -> Result<Outcome, Refusal> {
        let was_aptpl = self.aptpl;
        let mut out = Outcome::default();
        match self.registrants.iter().position(|r| r.covers(requester)) {
            // Unregistered and asking for key 0: nothing to do, and APTPL from a nexus that
            // holds no registration must not change everyone's persistence.
            None if p.service_action_key == 0 => {
                self.bump();
                return Ok(out);
            }
            None => {
                if self.registrants.iter().any(|r| {
                    r.overlaps(
                        &requester.initiator,
                        false,
                        requester.relative_target_port,
                        p.all_tg_pt,
                    )
                }) {
                    // ALL_TG_PT over an existing per-port registration of the same initiator
                    // port would give one I_T nexus two keys.
                    return Err(invalid_parameter(FLAGS_BYTE, Some(ALL_TG_PT_BIT)));
                }
                self.registrants.push(Registrant {
                    initiator: requester.initiator.clone(),
                    any_isid: false,
                    relative_target_port: requester.relative_target_port,
                    all_tg_pt: p.all_tg_pt,
                    key: p.service_action_key,
                });
            }
            Some(_) if p.service_action_key == 0 => {
                let held = self.is_holder(requester);
                let kind = self.reservation.as_ref().map(|r| r.kind);
                self.registrants.retain(|r| !r.covers(requester));
                self.release_if_holder_gone();
                // SPC-4 §5.13.11.2.3: the registrants only holder unregistering releases the
                // reservation and tells the remaining registrants.
                if held
                    && self.reservation.is_none()
                    && kind.is_some_and(|k| k.registrants_have_access() && !k.is_all_registrants())
                {
                    self.notify_registrants(
                        requester,
                        UnitAttention::ReservationsReleased,
                        &mut out,
                    );
                }
            }
            Some(i) => {
                if let Some(r) = self.registrants.get_mut(i) {
                    r.key = p.service_action_key;
                }
            }
        }
        self.aptpl = p.aptpl;
        self.bump();
        out.persist = was_aptpl || self.aptpl;
        Ok(out)
    }

    /// REGISTER (00h) with SPEC_I_PT: registers the requester and, through the same target
    /// port (every port with ALL_TG_PT), each initiator port named by a TransportID. All or
    /// nothing: any of them already registered, or named twice, refuses the whole command.
    pub fn register_specified(
        &mut self,
        requester: &ITNexus,
        p: &ProutParameters,
        initiators: &[SpecifiedInitiator],
    ) -> Result<Outcome, Refusal> {
        if self.is_registered(requester) {
            return Err(invalid_parameter(FLAGS_BYTE, Some(SPEC_I_PT_BIT)));
        }
        if p.reservation_key != 0 {
            return conflict();
        }
        if p.service_action_key == 0 {
            // Unregistering others is not something SPEC_I_PT can ask for.
            return Err(invalid_parameter(SA_KEY_BYTE, None));
        }
        let port = requester.relative_target_port;
        for (i, s) in initiators.iter().enumerate() {
            let earlier = initiators.get(..i).unwrap_or_default();
            if same_initiator(&s.initiator, s.any_isid, &requester.initiator, false)
                || earlier
                    .iter()
                    .any(|e| same_initiator(&e.initiator, e.any_isid, &s.initiator, s.any_isid))
                || self
                    .registrants
                    .iter()
                    .any(|r| r.overlaps(&s.initiator, s.any_isid, port, p.all_tg_pt))
            {
                return Err(invalid_parameter(s.offset, None));
            }
        }
        let mut out = self.register_common(requester, p)?;
        self.registrants
            .extend(initiators.iter().map(|s| Registrant {
                initiator: s.initiator.clone(),
                any_isid: s.any_isid,
                relative_target_port: port,
                all_tg_pt: p.all_tg_pt,
                key: p.service_action_key,
            }));
        out.persist = out.persist || self.aptpl;
        Ok(out)
    }

    /// RESERVE (01h). Does not change PRgeneration.
    pub fn reserve(
        &mut self,
        requester: &ITNexus,
        p: &ProutParameters,
    ) -> Result<Outcome, Refusal> {
        let kind = cdb_type(p)?;
        self.checked_registrant(requester, p.reservation_key)?;
        match &self.reservation {
            // Reserving again what one already holds is GOOD and changes nothing.
            Some(r) if r.kind == kind && self.is_holder(requester) => Ok(Outcome::default()),
            Some(_) => conflict(),
            None => {
                self.reservation = Some(Reservation {
                    holder: Self::holder_for(kind, requester),
                    kind,
                });
                Ok(Outcome {
                    persist: self.aptpl,
                    ..Outcome::default()
                })
            }
        }
    }

    /// RELEASE (02h). Does not change PRgeneration.
    pub fn release(
        &mut self,
        requester: &ITNexus,
        p: &ProutParameters,
    ) -> Result<Outcome, Refusal> {
        self.checked_registrant(requester, p.reservation_key)?;
        let Some(r) = &self.reservation else {
            return Ok(Outcome::default());
        };
        // A registrant that does not hold the reservation releases nothing, successfully.
        if !self.is_holder(requester) {
            return Ok(Outcome::default());
        }
        if p.scope != LU_SCOPE || p.type_code != r.kind.code() {
            return Err(Refusal::Check(INVALID_RELEASE_OF_PERSISTENT_RESERVATION));
        }
        let kind = r.kind;
        self.reservation = None;
        let mut out = Outcome {
            persist: self.aptpl,
            ..Outcome::default()
        };
        // SPC-4 §5.13.11.2.2: only releasing a registrants only or all registrants
        // reservation tells the other registrants; under WE/EA they had no access to lose.
        if kind.registrants_have_access() {
            self.notify_registrants(requester, UnitAttention::ReservationsReleased, &mut out);
        }
        Ok(out)
    }

    /// CLEAR (03h): every registration and the reservation go; the others are told
    /// RESERVATIONS PREEMPTED.
    pub fn clear(&mut self, requester: &ITNexus, p: &ProutParameters) -> Result<Outcome, Refusal> {
        self.checked_registrant(requester, p.reservation_key)?;
        let mut out = Outcome {
            persist: self.aptpl,
            ..Outcome::default()
        };
        self.notify_registrants(requester, UnitAttention::ReservationsPreempted, &mut out);
        self.registrants.clear();
        self.reservation = None;
        self.bump();
        Ok(out)
    }

    /// PREEMPT (04h).
    pub fn preempt(
        &mut self,
        requester: &ITNexus,
        p: &ProutParameters,
    ) -> Result<Outcome, Refusal> {
        self.preempt_common(requester, p, false)
    }

    /// PREEMPT AND ABORT (05h): PREEMPT, and the tasks of every preempted nexus are aborted.
    pub fn preempt_and_abort(
        &mut self,
        requester: &ITNexus,
        p: &ProutParameters,
    ) -> Result<Outcome, Refusal> {
        self.preempt_common(requester, p, true)
    }

    fn preempt_common(
        &mut self,
        requester: &ITNexus,
        p: &ProutParameters,
        abort: bool,
    ) -> Result<Outcome, Refusal> {
        self.checked_registrant(requester, p.reservation_key)?;
        let sa_key = p.service_action_key;
        let current = self.reservation.clone();
        // SPC-4 §5.13.11.2.4.3: a key of zero against an all registrants reservation preempts
        // every other registrant; otherwise the key names the registrations to remove, and it
        // preempts the reservation too when it is the (single) holder's key.
        let all_registrants_zero = sa_key == 0
            && current
                .as_ref()
                .is_some_and(|r| r.kind.is_all_registrants());
        let holder_key = match &current {
            Some(Reservation {
                holder: Holder::Registrant(h),
                ..
            }) => self.registrant(h).map(|r| r.key),
            _ => None,
        };
        let preempts_reservation = all_registrants_zero || holder_key == Some(sa_key);
        if sa_key == 0 && !all_registrants_zero {
            return Err(invalid_parameter(SA_KEY_BYTE, None));
        }
        if !all_registrants_zero && !self.registrants.iter().any(|r| r.key == sa_key) {
            return conflict();
        }
        let new_kind = if preempts_reservation {
            Some(cdb_type(p)?)
        } else {
            None
        };

        let mut out = Outcome::default();
        // Removed when the reservation is preempted (SPC-4 §5.13.11.2.4.3): all others for the
        // zero key, else the registrations with the key but the requester's own, so that a
        // self-preempt keeps it. When only registrations are preempted (§5.13.11.2.4.2) there is
        // no such exception: a requester naming its own key loses its registration too.
        let removes = |r: &Registrant| {
            if preempts_reservation {
                !r.covers(requester) && (all_registrants_zero || r.key == sa_key)
            } else {
                r.key == sa_key
            }
        };
        // REGISTRATIONS PREEMPTED goes to every nexus that lost its registration but the one
        // the command came through.
        for r in self.registrants.iter().filter(|r| removes(r)) {
            if let Some(s) = r.nexuses(Some(requester)) {
                out.attentions
                    .push((s, UnitAttention::RegistrationsPreempted));
            }
        }
        if abort {
            // The tasks of every nexus the key identifies are aborted, the requester's own
            // included when it preempts itself (the caller spares the PREEMPT AND ABORT).
            out.abort.extend(
                self.registrants
                    .iter()
                    .filter(|r| removes(r) || (!all_registrants_zero && r.key == sa_key))
                    .filter_map(|r| r.nexuses(None)),
            );
        }
        self.registrants.retain(|r| !removes(r));

        match (new_kind, current) {
            (Some(kind), Some(old)) => {
                self.reservation = Some(Reservation {
                    holder: Self::holder_for(kind, requester),
                    kind,
                });
                // A changed type tells the surviving registrants their reservation was
                // released; the same type does not (SPC-4 §5.13.11.2.4.3).
                if kind != old.kind {
                    self.notify_registrants(
                        requester,
                        UnitAttention::ReservationsReleased,
                        &mut out,
                    );
                }
            }
            _ => self.release_if_holder_gone(),
        }
        self.bump();
        out.persist = self.aptpl;
        Ok(out)
    }

    /// REGISTER AND MOVE (07h): the holder registers `destination` (if it is not registered
    /// yet) with the SERVICE ACTION RESERVATION KEY and hands it the reservation, with the
    /// CDB's TYPE; with `unreg` it then drops its own registration.
    pub fn register_and_move(
        &mut self,
        requester: &ITNexus,
        p: &ProutParameters,
        unreg: bool,
        destination: &ITNexus,
    ) -> Result<Outcome, Refusal> {
        let kind = cdb_type(p)?;
        let own = self.checked_registrant(requester, p.reservation_key)?;
        if p.service_action_key == 0 {
            return Err(invalid_parameter(SA_KEY_BYTE, None));
        }
        if own.covers(destination) {
            return Err(invalid_parameter(MOVE_TRANSPORT_ID_BYTE, None));
        }
        match &self.reservation {
            // Nothing to move: a field of the CDB (the service action) is wrong, as LIO answers.
            None => {
                return Err(Refusal::Check(Sense::invalid_field_in_cdb(
                    SERVICE_ACTION_BYTE,
                    Some(4),
                )))
            }
            // The all registrants types have no single holder to move.
            Some(r) if !r.kind.is_all_registrants() && self.is_holder(requester) => {}
            Some(_) => return conflict(),
        }
        if kind.is_all_registrants() {
            return Err(Refusal::Check(Sense::invalid_field_in_cdb(
                SCOPE_TYPE_BYTE,
                Some(3),
            )));
        }
        let was_aptpl = self.aptpl;
        if !self.is_registered(destination) {
            self.registrants.push(Registrant {
                initiator: destination.initiator.clone(),
                any_isid: false,
                relative_target_port: destination.relative_target_port,
                all_tg_pt: false,
                key: p.service_action_key,
            });
        }
        self.reservation = Some(Reservation {
            holder: Holder::Registrant(destination.clone()),
            kind,
        });
        if unreg {
            self.registrants.retain(|r| !r.covers(requester));
        }
        self.aptpl = p.aptpl;
        self.bump();
        Ok(Outcome {
            persist: was_aptpl || self.aptpl,
            ..Outcome::default()
        })
    }

    /// PERSISTENT RESERVE IN, READ KEYS (00h).
    pub fn read_keys(&self) -> Vec<u8> {
        let mut out =
            Vec::with_capacity(self.registrants.len().saturating_mul(8).saturating_add(8));
        out.extend_from_slice(&self.generation.to_be_bytes());
        push_u32(&mut out, self.registrants.len().saturating_mul(8));
        for r in &self.registrants {
            out.extend_from_slice(&r.key.to_be_bytes());
        }
        out
    }

    /// PERSISTENT RESERVE IN, READ RESERVATION (01h).
    pub fn read_reservation(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(24);
        out.extend_from_slice(&self.generation.to_be_bytes());
        let Some(r) = &self.reservation else {
            push_u32(&mut out, 0);
            return out;
        };
        push_u32(&mut out, 16);
        // An all registrants reservation has no one key: SPC-4 reports zero.
        let key = match &r.holder {
            Holder::Registrant(h) => self.registrant(h).map_or(0, |g| g.key),
            Holder::AllRegistrants => 0,
        };
        out.extend_from_slice(&key.to_be_bytes());
        out.extend_from_slice(&[0; 4]);
        out.push(0);
        out.push((LU_SCOPE << 4) | r.kind.code());
        out.extend_from_slice(&[0; 2]);
        out
    }

    /// PERSISTENT RESERVE IN, REPORT CAPABILITIES (02h): CRH, SIP_C, ATP_C, PTPL_C, TMV and
    /// every type.
    pub fn report_capabilities(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(8);
        out.extend_from_slice(&8u16.to_be_bytes());
        // CRH | SIP_C | ATP_C | PTPL_C
        out.push(0x10 | 0x08 | 0x04 | 0x01);
        out.push(0x80 | (ALLOW_COMMANDS << 4) | u8::from(self.aptpl));
        // WR_EX_AR, EX_AC_RO, WR_EX_RO, EX_AC, WR_EX; then EX_AC_AR.
        out.push(0x80 | 0x40 | 0x20 | 0x08 | 0x02);
        out.push(0x01);
        out.extend_from_slice(&[0; 2]);
        out
    }

    /// PERSISTENT RESERVE IN, READ FULL STATUS (03h): one descriptor per registration, with
    /// its iSCSI TransportID.
    pub fn read_full_status(&self) -> Vec<u8> {
        let mut body = Vec::new();
        for r in &self.registrants {
            let holder = match &self.reservation {
                Some(Reservation {
                    holder: Holder::AllRegistrants,
                    kind,
                }) => Some(*kind),
                Some(Reservation {
                    holder: Holder::Registrant(h),
                    kind,
                }) if r.covers(h) => Some(*kind),
                _ => None,
            };
            let tid = r.transport_id();
            body.extend_from_slice(&r.key.to_be_bytes());
            body.extend_from_slice(&[0; 4]);
            body.push((u8::from(r.all_tg_pt) << 1) | u8::from(holder.is_some()));
            body.push(holder.map_or(0, |k| (LU_SCOPE << 4) | k.code()));
            body.extend_from_slice(&[0; 4]);
            // Ignored with ALL_TG_PT (SPC-4 §6.16.5); zero then.
            let port = if r.all_tg_pt {
                0
            } else {
                r.relative_target_port
            };
            body.extend_from_slice(&port.to_be_bytes());
            push_u32(&mut body, tid.len());
            body.extend_from_slice(&tid);
        }
        let mut out = Vec::with_capacity(body.len().saturating_add(8));
        out.extend_from_slice(&self.generation.to_be_bytes());
        push_u32(&mut out, body.len());
        out.extend_from_slice(&body);
        out
    }
}

/// The SPC-2 RESERVE/RELEASE reservation of one LUN, held by one I_T nexus. Lost on LU reset,
/// I_T nexus loss of the holder and power on (the caller calls [`Spc2Reservation::reset`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Spc2Reservation {
    holder: Option<ITNexus>,
}

impl Spc2Reservation {
    /// The reservation as a mutation carries it.
    pub fn held_by(holder: Option<ITNexus>) -> Self {
        Spc2Reservation { holder }
    }

    pub fn holder(&self) -> Option<&ITNexus> {
        self.holder.as_ref()
    }

    /// Whether a command from `requester` gets RESERVATION CONFLICT: everything from other
    /// nexuses but the commands flagged ALLOW_ON_RESV.
    pub fn conflicts(&self, requester: &ITNexus, flags: Flags) -> bool {
        self.holder.as_ref().is_some_and(|h| h != requester)
            && !flags.contains(Flags::ALLOW_ON_RESV)
    }

    /// With registrations present, RESERVE and RELEASE change nothing (SPC-4 §5.13.3, CRH = 1):
    /// GOOD for a persistent reservation holder (or a registrant under a registrants only or
    /// all registrants reservation), a conflict for anyone else. `None` without registrations.
    fn registered_exception(
        requester: &ITNexus,
        pr: &PersistentReservations,
    ) -> Option<Result<(), Refusal>> {
        if pr.registrants().is_empty() {
            None
        } else if pr.has_holder_access(requester) {
            Some(Ok(()))
        } else {
            Some(conflict())
        }
    }

    /// RESERVE(6)/(10). With registrations present the SPC-4 §5.13.3 exceptions (CRH = 1)
    /// apply: a persistent reservation holder (or a registrant under a registrants only or all
    /// registrants reservation) gets GOOD with nothing changed; anyone else a conflict.
    pub fn reserve(
        &mut self,
        requester: &ITNexus,
        pr: &PersistentReservations,
    ) -> Result<(), Refusal> {
        if let Some(answer) = Self::registered_exception(requester, pr) {
            return answer;
        }
        match &self.holder {
            Some(h) if h != requester => conflict(),
            _ => {
                self.holder = Some(requester.clone());
                Ok(())
            }
        }
    }

    /// RELEASE(6)/(10): only the holder releases; from anyone else it is GOOD and does
    /// nothing. With registrations present, the same exceptions as [`Self::reserve`].
    pub fn release(
        &mut self,
        requester: &ITNexus,
        pr: &PersistentReservations,
    ) -> Result<(), Refusal> {
        if let Some(answer) = Self::registered_exception(requester, pr) {
            return answer;
        }
        if self.holder.as_ref() == Some(requester) {
            self.holder = None;
        }
        Ok(())
    }

    /// LU reset, power on, or I_T nexus loss of the holder.
    pub fn reset(&mut self) {
        self.holder = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sense::asc;
    use alloc::string::ToString;
    use alloc::vec;
    use ReservationType::*;

    const KA: u64 = 0xAAAA;
    const KB: u64 = 0xBBBB;
    const KC: u64 = 0xCCCC;

    fn ip(name: &str, isid: u8) -> InitiatorPort {
        InitiatorPort {
            name: name.to_string(),
            isid: [0x40, 0x00, 0x01, 0x37, 0x00, isid],
        }
    }

    fn nx(name: &str, port: u16) -> ITNexus {
        ITNexus {
            initiator: ip(name, 1),
            relative_target_port: port,
        }
    }

    fn a() -> ITNexus {
        nx("iqn.a", 1)
    }
    fn b() -> ITNexus {
        nx("iqn.b", 1)
    }
    fn c() -> ITNexus {
        nx("iqn.c", 2)
    }

    fn keys(rk: u64, sak: u64) -> ProutParameters {
        ProutParameters {
            reservation_key: rk,
            service_action_key: sak,
            ..ProutParameters::default()
        }
    }

    fn typed(rk: u64, sak: u64, kind: ReservationType) -> ProutParameters {
        ProutParameters {
            type_code: kind.code(),
            ..keys(rk, sak)
        }
    }

    fn only(n: &ITNexus) -> NexusSet {
        NexusSet {
            initiator: n.initiator.clone(),
            any_isid: false,
            target_ports: TargetPorts::Only(n.relative_target_port),
        }
    }

    /// A and B registered (KA, KB), C registered too when `with_c` (KC); A reserves `kind`.
    fn reserved(kind: ReservationType, with_c: bool) -> PersistentReservations {
        let mut pr = PersistentReservations::new();
        assert!(pr.register(&a(), &keys(0, KA)).is_ok());
        assert!(pr.register(&b(), &keys(0, KB)).is_ok());
        if with_c {
            assert!(pr.register(&c(), &keys(0, KC)).is_ok());
        }
        assert!(pr.reserve(&a(), &typed(KA, 0, kind)).is_ok());
        pr
    }

    fn check(sense: Sense) -> Result<Outcome, Refusal> {
        Err(Refusal::Check(sense))
    }

    #[test]
    fn type_codes_round_trip_and_others_are_refused() {
        for t in ReservationType::ALL {
            assert_eq!(ReservationType::from_code(t.code()), Some(t));
        }
        for code in [0u8, 2, 4, 9, 0x0F, 0xFF] {
            assert_eq!(ReservationType::from_code(code), None);
        }
    }

    /// SPC-4 table "SPC commands that are allowed in the presence of various reservations",
    /// reduced to read / write / allowed: (type, [holder, other registrant, non-registrant]
    /// × [read, write, allowed]) → conflict.
    #[test]
    fn conflict_table() {
        const T: bool = true;
        const F: bool = false;
        let table: [(ReservationType, [[bool; 3]; 3]); 6] = [
            (WriteExclusive, [[F, F, F], [F, T, F], [F, T, F]]),
            (ExclusiveAccess, [[F, F, F], [T, T, F], [T, T, F]]),
            (
                WriteExclusiveRegistrantsOnly,
                [[F, F, F], [F, F, F], [F, T, F]],
            ),
            (
                ExclusiveAccessRegistrantsOnly,
                [[F, F, F], [F, F, F], [T, T, F]],
            ),
            (
                WriteExclusiveAllRegistrants,
                [[F, F, F], [F, F, F], [F, T, F]],
            ),
            (
                ExclusiveAccessAllRegistrants,
                [[F, F, F], [F, F, F], [T, T, F]],
            ),
        ];
        let kinds = [AccessKind::Read, AccessKind::Write, AccessKind::Allowed];
        for (kind, rows) in table {
            let pr = reserved(kind, false);
            for (who, row) in [a(), b(), c()].iter().zip(rows) {
                for (access, expected) in kinds.iter().zip(row) {
                    assert_eq!(
                        pr.conflicts(who, *access),
                        expected,
                        "{kind:?} {who:?} {access:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn no_reservation_no_conflict_even_with_registrations() {
        let mut pr = PersistentReservations::new();
        assert!(pr.register(&a(), &keys(0, KA)).is_ok());
        for n in [a(), b()] {
            assert!(!pr.conflicts(&n, AccessKind::Write));
        }
    }

    #[test]
    fn access_kind_from_command_flags() {
        assert_eq!(AccessKind::from_flags(crate::table::READ), AccessKind::Read);
        assert_eq!(
            AccessKind::from_flags(crate::table::LUNLESS),
            AccessKind::Allowed
        );
        assert_eq!(AccessKind::from_flags(Flags::DATA_OUT), AccessKind::Write);
    }

    #[test]
    fn holder_on_another_port_is_a_different_nexus() {
        let pr = reserved(ExclusiveAccess, false);
        assert!(pr.conflicts(&nx("iqn.a", 2), AccessKind::Read));
        let other_isid = ITNexus {
            initiator: ip("iqn.a", 9),
            relative_target_port: 1,
        };
        assert!(pr.conflicts(&other_isid, AccessKind::Read));
    }

    #[test]
    fn register_cases() {
        let mut pr = PersistentReservations::new();
        // Unregistered with a non-zero RESERVATION KEY.
        assert_eq!(
            pr.register(&a(), &keys(1, KA)),
            Err(Refusal::ReservationConflict)
        );
        // Unregistered with SERVICE ACTION RESERVATION KEY 0: GOOD, nothing registered.
        assert_eq!(pr.register(&a(), &keys(0, 0)), Ok(Outcome::default()));
        assert!(pr.registrants().is_empty());
        assert!(pr.register(&a(), &keys(0, KA)).is_ok());
        assert_eq!(pr.registrant(&a()).map(|r| r.key), Some(KA));
        // Registered with the wrong key.
        assert_eq!(
            pr.register(&a(), &keys(KB, KC)),
            Err(Refusal::ReservationConflict)
        );
        assert_eq!(
            pr.register(&a(), &keys(0, KC)),
            Err(Refusal::ReservationConflict)
        );
        // Key change.
        assert!(pr.register(&a(), &keys(KA, KC)).is_ok());
        assert_eq!(pr.registrant(&a()).map(|r| r.key), Some(KC));
        // Unregister.
        assert!(pr.register(&a(), &keys(KC, 0)).is_ok());
        assert!(!pr.is_registered(&a()));
    }

    #[test]
    fn register_and_ignore_existing_key_cases() {
        let mut pr = PersistentReservations::new();
        assert!(pr
            .register_and_ignore_existing_key(&a(), &keys(99, KA))
            .is_ok());
        assert!(pr
            .register_and_ignore_existing_key(&a(), &keys(99, KB))
            .is_ok());
        assert_eq!(pr.registrant(&a()).map(|r| r.key), Some(KB));
        assert!(pr
            .register_and_ignore_existing_key(&a(), &keys(7, 0))
            .is_ok());
        assert!(pr.registrants().is_empty());
        assert!(pr
            .register_and_ignore_existing_key(&a(), &keys(7, 0))
            .is_ok());
        assert!(pr.registrants().is_empty());
    }

    #[test]
    fn aptpl_is_set_and_cleared_by_register_and_asks_for_a_save() {
        let mut pr = PersistentReservations::new();
        let on = ProutParameters {
            aptpl: true,
            ..keys(0, KA)
        };
        assert_eq!(pr.register(&a(), &on).map(|o| o.persist), Ok(true));
        assert!(pr.aptpl());
        assert_eq!(pr.report_capabilities().get(3), Some(&0xD1));
        assert_eq!(
            pr.reserve(&a(), &typed(KA, 0, WriteExclusive))
                .map(|o| o.persist),
            Ok(true)
        );
        // Turning APTPL off must still reach the store, to drop the saved copy.
        assert_eq!(
            pr.register(&a(), &keys(KA, KB)).map(|o| o.persist),
            Ok(true)
        );
        assert!(!pr.aptpl());
        assert_eq!(
            pr.register(&a(), &keys(KB, KA)).map(|o| o.persist),
            Ok(false)
        );
        // A nexus that registers nothing does not change APTPL.
        let mut pr = PersistentReservations::new();
        let noop = ProutParameters {
            aptpl: true,
            ..keys(0, 0)
        };
        assert!(pr.register(&a(), &noop).is_ok());
        assert!(!pr.aptpl());
    }

    #[test]
    fn after_power_on_keeps_only_aptpl_state_and_zeroes_the_generation() {
        let mut pr = reserved(WriteExclusive, false);
        let kept = ProutParameters {
            aptpl: true,
            ..keys(KA, KA)
        };
        assert!(pr.register(&a(), &kept).is_ok());
        let restored = pr.clone().after_power_on();
        assert_eq!(restored.generation(), 0);
        assert_eq!(restored.registrants().len(), 2);
        assert!(restored.is_holder(&a()));
        assert!(pr.register(&a(), &keys(KA, KA)).is_ok());
        assert_eq!(pr.after_power_on(), PersistentReservations::new());
    }

    /// The holder unregistering: the reservation goes; registrants only types tell the other
    /// registrants RESERVATIONS RELEASED; all registrants types keep it while anyone is left.
    #[test]
    fn holder_unregistering() {
        for kind in [WriteExclusive, ExclusiveAccess] {
            let mut pr = reserved(kind, false);
            assert_eq!(pr.register(&a(), &keys(KA, 0)), Ok(Outcome::default()));
            assert_eq!(pr.reservation(), None);
        }
        for kind in [
            WriteExclusiveRegistrantsOnly,
            ExclusiveAccessRegistrantsOnly,
        ] {
            let mut pr = reserved(kind, true);
            let out = pr.register(&a(), &keys(KA, 0));
            let expected = vec![
                (only(&b()), UnitAttention::ReservationsReleased),
                (only(&c()), UnitAttention::ReservationsReleased),
            ];
            assert_eq!(out.map(|o| o.attentions), Ok(expected));
            assert_eq!(pr.reservation(), None);
        }
        for kind in [WriteExclusiveAllRegistrants, ExclusiveAccessAllRegistrants] {
            let mut pr = reserved(kind, false);
            assert_eq!(pr.register(&a(), &keys(KA, 0)), Ok(Outcome::default()));
            assert!(pr.reservation().is_some());
            assert!(pr.is_holder(&b()));
            assert!(pr.register(&b(), &keys(KB, 0)).is_ok());
            assert_eq!(pr.reservation(), None);
        }
        // A registrant that is not the holder leaves the reservation alone.
        let mut pr = reserved(WriteExclusiveRegistrantsOnly, false);
        assert_eq!(pr.register(&b(), &keys(KB, 0)), Ok(Outcome::default()));
        assert!(pr.is_holder(&a()));
    }

    #[test]
    fn reserve_cases() {
        let mut pr = PersistentReservations::new();
        assert!(pr.register(&a(), &keys(0, KA)).is_ok());
        assert!(pr.register(&b(), &keys(0, KB)).is_ok());
        let cases: [(ITNexus, ProutParameters, Result<Outcome, Refusal>); 5] = [
            (
                c(),
                typed(0, 0, WriteExclusive),
                Err(Refusal::ReservationConflict),
            ),
            (
                a(),
                typed(KB, 0, WriteExclusive),
                Err(Refusal::ReservationConflict),
            ),
            (
                a(),
                ProutParameters {
                    scope: 1,
                    ..typed(KA, 0, WriteExclusive)
                },
                check(Sense::invalid_field_in_cdb(2, Some(7))),
            ),
            (
                a(),
                ProutParameters {
                    type_code: 2,
                    ..keys(KA, 0)
                },
                check(Sense::invalid_field_in_cdb(2, Some(3))),
            ),
            (a(), typed(KA, 0, WriteExclusive), Ok(Outcome::default())),
        ];
        for (who, p, expected) in cases {
            assert_eq!(pr.reserve(&who, &p), expected, "{who:?} {p:?}");
        }
        let generation = pr.generation();
        // Same type again from the holder: GOOD.
        assert_eq!(
            pr.reserve(&a(), &typed(KA, 0, WriteExclusive)),
            Ok(Outcome::default())
        );
        // A different type, or another registrant: conflict.
        assert_eq!(
            pr.reserve(&a(), &typed(KA, 0, ExclusiveAccess)),
            Err(Refusal::ReservationConflict)
        );
        assert_eq!(
            pr.reserve(&b(), &typed(KB, 0, WriteExclusive)),
            Err(Refusal::ReservationConflict)
        );
        assert_eq!(pr.generation(), generation);
        // Under an all registrants type every registrant is a holder and may reserve again.
        let mut pr = reserved(ExclusiveAccessAllRegistrants, false);
        assert_eq!(
            pr.reserve(&b(), &typed(KB, 0, ExclusiveAccessAllRegistrants)),
            Ok(Outcome::default())
        );
        assert_eq!(
            pr.reserve(&b(), &typed(KB, 0, ExclusiveAccess)),
            Err(Refusal::ReservationConflict)
        );
    }

    #[test]
    fn release_cases() {
        // Not registered / wrong key.
        let mut pr = reserved(WriteExclusive, false);
        assert_eq!(
            pr.release(&c(), &typed(0, 0, WriteExclusive)),
            Err(Refusal::ReservationConflict)
        );
        assert_eq!(
            pr.release(&a(), &typed(KB, 0, WriteExclusive)),
            Err(Refusal::ReservationConflict)
        );
        // Registered non-holder: GOOD, nothing released.
        assert_eq!(
            pr.release(&b(), &typed(KB, 0, WriteExclusive)),
            Ok(Outcome::default())
        );
        assert!(pr.is_holder(&a()));
        // Holder with the wrong type or scope.
        let bad_type = pr.release(&a(), &typed(KA, 0, ExclusiveAccess));
        assert_eq!(bad_type, check(INVALID_RELEASE_OF_PERSISTENT_RESERVATION));
        let bad_scope = ProutParameters {
            scope: 2,
            ..typed(KA, 0, WriteExclusive)
        };
        assert_eq!(
            pr.release(&a(), &bad_scope),
            check(INVALID_RELEASE_OF_PERSISTENT_RESERVATION)
        );
        // Released, without a UA under WE/EA; no reservation: GOOD.
        let generation = pr.generation();
        assert_eq!(
            pr.release(&a(), &typed(KA, 0, WriteExclusive)),
            Ok(Outcome::default())
        );
        assert_eq!(pr.reservation(), None);
        assert_eq!(
            pr.release(&a(), &typed(KA, 0, WriteExclusive)),
            Ok(Outcome::default())
        );
        assert_eq!(pr.generation(), generation);
        assert_eq!(pr.registrants().len(), 2);
    }

    #[test]
    fn release_ua_per_type() {
        for kind in ReservationType::ALL {
            let mut pr = reserved(kind, true);
            let out = pr.release(&a(), &typed(KA, 0, kind));
            let expected = if kind.registrants_have_access() {
                vec![
                    (only(&b()), UnitAttention::ReservationsReleased),
                    (only(&c()), UnitAttention::ReservationsReleased),
                ]
            } else {
                vec![]
            };
            assert_eq!(out.map(|o| o.attentions), Ok(expected), "{kind:?}");
            assert_eq!(pr.reservation(), None);
        }
        // Any all registrants holder may release.
        let mut pr = reserved(WriteExclusiveAllRegistrants, false);
        let out = pr.release(&b(), &typed(KB, 0, WriteExclusiveAllRegistrants));
        assert_eq!(
            out.map(|o| o.attentions),
            Ok(vec![(only(&a()), UnitAttention::ReservationsReleased)])
        );
    }

    #[test]
    fn clear_cases() {
        let mut pr = reserved(ExclusiveAccess, true);
        assert_eq!(
            pr.clear(&nx("iqn.d", 1), &keys(0, 0)),
            Err(Refusal::ReservationConflict)
        );
        assert_eq!(
            pr.clear(&b(), &keys(KA, 0)),
            Err(Refusal::ReservationConflict)
        );
        let out = pr.clear(&b(), &keys(KB, 0));
        let expected = vec![
            (only(&a()), UnitAttention::ReservationsPreempted),
            (only(&c()), UnitAttention::ReservationsPreempted),
        ];
        assert_eq!(out.map(|o| o.attentions), Ok(expected));
        assert!(pr.registrants().is_empty());
        assert_eq!(pr.reservation(), None);
    }

    #[test]
    fn preempt_the_holder() {
        let mut pr = reserved(WriteExclusive, true);
        let out = pr.preempt(&b(), &typed(KB, KA, ExclusiveAccess));
        let expected = vec![
            (only(&a()), UnitAttention::RegistrationsPreempted),
            // The type changed: the registrant left standing is told.
            (only(&c()), UnitAttention::ReservationsReleased),
        ];
        assert_eq!(out.map(|o| o.attentions), Ok(expected));
        assert!(!pr.is_registered(&a()));
        assert!(pr.is_holder(&b()));
        assert_eq!(pr.reservation().map(|r| r.kind), Some(ExclusiveAccess));
        // The same type: no RESERVATIONS RELEASED.
        let mut pr = reserved(WriteExclusive, true);
        let out = pr.preempt(&b(), &typed(KB, KA, WriteExclusive));
        assert_eq!(
            out.map(|o| o.attentions),
            Ok(vec![(only(&a()), UnitAttention::RegistrationsPreempted)])
        );
    }

    #[test]
    fn preempt_registrations_only() {
        let mut pr = reserved(ExclusiveAccess, true);
        // C's key does not identify the holder: only C's registration goes, and the TYPE is not
        // looked at.
        let out = pr.preempt(&b(), &keys(KB, KC));
        assert_eq!(
            out.map(|o| o.attentions),
            Ok(vec![(only(&c()), UnitAttention::RegistrationsPreempted)])
        );
        assert!(!pr.is_registered(&c()));
        assert!(pr.is_holder(&a()));
        // Without a reservation, the same.
        let mut pr = PersistentReservations::new();
        assert!(pr.register(&a(), &keys(0, KA)).is_ok());
        assert!(pr.register(&b(), &keys(0, KB)).is_ok());
        assert!(pr.preempt(&a(), &keys(KA, KB)).is_ok());
        assert_eq!(pr.registrants().len(), 1);
        assert_eq!(pr.reservation(), None);
    }

    #[test]
    fn preempt_refusals() {
        let mut pr = reserved(WriteExclusive, false);
        let cases: [(ITNexus, ProutParameters, Result<Outcome, Refusal>); 5] = [
            (
                c(),
                typed(0, KA, WriteExclusive),
                Err(Refusal::ReservationConflict),
            ),
            (
                b(),
                typed(KA, KA, WriteExclusive),
                Err(Refusal::ReservationConflict),
            ),
            // No registration has the key.
            (
                b(),
                typed(KB, 0x1234, WriteExclusive),
                Err(Refusal::ReservationConflict),
            ),
            // Zero key without an all registrants reservation.
            (
                b(),
                typed(KB, 0, WriteExclusive),
                check(Sense::invalid_field_in_parameter_list(8, None)),
            ),
            // Preempting the holder needs a valid TYPE.
            (
                b(),
                ProutParameters {
                    type_code: 4,
                    ..keys(KB, KA)
                },
                check(Sense::invalid_field_in_cdb(2, Some(3))),
            ),
        ];
        let before = pr.clone();
        for (who, p, expected) in cases {
            assert_eq!(pr.preempt(&who, &p), expected, "{who:?} {p:?}");
            assert_eq!(pr, before);
        }
        let mut pr = PersistentReservations::new();
        assert!(pr.register(&a(), &keys(0, KA)).is_ok());
        assert_eq!(
            pr.preempt(&a(), &keys(KA, 0)),
            check(Sense::invalid_field_in_parameter_list(8, None))
        );
    }

    #[test]
    fn preempt_all_registrants_with_key_zero() {
        let mut pr = reserved(WriteExclusiveAllRegistrants, true);
        let out = pr.preempt(&b(), &typed(KB, 0, ExclusiveAccess));
        let expected = vec![
            (only(&a()), UnitAttention::RegistrationsPreempted),
            (only(&c()), UnitAttention::RegistrationsPreempted),
        ];
        assert_eq!(out.map(|o| o.attentions), Ok(expected));
        assert_eq!(pr.registrants().len(), 1);
        assert!(pr.is_holder(&b()));
        assert_eq!(
            pr.reservation(),
            Some(&Reservation {
                holder: Holder::Registrant(b()),
                kind: ExclusiveAccess
            })
        );
        // A non-zero key against an all registrants reservation removes registrations only.
        let mut pr = reserved(WriteExclusiveAllRegistrants, true);
        assert!(pr.preempt(&b(), &keys(KB, KC)).is_ok());
        assert_eq!(
            pr.reservation().map(|r| &r.holder),
            Some(&Holder::AllRegistrants)
        );
        assert_eq!(pr.registrants().len(), 2);
    }

    #[test]
    fn preempting_only_registrations_by_ones_own_key_removes_ones_own() {
        let mut pr = PersistentReservations::new();
        assert!(pr.register(&a(), &keys(0, KA)).is_ok());
        assert!(pr.register(&b(), &keys(0, KA)).is_ok());
        let out = pr.preempt_and_abort(&a(), &keys(KA, KA));
        let expected = Outcome {
            attentions: vec![(only(&b()), UnitAttention::RegistrationsPreempted)],
            abort: vec![only(&a()), only(&b())],
            persist: false,
        };
        assert_eq!(out, Ok(expected));
        assert!(pr.registrants().is_empty());
    }

    #[test]
    fn self_preempt_keeps_the_registration_and_changes_the_type() {
        let mut pr = reserved(WriteExclusive, false);
        let out = pr.preempt(&a(), &typed(KA, KA, ExclusiveAccessRegistrantsOnly));
        assert_eq!(
            out.map(|o| o.attentions),
            Ok(vec![(only(&b()), UnitAttention::ReservationsReleased)])
        );
        assert!(pr.is_holder(&a()));
        assert_eq!(pr.registrants().len(), 2);
        assert_eq!(
            pr.reservation().map(|r| r.kind),
            Some(ExclusiveAccessRegistrantsOnly)
        );
    }

    #[test]
    fn preempt_and_abort_lists_the_preempted_nexuses() {
        let mut pr = reserved(WriteExclusive, true);
        // C shares A's key: both lose their registrations and their tasks.
        assert!(pr.register(&c(), &keys(KC, KA)).is_ok());
        let out = pr.preempt_and_abort(&b(), &typed(KB, KA, WriteExclusive));
        assert_eq!(out.map(|o| o.abort), Ok(vec![only(&a()), only(&c())]));
        assert_eq!(pr.registrants().len(), 1);
        // Self-preempt aborts the requester's own other tasks as well.
        let mut pr = reserved(WriteExclusive, false);
        let out = pr.preempt_and_abort(&a(), &typed(KA, KA, WriteExclusive));
        assert_eq!(out.map(|o| o.abort), Ok(vec![only(&a())]));
        // PREEMPT does not abort.
        let mut pr = reserved(WriteExclusive, false);
        assert_eq!(
            pr.preempt(&b(), &typed(KB, KA, WriteExclusive))
                .map(|o| o.abort),
            Ok(vec![])
        );
        // Key zero against all registrants: everyone else.
        let mut pr = reserved(ExclusiveAccessAllRegistrants, true);
        let out = pr.preempt_and_abort(&c(), &typed(KC, 0, ExclusiveAccessAllRegistrants));
        assert_eq!(out.map(|o| o.abort), Ok(vec![only(&a()), only(&b())]));
        assert_eq!(
            pr.reservation().map(|r| &r.holder),
            Some(&Holder::AllRegistrants)
        );
        assert!(pr.is_holder(&c()));
    }

    #[test]
    fn register_and_move_cases() {
        let d = nx("iqn.d", 3);
        let mut pr = reserved(WriteExclusive, false);
        let before = pr.clone();
        let cases: [(ITNexus, ProutParameters, ITNexus, Result<Outcome, Refusal>); 6] = [
            (
                a(),
                typed(KA, KC, WriteExclusive),
                a(),
                check(Sense::invalid_field_in_parameter_list(24, None)),
            ),
            (
                a(),
                typed(KA, 0, WriteExclusive),
                d.clone(),
                check(Sense::invalid_field_in_parameter_list(8, None)),
            ),
            (
                b(),
                typed(KB, KC, WriteExclusive),
                d.clone(),
                Err(Refusal::ReservationConflict),
            ),
            (
                c(),
                typed(0, KC, WriteExclusive),
                d.clone(),
                Err(Refusal::ReservationConflict),
            ),
            (
                a(),
                typed(KB, KC, WriteExclusive),
                d.clone(),
                Err(Refusal::ReservationConflict),
            ),
            (
                a(),
                typed(KA, KC, WriteExclusiveAllRegistrants),
                d.clone(),
                check(Sense::invalid_field_in_cdb(2, Some(3))),
            ),
        ];
        for (who, p, dest, expected) in cases {
            assert_eq!(
                pr.register_and_move(&who, &p, false, &dest),
                expected,
                "{who:?} {p:?}"
            );
            assert_eq!(pr, before);
        }
        // Moved: D registered with the key and holding; A still registered.
        assert_eq!(
            pr.register_and_move(&a(), &typed(KA, KC, ExclusiveAccess), false, &d),
            Ok(Outcome::default())
        );
        assert_eq!(pr.registrant(&d).map(|r| r.key), Some(KC));
        assert!(pr.is_holder(&d) && !pr.is_holder(&a()) && pr.is_registered(&a()));
        assert_eq!(pr.generation(), before.generation().wrapping_add(1));
        // Moved back with UNREG to an already registered nexus, whose key stays.
        assert!(pr
            .register_and_move(&d, &typed(KC, 0x77, ExclusiveAccess), true, &a())
            .is_ok());
        assert!(pr.is_holder(&a()) && !pr.is_registered(&d));
        assert_eq!(pr.registrant(&a()).map(|r| r.key), Some(KA));
        // Nothing reserved, or an all registrants reservation.
        let mut pr = PersistentReservations::new();
        assert!(pr.register(&a(), &keys(0, KA)).is_ok());
        let none = pr.register_and_move(&a(), &typed(KA, KC, WriteExclusive), false, &d);
        assert_eq!(none, check(Sense::invalid_field_in_cdb(1, Some(4))));
        let mut pr = reserved(ExclusiveAccessAllRegistrants, false);
        let ar = pr.register_and_move(&a(), &typed(KA, KC, WriteExclusive), false, &d);
        assert_eq!(ar, Err(Refusal::ReservationConflict));
    }

    #[test]
    fn spec_i_pt_cases() {
        let listed = |names: &[&str]| -> Vec<SpecifiedInitiator> {
            names
                .iter()
                .enumerate()
                .map(|(i, n)| SpecifiedInitiator {
                    initiator: ip(n, 1),
                    any_isid: false,
                    offset: 28u16.saturating_add(u16::try_from(i).unwrap_or(0).saturating_mul(32)),
                })
                .collect()
        };
        let mut pr = PersistentReservations::new();
        let p = keys(0, KA);
        // Named twice: refused at the second TransportID.
        let dup = pr.register_specified(&a(), &p, &listed(&["iqn.b", "iqn.c", "iqn.b"]));
        assert_eq!(dup, check(Sense::invalid_field_in_parameter_list(92, None)));
        // Naming the requester itself.
        let own = pr.register_specified(&a(), &p, &listed(&["iqn.a"]));
        assert_eq!(own, check(Sense::invalid_field_in_parameter_list(28, None)));
        assert_eq!(
            pr.register_specified(&a(), &keys(0, 0), &listed(&["iqn.b"])),
            check(Sense::invalid_field_in_parameter_list(8, None))
        );
        assert_eq!(
            pr.register_specified(&a(), &keys(5, KA), &listed(&["iqn.b"])),
            Err(Refusal::ReservationConflict)
        );
        assert_eq!(pr, PersistentReservations::new());
        assert!(pr
            .register_specified(&a(), &p, &listed(&["iqn.b", "iqn.c"]))
            .is_ok());
        assert_eq!(pr.generation(), 1);
        // B and C registered through A's port (1), with A's key.
        let b1 = nx("iqn.b", 1);
        assert_eq!(pr.registrant(&b1).map(|r| r.key), Some(KA));
        assert!(pr.is_registered(&nx("iqn.c", 1)) && !pr.is_registered(&nx("iqn.c", 2)));
        // A registered requester may not use SPEC_I_PT; an already registered one is refused.
        let again = pr.register_specified(&a(), &keys(KA, KA), &listed(&["iqn.d"]));
        assert_eq!(
            again,
            check(Sense::invalid_field_in_parameter_list(20, Some(3)))
        );
        let d1 = nx("iqn.d", 1);
        assert_eq!(
            pr.register_specified(&d1, &keys(0, KB), &listed(&["iqn.b"])),
            check(Sense::invalid_field_in_parameter_list(28, None))
        );
    }

    #[test]
    fn a_name_only_transport_id_registers_every_port_of_the_initiator() {
        let mut pr = PersistentReservations::new();
        let c = SpecifiedInitiator {
            initiator: ip("iqn.c", 0),
            any_isid: true,
            offset: 28,
        };
        assert!(pr
            .register_specified(&a(), &keys(0, KA), core::slice::from_ref(&c))
            .is_ok());
        for isid in [1, 2, 9] {
            let n = ITNexus {
                initiator: ip("iqn.c", isid),
                relative_target_port: 1,
            };
            assert!(pr.is_registered(&n), "ISID {isid}");
        }
        // Reported with a format 00b TransportID: byte 0 is 05h, the name follows.
        let status = pr.read_full_status();
        let second = 8 + 24 + iscsi_transport_id(&a().initiator).len();
        assert_eq!(status[second + 24], 0x05);
        assert_eq!(&status[second + 28..second + 33], b"iqn.c");
        // The same name again, even with an ISID, overlaps it.
        let again = SpecifiedInitiator {
            initiator: ip("iqn.c", 3),
            any_isid: false,
            offset: 28,
        };
        let d = nx("iqn.d", 1);
        assert_eq!(
            pr.register_specified(&d, &keys(0, KB), &[again]),
            check(Sense::invalid_field_in_parameter_list(28, None))
        );
    }

    #[test]
    fn all_target_ports_registration() {
        let mut pr = PersistentReservations::new();
        let p = ProutParameters {
            all_tg_pt: true,
            ..keys(0, KA)
        };
        assert!(pr.register(&a(), &p).is_ok());
        assert!(pr.is_registered(&nx("iqn.a", 7)));
        assert!(pr
            .reserve(
                &nx("iqn.a", 7),
                &typed(KA, 0, WriteExclusiveRegistrantsOnly)
            )
            .is_ok());
        assert!(pr.register(&b(), &keys(0, KB)).is_ok());
        // The holder's registration covers every port; the UA skips only the requester's nexus.
        let out = pr.clear(&b(), &keys(KB, 0));
        let expected = vec![(
            NexusSet {
                initiator: ip("iqn.a", 1),
                any_isid: false,
                target_ports: TargetPorts::All,
            },
            UnitAttention::ReservationsPreempted,
        )];
        assert_eq!(out.map(|o| o.attentions), Ok(expected));
        // ALL_TG_PT over a per-port registration of the same initiator port.
        let mut pr = PersistentReservations::new();
        assert!(pr.register(&nx("iqn.a", 2), &keys(0, KA)).is_ok());
        assert_eq!(
            pr.register(&a(), &p),
            check(Sense::invalid_field_in_parameter_list(20, Some(2)))
        );
        // A self-clear through an ALL_TG_PT registration tells its other ports.
        let mut pr = PersistentReservations::new();
        assert!(pr.register(&a(), &p).is_ok());
        let out = pr.clear(&a(), &keys(KA, 0));
        let others = NexusSet {
            initiator: ip("iqn.a", 1),
            any_isid: false,
            target_ports: TargetPorts::AllExcept(1),
        };
        assert!(others.contains(&nx("iqn.a", 2)) && !others.contains(&a()));
        assert_eq!(
            out.map(|o| o.attentions),
            Ok(vec![(others, UnitAttention::ReservationsPreempted)])
        );
    }

    /// PRgeneration: +1 for REGISTER, REGISTER AND IGNORE EXISTING KEY, CLEAR, PREEMPT,
    /// PREEMPT AND ABORT, REGISTER AND MOVE; not for RESERVE, RELEASE or a refusal.
    #[test]
    fn generation_increments() {
        type Action = fn(&mut PersistentReservations) -> Result<Outcome, Refusal>;
        let steps: [(&str, Action, u32); 11] = [
            ("register", |pr| pr.register(&a(), &keys(0, KA)), 1),
            ("register b", |pr| pr.register(&b(), &keys(0, KB)), 1),
            ("refused register", |pr| pr.register(&b(), &keys(1, KB)), 0),
            (
                "riek",
                |pr| pr.register_and_ignore_existing_key(&c(), &keys(9, KC)),
                1,
            ),
            (
                "reserve",
                |pr| pr.reserve(&a(), &typed(KA, 0, WriteExclusive)),
                0,
            ),
            (
                "reserve again",
                |pr| pr.reserve(&a(), &typed(KA, 0, WriteExclusive)),
                0,
            ),
            (
                "move",
                |pr| {
                    pr.register_and_move(
                        &a(),
                        &typed(KA, KA, WriteExclusive),
                        false,
                        &nx("iqn.d", 1),
                    )
                },
                1,
            ),
            (
                "release",
                |pr| pr.release(&nx("iqn.d", 1), &typed(KA, 0, WriteExclusive)),
                0,
            ),
            ("preempt", |pr| pr.preempt(&b(), &keys(KB, KC)), 1),
            (
                "preempt and abort",
                |pr| pr.preempt_and_abort(&b(), &keys(KB, KA)),
                1,
            ),
            ("clear", |pr| pr.clear(&b(), &keys(KB, 0)), 1),
        ];
        let mut pr = PersistentReservations::new();
        for (name, action, delta) in steps {
            let before = pr.generation();
            let _ = action(&mut pr);
            assert_eq!(pr.generation(), before.wrapping_add(delta), "{name}");
        }
        assert_eq!(pr.generation(), 7);
        // Wraps rather than overflowing.
        pr.generation = u32::MAX;
        assert!(pr.register(&a(), &keys(0, KA)).is_ok());
        assert_eq!(pr.generation(), 0);
    }

    #[test]
    fn read_keys_and_read_reservation_layout() {
        let mut pr = PersistentReservations::new();
        assert_eq!(pr.read_keys(), vec![0, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(pr.read_reservation(), vec![0, 0, 0, 0, 0, 0, 0, 0]);
        assert!(pr.register(&a(), &keys(0, 0x0102_0304_0506_0708)).is_ok());
        assert!(pr.register(&b(), &keys(0, 9)).is_ok());
        assert!(pr
            .reserve(
                &a(),
                &typed(0x0102_0304_0506_0708, 0, ExclusiveAccessRegistrantsOnly)
            )
            .is_ok());
        assert_eq!(
            pr.read_keys(),
            vec![0, 0, 0, 2, 0, 0, 0, 16, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 0, 0, 0, 0, 9]
        );
        assert_eq!(
            pr.read_reservation(),
            vec![0, 0, 0, 2, 0, 0, 0, 16, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 0, 0, 0x06, 0, 0]
        );
        // All registrants: the key reported is zero.
        let pr = reserved(WriteExclusiveAllRegistrants, false);
        assert_eq!(
            pr.read_reservation().get(8..24),
            Some(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7, 0, 0][..])
        );
    }

    #[test]
    fn report_capabilities_layout() {
        let pr = PersistentReservations::new();
        assert_eq!(
            pr.report_capabilities(),
            vec![0, 8, 0x1D, 0xD0, 0xEA, 0x01, 0, 0]
        );
    }

    #[test]
    fn iscsi_transport_id_layout() {
        // "iqn.a,i,0x400001370001" is 22 characters; with the NUL, 23, padded to 24.
        let tid = iscsi_transport_id(&ip("iqn.a", 1));
        let mut expected = vec![0x45, 0, 0, 24];
        expected.extend_from_slice(b"iqn.a,i,0x400001370001\0\0");
        assert_eq!(tid, expected);
        // Short names are padded to the minimum additional length of 20.
        let tid = iscsi_transport_id(&InitiatorPort {
            name: "x".to_string(),
            isid: [0xAB; 6],
        });
        assert_eq!(tid.get(..4), Some(&[0x45, 0, 0, 20][..]));
        assert_eq!(tid.get(4..20), Some(&b"x,i,0xababababab"[..]));
        assert_eq!(tid.len(), 24);
    }

    #[test]
    fn read_full_status_layout() {
        let mut pr = reserved(WriteExclusive, false);
        let all_ports = ProutParameters {
            all_tg_pt: true,
            ..keys(0, KC)
        };
        assert!(pr.register(&nx("iqn.c", 5), &all_ports).is_ok());
        let data = pr.read_full_status();
        let tid_a = iscsi_transport_id(&ip("iqn.a", 1));
        let descriptor_len = 24 + tid_a.len();
        assert_eq!(data.get(..4), Some(&3u32.to_be_bytes()[..]));
        assert_eq!(
            data.get(4..8),
            Some(&u32::try_from(3 * descriptor_len).unwrap_or(0).to_be_bytes()[..])
        );
        // A: the holder, through relative port 1.
        let mut first = vec![];
        first.extend_from_slice(&KA.to_be_bytes());
        first.extend_from_slice(&[0, 0, 0, 0, 0x01, 0x01, 0, 0, 0, 0, 0, 1]);
        first.extend_from_slice(&u32::try_from(tid_a.len()).unwrap_or(0).to_be_bytes());
        first.extend_from_slice(&tid_a);
        assert_eq!(data.get(8..8 + descriptor_len), Some(&first[..]));
        // B: not the holder, no type.
        let second = data
            .get(8 + descriptor_len..8 + 2 * descriptor_len)
            .unwrap_or_default();
        assert_eq!(second.get(12..14), Some(&[0, 0][..]));
        // C: ALL_TG_PT set, port reported as zero.
        let third = data.get(8 + 2 * descriptor_len..).unwrap_or_default();
        assert_eq!(third.get(..8), Some(&KC.to_be_bytes()[..]));
        assert_eq!(third.get(12..20), Some(&[0x02, 0, 0, 0, 0, 0, 0, 0][..]));
        assert_eq!(
            third.get(24..),
            Some(&iscsi_transport_id(&ip("iqn.c", 1))[..])
        );
        // Under all registrants every descriptor has R_HOLDER and the type.
        let pr = reserved(ExclusiveAccessAllRegistrants, false);
        let data = pr.read_full_status();
        for i in 0..2 {
            let at = 8 + i * descriptor_len + 12;
            assert_eq!(data.get(at..at + 2), Some(&[0x01, 0x08][..]));
        }
    }

    #[test]
    fn spc2_reservation_rules() {
        let pr = PersistentReservations::new();
        let mut r = Spc2Reservation::default();
        assert!(!r.conflicts(&b(), Flags::NONE));
        assert_eq!(r.reserve(&a(), &pr), Ok(()));
        assert_eq!(r.reserve(&a(), &pr), Ok(()));
        assert_eq!(r.reserve(&b(), &pr), Err(Refusal::ReservationConflict));
        assert!(!r.conflicts(&a(), Flags::NONE));
        assert!(r.conflicts(&b(), Flags::NONE));
        assert!(r.conflicts(&nx("iqn.a", 2), crate::table::READ));
        assert!(!r.conflicts(&b(), Flags::ALLOW_ON_RESV));
        // Only the holder releases; others get GOOD and change nothing.
        assert_eq!(r.release(&b(), &pr), Ok(()));
        assert_eq!(r.holder(), Some(&a()));
        assert_eq!(r.release(&a(), &pr), Ok(()));
        assert_eq!(r.holder(), None);
        assert_eq!(r.reserve(&b(), &pr), Ok(()));
        r.reset();
        assert_eq!(r.holder(), None);
    }

    #[test]
    fn spc2_reserve_with_persistent_reservations_present() {
        // (type, requester, RESERVE/RELEASE result): holders, and registrants under the
        // registrants only / all registrants types, get GOOD with nothing changed.
        for kind in ReservationType::ALL {
            let pr = reserved(kind, false);
            for (who, good) in [
                (a(), true),
                (b(), kind.registrants_have_access()),
                (c(), false),
            ] {
                let mut r = Spc2Reservation::default();
                let expected = if good {
                    Ok(())
                } else {
                    Err(Refusal::ReservationConflict)
                };
                assert_eq!(r.reserve(&who, &pr), expected, "{kind:?} {who:?}");
                assert_eq!(r.release(&who, &pr), expected, "{kind:?} {who:?}");
                assert_eq!(r.holder(), None);
            }
        }
        // Registrations without a reservation: RESERVE conflicts for everyone.
        let mut pr = PersistentReservations::new();
        assert!(pr.register(&a(), &keys(0, KA)).is_ok());
        let mut r = Spc2Reservation::default();
        assert_eq!(r.reserve(&a(), &pr), Err(Refusal::ReservationConflict));
        assert_eq!(r.reserve(&b(), &pr), Err(Refusal::ReservationConflict));
    }

    #[test]
    fn ua_senses_are_the_spc_ones() {
        assert_eq!(
            INVALID_RELEASE_OF_PERSISTENT_RESERVATION.key,
            SenseKey::IllegalRequest
        );
        let s = UnitAttention::ReservationsPreempted.sense();
        assert_eq!((s.asc, s.ascq), (0x2A, 0x03));
        assert_ne!(
            asc::INVALID_FIELD_IN_CDB,
            INVALID_RELEASE_OF_PERSISTENT_RESERVATION
        );
    }
}
