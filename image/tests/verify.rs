//! Building, signing and verifying images, and every reason an image is refused: each
//! refusal has its own case and its message names the reason.

use image::bundle::{INITRAMFS, KERNEL};
use image::header::{HEADER_SIZE, IMAGE_MAGIC};
use image::tlv::{self, kind, TlvWriter};
use image::{
    build_unsigned, sha256, sign, verify, Bundle, BundleError, Image, ImageError, ImageHeader,
    ImageSpec, SigningKey, Version,
};

fn key() -> SigningKey {
    SigningKey::from_seed(&[1; 32])
}

fn other_key() -> SigningKey {
    SigningKey::from_seed(&[2; 32])
}

fn bundle() -> Vec<u8> {
    Bundle::build(&[(KERNEL, &b"a kernel"[..]), (INITRAMFS, &[5u8; 3000][..])]).unwrap()
}

fn spec() -> ImageSpec<'static> {
    ImageSpec {
        version: "1.2.3+4".parse().unwrap(),
        security_counter: 5,
        board: "dyad-qemu",
        component: "controller",
        build_id: Some(&[0xab; 20]),
        git_commit: Some("339483c"),
    }
}

fn signed() -> Vec<u8> {
    sign(&build_unsigned(&bundle(), &spec()).unwrap(), &key()).unwrap()
}

fn refusal(bytes: &[u8]) -> ImageError {
    verify(bytes, &key().public_key(), Some("dyad-qemu"), 0).unwrap_err()
}

/// An image put together by hand from a header, a payload and protected entries, with the
/// unprotected area from `unprotected(digest)`: for shapes our builder never makes.
fn assemble(
    payload: &[u8],
    protected: &[(u16, &[u8])],
    unprotected: impl Fn(&[u8; 32]) -> Vec<(u16, Vec<u8>)>,
) -> Vec<u8> {
    let mut area = TlvWriter::new(tlv::PROT_INFO_MAGIC);
    for (t, v) in protected {
        area.push(*t, v).unwrap();
    }
    let area = if protected.is_empty() {
        Vec::new()
    } else {
        area.finish()
    };
    let header = ImageHeader {
        load_addr: 0,
        hdr_size: HEADER_SIZE,
        protect_tlv_size: area.len() as u16,
        img_size: payload.len() as u32,
        flags: 0,
        version: Version::default(),
    };
    let mut out = header.to_bytes().to_vec();
    out.resize(usize::from(HEADER_SIZE), 0);
    out.extend_from_slice(payload);
    out.extend_from_slice(&area);
    let digest = sha256(&out);
    let mut tail = TlvWriter::new(tlv::INFO_MAGIC);
    for (t, v) in unprotected(&digest) {
        tail.push(t, &v).unwrap();
    }
    out.extend_from_slice(&tail.finish());
    out
}

/// The usual unprotected area: hash, key hash, signature by `key()`.
fn signed_tail(digest: &[u8; 32]) -> Vec<(u16, Vec<u8>)> {
    vec![
        (kind::SHA256, digest.to_vec()),
        (kind::KEYHASH, key().public_key().key_hash().to_vec()),
        (kind::ED25519, key().sign(digest).to_vec()),
    ]
}

/// Offset of the unprotected TLV area.
fn unprotected_at(bytes: &[u8]) -> usize {
    Image::parse(bytes).unwrap().unprotected.offset
}

fn tlv_value_at(bytes: &[u8], tlv_type: u16) -> usize {
    let image = Image::parse(bytes).unwrap();
    let offset = image
        .protected
        .iter()
        .chain([&image.unprotected])
        .flat_map(|area| area.entries.iter())
        .find(|t| t.tlv_type == tlv_type)
        .map(|t| t.offset + 4)
        .unwrap();
    offset
}

#[test]
fn a_signed_image_verifies() {
    let bytes = signed();
    let v = verify(&bytes, &key().public_key(), Some("dyad-qemu"), 5).unwrap();
    assert_eq!(v.security_counter, 5);
    assert_eq!(v.board, "dyad-qemu");
    assert_eq!(v.image.header.version.to_string(), "1.2.3+4");
    assert_eq!(v.image.header.hdr_size, 0x200);
    assert_eq!(v.image.metadata.component, Some("controller"));
    assert_eq!(v.image.metadata.build_id, Some(&[0xab; 20][..]));
    assert_eq!(v.image.metadata.git_commit, Some("339483c"));
    assert_eq!(v.bundle.require(KERNEL).unwrap().data, b"a kernel");
    assert_eq!(v.digest, v.image.sha256);
    // The layout imgtool expects: magic, then the protected area right after the payload.
    assert_eq!(bytes[..4], IMAGE_MAGIC.to_le_bytes());
    let payload_end = 0x200 + bundle().len();
    assert_eq!(bytes[payload_end..payload_end + 2], [0x08, 0x69]);
    // Without a board to check, any board is fine.
    assert!(verify(&bytes, &key().public_key(), None, 0).is_ok());
}

