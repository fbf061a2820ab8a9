//! The error of a command line that does not parse: which verb, and what is wrong, in the
//! words the console prints after `error: `.

use alloc::string::String;
use core::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageError {
    /// The verb (or `config SUBCOMMAND`) the problem is in; `None` when there is no verb to
    /// blame (an unknown verb, an unterminated quote).
    pub verb: Option<&'static str>,
    pub message: String,
}

impl UsageError {
    pub fn new(verb: &'static str, message: impl Into<String>) -> Self {
        UsageError {
            verb: Some(verb),
            message: message.into(),
        }
    }

    /// An error not about one verb.
    pub fn general(message: impl Into<String>) -> Self {
        UsageError {
            verb: None,
            message: message.into(),
        }
    }
}

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.verb {
            Some(verb) => write!(f, "{verb}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl core::error::Error for UsageError {}
