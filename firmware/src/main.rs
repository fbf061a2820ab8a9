//! dyad controller firmware on the sim board: brings the enclosure up, puts the configuration
//! (ctl.conf or the command line) in force, serves iSCSI and the console on one tokio
//! current-thread runtime until SIGINT or SIGTERM.

mod backplane_watch;
mod configuration;
mod console;
mod identity;
mod log;
mod memory;
mod options;
mod parameter_store;
mod qemu_board;
mod sim_watchdog;
mod storage_opener;

use backend::storage::Storage;
use board::sim::Enclosure;
use clap::Parser;
use configuration::live::LiveConfiguration;
use configuration::store::{seed_of, ConfigStore};
use iscsi::portal::Timers;
use options::Options;
use scsi::alua::{relative_port_id, TPG_SINGLE};
use scsi::backend::BlockBackend;
use scsi::mutation::Mutation;
use scsi::nexus::{InitiatorPort, NexusId};
use scsi::{PortConfig, TargetDevice};
use std::process::ExitCode;
use std::rc::Rc;
use storage_opener::StorageOpener;
use tokio::signal::unix::{signal, SignalKind};

fn main() -> ExitCode {
    let mut options = Options::parse();
    // The qemu board (PID 1 of a QEMU machine, or --board qemu): bring the machine up
    // first, and power it off once the controller has stopped.
    let qemu = qemu_board::wanted(&options);
    if qemu {
        qemu_board::start(&mut options);
    }
    let code = controller(options);
    if qemu {
        qemu_board::power_off();
    }
    code
}

