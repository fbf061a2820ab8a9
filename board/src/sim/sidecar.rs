//! The sidecar of a sim drive: `slot-NN.drive` next to its data file `slot-NN.img`, a
//! ctl.conf-like text of `key = value` lines saying what the drive reports about itself
//! (transport, WWN or EUI-64/NGUID, serial, model, block sizes), which LUN's data it holds
//! (`lun`, written by the firmware when it first binds the drive), and, while the drive is
//! out of the enclosure, the slot it was pulled from.
//!
//! ```text
//! # dyad sim drive
//! transport = sas
//! wwn = 502dad0c1a2b3c4d
//! serial = DYS5C1A2B3C4D5E6
//! model = DYAD SIMDISK SAS
//! logical-block-size = 512
//! physical-block-size = 4096
//! lun = lun0
//! ```
//!
//! Capacity is not in the sidecar: it is the data file's length, as a real drive's is what
//! its medium holds.

use std::fmt::Write as _;
use std::io;

use hal::backplane::{parse_hex, DriveIdentity, DriveKey, Transport};

/// A drive as its sidecar describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DriveRecord {
    /// What it reports; `capacity` filled in from the data file.
    pub identity: DriveIdentity,
    /// The LUN whose data it holds (its name in ctl.conf), once the firmware bound it.
    pub lun: Option<String>,
    /// While it is out of the enclosure: the slot it was pulled from.
    pub pulled_from: Option<u32>,
}

impl DriveRecord {
    /// Its designator. Every record has one: parsing refuses a sidecar without.
    pub fn key(&self) -> DriveKey {
        // `parse` and `fresh` guarantee the designator of the transport is there; the
        // fallback only keeps this total.
        self.identity.key().unwrap_or(DriveKey::Wwn([0; 8]))
    }

    /// A new drive of `transport` with a random identity (`random` gives the bytes).
    pub fn fresh(transport: Transport, random: [u8; 16]) -> DriveRecord {
        let [r0, r1, r2, r3, r4, r5, r6, r7, r8, r9, r10, r11, r12, r13, r14, r15] = random;
        // NAA 5 (IEEE Registered): the OUI, then 36 vendor-specific bits.
        let vendor36 = u64::from_be_bytes([0, 0, 0, r0 & 0x0f, r1, r2, r3, r4]);
        let wwn = ((5u64 << 60) | (u64::from(OUI) << 36) | vendor36).to_be_bytes();
        // EUI-64: the OUI, then 40 extension bits.
        let eui64 = [
            (OUI >> 16) as u8,
            (OUI >> 8) as u8,
            OUI as u8,
            r5,
            r6,
            r7,
            r8,
            r9,
        ];
        // NGUID: vendor-specific extension (8 bytes) then the EUI-64 (NVMe base §4.5.1).
        let nguid = [
            r10, r11, r12, r13, r14, r15, r0, r1, eui64[0], eui64[1], eui64[2], eui64[3], eui64[4],
            eui64[5], eui64[6], eui64[7],
        ];
        let serial_bits = u64::from_be_bytes([r2, r3, r4, r5, r6, r7, r8, r9]);
        let (designators, model) = match transport {
            Transport::Sas => ((Some(wwn), None, None), "DYAD SIMDISK SAS"),
            Transport::Nvme => ((None, Some(eui64), Some(nguid)), "DYAD SIMDISK NVME"),
        };
        DriveRecord {
            identity: DriveIdentity {
                transport,
                wwn: designators.0,
                eui64: designators.1,
                nguid: designators.2,
                serial: bounded(&format!("DYS{:013X}", serial_bits >> 12)),
                model: bounded(model),
                logical_block_size: 512,
                physical_block_size: 4096,
                capacity: 0,
            },
            lun: None,
            pulled_from: None,
        }
    }

