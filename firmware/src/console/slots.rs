//! The console's `slot` verbs on the sim board's backplane: the slot table (each slot's
//! drive, LEDs, the LUN the drive holds, its health) and the slots' locate and fault LEDs.

use crate::configuration::live::LiveConfiguration;
use board::backplane::{drive_details, slot_table};
use board::sim::Enclosure;
use console::SlotLed;
use hal::backplane::Indicator;
use scsi::StorageSpec;
use std::fmt::Write;
use std::path::Path;

/// What the LUN column says of a drive labelled for LUN `name` in `slot`: the LUN's id,
/// and whether the LUN uses this drive now (it may not, for a moment after a move, or when
/// two drives claim the same LUN).
fn lun_column(live: &LiveConfiguration, enclosure: &Enclosure, name: &str, slot: u32) -> String {
    let plan = live.plan();
    let Some(lun) = plan.luns.get(name) else {
        return format!("{name} (not configured)");
    };
    let id = lun.config.id.0;
    let uses_it = live.device().lun(lun.config.id).is_some_and(|l| {
        matches!(&l.config().storage, StorageSpec::File { path, .. }
            if Path::new(path) == enclosure.slot_path(slot))
    });
    if uses_it {
        format!("{name} (LUN {id})")
    } else {
        format!("{name} (LUN {id}, unused)")
    }
}

/// `slot list [-v]`.
pub fn list(
    live: &LiveConfiguration,
    enclosure: &Enclosure,
    verbose: bool,
) -> Result<String, String> {
    let mut views = enclosure
        .slot_views()
        .map_err(|e| format!("cannot read the backplane: {e}"))?;
    for v in views.iter_mut() {
        if let Some(name) = v.lun.take() {
            v.lun = Some(lun_column(live, enclosure, &name, v.slot));
        }
    }
    let mut out = slot_table(&views);
    if verbose {
        for v in &views {
            if let Some(drive) = &v.drive {
                let _ = writeln!(out, "slot {}:", v.slot);
                out.push_str(&drive_details(drive, v.health.as_ref()));
            }
        }
    }
    // The LUNs that wait for their drive: a listing of slots would not show them otherwise.
    let config = live.config();
    let plan = live.plan();
    for lun in config.all_luns() {
        if !matches!(lun.path, Some(config::LunPath::Slot(_))) {
            continue;
        }
        let Some(id) = plan.luns.get(&lun.name).map(|l| l.config.id) else {
            continue;
        };
        if live.device().lun(id).is_some_and(|l| !l.medium_present()) {
            let _ = writeln!(
                out,
                "LUN {} ({}): its drive is not in the enclosure: NOT READY, MEDIUM NOT PRESENT",
                id.0, lun.name
            );
        }
    }
    Ok(out)
}

/// `slot locate|fault N on|off`.
pub fn set_indicator(
    enclosure: &Enclosure,
    slot: u32,
    led: SlotLed,
    on: bool,
) -> Result<String, String> {
    let indicator = match led {
        SlotLed::Locate => Indicator::Locate,
        SlotLed::Fault => Indicator::Fault,
    };
    enclosure
        .set_slot_indicator(slot, indicator, on)
        .map_err(|e| e.to_string())?;
    Ok(format!(
        "slot {slot}: {} LED {}",
        indicator.name(),
        if on { "on" } else { "off" }
    ))
}
