//! READ DEFECT DATA (10, 12) (SBC-4 §5.17, §5.18): an empty defect list, since the storage
//! behind a LUN remaps its own defects and reports none.

use super::{Ctx, Plan};
use crate::backend::BlockBackend;
use crate::cdb::{be16, be32, byte};
use crate::lun::Lun;
use crate::sense::{asc, Sense};
use crate::status::CommandResult;
use crate::table::{AccessClass as A, CommandEntry as E, Kind};
use alloc::vec::Vec;

pub(crate) const ENTRIES: &[E] = &[
    E::new(
        0x37,
        "READ DEFECT DATA(10)",
        Kind::ReadDefectData10,
        crate::table::READ,
        A::Free,
        &[0x37, 0x00, 0x1F, 0, 0, 0, 0, 0xFF, 0xFF, 0x07],
    ),
    E::new(
        0xB7,
        "READ DEFECT DATA(12)",
        Kind::ReadDefectData12,
        crate::table::READ,
        A::Free,
        &[
            0xB7, 0x1F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x07,
        ],
    ),
];

/// REQ_PLIST, REQ_GLIST and DEFECT LIST FORMAT: echoed as PLISTV, GLISTV and the format, so
/// every list asked for is reported present and empty, in the format asked for.
const LISTS_AND_FORMAT: u8 = 0x1F;

pub(crate) fn precheck<B: BlockBackend>(
    _kind: Kind,
    _lun: Option<&Lun<B>>,
    _cdb: &[u8],
) -> Result<Plan, Sense> {
    // Every field is valid: an empty list can be reported in any format from any index.
    Ok(Plan::NONE)
}

pub(crate) async fn execute<B: BlockBackend>(
    ctx: &Ctx<'_, B>,
    kind: Kind,
    data_out: Vec<u8>,
) -> CommandResult {
    ctx.device.buffers.give(data_out);
    match kind {
        Kind::ReadDefectData10 => {
            // Header: reserved, PLISTV/GLISTV/format, DEFECT LIST LENGTH (0).
            let data = alloc::vec![0, byte(ctx.cdb, 2) & LISTS_AND_FORMAT, 0, 0];
            ctx.data_in(data, usize::from(be16(ctx.cdb, 7)))
        }
        Kind::ReadDefectData12 => {
            // Header: reserved, PLISTV/GLISTV/format, GENERATION CODE (0: never changes),
            // DEFECT LIST LENGTH (0).
            let mut data = alloc::vec![0u8; 8];
            data[1] = byte(ctx.cdb, 1) & LISTS_AND_FORMAT;
            let allocation_length = usize::try_from(be32(ctx.cdb, 6)).unwrap_or(usize::MAX);
            ctx.data_in(data, allocation_length)
        }
        _ => ctx.fail(&asc::INVALID_COMMAND_OPERATION_CODE),
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;

    #[test]
    fn ten_byte_form_reports_empty_lists_in_the_format_asked_for() {
        let f = Fixture::new();
        let d = good(f.run(0, &[0x37, 0, 0x18 | 0x05, 0, 0, 0, 0, 0, 32, 0]));
        assert_eq!(d, [0, 0x1D, 0, 0]);
        let d = good(f.run(0, &[0x37, 0, 0, 0, 0, 0, 0, 0, 32, 0]));
        assert_eq!(d, [0, 0, 0, 0]);
    }

    #[test]
    fn twelve_byte_form_reports_an_empty_list_from_any_index() {
        let f = Fixture::new();
        let cdb = [0xB7, 0x08 | 0x03, 0, 0, 0x10, 0, 0, 0, 0, 32, 0, 0];
        assert_eq!(good(f.run(0, &cdb)), [0, 0x0B, 0, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn allocation_length_truncates() {
        let f = Fixture::new();
        assert!(good(f.run(0, &[0x37, 0, 0x10, 0, 0, 0, 0, 0, 0, 0])).is_empty());
        assert_eq!(
            good(f.run(0, &[0x37, 0, 0x10, 0, 0, 0, 0, 0, 2, 0])),
            [0, 0x10]
        );
        let cdb = [0xB7, 0x10, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0];
        assert_eq!(good(f.run(0, &cdb)).len(), 5);
    }

    #[test]
    fn reserved_bits_are_refused() {
        let f = Fixture::new();
        assert_invalid_field(&f.run(0, &[0x37, 0x01, 0, 0, 0, 0, 0, 0, 32, 0]), 1);
        assert_invalid_field(&f.run(0, &[0x37, 0, 0x20, 0, 0, 0, 0, 0, 32, 0]), 2);
        assert_invalid_field(&f.run(0, &[0x37, 0, 0, 0, 0, 0, 1, 0, 32, 0]), 6);
        let cdb = [0xB7, 0x40, 0, 0, 0, 0, 0, 0, 0, 32, 0, 0];
        assert_invalid_field(&f.run(0, &cdb), 1);
        let cdb = [0xB7, 0, 0, 0, 0, 0, 0, 0, 0, 32, 1, 0];
        assert_invalid_field(&f.run(0, &cdb), 10);
    }
}
