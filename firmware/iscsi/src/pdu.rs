//! The iSCSI Basic Header Segment codec (RFC 7143 §11): decoding of every initiator PDU into
//! typed requests, and allocation-free encoding of every target PDU.
//!
//! Everything decoded here comes from the network and is treated as hostile: malformed
//! headers are returned as [`PduError`]s that carry the Reject reason the caller sends back.
//! Data segments, digests and padding are the connection's business; this module only sees
//! the 48-byte BHS and the Additional Header Segments that follow it.

use core::fmt;

/// Size of the Basic Header Segment.
pub const BHS_LEN: usize = 48;

/// The reserved tag value (ITT/TTT "not set", RFC 7143 §11.2.1).
pub const RESERVED_TAG: u32 = 0xffff_ffff;

/// Largest CDB we accept: 16 bytes in the BHS plus an Extended CDB AHS of up to 16 more,
/// enough for the 32-byte variable-length CDBs SBC uses.
pub const MAX_CDB_LEN: usize = 32;

/// Largest value of the 24-bit DataSegmentLength field.
pub const MAX_DATA_SEGMENT_LEN: u32 = 0x00ff_ffff;

/// Rounds `n` up to a multiple of 4, the alignment of AHS and data segments on the wire.
/// Saturates instead of overflowing; any length near `usize::MAX` is rejected elsewhere.
pub fn pad4(n: usize) -> usize {
    n.saturating_add(3) & !3
}

/// Every opcode of RFC 7143 (§11.2), initiator and target.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Opcode {
    NopOut = 0x00,
    ScsiCommand = 0x01,
    TaskMgmtRequest = 0x02,
    LoginRequest = 0x03,
    TextRequest = 0x04,
    DataOut = 0x05,
    LogoutRequest = 0x06,
    SnackRequest = 0x10,
    NopIn = 0x20,
    ScsiResponse = 0x21,
    TaskMgmtResponse = 0x22,
    LoginResponse = 0x23,
    TextResponse = 0x24,
    DataIn = 0x25,
    LogoutResponse = 0x26,
    R2T = 0x31,
    AsyncMessage = 0x32,
    Reject = 0x3f,
}

impl Opcode {
    /// Maps the low six bits of byte 0 to an opcode.
    pub fn from_u8(op: u8) -> Option<Self> {
        Some(match op & 0x3f {
            0x00 => Self::NopOut,
            0x01 => Self::ScsiCommand,
            0x02 => Self::TaskMgmtRequest,
            0x03 => Self::LoginRequest,
            0x04 => Self::TextRequest,
            0x05 => Self::DataOut,
            0x06 => Self::LogoutRequest,
            0x10 => Self::SnackRequest,
            0x20 => Self::NopIn,
            0x21 => Self::ScsiResponse,
            0x22 => Self::TaskMgmtResponse,
            0x23 => Self::LoginResponse,
            0x24 => Self::TextResponse,
            0x25 => Self::DataIn,
            0x26 => Self::LogoutResponse,
            0x31 => Self::R2T,
            0x32 => Self::AsyncMessage,
            0x3f => Self::Reject,
            _ => return None,
        })
    }
}

/// Reject reason codes (RFC 7143 §11.17.1).
pub mod reject_reason {
    pub const DATA_DIGEST_ERROR: u8 = 0x02;
    pub const SNACK_REJECT: u8 = 0x03;
    pub const PROTOCOL_ERROR: u8 = 0x04;
    pub const COMMAND_NOT_SUPPORTED: u8 = 0x05;
    pub const IMMEDIATE_COMMAND_REJECT: u8 = 0x06;
    pub const TASK_IN_PROGRESS: u8 = 0x07;
    pub const INVALID_DATA_ACK: u8 = 0x08;
    pub const INVALID_PDU_FIELD: u8 = 0x09;
    pub const LONG_OP_REJECT: u8 = 0x0a;
    pub const WAITING_FOR_LOGOUT: u8 = 0x0c;
}

/// Task management function codes (RFC 7143 §11.5; 9..=12 from RFC 7144).
pub mod tmf_function {
    pub const ABORT_TASK: u8 = 1;
    pub const ABORT_TASK_SET: u8 = 2;
    pub const CLEAR_ACA: u8 = 3;
    pub const CLEAR_TASK_SET: u8 = 4;
    pub const LOGICAL_UNIT_RESET: u8 = 5;
    pub const TARGET_WARM_RESET: u8 = 6;
    pub const TARGET_COLD_RESET: u8 = 7;
    pub const TASK_REASSIGN: u8 = 8;
    pub const QUERY_TASK: u8 = 9;
    pub const QUERY_TASK_SET: u8 = 10;
    pub const I_T_NEXUS_RESET: u8 = 11;
    pub const QUERY_ASYNC_EVENT: u8 = 12;
}

/// Task management response codes (RFC 7143 §11.6; 7 from RFC 7144).
pub mod tmf_response {
    pub const FUNCTION_COMPLETE: u8 = 0;
    pub const TASK_DOES_NOT_EXIST: u8 = 1;
    pub const LUN_DOES_NOT_EXIST: u8 = 2;
    pub const TASK_STILL_ALLEGIANT: u8 = 3;
    pub const TASK_REASSIGNMENT_NOT_SUPPORTED: u8 = 4;
    pub const FUNCTION_NOT_SUPPORTED: u8 = 5;
    pub const AUTHORIZATION_FAILED: u8 = 6;
    pub const FUNCTION_SUCCEEDED: u8 = 7;
    pub const FUNCTION_REJECTED: u8 = 255;
}

/// Logout reason codes (request) and responses (RFC 7143 §11.14, §11.15).
pub mod logout {
    pub const CLOSE_SESSION: u8 = 0;
    pub const CLOSE_CONNECTION: u8 = 1;
    pub const REMOVE_CONNECTION_FOR_RECOVERY: u8 = 2;

    pub const RESPONSE_CLOSED: u8 = 0;
    pub const RESPONSE_CID_NOT_FOUND: u8 = 1;
    pub const RESPONSE_RECOVERY_NOT_SUPPORTED: u8 = 2;
    pub const RESPONSE_CLEANUP_FAILED: u8 = 3;
}

/// Why an initiator PDU header could not be decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PduError {
    /// The opcode is not an initiator opcode of RFC 7143.
    UnknownOpcode(u8),
    /// The AHS bytes handed in do not match the header's TotalAHSLength.
    AhsLengthMismatch { declared: usize, actual: usize },
    /// An AHS whose own length runs past the AHS area, or has the wrong size for its type.
    MalformedAhs,
    /// An AHS of a type we do not know (RFC 7143 §11.2), or a repeated Extended CDB AHS.
    UnknownAhsType(u8),
    /// AHS on a PDU type that has none defined.
    UnexpectedAhs,
    /// A data segment on a PDU type that must not carry one.
    UnexpectedData,
    /// A bidirectional command (R and W set, or a Bidirectional Read AHS): not supported.
    Bidirectional,
    /// An Extended CDB longer than [`MAX_CDB_LEN`] allows.
    CdbTooLong(usize),
    /// A field holding a value RFC 7143 does not allow.
    InvalidField(&'static str),
    /// The data segment failed its CRC32C check (raised by the connection, not the decoder).
    DataDigest,
}

