//! INQUIRY (SPC-5 §6.7): the standard inquiry data, or a VPD page when EVPD is set.

use super::{vpd, Ctx};
use crate::backend::BlockBackend;
use crate::cdb::{be16, byte, put};
use crate::lun::Lun;
use crate::sense::Sense;
use crate::status::CommandResult;
use alloc::vec;

use crate::table::{AccessClass as A, CommandEntry as E, Flags as F, Kind};

pub(crate) const ENTRIES: &[E] = &[E::new(
    0x12,
    "INQUIRY",
    Kind::Inquiry,
    crate::table::LUNLESS
        .union(F::DATA_IN)
        .union(F::OK_ON_NO_MEDIA)
        .union(F::ALLOW_ON_RESV),
    A::Free,
    &[0x12, 0x01, 0xFF, 0xFF, 0xFF, 0x07],
)];

/// PERIPHERAL DEVICE TYPE of a direct-access block device (SBC).
const DIRECT_ACCESS: u8 = 0x00;
/// PERIPHERAL QUALIFIER 011b with type 1Fh: no logical unit behind this LUN number.
const NO_LOGICAL_UNIT: u8 = 0x7F;

/// SPC-4. SPC-5 would be 07h, but libiscsi's conformance suite (SCSI.Inquiry.Standard) fails
/// any VERSION other than 04h..06h.
const VERSION: u8 = 0x06;

/// Version descriptors in SPC's recommended order: architecture, primary commands, device
/// commands, transport. SPC-4 and SBC-3 rather than their successors because the conformance
/// suite derives "supports SBC-3" (READ CAPACITY(16), Block Limits length) only from these.
const VERSION_DESCRIPTORS: [u16; 4] = [
    0x00A0, // SAM-5
    0x0460, // SPC-4
    0x04C0, // SBC-3
    0x0960, // iSCSI
];

/// Standard data length: the 36 mandatory bytes, the vendor-specific area, and the version
/// descriptors with their trailing reserved bytes.
const STANDARD_LEN: usize = 96;

/// Identity reported for a LUN number with no logical unit behind it: there is no LunConfig
/// to take it from.
const NO_LUN_VENDOR: &str = "DYAD";

pub(crate) fn inquiry<B: BlockBackend>(ctx: &Ctx<'_, B>) -> CommandResult {
    let evpd = byte(ctx.cdb, 1) & 0x01 != 0;
    let page_code = byte(ctx.cdb, 2);
    let allocation_length = usize::from(be16(ctx.cdb, 3));
    if !evpd {
        if page_code != 0 {
            return ctx.fail(&Sense::invalid_field_in_cdb(2, None));
        }
        return ctx.data_in(standard(ctx.lun), allocation_length);
    }
    match vpd::page(ctx, page_code) {
        Some(data) => ctx.data_in(data, allocation_length),
        None => ctx.fail(&Sense::invalid_field_in_cdb(2, None)),
    }
}

/// Byte 0 of standard and VPD data: PERIPHERAL QUALIFIER and PERIPHERAL DEVICE TYPE.
pub(super) fn peripheral<B>(lun: Option<&Lun<B>>) -> u8 {
    match lun {
        Some(_) => DIRECT_ACCESS,
        None => NO_LOGICAL_UNIT,
    }
}

/// `text` as SPC ASCII: anything outside printable ASCII becomes '?', since SPC allows only
/// 20h..7Eh in ASCII fields.
pub(super) fn ascii(text: &str) -> impl Iterator<Item = u8> + '_ {
    text.chars().map(|c| {
        if c.is_ascii_graphic() || c == ' ' {
            c as u8
        } else {
            b'?'
        }
    })
}

/// `text` as a fixed-width SPC ASCII field: left-aligned, space-padded, cut to `N` bytes.
pub(super) fn ascii_field<const N: usize>(text: &str) -> [u8; N] {
    let mut out = [b' '; N];
    for (slot, b) in out.iter_mut().zip(ascii(text)) {
        *slot = b;
    }
    out
}

