//! What PID 1 owes the kernel: the pseudo file systems, standard descriptors, Ctrl-Alt-Del
//! as a signal, and powering the machine off instead of ever exiting (init exiting is a
//! kernel panic).

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::os::fd::AsFd;
use std::path::Path;
use std::sync::Once;

use super::sys;

/// Seconds since the kernel started, from /proc/uptime (0 before /proc is mounted).
pub fn uptime() -> f64 {
    std::fs::read_to_string("/proc/uptime")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0)
}

/// A bring-up line on the kernel console (standard error), stamped with the uptime as the
/// kernel stamps its own.
pub fn note(text: &str) {
    let line = format!("[{:>9.3}] dyad: {text}\n", uptime());
    let _ = io::stderr().lock().write_all(line.as_bytes());
}

/// Mounts /proc, /sys, /dev (devtmpfs: the kernel does not mount it for an initramfs) and
/// a tmpfs on /run. A file system already there is left as it is.
pub fn mount_pseudo_file_systems() -> Result<(), String> {
    let nodev_nosuid = libc::MS_NODEV | libc::MS_NOSUID | libc::MS_NOEXEC;
    for (source, target, fs_type, flags, data) in [
        ("proc", "/proc", "proc", nodev_nosuid, ""),
        ("sysfs", "/sys", "sysfs", nodev_nosuid, ""),
        ("devtmpfs", "/dev", "devtmpfs", libc::MS_NOSUID, "mode=0755"),
        (
            "tmpfs",
            "/run",
            "tmpfs",
            libc::MS_NODEV | libc::MS_NOSUID,
            "mode=0755",
        ),
    ] {
        let target = Path::new(target);
        std::fs::create_dir_all(target).map_err(|e| format!("{}: {e}", target.display()))?;
        match sys::mount(source, target, fs_type, flags, data) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {}
            Err(e) => return Err(format!("mount {fs_type} on {}: {e}", target.display())),
        }
    }
    Ok(())
}

/// Makes sure descriptors 0, 1 and 2 are open, on /dev/console when the kernel could not
/// open it for us (an initramfs without `dev/console`).
pub fn ensure_standard_descriptors() -> Result<(), String> {
    if (0..3).all(sys::fd_is_open) {
        return Ok(());
    }
    let console = OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/console")
        .map_err(|e| format!("/dev/console: {e}"))?;
    for fd in 0..3 {
        if !sys::fd_is_open(fd) {
            sys::dup2(console.as_fd(), fd).map_err(|e| format!("descriptor {fd}: {e}"))?;
        }
    }
    Ok(())
}

/// From now on Ctrl-Alt-Del (the launcher's `sendkey ctrl-alt-delete`) is SIGINT to PID 1,
/// which the firmware takes as a request to stop cleanly, instead of an immediate reboot.
pub fn ctrl_alt_del_signals() -> Result<(), String> {
    sys::reboot(libc::RB_DISABLE_CAD).map_err(|e| format!("reboot(RB_DISABLE_CAD): {e}"))
}

/// Flushes every file system and powers the machine off (QEMU exits). Never returns. Only
/// the machine's init does this: any other process (`--board qemu` tried on a host, as
/// root) just exits, and the host stays up.
pub fn power_off() -> ! {
    if std::process::id() != 1 {
        note("not the machine's init: exiting instead of powering off");
        std::process::exit(1);
    }
    note(&super::POWER_OFF_LINE["dyad: ".len()..]);
    sys::sync();
    match sys::reboot(libc::RB_POWER_OFF) {
        Ok(()) => loop {
            std::thread::park();
        },
        Err(e) => {
            note(&format!("power off refused: {e}"));
            std::process::exit(1)
        }
    }
}

/// On a panic (of any thread): print it as usual, then power off, so that a crash ends the
/// QEMU process rather than leaving a machine without its firmware.
pub fn power_off_on_panic() {
    static INSTALLED: Once = Once::new();
    INSTALLED.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            previous(info);
            note("the firmware panicked");
            power_off();
        }));
    });
}