fn controller(options: Options) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("dyad: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let local = tokio::task::LocalSet::new();
    match local.block_on(&runtime, run(options)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("dyad: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Milliseconds since 1970 from the host clock (0 if it is set before 1970).
fn wall_clock_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// How often thin LUNs' provisioning thresholds are checked (CTL polls every 10 s).
const PROVISIONING_CHECK: std::time::Duration = std::time::Duration::from_secs(10);

async fn watch_provisioning(device: Rc<TargetDevice<Storage>>) {
    let mut tick = tokio::time::interval(PROVISIONING_CHECK);
    loop {
        tick.tick().await;
        device.check_provisioning_thresholds();
    }
}

/// The configuration to start with: the stored one if it grew from the same start-up file
/// (console changes survive a restart), else the start-up file itself. Also the seed, and
/// whether it came from the store.
fn startup_config(
    options: &Options,
    store: &ConfigStore,
) -> Result<(config::Config, u32, bool), String> {
    let (seed_name, seed_text) = match &options.config {
        Some(path) => (
            path.display().to_string(),
            std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?,
        ),
        None => (
            "command line".to_string(),
            configuration::legacy::config_from_options(options)?.to_text(),
        ),
    };
    let seed = seed_of(&seed_text);
    let from_seed = || config::Config::parse(&seed_name, &seed_text).map_err(|e| e.to_string());
    match store.current() {
        Ok(Some(stored)) if stored.seed == Some(seed) => {
            let name = store.current_path().display().to_string();
            match config::Config::parse(&name, &stored.text) {
                Ok(c) => return Ok((c, seed, true)),
                Err(e) => log::warning(&format!(
                    "the stored configuration is unusable ({e}); starting from {seed_name}"
                )),
            }
        }
        Ok(_) => {}
        Err(e) => log::warning(&format!(
            "cannot read the stored configuration ({e}); starting from {seed_name}"
        )),
    }
    Ok((from_seed()?, seed, false))
}

/// The console's own target port and I_T nexus (CTL's ioctl frontend).
fn console_nexus(device: &TargetDevice<Storage>, controller: u8) -> Result<NexusId, String> {
    let letter = console::socket::controller_letter(controller);
    let port = relative_port_id(controller, configuration::plan::CONSOLE_PORT_INDEX);
    device
        .apply(Mutation::PortAdded(PortConfig {
            relative_id: port,
            tpg: TPG_SINGLE,
            target_name: format!("console-{letter}"),
            port_name: format!("console-{letter}"),
            lun_map: None,
        }))
        .map_err(|e| e.to_string())?;
    device
        .login(
            port,
            InitiatorPort {
                name: format!("iqn.2026-11.dev.dyad:console-{letter}"),
                isid: [0; 6],
            },
        )
        .map_err(|e| e.to_string())
}

async fn run(options: Options) -> Result<(), String> {
    // Installed before anything is announced, so a stop request never finds the default
    // action (an unclean exit) in place.
    let mut term = signal(SignalKind::terminate()).map_err(|e| e.to_string())?;
    let mut int = signal(SignalKind::interrupt()).map_err(|e| e.to_string())?;
    log::start(options.log_port.clone())?;
    let enclosure = Enclosure::open(&options.enclosure).map_err(|e| format!("enclosure: {e}"))?;
    let letter = console::socket::controller_letter(options.controller);
    let store = ConfigStore::open(&enclosure.dir().join(format!("controller-{letter}")))
        .map_err(|e| format!("configuration store: {e}"))?;
    let (config, seed, from_store) = startup_config(&options, &store)?;
    let opener = StorageOpener {
        io_threads: options.io_threads,
    };
    let mut device = TargetDevice::new(options.controller, Box::new(opener));
    let params = parameter_store::FileStore::new(enclosure.dir().join("params"))
        .map_err(|e| format!("parameter store in {}: {e}", enclosure.dir().display()))?;
    device.set_store(Box::new(params));
    device.set_clock(wall_clock_ms);
    device.set_notice_sink(log::notice);
    // Operations that outlive their command (a sanitize) run as tasks of this runtime.
    device.set_spawner(|operation| {
        tokio::task::spawn_local(operation);
    });
    let device: Rc<TargetDevice<Storage>> = Rc::new(device);
    let console_nexus = console_nexus(&device, options.controller)?;
    let ping = std::time::Duration::from_secs(options.ping_timeout);
    let timers = Timers {
        nop_interval: ping,
        nop_timeout: ping,
        ..Timers::default()
    };
    let console_path = console::socket::socket_path(enclosure.dir(), options.controller);
    let live = Rc::new(LiveConfiguration::new(
        options.controller,
        enclosure,
        device.clone(),
        timers,
        store,
    ));
    live.apply(config, Some(seed))
        .await
        .map_err(|e| format!("configuration not applied: {e}"))?;
    if !from_store {
        // The start-up file replaces what the store held, which stays as the previous
        // version for `config rollback`.
        live.save()?;
    }
    // The first backplane poll happens here, before any initiator is served.
    backplane_watch::start(&live, &options.enclosure)?;
    // Held to the end: dropping it disarms the watchdog and removes the pid file.
    let _board = sim_watchdog::start(&options.enclosure, options.controller)?;
    let console_listener = console::socket::bind(&console_path)?;
    tokio::task::spawn_local(console::socket::serve(
        console_listener,
        live.clone(),
        console_nexus,
    ));
    qemu_board::serve_console(&live, console_nexus);
    tokio::task::spawn_local(watch_provisioning(device.clone()));
    let plan = live.plan();
    let portals: Vec<String> = live.listening().iter().map(|a| a.to_string()).collect();
    let mut targets: Vec<&str> = plan.ports.values().map(|p| p.target.as_str()).collect();
    targets.dedup();
    let luns = plan.luns.len();
    let ready = format!(
        "controller {} ready: iSCSI portal {}, target {}, {luns} LUN{}; console {}",
        options.controller,
        portals.join(" "),
        targets.join(" "),
        if luns == 1 { "" } else { "s" },
        console_path.display()
    );
    // The launcher and the tests wait for this line on standard output.
    println!("dyad: {ready}");
    #[cfg(feature = "defmt")]
    log::notice(&ready);
    if let Some((rss, peak)) = memory::resident_kib() {
        log::notice(&format!(
            "memory: {rss} KiB resident ({peak} KiB at most) with {luns} LUNs"
        ));
    }
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    println!("dyad: controller {} stopping", options.controller);
    #[cfg(feature = "defmt")]
    log::notice("stopping");
    live.sessions().stop_all();
    // Let sessions end and commands in flight complete before the final flush.
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    for lun in device.luns() {
        if let Err(e) = lun.backend.flush().await {
            log::warning(&format!(
                "LUN {}: flush at shutdown failed: {:?}",
                lun.id().0,
                e.kind
            ));
        }
    }
    let _ = std::fs::remove_file(&console_path);
    println!("dyad: controller {} stopped", options.controller);
    Ok(())
}