impl PduError {
    /// The Reject reason code (RFC 7143 §11.17.1) the target answers this error with.
    pub fn reject_reason(&self) -> u8 {
        match self {
            PduError::UnknownOpcode(_) | PduError::Bidirectional | PduError::CdbTooLong(_) => {
                reject_reason::COMMAND_NOT_SUPPORTED
            }
            PduError::AhsLengthMismatch { .. }
            | PduError::MalformedAhs
            | PduError::UnexpectedAhs
            | PduError::UnexpectedData => reject_reason::PROTOCOL_ERROR,
            PduError::UnknownAhsType(_) | PduError::InvalidField(_) => {
                reject_reason::INVALID_PDU_FIELD
            }
            PduError::DataDigest => reject_reason::DATA_DIGEST_ERROR,
        }
    }
}

impl fmt::Display for PduError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PduError::UnknownOpcode(op) => write!(f, "unknown initiator opcode {op:#04x}"),
            PduError::AhsLengthMismatch { declared, actual } => {
                write!(f, "TotalAHSLength says {declared} bytes, got {actual}")
            }
            PduError::MalformedAhs => write!(f, "malformed additional header segment"),
            PduError::UnknownAhsType(t) => write!(f, "unexpected AHS type {t}"),
            PduError::UnexpectedAhs => write!(f, "AHS on a PDU that has none"),
            PduError::UnexpectedData => write!(f, "data segment on a PDU that has none"),
            PduError::Bidirectional => write!(f, "bidirectional commands are not supported"),
            PduError::CdbTooLong(n) => write!(f, "CDB of {n} bytes is too long"),
            PduError::InvalidField(what) => write!(f, "invalid field: {what}"),
            PduError::DataDigest => write!(f, "data digest error"),
        }
    }
}

impl std::error::Error for PduError {}

// --- field access -------------------------------------------------------------------------
// Offsets are constants of the RFC layout and the header is a fixed-size array, so these
// accesses cannot go out of bounds whatever the bytes contain.

fn be16(b: &[u8; BHS_LEN], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn be32(b: &[u8; BHS_LEN], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn lun_at(b: &[u8; BHS_LEN]) -> [u8; 8] {
    [b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]]
}

fn put16(b: &mut [u8; BHS_LEN], at: usize, v: u16) {
    let [x0, x1] = v.to_be_bytes();
    b[at] = x0;
    b[at + 1] = x1;
}

fn put32(b: &mut [u8; BHS_LEN], at: usize, v: u32) {
    let [x0, x1, x2, x3] = v.to_be_bytes();
    b[at] = x0;
    b[at + 1] = x1;
    b[at + 2] = x2;
    b[at + 3] = x3;
}

/// StatSN, ExpCmdSN and MaxCmdSN: bytes 24..36 of every target PDU that carries them.
fn put_sequence_numbers(b: &mut [u8; BHS_LEN], statsn: u32, exp_cmdsn: u32, max_cmdsn: u32) {
    put32(b, 24, statsn);
    put32(b, 28, exp_cmdsn);
    put32(b, 32, max_cmdsn);
}

fn put_lun(b: &mut [u8; BHS_LEN], lun: &[u8; 8]) {
    b[8..16].copy_from_slice(lun);
}

/// Starts a target header: opcode, flags byte and the 24-bit DataSegmentLength.
fn header(op: Opcode, flags: u8, data_segment_len: u32) -> [u8; BHS_LEN] {
    // The length is chosen by the target, never by the peer; a value that does not fit is
    // a caller bug, and the mask keeps it from spilling into TotalAHSLength.
    debug_assert!(data_segment_len <= MAX_DATA_SEGMENT_LEN);
    let mut b = [0u8; BHS_LEN];
    b[0] = op as u8;
    b[1] = flags;
    let [_, l1, l2, l3] = (data_segment_len & MAX_DATA_SEGMENT_LEN).to_be_bytes();
    b[5] = l1;
    b[6] = l2;
    b[7] = l3;
    b
}

/// TotalAHSLength in bytes (byte 4 counts 4-byte words).
pub fn total_ahs_len(bhs: &[u8; BHS_LEN]) -> usize {
    usize::from(bhs[4]) * 4
}

/// DataSegmentLength (bytes 5..8), without padding.
pub fn data_segment_len(bhs: &[u8; BHS_LEN]) -> usize {
    (usize::from(bhs[5]) << 16) | (usize::from(bhs[6]) << 8) | usize::from(bhs[7])
}

/// The raw opcode (low six bits of byte 0), known or not.
pub fn raw_opcode(bhs: &[u8; BHS_LEN]) -> u8 {
    bhs[0] & 0x3f
}

/// The Initiator Task Tag of any PDU (bytes 16..20).
pub fn itt(bhs: &[u8; BHS_LEN]) -> u32 {
    be32(bhs, 16)
}

// --- initiator PDUs -------------------------------------------------------------------------

/// A SCSI Command PDU (RFC 7143 §11.3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScsiCommand {
    pub immediate: bool,
    pub final_: bool,
    pub read: bool,
    pub write: bool,
    /// Task attribute (0 untagged, 1 simple, 2 ordered, 3 head of queue, 4 ACA).
    pub attr: u8,
    pub lun: [u8; 8],
    pub itt: u32,
    pub expected_data_len: u32,
    pub cmdsn: u32,
    pub exp_statsn: u32,
    pub cdb: [u8; MAX_CDB_LEN],
    pub cdb_len: usize,
}

impl ScsiCommand {
    /// The CDB bytes actually sent (16, or more with an Extended CDB AHS).
    pub fn cdb(&self) -> &[u8] {
        self.cdb.get(..self.cdb_len).unwrap_or(&self.cdb)
    }
}

/// A Login Request PDU (RFC 7143 §11.12).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoginRequest {
    pub transit: bool,
    pub continue_: bool,
    pub csg: u8,
    pub nsg: u8,
    pub version_max: u8,
    pub version_min: u8,
    pub isid: [u8; 6],
    pub tsih: u16,
    pub itt: u32,
    pub cid: u16,
    pub cmdsn: u32,
    pub exp_statsn: u32,
}

