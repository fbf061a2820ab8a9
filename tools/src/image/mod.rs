//! `dyad image`: make, check and flash firmware images, and play the boot ROM.
//!
//! `keygen`, `build`, `sign`, `verify` and `inspect` work on image files; `flash`, `boot`,
//! `confirm` and `status` work on a board's flash file (two slots and the boot state).
//! Exit status: 0 when it worked, 1 when something was refused (the message names the
//! reason), 2 for usage errors and files that cannot be read or written.

mod board;
mod build;
pub(crate) mod build_id;
mod check;
mod failure;
mod inspect;
mod keygen;

use std::process::ExitCode;

use clap::{Args, Subcommand};

pub use failure::Failure;

#[derive(Args)]
pub struct ImageArgs {
    #[command(subcommand)]
    command: ImageCommand,
}

#[derive(Subcommand)]
enum ImageCommand {
    /// Make an Ed25519 signing key: DIR/NAME.pem (private, PKCS#8, as imgtool writes it)
    /// and DIR/NAME.pub.pem (public). Never commit the private key.
    Keygen(keygen::KeygenArgs),
    /// Bundle a kernel and an initramfs into an image; signed when --key is given.
    Build(build::BuildArgs),
    /// Sign (or re-sign) an image with a private key.
    Sign(build::SignArgs),
    /// Verify an image: hash, key, signature, and optionally board and security counter.
    Verify(check::VerifyArgs),
    /// Print an image's header, TLVs and bundle manifest.
    Inspect(inspect::InspectArgs),
    /// Write an image to the inactive slot of a board's flash as pending (its next boot
    /// is a trial). Refuses a security counter below the board's unless --force.
    Flash(board::FlashArgs),
    /// Play the boot ROM: revert an unconfirmed trial, pick and verify a slot, and extract
    /// its kernel and initramfs.
    Boot(board::BootArgs),
    /// What the firmware does after its self-test: confirm the image it runs.
    Confirm(board::ConfirmArgs),
    /// Print a board flash's slots, security counter and last boot decision.
    Status(board::StatusArgs),
}

pub fn image(args: ImageArgs) -> ExitCode {
    let (name, result) = match args.command {
        ImageCommand::Keygen(args) => ("keygen", keygen::keygen(&args)),
        ImageCommand::Build(args) => ("build", build::build(&args)),
        ImageCommand::Sign(args) => ("sign", build::sign(&args)),
        ImageCommand::Verify(args) => ("verify", check::verify(&args)),
        ImageCommand::Inspect(args) => ("inspect", inspect::inspect(&args)),
        ImageCommand::Flash(args) => ("flash", board::flash(&args)),
        ImageCommand::Boot(args) => ("boot", board::boot(&args)),
        ImageCommand::Confirm(args) => ("confirm", board::confirm(&args)),
        ImageCommand::Status(args) => ("status", board::status(&args)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("dyad image {name}: {failure}");
            failure.exit_code()
        }
    }
}
