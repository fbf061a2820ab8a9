//! MODE SELECT (6) and (10) (SPC-5 §6.11, §6.12): changing mode pages within their changeable
//! masks, and saving them in the parameter store so they survive a restart.

use super::mode_sense::{
    encode_page, pages_of, View, CACHING, CONTROL, INFORMATIONAL_EXCEPTIONS,
    LOGICAL_BLOCK_PROVISIONING_SUBPAGE,
};
use super::{Ctx, Plan};
use crate::backend::BlockBackend;
use crate::cdb::{be16, be24, be32, be64, byte};
use crate::lun::{Lun, LunId, ModeParameters};
use crate::mutation::Mutation;
use crate::sense::{asc, Sense};
use crate::status::CommandResult;
use crate::store::ParameterStore;
use alloc::vec::Vec;

use crate::table::{AccessClass as A, CommandEntry as E, Flags as F, Kind};

/// Flush access: a change to SWP or WCE takes effect after the writes that came before it.
pub(crate) const ENTRIES: &[E] = &[
    E::new(
        0x15,
        "MODE SELECT(6)",
        Kind::ModeSelect6,
        F::OK_ON_STANDBY.union(F::DATA_OUT).union(F::OK_ON_NO_MEDIA),
        A::Flush,
        &[0x15, 0x11, 0x00, 0x00, 0xFF, 0x07],
    ),
    E::new(
        0x55,
        "MODE SELECT(10)",
        Kind::ModeSelect10,
        F::OK_ON_STANDBY.union(F::DATA_OUT).union(F::OK_ON_NO_MEDIA),
        A::Flush,
        &[0x55, 0x11, 0x00, 0x00, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0x07],
    ),
];

/// CDB byte 1: PAGE FORMAT and SAVE PAGES.
const PF: u8 = 0x10;
const SP: u8 = 0x01;

/// Where the saved values live in the parameter store.
pub(crate) const SAVED_KEY: &str = "mode";

fn parameter_list_length(kind: Kind, cdb: &[u8]) -> u16 {
    match kind {
        Kind::ModeSelect6 => u16::from(byte(cdb, 4)),
        _ => be16(cdb, 7),
    }
}

pub(crate) fn precheck<B: BlockBackend>(
    kind: Kind,
    _lun: Option<&Lun<B>>,
    cdb: &[u8],
) -> Result<Plan, Sense> {
    // PF 0 would mean vendor-specific (SCSI-1) page formats; there are none.
    if byte(cdb, 1) & PF == 0 {
        return Err(Sense::invalid_field_in_cdb(1, Some(4)));
    }
    Ok(Plan::parameter_list(u32::from(parameter_list_length(
        kind, cdb,
    ))))
}

pub(crate) async fn execute<B: BlockBackend>(
    ctx: &Ctx<'_, B>,
    kind: Kind,
    data_out: Vec<u8>,
) -> CommandResult {
    let result = mode_select(ctx, kind, &data_out).await;
    ctx.device.buffers.give(data_out);
    result
}

async fn mode_select<B: BlockBackend>(ctx: &Ctx<'_, B>, kind: Kind, data: &[u8]) -> CommandResult {
    let Some(lun) = ctx.lun else {
        return ctx.fail(&asc::LOGICAL_UNIT_NOT_SUPPORTED);
    };
    // The initiator may have sent less than the CDB announced: what came is the list.
    let len = usize::from(parameter_list_length(kind, ctx.cdb)).min(data.len());
    let list = data.get(..len).unwrap_or_default();
    let old = lun.mode();
    let new = match parse(lun, list, kind == Kind::ModeSelect10) {
        Ok(new) => new,
        Err(sense) => return ctx.fail(&sense),
    };
    // SWP inhibits writing "after writing all cached or buffered write data" (SPC-5
    // §7.5.10), and without WCE every completed write must be durable: both start by
    // making the earlier writes durable, before anything changes.
    let flush_first = (new.swp && !old.swp) || (old.wce && !new.wce);
    if flush_first && lun.backend.flush().await.is_err() {
        return ctx.fail(&asc::WRITE_ERROR);
    }
    // Saved before applied, so a store that fails leaves nothing changed.
    let save = byte(ctx.cdb, 1) & SP != 0;
    if save
        && ctx
            .device
            .store()
            .save(lun.id(), SAVED_KEY, &encode_saved(&new))
            .is_err()
    {
        return ctx.fail(&asc::INTERNAL_TARGET_FAILURE);
    }
    if new != old {
        // Through the one mutation path, so the HA peer applies the same change; the other
        // nexuses learn of it from the unit attention `ModeChanged` raises.
        let _ = ctx.device.apply(Mutation::ModeChanged {
            lun: lun.id(),
            mode: new,
            by: Some(ctx.nexus),
        });
    }
    CommandResult::good(Vec::new())
}

