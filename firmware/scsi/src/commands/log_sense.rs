//! LOG SENSE (SPC-5 §6.6) and the log pages: supported pages (and subpages), logical block
//! provisioning (SBC-4 §6.4.5), temperature, general statistics and performance, and
//! informational exceptions (SPC-5 §7.3).

use super::vpd::THRESHOLD_EXPONENT;
use super::{Ctx, Plan};
use crate::backend::BlockBackend;
use crate::cdb::{be16, byte};
use crate::lun::Lun;
use crate::sense::{asc, Sense};
use crate::status::CommandResult;
use alloc::vec::Vec;

use crate::table::{AccessClass as A, CommandEntry as E, Flags as F, Kind};

/// PPC and SP are outside the usage mask, so either set is INVALID FIELD IN CDB: nothing is
/// tracked to report "changed parameters only", and with no LOG SELECT nothing can be saved.
pub(crate) const ENTRIES: &[E] = &[E::new(
    0x4D,
    "LOG SENSE",
    Kind::LogSense,
    F::OK_ON_STANDBY
        .union(F::ALLOW_ON_PR_RESV)
        .union(F::DATA_IN)
        .union(F::OK_ON_NO_MEDIA),
    A::Free,
    &[0x4D, 0x00, 0xFF, 0xFF, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0x07],
)];

const SUPPORTED_PAGES: u8 = 0x00;
const LOGICAL_BLOCK_PROVISIONING: u8 = 0x0C;
const TEMPERATURE: u8 = 0x0D;
const GENERAL_STATISTICS: u8 = 0x19;
const INFORMATIONAL_EXCEPTIONS: u8 = 0x2F;
/// Subpage FFh of page 00h: the supported pages and subpages.
const ALL_SUBPAGES: u8 = 0xFF;

/// Every (page, subpage) implemented, ascending.
const PAGES: [(u8, u8); 6] = [
    (SUPPORTED_PAGES, 0),
    (SUPPORTED_PAGES, ALL_SUBPAGES),
    (LOGICAL_BLOCK_PROVISIONING, 0),
    (TEMPERATURE, 0),
    (GENERAL_STATISTICS, 0),
    (INFORMATIONAL_EXCEPTIONS, 0),
];

/// The pages `lun` has: provisioning is only reported where there is provisioning.
fn pages_of<B>(lun: &Lun<B>) -> impl Iterator<Item = (u8, u8)> + '_ {
    PAGES
        .iter()
        .copied()
        .filter(|&(p, _)| p != LOGICAL_BLOCK_PROVISIONING || lun.thin())
}

/// PAGE CONTROL values.
const PC_THRESHOLD: u8 = 0;
const PC_CUMULATIVE: u8 = 1;
const PC_DEFAULT_THRESHOLD: u8 = 2;

/// Page header byte 0: DS, as no log parameter is ever saved; SPF for a subpage.
const DS: u8 = 0x80;
const SPF: u8 = 0x40;

/// Parameter control bytes: FORMAT AND LINKING 10b (a counter) or 11b (binary list).
const COUNTER: u8 = 0x02;
const BINARY: u8 = 0x03;

/// The board offers the core no temperature sensor, so the Temperature page reports a fixed,
/// plausible reading and reference rather than nothing: initiators that poll it (smartd)
/// expect the page.
const TEMPERATURE_CELSIUS: u8 = 30;
const REFERENCE_TEMPERATURE_CELSIUS: u8 = 60;

/// SCOPE of a provisioning resource count: the resources are dedicated to this LUN.
const SCOPE_DEDICATED: u8 = 0b01;

/// TIME INTERVAL of the statistics page: 10^-3 s. The core has no clock, so the interval
/// counters it scales stay 0.
const TIME_INTERVAL_EXPONENT: u32 = 3;
const TIME_INTERVAL_INTEGER: u32 = 1;

pub(crate) fn precheck<B: BlockBackend>(
    _kind: Kind,
    _lun: Option<&Lun<B>>,
    _cdb: &[u8],
) -> Result<Plan, Sense> {
    Ok(Plan::NONE)
}

