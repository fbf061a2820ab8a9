//! iSCSI text: the `key=value\0` pairs of Login and Text PDUs (RFC 7143 §6.1), their
//! reassembly across PDUs with the C bit, and the value encodings (decimal, `0x` hex,
//! `0b` base64) that negotiation and CHAP share.

use std::collections::BTreeSet;
use std::fmt;

/// Longest key name RFC 7143 §6.1 allows.
pub const MAX_KEY_LEN: usize = 63;
/// Longest value we accept. RFC 7143 allows 255 bytes for most keys but 8192 for binary
/// ones (CHAP challenges), so this parser uses the larger bound and lets key handlers be
/// stricter.
pub const MAX_VALUE_LEN: usize = 8192;
/// Default bound for a text reassembled from several PDUs with the C bit.
pub const DEFAULT_TEXT_LIMIT: usize = 64 * 1024;

/// Why a text could not be parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TextError {
    /// A non-empty entry without `=`.
    MissingEquals,
    EmptyKey,
    KeyTooLong,
    /// A key character outside letters, digits and `.-+@_#`.
    InvalidKeyChar,
    ValueTooLong,
    NotUtf8,
    /// The text does not end with a NUL: the last pair was cut off.
    Unterminated,
    /// The same key twice in one text.
    DuplicateKey(String),
    /// The reassembled text exceeds the accumulator's limit.
    TooLong,
}

impl fmt::Display for TextError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TextError::MissingEquals => write!(f, "key=value pair without '='"),
            TextError::EmptyKey => write!(f, "empty key"),
            TextError::KeyTooLong => write!(f, "key longer than {MAX_KEY_LEN} bytes"),
            TextError::InvalidKeyChar => write!(f, "invalid character in key"),
            TextError::ValueTooLong => write!(f, "value longer than {MAX_VALUE_LEN} bytes"),
            TextError::NotUtf8 => write!(f, "text is not UTF-8"),
            TextError::Unterminated => write!(f, "last key=value pair is not NUL-terminated"),
            TextError::DuplicateKey(k) => write!(f, "key {k} sent twice"),
            TextError::TooLong => write!(f, "text too long"),
        }
    }
}

impl std::error::Error for TextError {}

/// Whether `key` is a syntactically valid key name. RFC 7143 §6.1 allows letters, digits,
/// `.`, `-`, `+`, `@` and `_`; `#` is added for the `X#` public extension keys (RFC 7143
/// §13).
pub fn is_valid_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= MAX_KEY_LEN
        && key
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || b".-+@_#".contains(&c))
}

/// Parses a complete text (every pair NUL-terminated). Empty entries, such as the NUL
/// padding some initiators leave at the end, are skipped.
pub fn parse(data: &[u8]) -> Result<Vec<(String, String)>, TextError> {
    let mut pairs = Vec::new();
    let mut seen = BTreeSet::new();
    let mut rest = data;
    while !rest.is_empty() {
        let nul = rest
            .iter()
            .position(|&c| c == 0)
            .ok_or(TextError::Unterminated)?;
        let (entry, tail) = rest.split_at(nul);
        rest = tail.get(1..).unwrap_or_default();
        if entry.is_empty() {
            continue;
        }
        let entry = std::str::from_utf8(entry).map_err(|_| TextError::NotUtf8)?;
        let (key, value) = entry.split_once('=').ok_or(TextError::MissingEquals)?;
        if key.is_empty() {
            return Err(TextError::EmptyKey);
        }
        if key.len() > MAX_KEY_LEN {
            return Err(TextError::KeyTooLong);
        }
        if !is_valid_key(key) {
            return Err(TextError::InvalidKeyChar);
        }
        if value.len() > MAX_VALUE_LEN {
            return Err(TextError::ValueTooLong);
        }
        // A set keeps duplicate detection linear-ish even for a text packed with tiny pairs.
        if !seen.insert(key) {
            return Err(TextError::DuplicateKey(key.to_owned()));
        }
        pairs.push((key.to_owned(), value.to_owned()));
    }
    Ok(pairs)
}

/// Reassembles a text sent over several PDUs with the C (continue) bit: a pair may be split
/// anywhere, so data segments are concatenated until the PDU without C, then parsed.
#[derive(Clone, Debug)]
pub struct TextAccumulator {
    buf: Vec<u8>,
    limit: usize,
}

impl Default for TextAccumulator {
    fn default() -> Self {
        Self::new(DEFAULT_TEXT_LIMIT)
    }
}

impl TextAccumulator {
    /// An accumulator refusing texts longer than `limit` bytes in total.
    pub fn new(limit: usize) -> Self {
        Self {
            buf: Vec::new(),
            limit,
        }
    }

