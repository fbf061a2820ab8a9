//! Writes a [`Config`] back as canonical ctl.conf text: one statement a line, tab-indented
//! blocks, groups before the targets that use them (as ctld requires), predefined groups
//! left out unless redefined. Reading the text back gives an equal `Config`.

use crate::model::*;
use crate::size::format_size;
use alloc::format;
use alloc::string::String;
use core::fmt::Write;
use core::net::SocketAddr;

/// ctld's keywords: a value spelled like one must be quoted for ctld to read it as a value.
const KEYWORDS: &[&str] = &[
    "alias",
    "auth-group",
    "auth-type",
    "backend",
    "blocksize",
    "chap",
    "chap-mutual",
    "ctl-lun",
    "debug",
    "device-id",
    "device-type",
    "discovery-auth-group",
    "discovery-filter",
    "dscp",
    "pcp",
    "foreign",
    "initiator-name",
    "initiator-portal",
    "interlink-key",
    "listen",
    "listen-iser",
    "lun",
    "maxproc",
    "offload",
    "option",
    "path",
    "pidfile",
    "isns-server",
    "isns-period",
    "isns-timeout",
    "port",
    "portal-group",
    "redirect",
    "serial",
    "size",
    "tag",
    "target",
    "timeout",
    "af11",
    "af12",
    "af13",
    "af21",
    "af22",
    "af23",
    "af31",
    "af32",
    "af33",
    "af41",
    "af42",
    "af43",
    "be",
    "ef",
    "cs0",
    "cs1",
    "cs2",
    "cs3",
    "cs4",
    "cs5",
    "cs6",
    "cs7",
];

/// `s` as a ctl.conf value: bare if ctld's word pattern covers it, quoted otherwise.
pub fn quote(s: &str) -> String {
    let bare = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-@_/:[]".contains(&b))
        && !KEYWORDS.contains(&s);
    if bare {
        s.into()
    } else {
        format!("\"{s}\"")
    }
}

fn listen_text(a: &SocketAddr) -> String {
    match a {
        SocketAddr::V4(v4) => format!("{}:{}", v4.ip(), v4.port()),
        SocketAddr::V6(v6) => format!("[{}]:{}", v6.ip(), v6.port()),
    }
}

fn portal_text(p: &InitiatorPortal) -> String {
    let addr = match p.addr {
        core::net::IpAddr::V4(a) => format!("{a}"),
        core::net::IpAddr::V6(a) => format!("[{a}]"),
    };
    match p.prefix {
        Some(n) => format!("{addr}/{n}"),
        None => addr,
    }
}

fn auth(out: &mut String, indent: &str, a: &AuthSettings) {
    if let Some(t) = a.auth_type {
        let _ = writeln!(out, "{indent}auth-type {}", t.keyword());
    }
    for c in &a.chap {
        let _ = writeln!(out, "{indent}chap {} {}", quote(&c.user), quote(&c.secret));
    }
    for c in &a.chap_mutual {
        let _ = writeln!(
            out,
            "{indent}chap-mutual {} {} {} {}",
            quote(&c.user),
            quote(&c.secret),
            quote(&c.mutual_user),
            quote(&c.mutual_secret)
        );
    }
    for n in &a.initiator_names {
        let _ = writeln!(out, "{indent}initiator-name {}", quote(n));
    }
    for p in &a.initiator_portals {
        let _ = writeln!(out, "{indent}initiator-portal {}", quote(&portal_text(p)));
    }
}

fn lun_body(out: &mut String, indent: &str, l: &Lun) {
    if let Some(b) = l.backend {
        let _ = writeln!(out, "{indent}backend {}", b.keyword());
    }
    if let Some(p) = &l.path {
        let _ = writeln!(out, "{indent}path {}", quote(&p.text()));
    }
    if let Some(s) = l.size {
        let _ = writeln!(out, "{indent}size {}", format_size(s));
    }
    if let Some(b) = l.blocksize {
        let _ = writeln!(out, "{indent}blocksize {b}");
    }
    if let Some(s) = &l.serial {
        let _ = writeln!(out, "{indent}serial {}", quote(s));
    }
    if let Some(s) = &l.device_id {
        let _ = writeln!(out, "{indent}device-id {}", quote(s));
    }
    if let Some(n) = l.ctl_lun {
        let _ = writeln!(out, "{indent}ctl-lun {n}");
    }
    for (name, value) in l.options.entries() {
        let _ = writeln!(out, "{indent}option {name} {}", quote(&value));
    }
}

