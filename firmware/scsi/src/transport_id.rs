//! iSCSI TransportIDs (SPC-4 §7.6.4.6) as PERSISTENT RESERVE OUT carries them: SPEC_I_PT's
//! list and REGISTER AND MOVE's destination. Every field is checked; a bad one is refused with
//! INVALID FIELD IN PARAMETER LIST pointing at the TransportID it is in.

use crate::nexus::InitiatorPort;
use crate::reservations::SpecifiedInitiator;
use crate::sense::Sense;
use alloc::string::String;
use alloc::vec::Vec;

/// PROTOCOL IDENTIFIER of iSCSI.
const PROTOCOL_ISCSI: u8 = 0x05;
/// FORMAT CODE 00b: the initiator device's name; 01b: name, ",i,0x" and the ISID.
const FORMAT_NAME: u8 = 0;
const FORMAT_NAME_AND_ISID: u8 = 1;
/// The separator between name and ISID in format 01b.
const ISID_SEPARATOR: &[u8] = b",i,0x";
/// An iSCSI name is at most 223 bytes (RFC 7143 §4.2.7.1).
const MAX_NAME: usize = 223;
/// The shortest TransportID: the 4-byte header and 20 bytes of name (SPC-4 requires at least
/// 20 bytes of ISCSI NAME).
const MIN_LEN: usize = 24;

fn invalid(offset: usize) -> Sense {
    Sense::invalid_field_in_parameter_list(u16::try_from(offset).unwrap_or(u16::MAX), None)
}

/// One TransportID starting at `offset` in the parameter list `list`: the initiator it names
/// and its length in bytes.
pub fn parse_one(list: &[u8], offset: usize) -> Result<(SpecifiedInitiator, usize), Sense> {
    let head = list
        .get(offset..offset.saturating_add(4))
        .ok_or_else(|| invalid(offset))?;
    let format = head[0] >> 6;
    if head[0] & 0x0F != PROTOCOL_ISCSI || head[0] & 0x30 != 0 {
        return Err(invalid(offset));
    }
    let additional = usize::from(u16::from_be_bytes([head[2], head[3]]));
    let len = additional.saturating_add(4);
    if additional % 4 != 0 || len < MIN_LEN {
        return Err(invalid(offset.saturating_add(2)));
    }
    let body = list
        .get(offset.saturating_add(4)..offset.saturating_add(len))
        .ok_or_else(|| invalid(offset.saturating_add(2)))?;
    // NUL-terminated; the padding after it must be NULs too.
    let end = body
        .iter()
        .position(|&b| b == 0)
        .ok_or_else(|| invalid(offset.saturating_add(4)))?;
    let (text, _) = body.split_at(end);
    let (name, isid) = match format {
        FORMAT_NAME => (text, None),
        FORMAT_NAME_AND_ISID => {
            let at = text
                .windows(ISID_SEPARATOR.len())
                .position(|w| w.eq_ignore_ascii_case(ISID_SEPARATOR))
                .ok_or_else(|| invalid(offset.saturating_add(4)))?;
            let hex = text.get(at + ISID_SEPARATOR.len()..).unwrap_or_default();
            let isid = parse_isid(hex).ok_or_else(|| invalid(offset.saturating_add(4)))?;
            (text.get(..at).unwrap_or_default(), Some(isid))
        }
        _ => return Err(invalid(offset)),
    };
    if name.is_empty() || name.len() > MAX_NAME || !name.iter().all(|b| b.is_ascii_graphic()) {
        return Err(invalid(offset.saturating_add(4)));
    }
    let name = String::from_utf8(name.to_vec()).map_err(|_| invalid(offset.saturating_add(4)))?;
    Ok((
        SpecifiedInitiator {
            initiator: InitiatorPort {
                name,
                isid: isid.unwrap_or_default(),
            },
            any_isid: isid.is_none(),
            offset: u16::try_from(offset).unwrap_or(u16::MAX),
        },
        len,
    ))
}

/// Twelve hex digits.
fn parse_isid(hex: &[u8]) -> Option<[u8; 6]> {
    if hex.len() != 12 {
        return None;
    }
    let mut isid = [0u8; 6];
    for (i, pair) in hex.chunks_exact(2).enumerate() {
        let text = core::str::from_utf8(pair).ok()?;
        *isid.get_mut(i)? = u8::from_str_radix(text, 16).ok()?;
    }
    Some(isid)
}