/// The parameter-list offset `pos` as a field pointer; lists are at most 65535 bytes long.
fn at(pos: usize) -> u16 {
    u16::try_from(pos).unwrap_or(u16::MAX)
}

fn invalid(pos: usize, bit: u8) -> Sense {
    Sense::invalid_field_in_parameter_list(at(pos), Some(bit))
}

/// The most significant bit set in `bits` (not zero).
fn top_bit(bits: u8) -> u8 {
    7u8.saturating_sub(bits.leading_zeros() as u8)
}

/// Checks a whole mode parameter list against the LUN and returns the mode parameters it
/// asks for. Nothing is applied here: a list with any error changes nothing.
fn parse<B: BlockBackend>(lun: &Lun<B>, list: &[u8], ten: bool) -> Result<ModeParameters, Sense> {
    let mut mode = lun.mode();
    // A zero PARAMETER LIST LENGTH is no error (SPC-5 §6.11): nothing changes.
    if list.is_empty() {
        return Ok(mode);
    }
    let header_len = if ten { 8 } else { 4 };
    let header = list
        .get(..header_len)
        .ok_or(asc::PARAMETER_LIST_LENGTH_ERROR)?;
    // MODE DATA LENGTH is reserved in MODE SELECT, and a direct-access MEDIUM TYPE is 00h.
    // The DEVICE-SPECIFIC PARAMETER is not checked: WP is ignored and DPOFUA reserved for
    // MODE SELECT (SBC-4 §6.5.2), and initiators echo what MODE SENSE reported.
    let (medium_type, descriptor_len_at) = if ten { (2, 6) } else { (1, 3) };
    let data_length_bytes = if ten { 2 } else { 1 };
    if let Some(i) = (0..data_length_bytes).find(|&i| byte(header, i) != 0) {
        return Err(invalid(i, top_bit(byte(header, i))));
    }
    if byte(header, medium_type) != 0 {
        return Err(invalid(medium_type, top_bit(byte(header, medium_type))));
    }
    let long_lba = ten && byte(header, 4) & 0x01 != 0;
    if ten {
        // Byte 4 bits 7..1 and byte 5 are reserved.
        if byte(header, 4) & 0xFE != 0 {
            return Err(invalid(4, top_bit(byte(header, 4) & 0xFE)));
        }
        if byte(header, 5) != 0 {
            return Err(invalid(5, top_bit(byte(header, 5))));
        }
    }
    let descriptor_len = if ten {
        usize::from(be16(header, 6))
    } else {
        usize::from(byte(header, 3))
    };
    // A direct-access logical unit has one block descriptor at most.
    let one = if long_lba { 16 } else { 8 };
    if descriptor_len != 0 && descriptor_len != one {
        return Err(invalid(descriptor_len_at, 7));
    }
    let pages_at = header_len.saturating_add(descriptor_len);
    let descriptor = list
        .get(header_len..pages_at)
        .ok_or(asc::PARAMETER_LIST_LENGTH_ERROR)?;
    if !descriptor.is_empty() {
        check_block_descriptor(lun, descriptor, long_lba, header_len)?;
    }

    let pages = pages_of(lun);
    let mut pos = pages_at;
    while let Some(&b0) = list.get(pos) {
        // PS is reserved in MODE SELECT; it is ignored rather than refused because
        // initiators send back the page MODE SENSE gave them, PS and all.
        let code = b0 & 0x3F;
        let sub_page_format = b0 & 0x40 != 0;
        let (subpage, page_len, page_header_len) = if sub_page_format {
            let h = list
                .get(pos..pos.saturating_add(4))
                .ok_or(asc::PARAMETER_LIST_LENGTH_ERROR)?;
            (byte(h, 1), usize::from(be16(h, 2)), 4usize)
        } else {
            let h = list
                .get(pos..pos.saturating_add(2))
                .ok_or(asc::PARAMETER_LIST_LENGTH_ERROR)?;
            (0, usize::from(byte(h, 1)), 2)
        };
        // A subpage 0 is always in page_0 format (SPC-5 §7.5.7), so SPF with subpage 0 names
        // no page either.
        let known = (sub_page_format == (subpage != 0)) && pages.contains(&(code, subpage));
        if !known {
            return Err(if pages.iter().any(|&(c, _)| c == code) {
                invalid(pos.saturating_add(1), 7)
            } else {
                invalid(pos, 5)
            });
        }
        let current = encode_page(code, subpage, &View::values(mode));
        let changeable = encode_page(code, subpage, &View::changeable());
        if page_header_len.saturating_add(page_len) != current.len() {
            // The PAGE LENGTH field: byte 1, or bytes 2..3 in sub_page format.
            let page_length_at = if sub_page_format { 2 } else { 1 };
            return Err(invalid(pos.saturating_add(page_length_at), 7));
        }
        let end = pos.saturating_add(current.len());
        let page = list.get(pos..end).ok_or(asc::PARAMETER_LIST_LENGTH_ERROR)?;
        let fields = page.iter().zip(&current).zip(&changeable).enumerate();
        for (i, ((&sent, &now), &may_change)) in fields.skip(page_header_len) {
            let fixed_bits_changed = (sent ^ now) & !may_change;
            if fixed_bits_changed != 0 {
                return Err(invalid(pos.saturating_add(i), top_bit(fixed_bits_changed)));
            }
        }
        decode_page(code, subpage, page, &mut mode);
        if let Some(((c, s), offset, bit)) = value_error(&mode) {
            if (c, s) == (code, subpage) {
                return Err(invalid(pos.saturating_add(offset), bit));
            }
        }
        pos = end;
    }
    Ok(mode)
}

