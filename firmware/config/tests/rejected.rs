//! One case per refused configuration: the text and the whole error, with its line and
//! column (and the other place, for a conflict).

use config::Config;

fn error(text: &str) -> String {
    match Config::parse("ctl.conf", text) {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(e) => e.to_string(),
    }
}

const T: &str = "target iqn.2012-06.com.example:t";

#[test]
fn syntax_errors() {
    let cases = [
        (format!("{T};"), "ctl.conf:1:33: expected '{' after 'target iqn.2012-06.com.example:t', found ';'"),
        ("target".into(), "ctl.conf:1:7: expected a target name after 'target', found end of file"),
        ("lun a { path slot:0\n".into(), "ctl.conf:2:1: expected '}' to close 'lun a' opened at ctl.conf:1:7, found end of file"),
        ("auth-group a { chap u\n}".into(), "ctl.conf:1:22: expected a CHAP secret after 'chap u', found end of line"),
        ("auth-group a { chap u s x }".into(), "ctl.conf:1:25: expected end of line or ';' after 'chap', found 'x'"),
        ("{".into(), "ctl.conf:1:1: expected a statement, found '{'"),
        ("lun a { \"path\" x }".into(), "ctl.conf:1:9: expected a statement in 'lun a', found \"path\""),
        ("alias \"abc".into(), "ctl.conf:1:7: quoted string is not closed: expected '\"' before the end of the file"),
        ("pidfile \"\"".into(), "ctl.conf:1:9: empty quoted string: ctl.conf values cannot be empty"),
        (format!("{T} {{ lun 0 }}"), "ctl.conf:1:42: expected a LUN name or '{' after 'lun 0', found '}'"),
        ("frobnicate 1".into(), "ctl.conf:1:1: unknown statement 'frobnicate'; expected auth-group, portal-group, lun, target, debug, timeout, maxproc, pidfile or interlink-key"),
    ];
    check(&cases);
}

#[test]
fn bad_values() {
    let cases = [
        ("debug lots".into(), "ctl.conf:1:7: debug 'lots' is not a number (digits with an optional K, M, G, T, P or E suffix)"),
        ("lun a { path slot:0; size 1Q }".into(), "ctl.conf:1:27: size '1Q' is not a number (digits with an optional K, M, G, T, P or E suffix)"),
        ("lun a { path slot:0; size 010 }".into(), "ctl.conf:1:27: size '010' has a leading zero, which ctld would read as octal: write it without"),
        ("lun a { path slot:0; size 99999E }".into(), "ctl.conf:1:27: size '99999E' is too large"),
        ("lun a { path slot:x }".into(), "ctl.conf:1:14: path 'slot:x': slot:N needs a slot number"),
        ("lun a { backend zfs }".into(), "ctl.conf:1:17: backend 'zfs' must be block or ramdisk"),
        ("lun a { path slot:0; device-type cd }".into(), "ctl.conf:1:34: device-type 'cd' is not supported by dyad: only direct-access (disk) LUNs"),
        ("auth-group a { auth-type maybe }".into(), "ctl.conf:1:26: auth-type 'maybe' must be none, deny, chap or chap-mutual"),
        ("auth-group a { initiator-portal 10.0.0.1/33 }".into(), "ctl.conf:1:33: initiator-portal '10.0.0.1/33': prefix length '33' must be 0 to 32"),
        ("auth-group a { initiator-portal host.example }".into(), "ctl.conf:1:33: initiator-portal 'host.example': expected an IPv4 or IPv6 address, optionally followed by /PREFIX"),
        ("portal-group p { listen iscsi.example:3260 }".into(), "ctl.conf:1:25: listen 'iscsi.example:3260': expected an IPv4 address or a bracketed IPv6 address, optionally followed by :PORT (dyad does not resolve host names)"),
        ("portal-group p { listen 0.0.0.0:0 }".into(), "ctl.conf:1:25: listen '0.0.0.0:0': port '0' must be 1 to 65535"),
        ("portal-group p { discovery-filter some }".into(), "ctl.conf:1:35: discovery-filter 'some' must be none, portal, portal-name or portal-name-auth"),
        ("portal-group p { tag 70000 }".into(), "ctl.conf:1:22: tag 70000 is too large: a portal group tag is 0 to 65535"),
        ("lun a { path slot:0; blocksize 1024 }".into(), "ctl.conf:1:22: blocksize 1024 of LUN 'a' is not supported by dyad: use 512 or 4096"),
        ("lun a { path slot:0; size 0 }".into(), "ctl.conf:1:22: size of LUN 'a' must not be 0"),
    ];
    check(&cases);
}

