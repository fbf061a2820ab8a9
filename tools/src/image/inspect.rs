//! `dyad image inspect`: an image laid out in plain text (header, both TLV areas, digest
//! check, bundle manifest). It checks structure and hash but not the signature, which
//! needs the trusted key (`dyad image verify`). As much as can be read is printed before
//! a refusal.

use std::path::PathBuf;

use ::image::hex::Hex;
use ::image::tlv::{self, kind, TlvArea};
use ::image::{Bundle, Image, ImageHeader};
use clap::Args;

use super::failure::{self, Failure};

#[derive(Args)]
pub struct InspectArgs {
    /// The image.
    image: PathBuf,
}

pub fn inspect(args: &InspectArgs) -> Result<(), Failure> {
    let bytes = failure::read(&args.image)?;
    println!("image: {} ({} bytes)", args.image.display(), bytes.len());
    let refused =
        |why: &dyn std::fmt::Display| Failure::refused(format!("{}: {why}", args.image.display()));
    let header = ImageHeader::parse(&bytes).map_err(|why| refused(&why))?;
    print_header(&header);
    let image = Image::parse(&bytes).map_err(|why| refused(&why))?;
    if let Some(area) = &image.protected {
        print_area("protected TLVs", area);
    }
    print_area("TLVs", &image.unprotected);
    let digest = image.check_digest();
    match &digest {
        Ok(_) => println!("digest: matches SHA256"),
        Err(why) => println!("digest: {why}"),
    }
    println!(
        "signature: {} (check it with dyad image verify --key)",
        if image.signature.is_some() {
            "present"
        } else {
            "none, the image is unsigned"
        }
    );
    let bundle = Bundle::parse(image.payload());
    match &bundle {
        Ok(bundle) => {
            println!("bundle ({} bytes):", image.payload().len());
            for line in bundle.manifest.lines() {
                println!("  {line}");
            }
        }
        Err(why) => println!("bundle: {why}"),
    }
    digest.map_err(|why| refused(&why))?;
    bundle.map_err(|why| refused(&why))?;
    Ok(())
}

fn print_header(header: &ImageHeader) {
    println!("header:");
    println!("  magic             0x{:08x}", ::image::header::IMAGE_MAGIC);
    println!("  load_addr         0x{:x}", header.load_addr);
    println!("  hdr_size          0x{:x}", header.hdr_size);
    println!("  protect_tlv_size  0x{:x}", header.protect_tlv_size);
    println!("  img_size          {}", header.img_size);
    println!("  flags             0x{:x}", header.flags);
    println!("  version           {}", header.version);
}

fn print_area(title: &str, area: &TlvArea<'_>) {
    println!(
        "{title} (offset 0x{:x}, {} bytes):",
        area.offset, area.total
    );
    for entry in &area.entries {
        let label = format!("{} (0x{:04x})", tlv::name(entry.tlv_type), entry.tlv_type);
        println!("  {label:<20} {}", value(entry.tlv_type, entry.value));
    }
}

/// A TLV value as people read it: the counter as a number, names as text, the rest hex.
fn value(tlv_type: u16, value: &[u8]) -> String {
    match tlv_type {
        kind::SEC_CNT => match <[u8; 4]>::try_from(value) {
            Ok(n) => u32::from_le_bytes(n).to_string(),
            Err(_) => Hex(value).to_string(),
        },
        kind::BOARD | kind::COMPONENT | kind::GIT_COMMIT => {
            String::from_utf8_lossy(value).into_owned()
        }
        _ => Hex(value).to_string(),
    }
}
