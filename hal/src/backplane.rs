//! The backplane: which slots hold which drives (the slot map), each drive's identity and
//! health, and each slot's locate and fault indicators.

use core::fmt;

/// What went wrong asking the backplane.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The slot number is not on this backplane.
    NoSuchSlot,
    /// The slot holds no drive (for questions about the drive in it).
    Empty,
    /// The drive answered with something that makes no sense (a malformed identity).
    BadIdentity,
    /// The enclosure management path failed (I2C, SES, a file of the sim board).
    Io,
    /// The backplane cannot do this (a slot without a fault indicator).
    Unsupported,
    /// Anything else.
    Other,
}

crate::error_traits!("the backplane");

/// How a drive attaches to the backplane.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Transport {
    /// Serial Attached SCSI: named by a NAA 5 WWN.
    Sas,
    /// NVMe: a namespace named by its EUI-64 and NGUID.
    Nvme,
}

impl Transport {
    /// `sas` or `nvme`, as listings and the sim board's files write it.
    pub const fn name(self) -> &'static str {
        match self {
            Transport::Sas => "sas",
            Transport::Nvme => "nvme",
        }
    }

    /// The inverse of [`Transport::name`] (any case).
    pub fn from_name(name: &str) -> Option<Transport> {
        if name.eq_ignore_ascii_case("sas") {
            Some(Transport::Sas)
        } else if name.eq_ignore_ascii_case("nvme") {
            Some(Transport::Nvme)
        } else {
            None
        }
    }
}

/// The designator a drive is known by wherever it sits: what a LUN bound to a drive
/// remembers, so that the drive moved to another slot keeps its LUN.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DriveKey {
    /// A SAS drive's NAA 5 World Wide Name.
    Wwn([u8; 8]),
    /// An NVMe namespace's EUI-64 (when it has no NGUID).
    Eui64([u8; 8]),
    /// An NVMe namespace's NGUID.
    Nguid([u8; 16]),
}

