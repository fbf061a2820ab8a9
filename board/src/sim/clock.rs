//! The sim board's clocks: the host's monotonic clock and its wall clock.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use hal::clock::{Clock, ErrorKind, ErrorType};

/// The host's clocks, the monotonic one counted from when this value was made.
#[derive(Debug, Clone, Copy)]
pub struct SimClock {
    start: Instant,
}

impl SimClock {
    pub fn new() -> SimClock {
        SimClock {
            start: Instant::now(),
        }
    }
}

impl Default for SimClock {
    fn default() -> Self {
        SimClock::new()
    }
}

impl ErrorType for SimClock {
    type Error = ErrorKind;
}

impl Clock for SimClock {
    fn monotonic_us(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_micros()).unwrap_or(u64::MAX)
    }

    fn wall_clock_ms(&self) -> Result<u64, ErrorKind> {
        // A host clock before 1970 is a clock nobody set.
        let since = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_err(|_| ErrorKind::NotSet)?;
        u64::try_from(since.as_millis()).map_err(|_| ErrorKind::Other)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monotonic_goes_forward_and_the_wall_clock_is_set() {
        let c = SimClock::new();
        let a = c.monotonic_us();
        std::thread::sleep(std::time::Duration::from_millis(2));
        assert!(c.monotonic_us() >= a + 1000);
        // Later than 2020-01-01.
        assert!(c.wall_clock_ms().unwrap() > 1_577_836_800_000);
    }
}
