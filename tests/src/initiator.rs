//! Real initiators as commands: libiscsi's `iscsi-ls`, `iscsi-inq`, `iscsi-readcapacity16`,
//! and our `iscsi-pattern` helper (tests/initiator/iscsi-pattern.c) for writes and the
//! COMPARE AND WRITE counter.

use std::io;
use std::process::Command;
use std::time::Duration;

use crate::child::{self, RunOutput};
use crate::paths;

/// Generous for one login and a handful of commands on a loaded CI machine.
const TOOL_TIMEOUT: Duration = Duration::from_secs(60);

fn run(mut cmd: Command) -> io::Result<RunOutput> {
    let name = child::describe(&cmd);
    child::run_with_timeout(&mut cmd, TOOL_TIMEOUT)
        .map_err(|e| io::Error::new(e.kind(), format!("cannot run {name}: {e}")))
}

/// `iscsi-ls -s PORTAL_URL`: SendTargets discovery, then each target's LUNs with sizes.
pub fn iscsi_ls(portal_url: &str) -> io::Result<RunOutput> {
    let mut cmd = Command::new("iscsi-ls");
    cmd.arg("-s").arg(portal_url);
    run(cmd)
}

/// `iscsi-inq URL` (standard INQUIRY) or `iscsi-inq -e 1 -c PAGE URL` (a VPD page; the
/// page number goes in decimal).
pub fn iscsi_inq(url: &str, vpd_page: Option<u8>) -> io::Result<RunOutput> {
    let mut cmd = Command::new("iscsi-inq");
    if let Some(page) = vpd_page {
        cmd.args(["-e", "1", "-c"]).arg(page.to_string());
    }
    cmd.arg(url);
    run(cmd)
}

/// `iscsi-readcapacity16 URL`.
pub fn iscsi_readcapacity16(url: &str) -> io::Result<RunOutput> {
    let mut cmd = Command::new("iscsi-readcapacity16");
    cmd.arg(url);
    run(cmd)
}

/// A LUN's geometry as READ CAPACITY (16) reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Capacity {
    pub block_length: u32,
    pub blocks: u64,
    /// Logical blocks per physical block, as a power of two.
    pub lbppbe: u8,
}

impl Capacity {
    pub fn bytes(&self) -> u64 {
        self.blocks * u64::from(self.block_length)
    }
}

/// Reads `iscsi-readcapacity16`'s output (`RETURNED LOGICAL BLOCK ADDRESS:N`,
/// `LOGICAL BLOCK LENGTH IN BYTES:N`, `... PHYSICAL BLOCK EXPONENT:N`).
pub fn parse_capacity(output: &str) -> Option<Capacity> {
    let mut last_lba = None;
    let mut block_length = None;
    let mut lbppbe = 0;
    for line in output.lines() {
        if let Some(v) = line.strip_prefix("RETURNED LOGICAL BLOCK ADDRESS:") {
            last_lba = v.trim().parse::<u64>().ok();
        } else if let Some(v) = line.strip_prefix("LOGICAL BLOCK LENGTH IN BYTES:") {
            block_length = v.trim().parse::<u32>().ok();
        } else if let Some(at) = line.find("LOGICAL BLOCKS PER PHYSICAL BLOCK EXPONENT:") {
            let v = &line[at + "LOGICAL BLOCKS PER PHYSICAL BLOCK EXPONENT:".len()..];
            lbppbe = v.trim().parse().unwrap_or(0);
        }
    }
    Some(Capacity {
        block_length: block_length?,
        blocks: last_lba?.checked_add(1)?,
        lbppbe,
    })
}

/// READ CAPACITY (16) of `url`, parsed.
pub fn capacity(url: &str) -> io::Result<Capacity> {
    let out = iscsi_readcapacity16(url)?;
    if !out.success() {
        return Err(io::Error::other(format!(
            "iscsi-readcapacity16 {url} failed: {}",
            out.combined().trim()
        )));
    }
    parse_capacity(&out.stdout).ok_or_else(|| {
        io::Error::other(format!(
            "cannot parse iscsi-readcapacity16 output:\n{}",
            out.stdout
        ))
    })
}

