//! The `Hello` each controller sends when a link comes up, and the compatibility check.
//!
//! `Hello` is postcard-encoded and its first field, `protocol_version`, stays first forever:
//! any future firmware can read it and say which version the peer speaks. Its encoded bytes
//! are pinned by a test. New data goes into new [`crate::Message`] variants, never new
//! `Hello` fields of this version; decoding tolerates trailing bytes so a later version may
//! append fields that this one ignores.

use blake2::{Blake2s256, Digest};
use serde::{Deserialize, Serialize};

/// The protocol this firmware speaks.
///
/// History: 1, the first (Noise NNpsk0 handshake, this catalogue).
pub const PROTOCOL_VERSION: u16 = 1;
/// The oldest peer version this firmware links with.
pub const MIN_COMPATIBLE_VERSION: u16 = 1;

/// CTL's HA modes (`kern.cam.ctl.ha_mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum HaMode {
    /// 0: only the primary serves a LUN; the secondary reports Standby.
    ActiveStandby,
    /// 1: both serve; the secondary asks the primary to order each command, then runs it.
    SerializeOnly,
    /// 2: both serve; the secondary forwards commands and proxies their data.
    Transfer,
}

/// Sizes both controllers must agree on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Largest frame body this side accepts (at most [`crate::frame::MAX_BODY`]).
    pub max_frame: u32,
    /// Largest proxied transfer (one command's data), in bytes; moved in chunks.
    pub max_transfer: u32,
    pub max_luns: u32,
    pub max_ports: u32,
    pub max_initiators_per_port: u32,
}

/// A BLAKE2s-256 digest over a canonical encoding of some configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprint(pub [u8; 32]);

impl Fingerprint {
    /// The fingerprint of `parts`, each length-prefixed so that boundaries count.
    pub fn of<'a>(parts: impl IntoIterator<Item = &'a [u8]>) -> Self {
        let mut h = Blake2s256::new();
        h.update(b"dyad interlink fingerprint v1");
        for p in parts {
            h.update((p.len() as u64).to_le_bytes());
            h.update(p);
        }
        Fingerprint(h.finalize().into())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// First field, forever.
    pub protocol_version: u16,
    /// 1 or 2.
    pub controller: u8,
    pub ha_mode: HaMode,
    pub limits: Limits,
    /// The whole configuration (ctl.conf as applied); a difference is reported, not refused.
    pub config_fingerprint: Fingerprint,
    /// The LUNs both must serve (ids and device identities); a difference is refused.
    pub lun_set: Fingerprint,
    /// The sender's last link epoch; the new link's epoch is one more than both.
    pub epoch: u64,
}

/// Why a controller refuses its peer. Sent to the peer (sealed) before the link drops.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PeerRefused {
    UnsupportedVersion {
        ours: u16,
        theirs: u16,
    },
    /// The peer's controller id is neither 1 nor 2.
    BadControllerId(u8),
    SameControllerId(u8),
    OtherHaMode {
        ours: HaMode,
        theirs: HaMode,
    },
    OtherLunSet,
    /// The LUN, port or initiator limits differ (CTL refuses that too).
    OtherLimits,
}

impl core::fmt::Display for PeerRefused {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            PeerRefused::UnsupportedVersion { ours, theirs } => write!(
                f,
                "peer speaks interlink protocol {theirs}, this firmware {ours} (oldest {MIN_COMPATIBLE_VERSION})"
            ),
            PeerRefused::BadControllerId(id) => write!(f, "peer has controller id {id}, not 1 or 2"),
            PeerRefused::SameControllerId(id) => {
                write!(f, "peer is controller {id} too: one must be 1, the other 2")
            }
            PeerRefused::OtherHaMode { ours, theirs } => {
                write!(f, "peer runs HA mode {theirs:?}, this controller {ours:?}")
            }
            PeerRefused::OtherLunSet => write!(f, "peer serves another set of LUNs"),
            PeerRefused::OtherLimits => {
                write!(f, "peer has other LUN, port or initiator limits")
            }
        }
    }
}

impl Hello {
    /// The postcard encoding.
    pub fn encode(&self) -> alloc::vec::Vec<u8> {
        postcard::to_allocvec(self).expect("a Hello always encodes")
    }

    /// Decodes a Hello, ignoring trailing bytes a later version may append.
    pub fn decode(bytes: &[u8]) -> Result<Hello, postcard::Error> {
        postcard::take_from_bytes(bytes).map(|(h, _)| h)
    }

    /// The protocol version of an encoded Hello of any version.
    pub fn peek_version(bytes: &[u8]) -> Option<u16> {
        postcard::take_from_bytes::<u16>(bytes).ok().map(|(v, _)| v)
    }
}