pub(crate) async fn execute<B: BlockBackend>(
    ctx: &Ctx<'_, B>,
    _kind: Kind,
    data_out: Vec<u8>,
) -> CommandResult {
    ctx.device.buffers.give(data_out);
    let Some(lun) = ctx.lun else {
        return ctx.fail(&asc::LOGICAL_UNIT_NOT_SUPPORTED);
    };
    let page_control = byte(ctx.cdb, 2) >> 6;
    let page_code = byte(ctx.cdb, 2) & 0x3F;
    let subpage_code = byte(ctx.cdb, 3);
    let parameter_pointer = be16(ctx.cdb, 5);
    let allocation_length = usize::from(be16(ctx.cdb, 7));
    match log_page(
        lun,
        page_control,
        page_code,
        subpage_code,
        parameter_pointer,
    ) {
        Ok(page) => ctx.data_in(page, allocation_length),
        Err(sense) => ctx.fail(&sense),
    }
}

/// One log parameter: code, control byte, value.
struct Parameter {
    code: u16,
    control: u8,
    value: Vec<u8>,
}

impl Parameter {
    fn new(code: u16, control: u8, value: &[u8]) -> Self {
        Parameter {
            code,
            control,
            value: value.to_vec(),
        }
    }
}

fn log_page<B: BlockBackend>(
    lun: &Lun<B>,
    page_control: u8,
    page_code: u8,
    subpage_code: u8,
    parameter_pointer: u16,
) -> Result<Vec<u8>, Sense> {
    if !pages_of(lun).any(|(p, s)| (p, s) == (page_code, subpage_code)) {
        let page_known = pages_of(lun).any(|(p, _)| p == page_code);
        return Err(Sense::invalid_field_in_cdb(
            if page_known { 3 } else { 2 },
            None,
        ));
    }
    let body = match (page_code, subpage_code) {
        (SUPPORTED_PAGES, 0) | (SUPPORTED_PAGES, ALL_SUBPAGES) => {
            // A list of pages has no parameters to start from.
            if parameter_pointer != 0 {
                return Err(Sense::invalid_field_in_cdb(5, None));
            }
            if subpage_code == 0 {
                pages_of(lun)
                    .filter(|&(_, s)| s == 0)
                    .map(|(p, _)| p)
                    .collect()
            } else {
                pages_of(lun).flat_map(|(p, s)| [p, s]).collect()
            }
        }
        _ => {
            let mut parameters = parameters(lun, page_code);
            let last = parameters.iter().map(|p| p.code).max().unwrap_or(0);
            // PARAMETER POINTER past the last parameter is an error, not an empty page.
            if parameter_pointer > last {
                return Err(Sense::invalid_field_in_cdb(5, None));
            }
            parameters.retain(|p| p.code >= parameter_pointer);
            // No parameter has a threshold (ETC is 0 in all): their threshold values are 0.
            if matches!(page_control, PC_THRESHOLD | PC_DEFAULT_THRESHOLD) {
                for p in &mut parameters {
                    p.value.fill(0);
                }
            } else if page_control != PC_CUMULATIVE && page_code == GENERAL_STATISTICS {
                // Default cumulative values: the counters as they start.
                for p in parameters.iter_mut().filter(|p| p.control == COUNTER) {
                    p.value.fill(0);
                }
            }
            encode_parameters(&parameters)
        }
    };
    let mut page = Vec::with_capacity(4 + body.len());
    let spf = if subpage_code != 0 { SPF } else { 0 };
    page.push(DS | spf | page_code);
    page.push(subpage_code);
    // The longest page is about a hundred bytes: the length fits.
    page.extend_from_slice(&(body.len() as u16).to_be_bytes());
    page.extend_from_slice(&body);
    Ok(page)
}

