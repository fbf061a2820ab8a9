//! A LUN's `option NAME VALUE` lines (ctladm(8) OPTIONS): the ones dyad's SCSI core
//! implements, typed, and the rest refused by name.

use crate::size::parse_number;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

/// `provisioning_type`: what VPD page B2h reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProvisioningType {
    Full,
    Thin,
}

/// The LUN options the core implements; `None` where the option was not written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LunOptions {
    /// INQUIRY T10 VENDOR IDENTIFICATION (8 characters).
    pub vendor: Option<String>,
    /// INQUIRY PRODUCT IDENTIFICATION (16).
    pub product: Option<String>,
    /// INQUIRY PRODUCT REVISION LEVEL (4).
    pub revision: Option<String>,
    /// NAA IEEE Registered Extended designator (VPD 0x83), 16 bytes.
    pub naa: Option<[u8; 16]>,
    /// EUI-64 designator (VPD 0x83).
    pub eui: Option<[u8; 8]>,
    /// Physical block size in bytes (a power-of-two multiple of the block size).
    pub pblocksize: Option<u32>,
    /// Offset in bytes of the first physical block boundary, as CTL reads it.
    pub pblockoffset: Option<u32>,
    pub readonly: Option<bool>,
    pub removable: Option<bool>,
    /// Advertise logical block provisioning (UNMAP, WRITE SAME with UNMAP).
    pub unmap: Option<bool>,
    pub provisioning_type: Option<ProvisioningType>,
    /// Initial read cache (Caching mode page RCD = !readcache).
    pub readcache: Option<bool>,
    /// Initial write cache (Caching mode page WCE).
    pub writecache: Option<bool>,
}

/// The option names dyad implements, in the order they are written back.
pub const SUPPORTED: [&str; 13] = [
    "vendor",
    "product",
    "revision",
    "naa",
    "eui",
    "pblocksize",
    "pblockoffset",
    "readonly",
    "removable",
    "unmap",
    "provisioning_type",
    "readcache",
    "writecache",
];

/// CTL options dyad knows of but does not implement, and what they are, for the refusal.
const UNSUPPORTED: [(&str, &str); 25] = [
    ("scsiname", "SCSI name designator"),
    ("uuid", "UUID designator"),
    ("ident_info", "REPORT IDENTIFYING INFORMATION"),
    ("text_ident_info", "REPORT IDENTIFYING INFORMATION"),
    ("ha_role", "per-LUN HA role"),
    ("insecure_tpc", "third-party copy to unmapped LUNs"),
    ("reordering", "initial queue algorithm modifier"),
    ("serseq", "sequential I/O serialisation"),
    ("ublocksize", "UNMAP granularity"),
    ("ublockoffset", "UNMAP granularity alignment"),
    ("rpm", "medium rotation rate"),
    ("formfactor", "nominal form factor"),
    ("temperature", "temperature log page"),
    ("reftemperature", "temperature log page"),
    ("unmap_max_lba", "block limits"),
    ("unmap_max_descr", "block limits"),
    ("write_same_max_lba", "block limits"),
    ("avail-threshold", "provisioning thresholds"),
    ("used-threshold", "provisioning thresholds"),
    ("pool-avail-threshold", "provisioning thresholds"),
    ("pool-used-threshold", "provisioning thresholds"),
    ("file", "the block backend's file (write 'path' instead)"),
    ("num_threads", "block backend tuning"),
    ("opttxferlen", "block backend tuning"),
    ("capacity", "ramdisk backing-store capacity"),
];

fn on_off(name: &str, value: &str) -> Result<bool, String> {
    match value {
        "on" => Ok(true),
        "off" => Ok(false),
        _ => Err(format!("option {name} '{value}' must be on or off")),
    }
}

fn hex<const N: usize>(name: &str, value: &str) -> Result<[u8; N], String> {
    let digits = value
        .strip_prefix("0x")
        .or_else(|| value.strip_prefix("0X"))
        .unwrap_or(value);
    let bad = || {
        format!(
            "option {name} '{value}' must be {} hex digits (optionally after 0x)",
            2 * N
        )
    };
    if digits.len() != 2 * N || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad());
    }
    let mut out = [0u8; N];
    for (i, byte) in out.iter_mut().enumerate() {
        let pair = digits.get(2 * i..2 * i + 2).ok_or_else(bad)?;
        *byte = u8::from_str_radix(pair, 16).map_err(|_| bad())?;
    }
    Ok(out)
}

