//! REQUEST SENSE (SPC-5 §6.39): the condition the logical unit would report now, as data.

use super::Ctx;
use crate::backend::BlockBackend;
use crate::cdb::byte;
use crate::sense::asc;
use crate::status::CommandResult;

use crate::table::{AccessClass as A, CommandEntry as E, Flags as F, Kind};

pub(crate) const ENTRIES: &[E] = &[E::new(
    0x03,
    "REQUEST SENSE",
    Kind::RequestSense,
    crate::table::LUNLESS
        .union(F::ALLOW_ON_RESV)
        .union(F::RUN_HERE)
        .union(F::DATA_IN)
        .union(F::OK_ON_NO_MEDIA),
    A::Free,
    &[0x03, 0x01, 0, 0, 0xFF, 0x07],
)];

pub(crate) fn request_sense<B: BlockBackend>(ctx: &Ctx<'_, B>) -> CommandResult {
    let descriptor = byte(ctx.cdb, 1) & 0x01 != 0;
    let allocation_length = usize::from(byte(ctx.cdb, 4));
    let sense = match ctx.lun {
        // SPC-5 §6.39: reported as sense data with GOOD status, not as CHECK CONDITION. A
        // number a LUN just left first reports that (see `TargetDevice::submit`).
        None => ctx
            .device
            .take_no_lun_attention(ctx.nexus)
            .map_or(asc::LOGICAL_UNIT_NOT_SUPPORTED, |ua| ua.sense()),
        // With no unit attention pending, the condition TEST UNIT READY would meet: the port
        // group's access state, an ejected medium, a sanitize in progress or failed.
        Some(lun) => match lun.take_attention(ctx.nexus) {
            Some(ua) => ua.sense(),
            None => {
                let tur = super::start_stop::TEST_UNIT_READY;
                ctx.device
                    .access_state(ctx.port.tpg)
                    .not_ready_sense()
                    .or_else(|| lun.medium.borrow().media_check(tur))
                    .or_else(|| lun.sanitize.borrow().media_check(tur))
                    .unwrap_or(asc::NO_ADDITIONAL_SENSE)
            }
        },
    };
    ctx.data_in(sense.encode(descriptor).to_vec(), allocation_length)
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use crate::alua::AccessState;
    use crate::mutation::Mutation;
    use crate::ua::UnitAttention;

    fn request_sense(desc: bool, alloc: u8) -> [u8; 6] {
        [0x03, u8::from(desc), 0, 0, alloc, 0]
    }

    #[test]
    fn nothing_pending_is_no_sense_in_either_format() {
        let f = Fixture::new();
        let d = good(f.run(0, &request_sense(false, 255)));
        assert_eq!(d.len(), 18);
        assert_eq!(d[0], 0x70);
        assert_eq!(sense_code(&d), (0, 0, 0));
        let d = good(f.run(0, &request_sense(true, 255)));
        assert_eq!(d, [0x72, 0, 0, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn reports_and_clears_unit_attentions_by_priority() {
        let f = Fixture::new();
        for ua in [
            UnitAttention::ReportedLunsDataChanged,
            UnitAttention::ModeParametersChanged,
        ] {
            f.device
                .apply(Mutation::AttentionRaised {
                    lun: None,
                    ua,
                    except: None,
                })
                .unwrap();
        }
        let expected = [(0x06, 0x2A, 0x01), (0x06, 0x3F, 0x0E), (0x00, 0x00, 0x00)];
        for want in expected {
            assert_eq!(sense_code(&good(f.run(0, &request_sense(false, 18)))), want);
        }
        // Cleared: the next command runs.
        assert_eq!(good(f.run(0, &[0x00, 0, 0, 0, 0, 0])), []);
    }

    #[test]
    fn unit_attention_for_another_nexus_is_left_alone() {
        let f = Fixture::new();
        let other = f.login();
        let ua = UnitAttention::InquiryDataChanged;
        f.device
            .apply(Mutation::AttentionRaised {
                lun: None,
                ua,
                except: Some(f.nexus),
            })
            .unwrap();
        assert_eq!(
            sense_code(&good(f.run(0, &request_sense(false, 18)))),
            (0, 0, 0)
        );
        assert_eq!(
            sense_code(&good(f.run_on(other, 0, &request_sense(true, 8)))),
            (6, 0x3F, 0x03)
        );
    }

    #[test]
    fn a_lun_number_without_a_logical_unit_is_reported_as_data() {
        let f = Fixture::new();
        let d = good(f.run(5, &request_sense(false, 252)));
        assert_eq!(sense_code(&d), (0x05, 0x25, 0x00));
        let d = good(f.run(5, &request_sense(true, 252)));
        assert_eq!(d[0], 0x72);
        assert_eq!(sense_code(&d), (0x05, 0x25, 0x00));
    }

    #[test]
    fn a_non_active_port_group_reports_not_ready() {
        let cases = [
            (AccessState::ActiveNonOptimized, (0x00, 0x00, 0x00)),
            (AccessState::Standby, (0x02, 0x04, 0x0B)),
            (AccessState::Unavailable, (0x02, 0x04, 0x0C)),
            (AccessState::Transitioning, (0x02, 0x04, 0x0A)),
        ];
        for (state, want) in cases {
            let f = Fixture::new();
            f.device.set_access_state(TPG, state);
            assert_eq!(
                sense_code(&good(f.run(0, &request_sense(false, 18)))),
                want,
                "{state:?}"
            );
        }
    }

    #[test]
    fn allocation_length_truncates() {
        let f = Fixture::new();
        assert!(good(f.run(0, &request_sense(false, 0))).is_empty());
        assert_eq!(good(f.run(0, &request_sense(false, 8))).len(), 8);
        assert_eq!(good(f.run(0, &request_sense(false, 100))).len(), 18);
    }
}
