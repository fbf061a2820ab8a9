//! tgtd, the peer target we validate the harness on and measure against: started in the
//! foreground on a loopback port with a file-backed disk at LUN 1 (tgt keeps LUN 0 for its
//! controller) and optionally further disks at LUN 2, 3, ... with tgtadm `--params`
//! (`readonly=1`, `removable=1`, `thin_provisioning=1`), configured with tgtadm, torn
//! down on drop.

use std::fs::OpenOptions;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::child::{self, Echo, SharedLog};
use crate::port::free_loopback_port;
use crate::target::Credentials;
use crate::tempdir::TempDir;

/// tgt's target id for the one target we create.
const TID: &str = "1";
/// tgt's data-segment defaults, restored by `set_segment_limits(None)`.
const TGT_DEFAULT_SEGMENT: u32 = 8192;
/// The "large" limits the measuring notes compare against.
pub const LARGE_SEGMENT: u32 = 256 * 1024;

#[derive(Clone, Debug)]
pub struct TgtdConfig {
    /// Backing file size in bytes.
    pub size: u64,
    /// Use this backing file (created sparse if missing, kept afterwards). `None`: a sparse
    /// file in a temporary directory under `backing_dir`.
    pub backing_file: Option<PathBuf>,
    /// Where the temporary backing file goes (`None`: the system temporary directory).
    pub backing_dir: Option<PathBuf>,
    pub iqn: String,
    /// Raise MaxRecv/MaxXmitDataSegmentLength and MaxBurstLength to 256 KiB.
    pub large_segments: bool,
    /// Require CHAP from initiators.
    pub chap: Option<Credentials>,
    /// Further disks of `size` bytes at LUN 2, 3, ...: each entry is the tgtadm `--params`
    /// value for that LUN (empty for none). Their sparse backing files live in a temporary
    /// directory under `backing_dir`.
    pub extra_luns: Vec<String>,
}

impl Default for TgtdConfig {
    fn default() -> Self {
        TgtdConfig {
            size: 1 << 30,
            backing_file: None,
            backing_dir: None,
            iqn: "iqn.2026-11.dev.dyad:tgtd".to_string(),
            large_segments: false,
            chap: None,
            extra_luns: Vec::new(),
        }
    }
}

/// A running tgtd with one target; killed when dropped.
pub struct Tgtd {
    config: TgtdConfig,
    port: u16,
    backing: PathBuf,
    /// Backing files of `config.extra_luns`, LUN 2 first.
    extra_backing: Vec<PathBuf>,
    child: Option<Child>,
    log: SharedLog,
    _tempdir: Option<TempDir>,
}

impl Tgtd {
    /// The LUN of the disk (tgt's controller is LUN 0).
    pub const DISK_LUN: u32 = 1;

    pub fn start(config: TgtdConfig) -> io::Result<Tgtd> {
        let tempdir = if config.backing_file.is_none() || !config.extra_luns.is_empty() {
            Some(match &config.backing_dir {
                Some(base) => TempDir::new_in(base, "tgtd")?,
                None => TempDir::new("tgtd")?,
            })
        } else {
            None
        };
        let backing = match (&config.backing_file, &tempdir) {
            (Some(path), _) => path.clone(),
            (None, Some(dir)) => dir.path().join("disk.img"),
            (None, None) => unreachable!("a temporary directory is made when no file is given"),
        };
        let extra_backing: Vec<PathBuf> = match &tempdir {
            Some(dir) => (0..config.extra_luns.len())
                .map(|i| dir.path().join(format!("lun{}.img", i + 2)))
                .collect(),
            None => Vec::new(),
        };
        for file in std::iter::once(&backing).chain(&extra_backing) {
            if !file.exists() {
                OpenOptions::new()
                    .create_new(true)
                    .write(true)
                    .open(file)?
                    .set_len(config.size)?;
            }
        }
        let mut tgtd = Tgtd {
            config,
            port: free_loopback_port()?,
            backing,
            extra_backing,
            child: None,
            log: SharedLog::default(),
            _tempdir: tempdir,
        };
        tgtd.launch()?;
        Ok(tgtd)
    }

    /// tgtd's management socket is `/var/run/tgtd/socket.N` for `-C N`, N at most 32767.
    /// Deriving N from the iSCSI port keeps parallel instances apart (ports in the
    /// ephemeral range map to distinct N) and never picks 0, a system tgtd's.
    fn control(&self) -> String {
        (self.port % 32767 + 1).to_string()
    }

