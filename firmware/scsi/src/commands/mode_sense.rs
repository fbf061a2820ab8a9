//! MODE SENSE (6) and (10) (SPC-5 §6.14, §6.15): the mode parameter header, the block
//! descriptor and the mode pages of a direct-access logical unit (SBC-4 §6.5).

use super::mode_select::saved_mode;
use super::Ctx;
use crate::backend::BlockBackend;
use crate::cdb::{be16, byte, put};
use crate::lun::{Lun, ModeParameters};
use crate::sense::{asc, Sense};
use crate::status::CommandResult;
use alloc::vec::Vec;

use crate::table::{AccessClass as A, CommandEntry as E, Flags as F, Kind};

pub(crate) const ENTRIES: &[E] = &[
    E::new(
        0x1A,
        "MODE SENSE(6)",
        Kind::ModeSense6,
        F::OK_ON_STANDBY
            .union(F::ALLOW_ON_PR_WRESV)
            .union(F::DATA_IN)
            .union(F::OK_ON_NO_MEDIA),
        A::Free,
        &[0x1A, 0x08, 0xFF, 0xFF, 0xFF, 0x07],
    ),
    E::new(
        0x5A,
        "MODE SENSE(10)",
        Kind::ModeSense10,
        F::OK_ON_STANDBY
            .union(F::ALLOW_ON_PR_WRESV)
            .union(F::DATA_IN)
            .union(F::OK_ON_NO_MEDIA),
        A::Free,
        &[0x5A, 0x18, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0x07],
    ),
];

/// PAGE CONTROL field values.
const PC_CURRENT: u8 = 0;
const PC_CHANGEABLE: u8 = 1;
const PC_DEFAULT: u8 = 2;
const PC_SAVED: u8 = 3;

const RW_ERROR_RECOVERY: u8 = 0x01;
const VERIFY_ERROR_RECOVERY: u8 = 0x07;
pub(super) const CACHING: u8 = 0x08;
pub(super) const CONTROL: u8 = 0x0A;
pub(super) const INFORMATIONAL_EXCEPTIONS: u8 = 0x1C;
const CONTROL_EXTENSION_SUBPAGE: u8 = 0x01;
pub(super) const LOGICAL_BLOCK_PROVISIONING_SUBPAGE: u8 = 0x02;
/// Page code asking for every page.
const ALL_PAGES: u8 = 0x3F;
/// Subpage code asking for every subpage.
const ALL_SUBPAGES: u8 = 0xFF;

/// Every (page, subpage) implemented, in the order ALL PAGES returns them.
const PAGES: [(u8, u8); 7] = [
    (RW_ERROR_RECOVERY, 0),
    (VERIFY_ERROR_RECOVERY, 0),
    (CACHING, 0),
    (CONTROL, 0),
    (CONTROL, CONTROL_EXTENSION_SUBPAGE),
    (INFORMATIONAL_EXCEPTIONS, 0),
    (INFORMATIONAL_EXCEPTIONS, LOGICAL_BLOCK_PROVISIONING_SUBPAGE),
];

/// The pages `lun` has, in the order ALL PAGES returns them: provisioning thresholds exist
/// only where there is provisioning.
pub(super) fn pages_of<B>(lun: &Lun<B>) -> Vec<(u8, u8)> {
    PAGES
        .iter()
        .copied()
        .filter(|&page| {
            page != (INFORMATIONAL_EXCEPTIONS, LOGICAL_BLOCK_PROVISIONING_SUBPAGE) || lun.thin()
        })
        .collect()
}

/// DEVICE-SPECIFIC PARAMETER bits of a direct-access device.
const DSP_WP: u8 = 0x80;
const DSP_DPOFUA: u8 = 0x10;

/// MODE SENSE(6) can describe at most 255 bytes after its MODE DATA LENGTH byte.
const MAX_MODE_SENSE6_LEN: usize = 256;

/// PS: every page can be saved (MODE SELECT with SP).
const PS: u8 = 0x80;
/// SPF: the page is in sub_page format.
const SPF: u8 = 0x40;

