//! The `qemu` board: the firmware is PID 1 of a QEMU x86_64 machine running Debian's kernel.
//!
//! What the machine looks like from inside (the host-side launcher, `dyad qemu`, builds it
//! this way, and both sides take the names below from here):
//! - the kernel command line carries the board's parameters as dotted words
//!   (`dyad.controller=1 dyad.iscsi_mac=...`, see [`cmdline`]);
//! - the initramfs holds `/init` (the static firmware), the kernel modules the devices need in
//!   [`MODULE_DIR`] (the load order is worked out here from each module's `.modinfo`, see
//!   [`modinfo`]) and the configuration at [`CONFIG_PATH`];
//! - two virtio NICs told apart by MAC: the first carries iSCSI (QEMU's user network, the
//!   host forwards a port to [`ISCSI_ADDRESS`]:3260), the second is the interlink to the other
//!   controller (raw Ethernet frames through AF_PACKET, cabled by `-netdev dgram`);
//! - the backplane's drives, virtio-blk or NVMe, attached to both machines with `share-rw`,
//!   each with the serial QEMU gives it ([`slot_serial`]) naming its slot;
//! - the board's own flash (two image slots and the boot state, see the `image` crate), a
//!   raw virtio-blk disk with the serial [`FLASH_SERIAL`] that only this machine has: the
//!   launcher played the boot ROM on it before starting the machine, and the firmware
//!   confirms the image it booted there once its self-test passed;
//! - `/dev/ttyS0` the console, `/dev/ttyS1` the (defmt) log port, `/dev/ttyS2` the kernel
//!   console, where the firmware's standard output and error go too, `/dev/ttyS3` the
//!   peer-fence line (the launcher resets the other machine, see [`fence`]);
//! - power off is `reboot(RB_POWER_OFF)`, which ends the QEMU process; Ctrl-Alt-Del (the
//!   launcher's clean stop) reaches PID 1 as SIGINT.
//!
//! [`cmdline`] and [`modinfo`] are plain parsing that the host tools use as well; the rest
//! talks to the Linux kernel and exists only there.

pub mod cmdline;
pub mod modinfo;

#[cfg(target_os = "linux")]
pub mod drives;
#[cfg(target_os = "linux")]
pub mod fence;
#[cfg(target_os = "linux")]
pub mod init;
#[cfg(target_os = "linux")]
pub mod interlink;
#[cfg(target_os = "linux")]
pub mod machine;
#[cfg(target_os = "linux")]
pub mod modules;
#[cfg(target_os = "linux")]
pub mod net;
#[cfg(target_os = "linux")]
pub mod packet_nic;
#[cfg(target_os = "linux")]
pub mod serial;
#[cfg(target_os = "linux")]
mod sys;

/// Where the initramfs keeps the kernel modules (plain `.ko` files: the kernel cannot
/// decompress modules itself, and the initramfs is compressed anyway).
pub const MODULE_DIR: &str = "/lib/modules";
/// The configuration the image carries (ctl.conf).
pub const CONFIG_PATH: &str = "/etc/ctl.conf";
/// The enclosure folder inside the machine: a tmpfs (configuration store, parameters, the
/// slot links to the drives).
pub const ENCLOSURE_DIR: &str = "/run/enclosure";
/// The console port.
pub const CONSOLE_PORT: &str = "/dev/ttyS0";
/// The log port (defmt frames).
pub const LOG_PORT: &str = "/dev/ttyS1";
/// The kernel console, given to the kernel as `console=ttyS2`.
pub const KERNEL_CONSOLE: &str = "ttyS2";
/// The iSCSI NIC's address: QEMU's user network puts the guest at 10.0.2.15/24 and the
/// host at 10.0.2.2; no DHCP is needed.
pub const ISCSI_ADDRESS: [u8; 4] = [10, 0, 2, 15];
pub const ISCSI_PREFIX: u8 = 24;
/// The iSCSI port inside the machine (the host forwards its own port to it).
pub const ISCSI_PORT: u16 = 3260;
/// The EtherType of the bring-up frames that check the interlink cable (IEEE local
/// experimental).
pub const LINK_PROBE_ETHERTYPE: u16 = 0x88B5;
/// The line the firmware writes to the kernel console just before it powers the machine
/// off; the launcher tells a clean power-off from a crash by it.
pub const POWER_OFF_LINE: &str = "dyad: powering off";

/// The serial of the board's flash disk (`-device virtio-blk-pci,...,serial=FLASH`).
pub const FLASH_SERIAL: &str = "FLASH";
/// The BOARD the qemu board's images carry: the boot ROM refuses images for other boards.
pub const IMAGE_BOARD: &str = "dyad-qemu";
/// How the firmware's kernel-console lines about the image it booted begin (`dyad: image
/// confirmed: ...`, `dyad: image already confirmed: ...`, `dyad: image not confirmed:
/// ...`); the launcher reports them.
pub const IMAGE_LINE: &str = "dyad: image ";

/// The serial QEMU gives the drive in `slot` (`-device ...,serial=SLOT00`).
pub fn slot_serial(slot: u32) -> String {
    format!("SLOT{slot:02}")
}

/// The slot a drive serial names, the inverse of [`slot_serial`].
pub fn slot_of_serial(serial: &str) -> Option<u32> {
    let digits = serial.trim().strip_prefix("SLOT")?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_serials_round_trip() {
        assert_eq!(slot_serial(0), "SLOT00");
        assert_eq!(slot_serial(23), "SLOT23");
        for slot in [0, 1, 9, 23, 123] {
            assert_eq!(slot_of_serial(&slot_serial(slot)), Some(slot));
        }
        // NVMe pads its 20-byte serial with spaces.
        assert_eq!(slot_of_serial("SLOT07              "), Some(7));
        for bad in ["", "SLOT", "SLOTx1", "slot01", "QM00001", "SLOT-1"] {
            assert_eq!(slot_of_serial(bad), None, "{bad}");
        }
    }
}
