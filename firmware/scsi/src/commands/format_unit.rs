//! FORMAT UNIT (SBC-4 §5.3): accepted without protection information, defect lists or an
//! initialization pattern. A thin-provisioned LUN comes out with every block deallocated;
//! other LUNs keep their data, which SBC-4 leaves unspecified after a format without an
//! initialization pattern (CTL does the same).

use super::{sanitize, Ctx, Plan};
use crate::backend::BlockBackend;
use crate::cdb::{be16, be32, byte};
use crate::lun::Lun;
use crate::sense::{asc, Sense, SenseKey};
use crate::status::CommandResult;
use crate::table::{AccessClass as A, CommandEntry as E, Flags as F, Kind};
use alloc::vec::Vec;

// FMTPINFO (byte 1 bits 7:6) stays outside the usage mask: protection information is not
// supported, so a format asking for it is INVALID FIELD IN CDB at byte 1 bit 7. Byte 4's FFMT
// (fast format) is outside it too.
pub(crate) const ENTRIES: &[E] = &[E::new(
    0x04,
    "FORMAT UNIT",
    Kind::FormatUnit,
    F::DATA_OUT,
    A::Write,
    &[0x04, 0x3F, 0x00, 0x00, 0x00, 0x07],
)
.timeouts(0, 3600)];

/// FORMAT COMMAND FAILED (31h/01h).
const FORMAT_COMMAND_FAILED: Sense = Sense::new(SenseKey::MediumError, 0x31, 0x01);

/// FORMAT UNIT byte 1.
const LONGLIST: u8 = 0x20;
const FMTDATA: u8 = 0x10;

/// Parameter list header byte 1 (SBC-4 table 38).
const FOV: u8 = 0x80;
/// DPRY, DCRT, STPF and IP: meaningful only with FOV set.
const FOV_DEPENDENT: u8 = 0x78;
const IP: u8 = 0x08;

/// Length of the parameter list header: short or long (SBC-4 §5.3.2).
fn header_len(cdb: &[u8]) -> u32 {
    match byte(cdb, 1) {
        b if b & FMTDATA == 0 => 0,
        b if b & LONGLIST != 0 => 8,
        _ => 4,
    }
}

pub(crate) fn precheck<B: BlockBackend>(
    _kind: Kind,
    lun: Option<&Lun<B>>,
    cdb: &[u8],
) -> Result<Plan, Sense> {
    let lun = lun.ok_or(asc::LOGICAL_UNIT_NOT_SUPPORTED)?;
    if lun.write_protected() {
        return Err(asc::WRITE_PROTECTED);
    }
    // Only the header is asked for: any defect list or initialization pattern after it is
    // refused from the header's own length fields.
    Ok(Plan {
        range: (0, lun.blocks()),
        data_out_len: header_len(cdb),
        data_in_len: 0,
        exact_data_out: false,
    })
}

/// Checks the parameter list header (SBC-4 tables 37, 38).
fn check_header(long: bool, header: &[u8]) -> Result<(), Sense> {
    if byte(header, 0) & 0x07 != 0 {
        // PROTECTION FIELD USAGE: no protection information.
        return Err(Sense::invalid_field_in_parameter_list(0, Some(2)));
    }
    let flags = byte(header, 1);
    if flags & FOV == 0 && flags & FOV_DEPENDENT != 0 {
        let bit = 7 - (flags & FOV_DEPENDENT).leading_zeros() as u8;
        return Err(Sense::invalid_field_in_parameter_list(1, Some(bit)));
    }
    if flags & IP != 0 {
        return Err(Sense::invalid_field_in_parameter_list(1, Some(3)));
    }
    let (defect_list_length, at) = if long {
        if byte(header, 2) != 0 {
            return Err(Sense::invalid_field_in_parameter_list(2, None));
        }
        if byte(header, 3) != 0 {
            // P_I_INFORMATION and PROTECTION INTERVAL EXPONENT.
            return Err(Sense::invalid_field_in_parameter_list(3, None));
        }
        (be32(header, 4), 4)
    } else {
        (u32::from(be16(header, 2)), 2)
    };
    if defect_list_length != 0 {
        return Err(Sense::invalid_field_in_parameter_list(at, None));
    }
    Ok(())
}

