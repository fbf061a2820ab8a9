//! The payload of an image: one bundle of named components (kernel, initramfs) with a
//! manifest of their offsets, lengths and SHA-256 hashes.
//!
//! The image signature covers the whole bundle, so kernel and initramfs are only ever
//! accepted as the pair they were signed as (FIT's lesson: sign the configuration, not
//! the parts). The per-component hashes let `Bundle::parse` check every component on its
//! own and say which one is damaged.
//!
//! Layout (offsets from the start of the bundle, integers little-endian):
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 8 | magic `DYADBNDL` |
//! | 8 | 4 | manifest length M (at most 16 KiB) |
//! | 12 | 4 | reserved, 0 |
//! | 16 | M | manifest, UTF-8 lines each ending in `\n` |
//! | ... | | components, each at a 4096-aligned offset, zero padding between |
//!
//! The manifest's first line is `dyad-bundle 1`; then one line per component, in the order
//! they are stored: `component NAME offset=N length=N sha256=HEX` (decimal numbers, 64 hex
//! digits). Names are 1 to 32 of `a-z 0-9 - _`, starting with a letter. The bundle ends
//! where its last component ends.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;
use core::fmt::Write;

use crate::hex::{self, Hex};
use crate::sha256;

/// The first eight bytes of a bundle.
pub const BUNDLE_MAGIC: [u8; 8] = *b"DYADBNDL";
/// Magic, manifest length, reserved.
pub const PREFIX_LEN: usize = 16;
/// Components start on this boundary (a page: the boot ROM may map them).
pub const ALIGN: usize = 4096;
/// Longest manifest we read: a handful of lines, with room to spare.
pub const MAX_MANIFEST: usize = 16 * 1024;
/// The manifest's first line.
pub const FORMAT_LINE: &str = "dyad-bundle 1";
/// Longest component name.
pub const MAX_NAME: usize = 32;

/// The component holding the Linux kernel the boot ROM starts.
pub const KERNEL: &str = "kernel";
/// The component holding the initramfs (the firmware is its `/init`).
pub const INITRAMFS: &str = "initramfs";

/// Why a bundle was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BundleError {
    /// Shorter than its prefix, or than its manifest.
    Truncated {
        /// Bytes needed.
        need: usize,
        /// Bytes there.
        have: usize,
    },
    /// Does not start with `DYADBNDL`.
    BadMagic,
    /// The reserved prefix word is not 0.
    BadReserved,
    /// The manifest is longer than [`MAX_MANIFEST`].
    ManifestTooLarge {
        /// Its length.
        len: usize,
    },
    /// The manifest is not UTF-8 or does not end in a newline.
    BadManifestText,
    /// The first line is not `dyad-bundle 1`.
    BadFormatLine,
    /// A component line does not parse.
    BadLine {
        /// 1-based line number in the manifest.
        line: usize,
        /// What is wrong.
        why: &'static str,
    },
    /// A name appears twice.
    DuplicateComponent {
        /// The name.
        name: String,
    },
    /// A component's offset is not 4096-aligned.
    Misaligned {
        /// The component.
        name: String,
        /// Its offset.
        offset: usize,
    },
    /// A component starts before the previous one (or the manifest) ends.
    Overlap {
        /// The component.
        name: String,
    },
    /// A component runs past the end of the bundle.
    OutOfBounds {
        /// The component.
        name: String,
    },
    /// Padding before a component is not zero: bytes hidden from every hash but the image's.
    NonZeroPadding {
        /// Offset of the first non-zero byte.
        offset: usize,
    },
    /// A component's bytes do not match the manifest's SHA-256.
    HashMismatch {
        /// The component.
        name: String,
    },
    /// Bytes after the last component.
    TrailingBytes {
        /// How many.
        count: usize,
    },
    /// The manifest lists no component.
    NoComponents,
    /// Building: a name outside the allowed alphabet or length.
    BadName {
        /// The name.
        name: String,
    },
    /// A component the boot needs is not in the bundle.
    MissingComponent {
        /// Its name.
        name: &'static str,
    },
}

