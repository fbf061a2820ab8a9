//! dyad's firmware image and the board flash that boots it.
//!
//! An image is an MCUboot-compatible container ([`header`], [`tlv`]) so PyPI's `imgtool
//! verify` is an independent check of our signer and verifier. Its payload is one [`bundle`]
//! (kernel, initramfs and a manifest of their hashes): the signature covers the bundle as a
//! whole, never its parts one by one (FIT's lesson against mix-and-match).
//!
//! The board flash ([`flash`]) holds two slots and a boot state record ([`boot`]) with
//! MCUboot's semantics: a new image boots once as a trial (*pending*), the firmware confirms
//! it after its self-test, and a trial that never confirmed is reverted on the next boot. A
//! monotonic security counter refuses downgrades.
//!
//! For the QEMU launcher, which plays the boot ROM: [`flash::BoardFlash::boot`] picks the slot,
//! verifies it and hands back the kernel and initramfs; the firmware (or the launcher on its
//! behalf) calls [`flash::BoardFlash::confirm`] once it has passed its self-test.
//!
//! Parsing and verification are `no_std` + `alloc`; the `std` feature adds the file-backed
//! flash and extraction helpers.
#![no_std]
#![deny(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

pub mod boot;
pub mod build;
pub mod bundle;
pub mod error;
pub mod flash;
pub mod header;
pub mod hex;
pub mod key;
pub mod parse;
pub mod tlv;
pub mod verify;

pub use boot::{BootState, Slot, SlotRecord, SlotStatus};
pub use build::{build_unsigned, sign, ImageSpec};
pub use bundle::{Bundle, BundleError, Component};
pub use error::ImageError;
#[cfg(feature = "std")]
pub use flash::Extracted;
pub use flash::{BoardFlash, Boot, Confirmed, FlashError, FlashIo, Flashed, Layout, MemFlash};
pub use header::{ImageHeader, Version};
pub use key::{KeyError, PublicKey, SigningKey};
pub use parse::{Image, Metadata};
pub use verify::{verify, VerifiedImage};

/// SHA-256 of `data`: the one hash every part of the format uses.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(data).into()
}