impl fmt::Display for DriveKey {
    /// `naa.` and 16 hex digits, or `eui.` and 16 (EUI-64) or 32 (NGUID): the forms iSCSI
    /// names and Linux's /dev/disk/by-id use.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (prefix, bytes): (&str, &[u8]) = match self {
            DriveKey::Wwn(b) => ("naa.", b),
            DriveKey::Eui64(b) => ("eui.", b),
            DriveKey::Nguid(b) => ("eui.", b),
        };
        f.write_str(prefix)?;
        for b in bytes {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl DriveKey {
    /// Reads what [`DriveKey`]'s `Display` writes (prefix in any case).
    pub fn parse(text: &str) -> Option<DriveKey> {
        let (prefix, hex) = text.split_at_checked(4)?;
        if prefix.eq_ignore_ascii_case("naa.") {
            parse_hex::<8>(hex).map(DriveKey::Wwn)
        } else if prefix.eq_ignore_ascii_case("eui.") {
            match hex.len() {
                16 => parse_hex::<8>(hex).map(DriveKey::Eui64),
                32 => parse_hex::<16>(hex).map(DriveKey::Nguid),
                _ => None,
            }
        } else {
            None
        }
    }
}

/// Exactly `2 * N` hex digits as `N` bytes.
pub fn parse_hex<const N: usize>(text: &str) -> Option<[u8; N]> {
    if text.len() != 2 * N || !text.is_ascii() {
        return None;
    }
    let mut out = [0u8; N];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// What a drive reports about itself (SCSI INQUIRY and VPD pages 80h/83h, NVMe Identify
/// Controller and Namespace).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DriveIdentity {
    /// How it attaches.
    pub transport: Transport,
    /// A SAS drive's NAA 5 World Wide Name (VPD page 83h).
    pub wwn: Option<[u8; 8]>,
    /// An NVMe namespace's IEEE Extended Unique Identifier.
    pub eui64: Option<[u8; 8]>,
    /// An NVMe namespace's Namespace Globally Unique Identifier.
    pub nguid: Option<[u8; 16]>,
    /// Unit serial number (VPD page 80h; NVMe SN, 20 characters).
    pub serial: heapless::String<20>,
    /// Vendor and product (INQUIRY; NVMe MN, 40 characters).
    pub model: heapless::String<40>,
    /// Bytes per logical block.
    pub logical_block_size: u32,
    /// Bytes per physical block.
    pub physical_block_size: u32,
    /// Capacity in bytes.
    pub capacity: u64,
}

impl DriveIdentity {
    /// The designator a binding remembers: the WWN of a SAS drive; the NGUID of an NVMe
    /// namespace, else its EUI-64. `None` for a drive that reports none of them.
    pub fn key(&self) -> Option<DriveKey> {
        match self.transport {
            Transport::Sas => self.wwn.map(DriveKey::Wwn),
            Transport::Nvme => self
                .nguid
                .map(DriveKey::Nguid)
                .or(self.eui64.map(DriveKey::Eui64)),
        }
    }
}

/// A drive's health as the drive itself reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DriveHealth {
    /// The drive gives none; the text says why (a placeholder, not a verdict).
    NotAvailable(&'static str),
    /// A SAS drive's informational exceptions and counters (SMART).
    Smart(SmartHealth),
    /// An NVMe drive's SMART / Health Information log page (02h).
    Nvme(NvmeHealth),
}

impl DriveHealth {
    /// Whether the drive predicts or reports a failure; `None` when it says nothing.
    pub fn failing(&self) -> Option<bool> {
        match self {
            DriveHealth::NotAvailable(_) => None,
            DriveHealth::Smart(s) => Some(s.failure_predicted),
            DriveHealth::Nvme(n) => Some(n.critical_warning != 0),
        }
    }
}

/// SMART data of a SAS drive (informational exceptions log page 2Fh and friends).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SmartHealth {
    /// The drive predicts its own failure (FAILURE PREDICTION THRESHOLD EXCEEDED).
    pub failure_predicted: bool,
    /// Current temperature.
    pub temperature_celsius: Option<u8>,
    /// Accumulated power-on time.
    pub power_on_hours: Option<u32>,
    /// Grown defect list length.
    pub grown_defects: Option<u32>,
}

/// The NVMe SMART / Health Information log page's main fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NvmeHealth {
    /// Critical Warning bits; 0 is healthy.
    pub critical_warning: u8,
    /// Composite Temperature.
    pub composite_temperature_kelvin: u16,
    /// Available Spare, percent of the spare capacity left.
    pub available_spare_percent: u8,
    /// Percentage Used: the vendor's estimate of the drive's life used (may exceed 100).
    pub percentage_used: u8,
    /// Power On Hours.
    pub power_on_hours: u64,
    /// Media and Data Integrity Errors.
    pub media_errors: u64,
}

/// The backplane's slot map.
pub trait Backplane: ErrorType {
    /// Number of slots; they are numbered from 0.
    fn slot_count(&self) -> u32;

    /// The identity of the drive in `slot`, `None` when the slot is empty.
    fn drive(&self, slot: u32) -> Result<Option<DriveIdentity>, Self::Error>;

    /// The health of the drive in `slot` (error kind `Empty` when there is none).
    fn health(&self, slot: u32) -> Result<DriveHealth, Self::Error>;
}

/// A slot's indicator LEDs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Indicator {
    /// Identifies the slot to a person at the enclosure (usually blue, blinking).
    Locate,
    /// The drive in the slot has failed or must be replaced (usually amber).
    Fault,
}

impl Indicator {
    /// `locate` or `fault`.
    pub const fn name(self) -> &'static str {
        match self {
            Indicator::Locate => "locate",
            Indicator::Fault => "fault",
        }
    }
}

/// The indicator states of one slot.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Indicators {
    /// The locate LED is lit.
    pub locate: bool,
    /// The fault LED is lit.
    pub fault: bool,
}

