//! REPORT LUNS (SPC-5 §6.33): the LUN numbers the target port exposes to this I_T nexus.

use super::Ctx;
use crate::backend::BlockBackend;
use crate::cdb::{be32, byte};
use crate::lun_address::{self, MAX_LUN};
use crate::sense::Sense;
use crate::status::CommandResult;
use crate::ua::UnitAttention;
use alloc::vec::Vec;

use crate::table::{AccessClass as A, CommandEntry as E, Flags as F, Kind};

pub(crate) const ENTRIES: &[E] = &[E::new(
    0xA0,
    "REPORT LUNS",
    Kind::ReportLuns,
    crate::table::LUNLESS
        .union(F::RUN_HERE)
        .union(F::DATA_IN)
        .union(F::OK_ON_NO_MEDIA)
        .union(F::ALLOW_ON_RESV),
    A::Free,
    &[
        0xA0, 0x00, 0xFF, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x07,
    ],
)];

/// SELECT REPORT values (SPC-5 table 192).
const ALL_BUT_WELL_KNOWN: u8 = 0x00;
const WELL_KNOWN_ONLY: u8 = 0x01;
const ALL: u8 = 0x02;

/// The shortest allocation length SPC-5 accepts: the header and one LUN.
const MIN_ALLOCATION_LENGTH: u32 = 16;

