//! Unit attention conditions pending for one I_T nexus on one LUN, reported by priority.

use crate::sense::{asc, Sense};
use serde::{Deserialize, Serialize};

/// Unit attentions in reporting priority order (lower value reported first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[repr(u8)]
pub enum UnitAttention {
    PowerOnReset = 0,
    BusDeviceReset = 1,
    ITNexusLoss = 2,
    ModeParametersChanged = 3,
    CapacityDataChanged = 4,
    AsymmetricAccessStateChanged = 5,
    InquiryDataChanged = 6,
    ReportedLunsDataChanged = 7,
}

impl UnitAttention {
    pub const fn sense(self) -> Sense {
        match self {
            UnitAttention::PowerOnReset => asc::POWER_ON_RESET,
            UnitAttention::BusDeviceReset => asc::TARGET_RESET,
            UnitAttention::ITNexusLoss => asc::I_T_NEXUS_LOSS,
            UnitAttention::ModeParametersChanged => asc::MODE_PARAMETERS_CHANGED,
            UnitAttention::CapacityDataChanged => asc::CAPACITY_DATA_CHANGED,
            UnitAttention::AsymmetricAccessStateChanged => asc::ASYMMETRIC_ACCESS_STATE_CHANGED,
            UnitAttention::InquiryDataChanged => asc::INQUIRY_DATA_CHANGED,
            UnitAttention::ReportedLunsDataChanged => asc::REPORTED_LUNS_DATA_CHANGED,
        }
    }

    const fn bit(self) -> u16 {
        1 << (self as u8)
    }

    const ALL: [UnitAttention; 8] = [
        UnitAttention::PowerOnReset,
        UnitAttention::BusDeviceReset,
        UnitAttention::ITNexusLoss,
        UnitAttention::ModeParametersChanged,
        UnitAttention::CapacityDataChanged,
        UnitAttention::AsymmetricAccessStateChanged,
        UnitAttention::InquiryDataChanged,
        UnitAttention::ReportedLunsDataChanged,
    ];
}

/// The set of unit attentions pending for one I_T nexus on one LUN.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingAttentions(u16);

impl PendingAttentions {
    /// Raises `ua`. A reset supersedes every lower-priority condition (SAM-6 §5.14).
    pub fn raise(&mut self, ua: UnitAttention) {
        if matches!(
            ua,
            UnitAttention::PowerOnReset | UnitAttention::BusDeviceReset
        ) {
            self.0 &= ua.bit() | (ua.bit() - 1);
        }
        self.0 |= ua.bit();
    }

    pub fn is_empty(&self) -> bool {
        self.0 == 0
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

    #[test]
    fn reports_by_priority_one_at_a_time() {
        let mut p = PendingAttentions::default();
        p.raise(UnitAttention::ReportedLunsDataChanged);
        p.raise(UnitAttention::ModeParametersChanged);
        assert_eq!(p.take(), Some(UnitAttention::ModeParametersChanged));
        assert_eq!(p.take(), Some(UnitAttention::ReportedLunsDataChanged));
        assert_eq!(p.take(), None);
    }

    #[test]
    fn reset_supersedes_lower_priority() {
        let mut p = PendingAttentions::default();
        p.raise(UnitAttention::ModeParametersChanged);
        p.raise(UnitAttention::PowerOnReset);
        assert_eq!(p.take(), Some(UnitAttention::PowerOnReset));
        assert!(p.is_empty());
    }
}
