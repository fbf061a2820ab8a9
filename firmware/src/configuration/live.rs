//! The configuration in force, changed live: a new ctl.conf (from the console, a rollback or
//! start-up) is planned, its listeners bound and its LUNs opened before anything else
//! changes, then the difference is applied as core mutations and portal-group swaps, and the
//! result is saved. A change that fails part-way is undone; the state before it stays.

use super::access::AccessRules;
use super::lun_config::Medium;
use super::plan::{Plan, PortPlan, PortalGroupPlan};
use super::store::ConfigStore;
use backend::storage::Storage;
use board::sim::Enclosure;
use config::{Config, DiscoveryFilter};
use iscsi::login::TargetAccess;
use iscsi::portal::{PortalGroup, TargetDef, Timers};
use iscsi::session::{SessionSelector, SessionTable};
use scsi::mutation::Mutation;
use scsi::{LunId, TargetDevice};
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

type Portal = PortalGroup<Storage>;

/// One listening socket and the portal group its connections go to now.
struct Listener {
    portal: Rc<RefCell<Rc<Portal>>>,
    task: JoinHandle<()>,
    /// The bound address (a port 0 resolved).
    local: SocketAddr,
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct InForce {
    config: Config,
    plan: Plan,
    seed: Option<u32>,
}

/// What a change did, for the console to report.
#[derive(Debug, Default)]
pub struct Applied {
    pub luns_added: Vec<String>,
    pub luns_removed: Vec<String>,
    pub luns_modified: Vec<String>,
    pub ports_changed: Vec<u16>,
    pub sessions_ended: usize,
}

pub struct LiveConfiguration {
    controller: u8,
    enclosure: Enclosure,
    device: Rc<TargetDevice<Storage>>,
    sessions: Rc<SessionTable>,
    timers: Timers,
    store: ConfigStore,
    in_force: RefCell<InForce>,
    listeners: RefCell<BTreeMap<SocketAddr, Listener>>,
    disabled_ports: RefCell<BTreeSet<u16>>,
}

impl LiveConfiguration {
    pub fn new(
        controller: u8,
        enclosure: Enclosure,
        device: Rc<TargetDevice<Storage>>,
        timers: Timers,
        store: ConfigStore,
    ) -> Self {
        LiveConfiguration {
            controller,
            enclosure,
            device,
            sessions: Rc::new(SessionTable::default()),
            timers,
            store,
            in_force: RefCell::new(InForce {
                config: Config::default(),
                plan: Plan::default(),
                seed: None,
            }),
            listeners: RefCell::new(BTreeMap::new()),
            disabled_ports: RefCell::new(BTreeSet::new()),
        }
    }

    pub fn controller(&self) -> u8 {
        self.controller
    }

    pub fn device(&self) -> &Rc<TargetDevice<Storage>> {
        &self.device
    }

    pub fn sessions(&self) -> &Rc<SessionTable> {
        &self.sessions
    }

    pub fn store(&self) -> &ConfigStore {
        &self.store
    }

    pub fn config(&self) -> Config {
        self.in_force.borrow().config.clone()
    }

    pub fn plan(&self) -> Plan {
        self.in_force.borrow().plan.clone()
    }

    /// The addresses actually listened on (a port 0 resolved), in order.
    pub fn listening(&self) -> Vec<SocketAddr> {
        self.listeners.borrow().values().map(|l| l.local).collect()
    }

    pub fn port_enabled(&self, port: u16) -> bool {
        !self.disabled_ports.borrow().contains(&port)
    }

    /// Plans `config` without applying it: what `config check` reports.
    pub fn check(&self, config: &Config) -> Result<Plan, String> {
        config
            .validate("configuration")
            .map_err(|e| e.to_string())?;
        let previous = self.plan();
        Plan::build(config, self.controller, &self.enclosure, Some(&previous))
    }

    /// Puts `config` in force (grown from start-up file `seed`). Nothing changes if it fails.
    pub async fn apply(&self, config: Config, seed: Option<u32>) -> Result<Applied, String> {
        let previous = self.plan();
        let plan = self.check(&config)?;
        let mut fresh = self.bind_new_listeners(&plan).await?;
        let mut applied = Applied::default();
        self.apply_luns(&previous, &plan, &mut applied)?;
        self.apply_ports(&previous, &plan, &mut applied);
        // From here on nothing can fail: the portal groups and listeners follow the plan.
        {
            let mut state = self.in_force.borrow_mut();
            state.config = config;
            state.plan = plan.clone();
            if seed.is_some() {
                state.seed = seed;
            }
        }
        self.refresh_portals(&plan, &mut fresh);
        applied.sessions_ended = self.end_stale_sessions(&previous, &plan);
        Ok(applied)
    }

