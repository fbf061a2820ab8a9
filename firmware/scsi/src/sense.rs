//! Sense data (SPC-5 §4.4): what a CHECK CONDITION carries, in fixed or descriptor format.

use heapless::Vec as HVec;
use serde::{Deserialize, Serialize};

/// Sense keys used by the target (SPC-5 table 52).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[repr(u8)]
pub enum SenseKey {
    NoSense = 0x0,
    RecoveredError = 0x1,
    NotReady = 0x2,
    MediumError = 0x3,
    HardwareError = 0x4,
    IllegalRequest = 0x5,
    UnitAttention = 0x6,
    DataProtect = 0x7,
    AbortedCommand = 0xB,
    Miscompare = 0xE,
}

/// Sense-key-specific field pointer: which CDB or parameter byte (and bit) was wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldPointer {
    /// true: the byte is in the CDB; false: in the parameter list (data-out).
    pub in_cdb: bool,
    pub byte: u16,
    /// Bit 0..=7 when known.
    pub bit: Option<u8>,
}

/// One sense condition, independent of the format it is reported in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sense {
    pub key: SenseKey,
    pub asc: u8,
    pub ascq: u8,
    /// INFORMATION field (for example the failing LBA or a miscompare offset).
    pub information: Option<u64>,
    pub field: Option<FieldPointer>,
}

/// Longest sense we produce; SPC allows 252 bytes, we never need more than this.
pub const MAX_SENSE_LEN: usize = 64;
pub type SenseBytes = HVec<u8, MAX_SENSE_LEN>;

impl Sense {
    pub const fn new(key: SenseKey, asc: u8, ascq: u8) -> Self {
        Sense {
            key,
            asc,
            ascq,
            information: None,
            field: None,
        }
    }

    pub const fn with_information(mut self, info: u64) -> Self {
        self.information = Some(info);
        self
    }

    /// INVALID FIELD IN CDB (24h/00h) pointing at `byte` (and `bit`) of the CDB.
    pub const fn invalid_field_in_cdb(byte: u16, bit: Option<u8>) -> Self {
        Sense {
            key: SenseKey::IllegalRequest,
            asc: 0x24,
            ascq: 0x00,
            information: None,
            field: Some(FieldPointer {
                in_cdb: true,
                byte,
                bit,
            }),
        }
    }

    /// INVALID FIELD IN PARAMETER LIST (26h/00h) pointing at `byte` of the data-out.
    pub const fn invalid_field_in_parameter_list(byte: u16, bit: Option<u8>) -> Self {
        Sense {
            key: SenseKey::IllegalRequest,
            asc: 0x26,
            ascq: 0x00,
            information: None,
            field: Some(FieldPointer {
                in_cdb: false,
                byte,
                bit,
            }),
        }
    }

    /// Sense-key-specific bytes (SPC-5 §4.4.2.2): SKSV, C/D, BPV, bit pointer, field pointer.
    fn sense_key_specific(&self) -> Option<[u8; 3]> {
        let f = self.field?;
        let mut b0 = 0x80u8;
        if f.in_cdb {
            b0 |= 0x40;
        }
        if let Some(bit) = f.bit {
            b0 |= 0x08 | (bit & 0x07);
        }
        let [hi, lo] = f.byte.to_be_bytes();
        Some([b0, hi, lo])
    }

    /// Encodes as fixed-format sense (response code 70h).
    pub fn to_fixed(&self) -> SenseBytes {
        let mut b = [0u8; 18];
        b[0] = 0x70;
        b[2] = self.key as u8;
        if let Some(info) = self.information {
            // The fixed format has only four bytes; a larger value cannot be reported there.
            if let Ok(v) = u32::try_from(info) {
                b[0] |= 0x80;
                b[3..7].copy_from_slice(&v.to_be_bytes());
            }
        }
        b[7] = 10;
        b[12] = self.asc;
        b[13] = self.ascq;
        if let Some(sks) = self.sense_key_specific() {
            b[15..18].copy_from_slice(&sks);
        }
        let mut out = SenseBytes::new();
        let _ = out.extend_from_slice(&b);
        out
    }

    /// Encodes as descriptor-format sense (response code 72h).
    pub fn to_descriptor(&self) -> SenseBytes {
        let mut out = SenseBytes::new();
        let _ = out.extend_from_slice(&[0x72, self.key as u8, self.asc, self.ascq, 0, 0, 0, 0]);
        if let Some(info) = self.information {
            let _ = out.extend_from_slice(&[0x00, 0x0A, 0x80, 0x00]);
            let _ = out.extend_from_slice(&info.to_be_bytes());
        }
        if let Some(sks) = self.sense_key_specific() {
            let _ = out.extend_from_slice(&[0x02, 0x06, 0x00, 0x00, sks[0], sks[1], sks[2], 0x00]);
        }
        let additional = (out.len() - 8) as u8;
        out[7] = additional;
        out
    }

