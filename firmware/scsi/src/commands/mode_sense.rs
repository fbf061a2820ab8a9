//! MODE SENSE (6) and (10) (SPC-5 §6.14, §6.15): the mode parameter header, the block
//! descriptor and the mode pages of a direct-access logical unit (SBC-4 §6.5).

use super::Ctx;
use crate::backend::BlockBackend;
use crate::cdb::{be16, byte, put};
use crate::lun::{Lun, ModeParameters};
use crate::sense::{asc, Sense};
use crate::status::CommandResult;
use crate::table::{self, Lookup};
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
const CACHING: u8 = 0x08;
const CONTROL: u8 = 0x0A;
const INFORMATIONAL_EXCEPTIONS: u8 = 0x1C;
/// Page code asking for every page.
const ALL_PAGES: u8 = 0x3F;
/// Subpage code asking for every subpage.
const ALL_SUBPAGES: u8 = 0xFF;
const CONTROL_EXTENSION_SUBPAGE: u8 = 0x01;

/// Every (page, subpage) implemented, in the order ALL PAGES returns them.
const PAGES: [(u8, u8); 5] = [
    (RW_ERROR_RECOVERY, 0),
    (CACHING, 0),
    (CONTROL, 0),
    (CONTROL, CONTROL_EXTENSION_SUBPAGE),
    (INFORMATIONAL_EXCEPTIONS, 0),
];

/// DEVICE-SPECIFIC PARAMETER bits of a direct-access device.
const DSP_WP: u8 = 0x80;
const DSP_DPOFUA: u8 = 0x10;

/// MODE SENSE(6) can describe at most 255 bytes after its MODE DATA LENGTH byte.
const MAX_MODE_SENSE6_LEN: usize = 256;

