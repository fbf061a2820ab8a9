//! `dyad image flash|boot|confirm|status`: a board's flash file (two slots and the boot
//! state). `flash` is the updater, `boot` the boot ROM (what the QEMU launcher runs before
//! starting a machine), `confirm` what the firmware does once its self-test passed.

use std::path::PathBuf;

use ::image::hex::Hex;
use ::image::{BoardFlash, Slot, SlotStatus};
use clap::Args;

use super::failure::{self, Failure};

#[derive(Args)]
pub struct FlashArgs {
    /// The image to write.
    image: PathBuf,
    /// The board's flash file (created, blank, when missing).
    #[arg(long, value_name = "FILE")]
    flash: PathBuf,
    /// Write it even when its security counter is below the board's (a deliberate
    /// downgrade; that one image may then boot).
    #[arg(long)]
    force: bool,
}

#[derive(Args)]
pub struct BootArgs {
    /// The board's flash file.
    #[arg(long, value_name = "FILE")]
    flash: PathBuf,
    /// The trusted public key (the boot ROM's).
    #[arg(long, value_name = "PUB.pem")]
    key: PathBuf,
    /// This board's name: images for other boards are refused.
    #[arg(long, value_name = "NAME")]
    board: String,
    /// Write the chosen kernel and initramfs to DIR/kernel and DIR/initramfs.
    #[arg(long, value_name = "DIR")]
    extract: Option<PathBuf>,
}

#[derive(Args)]
pub struct ConfirmArgs {
    /// The board's flash file.
    #[arg(long, value_name = "FILE")]
    flash: PathBuf,
}

#[derive(Args)]
pub struct StatusArgs {
    /// The board's flash file.
    #[arg(long, value_name = "FILE")]
    flash: PathBuf,
}

pub fn flash(args: &FlashArgs) -> Result<(), Failure> {
    let image = failure::read(&args.image)?;
    let mut board = BoardFlash::create_file(&args.flash).map_err(Failure::flash)?;
    let flashed = board.flash(&image, args.force).map_err(|why| match why {
        ::image::FlashError::Image(why) => {
            Failure::refused(format!("{}: {why}", args.image.display()))
        }
        why => Failure::flash(why),
    })?;
    println!(
        "flashed: slot {} of {}: version {}, security counter {}, pending (the next boot is its trial)",
        flashed.slot,
        args.flash.display(),
        flashed.version,
        flashed.security_counter
    );
    if flashed.forced {
        println!(
            "  forced downgrade: below the board's security counter {}",
            board.state().security_counter
        );
    }
    Ok(())
}

pub fn boot(args: &BootArgs) -> Result<(), Failure> {
    let key = failure::public_key(&args.key)?;
    let mut board = BoardFlash::open_file(&args.flash).map_err(Failure::flash)?;
    let boot = match board.boot(&key, &args.board) {
        Ok(boot) => boot,
        Err(::image::FlashError::NoBootableImage { log }) => {
            for line in &log {
                println!("boot: {line}");
            }
            return Err(Failure::refused("no bootable image"));
        }
        Err(why) => return Err(Failure::flash(why)),
    };
    for line in &boot.log {
        println!("boot: {line}");
    }
    println!(
        "booting: slot {}, version {}, security counter {}, board {}{}",
        boot.slot,
        boot.version,
        boot.security_counter,
        boot.board,
        if boot.trial {
            " (trial: confirm it, or the next boot reverts it)"
        } else {
            ""
        }
    );
    if let Some(dir) = &args.extract {
        let files = boot
            .extract_to(dir)
            .map_err(|e| Failure::Usage(format!("{}: {e}", dir.display())))?;
        println!("kernel: {}", files.kernel.display());
        println!("initramfs: {}", files.initramfs.display());
    }
    Ok(())
}

pub fn confirm(args: &ConfirmArgs) -> Result<(), Failure> {
    let mut board = BoardFlash::open_file(&args.flash).map_err(Failure::flash)?;
    let confirmed = board.confirm().map_err(Failure::flash)?;
    println!(
        "{}: slot {}, version {}, board security counter {}",
        if confirmed.newly {
            "confirmed"
        } else {
            "already confirmed"
        },
        confirmed.slot,
        confirmed.version,
        confirmed.security_counter
    );
    Ok(())
}

pub fn status(args: &StatusArgs) -> Result<(), Failure> {
    let board = BoardFlash::open_file(&args.flash).map_err(Failure::flash)?;
    let state = board.state();
    let layout = board.layout();
    println!("flash: {}", args.flash.display());
    println!("security counter: {}", state.security_counter);
    println!("preferred: slot {}", state.preferred);
    match state.booted {
        Some(slot) => println!("booted: slot {slot}"),
        None => println!("booted: none"),
    }
    for slot in Slot::ALL {
        let record = state.slot(slot);
        let place = format!(
            "slot {slot}: offset 0x{:x}, size 0x{:x}",
            layout.slot_offset(slot),
            layout.slot_size
        );
        if record.status == SlotStatus::Empty {
            println!("{place}: empty");
            continue;
        }
        println!(
            "{place}: version {}, security counter {}, {} bytes, digest {}…{}: {}",
            record.version,
            record.security_counter,
            record.len,
            Hex(&record.digest[..8]),
            if record.forced {
                ", forced downgrade"
            } else {
                ""
            },
            record.status,
        );
    }
    if !state.last_boot.is_empty() {
        println!("last boot: {}", state.last_boot);
    }
    Ok(())
}