/// A decoded initiator PDU header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    NopOut {
        immediate: bool,
        itt: u32,
        ttt: u32,
        lun: [u8; 8],
        cmdsn: u32,
        exp_statsn: u32,
    },
    ScsiCommand(ScsiCommand),
    TaskMgmt {
        immediate: bool,
        function: u8,
        lun: [u8; 8],
        itt: u32,
        referenced_itt: u32,
        cmdsn: u32,
        exp_statsn: u32,
        ref_cmdsn: u32,
        exp_datasn: u32,
    },
    Login(LoginRequest),
    Text {
        immediate: bool,
        final_: bool,
        continue_: bool,
        lun: [u8; 8],
        itt: u32,
        ttt: u32,
        cmdsn: u32,
        exp_statsn: u32,
    },
    DataOut {
        final_: bool,
        lun: [u8; 8],
        itt: u32,
        ttt: u32,
        exp_statsn: u32,
        datasn: u32,
        buffer_offset: u32,
    },
    Logout {
        immediate: bool,
        reason: u8,
        itt: u32,
        cid: u16,
        cmdsn: u32,
        exp_statsn: u32,
    },
    Snack {
        snack_type: u8,
        lun: [u8; 8],
        itt: u32,
        ttt: u32,
        exp_statsn: u32,
        beg_run: u32,
        run_length: u32,
    },
}

const AHS_EXTENDED_CDB: u8 = 1;
const AHS_BIDI_READ_LENGTH: u8 = 2;

/// Decodes an initiator PDU header. `ahs` must be exactly the TotalAHSLength bytes that
/// followed the BHS on the wire.
pub fn decode_request(bhs: &[u8; BHS_LEN], ahs: &[u8]) -> Result<Request, PduError> {
    let declared = total_ahs_len(bhs);
    if declared != ahs.len() {
        return Err(PduError::AhsLengthMismatch {
            declared,
            actual: ahs.len(),
        });
    }
    let op = raw_opcode(bhs);
    let opcode = Opcode::from_u8(op).ok_or(PduError::UnknownOpcode(op))?;
    if opcode != Opcode::ScsiCommand && !ahs.is_empty() {
        return Err(PduError::UnexpectedAhs);
    }
    let immediate = bhs[0] & 0x40 != 0;
    let flags = bhs[1];
    let final_ = flags & 0x80 != 0;
    let dsl = data_segment_len(bhs);
    Ok(match opcode {
        Opcode::NopOut => Request::NopOut {
            immediate,
            itt: be32(bhs, 16),
            ttt: be32(bhs, 20),
            lun: lun_at(bhs),
            cmdsn: be32(bhs, 24),
            exp_statsn: be32(bhs, 28),
        },
        Opcode::ScsiCommand => Request::ScsiCommand(decode_scsi_command(bhs, ahs, immediate)?),
        Opcode::TaskMgmtRequest => {
            if dsl != 0 {
                return Err(PduError::UnexpectedData);
            }
            Request::TaskMgmt {
                immediate,
                function: flags & 0x7f,
                lun: lun_at(bhs),
                itt: be32(bhs, 16),
                referenced_itt: be32(bhs, 20),
                cmdsn: be32(bhs, 24),
                exp_statsn: be32(bhs, 28),
                ref_cmdsn: be32(bhs, 32),
                exp_datasn: be32(bhs, 36),
            }
        }
        Opcode::LoginRequest => Request::Login(LoginRequest {
            transit: flags & 0x80 != 0,
            continue_: flags & 0x40 != 0,
            csg: (flags >> 2) & 0x03,
            nsg: flags & 0x03,
            version_max: bhs[2],
            version_min: bhs[3],
            isid: [bhs[8], bhs[9], bhs[10], bhs[11], bhs[12], bhs[13]],
            tsih: be16(bhs, 14),
            itt: be32(bhs, 16),
            cid: be16(bhs, 20),
            cmdsn: be32(bhs, 24),
            exp_statsn: be32(bhs, 28),
        }),
        Opcode::TextRequest => {
            let continue_ = flags & 0x40 != 0;
            // RFC 7143 §11.10: a request continued on the next PDU cannot also be final.
            if final_ && continue_ {
                return Err(PduError::InvalidField("Text request with both F and C set"));
            }
            Request::Text {
                immediate,
                final_,
                continue_,
                lun: lun_at(bhs),
                itt: be32(bhs, 16),
                ttt: be32(bhs, 20),
                cmdsn: be32(bhs, 24),
                exp_statsn: be32(bhs, 28),
            }
        }
        Opcode::DataOut => Request::DataOut {
            final_,
            lun: lun_at(bhs),
            itt: be32(bhs, 16),
            ttt: be32(bhs, 20),
            exp_statsn: be32(bhs, 28),
            datasn: be32(bhs, 36),
            buffer_offset: be32(bhs, 40),
        },
        Opcode::LogoutRequest => {
            if dsl != 0 {
                return Err(PduError::UnexpectedData);
            }
            Request::Logout {
                immediate,
                reason: flags & 0x7f,
                itt: be32(bhs, 16),
                cid: be16(bhs, 20),
                cmdsn: be32(bhs, 24),
                exp_statsn: be32(bhs, 28),
            }
        }
        Opcode::SnackRequest => {
            if dsl != 0 {
                return Err(PduError::UnexpectedData);
            }
            Request::Snack {
                snack_type: flags & 0x0f,
                lun: lun_at(bhs),
                itt: be32(bhs, 16),
                ttt: be32(bhs, 20),
                exp_statsn: be32(bhs, 28),
                beg_run: be32(bhs, 40),
                run_length: be32(bhs, 44),
            }
        }
        // A target opcode coming from an initiator is as unknown as a reserved one.
        _ => return Err(PduError::UnknownOpcode(op)),
    })
}

fn decode_scsi_command(
    bhs: &[u8; BHS_LEN],
    ahs: &[u8],
    immediate: bool,
) -> Result<ScsiCommand, PduError> {
    let flags = bhs[1];
    let read = flags & 0x40 != 0;
    let write = flags & 0x20 != 0;
    let attr = flags & 0x07;
    if attr > 4 {
        return Err(PduError::InvalidField("task attribute"));
    }
    let mut cdb = [0u8; MAX_CDB_LEN];
    cdb[..16].copy_from_slice(&bhs[32..48]);
    let mut cdb_len = 16;
    let mut seen_ext = false;
    let mut bidi = read && write;

    let mut rest = ahs;
    while !rest.is_empty() {
        let (&[l0, l1, ahs_type], body) = rest
            .split_first_chunk::<3>()
            .ok_or(PduError::MalformedAhs)?;
        let ahs_len = usize::from(u16::from_be_bytes([l0, l1]));
        let specific = body.get(..ahs_len).ok_or(PduError::MalformedAhs)?;
        // Each AHS is padded to a 4-byte boundary; the padding must also be present.
        let consumed = pad4(3 + ahs_len);
        rest = rest.get(consumed..).ok_or(PduError::MalformedAhs)?;
        match ahs_type {
            AHS_EXTENDED_CDB => {
                if seen_ext {
                    return Err(PduError::UnknownAhsType(ahs_type));
                }
                seen_ext = true;
                // The first specific byte is reserved; the rest continues the CDB at byte 16.
                let (_, ext) = specific.split_first().ok_or(PduError::MalformedAhs)?;
                let total = 16 + ext.len();
                let dst = cdb.get_mut(16..total).ok_or(PduError::CdbTooLong(total))?;
                dst.copy_from_slice(ext);
                cdb_len = total;
            }
            AHS_BIDI_READ_LENGTH => {
                // Reserved byte plus a 32-bit Expected Read Data Transfer Length.
                if ahs_len != 5 {
                    return Err(PduError::MalformedAhs);
                }
                bidi = true;
            }
            other => return Err(PduError::UnknownAhsType(other)),
        }
    }
    if bidi {
        return Err(PduError::Bidirectional);
    }
    Ok(ScsiCommand {
        immediate,
        final_: flags & 0x80 != 0,
        read,
        write,
        attr,
        lun: lun_at(bhs),
        itt: be32(bhs, 16),
        expected_data_len: be32(bhs, 20),
        cmdsn: be32(bhs, 24),
        exp_statsn: be32(bhs, 28),
        cdb,
        cdb_len,
    })
}