    /// Adds one PDU's data segment. With `continued` (the C bit) the text is incomplete and
    /// `Ok(None)` is returned; otherwise the whole text is parsed and the accumulator is
    /// emptied for the next one. On error the accumulator is emptied too.
    pub fn push(
        &mut self,
        data: &[u8],
        continued: bool,
    ) -> Result<Option<Vec<(String, String)>>, TextError> {
        if self.buf.len().saturating_add(data.len()) > self.limit {
            self.buf = Vec::new();
            return Err(TextError::TooLong);
        }
        self.buf.extend_from_slice(data);
        if continued {
            return Ok(None);
        }
        let text = std::mem::take(&mut self.buf);
        parse(&text).map(Some)
    }

    /// Whether part of a text is waiting for its continuation.
    pub fn is_pending(&self) -> bool {
        !self.buf.is_empty()
    }

    /// Drops any partial text.
    pub fn reset(&mut self) {
        self.buf = Vec::new();
    }
}

/// Builds a text: `key=value\0` appended pair by pair.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TextWriter {
    buf: Vec<u8>,
}

impl TextWriter {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends `key=value\0`. NUL bytes inside `key` or `value` are dropped: configuration
    /// text (aliases, names) must not be able to end a pair early and inject keys.
    pub fn push(&mut self, key: &str, value: &str) {
        self.buf.extend(key.bytes().filter(|&c| c != 0));
        self.buf.push(b'=');
        self.buf.extend(value.bytes().filter(|&c| c != 0));
        self.buf.push(0);
    }

    /// Appends text that is already encoded (NUL-terminated pairs, such as the answer of
    /// [`crate::discovery::send_targets`]).
    pub fn extend_raw(&mut self, text: &[u8]) {
        self.buf.extend_from_slice(text);
    }

    /// Appends `key=<decimal>\0`.
    pub fn push_num(&mut self, key: &str, value: u64) {
        self.push(key, &value.to_string());
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.buf
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }

    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }
}

/// Why a value encoding was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueError {
    /// Neither `0x`/`0X` hex nor `0b`/`0B` base64.
    UnknownEncoding,
    /// Nothing after the prefix.
    Empty,
    BadHex,
    BadBase64,
}

impl fmt::Display for ValueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ValueError::UnknownEncoding => write!(f, "value is neither 0x hex nor 0b base64"),
            ValueError::Empty => write!(f, "empty encoded value"),
            ValueError::BadHex => write!(f, "invalid hex constant"),
            ValueError::BadBase64 => write!(f, "invalid base64 constant"),
        }
    }
}

impl std::error::Error for ValueError {}

fn hex_digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

fn decode_hex(digits: &[u8]) -> Result<Vec<u8>, ValueError> {
    if digits.is_empty() {
        return Err(ValueError::Empty);
    }
    let mut out = Vec::with_capacity(digits.len().div_ceil(2));
    // RFC 7143 §6.1: an odd number of hex digits implies a leading zero nibble.
    let (head, pairs) = if digits.len() % 2 == 1 {
        digits.split_at(1)
    } else {
        digits.split_at(0)
    };
    if let [c] = head {
        out.push(hex_digit(*c).ok_or(ValueError::BadHex)?);
    }
    for pair in pairs.chunks_exact(2) {
        let [hi, lo] = pair else {
            return Err(ValueError::BadHex);
        };
        let hi = hex_digit(*hi).ok_or(ValueError::BadHex)?;
        let lo = hex_digit(*lo).ok_or(ValueError::BadHex)?;
        out.push((hi << 4) | lo);
    }
    Ok(out)
}

fn base64_digit(c: u8) -> Option<u8> {
    match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    }
}

/// Strict RFC 4648 base64: padded to a multiple of 4, `=` only at the end.
fn decode_base64(text: &[u8]) -> Result<Vec<u8>, ValueError> {
    if text.is_empty() {
        return Err(ValueError::Empty);
    }
    let chunks = text.chunks_exact(4);
    if !chunks.remainder().is_empty() {
        return Err(ValueError::BadBase64);
    }
    let quads = chunks.len();
    let mut out = Vec::with_capacity(quads * 3);
    for (i, quad) in chunks.enumerate() {
        let last = i + 1 == quads;
        let [a, b, c, d] = quad else {
            return Err(ValueError::BadBase64);
        };
        let a = base64_digit(*a).ok_or(ValueError::BadBase64)?;
        let b = base64_digit(*b).ok_or(ValueError::BadBase64)?;
        match (*c, *d) {
            (b'=', b'=') if last => out.push((a << 2) | (b >> 4)),
            (c, b'=') if last => {
                let c = base64_digit(c).ok_or(ValueError::BadBase64)?;
                out.push((a << 2) | (b >> 4));
                out.push((b << 4) | (c >> 2));
            }
            (c, d) => {
                let c = base64_digit(c).ok_or(ValueError::BadBase64)?;
                let d = base64_digit(d).ok_or(ValueError::BadBase64)?;
                out.push((a << 2) | (b >> 4));
                out.push((b << 4) | (c >> 2));
                out.push((c << 6) | d);
            }
        }
    }
    Ok(out)
}

