//! CHAP with MD5 (RFC 1994, RFC 7143 §12.1.3): the target's side of one-way and mutual
//! authentication during the login security stage.
//!
//! The exchange after `AuthMethod=CHAP` was agreed:
//! 1. initiator `CHAP_A=<list>`; target `CHAP_A=5`, `CHAP_I=<id>`, `CHAP_C=<challenge>`;
//! 2. initiator `CHAP_N=<user>`, `CHAP_R=<MD5(id ‖ secret ‖ challenge)>` and, for mutual
//!    CHAP, its own `CHAP_I`/`CHAP_C`; the target checks the response and, for mutual CHAP,
//!    answers `CHAP_N=<mutual user>`, `CHAP_R=<MD5(id' ‖ mutual secret ‖ challenge')>`.

use std::fmt;

use md5::{Digest, Md5};

use crate::text::{decode_binary, encode_hex, parse_number, TextWriter};

/// The CHAP algorithm number of MD5 (RFC 1994 / IANA PPP CHAP algorithms).
pub const CHAP_MD5: u8 = 5;
/// Length of the challenges we send. RFC 7143 §12.1.3 asks for at least as long as the
/// digest; twice that leaves margin.
pub const CHALLENGE_LEN: usize = 32;
/// Longest challenge accepted from an initiator (RFC 7143 §12.1.3: 1024 bytes).
pub const MAX_CHALLENGE_LEN: usize = 1024;
/// An MD5 CHAP response.
pub const RESPONSE_LEN: usize = 16;

/// Why CHAP authentication failed. All of them end the login with an authentication
/// failure (02/01), except [`ChapError::Random`], a target error (03/00).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChapError {
    /// CHAP_A does not list MD5 (5).
    NoMd5,
    /// A value is not in a valid encoding, or a number out of range.
    BadValue(&'static str),
    /// A key the current step requires is absent.
    MissingKey(&'static str),
    /// A key that does not belong to the current step.
    UnexpectedKey(&'static str),
    /// The initiator's challenge is empty or longer than [`MAX_CHALLENGE_LEN`].
    ChallengeLength,
    /// The initiator sent our own challenge back (a reflection attack).
    ReflectedChallenge,
    /// CHAP_N is none of the configured users.
    WrongName,
    /// CHAP_R does not match.
    WrongResponse,
    /// The initiator asked to authenticate the target, which has no mutual secret.
    NoMutualSecret,
    /// Mutual CHAP is configured but the initiator did not send CHAP_I/CHAP_C.
    MutualRequired,
    /// The system random generator failed.
    Random,
}

impl fmt::Display for ChapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChapError::NoMd5 => write!(f, "CHAP_A does not offer MD5 (5)"),
            ChapError::BadValue(k) => write!(f, "malformed {k}"),
            ChapError::MissingKey(k) => write!(f, "{k} missing"),
            ChapError::UnexpectedKey(k) => write!(f, "{k} not expected now"),
            ChapError::ChallengeLength => write!(f, "initiator challenge has a bad length"),
            ChapError::ReflectedChallenge => write!(f, "initiator reflected our challenge"),
            ChapError::WrongName => write!(f, "unknown CHAP user"),
            ChapError::WrongResponse => write!(f, "wrong CHAP response"),
            ChapError::NoMutualSecret => write!(f, "mutual CHAP requested but not configured"),
            ChapError::MutualRequired => write!(f, "mutual CHAP required"),
            ChapError::Random => write!(f, "random generator failure"),
        }
    }
}

impl std::error::Error for ChapError {}

/// Checks a CHAP_A list (comma-separated algorithm numbers) for MD5. Each entry must be a
/// whole number: "56" does not offer 5.
pub fn select_algorithm(list: &str) -> Result<u8, ChapError> {
    if list.is_empty() {
        return Err(ChapError::BadValue("CHAP_A"));
    }
    if list
        .split(',')
        .any(|item| parse_number(item) == Some(u64::from(CHAP_MD5)))
    {
        Ok(CHAP_MD5)
    } else {
        Err(ChapError::NoMd5)
    }
}

/// MD5(id ‖ secret ‖ challenge), the CHAP response (RFC 1994 §4.1).
pub fn md5_response(id: u8, secret: &[u8], challenge: &[u8]) -> [u8; RESPONSE_LEN] {
    let mut h = Md5::new();
    h.update([id]);
    h.update(secret);
    h.update(challenge);
    h.finalize().into()
}

