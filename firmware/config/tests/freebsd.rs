//! FreeBSD's own ctl.conf(5) examples load unchanged (less the features dyad refuses, which
//! are refused by name), every configuration survives `to_text`, and a target holds exactly
//! 1024 LUNs.

use config::*;
use std::fmt::Write;

fn round_trip(c: &Config) {
    let text = c.to_text();
    let again = Config::parse("saved.conf", &text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(&again, c, "{text}");
    assert_eq!(again.to_text(), text, "to_text is canonical");
}

/// The EXAMPLES section of ctl.conf(5) in FreeBSD 14, without the lines dyad refuses:
/// `option naa 0x50015178f369f093` (an 8-byte NAA) and the target bound to `port isp0` /
/// `port isp1` (physical FC ports).
const FREEBSD_14_EXAMPLE: &str = r#"auth-group ag0 {
	chap-mutual "user" "secret" "mutualuser" "mutualsecret"
	chap-mutual "user2" "secret2" "mutualuser" "mutualsecret"
	initiator-portal 192.168.1.1/16
}

auth-group ag1 {
	auth-type none
	initiator-name "iqn.2012-06.com.example:initiatorhost1"
	initiator-name "iqn.2012-06.com.example:initiatorhost2"
	initiator-portal 192.168.1.1/24
	initiator-portal [2001:db8::de:ef]
}

portal-group pg0 {
	discovery-auth-group no-authentication
	listen 0.0.0.0:3260
	listen [::]:3260
	listen [fe80::be:ef]:3261
}

target iqn.2012-06.com.example:target0 {
	alias "Example target"
	auth-group no-authentication
	lun 0 {
		path /dev/zvol/tank/example_0
		blocksize 4096
		size 4G
	}
}

lun example_1 {
	path /dev/zvol/tank/example_1
}

target iqn.2012-06.com.example:target1 {
	auth-group ag0
	portal-group pg0
	lun 0 example_1
	lun 1 {
		path /dev/zvol/tank/example_2
		option vendor "FreeBSD"
	}
}
"#;

/// The EXAMPLES section of ctl.conf(5) in FreeBSD 10, without `option foo bar` (not a
/// CTL option).
const FREEBSD_10_EXAMPLE: &str = r#"pidfile	/var/run/ctld.pid

auth-group example2 {
	chap-mutual "user" "secret" "mutualuser" "mutualsecret"
	chap-mutual "user2" "secret2" "mutualuser" "mutualsecret"
}

portal-group example2 {
	discovery-auth-group no-authentication
	listen 127.0.0.1
	listen 0.0.0.0:3261
	listen [::]:3261
	listen [fe80::be:ef]
}

target iqn.2012-06.com.example:target0 {
	alias "Example target"
	auth-group no-authentication
	lun 0 {
		path /dev/zvol/example_0
		blocksize 4096
		size 4G
	}
}

target iqn.2012-06.com.example:target3 {
	chap chapuser chapsecret
	lun 0 {
		path /dev/zvol/example_3
	}
}

target iqn.2012-06.com.example:target2 {
	auth-group example2
	portal-group example2
	lun 0 {
		path /dev/zvol/example2_0
	}
	lun 1 {
		path /dev/zvol/example2_1
	}
}
"#;

#[test]
fn freebsd_14_example_loads() {
    let c = Config::parse("ctl.conf", FREEBSD_14_EXAMPLE).unwrap_or_else(|e| panic!("{e}"));
    let ag0 = &c.auth_group("ag0").unwrap().auth;
    assert_eq!(ag0.effective_type(), AuthType::ChapMutual);
    assert_eq!(ag0.chap_mutual.len(), 2);
    let ag1 = &c.auth_group("ag1").unwrap().auth;
    assert_eq!(ag1.initiator_names.len(), 2);
    assert_eq!(ag1.initiator_portals[1].prefix, None);
    let pg0 = c.portal_group("pg0").unwrap();
    assert_eq!(pg0.listen[2].addr, "[fe80::be:ef]:3261".parse().unwrap());
    let t0 = c.target("IQN.2012-06.com.example:target0").unwrap();
    let l0 = c.resolve(&t0.luns[0]).unwrap();
    assert_eq!((l0.size, l0.block_size()), (Some(4 << 30), 4096));
    let t1 = c.target("iqn.2012-06.com.example:target1").unwrap();
    assert_eq!(c.resolve(&t1.luns[0]).unwrap().name, "example_1");
    assert_eq!(
        c.resolve(&t1.luns[1]).unwrap().options.vendor.as_deref(),
        Some("FreeBSD")
    );
    assert_eq!(c.all_luns().count(), 3);
    round_trip(&c);
}

#[test]
fn freebsd_10_example_loads() {
    let c = Config::parse("ctl.conf", FREEBSD_10_EXAMPLE).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.pidfile.as_deref(), Some("/var/run/ctld.pid"));
    let t3 = c.target("iqn.2012-06.com.example:target3").unwrap();
    assert!(matches!(&t3.auth, TargetAuth::Inline(a) if a.effective_type() == AuthType::Chap));
    assert_eq!(t3.effective_portal_groups(), ["default"]);
    round_trip(&c);
}