/// The block descriptor may only restate the medium: the capacity and block length cannot
/// change (SBC-4 §6.5.2).
fn check_block_descriptor<B: BlockBackend>(
    lun: &Lun<B>,
    d: &[u8],
    long_lba: bool,
    at: usize,
) -> Result<(), Sense> {
    let (blocks, all_ones, mut reserved, block_len, len_at) = if long_lba {
        (be64(d, 0), u64::MAX, 8..12, be32(d, 12), 12)
    } else {
        let count = u64::from(be32(d, 0));
        (count, u64::from(u32::MAX), 4..5, be24(d, 5), 5)
    };
    // NUMBER OF LOGICAL BLOCKS: zero keeps the capacity, all ones asks for the largest,
    // which is the present one; the present one (as the short field shows it) is a no-op.
    let present = if long_lba {
        lun.blocks()
    } else {
        u64::from(u32::try_from(lun.blocks()).unwrap_or(u32::MAX))
    };
    if blocks != 0 && blocks != all_ones && blocks != present {
        return Err(invalid(at, 7));
    }
    // The short descriptor's DENSITY CODE and the long one's bytes 8..11 are reserved.
    if let Some(i) = reserved.find(|&i| byte(d, i) != 0) {
        return Err(invalid(at.saturating_add(i), top_bit(byte(d, i))));
    }
    if block_len != lun.block_size() {
        return Err(invalid(at.saturating_add(len_at), 7));
    }
    Ok(())
}

/// Takes the changeable fields of one received page into `mode`; the fixed ones were
/// checked equal to the current page already.
fn decode_page(code: u8, subpage: u8, p: &[u8], mode: &mut ModeParameters) {
    let bit = |i: usize, mask: u8| byte(p, i) & mask != 0;
    match (code, subpage) {
        (CACHING, 0) => {
            mode.wce = bit(2, 0x04);
            mode.rcd = bit(2, 0x01);
        }
        (CONTROL, 0) => {
            mode.d_sense = bit(2, 0x04);
            mode.qam = byte(p, 3) >> 4;
            mode.qerr = (byte(p, 3) >> 1) & 0x03;
            mode.swp = bit(4, 0x08);
            mode.tas = bit(5, 0x40);
        }
        (INFORMATIONAL_EXCEPTIONS, 0) => {
            mode.dexcpt = bit(2, 0x08);
            mode.ie_test = bit(2, 0x04);
            mode.mrie = byte(p, 3) & 0x0F;
            mode.interval_timer = be32(p, 4);
            mode.report_count = be32(p, 8);
        }
        (INFORMATIONAL_EXCEPTIONS, LOGICAL_BLOCK_PROVISIONING_SUBPAGE) => {
            mode.situa = bit(4, 0x01);
            mode.available_threshold_enabled = bit(16, 0x80);
            mode.available_threshold_count = be32(p, 20);
            mode.used_threshold_enabled = bit(24, 0x80);
            mode.used_threshold_count = be32(p, 28);
        }
        _ => {}
    }
}

/// The first value the standards reserve or forbid, as (page, byte in the page, bit).
fn value_error(m: &ModeParameters) -> Option<((u8, u8), usize, u8)> {
    // QUEUE ALGORITHM MODIFIER 2h..7h is reserved (8h..Fh is vendor specific: none of ours).
    if m.qam > 1 {
        return Some(((CONTROL, 0), 3, 7));
    }
    // QERR 10b is reserved.
    if m.qerr == 0b10 || m.qerr > 0b11 {
        return Some(((CONTROL, 0), 3, 2));
    }
    // MRIE 1h is obsolete, 7h..Bh reserved, Ch..Fh vendor specific.
    if m.mrie == 1 || m.mrie > 6 {
        return Some(((INFORMATIONAL_EXCEPTIONS, 0), 3, 3));
    }
    // TEST asks for a false exception that DEXCPT forbids (SPC-5 §7.5.16).
    if m.ie_test && m.dexcpt {
        return Some(((INFORMATIONAL_EXCEPTIONS, 0), 2, 2));
    }
    None
}

