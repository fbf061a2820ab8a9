//! The controller side of the console: runs each parsed ctladm verb against the live
//! configuration, the SCSI core and the iSCSI sessions, and answers in plain text.

use super::{edits, listing};
use crate::configuration::live::{Applied, LiveConfiguration};
use board::sim::Enclosure;
use config::Config;
use console::command::Command;
use console::shell::Executor;
use iscsi::session::SessionSelector;
use scsi::nexus::NexusId;
use std::rc::Rc;

pub struct ControllerConsole {
    live: Rc<LiveConfiguration>,
    /// The console's own I_T nexus on the internal port, for `tur`, `inquiry`, ...
    nexus: NexusId,
    /// The backplane the `slot` verbs show; `None` on a board without one.
    enclosure: Option<Enclosure>,
}

impl ControllerConsole {
    pub fn new(live: Rc<LiveConfiguration>, nexus: NexusId) -> Self {
        ControllerConsole {
            live,
            nexus,
            enclosure: None,
        }
    }

    /// The console with the sim board's backplane, for the `slot` verbs.
    pub fn with_enclosure(mut self, enclosure: Enclosure) -> Self {
        self.enclosure = Some(enclosure);
        self
    }

    fn enclosure(&self) -> Result<&Enclosure, String> {
        self.enclosure
            .as_ref()
            .ok_or_else(|| "this controller has no backplane to show".to_string())
    }

    async fn change(&self, config: Config) -> Result<Applied, String> {
        self.live.apply_and_save(config).await
    }

    async fn run(&mut self, command: Command) -> Result<String, String> {
        let live = &self.live;
        match command {
            Command::Devlist { verbose, backend } => Ok(listing::devlist(live, verbose, backend)),
            Command::Lunlist => Ok(listing::lunlist(live)),
            Command::Portlist {
                maps,
                initiators,
                verbose,
                port,
            } => listing::portlist(live, maps, initiators, verbose, port),
            Command::Create(req) => {
                let (config, name) = edits::create(&live.config(), &live.plan(), &req)?;
                self.change(config).await?;
                Ok(listing::created(live, &name))
            }
            Command::Remove { lun } => {
                let (config, name) = edits::remove(&live.config(), &live.plan(), lun)?;
                self.change(config).await?;
                Ok(format!("LUN {lun} ('{name}') removed"))
            }
            Command::Modify { lun, size, options } => {
                let (config, name) =
                    edits::modify(&live.config(), &live.plan(), lun, size, &options)?;
                self.change(config).await?;
                Ok(format!("LUN {lun} ('{name}') modified"))
            }
            Command::Lunmap { port, plun, lun } => {
                let (config, note) = edits::lunmap(&live.config(), &live.plan(), port, plun, lun)?;
                self.change(config).await?;
                Ok(note)
            }
            Command::Port { port, enable } => {
                let ended = live.set_port_enabled(port, enable)?;
                Ok(format!(
                    "port {port} {}{}",
                    if enable { "online" } else { "offline" },
                    if ended > 0 {
                        format!(", {ended} session(s) ended")
                    } else {
                        String::new()
                    }
                ))
            }
            Command::Islist { verbose } => Ok(listing::islist(live, verbose)),
            Command::Islogout(selector) => {
                let n = live.sessions().request_logout(&selector_of(&selector)?);
                if n == 0 {
                    return Err("no session matches".into());
                }
                Ok(format!("{n} session(s) asked to log out"))
            }
            Command::Isterminate(selector) => {
                let n = live.sessions().terminate(&selector_of(&selector)?);
                if n == 0 {
                    return Err("no session matches".into());
                }
                Ok(format!("{n} session(s) terminated"))
            }
            Command::Tur { lun } => super::scsi_verbs::tur(live, self.nexus, lun).await,
            Command::Inquiry { lun } => super::scsi_verbs::inquiry(live, self.nexus, lun).await,
            Command::Readcap { lun } => super::scsi_verbs::readcap(live, self.nexus, lun).await,
            Command::Reportluns { port } => {
                super::scsi_verbs::reportluns(live, self.nexus, port).await
            }
            Command::ConfigShow => Ok(live.text()),
            Command::ConfigCheck { file } => {
                let text = std::fs::read_to_string(&file).map_err(|e| format!("{file}: {e}"))?;
                let config = Config::parse(&file, &text).map_err(|e| e.to_string())?;
                let plan = live.check(&config)?;
                Ok(format!(
                    "{file}: OK: {} LUNs, {} targets, {} target ports",
                    plan.luns.len(),
                    config.targets.len(),
                    plan.ports.len()
                ))
            }
            Command::ConfigSave { file: None } => {
                live.save()?;
                Ok(format!(
                    "saved to {}",
                    live.store().current_path().display()
                ))
            }
            Command::ConfigSave { file: Some(file) } => {
                std::fs::write(&file, live.text()).map_err(|e| format!("{file}: {e}"))?;
                Ok(format!("saved to {file}"))
            }
            Command::ConfigRollback => {
                let applied = live.rollback().await?;
                Ok(format!(
                    "rolled back to the previous configuration: {}",
                    summary(&applied)
                ))
            }
            Command::SlotList { verbose } => super::slots::list(live, self.enclosure()?, verbose),
            Command::SlotIndicator {
                slot,
                indicator,
                on,
            } => super::slots::set_indicator(self.enclosure()?, slot, indicator, on),
            // The shell answers these itself.
            Command::Help { .. } | Command::Quit => Ok(String::new()),
        }
    }
}

impl Executor for ControllerConsole {
    async fn execute(&mut self, command: Command) -> Result<String, String> {
        // Changes are logged (an audit trail for the administrator); listings are not.
        let changes = matches!(
            command,
            Command::Create(_)
                | Command::Remove { .. }
                | Command::Modify { .. }
                | Command::Lunmap { .. }
                | Command::Port { .. }
                | Command::Islogout(_)
                | Command::Isterminate(_)
                | Command::ConfigRollback
        );
        let what = changes.then(|| format!("{command:?}"));
        let result = self.run(command).await;
        if let Some(what) = what {
            match &result {
                Ok(_) => crate::log::notice(&format!("console: {what}: done")),
                Err(e) => crate::log::notice(&format!("console: {what}: refused: {e}")),
            }
        }
        result
    }
}

fn selector_of(s: &console::command::SessionSelector) -> Result<SessionSelector, String> {
    use console::command::SessionSelector as S;
    Ok(match s {
        S::All => SessionSelector::All,
        S::Id(id) => SessionSelector::Id(*id),
        S::Initiator(name) => SessionSelector::Initiator(name.clone()),
        S::Portal(addr) => SessionSelector::Portal(
            addr.parse()
                .map_err(|_| format!("portal '{addr}' is not an IP address"))?,
        ),
    })
}

fn summary(a: &Applied) -> String {
    let mut parts = Vec::new();
    for (what, list) in [
        ("added", &a.luns_added),
        ("removed", &a.luns_removed),
        ("modified", &a.luns_modified),
    ] {
        if !list.is_empty() {
            parts.push(format!("LUNs {what}: {}", list.join(" ")));
        }
    }
    if !a.ports_changed.is_empty() {
        parts.push(format!("{} target port(s) changed", a.ports_changed.len()));
    }
    if a.sessions_ended > 0 {
        parts.push(format!("{} session(s) ended", a.sessions_ended));
    }
    if parts.is_empty() {
        "no change".into()
    } else {
        parts.join("; ")
    }
}
