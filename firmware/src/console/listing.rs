//! The console's listings (`devlist`, `lunlist`, `portlist`, `islist`, `create`'s report) in
//! ctladm's layout: fixed columns, one item a line, details indented under it.

use crate::configuration::live::LiveConfiguration;
use crate::configuration::lun_config::Medium;
use crate::configuration::plan::LunPlan;
use config::LunPath;
use scsi::{LunId, StorageSpec};
use std::fmt::Write;

fn luns_by_id(live: &LiveConfiguration) -> Vec<(String, LunPlan)> {
    let mut luns: Vec<(String, LunPlan)> = live.plan().luns.into_iter().collect();
    luns.sort_by_key(|(_, l)| l.config.id);
    luns
}

fn backend_name(l: &LunPlan) -> &'static str {
    match l.config.storage {
        StorageSpec::Ramdisk { .. } => "ramdisk",
        StorageSpec::File { .. } => "block",
    }
}

fn path_text(l: &LunPlan) -> String {
    match (&l.medium, &l.config.storage) {
        (Medium::Slot { slot, .. }, _) => LunPath::Slot(*slot).text(),
        (_, StorageSpec::File { path, .. }) => path.clone(),
        (_, StorageSpec::Ramdisk { .. }) => "-".into(),
    }
}

/// `devlist`: every LUN with its size in blocks, block size, serial number and device id.
pub fn devlist(
    live: &LiveConfiguration,
    verbose: bool,
    backend: Option<config::Backend>,
) -> String {
    let mut out = String::from("LUN Backend       Size (Blocks)   BS Serial Number    Device ID\n");
    let config = live.config();
    for (name, l) in luns_by_id(live) {
        if backend.is_some_and(|b| b.keyword() != backend_name(&l)) {
            continue;
        }
        let id = l.config.id;
        let blocks = live.device().lun(id).map_or(0, |d| d.blocks());
        let _ = writeln!(
            out,
            "{:>3} {:<13} {:>13} {:>4} {:<16} {}",
            id.0,
            backend_name(&l),
            blocks,
            l.config.block_size,
            l.config.serial,
            l.config.device_id
        );
        if verbose {
            let _ = writeln!(out, "      name={name}");
            // A LUN on a slot shows the ctl.conf path: its drive may sit elsewhere now
            // (`slot list` tells where).
            let configured =
                config
                    .all_luns()
                    .find(|c| c.name == name)
                    .and_then(|c| match &c.path {
                        Some(p @ LunPath::Slot(_)) => Some(p.text()),
                        _ => None,
                    });
            let _ = writeln!(
                out,
                "      path={}",
                configured.unwrap_or_else(|| path_text(&l))
            );
            let _ = writeln!(out, "      vendor={}", l.config.vendor);
            let _ = writeln!(out, "      product={}", l.config.product);
            let _ = writeln!(out, "      revision={}", l.config.revision);
            let _ = writeln!(out, "      naa={}", hex(&l.config.naa));
            let _ = writeln!(out, "      eui={}", hex(&l.config.eui64));
            let _ = writeln!(
                out,
                "      pblocksize={}",
                l.config.block_size << l.config.pblock_exp
            );
            let _ = writeln!(out, "      readonly={}", on_off(l.config.read_only));
            let _ = writeln!(out, "      removable={}", on_off(l.config.removable));
            let _ = writeln!(out, "      unmap={}", on_off(l.config.thin));
        }
    }
    out
}

/// `lunlist`: each LUN as a SCSI device, as CAM would print it.
pub fn lunlist(live: &LiveConfiguration) -> String {
    let mut out = String::new();
    for (name, l) in luns_by_id(live) {
        let _ = writeln!(
            out,
            "(dyad:{}): <{} {} {}> Fixed Direct Access SPC-5 SCSI device ({name})",
            l.config.id.0, l.config.vendor, l.config.product, l.config.revision
        );
    }
    out
}