/// Saved-values record, version 1: 20 bytes, big-endian.
///
/// ```text
/// 0      version (1)
/// 1      WCE, RCD, D_SENSE, SWP, TAS, DEXCPT, TEST, SITUA (bit 0 up)
/// 2      QAM (bits 3..0), QERR (bits 5..4)
/// 3      MRIE (bits 3..0), available threshold ENABLED (bit 4), used threshold ENABLED (bit 5)
/// 4..8   INTERVAL TIMER
/// 8..12  REPORT COUNT
/// 12..16 available-resources THRESHOLD COUNT
/// 16..20 used-resources THRESHOLD COUNT
/// ```
const SAVED_VERSION: u8 = 1;
const SAVED_LEN: usize = 20;

pub(super) fn encode_saved(m: &ModeParameters) -> [u8; SAVED_LEN] {
    let flags = [
        m.wce, m.rcd, m.d_sense, m.swp, m.tas, m.dexcpt, m.ie_test, m.situa,
    ];
    let mut out = [0u8; SAVED_LEN];
    out[0] = SAVED_VERSION;
    out[1] = flags
        .iter()
        .enumerate()
        .fold(0, |acc, (i, &on)| acc | (u8::from(on) << i));
    out[2] = (m.qam & 0x0F) | ((m.qerr & 0x03) << 4);
    out[3] = (m.mrie & 0x0F)
        | (u8::from(m.available_threshold_enabled) << 4)
        | (u8::from(m.used_threshold_enabled) << 5);
    out[4..8].copy_from_slice(&m.interval_timer.to_be_bytes());
    out[8..12].copy_from_slice(&m.report_count.to_be_bytes());
    out[12..16].copy_from_slice(&m.available_threshold_count.to_be_bytes());
    out[16..20].copy_from_slice(&m.used_threshold_count.to_be_bytes());
    out
}

/// `None` for a record of another version, of the wrong length, with reserved bits set or
/// with values MODE SELECT would refuse: such a record is not ours to trust.
fn decode_saved(b: &[u8]) -> Option<ModeParameters> {
    if b.len() != SAVED_LEN || byte(b, 0) != SAVED_VERSION || byte(b, 2) & 0xC0 != 0 {
        return None;
    }
    if byte(b, 3) & 0xC0 != 0 {
        return None;
    }
    let flag = |i: u8| byte(b, 1) & (1 << i) != 0;
    let m = ModeParameters {
        wce: flag(0),
        rcd: flag(1),
        d_sense: flag(2),
        swp: flag(3),
        tas: flag(4),
        dexcpt: flag(5),
        ie_test: flag(6),
        situa: flag(7),
        qam: byte(b, 2) & 0x0F,
        qerr: (byte(b, 2) >> 4) & 0x03,
        mrie: byte(b, 3) & 0x0F,
        available_threshold_enabled: byte(b, 3) & 0x10 != 0,
        used_threshold_enabled: byte(b, 3) & 0x20 != 0,
        interval_timer: be32(b, 4),
        report_count: be32(b, 8),
        available_threshold_count: be32(b, 12),
        used_threshold_count: be32(b, 16),
    };
    value_error(&m).is_none().then_some(m)
}

/// The values last saved for `lun` with MODE SELECT's SP bit, if any can be read.
pub(super) fn saved_mode(lun: LunId, store: &dyn ParameterStore) -> Option<ModeParameters> {
    decode_saved(&store.load(lun, SAVED_KEY)?)
}

