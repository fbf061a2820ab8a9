//! Numbers and sizes as ctld reads them (libutil's `expand_number`): `4096`, `4G`, `512k`,
//! `0x200`; and sizes written back with the largest exact suffix.

use alloc::format;
use alloc::string::String;

/// Why a number did not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumberError {
    NotANumber,
    TooLarge,
    /// `expand_number` reads a leading 0 as octal, which nobody writing `010` means.
    LeadingZero,
}

impl NumberError {
    /// The reason, for "WHAT 'TEXT' REASON".
    pub fn reason(self) -> &'static str {
        match self {
            NumberError::NotANumber => {
                "is not a number (digits with an optional K, M, G, T, P or E suffix)"
            }
            NumberError::TooLarge => "is too large",
            NumberError::LeadingZero => {
                "has a leading zero, which ctld would read as octal: write it without"
            }
        }
    }
}

const SUFFIXES: [(char, u32); 6] = [
    ('K', 10),
    ('M', 20),
    ('G', 30),
    ('T', 40),
    ('P', 50),
    ('E', 60),
];

/// A number with an optional binary suffix (K = 1024, ... E = 2^60, any case, optionally
/// followed by B), or a `0x` hexadecimal number.
pub fn parse_number(text: &str) -> Result<u64, NumberError> {
    if let Some(hex) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        if hex.is_empty() || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(NumberError::NotANumber);
        }
        return u64::from_str_radix(hex, 16).map_err(|_| NumberError::TooLarge);
    }
    let digits_end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, suffix) = text.split_at(digits_end);
    if digits.is_empty() {
        return Err(NumberError::NotANumber);
    }
    let unit = suffix.to_ascii_uppercase();
    let unit = unit.strip_suffix('B').unwrap_or(&unit);
    let shift = if unit.is_empty() {
        0
    } else {
        SUFFIXES
            .iter()
            .find(|(s, _)| unit.len() == 1 && unit.starts_with(*s))
            .map(|(_, shift)| *shift)
            .ok_or(NumberError::NotANumber)?
    };
    if digits.len() > 1 && digits.starts_with('0') {
        return Err(NumberError::LeadingZero);
    }
    let n: u64 = digits.parse().map_err(|_| NumberError::TooLarge)?;
    let scaled = n.checked_shl(shift).ok_or(NumberError::TooLarge)?;
    if scaled >> shift != n {
        return Err(NumberError::TooLarge);
    }
    Ok(scaled)
}

/// `bytes` with the largest suffix that divides it exactly: `4G`, `1536K`, `1000`.
pub fn format_size(bytes: u64) -> String {
    for (suffix, shift) in SUFFIXES.iter().rev() {
        let unit = 1u64 << shift;
        if bytes != 0 && bytes % unit == 0 {
            return format!("{}{}", bytes >> shift, suffix);
        }
    }
    format!("{bytes}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_expand_number_forms() {
        for (text, n) in [
            ("0", 0),
            ("4096", 4096),
            ("4k", 4096),
            ("4K", 4096),
            ("4KB", 4096),
            ("4G", 4 << 30),
            ("4gb", 4 << 30),
            ("1T", 1 << 40),
            ("2P", 2 << 50),
            ("1E", 1 << 60),
            ("12B", 12),
            ("0x200", 512),
        ] {
            assert_eq!(parse_number(text), Ok(n), "{text}");
        }
    }

    #[test]
    fn refuses_bad_numbers() {
        for (text, e) in [
            ("", NumberError::NotANumber),
            ("K", NumberError::NotANumber),
            ("4Q", NumberError::NotANumber),
            ("4KBB", NumberError::NotANumber),
            ("-1", NumberError::NotANumber),
            ("0x", NumberError::NotANumber),
            ("010", NumberError::LeadingZero),
            ("16E", NumberError::TooLarge),
            ("99999999999999999999", NumberError::TooLarge),
        ] {
            assert_eq!(parse_number(text), Err(e), "{text}");
        }
    }

    #[test]
    fn formats_with_the_largest_exact_suffix() {
        for n in [0u64, 1, 512, 1536, 4 << 30, 3 << 40, u64::MAX, 1 << 63] {
            assert_eq!(parse_number(&format_size(n)), Ok(n));
        }
        assert_eq!(format_size(4 << 30), "4G");
        assert_eq!(format_size(1536), "1536");
        assert_eq!(format_size(3 << 19), "1536K");
    }
}