#[test]
fn lun_option_errors() {
    let cases = [
        ("option vendor TOOLONGVENDOR", "ctl.conf:1:22: option vendor 'TOOLONGVENDOR' must be 1 to 8 printable ASCII characters"),
        ("option product 12345678901234567", "ctl.conf:1:22: option product '12345678901234567' must be 1 to 16 printable ASCII characters"),
        ("option revision 12345", "ctl.conf:1:22: option revision '12345' must be 1 to 4 printable ASCII characters"),
        ("option naa 0x12", "ctl.conf:1:33: option naa '0x12' must be 32 hex digits (optionally after 0x)"),
        ("option naa 0x50015178f369f093", "ctl.conf:1:33: option naa '0x50015178f369f093': 8-byte NAA designators are not supported by dyad; write a 16-byte NAA 6 (IEEE Registered Extended) designator, 32 hex digits"),
        ("option naa 0x5001405aabbccddeeff0011223344556", "ctl.conf:1:22: option naa must be an NAA 6 (IEEE Registered Extended) designator: its first hex digit is 6"),
        ("option eui zz11223344556677", "ctl.conf:1:33: option eui 'zz11223344556677' must be 16 hex digits (optionally after 0x)"),
        ("option readonly yes", "ctl.conf:1:38: option readonly 'yes' must be on or off"),
        ("option pblocksize 1000", "ctl.conf:1:22: option pblocksize 1000 of LUN 'a' must be a power-of-two multiple (up to 32768) of its block size 512"),
        ("option pblocksize 4096; option pblockoffset 4096", "ctl.conf:1:46: option pblockoffset 4096 of LUN 'a' must be a multiple of its block size 512 below its physical block size 4096"),
        ("option unmap on; option provisioning_type full", "ctl.conf:1:39: option provisioning_type of LUN 'a' conflicts with option unmap, written at ctl.conf:1:22"),
        ("option provisioning_type resource", "ctl.conf:1:47: option provisioning_type 'resource' is not supported by dyad: use thin or full"),
        ("option ha_role primary", "ctl.conf:1:22: LUN option 'ha_role' (per-LUN HA role) is not supported by dyad"),
        ("option file /x", "ctl.conf:1:22: LUN option 'file' (the block backend's file (write 'path' instead)) is not supported by dyad"),
        ("option foo bar", "ctl.conf:1:22: unknown LUN option 'foo'; dyad supports vendor, product, revision, naa, eui, pblocksize, pblockoffset, readonly, removable, unmap, provisioning_type, readcache, writecache"),
        ("option vendor A; option vendor B", "ctl.conf:1:39: option vendor for LUN 'a' specified more than once; first at ctl.conf:1:22"),
    ];
    let cases: Vec<(String, &str)> = cases
        .iter()
        .map(|(o, e)| (format!("lun a {{ path slot:0; {o} }}"), *e))
        .collect();
    check(&cases);
}

#[test]
fn unsupported_statements_are_refused_by_name() {
    let cases = [
        ("isns-server 10.0.0.9".into(), "ctl.conf:1:1: 'isns-server' (iSNS registration) is not supported by dyad"),
        ("isns-period 900".into(), "ctl.conf:1:1: 'isns-period' (iSNS registration) is not supported by dyad"),
        ("controller nqn.x { }".into(), "ctl.conf:1:1: 'controller' (NVMe over Fabrics) is not supported by dyad"),
        ("transport-group tg { }".into(), "ctl.conf:1:1: 'transport-group' (NVMe over Fabrics) is not supported by dyad"),
        ("portal-group p { listen-iser 0.0.0.0 }".into(), "ctl.conf:1:18: 'listen-iser' (iSER) is not supported by dyad"),
        ("portal-group p { offload cxgbei }".into(), "ctl.conf:1:18: 'offload' (hardware offload) is not supported by dyad"),
        ("portal-group p { redirect 10.0.0.2 }".into(), "ctl.conf:1:18: 'redirect' (login redirection) is not supported by dyad"),
        ("portal-group p { dscp af11 }".into(), "ctl.conf:1:18: 'dscp' (DSCP marking) is not supported by dyad"),
        ("portal-group p { pcp 3 }".into(), "ctl.conf:1:18: 'pcp' (VLAN priority) is not supported by dyad"),
        ("portal-group p { option a b }".into(), "ctl.conf:1:18: 'option' (kernel port options) is not supported by dyad"),
        (format!("{T} {{\n  port isp0\n}}"), "ctl.conf:2:3: 'port' (binding to physical ports) is not supported by dyad"),
        (format!("{T} {{\n  redirect 10.0.0.2\n}}"), "ctl.conf:2:3: 'redirect' (login redirection) is not supported by dyad"),
        ("auth-group a { secret x }".into(), "ctl.conf:1:16: unknown statement 'secret' in auth-group 'a'; expected auth-type, chap, chap-mutual, initiator-name or initiator-portal"),
        ("lun a { file /x }".into(), "ctl.conf:1:9: unknown statement 'file' in LUN 'a'; expected backend, path, size, blocksize, serial, device-id, device-type, ctl-lun or option"),
    ];
    check(&cases);
}

