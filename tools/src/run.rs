//! `dyad run`: one controller of the simulated enclosure in the foreground, with the lines
//! to paste into another terminal to reach it.
//!
//! By default the controller starts from the enclosure's `ctl.conf` (written from a
//! commented sample the first time); `--config FILE` names another. The legacy firmware
//! flags (`-- --lun ... --listen ...`) still start it the old way, without a file.
//!
//! It supervises the controller as the sim board would: one whose watchdog expires (hung,
//! not petting) is killed and started again, as is one that ends without being asked to (a
//! crash, or the peer's reset fence), at most 5 times a minute; one the peer fenced off
//! (`<enclosure>/controller-X.off`) is left off, and `dyad run` ends with an error.

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{ExitCode, ExitStatus};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use board::sim::{watchdog_state, WatchdogState};

use dyad_tests::console_client::controller_letter;
use dyad_tests::{Firmware, FirmwareConfig, DEFAULT_TARGET_IQN};

use crate::{locate, signals};

const DEFAULT_LISTEN: &str = "127.0.0.1:3260";
pub const DEFAULT_ENCLOSURE: &str = "var/enclosure";
const DEFAULT_LUN: &str = "slot:0,size=1G";
/// The enclosure's own configuration, used when no `--config` is given.
const ENCLOSURE_CONFIG: &str = "ctl.conf";
/// What `dyad run` writes to `<enclosure>/ctl.conf` when there is none.
pub const DEFAULT_CONFIG: &str = include_str!("default-ctl.conf");
/// The firmware flags that say what a configuration file says; any of them means the
/// legacy, file-less start.
const LEGACY_FLAGS: [&str; 7] = [
    "--lun",
    "--listen",
    "--target",
    "--alias",
    "--chap",
    "--chap-mutual",
    "--allow-initiator",
];

#[derive(clap::Args)]
pub struct RunArgs {
    /// The ctl.conf to serve [default: <enclosure>/ctl.conf, written from a commented
    /// sample if missing]. Not with the legacy flags (--lun, --listen, --target, ...).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// The enclosure directory: drive files, identity, console sockets [default:
    /// var/enclosure].
    #[arg(long, value_name = "DIR")]
    enclosure: Option<PathBuf>,
    /// Which controller of the enclosure to be: 1 (A) or 2 (B) [default: 1].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u8).range(1..=2))]
    controller: Option<u8>,
    /// Further firmware flags, after `--`. The legacy ones (`-- --lun ramdisk:1G --listen
    /// 127.0.0.1:3261`, --target, --alias, --chap, --chap-mutual, --allow-initiator) start
    /// the controller without a configuration file, as before ctl.conf.
    #[arg(last = true, value_name = "FIRMWARE_ARGS")]
    firmware_args: Vec<String>,
}

/// Removes `--flag VALUE` or `--flag=VALUE` from `args`; the last one given wins.
fn take_flag(args: &mut Vec<String>, flag: &str) -> Result<Option<String>, String> {
    let mut value = None;
    let mut i = 0;
    while i < args.len() {
        if args[i] == flag {
            if i + 1 >= args.len() {
                return Err(format!("{flag} needs a value"));
            }
            value = Some(args.remove(i + 1));
            args.remove(i);
        } else if let Some(v) = args[i].strip_prefix(&format!("{flag}=")) {
            value = Some(v.to_string());
            args.remove(i);
        } else {
            i += 1;
        }
    }
    Ok(value)
}

/// Whether `args` has `flag` (as `--flag VALUE` or `--flag=VALUE`).
fn has_flag(args: &[String], flag: &str) -> bool {
    args.iter()
        .any(|a| a == flag || a.strip_prefix(flag).is_some_and(|v| v.starts_with('=')))
}

