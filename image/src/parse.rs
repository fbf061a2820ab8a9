//! An image taken apart: header, payload, both TLV areas and the values we use, with every
//! structural rule checked but nothing cryptographic (that is [`crate::verify()`]). `inspect`
//! and the flasher stop here; the boot ROM goes on to verify.

use crate::bundle::Bundle;
use crate::error::ImageError;
use crate::header::ImageHeader;
use crate::sha256;
use crate::tlv::{self, kind, TlvArea};

/// Longest text or build-id TLV we accept: names and ids, not documents.
pub const MAX_TEXT_TLV: usize = 64;

/// The protected values the image carries (all covered by the signature).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Metadata<'a> {
    /// SEC_CNT: the anti-rollback level.
    pub security_counter: Option<u32>,
    /// BOARD: which board the image is for.
    pub board: Option<&'a str>,
    /// COMPONENT: which part of the system it is.
    pub component: Option<&'a str>,
    /// BUILD_ID: of the unstripped firmware ELF.
    pub build_id: Option<&'a [u8]>,
    /// GIT_COMMIT: what it was built from.
    pub git_commit: Option<&'a str>,
}

/// A structurally valid image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image<'a> {
    /// The whole image.
    pub bytes: &'a [u8],
    /// Its header.
    pub header: ImageHeader,
    /// The protected TLV area, when the header says there is one.
    pub protected: Option<TlvArea<'a>>,
    /// The unprotected TLV area.
    pub unprotected: TlvArea<'a>,
    /// The protected values.
    pub metadata: Metadata<'a>,
    /// The SHA256 TLV (not yet compared with the bytes).
    pub sha256: [u8; 32],
    /// The KEYHASH TLV.
    pub key_hash: Option<[u8; 32]>,
    /// The ED25519 TLV.
    pub signature: Option<[u8; 64]>,
}

impl<'a> Image<'a> {
    /// Takes `bytes` apart, refusing anything out of bounds, an unknown protected TLV, an
    /// unprotected TLV outside the allow-list, duplicates, wrong lengths, and trailing bytes.
    pub fn parse(bytes: &'a [u8]) -> Result<Image<'a>, ImageError> {
        let header = ImageHeader::parse(bytes)?;
        let payload_end = usize::from(header.hdr_size) + header.img_size as usize;
        if payload_end > bytes.len() {
            return Err(ImageError::Truncated {
                what: "payload",
                need: payload_end,
                have: bytes.len(),
            });
        }
        let protected = if header.protect_tlv_size == 0 {
            None
        } else {
            let area = TlvArea::parse(bytes, payload_end, tlv::PROT_INFO_MAGIC)?;
            if area.total != header.protect_tlv_size {
                return Err(ImageError::ProtectedSizeMismatch {
                    header: header.protect_tlv_size,
                    area: area.total,
                });
            }
            check_types(&area, &tlv::PROTECTED_KNOWN, |tlv_type| {
                ImageError::UnknownProtectedTlv { tlv_type }
            })?;
            Some(area)
        };
        let unprotected_at = payload_end + usize::from(header.protect_tlv_size);
        let unprotected = TlvArea::parse(bytes, unprotected_at, tlv::INFO_MAGIC)?;
        check_types(&unprotected, &tlv::UNPROTECTED_ALLOWED, |tlv_type| {
            ImageError::UnexpectedUnprotectedTlv { tlv_type }
        })?;
        if unprotected.end() != bytes.len() {
            return Err(ImageError::TrailingBytes {
                count: bytes.len() - unprotected.end(),
            });
        }

        let find = |tlv_type| protected.as_ref().and_then(|area| area.find(tlv_type));
        let metadata = Metadata {
            security_counter: find(kind::SEC_CNT)
                .map(|v| fixed::<4>(kind::SEC_CNT, v, "4").map(u32::from_le_bytes))
                .transpose()?,
            board: find(kind::BOARD)
                .map(|v| text(kind::BOARD, v))
                .transpose()?,
            component: find(kind::COMPONENT)
                .map(|v| text(kind::COMPONENT, v))
                .transpose()?,
            build_id: find(kind::BUILD_ID)
                .map(|v| bounded(kind::BUILD_ID, v))
                .transpose()?,
            git_commit: find(kind::GIT_COMMIT)
                .map(|v| text(kind::GIT_COMMIT, v))
                .transpose()?,
        };
        let sha = unprotected
            .find(kind::SHA256)
            .ok_or(ImageError::MissingTlv {
                tlv_type: kind::SHA256,
            })?;
        let sha256 = fixed::<32>(kind::SHA256, sha, "32")?;
        let key_hash = unprotected
            .find(kind::KEYHASH)
            .map(|v| fixed::<32>(kind::KEYHASH, v, "32"))
            .transpose()?;
        let signature = unprotected
            .find(kind::ED25519)
            .map(|v| fixed::<64>(kind::ED25519, v, "64"))
            .transpose()?;
        Ok(Image {
            bytes,
            header,
            protected,
            unprotected,
            metadata,
            sha256,
            key_hash,
            signature,
        })
    }

    /// The payload (the bundle).
    pub fn payload(&self) -> &'a [u8] {
        let start = usize::from(self.header.hdr_size);
        &self.bytes[start..start + self.header.img_size as usize]
    }

