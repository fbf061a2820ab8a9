//! The controller's command line: the board (controller id, enclosure), the configuration
//! file, and the quick configuration of one portal and one target without a file.

use clap::Parser;
use std::net::SocketAddr;
use std::path::PathBuf;

/// The target name `make run` serves.
pub const DEFAULT_TARGET: &str = "iqn.2026-11.dev.dyad:target0";

#[derive(Debug, Parser)]
#[command(
    name = "dyad-firmware",
    about = "dyad storage-controller firmware (sim board)"
)]
pub struct Options {
    /// Controller id: 1 or 2.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=2))]
    pub controller: u8,
    /// Enclosure folder: the sim board's backplane slots and identity.
    #[arg(long, default_value = "./var/enclosure")]
    pub enclosure: PathBuf,
    /// The configuration: a ctl.conf (FreeBSD ctld's syntax). Without it the flags below
    /// configure one portal group and one target.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["listen", "target", "alias", "luns", "chap", "chap_mutual", "allow_initiators"])]
    pub config: Option<PathBuf>,
    /// iSCSI portal address.
    #[arg(long, default_value = "127.0.0.1:3260")]
    pub listen: SocketAddr,
    /// iSCSI name of the target.
    #[arg(long, default_value = DEFAULT_TARGET)]
    pub target: String,
    /// Target alias (TargetAlias).
    #[arg(long)]
    pub alias: Option<String>,
    /// A LUN, numbered from 0 in order: `slot:N[,size=1G]`, `file:PATH[,size=1G]` or
    /// `ramdisk:SIZE`; options `,bs=512|4096`, `,pbs=BYTES`, `,pofs=BLOCKS`, `,ro`, `,thin`,
    /// `,removable`, `,vendor=`, `,product=`, `,revision=`, `,serial=`, `,device-id=`,
    /// `,naa=0x<32 hex>`, `,eui=0x<16 hex>`, `,wce=on|off`, `,rcache=on|off`.
    #[arg(long = "lun", default_value = "slot:0,size=1G")]
    pub luns: Vec<String>,
    /// One-way CHAP: the initiator must prove `USER:SECRET`.
    #[arg(long, value_name = "USER:SECRET")]
    pub chap: Option<String>,
    /// Mutual CHAP: the target proves `USER:SECRET` to the initiator (needs --chap).
    #[arg(long, value_name = "USER:SECRET")]
    pub chap_mutual: Option<String>,
    /// Initiator names allowed to log in (default: any).
    #[arg(long = "allow-initiator", value_name = "IQN")]
    pub allow_initiators: Vec<String>,
    /// I/O threads per file LUN: a number, or `auto` (inline on the runtime thread for files
    /// in memory such as /dev/shm, where a read is a memory copy; 2 threads otherwise).
    #[arg(long, default_value = "auto", value_parser = parse_io_threads)]
    pub io_threads: IoThreads,
    /// The log port: where the defmt log goes (a serial port such as /dev/ttyS1, or a
    /// file); standard output when not given. Only the `defmt` build has a binary log; the
    /// plain build writes text to standard error and ignores this.
    #[arg(long, value_name = "PATH")]
    pub log_port: Option<PathBuf>,
    /// The board: `sim` (a process on a host) or `qemu` (PID 1 of a QEMU machine). Without
    /// it: qemu when the kernel started the firmware as /init (PID 1), sim otherwise.
    #[arg(long, value_parser = ["sim", "qemu"])]
    pub board: Option<String>,
    /// Seconds of initiator silence before a NOP-In ping, and again before a connection
    /// whose ping went unanswered is dropped (CTL's `ping_timeout`); 0 never pings.
    #[arg(long, default_value_t = 5, value_name = "SECONDS")]
    pub ping_timeout: u64,
}

/// How file LUNs place their I/O.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IoThreads {
    Auto,
    Fixed(usize),
}

fn parse_io_threads(s: &str) -> Result<IoThreads, String> {
    if s == "auto" {
        return Ok(IoThreads::Auto);
    }
    match s.parse() {
        Ok(n) if n <= 64 => Ok(IoThreads::Fixed(n)),
        _ => Err(format!(
            "'{s}' is not 'auto' or a thread count from 0 to 64"
        )),
    }
}

