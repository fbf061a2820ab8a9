//! Checks that need the whole configuration: every reference resolves, no name, LUN
//! number, global LUN id, path or listen address is claimed twice, authentication
//! statements agree, and each LUN describes something dyad's SCSI core can serve.
//! Errors point at the statement at fault and, for a conflict, at the other one.

use crate::error::{ConfigError, Place};
use crate::lun_options::ProvisioningType;
use crate::model::*;
use crate::parser::too_big;
use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::net::SocketAddr;

/// The block sizes the core serves.
pub const BLOCK_SIZES: [u32; 2] = [512, 4096];

struct Check<'a> {
    file: &'a str,
}

impl Check<'_> {
    fn error(&self, at: Place, message: String) -> ConfigError {
        ConfigError::new(self.file, at, message)
    }

    fn conflict(&self, at: Place, message: String, other: Place) -> ConfigError {
        ConfigError::conflict(self.file, at, message, other)
    }

    /// A value ctl.conf can hold: not empty, and no `"` (the language has no escape).
    fn text(&self, what: &str, s: &str, at: Place) -> Result<(), ConfigError> {
        if s.is_empty() {
            return Err(self.error(at, format!("{what} is empty")));
        }
        if s.contains('"') {
            return Err(self.error(
                at,
                format!("{what} '{s}' contains '\"', which ctl.conf cannot write"),
            ));
        }
        Ok(())
    }

    /// An INQUIRY or VPD string: 1 to `max` printable ASCII characters.
    fn ascii(&self, what: &str, s: &str, max: usize, at: Place) -> Result<(), ConfigError> {
        if s.is_empty() || s.len() > max || !s.bytes().all(|b| (0x20..0x7F).contains(&b)) {
            return Err(self.error(
                at,
                format!("{what} '{s}' must be 1 to {max} printable ASCII characters"),
            ));
        }
        Ok(())
    }

    fn auth(&self, owner: &str, auth: &AuthSettings, at: Place) -> Result<(), ConfigError> {
        for c in &auth.chap {
            self.text("CHAP user name", &c.user, c.place)?;
            self.text("CHAP secret", &c.secret, c.place)?;
        }
        for c in &auth.chap_mutual {
            self.text("CHAP user name", &c.user, c.place)?;
            self.text("CHAP secret", &c.secret, c.place)?;
            self.text("mutual CHAP user name", &c.mutual_user, c.place)?;
            self.text("mutual CHAP secret", &c.mutual_secret, c.place)?;
        }
        for n in &auth.initiator_names {
            self.text("initiator-name", n, at)?;
        }
        if let (Some(c), Some(m)) = (auth.chap.first(), auth.chap_mutual.first()) {
            let (later, earlier, lk, ek) =
                if (c.place.line, c.place.column) > (m.place.line, m.place.column) {
                    (c.place, m.place, "chap", "chap-mutual")
                } else {
                    (m.place, c.place, "chap-mutual", "chap")
                };
            return Err(self.conflict(
                later,
                format!("{owner} mixes {lk} with {ek}, written"),
                earlier,
            ));
        }
        let Some(t) = auth.auth_type else {
            return Ok(());
        };
        let clash = match t {
            AuthType::None | AuthType::Deny => auth
                .chap
                .first()
                .map(|c| ("chap", c.place))
                .or(auth.chap_mutual.first().map(|c| ("chap-mutual", c.place))),
            AuthType::Chap => auth.chap_mutual.first().map(|c| ("chap-mutual", c.place)),
            AuthType::ChapMutual => auth.chap.first().map(|c| ("chap", c.place)),
        };
        if let Some((kw, place)) = clash {
            return Err(self.conflict(
                place,
                format!(
                    "{kw} in {owner} conflicts with auth-type {}, written",
                    t.keyword()
                ),
                auth.auth_type_place,
            ));
        }
        let missing = match t {
            AuthType::Chap if auth.chap.is_empty() => Some("chap"),
            AuthType::ChapMutual if auth.chap_mutual.is_empty() => Some("chap-mutual"),
            _ => None,
        };
        if let Some(kw) = missing {
            return Err(self.error(
                auth.auth_type_place,
                format!("auth-type {kw} in {owner} needs at least one '{kw}' line"),
            ));
        }
        Ok(())
    }

    fn lun(&self, lun: &Lun) -> Result<(), ConfigError> {
        let owner = format!("LUN '{}'", lun.name);
        let p = &lun.places;
        self.text("LUN name", &lun.name, lun.place)?;
        match (lun.effective_backend(), &lun.path) {
            (Backend::Block, None) => {
                return Err(self.error(
                    lun.place,
                    format!("{owner} has no path: a block LUN needs 'path FILE' or 'path slot:N'"),
                ))
            }
            (Backend::Ramdisk, Some(_)) => {
                return Err(self.error(
                    p.path,
                    format!("{owner} is a ramdisk and cannot have a path"),
                ))
            }
            (Backend::Ramdisk, None) if lun.size.is_none() => {
                return Err(self.error(lun.place, format!("{owner} is a ramdisk and needs a size")))
            }
            (_, Some(LunPath::File(f))) => self.text("path", f, p.path)?,
            _ => {}
        }
        let bs = lun.block_size();
        if !BLOCK_SIZES.contains(&bs) {
            return Err(self.error(
                p.blocksize,
                format!("blocksize {bs} of {owner} is not supported by dyad: use 512 or 4096"),
            ));
        }
        if let Some(size) = lun.size {
            if size == 0 {
                return Err(self.error(p.size, format!("size of {owner} must not be 0")));
            }
            if size % u64::from(bs) != 0 {
                let message =
                    format!("size {size} of {owner} is not a multiple of its block size {bs}");
                return Err(if lun.blocksize.is_some() {
                    self.conflict(p.size, format!("{message}, set"), p.blocksize)
                } else {
                    self.error(p.size, format!("{message} (the default)"))
                });
            }
        }
        if let Some(s) = &lun.serial {
            self.ascii("serial", s, 252, lun.place)?;
        }
        if let Some(s) = &lun.device_id {
            self.ascii("device-id", s, 240, lun.place)?;
        }
        let o = &lun.options;
        for (name, value, max) in [
            ("vendor", &o.vendor, 8),
            ("product", &o.product, 16),
            ("revision", &o.revision, 4),
        ] {
            if let Some(v) = value {
                self.ascii(&format!("option {name}"), v, max, p.option(name, lun.place))?;
            }
        }
        if let Some(naa) = o.naa {
            if naa[0] >> 4 != 6 {
                return Err(self.error(
                    p.option("naa", lun.place),
                    "option naa must be an NAA 6 (IEEE Registered Extended) designator: its first hex digit is 6".into(),
                ));
            }
        }
        let pbs = o.pblocksize.unwrap_or(bs);
        if let Some(pbs) = o.pblocksize {
            let ratio = pbs / bs;
            if pbs % bs != 0 || !ratio.is_power_of_two() || ratio > 1 << 15 {
                return Err(self.error(
                    p.option("pblocksize", lun.place),
                    format!("option pblocksize {pbs} of {owner} must be a power-of-two multiple (up to 32768) of its block size {bs}"),
                ));
            }
        }
        if let Some(ofs) = o.pblockoffset {
            if ofs % bs != 0 || ofs >= pbs {
                return Err(self.error(
                    p.option("pblockoffset", lun.place),
                    format!("option pblockoffset {ofs} of {owner} must be a multiple of its block size {bs} below its physical block size {pbs}"),
                ));
            }
        }
        match (o.unmap, o.provisioning_type) {
            (Some(true), Some(ProvisioningType::Full))
            | (Some(false), Some(ProvisioningType::Thin)) => {
                return Err(self.conflict(
                    p.option("provisioning_type", lun.place),
                    format!(
                        "option provisioning_type of {owner} conflicts with option unmap, written"
                    ),
                    p.option("unmap", lun.place),
                ))
            }
            _ => {}
        }
        Ok(())
    }
}

