//! The firmware's log. With the `defmt` feature (the board builds) each line is a defmt frame
//! in a ring that a task drains to the board's log port, decoded on the host by
//! `defmt-print`; without it (tests, the plain build) it is text on standard error.

#[cfg(feature = "defmt")]
mod defmt_logger;

use std::path::PathBuf;

/// Something an administrator should see in the log.
pub fn notice(text: &str) {
    #[cfg(feature = "defmt")]
    defmt::info!("{=str}", text);
    #[cfg(not(feature = "defmt"))]
    eprintln!("dyad: {text}");
}

/// Something that went wrong but that the firmware survives.
pub fn warning(text: &str) {
    #[cfg(feature = "defmt")]
    defmt::warn!("{=str}", text);
    #[cfg(not(feature = "defmt"))]
    eprintln!("dyad: {text}");
}

/// Starts draining the log to `port` (a serial port or a file). Without the `defmt`
/// feature the log is already on standard error and `port` is ignored.
pub fn start(port: Option<PathBuf>) -> Result<(), String> {
    #[cfg(feature = "defmt")]
    {
        defmt_logger::start_drain(port)
    }
    #[cfg(not(feature = "defmt"))]
    {
        let _ = port;
        Ok(())
    }
}
