//! The TLV areas after the payload: parsing (bounds-checked) and writing.
//!
//! Each area starts with `image_tlv_info {magic u16, total u16}` where `total` counts the
//! info header too; entries are `{type u16, len u16}` + `len` bytes. The protected area
//! (magic 0x6908) is covered by the image hash and the signature, the unprotected one
//! (0x6907) carries the hash and the signature themselves.

use alloc::vec::Vec;

use crate::error::ImageError;

/// `IMAGE_TLV_PROT_INFO_MAGIC`.
pub const PROT_INFO_MAGIC: u16 = 0x6908;
/// `IMAGE_TLV_INFO_MAGIC`.
pub const INFO_MAGIC: u16 = 0x6907;
/// `image_tlv_info` and `image_tlv` are both 4 bytes.
pub const INFO_LEN: usize = 4;
/// See [`INFO_LEN`].
pub const ENTRY_HEADER_LEN: usize = 4;

/// TLV types: MCUboot's own, then ours in the vendor range 0x00A0..=0x00FF.
pub mod kind {
    /// SHA-256 of the SubjectPublicKeyInfo DER of the signing key.
    pub const KEYHASH: u16 = 0x01;
    /// SHA-256 over header, payload and protected TLVs.
    pub const SHA256: u16 = 0x10;
    /// Ed25519 signature over the 32-byte SHA256 digest.
    pub const ED25519: u16 = 0x24;
    /// Security counter (u32 LE): the anti-rollback level of the image.
    pub const SEC_CNT: u16 = 0x50;
    /// Vendor: the board the image is for (UTF-8, e.g. `dyad-qemu`).
    pub const BOARD: u16 = 0xA0;
    /// Vendor: which part of the system the image is (UTF-8, e.g. `controller`).
    pub const COMPONENT: u16 = 0xA1;
    /// Vendor: the GNU build-id (or SHA-256) of the unstripped firmware ELF, so defmt logs
    /// and crash reports are decoded against the right binary.
    pub const BUILD_ID: u16 = 0xA2;
    /// Vendor: the git commit the image was built from (ASCII, e.g. 40 hex digits).
    pub const GIT_COMMIT: u16 = 0xA3;
}

/// The protected TLVs we understand; any other protected TLV is refused, because the
/// signer meant it to matter and we would silently ignore it.
pub const PROTECTED_KNOWN: [u16; 5] = [
    kind::SEC_CNT,
    kind::BOARD,
    kind::COMPONENT,
    kind::BUILD_ID,
    kind::GIT_COMMIT,
];

/// The unprotected TLVs we allow (MCUboot's `allowed_unprot_tlvs`, narrowed to what we use):
/// nothing else may ride outside the signature.
pub const UNPROTECTED_ALLOWED: [u16; 3] = [kind::SHA256, kind::KEYHASH, kind::ED25519];

/// The name of a TLV type, for `inspect` and messages.
pub fn name(tlv_type: u16) -> &'static str {
    match tlv_type {
        kind::KEYHASH => "KEYHASH",
        0x02 => "PUBKEY",
        kind::SHA256 => "SHA256",
        0x11 => "SHA384",
        0x12 => "SHA512",
        0x20 => "RSA2048_PSS",
        0x22 => "ECDSA_SIG",
        0x23 => "RSA3072_PSS",
        kind::ED25519 => "ED25519",
        0x25 => "SIG_PURE",
        0x40 => "DEPENDENCY",
        kind::SEC_CNT => "SEC_CNT",
        0x60 => "BOOT_RECORD",
        kind::BOARD => "BOARD",
        kind::COMPONENT => "COMPONENT",
        kind::BUILD_ID => "BUILD_ID",
        kind::GIT_COMMIT => "GIT_COMMIT",
        _ => "unknown",
    }
}

/// One entry, borrowing its value from the image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tlv<'a> {
    /// `it_type`.
    pub tlv_type: u16,
    /// Offset of the entry's header in the image, for `inspect`.
    pub offset: usize,
    /// The `it_len` bytes after the entry header.
    pub value: &'a [u8],
}

/// One parsed area: its entries and where it ends in the image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlvArea<'a> {
    /// Offset of the info header in the image.
    pub offset: usize,
    /// `it_tlv_tot`: the area's size, info header included.
    pub total: u16,
    /// The entries in order.
    pub entries: Vec<Tlv<'a>>,
}

