//! Why an image was refused: one variant per reason, each message naming it first
//! ("bad signature: ...", "wrong board: ...", "downgrade: ...") so people and scripts can
//! tell the reasons apart.

use alloc::string::String;
use core::fmt;

use crate::bundle::BundleError;
use crate::hex::Hex;
use crate::tlv;

/// A refused image (building, parsing or verifying).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageError {
    /// The image ends before a part that the header or a TLV info says is there.
    Truncated {
        /// The part that does not fit.
        what: &'static str,
        /// Bytes the image would need.
        need: usize,
        /// Bytes it has.
        have: usize,
    },
    /// Not an MCUboot image: the header magic is wrong.
    BadMagic {
        /// The first four bytes, little-endian.
        found: u32,
    },
    /// `hdr_size` is smaller than the fixed header.
    BadHeaderSize {
        /// The header's `hdr_size`.
        hdr_size: u16,
    },
    /// The header asks for encryption, compression or another feature we do not support.
    UnsupportedFlags {
        /// The header's flags.
        flags: u32,
    },
    /// The header's `protect_tlv_size` disagrees with the protected area's own total.
    ProtectedSizeMismatch {
        /// `protect_tlv_size` from the header.
        header: u16,
        /// `it_tlv_tot` from the protected area's info header.
        area: u16,
    },
    /// A TLV area's info header has the wrong magic.
    BadTlvInfoMagic {
        /// 0x6908 (protected) or 0x6907.
        expected: u16,
        /// What was there.
        found: u16,
    },
    /// A TLV area's total is smaller than its own info header.
    BadTlvAreaSize {
        /// Which area.
        protected: bool,
        /// Its `it_tlv_tot`.
        total: u16,
    },
    /// A TLV entry runs past the end of its area.
    TlvOverrun {
        /// Offset of the entry in the image.
        offset: usize,
        /// Its type, when its header was whole.
        tlv_type: Option<u16>,
    },
    /// Bytes follow the unprotected TLV area.
    TrailingBytes {
        /// How many.
        count: usize,
    },
    /// A protected TLV we do not know: the signer meant it to matter, so we refuse.
    UnknownProtectedTlv {
        /// Its type.
        tlv_type: u16,
    },
    /// An unprotected TLV outside the allow-list (hash, key hash, signature).
    UnexpectedUnprotectedTlv {
        /// Its type.
        tlv_type: u16,
    },
    /// A TLV type that may appear once appears twice.
    DuplicateTlv {
        /// Its type.
        tlv_type: u16,
    },
    /// A TLV has the wrong length for its type.
    BadTlvLength {
        /// Its type.
        tlv_type: u16,
        /// Its length.
        len: usize,
        /// What the type requires.
        expected: &'static str,
    },
    /// A text TLV (board, component, git commit) is not printable ASCII.
    BadTlvText {
        /// Its type.
        tlv_type: u16,
    },
    /// A required TLV is missing.
    MissingTlv {
        /// Its type.
        tlv_type: u16,
    },
    /// The SHA256 TLV does not match header + payload + protected TLVs.
    DigestMismatch {
        /// When the bundle inside does not check out either, why: it tells a damaged
        /// payload apart from a changed header or protected TLV.
        payload: Option<BundleError>,
    },
    /// No ED25519 signature TLV.
    Unsigned,
    /// The KEYHASH names another key than the one we were given.
    UnknownKey {
        /// The image's KEYHASH.
        image: [u8; 32],
        /// SHA-256 of the given key's SubjectPublicKeyInfo DER.
        given: [u8; 32],
    },
    /// The signature does not verify over the digest.
    BadSignature,
    /// The image is for another board.
    WrongBoard {
        /// The image's BOARD TLV.
        image: String,
        /// The board that checked it.
        expected: String,
    },
    /// The security counter is below the minimum (the board's NV counter).
    Downgrade {
        /// The image's SEC_CNT.
        image: u32,
        /// The minimum it had to reach.
        minimum: u32,
    },
    /// The payload is not a valid bundle.
    Bundle(BundleError),
    /// Building: a part does not fit its length field.
    TooLarge {
        /// Which part.
        what: &'static str,
        /// Its length.
        len: usize,
    },
}

