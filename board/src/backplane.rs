//! The backplane model every board shares: one slot's view (the drive's identity, the
//! slot's indicators, the LUN the drive holds, its health) and the slot table that the
//! console's `slot list` and the host's `dyad enclosure list` both print, so the two read
//! the same.

use std::fmt::Write as _;

use hal::backplane::{DriveHealth, DriveIdentity, Indicators, Transport};

/// One slot as a listing shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotView {
    pub slot: u32,
    /// The transport of the slot's bay: shown for an empty slot.
    pub bay: Transport,
    /// The drive in it, `None` when empty.
    pub drive: Option<DriveIdentity>,
    pub indicators: Indicators,
    /// What the LUN column says (the LUN whose data the drive holds), `None` for `-`.
    pub lun: Option<String>,
    /// The drive's health, when there is a drive.
    pub health: Option<DriveHealth>,
}

/// `bytes` in binary units, two decimals from KiB on: `512 B`, `1.00 GiB`.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.2} {}", UNITS[unit])
}

fn on_off(on: bool) -> &'static str {
    if on {
        "on"
    } else {
        "off"
    }
}

/// The health column: `ok`, `FAILING`, or `n/a` with the reason in a note under the table.
fn health_word(health: Option<&DriveHealth>) -> &'static str {
    match health {
        None => "-",
        Some(DriveHealth::NotAvailable(_)) => "n/a",
        Some(h) if h.failing() == Some(true) => "FAILING",
        Some(_) => "ok",
    }
}

/// The slot table: one line per slot, a header first, and a note per reason a drive's
/// health is not available.
pub fn slot_table(slots: &[SlotView]) -> String {
    let mut out = String::from(
        "Slot Transport Drive   Designator                            Serial               \
         Capacity   LB/PB     Locate Fault LUN              Health\n",
    );
    let mut notes: Vec<&'static str> = Vec::new();
    for s in slots {
        let (transport, presence, designator, serial, capacity, blocks) = match &s.drive {
            Some(d) => (
                d.transport,
                "present",
                d.key().map_or_else(|| "-".to_string(), |k| k.to_string()),
                d.serial.as_str().to_string(),
                human_size(d.capacity),
                format!("{}/{}", d.logical_block_size, d.physical_block_size),
            ),
            None => (
                s.bay,
                "empty",
                "-".into(),
                "-".into(),
                "-".into(),
                "-".into(),
            ),
        };
        if let Some(DriveHealth::NotAvailable(why)) = &s.health {
            if !notes.contains(why) {
                notes.push(why);
            }
        }
        let _ = writeln!(
            out,
            "{:>4} {:<9} {:<7} {:<37} {:<20} {:>10} {:<9} {:<6} {:<5} {:<16} {}",
            s.slot,
            transport.name(),
            presence,
            designator,
            serial,
            capacity,
            blocks,
            on_off(s.indicators.locate),
            on_off(s.indicators.fault),
            s.lun.as_deref().unwrap_or("-"),
            health_word(s.health.as_ref()),
        );
    }
    for why in notes {
        let _ = writeln!(out, "health n/a: {why}");
    }
    out
}

/// One drive's details, for a listing's verbose form: model included, and the health in
/// words.
pub fn drive_details(drive: &DriveIdentity, health: Option<&DriveHealth>) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "      model={}", drive.model);
    if let Some(w) = drive.wwn {
        let _ = writeln!(out, "      wwn={}", hex(&w));
    }
    if let Some(e) = drive.eui64 {
        let _ = writeln!(out, "      eui64={}", hex(&e));
    }
    if let Some(n) = drive.nguid {
        let _ = writeln!(out, "      nguid={}", hex(&n));
    }
    let _ = writeln!(out, "      capacity={} bytes", drive.capacity);
    let text = match health {
        None => "-".to_string(),
        Some(DriveHealth::NotAvailable(why)) => why.to_string(),
        Some(DriveHealth::Smart(s)) => format!(
            "SMART: failure {}predicted, temperature {}, power-on hours {}, grown defects {}",
            if s.failure_predicted { "" } else { "not " },
            s.temperature_celsius
                .map_or("-".into(), |t| format!("{t} C")),
            s.power_on_hours.map_or("-".into(), |h| h.to_string()),
            s.grown_defects.map_or("-".into(), |d| d.to_string()),
        ),
        Some(DriveHealth::Nvme(n)) => format!(
            "NVMe log: critical warning {:#04x}, temperature {} K, spare {}%, used {}%, \
             power-on hours {}, media errors {}",
            n.critical_warning,
            n.composite_temperature_kelvin,
            n.available_spare_percent,
            n.percentage_used,
            n.power_on_hours,
            n.media_errors
        ),
    };
    let _ = writeln!(out, "      health={text}");
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::HEALTH_NOT_AVAILABLE;

    fn drive() -> DriveIdentity {
        DriveIdentity {
            transport: Transport::Sas,
            wwn: Some([0x50, 0x2d, 0xad, 0x0c, 1, 2, 3, 4]),
            eui64: None,
            nguid: None,
            serial: crate::sim::DriveRecord::fresh(Transport::Sas, [0; 16])
                .identity
                .serial,
            model: heapless::String::new(),
            logical_block_size: 512,
            physical_block_size: 4096,
            capacity: 1 << 30,
        }
    }

    #[test]
    fn sizes_read_in_binary_units() {
        assert_eq!(human_size(512), "512 B");
        assert_eq!(human_size(1 << 30), "1.00 GiB");
        assert_eq!(human_size(1536 << 20), "1.50 GiB");
        assert_eq!(human_size(u64::MAX), "16.00 EiB");
    }

    #[test]
    fn the_table_has_a_line_per_slot_and_explains_missing_health() {
        let slots = [
            SlotView {
                slot: 0,
                bay: Transport::Sas,
                drive: Some(drive()),
                indicators: Indicators {
                    locate: true,
                    fault: false,
                },
                lun: Some("lun0 (LUN 0)".into()),
                health: Some(DriveHealth::NotAvailable(HEALTH_NOT_AVAILABLE)),
            },
            SlotView {
                slot: 21,
                bay: Transport::Nvme,
                drive: None,
                indicators: Indicators::default(),
                lun: None,
                health: None,
            },
        ];
        let text = slot_table(&slots);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        assert!(lines[0].starts_with("Slot Transport Drive"));
        let first: Vec<&str> = lines[1].split_whitespace().collect();
        assert_eq!(
            first,
            [
                "0",
                "sas",
                "present",
                "naa.502dad0c01020304",
                "DYS0000000000000",
                "1.00",
                "GiB",
                "512/4096",
                "on",
                "off",
                "lun0",
                "(LUN",
                "0)",
                "n/a"
            ]
        );
        let second: Vec<&str> = lines[2].split_whitespace().collect();
        assert_eq!(
            second,
            ["21", "nvme", "empty", "-", "-", "-", "-", "off", "off", "-", "-"]
        );
        assert_eq!(lines[3], "health n/a: not available on the sim board");
    }

    #[test]
    fn details_name_the_designators_and_the_health() {
        let text = drive_details(&drive(), Some(&DriveHealth::NotAvailable("why")));
        assert!(text.contains("wwn=502dad0c01020304"), "{text}");
        assert!(text.contains("health=why"), "{text}");
    }
}
