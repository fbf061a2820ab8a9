//! The HA message catalogue (CTL's `ctl_msg_type`, §1.9 of the reference), as typed enums.
//!
//! No pointers cross the wire: commands are named by a [`TransferId`] the originator picks,
//! data by transfer id and byte offset. Sizes are bounded: CDBs and sense data are
//! `heapless` vectors, and everything else is bounded by the sealed frame it arrives in
//! (at most [`MAX_PLAINTEXT`] bytes; every element of a sequence costs at least one byte).
//!
//! Versioning: variants are only ever appended; `Hello` stays variant 0.

use crate::hello::{Hello, PeerRefused};
use alloc::vec::Vec;
use heapless::Vec as BoundedVec;
use scsi::lun::{LunConfig, LunId, ModeParameters};
use scsi::mutation::Mutation;
use scsi::nexus::{InitiatorPort, NexusId, PortConfig};
use scsi::reservations::{NexusSet, PersistentReservations};
use scsi::ua::UnitAttention;
use serde::{Deserialize, Serialize};

/// Largest sealed plaintext: Noise's 65535-byte message less the 16-byte tag.
pub const MAX_PLAINTEXT: usize = 65535 - 16;
/// Largest data chunk in one data-channel frame; a transfer larger than this moves as
/// several chunks at increasing offsets.
pub const MAX_DATA_CHUNK: usize = 63 * 1024;
/// Longest CDB carried (CTL carries 32).
pub const MAX_CDB: usize = 32;
/// Longest sense data carried (SPC's 252).
pub const MAX_SENSE: usize = 252;

pub type Cdb = BoundedVec<u8, MAX_CDB>;
pub type Sense = BoundedVec<u8, MAX_SENSE>;

/// A command (and its data) as both controllers name it: chosen by the originator, unique
/// among its commands in flight on this link epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TransferId(pub u32);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Message {
    /// Variant 0 forever. Sent once per link, inside the handshake.
    Hello(Hello),
    /// The sender refuses this peer and drops the link.
    Refused(PeerRefused),
    Heartbeat(Heartbeat),
    Command(CommandMessage),
    Task(TaskManagement),
    Reservation(ReservationAction),
    LunSync(LunSync),
    PortSync(PortSync),
    NexusSync(NexusSync),
    ModeSync(ModeSync),
    UnitAttention(UnitAttentionSync),
    /// Any other change of the one mutation path the peer mirrors (LUN modify, medium
    /// removed or inserted), applied as is by `TargetDevice::apply`.
    Mutation(Mutation),
    Data(DataControl),
}

/// Application liveness: sent every heartbeat interval by both sides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Heartbeat {
    pub epoch: u64,
    pub seq: u64,
    /// The sender's monotonic clock, microseconds (for round-trip estimates).
    pub sent_us: u64,
}

/// SAM task attribute as it crosses the interlink.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TaskAttr {
    Simple,
    Ordered,
    HeadOfQueue,
    Aca,
}

/// Command forwarding: CTL's SERIALIZE, R2R, FINISH_IO and BAD_JUJU.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CommandMessage {
    /// Originator → primary: order (and in Transfer mode run) this command.
    Serialize {
        id: TransferId,
        lun: LunId,
        nexus: NexusId,
        tag: u64,
        attr: TaskAttr,
        cdb: Cdb,
        /// Bytes the initiator sends (data-out) and expects (data-in).
        data_out: u32,
        data_in: u32,
    },
    /// Primary → originator: the command may run now (serialize-only and active/standby).
    ReadyToRun { id: TransferId },
    /// Final status: primary → originator in Transfer mode; originator → primary in the
    /// other modes, to drop the ordering placeholder.
    Finish {
        id: TransferId,
        status: u8,
        sense: Sense,
        residual: u32,
    },
    /// Primary → originator: refused before it ran (busy, conflict, invalid).
    Reject {
        id: TransferId,
        status: u8,
        sense: Sense,
    },
}

/// Task management mirrored to the peer (CTL's MANAGE_TASKS).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TaskManagement {
    AbortTask {
        lun: LunId,
        nexus: NexusId,
        tag: u64,
    },
    AbortTaskSet {
        lun: LunId,
        nexus: NexusId,
    },
    ClearTaskSet {
        lun: LunId,
    },
    LunReset {
        lun: LunId,
    },
    ITNexusReset {
        nexus: NexusId,
    },
    TargetReset,
}

/// A PERSISTENT RESERVE OUT's result (CTL's PERS_ACTION), as the core's mutation carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReservationAction {
    pub lun: LunId,
    pub state: PersistentReservations,
    pub attentions: Vec<(NexusSet, UnitAttention)>,
    pub abort: Vec<NexusSet>,
    pub by: (NexusId, u64),
}

impl From<ReservationAction> for Mutation {
    fn from(a: ReservationAction) -> Mutation {
        Mutation::ReservationsChanged {
            lun: a.lun,
            state: a.state,
            attentions: a.attentions,
            abort: a.abort,
            by: a.by,
        }
    }
}

/// A LUN announced (with its role and, from the primary, its complete reservation state) or
/// withdrawn (CTL's LUN_SYNC).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LunSync {
    pub lun: LunId,
    /// `None`: the LUN is gone from the sender.
    pub config: Option<LunConfig>,
    /// The sender is primary for this LUN.
    pub primary: bool,
    /// Full persistent-reservation state, sent by the primary.
    pub reservations: Option<PersistentReservations>,
}

/// One of the sender's target ports with its LUN map, or its removal (CTL's PORT_SYNC).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortSync {
    pub relative_id: u16,
    /// `None`: the port went offline. The LUN map is `PortConfig::lun_map`.
    pub port: Option<PortConfig>,
}

