//! LUN identities derived from the enclosure's identity: serial numbers and NAA/EUI-64
//! designators that are stable across restarts and unique per LUN.

/// A locally administered OUI (the U/L bit of the first octet set): no company owns it, so
/// our designators cannot collide with a registered vendor's.
const OUI: u32 = 0x02_DA_D0;

/// NAA IEEE Registered Extended designator (NAA 6): OUI, then 100 bits of vendor-specific id.
pub fn naa6(enclosure: u64, lun: u32) -> [u8; 16] {
    let mut v = [0u8; 16];
    let hi: u64 = (6u64 << 60) | (u64::from(OUI) << 36) | ((enclosure >> 28) & 0xF_FFFF_FFFF);
    let lo: u64 = (enclosure << 36) | u64::from(lun);
    v[..8].copy_from_slice(&hi.to_be_bytes());
    v[8..].copy_from_slice(&lo.to_be_bytes());
    v
}

/// EUI-64: OUI then 40 bits from the enclosure id and LUN.
pub fn eui64(enclosure: u64, lun: u32) -> [u8; 8] {
    let ext = ((enclosure & 0xFF_FFFF) << 16) ^ u64::from(lun);
    ((u64::from(OUI) << 40) | (ext & 0xFF_FFFF_FFFF)).to_be_bytes()
}

/// Unit serial number: the enclosure and the LUN, at most 16 characters (CTL pads to 16).
pub fn serial(enclosure: u64, lun: u32) -> String {
    format!("DY{:08X}{:06X}", enclosure as u32, lun & 0xFF_FFFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn designators_differ_per_lun_and_carry_the_naa_type() {
        let a = naa6(0x1234_5678_9ABC_DEF0, 0);
        let b = naa6(0x1234_5678_9ABC_DEF0, 1);
        assert_ne!(a, b);
        assert_eq!(a[0] >> 4, 6);
        assert_ne!(eui64(1, 0), eui64(1, 1));
        assert_eq!(serial(0xAB, 3).len(), 16);
    }
}