pub fn run(args: RunArgs) -> Result<ExitCode, String> {
    let RunArgs {
        config,
        enclosure,
        controller,
        firmware_args: mut args,
    } = args;
    // Also after `--`, as before these were options of their own; the options win.
    let enclosure = match (enclosure, take_flag(&mut args, "--enclosure")?) {
        (Some(dir), _) => dir,
        (None, dir) => PathBuf::from(dir.as_deref().unwrap_or(DEFAULT_ENCLOSURE)),
    };
    let controller = match (controller, take_flag(&mut args, "--controller")?) {
        (Some(n), _) => n,
        (None, Some(n)) => match n.parse() {
            Ok(n @ 1..=2) => n,
            _ => return Err(format!("--controller {n}: want 1 or 2")),
        },
        (None, None) => 1,
    };
    let config = match (config, take_flag(&mut args, "--config")?) {
        (Some(file), _) => Some(file),
        (None, file) => file.map(PathBuf::from),
    };
    let legacy: Vec<&str> = LEGACY_FLAGS
        .into_iter()
        .filter(|f| has_flag(&args, f))
        .collect();
    if let (Some(file), Some(first)) = (&config, legacy.first()) {
        return Err(format!(
            "--config {} and {first} do not go together: the file says what {} would; \
             put it there",
            file.display(),
            legacy.join(", ")
        ));
    }
    std::fs::create_dir_all(&enclosure)
        .map_err(|e| format!("cannot create {}: {e}", enclosure.display()))?;
    let start = if legacy.is_empty() {
        from_file(config, &enclosure, controller, args)?
    } else {
        legacy_flags(&enclosure, controller, args)?
    };
    let mut firmware = FirmwareConfig {
        binary: locate::firmware()?,
        ..start.firmware
    };
    // The board build logs with defmt: to a capture in the enclosure folder, decoded here as
    // it comes. (The plain build writes its log as text to standard error.)
    let mut log = None;
    if crate::defmt_log::is_defmt_build(&firmware.binary) && !has_flag(&firmware.args, "--log-port")
    {
        let capture = enclosure.join(format!(
            "controller-{}.defmt",
            if controller == 2 { 'b' } else { 'a' }
        ));
        firmware.args.push("--log-port".into());
        firmware.args.push(capture.to_string_lossy().into_owned());
        log = Some((capture, firmware.binary.clone()));
    }

    signals::install();
    let _follower = log
        .as_ref()
        .and_then(|(capture, elf)| crate::defmt_log::follow(capture, elf, "dyad: log: ", true));
    let mut firmware = Firmware::start_with(firmware).map_err(|e| e.to_string())?;
    if let Some(pid) = firmware.pid() {
        signals::forward_to(pid);
    }
    println!("{}", start.banner);
    supervise(&mut firmware, &enclosure, controller)
}

/// How often the launcher looks at the firmware and its watchdog.
const POLL: Duration = Duration::from_millis(200);
/// The crash-loop guard: at most this many restarts ...
const RESTART_LIMIT: usize = 5;
/// ... within this long, then the launcher gives up.
const RESTART_WINDOW: Duration = Duration::from_secs(60);
/// Starts in a row that do not reach the ready line before the launcher gives up (a start
/// that hangs takes up to its ready timeout, longer than the window).
const FAILED_STARTS_LIMIT: u32 = 3;