#[test]
fn semantic_errors_name_both_places() {
    let cases = [
        // References.
        (format!("{T} {{\n  auth-group nope\n}}"), "ctl.conf:2:3: unknown auth-group 'nope' for target 'iqn.2012-06.com.example:t'"),
        (format!("{T} {{\n  portal-group nope\n}}"), "ctl.conf:2:3: unknown portal-group 'nope' for target 'iqn.2012-06.com.example:t'"),
        (format!("{T} {{\n  portal-group default nope\n}}"), "ctl.conf:2:3: unknown auth-group 'nope' for portal-group 'default' of target 'iqn.2012-06.com.example:t'"),
        (format!("{T} {{\n  lun 0 nope\n}}"), "ctl.conf:2:3: unknown LUN 'nope' in target 'iqn.2012-06.com.example:t'"),
        ("portal-group p {\n  discovery-auth-group nope\n}".into(), "ctl.conf:2:3: unknown discovery-auth-group 'nope' for portal-group 'p'"),
        // Duplicates.
        ("lun a { path slot:0 }\nlun d { path slot:1 }\n".to_string() + T + " {\n  lun 0 a\n  lun 0 d\n}", "ctl.conf:5:3: LUN number 0 is used twice in target 'iqn.2012-06.com.example:t'; first at ctl.conf:4:3"),
        ("auth-group a { auth-type none }\nauth-group a { auth-type deny }".into(), "ctl.conf:2:1: auth-group 'a' defined twice; first at ctl.conf:1:1"),
        ("auth-group default { }\nauth-group default { }".into(), "ctl.conf:2:1: auth-group 'default' defined twice; first at ctl.conf:1:1"),
        ("auth-group no-access { }".into(), "ctl.conf:1:1: auth-group 'no-access' is predefined and cannot be redefined"),
        ("portal-group p { }\nportal-group p { }".into(), "ctl.conf:2:1: portal-group 'p' defined twice; first at ctl.conf:1:1"),
        ("portal-group default { }\nportal-group default { }".into(), "ctl.conf:2:1: portal-group 'default' redefined more than once; first at ctl.conf:1:1"),
        ("lun a { path slot:0 }\nlun a { path slot:1 }".into(), "ctl.conf:2:1: LUN 'a' defined twice; first at ctl.conf:1:1"),
        ("target T1 { }\ntarget t1 { }".into(), "ctl.conf:2:1: target 't1' defined twice; first at ctl.conf:1:1"),
        ("lun a {\n  path slot:1\n}\nlun b {\n  path slot:1\n}".into(), "ctl.conf:5:3: LUN 'b' uses slot:1, already used by LUN 'a' at ctl.conf:2:3"),
        ("lun a { path /dev/da0 }\n".to_string() + T + " {\n  lun 3 {\n    path /dev/da0\n  }\n}", "ctl.conf:4:5: LUN 'iqn.2012-06.com.example:t,lun,3' uses /dev/da0, already used by LUN 'a' at ctl.conf:1:9"),
        ("lun a { path slot:0; ctl-lun 4 }\nlun b { path slot:1; ctl-lun 4 }".into(), "ctl.conf:2:22: LUN 'b' uses ctl-lun 4, already used by LUN 'a' at ctl.conf:1:22"),
        ("lun a { path slot:0; path slot:1 }".into(), "ctl.conf:1:22: path for LUN 'a' specified more than once; first at ctl.conf:1:9"),
        ("pidfile /a\npidfile /b".into(), "ctl.conf:2:1: pidfile for the configuration specified more than once; first at ctl.conf:1:1"),
        ("debug 1\ndebug 2".into(), "ctl.conf:2:1: 'debug' specified more than once; first at ctl.conf:1:1"),
        (format!("{T} {{\n  alias a\n  alias b\n}}"), "ctl.conf:3:3: alias for target 'iqn.2012-06.com.example:t' specified more than once; first at ctl.conf:2:3"),
        (format!("{T} {{\n  portal-group default\n  portal-group default\n}}"), "ctl.conf:3:3: portal-group 'default' assigned twice to target 'iqn.2012-06.com.example:t'; first at ctl.conf:2:3"),
        ("portal-group a { listen 10.0.0.1 }\nportal-group b {\n  listen 10.0.0.1:3260\n}\ntarget t { portal-group a; portal-group b }".into(), "ctl.conf:3:3: listen 10.0.0.1:3260 in portal-group 'b' is already used by portal-group 'a' at ctl.conf:1:18"),
        // Sizes.
        ("lun a {\n  path slot:0\n  blocksize 4096\n  size 1001K\n}".into(), "ctl.conf:4:3: size 1025024 of LUN 'a' is not a multiple of its block size 4096, set at ctl.conf:3:3"),
        ("lun a {\n  path slot:0\n  size 1000\n}".into(), "ctl.conf:3:3: size 1000 of LUN 'a' is not a multiple of its block size 512 (the default)"),
        ("lun a { backend ramdisk }".into(), "ctl.conf:1:1: LUN 'a' is a ramdisk and needs a size"),
        ("lun a { backend ramdisk; size 1M; path /x }".into(), "ctl.conf:1:35: LUN 'a' is a ramdisk and cannot have a path"),
        ("lun a { size 1M }".into(), "ctl.conf:1:1: LUN 'a' has no path: a block LUN needs 'path FILE' or 'path slot:N'"),
        ("lun a { path slot:0; serial \"tab\there\" }".into(), "ctl.conf:1:1: serial 'tab\there' must be 1 to 252 printable ASCII characters"),
        // Authentication.
        ("auth-group a {\n  chap u s\n  chap-mutual u s mu ms\n}".into(), "ctl.conf:3:3: auth-group 'a' mixes chap-mutual with chap, written at ctl.conf:2:3"),
        ("auth-group a {\n  auth-type none\n  chap u s\n}".into(), "ctl.conf:3:3: chap in auth-group 'a' conflicts with auth-type none, written at ctl.conf:2:3"),
        ("auth-group a {\n  chap-mutual u s mu ms\n  auth-type chap\n}".into(), "ctl.conf:2:3: chap-mutual in auth-group 'a' conflicts with auth-type chap, written at ctl.conf:3:3"),
        ("auth-group a {\n  auth-type none\n  auth-type deny\n}".into(), "ctl.conf:3:3: auth-type deny conflicts with auth-type none at ctl.conf:2:3"),
        ("auth-group a { auth-type chap }".into(), "ctl.conf:1:16: auth-type chap in auth-group 'a' needs at least one 'chap' line"),
        (format!("{T} {{\n  auth-group no-authentication\n  chap u s\n}}"), "ctl.conf:3:3: target 'iqn.2012-06.com.example:t' cannot use both chap and auth-group, written at ctl.conf:2:3"),
        (format!("{T} {{\n  initiator-name iqn.x\n  auth-group no-authentication\n}}"), "ctl.conf:3:3: target 'iqn.2012-06.com.example:t' cannot use both auth-group and initiator-name, written at ctl.conf:2:3"),
        (format!("{T} {{\n  chap u s\n  auth-type none\n}}"), "ctl.conf:2:3: chap in target 'iqn.2012-06.com.example:t' conflicts with auth-type none, written at ctl.conf:3:3"),
    ];
    check(&cases);
}

