//! The controller's command line: until `ctl.conf` lands, the whole configuration of one
//! controller, one portal and one target.

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
    /// `,removable`.
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

    /// LOGICAL BLOCKS PER PHYSICAL BLOCK EXPONENT.
    pub fn pblock_exp(&self) -> u8 {
        self.physical_block_size
            .map_or(0, |p| (p / self.block_size).trailing_zeros() as u8)
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
            (s.block_size, s.pblock_exp(), s.physical_block_offset),
            (4096, 2, 1)
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
    fn credentials_need_both_halves() {
        assert_eq!(parse_credentials("u:p").unwrap(), ("u".into(), "p".into()));
        assert!(parse_credentials("u:").is_err());
        assert!(parse_credentials("nocolon").is_err());
    }
}