impl<'a> TlvArea<'a> {
    /// Parses the area at `offset` of `image` whose info header must carry `magic`. Entries
    /// are walked with [`TlvIter`]; the area must fit in `image`, and the entries must fill
    /// it exactly.
    pub fn parse(image: &'a [u8], offset: usize, magic: u16) -> Result<TlvArea<'a>, ImageError> {
        let protected = magic == PROT_INFO_MAGIC;
        let what = if protected {
            "protected TLV info"
        } else {
            "TLV info"
        };
        let info = image
            .get(offset..)
            .and_then(|rest| rest.get(..INFO_LEN))
            .ok_or(ImageError::Truncated {
                what,
                need: offset.saturating_add(INFO_LEN),
                have: image.len(),
            })?;
        let found = u16::from_le_bytes([info[0], info[1]]);
        if found != magic {
            return Err(ImageError::BadTlvInfoMagic {
                expected: magic,
                found,
            });
        }
        let total = u16::from_le_bytes([info[2], info[3]]);
        if usize::from(total) < INFO_LEN {
            return Err(ImageError::BadTlvAreaSize { protected, total });
        }
        let end = offset + usize::from(total);
        let area = image.get(offset..end).ok_or(ImageError::Truncated {
            what: if protected {
                "protected TLV area"
            } else {
                "TLV area"
            },
            need: end,
            have: image.len(),
        })?;
        let entries = TlvIter {
            area,
            base: offset,
            at: INFO_LEN,
        }
        .collect::<Result<Vec<_>, _>>()?;
        Ok(TlvArea {
            offset,
            total,
            entries,
        })
    }

    /// Offset just past the area.
    pub fn end(&self) -> usize {
        self.offset + usize::from(self.total)
    }

    /// The value of the one entry of `tlv_type`, if any (duplicates are refused at parse).
    pub fn find(&self, tlv_type: u16) -> Option<&'a [u8]> {
        self.entries
            .iter()
            .find(|tlv| tlv.tlv_type == tlv_type)
            .map(|tlv| tlv.value)
    }
}

/// Walks the entries of one area (its info header included in `area`); every length is
/// checked against the area's end before a value is sliced.
pub struct TlvIter<'a> {
    area: &'a [u8],
    base: usize,
    at: usize,
}

impl<'a> Iterator for TlvIter<'a> {
    type Item = Result<Tlv<'a>, ImageError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.at >= self.area.len() {
            return None;
        }
        let offset = self.base + self.at;
        let Some(head) = self.area.get(self.at..self.at + ENTRY_HEADER_LEN) else {
            self.at = self.area.len();
            return Some(Err(ImageError::TlvOverrun {
                offset,
                tlv_type: None,
            }));
        };
        let tlv_type = u16::from_le_bytes([head[0], head[1]]);
        let len = usize::from(u16::from_le_bytes([head[2], head[3]]));
        let start = self.at + ENTRY_HEADER_LEN;
        let Some(value) = self.area.get(start..start + len) else {
            self.at = self.area.len();
            return Some(Err(ImageError::TlvOverrun {
                offset,
                tlv_type: Some(tlv_type),
            }));
        };
        self.at = start + len;
        Some(Ok(Tlv {
            tlv_type,
            offset,
            value,
        }))
    }
}

/// Builds one area: entries appended in order, the info header's total patched at the end.
pub struct TlvWriter {
    bytes: Vec<u8>,
}