/// Compares two byte strings in time that depends only on their lengths, so a guessed
/// response does not reveal how many leading bytes were right.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    // black_box keeps the optimiser from turning the fold into an early-exit compare.
    std::hint::black_box(diff) == 0
}

/// Parses a CHAP_I value: a number 0..=255.
pub fn parse_identifier(value: &str) -> Result<u8, ChapError> {
    parse_number(value)
        .and_then(|n| u8::try_from(n).ok())
        .ok_or(ChapError::BadValue("CHAP_I"))
}

/// A challenge the target sent: identifier and random bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Challenge {
    pub id: u8,
    pub bytes: Vec<u8>,
}

impl Challenge {
    /// A fresh random identifier and [`CHALLENGE_LEN`]-byte challenge.
    pub fn generate() -> Result<Self, ChapError> {
        let mut buf = [0u8; CHALLENGE_LEN + 1];
        getrandom::fill(&mut buf).map_err(|_| ChapError::Random)?;
        let (id, bytes) = buf.split_first().ok_or(ChapError::Random)?;
        Ok(Self {
            id: *id,
            bytes: bytes.to_vec(),
        })
    }

    /// Writes `CHAP_A=5`, `CHAP_I` and `CHAP_C` (hex, which every initiator decodes).
    pub fn write(&self, out: &mut TextWriter) {
        out.push_num("CHAP_A", u64::from(CHAP_MD5));
        out.push_num("CHAP_I", u64::from(self.id));
        out.push("CHAP_C", &encode_hex(&self.bytes));
    }
}

/// The CHAP keys of one login text, as the initiator sent them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChapKeys<'a> {
    pub a: Option<&'a str>,
    pub i: Option<&'a str>,
    pub c: Option<&'a str>,
    pub n: Option<&'a str>,
    pub r: Option<&'a str>,
}

impl<'a> ChapKeys<'a> {
    /// Collects CHAP_A/I/C/N/R from a parsed text (other keys are ignored).
    pub fn from_pairs(pairs: &'a [(String, String)]) -> Self {
        let mut keys = Self::default();
        for (k, v) in pairs {
            let slot = match k.as_str() {
                "CHAP_A" => &mut keys.a,
                "CHAP_I" => &mut keys.i,
                "CHAP_C" => &mut keys.c,
                "CHAP_N" => &mut keys.n,
                "CHAP_R" => &mut keys.r,
                _ => continue,
            };
            *slot = Some(v.as_str());
        }
        keys
    }

    /// Whether `key` is one of the CHAP keys.
    pub fn is_chap_key(key: &str) -> bool {
        matches!(key, "CHAP_A" | "CHAP_I" | "CHAP_C" | "CHAP_N" | "CHAP_R")
    }

    fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// Where a CHAP exchange stands after a step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChapProgress {
    /// More PDUs are needed (the challenge was sent, or nothing happened yet).
    InProgress,
    /// The initiator is authenticated (and, for mutual CHAP, our answer was written).
    Authenticated,
}

/// One `chap USER SECRET` or `chap-mutual USER SECRET MUSER MSECRET` line of an auth-group.
#[derive(Clone, PartialEq, Eq)]
pub struct ChapCredential {
    /// The CHAP_N the initiator authenticates as.
    pub user: String,
    pub secret: String,
    /// (user, secret) the target answers with when the initiator asks for mutual CHAP.
    pub mutual: Option<(String, String)>,
}

impl ChapCredential {
    /// A one-way credential.
    pub fn new(user: impl Into<String>, secret: impl Into<String>) -> Self {
        Self {
            user: user.into(),
            secret: secret.into(),
            mutual: None,
        }
    }

    /// The same credential, with the target's own user and secret for mutual CHAP.
    pub fn with_mutual(mut self, user: impl Into<String>, secret: impl Into<String>) -> Self {
        self.mutual = Some((user.into(), secret.into()));
        self
    }

    /// Whether `other` names the same user with the same secret (what ctld's
    /// `portal-name-auth` discovery filter asks of a target's auth-group). The secrets are
    /// compared in constant time.
    pub fn same_user_and_secret(&self, other: &ChapCredential) -> bool {
        self.user == other.user && constant_time_eq(self.secret.as_bytes(), other.secret.as_bytes())
    }
}

