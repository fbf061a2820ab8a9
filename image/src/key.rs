//! Ed25519 keys in the files imgtool reads and writes: the private key as unencrypted
//! PKCS#8 PEM (`BEGIN PRIVATE KEY`), the public key as SubjectPublicKeyInfo PEM (`BEGIN
//! PUBLIC KEY`); and the KEYHASH TLV, the SHA-256 of the SPKI DER (not of the raw key).

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::Signer;

use crate::sha256;

/// Why a key file was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyError {
    /// Not a PEM public or private Ed25519 key.
    NotAPublicKey,
    /// Not a PEM PKCS#8 Ed25519 private key.
    NotAPrivateKey,
    /// Encoding a key failed (not expected for Ed25519; kept so no path panics).
    Encode,
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyError::NotAPublicKey => write!(
                f,
                "not an Ed25519 key in PEM (`BEGIN PUBLIC KEY` or `BEGIN PRIVATE KEY`)"
            ),
            KeyError::NotAPrivateKey => write!(
                f,
                "not an unencrypted Ed25519 private key in PKCS#8 PEM (`BEGIN PRIVATE KEY`)"
            ),
            KeyError::Encode => write!(f, "could not encode the key"),
        }
    }
}

impl core::error::Error for KeyError {}

/// A verifying key with its KEYHASH.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    key: ed25519_dalek::VerifyingKey,
    hash: [u8; 32],
}

impl PublicKey {
    /// From the 32 raw bytes of an Ed25519 public key.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<PublicKey, KeyError> {
        let key =
            ed25519_dalek::VerifyingKey::from_bytes(bytes).map_err(|_| KeyError::NotAPublicKey)?;
        PublicKey::new(key)
    }

    /// From a PEM file: a public key, or a private key whose public half is used (as
    /// `imgtool verify -k` accepts either).
    pub fn from_pem(pem: &str) -> Result<PublicKey, KeyError> {
        match ed25519_dalek::VerifyingKey::from_public_key_pem(pem.trim()) {
            Ok(key) => PublicKey::new(key),
            Err(_) => SigningKey::from_pem(pem)
                .map(|key| key.public_key())
                .map_err(|_| KeyError::NotAPublicKey),
        }
    }

    fn new(key: ed25519_dalek::VerifyingKey) -> Result<PublicKey, KeyError> {
        let der = key.to_public_key_der().map_err(|_| KeyError::Encode)?;
        Ok(PublicKey {
            key,
            hash: sha256(der.as_bytes()),
        })
    }

    /// The KEYHASH TLV value: SHA-256 of the SubjectPublicKeyInfo DER.
    pub fn key_hash(&self) -> [u8; 32] {
        self.hash
    }

    /// The SubjectPublicKeyInfo DER.
    pub fn spki_der(&self) -> Result<Vec<u8>, KeyError> {
        self.key
            .to_public_key_der()
            .map(|der| der.as_bytes().into())
            .map_err(|_| KeyError::Encode)
    }

    /// The public key file (`BEGIN PUBLIC KEY`), as `imgtool getpub -e pem` writes it.
    pub fn to_pem(&self) -> Result<String, KeyError> {
        self.key
            .to_public_key_pem(LineEnding::LF)
            .map_err(|_| KeyError::Encode)
    }

    /// Checks `signature` over `message` with the strict rules (no malleable signatures,
    /// no small-order keys).
    pub fn verify(&self, message: &[u8], signature: &[u8; 64]) -> bool {
        let signature = ed25519_dalek::Signature::from_bytes(signature);
        self.key.verify_strict(message, &signature).is_ok()
    }
}

/// A signing key. Never committed: tests make their own, the development key lives under
/// the ignored `var/enclosure/keys/`.
pub struct SigningKey {
    key: ed25519_dalek::SigningKey,
}

impl SigningKey {
    /// From 32 random bytes (the caller brings the randomness: this crate has no RNG).
    pub fn from_seed(seed: &[u8; 32]) -> SigningKey {
        SigningKey {
            key: ed25519_dalek::SigningKey::from_bytes(seed),
        }
    }

    /// From an unencrypted PKCS#8 PEM file (v1 as imgtool writes it, or v2 with the
    /// public key as OpenSSL may).
    pub fn from_pem(pem: &str) -> Result<SigningKey, KeyError> {
        ed25519_dalek::SigningKey::from_pkcs8_pem(pem.trim())
            .map(|key| SigningKey { key })
            .map_err(|_| KeyError::NotAPrivateKey)
    }

