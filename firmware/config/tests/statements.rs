//! One case per accepted statement: the text, and the value it puts in the model. Every
//! case also survives the round trip through `to_text`.

use config::*;
use core::net::{IpAddr, SocketAddr};

/// A statement and what must hold of the thing it configures.
type Case<T> = (&'static str, fn(&T) -> bool);
type TargetCase = (&'static str, fn(&Config, &Target) -> bool);

fn parse(text: &str) -> Config {
    let c = Config::parse("ctl.conf", text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let again = Config::parse("saved.conf", &c.to_text())
        .unwrap_or_else(|e| panic!("{e}\n{}", c.to_text()));
    assert_eq!(again, c, "round trip of\n{text}\nthrough\n{}", c.to_text());
    c
}

fn group<'a>(c: &'a Config, name: &str) -> &'a AuthSettings {
    &c.auth_group(name).unwrap().auth
}

fn lun<'a>(c: &'a Config, name: &str) -> &'a Lun {
    c.lun(name).unwrap()
}

const DISK: &str = "lun d { path slot:0; ";

fn disk(body: &str) -> Config {
    parse(&format!("{DISK}{body} }}"))
}

#[test]
fn global_statements() {
    let c = parse("debug 2\ntimeout 30\nmaxproc 0\npidfile /var/run/ctld.pid\n");
    assert_eq!(
        (c.debug, c.timeout, c.maxproc),
        (Some(2), Some(30), Some(0))
    );
    assert_eq!(c.pidfile.as_deref(), Some("/var/run/ctld.pid"));
}

#[test]
fn predefined_groups() {
    let c = parse("");
    assert_eq!(group(&c, "default").effective_type(), AuthType::Deny);
    assert_eq!(
        group(&c, "no-authentication").effective_type(),
        AuthType::None
    );
    assert_eq!(group(&c, "no-access").effective_type(), AuthType::Deny);
    let listen: Vec<SocketAddr> = c
        .portal_group("default")
        .unwrap()
        .listen
        .iter()
        .map(|l| l.addr)
        .collect();
    assert_eq!(
        listen,
        [
            "0.0.0.0:3260".parse().unwrap(),
            "[::]:3260".parse().unwrap()
        ]
    );
    assert_eq!(c.to_text(), "");
}

#[test]
fn auth_group_statements() {
    let cases: &[Case<AuthSettings>] = &[
        ("auth-type none", |a| a.auth_type == Some(AuthType::None)),
        ("auth-type deny", |a| a.effective_type() == AuthType::Deny),
        ("auth-type chap; chap u s", |a| {
            a.auth_type == Some(AuthType::Chap) && a.chap.len() == 1
        }),
        ("chap user \"secret with space\"", |a| {
            a.effective_type() == AuthType::Chap && a.chap[0].secret == "secret with space"
        }),
        ("chap-mutual u s mu ms", |a| {
            a.effective_type() == AuthType::ChapMutual && a.chap_mutual[0].mutual_secret == "ms"
        }),
        ("auth-type chap-mutual\nchap-mutual u s mu ms", |a| {
            a.auth_type == Some(AuthType::ChapMutual)
        }),
        ("initiator-name iqn.1994-05.com.redhat:x", |a| {
            a.initiator_names == ["iqn.1994-05.com.redhat:x"]
                && a.effective_type() == AuthType::None
        }),
        ("initiator-portal 192.168.1.1/24", |a| {
            let p = a.initiator_portals[0];
            p.prefix == Some(24) && p.addr == "192.168.1.1".parse::<std::net::IpAddr>().unwrap()
        }),
        ("initiator-portal [2001:db8::de:ef]/64", |a| {
            let p = a.initiator_portals[0];
            p.prefix == Some(64) && p.addr == "2001:db8::de:ef".parse::<std::net::IpAddr>().unwrap()
        }),
        ("initiator-portal 10.0.0.1", |a| {
            let p = a.initiator_portals[0];
            p.prefix.is_none() && p.addr == "10.0.0.1".parse::<std::net::IpAddr>().unwrap()
        }),
    ];
    for (body, check) in cases {
        let c = parse(&format!("auth-group ag {{\n\t{body}\n}}\n"));
        assert!(check(group(&c, "ag")), "{body}");
    }
}

#[test]
fn default_auth_group_can_be_redefined_once() {
    let c = parse("auth-group default { auth-type none }");
    assert_eq!(group(&c, "default").effective_type(), AuthType::None);
    assert_eq!(c.auth_groups.len(), 3);
}