    /// Encodes in the format the LUN's Control mode page (D_SENSE) asks for.
    pub fn encode(&self, descriptor: bool) -> SenseBytes {
        if descriptor {
            self.to_descriptor()
        } else {
            self.to_fixed()
        }
    }
}

/// The conditions the core reports, named as in SPC-5 Annex F (ASC/ASCQ assignments).
pub mod asc {
    use super::{Sense, SenseKey::*};

    pub const INVALID_COMMAND_OPERATION_CODE: Sense = Sense::new(IllegalRequest, 0x20, 0x00);
    pub const LBA_OUT_OF_RANGE: Sense = Sense::new(IllegalRequest, 0x21, 0x00);
    pub const PARAMETER_LIST_LENGTH_ERROR: Sense = Sense::new(IllegalRequest, 0x1A, 0x00);
    pub const LOGICAL_UNIT_NOT_SUPPORTED: Sense = Sense::new(IllegalRequest, 0x25, 0x00);
    pub const SAVING_PARAMETERS_NOT_SUPPORTED: Sense = Sense::new(IllegalRequest, 0x39, 0x00);
    pub const INVALID_FIELD_IN_COMMAND_IU: Sense = Sense::new(IllegalRequest, 0x0E, 0x03);
    pub const INVALID_MESSAGE_ERROR: Sense = Sense::new(IllegalRequest, 0x49, 0x00);
    pub const POWER_ON_RESET: Sense = Sense::new(UnitAttention, 0x29, 0x00);
    pub const POWER_ON_OCCURRED: Sense = Sense::new(UnitAttention, 0x29, 0x01);
    pub const BUS_RESET: Sense = Sense::new(UnitAttention, 0x29, 0x02);
    pub const TARGET_RESET: Sense = Sense::new(UnitAttention, 0x29, 0x03);
    pub const I_T_NEXUS_LOSS: Sense = Sense::new(UnitAttention, 0x29, 0x07);
    pub const MODE_PARAMETERS_CHANGED: Sense = Sense::new(UnitAttention, 0x2A, 0x01);
    pub const CAPACITY_DATA_CHANGED: Sense = Sense::new(UnitAttention, 0x2A, 0x09);
    pub const ASYMMETRIC_ACCESS_STATE_CHANGED: Sense = Sense::new(UnitAttention, 0x2A, 0x06);
    pub const REPORTED_LUNS_DATA_CHANGED: Sense = Sense::new(UnitAttention, 0x3F, 0x0E);
    pub const INQUIRY_DATA_CHANGED: Sense = Sense::new(UnitAttention, 0x3F, 0x03);
    pub const MEDIUM_NOT_PRESENT: Sense = Sense::new(NotReady, 0x3A, 0x00);
    pub const LUN_NOT_READY_TRANSITIONING: Sense = Sense::new(NotReady, 0x04, 0x0A);
    pub const LUN_NOT_ACCESSIBLE_STANDBY: Sense = Sense::new(NotReady, 0x04, 0x0B);
    pub const LUN_NOT_ACCESSIBLE_UNAVAILABLE: Sense = Sense::new(NotReady, 0x04, 0x0C);
    pub const WRITE_PROTECTED: Sense = Sense::new(DataProtect, 0x27, 0x00);
    pub const UNRECOVERED_READ_ERROR: Sense = Sense::new(MediumError, 0x11, 0x00);
    pub const WRITE_ERROR: Sense = Sense::new(MediumError, 0x0C, 0x00);
    pub const INTERNAL_TARGET_FAILURE: Sense = Sense::new(HardwareError, 0x44, 0x00);
    pub const COMMANDS_CLEARED_BY_ANOTHER_INITIATOR: Sense = Sense::new(UnitAttention, 0x2F, 0x00);
    pub const NO_ADDITIONAL_SENSE: Sense = Sense::new(NoSense, 0x00, 0x00);
    pub const INVALID_FIELD_IN_CDB: Sense = Sense::invalid_field_in_cdb(0, None);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_sense_carries_field_pointer() {
        let s = Sense::invalid_field_in_cdb(2, Some(5)).to_fixed();
        assert_eq!(s.len(), 18);
        assert_eq!(s[0], 0x70);
        assert_eq!(s[2], 0x05);
        assert_eq!(s[12], 0x24);
        assert_eq!(&s[15..18], &[0x80 | 0x40 | 0x08 | 5, 0, 2]);
    }

    #[test]
    fn descriptor_sense_carries_information() {
        let s = asc::LBA_OUT_OF_RANGE
            .with_information(0x1_0000_0000)
            .to_descriptor();
        assert_eq!(s[0], 0x72);
        assert_eq!(s[7] as usize, s.len() - 8);
        assert_eq!(&s[8..12], &[0, 0x0A, 0x80, 0]);
        assert_eq!(&s[12..20], &0x1_0000_0000u64.to_be_bytes());
    }

    #[test]
    fn fixed_sense_drops_information_that_does_not_fit() {
        let s = asc::LBA_OUT_OF_RANGE.with_information(u64::MAX).to_fixed();
        assert_eq!(s[0], 0x70);
    }
}
