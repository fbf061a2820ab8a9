//! dyad's controller-to-controller interlink protocol, sans I/O.
//!
//! The transport (smoltcp TCP on the board, a socket in the sim) feeds received bytes to a
//! [`frame::FrameDecoder`] and writes whatever this crate hands back; the firmware drives the
//! clock. Layers, bottom up:
//! - [`frame`]: length-delimited frames `[u32 length][u8 kind][body]`, bounded on decode.
//! - [`handshake`]: `Noise_NNpsk0_25519_ChaChaPoly_BLAKE2s` (the `snow` crate): both controllers
//!   prove the pre-shared interlink key, exchange [`hello::Hello`]s and get a
//!   [`handshake::SecureChannel`] whose every frame is AEAD-sealed with a per-direction 64-bit
//!   sequence number as the nonce, so an altered, replayed or reordered frame is an error.
//! - [`hello`]: version, controller id, HA mode, limits, fingerprints; [`hello::check_peer`].
//! - [`message`]: the HA message catalogue (typed, bounded, no pointers).
//! - [`link`]: link state (offline / unknown / online), epochs, heartbeats, reconnect backoff.
//!
//! Every error drops the link: nothing here panics on peer input, and no message is
//! delivered from a frame that failed any check.
#![no_std]
#![deny(unsafe_code)]

extern crate alloc;
#[cfg(test)]
extern crate std;

pub mod frame;
pub mod handshake;
pub mod hello;
pub mod link;
pub mod message;

pub use frame::{Frame, FrameDecoder, FrameError, FrameKind};
pub use handshake::{
    ChannelError, Established, Failure, Handshake, HandshakeError, Incoming, Psk, SecureChannel,
    Step,
};
pub use hello::{check_peer, Fingerprint, HaMode, Hello, Limits, PeerRefused};
pub use link::{Link, LinkConfig, LinkDown, LinkEvent, LinkState, TickAction};
pub use message::{DataHeader, Message, TransferId};
