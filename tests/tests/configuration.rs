//! Configuration, per-port LUN maps, access control and the serial console end to end
//! (issue 5): the firmware started from a ctl.conf, judged by libiscsi's tools and by
//! `dyad console -c`, as an administrator would use them.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use dyad_tests::child::{self, RunOutput};
use dyad_tests::initiator::{iscsi_inq, pattern_verify, pattern_write};
use dyad_tests::port::free_loopback_port;
use dyad_tests::reservation_client::spawn_script;
use dyad_tests::{paths, Firmware, FirmwareConfig, TempDir};

const ALPHA: &str = "iqn.2026-11.dev.dyad.test:alpha";
const BETA: &str = "iqn.2026-11.dev.dyad.test:beta";
const ALLOWED: &str = "iqn.2026-11.dev.dyad.test:allowed";
const STRANGER: &str = "iqn.2026-11.dev.dyad.test:stranger";

/// A firmware started from the ctl.conf `conf` makes for a free loopback address; the file
/// lives in its own folder, which the guard keeps.
struct Configured {
    firmware: Firmware,
    addr: SocketAddr,
    conf: PathBuf,
    _dir: TempDir,
}

fn free_addr() -> SocketAddr {
    SocketAddr::from((
        Ipv4Addr::LOCALHOST,
        free_loopback_port().expect("a free port"),
    ))
}

fn config_for(conf: &str) -> (FirmwareConfig, SocketAddr, PathBuf, TempDir) {
    let addr = free_addr();
    let dir = TempDir::new("conf").expect("temporary folder");
    let path = dir.path().join("ctl.conf");
    std::fs::write(&path, conf.replace("ADDR", &addr.to_string())).expect("write ctl.conf");
    let config = FirmwareConfig {
        config: Some(path.clone()),
        listen: Some(addr),
        target_iqn: ALPHA.into(),
        ..FirmwareConfig::default()
    };
    (config, addr, path, dir)
}

fn start(conf: &str) -> Configured {
    let (config, addr, conf, dir) = config_for(conf);
    let firmware = Firmware::start_with(config).expect("start the firmware");
    Configured {
        firmware,
        addr,
        conf,
        _dir: dir,
    }
}

fn url(addr: SocketAddr, target: &str, lun: u32) -> String {
    format!("iscsi://{addr}/{target}/{lun}")
}

fn run(mut cmd: Command) -> RunOutput {
    let name = child::describe(&cmd);
    child::run_with_timeout(&mut cmd, Duration::from_secs(120))
        .unwrap_or_else(|e| panic!("cannot run {name}: {e}"))
}

/// `iscsi-ls -s` as initiator `initiator`.
fn iscsi_ls_as(addr: SocketAddr, initiator: &str) -> RunOutput {
    let mut cmd = Command::new("iscsi-ls");
    cmd.args(["-s", "-i", initiator])
        .arg(format!("iscsi://{addr}"));
    run(cmd)
}

/// `dyad console a -c LINE` for the firmware's enclosure.
fn dyad_console(firmware: &Firmware, line: &str) -> RunOutput {
    let tool = paths::target_dir().join("release").join("dyad");
    paths::require_file(&tool, "build it with `cargo build --release -p tools`").expect("dyad");
    let mut cmd = Command::new(tool);
    cmd.args(["console", "a", "--enclosure"])
        .arg(firmware.enclosure())
        .args(["-c", line]);
    run(cmd)
}

fn console_ok(firmware: &Firmware, line: &str) -> String {
    let out = dyad_console(firmware, line);
    assert!(
        out.status.is_some_and(|s| s.success()),
        "`{line}` failed:\n{}{}",
        out.stdout,
        out.stderr
    );
    out.stdout
}

fn console_err(firmware: &Firmware, line: &str, says: &str) {
    let out = dyad_console(firmware, line);
    assert_eq!(
        out.status.and_then(|s| s.code()),
        Some(1),
        "`{line}` should fail:\n{}{}",
        out.stdout,
        out.stderr
    );
    let text = format!("{}{}", out.stdout, out.stderr);
    assert!(text.contains("error: "), "`{line}`: {text}");
    assert!(text.contains(says), "`{line}` should say '{says}':\n{text}");
}

/// The designator lines of VPD page 83h, as iscsi-inq prints them.
fn designators(url: &str) -> String {
    let out = iscsi_inq(url, Some(0x83)).expect("iscsi-inq");
    assert!(out.success(), "iscsi-inq {url}: {}", out.stderr);
    out.stdout
}

const SHARED: &str = "\
portal-group pg0 {
	discovery-auth-group no-authentication
	listen ADDR
}
lun shared {
	backend ramdisk
	size 64M
}
target iqn.2026-11.dev.dyad.test:alpha {
	auth-group no-authentication
	portal-group pg0
	lun 0 shared
}
target iqn.2026-11.dev.dyad.test:beta {
	auth-group no-authentication
	portal-group pg0
	lun 5 shared
}
";

