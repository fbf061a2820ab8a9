//! The board's parameters on the kernel command line.
//!
//! Words with a dot (`dyad.controller=1`) are taken by the kernel for module parameters: it
//! neither passes them to init nor complains about them, so the firmware reads them back
//! from `/proc/cmdline`. The launcher writes them with [`BootParams::to_words`].

use std::fmt;
use std::str::FromStr;

/// The prefix of every board parameter.
const PREFIX: &str = "dyad.";

/// An Ethernet address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Mac(pub [u8; 6]);

impl fmt::Display for Mac {
    /// `52:54:00:12:00:0a`, as Linux writes it in /sys/class/net/*/address.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

impl FromStr for Mac {
    type Err = String;

    fn from_str(text: &str) -> Result<Mac, String> {
        let mut out = [0u8; 6];
        let mut parts = text.trim().split(':');
        for byte in out.iter_mut() {
            let part = parts.next().unwrap_or_default();
            if part.len() != 2 {
                return Err(format!("'{text}' is not a MAC address (xx:xx:xx:xx:xx:xx)"));
            }
            *byte = u8::from_str_radix(part, 16)
                .map_err(|_| format!("'{text}' is not a MAC address (xx:xx:xx:xx:xx:xx)"))?;
        }
        if parts.next().is_some() {
            return Err(format!("'{text}' is not a MAC address (xx:xx:xx:xx:xx:xx)"));
        }
        Ok(Mac(out))
    }
}

/// What the launcher tells one board.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BootParams {
    /// 1 (board A) or 2 (board B): `dyad.controller`.
    pub controller: u8,
    /// The NIC that carries iSCSI: `dyad.iscsi_mac`.
    pub iscsi_mac: Mac,
    /// The interlink NIC: `dyad.link_mac`.
    pub link_mac: Mac,
    /// The enclosure's identity (16 hex digits), the same on both boards so that both derive
    /// the same LUN designators: `dyad.enclosure`.
    pub enclosure_id: Option<u64>,
    /// How many backplane drives to wait for before starting: `dyad.drives` (0 when absent).
    pub drives: u32,
    /// Whether the machine has the board's flash disk to wait for: `dyad.flash=1` (a
    /// machine started without the boot ROM has none).
    pub flash: bool,
}

impl BootParams {
    /// Reads the board parameters out of a kernel command line (`/proc/cmdline`). Words of
    /// the kernel's own and unknown `dyad.` words are left alone; a missing or malformed
    /// board parameter is an error naming it.
    pub fn parse(cmdline: &str) -> Result<BootParams, String> {
        let mut controller = None;
        let mut iscsi_mac = None;
        let mut link_mac = None;
        let mut enclosure_id = None;
        let mut drives = 0;
        let mut flash = false;
        for word in cmdline.split_whitespace() {
            let Some(rest) = word.strip_prefix(PREFIX) else {
                continue;
            };
            let (key, value) = rest.split_once('=').unwrap_or((rest, ""));
            let named = |e: String| format!("kernel parameter {word}: {e}");
            match key {
                "controller" => {
                    controller = Some(match value {
                        "1" | "a" => 1,
                        "2" | "b" => 2,
                        _ => return Err(named("want 1 or 2".into())),
                    })
                }
                "iscsi_mac" => iscsi_mac = Some(value.parse().map_err(named)?),
                "link_mac" => link_mac = Some(value.parse().map_err(named)?),
                "enclosure" => {
                    enclosure_id = Some(
                        u64::from_str_radix(value, 16)
                            .map_err(|_| named("want 16 hex digits".into()))?,
                    )
                }
                "drives" => {
                    drives = value
                        .parse()
                        .map_err(|_| named("want a number of drives".into()))?
                }
                "flash" => {
                    flash = match value {
                        "1" => true,
                        "0" => false,
                        _ => return Err(named("want 0 or 1".into())),
                    }
                }
                _ => {}
            }
        }
        let missing = |name: &str| format!("the kernel command line has no {PREFIX}{name}=");
        Ok(BootParams {
            controller: controller.ok_or_else(|| missing("controller"))?,
            iscsi_mac: iscsi_mac.ok_or_else(|| missing("iscsi_mac"))?,
            link_mac: link_mac.ok_or_else(|| missing("link_mac"))?,
            enclosure_id,
            drives,
            flash,
        })
    }

    /// The words for the kernel command line ([`BootParams::parse`] reads them back).
    pub fn to_words(&self) -> Vec<String> {
        let mut words = vec![
            format!("{PREFIX}controller={}", self.controller),
            format!("{PREFIX}iscsi_mac={}", self.iscsi_mac),
            format!("{PREFIX}link_mac={}", self.link_mac),
        ];
        if let Some(id) = self.enclosure_id {
            words.push(format!("{PREFIX}enclosure={id:016x}"));
        }
        words.push(format!("{PREFIX}drives={}", self.drives));
        if self.flash {
            words.push(format!("{PREFIX}flash=1"));
        }
        words
    }

    /// `a` or `b`.
    pub fn letter(&self) -> char {
        if self.controller == 2 {
            'b'
        } else {
            'a'
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macs_print_and_parse() {
        let mac: Mac = "52:54:00:12:00:0A".parse().unwrap();
        assert_eq!(mac, Mac([0x52, 0x54, 0, 0x12, 0, 0x0a]));
        assert_eq!(mac.to_string(), "52:54:00:12:00:0a");
        for bad in [
            "",
            "52:54:00:12:00",
            "52:54:00:12:00:0a:01",
            "52-54-00-12-00-0a",
            "zz:54:00:12:00:0a",
        ] {
            assert!(bad.parse::<Mac>().is_err(), "{bad}");
        }
    }

    #[test]
    fn parameters_round_trip_among_the_kernels_words() {
        let params = BootParams {
            controller: 2,
            iscsi_mac: Mac([0x52, 0x54, 0, 0x12, 0, 0x0b]),
            link_mac: Mac([0x52, 0x54, 0, 0x12, 1, 0x0b]),
            enclosure_id: Some(0x0123_4567_89ab_cdef),
            drives: 2,
            flash: true,
        };
        let line = format!(
            "console=ttyS2 panic=-1 {} virtio_blk.foo=1 dyad.future=x\n",
            params.to_words().join(" ")
        );
        assert_eq!(BootParams::parse(&line).unwrap(), params);
        assert_eq!(params.letter(), 'b');
    }

    #[test]
    fn missing_or_bad_parameters_are_named() {
        let e = BootParams::parse("console=ttyS0 dyad.controller=1").unwrap_err();
        assert!(e.contains("dyad.iscsi_mac"), "{e}");
        let e = BootParams::parse("dyad.controller=3").unwrap_err();
        assert!(e.contains("dyad.controller=3"), "{e}");
        let e = BootParams::parse(
            "dyad.controller=1 dyad.iscsi_mac=52:54:00:12:00:0a dyad.link_mac=nope",
        )
        .unwrap_err();
        assert!(e.contains("dyad.link_mac=nope"), "{e}");
        let ok = BootParams::parse(
            "dyad.controller=a dyad.iscsi_mac=52:54:00:12:00:0a dyad.link_mac=52:54:00:12:01:0a",
        )
        .unwrap();
        assert_eq!(
            (ok.controller, ok.enclosure_id, ok.drives, ok.flash),
            (1, None, 0, false)
        );
        let e = BootParams::parse("dyad.controller=1 dyad.flash=yes").unwrap_err();
        assert!(e.contains("dyad.flash=yes"), "{e}");
    }
}
