//! ctladm's configuration verbs (`create`, `remove`, `modify`, `lunmap`) as edits of a
//! ctl.conf: each takes the configuration in force and its plan and returns the changed
//! configuration, or says why not without changing anything.

use crate::configuration::plan::Plan;
use config::{
    Backend, Config, Lun, LunPath, Place, Target, TargetLun, TargetLunSource, MAX_LUNS_PER_TARGET,
};
use console::command::CreateLun;
use scsi::LunId;

/// Where a LUN with global id `id` is defined.
enum Definition {
    Global(usize),
    Inline { target: usize, entry: usize },
}

fn find(config: &Config, plan: &Plan, id: u32) -> Result<(String, Definition), String> {
    let name = plan
        .lun_by_id(LunId(id))
        .map(|l| l.config.name.clone())
        .ok_or_else(|| format!("there is no LUN {id}"))?;
    if let Some(i) = config.luns.iter().position(|l| l.name == name) {
        return Ok((name, Definition::Global(i)));
    }
    for (t, target) in config.targets.iter().enumerate() {
        for (e, m) in target.luns.iter().enumerate() {
            if matches!(&m.lun, TargetLunSource::Inline(l) if l.name == name) {
                return Ok((
                    name,
                    Definition::Inline {
                        target: t,
                        entry: e,
                    },
                ));
            }
        }
    }
    Err(format!("LUN {id} ('{name}') is not in the configuration"))
}

fn lun_mut<'a>(config: &'a mut Config, d: &Definition) -> Option<&'a mut Lun> {
    match *d {
        Definition::Global(i) => config.luns.get_mut(i),
        Definition::Inline { target, entry } => match config
            .targets
            .get_mut(target)
            .and_then(|t| t.luns.get_mut(entry))
            .map(|m| &mut m.lun)
        {
            Some(TargetLunSource::Inline(l)) => Some(&mut **l),
            _ => None,
        },
    }
}

fn lowest_free_id(plan: &Plan) -> u32 {
    let mut id = 0;
    while plan.lun_by_id(LunId(id)).is_some() {
        id += 1;
    }
    id
}

/// Applies `-o name=value` options; `file` (ctladm's block backend path) sets the path.
fn set_options(lun: &mut Lun, options: &[(String, String)]) -> Result<(), String> {
    for (name, value) in options {
        if name == "file" || name == "path" {
            lun.path = Some(match value.strip_prefix("slot:") {
                Some(n) => LunPath::Slot(
                    n.parse()
                        .map_err(|_| format!("-o {name}={value}: slot '{n}' is not a number"))?,
                ),
                None => LunPath::File(value.clone()),
            });
        } else {
            lun.options
                .set(name, value)
                .map_err(|e| format!("-o {name}={value}: {e}"))?;
        }
    }
    Ok(())
}

/// `create`: a new global LUN. Targets without a LUN map see it at its id; mapped targets
/// need a `lunmap`.
pub fn create(config: &Config, plan: &Plan, req: &CreateLun) -> Result<(Config, String), String> {
    let id = req.lun.unwrap_or_else(|| lowest_free_id(plan));
    if plan.lun_by_id(LunId(id)).is_some() {
        return Err(format!("LUN id {id} is taken"));
    }
    let name = req.name.clone().unwrap_or_else(|| format!("lun{id}"));
    if config.all_luns().any(|l| l.name == name) {
        return Err(format!("a LUN named '{name}' exists"));
    }
    let mut lun = Lun::new(&name, Place::default());
    lun.backend = Some(req.backend);
    lun.ctl_lun = Some(id);
    lun.size = req.size;
    lun.blocksize = req.blocksize;
    lun.serial = req.serial.clone();
    lun.device_id = req.device_id.clone();
    set_options(&mut lun, &req.options)?;
    if req.backend == Backend::Block && lun.path.is_none() {
        return Err(
            "a block LUN needs -o file=PATH (a file, or slot:N for a backplane slot)".into(),
        );
    }
    let mut c = config.clone();
    c.luns.push(lun);
    Ok((c, name))
}

/// `remove`: the LUN and every port LUN number that maps it.
pub fn remove(config: &Config, plan: &Plan, id: u32) -> Result<(Config, String), String> {
    let (name, def) = find(config, plan, id)?;
    let mut c = config.clone();
    match def {
        Definition::Global(i) => {
            c.luns.remove(i);
        }
        Definition::Inline { target, entry } => {
            if let Some(t) = c.targets.get_mut(target) {
                t.luns.remove(entry);
            }
        }
    }
    for t in c.targets.iter_mut() {
        t.luns
            .retain(|m| !matches!(&m.lun, TargetLunSource::Named(n) if *n == name));
    }
    for (before, after) in config.targets.iter().zip(&c.targets) {
        if !before.luns.is_empty() && after.luns.is_empty() {
            return Err(format!(
                "LUN {id} is the only LUN target '{}' maps; without it the target would have no \
                 map and expose every LUN: map another LUN there first (lunmap), or turn its \
                 map off (lunmap -p PORT)",
                after.name
            ));
        }
    }
    Ok((c, name))
}

