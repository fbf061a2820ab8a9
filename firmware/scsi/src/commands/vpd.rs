//! Vital product data pages (SPC-5 §7.8, SBC-4 §6.6) returned by INQUIRY with EVPD set.

use super::compare_and_write::MAX_COMPARE_AND_WRITE_BLOCKS;
use super::inquiry::{ascii, ascii_field, peripheral};
use super::read_write::MAX_TRANSFER_BYTES;
use super::unmap::{MAX_UNMAP_DESCRIPTORS, MAX_UNMAP_LBA_COUNT};
use super::write_atomic::{atomic_alignment, MAX_ATOMIC_TRANSFER_BYTES};
use super::write_same::MAX_WRITE_SAME_BLOCKS;
use super::Ctx;
use crate::backend::BlockBackend;
use crate::cdb::put;
use crate::device::TargetDevice;
use crate::lun::Lun;
use crate::nexus::PortConfig;
use crate::sense::MAX_SENSE_LEN;
use crate::table::{self, CommandEntry, Lookup};
use alloc::vec::Vec;

pub(crate) const SUPPORTED_PAGES: u8 = 0x00;
pub(crate) const UNIT_SERIAL_NUMBER: u8 = 0x80;
pub(crate) const DEVICE_IDENTIFICATION: u8 = 0x83;
pub(crate) const EXTENDED_INQUIRY: u8 = 0x86;
pub(crate) const SCSI_PORTS: u8 = 0x88;
pub(crate) const BLOCK_LIMITS: u8 = 0xB0;
pub(crate) const BLOCK_DEVICE_CHARACTERISTICS: u8 = 0xB1;
pub(crate) const LOGICAL_BLOCK_PROVISIONING: u8 = 0xB2;

/// Pages a logical unit reports, ascending as SPC requires of the Supported VPD Pages page.
/// Logical Block Provisioning is there for fully provisioned LUNs too: it says they are.
const LUN_PAGES: [u8; 8] = [
    SUPPORTED_PAGES,
    UNIT_SERIAL_NUMBER,
    DEVICE_IDENTIFICATION,
    EXTENDED_INQUIRY,
    SCSI_PORTS,
    BLOCK_LIMITS,
    BLOCK_DEVICE_CHARACTERISTICS,
    LOGICAL_BLOCK_PROVISIONING,
];
/// Behind a LUN number with no logical unit there is nothing to identify or describe.
const NO_LUN_PAGES: [u8; 1] = [SUPPORTED_PAGES];

/// OPTIMAL TRANSFER LENGTH of the Block Limits page, in bytes.
const OPTIMAL_TRANSFER_BYTES: u64 = 1 << 20;

/// THRESHOLD EXPONENT of a thin LUN: provisioning thresholds and resource counts are in
/// threshold sets of 2^11 logical blocks (CTL's `CTL_LBP_EXPONENT`), so a 32-bit count covers
/// 2^43 blocks.
pub(crate) const THRESHOLD_EXPONENT: u8 = 11;

/// PROVISIONING TYPE values (SBC-4 §6.6.4).
const PROVISIONING_FULL: u8 = 0b000;
const PROVISIONING_THIN: u8 = 0b010;

/// PROTOCOL IDENTIFIER of iSCSI (SPC-5 table 444).
const PROTOCOL_ISCSI: u8 = 0x5;

/// Designation descriptor CODE SET values.
const CODE_SET_BINARY: u8 = 0x1;
const CODE_SET_ASCII: u8 = 0x2;
const CODE_SET_UTF8: u8 = 0x3;

/// Designation descriptor ASSOCIATION values.
const ASSOC_LOGICAL_UNIT: u8 = 0x0;
const ASSOC_TARGET_PORT: u8 = 0x1;
const ASSOC_TARGET_DEVICE: u8 = 0x2;

/// Designation descriptor DESIGNATOR TYPE values.
const TYPE_T10_VENDOR_ID: u8 = 0x1;
const TYPE_EUI64: u8 = 0x2;
const TYPE_NAA: u8 = 0x3;
const TYPE_RELATIVE_TARGET_PORT: u8 = 0x4;
const TYPE_TARGET_PORT_GROUP: u8 = 0x5;
const TYPE_SCSI_NAME_STRING: u8 = 0x8;

