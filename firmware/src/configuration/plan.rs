//! What a ctl.conf means for this controller: the global LUNs with their ids, one target port
//! per (target, portal group) with its LUN map, and the portal groups to listen on. Pure: a
//! plan opens nothing, so `config check` can make one and throw it away.

use super::access::AccessRules;
use super::lun_config::{lun_config, Medium};
use board::sim::Enclosure;
use config::{Config, DiscoveryFilter, TargetLunSource};
use scsi::alua::{relative_port_id, PORTS_PER_CONTROLLER, TPG_SINGLE};
use scsi::{LunConfig, LunId, PortConfig};
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;

/// Highest global LUN id (CTL's default `ctl_max_luns` is 1024; ids are below 16384 so any
/// of them can also be a port LUN number).
pub const MAX_LUN_ID: u32 = scsi::lun_address::MAX_LUN;

/// The last port index of each controller is its console's internal port (CTL's ioctl
/// frontend), which the console's `tur`, `inquiry`, `readcap` and `reportluns` go through.
pub const CONSOLE_PORT_INDEX: u16 = PORTS_PER_CONTROLLER - 1;

/// A global LUN, by its ctl.conf name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LunPlan {
    pub config: LunConfig,
    pub medium: Medium,
}

/// A target port: the pair it stands for and what the core knows of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortPlan {
    pub target: String,
    pub portal_group: String,
    pub alias: Option<String>,
    pub access: AccessRules,
    pub config: PortConfig,
}

/// A portal group some target is reached through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortalGroupPlan {
    pub name: String,
    pub tag: u16,
    pub listen: Vec<SocketAddr>,
    /// The ports live on the HA peer: no listening here.
    pub foreign: bool,
    pub discovery: AccessRules,
    pub discovery_filter: DiscoveryFilter,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// By LUN name.
    pub luns: BTreeMap<String, LunPlan>,
    /// By relative target port id.
    pub ports: BTreeMap<u16, PortPlan>,
    /// By portal group name; only the groups a target uses.
    pub portal_groups: BTreeMap<String, PortalGroupPlan>,
    /// Login timeout in seconds (`timeout`); `None`: the default.
    pub login_timeout: Option<u64>,
}

impl Plan {
    pub fn lun_by_id(&self, id: LunId) -> Option<&LunPlan> {
        self.luns.values().find(|l| l.config.id == id)
    }

    pub fn port_of(&self, target: &str, portal_group: &str) -> Option<u16> {
        self.ports
            .iter()
            .find(|(_, p)| p.target.eq_ignore_ascii_case(target) && p.portal_group == portal_group)
            .map(|(id, _)| *id)
    }

    /// The ports of `target`.
    pub fn ports_of(&self, target: &str) -> Vec<u16> {
        self.ports
            .iter()
            .filter(|(_, p)| p.target.eq_ignore_ascii_case(target))
            .map(|(id, _)| *id)
            .collect()
    }

