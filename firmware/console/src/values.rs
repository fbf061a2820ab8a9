//! Reads the values given to flags: decimal numbers within a range, sizes, backend names and
//! `name=value` options. Each error names what was being read (`-l`, `LUN`) and the text, so
//! the console can say `create: -s '12Q' is not a size`.

use alloc::format;
use alloc::string::String;

use config::size::{parse_number, NumberError};
use config::Backend;

/// A decimal number from 0 to `max`. `what` names it in the error (`-l`, `LUN`).
pub fn number(what: &str, text: &str, max: u64) -> Result<u64, String> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{what} '{text}' is not a number"));
    }
    // ctladm reads numbers with strtol(…, 0), where `010` is 8: refuse the form rather than
    // guess which the administrator meant.
    if text.len() > 1 && text.starts_with('0') {
        return Err(format!(
            "{what} '{text}' has a leading zero, which ctladm would read as octal: write it without"
        ));
    }
    match text.parse::<u64>() {
        Ok(n) if n <= max => Ok(n),
        _ => Err(format!("{what} '{text}' is out of range (0 to {max})")),
    }
}

/// A LUN id, a session id, a block size: anything that fits a u32.
pub fn number_u32(what: &str, text: &str) -> Result<u32, String> {
    let n = number(what, text, u64::from(u32::MAX))?;
    u32::try_from(n).map_err(|_| format!("{what} '{text}' is out of range (0 to {})", u32::MAX))
}

/// A port number.
pub fn port(what: &str, text: &str) -> Result<u16, String> {
    let n = number(what, text, u64::from(u16::MAX))?;
    u16::try_from(n).map_err(|_| format!("{what} '{text}' is out of range (0 to {})", u16::MAX))
}

/// A size in bytes as ctl.conf writes it: `4096`, `512M`, `1G` (the config crate's reading,
/// so the console and the file agree).
pub fn size(what: &str, text: &str) -> Result<u64, String> {
    parse_number(text).map_err(|e| match e {
        NumberError::NotANumber => format!("{what} '{text}' is not a size"),
        other => format!("{what} '{text}' {}", other.reason()),
    })
}

/// `block` or `ramdisk`.
pub fn backend(what: &str, text: &str) -> Result<Backend, String> {
    match text {
        "block" => Ok(Backend::Block),
        "ramdisk" => Ok(Backend::Ramdisk),
        _ => Err(format!(
            "{what} '{text}' is not a backend (block or ramdisk)"
        )),
    }
}

/// `name=value`; the value may be empty, the name may not. What the names and values mean is
/// the executor's business: it checks them as ctl.conf's `option` does.
pub fn option(what: &str, text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((name, value)) if !name.is_empty() => Ok((name.into(), value.into())),
        _ => Err(format!("{what} '{text}' is not name=value")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(number("-l", "0", 10), Ok(0));
        assert_eq!(number("-l", "10", 10), Ok(10));
        assert_eq!(number_u32("-l", "4294967295"), Ok(u32::MAX));
        assert_eq!(port("-p", "65535"), Ok(65535));
    }

    #[test]
    fn refuses_non_numbers() {
        for text in ["", "x", "-1", "+1", "1.5", "0x10", "1K", " 1"] {
            assert_eq!(
                number("-l", text, 10),
                Err(format!("-l '{text}' is not a number")),
                "{text}"
            );
        }
    }

    #[test]
    fn refuses_a_leading_zero() {
        assert_eq!(
            number("LUN", "010", 100),
            Err(
                "LUN '010' has a leading zero, which ctladm would read as octal: write it without"
                    .into()
            )
        );
    }

    #[test]
    fn refuses_numbers_out_of_range() {
        assert_eq!(
            number("-l", "11", 10),
            Err("-l '11' is out of range (0 to 10)".into())
        );
        assert_eq!(
            number("-l", "99999999999999999999999", 10),
            Err("-l '99999999999999999999999' is out of range (0 to 10)".into())
        );
        assert_eq!(
            number_u32("-c", "4294967296"),
            Err("-c '4294967296' is out of range (0 to 4294967295)".into())
        );
        assert_eq!(
            port("-p", "65536"),
            Err("-p '65536' is out of range (0 to 65535)".into())
        );
    }

    #[test]
    fn sizes() {
        assert_eq!(size("-s", "4096"), Ok(4096));
        assert_eq!(size("-s", "512M"), Ok(512 << 20));
        assert_eq!(size("-s", "1G"), Ok(1 << 30));
    }

    #[test]
    fn refuses_bad_sizes() {
        assert_eq!(size("-s", "12Q"), Err("-s '12Q' is not a size".into()));
        assert_eq!(size("-s", "16E"), Err("-s '16E' is too large".into()));
        assert!(size("-s", "01G").unwrap_err().contains("leading zero"));
    }

    #[test]
    fn backends() {
        assert_eq!(backend("-b", "block"), Ok(Backend::Block));
        assert_eq!(backend("-b", "ramdisk"), Ok(Backend::Ramdisk));
        assert_eq!(
            backend("-b", "Block"),
            Err("-b 'Block' is not a backend (block or ramdisk)".into())
        );
    }

    #[test]
    fn options() {
        assert_eq!(
            option("-o", "vendor=ACME"),
            Ok(("vendor".into(), "ACME".into()))
        );
        assert_eq!(option("-o", "a=b=c"), Ok(("a".into(), "b=c".into())));
        assert_eq!(
            option("-o", "vendor="),
            Ok(("vendor".into(), String::new()))
        );
    }

    #[test]
    fn refuses_options_without_name_or_equals() {
        for text in ["vendor", "=ACME", "="] {
            assert_eq!(
                option("-o", text),
                Err(format!("-o '{text}' is not name=value"))
            );
        }
    }
}