/// Keeps the firmware running as the sim board would: a watchdog that expires (the firmware
/// hangs) or an end that nobody asked for (a crash, the peer's reset fence) starts it again;
/// the peer's power-off fence, a clean stop and a crash loop end `dyad run`.
fn supervise(
    firmware: &mut Firmware,
    enclosure: &Path,
    controller: u8,
) -> Result<ExitCode, String> {
    let name = format!(
        "controller {}",
        controller_letter(controller).to_ascii_uppercase()
    );
    let mut guard = CrashLoopGuard::new(RESTART_LIMIT, RESTART_WINDOW);
    let mut restarts = 0u32;
    let mut watchdog_unreadable = false;
    loop {
        thread::sleep(POLL);
        // Held while we look: a signal that comes meanwhile goes to the process once we know
        // it still runs, never to a reaped process id.
        signals::hold();
        let exited = firmware
            .try_wait()
            .map_err(|e| format!("waiting for the firmware: {e}"))?;
        let why = match exited {
            Some(status) if status.success() || signals::stop_requested() => {
                return Ok(ended(status));
            }
            Some(status) => format!("{name} ended with {}", describe(status)),
            None => {
                match watchdog_state(enclosure, controller, SystemTime::now()) {
                    Ok(WatchdogState::Expired { overdue }) => {
                        // Hung: not trusted to stop cleanly.
                        firmware
                            .kill()
                            .map_err(|e| format!("cannot kill the hung firmware: {e}"))?;
                        let why = format!(
                            "{name}'s watchdog expired ({} ms overdue)",
                            overdue.as_millis()
                        );
                        if signals::stop_requested() {
                            eprintln!("dyad: {why} while it was stopping: killed it");
                            return Ok(ExitCode::FAILURE);
                        }
                        why
                    }
                    Ok(WatchdogState::Alive { .. } | WatchdogState::Disarmed) => {
                        watchdog_unreadable = false;
                        resume(firmware);
                        continue;
                    }
                    Err(e) => {
                        if !watchdog_unreadable {
                            watchdog_unreadable = true;
                            eprintln!("dyad: cannot read {name}'s watchdog: {e}");
                        }
                        resume(firmware);
                        continue;
                    }
                }
            }
        };
        // It is down; start it again unless something says not to.
        let mut why = why;
        let mut failed_starts = 0;
        loop {
            let off = off_path(enclosure, controller);
            if off.exists() {
                eprintln!(
                    "dyad: {why}: the peer fenced it off ({} is there): not restarting it; \
                     `dyad run` starts it again",
                    off.display()
                );
                return Ok(ExitCode::FAILURE);
            }
            if signals::stop_requested() {
                eprintln!("dyad: {why}: asked to stop, so not restarting it");
                return Ok(ExitCode::FAILURE);
            }
            if !guard.allow(Instant::now()) {
                eprintln!(
                    "dyad: {why}, after {RESTART_LIMIT} restarts in the last {} s: giving up \
                     (a crash loop; its output is above)",
                    RESTART_WINDOW.as_secs()
                );
                return Ok(ExitCode::FAILURE);
            }
            eprintln!("dyad: {why}: restarting it");
            match firmware.restart() {
                Ok(()) => break,
                Err(e) => {
                    failed_starts += 1;
                    // Its output was echoed as it came: the first line says what went wrong.
                    let e = e.to_string();
                    eprintln!(
                        "dyad: {name} did not come back: {}",
                        e.lines().next().unwrap_or_default()
                    );
                    if failed_starts >= FAILED_STARTS_LIMIT {
                        eprintln!(
                            "dyad: {name} failed to start {failed_starts} times in a row: \
                             giving up"
                        );
                        return Ok(ExitCode::FAILURE);
                    }
                    thread::sleep(Duration::from_secs(1));
                    why = format!("{name} did not come back");
                }
            }
        }
        restarts += 1;
        resume(firmware);
        println!(
            "dyad: controller {controller} of enclosure {} is up again (restart {restarts}); {}",
            enclosure.display(),
            console_hint(enclosure, controller)
        );
    }
}

/// `<enclosure>/controller-a.off`: the peer's power-off fence left it, telling the launcher
/// not to start the controller again (board::sim's fence, which does not export its name).
fn off_path(enclosure: &Path, controller: u8) -> PathBuf {
    enclosure.join(format!("controller-{}.off", controller_letter(controller)))
}

/// Signals go to the firmware again (and one held meanwhile is delivered).
fn resume(firmware: &Firmware) {
    if let Some(pid) = firmware.pid() {
        signals::forward_to(pid);
    }
}

/// How `dyad run` ends when the firmware ended as asked (or cleanly by itself).
fn ended(status: ExitStatus) -> ExitCode {
    if status.success() {
        // The firmware has said that it stopped; nothing to add.
        return ExitCode::SUCCESS;
    }
    eprintln!("dyad: the firmware ended with {}", describe(status));
    ExitCode::from(
        status
            .code()
            .and_then(|c| u8::try_from(c).ok())
            .unwrap_or(1),
    )
}