    /// What the SHA256 TLV covers: header (with padding), payload, protected TLVs.
    pub fn hashed_region(&self) -> &'a [u8] {
        &self.bytes[..self.unprotected.offset]
    }

    /// Computes the digest and compares it with the SHA256 TLV. On a mismatch, says
    /// whether the bundle inside is damaged too, which tells a changed payload apart.
    pub fn check_digest(&self) -> Result<[u8; 32], ImageError> {
        let digest = sha256(self.hashed_region());
        if digest == self.sha256 {
            Ok(digest)
        } else {
            Err(ImageError::DigestMismatch {
                payload: Bundle::parse(self.payload()).err(),
            })
        }
    }
}

/// Every entry's type is in `allowed`, and none appears twice.
fn check_types(
    area: &TlvArea<'_>,
    allowed: &[u16],
    refuse: impl Fn(u16) -> ImageError,
) -> Result<(), ImageError> {
    for (i, entry) in area.entries.iter().enumerate() {
        if !allowed.contains(&entry.tlv_type) {
            return Err(refuse(entry.tlv_type));
        }
        if area.entries[..i]
            .iter()
            .any(|earlier| earlier.tlv_type == entry.tlv_type)
        {
            return Err(ImageError::DuplicateTlv {
                tlv_type: entry.tlv_type,
            });
        }
    }
    Ok(())
}

fn fixed<const N: usize>(
    tlv_type: u16,
    value: &[u8],
    expected: &'static str,
) -> Result<[u8; N], ImageError> {
    value.try_into().map_err(|_| ImageError::BadTlvLength {
        tlv_type,
        len: value.len(),
        expected,
    })
}

fn bounded(tlv_type: u16, value: &[u8]) -> Result<&[u8], ImageError> {
    if value.is_empty() || value.len() > MAX_TEXT_TLV {
        return Err(ImageError::BadTlvLength {
            tlv_type,
            len: value.len(),
            expected: "1 to 64",
        });
    }
    Ok(value)
}

/// A name-like TLV: 1 to 64 bytes of printable ASCII (messages print it as it is).
fn text(tlv_type: u16, value: &[u8]) -> Result<&str, ImageError> {
    let value = bounded(tlv_type, value)?;
    if !value.iter().all(|b| (0x20..0x7f).contains(b)) {
        return Err(ImageError::BadTlvText { tlv_type });
    }
    core::str::from_utf8(value).map_err(|_| ImageError::BadTlvText { tlv_type })
}