    /// Applies `config` and saves it to the store as the new current version.
    pub async fn apply_and_save(&self, config: Config) -> Result<Applied, String> {
        let applied = self.apply(config, None).await?;
        self.save()?;
        Ok(applied)
    }

    /// Saves the configuration in force to the store, each LUN's id pinned with `ctl-lun` so
    /// a restart numbers them the same.
    pub fn save(&self) -> Result<(), String> {
        let (text, seed) = {
            let state = self.in_force.borrow();
            (
                pinned(&state.config, &state.plan)
                    .to_text()
                    .trim_start()
                    .to_string(),
                state.seed,
            )
        };
        self.store
            .save(&text, seed)
            .map_err(|e| format!("cannot save the configuration: {e}"))
    }

    /// The configuration in force as ctl.conf text, LUN ids pinned.
    pub fn text(&self) -> String {
        let state = self.in_force.borrow();
        pinned(&state.config, &state.plan)
            .to_text()
            .trim_start()
            .to_string()
    }

    /// Goes back to the stored previous version; the current one becomes the previous.
    pub async fn rollback(&self) -> Result<Applied, String> {
        let previous = self
            .store
            .previous()
            .map_err(|e| e.to_string())?
            .ok_or("there is no previous configuration to roll back to")?;
        let name = self.store.previous_path().display().to_string();
        let config = Config::parse(&name, &previous.text).map_err(|e| e.to_string())?;
        let applied = self.apply(config, previous.seed).await?;
        self.store
            .swap()
            .map_err(|e| format!("rolled back, but the store could not swap: {e}"))?;
        Ok(applied)
    }

    /// Enables or disables a target port (`port -o on|off`): a disabled port takes no logins
    /// and its sessions end. Not saved: like ctladm's, it lasts until the next restart.
    pub fn set_port_enabled(&self, port: u16, enabled: bool) -> Result<usize, String> {
        let plan = self.plan();
        if !plan.ports.contains_key(&port) {
            return Err(format!("no target port {port}"));
        }
        let before = plan.clone();
        if enabled {
            self.disabled_ports.borrow_mut().remove(&port);
        } else {
            self.disabled_ports.borrow_mut().insert(port);
        }
        let mut none = BTreeMap::new();
        self.refresh_portals(&plan, &mut none);
        Ok(self.end_stale_sessions(&before, &plan))
    }

    async fn bind_new_listeners(
        &self,
        plan: &Plan,
    ) -> Result<BTreeMap<SocketAddr, TcpListener>, String> {
        let mut wanted: BTreeMap<SocketAddr, &str> = BTreeMap::new();
        for pg in plan.portal_groups.values().filter(|p| !p.foreign) {
            for addr in &pg.listen {
                if let Some(other) = wanted.insert(*addr, &pg.name) {
                    if other != pg.name {
                        return Err(format!(
                            "portal groups '{other}' and '{}' both listen on {addr}",
                            pg.name
                        ));
                    }
                }
            }
        }
        let mut fresh = BTreeMap::new();
        for (addr, pg) in wanted {
            if self.listeners.borrow().contains_key(&addr) {
                continue;
            }
            let listener = TcpListener::bind(addr)
                .await
                .map_err(|e| format!("portal-group '{pg}': cannot listen on {addr}: {e}"))?;
            fresh.insert(addr, listener);
        }
        Ok(fresh)
    }