// --- target PDUs --------------------------------------------------------------------------

/// Residual count of a completed command (RFC 7143 §11.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Residual {
    #[default]
    None,
    /// The command moved less data than the initiator's Expected Data Transfer Length.
    Underflow(u32),
    /// The command wanted more data than the initiator's Expected Data Transfer Length.
    Overflow(u32),
}

impl Residual {
    /// The O/U flag bits (0x04 overflow, 0x02 underflow) and the residual count.
    fn bits(self) -> (u8, u32) {
        match self {
            Residual::None => (0, 0),
            Residual::Underflow(n) => (0x02, n),
            Residual::Overflow(n) => (0x04, n),
        }
    }
}

/// SCSI Response (RFC 7143 §11.4).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScsiResponse {
    /// iSCSI service response: 0x00 command completed at target, 0x01 target failure.
    pub response: u8,
    /// SCSI status byte.
    pub status: u8,
    pub residual: Residual,
    pub itt: u32,
    pub statsn: u32,
    pub exp_cmdsn: u32,
    pub max_cmdsn: u32,
    pub exp_datasn: u32,
}

impl ScsiResponse {
    /// Encodes the header; `data_segment_len` covers the sense data (with its 2-byte length).
    pub fn encode(&self, data_segment_len: u32) -> [u8; BHS_LEN] {
        let (bits, count) = self.residual.bits();
        let mut b = header(Opcode::ScsiResponse, 0x80 | bits, data_segment_len);
        b[2] = self.response;
        b[3] = self.status;
        put32(&mut b, 16, self.itt);
        put_sequence_numbers(&mut b, self.statsn, self.exp_cmdsn, self.max_cmdsn);
        put32(&mut b, 36, self.exp_datasn);
        put32(&mut b, 44, count);
        b
    }
}

/// SCSI Data-In (RFC 7143 §11.7).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataIn {
    pub final_: bool,
    /// A bit: asks for a DataACK SNACK; only meaningful at ERL > 0, so normally false.
    pub ack: bool,
    /// Phase-collapsed status: sets the S bit and carries the SCSI status.
    pub status: Option<u8>,
    /// Only sent together with a status (the O/U bits are defined only when S is set).
    pub residual: Residual,
    pub lun: [u8; 8],
    pub itt: u32,
    pub ttt: u32,
    pub statsn: u32,
    pub exp_cmdsn: u32,
    pub max_cmdsn: u32,
    pub datasn: u32,
    pub buffer_offset: u32,
}

impl DataIn {
    pub fn encode(&self, data_segment_len: u32) -> [u8; BHS_LEN] {
        let mut flags = 0u8;
        // RFC 7143 §11.7: S requires F; the status ends the sequence.
        if self.final_ || self.status.is_some() {
            flags |= 0x80;
        }
        if self.ack {
            flags |= 0x40;
        }
        let mut count = 0;
        if self.status.is_some() {
            let (bits, c) = self.residual.bits();
            flags |= bits | 0x01;
            count = c;
        }
        let mut b = header(Opcode::DataIn, flags, data_segment_len);
        if let Some(status) = self.status {
            b[3] = status;
            put32(&mut b, 24, self.statsn);
        }
        put_lun(&mut b, &self.lun);
        put32(&mut b, 16, self.itt);
        put32(&mut b, 20, self.ttt);
        put32(&mut b, 28, self.exp_cmdsn);
        put32(&mut b, 32, self.max_cmdsn);
        put32(&mut b, 36, self.datasn);
        put32(&mut b, 40, self.buffer_offset);
        put32(&mut b, 44, count);
        b
    }
}

/// Ready To Transfer (RFC 7143 §11.8).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct R2T {
    pub lun: [u8; 8],
    pub itt: u32,
    pub ttt: u32,
    pub statsn: u32,
    pub exp_cmdsn: u32,
    pub max_cmdsn: u32,
    pub r2tsn: u32,
    pub buffer_offset: u32,
    pub desired_len: u32,
}

impl R2T {
    /// R2Ts never carry data.
    pub fn encode(&self) -> [u8; BHS_LEN] {
        let mut b = header(Opcode::R2T, 0x80, 0);
        put_lun(&mut b, &self.lun);
        put32(&mut b, 16, self.itt);
        put32(&mut b, 20, self.ttt);
        put_sequence_numbers(&mut b, self.statsn, self.exp_cmdsn, self.max_cmdsn);
        put32(&mut b, 36, self.r2tsn);
        put32(&mut b, 40, self.buffer_offset);
        put32(&mut b, 44, self.desired_len);
        b
    }
}

/// NOP-In (RFC 7143 §11.19): a ping answer (ITT set, TTT reserved) or a target ping
/// (ITT reserved, TTT set).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NopIn {
    pub lun: [u8; 8],
    pub itt: u32,
    pub ttt: u32,
    pub statsn: u32,
    pub exp_cmdsn: u32,
    pub max_cmdsn: u32,
}

impl NopIn {
    pub fn encode(&self, data_segment_len: u32) -> [u8; BHS_LEN] {
        let mut b = header(Opcode::NopIn, 0x80, data_segment_len);
        put_lun(&mut b, &self.lun);
        put32(&mut b, 16, self.itt);
        put32(&mut b, 20, self.ttt);
        put_sequence_numbers(&mut b, self.statsn, self.exp_cmdsn, self.max_cmdsn);
        b
    }
}

/// Task Management Function Response (RFC 7143 §11.6).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskMgmtResponse {
    pub response: u8,
    pub itt: u32,
    pub statsn: u32,
    pub exp_cmdsn: u32,
    pub max_cmdsn: u32,
}

impl TaskMgmtResponse {
    pub fn encode(&self) -> [u8; BHS_LEN] {
        let mut b = header(Opcode::TaskMgmtResponse, 0x80, 0);
        b[2] = self.response;
        put32(&mut b, 16, self.itt);
        put_sequence_numbers(&mut b, self.statsn, self.exp_cmdsn, self.max_cmdsn);
        b
    }
}