/// `exit status 3`, `signal 9 (SIGKILL)`.
fn describe(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    if let Some(code) = status.code() {
        return format!("exit status {code}");
    }
    let Some(signal) = status.signal() else {
        return status.to_string();
    };
    let name = match signal {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGILL => "SIGILL",
        libc::SIGTRAP => "SIGTRAP",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGTERM => "SIGTERM",
        _ => return format!("signal {signal}"),
    };
    let core = if status.core_dumped() {
        ", core dumped"
    } else {
        ""
    };
    format!("signal {signal} ({name}{core})")
}

/// At most `limit` restarts within `window`.
struct CrashLoopGuard {
    limit: usize,
    window: Duration,
    restarts: VecDeque<Instant>,
}

impl CrashLoopGuard {
    fn new(limit: usize, window: Duration) -> Self {
        CrashLoopGuard {
            limit,
            window,
            restarts: VecDeque::new(),
        }
    }

    /// Whether a restart at `now` is allowed; if so it is counted.
    fn allow(&mut self, now: Instant) -> bool {
        while self
            .restarts
            .front()
            .is_some_and(|&at| now.duration_since(at) >= self.window)
        {
            self.restarts.pop_front();
        }
        if self.restarts.len() >= self.limit {
            return false;
        }
        self.restarts.push_back(now);
        true
    }
}

/// How to start the firmware, and what to print once it is up.
struct Start {
    firmware: FirmwareConfig,
    banner: String,
}

/// The old way: `--listen`, `--target` and the rest as firmware flags, with a 1 GiB drive in
/// slot 0 unless a `--lun` is given.
fn legacy_flags(enclosure: &Path, controller: u8, mut args: Vec<String>) -> Result<Start, String> {
    // The flags the launcher must know to print where to connect are taken out and passed
    // on through the configuration; the rest go to the firmware as given.
    let listen_text = take_flag(&mut args, "--listen")?.unwrap_or(DEFAULT_LISTEN.to_string());
    let listen: SocketAddr = listen_text
        .parse()
        .map_err(|e| format!("--listen {listen_text}: {e} (want ADDR:PORT)"))?;
    let target_iqn = take_flag(&mut args, "--target")?.unwrap_or(DEFAULT_TARGET_IQN.to_string());
    if !has_flag(&args, "--lun") {
        args.extend(["--lun".to_string(), DEFAULT_LUN.to_string()]);
    }
    let reach = reachable(listen);
    let banner = format!(
        "dyad: controller {controller} of enclosure {} is up; from another terminal:\n  \
         iscsi-ls -s iscsi://{reach}\n  \
         iscsi-inq iscsi://{reach}/{target_iqn}/0\n  \
         iscsi-readcapacity16 iscsi://{reach}/{target_iqn}/0\n  \
         {}\n\
         dyad: Ctrl-C stops it.",
        enclosure.display(),
        console_hint(enclosure, controller),
    );
    Ok(Start {
        firmware: FirmwareConfig {
            controller,
            enclosure: Some(enclosure.to_path_buf()),
            listen: Some(listen),
            target_iqn,
            args,
            echo: true,
            own_process_group: true,
            ready_timeout: Duration::from_secs(60),
            ..FirmwareConfig::default()
        },
        banner,
    })
}

/// From a ctl.conf: `file`, or the enclosure's own (written from the sample if missing).
/// The file is parsed here first, so that one that does not parse stops us before the
/// firmware starts, and so that we can say where each target is reached.
fn from_file(
    file: Option<PathBuf>,
    enclosure: &Path,
    controller: u8,
    args: Vec<String>,
) -> Result<Start, String> {
    let file = match file {
        Some(file) => file,
        None => {
            let file = enclosure.join(ENCLOSURE_CONFIG);
            if !file.exists() {
                std::fs::write(&file, DEFAULT_CONFIG)
                    .map_err(|e| format!("cannot write {}: {e}", file.display()))?;
                println!(
                    "dyad: wrote the default configuration to {}; edit it and restart",
                    file.display()
                );
            }
            file
        }
    };
    let text = std::fs::read_to_string(&file)
        .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    let config = config::Config::parse(&file.display().to_string(), &text)
        .map_err(|e| format!("{e}\ndyad: the firmware was not started; fix the file and retry"))?;
    let targets = where_to_connect(&config);
    let first = targets
        .iter()
        .find_map(|t| t.portals.first().map(|p| (t.name.clone(), *p)));
    let (target_iqn, listen) = match first {
        Some((name, portal)) => (name, portal),
        // Nothing to reach over iSCSI; the harness still wants a portal to name.
        None => (
            DEFAULT_TARGET_IQN.to_string(),
            DEFAULT_LISTEN.parse().map_err(|e| format!("{e}"))?,
        ),
    };
    let banner = config_banner(&file, enclosure, controller, &targets);
    Ok(Start {
        firmware: FirmwareConfig {
            controller,
            enclosure: Some(enclosure.to_path_buf()),
            listen: Some(listen),
            target_iqn,
            config: Some(file),
            args,
            echo: true,
            own_process_group: true,
            ready_timeout: Duration::from_secs(60),
            ..FirmwareConfig::default()
        },
        banner,
    })
}

