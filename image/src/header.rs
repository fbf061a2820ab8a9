//! The 32-byte MCUboot image header and its version field.
//!
//! Layout (little-endian, `bootutil/image.h`): magic u32, load_addr u32, hdr_size u16,
//! protect_tlv_size u16, img_size u32, flags u32, version {major u8, minor u8, revision u16,
//! build u32}, pad u32. `hdr_size` is where the payload starts; we pad the header to 0x200
//! as imgtool's `--pad-header` does, and the padding is covered by the image hash.

use core::fmt;
use core::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::ImageError;

/// `IMAGE_MAGIC`.
pub const IMAGE_MAGIC: u32 = 0x96f3_b83d;
/// The fixed part of the header.
pub const HEADER_LEN: usize = 32;
/// The padded header size we write: the payload starts here.
pub const HEADER_SIZE: u16 = 0x200;

/// MCUboot's header flags, named so a refusal says which feature the image asks for. We
/// support none of them: our payload is neither encrypted nor compressed, and the boot ROM
/// loads it, so no RAM-load or ROM-fixed address applies.
const FLAG_NAMES: [(u32, &str); 8] = [
    (0x0000_0001, "position-independent"),
    (0x0000_0004, "AES-128 encrypted"),
    (0x0000_0008, "AES-256 encrypted"),
    (0x0000_0010, "non-bootable"),
    (0x0000_0020, "RAM-load"),
    (0x0000_0100, "ROM-fixed"),
    (0x0000_0200, "LZMA1 compressed"),
    (0x0000_0400, "LZMA2 compressed"),
];

/// The name of the first flag set in `flags`, for messages.
pub fn flag_name(flags: u32) -> &'static str {
    FLAG_NAMES
        .iter()
        .find(|(bit, _)| flags & bit != 0)
        .map(|(_, name)| *name)
        .unwrap_or("unknown")
}

/// `ih_ver`: major.minor.revision+build.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
pub struct Version {
    /// `iv_major`.
    pub major: u8,
    /// `iv_minor`.
    pub minor: u8,
    /// `iv_revision`.
    pub revision: u16,
    /// `iv_build_num`.
    pub build: u32,
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.revision)?;
        if self.build != 0 {
            write!(f, "+{}", self.build)?;
        }
        Ok(())
    }
}

/// Why a version string was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadVersion(&'static str);

impl fmt::Display for BadVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "version must be MAJOR.MINOR.REVISION[+BUILD]: {}",
            self.0
        )
    }
}

impl core::error::Error for BadVersion {}

impl FromStr for Version {
    type Err = BadVersion;

    /// imgtool's syntax: `1.2.3` or `1.2.3+4`, each part within its field's range.
    fn from_str(text: &str) -> Result<Version, BadVersion> {
        let (numbers, build) = match text.split_once('+') {
            Some((numbers, build)) => (numbers, Some(build)),
            None => (text, None),
        };
        let mut parts = numbers.split('.');
        let major = parts.next().ok_or(BadVersion("no major"))?;
        let minor = parts.next().ok_or(BadVersion("no minor"))?;
        let revision = parts.next().ok_or(BadVersion("no revision"))?;
        if parts.next().is_some() {
            return Err(BadVersion("more than three dotted numbers"));
        }
        Ok(Version {
            major: number(major, "major is not a number from 0 to 255")?,
            minor: number(minor, "minor is not a number from 0 to 255")?,
            revision: number(revision, "revision is not a number from 0 to 65535")?,
            build: match build {
                Some(build) => number(build, "build is not a number from 0 to 4294967295")?,
                None => 0,
            },
        })
    }
}

/// A decimal field: digits only (no sign, no spaces), within the type's range.
fn number<T: FromStr>(text: &str, why: &'static str) -> Result<T, BadVersion> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(BadVersion(why));
    }
    text.parse().map_err(|_| BadVersion(why))
}

/// The image header, as parsed and checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageHeader {
    /// `ih_load_addr`: 0 for us (the boot ROM loads a bundle, not an address).
    pub load_addr: u32,
    /// `ih_hdr_size`: offset of the payload.
    pub hdr_size: u16,
    /// `ih_protect_tlv_size`: size of the protected TLV area, its info header included.
    pub protect_tlv_size: u16,
    /// `ih_img_size`: payload length.
    pub img_size: u32,
    /// `ih_flags`: always 0 in an image we accept.
    pub flags: u32,
    /// `ih_ver`.
    pub version: Version,
}