#[test]
fn portal_group_statements() {
    let cases: &[Case<PortalGroup>] = &[
        ("listen 127.0.0.1", |p| {
            p.listen[0].addr == "127.0.0.1:3260".parse().unwrap()
        }),
        ("listen 0.0.0.0:3261", |p| p.listen[0].addr.port() == 3261),
        ("listen [::]:3261", |p| {
            p.listen[0].addr == "[::]:3261".parse().unwrap()
        }),
        ("listen [fe80::be:ef]", |p| {
            p.listen[0].addr.ip() == "fe80::be:ef".parse::<IpAddr>().unwrap()
        }),
        ("discovery-auth-group no-authentication", |p| {
            p.effective_discovery_auth_group() == "no-authentication"
        }),
        ("discovery-filter portal-name-auth", |p| {
            p.discovery_filter == Some(DiscoveryFilter::PortalNameAuth)
        }),
        ("discovery-filter none", |p| {
            p.effective_discovery_filter() == DiscoveryFilter::None
        }),
        ("tag 7", |p| p.tag == Some(7)),
        ("foreign", |p| p.foreign),
    ];
    for (body, check) in cases {
        let c = parse(&format!("portal-group pg {{\n\t{body}\n}}\n"));
        assert!(check(c.portal_group("pg").unwrap()), "{body}");
    }
    let c = parse("portal-group default { tag 3 }");
    let d = c.portal_group("default").unwrap();
    assert_eq!((d.tag, d.listen.len()), (Some(3), 2));
}

#[test]
fn lun_statements() {
    let cases: &[Case<Lun>] = &[
        ("lun d { path /dev/zvol/tank/d }", |l| {
            l.path == Some(LunPath::File("/dev/zvol/tank/d".into()))
                && l.effective_backend() == Backend::Block
        }),
        ("lun d { path slot:3 }", |l| {
            l.path == Some(LunPath::Slot(3))
        }),
        ("lun d { backend block; path \"/data/my disk.img\" }", |l| {
            l.backend == Some(Backend::Block)
        }),
        ("lun d { backend ramdisk; size 1G }", |l| {
            l.backend == Some(Backend::Ramdisk) && l.size == Some(1 << 30)
        }),
        ("lun d { path slot:0; size 4T }", |l| {
            l.size == Some(4 << 40)
        }),
        ("lun d { path slot:0; size 1048576 }", |l| {
            l.size == Some(1 << 20)
        }),
        ("lun d { path slot:0; blocksize 4096; size 4G }", |l| {
            l.block_size() == 4096
        }),
        ("lun d { path slot:0 }", |l| l.block_size() == 512),
        ("lun d { path slot:0; serial S1234 }", |l| {
            l.serial.as_deref() == Some("S1234")
        }),
        ("lun d { path slot:0; device-id \"dyad disk 0\" }", |l| {
            l.device_id.as_deref() == Some("dyad disk 0")
        }),
        ("lun d { path slot:0; ctl-lun 17 }", |l| {
            l.ctl_lun == Some(17)
        }),
        ("lun d { path slot:0; device-type disk }", |l| {
            l.path.is_some()
        }),
    ];
    for (text, check) in cases {
        let c = parse(text);
        assert!(check(lun(&c, "d")), "{text}");
    }
}

#[test]
fn lun_options() {
    let cases: &[Case<LunOptions>] = &[
        ("option vendor FreeBSD", |o| {
            o.vendor.as_deref() == Some("FreeBSD")
        }),
        ("option product \"CTL DISK\"", |o| {
            o.product.as_deref() == Some("CTL DISK")
        }),
        ("option revision 0001", |o| {
            o.revision.as_deref() == Some("0001")
        }),
        ("option naa 0x6001405aabbccddeeff0011223344556", |o| {
            o.naa.map(|n| n[0]) == Some(0x60)
        }),
        ("option naa 6001405AABBCCDDEEFF0011223344556", |o| {
            o.naa.map(|n| n[15]) == Some(0x56)
        }),
        ("option eui 0x0011223344556677", |o| {
            o.eui == Some([0, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77])
        }),
        ("option pblocksize 4096", |o| o.pblocksize == Some(4096)),
        ("option pblocksize 4k; option pblockoffset 512", |o| {
            o.pblockoffset == Some(512)
        }),
        ("option readonly on", |o| o.readonly == Some(true)),
        ("option removable off", |o| o.removable == Some(false)),
        ("option unmap on", |o| o.thin()),
        ("option provisioning_type thin", |o| o.thin()),
        ("option unmap off; option provisioning_type full", |o| {
            !o.thin()
        }),
        ("option readcache off", |o| o.readcache == Some(false)),
        ("option writecache on", |o| o.writecache == Some(true)),
    ];
    for (body, check) in cases {
        let c = disk(body);
        assert!(check(&lun(&c, "d").options), "{body}");
    }
}

