//! Verification: what the boot ROM and `dyad image verify` require before they trust an
//! image. The order matters for the message: structure, then the digest (was anything
//! changed?), then the key hash (signed by whom?), then the signature, and only then the
//! signed values (board, security counter) and the bundle inside.

use alloc::string::ToString;

use crate::bundle::Bundle;
use crate::error::ImageError;
use crate::key::PublicKey;
use crate::parse::Image;
use crate::tlv::kind;

/// An image that passed [`verify`], with the values the boot ROM acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedImage<'a> {
    /// The image taken apart.
    pub image: Image<'a>,
    /// Its SHA-256 digest (equal to its SHA256 TLV), the value that was signed.
    pub digest: [u8; 32],
    /// Its SEC_CNT.
    pub security_counter: u32,
    /// Its BOARD.
    pub board: &'a str,
    /// The payload, checked component by component.
    pub bundle: Bundle<'a>,
}

/// Verifies `bytes` against the trusted `key`: structure, digest, key hash, Ed25519
/// signature over the digest; then requires the signed SEC_CNT and BOARD, that the board
/// is `board` (when given), that the counter is at least `min_security_counter`, and that
/// the payload is a valid bundle.
pub fn verify<'a>(
    bytes: &'a [u8],
    key: &PublicKey,
    board: Option<&str>,
    min_security_counter: u32,
) -> Result<VerifiedImage<'a>, ImageError> {
    let image = Image::parse(bytes)?;
    let digest = image.check_digest()?;
    let signature = image.signature.ok_or(ImageError::Unsigned)?;
    let image_key = image.key_hash.ok_or(ImageError::MissingTlv {
        tlv_type: kind::KEYHASH,
    })?;
    if image_key != key.key_hash() {
        return Err(ImageError::UnknownKey {
            image: image_key,
            given: key.key_hash(),
        });
    }
    if !key.verify(&digest, &signature) {
        return Err(ImageError::BadSignature);
    }
    let security_counter = image
        .metadata
        .security_counter
        .ok_or(ImageError::MissingTlv {
            tlv_type: kind::SEC_CNT,
        })?;
    let image_board = image.metadata.board.ok_or(ImageError::MissingTlv {
        tlv_type: kind::BOARD,
    })?;
    if let Some(expected) = board {
        if image_board != expected {
            return Err(ImageError::WrongBoard {
                image: image_board.to_string(),
                expected: expected.to_string(),
            });
        }
    }
    if security_counter < min_security_counter {
        return Err(ImageError::Downgrade {
            image: security_counter,
            minimum: min_security_counter,
        });
    }
    let bundle = Bundle::parse(image.payload())?;
    Ok(VerifiedImage {
        image,
        digest,
        security_counter,
        board: image_board,
        bundle,
    })
}