impl fmt::Display for ImageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImageError::Truncated { what, need, have } => write!(
                f,
                "truncated: the {what} needs {need} bytes, the image has {have}"
            ),
            ImageError::BadMagic { found } => write!(
                f,
                "bad magic 0x{found:08x}: not an MCUboot image (magic 0x{:08x})",
                crate::header::IMAGE_MAGIC
            ),
            ImageError::BadHeaderSize { hdr_size } => write!(
                f,
                "bad header size {hdr_size}: smaller than the {}-byte header",
                crate::header::HEADER_LEN
            ),
            ImageError::UnsupportedFlags { flags } => write!(
                f,
                "unsupported header flags 0x{flags:x} ({})",
                crate::header::flag_name(*flags)
            ),
            ImageError::ProtectedSizeMismatch { header, area } => write!(
                f,
                "bad protected TLV size: the header says {header} bytes, the area says {area}"
            ),
            ImageError::BadTlvInfoMagic { expected, found } => write!(
                f,
                "bad TLV info magic 0x{found:04x} where the {} TLV area (0x{expected:04x}) starts",
                if *expected == tlv::PROT_INFO_MAGIC {
                    "protected"
                } else {
                    "unprotected"
                }
            ),
            ImageError::BadTlvAreaSize { protected, total } => write!(
                f,
                "bad {}TLV area size {total}: smaller than its info header",
                if *protected { "protected " } else { "" }
            ),
            ImageError::TlvOverrun { offset, tlv_type } => match tlv_type {
                Some(t) => write!(
                    f,
                    "bad TLV: {} (0x{t:04x}) at offset {offset} runs past the end of its area",
                    tlv::name(*t)
                ),
                None => write!(
                    f,
                    "bad TLV: a partial entry header at offset {offset} ends its area"
                ),
            },
            ImageError::TrailingBytes { count } => write!(
                f,
                "trailing bytes: {count} bytes follow the TLV area"
            ),
            ImageError::UnknownProtectedTlv { tlv_type } => write!(
                f,
                "unknown protected TLV 0x{tlv_type:04x}: refused, since the signer meant it to matter"
            ),
            ImageError::UnexpectedUnprotectedTlv { tlv_type } => write!(
                f,
                "unexpected unprotected TLV {} (0x{tlv_type:04x}): only SHA256, KEYHASH and ED25519 may sit outside the signature",
                tlv::name(*tlv_type)
            ),
            ImageError::DuplicateTlv { tlv_type } => write!(
                f,
                "duplicate TLV: {} (0x{tlv_type:04x}) appears more than once",
                tlv::name(*tlv_type)
            ),
            ImageError::BadTlvLength {
                tlv_type,
                len,
                expected,
            } => write!(
                f,
                "bad TLV length: {} (0x{tlv_type:04x}) is {len} bytes, expected {expected}",
                tlv::name(*tlv_type)
            ),
            ImageError::BadTlvText { tlv_type } => write!(
                f,
                "bad TLV text: {} (0x{tlv_type:04x}) is not printable ASCII",
                tlv::name(*tlv_type)
            ),
            ImageError::MissingTlv { tlv_type } => write!(
                f,
                "missing TLV: the image has no {} (0x{tlv_type:04x})",
                tlv::name(*tlv_type)
            ),
            ImageError::DigestMismatch { payload } => {
                write!(
                    f,
                    "SHA-256 mismatch: the header, payload or protected TLVs changed after the image was hashed"
                )?;
                match payload {
                    Some(why) => write!(f, " (the payload is damaged: {why})"),
                    None => Ok(()),
                }
            }
            ImageError::Unsigned => write!(f, "unsigned: the image has no ED25519 signature"),
            ImageError::UnknownKey { image, given } => write!(
                f,
                "unknown key: the image was signed by the key with hash {}…, not by the given key ({}…)",
                Hex(&image[..8]),
                Hex(&given[..8])
            ),
            ImageError::BadSignature => write!(
                f,
                "bad signature: the ED25519 signature does not verify with the given key"
            ),
            ImageError::WrongBoard { image, expected } => write!(
                f,
                "wrong board: the image is for {image}, this board is {expected}"
            ),
            ImageError::Downgrade { image, minimum } => write!(
                f,
                "downgrade: the image's security counter {image} is below {minimum}"
            ),
            ImageError::Bundle(why) => write!(f, "bad bundle: {why}"),
            ImageError::TooLarge { what, len } => {
                write!(f, "too large: the {what} is {len} bytes")
            }
        }
    }
}

impl core::error::Error for ImageError {}

impl From<BundleError> for ImageError {
    fn from(why: BundleError) -> ImageError {
        ImageError::Bundle(why)
    }
}