#[test]
fn lun_numbers_stop_at_1023() {
    let cases = [
        (format!("lun a {{ path slot:0 }}\n{T} {{\n  lun 1024 a\n}}"), "ctl.conf:3:7: LUN number 1024 is too big: a target has at most 1024 LUNs, numbered 0 to 1023"),
        (format!("{T} {{\n  lun 1k {{ backend ramdisk; size 1M }}\n}}"), "ctl.conf:2:7: LUN number 1024 is too big: a target has at most 1024 LUNs, numbered 0 to 1023"),
        (format!("{T} {{\n  lun x a\n}}"), "ctl.conf:2:7: lun 'x' is not a number (digits with an optional K, M, G, T, P or E suffix)"),
    ];
    check(&cases);
}

fn check(cases: &[(String, &str)]) {
    let mut failures = Vec::new();
    for (text, want) in cases {
        let got = error(text);
        if got != *want {
            failures.push(format!("text:\n{text}\n  want: {want}\n  got:  {got}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn interlink_key_errors() {
    let key = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
    check(&[
        ("interlink-key 0123".into(), "ctl.conf:1:15: interlink-key must be 64 hex digits (32 bytes), not 4 characters"),
        (format!("interlink-key {}", key.replace('0', "g")), "ctl.conf:1:15: interlink-key must be 64 hex digits (32 bytes), not 64 characters"),
        (format!("interlink-key {}", "0".repeat(64)), "ctl.conf:1:15: interlink-key must not be all zeros"),
        (format!("interlink-key {key}\ninterlink-key {key}"), "ctl.conf:2:1: interlink-key for the configuration specified more than once; first at ctl.conf:1:1"),
        ("interlink-key".into(), "ctl.conf:1:14: expected 64 hex digits after 'interlink-key', found end of file"),
    ]);
}
