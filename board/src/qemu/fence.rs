//! The peer-fence line: the fourth serial port is wired to the launcher, which resets the
//! other machine when a line `reset` comes down it (as a real board would pull the other
//! board's reset line).

use std::io::{self, Write};
use std::path::Path;

use super::serial;

/// The serial port of the fence line.
pub const FENCE_PORT: &str = "/dev/ttyS3";

/// Asks the launcher to reset the other controller's machine. Returns once the request is
/// on the line; the reset itself follows within a moment.
pub fn reset_peer() -> io::Result<()> {
    let mut port = serial::open_raw(Path::new(FENCE_PORT), false)?;
    port.write_all(b"reset\n")?;
    port.flush()
}