/// THRESHOLD ARMING values of a threshold descriptor (SBC-4 §6.5.7).
const ARMING_INCREASING: u8 = 0b000;
const ARMING_DECREASING: u8 = 0b001;
/// THRESHOLD RESOURCE values.
const RESOURCE_AVAILABLE: u8 = 0x01;
const RESOURCE_USED: u8 = 0x02;

/// The changeable-values mask, as ModeParameters with every changeable field all ones:
/// encoding it gives exactly the bits MODE SELECT may change.
const CHANGEABLE: ModeParameters = ModeParameters {
    wce: true,
    rcd: true,
    d_sense: true,
    swp: true,
    qam: 0x0F,
    qerr: 0x03,
    tas: true,
    dexcpt: true,
    ie_test: true,
    mrie: 0x0F,
    interval_timer: u32::MAX,
    report_count: u32::MAX,
    situa: true,
    available_threshold_enabled: true,
    available_threshold_count: u32::MAX,
    used_threshold_enabled: true,
    used_threshold_count: u32::MAX,
};

/// What one MODE SENSE reports in its pages: parameter values, and whether the fields that
/// never change are shown (they are not in the changeable view, where a set bit means
/// "MODE SELECT may change this").
pub(super) struct View {
    pub mode: ModeParameters,
    pub fixed: bool,
}

impl View {
    pub(super) const fn values(mode: ModeParameters) -> Self {
        View { mode, fixed: true }
    }

    pub(super) const fn changeable() -> Self {
        View {
            mode: CHANGEABLE,
            fixed: false,
        }
    }
}

pub(crate) fn mode_sense<B: BlockBackend>(ctx: &Ctx<'_, B>, ten: bool) -> CommandResult {
    let Some(lun) = ctx.lun else {
        return ctx.fail(&asc::LOGICAL_UNIT_NOT_SUPPORTED);
    };
    let flags = byte(ctx.cdb, 1);
    let dbd = flags & 0x08 != 0;
    // LLBAA exists only in the (10) CDB; the (6) usage mask already refused it there.
    let long_lba = ten && flags & 0x10 != 0;
    let page_control = byte(ctx.cdb, 2) >> 6;
    let page_code = byte(ctx.cdb, 2) & 0x3F;
    let subpage_code = byte(ctx.cdb, 3);
    let allocation_length = if ten {
        usize::from(be16(ctx.cdb, 7))
    } else {
        usize::from(byte(ctx.cdb, 4))
    };

    let view = match page_control {
        PC_CURRENT => View::values(lun.mode()),
        PC_CHANGEABLE => View::changeable(),
        PC_DEFAULT => View::values(lun.default_mode()),
        _ => {
            debug_assert_eq!(page_control, PC_SAVED);
            // Nothing saved yet: the saved values are the defaults (SPC-5 §6.14).
            View::values(
                saved_mode(lun.id(), ctx.device.store()).unwrap_or_else(|| lun.default_mode()),
            )
        }
    };
    let selected = match select(&pages_of(lun), page_code, subpage_code) {
        Ok(s) => s,
        Err(sense) => return ctx.fail(&sense),
    };

    let descriptor = if dbd {
        Vec::new()
    } else {
        block_descriptor(lun, long_lba, view.fixed)
    };
    let pages = selected
        .into_iter()
        .map(|(code, subpage)| encode_page(code, subpage, &view));
    let mut data = assemble(ten, &descriptor, pages);

    let dsp = DSP_DPOFUA | if lun.write_protected() { DSP_WP } else { 0 };
    // At most 16 bytes, and the (6) data at most 256: the conversions cannot saturate.
    let descriptor_len = descriptor.len() as u16;
    if ten {
        let [l_hi, l_lo] = u16::try_from(data.len() - 2)
            .unwrap_or(u16::MAX)
            .to_be_bytes();
        let [d_hi, d_lo] = descriptor_len.to_be_bytes();
        let longlba = u8::from(descriptor_len == 16);
        put(&mut data, 0, &[l_hi, l_lo, 0, dsp, longlba, 0, d_hi, d_lo]);
    } else {
        let mode_data_length = u8::try_from(data.len() - 1).unwrap_or(u8::MAX);
        put(
            &mut data,
            0,
            &[mode_data_length, 0, dsp, descriptor_len as u8],
        );
    }
    ctx.data_in(data, allocation_length)
}