#[test]
fn the_refused_parts_of_the_examples_are_refused_by_name() {
    let with_naa = FREEBSD_14_EXAMPLE.replace(
        "\tpath /dev/zvol/tank/example_1\n",
        "\tpath /dev/zvol/tank/example_1\n\toption naa 0x50015178f369f093\n",
    );
    let e = Config::parse("ctl.conf", &with_naa).unwrap_err();
    assert!(e.to_string().starts_with("ctl.conf:34:13: option naa '0x50015178f369f093': 8-byte NAA designators are not supported by dyad"), "{e}");
    let with_port = format!(
        "{FREEBSD_14_EXAMPLE}\ntarget naa.50015178f369f092 {{\n\tport isp0\n\tport isp1\n\tlun 0 example_1\n}}\n"
    );
    let e = Config::parse("ctl.conf", &with_port).unwrap_err();
    assert_eq!(
        e.to_string(),
        "ctl.conf:47:2: 'port' (binding to physical ports) is not supported by dyad"
    );
    let with_foo = FREEBSD_10_EXAMPLE.replace(
        "\t\tpath /dev/zvol/example2_1\n",
        "\t\tpath /dev/zvol/example2_1\n\t\toption foo bar\n",
    );
    let e = Config::parse("ctl.conf", &with_foo).unwrap_err();
    assert_eq!((e.line, e.column), (41, 3));
    assert!(e.message.starts_with("unknown LUN option 'foo'"), "{e}");
}

fn target_with_luns(count: u32) -> String {
    let mut text =
        String::from("target iqn.2024-01.org.example:big {\n\tauth-group no-authentication\n");
    for n in 0..count {
        let _ = writeln!(text, "\tlun {n} {{ backend ramdisk; size 1M }}");
    }
    text.push_str("}\n");
    text
}

#[test]
fn a_target_holds_1024_luns() {
    let c = Config::parse("ctl.conf", &target_with_luns(1024)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.targets[0].luns.len(), 1024);
    assert_eq!(c.targets[0].luns[1023].number, 1023);
    round_trip(&c);
}

#[test]
fn the_1025th_lun_is_refused() {
    let e = Config::parse("ctl.conf", &target_with_luns(1025)).unwrap_err();
    assert_eq!(
        e.to_string(),
        "ctl.conf:1027:6: LUN number 1024 is too big: a target has at most 1024 LUNs, numbered 0 to 1023"
    );
    // A model built in memory gets the same answer from validation.
    let mut c = Config::parse("ctl.conf", &target_with_luns(1024)).unwrap();
    let mut global = Lun::new("g", Place::default());
    global.backend = Some(Backend::Ramdisk);
    global.size = Some(1 << 20);
    c.luns.push(global);
    c.targets[0].luns.push(TargetLun {
        number: 1024,
        lun: TargetLunSource::Named("g".into()),
        place: Place::default(),
    });
    let e = c.validate("console").unwrap_err();
    assert_eq!(
        e.to_string(),
        "console: target 'iqn.2024-01.org.example:big' has more than 1024 LUNs"
    );
}

#[test]
fn everything_at_once_round_trips() {
    let text = r#"
debug 1
timeout 30
maxproc 8
pidfile "/var/run/ctld 2.pid"
auth-group default { initiator-name iqn.only }
auth-group "ag x" {
	auth-type chap
	chap "u 1" "s;1"
	initiator-portal 10.0.0.0/8
	initiator-portal ::1/128
}
portal-group default { listen 10.0.0.5; tag 1 }
portal-group pg {
	discovery-auth-group "ag x"
	discovery-filter portal-name
	listen [::1]:3261
	tag 65535
	foreign
}
lun "with space" {
	backend block
	path "/data/a b.img"
	size 1536K
	blocksize 512
	serial "SN 1"
	device-id dev-1
	ctl-lun 9
	option vendor DYAD
	option product "Mirror Disk"
	option revision 0100
	option naa 0x6001405aabbccddeeff0011223344556
	option eui 0x0011223344556677
	option pblocksize 4k
	option pblockoffset 1k
	option readonly off
	option removable on
	option unmap on
	option provisioning_type thin
	option readcache on
	option writecache off
}
target "iqn.2024-01.org.example:lun" {
	alias "Alias # not a comment"
	chap-mutual a b c d
	portal-group pg "ag x"
	portal-group default
	lun 0 "with space"
	lun 7 { backend ramdisk; size 16M; blocksize 4096 }
}
"#;
    let c = Config::parse("ctl.conf", text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.targets[0].alias.as_deref(), Some("Alias # not a comment"));
    round_trip(&c);
}

#[test]
fn a_redefined_default_keeps_its_implicit_addresses_through_a_save() {
    let c = Config::parse(
        "ctl.conf",
        "portal-group default { tag 2 }\nportal-group a { listen 0.0.0.0 }\n\
         target t { auth-group no-authentication; portal-group default; portal-group a }",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    round_trip(&c);
}