/// A `--lun` value, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LunSpec {
    pub source: LunSource,
    pub size: Option<u64>,
    pub block_size: u32,
    pub physical_block_size: Option<u32>,
    pub physical_block_offset: u16,
    pub read_only: bool,
    /// Thin provisioned: UNMAP deallocates, LBPME is set.
    pub thin: bool,
    /// Removable medium (RMB): it can be ejected and locked.
    pub removable: bool,
    /// Identity overrides: INQUIRY vendor (8), product (16), revision (4), unit serial
    /// number, T10 vendor device id, NAA 6 (16 bytes) and EUI-64 (8 bytes) designators.
    pub vendor: Option<String>,
    pub product: Option<String>,
    pub revision: Option<String>,
    pub serial: Option<String>,
    pub device_id: Option<String>,
    pub naa: Option<[u8; 16]>,
    pub eui64: Option<[u8; 8]>,
    /// Initial write cache (Caching page WCE) and read cache (RCD cleared).
    pub write_cache: bool,
    pub read_cache: bool,
}

/// Parses `0x` + hex digits into exactly `N` bytes.
fn parse_hex<const N: usize>(what: &str, v: &str) -> Result<[u8; N], String> {
    let digits = v
        .strip_prefix("0x")
        .or_else(|| v.strip_prefix("0X"))
        .unwrap_or(v);
    if digits.len() != 2 * N || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("{what} '{v}' must be {} hex digits", 2 * N));
    }
    let mut out = [0u8; N];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&digits[2 * i..2 * i + 2], 16)
            .map_err(|_| format!("{what} '{v}' is not hex"))?;
    }
    Ok(out)
}

/// An INQUIRY text field: printable ASCII of at most `max` characters.
fn parse_ascii(what: &str, v: &str, max: usize) -> Result<String, String> {
    if v.is_empty() || v.len() > max || !v.bytes().all(|b| (0x20..0x7F).contains(&b)) {
        return Err(format!(
            "{what} '{v}' must be 1 to {max} printable ASCII characters"
        ));
    }
    Ok(v.to_string())
}

fn parse_flag(what: &str, v: &str) -> Result<bool, String> {
    match v {
        "1" | "on" | "yes" => Ok(true),
        "0" | "off" | "no" => Ok(false),
        _ => Err(format!("{what} '{v}' must be on or off")),
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LunSource {
    Slot(u32),
    File(PathBuf),
    Ramdisk,
}

/// Parses sizes such as `1G`, `512M`, `4096`, `64k` (binary multiples).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let (digits, mult) = match s.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let m: u64 = match c.to_ascii_uppercase() {
                'K' => 1 << 10,
                'M' => 1 << 20,
                'G' => 1 << 30,
                'T' => 1 << 40,
                _ => return Err(format!("size '{s}': unknown unit '{c}' (use K, M, G or T)")),
            };
            (&s[..i], m)
        }
        _ => (s, 1),
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("size '{s}' is not a number"))?;
    n.checked_mul(mult)
        .ok_or_else(|| format!("size '{s}' is too large"))
}

impl LunSpec {
    pub fn parse(s: &str) -> Result<LunSpec, String> {
        let mut parts = s.split(',');
        let head = parts.next().unwrap_or_default();
        let (kind, arg) = head.split_once(':').unwrap_or((head, ""));
        let mut spec = LunSpec {
            source: LunSource::Ramdisk,
            size: None,
            block_size: 512,
            physical_block_size: None,
            physical_block_offset: 0,
            read_only: false,
            thin: false,
            removable: false,
            vendor: None,
            product: None,
            revision: None,
            serial: None,
            device_id: None,
            naa: None,
            eui64: None,
            write_cache: true,
            read_cache: true,
        };
        match kind {
            "slot" => {
                let n = arg
                    .parse()
                    .map_err(|_| format!("lun '{s}': slot '{arg}' is not a number"))?;
                spec.source = LunSource::Slot(n);
            }
            "file" if !arg.is_empty() => spec.source = LunSource::File(PathBuf::from(arg)),
            "ramdisk" => {
                if !arg.is_empty() {
                    spec.size = Some(parse_size(arg)?);
                }
            }
            _ => {
                return Err(format!(
                    "lun '{s}': expected slot:N, file:PATH or ramdisk:SIZE at the start"
                ))
            }
        }
        for opt in parts {
            let (k, v) = opt.split_once('=').unwrap_or((opt, ""));
            match k {
                "size" => spec.size = Some(parse_size(v)?),
                "bs" => {
                    spec.block_size = match v {
                        "512" => 512,
                        "4096" => 4096,
                        _ => return Err(format!("lun '{s}': block size must be 512 or 4096")),
                    }
                }
                "pbs" => spec.physical_block_size = Some(parse_size(v)? as u32),
                "pofs" => {
                    spec.physical_block_offset = v
                        .parse()
                        .map_err(|_| format!("lun '{s}': pofs '{v}' is not a number"))?
                }
                "ro" => spec.read_only = true,
                "thin" => spec.thin = true,
                "removable" => spec.removable = true,
                "vendor" => spec.vendor = Some(parse_ascii("vendor", v, 8)?),
                "product" => spec.product = Some(parse_ascii("product", v, 16)?),
                "revision" => spec.revision = Some(parse_ascii("revision", v, 4)?),
                "serial" => spec.serial = Some(parse_ascii("serial", v, 252)?),
                "device-id" => spec.device_id = Some(parse_ascii("device-id", v, 240)?),
                "naa" => {
                    let naa = parse_hex::<16>("naa", v)?;
                    if naa[0] >> 4 != 6 {
                        return Err(format!("lun '{s}': naa must be an NAA 6 (IEEE Registered Extended) designator, starting with 6"));
                    }
                    spec.naa = Some(naa);
                }
                "eui" => spec.eui64 = Some(parse_hex::<8>("eui", v)?),
                "wce" => spec.write_cache = parse_flag("wce", v)?,
                "rcache" => spec.read_cache = parse_flag("rcache", v)?,
                _ => return Err(format!("lun '{s}': unknown option '{k}'")),
            }
        }
        if spec.source == LunSource::Ramdisk && spec.size.is_none() {
            return Err(format!("lun '{s}': a ramdisk needs a size"));
        }
        if let Some(p) = spec.physical_block_size {
            if p < spec.block_size || !p.is_power_of_two() || p / spec.block_size > 1 << 15 {
                return Err(format!(
                    "lun '{s}': physical block size {p} must be a power of two of at least the block size {}",
                    spec.block_size
                ));
            }
        }
        Ok(spec)
    }
}