pub(crate) fn report_luns<B: BlockBackend>(ctx: &Ctx<'_, B>) -> CommandResult {
    let select = byte(ctx.cdb, 2);
    let allocation_length = be32(ctx.cdb, 6);
    if !matches!(select, ALL_BUT_WELL_KNOWN | WELL_KNOWN_ONLY | ALL) {
        return ctx.fail(&Sense::invalid_field_in_cdb(2, None));
    }
    if allocation_length < MIN_ALLOCATION_LENGTH {
        return ctx.fail(&Sense::invalid_field_in_cdb(6, None));
    }
    // No well-known logical units exist, so only "well-known only" differs: it is empty.
    let luns = ctx.device.luns();
    let mut numbers: Vec<u32> = match (select, &ctx.port.lun_map) {
        (WELL_KNOWN_ONLY, _) => Vec::new(),
        (_, None) => luns.iter().map(|l| l.id().0).collect(),
        // Every number the map gives a LUN that exists: a LUN mapped under two numbers is
        // listed under both.
        (_, Some(map)) => map
            .iter()
            .filter(|(_, id)| ctx.device.has_lun(**id))
            .map(|(n, _)| *n)
            .collect(),
    };
    // A number beyond the flat space cannot be addressed, so it is not reported.
    numbers.retain(|&n| n <= MAX_LUN);
    numbers.sort_unstable();
    numbers.dedup();

    // The initiator now has the current inventory (SPC-5 §6.33: REPORT LUNS clears this
    // condition for the nexus on every logical unit, whichever LUN it was addressed to, and
    // on the numbers that map to none).
    for l in &luns {
        if let Some(p) = l.state.borrow_mut().attentions.get_mut(&ctx.nexus) {
            p.clear(UnitAttention::ReportedLunsDataChanged);
        }
    }
    ctx.device
        .clear_no_lun_attention(ctx.nexus, UnitAttention::ReportedLunsDataChanged);
    let luns = numbers;

    let list_length = u32::try_from(luns.len() * 8).unwrap_or(u32::MAX);
    let mut data = Vec::with_capacity(8 + luns.len() * 8);
    data.extend_from_slice(&list_length.to_be_bytes());
    data.extend_from_slice(&[0; 4]);
    for n in luns {
        data.extend_from_slice(&lun_address::encode(n));
    }
    ctx.data_in(
        data,
        usize::try_from(allocation_length).unwrap_or(usize::MAX),
    )
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use crate::cdb::be32;
    use crate::lun::LunId;
    use crate::mutation::Mutation;
    use crate::status::ScsiStatus;
    use alloc::collections::BTreeMap;
    use alloc::vec::Vec;

    fn report_luns(select: u8, alloc: u32) -> [u8; 12] {
        let a = alloc.to_be_bytes();
        [0xA0, 0, select, 0, 0, 0, a[0], a[1], a[2], a[3], 0, 0]
    }

    fn listed(d: &[u8]) -> Vec<[u8; 8]> {
        assert_eq!(be32(d, 0) as usize, d.len() - 8);
        d[8..]
            .chunks_exact(8)
            .map(|c| c.try_into().unwrap())
            .collect()
    }

    #[test]
    fn lists_the_ports_lun_numbers_in_order_with_both_address_methods() {
        let map = BTreeMap::from([(300, LunId(1)), (0, LunId(7)), (5, LunId(2))]);
        let luns = [
            lun_config(1, 64),
            lun_config(2, 64),
            lun_config(7, 64),
            lun_config(9, 64),
        ];
        let f = Fixture::with(port_config(Some(map)), luns);
        for select in [0x00, 0x02] {
            let d = good(f.run(0, &report_luns(select, 512)));
            assert_eq!(
                listed(&d),
                [
                    [0, 0, 0, 0, 0, 0, 0, 0],
                    [0, 5, 0, 0, 0, 0, 0, 0],
                    [0x41, 0x2C, 0, 0, 0, 0, 0, 0]
                ],
            );
        }
    }

    #[test]
    fn a_port_with_1024_luns_lists_every_one_and_truncates_to_the_allocation_length() {
        let map: BTreeMap<u32, LunId> = (0..1024).map(|n| (n, LunId(n))).collect();
        let f = Fixture::with(port_config(Some(map)), (0..1024).map(|n| lun_config(n, 8)));
        let full = good(f.run(0, &report_luns(0, 8 + 1024 * 8)));
        let luns = listed(&full);
        assert_eq!(luns.len(), 1024);
        for (n, raw) in luns.iter().enumerate() {
            let expected = if n < 256 {
                [0, n as u8, 0, 0, 0, 0, 0, 0]
            } else {
                [0x40 | (n >> 8) as u8, n as u8, 0, 0, 0, 0, 0, 0]
            };
            assert_eq!(*raw, expected, "LUN {n}");
            assert_eq!(crate::lun_address::decode(*raw), Some(n as u32));
        }
        // A shorter allocation cuts the list (even mid-entry) but the header still counts all.
        for alloc in [16, 1000, 8199] {
            let d = good(f.run(0, &report_luns(0, alloc)));
            assert_eq!(d.len(), alloc as usize);
            assert_eq!(be32(&d, 0), 1024 * 8);
            assert_eq!(d[..], full[..alloc as usize]);
        }
        assert_eq!(good(f.run(1023, &report_luns(0x02, 1 << 20))), full);
    }

    #[test]
    fn a_lun_mapped_under_two_numbers_is_listed_under_both() {
        let map = BTreeMap::from([(2, LunId(1)), (9, LunId(1)), (4, LunId(8))]);
        let f = Fixture::with(port_config(Some(map)), [lun_config(1, 64)]);
        let d = good(f.run(0, &report_luns(0, 64)));
        assert_eq!(
            listed(&d),
            [[0, 2, 0, 0, 0, 0, 0, 0], [0, 9, 0, 0, 0, 0, 0, 0]],
            "LUN 8 does not exist"
        );
    }

    #[test]
    fn an_unmapped_port_lists_global_ids() {
        let f = Fixture::with(port_config(None), [lun_config(3, 64), lun_config(0, 64)]);
        let d = good(f.run(0, &report_luns(0, 16)));
        assert_eq!(be32(&d, 0), 16, "the list length counts every LUN");
        assert_eq!(listed(&good(f.run(0, &report_luns(0, 64)))).len(), 2);
        assert_eq!(d.len(), 16, "allocation length truncates");
    }

    #[test]
    fn well_known_only_is_empty() {
        let f = Fixture::new();
        assert_eq!(good(f.run(0, &report_luns(0x01, 64))), [0u8; 8]);
    }

    #[test]
    fn runs_on_a_lun_number_with_no_logical_unit() {
        let f = Fixture::new();
        assert_eq!(listed(&good(f.run(42, &report_luns(0, 64)))).len(), 1);
    }

    #[test]
    fn bad_select_report_and_short_allocation_length_are_invalid_fields() {
        let f = Fixture::new();
        for select in [0x03, 0x10, 0x11, 0x12, 0xFF] {
            assert_invalid_field(&f.run(0, &report_luns(select, 64)), 2);
        }
        for alloc in [0, 1, 8, 15] {
            assert_invalid_field(&f.run(0, &report_luns(0, alloc)), 6);
        }
    }

    #[test]
    fn clears_reported_luns_data_has_changed_for_this_nexus_only() {
        let f = Fixture::new();
        let other = f.login();
        f.device
            .apply(Mutation::LunAdded(lun_config(1, 64)))
            .unwrap();
        // LUN 1 also carries a power-on condition; LUN 0 has only the inventory change.
        good(f.run(0, &report_luns(0, 64)));
        assert_eq!(good(f.run(0, &[0x00, 0, 0, 0, 0, 0])), []);
        let r = f.run_on(other, 0, &[0x00, 0, 0, 0, 0, 0]);
        assert_eq!(r.scsi_status(), ScsiStatus::CheckCondition);
        assert_eq!(sense_code(&r.sense), (0x06, 0x3F, 0x0E));
    }
}