pub(crate) async fn execute<B: BlockBackend>(
    ctx: &Ctx<'_, B>,
    _kind: Kind,
    data_out: Vec<u8>,
) -> CommandResult {
    let Some(lun) = ctx.lun else {
        ctx.device.buffers.give(data_out);
        return ctx.fail(&asc::LOGICAL_UNIT_NOT_SUPPORTED);
    };
    let want = header_len(ctx.cdb) as usize;
    let checked = if data_out.len() < want {
        Err(asc::PARAMETER_LIST_LENGTH_ERROR)
    } else if want == 0 {
        Ok(())
    } else {
        check_header(want == 8, &data_out)
    };
    ctx.device.buffers.give(data_out);
    if let Err(sense) = checked {
        return ctx.fail(&sense);
    }
    if lun.thin() && lun.backend.can_deallocate() {
        let done = sanitize::deallocate_all(lun, &ctx.device.buffers, &mut |_, _| {}).await;
        if done.is_err() {
            return ctx.fail(&FORMAT_COMMAND_FAILED);
        }
    }
    CommandResult::good(Vec::new())
}

#[cfg(test)]
mod tests {
    use super::super::sanitize::mem::MemFixture;
    use super::super::test_support::*;
    use crate::status::ScsiStatus;

    #[test]
    fn without_parameter_data_the_format_succeeds() {
        let f = Fixture::new();
        good(f.run(0, &[0x04, 0, 0, 0, 0, 0]));
        // CMPLST and DEFECT LIST FORMAT mean nothing without FMTDATA.
        good(f.run(0, &[0x04, 0x0F, 0, 0, 0, 0]));
    }

    #[test]
    fn protection_information_and_other_fields_are_refused() {
        let f = Fixture::new();
        assert_invalid_field(&f.run(0, &[0x04, 0x80, 0, 0, 0, 0]), 1);
        assert_invalid_field(&f.run(0, &[0x04, 0x40, 0, 0, 0, 0]), 1);
        assert_invalid_field(&f.run(0, &[0x04, 0, 1, 0, 0, 0]), 2);
        assert_invalid_field(&f.run(0, &[0x04, 0, 0, 0, 1, 0]), 4);
    }

    #[test]
    fn headers_without_defects_are_accepted() {
        let f = MemFixture::new(false);
        good(f.run_out(&[0x04, 0x10, 0, 0, 0, 0], &[0, 0, 0, 0]));
        good(f.run_out(&[0x04, 0x10, 0, 0, 0, 0], &[0, 0x80 | 0x40 | 0x02, 0, 0]));
        good(f.run_out(&[0x04, 0x30, 0, 0, 0, 0], &[0, 0, 0, 0, 0, 0, 0, 0]));
    }

    #[test]
    fn bad_headers_point_at_the_field() {
        let f = MemFixture::new(false);
        let short = [0x04, 0x10, 0, 0, 0, 0];
        let long = [0x04, 0x30, 0, 0, 0, 0];
        let cases: [(&[u8], &[u8], u16); 8] = [
            (&short, &[1, 0, 0, 0], 0),
            (&short, &[0, 0x20, 0, 0], 1),
            (&short, &[0, 0x80 | 0x08, 0, 4], 1),
            (&short, &[0, 0, 0, 8], 2),
            (&long, &[0, 0, 1, 0, 0, 0, 0, 0], 2),
            (&long, &[0, 0, 0, 0x10, 0, 0, 0, 0], 3),
            (&long, &[0, 0, 0, 0, 0, 0, 0, 8], 4),
            (&long, &[0, 0, 0, 0, 0x01, 0, 0, 0], 4),
        ];
        for (cdb, header, at) in cases {
            let r = f.run_out(cdb, header);
            assert_eq!(sense_code(&r.sense), (0x05, 0x26, 0x00), "{header:02x?}");
            assert_eq!(r.sense[15] & 0x40, 0, "C/D names the parameter list");
            assert_eq!(u16::from_be_bytes([r.sense[16], r.sense[17]]), at);
        }
        let r = f.run_out(&short, &[0, 0]);
        assert_eq!(sense_code(&r.sense), (0x05, 0x1A, 0x00));
    }

    #[test]
    fn a_thin_lun_comes_out_deallocated_and_a_thick_one_keeps_its_data() {
        for thin in [false, true] {
            let f = MemFixture::new(thin);
            f.fill(0xA5);
            good(f.run_out(&[0x04, 0, 0, 0, 0, 0], &[]));
            let expect = if thin { 0 } else { 0xA5 };
            assert!(f.contents().iter().all(|&b| b == expect), "thin {thin}");
        }
    }

    #[test]
    fn a_write_protected_lun_is_not_formatted() {
        let mut c = lun_config(0, 2048);
        c.read_only = true;
        let f = Fixture::with(port_config(None), [c]);
        let r = f.run(0, &[0x04, 0, 0, 0, 0, 0]);
        assert_eq!(r.scsi_status(), ScsiStatus::CheckCondition);
        assert_eq!(sense_code(&r.sense), (0x07, 0x27, 0x00));
    }
}