    fn apply_luns(&self, old: &Plan, new: &Plan, applied: &mut Applied) -> Result<(), String> {
        let same_id = |name: &str| {
            old.luns.get(name).map(|l| l.config.id) == new.luns.get(name).map(|l| l.config.id)
        };
        let removed: Vec<(&String, LunId)> = old
            .luns
            .iter()
            .filter(|(n, _)| !new.luns.contains_key(*n) || !same_id(n))
            .map(|(n, l)| (n, l.config.id))
            .collect();
        // A removed LUN's id may be reused by an added one: removals go first then, and
        // cannot be undone; they are checked before anything else changes.
        let added: Vec<&String> = new
            .luns
            .keys()
            .filter(|n| !old.luns.contains_key(*n) || !same_id(n))
            .collect();
        let reuses_id = added.iter().any(|n| {
            let id = new.luns[*n].config.id;
            removed.iter().any(|(_, r)| *r == id)
        });
        if reuses_id {
            self.remove_luns(&removed, applied);
        }
        let mut done: Vec<LunId> = Vec::new();
        for name in &added {
            let lun = &new.luns[*name];
            let result = self.open_medium(&lun.medium).and_then(|()| {
                self.device
                    .apply(Mutation::LunAdded(lun.config.clone()))
                    .map_err(|e| format!("LUN '{name}': {e}"))
            });
            if let Err(e) = result {
                for id in done {
                    let _ = self.device.apply(Mutation::LunRemoved { id });
                }
                return Err(e);
            }
            done.push(lun.config.id);
            applied.luns_added.push((*name).clone());
        }
        let mut modified: Vec<(LunId, scsi::LunConfig)> = Vec::new();
        for (name, lun) in &new.luns {
            let Some(before) = old.luns.get(name) else {
                continue;
            };
            if before.config.id != lun.config.id || before.config == lun.config {
                continue;
            }
            if let Err(e) = self.device.apply(Mutation::LunModified {
                id: lun.config.id,
                config: lun.config.clone(),
            }) {
                for (id, config) in modified.into_iter().rev() {
                    let _ = self.device.apply(Mutation::LunModified { id, config });
                }
                for id in done {
                    let _ = self.device.apply(Mutation::LunRemoved { id });
                }
                return Err(format!("LUN '{name}': {e}"));
            }
            modified.push((lun.config.id, before.config.clone()));
            applied.luns_modified.push(name.clone());
        }
        if !reuses_id {
            self.remove_luns(&removed, applied);
        }
        Ok(())
    }

    fn remove_luns(&self, removed: &[(&String, LunId)], applied: &mut Applied) {
        for (name, id) in removed {
            if self.device.apply(Mutation::LunRemoved { id: *id }).is_ok() {
                applied.luns_removed.push((*name).clone());
            }
        }
    }

    fn open_medium(&self, medium: &Medium) -> Result<(), String> {
        match medium {
            Medium::Slot { slot, size } => self
                .enclosure
                .ensure_drive(*slot, *size)
                .map(|_| ())
                .map_err(|e| format!("slot {slot}: {e}")),
            Medium::File | Medium::Ramdisk => Ok(()),
        }
    }

    fn apply_ports(&self, old: &Plan, new: &Plan, applied: &mut Applied) {
        for id in old.ports.keys().filter(|id| !new.ports.contains_key(id)) {
            let _ = self
                .device
                .apply(Mutation::PortRemoved { relative_id: *id });
            applied.ports_changed.push(*id);
        }
        for (id, port) in &new.ports {
            let result = match old.ports.get(id) {
                None => self.device.apply(Mutation::PortAdded(port.config.clone())),
                Some(before) if before.config != port.config => self
                    .device
                    .apply(Mutation::PortChanged(port.config.clone())),
                Some(_) => continue,
            };
            if let Err(e) = result {
                // Only a bug gets here: the plan keeps port ids consistent with the core.
                crate::log::warning(&format!("target port {id}: {e}"));
            }
            applied.ports_changed.push(*id);
        }
    }

    /// Gives every listener the portal group it serves under `plan`; listeners no longer
    /// wanted stop, `fresh` ones start.
    fn refresh_portals(&self, plan: &Plan, fresh: &mut BTreeMap<SocketAddr, TcpListener>) {
        let disabled = self.disabled_ports.borrow().clone();
        let mut portals: BTreeMap<SocketAddr, Rc<Portal>> = BTreeMap::new();
        for pg in plan.portal_groups.values().filter(|p| !p.foreign) {
            let portal = Rc::new(self.portal_group(plan, pg, &disabled));
            for addr in &pg.listen {
                portals.insert(*addr, portal.clone());
            }
        }
        let mut listeners = self.listeners.borrow_mut();
        listeners.retain(|addr, _| portals.contains_key(addr));
        for (addr, portal) in portals {
            if let Some(l) = listeners.get(&addr) {
                *l.portal.borrow_mut() = portal;
                continue;
            }
            let Some(socket) = fresh.remove(&addr) else {
                continue;
            };
            let local = socket.local_addr().unwrap_or(addr);
            let slot = Rc::new(RefCell::new(portal));
            let task = tokio::task::spawn_local(accept(socket, slot.clone()));
            listeners.insert(
                addr,
                Listener {
                    portal: slot,
                    task,
                    local,
                },
            );
        }
    }