/// A target as an initiator on this machine reaches it.
#[derive(Debug, PartialEq, Eq)]
struct Reach {
    name: String,
    /// Its portals, wildcard addresses as loopback, each once, in file order.
    portals: Vec<SocketAddr>,
    /// The lowest LUN number it maps, for the example commands.
    first_lun: Option<u32>,
    /// Whether logging in takes CHAP credentials.
    chap: bool,
}

/// Each target of `config` with the addresses it is reached on (foreign portal groups are
/// the peer controller's, not listened on here).
fn where_to_connect(config: &config::Config) -> Vec<Reach> {
    config
        .targets
        .iter()
        .map(|target| {
            let mut portals = Vec::new();
            for name in target.effective_portal_groups() {
                let Some(group) = config.portal_group(name) else {
                    continue;
                };
                if group.foreign {
                    continue;
                }
                for listen in &group.listen {
                    let addr = reachable(listen.addr);
                    if !portals.contains(&addr) {
                        portals.push(addr);
                    }
                }
            }
            let auth = match &target.auth {
                config::TargetAuth::Default => config
                    .auth_group(config::DEFAULT_AUTH_GROUP)
                    .map(|g| g.auth.effective_type()),
                config::TargetAuth::Group { name, .. } => {
                    config.auth_group(name).map(|g| g.auth.effective_type())
                }
                config::TargetAuth::Inline(settings) => Some(settings.effective_type()),
            };
            Reach {
                name: target.name.clone(),
                portals,
                first_lun: target.luns.iter().map(|l| l.number).min(),
                chap: matches!(
                    auth,
                    Some(config::AuthType::Chap | config::AuthType::ChapMutual)
                ),
            }
        })
        .collect()
}

/// A wildcard listen address is reachable from here as loopback.
fn reachable(mut addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => addr.set_ip(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        IpAddr::V6(ip) if ip.is_unspecified() => addr.set_ip(IpAddr::V6(Ipv6Addr::LOCALHOST)),
        _ => {}
    }
    addr
}

/// `console: dyad console a`, with `--enclosure` when it is not the default.
fn console_hint(enclosure: &Path, controller: u8) -> String {
    let letter = controller_letter(controller);
    // The tool as this shell can call it: `make run` leaves it in target/release.
    let tool = std::env::current_exe()
        .ok()
        .and_then(|exe| {
            let cwd = std::env::current_dir().ok()?;
            exe.strip_prefix(&cwd).map(Path::to_path_buf).ok()
        })
        .map_or_else(|| "dyad".to_string(), |p| p.display().to_string());
    if enclosure == Path::new(DEFAULT_ENCLOSURE) {
        format!("console: {tool} console {letter}")
    } else {
        format!(
            "console: {tool} console {letter} --enclosure {}",
            enclosure.display()
        )
    }
}

