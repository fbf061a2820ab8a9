//! Operational parameter negotiation (RFC 7143 §6.2, §13): the target's answers to every
//! login key an initiator offers, and the resulting session parameters.
//!
//! Each key is answered according to its result function: list (first supported value of
//! the initiator's list), numerical min or max, boolean AND or OR, or declarative (no
//! answer). A value that is malformed or out of range gets `Reject` and the parameter keeps
//! its default; keys that do not apply get `Irrelevant`; unknown keys get `NotUnderstood`.

use std::collections::BTreeSet;
use std::fmt;

use crate::text::{parse_number, TextWriter};

/// Normal sessions carry SCSI; discovery sessions only SendTargets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum SessionType {
    #[default]
    Normal,
    Discovery,
}

/// The negotiated parameters of a session (and its one connection).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionParams {
    pub header_digest: bool,
    pub data_digest: bool,
    /// The most the target receives per PDU: what it declared (what the initiator may send).
    pub max_recv_data_segment_length: u32,
    /// The initiator's MaxRecvDataSegmentLength: the most the target may send per PDU.
    pub max_xmit_data_segment_length: u32,
    pub max_burst_length: u32,
    pub first_burst_length: u32,
    pub initial_r2t: bool,
    pub immediate_data: bool,
    pub max_outstanding_r2t: u32,
    pub data_pdu_in_order: bool,
    pub data_sequence_in_order: bool,
    pub default_time2wait: u16,
    pub default_time2retain: u16,
    pub error_recovery_level: u8,
    pub max_connections: u16,
    pub iscsi_protocol_level: u8,
    pub session_type: SessionType,
    pub initiator_name: String,
    pub initiator_alias: Option<String>,
    /// The target's canonical name (None for discovery sessions).
    pub target_name: Option<String>,
    pub tpgt: u16,
}

/// The defaults of RFC 7143 §13, which hold for every key not negotiated.
impl Default for SessionParams {
    fn default() -> Self {
        Self {
            header_digest: false,
            data_digest: false,
            max_recv_data_segment_length: 8192,
            max_xmit_data_segment_length: 8192,
            max_burst_length: 262_144,
            first_burst_length: 65_536,
            initial_r2t: true,
            immediate_data: true,
            max_outstanding_r2t: 1,
            data_pdu_in_order: true,
            data_sequence_in_order: true,
            default_time2wait: 2,
            default_time2retain: 20,
            error_recovery_level: 0,
            max_connections: 1,
            // RFC 7144 §2.1: the default is 1 (RFC 7143).
            iscsi_protocol_level: 1,
            session_type: SessionType::Normal,
            initiator_name: String::new(),
            initiator_alias: None,
            target_name: None,
            tpgt: 1,
        }
    }
}

/// What the target supports and offers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetLimits {
    /// Declared to the initiator: the largest data segment we accept.
    pub max_recv_data_segment_length: u32,
    pub max_burst_length: u32,
    /// Unsolicited data we buffer per command; clamped to `max_burst_length`.
    pub first_burst_length: u32,
    pub max_outstanding_r2t: u32,
    /// Whether we accept ImmediateData=Yes.
    pub immediate_data: bool,
    /// Whether we insist on InitialR2T=Yes (false: we accept unsolicited Data-Out).
    pub initial_r2t_required: bool,
    /// Whether CRC32C digests may be chosen.
    pub digests_allowed: bool,
    /// Highest iSCSIProtocolLevel (2 = RFC 7144).
    pub iscsi_protocol_level: u8,
    /// Our DefaultTime2Wait (result function max).
    pub default_time2wait: u16,
    /// Our DefaultTime2Retain (result function min). 0 by default: at ERL 0 there is no
    /// connection recovery, so no task state is kept after a connection drops.
    pub default_time2retain: u16,
}

impl Default for TargetLimits {
    fn default() -> Self {
        Self {
            max_recv_data_segment_length: 262_144,
            max_burst_length: 16_776_192,
            first_burst_length: 262_144,
            max_outstanding_r2t: 1,
            immediate_data: true,
            initial_r2t_required: false,
            digests_allowed: true,
            iscsi_protocol_level: 2,
            default_time2wait: 2,
            default_time2retain: 0,
        }
    }
}

