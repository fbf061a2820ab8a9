//! `dyad image verify`: the boot ROM's checks on an image file, with the trusted public key
//! and, when given, the board and the minimum security counter.

use std::path::PathBuf;

use ::image::hex::Hex;
use clap::Args;

use super::failure::{self, Failure};

#[derive(Args)]
pub struct VerifyArgs {
    /// The image.
    image: PathBuf,
    /// The trusted public key (PEM; a private key file works too).
    #[arg(long, value_name = "PUB.pem")]
    key: PathBuf,
    /// Refuse an image for another board.
    #[arg(long, value_name = "NAME")]
    board: Option<String>,
    /// Refuse an image whose security counter is below N (a downgrade).
    #[arg(long, value_name = "N", default_value_t = 0)]
    min_security_counter: u32,
}

pub fn verify(args: &VerifyArgs) -> Result<(), Failure> {
    let key = failure::public_key(&args.key)?;
    let bytes = failure::read(&args.image)?;
    let verified = ::image::verify(
        &bytes,
        &key,
        args.board.as_deref(),
        args.min_security_counter,
    )
    .map_err(|why| Failure::refused(format!("{}: {why}", args.image.display())))?;
    let meta = &verified.image.metadata;
    println!("verified: {}", args.image.display());
    println!(
        "  version {}, security counter {}, board {}{}",
        verified.image.header.version,
        verified.security_counter,
        verified.board,
        meta.component
            .map(|c| format!(", component {c}"))
            .unwrap_or_default()
    );
    println!(
        "  digest {}, key {}…",
        Hex(&verified.digest),
        Hex(&key.key_hash()[..8])
    );
    let parts: Vec<String> = verified
        .bundle
        .components
        .iter()
        .map(|c| format!("{} {} bytes", c.name, c.data.len()))
        .collect();
    println!("  bundle: {}", parts.join(", "));
    Ok(())
}