/// The page `code` for the command's LUN; `None` if it is not supported.
pub(crate) fn page<B: BlockBackend>(ctx: &Ctx<'_, B>, code: u8) -> Option<Vec<u8>> {
    // Each builder returns the whole page with the four header bytes left zero, so offsets
    // in them are the byte numbers of SPC and SBC.
    let mut page = match (ctx.lun, code) {
        (None, SUPPORTED_PAGES) => with_header(&NO_LUN_PAGES),
        (None, _) => return None,
        (Some(_), SUPPORTED_PAGES) => with_header(&LUN_PAGES),
        (Some(l), UNIT_SERIAL_NUMBER) => unit_serial_number(l),
        (Some(l), DEVICE_IDENTIFICATION) => device_identification(l, ctx.port),
        (Some(_), EXTENDED_INQUIRY) => extended_inquiry(),
        (Some(l), SCSI_PORTS) => scsi_ports(l, ctx.device),
        (Some(l), BLOCK_LIMITS) => block_limits(l),
        (Some(l), BLOCK_DEVICE_CHARACTERISTICS) => block_device_characteristics(l),
        (Some(l), LOGICAL_BLOCK_PROVISIONING) => logical_block_provisioning(l),
        (Some(_), _) => return None,
    };
    // Every page is a few hundred bytes at most, far below what the field holds.
    let length = u16::try_from(page.len().saturating_sub(4)).unwrap_or(u16::MAX);
    let [hi, lo] = length.to_be_bytes();
    put(&mut page, 0, &[peripheral(ctx.lun), code, hi, lo]);
    Some(page)
}

/// Four zero header bytes followed by `body`.
fn with_header(body: &[u8]) -> Vec<u8> {
    let mut page = Vec::with_capacity(4 + body.len());
    page.extend_from_slice(&[0; 4]);
    page.extend_from_slice(body);
    page
}

/// 80h: the configured serial number, as printable ASCII.
fn unit_serial_number<B>(lun: &Lun<B>) -> Vec<u8> {
    // A 252-byte cap keeps the page length within the one byte many initiators read.
    let serial: Vec<u8> = ascii(&lun.config().serial).take(252).collect();
    with_header(&serial)
}

/// Who a designator belongs to and how it is written (SPC-5 §7.8.6.1).
struct Designation {
    /// The transport the designator belongs to; `Some` sets PIV.
    protocol: Option<u8>,
    code_set: u8,
    association: u8,
    designator_type: u8,
}

impl Designation {
    const fn lu(code_set: u8, designator_type: u8) -> Self {
        Designation {
            protocol: None,
            code_set,
            association: ASSOC_LOGICAL_UNIT,
            designator_type,
        }
    }

    const fn iscsi(association: u8, code_set: u8, designator_type: u8) -> Self {
        Designation {
            protocol: Some(PROTOCOL_ISCSI),
            code_set,
            association,
            designator_type,
        }
    }

    /// Appends the designation descriptor holding `designator`.
    fn write(&self, out: &mut Vec<u8>, designator: &[u8]) {
        let len = u8::try_from(designator.len()).unwrap_or(u8::MAX);
        let piv = if self.protocol.is_some() { 0x80 } else { 0 };
        out.extend_from_slice(&[
            (self.protocol.unwrap_or(0) << 4) | self.code_set,
            piv | (self.association << 4) | self.designator_type,
            0,
            len,
        ]);
        out.extend_from_slice(designator.get(..usize::from(len)).unwrap_or(designator));
    }
}

/// A SCSI name string designator's bytes: UTF-8, null-terminated, padded with nulls to a
/// multiple of four, at most 252 bytes (the largest multiple of four the length byte holds).
fn scsi_name_string(name: &str) -> Vec<u8> {
    const MAX: usize = 252;
    let mut end = name.len().min(MAX - 1);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    let mut out = Vec::with_capacity(MAX);
    out.extend_from_slice(name.as_bytes().get(..end).unwrap_or_default());
    out.push(0);
    out.resize(out.len().next_multiple_of(4), 0);
    out
}