/// Bounds of the length keys (RFC 7143 §13).
const LEN_MIN: u64 = 512;
const LEN_MAX: u64 = 16_777_215;

/// Why negotiation must end the login (initiator error, 02/00).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NegotiationError {
    /// A key negotiated or declared a second time in this login (RFC 7143 §6.1).
    RepeatedKey(String),
    /// The initiator's FirstBurstLength exceeds MaxBurstLength (RFC 7143 §13, FirstBurstLength).
    FirstBurstExceedsMaxBurst { first: u32, max: u32 },
}

impl fmt::Display for NegotiationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NegotiationError::RepeatedKey(k) => write!(f, "key {k} negotiated twice"),
            NegotiationError::FirstBurstExceedsMaxBurst { first, max } => {
                write!(f, "FirstBurstLength {first} > MaxBurstLength {max}")
            }
        }
    }
}

impl std::error::Error for NegotiationError {}

/// The target's answer to one key.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Answer {
    Value(String),
    /// Declarative keys get no answer.
    Silent,
    Reject,
    Irrelevant,
    NotUnderstood,
}

impl Answer {
    fn num(n: impl Into<u64>) -> Self {
        Answer::Value(n.into().to_string())
    }

    fn boolean(b: bool) -> Self {
        Answer::Value(if b { "Yes" } else { "No" }.to_owned())
    }
}

fn parse_bool(v: &str) -> Option<bool> {
    match v {
        "Yes" => Some(true),
        "No" => Some(false),
        _ => None,
    }
}

/// A number within `min..=max`, converted to the parameter's type.
fn parse_in<T: TryFrom<u64>>(v: &str, min: u64, max: u64) -> Option<T> {
    parse_number(v)
        .filter(|n| (min..=max).contains(n))
        .and_then(|n| T::try_from(n).ok())
}

/// Picks the first digest of the initiator's list that we support; `None` if the list is
/// malformed or names nothing we do.
fn choose_digest(list: &str, crc_allowed: bool) -> Option<bool> {
    let mut choice = None;
    for item in list.split(',') {
        match item {
            "" => return None,
            "None" if choice.is_none() => choice = Some(false),
            "CRC32C" if crc_allowed && choice.is_none() => choice = Some(true),
            // Unknown digests (vendor ones) are skipped, as RFC 7143 §6.2 allows.
            _ => {}
        }
    }
    choice
}

/// Whether `key` is one the login layer handles itself (names, session type, security).
pub fn is_login_key(key: &str) -> bool {
    matches!(
        key,
        "InitiatorName" | "InitiatorAlias" | "TargetName" | "SessionType" | "AuthMethod"
    ) || crate::chap::ChapKeys::is_chap_key(key)
}

/// Negotiates the operational keys of one login.
#[derive(Clone, Debug)]
pub struct Negotiator {
    limits: TargetLimits,
    params: SessionParams,
    seen: BTreeSet<String>,
    declared: bool,
    first_burst_offered: bool,
}

impl Negotiator {
    pub fn new(session_type: SessionType, mut limits: TargetLimits) -> Self {
        // Keep our own offer self-consistent whatever the configuration says.
        limits.max_burst_length = limits
            .max_burst_length
            .clamp(LEN_MIN as u32, LEN_MAX as u32);
        limits.first_burst_length = limits
            .first_burst_length
            .clamp(LEN_MIN as u32, limits.max_burst_length);
        limits.max_recv_data_segment_length = limits
            .max_recv_data_segment_length
            .clamp(LEN_MIN as u32, LEN_MAX as u32);
        limits.max_outstanding_r2t = limits.max_outstanding_r2t.clamp(1, 65_535);
        Self {
            limits,
            params: SessionParams {
                session_type,
                ..SessionParams::default()
            },
            seen: BTreeSet::new(),
            declared: false,
            first_burst_offered: false,
        }
    }

    pub fn params(&self) -> &SessionParams {
        &self.params
    }

    pub fn params_mut(&mut self) -> &mut SessionParams {
        &mut self.params
    }

    fn discovery(&self) -> bool {
        self.params.session_type == SessionType::Discovery
    }