impl fmt::Display for BundleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BundleError::Truncated { need, have } => {
                write!(f, "truncated: needs {need} bytes, has {have}")
            }
            BundleError::BadMagic => write!(f, "bad magic: not a dyad bundle"),
            BundleError::BadReserved => write!(f, "reserved prefix field is not zero"),
            BundleError::ManifestTooLarge { len } => write!(
                f,
                "manifest of {len} bytes is larger than {MAX_MANIFEST}"
            ),
            BundleError::BadManifestText => {
                write!(f, "manifest is not UTF-8 text ending in a newline")
            }
            BundleError::BadFormatLine => {
                write!(f, "manifest does not start with `{FORMAT_LINE}`")
            }
            BundleError::BadLine { line, why } => write!(f, "manifest line {line}: {why}"),
            BundleError::DuplicateComponent { name } => {
                write!(f, "component {name} is listed twice")
            }
            BundleError::Misaligned { name, offset } => write!(
                f,
                "component {name} at offset {offset} is not {ALIGN}-aligned"
            ),
            BundleError::Overlap { name } => write!(
                f,
                "component {name} starts before the previous part of the bundle ends"
            ),
            BundleError::OutOfBounds { name } => {
                write!(f, "component {name} runs past the end of the bundle")
            }
            BundleError::NonZeroPadding { offset } => {
                write!(f, "padding at offset {offset} is not zero")
            }
            BundleError::HashMismatch { name } => write!(
                f,
                "component {name}: SHA-256 does not match the manifest"
            ),
            BundleError::TrailingBytes { count } => {
                write!(f, "{count} bytes follow the last component")
            }
            BundleError::NoComponents => write!(f, "the manifest lists no component"),
            BundleError::BadName { name } => write!(
                f,
                "component name {name:?} must be 1 to {MAX_NAME} of a-z 0-9 - _, starting with a letter"
            ),
            BundleError::MissingComponent { name } => {
                write!(f, "the bundle has no {name} component")
            }
        }
    }
}

impl core::error::Error for BundleError {}

/// One component, borrowing its bytes from the bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Component<'a> {
    /// Its name (`kernel`, `initramfs`).
    pub name: &'a str,
    /// Offset from the start of the bundle.
    pub offset: usize,
    /// Its bytes, already checked against `sha256`.
    pub data: &'a [u8],
    /// The manifest's SHA-256 of `data`.
    pub sha256: [u8; 32],
}

/// A parsed and checked bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bundle<'a> {
    /// The manifest text, as stored.
    pub manifest: &'a str,
    /// The components, in manifest (and storage) order.
    pub components: Vec<Component<'a>>,
}

