//! Unit attention conditions pending for one I_T nexus on one LUN, reported one at a time by
//! priority (SAM-6 §5.14, SPC-5 §5.14).

use crate::sense::{asc, Sense, SenseKey};
use serde::{Deserialize, Serialize};

/// Unit attentions in reporting priority order (lower value reported first): resets first,
/// then the conditions that describe changed state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[repr(u8)]
pub enum UnitAttention {
    /// POWER ON, RESET, OR BUS DEVICE RESET OCCURRED (29h/00h): a new nexus or a power cycle.
    PowerOnReset = 0,
    /// BUS DEVICE RESET FUNCTION OCCURRED (29h/03h): LUN or target reset.
    BusDeviceReset = 1,
    /// I_T NEXUS LOSS OCCURRED (29h/07h).
    ITNexusLoss = 2,
    /// COMMANDS CLEARED BY ANOTHER INITIATOR (2Fh/00h): another nexus's task management
    /// aborted this nexus's commands while TAS was 0.
    CommandsCleared = 3,
    /// NOT READY TO READY CHANGE, MEDIUM MAY HAVE CHANGED (28h/00h).
    MediumChanged = 4,
    /// MODE PARAMETERS CHANGED (2Ah/01h).
    ModeParametersChanged = 5,
    /// RESERVATIONS PREEMPTED (2Ah/03h).
    ReservationsPreempted = 6,
    /// RESERVATIONS RELEASED (2Ah/04h).
    ReservationsReleased = 7,
    /// REGISTRATIONS PREEMPTED (2Ah/05h).
    RegistrationsPreempted = 8,
    /// ASYMMETRIC ACCESS STATE CHANGED (2Ah/06h).
    AsymmetricAccessStateChanged = 9,
    /// CAPACITY DATA HAS CHANGED (2Ah/09h).
    CapacityDataChanged = 10,
    /// THIN PROVISIONING SOFT THRESHOLD REACHED (38h/07h).
    ThinProvisioningThreshold = 11,
    /// INQUIRY DATA HAS CHANGED (3Fh/03h).
    InquiryDataChanged = 12,
    /// REPORTED LUNS DATA HAS CHANGED (3Fh/0Eh).
    ReportedLunsDataChanged = 13,
}

impl UnitAttention {
    pub const fn sense(self) -> Sense {
        use UnitAttention::*;
        match self {
            PowerOnReset => asc::POWER_ON_RESET,
            BusDeviceReset => asc::TARGET_RESET,
            ITNexusLoss => asc::I_T_NEXUS_LOSS,
            CommandsCleared => asc::COMMANDS_CLEARED_BY_ANOTHER_INITIATOR,
            MediumChanged => Sense::new(SenseKey::UnitAttention, 0x28, 0x00),
            ModeParametersChanged => asc::MODE_PARAMETERS_CHANGED,
            ReservationsPreempted => Sense::new(SenseKey::UnitAttention, 0x2A, 0x03),
            ReservationsReleased => Sense::new(SenseKey::UnitAttention, 0x2A, 0x04),
            RegistrationsPreempted => Sense::new(SenseKey::UnitAttention, 0x2A, 0x05),
            AsymmetricAccessStateChanged => asc::ASYMMETRIC_ACCESS_STATE_CHANGED,
            CapacityDataChanged => asc::CAPACITY_DATA_CHANGED,
            ThinProvisioningThreshold => Sense::new(SenseKey::UnitAttention, 0x38, 0x07),
            InquiryDataChanged => asc::INQUIRY_DATA_CHANGED,
            ReportedLunsDataChanged => asc::REPORTED_LUNS_DATA_CHANGED,
        }
    }

    const fn bit(self) -> u32 {
        1 << (self as u8)
    }

