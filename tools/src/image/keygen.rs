//! `dyad image keygen`: a fresh Ed25519 key pair in the files imgtool uses.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use ::image::SigningKey;
use clap::Args;

use super::Failure;

#[derive(Args)]
pub struct KeygenArgs {
    /// Directory for the key files (created if missing).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// File name stem: NAME.pem and NAME.pub.pem.
    #[arg(long, value_name = "NAME", default_value = "dyad-image")]
    name: String,
}

pub fn keygen(args: &KeygenArgs) -> Result<(), Failure> {
    let private = args.out.join(format!("{}.pem", args.name));
    let public = args.out.join(format!("{}.pub.pem", args.name));
    for path in [&private, &public] {
        if path.exists() {
            return Err(Failure::refused(format!(
                "{} exists: a key is never overwritten",
                path.display()
            )));
        }
    }
    // A folder made for the keys is the owner's alone; an existing one is left as it is.
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&args.out)
        .map_err(|e| Failure::Usage(format!("{}: {e}", args.out.display())))?;
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed)
        .map_err(|e| Failure::Usage(format!("no randomness for the key: {e}")))?;
    let key = SigningKey::from_seed(&seed);
    seed.fill(0);
    let private_pem = key.to_pem().map_err(Failure::refused)?;
    let public_pem = key.public_key().to_pem().map_err(Failure::refused)?;
    create(&private, &private_pem, 0o600)?;
    create(&public, &public_pem, 0o644)?;
    println!("private key: {}", private.display());
    println!("public key: {}", public.display());
    Ok(())
}

/// Creates `path` with `mode` from the start (a private key is never world-readable, not
/// even for a moment), refusing to replace an existing file.
fn create(path: &Path, text: &str, mode: u32) -> Result<(), Failure> {
    let in_path = |e: std::io::Error| Failure::Usage(format!("{}: {e}", path.display()));
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(in_path)?;
    file.write_all(text.as_bytes()).map_err(in_path)?;
    file.sync_all().map_err(in_path)
}
