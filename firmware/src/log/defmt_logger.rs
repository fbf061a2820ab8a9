//! defmt's global logger for the Linux-hosted firmware: frames go, rzCOBS-encoded, into a
//! bounded ring (never blocking or allocating in the logger; overflow is counted), and a
//! runtime task drains the ring to the log port.

use std::collections::VecDeque;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Bytes of encoded log the ring holds before it drops.
const RING_BYTES: usize = 64 * 1024;
/// How often the ring is drained.
const DRAIN_EVERY: Duration = Duration::from_millis(20);

static RING: Mutex<VecDeque<u8>> = Mutex::new(VecDeque::new());
static DROPPED: AtomicU64 = AtomicU64::new(0);
static START: OnceLock<Instant> = OnceLock::new();

defmt::timestamp!(
    "{=u64:us}",
    START.get_or_init(Instant::now).elapsed().as_micros() as u64
);

/// The encoder and the critical section of the frame being written. Only touched between
/// `acquire` and `release`, inside that critical section.
static mut ENCODER: defmt::Encoder = defmt::Encoder::new();
static mut RESTORE: critical_section::RestoreState = critical_section::RestoreState::invalid();

fn push(bytes: &[u8]) {
    let Ok(mut ring) = RING.lock() else { return };
    if ring.len() + bytes.len() > RING_BYTES {
        DROPPED.fetch_add(bytes.len() as u64, Ordering::Relaxed);
        return;
    }
    ring.extend(bytes);
}

#[defmt::global_logger]
struct RingLogger;

// SAFETY: defmt calls acquire, write and release in that order for one frame at a time; the
// critical section taken in `acquire` and given back in `release` makes the encoder statics
// exclusive to the thread writing the frame.
unsafe impl defmt::Logger for RingLogger {
    fn acquire() {
        // SAFETY: the restore state is handed back in `release`, by the same thread.
        let restore = unsafe { critical_section::acquire() };
        // SAFETY: inside the critical section no other frame touches the statics.
        unsafe {
            RESTORE = restore;
            (*core::ptr::addr_of_mut!(ENCODER)).start_frame(push);
        }
    }

    unsafe fn flush() {}

    unsafe fn release() {
        // SAFETY: called after `acquire`, inside its critical section.
        unsafe {
            (*core::ptr::addr_of_mut!(ENCODER)).end_frame(push);
            critical_section::release(RESTORE);
        }
    }

    unsafe fn write(bytes: &[u8]) {
        // SAFETY: called between `acquire` and `release`, inside the critical section.
        unsafe { (*core::ptr::addr_of_mut!(ENCODER)).write(bytes, push) }
    }
}

/// Spawns the task that moves the ring to `port` (standard output when `None`).
pub fn start_drain(port: Option<PathBuf>) -> Result<(), String> {
    START.get_or_init(Instant::now);
    let mut sink: Box<dyn Write> = match &port {
        Some(path) => Box::new(
            std::fs::OpenOptions::new()
                .append(true)
                .create(true)
                .open(path)
                .map_err(|e| format!("log port {}: {e}", path.display()))?,
        ),
        None => Box::new(std::io::stdout()),
    };
    tokio::task::spawn_local(async move {
        let mut tick = tokio::time::interval(DRAIN_EVERY);
        let mut reported = 0;
        loop {
            tick.tick().await;
            let bytes: Vec<u8> = match RING.lock() {
                Ok(mut ring) => ring.drain(..).collect(),
                Err(_) => continue,
            };
            if !bytes.is_empty() && (sink.write_all(&bytes).is_err() || sink.flush().is_err()) {
                DROPPED.fetch_add(bytes.len() as u64, Ordering::Relaxed);
            }
            let dropped = DROPPED.load(Ordering::Relaxed);
            if dropped != reported {
                reported = dropped;
                defmt::warn!("log: {=u64} bytes dropped so far", dropped);
            }
        }
    });
    Ok(())
}