impl TlvWriter {
    /// An empty area with the given info magic.
    pub fn new(magic: u16) -> TlvWriter {
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&magic.to_le_bytes());
        bytes.extend_from_slice(&0u16.to_le_bytes());
        TlvWriter { bytes }
    }

    /// Appends one entry; refuses a value or an area larger than a u16 length can say.
    pub fn push(&mut self, tlv_type: u16, value: &[u8]) -> Result<(), ImageError> {
        let len = u16::try_from(value.len()).map_err(|_| ImageError::TooLarge {
            what: "TLV value",
            len: value.len(),
        })?;
        let total = self.bytes.len() + ENTRY_HEADER_LEN + value.len();
        if total > usize::from(u16::MAX) {
            return Err(ImageError::TooLarge {
                what: "TLV area",
                len: total,
            });
        }
        self.bytes.extend_from_slice(&tlv_type.to_le_bytes());
        self.bytes.extend_from_slice(&len.to_le_bytes());
        self.bytes.extend_from_slice(value);
        Ok(())
    }

    /// The finished area, info header included.
    pub fn finish(mut self) -> Vec<u8> {
        // push() kept the length within u16.
        let total = u16::try_from(self.bytes.len()).unwrap_or(u16::MAX);
        self.bytes[2..4].copy_from_slice(&total.to_le_bytes());
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn area() -> Vec<u8> {
        let mut w = TlvWriter::new(PROT_INFO_MAGIC);
        w.push(kind::SEC_CNT, &5u32.to_le_bytes()).unwrap();
        w.push(kind::BOARD, b"dyad-qemu").unwrap();
        w.finish()
    }

    #[test]
    fn round_trip() {
        let bytes = area();
        assert_eq!(bytes.len(), 4 + 8 + 13);
        let parsed = TlvArea::parse(&bytes, 0, PROT_INFO_MAGIC).unwrap();
        assert_eq!(usize::from(parsed.total), bytes.len());
        assert_eq!(parsed.entries.len(), 2);
        assert_eq!(parsed.find(kind::BOARD), Some(&b"dyad-qemu"[..]));
        assert_eq!(parsed.entries[1].offset, 12);
        assert_eq!(parsed.end(), bytes.len());
    }

    #[test]
    fn refuses_wrong_magic() {
        let bytes = area();
        assert_eq!(
            TlvArea::parse(&bytes, 0, INFO_MAGIC),
            Err(ImageError::BadTlvInfoMagic {
                expected: INFO_MAGIC,
                found: PROT_INFO_MAGIC
            })
        );
    }

    #[test]
    fn refuses_area_past_the_end() {
        let bytes = area();
        assert!(matches!(
            TlvArea::parse(&bytes[..bytes.len() - 1], 0, PROT_INFO_MAGIC),
            Err(ImageError::Truncated {
                what: "protected TLV area",
                ..
            })
        ));
        assert!(matches!(
            TlvArea::parse(&bytes[..2], 0, PROT_INFO_MAGIC),
            Err(ImageError::Truncated {
                what: "protected TLV info",
                ..
            })
        ));
        assert!(matches!(
            TlvArea::parse(&bytes, 1000, PROT_INFO_MAGIC),
            Err(ImageError::Truncated { .. })
        ));
    }

    #[test]
    fn refuses_total_below_info_header() {
        let mut bytes = area();
        bytes[2] = 3;
        bytes[3] = 0;
        assert_eq!(
            TlvArea::parse(&bytes, 0, PROT_INFO_MAGIC),
            Err(ImageError::BadTlvAreaSize {
                protected: true,
                total: 3
            })
        );
    }

    #[test]
    fn refuses_entry_running_past_its_area() {
        let mut bytes = area();
        // The board entry's length claims one byte more than the area holds.
        bytes[14] += 1;
        assert_eq!(
            TlvArea::parse(&bytes, 0, PROT_INFO_MAGIC),
            Err(ImageError::TlvOverrun {
                offset: 12,
                tlv_type: Some(kind::BOARD)
            })
        );
        // An area whose total leaves a partial entry header.
        let mut bytes = area();
        bytes.extend_from_slice(&[0xA0, 0]);
        let total = u16::try_from(bytes.len()).unwrap();
        bytes[2..4].copy_from_slice(&total.to_le_bytes());
        assert_eq!(
            TlvArea::parse(&bytes, 0, PROT_INFO_MAGIC),
            Err(ImageError::TlvOverrun {
                offset: 25,
                tlv_type: None
            })
        );
    }

    #[test]
    fn writer_refuses_oversized_values() {
        let mut w = TlvWriter::new(INFO_MAGIC);
        let big = alloc::vec![0u8; 70_000];
        assert!(matches!(
            w.push(kind::SHA256, &big),
            Err(ImageError::TooLarge {
                what: "TLV value",
                ..
            })
        ));
        let half = alloc::vec![0u8; 40_000];
        w.push(kind::SHA256, &half).unwrap();
        assert!(matches!(
            w.push(kind::SHA256, &half),
            Err(ImageError::TooLarge {
                what: "TLV area",
                ..
            })
        ));
    }
}
