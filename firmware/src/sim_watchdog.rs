//! The sim board's watchdog and peer registration for this controller: its pid file in the
//! enclosure folder (what the peer's fence kills), and the watchdog, petted every second
//! from the runtime; a runtime that stops turning stops the pets, and the launcher restarts
//! the controller (`board::sim::watchdog_state`).
//!
//! The timeout is 10 s unless `DYAD_WATCHDOG_MS` says otherwise (the supervision tests use
//! a short one); the runtime pets at a quarter of it, at most every second.

use board::sim::{ControllerRegistration, Enclosure, SimWatchdog};
use hal::watchdog::Watchdog;
use std::cell::RefCell;
use std::path::Path;
use std::rc::Rc;
use std::time::Duration;

/// How long without a pet before the launcher restarts the controller, by default.
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// How often the runtime pets it, at most: a quarter of a shorter timeout.
pub const PET: Duration = Duration::from_secs(1);
/// The environment variable that sets another timeout, in milliseconds.
pub const TIMEOUT_ENV: &str = "DYAD_WATCHDOG_MS";

/// The timeout: `DYAD_WATCHDOG_MS` (a whole number of milliseconds, 1 or more) or 10 s.
fn timeout() -> Result<Duration, String> {
    match std::env::var(TIMEOUT_ENV) {
        Err(std::env::VarError::NotPresent) => Ok(TIMEOUT),
        Ok(text) => match text.trim().parse::<u32>() {
            Ok(ms) if ms > 0 => Ok(Duration::from_millis(u64::from(ms))),
            _ => Err(format!(
                "{TIMEOUT_ENV}={text}: want the watchdog timeout in milliseconds (1 or more)"
            )),
        },
        Err(e) => Err(format!("{TIMEOUT_ENV}: {e}")),
    }
}

/// How often to pet a watchdog of `timeout`: four times per timeout, at most every second.
fn pet_interval(timeout: Duration) -> Duration {
    (timeout / 4).clamp(Duration::from_millis(1), PET)
}

/// Keeps the registration and the watchdog for as long as the controller runs; dropped on a
/// clean stop, it disarms the watchdog and removes the pid file.
pub struct BoardServices {
    _registration: ControllerRegistration,
    watchdog: Rc<RefCell<SimWatchdog>>,
    petting: tokio::task::JoinHandle<()>,
}

impl Drop for BoardServices {
    fn drop(&mut self) {
        self.petting.abort();
        if let Err(e) = self.watchdog.borrow_mut().stop() {
            crate::log::warning(&format!("cannot disarm the watchdog: {e}"));
        }
    }
}

/// Registers `controller` in the enclosure at `dir` and starts its watchdog.
pub fn start(dir: &Path, controller: u8) -> Result<BoardServices, String> {
    let enclosure = Enclosure::open(dir).map_err(|e| format!("enclosure: {e}"))?;
    let registration = enclosure
        .register_controller(controller)
        .map_err(|e| format!("controller registration: {e}"))?;
    let mut watchdog = enclosure.watchdog(controller);
    let timeout = timeout()?;
    let timeout_ms = u32::try_from(timeout.as_millis()).unwrap_or(u32::MAX);
    watchdog
        .start(timeout_ms)
        .map_err(|e| format!("watchdog: {e}"))?;
    let watchdog = Rc::new(RefCell::new(watchdog));
    let pets = watchdog.clone();
    let petting = tokio::task::spawn_local(async move {
        let mut tick = tokio::time::interval(pet_interval(timeout));
        let mut failing = false;
        loop {
            tick.tick().await;
            match pets.borrow_mut().pet() {
                Ok(()) => failing = false,
                // Once per failure streak: the launcher will act on it anyway.
                Err(e) if !failing => {
                    failing = true;
                    crate::log::warning(&format!("cannot pet the watchdog: {e}"));
                }
                Err(_) => {}
            }
        }
    });
    Ok(BoardServices {
        _registration: registration,
        watchdog,
        petting,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pets_four_times_per_timeout_at_most_every_second() {
        assert_eq!(pet_interval(TIMEOUT), PET);
        assert_eq!(
            pet_interval(Duration::from_millis(2000)),
            Duration::from_millis(500)
        );
        assert_eq!(
            pet_interval(Duration::from_millis(2)),
            Duration::from_millis(1)
        );
    }
}