/// 83h: the logical unit's designators, then the target port's, then the target device's.
fn device_identification<B>(lun: &Lun<B>, port: &PortConfig) -> Vec<u8> {
    let c = lun.config();
    let mut out = with_header(&[]);
    // An all-zero NAA or EUI-64 is not a registered identifier: an unset one is left out.
    if c.naa.iter().any(|&b| b != 0) {
        Designation::lu(CODE_SET_BINARY, TYPE_NAA).write(&mut out, &c.naa);
    }
    if c.eui64.iter().any(|&b| b != 0) {
        Designation::lu(CODE_SET_BINARY, TYPE_EUI64).write(&mut out, &c.eui64);
    }
    // T10 VENDOR IDENTIFICATION, then the vendor-specific id, within the one-byte length.
    let mut t10 = ascii_field::<8>(&c.vendor).to_vec();
    t10.extend(ascii(&c.device_id).take(usize::from(u8::MAX) - 8));
    Designation::lu(CODE_SET_ASCII, TYPE_T10_VENDOR_ID).write(&mut out, &t10);

    let port_name = scsi_name_string(&port.port_name);
    Designation::iscsi(ASSOC_TARGET_PORT, CODE_SET_UTF8, TYPE_SCSI_NAME_STRING)
        .write(&mut out, &port_name);
    let [hi, lo] = port.relative_id.to_be_bytes();
    Designation::iscsi(
        ASSOC_TARGET_PORT,
        CODE_SET_BINARY,
        TYPE_RELATIVE_TARGET_PORT,
    )
    .write(&mut out, &[0, 0, hi, lo]);
    let [hi, lo] = port.tpg.to_be_bytes();
    Designation::iscsi(ASSOC_TARGET_PORT, CODE_SET_BINARY, TYPE_TARGET_PORT_GROUP)
        .write(&mut out, &[0, 0, hi, lo]);
    let target_name = scsi_name_string(&port.target_name);
    Designation::iscsi(ASSOC_TARGET_DEVICE, CODE_SET_UTF8, TYPE_SCSI_NAME_STRING)
        .write(&mut out, &target_name);
    out
}

/// 86h: which task attributes are honoured, and the longest sense data.
fn extended_inquiry() -> Vec<u8> {
    let mut out = alloc::vec![0u8; 64];
    out[5] = 0x04 | 0x02 | 0x01; // HEADSUP, ORDSUP, SIMPSUP
                                 // V_SUP: the Caching page's write cache is volatile. LUICLR stays 0: reporting REPORTED
                                 // LUNS DATA HAS CHANGED on one logical unit does not clear it on the others.
    out[6] = 0x01;
    out[13] = MAX_SENSE_LEN as u8; // MAXIMUM SUPPORTED SENSE DATA LENGTH
    out
}

/// 88h: every target port through which this logical unit is reachable, each with its
/// name. Ports of the peer controller are not known here.
fn scsi_ports<B: BlockBackend>(lun: &Lun<B>, device: &TargetDevice<B>) -> Vec<u8> {
    let mut out = with_header(&[]);
    for port in device.ports() {
        if port.unmap(lun.id()).is_none() {
            continue;
        }
        let mut target = Vec::new();
        Designation::iscsi(ASSOC_TARGET_PORT, CODE_SET_UTF8, TYPE_SCSI_NAME_STRING)
            .write(&mut target, &scsi_name_string(&port.port_name));
        // One designator of at most 4 + 255 bytes: the length fits.
        let [t_hi, t_lo] = (target.len() as u16).to_be_bytes();
        let [p_hi, p_lo] = port.relative_id.to_be_bytes();
        // RELATIVE PORT IDENTIFIER, no INITIATOR PORT TRANSPORTID (the page describes target
        // ports only), TARGET PORT DESCRIPTORS LENGTH.
        out.extend_from_slice(&[0, 0, p_hi, p_lo, 0, 0, 0, 0, 0, 0, t_hi, t_lo]);
        out.extend_from_slice(&target);
    }
    out
}

