//! The sim board's watchdog and peer registration for this controller: its pid file in the
//! enclosure folder (what the peer's fence kills), and the watchdog, petted every second
//! from the runtime; a runtime that stops turning stops the pets, and the launcher restarts
//! the controller (`board::sim::watchdog_state`).

use board::sim::{ControllerRegistration, Enclosure, SimWatchdog};
use hal::watchdog::Watchdog;
use std::cell::RefCell;
use std::path::Path;
use std::rc::Rc;
use std::time::Duration;

/// How long without a pet before the launcher restarts the controller.
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// How often the runtime pets it.
pub const PET: Duration = Duration::from_secs(1);

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
    let timeout_ms = u32::try_from(TIMEOUT.as_millis()).unwrap_or(u32::MAX);
    watchdog
        .start(timeout_ms)
        .map_err(|e| format!("watchdog: {e}"))?;
    let watchdog = Rc::new(RefCell::new(watchdog));
    let pets = watchdog.clone();
    let petting = tokio::task::spawn_local(async move {
        let mut tick = tokio::time::interval(PET);
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