    /// The private key file, PKCS#8 v1 (the seed only) as `imgtool keygen -t ed25519`
    /// writes it.
    pub fn to_pem(&self) -> Result<String, KeyError> {
        let pair = ed25519_dalek::pkcs8::KeypairBytes {
            secret_key: self.key.to_bytes(),
            public_key: None,
        };
        pair.to_pkcs8_pem(LineEnding::LF)
            .map(|pem| String::from(pem.as_str()))
            .map_err(|_| KeyError::Encode)
    }

    /// The matching public key.
    pub fn public_key(&self) -> PublicKey {
        let key = self.key.verifying_key();
        // Encoding a valid verifying key as SPKI cannot fail; fall back to hashing the
        // raw key rather than panic, which would only make verification refuse.
        PublicKey::new(key).unwrap_or(PublicKey {
            key,
            hash: sha256(key.as_bytes()),
        })
    }

    /// Signs `message` (for images: the 32-byte digest).
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.key.sign(message).to_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The key imgtool 2.5.0 wrote with `keygen -t ed25519`, and its `getpub -e pem`.
    const IMGTOOL_PRIVATE: &str = "-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEILHlQMOpcbWcZYg9T5b9AZPsHKLjjO6cnyj4mGMq1tmz
-----END PRIVATE KEY-----
";
    const IMGTOOL_PUBLIC: &str = "-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEAF2RzunzKb2Q3vTyXS+4fxEpDsxKoRqnSNFfD93jains=
-----END PUBLIC KEY-----
";

    #[test]
    fn reads_and_writes_imgtool_files() {
        let private = SigningKey::from_pem(IMGTOOL_PRIVATE).unwrap();
        assert_eq!(private.to_pem().unwrap(), IMGTOOL_PRIVATE);
        let public = PublicKey::from_pem(IMGTOOL_PUBLIC).unwrap();
        assert_eq!(public.to_pem().unwrap(), IMGTOOL_PUBLIC);
        assert_eq!(private.public_key(), public);
        // A private key file is accepted where a public key is expected.
        assert_eq!(PublicKey::from_pem(IMGTOOL_PRIVATE).unwrap(), public);
    }

    #[test]
    fn key_hash_is_over_the_spki_der() {
        let public = PublicKey::from_pem(IMGTOOL_PUBLIC).unwrap();
        let der = public.spki_der().unwrap();
        assert_eq!(der.len(), 44);
        assert_eq!(
            der[..12],
            [0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00]
        );
        assert_eq!(public.key_hash(), sha256(&der));
        // `imgtool getpubhash` of that key.
        assert_eq!(
            crate::hex::encode(&public.key_hash()),
            "7b9380ab6be813076391573d8aaa81cd4ca797333d8eb0060d248ee5707b484a"
        );
    }

    #[test]
    fn refuses_other_files() {
        assert_eq!(PublicKey::from_pem("hello"), Err(KeyError::NotAPublicKey));
        assert!(matches!(
            SigningKey::from_pem(IMGTOOL_PUBLIC),
            Err(KeyError::NotAPrivateKey)
        ));
        // An RSA public key (SPKI with another algorithm).
        let rsa = "-----BEGIN PUBLIC KEY-----
MFwwDQYJKoZIhvcNAQEBBQADSwAwSAJBAKnpmtfVyHYIF8+kobYpN0VM5cE4gvAM
tpXqDnqiO4bnBvMxXozXMmk7dkFwTIPHIWl4lmYuUIxVqk4n1fr/eZUCAwEAAQ==
-----END PUBLIC KEY-----";
        assert_eq!(PublicKey::from_pem(rsa), Err(KeyError::NotAPublicKey));
    }

    #[test]
    fn sign_and_verify() {
        let key = SigningKey::from_seed(&[9; 32]);
        let signature = key.sign(b"digest");
        assert!(key.public_key().verify(b"digest", &signature));
        assert!(!key.public_key().verify(b"digesT", &signature));
        let other = SigningKey::from_seed(&[8; 32]);
        assert!(!other.public_key().verify(b"digest", &signature));
        let round = SigningKey::from_pem(&key.to_pem().unwrap()).unwrap();
        assert_eq!(round.public_key(), key.public_key());
    }
}