/// The command table's entry for an opcode without service actions.
fn command(opcode: u8) -> Option<&'static CommandEntry> {
    match table::lookup(&[opcode, 0]) {
        Lookup::Found(e) => Some(e),
        _ => None,
    }
}

/// Whether the command `opcode` exists and honours the CDB bits `mask` of byte `at`: the
/// pages below advertise what the command table executes, never more.
fn honours(opcode: u8, at: usize, mask: u8) -> bool {
    command(opcode).is_some_and(|e| e.usage.get(at).is_some_and(|&u| u & mask == mask))
}

const UNMAP: u8 = 0x42;
const WRITE_SAME_10: u8 = 0x41;
const WRITE_SAME_16: u8 = 0x93;
const COMPARE_AND_WRITE: u8 = 0x89;
const WRITE_ATOMIC_16: u8 = 0x9C;
/// CDB byte 1 bits of WRITE SAME (10, 16) and UNMAP.
const WRITE_SAME_UNMAP: u8 = 0x08;
const WRITE_SAME_ANCHOR: u8 = 0x10;
const UNMAP_ANCHOR: u8 = 0x01;

/// Which ways of deallocating a LUN offers (the B2h bits): none unless it is thin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Provisioning {
    /// UNMAP.
    pub lbpu: bool,
    /// WRITE SAME(16) with UNMAP.
    pub lbpws: bool,
    /// WRITE SAME(10) with UNMAP.
    pub lbpws10: bool,
    /// ANCHOR in UNMAP or WRITE SAME.
    pub anc_sup: bool,
}

fn provisioning<B>(lun: &Lun<B>) -> Provisioning {
    let thin = lun.thin();
    Provisioning {
        lbpu: thin && command(UNMAP).is_some(),
        lbpws: thin && honours(WRITE_SAME_16, 1, WRITE_SAME_UNMAP),
        lbpws10: thin && honours(WRITE_SAME_10, 1, WRITE_SAME_UNMAP),
        anc_sup: thin
            && (honours(WRITE_SAME_16, 1, WRITE_SAME_ANCHOR)
                || honours(WRITE_SAME_10, 1, WRITE_SAME_ANCHOR)
                || honours(UNMAP, 1, UNMAP_ANCHOR)),
    }
}

/// B0h (SBC-4 §6.6.3): transfer limits. Page length 3Ch, the SBC-3 and later layout. A
/// limit of a command that does not exist stays 0.
fn block_limits<B: BlockBackend>(lun: &Lun<B>) -> Vec<u8> {
    let block = u64::from(lun.block_size()).max(1);
    let clamp = |v: u64| u32::try_from(v).unwrap_or(u32::MAX);
    let max_transfer = clamp(MAX_TRANSFER_BYTES / block);
    let optimal = clamp(OPTIMAL_TRANSFER_BYTES / block).min(max_transfer);
    // Physical block = 2^exponent logical blocks; the exponent field is four bits wide.
    let physical = 1u16 << (lun.config().pblock_exp & 0x0F);
    let mut out = alloc::vec![0u8; 64];
    // WSNZ 0: WRITE SAME with NUMBER OF LOGICAL BLOCKS 0 means "to the end of the medium",
    // within MAXIMUM WRITE SAME LENGTH, as in CTL.
    if command(COMPARE_AND_WRITE).is_some() {
        out[5] = MAX_COMPARE_AND_WRITE_BLOCKS;
    }
    put(&mut out, 6, &physical.to_be_bytes()); // OPTIMAL TRANSFER LENGTH GRANULARITY
    put(&mut out, 8, &max_transfer.to_be_bytes()); // MAXIMUM TRANSFER LENGTH
    put(&mut out, 12, &optimal.to_be_bytes()); // OPTIMAL TRANSFER LENGTH
    if provisioning(lun).lbpu {
        put(&mut out, 20, &MAX_UNMAP_LBA_COUNT.to_be_bytes());
        put(&mut out, 24, &MAX_UNMAP_DESCRIPTORS.to_be_bytes());
        // Deallocation is worth most in whole physical blocks, starting where they start.
        put(&mut out, 28, &u32::from(physical).to_be_bytes()); // OPTIMAL UNMAP GRANULARITY
        let alignment = u32::from(lun.config().pblock_offset % physical);
        put(&mut out, 32, &(0x8000_0000 | alignment).to_be_bytes()); // UGAVALID, alignment
    }
    if command(WRITE_SAME_16).is_some() || command(WRITE_SAME_10).is_some() {
        put(&mut out, 36, &MAX_WRITE_SAME_BLOCKS.to_be_bytes());
    }
    if command(WRITE_ATOMIC_16).is_some() {
        let atomic = clamp(u64::from(MAX_ATOMIC_TRANSFER_BYTES) / block).min(max_transfer);
        put(&mut out, 44, &atomic.to_be_bytes()); // MAXIMUM ATOMIC TRANSFER LENGTH
        put(&mut out, 48, &atomic_alignment(lun).to_be_bytes()); // ATOMIC ALIGNMENT
                                                                 // ATOMIC TRANSFER LENGTH GRANULARITY 0: any length; no atomic boundaries either.
    }
    out
}