#[test]
fn target_statements() {
    let base = "auth-group ag { auth-type none }\nportal-group pg { listen 10.0.0.1 }\nlun d { path slot:0 }\n";
    let cases: &[TargetCase] = &[
        ("alias \"Example target\"", |_, t| {
            t.alias.as_deref() == Some("Example target")
        }),
        (
            "auth-group ag",
            |_, t| matches!(&t.auth, TargetAuth::Group { name, .. } if name == "ag"),
        ),
        (
            "auth-type none",
            |_, t| matches!(&t.auth, TargetAuth::Inline(a) if a.effective_type() == AuthType::None),
        ),
        (
            "chap u s",
            |_, t| matches!(&t.auth, TargetAuth::Inline(a) if a.chap.len() == 1),
        ),
        (
            "chap-mutual u s mu ms",
            |_, t| matches!(&t.auth, TargetAuth::Inline(a) if a.chap_mutual.len() == 1),
        ),
        (
            "initiator-name iqn.x",
            |_, t| matches!(&t.auth, TargetAuth::Inline(a) if a.initiator_names.len() == 1),
        ),
        (
            "initiator-portal 10.1.0.0/16",
            |_, t| matches!(&t.auth, TargetAuth::Inline(a) if a.initiator_portals.len() == 1),
        ),
        ("portal-group pg", |_, t| {
            t.effective_portal_groups() == ["pg"]
        }),
        ("portal-group pg ag", |_, t| {
            t.portal_groups[0].auth_group.as_deref() == Some("ag")
        }),
        ("portal-group pg\nportal-group default", |_, t| {
            t.portal_groups.len() == 2
        }),
        ("", |_, t| {
            t.effective_portal_groups() == ["default"] && t.auth == TargetAuth::Default
        }),
        ("lun 0 d", |c, t| {
            c.resolve(&t.luns[0]).map(|l| l.name.as_str()) == Some("d")
        }),
        ("lun 5 d\nlun 1023 d", |_, t| t.luns[1].number == 1023),
        ("lun 0 {\n\t\tbackend ramdisk\n\t\tsize 64M\n\t}", |c, t| {
            c.resolve(&t.luns[0]).is_some_and(|l| {
                l.name == "iqn.2012-06.com.example:t,lun,0" && l.size == Some(64 << 20)
            })
        }),
        ("lun 0\n\t{ path /tmp/x }", |c, _| c.all_luns().count() == 2),
    ];
    for (body, check) in cases {
        let c = parse(&format!(
            "{base}target iqn.2012-06.com.example:t {{\n\t{body}\n}}\n"
        ));
        assert!(check(&c, &c.targets[0]), "{body}");
    }
}

#[test]
fn layout_is_free_within_ctld_rules() {
    // Semicolons, blocks on one line, brace on the next line, comments anywhere.
    let c = parse(
        "# header\nlun a { path slot:1; size 1G }   # trailing\nlun b\n{\n path slot:2 ; ; \n}\n\
         target t { lun 0 a; lun 1 b }",
    );
    assert_eq!(c.luns.len(), 2);
    assert_eq!(c.targets[0].luns.len(), 2);
}

#[test]
fn keywords_can_be_names_when_quoted() {
    let c = parse("lun \"lun\" { path \"path\" }\ntarget t { alias \"target\"; lun 0 \"lun\" }");
    assert!(c.lun("lun").is_some());
    assert!(c.to_text().contains("lun \"lun\" {"));
}

#[test]
fn interlink_key_is_read_kept_secret_and_written_back() {
    let key = "0x00112233445566778899AABBCCDDEEFF00112233445566778899aabbccddeeff";
    let c = config::Config::parse("ctl.conf", &format!("interlink-key {key}\n")).unwrap();
    let k = c.interlink_key.unwrap();
    assert_eq!(k.0[1], 0x11);
    assert_eq!(k.0[31], 0xff);
    assert_eq!(format!("{k:?}"), "InterlinkKey(..)");
    let text = c.to_text();
    assert!(
        text.contains("interlink-key 00112233445566778899aabbccddeeff"),
        "{text}"
    );
    assert_eq!(config::Config::parse("ctl.conf", &text).unwrap(), c);
}