    /// Plans `config` for `controller`. Ids already given (by `previous`, the plan in force)
    /// stay; `ctl-lun` pins a LUN's id; new ones take the lowest free id.
    pub fn build(
        config: &Config,
        controller: u8,
        enclosure: &Enclosure,
        previous: Option<&Plan>,
    ) -> Result<Plan, String> {
        let mut plan = Plan {
            login_timeout: config.timeout,
            ..Plan::default()
        };
        plan.luns = plan_luns(config, enclosure, previous)?;
        let ids: BTreeMap<&str, LunId> = plan
            .luns
            .iter()
            .map(|(name, l)| (name.as_str(), l.config.id))
            .collect();

        let tags = portal_group_tags(config);
        let mut taken: BTreeSet<u16> = BTreeSet::new();
        let mut wanted: Vec<(String, String, Option<u16>)> = Vec::new();
        for target in &config.targets {
            for pg in target.effective_portal_groups() {
                let old = previous.and_then(|p| p.port_of(&target.name, pg));
                if let Some(id) = old {
                    taken.insert(id);
                }
                wanted.push((target.name.clone(), pg.to_string(), old));
            }
        }
        let mut next_index = 0u16;
        for (target_name, pg_name, old) in wanted {
            let id = match old {
                Some(id) => id,
                None => loop {
                    if next_index >= CONSOLE_PORT_INDEX {
                        return Err(format!(
                            "more than {CONSOLE_PORT_INDEX} target ports (target, portal group pairs)"
                        ));
                    }
                    let id = relative_port_id(controller, next_index);
                    next_index += 1;
                    if taken.insert(id) {
                        break id;
                    }
                },
            };
            let target = config
                .target(&target_name)
                .ok_or_else(|| format!("target '{target_name}' vanished while planning"))?;
            let group = config.portal_group(&pg_name).ok_or_else(|| {
                format!("portal-group '{pg_name}' of target '{target_name}' is not defined")
            })?;
            let tag = tags.get(pg_name.as_str()).copied().unwrap_or(1);
            let lun_map = if target.luns.is_empty() {
                None
            } else {
                let mut map = BTreeMap::new();
                for m in &target.luns {
                    let name = match &m.lun {
                        TargetLunSource::Named(n) => n.clone(),
                        TargetLunSource::Inline(l) => l.name.clone(),
                    };
                    let id = ids.get(name.as_str()).copied().ok_or_else(|| {
                        format!("target '{target_name}' maps unknown LUN '{name}'")
                    })?;
                    map.insert(m.number, id);
                }
                Some(map)
            };
            let port_auth = target
                .portal_groups
                .iter()
                .find(|p| p.name == pg_name)
                .and_then(|p| p.auth_group.as_deref());
            plan.ports.insert(
                id,
                PortPlan {
                    target: target.name.clone(),
                    portal_group: pg_name.clone(),
                    alias: target.alias.clone(),
                    access: AccessRules::of_target(config, &target.auth, port_auth),
                    config: PortConfig {
                        relative_id: id,
                        tpg: TPG_SINGLE,
                        target_name: target.name.clone(),
                        port_name: format!("{},t,0x{tag:04x}", target.name),
                        lun_map,
                    },
                },
            );
            plan.portal_groups
                .entry(pg_name.clone())
                .or_insert_with(|| PortalGroupPlan {
                    name: pg_name.clone(),
                    tag,
                    listen: group.listen.iter().map(|l| l.addr).collect(),
                    foreign: group.foreign,
                    discovery: AccessRules::of_group(
                        config,
                        group.effective_discovery_auth_group(),
                    ),
                    discovery_filter: group.effective_discovery_filter(),
                });
        }
        Ok(plan)
    }
}

/// Portal group tags: the written ones, and the lowest free tag from 1 for the others, in
/// file order (the predefined `default` first).
fn portal_group_tags(config: &Config) -> BTreeMap<&str, u16> {
    let written: BTreeSet<u16> = config.portal_groups.iter().filter_map(|p| p.tag).collect();
    let mut next = 1u16;
    let mut tags = BTreeMap::new();
    for pg in &config.portal_groups {
        let tag = match pg.tag {
            Some(t) => t,
            None => {
                while written.contains(&next) {
                    next = next.saturating_add(1);
                }
                let t = next;
                next = next.saturating_add(1);
                t
            }
        };
        tags.insert(pg.name.as_str(), tag);
    }
    tags
}