    /// The sidecar text.
    pub fn to_text(&self) -> String {
        let id = &self.identity;
        let mut out = String::from("# dyad sim drive: what it reports, and whose data it holds\n");
        let _ = writeln!(out, "transport = {}", id.transport.name());
        if let Some(w) = id.wwn {
            let _ = writeln!(out, "wwn = {}", hex(&w));
        }
        if let Some(e) = id.eui64 {
            let _ = writeln!(out, "eui64 = {}", hex(&e));
        }
        if let Some(n) = id.nguid {
            let _ = writeln!(out, "nguid = {}", hex(&n));
        }
        let _ = writeln!(out, "serial = {}", id.serial);
        let _ = writeln!(out, "model = {}", id.model);
        let _ = writeln!(out, "logical-block-size = {}", id.logical_block_size);
        let _ = writeln!(out, "physical-block-size = {}", id.physical_block_size);
        if let Some(lun) = &self.lun {
            let _ = writeln!(out, "lun = {lun}");
        }
        if let Some(slot) = self.pulled_from {
            let _ = writeln!(out, "pulled-from = {slot}");
        }
        out
    }

    /// Reads a sidecar; `name` (the file) goes into the errors, which say the line.
    pub fn parse(name: &str, text: &str) -> io::Result<DriveRecord> {
        let bad = |line: usize, what: String| {
            io::Error::new(io::ErrorKind::InvalidData, format!("{name}:{line}: {what}"))
        };
        let mut transport = None;
        let (mut wwn, mut eui64, mut nguid) = (None, None, None);
        let (mut serial, mut model) = (None, None);
        let (mut logical, mut physical) = (None, None);
        let (mut lun, mut pulled_from) = (None, None);
        for (i, raw) in text.lines().enumerate() {
            let n = i + 1;
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((key, value)) = line.split_once('=') else {
                return Err(bad(n, format!("'{line}' is not 'key = value'")));
            };
            let (key, value) = (key.trim(), value.trim());
            let number = |what: &str| {
                value
                    .parse::<u32>()
                    .map_err(|_| bad(n, format!("{what} '{value}' is not a number")))
            };
            match key {
                "transport" => {
                    transport = Some(Transport::from_name(value).ok_or_else(|| {
                        bad(n, format!("transport '{value}' is neither sas nor nvme"))
                    })?)
                }
                "wwn" => {
                    wwn = Some(hex_field::<8>(value).ok_or_else(|| bad(n, hex_error("wwn", 16)))?)
                }
                "eui64" => {
                    eui64 =
                        Some(hex_field::<8>(value).ok_or_else(|| bad(n, hex_error("eui64", 16)))?)
                }
                "nguid" => {
                    nguid =
                        Some(hex_field::<16>(value).ok_or_else(|| bad(n, hex_error("nguid", 32)))?)
                }
                "serial" => serial = Some(value.to_string()),
                "model" => model = Some(value.to_string()),
                "logical-block-size" => logical = Some(number("logical-block-size")?),
                "physical-block-size" => physical = Some(number("physical-block-size")?),
                "lun" if !value.is_empty() => lun = Some(value.to_string()),
                "lun" => {}
                "pulled-from" => pulled_from = Some(number("pulled-from")?),
                // Written by a newer version: ignored, so an older firmware still reads it.
                _ => {}
            }
        }
        let missing = |key: &str| bad(0, format!("no '{key}'"));
        let transport = transport.ok_or_else(|| missing("transport"))?;
        let logical_block_size = logical.unwrap_or(512);
        let physical_block_size = physical.unwrap_or(logical_block_size);
        if !matches!(logical_block_size, 512 | 4096)
            || physical_block_size < logical_block_size
            || !physical_block_size.is_power_of_two()
        {
            return Err(bad(
                0,
                format!(
                    "block sizes {logical_block_size}/{physical_block_size}: the logical one \
                     must be 512 or 4096, the physical a power of two at least as large"
                ),
            ));
        }
        let identity = DriveIdentity {
            transport,
            wwn,
            eui64,
            nguid,
            serial: bounded(&serial.ok_or_else(|| missing("serial"))?),
            model: bounded(&model.unwrap_or_default()),
            logical_block_size,
            physical_block_size,
            capacity: 0,
        };
        if identity.key().is_none() {
            return Err(missing(match transport {
                Transport::Sas => "wwn",
                Transport::Nvme => "eui64' or 'nguid",
            }));
        }
        Ok(DriveRecord {
            identity,
            lun,
            pulled_from,
        })
    }
}