/// `modify`: a new size and/or options for a live LUN.
pub fn modify(
    config: &Config,
    plan: &Plan,
    id: u32,
    size: Option<u64>,
    options: &[(String, String)],
) -> Result<(Config, String), String> {
    let (name, def) = find(config, plan, id)?;
    let mut c = config.clone();
    let lun =
        lun_mut(&mut c, &def).ok_or_else(|| format!("LUN {id} is not in the configuration"))?;
    if let Some(s) = size {
        lun.size = Some(s);
    }
    if options.iter().any(|(n, _)| n == "file" || n == "path") {
        return Err("a live LUN's file cannot change: remove it and create it again".into());
    }
    set_options(lun, options)?;
    Ok((c, name))
}

/// The target a port stands for, by index in `config.targets`.
fn target_of_port(config: &Config, plan: &Plan, port: u16) -> Result<usize, String> {
    let p = plan
        .ports
        .get(&port)
        .ok_or_else(|| format!("there is no target port {port} (see portlist)"))?;
    config
        .targets
        .iter()
        .position(|t| t.name.eq_ignore_ascii_case(&p.target))
        .ok_or_else(|| {
            format!(
                "target '{}' of port {port} is not in the configuration",
                p.target
            )
        })
}

fn has_inline(t: &Target, number: Option<u32>) -> Option<String> {
    t.luns
        .iter()
        .filter(|m| number.is_none_or(|n| m.number == n))
        .find_map(|m| match &m.lun {
            TargetLunSource::Inline(l) => Some(l.name.clone()),
            TargetLunSource::Named(_) => None,
        })
}

/// `lunmap -p PORT [-l PLUN [-L LUN]]`. ctl.conf keeps LUN maps per target, so the map of
/// every port of the target changes; the note says which when there are several.
pub fn lunmap(
    config: &Config,
    plan: &Plan,
    port: u16,
    plun: Option<u32>,
    lun: Option<u32>,
) -> Result<(Config, String), String> {
    let t = target_of_port(config, plan, port)?;
    let mut c = config.clone();
    let target = &mut c.targets[t];
    if let Some(n) = plun {
        if n >= MAX_LUNS_PER_TARGET {
            return Err(format!(
                "port LUN {n} is out of range: a target has LUN numbers 0 to {}",
                MAX_LUNS_PER_TARGET - 1
            ));
        }
    }
    match (plun, lun) {
        (None, _) => {
            if let Some(inline) = has_inline(target, None) {
                return Err(format!(
                    "target '{}' defines LUN '{inline}' inline; a target without a map cannot keep it",
                    target.name
                ));
            }
            target.luns.clear();
        }
        (Some(n), None) => {
            if let Some(inline) = has_inline(target, Some(n)) {
                return Err(format!(
                    "port LUN {n} is LUN '{inline}', defined inline in target '{}': remove it instead",
                    target.name
                ));
            }
            let before = target.luns.len();
            target.luns.retain(|m| m.number != n);
            if target.luns.len() == before {
                return Err(format!("port {port} maps nothing at LUN {n}"));
            }
            if target.luns.is_empty() {
                return Err(format!(
                    "port LUN {n} is the last one target '{}' maps; an empty map would expose \
                     every LUN: map another LUN first, or turn the map off (lunmap -p {port})",
                    target.name
                ));
            }
        }
        (Some(n), Some(id)) => {
            let name = plan
                .lun_by_id(LunId(id))
                .map(|l| l.config.name.clone())
                .ok_or_else(|| format!("there is no LUN {id}"))?;
            if config.lun(&name).is_none() {
                return Err(format!(
                    "LUN {id} ('{name}') is defined inline in a target; only global LUNs can be mapped by number"
                ));
            }
            if let Some(inline) = has_inline(target, Some(n)) {
                return Err(format!(
                    "port LUN {n} is LUN '{inline}', defined inline in target '{}': remove it first",
                    target.name
                ));
            }
            let entry = TargetLun {
                number: n,
                lun: TargetLunSource::Named(name),
                place: Place::default(),
            };
            match target.luns.iter_mut().find(|m| m.number == n) {
                Some(m) => *m = entry,
                None => {
                    if target.luns.len() >= MAX_LUNS_PER_TARGET as usize {
                        return Err(format!(
                            "target '{}' already maps {MAX_LUNS_PER_TARGET} LUNs",
                            target.name
                        ));
                    }
                    target.luns.push(entry);
                    target.luns.sort_by_key(|m| m.number);
                }
            }
        }
    }
    let ports = plan.ports_of(&c.targets[t].name);
    let note = if ports.len() > 1 {
        let list: Vec<String> = ports.iter().map(|p| p.to_string()).collect();
        format!(
            "the map belongs to target '{}': ports {} changed",
            c.targets[t].name,
            list.join(", ")
        )
    } else {
        String::new()
    };
    Ok((c, note))
}