/// Makes the saved values current: called once when a LUN is created, as a power on would.
/// Without saved values (or with unreadable ones) the LUN keeps its defaults.
pub(crate) fn restore_saved_mode<B: BlockBackend>(lun: &Lun<B>, store: &dyn ParameterStore) {
    if let Some(saved) = saved_mode(lun.id(), store) {
        lun.set_mode(saved);
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;
    use crate::device::{CommandRequest, Completion, Submission};
    use crate::lun_address;
    use crate::nexus::NexusId;
    use crate::status::ScsiStatus;
    use crate::store::MemoryStore;
    use crate::task_set::TaskAttribute;
    use alloc::vec;

    /// Runs a command with data-out on LUN 0.
    fn run_out(f: &Fixture, nexus: NexusId, cdb: &[u8], data: &[u8]) -> CommandResult {
        let req = CommandRequest {
            nexus,
            lun: lun_address::encode(0),
            cdb,
            tag: 0xD0_0000,
            attr: TaskAttribute::Simple,
            data_out_len: u32::try_from(data.len()).unwrap(),
        };
        match f.device.submit(&req) {
            Submission::Complete(r) => r,
            Submission::Queued(task) => match block_on(f.device.execute(task, data.to_vec())) {
                Completion::Done(r) => r,
                Completion::Aborted(kind) => panic!("aborted: {kind:?}"),
            },
        }
    }

    fn select6(f: &Fixture, sp: bool, list: &[u8]) -> CommandResult {
        let len = u8::try_from(list.len()).unwrap();
        run_out(f, f.nexus, &[0x15, 0x10 | u8::from(sp), 0, 0, len, 0], list)
    }

    fn select10(f: &Fixture, list: &[u8]) -> CommandResult {
        let [hi, lo] = u16::try_from(list.len()).unwrap().to_be_bytes();
        let cdb = [0x55, 0x10, 0, 0, 0, 0, 0, hi, lo, 0];
        run_out(f, f.nexus, &cdb, list)
    }

    /// The current page `code`/`sub` as MODE SENSE(6) returns it.
    fn current_page(f: &Fixture, code: u8, sub: u8) -> Vec<u8> {
        let d = good(f.run(0, &[0x1A, 0x08, code, sub, 255, 0]));
        d[4..].to_vec()
    }

    /// A MODE SELECT(6) list: empty header, then `pages`.
    fn list6(pages: &[&[u8]]) -> Vec<u8> {
        let mut l = vec![0u8; 4];
        for p in pages {
            l.extend_from_slice(p);
        }
        l
    }

    /// (byte, bit) of a parameter-list field pointer in fixed-format sense.
    fn list_pointer(r: &CommandResult) -> (u16, Option<u8>) {
        let s = &r.sense;
        assert_eq!(s[15] & 0xC0, 0x80, "SKSV set, C/D clear: {s:02x?}");
        let bit = (s[15] & 0x08 != 0).then_some(s[15] & 0x07);
        (u16::from_be_bytes([s[16], s[17]]), bit)
    }

    #[track_caller]
    fn assert_invalid_in_list(r: &CommandResult, byte: u16, bit: u8) {
        assert_eq!(r.scsi_status(), ScsiStatus::CheckCondition);
        assert_eq!(sense_code(&r.sense), (0x05, 0x26, 0x00), "{:02x?}", r.sense);
        assert_eq!(list_pointer(r), (byte, Some(bit)));
    }

    #[track_caller]
    fn assert_length_error(r: &CommandResult) {
        assert_eq!(r.scsi_status(), ScsiStatus::CheckCondition);
        assert_eq!(sense_code(&r.sense), (0x05, 0x1A, 0x00), "{:02x?}", r.sense);
    }

    fn lun(f: &Fixture) -> alloc::rc::Rc<Lun<TestBackend>> {
        f.device.lun(LunId(0)).unwrap()
    }

    fn thin_fixture() -> Fixture {
        let mut c = lun_config(0, 2048);
        c.thin = true;
        Fixture::with(port_config(None), [c])
    }

    #[test]
    fn page_format_is_required() {
        let f = Fixture::new();
        let r = run_out(&f, f.nexus, &[0x15, 0x00, 0, 0, 4, 0], &[0; 4]);
        assert_invalid_field(&r, 1);
        assert_eq!(r.sense[15] & 0x0F, 0x08 | 4, "bit 4");
        let r = run_out(&f, f.nexus, &[0x55, 0x01, 0, 0, 0, 0, 0, 0, 8, 0], &[0; 8]);
        assert_invalid_field(&r, 1);
    }

    #[test]
    fn an_empty_list_or_a_bare_header_changes_nothing() {
        let f = Fixture::new();
        let before = lun(&f).mode();
        good(select6(&f, false, &[]));
        good(select6(&f, false, &[0; 4]));
        good(select10(&f, &[0; 8]));
        assert_eq!(lun(&f).mode(), before);
    }

    #[test]
    fn each_rejection_points_at_its_field() {
        let f = Fixture::new();
        let caching = current_page(&f, 0x08, 0);
        let control = current_page(&f, 0x0A, 0);
        let ie = current_page(&f, 0x1C, 0);
        let with = |page: &[u8], at: usize, value: u8| {
            let mut p = page.to_vec();
            p[at] = value;
            p
        };
        let descriptor = |count: u32, density: u8, len: u32| {
            let mut l = vec![0, 0, 0, 8];
            l.extend_from_slice(&count.to_be_bytes());
            l.push(density);
            l.extend_from_slice(&len.to_be_bytes()[1..]);
            l
        };
        // (what, parameter list, byte, bit)
        let cases: Vec<(&str, Vec<u8>, u16, u8)> = vec![
            ("MODE DATA LENGTH", vec![0x0B, 0, 0, 0], 0, 3),
            ("MEDIUM TYPE", vec![0, 0x01, 0, 0], 1, 0),
            (
                "BLOCK DESCRIPTOR LENGTH",
                vec![0, 0, 0, 4, 0, 0, 0, 0],
                3,
                7,
            ),
            ("NUMBER OF LOGICAL BLOCKS", descriptor(1000, 0, 512), 4, 7),
            ("DENSITY CODE", descriptor(2048, 0x20, 512), 8, 5),
            ("LOGICAL BLOCK LENGTH", descriptor(0, 0, 4096), 9, 7),
            ("unknown page", list6(&[&[0x02, 0x0E], &[0; 14]]), 4, 5),
            (
                "unknown subpage",
                list6(&[&[0x48, 0x01, 0, 0x10], &[0; 16]]),
                5,
                7,
            ),
            (
                "SPF with subpage 0",
                list6(&[&[0x4A, 0x00, 0, 0x0A], &[0; 10]]),
                5,
                7,
            ),
            (
                "PAGE LENGTH",
                list6(&[&caching[..12]]).tap_len(4 + 1, 0x0A),
                5,
                7,
            ),
            (
                "IC is fixed",
                list6(&[&with(&caching, 2, caching[2] | 0x80)]),
                6,
                7,
            ),
            (
                "TST is fixed",
                list6(&[&with(&control, 2, control[2] | 0x20)]),
                6,
                5,
            ),
            (
                "GLTSD is fixed",
                list6(&[&with(&control, 2, control[2] & !0x02)]),
                6,
                1,
            ),
            ("BUSY TIMEOUT", list6(&[&with(&control, 8, 0x7F)]), 12, 7),
            ("QAM 2h", list6(&[&with(&control, 3, 0x20)]), 7, 7),
            ("QERR 10b", list6(&[&with(&control, 3, 0x04)]), 7, 2),
            ("MRIE 7h", list6(&[&with(&ie, 3, 0x07)]), 7, 3),
            ("MRIE 1h", list6(&[&with(&ie, 3, 0x01)]), 7, 3),
            ("TEST and DEXCPT", list6(&[&with(&ie, 2, 0x0C)]), 6, 2),
            (
                "second page",
                list6(&[&caching, &with(&control, 5, 0x41)]),
                4 + 20 + 5,
                0,
            ),
            (
                "provisioning page on a full LUN",
                list6(&[&[0x5C, 0x02, 0, 0x1C], &[0; 28]]),
                5,
                7,
            ),
        ];
        let before = lun(&f).mode();
        for (what, list, byte, bit) in cases {
            let r = select6(&f, true, &list);
            assert_invalid_in_list(&r, byte, bit);
            assert_eq!(lun(&f).mode(), before, "{what} changed something");
        }
        assert!(f.device.store().load(LunId(0), SAVED_KEY).is_none());
    }

    trait TapLen {
        fn tap_len(self, at: usize, len: u8) -> Self;
    }

    impl TapLen for Vec<u8> {
        /// Overwrites a PAGE LENGTH byte.
        fn tap_len(mut self, at: usize, len: u8) -> Self {
            self[at] = len;
            self
        }
    }

    #[test]
    fn mode_select10_checks_its_own_header() {
        let f = Fixture::new();
        let mut long = vec![0, 0, 0, 0, 0x01, 0, 0, 16];
        long.extend_from_slice(&2048u64.to_be_bytes());
        long.extend_from_slice(&[0, 0, 0, 0]);
        long.extend_from_slice(&512u32.to_be_bytes());
        good(select10(&f, &long));
        let mut bad = long.clone();
        bad[8 + 12..8 + 16].copy_from_slice(&4096u32.to_be_bytes());
        assert_invalid_in_list(&select10(&f, &bad), 8 + 12, 7);
        let mut bad = long.clone();
        bad[8 + 9] = 1;
        assert_invalid_in_list(&select10(&f, &bad), 8 + 9, 0);
        assert_invalid_in_list(&select10(&f, &[0, 0, 0, 0, 0x02, 0, 0, 0]), 4, 1);
        assert_invalid_in_list(&select10(&f, &[0, 0, 0, 0, 0, 0x10, 0, 0]), 5, 4);
        assert_invalid_in_list(&select10(&f, &[0, 1, 0, 0, 0, 0, 0, 0]), 1, 0);
        // Short descriptor length with LONGLBA set.
        assert_invalid_in_list(&select10(&f, &[0, 0, 0, 0, 0x01, 0, 0, 8]), 6, 7);
    }

    #[test]
    fn truncated_lists_are_parameter_list_length_errors() {
        let f = Fixture::new();
        let caching = current_page(&f, 0x08, 0);
        let whole = list6(&[&caching]);
        for cut in [1, 3, 4 + 1, whole.len() - 1] {
            assert_length_error(&select6(&f, false, &whole[..cut]));
        }
        // A block descriptor announced but not sent.
        assert_length_error(&select6(&f, false, &[0, 0, 0, 8, 0, 0]));
        let mut ten = vec![0u8; 8];
        ten.extend_from_slice(&caching);
        assert_length_error(&select10(&f, &ten[..7]));
        assert_length_error(&select10(&f, &ten[..ten.len() - 3]));
        // The initiator sent less than the CDB announced.
        let r = run_out(&f, f.nexus, &[0x15, 0x10, 0, 0, 24, 0], &whole[..10]);
        assert_length_error(&r);
    }

    #[test]
    fn changeable_fields_change_and_other_nexuses_hear_of_it() {
        let f = Fixture::new();
        let other = f.login();
        let caching = current_page(&f, 0x08, 0);
        let mut control = current_page(&f, 0x0A, 0);
        let mut ie = current_page(&f, 0x1C, 0);
        let mut no_cache = caching.clone();
        no_cache[2] = 0x01; // RCD, WCE clear
        control[2] |= 0x04; // D_SENSE
        control[3] = 0x16; // QAM 1, QERR 11b
        control[5] = 0x00; // TAS clear
        ie[2] = 0x04; // TEST, DEXCPT clear
        ie[3] = 0x06;
        ie[4..12].copy_from_slice(&[0, 0, 0, 50, 0, 0, 0, 3]);
        // PS set as MODE SENSE reported it, and a block descriptor restating the medium.
        let mut list = vec![0, 0, 0, 8, 0, 0, 0x08, 0x00, 0, 0, 0x02, 0x00];
        for p in [&no_cache, &control, &ie] {
            list.extend_from_slice(p);
        }
        good(select6(&f, false, &list));
        let m = lun(&f).mode();
        assert!(!m.wce && m.rcd && m.d_sense && !m.tas && m.ie_test && !m.dexcpt);
        assert_eq!((m.qam, m.qerr, m.mrie), (1, 3, 6));
        assert_eq!((m.interval_timer, m.report_count), (50, 3));
        let r = f.run_on(other, 0, &[0x00, 0, 0, 0, 0, 0]);
        assert_eq!(r.scsi_status(), ScsiStatus::CheckCondition);
        assert_eq!(sense_code(&r.sense), (0x06, 0x2A, 0x01));
        good(f.run(0, &[0x00, 0, 0, 0, 0, 0]));
        assert!(
            f.device.store().load(LunId(0), SAVED_KEY).is_none(),
            "SP was 0"
        );
    }

    #[test]
    fn selecting_the_current_values_raises_no_attention() {
        let f = Fixture::new();
        let other = f.login();
        let control = current_page(&f, 0x0A, 0);
        good(select6(&f, false, &list6(&[&control])));
        good(f.run_on(other, 0, &[0x00, 0, 0, 0, 0, 0]));
    }

    #[test]
    fn swp_write_protects_and_is_cleared_again() {
        let f = Fixture::new();
        let mut control = current_page(&f, 0x0A, 0);
        control[0] &= 0x7F; // PS cleared, as libiscsi does
        control[4] |= 0x08;
        good(select6(&f, false, &list6(&[&control])));
        assert!(lun(&f).write_protected());
        let d = good(f.run(0, &[0x1A, 0x08, 0x0A, 0, 255, 0]));
        assert_eq!(d[2] & 0x80, 0x80, "WP");
        let r = run_out(&f, f.nexus, &[0x2A, 0, 0, 0, 0, 0, 0, 0, 1, 0], &[0; 512]);
        assert_eq!(sense_code(&r.sense), (0x07, 0x27, 0x00));
        control[4] &= !0x08;
        good(select6(&f, false, &list6(&[&control])));
        assert!(!lun(&f).write_protected());
    }

    #[test]
    fn provisioning_thresholds_change_on_a_thin_lun() {
        let f = thin_fixture();
        let mut p = current_page(&f, 0x1C, 0x02);
        p[4] = 0x01;
        p[16] |= 0x80;
        p[20..24].copy_from_slice(&7u32.to_be_bytes());
        p[28..32].copy_from_slice(&9u32.to_be_bytes());
        good(select6(&f, false, &list6(&[&p])));
        let m = lun(&f).mode();
        assert!(m.situa && m.available_threshold_enabled && !m.used_threshold_enabled);
        assert_eq!(
            (m.available_threshold_count, m.used_threshold_count),
            (7, 9)
        );
        // THRESHOLD RESOURCE is fixed.
        let mut bad = p.clone();
        bad[17] = 0x02;
        assert_invalid_in_list(&select6(&f, false, &list6(&[&bad])), 4 + 17, 1);
    }

    #[test]
    fn saving_stores_the_values_and_a_new_lun_restores_them() {
        let f = Fixture::new();
        let mut control = current_page(&f, 0x0A, 0);
        control[2] |= 0x04;
        good(select6(&f, true, &list6(&[&control])));
        let record = f.device.store().load(LunId(0), SAVED_KEY).unwrap();
        assert_eq!(record.len(), SAVED_LEN);
        let saved = decode_saved(&record).unwrap();
        assert!(saved.d_sense);
        assert_eq!(saved, lun(&f).mode());
        let d = good(f.run(0, &[0x1A, 0x08, 0xCA, 0, 255, 0]));
        assert_eq!(d[4 + 2] & 0x04, 0x04, "saved D_SENSE");

        // What a restart does: a LUN made from the same config, then the saved values.
        let again = Fixture::new();
        let l = lun(&again);
        assert!(!l.mode().d_sense);
        restore_saved_mode(&l, f.device.store());
        assert_eq!(l.mode(), saved);
        // Nothing saved, or something unreadable: the defaults stay.
        let empty = MemoryStore::default();
        let defaults = l.default_mode();
        let fresh = Fixture::new();
        restore_saved_mode(&lun(&fresh), &empty);
        assert_eq!(lun(&fresh).mode(), defaults);
        empty.save(LunId(0), SAVED_KEY, &[9, 9, 9]).unwrap();
        restore_saved_mode(&lun(&fresh), &empty);
        assert_eq!(lun(&fresh).mode(), defaults);
    }

    #[test]
    fn save_pages_with_an_empty_list_saves_the_current_values() {
        let f = Fixture::new();
        let l = lun(&f);
        l.set_mode(ModeParameters {
            rcd: true,
            ..l.mode()
        });
        good(select6(&f, true, &[]));
        let record = f.device.store().load(LunId(0), SAVED_KEY).unwrap();
        assert_eq!(decode_saved(&record), Some(l.mode()));
    }

    fn samples() -> [ModeParameters; 3] {
        let d = ModeParameters::from_config(&lun_config(0, 8));
        [
            d,
            ModeParameters {
                wce: !d.wce,
                rcd: !d.rcd,
                d_sense: true,
                swp: true,
                qam: 1,
                qerr: 3,
                tas: false,
                dexcpt: false,
                ie_test: true,
                mrie: 6,
                interval_timer: u32::MAX,
                report_count: 0x8000_0001,
                situa: true,
                available_threshold_enabled: true,
                available_threshold_count: 1,
                used_threshold_enabled: true,
                used_threshold_count: u32::MAX - 1,
            },
            ModeParameters {
                qerr: 1,
                mrie: 2,
                used_threshold_count: 77,
                ..d
            },
        ]
    }

    #[test]
    fn saved_records_round_trip() {
        for m in samples() {
            assert_eq!(decode_saved(&encode_saved(&m)), Some(m));
        }
    }

    #[test]
    fn saved_records_that_cannot_be_trusted_are_ignored() {
        let good_record = encode_saved(&samples()[1]);
        let mut cases: Vec<Vec<u8>> = vec![
            Vec::new(),
            good_record[..SAVED_LEN - 1].to_vec(),
            [&good_record[..], &[0]].concat(),
        ];
        for (at, value) in [
            (0, 2),
            (0, 0),
            (2, 0x40),
            (2, 0x22),
            (3, 0x80),
            (3, 0x07),
            (3, 0x01),
        ] {
            let mut r = good_record.to_vec();
            r[at] = value;
            cases.push(r);
        }
        // TEST with DEXCPT.
        let mut r = good_record.to_vec();
        r[1] |= 0x20 | 0x40;
        cases.push(r);
        for c in cases {
            assert_eq!(decode_saved(&c), None, "{c:02x?}");
        }
    }

    #[test]
    fn pages_round_trip_through_encode_and_decode() {
        let defaults = ModeParameters::from_config(&lun_config(0, 8));
        for m in samples() {
            let mut back = defaults;
            for (code, sub) in [(0x08, 0), (0x0A, 0), (0x1C, 0), (0x1C, 2)] {
                decode_page(
                    code,
                    sub,
                    &encode_page(code, sub, &View::values(m)),
                    &mut back,
                );
            }
            assert_eq!(back, m);
        }
    }

    #[test]
    fn a_failing_store_changes_nothing() {
        struct Broken;
        impl ParameterStore for Broken {
            fn load(&self, _: LunId, _: &str) -> Option<Vec<u8>> {
                None
            }
            fn save(&self, _: LunId, _: &str, _: &[u8]) -> Result<(), alloc::string::String> {
                Err("flash worn out".into())
            }
        }
        let mut f = Fixture::new();
        f.device.set_store(alloc::boxed::Box::new(Broken));
        let before = lun(&f).mode();
        let mut control = current_page(&f, 0x0A, 0);
        control[2] |= 0x04;
        let r = select6(&f, true, &list6(&[&control]));
        assert_eq!(sense_code(&r.sense), (0x04, 0x44, 0x00));
        assert_eq!(lun(&f).mode(), before);
        good(select6(&f, false, &list6(&[&control])));
        assert!(lun(&f).mode().d_sense);
    }
}