/// Checks `config`, read from `file` (named in errors).
pub fn validate(config: &Config, file: &str) -> Result<(), ConfigError> {
    let c = Check { file };
    if let Some(p) = &config.pidfile {
        c.text("pidfile", p, Place::default())?;
    }

    let mut seen: BTreeMap<&str, Place> = BTreeMap::new();
    for g in &config.auth_groups {
        c.text("auth-group name", &g.name, g.place)?;
        if let Some(first) = seen.insert(&g.name, g.place) {
            return Err(c.conflict(
                g.place,
                format!("auth-group '{}' defined twice; first", g.name),
                first,
            ));
        }
        c.auth(&format!("auth-group '{}'", g.name), &g.auth, g.place)?;
    }

    seen.clear();
    for pg in &config.portal_groups {
        c.text("portal-group name", &pg.name, pg.place)?;
        if let Some(first) = seen.insert(&pg.name, pg.place) {
            return Err(c.conflict(
                pg.place,
                format!("portal-group '{}' defined twice; first", pg.name),
                first,
            ));
        }
        let dag = pg.effective_discovery_auth_group();
        if config.auth_group(dag).is_none() {
            return Err(c.error(
                pg.discovery_auth_group_place,
                format!(
                    "unknown discovery-auth-group '{dag}' for portal-group '{}'",
                    pg.name
                ),
            ));
        }
    }

    seen.clear();
    let mut ids: BTreeMap<u32, &Lun> = BTreeMap::new();
    let mut paths: BTreeMap<&LunPath, &Lun> = BTreeMap::new();
    for lun in config.all_luns() {
        if let Some(first) = seen.insert(&lun.name, lun.place) {
            return Err(c.conflict(
                lun.place,
                format!("LUN '{}' defined twice; first", lun.name),
                first,
            ));
        }
        c.lun(lun)?;
        if let Some(id) = lun.ctl_lun {
            if let Some(other) = ids.insert(id, lun) {
                return Err(c.conflict(
                    lun.places.ctl_lun,
                    format!(
                        "LUN '{}' uses ctl-lun {id}, already used by LUN '{}'",
                        lun.name, other.name
                    ),
                    other.places.ctl_lun,
                ));
            }
        }
        if let Some(path) = &lun.path {
            if let Some(other) = paths.insert(path, lun) {
                return Err(c.conflict(
                    lun.places.path,
                    format!(
                        "LUN '{}' uses {}, already used by LUN '{}'",
                        lun.name,
                        path.text(),
                        other.name
                    ),
                    other.places.path,
                ));
            }
        }
    }

    let mut target_names: BTreeMap<String, Place> = BTreeMap::new();
    let mut used_portal_groups: Vec<&str> = Vec::new();
    for t in &config.targets {
        c.text("target name", &t.name, t.place)?;
        if let Some(first) = target_names.insert(t.name.to_ascii_lowercase(), t.place) {
            return Err(c.conflict(
                t.place,
                format!("target '{}' defined twice; first", t.name),
                first,
            ));
        }
        if let Some(a) = &t.alias {
            c.text("alias", a, t.place)?;
        }
        match &t.auth {
            TargetAuth::Default => {}
            TargetAuth::Group { name, place } => {
                if config.auth_group(name).is_none() {
                    return Err(c.error(
                        *place,
                        format!("unknown auth-group '{name}' for target '{}'", t.name),
                    ));
                }
            }
            TargetAuth::Inline(auth) => c.auth(&format!("target '{}'", t.name), auth, t.place)?,
        }
        let mut pgs: BTreeMap<&str, Place> = BTreeMap::new();
        for pg in &t.portal_groups {
            if config.portal_group(&pg.name).is_none() {
                return Err(c.error(
                    pg.place,
                    format!("unknown portal-group '{}' for target '{}'", pg.name, t.name),
                ));
            }
            if let Some(ag) = &pg.auth_group {
                if config.auth_group(ag).is_none() {
                    return Err(c.error(
                        pg.place,
                        format!(
                            "unknown auth-group '{ag}' for portal-group '{}' of target '{}'",
                            pg.name, t.name
                        ),
                    ));
                }
            }
            if let Some(first) = pgs.insert(&pg.name, pg.place) {
                return Err(c.conflict(
                    pg.place,
                    format!(
                        "portal-group '{}' assigned twice to target '{}'; first",
                        pg.name, t.name
                    ),
                    first,
                ));
            }
        }
        used_portal_groups.extend(t.effective_portal_groups());
        let mut numbers: BTreeMap<u32, Place> = BTreeMap::new();
        for (i, m) in t.luns.iter().enumerate() {
            if i >= MAX_LUNS_PER_TARGET as usize {
                return Err(c.error(
                    m.place,
                    format!(
                        "target '{}' has more than {MAX_LUNS_PER_TARGET} LUNs",
                        t.name
                    ),
                ));
            }
            if m.number >= MAX_LUNS_PER_TARGET {
                return Err(c.error(m.place, too_big(u64::from(m.number))));
            }
            if let Some(first) = numbers.insert(m.number, m.place) {
                return Err(c.conflict(
                    m.place,
                    format!(
                        "LUN number {} is used twice in target '{}'; first",
                        m.number, t.name
                    ),
                    first,
                ));
            }
            if let TargetLunSource::Named(name) = &m.lun {
                if config.lun(name).is_none() {
                    return Err(c.error(
                        m.place,
                        format!("unknown LUN '{name}' in target '{}'", t.name),
                    ));
                }
            }
        }
    }

    // Two written `listen` lines of portal groups in use cannot both bind one address.
    // The predefined `default` group's implicit addresses are left out: FreeBSD's own
    // example has a target on `default` next to a group listening on 0.0.0.0:3260, and
    // ctld accepts it.
    let mut listening: BTreeMap<SocketAddr, (&str, Place)> = BTreeMap::new();
    for pg in &config.portal_groups {
        if pg.foreign || !used_portal_groups.contains(&pg.name.as_str()) {
            continue;
        }
        for l in pg.listen.iter().filter(|l| l.place.is_known()) {
            if let Some((other, place)) = listening.insert(l.addr, (&pg.name, l.place)) {
                return Err(c.conflict(
                    l.place,
                    format!(
                        "listen {} in portal-group '{}' is already used by portal-group '{other}'",
                        l.addr, pg.name
                    ),
                    place,
                ));
            }
        }
    }
    Ok(())
}