#[cfg(test)]
mod tests {
    use super::*;
    use board::sim::Enclosure;

    const CONF: &str = "\
portal-group pg0 { discovery-auth-group no-authentication; listen 127.0.0.1:3260 }
lun a { backend ramdisk; size 1M }
lun b { backend ramdisk; size 1M }
target iqn.2026-11.dev.dyad.test:one { auth-group no-authentication; portal-group pg0; lun 0 a; lun 1 { backend ramdisk; size 1M } }
";

    fn setup(name: &str) -> (Config, Plan, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!("dyad-edits-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let enc = Enclosure::open(&dir).unwrap();
        let config = Config::parse("t", CONF).unwrap();
        let plan = Plan::build(&config, 1, &enc, None).unwrap();
        (config, plan, dir)
    }

    fn port(plan: &Plan) -> u16 {
        *plan.ports.keys().next().unwrap()
    }

    #[test]
    fn lunmap_maps_unmaps_and_refuses_what_ctl_conf_cannot_hold() {
        let (config, plan, dir) = setup("lunmap");
        let p = port(&plan);
        let b = plan.luns["b"].config.id.0;
        let (c, _) = lunmap(&config, &plan, p, Some(7), Some(b)).unwrap();
        assert!(c.targets[0].luns.iter().any(|m| m.number == 7));
        let (c2, _) = lunmap(&c, &plan, p, Some(0), None).unwrap();
        assert!(!c2.targets[0].luns.iter().any(|m| m.number == 0));
        for (plun, lun, says) in [
            (Some(1024), Some(b), "0 to 1023"),
            (Some(1), None, "inline"),
            (Some(9), None, "maps nothing"),
            (Some(3), Some(99), "no LUN 99"),
            (None, None, "inline"),
        ] {
            let e = lunmap(&config, &plan, p, plun, lun).unwrap_err();
            assert!(e.contains(says), "{plun:?} {lun:?}: {e}");
        }
        let inline = plan.luns["iqn.2026-11.dev.dyad.test:one,lun,1"].config.id.0;
        let e = lunmap(&config, &plan, p, Some(5), Some(inline)).unwrap_err();
        assert!(e.contains("inline"), "{e}");
        let e = lunmap(&config, &plan, 999, Some(5), Some(b)).unwrap_err();
        assert!(e.contains("no target port 999"), "{e}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn create_remove_and_modify_name_what_is_wrong() {
        let (config, plan, dir) = setup("create");
        let mut req = CreateLun {
            backend: Backend::Ramdisk,
            blocksize: None,
            device_id: None,
            lun: None,
            name: None,
            options: Vec::new(),
            size: Some(1 << 20),
            serial: None,
        };
        let (c, name) = create(&config, &plan, &req).unwrap();
        assert_eq!(name, "lun3");
        assert_eq!(c.luns.last().unwrap().ctl_lun, Some(3));
        req.lun = Some(0);
        assert!(create(&config, &plan, &req).unwrap_err().contains("taken"));
        req.lun = None;
        req.name = Some("a".into());
        assert!(create(&config, &plan, &req).unwrap_err().contains("exists"));
        req.name = None;
        req.backend = Backend::Block;
        assert!(create(&config, &plan, &req).unwrap_err().contains("file"));
        req.options = vec![("file".into(), "slot:x".into())];
        assert!(create(&config, &plan, &req)
            .unwrap_err()
            .contains("not a number"));
        req.options = vec![("bogus".into(), "1".into())];
        req.backend = Backend::Ramdisk;
        assert!(create(&config, &plan, &req).unwrap_err().contains("bogus"));

        let a = plan.luns["a"].config.id.0;
        let (without_a, _) = remove(&config, &plan, a).unwrap();
        assert_eq!(without_a.targets[0].luns.len(), 1);
        let inline = plan.luns["iqn.2026-11.dev.dyad.test:one,lun,1"].config.id.0;
        let e = remove(&without_a, &plan, inline).unwrap_err();
        assert!(e.contains("expose every LUN"), "{e}");
        let b = plan.luns["b"].config.id.0;
        let (c, _) = remove(&config, &plan, b).unwrap();
        assert!(c.lun("b").is_none());
        assert!(remove(&config, &plan, 42)
            .unwrap_err()
            .contains("no LUN 42"));

        let (c, _) = modify(&config, &plan, b, Some(2 << 20), &[]).unwrap();
        assert_eq!(c.lun("b").unwrap().size, Some(2 << 20));
        let e = modify(&config, &plan, b, None, &[("file".into(), "/x".into())]).unwrap_err();
        assert!(e.contains("cannot change"), "{e}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
