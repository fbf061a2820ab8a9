//! One interface over the targets a test can run against: the firmware (what `make test`
//! checks) or tgtd (to prove a test itself on a known-good target). `DYAD_TEST_TARGET=tgtd`
//! selects tgtd.

use std::io;

use crate::firmware::{Firmware, FirmwareConfig};
use crate::tgtd::{Tgtd, TgtdConfig};

/// A CHAP user name and secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credentials {
    pub user: String,
    pub secret: String,
}

impl Credentials {
    pub fn new(user: &str, secret: &str) -> Credentials {
        Credentials {
            user: user.to_string(),
            secret: secret.to_string(),
        }
    }

    /// `USER:SECRET`, the firmware's `--chap` argument.
    pub fn flag_value(&self) -> String {
        format!("{}:{}", self.user, self.secret)
    }

    /// `url` with these credentials in libiscsi's form, `iscsi://USER%SECRET@host...`.
    pub fn in_url(&self, url: &str) -> String {
        let rest = url.strip_prefix("iscsi://").unwrap_or(url);
        format!("iscsi://{}%{}@{rest}", self.user, self.secret)
    }
}

/// Which implementation a test runs against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TargetKind {
    Firmware,
    Tgtd,
}

impl TargetKind {
    /// `DYAD_TEST_TARGET=tgtd` selects tgtd; anything else (or nothing) the firmware.
    pub fn from_env() -> TargetKind {
        match std::env::var("DYAD_TEST_TARGET").as_deref() {
            Ok("tgtd") => TargetKind::Tgtd,
            _ => TargetKind::Firmware,
        }
    }
}

/// The LUN a test wants: one disk of `size` bytes, optionally behind CHAP.
#[derive(Clone, Debug)]
pub struct TargetSpec {
    pub size: u64,
    pub chap: Option<Credentials>,
}

impl Default for TargetSpec {
    fn default() -> Self {
        TargetSpec {
            size: 1 << 30,
            chap: None,
        }
    }
}

/// A running target with one disk LUN.
pub trait TestTarget {
    fn kind(&self) -> TargetKind;
    /// `127.0.0.1:PORT`.
    fn portal(&self) -> String;
    fn iqn(&self) -> &str;
    /// The LUN number of the disk (0 on the firmware, 1 on tgtd).
    fn disk_lun(&self) -> u32;
    fn pid(&self) -> Option<u32>;
    /// Stops the target as an operator would and starts it again on the same storage.
    fn restart(&mut self) -> io::Result<()>;
    /// What the target printed, for failure reports.
    fn log(&self) -> String;

    /// `iscsi://127.0.0.1:PORT` (discovery).
    fn portal_url(&self) -> String {
        format!("iscsi://{}", self.portal())
    }

    fn url(&self, lun: u32) -> String {
        format!("iscsi://{}/{}/{lun}", self.portal(), self.iqn())
    }

    fn disk_url(&self) -> String {
        self.url(self.disk_lun())
    }
}

/// A size as the firmware's LUN spec writes it (`1G`, `64M`, or bytes).
pub fn size_flag(bytes: u64) -> String {
    const G: u64 = 1 << 30;
    const M: u64 = 1 << 20;
    if bytes % G == 0 {
        format!("{}G", bytes / G)
    } else if bytes % M == 0 {
        format!("{}M", bytes / M)
    } else {
        bytes.to_string()
    }
}

/// The firmware flags for `spec`: a sim-board slot file, as `make run` uses.
pub fn firmware_args(spec: &TargetSpec) -> Vec<String> {
    let mut args = vec![
        "--lun".to_string(),
        format!("slot:0,size={}", size_flag(spec.size)),
    ];
    if let Some(chap) = &spec.chap {
        args.push("--chap".to_string());
        args.push(chap.flag_value());
    }
    args
}

/// Starts a target of `kind` shaped as `spec` asks.
pub fn start_target(kind: TargetKind, spec: &TargetSpec) -> io::Result<Box<dyn TestTarget>> {
    Ok(match kind {
        TargetKind::Firmware => Box::new(Firmware::start_with(FirmwareConfig::with_args(
            &firmware_args(spec),
        ))?),
        TargetKind::Tgtd => Box::new(Tgtd::start(TgtdConfig {
            size: spec.size,
            chap: spec.chap.clone(),
            ..TgtdConfig::default()
        })?),
    })
}

impl TestTarget for Firmware {
    fn kind(&self) -> TargetKind {
        TargetKind::Firmware
    }
    fn portal(&self) -> String {
        self.listen().to_string()
    }
    fn iqn(&self) -> &str {
        Firmware::iqn(self)
    }
    fn disk_lun(&self) -> u32 {
        0
    }
    fn pid(&self) -> Option<u32> {
        Firmware::pid(self)
    }
    fn restart(&mut self) -> io::Result<()> {
        let status = self.stop()?;
        if !status.success() {
            return Err(io::Error::other(format!(
                "the firmware did not stop cleanly on SIGTERM: {status}\n{}",
                Firmware::log(self)
            )));
        }
        Firmware::restart(self)
    }
    fn log(&self) -> String {
        Firmware::log(self)
    }
}

impl TestTarget for Tgtd {
    fn kind(&self) -> TargetKind {
        TargetKind::Tgtd
    }
    fn portal(&self) -> String {
        Tgtd::portal(self)
    }
    fn iqn(&self) -> &str {
        Tgtd::iqn(self)
    }
    fn disk_lun(&self) -> u32 {
        Tgtd::DISK_LUN
    }
    fn pid(&self) -> Option<u32> {
        Tgtd::pid(self)
    }
    fn restart(&mut self) -> io::Result<()> {
        Tgtd::restart(self)
    }
    fn log(&self) -> String {
        Tgtd::log(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_go_into_the_url_as_libiscsi_wants() {
        let c = Credentials::new("alice", "s3cret-secret");
        assert_eq!(
            c.in_url("iscsi://127.0.0.1:3260/iqn.x:t/0"),
            "iscsi://alice%s3cret-secret@127.0.0.1:3260/iqn.x:t/0"
        );
        assert_eq!(c.flag_value(), "alice:s3cret-secret");
    }

    #[test]
    fn sizes_use_the_largest_exact_unit() {
        assert_eq!(size_flag(1 << 30), "1G");
        assert_eq!(size_flag(64 << 20), "64M");
        assert_eq!(size_flag(1000), "1000");
    }
}