impl Config {
    /// Canonical ctl.conf text for this configuration.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        if let Some(n) = self.debug {
            let _ = writeln!(out, "debug {n}");
        }
        if let Some(n) = self.timeout {
            let _ = writeln!(out, "timeout {n}");
        }
        if let Some(n) = self.maxproc {
            let _ = writeln!(out, "maxproc {n}");
        }
        if let Some(p) = &self.pidfile {
            let _ = writeln!(out, "pidfile {}", quote(p));
        }
        if let Some(k) = &self.interlink_key {
            let _ = writeln!(out, "interlink-key {}", k.to_hex());
        }
        for g in &self.auth_groups {
            if AuthGroup::predefined(&g.name).as_ref() == Some(g) {
                continue;
            }
            let _ = writeln!(out, "\nauth-group {} {{", quote(&g.name));
            auth(&mut out, "\t", &g.auth);
            out.push_str("}\n");
        }
        for pg in &self.portal_groups {
            if pg.name == DEFAULT_PORTAL_GROUP && *pg == PortalGroup::predefined_default() {
                continue;
            }
            let _ = writeln!(out, "\nportal-group {} {{", quote(&pg.name));
            if let Some(ag) = &pg.discovery_auth_group {
                let _ = writeln!(out, "\tdiscovery-auth-group {}", quote(ag));
            }
            if let Some(f) = pg.discovery_filter {
                let _ = writeln!(out, "\tdiscovery-filter {}", f.keyword());
            }
            // A redefined `default` without `listen` lines gets ctld's addresses; writing
            // them out would turn them into written lines, which other groups may not share.
            let implicit = pg.name == DEFAULT_PORTAL_GROUP && pg.listen == default_listens();
            for l in pg.listen.iter().filter(|_| !implicit) {
                let _ = writeln!(out, "\tlisten {}", listen_text(&l.addr));
            }
            if let Some(t) = pg.tag {
                let _ = writeln!(out, "\ttag {t}");
            }
            if pg.foreign {
                out.push_str("\tforeign\n");
            }
            out.push_str("}\n");
        }
        for l in &self.luns {
            let _ = writeln!(out, "\nlun {} {{", quote(&l.name));
            lun_body(&mut out, "\t", l);
            out.push_str("}\n");
        }
        for t in &self.targets {
            let _ = writeln!(out, "\ntarget {} {{", quote(&t.name));
            if let Some(a) = &t.alias {
                let _ = writeln!(out, "\talias {}", quote(a));
            }
            match &t.auth {
                TargetAuth::Default => {}
                TargetAuth::Group { name, .. } => {
                    let _ = writeln!(out, "\tauth-group {}", quote(name));
                }
                TargetAuth::Inline(a) => auth(&mut out, "\t", a),
            }
            for pg in &t.portal_groups {
                let _ = write!(out, "\tportal-group {}", quote(&pg.name));
                if let Some(ag) = &pg.auth_group {
                    let _ = write!(out, " {}", quote(ag));
                }
                out.push('\n');
            }
            for m in &t.luns {
                match &m.lun {
                    TargetLunSource::Named(n) => {
                        let _ = writeln!(out, "\tlun {} {}", m.number, quote(n));
                    }
                    TargetLunSource::Inline(l) => {
                        let _ = writeln!(out, "\tlun {} {{", m.number);
                        lun_body(&mut out, "\t\t", l);
                        out.push_str("\t}\n");
                    }
                }
            }
            out.push_str("}\n");
        }
        out
    }
}
