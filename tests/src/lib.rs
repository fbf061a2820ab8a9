//! End-to-end test support for dyad: process guards for the firmware and for tgtd (the peer
//! we measure against), wrappers around libiscsi's command-line initiators and our
//! persistent reservation client (`iscsi-pr`), and the runner for libiscsi's conformance
//! suite (`iscsi-test-cu`).
//!
//! Everything here talks to 127.0.0.1 only and cleans up after itself: each guard kills its
//! process on drop and each temporary directory is removed.

pub mod child;
pub mod conformance;
pub mod console_client;
pub mod cpu;
pub mod cunit;
pub mod firmware;
pub mod glob;
pub mod initiator;
pub mod paths;
pub mod port;
pub mod reservation_client;
pub mod suites;
pub mod target;
pub mod tempdir;
pub mod tgtd;

pub use conformance::{run_suite, SuiteReport};
pub use console_client::{console_socket, ConsoleClient, ConsoleReply};
pub use firmware::{Firmware, FirmwareConfig};
pub use target::{Credentials, TargetKind, TargetSpec, TestTarget};
pub use tempdir::TempDir;
pub use tgtd::{Tgtd, TgtdConfig};

/// The IQN the firmware serves by default; tests and tools use it unless told otherwise.
pub const DEFAULT_TARGET_IQN: &str = "iqn.2026-11.dev.dyad:target0";