impl fmt::Debug for ChapCredential {
    // Secrets stay out of logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChapCredential")
            .field("user", &self.user)
            .field("mutual_user", &self.mutual.as_ref().map(|(u, _)| u))
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Debug)]
enum State {
    AwaitAlgorithm,
    AwaitResponse(Challenge),
    /// Authenticated with this entry of the credentials.
    Done(usize),
}

/// The target side of one CHAP exchange.
#[derive(Clone)]
pub struct ChapTarget {
    /// The users the initiator may authenticate as; its CHAP_N picks one.
    credentials: Vec<ChapCredential>,
    state: State,
}

impl fmt::Debug for ChapTarget {
    // Secrets stay out of logs (ChapCredential's Debug omits them).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChapTarget")
            .field("credentials", &self.credentials)
            .field("state", &self.state)
            .finish()
    }
}

impl ChapTarget {
    /// An exchange in which the initiator may authenticate as any of `credentials`.
    pub fn new(credentials: Vec<ChapCredential>) -> Self {
        Self {
            credentials,
            state: State::AwaitAlgorithm,
        }
    }

    /// The credential the initiator authenticated with, once it has.
    pub fn credential(&self) -> Option<&ChapCredential> {
        match self.state {
            State::Done(i) => self.credentials.get(i),
            _ => None,
        }
    }

    /// The entry whose user is `name`. Every entry is compared, so the time taken does not
    /// tell which user exists.
    fn find(&self, name: &str) -> Option<usize> {
        let mut found = None;
        for (i, c) in self.credentials.iter().enumerate() {
            if constant_time_eq(name.as_bytes(), c.user.as_bytes()) && found.is_none() {
                found = Some(i);
            }
        }
        found
    }

    pub fn is_authenticated(&self) -> bool {
        matches!(self.state, State::Done(_))
    }