#[test]
fn two_targets_share_one_lun_by_name() {
    let c = start(SHARED);
    let through_alpha = url(c.addr, ALPHA, 0);
    let through_beta = url(c.addr, BETA, 5);
    let a = designators(&through_alpha);
    assert!(a.contains("NAA"), "no NAA designator: {a}");
    // The port designators differ (two target ports); the LUN's NAA is the same.
    let naa = |s: &str| -> Vec<String> {
        s.lines()
            .skip_while(|l| !l.contains("NAA"))
            .take(3)
            .map(str::to_string)
            .collect()
    };
    assert_eq!(naa(&a), naa(&designators(&through_beta)));
    let w = pattern_write(&through_alpha, 100, 256, 42).expect("write");
    assert!(w.success(), "write through alpha: {}", w.stderr);
    let r = pattern_verify(&through_beta, 100, 256, 42).expect("verify");
    assert!(r.success(), "verify through beta: {}{}", r.stdout, r.stderr);
}

const MAPPED: &str = "\
portal-group pg0 {
	discovery-auth-group no-authentication
	listen ADDR
}
lun boot {
	backend ramdisk
	size 16M
}
lun data {
	backend ramdisk
	size 32M
}
target iqn.2026-11.dev.dyad.test:alpha {
	auth-group no-authentication
	portal-group pg0
	lun 0 boot
	lun 3 data
}
";

#[test]
fn console_lunmap_moves_a_lun_and_tells_the_initiator() {
    let c = start(MAPPED);
    let ports = console_ok(&c.firmware, "portlist -l");
    assert!(ports.contains("LUN 3: 1 (data)"), "{ports}");
    let port: u16 = ports
        .lines()
        .nth(1)
        .and_then(|l| l.split_whitespace().next())
        .and_then(|p| p.parse().ok())
        .expect("a port line");
    let script = format!(
        "A login {} {ALLOWED}\nA clear-ua expect GOOD\nsleep ms=4000\n\
         A tur expect CHECK_CONDITION UNIT_ATTENTION 0x3f/0x0e\n\
         A tur expect CHECK_CONDITION ILLEGAL_REQUEST 0x25/0x00\nA logout\n",
        url(c.addr, ALPHA, 3)
    );
    let mut session = spawn_script(&script).expect("iscsi-pr");
    assert!(
        session.wait_for_line(Duration::from_secs(30), |l| l.contains("clear-ua =")),
        "the session did not get going"
    );
    console_ok(&c.firmware, &format!("lunmap -p {port} -l 7 -L 1"));
    console_ok(&c.firmware, &format!("lunmap -p {port} -l 3"));
    let transcript = session.finish(Duration::from_secs(60)).expect("transcript");
    assert!(transcript.success(), "{}", transcript.report());
    let ls = iscsi_ls_as(c.addr, ALLOWED);
    assert!(ls.success(), "iscsi-ls: {}", ls.stderr);
    assert!(ls.stdout.contains("Lun:7"), "{}", ls.stdout);
    assert!(!ls.stdout.contains("Lun:3 "), "{}", ls.stdout);
    // The map is saved: a restart serves the same one.
    let mut firmware = c.firmware;
    firmware.restart().expect("restart");
    let ports = console_ok(&firmware, "portlist -l");
    assert!(ports.contains("LUN 7: 1 (data)"), "{ports}");
    assert!(!ports.contains("LUN 3:"), "{ports}");
}

fn many_luns(n: u32) -> String {
    let mut conf = String::from(
        "portal-group pg0 {\n\tdiscovery-auth-group no-authentication\n\tlisten ADDR\n}\n",
    );
    for i in 0..n {
        conf.push_str(&format!("lun d{i} {{\n\tbackend ramdisk\n\tsize 1M\n}}\n"));
    }
    conf.push_str(&format!(
        "target {ALPHA} {{\n\tauth-group no-authentication\n\tportal-group pg0\n"
    ));
    for i in 0..n {
        conf.push_str(&format!("\tlun {i} d{i}\n"));
    }
    conf.push_str("}\n");
    conf
}

#[test]
fn a_target_holds_1024_luns_and_refuses_the_1025th() {
    let c = start(&many_luns(1024));
    // iscsi-ls -s sends INQUIRY and READ CAPACITY to every LUN REPORT LUNS lists.
    let ls = iscsi_ls_as(c.addr, ALLOWED);
    assert!(ls.success(), "iscsi-ls: {}", ls.stderr);
    let luns = ls
        .stdout
        .lines()
        .filter(|l| l.trim_start().starts_with("Lun:"))
        .count();
    assert_eq!(luns, 1024, "{}", ls.stdout);
    // libiscsi puts a URL's LUN number in the first two bytes of the LUN field as it is:
    // above 255 it must carry SAM's flat space addressing (01b) itself.
    for n in [0, 255, 256, 1023] {
        let address = if n > 255 { 0x4000 | n } else { n };
        let inq = iscsi_inq(&url(c.addr, ALPHA, address), None).expect("iscsi-inq");
        assert!(inq.success(), "INQUIRY of LUN {n}: {}", inq.stderr);
    }
    console_err(&c.firmware, "lunmap -p 1 -l 1024 -L 0", "0 to 1023");

    let (config, _, conf, _dir) = config_for(&many_luns(1025));
    let refused = Firmware::start_with(config);
    let e = match refused {
        Ok(_) => panic!("a target with 1025 LUNs was accepted"),
        Err(e) => e.to_string(),
    };
    assert!(e.contains("at most 1024 LUNs"), "{e}");
    assert!(
        e.contains(&*conf.to_string_lossy()),
        "the error should name the file: {e}"
    );
}