/// Login Response (RFC 7143 §11.13).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoginResponse {
    pub transit: bool,
    pub continue_: bool,
    pub csg: u8,
    pub nsg: u8,
    pub version_max: u8,
    pub version_active: u8,
    pub isid: [u8; 6],
    pub tsih: u16,
    pub itt: u32,
    pub statsn: u32,
    pub exp_cmdsn: u32,
    pub max_cmdsn: u32,
    pub status_class: u8,
    pub status_detail: u8,
}

impl LoginResponse {
    pub fn encode(&self, data_segment_len: u32) -> [u8; BHS_LEN] {
        let mut flags = ((self.csg & 0x03) << 2) | (self.nsg & 0x03);
        if self.transit {
            flags |= 0x80;
        }
        if self.continue_ {
            flags |= 0x40;
        }
        let mut b = header(Opcode::LoginResponse, flags, data_segment_len);
        b[2] = self.version_max;
        b[3] = self.version_active;
        b[8..14].copy_from_slice(&self.isid);
        put16(&mut b, 14, self.tsih);
        put32(&mut b, 16, self.itt);
        put_sequence_numbers(&mut b, self.statsn, self.exp_cmdsn, self.max_cmdsn);
        b[36] = self.status_class;
        b[37] = self.status_detail;
        b
    }
}

/// Text Response (RFC 7143 §11.11).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TextResponse {
    pub final_: bool,
    pub continue_: bool,
    pub lun: [u8; 8],
    pub itt: u32,
    pub ttt: u32,
    pub statsn: u32,
    pub exp_cmdsn: u32,
    pub max_cmdsn: u32,
}

impl TextResponse {
    pub fn encode(&self, data_segment_len: u32) -> [u8; BHS_LEN] {
        let mut flags = 0u8;
        if self.final_ {
            flags |= 0x80;
        }
        if self.continue_ {
            flags |= 0x40;
        }
        let mut b = header(Opcode::TextResponse, flags, data_segment_len);
        put_lun(&mut b, &self.lun);
        put32(&mut b, 16, self.itt);
        put32(&mut b, 20, self.ttt);
        put_sequence_numbers(&mut b, self.statsn, self.exp_cmdsn, self.max_cmdsn);
        b
    }
}

/// Logout Response (RFC 7143 §11.15).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogoutResponse {
    pub response: u8,
    pub itt: u32,
    pub statsn: u32,
    pub exp_cmdsn: u32,
    pub max_cmdsn: u32,
    pub time2wait: u16,
    pub time2retain: u16,
}

impl LogoutResponse {
    pub fn encode(&self) -> [u8; BHS_LEN] {
        let mut b = header(Opcode::LogoutResponse, 0x80, 0);
        b[2] = self.response;
        put32(&mut b, 16, self.itt);
        put_sequence_numbers(&mut b, self.statsn, self.exp_cmdsn, self.max_cmdsn);
        put16(&mut b, 40, self.time2wait);
        put16(&mut b, 42, self.time2retain);
        b
    }
}

/// Reject (RFC 7143 §11.17). Its data segment is the rejected PDU's 48-byte header, which
/// the caller sends after this one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reject {
    pub reason: u8,
    pub statsn: u32,
    pub exp_cmdsn: u32,
    pub max_cmdsn: u32,
    pub datasn_r2tsn: u32,
}

impl Reject {
    /// The data segment is always exactly the rejected BHS.
    pub fn encode(&self) -> [u8; BHS_LEN] {
        let mut b = header(Opcode::Reject, 0x80, BHS_LEN as u32);
        b[2] = self.reason;
        put32(&mut b, 16, RESERVED_TAG);
        put_sequence_numbers(&mut b, self.statsn, self.exp_cmdsn, self.max_cmdsn);
        put32(&mut b, 36, self.datasn_r2tsn);
        b
    }
}

/// AsyncEvent codes of the Asynchronous Message (RFC 7143 §11.9.1).
pub mod async_event {
    pub const SCSI_EVENT: u8 = 0;
    /// The target asks the initiator to log out within Parameter3 seconds.
    pub const LOGOUT_REQUEST: u8 = 1;
    pub const CONNECTION_DROPPED: u8 = 2;
    pub const ALL_CONNECTIONS_DROPPED: u8 = 3;
    pub const RENEGOTIATION_REQUEST: u8 = 4;
    pub const VENDOR_SPECIFIC: u8 = 255;
}

/// Asynchronous Message (RFC 7143 §11.9).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AsyncMessage {
    pub lun: [u8; 8],
    pub statsn: u32,
    pub exp_cmdsn: u32,
    pub max_cmdsn: u32,
    /// AsyncEvent: 0 SCSI event, 1 logout request, 2 drop connection, 3 drop all
    /// connections, 4 renegotiation request, 255 vendor specific.
    pub event: u8,
    pub vcode: u8,
    pub param1: u16,
    pub param2: u16,
    pub param3: u16,
}