impl<'a> Bundle<'a> {
    /// Parses `bytes` and checks every bound, the padding and every component's hash.
    pub fn parse(bytes: &'a [u8]) -> Result<Bundle<'a>, BundleError> {
        let prefix = bytes.get(..PREFIX_LEN).ok_or(BundleError::Truncated {
            need: PREFIX_LEN,
            have: bytes.len(),
        })?;
        if prefix[..8] != BUNDLE_MAGIC {
            return Err(BundleError::BadMagic);
        }
        let manifest_len =
            u32::from_le_bytes([prefix[8], prefix[9], prefix[10], prefix[11]]) as usize;
        if prefix[12..16] != [0; 4] {
            return Err(BundleError::BadReserved);
        }
        if manifest_len > MAX_MANIFEST {
            return Err(BundleError::ManifestTooLarge { len: manifest_len });
        }
        let manifest_end = PREFIX_LEN + manifest_len;
        let manifest = bytes
            .get(PREFIX_LEN..manifest_end)
            .ok_or(BundleError::Truncated {
                need: manifest_end,
                have: bytes.len(),
            })?;
        let manifest = core::str::from_utf8(manifest).map_err(|_| BundleError::BadManifestText)?;
        let body = manifest
            .strip_suffix('\n')
            .ok_or(BundleError::BadManifestText)?;
        let mut lines = body.split('\n');
        if lines.next() != Some(FORMAT_LINE) {
            return Err(BundleError::BadFormatLine);
        }
        let mut components: Vec<Component<'a>> = Vec::new();
        let mut cursor = manifest_end;
        for (index, line) in lines.enumerate() {
            let entry = parse_line(line, index + 2)?;
            let name = entry.name;
            if components.iter().any(|c| c.name == name) {
                return Err(BundleError::DuplicateComponent { name: name.into() });
            }
            if entry.offset % ALIGN != 0 {
                return Err(BundleError::Misaligned {
                    name: name.into(),
                    offset: entry.offset,
                });
            }
            if entry.offset < cursor {
                return Err(BundleError::Overlap { name: name.into() });
            }
            let end = entry
                .offset
                .checked_add(entry.length)
                .filter(|end| *end <= bytes.len())
                .ok_or_else(|| BundleError::OutOfBounds { name: name.into() })?;
            check_zero(bytes, cursor, entry.offset)?;
            let data = &bytes[entry.offset..end];
            if sha256(data) != entry.sha256 {
                return Err(BundleError::HashMismatch { name: name.into() });
            }
            components.push(Component {
                name,
                offset: entry.offset,
                data,
                sha256: entry.sha256,
            });
            cursor = end;
        }
        if components.is_empty() {
            return Err(BundleError::NoComponents);
        }
        if cursor != bytes.len() {
            return Err(BundleError::TrailingBytes {
                count: bytes.len() - cursor,
            });
        }
        Ok(Bundle {
            manifest,
            components,
        })
    }

    /// The component called `name`.
    pub fn get(&self, name: &str) -> Option<&Component<'a>> {
        self.components.iter().find(|c| c.name == name)
    }

    /// The component called `name`, or the error that names it as missing.
    pub fn require(&self, name: &'static str) -> Result<&Component<'a>, BundleError> {
        self.get(name).ok_or(BundleError::MissingComponent { name })
    }

    /// Lays out `parts` (name, bytes) in order as a bundle.
    pub fn build(parts: &[(&str, &[u8])]) -> Result<Vec<u8>, BundleError> {
        if parts.is_empty() {
            return Err(BundleError::NoComponents);
        }
        for (i, (name, _)) in parts.iter().enumerate() {
            if !valid_name(name) {
                return Err(BundleError::BadName {
                    name: (*name).to_string(),
                });
            }
            if parts[..i].iter().any(|(other, _)| other == name) {
                return Err(BundleError::DuplicateComponent {
                    name: (*name).to_string(),
                });
            }
        }
        let hashes: Vec<[u8; 32]> = parts.iter().map(|(_, data)| sha256(data)).collect();
        // The offsets are written in decimal inside the manifest, so its length depends
        // on them and they on it: start from a guess and redo until it settles (the
        // first offset only moves when the manifest crosses a page).
        let mut first = ALIGN;
        for _ in 0..8 {
            let (manifest, offsets) = manifest_for(parts, &hashes, first);
            let start = align_up(PREFIX_LEN + manifest.len());
            if manifest.len() > MAX_MANIFEST {
                return Err(BundleError::ManifestTooLarge {
                    len: manifest.len(),
                });
            }
            if start != first {
                first = start;
                continue;
            }
            let total = match (offsets.last(), parts.last()) {
                (Some(offset), Some((_, data))) => offset + data.len(),
                _ => return Err(BundleError::NoComponents),
            };
            let mut out = Vec::with_capacity(total);
            out.extend_from_slice(&BUNDLE_MAGIC);
            out.extend_from_slice(&(manifest.len() as u32).to_le_bytes());
            out.extend_from_slice(&[0; 4]);
            out.extend_from_slice(manifest.as_bytes());
            for (offset, (_, data)) in offsets.iter().zip(parts) {
                out.resize(*offset, 0);
                out.extend_from_slice(data);
            }
            return Ok(out);
        }
        Err(BundleError::ManifestTooLarge { len: MAX_MANIFEST })
    }
}

/// The manifest text and component offsets when the first component starts at `first`.
fn manifest_for(
    parts: &[(&str, &[u8])],
    hashes: &[[u8; 32]],
    first: usize,
) -> (String, Vec<usize>) {
    let mut manifest = format!("{FORMAT_LINE}\n");
    let mut offsets = Vec::with_capacity(parts.len());
    let mut offset = first;
    for ((name, data), hash) in parts.iter().zip(hashes) {
        offsets.push(offset);
        // Writing into a String cannot fail.
        let _ = writeln!(
            manifest,
            "component {name} offset={offset} length={} sha256={}",
            data.len(),
            Hex(hash)
        );
        offset = align_up(offset + data.len());
    }
    (manifest, offsets)
}

fn align_up(n: usize) -> usize {
    n.div_ceil(ALIGN) * ALIGN
}

/// A component name: 1 to 32 of `a-z 0-9 - _`, starting with a letter.
pub fn valid_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= MAX_NAME
        && bytes[0].is_ascii_lowercase()
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-' || *b == b'_')
}