const GUARDED: &str = "\
auth-group friends {
	initiator-name iqn.2026-11.dev.dyad.test:allowed
}
portal-group pg0 {
	discovery-auth-group no-authentication
	discovery-filter portal-name
	listen ADDR
}
lun d0 {
	backend ramdisk
	size 16M
}
target iqn.2026-11.dev.dyad.test:alpha {
	auth-group friends
	portal-group pg0
	lun 0 d0
}
target iqn.2026-11.dev.dyad.test:beta {
	auth-group no-authentication
	portal-group pg0
	lun 0 d0
}
";

#[test]
fn initiator_name_lists_refuse_login_and_hide_the_target() {
    let c = start(GUARDED);
    let friend = iscsi_ls_as(c.addr, ALLOWED);
    assert!(friend.success(), "{}", friend.stderr);
    assert!(
        friend.stdout.contains(ALPHA) && friend.stdout.contains(BETA),
        "{}",
        friend.stdout
    );
    let stranger = iscsi_ls_as(c.addr, STRANGER);
    assert!(
        !stranger.stdout.contains(ALPHA),
        "discovery showed the target: {}",
        stranger.stdout
    );
    assert!(stranger.stdout.contains(BETA), "{}", stranger.stdout);
    let mut cmd = Command::new("iscsi-inq");
    cmd.args(["-i", STRANGER]).arg(url(c.addr, ALPHA, 0));
    let login = run(cmd);
    assert!(!login.success(), "the stranger logged in");
    assert!(
        login.stderr.contains("Authorization failure"),
        "expected an authorisation failure: {}",
        login.stderr
    );
}

#[test]
fn the_console_configures_live_and_persists() {
    let c = start(MAPPED);
    let fw = &c.firmware;
    let devlist = console_ok(fw, "devlist");
    assert!(devlist.starts_with("LUN Backend"), "{devlist}");
    assert_eq!(devlist.lines().count(), 3, "{devlist}");
    // Bad input changes nothing and says what was wrong.
    console_err(fw, "frobnicate", "unknown verb 'frobnicate'");
    console_err(fw, "create -b ramdisk -s 12Q", "12Q");
    console_err(fw, "create -b block -s 1G", "file");
    console_err(fw, "remove -l 9", "no LUN 9");
    console_err(fw, "lunmap -p 999 -l 1 -L 0", "no target port 999");
    console_err(
        fw,
        "modify -l 1 -o naa=0x60000000000000000000000000000001",
        "naa",
    );
    assert_eq!(console_ok(fw, "devlist"), devlist);

    let created = console_ok(fw, "create -b ramdisk -s 8M -n scratch");
    assert!(created.contains("LUN created successfully"), "{created}");
    assert!(created.contains("LUN ID:        2"), "{created}");
    console_ok(fw, "lunmap -p 1 -l 9 -L 2");
    let cap = console_ok(fw, "readcap 2");
    assert!(
        cap.contains("Disk Capacity: 16384, Blocksize: 512"),
        "{cap}"
    );
    console_ok(fw, "modify -l 2 -s 16M");
    assert!(console_ok(fw, "readcap 2").contains("Disk Capacity: 32768"));
    assert!(console_ok(fw, "tur 2").contains("Unit is ready"));
    assert!(console_ok(fw, "inquiry 2").contains("Vendor: DYAD"));
    let ls = iscsi_ls_as(c.addr, ALLOWED);
    assert!(ls.stdout.contains("Lun:9"), "{}", ls.stdout);
    let shown = console_ok(fw, "config show");
    assert!(shown.contains("lun scratch"), "{shown}");
    console_err(
        fw,
        "config check /nonexistent/ctl.conf",
        "/nonexistent/ctl.conf",
    );
    let bad = c.conf.with_file_name("bad.conf");
    std::fs::write(&bad, "lun x {\n\tsize 1Q\n}\n").expect("write");
    console_err(
        fw,
        &format!("config check {}", bad.display()),
        "bad.conf:2:",
    );
    console_ok(fw, &format!("config check {}", c.conf.display()));

    // A restart comes back to the same state; a rollback undoes the last change.
    let mut firmware = c.firmware;
    firmware.restart().expect("restart");
    let after = console_ok(&firmware, "devlist");
    assert!(after.contains("32768"), "{after}");
    assert_eq!(after.lines().count(), 4, "{after}");
    console_ok(&firmware, "config rollback");
    assert!(console_ok(&firmware, "readcap 2").contains("Disk Capacity: 16384"));
    let help = console_ok(&firmware, "help lunmap");
    assert!(help.contains("lunmap -p"), "{help}");
}