impl AsyncMessage {
    /// `data_segment_len` covers sense data (for SCSI events) and/or iSCSI event data.
    pub fn encode(&self, data_segment_len: u32) -> [u8; BHS_LEN] {
        let mut b = header(Opcode::AsyncMessage, 0x80, data_segment_len);
        put_lun(&mut b, &self.lun);
        put32(&mut b, 16, RESERVED_TAG);
        put_sequence_numbers(&mut b, self.statsn, self.exp_cmdsn, self.max_cmdsn);
        b[36] = self.event;
        b[37] = self.vcode;
        put16(&mut b, 38, self.param1);
        put16(&mut b, 40, self.param2);
        put16(&mut b, 42, self.param3);
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bhs(op: u8, flags: u8) -> [u8; BHS_LEN] {
        let mut b = [0u8; BHS_LEN];
        b[0] = op;
        b[1] = flags;
        b
    }

    fn set32(b: &mut [u8; BHS_LEN], at: usize, v: u32) {
        b[at..at + 4].copy_from_slice(&v.to_be_bytes());
    }

    const LUN: [u8; 8] = [0, 5, 0, 0, 0, 0, 0, 0];

    #[test]
    fn pad4_rounds_up() {
        assert_eq!(pad4(0), 0);
        assert_eq!(pad4(1), 4);
        assert_eq!(pad4(4), 4);
        assert_eq!(pad4(5), 8);
        assert_eq!(pad4(usize::MAX), usize::MAX & !3);
    }

    #[test]
    fn lengths() {
        let mut b = bhs(0x01, 0x80);
        b[4] = 3;
        b[5] = 0x01;
        b[6] = 0x02;
        b[7] = 0x03;
        assert_eq!(total_ahs_len(&b), 12);
        assert_eq!(data_segment_len(&b), 0x010203);
    }

    #[test]
    fn opcode_roundtrip() {
        for op in 0u8..=0x3f {
            if let Some(o) = Opcode::from_u8(op) {
                assert_eq!(o as u8, op);
            }
        }
        assert_eq!(Opcode::from_u8(0x07), None);
    }

    #[test]
    fn decode_scsi_command_read10() {
        let mut b = bhs(0x41, 0x80 | 0x40 | 0x01);
        b[8..16].copy_from_slice(&LUN);
        set32(&mut b, 16, 0x1234_5678);
        set32(&mut b, 20, 4096);
        set32(&mut b, 24, 7);
        set32(&mut b, 28, 9);
        b[32] = 0x28;
        b[40] = 8;
        let Request::ScsiCommand(c) = decode_request(&b, &[]).unwrap() else {
            panic!("not a command");
        };
        assert!(c.immediate && c.final_ && c.read && !c.write);
        assert_eq!(c.attr, 1);
        assert_eq!(c.lun, LUN);
        assert_eq!(c.itt, 0x1234_5678);
        assert_eq!(c.expected_data_len, 4096);
        assert_eq!((c.cmdsn, c.exp_statsn), (7, 9));
        assert_eq!(c.cdb_len, 16);
        assert_eq!(c.cdb()[0], 0x28);
        assert_eq!(c.cdb()[8], 8);
    }

    #[test]
    fn decode_extended_cdb() {
        let mut b = bhs(0x01, 0x80 | 0x20);
        b[4] = 5; // 20 bytes of AHS
        for (i, x) in b[32..48].iter_mut().enumerate() {
            *x = i as u8;
        }
        // AHSLength 17 = reserved byte + 16 more CDB bytes; 3 + 17 = 20, already aligned.
        let mut ahs = vec![0u8, 17, 1, 0];
        ahs.extend(16u8..32);
        let Request::ScsiCommand(c) = decode_request(&b, &ahs).unwrap() else {
            panic!("not a command");
        };
        assert_eq!(c.cdb_len, 32);
        assert_eq!(c.cdb(), &(0u8..32).collect::<Vec<_>>()[..]);
    }

    #[test]
    fn decode_short_extended_cdb_with_padding() {
        let mut b = bhs(0x01, 0x80);
        b[4] = 2; // 8 bytes
                  // 2 extra CDB bytes: AHSLength 3, 3 + 3 = 6, padded to 8.
        let ahs = [0u8, 3, 1, 0, 0xaa, 0xbb, 0, 0];
        let Request::ScsiCommand(c) = decode_request(&b, &ahs).unwrap() else {
            panic!("not a command");
        };
        assert_eq!(c.cdb_len, 18);
        assert_eq!(&c.cdb()[16..], &[0xaa, 0xbb]);
    }

    #[test]
    fn reject_ahs_length_mismatch() {
        let mut b = bhs(0x01, 0x80);
        b[4] = 1;
        let e = decode_request(&b, &[]).unwrap_err();
        assert_eq!(
            e,
            PduError::AhsLengthMismatch {
                declared: 4,
                actual: 0
            }
        );
        assert_eq!(e.reject_reason(), reject_reason::PROTOCOL_ERROR);
    }

    #[test]
    fn reject_ahs_overrunning_its_area() {
        let mut b = bhs(0x01, 0x80);
        b[4] = 1;
        let e = decode_request(&b, &[0, 40, 1, 0]).unwrap_err();
        assert_eq!(e, PduError::MalformedAhs);
    }

    #[test]
    fn reject_ahs_garbage() {
        let mut b = bhs(0x01, 0x80);
        b[4] = 1;
        // An Extended CDB AHS without even its reserved byte.
        let e = decode_request(&b, &[0, 0, 1, 0]).unwrap_err();
        assert_eq!(e, PduError::MalformedAhs);
        // AHSLength 2 needs 5 bytes before padding; only 4 are there.
        let e = decode_request(&b, &[0, 2, 1, 0]).unwrap_err();
        assert_eq!(e, PduError::MalformedAhs);
        b[4] = 2;
        let e = decode_request(&b, &[0, 1, 1, 0, 0, 0, 0, 0]).unwrap_err();
        // First AHS ok (no extra CDB bytes); the second is 4 zero bytes: type 0.
        assert_eq!(e, PduError::UnknownAhsType(0));
    }

    #[test]
    fn reject_unknown_ahs_type() {
        let mut b = bhs(0x01, 0x80);
        b[4] = 1;
        let e = decode_request(&b, &[0, 1, 0x3c, 0]).unwrap_err();
        assert_eq!(e, PduError::UnknownAhsType(0x3c));
        assert_eq!(e.reject_reason(), reject_reason::INVALID_PDU_FIELD);
    }

    #[test]
    fn reject_duplicate_extended_cdb() {
        let mut b = bhs(0x01, 0x80);
        b[4] = 2;
        let e = decode_request(&b, &[0, 1, 1, 0, 0, 1, 1, 0]).unwrap_err();
        assert_eq!(e, PduError::UnknownAhsType(1));
    }

    #[test]
    fn reject_cdb_too_long() {
        let mut b = bhs(0x01, 0x80);
        // 17 extra bytes: AHSLength 18, 21 -> 24 bytes.
        b[4] = 6;
        let mut ahs = vec![0u8, 18, 1, 0];
        ahs.extend([0u8; 20]);
        let e = decode_request(&b, &ahs).unwrap_err();
        assert_eq!(e, PduError::CdbTooLong(33));
        assert_eq!(e.reject_reason(), reject_reason::COMMAND_NOT_SUPPORTED);
    }

    #[test]
    fn reject_bidirectional() {
        let b = bhs(0x01, 0x80 | 0x40 | 0x20);
        assert_eq!(decode_request(&b, &[]), Err(PduError::Bidirectional));
        let mut b = bhs(0x01, 0x80 | 0x40);
        b[4] = 2;
        let ahs = [0u8, 5, 2, 0, 0, 0, 0x10, 0];
        assert_eq!(decode_request(&b, &ahs), Err(PduError::Bidirectional));
        // A bidi AHS with a wrong length is malformed before it is unsupported.
        let ahs = [0u8, 4, 2, 0, 0, 0, 0x10, 0];
        assert_eq!(decode_request(&b, &ahs), Err(PduError::MalformedAhs));
    }

    #[test]
    fn reject_bad_task_attribute() {
        let b = bhs(0x01, 0x80 | 0x05);
        assert_eq!(
            decode_request(&b, &[]),
            Err(PduError::InvalidField("task attribute"))
        );
    }

    #[test]
    fn reject_unknown_and_target_opcodes() {
        for op in [0x07u8, 0x1c, 0x21, 0x3f] {
            let e = decode_request(&bhs(op, 0x80), &[]).unwrap_err();
            assert_eq!(e, PduError::UnknownOpcode(op));
            assert_eq!(e.reject_reason(), reject_reason::COMMAND_NOT_SUPPORTED);
        }
    }

    #[test]
    fn reject_ahs_on_non_command() {
        let mut b = bhs(0x00, 0x80);
        b[4] = 1;
        assert_eq!(
            decode_request(&b, &[0, 1, 1, 0]),
            Err(PduError::UnexpectedAhs)
        );
    }

    #[test]
    fn reject_data_on_logout_tmf_snack() {
        for op in [0x02u8, 0x06, 0x10] {
            let mut b = bhs(op, 0x80);
            b[7] = 4;
            assert_eq!(decode_request(&b, &[]), Err(PduError::UnexpectedData));
        }
    }

    #[test]
    fn reject_text_final_and_continue() {
        let b = bhs(0x04, 0xc0);
        assert!(matches!(
            decode_request(&b, &[]),
            Err(PduError::InvalidField(_))
        ));
    }

    #[test]
    fn decode_nop_out() {
        let mut b = bhs(0x40, 0x80);
        b[8..16].copy_from_slice(&LUN);
        set32(&mut b, 16, 1);
        set32(&mut b, 20, RESERVED_TAG);
        set32(&mut b, 24, 2);
        set32(&mut b, 28, 3);
        assert_eq!(
            decode_request(&b, &[]).unwrap(),
            Request::NopOut {
                immediate: true,
                itt: 1,
                ttt: RESERVED_TAG,
                lun: LUN,
                cmdsn: 2,
                exp_statsn: 3
            }
        );
    }

    #[test]
    fn decode_task_mgmt() {
        let mut b = bhs(0x42, 0x80 | tmf_function::ABORT_TASK);
        b[8..16].copy_from_slice(&LUN);
        for (i, at) in [16usize, 20, 24, 28, 32, 36].into_iter().enumerate() {
            set32(&mut b, at, 10 + i as u32);
        }
        assert_eq!(
            decode_request(&b, &[]).unwrap(),
            Request::TaskMgmt {
                immediate: true,
                function: 1,
                lun: LUN,
                itt: 10,
                referenced_itt: 11,
                cmdsn: 12,
                exp_statsn: 13,
                ref_cmdsn: 14,
                exp_datasn: 15
            }
        );
    }

    #[test]
    fn decode_login() {
        // T=1, CSG=1, NSG=3, like libiscsi's first PDU without CHAP.
        let mut b = bhs(0x43, 0x80 | (1 << 2) | 3);
        b[2] = 0;
        b[3] = 0;
        b[8..14].copy_from_slice(&[0x80, 1, 2, 3, 4, 5]);
        b[14] = 0;
        b[15] = 0;
        set32(&mut b, 16, 0xabcd);
        b[20] = 0;
        b[21] = 1;
        set32(&mut b, 24, 100);
        set32(&mut b, 28, 0);
        b[7] = 64;
        assert_eq!(
            decode_request(&b, &[]).unwrap(),
            Request::Login(LoginRequest {
                transit: true,
                continue_: false,
                csg: 1,
                nsg: 3,
                version_max: 0,
                version_min: 0,
                isid: [0x80, 1, 2, 3, 4, 5],
                tsih: 0,
                itt: 0xabcd,
                cid: 1,
                cmdsn: 100,
                exp_statsn: 0
            })
        );
    }

    #[test]
    fn decode_text_data_out_logout_snack() {
        let mut b = bhs(0x44, 0x80);
        set32(&mut b, 16, 5);
        set32(&mut b, 20, RESERVED_TAG);
        assert!(matches!(
            decode_request(&b, &[]).unwrap(),
            Request::Text {
                immediate: true,
                final_: true,
                continue_: false,
                itt: 5,
                ttt: RESERVED_TAG,
                ..
            }
        ));

        let mut b = bhs(0x05, 0x80);
        b[8..16].copy_from_slice(&LUN);
        set32(&mut b, 16, 1);
        set32(&mut b, 20, 2);
        set32(&mut b, 28, 3);
        set32(&mut b, 36, 4);
        set32(&mut b, 40, 8192);
        assert_eq!(
            decode_request(&b, &[]).unwrap(),
            Request::DataOut {
                final_: true,
                lun: LUN,
                itt: 1,
                ttt: 2,
                exp_statsn: 3,
                datasn: 4,
                buffer_offset: 8192
            }
        );

        let mut b = bhs(0x46, 0x80 | logout::CLOSE_CONNECTION);
        set32(&mut b, 16, 9);
        b[21] = 7;
        assert!(matches!(
            decode_request(&b, &[]).unwrap(),
            Request::Logout {
                immediate: true,
                reason: 1,
                itt: 9,
                cid: 7,
                ..
            }
        ));

        let mut b = bhs(0x10, 0x80 | 0x01);
        set32(&mut b, 40, 3);
        set32(&mut b, 44, 2);
        assert!(matches!(
            decode_request(&b, &[]).unwrap(),
            Request::Snack {
                snack_type: 1,
                beg_run: 3,
                run_length: 2,
                ..
            }
        ));
    }

    #[test]
    fn encode_scsi_response() {
        let r = ScsiResponse {
            response: 0,
            status: 0x02,
            residual: Residual::Underflow(512),
            itt: 0x11223344,
            statsn: 1,
            exp_cmdsn: 2,
            max_cmdsn: 3,
            exp_datasn: 4,
        };
        let b = r.encode(20);
        assert_eq!(b[0], 0x21);
        assert_eq!(b[1], 0x82);
        assert_eq!(&b[2..8], &[0, 2, 0, 0, 0, 20]);
        assert_eq!(&b[16..20], &[0x11, 0x22, 0x33, 0x44]);
        assert_eq!(be32(&b, 24), 1);
        assert_eq!(be32(&b, 28), 2);
        assert_eq!(be32(&b, 32), 3);
        assert_eq!(be32(&b, 36), 4);
        assert_eq!(be32(&b, 40), 0);
        assert_eq!(be32(&b, 44), 512);
        let over = ScsiResponse {
            residual: Residual::Overflow(7),
            ..r
        }
        .encode(0);
        assert_eq!(over[1], 0x84);
        assert_eq!(be32(&over, 44), 7);
    }

    #[test]
    fn encode_data_in() {
        let d = DataIn {
            final_: false,
            ack: false,
            status: None,
            residual: Residual::Underflow(9),
            lun: LUN,
            itt: 1,
            ttt: RESERVED_TAG,
            statsn: 77,
            exp_cmdsn: 2,
            max_cmdsn: 3,
            datasn: 4,
            buffer_offset: 8192,
        };
        let b = d.encode(8192);
        assert_eq!(b[0], 0x25);
        assert_eq!(b[1], 0);
        assert_eq!(data_segment_len(&b), 8192);
        assert_eq!(&b[8..16], &LUN);
        assert_eq!(be32(&b, 20), RESERVED_TAG);
        // Without S, StatSN, status and residual stay zero.
        assert_eq!(be32(&b, 24), 0);
        assert_eq!(b[3], 0);
        assert_eq!(be32(&b, 36), 4);
        assert_eq!(be32(&b, 40), 8192);
        assert_eq!(be32(&b, 44), 0);

        let b = DataIn {
            status: Some(0),
            ..d
        }
        .encode(100);
        assert_eq!(b[1], 0x80 | 0x02 | 0x01);
        assert_eq!(be32(&b, 24), 77);
        assert_eq!(be32(&b, 44), 9);
    }

    #[test]
    fn encode_r2t() {
        let b = R2T {
            lun: LUN,
            itt: 1,
            ttt: 2,
            statsn: 3,
            exp_cmdsn: 4,
            max_cmdsn: 5,
            r2tsn: 6,
            buffer_offset: 7,
            desired_len: 8,
        }
        .encode();
        assert_eq!(&b[0..8], &[0x31, 0x80, 0, 0, 0, 0, 0, 0]);
        assert_eq!(&b[8..16], &LUN);
        let fields: Vec<u32> = (16..48).step_by(4).map(|at| be32(&b, at)).collect();
        assert_eq!(fields, vec![1, 2, 3, 4, 5, 6, 7, 8]);
    }

    #[test]
    fn encode_nop_in() {
        let b = NopIn {
            lun: LUN,
            itt: RESERVED_TAG,
            ttt: 0x10,
            statsn: 1,
            exp_cmdsn: 2,
            max_cmdsn: 3,
        }
        .encode(0);
        assert_eq!(&b[0..2], &[0x20, 0x80]);
        assert_eq!(be32(&b, 16), RESERVED_TAG);
        assert_eq!(be32(&b, 20), 0x10);
        assert_eq!(be32(&b, 32), 3);
    }

    #[test]
    fn encode_task_mgmt_response() {
        let b = TaskMgmtResponse {
            response: tmf_response::FUNCTION_NOT_SUPPORTED,
            itt: 4,
            statsn: 5,
            exp_cmdsn: 6,
            max_cmdsn: 7,
        }
        .encode();
        assert_eq!(&b[0..3], &[0x22, 0x80, 5]);
        assert_eq!(be32(&b, 16), 4);
        assert_eq!(be32(&b, 24), 5);
        assert_eq!(be32(&b, 28), 6);
        assert_eq!(be32(&b, 32), 7);
    }

    #[test]
    fn encode_login_response() {
        let b = LoginResponse {
            transit: true,
            continue_: false,
            csg: 1,
            nsg: 3,
            version_max: 0,
            version_active: 0,
            isid: [0x80, 1, 2, 3, 4, 5],
            tsih: 0x1234,
            itt: 9,
            statsn: 1,
            exp_cmdsn: 2,
            max_cmdsn: 3,
            status_class: 2,
            status_detail: 1,
        }
        .encode(17);
        assert_eq!(b[0], 0x23);
        assert_eq!(b[1], 0x87);
        assert_eq!(data_segment_len(&b), 17);
        assert_eq!(&b[8..16], &[0x80, 1, 2, 3, 4, 5, 0x12, 0x34]);
        assert_eq!(be32(&b, 16), 9);
        assert_eq!(be32(&b, 24), 1);
        assert_eq!(&b[36..38], &[2, 1]);
    }

    #[test]
    fn encode_text_response() {
        let b = TextResponse {
            final_: false,
            continue_: true,
            lun: [0; 8],
            itt: 1,
            ttt: 2,
            statsn: 3,
            exp_cmdsn: 4,
            max_cmdsn: 5,
        }
        .encode(4);
        assert_eq!(&b[0..8], &[0x24, 0x40, 0, 0, 0, 0, 0, 4]);
        assert_eq!(be32(&b, 20), 2);
    }

    #[test]
    fn encode_logout_response() {
        let b = LogoutResponse {
            response: logout::RESPONSE_CLOSED,
            itt: 1,
            statsn: 2,
            exp_cmdsn: 3,
            max_cmdsn: 4,
            time2wait: 2,
            time2retain: 20,
        }
        .encode();
        assert_eq!(&b[0..3], &[0x26, 0x80, 0]);
        assert_eq!(&b[40..44], &[0, 2, 0, 20]);
    }

    #[test]
    fn encode_reject() {
        let b = Reject {
            reason: reject_reason::PROTOCOL_ERROR,
            statsn: 1,
            exp_cmdsn: 2,
            max_cmdsn: 3,
            datasn_r2tsn: 0,
        }
        .encode();
        assert_eq!(&b[0..8], &[0x3f, 0x80, 0x04, 0, 0, 0, 0, 48]);
        assert_eq!(be32(&b, 16), RESERVED_TAG);
        assert_eq!(be32(&b, 24), 1);
    }

    #[test]
    fn encode_logout_request_async_message() {
        // Every byte of the BHS of a "target requests logout" with a 10 s limit.
        let b = AsyncMessage {
            lun: [0; 8],
            statsn: 0x0102_0304,
            exp_cmdsn: 0x0506_0708,
            max_cmdsn: 0x090a_0b0c,
            event: async_event::LOGOUT_REQUEST,
            vcode: 0,
            param1: 0,
            param2: 0,
            param3: 10,
        }
        .encode(0);
        let mut expected = [0u8; BHS_LEN];
        expected[0] = 0x32; // opcode
        expected[1] = 0x80; // F
        expected[16..20].copy_from_slice(&[0xff; 4]); // reserved ITT
        expected[24..28].copy_from_slice(&[1, 2, 3, 4]);
        expected[28..32].copy_from_slice(&[5, 6, 7, 8]);
        expected[32..36].copy_from_slice(&[9, 10, 11, 12]);
        expected[36] = 1; // AsyncEvent
        expected[42..44].copy_from_slice(&[0, 10]); // Parameter3
        assert_eq!(b, expected);
    }

    #[test]
    fn encode_async_message() {
        let b = AsyncMessage {
            lun: [0; 8],
            statsn: 1,
            exp_cmdsn: 2,
            max_cmdsn: 3,
            event: 1,
            vcode: 0,
            param1: 0,
            param2: 0,
            param3: 10,
        }
        .encode(0);
        assert_eq!(&b[0..2], &[0x32, 0x80]);
        assert_eq!(be32(&b, 16), RESERVED_TAG);
        assert_eq!(&b[36..44], &[1, 0, 0, 0, 0, 0, 0, 10]);
    }

    #[test]
    fn target_headers_are_not_decodable_requests() {
        // A target PDU echoed back at us must be refused, not misread.
        let b = NopIn {
            lun: [0; 8],
            itt: 0,
            ttt: 0,
            statsn: 0,
            exp_cmdsn: 0,
            max_cmdsn: 0,
        }
        .encode(0);
        assert_eq!(decode_request(&b, &[]), Err(PduError::UnknownOpcode(0x20)));
    }
}
