//! dyad's iSCSI frontend (RFC 7143): the wire codec, login and text negotiation, CHAP, and the
//! session and connection engines that carry SCSI commands to the core on a tokio
//! current-thread runtime.

// Wire format and negotiation: pure logic, no I/O.
pub mod access;
pub mod chap;
pub mod digest;
pub mod discovery;
pub mod login;
pub mod params;
pub mod pdu;
pub mod text;

// The runtime side: TCP server, sessions, connections.
mod command;
pub mod connection;
mod login_phase;
pub mod portal;
pub mod session;
mod task_management;
pub mod wire;