/// Whether this controller (`mine`) links with `theirs`; the same answer on both sides.
pub fn check_peer(mine: &Hello, theirs: &Hello) -> Result<(), PeerRefused> {
    if !(MIN_COMPATIBLE_VERSION..=PROTOCOL_VERSION).contains(&theirs.protocol_version) {
        return Err(PeerRefused::UnsupportedVersion {
            ours: mine.protocol_version,
            theirs: theirs.protocol_version,
        });
    }
    if !matches!(theirs.controller, 1 | 2) {
        return Err(PeerRefused::BadControllerId(theirs.controller));
    }
    if theirs.controller == mine.controller {
        return Err(PeerRefused::SameControllerId(theirs.controller));
    }
    if theirs.ha_mode != mine.ha_mode {
        return Err(PeerRefused::OtherHaMode {
            ours: mine.ha_mode,
            theirs: theirs.ha_mode,
        });
    }
    if theirs.lun_set != mine.lun_set {
        return Err(PeerRefused::OtherLunSet);
    }
    let (a, b) = (mine.limits, theirs.limits);
    if (a.max_luns, a.max_ports, a.max_initiators_per_port)
        != (b.max_luns, b.max_ports, b.max_initiators_per_port)
    {
        return Err(PeerRefused::OtherLimits);
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn sample(controller: u8) -> Hello {
        Hello {
            protocol_version: PROTOCOL_VERSION,
            controller,
            ha_mode: HaMode::SerializeOnly,
            limits: Limits {
                max_frame: 65543,
                max_transfer: 1 << 20,
                max_luns: 1024,
                max_ports: 256,
                max_initiators_per_port: 2048,
            },
            config_fingerprint: Fingerprint([0xC0; 32]),
            lun_set: Fingerprint([0x15; 32]),
            epoch: 300,
        }
    }

    /// Old and new firmware must read each other's Hello: these bytes never change for
    /// protocol version 1. A failure here means the wire format changed; bump
    /// PROTOCOL_VERSION and keep version 1 readable instead of editing this test.
    #[test]
    fn hello_bytes_are_pinned() {
        let mut want = alloc::vec![
            0x01, // protocol_version 1
            0x01, // controller 1
            0x01, // SerializeOnly
            0x87, 0x80, 0x04, // max_frame 65543
            0x80, 0x80, 0x40, // max_transfer 1 MiB
            0x80, 0x08, // max_luns 1024
            0x80, 0x02, // max_ports 256
            0x80, 0x10, // max_initiators_per_port 2048
        ];
        want.extend_from_slice(&[0xC0; 32]);
        want.extend_from_slice(&[0x15; 32]);
        want.extend_from_slice(&[0xAC, 0x02]); // epoch 300
        assert_eq!(sample(1).encode(), want);
        assert_eq!(Hello::decode(&want).unwrap(), sample(1));
        assert_eq!(Hello::peek_version(&want), Some(1));
    }

    #[test]
    fn a_later_hello_with_appended_fields_still_decodes() {
        let mut bytes = sample(2).encode();
        bytes.extend_from_slice(&[1, 2, 3]);
        assert_eq!(Hello::decode(&bytes).unwrap(), sample(2));
        let mut v9 = sample(2);
        v9.protocol_version = 9;
        assert_eq!(Hello::peek_version(&v9.encode()), Some(9));
    }

    #[test]
    fn matching_peers_link() {
        let (a, mut b) = (sample(1), sample(2));
        b.config_fingerprint = Fingerprint([0; 32]); // reported, not refused
        b.limits.max_frame = 4096; // transport sizes may differ
        assert_eq!(check_peer(&a, &b), Ok(()));
        assert_eq!(check_peer(&b, &a), Ok(()));
    }

    #[test]
    fn each_refusal_is_named() {
        let a = sample(1);
        assert_eq!(
            check_peer(&a, &sample(1)),
            Err(PeerRefused::SameControllerId(1))
        );
        assert_eq!(
            check_peer(
                &a,
                &Hello {
                    controller: 3,
                    ..sample(2)
                }
            ),
            Err(PeerRefused::BadControllerId(3))
        );
        assert_eq!(
            check_peer(
                &a,
                &Hello {
                    ha_mode: HaMode::Transfer,
                    ..sample(2)
                }
            ),
            Err(PeerRefused::OtherHaMode {
                ours: HaMode::SerializeOnly,
                theirs: HaMode::Transfer
            })
        );
        assert_eq!(
            check_peer(
                &a,
                &Hello {
                    lun_set: Fingerprint([0; 32]),
                    ..sample(2)
                }
            ),
            Err(PeerRefused::OtherLunSet)
        );
        assert_eq!(
            check_peer(
                &a,
                &Hello {
                    protocol_version: 2,
                    ..sample(2)
                }
            ),
            Err(PeerRefused::UnsupportedVersion { ours: 1, theirs: 2 })
        );
        assert_eq!(
            check_peer(
                &a,
                &Hello {
                    protocol_version: 0,
                    ..sample(2)
                }
            ),
            Err(PeerRefused::UnsupportedVersion { ours: 1, theirs: 0 })
        );
        let mut b = sample(2);
        b.limits.max_luns = 1;
        assert_eq!(check_peer(&a, &b), Err(PeerRefused::OtherLimits));
    }

    #[test]
    fn fingerprints_count_boundaries() {
        assert_ne!(
            Fingerprint::of([&b"ab"[..], b"c"]),
            Fingerprint::of([&b"a"[..], b"bc"])
        );
        assert_eq!(Fingerprint::of([&b"ab"[..]]), Fingerprint::of([&b"ab"[..]]));
    }
}