fn encode_parameters(parameters: &[Parameter]) -> Vec<u8> {
    let mut out = Vec::new();
    for p in parameters {
        out.extend_from_slice(&p.code.to_be_bytes());
        out.push(p.control);
        // Values are at most 64 bytes.
        out.push(p.value.len() as u8);
        out.extend_from_slice(&p.value);
    }
    out
}

/// The parameters of a page that has parameters, ascending by code.
fn parameters<B: BlockBackend>(lun: &Lun<B>, page_code: u8) -> Vec<Parameter> {
    match page_code {
        LOGICAL_BLOCK_PROVISIONING => {
            let block = u64::from(lun.block_size()).max(1);
            let used = lun
                .backend
                .allocated_bytes()
                .div_ceil(block)
                .min(lun.blocks());
            let available = lun.blocks().saturating_sub(used);
            let count = |blocks: u64| {
                let sets = u32::try_from(blocks >> THRESHOLD_EXPONENT).unwrap_or(u32::MAX);
                let mut v = [0u8; 8];
                v[..4].copy_from_slice(&sets.to_be_bytes());
                v[4] = SCOPE_DEDICATED;
                v
            };
            alloc::vec![
                // Available and used LBA mapping resource counts, in threshold sets.
                Parameter::new(0x0001, BINARY, &count(available)),
                Parameter::new(0x0002, BINARY, &count(used)),
            ]
        }
        TEMPERATURE => alloc::vec![
            Parameter::new(0x0000, BINARY, &[0, TEMPERATURE_CELSIUS]),
            Parameter::new(0x0001, BINARY, &[0, REFERENCE_TEMPERATURE_CELSIUS]),
        ],
        GENERAL_STATISTICS => {
            let c = lun.stats.counters();
            let block = u64::from(lun.block_size()).max(1);
            // READ COMMANDS, WRITE COMMANDS, LOGICAL BLOCKS RECEIVED, LOGICAL BLOCKS
            // TRANSMITTED; the four processing-interval counters follow, 0 for want of a
            // clock.
            let mut access = [0u8; 64];
            let counts = [
                c.read_commands,
                c.write_commands,
                c.bytes_written / block,
                c.bytes_read / block,
            ];
            for (slot, n) in access.chunks_exact_mut(8).zip(counts) {
                slot.copy_from_slice(&n.to_be_bytes());
            }
            let mut interval = [0u8; 8];
            interval[..4].copy_from_slice(&TIME_INTERVAL_EXPONENT.to_be_bytes());
            interval[4..].copy_from_slice(&TIME_INTERVAL_INTEGER.to_be_bytes());
            alloc::vec![
                Parameter::new(0x0001, COUNTER, &access),
                // IDLE TIME INTERVALS.
                Parameter::new(0x0002, COUNTER, &[0; 8]),
                Parameter::new(0x0003, BINARY, &interval),
            ]
        }
        // No informational exception has occurred: ASC and ASCQ 0, then the temperature.
        INFORMATIONAL_EXCEPTIONS => {
            alloc::vec![Parameter::new(0x0000, BINARY, &[0, 0, TEMPERATURE_CELSIUS])]
        }
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;
    use crate::cdb::{be32, be64};
    use crate::lun::LunId;
    use crate::status::ScsiStatus;
    use alloc::vec;

    fn log_sense(pc: u8, page: u8, sub: u8, pointer: u16, alloc: u16) -> [u8; 10] {
        let [p_hi, p_lo] = pointer.to_be_bytes();
        let [a_hi, a_lo] = alloc.to_be_bytes();
        [0x4D, 0, (pc << 6) | page, sub, 0, p_hi, p_lo, a_hi, a_lo, 0]
    }

    fn cumulative(f: &Fixture, page: u8, sub: u8) -> Vec<u8> {
        good(f.run(0, &log_sense(PC_CUMULATIVE, page, sub, 0, 1024)))
    }

    /// (code, control, value) of each parameter after the page header.
    fn parameters(page: &[u8]) -> Vec<(u16, u8, Vec<u8>)> {
        assert_eq!(usize::from(be16(page, 2)), page.len() - 4);
        let mut out = Vec::new();
        let mut rest = &page[4..];
        while let [c0, c1, control, len, tail @ ..] = rest {
            let (value, next) = tail.split_at(usize::from(*len));
            out.push((u16::from_be_bytes([*c0, *c1]), *control, value.to_vec()));
            rest = next;
        }
        out
    }

    fn thin_fixture() -> Fixture {
        let mut c = lun_config(0, 1 << 16);
        c.thin = true;
        Fixture::with(port_config(None), [c])
    }

    #[test]
    fn supported_pages_list_what_the_lun_has() {
        let f = Fixture::new();
        assert_eq!(
            cumulative(&f, 0x00, 0x00),
            [0x80, 0x00, 0x00, 0x04, 0x00, 0x0D, 0x19, 0x2F]
        );
        assert_eq!(
            cumulative(&f, 0x00, 0xFF),
            [0xC0, 0xFF, 0x00, 0x0A, 0x00, 0x00, 0x00, 0xFF, 0x0D, 0x00, 0x19, 0x00, 0x2F, 0x00]
        );
        let f = thin_fixture();
        assert_eq!(
            cumulative(&f, 0x00, 0x00),
            [0x80, 0x00, 0x00, 0x05, 0x00, 0x0C, 0x0D, 0x19, 0x2F]
        );
        let d = cumulative(&f, 0x00, 0xFF);
        assert_eq!(
            &d[4..],
            &[0, 0, 0, 0xFF, 0x0C, 0, 0x0D, 0, 0x19, 0, 0x2F, 0]
        );
    }

    #[test]
    fn every_listed_page_can_be_read() {
        let f = thin_fixture();
        let list = cumulative(&f, 0x00, 0xFF);
        for pair in list[4..].chunks_exact(2) {
            let d = cumulative(&f, pair[0], pair[1]);
            assert_eq!(d[0] & 0x3F, pair[0]);
            assert_eq!(d[1], pair[1]);
            assert_eq!(d[0] & 0x40 != 0, pair[1] != 0, "SPF");
            assert_eq!(usize::from(be16(&d, 2)), d.len() - 4);
        }
    }

    #[test]
    fn unknown_pages_and_subpages_are_invalid_fields() {
        let f = Fixture::new();
        // (page, subpage, CDB byte)
        let cases = [
            (0x01, 0x00, 2),
            (0x0C, 0x00, 2), // no provisioning on a full LUN
            (0x3F, 0x00, 2),
            (0x0D, 0x01, 3),
            (0x19, 0xFF, 3),
            (0x00, 0x01, 3),
        ];
        for (page, sub, byte) in cases {
            let r = f.run(0, &log_sense(PC_CUMULATIVE, page, sub, 0, 512));
            assert_invalid_field(&r, byte);
        }
    }

    #[test]
    fn ppc_and_sp_are_refused() {
        let f = Fixture::new();
        for bits in [0x01u8, 0x02] {
            let mut cdb = log_sense(PC_CUMULATIVE, 0x0D, 0, 0, 512);
            cdb[1] = bits;
            let r = f.run(0, &cdb);
            assert_invalid_field(&r, 1);
            assert_eq!(r.sense[15] & 0x07, bits.trailing_zeros() as u8);
        }
    }

    #[test]
    fn temperature_and_informational_exceptions() {
        let f = Fixture::new();
        let d = cumulative(&f, 0x0D, 0);
        assert_eq!(d[0], 0x80 | 0x0D);
        assert_eq!(
            parameters(&d),
            vec![
                (0x0000, BINARY, vec![0, TEMPERATURE_CELSIUS]),
                (0x0001, BINARY, vec![0, REFERENCE_TEMPERATURE_CELSIUS]),
            ]
        );
        let d = cumulative(&f, 0x2F, 0);
        assert_eq!(
            parameters(&d),
            vec![(0x0000, BINARY, vec![0, 0, TEMPERATURE_CELSIUS])]
        );
    }

    #[test]
    fn general_statistics_count_reads_and_writes() {
        let f = Fixture::new();
        let lun = f.device.lun(LunId(0)).unwrap();
        lun.stats.record_read(512 * 3);
        lun.stats.record_read(512);
        lun.stats.record_write(512 * 8);
        let p = parameters(&cumulative(&f, 0x19, 0));
        let codes: Vec<(u16, u8, usize)> = p.iter().map(|p| (p.0, p.1, p.2.len())).collect();
        assert_eq!(codes, [(1, COUNTER, 0x40), (2, COUNTER, 8), (3, BINARY, 8)]);
        let access = &p[0].2;
        assert_eq!(be64(access, 0), 2, "READ COMMANDS");
        assert_eq!(be64(access, 8), 1, "WRITE COMMANDS");
        assert_eq!(be64(access, 16), 8, "LOGICAL BLOCKS RECEIVED");
        assert_eq!(be64(access, 24), 4, "LOGICAL BLOCKS TRANSMITTED");
        assert!(access[32..].iter().all(|&b| b == 0));
        assert_eq!((be32(&p[2].2, 0), be32(&p[2].2, 4)), (3, 1), "1 ms");

        // Default cumulative values are the counters as they start; thresholds are all 0.
        let p = parameters(&good(f.run(0, &log_sense(3, 0x19, 0, 0, 1024))));
        assert!(p[0].2.iter().all(|&b| b == 0));
        assert_eq!(be32(&p[2].2, 0), 3, "the time interval is no counter");
        for pc in [0, 2] {
            let p = parameters(&good(f.run(0, &log_sense(pc, 0x19, 0, 0, 1024))));
            assert!(p.iter().all(|p| p.2.iter().all(|&b| b == 0)), "PC {pc}");
        }
    }

    #[test]
    fn logical_block_provisioning_counts_threshold_sets() {
        let f = thin_fixture();
        // The test backend allocates nothing: all 2^16 blocks (32 sets of 2^11) available.
        let p = parameters(&cumulative(&f, 0x0C, 0));
        assert_eq!(
            p,
            vec![
                (0x0001, BINARY, vec![0, 0, 0, 32, SCOPE_DEDICATED, 0, 0, 0]),
                (0x0002, BINARY, vec![0, 0, 0, 0, SCOPE_DEDICATED, 0, 0, 0]),
            ]
        );
    }

    #[test]
    fn parameter_pointer_starts_the_page_at_a_code() {
        let f = Fixture::new();
        let p = parameters(&good(f.run(0, &log_sense(1, 0x19, 0, 2, 1024))));
        let codes: Vec<u16> = p.iter().map(|p| p.0).collect();
        assert_eq!(codes, [2, 3]);
        let p = parameters(&good(f.run(0, &log_sense(1, 0x0D, 0, 1, 1024))));
        assert_eq!(p.len(), 1);
        assert_invalid_field(&f.run(0, &log_sense(1, 0x19, 0, 4, 1024)), 5);
        assert_invalid_field(&f.run(0, &log_sense(1, 0x00, 0, 1, 1024)), 5);
        assert_invalid_field(&f.run(0, &log_sense(1, 0x00, 0xFF, 0x100, 1024)), 5);
    }

    #[test]
    fn allocation_length_truncates() {
        let f = Fixture::new();
        let full = cumulative(&f, 0x19, 0);
        for alloc in [0u16, 1, 4, 9, 50] {
            let d = good(f.run(0, &log_sense(1, 0x19, 0, 0, alloc)));
            assert_eq!(d, full[..usize::from(alloc)]);
        }
    }

    #[test]
    fn a_missing_lun_is_not_supported() {
        let f = Fixture::new();
        let r = f.run(4, &log_sense(1, 0, 0, 0, 64));
        assert_eq!(r.scsi_status(), ScsiStatus::CheckCondition);
        assert_eq!(sense_code(&r.sense), (0x05, 0x25, 0x00));
    }
}