/// One manifest line, parsed but not yet checked against the bundle.
struct Entry<'a> {
    name: &'a str,
    offset: usize,
    length: usize,
    sha256: [u8; 32],
}

fn parse_line(line: &str, number: usize) -> Result<Entry<'_>, BundleError> {
    let bad = |why| BundleError::BadLine { line: number, why };
    let mut fields = line.split(' ');
    if fields.next() != Some("component") {
        return Err(bad(
            "expected `component NAME offset=N length=N sha256=HEX`",
        ));
    }
    let name = fields.next().ok_or(bad("no component name"))?;
    if !valid_name(name) {
        return Err(bad("bad component name"));
    }
    let offset = field(fields.next(), "offset=").ok_or(bad("bad offset= field"))?;
    let length = field(fields.next(), "length=").ok_or(bad("bad length= field"))?;
    let hash = fields
        .next()
        .and_then(|f| f.strip_prefix("sha256="))
        .filter(|h| h.len() == 64)
        .and_then(hex::decode)
        .and_then(|h| <[u8; 32]>::try_from(h).ok())
        .ok_or(bad("bad sha256= field"))?;
    if fields.next().is_some() {
        return Err(bad("unexpected field after sha256="));
    }
    Ok(Entry {
        name,
        offset,
        length,
        sha256: hash,
    })
}