fn pattern_command(
    action: &str,
    url: &str,
    lba: u64,
    count: u64,
    seed: u64,
) -> io::Result<Command> {
    let helper = paths::pattern_binary();
    paths::require_file(
        &helper,
        "build it with `make initiator` (or set DYAD_ISCSI_PATTERN)",
    )?;
    let mut cmd = Command::new(helper);
    cmd.arg(action)
        .arg(url)
        .arg(lba.to_string())
        .arg(count.to_string())
        .arg(seed.to_string());
    Ok(cmd)
}

/// Writes `count` blocks of the pattern for `seed` at `lba` with WRITE (16).
pub fn pattern_write(url: &str, lba: u64, count: u64, seed: u64) -> io::Result<RunOutput> {
    run(pattern_command("write", url, lba, count, seed)?)
}

/// Reads the blocks back with READ (16) and compares; exit status 1 on a mismatch.
pub fn pattern_verify(url: &str, lba: u64, count: u64, seed: u64) -> io::Result<RunOutput> {
    run(pattern_command("verify", url, lba, count, seed)?)
}

/// How long one `caw-increment` run may take: hundreds of increments, each a read and a
/// COMPARE AND WRITE, retried under contention, on a loaded machine.
const CAW_TIMEOUT: Duration = Duration::from_secs(600);

fn helper() -> io::Result<Command> {
    let helper = paths::pattern_binary();
    paths::require_file(
        &helper,
        "build it with `make initiator` (or set DYAD_ISCSI_PATTERN)",
    )?;
    Ok(Command::new(helper))
}

/// `iscsi-pattern caw-increment URL LBA N WRITER`: `n` increments of the counter block at
/// `lba` through its own session, each retried on MISCOMPARE.
pub fn caw_increment(url: &str, lba: u64, n: u64, writer: u64) -> io::Result<RunOutput> {
    let mut cmd = helper()?;
    cmd.arg("caw-increment")
        .arg(url)
        .arg(lba.to_string())
        .arg(n.to_string())
        .arg(writer.to_string());
    let name = child::describe(&cmd);
    child::run_with_timeout(&mut cmd, CAW_TIMEOUT)
        .map_err(|e| io::Error::new(e.kind(), format!("cannot run {name}: {e}")))
}

/// `iscsi-pattern caw-read URL LBA`.
pub fn caw_read(url: &str, lba: u64) -> io::Result<RunOutput> {
    let mut cmd = helper()?;
    cmd.arg("caw-read").arg(url).arg(lba.to_string());
    run(cmd)
}

/// What `caw-increment` reports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CawIncrements {
    pub writer: u64,
    pub increments: u64,
    pub miscompares: u64,
    pub busy: u64,
    /// The counter value of its last successful COMPARE AND WRITE.
    pub last: u64,
}

/// What `caw-read` reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CawCounter {
    pub counter: u64,
    pub writer: u64,
    /// Whether the block is whole: all zeros, or exactly the pattern of its counter.
    pub consistent: bool,
}

/// `KEY VALUE` pairs after `prefix` on the first line that starts with it.
fn fields<'a>(output: &'a str, prefix: &str) -> Option<Vec<(&'a str, &'a str)>> {
    let line = output.lines().find_map(|l| l.strip_prefix(prefix))?;
    let words: Vec<&str> = line.split_whitespace().collect();
    Some(
        words
            .chunks(2)
            .filter_map(|c| Some((c[0], *c.get(1)?)))
            .collect(),
    )
}

fn field<T: std::str::FromStr>(pairs: &[(&str, &str)], key: &str) -> Option<T> {
    pairs
        .iter()
        .find(|(k, _)| *k == key)
        .and_then(|(_, v)| v.parse().ok())
}

/// Reads `caw-increment: writer W increments N miscompares M busy B last V`.
pub fn parse_caw_increments(output: &str) -> Option<CawIncrements> {
    let f = fields(output, "caw-increment:")?;
    Some(CawIncrements {
        writer: field(&f, "writer")?,
        increments: field(&f, "increments")?,
        miscompares: field(&f, "miscompares")?,
        busy: field(&f, "busy")?,
        last: field(&f, "last")?,
    })
}