#[test]
fn signing_again_replaces_the_signature() {
    let bytes = signed();
    let resigned = sign(&bytes, &other_key()).unwrap();
    assert_eq!(resigned.len(), bytes.len());
    assert!(verify(&resigned, &other_key().public_key(), None, 0).is_ok());
    assert!(matches!(refusal(&resigned), ImageError::UnknownKey { .. }));
}

#[test]
fn unsigned_image_is_refused() {
    let bytes = build_unsigned(&bundle(), &spec()).unwrap();
    let err = refusal(&bytes);
    assert_eq!(err, ImageError::Unsigned);
    assert!(err.to_string().starts_with("unsigned:"));
    // Structurally fine, and its hash checks out.
    assert!(Image::parse(&bytes).unwrap().check_digest().is_ok());
}

#[test]
fn flipped_header_byte_is_refused() {
    let mut bytes = signed();
    bytes[20] ^= 1; // version major
    let err = refusal(&bytes);
    assert_eq!(err, ImageError::DigestMismatch { payload: None });
    assert!(err.to_string().starts_with("SHA-256 mismatch"));
    let mut bytes = signed();
    bytes[0x100] ^= 1; // header padding
    assert_eq!(
        refusal(&bytes),
        ImageError::DigestMismatch { payload: None }
    );
}

#[test]
fn flipped_payload_byte_is_refused_and_named() {
    let mut bytes = signed();
    bytes[0x200 + 4096] ^= 1; // the kernel's first byte
    let err = refusal(&bytes);
    assert_eq!(
        err,
        ImageError::DigestMismatch {
            payload: Some(BundleError::HashMismatch {
                name: KERNEL.into()
            })
        }
    );
    assert!(err
        .to_string()
        .contains("the payload is damaged: component kernel"));
}

#[test]
fn flipped_protected_tlv_byte_is_refused() {
    let mut bytes = signed();
    let at = tlv_value_at(&bytes, kind::BOARD);
    bytes[at] ^= 1;
    assert_eq!(
        refusal(&bytes),
        ImageError::DigestMismatch { payload: None }
    );
}

#[test]
fn flipped_signature_byte_is_refused() {
    let mut bytes = signed();
    let at = tlv_value_at(&bytes, kind::ED25519);
    bytes[at + 10] ^= 1;
    let err = refusal(&bytes);
    assert_eq!(err, ImageError::BadSignature);
    assert!(err.to_string().starts_with("bad signature"));
}

#[test]
fn flipped_hash_tlv_is_refused() {
    let mut bytes = signed();
    let at = tlv_value_at(&bytes, kind::SHA256);
    bytes[at] ^= 1;
    assert!(matches!(refusal(&bytes), ImageError::DigestMismatch { .. }));
}

#[test]
fn wrong_key_is_refused() {
    let bytes = signed();
    let err = verify(&bytes, &other_key().public_key(), None, 0).unwrap_err();
    assert_eq!(
        err,
        ImageError::UnknownKey {
            image: key().public_key().key_hash(),
            given: other_key().public_key().key_hash()
        }
    );
    assert!(err
        .to_string()
        .starts_with("unknown key: the image was signed by the key with hash"));
    // A key hash that claims the right key over another key's signature.
    let forged = assemble(
        &bundle(),
        &[(kind::SEC_CNT, &[0; 4]), (kind::BOARD, b"dyad-qemu")],
        |d| {
            vec![
                (kind::SHA256, d.to_vec()),
                (kind::KEYHASH, key().public_key().key_hash().to_vec()),
                (kind::ED25519, other_key().sign(d).to_vec()),
            ]
        },
    );
    assert_eq!(refusal(&forged), ImageError::BadSignature);
}

#[test]
fn missing_key_hash_is_refused() {
    let bytes = assemble(
        &bundle(),
        &[(kind::SEC_CNT, &[0; 4]), (kind::BOARD, b"dyad-qemu")],
        |d| {
            vec![
                (kind::SHA256, d.to_vec()),
                (kind::ED25519, key().sign(d).to_vec()),
            ]
        },
    );
    assert_eq!(
        refusal(&bytes),
        ImageError::MissingTlv {
            tlv_type: kind::KEYHASH
        }
    );
}

