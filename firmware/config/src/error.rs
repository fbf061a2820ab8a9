//! Where something was written in a ctl.conf, and the error that points there.

use alloc::string::String;
use core::fmt;

/// A line and column (both from 1) in the configuration text. Line 0 means "not from a
/// file" (built by the console, say).
///
/// Where a thing was written is not part of its value: two configurations that say the same
/// thing compare equal whatever their layout, which is what `parse(to_text(c)) == c` needs.
#[derive(Debug, Clone, Copy, Default)]
pub struct Place {
    pub line: u32,
    pub column: u32,
}

impl Place {
    pub const fn new(line: u32, column: u32) -> Self {
        Place { line, column }
    }

    /// Whether this place came from a file.
    pub fn is_known(&self) -> bool {
        self.line != 0
    }
}

impl PartialEq for Place {
    fn eq(&self, _: &Place) -> bool {
        true
    }
}

impl Eq for Place {}

/// A configuration that cannot be used, and why. `line` and `column` point at the statement
/// at fault; `related` at the other statement of a conflict (the first definition of a
/// duplicate name, the LUN already on a path), which the message names too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: String,
    pub line: u32,
    pub column: u32,
    pub message: String,
    pub related: Option<Place>,
}

impl ConfigError {
    pub fn new(file: &str, at: Place, message: String) -> Self {
        ConfigError {
            file: file.into(),
            line: at.line,
            column: at.column,
            message,
            related: None,
        }
    }

    /// An error about two statements. `message` is completed with " at FILE:LINE:COL" for
    /// `other` when that place is known.
    pub fn conflict(file: &str, at: Place, message: String, other: Place) -> Self {
        let mut message = message;
        if other.is_known() {
            message.push_str(&alloc::format!(
                " at {}:{}:{}",
                file,
                other.line,
                other.column
            ));
        }
        ConfigError {
            file: file.into(),
            line: at.line,
            column: at.column,
            message,
            related: Some(other).filter(Place::is_known),
        }
    }

    pub fn place(&self) -> Place {
        Place::new(self.line, self.column)
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file, self.message)
        } else {
            write!(
                f,
                "{}:{}:{}: {}",
                self.file, self.line, self.column, self.message
            )
        }
    }
}