    /// Every condition, in priority order.
    pub const ALL: [UnitAttention; 14] = [
        UnitAttention::PowerOnReset,
        UnitAttention::BusDeviceReset,
        UnitAttention::ITNexusLoss,
        UnitAttention::CommandsCleared,
        UnitAttention::MediumChanged,
        UnitAttention::ModeParametersChanged,
        UnitAttention::ReservationsPreempted,
        UnitAttention::ReservationsReleased,
        UnitAttention::RegistrationsPreempted,
        UnitAttention::AsymmetricAccessStateChanged,
        UnitAttention::CapacityDataChanged,
        UnitAttention::ThinProvisioningThreshold,
        UnitAttention::InquiryDataChanged,
        UnitAttention::ReportedLunsDataChanged,
    ];

    /// Whether this condition is a reset, which supersedes the conditions that describe what
    /// changed before it: after a reset the initiator re-reads everything anyway (SAM-6
    /// §5.14: a reset clears the lower-priority conditions it makes redundant).
    const fn is_reset(self) -> bool {
        matches!(
            self,
            UnitAttention::PowerOnReset
                | UnitAttention::BusDeviceReset
                | UnitAttention::ITNexusLoss
        )
    }
}

/// The set of unit attentions pending for one I_T nexus on one LUN.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingAttentions(u32);

impl PendingAttentions {
    /// Raises `ua`, unless a pending reset already covers it; a reset clears the conditions of
    /// lower priority.
    pub fn raise(&mut self, ua: UnitAttention) {
        let higher_reset = UnitAttention::ALL
            .into_iter()
            .take_while(|&u| u < ua)
            .any(|u| u.is_reset() && self.0 & u.bit() != 0);
        if higher_reset && !ua.is_reset() {
            return;
        }
        if ua.is_reset() {
            self.0 &= ua.bit() | (ua.bit() - 1);
        }
        self.0 |= ua.bit();
    }

    pub fn is_empty(&self) -> bool {
        self.0 == 0
    }

    pub fn contains(&self, ua: UnitAttention) -> bool {
        self.0 & ua.bit() != 0
    }

    /// The highest-priority pending condition, without clearing it.
    pub fn peek(&self) -> Option<UnitAttention> {
        UnitAttention::ALL
            .into_iter()
            .find(|ua| self.0 & ua.bit() != 0)
    }

    /// Reports and clears the highest-priority pending condition.
    pub fn take(&mut self) -> Option<UnitAttention> {
        let ua = self.peek()?;
        self.0 &= !ua.bit();
        Some(ua)
    }

    pub fn clear(&mut self, ua: UnitAttention) {
        self.0 &= !ua.bit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use UnitAttention::*;

    #[test]
    fn reports_by_priority_one_at_a_time() {
        let mut p = PendingAttentions::default();
        p.raise(ReportedLunsDataChanged);
        p.raise(ModeParametersChanged);
        p.raise(CapacityDataChanged);
        assert_eq!(p.take(), Some(ModeParametersChanged));
        assert_eq!(p.take(), Some(CapacityDataChanged));
        assert_eq!(p.take(), Some(ReportedLunsDataChanged));
        assert_eq!(p.take(), None);
    }

    #[test]
    fn reset_supersedes_what_it_makes_redundant() {
        let mut p = PendingAttentions::default();
        p.raise(ModeParametersChanged);
        p.raise(ReservationsPreempted);
        p.raise(BusDeviceReset);
        assert_eq!(p.take(), Some(BusDeviceReset));
        assert!(p.is_empty());
    }

    #[test]
    fn a_pending_reset_absorbs_later_changes_but_not_higher_resets() {
        let mut p = PendingAttentions::default();
        p.raise(BusDeviceReset);
        p.raise(ModeParametersChanged);
        assert_eq!(p.peek(), Some(BusDeviceReset));
        p.raise(PowerOnReset);
        assert_eq!(p.take(), Some(PowerOnReset));
        assert!(p.is_empty());
    }

    #[test]
    fn every_condition_has_a_distinct_bit_and_sense() {
        for (i, a) in UnitAttention::ALL.iter().enumerate() {
            assert_eq!(*a as usize, i);
            assert_eq!(a.sense().key, SenseKey::UnitAttention);
            for b in &UnitAttention::ALL[i + 1..] {
                let (sa, sb) = (a.sense(), b.sense());
                assert_ne!((sa.asc, sa.ascq), (sb.asc, sb.ascq));
            }
        }
    }
}