/// What one MODE SENSE reports in its pages: parameter values, and whether the fields that
/// never change are shown (they are not in the changeable view, where a set bit means
/// "MODE SELECT may change this").
struct View {
    mode: ModeParameters,
    fixed: bool,
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
        PC_CURRENT => View {
            mode: lun.mode(),
            fixed: true,
        },
        PC_CHANGEABLE => View {
            mode: changeable(),
            fixed: false,
        },
        PC_DEFAULT => View {
            mode: ModeParameters::from_config(&lun.config),
            fixed: true,
        },
        _ => {
            // No page is savable (PS is 0 in every page), so there are no saved values.
            debug_assert_eq!(page_control, PC_SAVED);
            return ctx.fail(&asc::SAVING_PARAMETERS_NOT_SUPPORTED);
        }
    };
    let selected = match select(page_code, subpage_code) {
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

/// The (page, subpage) pairs a PAGE CODE and SUBPAGE CODE ask for.
fn select(page_code: u8, subpage_code: u8) -> Result<Vec<(u8, u8)>, Sense> {
    let of_page: Vec<(u8, u8)> = match (page_code, subpage_code) {
        (ALL_PAGES, 0 | ALL_SUBPAGES) => PAGES.to_vec(),
        // SPC-5 reserves the other subpage codes of page 3Fh.
        (ALL_PAGES, _) => return Err(Sense::invalid_field_in_cdb(3, None)),
        (code, _) => PAGES.iter().copied().filter(|&(p, _)| p == code).collect(),
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

/// Whether MODE SELECT exists in the command table: until it does, nothing is changeable,
/// and reporting otherwise would invite initiators to send a command we reject.
fn mode_select_implemented() -> bool {
    [0x15, 0x55]
        .iter()
        .any(|&op| matches!(table::lookup(&[op, 0]), Lookup::Found(_)))
}

/// The changeable-values mask, as ModeParameters with every changeable field all ones.
fn changeable() -> ModeParameters {
    let on = mode_select_implemented();
    ModeParameters {
        wce: on,
        rcd: on,
        d_sense: on,
        swp: on,
        qam: if on { 0x0F } else { 0 },
        // Fixed at 1: aborted tasks of other nexuses always end with TASK ABORTED status.
        tas: false,
    }
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

/// One mode page, with its page_0 or sub_page header.
fn encode_page(code: u8, subpage: u8, v: &View) -> Vec<u8> {
    let m = &v.mode;
    let bit = |on: bool, mask: u8| if on { mask } else { 0 };
    match (code, subpage) {
        (RW_ERROR_RECOVERY, 0) => {
            let mut p = [0u8; 12];
            p[0] = code;
            p[1] = 0x0A;
            // AWRE and ARRE: the backends remap bad blocks themselves, as CTL reports.
            p[2] = bit(v.fixed, 0xC0);
            p.to_vec()
        }
        (CACHING, 0) => {
            let mut p = [0u8; 20];
            p[0] = code;
            p[1] = 0x12;
            p[2] = bit(m.wce, 0x04) | bit(m.rcd, 0x01);
            p.to_vec()
        }
        (CONTROL, 0) => {
            let mut p = [0u8; 12];
            p[0] = code;
            p[1] = 0x0A;
            // TST 000b: one task set for all nexuses.
            p[2] = bit(m.d_sense, 0x04);
            p[3] = (m.qam & 0x0F) << 4;
            p[4] = bit(m.swp, 0x08);
            p[5] = bit(m.tas, 0x40);
            // BUSY TIMEOUT PERIOD FFFFh: unlimited; the target never reports BUSY.
            if v.fixed {
                p[8..10].copy_from_slice(&[0xFF, 0xFF]);
            }
            p.to_vec()
        }
        (CONTROL, CONTROL_EXTENSION_SUBPAGE) => {
            // TCMOS, SCSIP, IALUAE and the priority and sense-length fields all 0: no
            // timestamp, implicit ALUA only, no command priority, no sense length limit.
            let mut p = [0u8; 32];
            p[0] = 0x40 | code; // SPF
            p[1] = subpage;
            p[2..4].copy_from_slice(&0x1Cu16.to_be_bytes());
            p.to_vec()
        }
        (INFORMATIONAL_EXCEPTIONS, 0) => {
            let mut p = [0u8; 12];
            p[0] = code;
            p[1] = 0x0A;
            // DEXCPT: no informational exception is ever reported; MRIE 0.
            p[2] = bit(v.fixed, 0x08);
            p.to_vec()
        }
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;
    use crate::cdb::{be16, be32, be64};
    use crate::mutation::Mutation;
    use crate::status::ScsiStatus;
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
            [(0x01, 0), (0x08, 0), (0x0A, 0), (0x1C, 0)],
            "subpage 0 only"
        );
        let d = good(f.run(0, &ms6(true, PC_CURRENT, 0x3F, 0xFF, 255)));
        assert_eq!(d[3], 0);
        let codes: Vec<(u8, u8)> = pages(&d, 4, 0).iter().map(|p| (p.0, p.1)).collect();
        assert_eq!(codes, PAGES);
    }

    #[test]
    fn page_and_subpage_selection() {
        let f = Fixture::new();
        // (page, subpage, pages expected)
        type Pages = &'static [(u8, u8)];
        let cases: [(u8, u8, Pages); 6] = [
            (0x08, 0x00, &[(0x08, 0)]),
            (0x0A, 0x00, &[(0x0A, 0)]),
            (0x0A, 0x01, &[(0x0A, 1)]),
            (0x0A, 0xFF, &[(0x0A, 0), (0x0A, 1)]),
            (0x01, 0xFF, &[(0x01, 0)]),
            (0x1C, 0x00, &[(0x1C, 0)]),
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
        for page in [0x00, 0x02, 0x07, 0x19, 0x1A, 0x3E] {
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
            tas: true,
        });
        let d = good(f.run(0, &ms6(true, PC_CURRENT, 0x3F, 0, 255)));
        assert_eq!(d[2], DSP_WP | DSP_DPOFUA, "SWP write-protects");
        let p = pages(&d, 4, 0);
        let caching = find(&p, 0x08, 0);
        assert_eq!((caching[1], caching[2]), (0x12, 0x01));
        let control = find(&p, 0x0A, 0);
        assert_eq!(control[1], 0x0A);
        assert_eq!(control[2], 0x04, "D_SENSE, TST 0");
        assert_eq!(control[3], 0x10, "QAM 1");
        assert_eq!(control[4], 0x08, "SWP");
        assert_eq!(control[5], 0x40, "TAS");
        assert_eq!(be16(&control, 8), 0xFFFF);
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
    fn changeable_view_matches_what_mode_select_can_change() {
        let f = Fixture::new();
        let d = good(f.run(0, &ms6(false, PC_CHANGEABLE, 0x3F, 0xFF, 255)));
        assert!(
            d[4..12].iter().all(|&b| b == 0),
            "block descriptor is not changeable"
        );
        let p = pages(&d, 4, 8);
        let (caching, control) = (find(&p, 0x08, 0), find(&p, 0x0A, 0));
        if mode_select_implemented() {
            assert_eq!(caching[2], 0x05, "WCE, RCD");
            assert_eq!(
                &control[2..6],
                &[0x04, 0xF0, 0x08, 0x00],
                "D_SENSE, QAM, SWP"
            );
        } else {
            assert_eq!(caching[2], 0);
            assert_eq!(&control[2..6], &[0, 0, 0, 0]);
        }
        for (code, sub, page) in &p {
            let body = if *sub == 0 { &page[2..] } else { &page[4..] };
            if (*code, *sub) != (0x08, 0) && (*code, *sub) != (0x0A, 0) {
                assert!(body.iter().all(|&b| b == 0), "page {code:02x}/{sub:02x}");
            }
        }
        assert_eq!(be16(&control, 8), 0, "BUSY TIMEOUT PERIOD is fixed");
    }

    #[test]
    fn saved_values_are_not_supported() {
        let f = Fixture::new();
        let r = f.run(0, &ms6(false, PC_SAVED, 0x3F, 0, 255));
        assert_eq!(r.scsi_status(), ScsiStatus::CheckCondition);
        assert_eq!(sense_code(&r.sense), (0x05, 0x39, 0x00));
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
        let f = Fixture::new();
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
