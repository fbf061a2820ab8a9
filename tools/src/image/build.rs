//! `dyad image build` (bundle kernel and initramfs, lay out the image, sign it when a key
//! is given) and `dyad image sign` (sign or re-sign an image file).

use std::path::PathBuf;

use ::image::bundle::{INITRAMFS, KERNEL};
use ::image::hex::{self, Hex};
use ::image::{Bundle, Image, ImageSpec, Version};
use clap::Args;

use super::build_id;
use super::failure::{self, Failure};

#[derive(Args)]
pub struct BuildArgs {
    /// The Linux kernel (bzImage or PVH vmlinux).
    #[arg(long, value_name = "FILE")]
    kernel: PathBuf,
    /// The initramfs (the firmware is its /init).
    #[arg(long, value_name = "FILE")]
    initramfs: PathBuf,
    /// MAJOR.MINOR.REVISION[+BUILD], as imgtool writes it.
    #[arg(long, value_name = "X.Y.Z[+B]")]
    version: Version,
    /// The anti-rollback level: a board refuses images below the highest it confirmed.
    #[arg(long, value_name = "N")]
    security_counter: u32,
    /// The board the image is for (dyad-qemu, dyad-sim).
    #[arg(long, value_name = "NAME")]
    board: String,
    /// Which part of the system the image is.
    #[arg(long, value_name = "NAME", default_value = "controller")]
    component: String,
    /// Private key to sign with; without it the image is unsigned (see `dyad image sign`).
    #[arg(long, value_name = "KEY.pem")]
    key: Option<PathBuf>,
    /// Build id of the unstripped firmware ELF, in hex.
    #[arg(long, value_name = "HEX", conflicts_with = "elf")]
    build_id: Option<String>,
    /// The unstripped firmware ELF: its GNU build-id (else its SHA-256) is the build id.
    #[arg(long, value_name = "FILE")]
    elf: Option<PathBuf>,
    /// The git commit the image was built from.
    #[arg(long, value_name = "COMMIT")]
    git_commit: Option<String>,
    /// Where to write the image.
    #[arg(long, value_name = "IMAGE")]
    out: PathBuf,
}

#[derive(Args)]
pub struct SignArgs {
    /// The image to sign.
    image: PathBuf,
    /// Private key (PKCS#8 PEM).
    #[arg(long, value_name = "KEY.pem")]
    key: PathBuf,
    /// Where to write the signed image (default: over IMAGE).
    #[arg(long, value_name = "IMAGE")]
    out: Option<PathBuf>,
}

pub fn build(args: &BuildArgs) -> Result<(), Failure> {
    let key = args.key.as_deref().map(failure::signing_key).transpose()?;
    let build_id =
        match (&args.build_id, &args.elf) {
            (Some(text), _) => Some(hex::decode(text).filter(|id| !id.is_empty()).ok_or_else(
                || Failure::Usage(format!("--build-id {text:?} is not hexadecimal")),
            )?),
            (None, Some(elf)) => Some(build_id::of_elf(&failure::read(elf)?)),
            (None, None) => None,
        };
    let kernel = failure::read(&args.kernel)?;
    let initramfs = failure::read(&args.initramfs)?;
    let bundle =
        Bundle::build(&[(KERNEL, &kernel), (INITRAMFS, &initramfs)]).map_err(Failure::refused)?;
    let spec = ImageSpec {
        version: args.version,
        security_counter: args.security_counter,
        board: &args.board,
        component: &args.component,
        build_id: build_id.as_deref(),
        git_commit: args.git_commit.as_deref(),
    };
    let mut image = ::image::build_unsigned(&bundle, &spec).map_err(Failure::refused)?;
    if let Some(key) = &key {
        image = ::image::sign(&image, key).map_err(Failure::refused)?;
    }
    failure::write(&args.out, &image)?;
    println!("image: {}", args.out.display());
    println!(
        "  version {}, security counter {}, board {}, {} bytes, {}",
        args.version,
        args.security_counter,
        args.board,
        image.len(),
        match &key {
            Some(key) => format!("signed by key {}…", Hex(&key.public_key().key_hash()[..8])),
            None => "unsigned".to_string(),
        }
    );
    Ok(())
}

pub fn sign(args: &SignArgs) -> Result<(), Failure> {
    let key = failure::signing_key(&args.key)?;
    let image = failure::read(&args.image)?;
    let signed = ::image::sign(&image, &key).map_err(Failure::refused)?;
    let out = args.out.as_ref().unwrap_or(&args.image);
    failure::write(out, &signed)?;
    let parsed = Image::parse(&signed).map_err(Failure::refused)?;
    println!("image: {}", out.display());
    println!(
        "  version {}, signed by key {}…",
        parsed.header.version,
        Hex(&key.public_key().key_hash()[..8])
    );
    Ok(())
}
