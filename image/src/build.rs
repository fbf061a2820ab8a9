//! Making images: lay out header, payload and protected TLVs with the SHA256 TLV
//! (unsigned), then sign: replace the unprotected area with SHA256, KEYHASH and ED25519 over
//! the digest, which is what `imgtool sign` produces for an Ed25519 key.

use alloc::vec::Vec;

use crate::error::ImageError;
use crate::header::{ImageHeader, Version, HEADER_LEN, HEADER_SIZE};
use crate::key::SigningKey;
use crate::parse::Image;
use crate::sha256;
use crate::tlv::{self, kind, TlvWriter};

/// What goes into the protected TLVs and the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageSpec<'a> {
    /// The header's version.
    pub version: Version,
    /// SEC_CNT: raise it whenever older images must stop booting.
    pub security_counter: u32,
    /// BOARD, e.g. `dyad-qemu`.
    pub board: &'a str,
    /// COMPONENT, e.g. `controller`.
    pub component: &'a str,
    /// BUILD_ID of the unstripped firmware ELF, when known.
    pub build_id: Option<&'a [u8]>,
    /// GIT_COMMIT, when known.
    pub git_commit: Option<&'a str>,
}

/// An unsigned image of `payload`: header padded to 0x200, payload, protected TLVs
/// (SEC_CNT, BOARD, COMPONENT, BUILD_ID, GIT_COMMIT), and an unprotected area holding
/// only the SHA256 TLV. The result is parsed back, so a value the parser would refuse
/// (an empty board, a 100-byte commit) is refused here.
pub fn build_unsigned(payload: &[u8], spec: &ImageSpec<'_>) -> Result<Vec<u8>, ImageError> {
    let img_size = u32::try_from(payload.len()).map_err(|_| ImageError::TooLarge {
        what: "payload",
        len: payload.len(),
    })?;
    let mut protected = TlvWriter::new(tlv::PROT_INFO_MAGIC);
    protected.push(kind::SEC_CNT, &spec.security_counter.to_le_bytes())?;
    protected.push(kind::BOARD, spec.board.as_bytes())?;
    protected.push(kind::COMPONENT, spec.component.as_bytes())?;
    if let Some(build_id) = spec.build_id {
        protected.push(kind::BUILD_ID, build_id)?;
    }
    if let Some(commit) = spec.git_commit {
        protected.push(kind::GIT_COMMIT, commit.as_bytes())?;
    }
    let protected = protected.finish();
    let header = ImageHeader {
        load_addr: 0,
        hdr_size: HEADER_SIZE,
        // The writer kept the area within u16.
        protect_tlv_size: u16::try_from(protected.len()).unwrap_or(u16::MAX),
        img_size,
        flags: 0,
        version: spec.version,
    };
    let mut out = Vec::with_capacity(usize::from(HEADER_SIZE) + payload.len() + 256);
    out.extend_from_slice(&header.to_bytes());
    out.resize(usize::from(HEADER_SIZE), 0);
    debug_assert!(out.len() >= HEADER_LEN);
    out.extend_from_slice(payload);
    out.extend_from_slice(&protected);
    let digest = sha256(&out);
    let mut unprotected = TlvWriter::new(tlv::INFO_MAGIC);
    unprotected.push(kind::SHA256, &digest)?;
    out.extend_from_slice(&unprotected.finish());
    Image::parse(&out)?;
    Ok(out)
}

/// Signs `image` (signed or not) with `key`: keeps header, payload and protected TLVs,
/// and writes a fresh unprotected area of SHA256, KEYHASH and ED25519. Refuses an image
/// whose bytes no longer match its own SHA256: signing would bless the damage.
pub fn sign(image: &[u8], key: &SigningKey) -> Result<Vec<u8>, ImageError> {
    let parsed = Image::parse(image)?;
    let digest = parsed.check_digest()?;
    let hashed = parsed.hashed_region();
    let mut unprotected = TlvWriter::new(tlv::INFO_MAGIC);
    unprotected.push(kind::SHA256, &digest)?;
    unprotected.push(kind::KEYHASH, &key.public_key().key_hash())?;
    unprotected.push(kind::ED25519, &key.sign(&digest))?;
    let unprotected = unprotected.finish();
    let mut out = Vec::with_capacity(hashed.len() + unprotected.len());
    out.extend_from_slice(hashed);
    out.extend_from_slice(&unprotected);
    Ok(out)
}
