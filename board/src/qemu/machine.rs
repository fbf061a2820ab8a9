//! The bring-up of the whole machine, in the order it must happen: pseudo file systems,
//! standard descriptors, panic and Ctrl-Alt-Del handling, the board parameters, the kernel
//! modules, the NICs (by MAC) with the iSCSI address, the backplane drives, the board's
//! flash, the log port, and the interlink cable check. What the firmware needs afterwards
//! is in [`Machine`].

use std::fs::File;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::cmdline::BootParams;
use super::drives::{self, Drive};
use super::init::{self, note};
use super::modules::{self, Loaded};
use super::net::{self, Nic};
use super::{interlink, serial};

/// How long the devices may take to appear (NVMe namespaces probe asynchronously, and a
/// contended TCG machine is slow).
pub const DEVICE_WAIT: Duration = Duration::from_secs(30);
/// How long the interlink cable check keeps calling the other controller.
pub const CABLE_CHECK: Duration = Duration::from_secs(120);

/// The machine, brought up.
#[derive(Debug)]
pub struct Machine {
    pub params: BootParams,
    pub iscsi_nic: Nic,
    pub link_nic: Nic,
    /// The backplane's drives, by slot.
    pub drives: Vec<Drive>,
    /// The board's flash (`dyad.flash=1`): where the firmware confirms the image it booted.
    pub flash: Option<Drive>,
    pub modules: Loaded,
    /// The kernel release (`uname -r`).
    pub kernel: String,
    /// The log port, held open in raw mode: the tty keeps its settings only while someone
    /// has it open, and the log writer opens and closes it as it likes.
    log_port: Option<File>,
}

impl Machine {
    /// The log port's path, when it could be set up.
    pub fn log_port(&self) -> Option<PathBuf> {
        self.log_port
            .as_ref()
            .map(|_| PathBuf::from(super::LOG_PORT))
    }

    /// The device behind `slot`.
    pub fn drive(&self, slot: u32) -> Option<&Drive> {
        self.drives.iter().find(|d| d.slot == slot)
    }
}

/// Whether this process is the machine's init.
pub fn is_init() -> bool {
    std::process::id() == 1
}

/// Brings the machine up. Only PID 1 may: it remounts, loads modules and reconfigures the
/// network of the whole machine.
pub fn bring_up() -> Result<Machine, String> {
    if !is_init() {
        return Err("the qemu board's firmware runs as PID 1 of its machine".into());
    }
    init::mount_pseudo_file_systems()?;
    init::ensure_standard_descriptors()?;
    init::power_off_on_panic();
    init::ctrl_alt_del_signals()?;
    let cmdline =
        std::fs::read_to_string("/proc/cmdline").map_err(|e| format!("/proc/cmdline: {e}"))?;
    let params = BootParams::parse(&cmdline)?;
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    note(&format!(
        "controller {} on the qemu board, kernel {kernel}",
        params.letter().to_ascii_uppercase()
    ));

    let modules = modules::load_all(Path::new(super::MODULE_DIR))?;
    note(&format!(
        "loaded {} modules in {} ms ({}){}",
        modules.order.len(),
        modules.elapsed.as_millis(),
        modules.order.join(" "),
        if modules.builtin.is_empty() {
            String::new()
        } else {
            format!("; built in: {}", modules.builtin.join(" "))
        }
    ));

    let mut nics = net::wait_for(&[params.iscsi_mac, params.link_mac], DEVICE_WAIT)?.into_iter();
    let (Some(iscsi_nic), Some(link_nic)) = (nics.next(), nics.next()) else {
        return Err("the NICs went missing".into());
    };
    net::set_up("lo").map_err(|e| format!("lo up: {e}"))?;
    let address = Ipv4Addr::from(super::ISCSI_ADDRESS);
    net::set_ipv4(&iscsi_nic.name, address, super::ISCSI_PREFIX)
        .map_err(|e| format!("{} address {address}: {e}", iscsi_nic.name))?;
    for nic in [&iscsi_nic, &link_nic] {
        net::set_up(&nic.name).map_err(|e| format!("{} up: {e}", nic.name))?;
    }
    note(&format!(
        "iSCSI NIC {} ({}) at {address}/{}; interlink NIC {} ({})",
        iscsi_nic.name,
        iscsi_nic.mac,
        super::ISCSI_PREFIX,
        link_nic.name,
        link_nic.mac
    ));

    let drives = drives::wait_for(params.drives, DEVICE_WAIT)?;
    for drive in &drives {
        note(&drives::describe(drive));
    }
    let flash = if params.flash {
        let flash = drives::wait_for_flash(DEVICE_WAIT)?;
        note(&format!(
            "board flash: {} ({} MiB, serial {})",
            flash.path.display(),
            flash.bytes >> 20,
            flash.serial
        ));
        Some(flash)
    } else {
        note("no board flash: booted without the boot ROM");
        None
    };

    let log_port = match serial::open_raw(Path::new(super::LOG_PORT), false) {
        Ok(port) => Some(port),
        Err(e) => {
            note(&format!("log port {}: {e}", super::LOG_PORT));
            None
        }
    };

    interlink::check_cable(
        link_nic.clone(),
        params.letter(),
        super::LINK_PROBE_ETHERTYPE,
        CABLE_CHECK,
    );
    Ok(Machine {
        params,
        iscsi_nic,
        link_nic,
        drives,
        flash,
        modules,
        kernel,
        log_port,
    })
}
