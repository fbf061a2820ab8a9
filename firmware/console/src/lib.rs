//! dyad's serial console: ctladm's verbs on the controller's console port. A byte-fed line
//! editor, the verbs parsed into typed [`Command`]s, their help, and the async shell loop the
//! firmware runs over a UART (boards) or a Unix socket (the sim board), with an [`Executor`]
//! of its own carrying the commands out.
#![no_std]
#![deny(unsafe_code)]

extern crate alloc;

pub mod command;
mod getopt;
pub mod help;
mod history;
mod keys;
pub mod line_editor;
pub mod shell;
pub mod usage_error;
mod values;
pub mod words;

pub use command::{parse, Command, CreateLun, SessionSelector, SlotLed};
pub use line_editor::{EditorEvent, LineEditor, MAX_LINE};
pub use shell::{run, Executor, ShellError};
pub use usage_error::UsageError;