/// `portlist`: each target port; `-l` its LUN map, `-i` its initiators, `-v` its access
/// rules.
pub fn portlist(
    live: &LiveConfiguration,
    maps: bool,
    initiators: bool,
    verbose: bool,
    only: Option<u16>,
) -> Result<String, String> {
    let plan = live.plan();
    if let Some(p) = only {
        if !plan.ports.contains_key(&p) {
            return Err(format!("there is no target port {p}"));
        }
    }
    let sessions = live.sessions().list();
    let mut out = String::from("Port Online Frontend Portal-group     Name\n");
    for (id, port) in plan
        .ports
        .iter()
        .filter(|(id, _)| only.is_none_or(|p| p == **id))
    {
        let _ = writeln!(
            out,
            "{:<4} {:<6} {:<8} {:<16} {}",
            id,
            if live.port_enabled(*id) { "YES" } else { "NO" },
            "iscsi",
            port.portal_group,
            port.config.port_name
        );
        if verbose {
            let _ = writeln!(out, "  target={}", port.target);
            if let Some(a) = &port.alias {
                let _ = writeln!(out, "  alias={a}");
            }
            let _ = writeln!(out, "  auth={}", auth_text(&port.access.auth));
            for n in &port.access.initiator_names {
                let _ = writeln!(out, "  initiator-name={n}");
            }
            for p in &port.access.initiator_portals {
                let _ = writeln!(out, "  initiator-portal={}/{}", p.addr, p.prefix);
            }
        }
        if maps {
            match &port.config.lun_map {
                None => {
                    let _ = writeln!(out, "  no LUN map: every LUN at its id");
                }
                Some(map) => {
                    for (plun, lun) in map {
                        let name = plan.lun_by_id(*lun).map_or("?", |l| l.config.name.as_str());
                        let _ = writeln!(out, "  LUN {plun}: {} ({name})", lun.0);
                    }
                }
            }
        }
        if initiators {
            let tag = plan.portal_groups.get(&port.portal_group).map(|g| g.tag);
            for s in sessions.iter().filter(|s| {
                s.target
                    .as_deref()
                    .is_some_and(|t| t.eq_ignore_ascii_case(&port.target))
                    && Some(s.tag) == tag
            }) {
                let _ = writeln!(out, "  Initiator {}: {}, {}", s.id, s.initiator, s.peer);
            }
        }
    }
    Ok(out)
}

/// `islist`: every iSCSI session; `-v` all that is known of each.
pub fn islist(live: &LiveConfiguration, verbose: bool) -> String {
    let sessions = live.sessions().list();
    let mut out = String::new();
    if !verbose {
        let _ = writeln!(
            out,
            "{:<6} {:<22} {:<40} Target name",
            "ID", "Portal", "Initiator name"
        );
    }
    for s in sessions {
        let target = s.target.as_deref().unwrap_or("(discovery)");
        if verbose {
            let _ = writeln!(out, "Session ID:       {}", s.id);
            let _ = writeln!(out, "Initiator name:   {}", s.initiator);
            let _ = writeln!(out, "Initiator portal: {}", s.peer);
            let _ = writeln!(
                out,
                "Initiator alias:  {}",
                s.initiator_alias.as_deref().unwrap_or("")
            );
            let _ = writeln!(out, "ISID:             {}", hex(&s.isid));
            let _ = writeln!(out, "Target name:      {target}");
            let _ = writeln!(out, "Target portal:    {}", s.local);
            let _ = writeln!(out, "Portal group tag: {}", s.tag);
            let _ = writeln!(out, "TSIH:             {}", s.tsih);
            let _ = writeln!(
                out,
                "User:             {}",
                s.chap_user.as_deref().unwrap_or("-")
            );
            let _ = writeln!(
                out,
                "Header digest:    {}",
                if s.header_digest { "CRC32C" } else { "None" }
            );
            let _ = writeln!(
                out,
                "Data digest:      {}",
                if s.data_digest { "CRC32C" } else { "None" }
            );
            out.push('\n');
        } else {
            let _ = writeln!(
                out,
                "{:<6} {:<22} {:<40} {target}",
                s.id,
                s.peer.to_string(),
                s.initiator
            );
        }
    }
    out
}

/// `create`'s report, as ctladm gives it.
pub fn created(live: &LiveConfiguration, name: &str) -> String {
    let plan = live.plan();
    let Some(l) = plan.luns.get(name) else {
        return format!("LUN '{name}' created");
    };
    let id: LunId = l.config.id;
    let blocks = live.device().lun(id).map_or(0, |d| d.blocks());
    format!(
        "LUN created successfully\nbackend:       {}\ndevice type:   0\nLUN size:      {} blocks\nblocksize      {} bytes\nLUN ID:        {}\nSerial Number: {}\nDevice ID:     {}\nName:          {name}",
        backend_name(l),
        blocks,
        l.config.block_size,
        id.0,
        l.config.serial,
        l.config.device_id
    )
}

fn auth_text(auth: &iscsi::login::Auth) -> &'static str {
    match auth {
        iscsi::login::Auth::None => "none",
        iscsi::login::Auth::Deny => "deny",
        iscsi::login::Auth::Chap(creds) if creds.iter().any(|c| c.mutual.is_some()) => {
            "chap-mutual"
        }
        iscsi::login::Auth::Chap(_) => "chap",
    }
}

fn on_off(b: bool) -> &'static str {
    if b {
        "on"
    } else {
        "off"
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