    /// Answers every key of one text (login-layer keys must have been taken out). InitialR2T
    /// and ImmediateData are settled first because FirstBurstLength's relevance depends on
    /// them.
    pub fn negotiate(
        &mut self,
        pairs: &[(String, String)],
        out: &mut TextWriter,
    ) -> Result<(), NegotiationError> {
        let first = |k: &str| matches!(k, "InitialR2T" | "ImmediateData");
        let ordered = pairs
            .iter()
            .filter(|(k, _)| first(k))
            .chain(pairs.iter().filter(|(k, _)| !first(k)));
        for (key, value) in ordered {
            if !self.seen.insert(key.clone()) {
                return Err(NegotiationError::RepeatedKey(key.clone()));
            }
            match self.answer(key, value) {
                Answer::Value(v) => out.push(key, &v),
                Answer::Silent => {}
                Answer::Reject => out.push(key, "Reject"),
                Answer::Irrelevant => out.push(key, "Irrelevant"),
                Answer::NotUnderstood => out.push(key, "NotUnderstood"),
            }
        }
        Ok(())
    }

    /// Declares our MaxRecvDataSegmentLength, once per login. Only from this declaration on
    /// may the initiator send segments longer than the 8192-byte default.
    pub fn declare(&mut self, out: &mut TextWriter) {
        if !self.declared {
            self.declared = true;
            let ours = self.limits.max_recv_data_segment_length;
            out.push_num("MaxRecvDataSegmentLength", u64::from(ours));
            self.params.max_recv_data_segment_length = ours;
        }
    }

    /// Checks the cross-key rules and returns the session parameters.
    pub fn finish(mut self) -> Result<SessionParams, NegotiationError> {
        let p = &mut self.params;
        if p.first_burst_length > p.max_burst_length {
            if self.first_burst_offered {
                return Err(NegotiationError::FirstBurstExceedsMaxBurst {
                    first: p.first_burst_length,
                    max: p.max_burst_length,
                });
            }
            // Only the default collides with a small MaxBurstLength: follow it down.
            p.first_burst_length = p.max_burst_length;
        }
        Ok(self.params)
    }