/// Room for the header, then the block descriptor and the pages. The (6) header counts the
/// data in one byte: whole pages that do not fit are left out, so MODE DATA LENGTH always
/// describes exactly what follows it.
fn assemble(ten: bool, descriptor: &[u8], pages: impl IntoIterator<Item = Vec<u8>>) -> Vec<u8> {
    let header_len = if ten { 8 } else { 4 };
    let mut data = Vec::with_capacity(256);
    data.resize(header_len, 0);
    data.extend_from_slice(descriptor);
    for page in pages {
        if !ten && data.len() + page.len() > MAX_MODE_SENSE6_LEN {
            break;
        }
        data.extend_from_slice(&page);
    }
    data
}

/// The (page, subpage) pairs of `pages` a PAGE CODE and SUBPAGE CODE ask for.
fn select(pages: &[(u8, u8)], page_code: u8, subpage_code: u8) -> Result<Vec<(u8, u8)>, Sense> {
    let of_page: Vec<(u8, u8)> = match (page_code, subpage_code) {
        (ALL_PAGES, 0 | ALL_SUBPAGES) => pages.to_vec(),
        // SPC-5 reserves the other subpage codes of page 3Fh.
        (ALL_PAGES, _) => return Err(Sense::invalid_field_in_cdb(3, None)),
        (code, _) => pages.iter().copied().filter(|&(p, _)| p == code).collect(),
    };
    if of_page.is_empty() {
        return Err(Sense::invalid_field_in_cdb(2, None));
    }
    let selected: Vec<(u8, u8)> = match subpage_code {
        ALL_SUBPAGES => of_page,
        sub => of_page.into_iter().filter(|&(_, s)| s == sub).collect(),
    };
    if selected.is_empty() {
        return Err(Sense::invalid_field_in_cdb(3, None));
    }
    Ok(selected)
}

/// Short (8-byte) or long LBA (16-byte) block descriptor; all zeros in the changeable view
/// since neither the capacity nor the block length can be changed.
fn block_descriptor<B: BlockBackend>(lun: &Lun<B>, long: bool, fixed: bool) -> Vec<u8> {
    let (blocks, block_len) = if fixed {
        (lun.blocks(), lun.block_size())
    } else {
        (0, 0)
    };
    let mut d = Vec::with_capacity(16);
    if long {
        d.extend_from_slice(&blocks.to_be_bytes());
        d.extend_from_slice(&[0; 4]);
        d.extend_from_slice(&block_len.to_be_bytes());
    } else {
        // More blocks than the field holds reads as FFFFFFFFh (SBC-4 §6.5.2).
        d.extend_from_slice(&u32::try_from(blocks).unwrap_or(u32::MAX).to_be_bytes());
        d.push(0);
        d.extend_from_slice(&block_len.to_be_bytes()[1..]);
    }
    d
}