/// What `dyad run` prints once the controller is up: per target and portal, the commands
/// that reach it.
fn config_banner(file: &Path, enclosure: &Path, controller: u8, targets: &[Reach]) -> String {
    let mut out = format!(
        "dyad: controller {controller} of enclosure {} is up with {}; from another terminal:\n",
        enclosure.display(),
        file.display()
    );
    if targets.is_empty() {
        out.push_str(&format!(
            "  (no target is configured: add one to {})\n",
            file.display()
        ));
    }
    for target in targets {
        if target.portals.is_empty() {
            out.push_str(&format!(
                "  target {}: on no portal of this controller\n",
                target.name
            ));
            continue;
        }
        for portal in &target.portals {
            out.push_str(&format!("  target {} at {portal}:\n", target.name));
            if target.chap {
                out.push_str("    # it takes CHAP: put USER%SECRET@ before the address\n");
            }
            out.push_str(&format!("    iscsi-ls -s iscsi://{portal}\n"));
            if let Some(lun) = target.first_lun {
                let url = format!("iscsi://{portal}/{}/{lun}", target.name);
                out.push_str(&format!("    iscsi-inq {url}\n"));
                out.push_str(&format!("    iscsi-readcapacity16 {url}\n"));
            }
            out.push_str(&format!("    iscsiadm -m discovery -t st -p {portal}\n"));
        }
    }
    out.push_str(&format!("  {}\n", console_hint(enclosure, controller)));
    out.push_str("dyad: Ctrl-C stops it.");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(args: &[&str]) -> Vec<String> {
        args.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_crash_loop_guard_allows_so_many_restarts_per_window() {
        let mut guard = CrashLoopGuard::new(3, Duration::from_secs(60));
        let t0 = Instant::now();
        let at = |s| t0 + Duration::from_secs(s);
        assert!(guard.allow(at(0)));
        assert!(guard.allow(at(10)));
        assert!(guard.allow(at(20)));
        assert!(!guard.allow(at(30)), "a fourth within the minute");
        // A refused restart is not counted: the first leaves the window at 60 s.
        assert!(guard.allow(at(60)));
        assert!(!guard.allow(at(65)));
        assert!(guard.allow(at(70)));
    }

    #[test]
    fn describes_exits_and_signals() {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(describe(ExitStatus::from_raw(3 << 8)), "exit status 3");
        assert_eq!(describe(ExitStatus::from_raw(9)), "signal 9 (SIGKILL)");
        assert_eq!(
            describe(ExitStatus::from_raw(libc::SIGSEGV | 0x80)),
            "signal 11 (SIGSEGV, core dumped)"
        );
        assert_eq!(describe(ExitStatus::from_raw(libc::SIGUSR1)), "signal 10");
    }

    #[test]
    fn the_off_marker_is_the_fences() {
        assert_eq!(
            off_path(Path::new("/e"), 1),
            Path::new("/e/controller-a.off")
        );
        assert_eq!(
            off_path(Path::new("/e"), 2),
            Path::new("/e/controller-b.off")
        );
    }

    #[test]
    fn takes_flags_in_both_spellings() {
        let mut args = strings(&[
            "--lun",
            "ramdisk:1G",
            "--listen",
            "0.0.0.0:3261",
            "--chap=u:s",
        ]);
        assert_eq!(
            take_flag(&mut args, "--listen"),
            Ok(Some("0.0.0.0:3261".to_string()))
        );
        assert_eq!(take_flag(&mut args, "--chap"), Ok(Some("u:s".to_string())));
        assert_eq!(take_flag(&mut args, "--target"), Ok(None));
        assert_eq!(args, strings(&["--lun", "ramdisk:1G"]));
    }

    #[test]
    fn a_flag_without_value_is_an_error() {
        let mut args = strings(&["--listen"]);
        assert!(take_flag(&mut args, "--listen").is_err());
    }

    #[test]
    fn finds_flags_in_both_spellings_and_only_whole() {
        let args = strings(&["--chap-mutual=a:b", "--log", "x"]);
        assert!(has_flag(&args, "--chap-mutual"));
        assert!(!has_flag(&args, "--chap"));
        assert!(has_flag(&strings(&["--chap", "u:s"]), "--chap"));
        assert!(!has_flag(&args, "--lun"));
    }

    fn parse(text: &str) -> config::Config {
        config::Config::parse("ctl.conf", text).unwrap_or_else(|e| panic!("{e}\n{text}"))
    }

    #[test]
    fn the_default_configuration_parses_and_serves_target0_on_3260() {
        let config = parse(DEFAULT_CONFIG);
        assert_eq!(
            where_to_connect(&config),
            [Reach {
                name: DEFAULT_TARGET_IQN.to_string(),
                portals: vec!["127.0.0.1:3260".parse().unwrap()],
                first_lun: Some(0),
                chap: false,
            }]
        );
        let lun = config.lun("disk0").unwrap();
        assert_eq!(lun.path, Some(config::LunPath::Slot(0)));
        assert_eq!(lun.size, Some(1 << 30));
    }

    /// The examples in the default file's comments are right: uncommented, they parse.
    #[test]
    fn the_commented_examples_parse_too() {
        let mut examples = String::new();
        let mut inside = false;
        for line in DEFAULT_CONFIG.lines() {
            let Some(code) = line.strip_prefix('#') else {
                inside = false;
                continue;
            };
            let code = code.strip_prefix(' ').unwrap_or(code);
            let starts = ["lun ", "auth-group ", "target "]
                .iter()
                .any(|k| code.starts_with(k))
                && code.ends_with('{');
            if starts {
                inside = true;
            }
            if inside {
                examples.push_str(code);
                examples.push('\n');
                if code == "}" {
                    inside = false;
                }
            }
        }
        assert!(
            examples.contains("target iqn.2026-11.dev.dyad:target1"),
            "{examples}"
        );
        assert!(examples.contains("chap \"user\""), "{examples}");
        let config = parse(&format!("{DEFAULT_CONFIG}\n{examples}"));
        assert_eq!(config.targets.len(), 2);
        let reach = where_to_connect(&config);
        assert!(reach[1].chap);
        assert_eq!(reach[1].portals, reach[0].portals);
    }

    #[test]
    fn wildcards_are_reached_on_loopback_and_foreign_groups_not_here() {
        let config = parse(
            "portal-group pg0 {\n\
             \tlisten 0.0.0.0:3261\n\
             \tlisten [::]:3261\n\
             \tlisten 127.0.0.1:3261\n\
             }\n\
             portal-group peer {\n\tlisten 127.0.0.1:3262\n\tforeign\n}\n\
             target iqn.2026-11.dev.dyad:t {\n\
             \tauth-group no-authentication\n\
             \tportal-group pg0\n\
             \tportal-group peer\n\
             \tlun 3 { path slot:1\n size 1M\n }\n\
             }\n\
             target iqn.2026-11.dev.dyad:u {\n\tauth-group no-authentication\n}\n",
        );
        let reach = where_to_connect(&config);
        assert_eq!(
            reach[0].portals,
            [
                "127.0.0.1:3261".parse::<SocketAddr>().unwrap(),
                "[::1]:3261".parse().unwrap()
            ]
        );
        assert_eq!(reach[0].first_lun, Some(3));
        // No portal-group: ctld's `default`, port 3260 on every address.
        assert_eq!(
            reach[1].portals,
            [
                "127.0.0.1:3260".parse::<SocketAddr>().unwrap(),
                "[::1]:3260".parse().unwrap()
            ]
        );
        assert_eq!(reach[1].first_lun, None);
        let banner = config_banner(Path::new("my.conf"), Path::new("/tmp/e"), 2, &reach);
        assert!(
            banner.contains("iscsi-inq iscsi://127.0.0.1:3261/iqn.2026-11.dev.dyad:t/3"),
            "{banner}"
        );
        assert!(
            banner.contains("iscsiadm -m discovery -t st -p [::1]:3260"),
            "{banner}"
        );
        assert!(
            banner.contains("console: dyad console b --enclosure /tmp/e"),
            "{banner}"
        );
    }

    #[test]
    fn the_console_hint_names_the_enclosure_only_when_not_the_default() {
        assert_eq!(
            console_hint(Path::new(DEFAULT_ENCLOSURE), 1),
            "console: dyad console a"
        );
        assert_eq!(
            console_hint(Path::new("/srv/e"), 2),
            "console: dyad console b --enclosure /srv/e"
        );
    }
}