    fn portal_group(&self, plan: &Plan, pg: &PortalGroupPlan, disabled: &BTreeSet<u16>) -> Portal {
        let targets = plan
            .ports
            .iter()
            .filter(|(id, p)| p.portal_group == pg.name && !disabled.contains(id))
            .map(|(id, p)| TargetDef {
                access: target_access(p),
                port: *id,
            })
            .collect();
        let mut portal = PortalGroup::new(pg.tag, pg.listen.clone(), targets, self.device.clone());
        portal.sessions = self.sessions.clone();
        portal.discovery = discovery_access(&pg.discovery);
        portal.discovery_filter = discovery_filter(pg.discovery_filter);
        portal.timers = self.timers;
        if let Some(t) = plan.login_timeout.filter(|t| *t > 0) {
            portal.timers.login_timeout = Duration::from_secs(t);
        }
        portal
    }

    /// Ends the sessions of ports that are gone, disabled, or whose access rules changed.
    fn end_stale_sessions(&self, old: &Plan, new: &Plan) -> usize {
        let disabled = self.disabled_ports.borrow();
        let tag_of = |plan: &Plan, pg: &str| plan.portal_groups.get(pg).map(|p| p.tag);
        let still_valid = |target: &str, tag: u16| {
            let find = |plan: &Plan| {
                plan.ports
                    .iter()
                    .find(|(_, p)| {
                        p.target.eq_ignore_ascii_case(target)
                            && tag_of(plan, &p.portal_group) == Some(tag)
                    })
                    .map(|(id, p)| (*id, p.clone()))
            };
            match (find(old), find(new)) {
                (Some((old_id, before)), Some((id, now))) => {
                    old_id == id
                        && !disabled.contains(&id)
                        && before.access == now.access
                        && before.portal_group == now.portal_group
                }
                // A session that came before any plan knew its port is left alone.
                (None, Some((id, _))) => !disabled.contains(&id),
                _ => false,
            }
        };
        let mut ended = 0;
        for s in self.sessions.list() {
            let Some(target) = s.target.as_deref() else {
                continue;
            };
            if !still_valid(target, s.tag) {
                ended += self.sessions.terminate(&SessionSelector::Id(s.id));
            }
        }
        ended
    }
}

fn target_access(p: &PortPlan) -> TargetAccess {
    TargetAccess {
        name: p.target.clone(),
        alias: p.alias.clone(),
        auth: p.access.auth.clone(),
        allowed_initiators: p.access.initiator_names.clone(),
        allowed_portals: p.access.initiator_portals.clone(),
    }
}

fn discovery_access(rules: &AccessRules) -> iscsi::portal::DiscoveryAccess {
    iscsi::portal::DiscoveryAccess {
        auth: rules.auth.clone(),
        allowed_initiators: rules.initiator_names.clone(),
        allowed_portals: rules.initiator_portals.clone(),
    }
}

fn discovery_filter(filter: DiscoveryFilter) -> iscsi::discovery::DiscoveryFilter {
    use iscsi::discovery::DiscoveryFilter as F;
    match filter {
        DiscoveryFilter::None => F::None,
        DiscoveryFilter::Portal => F::Portal,
        DiscoveryFilter::PortalName => F::PortalName,
        DiscoveryFilter::PortalNameAuth => F::PortalNameAuth,
    }
}

/// `config` with every LUN's planned id written as `ctl-lun`.
fn pinned(config: &Config, plan: &Plan) -> Config {
    let mut c = config.clone();
    let id_of = |name: &str| plan.luns.get(name).map(|l| l.config.id.0);
    for lun in c.luns.iter_mut() {
        lun.ctl_lun = id_of(&lun.name).or(lun.ctl_lun);
    }
    for target in c.targets.iter_mut() {
        for m in target.luns.iter_mut() {
            if let config::TargetLunSource::Inline(l) = &mut m.lun {
                l.ctl_lun = id_of(&l.name).or(l.ctl_lun);
            }
        }
    }
    c
}

/// Accepts connections on `socket` for whichever portal group `slot` holds at the time.
async fn accept(socket: TcpListener, slot: Rc<RefCell<Rc<Portal>>>) {
    loop {
        match socket.accept().await {
            Ok((stream, peer)) => {
                let _ = stream.set_nodelay(true);
                let portal = slot.borrow().clone();
                tokio::task::spawn_local(async move {
                    iscsi::connection::run(stream, peer, portal).await;
                });
            }
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                crate::log::warning(&format!("accept failed: {e}"));
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}