/// Standard INQUIRY data (SPC-5 §6.7.2).
fn standard<B>(lun: Option<&Lun<B>>) -> alloc::vec::Vec<u8> {
    let mut d = vec![0u8; STANDARD_LEN];
    d[0] = peripheral(lun);
    d[1] = u8::from(lun.is_some_and(|l| l.config().removable)) << 7; // RMB
    d[2] = VERSION;
    d[3] = 0x10 | 0x02; // HISUP, RESPONSE DATA FORMAT 2
    d[4] = (STANDARD_LEN - 5) as u8; // ADDITIONAL LENGTH
    d[5] = 0x10; // TPGS 01b: implicit ALUA only; 3PC and PROTECT clear
    d[7] = 0x02; // CMDQUE
    let config = lun.map(|l| l.config());
    let (vendor, product, revision) = match &config {
        Some(c) => (c.vendor.as_str(), c.product.as_str(), c.revision.as_str()),
        None => (NO_LUN_VENDOR, "", ""),
    };
    put(&mut d, 8, &ascii_field::<8>(vendor));
    put(&mut d, 16, &ascii_field::<16>(product));
    put(&mut d, 32, &ascii_field::<4>(revision));
    for (i, v) in VERSION_DESCRIPTORS.iter().enumerate() {
        put(&mut d, 58 + 2 * i, &v.to_be_bytes());
    }
    d
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;
    use crate::cdb::be16;
    use crate::status::ScsiStatus;

    fn inquiry_cdb(evpd: bool, page: u8, alloc: u16) -> [u8; 6] {
        let [hi, lo] = alloc.to_be_bytes();
        [0x12, u8::from(evpd), page, hi, lo, 0]
    }

    #[test]
    fn standard_data_describes_an_spc4_sbc3_disk_behind_implicit_alua() {
        let f = Fixture::new();
        let d = good(f.run(0, &inquiry_cdb(false, 0, 260)));
        assert_eq!(d.len(), STANDARD_LEN);
        assert_eq!(usize::from(d[4]), d.len() - 5);
        assert_eq!(d[0], 0x00);
        assert_eq!(d[1], 0x00);
        assert_eq!(d[2], 0x06);
        assert_eq!(d[3], 0x12);
        assert_eq!(d[3] & 0xC0, 0, "AERC and TRMTSK are obsolete");
        assert_eq!((d[5] >> 4) & 3, 1, "TPGS");
        assert_eq!(d[5] & 0x09, 0, "3PC and PROTECT");
        assert_eq!(d[7], 0x02);
        assert_eq!(&d[8..16], b"DYAD    ");
        assert_eq!(&d[16..32], b"VDISK           ");
        assert_eq!(&d[32..36], b"0001");
        let descriptors: alloc::vec::Vec<u16> = (0..8).map(|i| be16(&d, 58 + 2 * i)).collect();
        assert_eq!(&descriptors[..4], &[0x00A0, 0x0460, 0x04C0, 0x0960]);
        assert!(descriptors[4..].iter().all(|&v| v == 0));
    }

    #[test]
    fn removable_and_identity_come_from_the_lun_config() {
        let mut c = lun_config(0, 2048);
        c.removable = true;
        c.vendor = "ACME-LONG-VENDOR".into();
        c.product = "Disk\u{e9}".into();
        c.revision = "1".into();
        let f = Fixture::with(port_config(None), [c]);
        let d = good(f.run(0, &inquiry_cdb(false, 0, 96)));
        assert_eq!(d[1], 0x80);
        assert_eq!(&d[8..16], b"ACME-LON");
        assert_eq!(&d[16..32], b"Disk?           ");
        assert_eq!(&d[32..36], b"1   ");
    }

    #[test]
    fn allocation_length_truncates() {
        let f = Fixture::new();
        let full = good(f.run(0, &inquiry_cdb(false, 0, 512)));
        for alloc in [0u16, 1, 5, 36, 95, 96, 255, 511] {
            let d = good(f.run(0, &inquiry_cdb(false, 0, alloc)));
            let want = usize::from(alloc).min(full.len());
            assert_eq!(d, full[..want], "allocation length {alloc}");
        }
    }

    #[test]
    fn page_code_without_evpd_is_an_invalid_field() {
        let f = Fixture::new();
        for page in [0x01, 0x80, 0xFF] {
            assert_invalid_field(&f.run(0, &inquiry_cdb(false, page, 256)), 2);
        }
    }

    #[test]
    fn cmddt_is_rejected_by_the_usage_mask() {
        let f = Fixture::new();
        let r = f.run(0, &[0x12, 0x02, 0, 0, 96, 0]);
        assert_eq!(r.scsi_status(), ScsiStatus::CheckCondition);
        assert_eq!(field_pointer(&r.sense), Some(1));
    }

    #[test]
    fn a_lun_number_without_a_logical_unit_answers_with_qualifier_011b() {
        let f = Fixture::new();
        let d = good(f.run(7, &inquiry_cdb(false, 0, 96)));
        assert_eq!(d[0], 0x7F);
        assert_eq!(d[2], 0x06);
        assert_eq!(usize::from(d[4]), d.len() - 5);
    }

    #[test]
    fn ascii_fields_pad_cut_and_replace() {
        assert_eq!(&ascii_field::<4>("ab"), b"ab  ");
        assert_eq!(&ascii_field::<2>("abc"), b"ab");
        assert_eq!(&ascii_field::<3>("a\tb"), b"a?b");
    }
}