/// B2h (SBC-4 §6.6.4): how the LUN is provisioned and how it can be deallocated.
fn logical_block_provisioning<B>(lun: &Lun<B>) -> Vec<u8> {
    let p = provisioning(lun);
    let thin = lun.thin();
    let bit = |on: bool, mask: u8| if on { mask } else { 0 };
    let mut out = alloc::vec![0u8; 8];
    out[4] = if thin { THRESHOLD_EXPONENT } else { 0 };
    // LBPRZ 001b: deallocated blocks read as zeros. DP 0: no provisioning group descriptor.
    out[5] = bit(p.lbpu, 0x80)
        | bit(p.lbpws, 0x40)
        | bit(p.lbpws10, 0x20)
        | bit(thin, 0x04)
        | bit(p.anc_sup, 0x02);
    out[6] = if thin {
        PROVISIONING_THIN
    } else {
        PROVISIONING_FULL
    };
    out
}

/// B1h (SBC-4 §6.6.2): a non-rotating medium of unspecified form factor.
fn block_device_characteristics<B: BlockBackend>(lun: &Lun<B>) -> Vec<u8> {
    let mut out = alloc::vec![0u8; 64];
    put(&mut out, 4, &1u16.to_be_bytes()); // MEDIUM ROTATION RATE: non-rotating
                                           // VBULS: VERIFY compares deallocated blocks as the zeros they read as.
    out[8] |= 0x01;
    if super::sanitize::block_erase_offered(lun) {
        // WABEREQ 01b: after a BLOCK ERASE, reads of erased blocks return zeros.
        out[7] |= 0b01 << 6;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;
    use crate::cdb::{be16, be32};
    use alloc::collections::BTreeMap;
    use alloc::string::String;
    use alloc::vec;

    fn vpd(f: &Fixture, lun: u32, page: u8) -> crate::status::CommandResult {
        f.run(lun, &[0x12, 0x01, page, 0x01, 0x00, 0])
    }

    /// (code set, PIV|association|type, designator) of each descriptor of a page 83h.
    fn designators(page: &[u8]) -> Vec<(u8, u8, Vec<u8>)> {
        let mut out = Vec::new();
        let mut rest = page.get(4..).unwrap_or_default();
        while let [a, b, _, len, tail @ ..] = rest {
            let (d, next) = tail.split_at(usize::from(*len));
            out.push((*a, *b, d.to_vec()));
            rest = next;
        }
        out
    }

    #[test]
    fn supported_pages_are_ascending_and_each_can_be_read() {
        let f = Fixture::new();
        let d = good(vpd(&f, 0, 0x00));
        assert_eq!(&d[..4], &[0x00, 0x00, 0x00, 8]);
        let pages = &d[4..];
        assert!(pages.windows(2).all(|w| w[0] < w[1]));
        for &p in pages {
            let page = good(vpd(&f, 0, p));
            assert_eq!(page[1], p);
            assert_eq!(usize::from(be16(&page, 2)), page.len() - 4, "page {p:02x}");
        }
    }

    #[test]
    fn unsupported_pages_are_an_invalid_field_in_byte_2() {
        let f = Fixture::new();
        for p in [0x01, 0x87, 0x8F, 0xB3, 0xFF] {
            assert_invalid_field(&vpd(&f, 0, p), 2);
        }
    }

    #[test]
    fn a_lun_number_without_a_logical_unit_lists_only_page_0() {
        let f = Fixture::new();
        assert_eq!(good(vpd(&f, 9, 0x00)), vec![0x7F, 0x00, 0x00, 1, 0x00]);
        assert_invalid_field(&vpd(&f, 9, 0x83), 2);
    }

    #[test]
    fn unit_serial_number_is_the_configured_serial() {
        let f = Fixture::new();
        assert_eq!(good(vpd(&f, 0, 0x80)), b"\x00\x80\x00\x06SN0000".to_vec());
    }

    #[test]
    fn device_identification_names_lun_port_group_and_target() {
        let f = Fixture::new();
        let d = good(vpd(&f, 0, 0x83));
        let c = lun_config(0, 2048);
        let mut port_name = String::from(PORT_NAME).into_bytes();
        port_name.push(0);
        port_name.resize(port_name.len().next_multiple_of(4), 0);
        let mut target_name = String::from(TARGET_NAME).into_bytes();
        target_name.push(0);
        target_name.resize(target_name.len().next_multiple_of(4), 0);
        let [rp_hi, rp_lo] = PORT.to_be_bytes();
        let [tg_hi, tg_lo] = TPG.to_be_bytes();
        let want = vec![
            (0x01, 0x03, c.naa.to_vec()),
            (0x01, 0x02, c.eui64.to_vec()),
            (0x02, 0x01, b"DYAD    DEV0000".to_vec()),
            (0x53, 0x98, port_name),
            (0x51, 0x94, vec![0, 0, rp_hi, rp_lo]),
            (0x51, 0x95, vec![0, 0, tg_hi, tg_lo]),
            (0x53, 0xA8, target_name),
        ];
        assert_eq!(designators(&d), want);
    }

    #[test]
    fn unset_naa_and_eui64_are_left_out() {
        let mut c = lun_config(0, 2048);
        c.naa = [0; 16];
        c.eui64 = [0; 8];
        let f = Fixture::with(port_config(None), [c]);
        let types: Vec<u8> = designators(&good(vpd(&f, 0, 0x83)))
            .iter()
            .map(|d| d.1 & 0x0F)
            .collect();
        assert_eq!(types, [1, 8, 4, 5, 8]);
    }

    #[test]
    fn scsi_name_strings_are_terminated_and_padded() {
        assert_eq!(scsi_name_string("abc"), b"abc\0");
        assert_eq!(scsi_name_string("abcd"), b"abcd\0\0\0\0");
        let long = "\u{e9}".repeat(200);
        let s = scsi_name_string(&long);
        assert_eq!(s.len(), 252);
        assert_eq!(s.len() % 4, 0);
        assert!(core::str::from_utf8(&s[..s.iter().position(|&b| b == 0).unwrap()]).is_ok());
    }

    #[test]
    fn block_limits_follow_the_transfer_cap_and_physical_block() {
        for (block_size, exp) in [(512u32, 3u8), (4096, 0)] {
            let mut c = lun_config(0, 2048);
            c.block_size = block_size;
            c.storage = crate::lun::StorageSpec::Ramdisk {
                size: 2048 * u64::from(block_size),
            };
            c.pblock_exp = exp;
            let f = Fixture::with(port_config(None), [c]);
            let d = good(vpd(&f, 0, 0xB0));
            assert_eq!(d.len(), 64);
            assert_eq!(be16(&d, 2), 0x3C);
            assert_eq!(d[4] & 1, 0, "WSNZ");
            assert_eq!(be16(&d, 6), 1 << exp);
            assert_eq!(
                u64::from(be32(&d, 8)),
                MAX_TRANSFER_BYTES / u64::from(block_size)
            );
            assert_eq!(u64::from(be32(&d, 12)), (1 << 20) / u64::from(block_size));
            assert_eq!(be32(&d, 20), 0, "MAXIMUM UNMAP LBA COUNT");
            assert_eq!(be32(&d, 24), 0, "MAXIMUM UNMAP BLOCK DESCRIPTOR COUNT");
        }
    }

    fn thin(exp: u8, offset: u16) -> Fixture {
        let mut c = lun_config(0, 2048);
        c.thin = true;
        c.pblock_exp = exp;
        c.pblock_offset = offset;
        Fixture::with(port_config(None), [c])
    }

    #[test]
    fn block_limits_of_a_thin_lun_advertise_what_the_command_table_executes() {
        let f = thin(3, 5);
        let d = good(vpd(&f, 0, 0xB0));
        let b2 = good(vpd(&f, 0, 0xB2));
        let has = |op: u8| command(op).is_some();
        let lbpu = b2[5] & 0x80 != 0;
        assert_eq!(lbpu, has(UNMAP));
        if lbpu {
            assert_eq!(be32(&d, 20), MAX_UNMAP_LBA_COUNT);
            assert_eq!(be32(&d, 24), MAX_UNMAP_DESCRIPTORS);
            assert_eq!(
                be32(&d, 28),
                8,
                "OPTIMAL UNMAP GRANULARITY: a physical block"
            );
            assert_eq!(be32(&d, 32), 0x8000_0005, "UGAVALID, alignment = LALBA");
        } else {
            assert_eq!(&d[20..36], &[0; 16]);
        }
        let cmp = if has(COMPARE_AND_WRITE) {
            MAX_COMPARE_AND_WRITE_BLOCKS
        } else {
            0
        };
        assert_eq!(d[5], cmp, "MAXIMUM COMPARE AND WRITE LENGTH");
        let ws = if has(WRITE_SAME_16) || has(WRITE_SAME_10) {
            MAX_WRITE_SAME_BLOCKS
        } else {
            0
        };
        assert_eq!(crate::cdb::be64(&d, 36), ws, "MAXIMUM WRITE SAME LENGTH");
        let (atomic, alignment) = if has(WRITE_ATOMIC_16) {
            (MAX_ATOMIC_TRANSFER_BYTES / 512, 8)
        } else {
            (0, 0)
        };
        assert_eq!(be32(&d, 44), atomic, "MAXIMUM ATOMIC TRANSFER LENGTH");
        assert_eq!(
            be32(&d, 48),
            alignment,
            "ATOMIC ALIGNMENT: a physical block"
        );
        assert_eq!(&d[52..64], &[0; 12], "no granularity, no atomic boundary");
    }

    #[test]
    fn block_limits_pass_libiscsi_sanity_checks() {
        // SCSI.Inquiry.BlockLimits: with LBPU, 2^LBPPBE <= MAXIMUM UNMAP LBA COUNT <= 1 Mi
        // (or FFFFFFFFh), and 0 < MAXIMUM UNMAP BLOCK DESCRIPTOR COUNT <= 1 Mi.
        let f = thin(3, 0);
        let d = good(vpd(&f, 0, 0xB0));
        let (max_unmap, max_descriptors) = (be32(&d, 20), be32(&d, 24));
        if good(vpd(&f, 0, 0xB2))[5] & 0x80 != 0 {
            assert!(max_unmap >= 8);
            assert!(max_unmap <= 1 << 20 || max_unmap == u32::MAX);
            assert!(max_descriptors > 0);
            assert!(max_descriptors <= 1 << 20 || max_descriptors == u32::MAX);
        }
        assert!(
            be32(&d, 44) <= be32(&d, 8),
            "atomic within the transfer limit"
        );
    }

    #[test]
    fn logical_block_provisioning_says_thin_or_full() {
        let d = good(vpd(&thin(0, 0), 0, 0xB2));
        assert_eq!(&d[..4], &[0x00, 0xB2, 0x00, 0x04]);
        assert_eq!(d[4], THRESHOLD_EXPONENT);
        assert_eq!(d[5] & 0x1C, 0x04, "LBPRZ 001b");
        assert_eq!(d[5] & 0x01, 0, "DP");
        assert_eq!(d[6] & 0x07, 0b010, "thin provisioned");
        let bit = |on: bool, mask: u8| if on { mask } else { 0 };
        let want = bit(command(UNMAP).is_some(), 0x80)
            | bit(honours(WRITE_SAME_16, 1, 0x08), 0x40)
            | bit(honours(WRITE_SAME_10, 1, 0x08), 0x20)
            | bit(
                honours(WRITE_SAME_16, 1, 0x10)
                    || honours(WRITE_SAME_10, 1, 0x10)
                    || honours(UNMAP, 1, 0x01),
                0x02,
            );
        assert_eq!(d[5] & 0xE2, want, "LBPU, LBPWS, LBPWS10, ANC_SUP");

        let f = Fixture::new();
        let d = good(vpd(&f, 0, 0xB2));
        assert_eq!(d, [0x00, 0xB2, 0x00, 0x04, 0, 0, 0, 0], "fully provisioned");
    }

    #[test]
    fn scsi_ports_lists_every_port_that_maps_the_lun() {
        use crate::mutation::Mutation;
        let f = Fixture::new();
        let mut other = port_config(Some(BTreeMap::from([(5, crate::lun::LunId(0))])));
        other.relative_id = 0x0102;
        other.port_name = "iqn.2024-01.org.dyad:target0,t,0x0002".into();
        f.device.apply(Mutation::PortAdded(other)).unwrap();
        let mut unrelated = port_config(Some(BTreeMap::new()));
        unrelated.relative_id = 9;
        f.device.apply(Mutation::PortAdded(unrelated)).unwrap();

        let d = good(vpd(&f, 0, 0x88));
        assert_eq!(usize::from(be16(&d, 2)), d.len() - 4);
        let mut ports = Vec::new();
        let mut rest = &d[4..];
        while rest.len() >= 12 {
            assert_eq!(&rest[..2], &[0, 0]);
            assert_eq!(
                &rest[4..10],
                &[0, 0, 0, 0, 0, 0],
                "no initiator TransportID"
            );
            let len = usize::from(be16(rest, 10));
            let descriptors = designators(&[&[0u8; 4][..], &rest[12..12 + len]].concat());
            ports.push((be16(rest, 2), descriptors));
            rest = &rest[12 + len..];
        }
        assert!(rest.is_empty());
        let name = |n: &str| {
            let mut v = String::from(n).into_bytes();
            v.push(0);
            v.resize(v.len().next_multiple_of(4), 0);
            v
        };
        assert_eq!(
            ports,
            vec![
                (PORT, vec![(0x53, 0x98, name(PORT_NAME))]),
                (
                    0x0102,
                    vec![(0x53, 0x98, name("iqn.2024-01.org.dyad:target0,t,0x0002"))]
                ),
            ]
        );
    }

    #[test]
    fn block_device_characteristics_say_non_rotating() {
        let f = Fixture::new();
        let d = good(vpd(&f, 0, 0xB1));
        assert_eq!(d.len(), 64);
        assert_eq!(be16(&d, 4), 1);
        assert_eq!(d[7] & 0x0F, 0);
    }

    #[test]
    fn extended_inquiry_reports_task_attributes_and_sense_length() {
        let f = Fixture::new();
        let d = good(vpd(&f, 0, 0x86));
        assert_eq!(d.len(), 64);
        assert_eq!(d[5], 0x07);
        assert_eq!(d[7] & 1, 0, "LUICLR");
        assert_eq!(usize::from(d[13]), MAX_SENSE_LEN);
    }

    #[test]
    fn vpd_pages_are_cut_to_the_allocation_length() {
        let f = Fixture::new();
        let full = good(vpd(&f, 0, 0x83));
        let d = good(f.run(0, &[0x12, 0x01, 0x83, 0x00, 10, 0]));
        assert_eq!(d, full[..10]);
        assert!(good(f.run(0, &[0x12, 0x01, 0x83, 0, 0, 0])).is_empty());
    }

    #[test]
    fn a_mapped_port_reports_its_own_identity() {
        let map = BTreeMap::from([(4, crate::lun::LunId(0))]);
        let f = Fixture::with(port_config(Some(map)), [lun_config(0, 2048)]);
        assert!(good(vpd(&f, 4, 0x83)).len() > 4);
        assert_eq!(good(vpd(&f, 0, 0x00))[0], 0x7F);
    }
}
