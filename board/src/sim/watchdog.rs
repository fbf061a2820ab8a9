//! The sim board's watchdog: a file per controller in the enclosure folder
//! (`controller-a.watchdog`) holding the timeout, whose modification time is the last pet.
//! The launcher (`dyad run`) looks at it with [`watchdog_state`] and restarts a controller
//! whose watchdog expired, as a board's watchdog would reset it.

use std::fs::{self, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use hal::watchdog::{ErrorType, Watchdog};

use super::slots::SimError;
use super::{write_atomic, Enclosure};

/// Controller A's watchdog file in `dir` (`controller` 1 → a, 2 → b).
pub fn watchdog_path(dir: &Path, controller: u8) -> PathBuf {
    dir.join(format!("controller-{}.watchdog", letter(controller)))
}

pub(crate) fn letter(controller: u8) -> char {
    if controller == 2 {
        'b'
    } else {
        'a'
    }
}

/// A controller's watchdog.
#[derive(Debug)]
pub struct SimWatchdog {
    path: PathBuf,
}

impl Enclosure {
    /// The watchdog of `controller`.
    pub fn watchdog(&self, controller: u8) -> SimWatchdog {
        SimWatchdog {
            path: watchdog_path(self.dir(), controller),
        }
    }
}

impl ErrorType for SimWatchdog {
    type Error = SimError;
}

impl Watchdog for SimWatchdog {
    fn start(&mut self, timeout_ms: u32) -> Result<(), SimError> {
        if timeout_ms == 0 {
            return Err(SimError(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a watchdog timeout of 0 ms",
            )));
        }
        // Written anew, so its modification time is now: started counts as petted.
        Ok(write_atomic(
            &self.path,
            &format!("timeout-ms = {timeout_ms}\n"),
        )?)
    }

    fn pet(&mut self) -> Result<(), SimError> {
        let file = OpenOptions::new().write(true).open(&self.path)?;
        Ok(file.set_modified(SystemTime::now())?)
    }

    fn stop(&mut self) -> Result<(), SimError> {
        match fs::remove_file(&self.path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(SimError(e)),
        }
    }
}

/// A controller's watchdog as the launcher sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatchdogState {
    /// Never started, or stopped on a clean shutdown.
    Disarmed,
    /// Petted in time: `left` until it expires.
    Alive { left: Duration },
    /// Not petted for longer than its timeout, by `overdue`.
    Expired { overdue: Duration },
}

/// The state of `controller`'s watchdog in enclosure folder `dir` at time `now`.
pub fn watchdog_state(dir: &Path, controller: u8, now: SystemTime) -> io::Result<WatchdogState> {
    let path = watchdog_path(dir, controller);
    let text = match fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(WatchdogState::Disarmed),
        Err(e) => return Err(e),
    };
    let timeout_ms = text
        .lines()
        .filter_map(|l| l.split_once('='))
        .find(|(k, _)| k.trim() == "timeout-ms")
        .and_then(|(_, v)| v.trim().parse::<u64>().ok())
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: no timeout-ms", path.display()),
            )
        })?;
    let petted = fs::metadata(&path)?.modified()?;
    // A pet stamped after `now` (clocks read in another order) is as fresh as can be.
    let since = now.duration_since(petted).unwrap_or_default();
    let timeout = Duration::from_millis(timeout_ms);
    Ok(if since > timeout {
        WatchdogState::Expired {
            overdue: since - timeout,
        }
    } else {
        WatchdogState::Alive {
            left: timeout - since,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::super::test_dir::TestDir;
    use super::*;

    #[test]
    fn a_watchdog_not_petted_in_time_expires() {
        let dir = TestDir::new("watchdog");
        let e = Enclosure::open(dir.path()).unwrap();
        let state = |at| watchdog_state(dir.path(), 1, at).unwrap();
        let now = SystemTime::now();
        assert_eq!(state(now), WatchdogState::Disarmed);
        let mut w = e.watchdog(1);
        assert!(w.start(0).is_err());
        w.start(1000).unwrap();
        assert!(matches!(
            state(SystemTime::now()),
            WatchdogState::Alive { .. }
        ));
        let later = SystemTime::now() + Duration::from_millis(1500);
        assert!(matches!(state(later), WatchdogState::Expired { .. }));
        // A pet stamps the file: from then on the time counts again.
        w.pet().unwrap();
        assert!(matches!(
            state(SystemTime::now()),
            WatchdogState::Alive { .. }
        ));
        assert_eq!(
            watchdog_state(dir.path(), 2, now).unwrap(),
            WatchdogState::Disarmed
        );
        w.stop().unwrap();
        w.stop().unwrap();
        assert_eq!(state(later), WatchdogState::Disarmed);
        assert!(w.pet().is_err(), "stopped: nothing to pet");
    }
}