/// One mode page, with its page_0 or sub_page header; empty for a page that does not exist.
/// MODE SELECT compares what it receives against this very encoding, so a field shown here
/// is a field checked there.
pub(super) fn encode_page(code: u8, subpage: u8, v: &View) -> Vec<u8> {
    let m = &v.mode;
    let bit = |on: bool, mask: u8| if on { mask } else { 0 };
    let mut p = match (code, subpage) {
        (RW_ERROR_RECOVERY, 0) => {
            let mut p = alloc::vec![0u8; 12];
            // AWRE and ARRE: the backends remap bad blocks themselves, as CTL reports.
            p[2] = bit(v.fixed, 0xC0);
            p
        }
        // EER, PER, DTE, DCR 0, no retry count, no recovery time limit: a verify either
        // succeeds or reports the error, with no recovery to tune.
        (VERIFY_ERROR_RECOVERY, 0) => alloc::vec![0u8; 12],
        (CACHING, 0) => {
            let mut p = alloc::vec![0u8; 20];
            p[2] = bit(m.wce, 0x04) | bit(m.rcd, 0x01);
            p
        }
        (CONTROL, 0) => {
            let mut p = alloc::vec![0u8; 12];
            // TST 000b: one task set for all nexuses. GLTSD: log parameters are never saved
            // implicitly (nor explicitly: there is no LOG SELECT).
            p[2] = bit(m.d_sense, 0x04) | bit(v.fixed, 0x02);
            p[3] = ((m.qam & 0x0F) << 4) | ((m.qerr & 0x03) << 1);
            p[4] = bit(m.swp, 0x08);
            p[5] = bit(m.tas, 0x40);
            // BUSY TIMEOUT PERIOD FFFFh: unlimited; the target never reports BUSY.
            if v.fixed {
                p[8..10].copy_from_slice(&[0xFF, 0xFF]);
            }
            p
        }
        // TCMOS, SCSIP, IALUAE and the priority and sense-length fields all 0: no
        // timestamp, implicit ALUA only, no command priority, no sense length limit.
        (CONTROL, CONTROL_EXTENSION_SUBPAGE) => alloc::vec![0u8; 32],
        (INFORMATIONAL_EXCEPTIONS, 0) => {
            let mut p = alloc::vec![0u8; 12];
            p[2] = bit(m.dexcpt, 0x08) | bit(m.ie_test, 0x04);
            p[3] = m.mrie & 0x0F;
            p[4..8].copy_from_slice(&m.interval_timer.to_be_bytes());
            p[8..12].copy_from_slice(&m.report_count.to_be_bytes());
            p
        }
        (INFORMATIONAL_EXCEPTIONS, LOGICAL_BLOCK_PROVISIONING_SUBPAGE) => {
            let mut p = alloc::vec![0u8; 32];
            p[4] = bit(m.situa, 0x01);
            let descriptors = [
                (
                    m.available_threshold_enabled,
                    ARMING_DECREASING,
                    RESOURCE_AVAILABLE,
                    m.available_threshold_count,
                ),
                (
                    m.used_threshold_enabled,
                    ARMING_INCREASING,
                    RESOURCE_USED,
                    m.used_threshold_count,
                ),
            ];
            for (d, (enabled, arming, resource, count)) in
                p[16..].chunks_exact_mut(8).zip(descriptors)
            {
                // THRESHOLD TYPE 000b: soft thresholds, reported by unit attention.
                d[0] = bit(enabled, 0x80) | if v.fixed { arming } else { 0 };
                d[1] = if v.fixed { resource } else { 0 };
                d[4..8].copy_from_slice(&count.to_be_bytes());
            }
            p
        }
        _ => return Vec::new(),
    };
    if subpage == 0 {
        p[0] = PS | code;
        // Pages are at most 32 bytes: the lengths fit their fields.
        p[1] = (p.len() - 2) as u8;
    } else {
        p[0] = PS | SPF | code;
        p[1] = subpage;
        let [hi, lo] = ((p.len() - 4) as u16).to_be_bytes();
        p[2] = hi;
        p[3] = lo;
    }
    p
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;
    use crate::cdb::{be16, be32, be64};
    use crate::mutation::Mutation;
    use crate::ua::UnitAttention;
    use alloc::vec;

    fn ms6(dbd: bool, pc: u8, page: u8, sub: u8, alloc: u8) -> [u8; 6] {
        [
            0x1A,
            if dbd { 0x08 } else { 0 },
            (pc << 6) | page,
            sub,
            alloc,
            0,
        ]
    }

    fn ms10(llbaa: bool, dbd: bool, pc: u8, page: u8, sub: u8, alloc: u16) -> [u8; 10] {
        let [hi, lo] = alloc.to_be_bytes();
        let b1 = if llbaa { 0x10 } else { 0 } | if dbd { 0x08 } else { 0 };
        [0x5A, b1, (pc << 6) | page, sub, 0, 0, 0, hi, lo, 0]
    }

    /// The (page, subpage, bytes) of each page after the header and block descriptor.
    fn pages(d: &[u8], header: usize, descriptor: usize) -> Vec<(u8, u8, Vec<u8>)> {
        let mut out = Vec::new();
        let mut rest = &d[header + descriptor..];
        while let [b0, ..] = rest {
            let (sub, len) = if b0 & 0x40 != 0 {
                (rest[1], 4 + usize::from(be16(rest, 2)))
            } else {
                (0, 2 + usize::from(rest[1]))
            };
            let (page, next) = rest.split_at(len);
            out.push((b0 & 0x3F, sub, page.to_vec()));
            rest = next;
        }
        out
    }

    fn find(pages: &[(u8, u8, Vec<u8>)], code: u8, sub: u8) -> Vec<u8> {
        pages
            .iter()
            .find(|p| p.0 == code && p.1 == sub)
            .map(|p| p.2.clone())
            .unwrap()
    }

    #[test]
    fn all_pages_come_with_header_and_block_descriptor() {
        let f = Fixture::new();
        let d = good(f.run(0, &ms6(false, PC_CURRENT, 0x3F, 0, 255)));
        assert_eq!(usize::from(d[0]), d.len() - 1);
        assert_eq!(d[1], 0, "MEDIUM TYPE");
        assert_eq!(d[2], DSP_DPOFUA);
        assert_eq!(d[3], 8);
        assert_eq!(be32(&d, 4), 2048);
        assert_eq!(&d[8..12], &[0, 0, 0x02, 0x00]);
        let codes: Vec<(u8, u8)> = pages(&d, 4, 8).iter().map(|p| (p.0, p.1)).collect();
        assert_eq!(
            codes,
            [(0x01, 0), (0x07, 0), (0x08, 0), (0x0A, 0), (0x1C, 0)],
            "subpage 0 only"
        );
        let d = good(f.run(0, &ms6(true, PC_CURRENT, 0x3F, 0xFF, 255)));
        assert_eq!(d[3], 0);
        let codes: Vec<(u8, u8)> = pages(&d, 4, 0).iter().map(|p| (p.0, p.1)).collect();
        assert_eq!(codes, PAGES[..6], "no provisioning page on a full LUN");
        for (code, sub, page) in pages(&d, 4, 0) {
            assert_eq!(page[0] & 0x80, 0x80, "PS of {code:02x}/{sub:02x}");
        }
    }

    #[test]
    fn a_thin_lun_has_the_logical_block_provisioning_page() {
        let mut c = lun_config(0, 2048);
        c.thin = true;
        let f = Fixture::with(port_config(None), [c]);
        let d = good(f.run(0, &ms6(true, PC_CURRENT, 0x3F, 0xFF, 255)));
        let codes: Vec<(u8, u8)> = pages(&d, 4, 0).iter().map(|p| (p.0, p.1)).collect();
        assert_eq!(codes, PAGES);
        let d = good(f.run(0, &ms6(true, PC_CURRENT, 0x1C, 0x02, 255)));
        let p = &d[4..];
        assert_eq!(&p[..4], &[0xC0 | 0x1C, 0x02, 0x00, 0x1C]);
        assert_eq!(p.len(), 32);
        // Available resources arm decreasing, used ones increasing; both disabled.
        assert_eq!(&p[16..24], &[0x01, 0x01, 0, 0, 0, 0, 0, 0]);
        assert_eq!(&p[24..32], &[0x00, 0x02, 0, 0, 0, 0, 0, 0]);
        let mask = good(f.run(0, &ms6(true, PC_CHANGEABLE, 0x1C, 0x02, 255)));
        let m = &mask[4..];
        assert_eq!(m[4], 0x01, "SITUA");
        assert_eq!(&m[16..24], &[0x80, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF]);
        assert_eq!(&m[24..32], &[0x80, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF]);
    }

    #[test]
    fn page_and_subpage_selection() {
        let f = Fixture::new();
        // (page, subpage, pages expected)
        type Pages = &'static [(u8, u8)];
        let cases: [(u8, u8, Pages); 8] = [
            (0x08, 0x00, &[(0x08, 0)]),
            (0x0A, 0x00, &[(0x0A, 0)]),
            (0x0A, 0x01, &[(0x0A, 1)]),
            (0x0A, 0xFF, &[(0x0A, 0), (0x0A, 1)]),
            (0x01, 0xFF, &[(0x01, 0)]),
            (0x1C, 0x00, &[(0x1C, 0)]),
            (0x1C, 0xFF, &[(0x1C, 0)]),
            (0x07, 0x00, &[(0x07, 0)]),
        ];
        for (page, sub, want) in cases {
            let d = good(f.run(0, &ms6(true, PC_CURRENT, page, sub, 255)));
            let got: Vec<(u8, u8)> = pages(&d, 4, 0).iter().map(|p| (p.0, p.1)).collect();
            assert_eq!(got, want, "page {page:02x}/{sub:02x}");
        }
    }

    #[test]
    fn unknown_pages_and_subpages_are_invalid_fields() {
        let f = Fixture::new();
        for page in [0x00, 0x02, 0x03, 0x19, 0x1A, 0x3E] {
            assert_invalid_field(&f.run(0, &ms6(false, PC_CURRENT, page, 0, 255)), 2);
        }
        for (page, sub) in [(0x08, 0x01), (0x0A, 0x02), (0x3F, 0x01), (0x1C, 0x02)] {
            assert_invalid_field(&f.run(0, &ms6(false, PC_CURRENT, page, sub, 255)), 3);
        }
    }

    #[test]
    fn current_pages_follow_the_mode_parameters() {
        let f = Fixture::new();
        let lun = f.device.lun(crate::lun::LunId(0)).unwrap();
        lun.set_mode(ModeParameters {
            wce: false,
            rcd: true,
            d_sense: true,
            swp: true,
            qam: 1,
            qerr: 3,
            tas: true,
            dexcpt: false,
            mrie: 6,
            interval_timer: 0x0102_0304,
            report_count: 9,
            ..lun.mode()
        });
        let d = good(f.run(0, &ms6(true, PC_CURRENT, 0x3F, 0, 255)));
        assert_eq!(d[2], DSP_WP | DSP_DPOFUA, "SWP write-protects");
        let p = pages(&d, 4, 0);
        let caching = find(&p, 0x08, 0);
        assert_eq!((caching[1], caching[2]), (0x12, 0x01));
        let control = find(&p, 0x0A, 0);
        assert_eq!(control[1], 0x0A);
        assert_eq!(control[2], 0x06, "D_SENSE, GLTSD, TST 0");
        assert_eq!(control[3], 0x16, "QAM 1, QERR 11b");
        assert_eq!(control[4], 0x08, "SWP");
        assert_eq!(control[5], 0x40, "TAS");
        assert_eq!(be16(&control, 8), 0xFFFF);
        let ie = find(&p, 0x1C, 0);
        assert_eq!(
            &ie[..4],
            &[0x9C, 0x0A, 0x00, 0x06],
            "PS, DEXCPT clear, MRIE 6"
        );
        assert_eq!(be32(&ie, 4), 0x0102_0304);
        assert_eq!(be32(&ie, 8), 9);
    }

    #[test]
    fn default_pages_come_from_the_config() {
        let mut c = lun_config(0, 2048);
        c.write_cache = false;
        c.read_cache = false;
        let f = Fixture::with(port_config(None), [c]);
        let lun = f.device.lun(crate::lun::LunId(0)).unwrap();
        lun.set_mode(ModeParameters {
            wce: true,
            rcd: false,
            ..lun.mode()
        });
        let current = good(f.run(0, &ms6(true, PC_CURRENT, 0x08, 0, 255)));
        assert_eq!(current[4 + 2], 0x04);
        let default = good(f.run(0, &ms6(true, PC_DEFAULT, 0x08, 0, 255)));
        assert_eq!(default[4 + 2], 0x01);
    }

    #[test]
    fn changeable_view_shows_exactly_what_mode_select_can_change() {
        let f = Fixture::new();
        let d = good(f.run(0, &ms6(false, PC_CHANGEABLE, 0x3F, 0xFF, 255)));
        assert!(
            d[4..12].iter().all(|&b| b == 0),
            "block descriptor is not changeable"
        );
        let p = pages(&d, 4, 8);
        let (caching, control) = (find(&p, 0x08, 0), find(&p, 0x0A, 0));
        assert_eq!(caching[2], 0x05, "WCE, RCD");
        assert_eq!(
            &control[2..6],
            &[0x04, 0xF6, 0x08, 0x40],
            "D_SENSE, QAM, QERR, SWP, TAS"
        );
        assert_eq!(be16(&control, 8), 0, "BUSY TIMEOUT PERIOD is fixed");
        let ie = find(&p, 0x1C, 0);
        assert_eq!(&ie[2..4], &[0x0C, 0x0F], "DEXCPT, TEST, MRIE");
        assert!(
            ie[4..12].iter().all(|&b| b == 0xFF),
            "INTERVAL TIMER, REPORT COUNT"
        );
        for (code, sub, page) in &p {
            let body = if *sub == 0 { &page[2..] } else { &page[4..] };
            if ![(0x08, 0), (0x0A, 0), (0x1C, 0)].contains(&(*code, *sub)) {
                assert!(body.iter().all(|&b| b == 0), "page {code:02x}/{sub:02x}");
            }
        }
    }

    #[test]
    fn saved_values_are_the_defaults_until_something_is_saved() {
        let f = Fixture::new();
        let lun = f.device.lun(crate::lun::LunId(0)).unwrap();
        lun.set_mode(ModeParameters {
            wce: false,
            ..lun.mode()
        });
        let saved = good(f.run(0, &ms6(true, PC_SAVED, 0x08, 0, 255)));
        let default = good(f.run(0, &ms6(true, PC_DEFAULT, 0x08, 0, 255)));
        assert_eq!(saved, default);
        assert_eq!(saved[4 + 2], 0x04, "WCE as configured");
        let store = f.device.store();
        let record = super::super::mode_select::encode_saved(&ModeParameters {
            d_sense: true,
            ..lun.mode()
        });
        store.save(lun.id(), "mode", &record).unwrap();
        let saved = good(f.run(0, &ms6(true, PC_SAVED, 0x0A, 0, 255)));
        assert_eq!(saved[4 + 2], 0x06, "D_SENSE saved");
        let current = good(f.run(0, &ms6(true, PC_CURRENT, 0x0A, 0, 255)));
        assert_eq!(
            current[4 + 2],
            0x02,
            "current values are not the saved ones"
        );
    }

    #[test]
    fn write_protect_follows_read_only_config() {
        let mut c = lun_config(0, 2048);
        c.read_only = true;
        let f = Fixture::with(port_config(None), [c]);
        let d = good(f.run(0, &ms6(true, PC_CURRENT, 0x08, 0, 255)));
        assert_eq!(d[2], DSP_WP | DSP_DPOFUA);
        let d = good(f.run(0, &ms10(false, true, PC_CURRENT, 0x08, 0, 255)));
        assert_eq!(d[3], DSP_WP | DSP_DPOFUA);
    }

    #[test]
    fn allocation_length_truncates_but_keeps_the_full_mode_data_length() {
        let f = Fixture::new();
        let full = good(f.run(0, &ms6(false, PC_CURRENT, 0x3F, 0xFF, 255)));
        assert!(full.len() < 255);
        for alloc in [0u8, 1, 4, 12, 50] {
            let d = good(f.run(0, &ms6(false, PC_CURRENT, 0x3F, 0xFF, alloc)));
            assert_eq!(d, full[..usize::from(alloc)]);
        }
        let d = good(f.run(0, &ms10(false, false, PC_CURRENT, 0x3F, 0xFF, 6)));
        assert_eq!(
            be16(&d, 0) as usize,
            full.len() + 4 - 2,
            "the (10) header is 4 bytes longer"
        );
    }

    #[test]
    fn mode_sense6_leaves_out_whole_pages_beyond_255_bytes() {
        let page = |n: usize| vec![0xAAu8; n];
        // 4 + 8 + 4 * 60 = 252: a fifth 60-byte page would pass 256.
        let d = assemble(
            false,
            &[0; 8],
            [page(60), page(60), page(60), page(60), page(60)],
        );
        assert_eq!(d.len(), 252);
        // Exactly 256 fits: MODE DATA LENGTH 255.
        assert_eq!(
            assemble(false, &[0; 8], [page(200), page(44), page(1)]).len(),
            256
        );
        // MODE SENSE(10) has no such limit.
        assert_eq!(assemble(true, &[], [page(200), page(200)]).len(), 408);
    }

    #[test]
    fn all_pages_fit_in_mode_sense6() {
        let mut c = lun_config(0, 2048);
        c.thin = true;
        let f = Fixture::with(port_config(None), [c]);
        let d = good(f.run(0, &ms6(false, PC_CURRENT, 0x3F, 0xFF, 255)));
        assert_eq!(usize::from(d[0]) + 1, d.len());
        assert_eq!(pages(&d, 4, 8).len(), PAGES.len());
    }

    #[test]
    fn mode_sense10_short_and_long_block_descriptors() {
        let f = Fixture::with(port_config(None), [lun_config(0, (1 << 32) + 1)]);
        let d = good(f.run(0, &ms10(false, false, PC_CURRENT, 0x08, 0, 512)));
        assert_eq!(be16(&d, 0) as usize, d.len() - 2);
        assert_eq!(d[3], DSP_DPOFUA);
        assert_eq!(d[4], 0, "LONGLBA");
        assert_eq!(be16(&d, 6), 8);
        assert_eq!(
            be32(&d, 8),
            0xFFFF_FFFF,
            "too many blocks for the short descriptor"
        );
        assert_eq!(&d[13..16], &[0, 0x02, 0]);
        let d = good(f.run(0, &ms10(true, false, PC_CURRENT, 0x08, 0, 512)));
        assert_eq!(d[4], 1, "LONGLBA");
        assert_eq!(be16(&d, 6), 16);
        assert_eq!(be64(&d, 8), (1 << 32) + 1);
        assert_eq!(be32(&d, 20), 512);
        assert_eq!(pages(&d, 8, 16).len(), 1);
        let d = good(f.run(0, &ms10(true, true, PC_CURRENT, 0x08, 0, 512)));
        assert_eq!((d[4], be16(&d, 6)), (0, 0), "DBD wins over LLBAA");
    }

    #[test]
    fn llbaa_in_mode_sense6_is_rejected_by_the_usage_mask() {
        let f = Fixture::new();
        let r = f.run(0, &[0x1A, 0x10, 0x3F, 0, 255, 0]);
        assert_eq!(field_pointer(&r.sense), Some(1));
    }

    #[test]
    fn a_missing_lun_is_not_supported() {
        let f = Fixture::new();
        let r = f.run(6, &ms6(false, PC_CURRENT, 0x3F, 0, 255));
        assert_eq!(sense_code(&r.sense), (0x05, 0x25, 0x00));
    }

    #[test]
    fn mode_sense_does_not_consume_other_attentions_silently() {
        let f = Fixture::new();
        let ua = UnitAttention::ModeParametersChanged;
        f.device
            .apply(Mutation::AttentionRaised {
                lun: None,
                ua,
                except: None,
            })
            .unwrap();
        let r = f.run(0, &ms6(false, PC_CURRENT, 0x3F, 0, 255));
        assert_eq!(sense_code(&r.sense), (0x06, 0x2A, 0x01));
        good(f.run(0, &ms6(false, PC_CURRENT, 0x3F, 0, 255)));
    }
}
