//! The 8-byte LUN field (SAM-6 §4.7): peripheral addressing up to 255, flat up to 16383.

/// Highest LUN number the single-level formats we use can carry.
pub const MAX_LUN: u32 = 16383;

/// Decodes a single-level LUN. `None` for formats we do not support (which the core reports
/// as LOGICAL UNIT NOT SUPPORTED).
pub fn decode(raw: [u8; 8]) -> Option<u32> {
    if raw[2..].iter().any(|&b| b != 0) {
        return None;
    }
    match raw[0] >> 6 {
        // Peripheral device addressing: bus identifier must be 0.
        0b00 if raw[0] & 0x3F == 0 => Some(u32::from(raw[1])),
        // Flat space addressing.
        0b01 => Some((u32::from(raw[0] & 0x3F) << 8) | u32::from(raw[1])),
        _ => None,
    }
}

/// Encodes a LUN as REPORT LUNS lists it: peripheral up to 255, flat above.
pub fn encode(lun: u32) -> [u8; 8] {
    let mut out = [0u8; 8];
    if lun < 256 {
        out[1] = lun as u8;
    } else {
        let l = lun.min(MAX_LUN);
        out[0] = 0x40 | ((l >> 8) as u8 & 0x3F);
        out[1] = l as u8;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_both_formats() {
        for lun in [0, 1, 255, 256, 1023, MAX_LUN] {
            assert_eq!(decode(encode(lun)), Some(lun));
        }
        assert_eq!(encode(5)[0], 0);
        assert_eq!(encode(300)[0] & 0xC0, 0x40);
    }

    #[test]
    fn rejects_other_formats() {
        assert_eq!(decode([0x80, 1, 0, 0, 0, 0, 0, 0]), None);
        assert_eq!(decode([0x01, 1, 0, 0, 0, 0, 0, 0]), None);
        assert_eq!(decode([0, 1, 0, 1, 0, 0, 0, 0]), None);
    }
}
