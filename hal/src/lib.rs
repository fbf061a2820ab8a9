//! The traits a controller board provides to the firmware. `no_std`: a board may be a host
//! process (the `sim` board) or a real machine.
//!
//! Every trait follows embedded-hal's error style: the implementation names its own error
//! type through the module's `ErrorType`, and that type tells the firmware what went wrong
//! through `kind()`, a small `#[non_exhaustive]` enum. The firmware only ever looks at the
//! kind, so a board's own errors (an `io::Error`, a driver status) never reach the core.
#![no_std]
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod backplane;
pub mod clock;
pub mod console;
pub mod drive;
pub mod fence;
pub mod nic;
pub mod watchdog;

/// Defines a module's `Error` trait and `ErrorType` over its `ErrorKind`, as embedded-hal
/// does per peripheral, so each module reads the same way.
macro_rules! error_traits {
    ($what:literal) => {
        #[doc = concat!("An error of ", $what, ": whatever the board's type, it has a kind.")]
        pub trait Error: core::fmt::Debug {
            /// What went wrong, in the firmware's terms.
            fn kind(&self) -> ErrorKind;
        }

        /// A bare kind is an error too, for boards with nothing more to say.
        impl Error for ErrorKind {
            fn kind(&self) -> ErrorKind {
                *self
            }
        }

        #[doc = concat!("Names the error type of ", $what, ".")]
        pub trait ErrorType {
            /// The board's error type.
            type Error: Error;
        }

        impl<T: ErrorType + ?Sized> ErrorType for &mut T {
            type Error = T::Error;
        }

        impl<T: ErrorType + ?Sized> ErrorType for &T {
            type Error = T::Error;
        }
    };
}
pub(crate) use error_traits;