impl ImageHeader {
    /// Reads and checks the fixed header at the start of `bytes`: long enough, the magic,
    /// a header size that holds the fixed part, and no flag we do not support.
    pub fn parse(bytes: &[u8]) -> Result<ImageHeader, ImageError> {
        let fixed: &[u8; HEADER_LEN] = bytes
            .get(..HEADER_LEN)
            .and_then(|b| b.try_into().ok())
            .ok_or(ImageError::Truncated {
                what: "header",
                need: HEADER_LEN,
                have: bytes.len(),
            })?;
        let u16_at = |at: usize| u16::from_le_bytes([fixed[at], fixed[at + 1]]);
        let u32_at = |at: usize| {
            u32::from_le_bytes([fixed[at], fixed[at + 1], fixed[at + 2], fixed[at + 3]])
        };
        let magic = u32_at(0);
        if magic != IMAGE_MAGIC {
            return Err(ImageError::BadMagic { found: magic });
        }
        let header = ImageHeader {
            load_addr: u32_at(4),
            hdr_size: u16_at(8),
            protect_tlv_size: u16_at(10),
            img_size: u32_at(12),
            flags: u32_at(16),
            version: Version {
                major: fixed[20],
                minor: fixed[21],
                revision: u16_at(22),
                build: u32_at(24),
            },
        };
        if usize::from(header.hdr_size) < HEADER_LEN {
            return Err(ImageError::BadHeaderSize {
                hdr_size: header.hdr_size,
            });
        }
        if header.flags != 0 {
            return Err(ImageError::UnsupportedFlags {
                flags: header.flags,
            });
        }
        Ok(header)
    }

    /// The 32 bytes of the fixed header (the padding up to `hdr_size` is the caller's).
    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        out[0..4].copy_from_slice(&IMAGE_MAGIC.to_le_bytes());
        out[4..8].copy_from_slice(&self.load_addr.to_le_bytes());
        out[8..10].copy_from_slice(&self.hdr_size.to_le_bytes());
        out[10..12].copy_from_slice(&self.protect_tlv_size.to_le_bytes());
        out[12..16].copy_from_slice(&self.img_size.to_le_bytes());
        out[16..20].copy_from_slice(&self.flags.to_le_bytes());
        out[20] = self.version.major;
        out[21] = self.version.minor;
        out[22..24].copy_from_slice(&self.version.revision.to_le_bytes());
        out[24..28].copy_from_slice(&self.version.build.to_le_bytes());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> ImageHeader {
        ImageHeader {
            load_addr: 0,
            hdr_size: HEADER_SIZE,
            protect_tlv_size: 12,
            img_size: 3000,
            flags: 0,
            version: Version {
                major: 1,
                minor: 2,
                revision: 3,
                build: 4,
            },
        }
    }

    #[test]
    fn round_trip() {
        let bytes = header().to_bytes();
        assert_eq!(&bytes[..4], &[0x3d, 0xb8, 0xf3, 0x96]);
        assert_eq!(ImageHeader::parse(&bytes), Ok(header()));
    }

    #[test]
    fn refuses_short_input() {
        let bytes = header().to_bytes();
        assert_eq!(
            ImageHeader::parse(&bytes[..31]),
            Err(ImageError::Truncated {
                what: "header",
                need: 32,
                have: 31
            })
        );
    }

    #[test]
    fn refuses_bad_magic() {
        let mut bytes = header().to_bytes();
        bytes[0] ^= 1;
        assert_eq!(
            ImageHeader::parse(&bytes),
            Err(ImageError::BadMagic { found: 0x96f3_b83c })
        );
    }

    #[test]
    fn refuses_header_size_below_fixed_part() {
        let mut h = header();
        h.hdr_size = 31;
        assert_eq!(
            ImageHeader::parse(&h.to_bytes()),
            Err(ImageError::BadHeaderSize { hdr_size: 31 })
        );
    }

    #[test]
    fn refuses_flags() {
        let mut h = header();
        h.flags = 0x4;
        let err = ImageHeader::parse(&h.to_bytes()).unwrap_err();
        assert_eq!(err, ImageError::UnsupportedFlags { flags: 4 });
        assert!(alloc::format!("{err}").contains("AES-128 encrypted"));
    }

    #[test]
    fn versions() {
        let v: Version = "1.2.3+4".parse().unwrap();
        assert_eq!(v, header().version);
        assert_eq!(alloc::format!("{v}"), "1.2.3+4");
        let v: Version = "0.1.0".parse().unwrap();
        assert_eq!(alloc::format!("{v}"), "0.1.0");
        assert!(v < "0.1.0+1".parse().unwrap());
        for bad in [
            "1.2",
            "1.2.3.4",
            "256.0.0",
            "1.2.65536",
            "1.2.3+",
            "a.b.c",
            "+1.2.3",
            "1.2.-3",
            "",
        ] {
            assert!(bad.parse::<Version>().is_err(), "{bad}");
        }
    }
}