#[test]
fn wrong_board_is_refused() {
    let bytes = signed();
    let err = verify(&bytes, &key().public_key(), Some("dyad-sim"), 0).unwrap_err();
    assert_eq!(
        err,
        ImageError::WrongBoard {
            image: "dyad-qemu".into(),
            expected: "dyad-sim".into()
        }
    );
    assert_eq!(
        err.to_string(),
        "wrong board: the image is for dyad-qemu, this board is dyad-sim"
    );
}

#[test]
fn downgrade_is_refused() {
    let bytes = signed();
    let err = verify(&bytes, &key().public_key(), None, 6).unwrap_err();
    assert_eq!(
        err,
        ImageError::Downgrade {
            image: 5,
            minimum: 6
        }
    );
    assert!(err
        .to_string()
        .starts_with("downgrade: the image's security counter 5 is below 6"));
}

#[test]
fn missing_signed_values_are_refused() {
    let no_counter = assemble(&bundle(), &[(kind::BOARD, b"dyad-qemu")], signed_tail);
    assert_eq!(
        refusal(&no_counter),
        ImageError::MissingTlv {
            tlv_type: kind::SEC_CNT
        }
    );
    let no_board = assemble(&bundle(), &[(kind::SEC_CNT, &[0; 4])], signed_tail);
    let err = refusal(&no_board);
    assert_eq!(
        err,
        ImageError::MissingTlv {
            tlv_type: kind::BOARD
        }
    );
    assert_eq!(
        err.to_string(),
        "missing TLV: the image has no BOARD (0x00a0)"
    );
    let no_protected = assemble(&bundle(), &[], signed_tail);
    assert_eq!(
        refusal(&no_protected),
        ImageError::MissingTlv {
            tlv_type: kind::SEC_CNT
        }
    );
    let no_hash = assemble(&bundle(), &[(kind::SEC_CNT, &[0; 4])], |_| vec![]);
    assert_eq!(
        refusal(&no_hash),
        ImageError::MissingTlv {
            tlv_type: kind::SHA256
        }
    );
}

#[test]
fn signed_payload_that_is_not_a_bundle_is_refused() {
    let bytes = assemble(
        b"this is not a dyad bundle",
        &[(kind::SEC_CNT, &[0; 4]), (kind::BOARD, b"dyad-qemu")],
        signed_tail,
    );
    let err = refusal(&bytes);
    assert_eq!(err, ImageError::Bundle(BundleError::BadMagic));
    assert!(err.to_string().starts_with("bad bundle: bad magic"));
}

#[test]
fn structural_refusals() {
    let good = signed();
    let prot_at = 0x200 + bundle().len();
    let unprot_at = unprotected_at(&good);

    let cases: Vec<(&str, Vec<u8>, ImageError)> = vec![
        (
            "empty",
            vec![],
            ImageError::Truncated {
                what: "header",
                need: 32,
                have: 0,
            },
        ),
        (
            "bad magic",
            {
                let mut b = good.clone();
                b[3] = 0;
                b
            },
            ImageError::BadMagic { found: 0x00f3_b83d },
        ),
        (
            "header size",
            {
                let mut b = good.clone();
                b[8..10].copy_from_slice(&16u16.to_le_bytes());
                b
            },
            ImageError::BadHeaderSize { hdr_size: 16 },
        ),
        (
            "flags",
            {
                let mut b = good.clone();
                b[16] = 0x20;
                b
            },
            ImageError::UnsupportedFlags { flags: 0x20 },
        ),
        (
            "payload cut",
            good[..0x300].to_vec(),
            ImageError::Truncated {
                what: "payload",
                need: prot_at,
                have: 0x300,
            },
        ),
        (
            "protected size",
            {
                let mut b = good.clone();
                b[10] += 4;
                b
            },
            ImageError::ProtectedSizeMismatch {
                header: (unprot_at - prot_at + 4) as u16,
                area: (unprot_at - prot_at) as u16,
            },
        ),
        (
            "protected magic",
            {
                let mut b = good.clone();
                b[prot_at] = 0x07;
                b
            },
            ImageError::BadTlvInfoMagic {
                expected: 0x6908,
                found: 0x6907,
            },
        ),
        (
            "unprotected magic",
            {
                let mut b = good.clone();
                b[unprot_at] = 0x08;
                b
            },
            ImageError::BadTlvInfoMagic {
                expected: 0x6907,
                found: 0x6908,
            },
        ),
        (
            "unprotected area cut",
            good[..good.len() - 1].to_vec(),
            ImageError::Truncated {
                what: "TLV area",
                need: good.len(),
                have: good.len() - 1,
            },
        ),
        (
            "trailing",
            {
                let mut b = good.clone();
                b.extend_from_slice(&[0xff; 3]);
                b
            },
            ImageError::TrailingBytes { count: 3 },
        ),
    ];
    for (name, bytes, expected) in cases {
        assert_eq!(Image::parse(&bytes).unwrap_err(), expected, "{name}");
        assert_eq!(refusal(&bytes), expected, "{name}");
        assert!(!expected.to_string().is_empty());
    }
}