/// A `key=DECIMAL` field: digits only, so `+1` or ` 1` cannot sneak through.
fn field(text: Option<&str>, key: &str) -> Option<usize> {
    let digits = text?.strip_prefix(key)?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

fn check_zero(bytes: &[u8], from: usize, to: usize) -> Result<(), BundleError> {
    match bytes[from..to].iter().position(|b| *b != 0) {
        Some(at) => Err(BundleError::NonZeroPadding { offset: from + at }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn sample() -> Vec<u8> {
        Bundle::build(&[(KERNEL, b"kernel bytes"), (INITRAMFS, &[7u8; 5000])]).unwrap()
    }

    /// Rewrites the manifest (same length or not) and the prefix's length field.
    fn with_manifest(bundle: &[u8], edit: impl Fn(&str) -> String) -> Vec<u8> {
        let parsed = Bundle::parse(bundle).unwrap();
        let manifest = edit(parsed.manifest);
        let mut out = bundle[..PREFIX_LEN].to_vec();
        out[8..12].copy_from_slice(&(manifest.len() as u32).to_le_bytes());
        out.extend_from_slice(manifest.as_bytes());
        let start = PREFIX_LEN + parsed.manifest.len();
        let mut rest = bundle[start..].to_vec();
        // Keep the components where they were: trim or pad the gap after the manifest.
        let shift = manifest.len() as isize - parsed.manifest.len() as isize;
        if shift > 0 {
            rest.drain(..shift as usize);
        } else {
            let mut pad = vec![0; (-shift) as usize];
            pad.extend_from_slice(&rest);
            rest = pad;
        }
        out.extend_from_slice(&rest);
        out
    }

    #[test]
    fn round_trip() {
        let bytes = sample();
        let bundle = Bundle::parse(&bytes).unwrap();
        assert_eq!(bundle.components.len(), 2);
        let kernel = bundle.require(KERNEL).unwrap();
        assert_eq!(kernel.data, b"kernel bytes");
        assert_eq!(kernel.offset, ALIGN);
        let initramfs = bundle.get(INITRAMFS).unwrap();
        assert_eq!(initramfs.offset, 2 * ALIGN);
        assert_eq!(initramfs.data.len(), 5000);
        assert_eq!(bytes.len(), 2 * ALIGN + 5000);
        assert!(bundle
            .manifest
            .starts_with("dyad-bundle 1\ncomponent kernel offset=4096 length=12 sha256="));
        assert_eq!(
            bundle.require("dtb"),
            Err(BundleError::MissingComponent { name: "dtb" })
        );
    }

    #[test]
    fn large_manifest_moves_the_first_component() {
        let names: Vec<String> = (0..60).map(|i| format!("part{i:02}")).collect();
        let parts: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), &b"x"[..])).collect();
        let bytes = Bundle::build(&parts).unwrap();
        let bundle = Bundle::parse(&bytes).unwrap();
        assert!(bundle.manifest.len() > ALIGN);
        assert_eq!(bundle.components[0].offset, 2 * ALIGN);
    }

    #[test]
    fn refuses_truncation_and_bad_prefix() {
        let bytes = sample();
        assert_eq!(
            Bundle::parse(&bytes[..10]),
            Err(BundleError::Truncated { need: 16, have: 10 })
        );
        assert!(matches!(
            Bundle::parse(&bytes[..40]),
            Err(BundleError::Truncated { .. })
        ));
        let mut bad = bytes.clone();
        bad[0] = b'X';
        assert_eq!(Bundle::parse(&bad), Err(BundleError::BadMagic));
        let mut bad = bytes.clone();
        bad[13] = 1;
        assert_eq!(Bundle::parse(&bad), Err(BundleError::BadReserved));
        let mut bad = bytes.clone();
        bad[8..12].copy_from_slice(&(MAX_MANIFEST as u32 + 1).to_le_bytes());
        assert!(matches!(
            Bundle::parse(&bad),
            Err(BundleError::ManifestTooLarge { .. })
        ));
        // The last component cut short.
        assert_eq!(
            Bundle::parse(&bytes[..bytes.len() - 1]),
            Err(BundleError::OutOfBounds {
                name: INITRAMFS.into()
            })
        );
    }

    #[test]
    fn refuses_bad_manifest_text() {
        let bytes = sample();
        let bad = with_manifest(&bytes, |m| m.trim_end().into());
        assert_eq!(Bundle::parse(&bad), Err(BundleError::BadManifestText));
        let mut bad = bytes.clone();
        bad[PREFIX_LEN + 3] = 0xff;
        assert_eq!(Bundle::parse(&bad), Err(BundleError::BadManifestText));
        let bad = with_manifest(&bytes, |m| m.replacen("dyad-bundle 1", "dyad-bundle 2", 1));
        assert_eq!(Bundle::parse(&bad), Err(BundleError::BadFormatLine));
        let bad = with_manifest(&bytes, |_| "dyad-bundle 1\n".into());
        assert_eq!(Bundle::parse(&bad), Err(BundleError::NoComponents));
    }

    #[test]
    fn refuses_bad_lines() {
        let bytes = sample();
        for (from, to, why) in [
            (
                "component kernel",
                "kernel",
                "expected `component NAME offset=N length=N sha256=HEX`",
            ),
            ("component kernel", "component Kernel", "bad component name"),
            ("offset=4096", "offset=+4096", "bad offset= field"),
            ("length=12", "length=", "bad length= field"),
            ("length=12", "size=12", "bad length= field"),
            ("sha256=", "sha256=zz", "bad sha256= field"),
        ] {
            let bad = with_manifest(&bytes, |m| m.replacen(from, to, 1));
            assert_eq!(
                Bundle::parse(&bad),
                Err(BundleError::BadLine { line: 2, why }),
                "{from} -> {to}"
            );
        }
        let bad = with_manifest(&bytes, |m| {
            m.replacen("\ncomponent initramfs", " extra\ncomponent initramfs", 1)
        });
        assert_eq!(
            Bundle::parse(&bad),
            Err(BundleError::BadLine {
                line: 2,
                why: "unexpected field after sha256="
            })
        );
    }

    #[test]
    fn refuses_layout_errors() {
        let bytes = sample();
        let bad = with_manifest(&bytes, |m| {
            m.replacen("component initramfs", "component kernel", 1)
        });
        assert_eq!(
            Bundle::parse(&bad),
            Err(BundleError::DuplicateComponent {
                name: KERNEL.into()
            })
        );
        let bad = with_manifest(&bytes, |m| m.replacen("offset=8192", "offset=8193", 1));
        assert_eq!(
            Bundle::parse(&bad),
            Err(BundleError::Misaligned {
                name: INITRAMFS.into(),
                offset: 8193
            })
        );
        let bad = with_manifest(&bytes, |m| m.replacen("offset=8192", "offset=4096", 1));
        assert_eq!(
            Bundle::parse(&bad),
            Err(BundleError::Overlap {
                name: INITRAMFS.into()
            })
        );
        let bad = with_manifest(&bytes, |m| m.replacen("offset=4096", "offset=0", 1));
        assert_eq!(
            Bundle::parse(&bad),
            Err(BundleError::Overlap {
                name: KERNEL.into()
            })
        );
        let bad = with_manifest(&bytes, |m| {
            m.replacen("length=5000", "length=99999999999999999999", 1)
        });
        assert!(matches!(
            Bundle::parse(&bad),
            Err(BundleError::BadLine { .. })
        ));
        let bad = with_manifest(&bytes, |m| {
            m.replacen("length=5000", "length=18446744073709551615", 1)
        });
        assert_eq!(
            Bundle::parse(&bad),
            Err(BundleError::OutOfBounds {
                name: INITRAMFS.into()
            })
        );
    }

    #[test]
    fn refuses_changed_bytes() {
        let bytes = sample();
        let mut bad = bytes.clone();
        bad[ALIGN] ^= 1;
        assert_eq!(
            Bundle::parse(&bad),
            Err(BundleError::HashMismatch {
                name: KERNEL.into()
            })
        );
        let mut bad = bytes.clone();
        bad[ALIGN + 100] = 1;
        assert_eq!(
            Bundle::parse(&bad),
            Err(BundleError::NonZeroPadding {
                offset: ALIGN + 100
            })
        );
        let mut bad = bytes.clone();
        bad.push(0);
        assert_eq!(
            Bundle::parse(&bad),
            Err(BundleError::TrailingBytes { count: 1 })
        );
    }

    #[test]
    fn build_refuses_bad_input() {
        assert_eq!(Bundle::build(&[]), Err(BundleError::NoComponents));
        assert_eq!(
            Bundle::build(&[("Kernel", b"")]),
            Err(BundleError::BadName {
                name: "Kernel".into()
            })
        );
        assert_eq!(
            Bundle::build(&[("a", b""), ("a", b"")]),
            Err(BundleError::DuplicateComponent { name: "a".into() })
        );
        assert!(!valid_name(""));
        assert!(!valid_name("1kernel"));
        assert!(!valid_name(&"a".repeat(33)));
        assert!(valid_name("init-ramfs_2"));
    }

    #[test]
    fn empty_components_are_fine() {
        let bytes = Bundle::build(&[(KERNEL, b""), (INITRAMFS, b"")]).unwrap();
        let bundle = Bundle::parse(&bytes).unwrap();
        assert_eq!(bundle.components[1].offset, ALIGN);
        assert_eq!(bytes.len(), ALIGN);
    }
}
