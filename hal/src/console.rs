//! The serial console port: a byte stream in both directions, as embedded-io describes one.
//! Its errors are embedded-io's, whose `ErrorKind` is already the small non-exhaustive enum
//! the other traits here copy.

pub use embedded_io_async::{Error, ErrorKind, ErrorType, Read, Write};

/// A console port: a board's UART, or the sim board's Unix socket. Anything that reads and
/// writes bytes asynchronously is one.
pub trait ConsolePort: Read + Write {}

impl<T: Read + Write> ConsolePort for T {}