/// The TransportIDs filling `list[offset..offset + len]` exactly.
pub fn parse_list(
    list: &[u8],
    offset: usize,
    len: usize,
) -> Result<Vec<SpecifiedInitiator>, Sense> {
    let end = offset.saturating_add(len);
    let mut out = Vec::new();
    let mut at = offset;
    while at < end {
        let (initiator, n) = parse_one(list, at)?;
        if at.saturating_add(n) > end {
            return Err(invalid(at.saturating_add(2)));
        }
        out.push(initiator);
        at = at.saturating_add(n);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reservations::{iscsi_name_transport_id, iscsi_transport_id};
    use alloc::string::ToString;
    use alloc::vec;

    fn port(name: &str, last: u8) -> InitiatorPort {
        InitiatorPort {
            name: name.to_string(),
            isid: [0x40, 0, 1, 0x37, 0, last],
        }
    }

    fn field(sense: &Sense) -> u16 {
        sense.field.map_or(u16::MAX, |f| f.byte)
    }

    #[test]
    fn both_formats_round_trip_with_what_we_report() {
        let p = port("iqn.2026-11.dev.test:node-b", 0x2A);
        let tid = iscsi_transport_id(&p);
        let (s, len) = parse_one(&tid, 0).unwrap();
        assert_eq!(
            (s.initiator, s.any_isid, len),
            (p.clone(), false, tid.len())
        );
        let tid = iscsi_name_transport_id("iqn.2026-11.dev.test:node-c");
        let (s, len) = parse_one(&tid, 0).unwrap();
        assert_eq!(s.initiator.name, "iqn.2026-11.dev.test:node-c");
        assert!(s.any_isid);
        assert_eq!(len, tid.len());
    }

    #[test]
    fn a_list_is_split_and_each_keeps_its_offset() {
        let mut list = vec![0u8; 28];
        list.extend(iscsi_transport_id(&port("iqn.b", 1)));
        let second = list.len();
        list.extend(iscsi_name_transport_id("iqn.c"));
        let parsed = parse_list(&list, 28, list.len() - 28).unwrap();
        assert_eq!(parsed.len(), 2);
        assert_eq!(parsed[0].offset, 28);
        assert_eq!(usize::from(parsed[1].offset), second);
        assert!(parse_list(&list, 28, 0).unwrap().is_empty());
    }

    /// Each malformed TransportID, and the byte its refusal points at.
    #[test]
    fn malformed_transport_ids_are_refused_with_a_field_pointer() {
        let good = iscsi_transport_id(&port("iqn.b", 1));
        let mut cases: Vec<(&str, Vec<u8>, u16)> = Vec::new();
        let mut fc = good.clone();
        fc[0] = 0x01; // Fibre Channel
        cases.push(("another protocol", fc, 0));
        let mut format = good.clone();
        format[0] = 0x80 | 0x05;
        cases.push(("format 10b", format, 0));
        let mut odd = good.clone();
        odd[3] = odd[3].wrapping_sub(1);
        cases.push(("length not a multiple of 4", odd, 2));
        let mut long = good.clone();
        long[3] = long[3].wrapping_add(4);
        cases.push(("length past the list", long, 2));
        let mut short = iscsi_name_transport_id("iqn.b");
        short[3] = 12;
        cases.push(("shorter than 24 bytes", short, 2));
        let mut unterminated = good.clone();
        for b in &mut unterminated[4..] {
            if *b == 0 {
                *b = b'x';
            }
        }
        cases.push(("no NUL", unterminated, 4));
        let mut no_isid = iscsi_name_transport_id("iqn.b-without-isid");
        no_isid[0] |= 0x40;
        cases.push(("format 01b without ISID", no_isid, 4));
        let mut bad_hex = good.clone();
        let at = bad_hex.iter().position(|&b| b == b'x').unwrap() + 1;
        bad_hex[at] = b'g';
        cases.push(("ISID not hex", bad_hex, 4));
        let mut empty = iscsi_name_transport_id("");
        empty[3] = 20;
        cases.push(("empty name", empty, 4));
        cases.push(("truncated header", good[..3].to_vec(), 0));
        for (what, tid, pointer) in cases {
            let e = parse_one(&tid, 0).expect_err(what);
            assert_eq!(field(&e), pointer, "{what}");
        }
    }
}