/// An I_T nexus logged in or out on one of the sender's ports (CTL's IID_SYNC).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NexusSync {
    pub nexus: NexusId,
    /// `Some((port, initiator))` on login, `None` on logout.
    pub login: Option<(u16, InitiatorPort)>,
}

impl From<NexusSync> for Mutation {
    fn from(n: NexusSync) -> Mutation {
        match n.login {
            Some((port, initiator)) => Mutation::NexusLogin {
                nexus: n.nexus,
                port,
                initiator,
            },
            None => Mutation::NexusLogout { nexus: n.nexus },
        }
    }
}

/// A LUN's mode parameters after MODE SELECT (CTL's MODE_SYNC).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModeSync {
    pub lun: LunId,
    pub mode: ModeParameters,
    pub by: Option<NexusId>,
}

impl From<ModeSync> for Mutation {
    fn from(m: ModeSync) -> Mutation {
        Mutation::ModeChanged {
            lun: m.lun,
            mode: m.mode,
            by: m.by,
        }
    }
}

/// A unit attention to raise on the peer too (CTL's UA).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnitAttentionSync {
    /// `None`: every LUN.
    pub lun: Option<LunId>,
    pub ua: UnitAttention,
    pub except: Option<NexusId>,
}

impl From<UnitAttentionSync> for Mutation {
    fn from(u: UnitAttentionSync) -> Mutation {
        Mutation::AttentionRaised {
            lun: u.lun,
            ua: u.ua,
            except: u.except,
        }
    }
}

/// Control of proxied data (Transfer mode). The bytes themselves travel on the data channel
/// ([`DataHeader`] plus payload); these messages ask for them and end a transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DataControl {
    /// "Send me `len` bytes of transfer `id` from `offset`" (the peer answers with data
    /// frames covering the range). Offsets and lengths are checked against the transfer's
    /// own size by the receiver; nothing here is an address.
    Request {
        id: TransferId,
        offset: u64,
        len: u32,
    },
    /// The transfer's data movement ended (CTL's DATAMOVE_DONE).
    Done { id: TransferId, ok: bool },
}

/// The header of a data-channel frame; `len` payload bytes follow it in the same frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataHeader {
    pub id: TransferId,
    pub offset: u64,
    pub len: u32,
}

impl Message {
    /// The postcard encoding.
    pub fn encode(&self) -> Result<Vec<u8>, postcard::Error> {
        postcard::to_allocvec(self)
    }

    /// Decodes a message that must fill `bytes` exactly.
    pub fn decode(bytes: &[u8]) -> Result<Message, postcard::Error> {
        match postcard::take_from_bytes(bytes)? {
            (m, []) => Ok(m),
            _ => Err(postcard::Error::DeserializeBadEncoding),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hello::tests::sample;

    #[test]
    fn hello_is_variant_zero_and_heartbeat_is_compact() {
        let bytes = Message::Hello(sample(1)).encode().unwrap();
        assert_eq!(bytes[0], 0);
        assert_eq!(&bytes[1..], &sample(1).encode()[..]);
        let hb = Message::Heartbeat(Heartbeat {
            epoch: 3,
            seq: 300,
            sent_us: 1,
        });
        assert_eq!(hb.encode().unwrap(), [2, 3, 0xAC, 0x02, 1]);
    }

    #[test]
    fn catalogue_round_trips() {
        let msgs = [
            Message::Command(CommandMessage::Serialize {
                id: TransferId(7),
                lun: LunId(1),
                nexus: NexusId::new(2, 5),
                tag: 99,
                attr: TaskAttr::Ordered,
                cdb: Cdb::from_slice(&[0x28, 0, 0, 0, 0, 8, 0, 0, 8, 0]).unwrap(),
                data_out: 0,
                data_in: 4096,
            }),
            Message::Command(CommandMessage::Finish {
                id: TransferId(7),
                status: 2,
                sense: Sense::from_slice(&[0x70, 0, 5]).unwrap(),
                residual: 0,
            }),
            Message::Task(TaskManagement::LunReset { lun: LunId(3) }),
            Message::NexusSync(NexusSync {
                nexus: NexusId::new(1, 1),
                login: Some((
                    3,
                    InitiatorPort {
                        name: "iqn.x".into(),
                        isid: [1; 6],
                    },
                )),
            }),
            Message::Data(DataControl::Request {
                id: TransferId(7),
                offset: 65536,
                len: 4096,
            }),
            Message::Refused(PeerRefused::OtherLunSet),
        ];
        for m in msgs {
            assert_eq!(Message::decode(&m.encode().unwrap()).unwrap(), m);
        }
    }

    #[test]
    fn oversized_cdb_and_trailing_bytes_are_refused() {
        // Serialize with a 33-byte CDB: variant 3, Serialize 0, id, lun, nexus, tag, attr, len 33.
        let mut bytes = alloc::vec![3, 0, 7, 1, 5, 99, 0, 33];
        bytes.extend_from_slice(&[0; 33]);
        bytes.extend_from_slice(&[0, 0]);
        assert!(Message::decode(&bytes).is_err());
        let mut ok = Message::Task(TaskManagement::TargetReset).encode().unwrap();
        ok.push(0);
        assert!(Message::decode(&ok).is_err());
    }

    #[test]
    fn huge_claimed_lengths_fail_without_allocating_them() {
        // Reservation with a registrant count of u32::MAX but no bytes behind it.
        let bytes = [5, 1, 0xff, 0xff, 0xff, 0xff, 0x0f];
        assert!(Message::decode(&bytes).is_err());
    }
}
