//! `dyad enclosure`: the sim enclosure's backplane from the host, as a person at the chassis
//! would handle it: list the slots, pull a drive out, insert it again (into its own slot or
//! another), move it. A running controller notices within its poll (200 ms): the LUNs on a
//! pulled drive report NOT READY, MEDIUM NOT PRESENT, and follow the drive wherever it is
//! inserted.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use board::backplane::{human_size, slot_table};
use board::sim::{DriveRecord, Enclosure, PulledDrive};

use crate::run::DEFAULT_ENCLOSURE;

#[derive(clap::Args)]
pub struct EnclosureArgs {
    /// The enclosure directory.
    #[arg(long, value_name = "DIR", default_value = DEFAULT_ENCLOSURE, global = true)]
    enclosure: PathBuf,
    #[command(subcommand)]
    action: Action,
}

#[derive(clap::Subcommand)]
enum Action {
    /// List the slots (drive, designator, serial, capacity, block sizes, LEDs, the LUN each
    /// drive holds, health) and the drives pulled out.
    List,
    /// Pull the drive out of slot N; it waits in DIR/pulled until inserted again.
    Pull {
        #[arg(value_name = "N")]
        slot: u32,
    },
    /// Insert a pulled drive into the empty slot N: the one pulled from slot N, unless
    /// --from-slot or --drive names another.
    Insert {
        #[arg(value_name = "N")]
        slot: u32,
        /// The drive pulled from slot M.
        #[arg(long, value_name = "M", conflicts_with = "drive")]
        from_slot: Option<u32>,
        /// The pulled drive with this designator (naa.… or eui.…, as `list` shows it).
        #[arg(long, value_name = "DESIGNATOR")]
        drive: Option<String>,
    },
    /// Move the drive in slot FROM to the empty slot TO (a pull and an insert).
    Move {
        #[arg(value_name = "FROM")]
        from: u32,
        #[arg(value_name = "TO")]
        to: u32,
    },
}

pub fn enclosure(args: &EnclosureArgs) -> Result<ExitCode, String> {
    let enclosure = open(&args.enclosure)?;
    let text = match &args.action {
        Action::List => list(&enclosure)?,
        Action::Pull { slot } => {
            let drive = enclosure.pull(*slot).map_err(|e| e.to_string())?;
            format!(
                "slot {slot}: pulled drive {}{}; it waits in {}",
                drive.key(),
                holding(&drive),
                enclosure.pulled_dir().display()
            )
        }
        Action::Insert {
            slot,
            from_slot,
            drive,
        } => {
            let which = match (from_slot, drive) {
                (_, Some(text)) => PulledDrive::by_designator(text).ok_or_else(|| {
                    format!("'{text}' is no drive designator: want naa.… or eui.… as `dyad enclosure list` shows")
                })?,
                (Some(m), None) => PulledDrive::FromSlot(*m),
                (None, None) => PulledDrive::FromSlot(*slot),
            };
            let inserted = enclosure.insert(*slot, which).map_err(|e| e.to_string())?;
            format!(
                "slot {slot}: inserted drive {}{}",
                inserted.key(),
                holding(&inserted)
            )
        }
        Action::Move { from, to } => {
            let moved = enclosure
                .move_drive(*from, *to)
                .map_err(|e| e.to_string())?;
            format!(
                "drive {}{} moved from slot {from} to slot {to}",
                moved.key(),
                holding(&moved)
            )
        }
    };
    // Not println!: a reader that goes away (`| head`) is no reason to panic.
    let _ = writeln!(std::io::stdout().lock(), "{}", text.trim_end());
    Ok(ExitCode::SUCCESS)
}

/// The enclosure at `dir`, which must exist: listing a mistyped folder should not make one.
fn open(dir: &Path) -> Result<Enclosure, String> {
    if !dir.is_dir() {
        return Err(format!(
            "no enclosure at {}: start a controller there first (dyad run), or give --enclosure DIR",
            dir.display()
        ));
    }
    Enclosure::open(dir).map_err(|e| format!("enclosure {}: {e}", dir.display()))
}

/// ` (LUN NAME)` for a drive holding a LUN's data.
fn holding(drive: &DriveRecord) -> String {
    drive
        .lun
        .as_deref()
        .map_or_else(String::new, |name| format!(" (LUN {name})"))
}

fn list(enclosure: &Enclosure) -> Result<String, String> {
    let views = enclosure.slot_views().map_err(|e| e.to_string())?;
    let mut out = slot_table(&views);
    let mut pulled = enclosure.pulled().map_err(|e| e.to_string())?;
    pulled.sort_by_key(|p| (p.record.pulled_from, p.record.key()));
    if !pulled.is_empty() {
        out.push_str("Pulled out of the enclosure:\n");
        for p in pulled {
            let from = p
                .record
                .pulled_from
                .map_or_else(|| "?".to_string(), |s| s.to_string());
            out.push_str(&format!(
                "  {} from slot {from}, {}, LUN {}\n",
                p.record.key(),
                human_size(p.record.identity.capacity),
                p.record.lun.as_deref().unwrap_or("-")
            ));
        }
    }
    Ok(out)
}
