//! Forwards SIGINT, SIGTERM and SIGHUP to the firmware. The firmware runs in a process
//! group of its own so a terminal's Ctrl-C reaches it exactly once, through us; a signal
//! that comes before its process id is known, or while forwarding is held (the launcher
//! looking at whether it ended, or starting it again), is held and delivered once it is.
//! Any of them also notes that the user asked for a stop, so that the launcher does not
//! start the firmware again once it ends.

use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

const FORWARDED: [libc::c_int; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

static CHILD: AtomicI32 = AtomicI32::new(0);
static PENDING: AtomicI32 = AtomicI32::new(0);
static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn forward(signal: libc::c_int) {
    // Only async-signal-safe work here: atomics and kill(2).
    STOP.store(true, Ordering::SeqCst);
    let pid = CHILD.load(Ordering::SeqCst);
    if pid > 0 {
        // SAFETY: kill(2) is async-signal-safe and takes plain integers.
        unsafe {
            libc::kill(pid, signal);
        }
    } else {
        PENDING.store(signal, Ordering::SeqCst);
    }
}

/// Installs the forwarding handlers; call before starting the firmware.
pub fn install() {
    for signal in FORWARDED {
        // SAFETY: `forward` is an extern "C" fn(c_int) that does only async-signal-safe
        // work; signal(2) with it replaces the default disposition.
        unsafe {
            libc::signal(signal, forward as *const () as libc::sighandler_t);
        }
    }
}

/// From now on signals go to `pid`; one that arrived before is delivered now.
pub fn forward_to(pid: u32) {
    let Ok(pid) = i32::try_from(pid) else { return };
    CHILD.store(pid, Ordering::SeqCst);
    let pending = PENDING.swap(0, Ordering::SeqCst);
    if pending != 0 {
        // SAFETY: as in `forward`.
        unsafe {
            libc::kill(pid, pending);
        }
    }
}

/// Holds signals until the next [`forward_to`]: call before reaping the firmware, so that
/// none is sent to its process id once that may name another process.
pub fn hold() {
    CHILD.store(0, Ordering::SeqCst);
}

/// Whether SIGINT, SIGTERM or SIGHUP came: the user wants the firmware stopped.
pub fn stop_requested() -> bool {
    STOP.load(Ordering::SeqCst)
}