    fn launch(&mut self) -> io::Result<()> {
        let mut cmd = Command::new("tgtd");
        cmd.arg("-f")
            .arg("-C")
            .arg(self.control())
            .arg("--iscsi")
            .arg(format!("portal=127.0.0.1:{}", self.port))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut process = cmd.spawn().map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot start tgtd (apt-get install tgt): {e}"),
            )
        })?;
        if let Some(pipe) = process.stdout.take() {
            child::drain(pipe, self.log.clone(), None, Echo::None);
        }
        if let Some(pipe) = process.stderr.take() {
            child::drain(pipe, self.log.clone(), None, Echo::None);
        }
        self.child = Some(process);
        if let Err(e) = self.configure() {
            self.kill();
            return Err(io::Error::new(
                e.kind(),
                format!(
                    "tgtd did not come up: {e}\n--- tgtd output:\n{}",
                    self.log()
                ),
            ));
        }
        Ok(())
    }

    /// Waits for the management socket, then creates the target, its LUN, ACL and limits.
    fn configure(&mut self) -> io::Result<()> {
        // tgtd prints nothing when it is ready; its management socket answering is the sign.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(process) = self.child.as_mut() {
                if let Some(status) = process.try_wait()? {
                    return Err(io::Error::other(format!("tgtd exited with {status}")));
                }
            }
            if self.tgtadm(&["--mode", "target", "--op", "show"]).is_ok() {
                break;
            }
            if Instant::now() >= deadline {
                return Err(io::Error::other("no answer on its management socket"));
            }
            thread::sleep(Duration::from_millis(50));
        }
        let iqn = self.config.iqn.clone();
        let backing = self.backing.to_string_lossy().into_owned();
        self.tgtadm(&["--mode", "target", "--op", "new", "--tid", TID, "-T", &iqn])?;
        self.tgtadm(&[
            "--mode",
            "logicalunit",
            "--op",
            "new",
            "--tid",
            TID,
            "--lun",
            "1",
            "-b",
            &backing,
        ])?;
        let extra: Vec<(String, String, String)> = self
            .config
            .extra_luns
            .iter()
            .zip(&self.extra_backing)
            .enumerate()
            .map(|(i, (params, file))| {
                (
                    (i + 2).to_string(),
                    file.to_string_lossy().into_owned(),
                    params.clone(),
                )
            })
            .collect();
        for (lun, file, params) in &extra {
            self.tgtadm(&[
                "--mode",
                "logicalunit",
                "--op",
                "new",
                "--tid",
                TID,
                "--lun",
                lun,
                "-b",
                file,
            ])?;
            if !params.is_empty() {
                self.tgtadm(&[
                    "--mode",
                    "logicalunit",
                    "--op",
                    "update",
                    "--tid",
                    TID,
                    "--lun",
                    lun,
                    "--params",
                    params,
                ])?;
            }
        }
        self.tgtadm(&[
            "--mode", "target", "--op", "bind", "--tid", TID, "-I", "ALL",
        ])?;
        if let Some(chap) = self.config.chap.clone() {
            self.tgtadm(&[
                "--mode",
                "account",
                "--op",
                "new",
                "--user",
                &chap.user,
                "--password",
                &chap.secret,
            ])?;
            self.tgtadm(&[
                "--mode", "account", "--op", "bind", "--tid", TID, "--user", &chap.user,
            ])?;
        }
        if self.config.large_segments {
            self.set_segment_limits(Some(LARGE_SEGMENT))?;
        }
        Ok(())
    }

    /// Runs `tgtadm --lld iscsi ARGS` against this instance; its stdout on success.
    pub fn tgtadm(&self, args: &[&str]) -> io::Result<String> {
        let mut cmd = Command::new("tgtadm");
        cmd.arg("-C")
            .arg(self.control())
            .args(["--lld", "iscsi"])
            .args(args);
        let out = child::run_with_timeout(&mut cmd, Duration::from_secs(10))?;
        if out.success() {
            Ok(out.stdout)
        } else {
            Err(io::Error::other(format!(
                "{} failed: {}",
                child::describe(&cmd),
                out.combined().trim()
            )))
        }
    }

    /// Sets MaxRecv/MaxXmitDataSegmentLength to `bytes` (and MaxBurstLength to at least
    /// that), or back to tgt's defaults with `None`. Applies to sessions opened afterwards.
    pub fn set_segment_limits(&self, bytes: Option<u32>) -> io::Result<()> {
        let segment = bytes.unwrap_or(TGT_DEFAULT_SEGMENT);
        // tgt's default MaxBurstLength is already 256 KiB; never lower it below a segment.
        let burst = segment.max(LARGE_SEGMENT);
        for (name, value) in [
            ("MaxRecvDataSegmentLength", segment),
            ("MaxXmitDataSegmentLength", segment),
            ("MaxBurstLength", burst),
        ] {
            let value = value.to_string();
            self.tgtadm(&[
                "--mode", "target", "--op", "update", "--tid", TID, "--name", name, "--value",
                &value,
            ])?;
        }
        Ok(())
    }

    /// The target's session parameters as tgtadm shows them (`Name=value` lines).
    pub fn parameters(&self) -> io::Result<String> {
        self.tgtadm(&["--mode", "target", "--op", "show", "--tid", TID])
    }

    pub fn url(&self, lun: u32) -> String {
        format!("iscsi://{}/{}/{lun}", self.portal(), self.config.iqn)
    }

    /// `127.0.0.1:PORT`.
    pub fn portal(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn iqn(&self) -> &str {
        &self.config.iqn
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn backing_file(&self) -> &Path {
        &self.backing
    }

    /// What tgtd printed (its harmless startup warnings included).
    pub fn log(&self) -> String {
        child::snapshot(&self.log)
    }

    /// Stops tgtd (it ignores SIGTERM, so: delete the target, then SIGKILL) and starts it
    /// again on the same port and backing file.
    pub fn restart(&mut self) -> io::Result<()> {
        self.kill();
        self.launch()
    }

    fn kill(&mut self) {
        if let Some(mut process) = self.child.take() {
            if matches!(process.try_wait(), Ok(None)) {
                // Deleting the target first ends its sessions the way an admin would.
                let _ = self.tgtadm(&[
                    "--mode", "target", "--op", "delete", "--force", "--tid", TID,
                ]);
            }
            let _ = process.kill();
            let _ = process.wait();
        }
        // A killed tgtd leaves its socket files behind; remove them so the number can be
        // reused.
        let socket = format!("/var/run/tgtd/socket.{}", self.control());
        let _ = std::fs::remove_file(&socket);
        let _ = std::fs::remove_file(format!("{socket}.lock"));
    }
}

impl Drop for Tgtd {
    fn drop(&mut self) {
        self.kill();
    }
}