/// Decodes a binary value: `0x`/`0X` followed by hex digits, or `0b`/`0B` followed by
/// base64 (RFC 7143 §6.1).
pub fn decode_binary(value: &str) -> Result<Vec<u8>, ValueError> {
    let bytes = value.as_bytes();
    match bytes {
        [b'0', b'x' | b'X', rest @ ..] => decode_hex(rest),
        [b'0', b'b' | b'B', rest @ ..] => decode_base64(rest),
        _ => Err(ValueError::UnknownEncoding),
    }
}

/// Encodes bytes as a `0x` hex constant, the form every initiator understands.
pub fn encode_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(2 + bytes.len() * 2);
    s.push_str("0x");
    for &b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    s
}

/// Parses a numerical value (RFC 7143 §6.1): decimal, `0x` hex or `0b` base64, at most
/// 64 bits. Signs, spaces and empty strings are refused.
pub fn parse_number(value: &str) -> Option<u64> {
    let bytes = value.as_bytes();
    if let [b'0', b'x' | b'X' | b'b' | b'B', ..] = bytes {
        let raw = decode_binary(value).ok()?;
        // Leading zero bytes do not count against the 64-bit limit.
        let significant = match raw.iter().position(|&b| b != 0) {
            Some(first) => raw.get(first..)?,
            None => &[],
        };
        if significant.len() > 8 {
            return None;
        }
        return Some(
            significant
                .iter()
                .fold(0u64, |acc, &b| (acc << 8) | u64::from(b)),
        );
    }
    if bytes.is_empty() || !bytes.iter().all(u8::is_ascii_digit) {
        return None;
    }
    bytes.iter().try_fold(0u64, |acc, &d| {
        acc.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn parse_simple() {
        let t = b"InitiatorName=iqn.2024-01.com.example:host\0SessionType=Normal\0";
        assert_eq!(
            parse(t).unwrap(),
            pairs(&[
                ("InitiatorName", "iqn.2024-01.com.example:host"),
                ("SessionType", "Normal")
            ])
        );
    }

    #[test]
    fn parse_empty_and_padding() {
        assert_eq!(parse(b"").unwrap(), vec![]);
        assert_eq!(parse(b"\0\0\0").unwrap(), vec![]);
        assert_eq!(parse(b"A=1\0\0\0\0").unwrap(), pairs(&[("A", "1")]));
    }

    #[test]
    fn parse_empty_value_and_equals_in_value() {
        assert_eq!(
            parse(b"SendTargets=\0X=a=b\0").unwrap(),
            pairs(&[("SendTargets", ""), ("X", "a=b")])
        );
    }

    #[test]
    fn parse_rejects() {
        let cases: &[(&[u8], TextError)] = &[
            (b"NoEquals\0", TextError::MissingEquals),
            (b"=value\0", TextError::EmptyKey),
            (b"Key=value", TextError::Unterminated),
            (b"A=1\0B=2", TextError::Unterminated),
            (b"Bad Key=1\0", TextError::InvalidKeyChar),
            (b"Bad/Key=1\0", TextError::InvalidKeyChar),
            (b"K\xff=1\0", TextError::NotUtf8),
            (b"K=\xc3\0", TextError::NotUtf8),
            (b"A=1\0A=2\0", TextError::DuplicateKey("A".into())),
        ];
        for (input, err) in cases {
            assert_eq!(parse(input).unwrap_err(), *err, "{input:?}");
        }
    }

    #[test]
    fn parse_limits() {
        let key = "K".repeat(MAX_KEY_LEN);
        assert!(parse(format!("{key}=1\0").as_bytes()).is_ok());
        let key = "K".repeat(MAX_KEY_LEN + 1);
        assert_eq!(
            parse(format!("{key}=1\0").as_bytes()),
            Err(TextError::KeyTooLong)
        );
        let value = "v".repeat(MAX_VALUE_LEN);
        assert!(parse(format!("K={value}\0").as_bytes()).is_ok());
        let value = "v".repeat(MAX_VALUE_LEN + 1);
        assert_eq!(
            parse(format!("K={value}\0").as_bytes()),
            Err(TextError::ValueTooLong)
        );
    }

    #[test]
    fn utf8_values_are_kept() {
        assert_eq!(
            parse("InitiatorAlias=hôte\0".as_bytes()).unwrap(),
            pairs(&[("InitiatorAlias", "hôte")])
        );
    }

    #[test]
    fn extension_keys_parse() {
        assert_eq!(
            parse(b"X-com.example.Foo=1\0X#NodeArchitecture=x\0").unwrap(),
            pairs(&[("X-com.example.Foo", "1"), ("X#NodeArchitecture", "x")])
        );
    }

    #[test]
    fn accumulator_joins_split_pairs() {
        let mut acc = TextAccumulator::new(1024);
        assert_eq!(acc.push(b"Initiator", true).unwrap(), None);
        assert!(acc.is_pending());
        assert_eq!(acc.push(b"Name=iqn.x\0Sess", true).unwrap(), None);
        let got = acc.push(b"ionType=Normal\0", false).unwrap().unwrap();
        assert_eq!(
            got,
            pairs(&[("InitiatorName", "iqn.x"), ("SessionType", "Normal")])
        );
        assert!(!acc.is_pending());
    }

    #[test]
    fn accumulator_limit() {
        let mut acc = TextAccumulator::new(8);
        assert_eq!(acc.push(b"A=123", true).unwrap(), None);
        assert_eq!(acc.push(b"4567\0", false), Err(TextError::TooLong));
        assert!(!acc.is_pending());
        assert_eq!(
            acc.push(b"A=1\0", false).unwrap(),
            Some(pairs(&[("A", "1")]))
        );
    }

    #[test]
    fn accumulator_reports_parse_errors_and_resets() {
        let mut acc = TextAccumulator::default();
        assert_eq!(acc.push(b"A", false), Err(TextError::Unterminated));
        assert!(!acc.is_pending());
        acc.push(b"A=", true).unwrap();
        acc.reset();
        assert!(!acc.is_pending());
    }

    #[test]
    fn writer() {
        let mut w = TextWriter::new();
        assert!(w.is_empty());
        w.push("TargetAlias", "disk\0Evil=1");
        w.push_num("MaxRecvDataSegmentLength", 262144);
        assert_eq!(
            w.as_bytes(),
            b"TargetAlias=diskEvil=1\0MaxRecvDataSegmentLength=262144\0"
        );
        assert_eq!(w.len(), w.clone().into_bytes().len());
        assert_eq!(parse(w.as_bytes()).unwrap().len(), 2);
        w.extend_raw(b"TargetName=x\0");
        assert!(w.as_bytes().ends_with(b"=262144\0TargetName=x\0"));
    }

    #[test]
    fn binary_values() {
        assert_eq!(decode_binary("0x0102ff").unwrap(), vec![1, 2, 0xff]);
        assert_eq!(decode_binary("0XaBcD").unwrap(), vec![0xab, 0xcd]);
        assert_eq!(decode_binary("0x123").unwrap(), vec![0x01, 0x23]);
        assert_eq!(decode_binary("0bAQL/").unwrap(), vec![1, 2, 0xff]);
        assert_eq!(decode_binary("0BAQI=").unwrap(), vec![1, 2]);
        assert_eq!(decode_binary("0bAQ==").unwrap(), vec![1]);
        for bad in [
            "",
            "0x",
            "0b",
            "12",
            "0xg0",
            "0x 1",
            "0bAQ=",
            "0bA===",
            "0bAQ==AQ==",
            "0b@@@@",
            "0bAQ=A",
        ] {
            assert!(decode_binary(bad).is_err(), "{bad}");
        }
        assert_eq!(decode_binary("0x"), Err(ValueError::Empty));
        assert_eq!(decode_binary("abc"), Err(ValueError::UnknownEncoding));
    }

    #[test]
    fn base64_round_trip_against_known_encoding() {
        // "oversize\n" is what libiscsi's oversize CHAP test prepends ("b3ZlcnNpemUK").
        assert_eq!(
            decode_binary("0bb3ZlcnNpemUK").unwrap(),
            b"oversize\n".to_vec()
        );
    }

    #[test]
    fn hex_encoding() {
        assert_eq!(encode_hex(&[0, 0xab, 0x10]), "0x00ab10");
        assert_eq!(encode_hex(&[]), "0x");
    }

    #[test]
    fn numbers() {
        assert_eq!(parse_number("0"), Some(0));
        assert_eq!(parse_number("262144"), Some(262_144));
        assert_eq!(parse_number("18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_number("18446744073709551616"), None);
        assert_eq!(parse_number("0x10"), Some(16));
        assert_eq!(parse_number("0x00000000000000000001"), Some(1));
        assert_eq!(parse_number("0x1ffffffffffffffff"), None);
        assert_eq!(parse_number("0bAQA="), Some(256));
        for bad in ["", "-1", "+1", " 1", "1 ", "1e3", "0x", "abc"] {
            assert_eq!(parse_number(bad), None, "{bad}");
        }
    }
}