/// Splits `USER:SECRET`.
pub fn parse_credentials(s: &str) -> Result<(String, String), String> {
    match s.split_once(':') {
        Some((u, p)) if !u.is_empty() && !p.is_empty() => Ok((u.to_string(), p.to_string())),
        _ => Err(format!("credentials '{s}' must be USER:SECRET")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lun_specs() {
        let s = LunSpec::parse("slot:0,size=1G").unwrap();
        assert_eq!(s.source, LunSource::Slot(0));
        assert_eq!(s.size, Some(1 << 30));
        let s = LunSpec::parse("file:/dev/shm/x,size=64M,bs=4096,pbs=16k,pofs=1,ro").unwrap();
        assert_eq!(s.source, LunSource::File("/dev/shm/x".into()));
        assert_eq!(
            (s.block_size, s.physical_block_size, s.physical_block_offset),
            (4096, Some(16384), 1)
        );
        assert!(s.read_only);
        assert_eq!(LunSpec::parse("ramdisk:1G").unwrap().size, Some(1 << 30));
    }

    #[test]
    fn rejects_bad_lun_specs_by_name() {
        for (bad, says) in [
            ("disk:1", "expected slot:N"),
            ("slot:x", "not a number"),
            ("ramdisk:", "needs a size"),
            ("ramdisk:1Q", "unknown unit"),
            ("slot:0,bs=1024", "512 or 4096"),
            ("slot:0,pbs=1000", "power of two"),
            ("slot:0,zap=1", "unknown option 'zap'"),
            ("ramdisk:99999999999T", "too large"),
        ] {
            let e = LunSpec::parse(bad).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn identity_and_cache_options() {
        let s = LunSpec::parse(
            "ramdisk:1M,vendor=ACME,product=Disk 9,revision=0042,serial=S1,device-id=d1,\
             naa=0x6001405aabbccddeeff0011223344556,eui=0x0011223344556677,wce=off,rcache=off",
        )
        .unwrap();
        assert_eq!(s.vendor.as_deref(), Some("ACME"));
        assert_eq!(s.product.as_deref(), Some("Disk 9"));
        assert_eq!(s.naa.map(|n| n[0]), Some(0x60));
        assert_eq!(s.eui64.map(|e| e[7]), Some(0x77));
        assert!(!s.write_cache && !s.read_cache);
        for (bad, says) in [
            ("ramdisk:1M,vendor=TOOLONGVENDOR", "1 to 8"),
            ("ramdisk:1M,naa=0x12", "32 hex digits"),
            ("ramdisk:1M,naa=0x5001405aabbccddeeff0011223344556", "NAA 6"),
            ("ramdisk:1M,eui=zz11223344556677", "16 hex digits"),
            ("ramdisk:1M,wce=maybe", "on or off"),
        ] {
            let e = LunSpec::parse(bad).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn credentials_need_both_halves() {
        assert_eq!(parse_credentials("u:p").unwrap(), ("u".into(), "p".into()));
        assert!(parse_credentials("u:").is_err());
        assert!(parse_credentials("nocolon").is_err());
    }
}
