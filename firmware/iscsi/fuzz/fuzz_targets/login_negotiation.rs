//! Fuzzes the login state machine with sequences of arbitrary Login Requests. Besides not
//! panicking, it checks that a login to a CHAP-protected target (or discovery) can never
//! complete: the fuzzer cannot compute MD5 responses to random challenges, so a completion
//! would be an authentication bypass. Nor can a login to a target whose portal list
//! excludes the initiator's address: that would be an authorization bypass.
#![no_main]

use iscsi::login::{
    Auth, ChapCredential, DiscoveryAccess, LoginMachine, LoginPolicy, LoginStep, TargetAccess,
};
use iscsi::params::{SessionType, TargetLimits};
use iscsi::pdu::LoginRequest;
use libfuzzer_sys::fuzz_target;
use std::net::{IpAddr, Ipv4Addr};

const OPEN: &str = "iqn.2024-01.org.dyad:open";
const LOCKED: &str = "iqn.2024-01.org.dyad:locked";
/// Open, but only to initiators on a network the fuzzed peer is not on.
const FENCED: &str = "iqn.2024-01.org.dyad:fenced";
const PEER: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));

struct Policy;

impl LoginPolicy for Policy {
    fn target(&self, name: &str) -> Option<TargetAccess> {
        let mut allowed_portals = Vec::new();
        let auth = match name {
            OPEN => Auth::None,
            LOCKED => Auth::Chap(vec![
                ChapCredential::new("user", "secretsecret").with_mutual("tuser", "tsecretsecret"),
                ChapCredential::new("other", "othersecret1"),
            ]),
            FENCED => {
                allowed_portals.push("198.51.100.0/24".parse().ok()?);
                Auth::None
            }
            _ => return None,
        };
        Some(TargetAccess {
            name: name.into(),
            alias: Some("alias".into()),
            auth,
            allowed_initiators: Vec::new(),
            allowed_portals,
        })
    }

    fn discovery(&self) -> DiscoveryAccess {
        DiscoveryAccess {
            auth: Auth::Chap(vec![ChapCredential::new("disc", "discsecretdisc")]),
            ..DiscoveryAccess::default()
        }
    }

    fn limits(&self) -> TargetLimits {
        TargetLimits::default()
    }
}

/// Input layout, repeated: flags byte (T, C, CSG, NSG as in the BHS), version-min byte,
/// an ISID-variation byte, a 2-byte data length, then that many data bytes.
fn next_pdu(data: &mut &[u8]) -> Option<(LoginRequest, Vec<u8>)> {
    let (&[flags, version_min, isid, l0, l1], rest) = data.split_first_chunk::<5>()?;
    let len = usize::from(u16::from_be_bytes([l0, l1]));
    let body = rest.get(..len).unwrap_or(rest);
    *data = rest.get(body.len()..).unwrap_or_default();
    let req = LoginRequest {
        transit: flags & 0x80 != 0,
        continue_: flags & 0x40 != 0,
        csg: (flags >> 2) & 3,
        nsg: flags & 3,
        version_max: 0,
        version_min,
        isid: [0x80, 0, 0, 0, 0, isid & 1],
        tsih: 0,
        itt: 1,
        cid: 0,
        cmdsn: 0,
        exp_statsn: 0,
    };
    Some((req, body.to_vec()))
}

fuzz_target!(|data: &[u8]| {
    let mut m = LoginMachine::new(1, PEER);
    let mut input = data;
    let mut failed = false;
    while let Some((req, body)) = next_pdu(&mut input) {
        let step = m.step(&Policy, &req, &body);
        match step {
            LoginStep::Respond { header, data } => {
                assert!(!failed, "a failed login answered successfully");
                assert_eq!((header.status_class, header.status_detail), (0, 0));
                assert!(data.len() <= iscsi::login::MAX_RESPONSE_TEXT);
            }
            LoginStep::Complete {
                header,
                params,
                data,
            } => {
                assert!(!failed, "a failed login completed");
                assert!(header.transit && header.nsg == 3);
                assert!(data.len() <= iscsi::login::MAX_RESPONSE_TEXT);
                assert!(params.first_burst_length <= params.max_burst_length);
                assert!(params.max_recv_data_segment_length >= 512);
                assert!(params.max_xmit_data_segment_length >= 512);
                assert_eq!(params.error_recovery_level, 0);
                assert_eq!(params.max_connections, 1);
                match params.session_type {
                    SessionType::Discovery => panic!("discovery CHAP bypassed"),
                    SessionType::Normal => {
                        assert_eq!(
                            params.target_name.as_deref(),
                            Some(OPEN),
                            "CHAP or initiator-portal bypassed"
                        )
                    }
                }
                assert!(m.is_complete());
            }
            LoginStep::Fail { header, data } => {
                assert_ne!(header.status_class, 0);
                assert!(data.is_empty());
                assert!(m.is_failed());
                failed = true;
            }
        }
    }
});