    /// Runs one step with the CHAP keys of one complete login text, writing the target's
    /// keys to `out`.
    pub fn step(
        &mut self,
        keys: &ChapKeys<'_>,
        out: &mut TextWriter,
    ) -> Result<ChapProgress, ChapError> {
        match &self.state {
            State::AwaitAlgorithm => {
                let Some(list) = keys.a else {
                    if keys.is_empty() {
                        return Ok(ChapProgress::InProgress);
                    }
                    return Err(ChapError::MissingKey("CHAP_A"));
                };
                if keys.n.is_some() || keys.r.is_some() || keys.i.is_some() || keys.c.is_some() {
                    return Err(ChapError::UnexpectedKey("CHAP_N/R/I/C before CHAP_A"));
                }
                select_algorithm(list)?;
                let challenge = Challenge::generate()?;
                challenge.write(out);
                self.state = State::AwaitResponse(challenge);
                Ok(ChapProgress::InProgress)
            }
            State::AwaitResponse(challenge) => {
                if keys.a.is_some() {
                    return Err(ChapError::UnexpectedKey("CHAP_A"));
                }
                let name = keys.n.ok_or(ChapError::MissingKey("CHAP_N"))?;
                let response = keys.r.ok_or(ChapError::MissingKey("CHAP_R"))?;
                let response =
                    decode_binary(response).map_err(|_| ChapError::BadValue("CHAP_R"))?;
                // Check the initiator before computing anything for it, so an
                // unauthenticated peer cannot use the target as a CHAP oracle.
                let Some(index) = self.find(name) else {
                    return Err(ChapError::WrongName);
                };
                let credential = self.credentials.get(index).ok_or(ChapError::WrongName)?;
                let expected =
                    md5_response(challenge.id, credential.secret.as_bytes(), &challenge.bytes);
                if !constant_time_eq(&response, &expected) {
                    return Err(ChapError::WrongResponse);
                }
                match (keys.i, keys.c, &credential.mutual) {
                    (None, None, None) => {}
                    (None, None, Some(_)) => return Err(ChapError::MutualRequired),
                    (Some(_), Some(_), None) => return Err(ChapError::NoMutualSecret),
                    (None, Some(_), _) => return Err(ChapError::MissingKey("CHAP_I")),
                    (Some(_), None, _) => return Err(ChapError::MissingKey("CHAP_C")),
                    (Some(id), Some(c), Some((mutual_user, mutual_secret))) => {
                        let id = parse_identifier(id)?;
                        let their = decode_binary(c).map_err(|_| ChapError::BadValue("CHAP_C"))?;
                        if their.is_empty() || their.len() > MAX_CHALLENGE_LEN {
                            return Err(ChapError::ChallengeLength);
                        }
                        if their == challenge.bytes {
                            return Err(ChapError::ReflectedChallenge);
                        }
                        let answer = md5_response(id, mutual_secret.as_bytes(), &their);
                        out.push("CHAP_N", mutual_user);
                        out.push("CHAP_R", &encode_hex(&answer));
                    }
                }
                self.state = State::Done(index);
                Ok(ChapProgress::Authenticated)
            }
            State::Done(_) => {
                if keys.is_empty() {
                    Ok(ChapProgress::Authenticated)
                } else {
                    Err(ChapError::UnexpectedKey("CHAP key after authentication"))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::parse;

    fn keys_of(text: &[u8]) -> Vec<(String, String)> {
        parse(text).unwrap()
    }

    /// Extracts (id, challenge) from the target's CHAP_I/CHAP_C.
    fn challenge_of(out: &TextWriter) -> (u8, Vec<u8>) {
        let pairs = parse(out.as_bytes()).unwrap();
        let get = |k: &str| pairs.iter().find(|(key, _)| key == k).unwrap().1.clone();
        assert_eq!(get("CHAP_A"), "5");
        let id = parse_identifier(&get("CHAP_I")).unwrap();
        let c = decode_binary(&get("CHAP_C")).unwrap();
        (id, c)
    }

    #[test]
    fn rfc1994_style_vector() {
        // MD5 of 0x01 ‖ "secret" ‖ 16 bytes 0..16, checked against an independent MD5.
        let challenge: Vec<u8> = (0u8..16).collect();
        let mut input = vec![1u8];
        input.extend_from_slice(b"secret");
        input.extend_from_slice(&challenge);
        let direct: [u8; 16] = Md5::digest(&input).into();
        assert_eq!(md5_response(1, b"secret", &challenge), direct);
        // Known MD5 value: MD5("") = d41d8cd98f00b204e9800998ecf8427e.
        let empty: [u8; 16] = Md5::digest(b"").into();
        assert_eq!(encode_hex(&empty), "0xd41d8cd98f00b204e9800998ecf8427e");
    }

    #[test]
    fn algorithm_selection() {
        assert_eq!(select_algorithm("5"), Ok(5));
        assert_eq!(select_algorithm("5,6,7,8"), Ok(5));
        assert_eq!(select_algorithm("7,5"), Ok(5));
        assert_eq!(select_algorithm("56"), Err(ChapError::NoMd5));
        assert_eq!(select_algorithm("6,7"), Err(ChapError::NoMd5));
        assert_eq!(select_algorithm(""), Err(ChapError::BadValue("CHAP_A")));
    }

    #[test]
    fn constant_time_compare() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(constant_time_eq(b"", b""));
    }

    #[test]
    fn identifiers() {
        assert_eq!(parse_identifier("0"), Ok(0));
        assert_eq!(parse_identifier("255"), Ok(255));
        assert_eq!(parse_identifier("0xff"), Ok(255));
        assert!(parse_identifier("256").is_err());
        assert!(parse_identifier("-1").is_err());
        assert!(parse_identifier("").is_err());
    }

    #[test]
    fn challenges_are_random() {
        let a = Challenge::generate().unwrap();
        let b = Challenge::generate().unwrap();
        assert_eq!(a.bytes.len(), CHALLENGE_LEN);
        assert_ne!(a.bytes, b.bytes);
    }

    fn run_one_way(response_encoding: fn(&[u8]) -> String) -> Result<ChapProgress, ChapError> {
        let mut chap = ChapTarget::new(vec![ChapCredential::new("user", "secretsecret")]);
        let mut out = TextWriter::new();
        let step1 = keys_of(b"CHAP_A=5\0");
        assert_eq!(
            chap.step(&ChapKeys::from_pairs(&step1), &mut out),
            Ok(ChapProgress::InProgress)
        );
        let (id, c) = challenge_of(&out);
        let r = md5_response(id, b"secretsecret", &c);
        let text = format!("CHAP_N=user\0CHAP_R={}\0", response_encoding(&r));
        let step2 = keys_of(text.as_bytes());
        let mut out = TextWriter::new();
        let res = chap.step(&ChapKeys::from_pairs(&step2), &mut out);
        assert!(out.is_empty());
        res
    }

    fn base64(bytes: &[u8]) -> String {
        const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut s = String::from("0b");
        for chunk in bytes.chunks(3) {
            let b = [
                chunk[0],
                *chunk.get(1).unwrap_or(&0),
                *chunk.get(2).unwrap_or(&0),
            ];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            for i in 0..4 {
                if i <= chunk.len() {
                    s.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
                } else {
                    s.push('=');
                }
            }
        }
        s
    }

    #[test]
    fn one_way_hex_and_base64() {
        assert_eq!(run_one_way(encode_hex), Ok(ChapProgress::Authenticated));
        assert_eq!(
            run_one_way(|r| encode_hex(r).to_uppercase()),
            Ok(ChapProgress::Authenticated)
        );
        assert_eq!(run_one_way(base64), Ok(ChapProgress::Authenticated));
    }

    #[test]
    fn oversized_base64_response_fails() {
        // libiscsi's test_iscsi_chap_base64_oversize prepends a valid base64 block.
        assert_eq!(
            run_one_way(|r| format!("0bb3ZlcnNpemUK{}", &base64(r)[2..])),
            Err(ChapError::WrongResponse)
        );
    }

    #[test]
    fn wrong_secret_name_and_encoding() {
        let mut chap = ChapTarget::new(vec![ChapCredential::new("user", "secretsecret")]);
        let mut out = TextWriter::new();
        chap.step(&ChapKeys::from_pairs(&keys_of(b"CHAP_A=5\0")), &mut out)
            .unwrap();
        let (id, c) = challenge_of(&out);
        let bad = md5_response(id, b"wrong", &c);
        let good = md5_response(id, b"secretsecret", &c);
        let cases = [
            (
                format!("CHAP_N=user\0CHAP_R={}\0", encode_hex(&bad)),
                ChapError::WrongResponse,
            ),
            (
                format!("CHAP_N=other\0CHAP_R={}\0", encode_hex(&good)),
                ChapError::WrongName,
            ),
            (
                "CHAP_N=user\0CHAP_R=zz\0".to_string(),
                ChapError::BadValue("CHAP_R"),
            ),
            ("CHAP_N=user\0".to_string(), ChapError::MissingKey("CHAP_R")),
            (
                format!("CHAP_R={}\0", encode_hex(&good)),
                ChapError::MissingKey("CHAP_N"),
            ),
        ];
        for (text, err) in cases {
            let mut c2 = chap.clone();
            let pairs = keys_of(text.as_bytes());
            assert_eq!(
                c2.step(&ChapKeys::from_pairs(&pairs), &mut TextWriter::new()),
                Err(err)
            );
        }
    }

    #[test]
    fn bad_algorithm_lists() {
        for text in [&b"CHAP_A=56\0"[..], b"CHAP_A=\0", b"CHAP_A=6,7\0"] {
            let mut chap = ChapTarget::new(vec![ChapCredential::new("u", "s")]);
            let pairs = keys_of(text);
            assert!(chap
                .step(&ChapKeys::from_pairs(&pairs), &mut TextWriter::new())
                .is_err());
        }
    }

    #[test]
    fn response_before_challenge_is_refused() {
        let mut chap = ChapTarget::new(vec![ChapCredential::new("u", "s")]);
        let pairs = keys_of(b"CHAP_N=u\0CHAP_R=0x00\0");
        assert_eq!(
            chap.step(&ChapKeys::from_pairs(&pairs), &mut TextWriter::new()),
            Err(ChapError::MissingKey("CHAP_A"))
        );
        // An empty text is just a PDU without CHAP keys yet.
        assert_eq!(
            chap.step(&ChapKeys::default(), &mut TextWriter::new()),
            Ok(ChapProgress::InProgress)
        );
    }

    fn mutual_target() -> (ChapTarget, u8, Vec<u8>) {
        let mut chap = ChapTarget::new(vec![
            ChapCredential::new("user", "secretsecret").with_mutual("tgt", "mutualsecret")
        ]);
        let mut out = TextWriter::new();
        chap.step(&ChapKeys::from_pairs(&keys_of(b"CHAP_A=5\0")), &mut out)
            .unwrap();
        let (id, c) = challenge_of(&out);
        (chap, id, c)
    }

    #[test]
    fn mutual() {
        let (mut chap, id, c) = mutual_target();
        let r = md5_response(id, b"secretsecret", &c);
        let their_c = [0x42u8; 16];
        let text = format!(
            "CHAP_N=user\0CHAP_R={}\0CHAP_I=7\0CHAP_C={}\0",
            encode_hex(&r),
            encode_hex(&their_c)
        );
        let pairs = keys_of(text.as_bytes());
        let mut out = TextWriter::new();
        assert_eq!(
            chap.step(&ChapKeys::from_pairs(&pairs), &mut out),
            Ok(ChapProgress::Authenticated)
        );
        assert!(chap.is_authenticated());
        let answer = parse(out.as_bytes()).unwrap();
        assert_eq!(answer[0], ("CHAP_N".into(), "tgt".into()));
        assert_eq!(
            answer[1],
            (
                "CHAP_R".into(),
                encode_hex(&md5_response(7, b"mutualsecret", &their_c))
            )
        );
    }

    #[test]
    fn mutual_failures() {
        let (chap, id, c) = mutual_target();
        let r = encode_hex(&md5_response(id, b"secretsecret", &c));
        let cases = [
            (
                format!("CHAP_N=user\0CHAP_R={r}\0"),
                ChapError::MutualRequired,
            ),
            (
                format!(
                    "CHAP_N=user\0CHAP_R={r}\0CHAP_I=1\0CHAP_C={}\0",
                    encode_hex(&c)
                ),
                ChapError::ReflectedChallenge,
            ),
            (
                format!("CHAP_N=user\0CHAP_R={r}\0CHAP_I=1\0"),
                ChapError::MissingKey("CHAP_C"),
            ),
            (
                format!("CHAP_N=user\0CHAP_R={r}\0CHAP_C=0x01\0"),
                ChapError::MissingKey("CHAP_I"),
            ),
            (
                format!("CHAP_N=user\0CHAP_R={r}\0CHAP_I=300\0CHAP_C=0x01\0"),
                ChapError::BadValue("CHAP_I"),
            ),
            (
                format!(
                    "CHAP_N=user\0CHAP_R={r}\0CHAP_I=1\0CHAP_C={}\0",
                    encode_hex(&[1u8; MAX_CHALLENGE_LEN + 1])
                ),
                ChapError::ChallengeLength,
            ),
        ];
        for (text, err) in cases {
            let mut c2 = chap.clone();
            let pairs = keys_of(text.as_bytes());
            let mut out = TextWriter::new();
            assert_eq!(c2.step(&ChapKeys::from_pairs(&pairs), &mut out), Err(err));
            // Nothing about the mutual secret leaks on failure.
            assert!(out.is_empty());
        }
    }

    #[test]
    fn mutual_requested_without_mutual_secret() {
        let mut chap = ChapTarget::new(vec![ChapCredential::new("user", "secretsecret")]);
        let mut out = TextWriter::new();
        chap.step(&ChapKeys::from_pairs(&keys_of(b"CHAP_A=5\0")), &mut out)
            .unwrap();
        let (id, c) = challenge_of(&out);
        let r = encode_hex(&md5_response(id, b"secretsecret", &c));
        let text = format!("CHAP_N=user\0CHAP_R={r}\0CHAP_I=1\0CHAP_C=0x0102\0");
        let pairs = keys_of(text.as_bytes());
        assert_eq!(
            chap.step(&ChapKeys::from_pairs(&pairs), &mut TextWriter::new()),
            Err(ChapError::NoMutualSecret)
        );
    }

    #[test]
    fn wrong_response_does_not_reach_mutual_answer() {
        let (mut chap, _, _) = mutual_target();
        let text = format!(
            "CHAP_N=user\0CHAP_R={}\0CHAP_I=1\0CHAP_C=0x0102\0",
            encode_hex(&[0u8; 16])
        );
        let pairs = keys_of(text.as_bytes());
        let mut out = TextWriter::new();
        assert_eq!(
            chap.step(&ChapKeys::from_pairs(&pairs), &mut out),
            Err(ChapError::WrongResponse)
        );
        assert!(out.is_empty());
    }

    #[test]
    fn debug_hides_secrets() {
        let credential = ChapCredential::new("u", "topsecret").with_mutual("m", "alsosecret");
        let chap = ChapTarget::new(vec![credential.clone()]);
        for s in [format!("{chap:?}"), format!("{credential:?}")] {
            assert!(!s.contains("topsecret") && !s.contains("alsosecret"), "{s}");
            assert!(s.contains("\"u\"") && s.contains("\"m\""), "{s}");
        }
    }

    /// Runs CHAP_A and the response for `user` with `secret` against `chap`.
    fn answer(chap: &mut ChapTarget, user: &str, secret: &[u8]) -> Result<ChapProgress, ChapError> {
        let mut out = TextWriter::new();
        chap.step(&ChapKeys::from_pairs(&keys_of(b"CHAP_A=5\0")), &mut out)
            .unwrap();
        let (id, c) = challenge_of(&out);
        let text = format!(
            "CHAP_N={user}\0CHAP_R={}\0",
            encode_hex(&md5_response(id, secret, &c))
        );
        let pairs = keys_of(text.as_bytes());
        chap.step(&ChapKeys::from_pairs(&pairs), &mut TextWriter::new())
    }

    fn several_users() -> ChapTarget {
        ChapTarget::new(vec![
            ChapCredential::new("alice", "alicesecret1"),
            ChapCredential::new("bob", "bobsecret123"),
        ])
    }

    #[test]
    fn chap_n_picks_the_credential() {
        for (user, secret) in [("alice", "alicesecret1"), ("bob", "bobsecret123")] {
            let mut chap = several_users();
            assert_eq!(
                answer(&mut chap, user, secret.as_bytes()),
                Ok(ChapProgress::Authenticated)
            );
            let c = chap.credential().unwrap();
            assert_eq!((c.user.as_str(), c.secret.as_str()), (user, secret));
        }
    }

    #[test]
    fn another_users_secret_is_refused() {
        let mut chap = several_users();
        assert_eq!(
            answer(&mut chap, "bob", b"alicesecret1"),
            Err(ChapError::WrongResponse)
        );
        assert_eq!(chap.credential(), None);
    }

    #[test]
    fn unknown_user_among_several_is_refused() {
        let mut chap = several_users();
        assert_eq!(
            answer(&mut chap, "carol", b"alicesecret1"),
            Err(ChapError::WrongName)
        );
    }

    #[test]
    fn no_credentials_refuses_everyone() {
        let mut chap = ChapTarget::new(Vec::new());
        assert_eq!(answer(&mut chap, "", b""), Err(ChapError::WrongName));
    }

    #[test]
    fn mutual_answer_uses_the_chosen_users_mutual_secret() {
        let mut chap = ChapTarget::new(vec![
            ChapCredential::new("alice", "alicesecret1").with_mutual("t-a", "targetsecretA"),
            ChapCredential::new("bob", "bobsecret123").with_mutual("t-b", "targetsecretB"),
        ]);
        let mut out = TextWriter::new();
        chap.step(&ChapKeys::from_pairs(&keys_of(b"CHAP_A=5\0")), &mut out)
            .unwrap();
        let (id, c) = challenge_of(&out);
        let their_c = [0x33u8; 16];
        let text = format!(
            "CHAP_N=bob\0CHAP_R={}\0CHAP_I=9\0CHAP_C={}\0",
            encode_hex(&md5_response(id, b"bobsecret123", &c)),
            encode_hex(&their_c)
        );
        let pairs = keys_of(text.as_bytes());
        let mut out = TextWriter::new();
        assert_eq!(
            chap.step(&ChapKeys::from_pairs(&pairs), &mut out),
            Ok(ChapProgress::Authenticated)
        );
        let answer = parse(out.as_bytes()).unwrap();
        assert_eq!(answer[0], ("CHAP_N".into(), "t-b".into()));
        assert_eq!(
            answer[1].1,
            encode_hex(&md5_response(9, b"targetsecretB", &their_c))
        );
    }

    #[test]
    fn same_user_and_secret() {
        let a = ChapCredential::new("alice", "alicesecret1");
        assert!(a.same_user_and_secret(&ChapCredential::new("alice", "alicesecret1")));
        assert!(!a.same_user_and_secret(&ChapCredential::new("alice", "othersecret1")));
        assert!(!a.same_user_and_secret(&ChapCredential::new("Alice", "alicesecret1")));
    }
}
