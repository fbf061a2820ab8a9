//! APTPL (activate persist through power loss, SPC-4 §5.13.5): a LUN's persistent
//! reservations saved in the parameter store whenever they change under APTPL, and restored
//! when the LUN comes up. The store writes atomically, so a crash leaves the old record or the
//! new one; the record carries a version and a CRC so that anything else is refused by name
//! instead of restoring reservations nobody made.

use crate::backend::BlockBackend;
use crate::lun::{Lun, LunId};
use crate::reservations::PersistentReservations;
use crate::store::ParameterStore;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

/// Where the record lives in the parameter store.
pub(crate) const STORE_KEY: &str = "reservations";
/// Record layout: MAGIC, VERSION, postcard-encoded state, CRC-32C of everything before it.
const MAGIC: &[u8; 4] = b"DYPR";
const VERSION: u8 = 1;
const CRC: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISCSI);

pub(crate) fn encode(state: &PersistentReservations) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(MAGIC);
    out.push(VERSION);
    // Serialising into a Vec cannot fail for this type (no maps with non-string keys, no
    // unbounded sequences postcard refuses); an empty body would be refused on load anyway.
    out.extend(postcard::to_allocvec(state).unwrap_or_default());
    let crc = CRC.checksum(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// The state in a record, or what is wrong with the record.
pub(crate) fn decode(record: &[u8]) -> Result<PersistentReservations, String> {
    let (body, crc) = record
        .split_last_chunk::<4>()
        .ok_or_else(|| String::from("shorter than its header"))?;
    if CRC.checksum(body) != u32::from_le_bytes(*crc) {
        return Err(String::from("checksum mismatch"));
    }
    let rest = body
        .strip_prefix(MAGIC.as_slice())
        .ok_or_else(|| String::from("not a reservations record"))?;
    let (&version, encoded) = rest
        .split_first()
        .ok_or_else(|| String::from("no version"))?;
    if version != VERSION {
        return Err(format!("version {version}, this firmware reads {VERSION}"));
    }
    let state: PersistentReservations =
        postcard::from_bytes(encoded).map_err(|e| format!("undecodable: {e}"))?;
    if !state.is_consistent() {
        return Err(String::from(
            "a reservation without its holder's registration",
        ));
    }
    Ok(state)
}

/// Saves `state` for `lun`; without APTPL the record still replaces the last one, so that
/// turning APTPL off also forgets what was saved.
pub(crate) fn save(
    store: &dyn ParameterStore,
    lun: LunId,
    state: &PersistentReservations,
) -> Result<(), String> {
    store.save(lun, STORE_KEY, &encode(state))
}

/// Makes the saved reservations current when the LUN comes up, as a power on does: only a
/// record saved under APTPL survives it. Returns what was wrong with a record it ignored.
pub(crate) fn restore_reservations<B: BlockBackend>(
    lun: &Lun<B>,
    store: &dyn ParameterStore,
) -> Option<String> {
    let record = store.load(lun.id(), STORE_KEY)?;
    match decode(&record) {
        Ok(state) => {
            *lun.reservations.borrow_mut() = state.after_power_on();
            None
        }
        Err(why) => Some(format!(
            "LUN {}: saved persistent reservations ignored ({why}); starting with none",
            lun.id().0
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nexus::InitiatorPort;
    use crate::reservations::{ITNexus, ProutParameters, ReservationType};
    use alloc::string::ToString;

    fn registered_and_reserved(aptpl: bool) -> PersistentReservations {
        let a = ITNexus {
            initiator: InitiatorPort {
                name: "iqn.a".to_string(),
                isid: [0x40, 0, 1, 0x37, 0, 1],
            },
            relative_target_port: 1,
        };
        let mut pr = PersistentReservations::new();
        let register = ProutParameters {
            service_action_key: 0xAA,
            aptpl,
            ..ProutParameters::default()
        };
        assert!(pr.register(&a, &register).is_ok());
        let reserve = ProutParameters {
            reservation_key: 0xAA,
            type_code: ReservationType::WriteExclusive.code(),
            ..ProutParameters::default()
        };
        assert!(pr.reserve(&a, &reserve).is_ok());
        pr
    }

    #[test]
    fn a_record_round_trips() {
        let pr = registered_and_reserved(true);
        assert_eq!(decode(&encode(&pr)), Ok(pr));
    }

    /// Every kind of damage is refused with a reason, never restored.
    #[test]
    fn damaged_records_are_refused_by_name() {
        let good = encode(&registered_and_reserved(true));
        let mut flipped = good.clone();
        flipped[7] ^= 0x10;
        let mut wrong_magic = good.clone();
        wrong_magic[0] = b'X';
        let crc = CRC
            .checksum(&wrong_magic[..wrong_magic.len() - 4])
            .to_le_bytes();
        let n = wrong_magic.len();
        wrong_magic[n - 4..].copy_from_slice(&crc);
        let mut future = good.clone();
        future[4] = 2;
        let crc = CRC.checksum(&future[..n - 4]).to_le_bytes();
        future[n - 4..].copy_from_slice(&crc);
        let mut garbage = MAGIC.to_vec();
        garbage.push(VERSION);
        garbage.extend_from_slice(&[0xFF; 9]);
        let crc = CRC.checksum(&garbage).to_le_bytes();
        garbage.extend_from_slice(&crc);
        let cases: [(&str, &[u8], &str); 6] = [
            ("empty", &[], "shorter"),
            ("torn", &good[..good.len() / 2], "checksum"),
            ("bit flip", &flipped, "checksum"),
            ("another record", &wrong_magic, "not a reservations record"),
            ("newer firmware", &future, "version 2"),
            ("undecodable", &garbage, "undecodable"),
        ];
        for (what, record, reason) in cases {
            match decode(record) {
                Err(why) => assert!(why.contains(reason), "{what}: {why}"),
                Ok(_) => panic!("{what} was accepted"),
            }
        }
    }

    #[test]
    fn only_aptpl_state_survives_a_power_on() {
        let kept = decode(&encode(&registered_and_reserved(true)))
            .unwrap()
            .after_power_on();
        assert_eq!(kept.registrants().len(), 1);
        assert!(kept.reservation().is_some());
        let gone = decode(&encode(&registered_and_reserved(false)))
            .unwrap()
            .after_power_on();
        assert_eq!(gone, PersistentReservations::new());
    }
}