    fn answer(&mut self, key: &str, value: &str) -> Answer {
        let disc = self.discovery();
        let l = &self.limits;
        let p = &mut self.params;
        match key {
            "HeaderDigest" | "DataDigest" => match choose_digest(value, l.digests_allowed) {
                Some(crc) => {
                    if key == "HeaderDigest" {
                        p.header_digest = crc;
                    } else {
                        p.data_digest = crc;
                    }
                    Answer::Value(if crc { "CRC32C" } else { "None" }.to_owned())
                }
                None => Answer::Reject,
            },
            "MaxRecvDataSegmentLength" => match parse_in::<u32>(value, LEN_MIN, LEN_MAX) {
                Some(n) => {
                    p.max_xmit_data_segment_length = n;
                    Answer::Silent
                }
                None => Answer::Reject,
            },
            "ErrorRecoveryLevel" => match parse_in::<u8>(value, 0, 2) {
                // We implement ERL 0 only: min(offer, 0).
                Some(_) => {
                    p.error_recovery_level = 0;
                    Answer::num(0u8)
                }
                None => Answer::Reject,
            },
            "DefaultTime2Wait" => match parse_in::<u16>(value, 0, 3600) {
                Some(n) => {
                    let v = n.max(l.default_time2wait.min(3600));
                    p.default_time2wait = v;
                    Answer::num(v)
                }
                None => Answer::Reject,
            },
            "DefaultTime2Retain" => match parse_in::<u16>(value, 0, 3600) {
                Some(n) => {
                    let v = n.min(l.default_time2retain);
                    p.default_time2retain = v;
                    Answer::num(v)
                }
                None => Answer::Reject,
            },
            "iSCSIProtocolLevel" => match parse_in::<u8>(value, 0, 31) {
                Some(n) => {
                    let v = n.min(l.iscsi_protocol_level);
                    p.iscsi_protocol_level = v;
                    Answer::num(v)
                }
                None => Answer::Reject,
            },
            // Session-wide keys that do not apply to discovery sessions (RFC 7143 §13).
            "MaxConnections"
            | "InitialR2T"
            | "ImmediateData"
            | "MaxBurstLength"
            | "FirstBurstLength"
            | "MaxOutstandingR2T"
            | "DataPDUInOrder"
            | "DataSequenceInOrder"
                if disc =>
            {
                Answer::Irrelevant
            }
            "MaxConnections" => match parse_in::<u16>(value, 1, 65_535) {
                // One connection per session: min(offer, 1).
                Some(_) => {
                    p.max_connections = 1;
                    Answer::num(1u8)
                }
                None => Answer::Reject,
            },
            "InitialR2T" => match parse_bool(value) {
                // OR: Yes if either side wants it.
                Some(b) => {
                    p.initial_r2t = b || l.initial_r2t_required;
                    Answer::boolean(p.initial_r2t)
                }
                None => Answer::Reject,
            },
            "ImmediateData" => match parse_bool(value) {
                // AND: Yes only if both sides want it.
                Some(b) => {
                    p.immediate_data = b && l.immediate_data;
                    Answer::boolean(p.immediate_data)
                }
                None => Answer::Reject,
            },
            "MaxBurstLength" => match parse_in::<u32>(value, LEN_MIN, LEN_MAX) {
                Some(n) => {
                    let v = n.min(l.max_burst_length);
                    p.max_burst_length = v;
                    Answer::num(v)
                }
                None => Answer::Reject,
            },
            "FirstBurstLength" => {
                // RFC 7143 §13 (FirstBurstLength): irrelevant when no unsolicited data can be sent.
                if p.initial_r2t && !p.immediate_data {
                    return Answer::Irrelevant;
                }
                match parse_in::<u32>(value, LEN_MIN, LEN_MAX) {
                    Some(n) => {
                        let v = n.min(l.first_burst_length);
                        p.first_burst_length = v;
                        self.first_burst_offered = true;
                        Answer::num(v)
                    }
                    None => Answer::Reject,
                }
            }
            "MaxOutstandingR2T" => match parse_in::<u32>(value, 1, 65_535) {
                Some(n) => {
                    let v = n.min(l.max_outstanding_r2t);
                    p.max_outstanding_r2t = v;
                    Answer::num(v)
                }
                None => Answer::Reject,
            },
            // Result function OR (RFC 7143 §13, DataPDUInOrder and DataSequenceInOrder); we need in-order data, so the
            // answer is always Yes.
            "DataPDUInOrder" | "DataSequenceInOrder" => match parse_bool(value) {
                Some(_) => Answer::boolean(true),
                None => Answer::Reject,
            },
            // Markers were dropped by RFC 7143 (§13, obsoleted keys); "No" keeps RFC 3720 initiators happy.
            "IFMarker" | "OFMarker" => match parse_bool(value) {
                Some(_) => Answer::boolean(false),
                None => Answer::Reject,
            },
            "IFMarkInt" | "OFMarkInt" => Answer::Irrelevant,
            // RFC 7143 §13 (TaskReporting): we only implement the original task reporting semantics.
            "TaskReporting" => {
                if value.split(',').any(|v| v == "RFC3720") {
                    Answer::Value("RFC3720".to_owned())
                } else {
                    Answer::Reject
                }
            }
            // iSER (RFC 7145) keys: this is a TCP transport.
            "RDMAExtensions" => match parse_bool(value) {
                Some(_) => Answer::boolean(false),
                None => Answer::Reject,
            },
            "InitiatorRecvDataSegmentLength" | "TargetRecvDataSegmentLength" => Answer::Irrelevant,
            // Keys the target sends, or that belong to Text requests, not to an initiator's
            // login offer.
            "SendTargets" | "TargetAddress" | "TargetAlias" | "TargetPortalGroupTag" => {
                Answer::Irrelevant
            }
            _ => Answer::NotUnderstood,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::parse;

    fn run(
        session_type: SessionType,
        limits: TargetLimits,
        offer: &[(&str, &str)],
    ) -> (
        Vec<(String, String)>,
        Result<SessionParams, NegotiationError>,
    ) {
        let mut n = Negotiator::new(session_type, limits);
        let pairs: Vec<(String, String)> = offer
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut out = TextWriter::new();
        n.negotiate(&pairs, &mut out).unwrap();
        (parse(out.as_bytes()).unwrap(), n.finish())
    }

    fn answer_of(key: &str, value: &str) -> Option<String> {
        answer_with(TargetLimits::default(), SessionType::Normal, key, value)
    }

    fn answer_with(
        limits: TargetLimits,
        st: SessionType,
        key: &str,
        value: &str,
    ) -> Option<String> {
        let (answers, _) = run(st, limits, &[(key, value)]);
        answers.into_iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    #[test]
    fn defaults_are_rfc7143() {
        let p = SessionParams::default();
        assert_eq!(p.max_recv_data_segment_length, 8192);
        assert_eq!(p.max_xmit_data_segment_length, 8192);
        assert_eq!(p.max_burst_length, 262_144);
        assert_eq!(p.first_burst_length, 65_536);
        assert!(p.initial_r2t && p.immediate_data);
        assert!(p.data_pdu_in_order && p.data_sequence_in_order);
        assert_eq!((p.default_time2wait, p.default_time2retain), (2, 20));
        assert_eq!((p.error_recovery_level, p.max_connections), (0, 1));
        assert_eq!(p.max_outstanding_r2t, 1);
        assert!(!p.header_digest && !p.data_digest);
    }

    #[test]
    fn table_per_key() {
        let s = |v: &str| Some(v.to_string());
        let cases: &[(&str, &str, Option<String>)] = &[
            ("HeaderDigest", "CRC32C,None", s("CRC32C")),
            ("HeaderDigest", "None,CRC32C", s("None")),
            ("HeaderDigest", "None", s("None")),
            ("HeaderDigest", "CRC32C", s("CRC32C")),
            ("HeaderDigest", "Vendor,CRC32C", s("CRC32C")),
            ("HeaderDigest", "Vendor", s("Reject")),
            ("HeaderDigest", "CRC32C,,None", s("Reject")),
            ("DataDigest", "CRC32C", s("CRC32C")),
            ("MaxConnections", "4", s("1")),
            ("MaxConnections", "0", s("Reject")),
            ("MaxConnections", "65536", s("Reject")),
            ("InitialR2T", "No", s("No")),
            ("InitialR2T", "Yes", s("Yes")),
            ("InitialR2T", "yes", s("Reject")),
            ("ImmediateData", "Yes", s("Yes")),
            ("ImmediateData", "No", s("No")),
            ("ImmediateData", "Maybe", s("Reject")),
            ("MaxRecvDataSegmentLength", "65536", None),
            ("MaxRecvDataSegmentLength", "511", s("Reject")),
            ("MaxRecvDataSegmentLength", "16777216", s("Reject")),
            ("MaxRecvDataSegmentLength", "x", s("Reject")),
            ("MaxBurstLength", "262144", s("262144")),
            ("MaxBurstLength", "16777215", s("16776192")),
            ("MaxBurstLength", "100", s("Reject")),
            ("FirstBurstLength", "65536", s("65536")),
            ("FirstBurstLength", "1048576", s("262144")),
            ("FirstBurstLength", "16777216", s("Reject")),
            ("DefaultTime2Wait", "0", s("2")),
            ("DefaultTime2Wait", "10", s("10")),
            ("DefaultTime2Wait", "3601", s("Reject")),
            ("DefaultTime2Retain", "20", s("0")),
            ("DefaultTime2Retain", "3601", s("Reject")),
            ("MaxOutstandingR2T", "8", s("1")),
            ("MaxOutstandingR2T", "0", s("Reject")),
            ("DataPDUInOrder", "No", s("Yes")),
            ("DataPDUInOrder", "Yes", s("Yes")),
            ("DataSequenceInOrder", "No", s("Yes")),
            ("DataSequenceInOrder", "1", s("Reject")),
            ("ErrorRecoveryLevel", "2", s("0")),
            ("ErrorRecoveryLevel", "0", s("0")),
            ("ErrorRecoveryLevel", "3", s("Reject")),
            ("iSCSIProtocolLevel", "1", s("1")),
            ("iSCSIProtocolLevel", "5", s("2")),
            ("iSCSIProtocolLevel", "32", s("Reject")),
            ("IFMarker", "Yes", s("No")),
            ("OFMarker", "No", s("No")),
            ("OFMarkInt", "2048~8192", s("Irrelevant")),
            ("IFMarkInt", "2048", s("Irrelevant")),
            ("TaskReporting", "ResponseFence,RFC3720", s("RFC3720")),
            ("TaskReporting", "FastAbort", s("Reject")),
            ("RDMAExtensions", "Yes", s("No")),
            ("InitiatorRecvDataSegmentLength", "8192", s("Irrelevant")),
            ("SendTargets", "All", s("Irrelevant")),
            ("TargetAlias", "x", s("Irrelevant")),
            ("X-com.example.Thing", "1", s("NotUnderstood")),
            ("X#NodeArchitecture", "x", s("NotUnderstood")),
            ("SomethingElse", "1", s("NotUnderstood")),
        ];
        for (key, value, expected) in cases {
            assert_eq!(&answer_of(key, value), expected, "{key}={value}");
        }
    }

    #[test]
    fn numbers_in_hex_are_accepted() {
        assert_eq!(
            answer_of("MaxBurstLength", "0x40000"),
            Some("262144".into())
        );
    }

    #[test]
    fn limits_shape_answers() {
        let strict = TargetLimits {
            digests_allowed: false,
            immediate_data: false,
            initial_r2t_required: true,
            max_outstanding_r2t: 4,
            ..TargetLimits::default()
        };
        let st = SessionType::Normal;
        assert_eq!(
            answer_with(strict.clone(), st, "HeaderDigest", "CRC32C,None"),
            Some("None".into())
        );
        assert_eq!(
            answer_with(strict.clone(), st, "DataDigest", "CRC32C"),
            Some("Reject".into())
        );
        assert_eq!(
            answer_with(strict.clone(), st, "ImmediateData", "Yes"),
            Some("No".into())
        );
        assert_eq!(
            answer_with(strict.clone(), st, "InitialR2T", "No"),
            Some("Yes".into())
        );
        assert_eq!(
            answer_with(strict, st, "MaxOutstandingR2T", "8"),
            Some("4".into())
        );
    }

    #[test]
    fn libiscsi_offer() {
        // What libiscsi sends in its operational stage (lib/login.c).
        let (answers, params) = run(
            SessionType::Normal,
            TargetLimits::default(),
            &[
                ("HeaderDigest", "None,CRC32C"),
                ("DataDigest", "None"),
                ("InitialR2T", "Yes"),
                ("ImmediateData", "Yes"),
                ("MaxBurstLength", "262144"),
                ("FirstBurstLength", "262144"),
                ("DefaultTime2Wait", "2"),
                ("DefaultTime2Retain", "0"),
                ("MaxOutstandingR2T", "1"),
                ("ErrorRecoveryLevel", "0"),
                ("IFMarker", "No"),
                ("OFMarker", "No"),
                ("MaxConnections", "1"),
                ("MaxRecvDataSegmentLength", "262144"),
                ("DataPDUInOrder", "Yes"),
                ("DataSequenceInOrder", "Yes"),
            ],
        );
        let p = params.unwrap();
        assert!(!p.header_digest && !p.data_digest);
        assert!(p.initial_r2t && p.immediate_data);
        assert_eq!(p.max_burst_length, 262_144);
        assert_eq!(p.first_burst_length, 262_144);
        assert_eq!(p.max_xmit_data_segment_length, 262_144);
        assert_eq!(p.default_time2retain, 0);
        // Every key but the declarative one is answered.
        assert_eq!(answers.len(), 15);
        assert!(answers.iter().all(|(k, _)| k != "MaxRecvDataSegmentLength"));
    }

    #[test]
    fn first_burst_above_max_burst_fails() {
        let (_, r) = run(
            SessionType::Normal,
            TargetLimits::default(),
            &[("MaxBurstLength", "65536"), ("FirstBurstLength", "131072")],
        );
        assert_eq!(
            r,
            Err(NegotiationError::FirstBurstExceedsMaxBurst {
                first: 131_072,
                max: 65_536
            })
        );
    }

    #[test]
    fn default_first_burst_follows_small_max_burst() {
        let (_, r) = run(
            SessionType::Normal,
            TargetLimits::default(),
            &[("MaxBurstLength", "4096")],
        );
        let p = r.unwrap();
        assert_eq!((p.first_burst_length, p.max_burst_length), (4096, 4096));
    }

    #[test]
    fn first_burst_irrelevant_without_unsolicited_data() {
        // Order in the text must not matter: ImmediateData comes after FirstBurstLength.
        let (answers, _) = run(
            SessionType::Normal,
            TargetLimits::default(),
            &[
                ("FirstBurstLength", "65536"),
                ("InitialR2T", "Yes"),
                ("ImmediateData", "No"),
            ],
        );
        assert!(answers.contains(&("FirstBurstLength".into(), "Irrelevant".into())));
    }

    #[test]
    fn discovery_session_keys() {
        let d = SessionType::Discovery;
        let l = TargetLimits::default;
        for key in [
            "MaxConnections",
            "InitialR2T",
            "ImmediateData",
            "MaxBurstLength",
            "FirstBurstLength",
            "MaxOutstandingR2T",
            "DataPDUInOrder",
            "DataSequenceInOrder",
        ] {
            assert_eq!(
                answer_with(l(), d, key, "1"),
                Some("Irrelevant".into()),
                "{key}"
            );
        }
        assert_eq!(
            answer_with(l(), d, "HeaderDigest", "None"),
            Some("None".into())
        );
        assert_eq!(
            answer_with(l(), d, "MaxRecvDataSegmentLength", "8192"),
            None
        );
    }

    #[test]
    fn repeated_key_is_an_error() {
        let mut n = Negotiator::new(SessionType::Normal, TargetLimits::default());
        let mut out = TextWriter::new();
        let p = vec![("MaxBurstLength".to_string(), "65536".to_string())];
        n.negotiate(&p, &mut out).unwrap();
        assert_eq!(
            n.negotiate(&p, &mut out),
            Err(NegotiationError::RepeatedKey("MaxBurstLength".into()))
        );
        // Unknown keys count too: an initiator cannot loop forever on them.
        let u = vec![("Foo".to_string(), "1".to_string())];
        n.negotiate(&u, &mut out).unwrap();
        assert!(n.negotiate(&u, &mut out).is_err());
    }

    #[test]
    fn declaration_once() {
        let mut n = Negotiator::new(SessionType::Normal, TargetLimits::default());
        let mut out = TextWriter::new();
        n.declare(&mut out);
        n.declare(&mut out);
        assert_eq!(out.as_bytes(), b"MaxRecvDataSegmentLength=262144\0");
        assert_eq!(n.finish().unwrap().max_recv_data_segment_length, 262_144);
        // Without a declaration the initiator must assume the default.
        let n = Negotiator::new(SessionType::Normal, TargetLimits::default());
        assert_eq!(n.finish().unwrap().max_recv_data_segment_length, 8192);
    }

    #[test]
    fn inconsistent_limits_are_clamped() {
        let limits = TargetLimits {
            max_burst_length: 65_536,
            first_burst_length: 1 << 20,
            max_recv_data_segment_length: 1 << 30,
            max_outstanding_r2t: 0,
            ..TargetLimits::default()
        };
        assert_eq!(
            answer_with(
                limits.clone(),
                SessionType::Normal,
                "FirstBurstLength",
                "1048576"
            ),
            Some("65536".into())
        );
        assert_eq!(
            answer_with(
                limits.clone(),
                SessionType::Normal,
                "MaxOutstandingR2T",
                "5"
            ),
            Some("1".into())
        );
        let mut n = Negotiator::new(SessionType::Normal, limits);
        let mut out = TextWriter::new();
        n.declare(&mut out);
        assert_eq!(out.as_bytes(), b"MaxRecvDataSegmentLength=16777215\0");
    }

    #[test]
    fn login_keys() {
        for k in [
            "InitiatorName",
            "TargetName",
            "SessionType",
            "AuthMethod",
            "CHAP_R",
        ] {
            assert!(is_login_key(k));
        }
        assert!(!is_login_key("MaxBurstLength"));
    }
}