/// Reads `caw-read: counter V writer W consistent yes|no`.
pub fn parse_caw_counter(output: &str) -> Option<CawCounter> {
    let f = fields(output, "caw-read:")?;
    Some(CawCounter {
        counter: field(&f, "counter")?,
        writer: field(&f, "writer")?,
        consistent: match f.iter().find(|(k, _)| *k == "consistent")?.1 {
            "yes" => true,
            "no" => false,
            _ => return None,
        },
    })
}

/// The keys the target sent in its login responses (`MaxRecvDataSegmentLength`,
/// `MaxBurstLength`, ...), from libiscsi's debug log of an `iscsi-inq` login. A key the
/// target did not send is absent: the RFC default applies.
pub fn login_keys(url: &str) -> io::Result<Vec<(String, String)>> {
    let mut cmd = Command::new("iscsi-inq");
    cmd.arg(url).env("LIBISCSI_DEBUG", "6");
    let out = run(cmd)?;
    if !out.success() {
        return Err(io::Error::other(format!(
            "login to {url} failed: {}",
            out.stderr.trim()
        )));
    }
    Ok(parse_login_keys(&out.stderr))
}

/// Picks `TargetLoginReply: KEY=VALUE [...]` lines out of libiscsi's debug log.
pub fn parse_login_keys(log: &str) -> Vec<(String, String)> {
    log.lines()
        .filter_map(|line| {
            let rest = &line[line.find("TargetLoginReply: ")? + "TargetLoginReply: ".len()..];
            let pair = rest.split(" [").next().unwrap_or(rest);
            let (key, value) = pair.split_once('=')?;
            Some((key.trim().to_string(), value.trim().to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_capacity_output() {
        let out = "RETURNED LOGICAL BLOCK ADDRESS:2097151\nLOGICAL BLOCK LENGTH IN BYTES:512\n\
                   P_TYPE:0 PROT_EN:0\nP_I_EXPONENT:0 LOGICAL BLOCKS PER PHYSICAL BLOCK EXPONENT:3\n";
        let c = parse_capacity(out).expect("parses");
        assert_eq!(
            c,
            Capacity {
                block_length: 512,
                blocks: 2097152,
                lbppbe: 3
            }
        );
        assert_eq!(c.bytes(), 1 << 30);
        assert_eq!(parse_capacity("garbage"), None);
    }

    #[test]
    fn reads_the_counter_helper_lines() {
        assert_eq!(
            parse_caw_increments(
                "caw-increment: writer 2 increments 500 miscompares 37 busy 0 last 999\n"
            ),
            Some(CawIncrements {
                writer: 2,
                increments: 500,
                miscompares: 37,
                busy: 0,
                last: 999
            })
        );
        assert_eq!(
            parse_caw_counter("caw-read: counter 1000 writer 1 consistent yes\n"),
            Some(CawCounter {
                counter: 1000,
                writer: 1,
                consistent: true
            })
        );
        assert_eq!(
            parse_caw_counter("caw-read: counter 7 writer 1 consistent no"),
            Some(CawCounter {
                counter: 7,
                writer: 1,
                consistent: false
            })
        );
        assert_eq!(parse_caw_counter("garbage"), None);
    }

    #[test]
    fn reads_login_keys_from_the_debug_log() {
        let log = "libiscsi:2 connecting to portal 127.0.0.1:3260 [iqn.x:t]\n\
                   libiscsi:6 TargetLoginReply: MaxBurstLength=262144 [iqn.x:t]\n\
                   libiscsi:6 TargetLoginReply: ImmediateData=Yes [iqn.x:t]\n";
        assert_eq!(
            parse_login_keys(log),
            vec![
                ("MaxBurstLength".to_string(), "262144".to_string()),
                ("ImmediateData".to_string(), "Yes".to_string())
            ]
        );
    }
}
