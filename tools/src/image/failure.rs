//! How a `dyad image` command fails: refused (exit 1, the message names the reason) or
//! unusable input (exit 2: a file that cannot be read or written, a bad argument), and
//! the file helpers that say which file.

use std::fmt;
use std::path::Path;
use std::process::ExitCode;

use ::image::{FlashError, PublicKey, SigningKey};

pub enum Failure {
    /// Exit 1: the image, key or flash was refused.
    Refused(String),
    /// Exit 2: usage, or a file that cannot be used.
    Usage(String),
}

impl Failure {
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Failure::Refused(_) => ExitCode::from(1),
            Failure::Usage(_) => ExitCode::from(2),
        }
    }

    pub fn refused(why: impl fmt::Display) -> Failure {
        Failure::Refused(why.to_string())
    }

    /// A flash that cannot be read or written, or is not a board flash at all, is unusable
    /// input (2); everything else the flash says is a refusal (1).
    pub fn flash(why: FlashError) -> Failure {
        match why {
            FlashError::Io(_) | FlashError::WrongSize { .. } => Failure::Usage(why.to_string()),
            _ => Failure::Refused(why.to_string()),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Refused(why) | Failure::Usage(why) => f.write_str(why),
        }
    }
}

pub fn read(path: &Path) -> Result<Vec<u8>, Failure> {
    std::fs::read(path).map_err(|e| Failure::Usage(format!("{}: {e}", path.display())))
}

pub fn write(path: &Path, data: &[u8]) -> Result<(), Failure> {
    std::fs::write(path, data).map_err(|e| Failure::Usage(format!("{}: {e}", path.display())))
}

fn read_text(path: &Path) -> Result<String, Failure> {
    std::fs::read_to_string(path).map_err(|e| Failure::Usage(format!("{}: {e}", path.display())))
}

/// A public key file (a private key file works too: its public half is used).
pub fn public_key(path: &Path) -> Result<PublicKey, Failure> {
    PublicKey::from_pem(&read_text(path)?)
        .map_err(|e| Failure::Usage(format!("{}: {e}", path.display())))
}

/// A private key file.
pub fn signing_key(path: &Path) -> Result<SigningKey, Failure> {
    SigningKey::from_pem(&read_text(path)?)
        .map_err(|e| Failure::Usage(format!("{}: {e}", path.display())))
}
