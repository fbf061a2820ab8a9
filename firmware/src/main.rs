//! dyad controller firmware on the sim board: brings the enclosure up, builds the LUNs, the
//! target port and the iSCSI portal, and serves them on one tokio current-thread runtime until
//! SIGINT or SIGTERM.

mod identity;
mod options;
mod parameter_store;
mod storage_opener;

use backend::storage::Storage;
use board::sim::Enclosure;
use clap::Parser;
use iscsi::login::{Auth, TargetAccess};
use iscsi::portal::{self, PortalGroup, TargetDef};
use options::{parse_credentials, LunSource, LunSpec, Options};
use scsi::alua::{relative_port_id, TPG_SINGLE};
use scsi::backend::BlockBackend;
use scsi::mutation::Mutation;
use scsi::{LunConfig, LunId, PortConfig, StorageSpec, TargetDevice};
use std::process::ExitCode;
use std::rc::Rc;
use storage_opener::StorageOpener;
use tokio::net::TcpListener;
use tokio::signal::unix::{signal, SignalKind};

/// Portal group tag of the one portal group this controller serves for now.
const PORTAL_GROUP_TAG: u16 = 1;

fn main() -> ExitCode {
    let options = Options::parse();
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

fn lun_config(enclosure: &Enclosure, index: u32, spec: &LunSpec) -> Result<LunConfig, String> {
    let storage = match &spec.source {
        LunSource::Slot(n) => {
            let size = spec.size.unwrap_or(1 << 30);
            let path = enclosure
                .ensure_drive(*n, size)
                .map_err(|e| format!("slot {n}: {e}"))?;
            StorageSpec::File {
                path: path.to_string_lossy().into_owned(),
                size: Some(size),
            }
        }
        LunSource::File(p) => StorageSpec::File {
            path: p.to_string_lossy().into_owned(),
            size: spec.size,
        },
        LunSource::Ramdisk => StorageSpec::Ramdisk {
            size: spec.size.unwrap_or(0),
        },
    };
    let id = enclosure.id();
    Ok(LunConfig {
        id: LunId(index),
        name: format!("lun{index}"),
        storage,
        block_size: spec.block_size,
        pblock_exp: spec.pblock_exp(),
        pblock_offset: spec.physical_block_offset,
        serial: spec
            .serial
            .clone()
            .unwrap_or_else(|| identity::serial(id, index)),
        device_id: spec
            .device_id
            .clone()
            .unwrap_or_else(|| format!("{id:016x}-{index:04}")),
        naa: spec.naa.unwrap_or_else(|| identity::naa6(id, index)),
        eui64: spec.eui64.unwrap_or_else(|| identity::eui64(id, index)),
        vendor: spec.vendor.clone().unwrap_or_else(|| "DYAD".into()),
        product: spec.product.clone().unwrap_or_else(|| "dyad disk".into()),
        revision: spec.revision.clone().unwrap_or_else(|| "0001".into()),
        read_only: spec.read_only,
        removable: spec.removable,
        write_cache: spec.write_cache,
        read_cache: spec.read_cache,
        thin: spec.thin,
    })
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

fn target_auth(options: &Options) -> Result<Auth, String> {
    match (&options.chap, &options.chap_mutual) {
        (None, None) => Ok(Auth::None),
        (None, Some(_)) => Err("--chap-mutual needs --chap".into()),
        (Some(c), mutual) => {
            let (user, secret) = parse_credentials(c)?;
            let mutual = mutual.as_deref().map(parse_credentials).transpose()?;
            Ok(Auth::Chap {
                user,
                secret,
                mutual,
            })
        }
    }
}

async fn run(options: Options) -> Result<(), String> {
    // Installed before anything is announced, so a stop request never finds the default
    // action (an unclean exit) in place.
    let mut term = signal(SignalKind::terminate()).map_err(|e| e.to_string())?;
    let mut int = signal(SignalKind::interrupt()).map_err(|e| e.to_string())?;
    let enclosure = Enclosure::open(&options.enclosure).map_err(|e| format!("enclosure: {e}"))?;
    let opener = StorageOpener {
        io_threads: options.io_threads,
    };
    let mut device = TargetDevice::new(options.controller, Box::new(opener));
    let store = parameter_store::FileStore::new(enclosure.dir().join("params"))
        .map_err(|e| format!("parameter store in {}: {e}", enclosure.dir().display()))?;
    device.set_store(Box::new(store));
    device.set_clock(wall_clock_ms);
    device.set_notice_sink(|text| eprintln!("dyad: {text}"));
    // Operations that outlive their command (a sanitize) run as tasks of this runtime.
    device.set_spawner(|operation| {
        tokio::task::spawn_local(operation);
    });
    let device: Rc<TargetDevice<Storage>> = Rc::new(device);
    for (i, text) in options.luns.iter().enumerate() {
        let spec = LunSpec::parse(text)?;
        let config = lun_config(&enclosure, i as u32, &spec)?;
        device
            .apply(Mutation::LunAdded(config))
            .map_err(|e| e.to_string())?;
    }
    let port = relative_port_id(options.controller, 0);
    device
        .apply(Mutation::PortAdded(PortConfig {
            relative_id: port,
            tpg: TPG_SINGLE,
            target_name: options.target.clone(),
            port_name: format!("{},t,0x{:04x}", options.target, PORTAL_GROUP_TAG),
            lun_map: None,
        }))
        .map_err(|e| e.to_string())?;
    let access = TargetAccess {
        name: options.target.clone(),
        alias: options.alias.clone(),
        auth: target_auth(&options)?,
        allowed_initiators: options.allow_initiators.clone(),
    };
    let listener = TcpListener::bind(options.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", options.listen))?;
    let listen = listener.local_addr().map_err(|e| e.to_string())?;
    let mut portal = PortalGroup::new(
        PORTAL_GROUP_TAG,
        vec![listen],
        vec![TargetDef { access, port }],
        device.clone(),
    );
    let ping = std::time::Duration::from_secs(options.ping_timeout);
    portal.timers.nop_interval = ping;
    portal.timers.nop_timeout = ping;
    let portal = Rc::new(portal);
    tokio::task::spawn_local(watch_provisioning(device.clone()));
    let luns = device.luns().len();
    println!(
        "dyad: controller {} ready: iSCSI portal {listen}, target {}, {luns} LUN{}",
        options.controller,
        options.target,
        if luns == 1 { "" } else { "s" }
    );
    tokio::select! {
        _ = portal::serve(listener, portal.clone()) => {}
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    println!("dyad: controller {} stopping", options.controller);
    portal.sessions.stop_all();
    // Let sessions end and commands in flight complete before the final flush.
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    for lun in device.luns() {
        if let Err(e) = lun.backend.flush().await {
            eprintln!(
                "dyad: LUN {}: flush at shutdown failed: {:?}",
                lun.id().0,
                e.kind
            );
        }
    }
    println!("dyad: controller {} stopped", options.controller);
    Ok(())
}