impl Indicators {
    /// The state of `which`.
    pub fn get(&self, which: Indicator) -> bool {
        match which {
            Indicator::Locate => self.locate,
            Indicator::Fault => self.fault,
        }
    }

    /// Sets `which` to `on`.
    pub fn set(&mut self, which: Indicator, on: bool) {
        match which {
            Indicator::Locate => self.locate = on,
            Indicator::Fault => self.fault = on,
        }
    }
}

/// The slots' locate and fault LEDs. An indicator belongs to the slot, not to the drive:
/// a locate LED lit on an empty slot shows where to insert one.
pub trait SlotIndicators: ErrorType {
    /// The indicator states of `slot`.
    fn indicators(&self, slot: u32) -> Result<Indicators, Self::Error>;

    /// Turns `which` of `slot` on or off.
    fn set_indicator(&mut self, slot: u32, which: Indicator, on: bool) -> Result<(), Self::Error>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(transport: Transport) -> DriveIdentity {
        DriveIdentity {
            transport,
            wwn: Some([0x50, 0x2d, 0xad, 0, 1, 2, 3, 4]),
            eui64: Some([0x02, 0xda, 0xd0, 9, 8, 7, 6, 5]),
            nguid: None,
            serial: heapless::String::new(),
            model: heapless::String::new(),
            logical_block_size: 512,
            physical_block_size: 4096,
            capacity: 1 << 30,
        }
    }

    #[test]
    fn a_drive_is_known_by_its_transports_designator() {
        let sas = identity(Transport::Sas);
        assert_eq!(
            sas.key(),
            Some(DriveKey::Wwn([0x50, 0x2d, 0xad, 0, 1, 2, 3, 4]))
        );
        let mut nvme = identity(Transport::Nvme);
        assert_eq!(
            nvme.key(),
            Some(DriveKey::Eui64([0x02, 0xda, 0xd0, 9, 8, 7, 6, 5]))
        );
        nvme.nguid = Some([7; 16]);
        assert_eq!(nvme.key(), Some(DriveKey::Nguid([7; 16])));
        nvme.nguid = None;
        nvme.eui64 = None;
        assert_eq!(nvme.key(), None);
    }

    #[test]
    fn keys_print_and_parse_back() {
        extern crate std;
        use std::string::ToString;
        for key in [
            DriveKey::Wwn([0x50, 0x2d, 0xad, 0, 1, 2, 3, 0xff]),
            DriveKey::Eui64([0x02, 0xda, 0xd0, 9, 8, 7, 6, 5]),
            DriveKey::Nguid([0xab; 16]),
        ] {
            let text = key.to_string();
            assert_eq!(DriveKey::parse(&text), Some(key), "{text}");
        }
        assert_eq!(
            DriveKey::Wwn([0x50, 0x2d, 0xad, 0, 1, 2, 3, 0xff]).to_string(),
            "naa.502dad00010203ff"
        );
        for bad in [
            "",
            "naa.",
            "naa.12",
            "wwn.502dad00010203ff",
            "eui.zz2dad00010203ff",
        ] {
            assert_eq!(DriveKey::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn indicators_set_and_get_each_led() {
        let mut i = Indicators::default();
        i.set(Indicator::Fault, true);
        assert!(i.get(Indicator::Fault) && !i.get(Indicator::Locate));
        i.set(Indicator::Locate, true);
        i.set(Indicator::Fault, false);
        assert_eq!(
            i,
            Indicators {
                locate: true,
                fault: false
            }
        );
    }

    #[test]
    fn a_placeholder_health_is_no_verdict() {
        assert_eq!(DriveHealth::NotAvailable("sim").failing(), None);
        let nvme = NvmeHealth {
            critical_warning: 0x04,
            composite_temperature_kelvin: 310,
            available_spare_percent: 100,
            percentage_used: 3,
            power_on_hours: 10,
            media_errors: 0,
        };
        assert_eq!(DriveHealth::Nvme(nvme).failing(), Some(true));
    }
}