#[test]
fn tlv_rules() {
    let board: (u16, &[u8]) = (kind::BOARD, b"dyad-qemu");
    let cases: Vec<(&str, Vec<u8>, ImageError)> = vec![
        (
            "unknown protected",
            assemble(&bundle(), &[board, (0x00A9, b"x")], signed_tail),
            ImageError::UnknownProtectedTlv { tlv_type: 0x00A9 },
        ),
        (
            "protected hash",
            assemble(&bundle(), &[board, (kind::SHA256, &[0; 32])], signed_tail),
            ImageError::UnknownProtectedTlv {
                tlv_type: kind::SHA256,
            },
        ),
        (
            "duplicate protected",
            assemble(&bundle(), &[board, board], signed_tail),
            ImageError::DuplicateTlv {
                tlv_type: kind::BOARD,
            },
        ),
        (
            "counter length",
            assemble(&bundle(), &[board, (kind::SEC_CNT, &[1, 0])], signed_tail),
            ImageError::BadTlvLength {
                tlv_type: kind::SEC_CNT,
                len: 2,
                expected: "4",
            },
        ),
        (
            "board text",
            assemble(&bundle(), &[(kind::BOARD, b"dyad\nqemu")], signed_tail),
            ImageError::BadTlvText {
                tlv_type: kind::BOARD,
            },
        ),
        (
            "empty board",
            assemble(&bundle(), &[(kind::BOARD, b"")], signed_tail),
            ImageError::BadTlvLength {
                tlv_type: kind::BOARD,
                len: 0,
                expected: "1 to 64",
            },
        ),
        (
            "long build id",
            assemble(&bundle(), &[board, (kind::BUILD_ID, &[1; 65])], signed_tail),
            ImageError::BadTlvLength {
                tlv_type: kind::BUILD_ID,
                len: 65,
                expected: "1 to 64",
            },
        ),
        (
            "unprotected counter",
            assemble(&bundle(), &[board], |d| {
                let mut tail = signed_tail(d);
                tail.push((kind::SEC_CNT, vec![9, 0, 0, 0]));
                tail
            }),
            ImageError::UnexpectedUnprotectedTlv {
                tlv_type: kind::SEC_CNT,
            },
        ),
        (
            "duplicate signature",
            assemble(&bundle(), &[board], |d| {
                let mut tail = signed_tail(d);
                tail.push((kind::ED25519, key().sign(d).to_vec()));
                tail
            }),
            ImageError::DuplicateTlv {
                tlv_type: kind::ED25519,
            },
        ),
        (
            "short signature",
            assemble(&bundle(), &[board], |d| {
                vec![(kind::SHA256, d.to_vec()), (kind::ED25519, vec![0; 63])]
            }),
            ImageError::BadTlvLength {
                tlv_type: kind::ED25519,
                len: 63,
                expected: "64",
            },
        ),
        (
            "short hash",
            assemble(&bundle(), &[board], |d| {
                vec![(kind::SHA256, d[..31].to_vec())]
            }),
            ImageError::BadTlvLength {
                tlv_type: kind::SHA256,
                len: 31,
                expected: "32",
            },
        ),
    ];
    for (name, bytes, expected) in cases {
        assert_eq!(refusal(&bytes), expected, "{name}");
    }
    let err = ImageError::UnknownProtectedTlv { tlv_type: 0xA9 };
    assert!(err.to_string().starts_with("unknown protected TLV 0x00a9"));
}

#[test]
fn builder_refuses_bad_values() {
    let mut s = spec();
    s.board = "";
    assert_eq!(
        build_unsigned(&bundle(), &s).unwrap_err(),
        ImageError::BadTlvLength {
            tlv_type: kind::BOARD,
            len: 0,
            expected: "1 to 64"
        }
    );
    let mut s = spec();
    s.git_commit = Some("tab\there");
    assert_eq!(
        build_unsigned(&bundle(), &s).unwrap_err(),
        ImageError::BadTlvText {
            tlv_type: kind::GIT_COMMIT
        }
    );
}

#[test]
fn signer_refuses_a_damaged_image() {
    let mut bytes = build_unsigned(&bundle(), &spec()).unwrap();
    bytes[0x200 + 4096] ^= 1;
    assert!(matches!(
        sign(&bytes, &key()),
        Err(ImageError::DigestMismatch { .. })
    ));
}