fn plan_luns(
    config: &Config,
    enclosure: &Enclosure,
    previous: Option<&Plan>,
) -> Result<BTreeMap<String, LunPlan>, String> {
    let mut ids: BTreeMap<String, LunId> = BTreeMap::new();
    let mut taken: BTreeMap<LunId, String> = BTreeMap::new();
    fn claim(
        ids: &mut BTreeMap<String, LunId>,
        taken: &mut BTreeMap<LunId, String>,
        name: &str,
        id: LunId,
        why: &str,
    ) -> Result<(), String> {
        if id.0 > MAX_LUN_ID {
            return Err(format!(
                "LUN '{name}': ctl-lun {} is above {MAX_LUN_ID}",
                id.0
            ));
        }
        if let Some(other) = taken.get(&id) {
            return Err(format!(
                "LUN '{name}' {why} LUN id {}, which LUN '{other}' has",
                id.0
            ));
        }
        taken.insert(id, name.to_string());
        ids.insert(name.to_string(), id);
        Ok(())
    }
    for lun in config.all_luns() {
        if let Some(n) = lun.ctl_lun {
            claim(&mut ids, &mut taken, &lun.name, LunId(n), "pins (ctl-lun)")?;
        }
    }
    let previous_ids: Vec<(String, LunId)> = previous
        .map(|p| {
            p.luns
                .iter()
                .map(|(n, l)| (n.clone(), l.config.id))
                .collect()
        })
        .unwrap_or_default();
    for lun in config.all_luns() {
        if lun.ctl_lun.is_none() {
            if let Some((_, id)) = previous_ids.iter().find(|(n, _)| *n == lun.name) {
                if !taken.contains_key(id) {
                    claim(&mut ids, &mut taken, &lun.name, *id, "keeps")?;
                }
            }
        }
    }
    let mut next = 0u32;
    for lun in config.all_luns() {
        if ids.contains_key(&lun.name) {
            continue;
        }
        while taken.contains_key(&LunId(next)) {
            next += 1;
        }
        claim(&mut ids, &mut taken, &lun.name, LunId(next), "takes")?;
    }
    // Read once, and only when a LUN sits on the backplane: where each drive is, and whose
    // data it holds. Unreadable, the LUNs go to their configured slots.
    let on_slots = config
        .all_luns()
        .any(|l| matches!(l.path, Some(config::LunPath::Slot(_))));
    let snapshot = if on_slots {
        enclosure.snapshot().ok()
    } else {
        None
    };
    let mut out = BTreeMap::new();
    for lun in config.all_luns() {
        let id = ids
            .get(&lun.name)
            .copied()
            .ok_or_else(|| format!("LUN '{}' got no id", lun.name))?;
        let (config, medium) = lun_config(lun, id, enclosure, snapshot.as_ref());
        out.insert(lun.name.clone(), LunPlan { config, medium });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enclosure(name: &str) -> (Enclosure, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!("dyad-plan-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        (Enclosure::open(&dir).unwrap(), dir)
    }

    const TWO_TARGETS: &str = "\
portal-group pg0 { discovery-auth-group no-authentication; listen 127.0.0.1:3260 }
portal-group pg1 { discovery-auth-group no-authentication; listen 127.0.0.2:3260 }
lun a { backend ramdisk; size 1M }
lun b { backend ramdisk; size 1M; ctl-lun 0 }
target iqn.2026-11.dev.dyad.test:one { auth-group no-authentication; portal-group pg0; portal-group pg1; lun 4 a; lun 5 b }
target iqn.2026-11.dev.dyad.test:two { auth-group no-authentication; portal-group pg1 }
";

    #[test]
    fn one_port_per_target_and_portal_group_with_the_targets_map() {
        let (enc, dir) = enclosure("ports");
        let config = Config::parse("t", TWO_TARGETS).unwrap();
        let plan = Plan::build(&config, 1, &enc, None).unwrap();
        // ctl-lun pins b to 0; a takes the lowest free id.
        assert_eq!(plan.luns["b"].config.id, LunId(0));
        assert_eq!(plan.luns["a"].config.id, LunId(1));
        assert_eq!(plan.ports.len(), 3);
        let one = plan.ports_of("iqn.2026-11.dev.dyad.test:one");
        assert_eq!(one.len(), 2);
        let map = plan.ports[&one[0]].config.lun_map.clone().unwrap();
        assert_eq!(map.get(&4), Some(&LunId(1)));
        assert_eq!(map.get(&5), Some(&LunId(0)));
        let two = plan.ports_of("iqn.2026-11.dev.dyad.test:two");
        assert_eq!(plan.ports[&two[0]].config.lun_map, None);
        // ctld numbers portal groups from 1 with its predefined `default` first.
        assert_eq!(plan.portal_groups["pg0"].tag, 2);
        assert_eq!(plan.portal_groups["pg1"].tag, 3);
        assert!(!plan.portal_groups.contains_key("default"));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn ids_and_ports_stay_when_the_file_changes_around_them() {
        let (enc, dir) = enclosure("stable");
        let config = Config::parse("t", TWO_TARGETS).unwrap();
        let before = Plan::build(&config, 1, &enc, None).unwrap();
        // A new LUN ahead of `a` in the file and a new target first do not renumber.
        let changed = TWO_TARGETS
            .replace("lun a {", "lun z { backend ramdisk; size 1M }\nlun a {")
            .replace(
                "target iqn.2026-11.dev.dyad.test:one",
                "target iqn.2026-11.dev.dyad.test:zero { auth-group no-authentication; portal-group pg0 }\ntarget iqn.2026-11.dev.dyad.test:one",
            );
        let config = Config::parse("t", &changed).unwrap();
        let after = Plan::build(&config, 1, &enc, Some(&before)).unwrap();
        assert_eq!(after.luns["a"].config.id, before.luns["a"].config.id);
        assert_eq!(after.luns["z"].config.id, LunId(2));
        for (id, port) in &before.ports {
            assert_eq!(after.port_of(&port.target, &port.portal_group), Some(*id));
        }
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn controller_two_numbers_its_ports_in_its_own_range() {
        let (enc, dir) = enclosure("range");
        let config = Config::parse("t", TWO_TARGETS).unwrap();
        let plan = Plan::build(&config, 2, &enc, None).unwrap();
        assert!(plan.ports.keys().all(|id| *id > PORTS_PER_CONTROLLER));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