/// The locally administered OUI dyad's identities use (firmware/src/identity.rs has the same):
/// no company owns it, so a sim drive never collides with a real vendor's WWN.
const OUI: u32 = 0x02_DA_D0;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A designator as the sidecar writes it; `0x` and separating colons or dashes are
/// tolerated, as people copy them from other tools.
fn hex_field<const N: usize>(value: &str) -> Option<[u8; N]> {
    let digits: String = value
        .trim_start_matches("0x")
        .chars()
        .filter(|c| *c != ':' && *c != '-')
        .collect();
    parse_hex::<N>(&digits)
}

fn hex_error(key: &str, digits: usize) -> String {
    format!("{key} must be {digits} hex digits")
}

/// `text` cut to what fits in `N` bytes, at a character boundary.
pub(crate) fn bounded<const N: usize>(text: &str) -> heapless::String<N> {
    let mut out = heapless::String::new();
    for c in text.chars() {
        if out.push(c).is_err() {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fresh_drive_reads_back_the_same() {
        for transport in [Transport::Sas, Transport::Nvme] {
            let mut r = DriveRecord::fresh(transport, [0xA5; 16]);
            r.lun = Some("lun0".into());
            r.pulled_from = Some(3);
            let back = DriveRecord::parse("t", &r.to_text()).unwrap();
            assert_eq!(back, r);
            assert_eq!(back.identity.serial.len(), 16);
        }
    }

    #[test]
    fn sas_drives_get_a_naa5_wwn_and_nvme_ones_an_eui64_and_nguid() {
        let sas = DriveRecord::fresh(Transport::Sas, [1; 16]);
        let wwn = sas.identity.wwn.unwrap();
        assert_eq!(wwn[0] >> 4, 5, "NAA 5");
        assert_eq!(sas.key(), DriveKey::Wwn(wwn));
        assert!(sas.identity.eui64.is_none());
        let nvme = DriveRecord::fresh(Transport::Nvme, [1; 16]);
        assert_eq!(&nvme.identity.eui64.unwrap()[..3], &[0x02, 0xDA, 0xD0]);
        assert!(matches!(nvme.key(), DriveKey::Nguid(_)));
        assert_ne!(
            DriveRecord::fresh(Transport::Sas, [2; 16]).key(),
            sas.key(),
            "other random bytes, another drive"
        );
    }

    #[test]
    fn malformed_sidecars_name_the_file_and_line() {
        let cases = [
            ("transport = sata\n", "t:1: transport 'sata'"),
            (
                "transport = sas\nwwn = 12\n",
                "t:2: wwn must be 16 hex digits",
            ),
            ("transport = sas\nserial = X\n", "no 'wwn'"),
            ("transport = sas\nwwn = 502dad0000000001\n", "no 'serial'"),
            ("wwn = 502dad0000000001\n", "no 'transport'"),
            (
                "transport sas\n",
                "t:1: 'transport sas' is not 'key = value'",
            ),
            (
                "transport = sas\nwwn = 502dad0000000001\nserial = X\nlogical-block-size = 520\n",
                "block sizes 520/520",
            ),
        ];
        for (text, says) in cases {
            let e = DriveRecord::parse("t", text).unwrap_err();
            assert!(e.to_string().contains(says), "{text:?}: {e}");
        }
    }

    #[test]
    fn designators_may_be_written_with_separators_and_unknown_keys_are_ignored() {
        let r = DriveRecord::parse(
            "t",
            "transport = SAS\nwwn = 0x50:2d:ad:00:00:00:00:01\nserial = S1\nfuture = yes\n",
        )
        .unwrap();
        assert_eq!(r.identity.wwn, Some([0x50, 0x2d, 0xad, 0, 0, 0, 0, 1]));
        assert_eq!(r.identity.logical_block_size, 512);
        assert_eq!(r.identity.physical_block_size, 512);
        assert_eq!(r.lun, None);
    }

    #[test]
    fn long_strings_are_cut_to_what_the_transport_carries() {
        let s: heapless::String<4> = bounded("abcdéf");
        assert_eq!(s.as_str(), "abcd");
        let s: heapless::String<5> = bounded("abcdéf");
        assert_eq!(s.as_str(), "abcd", "é takes two bytes and does not fit");
    }
}