fn bytes_u32(name: &str, value: &str) -> Result<u32, String> {
    let n = parse_number(value).map_err(|e| format!("option {name} '{value}' {}", e.reason()))?;
    u32::try_from(n).map_err(|_| format!("option {name} '{value}' is too large"))
}

fn hex_text(bytes: &[u8]) -> String {
    let mut s = String::from("0x");
    for b in bytes {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

fn on_off_text(b: bool) -> String {
    if b { "on" } else { "off" }.to_string()
}

impl LunOptions {
    /// Applies `option NAME VALUE`. Errors name the option; unsupported options are refused
    /// by name. The caller refuses an option written twice.
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), String> {
        match name {
            "vendor" => self.vendor = Some(value.into()),
            "product" => self.product = Some(value.into()),
            "revision" => self.revision = Some(value.into()),
            "naa" => {
                if value.strip_prefix("0x").unwrap_or(value).len() == 16 {
                    return Err(format!(
                        "option naa '{value}': 8-byte NAA designators are not supported by dyad; write a 16-byte NAA 6 (IEEE Registered Extended) designator, 32 hex digits"
                    ));
                }
                self.naa = Some(hex::<16>(name, value)?)
            }
            "eui" => self.eui = Some(hex::<8>(name, value)?),
            "pblocksize" => self.pblocksize = Some(bytes_u32(name, value)?),
            "pblockoffset" => self.pblockoffset = Some(bytes_u32(name, value)?),
            "readonly" => self.readonly = Some(on_off(name, value)?),
            "removable" => self.removable = Some(on_off(name, value)?),
            "unmap" => self.unmap = Some(on_off(name, value)?),
            "readcache" => self.readcache = Some(on_off(name, value)?),
            "writecache" => self.writecache = Some(on_off(name, value)?),
            "provisioning_type" => {
                self.provisioning_type = Some(match value {
                    "thin" => ProvisioningType::Thin,
                    "full" => ProvisioningType::Full,
                    "resource" => {
                        return Err("option provisioning_type 'resource' is not supported by dyad: use thin or full".into())
                    }
                    _ => {
                        return Err(format!(
                            "option provisioning_type '{value}' must be thin or full"
                        ))
                    }
                })
            }
            _ => {
                return Err(match UNSUPPORTED.iter().find(|(n, _)| *n == name) {
                    Some((_, what)) => {
                        format!("LUN option '{name}' ({what}) is not supported by dyad")
                    }
                    None => format!(
                        "unknown LUN option '{name}'; dyad supports {}",
                        SUPPORTED.join(", ")
                    ),
                })
            }
        }
        Ok(())
    }

    /// The written options as `(NAME, VALUE)`, in [`SUPPORTED`] order.
    pub fn entries(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        let mut push = |name: &'static str, value: Option<String>| {
            if let Some(v) = value {
                out.push((name, v));
            }
        };
        push("vendor", self.vendor.clone());
        push("product", self.product.clone());
        push("revision", self.revision.clone());
        push("naa", self.naa.map(|n| hex_text(&n)));
        push("eui", self.eui.map(|e| hex_text(&e)));
        push("pblocksize", self.pblocksize.map(|n| n.to_string()));
        push("pblockoffset", self.pblockoffset.map(|n| n.to_string()));
        push("readonly", self.readonly.map(on_off_text));
        push("removable", self.removable.map(on_off_text));
        push("unmap", self.unmap.map(on_off_text));
        push(
            "provisioning_type",
            self.provisioning_type.map(|p| {
                match p {
                    ProvisioningType::Thin => "thin",
                    ProvisioningType::Full => "full",
                }
                .to_string()
            }),
        );
        push("readcache", self.readcache.map(on_off_text));
        push("writecache", self.writecache.map(on_off_text));
        out
    }

    /// Thin provisioned (the core's `thin`): `unmap on`, or `provisioning_type thin` when
    /// `unmap` is not written.
    pub fn thin(&self) -> bool {
        self.unmap
            .unwrap_or(self.provisioning_type == Some(ProvisioningType::Thin))
    }
}
