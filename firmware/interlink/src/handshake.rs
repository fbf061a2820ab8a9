//! The authenticated handshake and the sealed channel it yields.
//!
//! Construction: the Noise protocol `Noise_NNpsk0_25519_ChaChaPoly_BLAKE2s` (the `snow`
//! crate). Both sides mix the 32-byte pre-shared interlink key into the handshake before the
//! first message and exchange ephemeral X25519 keys, so each message's AEAD tag proves the
//! key and the session keys are fresh (forward secret) per link. Three frames:
//!
//! 1. initiator → responder, `Handshake` frame: `MAGIC`, handshake version, Noise `psk, e`
//!    (empty payload). A wrong key fails here on the responder: `AuthenticationFailed`.
//! 2. responder → initiator, `Handshake` frame: `MAGIC`, version, Noise `e, ee` whose payload
//!    is the responder's [`Hello`]. A wrong key fails here on the initiator.
//! 3. initiator → responder, the first `Sealed` frame: `Message::Hello` (or `Refused`).
//!    It confirms the initiator holds the session keys, so a recorded first message
//!    replayed by someone without the key never brings a link up.
//!
//! A responder that speaks another handshake version answers message 1 with a bare
//! `MAGIC` + version frame, so the initiator can say which version the peer speaks.
//!
//! Sealed frames: body `[seq: u64 BE][ChaCha20-Poly1305 ciphertext]`, the nonce being `seq`,
//! one counter per direction starting at 0. The receiver accepts exactly the next number:
//! a lower one is a replay, a higher one a reordered or dropped frame, a bad tag an altered
//! frame (or the wrong key, or an old link's keys); each is an error and the channel refuses
//! everything after it. The plaintext is `[channel: u8][epoch: u64 BE][body]`, so the
//! channel (control or data) and the link epoch are authenticated as well.

use crate::frame::{encode_frame, Frame, FrameKind};
use crate::hello::{check_peer, Hello, PeerRefused};
use crate::message::{DataHeader, Message, MAX_DATA_CHUNK, MAX_PLAINTEXT};
use alloc::boxed::Box;
use alloc::vec::Vec;

/// First bytes of every handshake frame: "dyad interlink".
pub const MAGIC: [u8; 4] = *b"DYIL";
/// The handshake construction's version (bump when the Noise pattern or framing changes).
pub const HANDSHAKE_VERSION: u16 = 1;
pub const NOISE_PARAMS: &str = "Noise_NNpsk0_25519_ChaChaPoly_BLAKE2s";

const CHANNEL_CONTROL: u8 = 0;
const CHANNEL_DATA: u8 = 1;
const SEQ_LEN: usize = 8;
const TAG_LEN: usize = 16;
const INNER_HEADER: usize = 1 + 8;
const HS_HEADER: usize = MAGIC.len() + 2;

/// The pre-shared interlink key (32 bytes, the same on both controllers).
#[derive(Clone, PartialEq, Eq)]
pub struct Psk([u8; 32]);

impl Psk {
    /// Refuses the all-zero key: an enclosure whose key was never set has no key.
    pub fn new(bytes: [u8; 32]) -> Result<Psk, HandshakeError> {
        if bytes == [0; 32] {
            return Err(HandshakeError::WeakKey);
        }
        Ok(Psk(bytes))
    }
}

impl core::fmt::Debug for Psk {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Psk(..)")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandshakeError {
    /// The all-zero key was offered.
    WeakKey,
    /// The peer's first bytes are not the dyad interlink.
    NotInterlink,
    /// The peer speaks another handshake version.
    UnsupportedVersion { ours: u16, theirs: u16 },
    /// The peer does not hold our interlink key (or a handshake message was altered).
    AuthenticationFailed,
    /// A handshake message of the wrong size or a Hello that does not decode.
    Malformed,
    /// A frame that this step of the handshake does not expect.
    UnexpectedFrame,
    /// We refuse the peer, and told it why.
    Refused(PeerRefused),
    /// The peer refused us, and said why.
    RefusedByPeer(PeerRefused),
    /// The third message's sealed frame failed a check.
    Channel(ChannelError),
    /// The local Noise implementation failed (randomness).
    Crypto,
}

impl core::fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            HandshakeError::WeakKey => write!(f, "the interlink key is not set (all zero)"),
            HandshakeError::NotInterlink => write!(f, "the peer does not speak the dyad interlink"),
            HandshakeError::UnsupportedVersion { ours, theirs } => {
                write!(
                    f,
                    "peer speaks interlink handshake {theirs}, this firmware {ours}"
                )
            }
            HandshakeError::AuthenticationFailed => {
                write!(
                    f,
                    "interlink authentication failed: the peer has another key"
                )
            }
            HandshakeError::Malformed => write!(f, "malformed interlink handshake"),
            HandshakeError::UnexpectedFrame => write!(f, "unexpected interlink handshake frame"),
            HandshakeError::Refused(r) => write!(f, "peer refused: {r}"),
            HandshakeError::RefusedByPeer(r) => write!(f, "the peer refused this controller: {r}"),
            HandshakeError::Channel(e) => write!(f, "{e}"),
            HandshakeError::Crypto => write!(f, "interlink cryptography failed locally"),
        }
    }
}

/// Why a sealed frame was refused; the link drops on each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelError {
    /// A handshake frame on an established link.
    NotSealed,
    /// A frame shorter than its sequence number and tag.
    Truncated,
    /// The sequence number was already seen.
    Replayed {
        expected: u64,
        got: u64,
    },
    /// The sequence number skips ahead: a frame was reordered or lost.
    OutOfOrder {
        expected: u64,
        got: u64,
    },
    /// The tag does not verify: altered in flight, or sealed with other keys.
    Altered,
    /// The frame belongs to another link epoch.
    StaleEpoch {
        expected: u64,
        got: u64,
    },
    UnknownChannel(u8),
    /// The plaintext does not decode as a message or data chunk.
    Malformed,
    /// A message or chunk larger than a sealed frame holds.
    TooLarge,
    /// 2^64 - 1 frames sent: the link must be renewed.
    SequenceExhausted,
    /// The channel already failed.
    Closed,
}

impl core::fmt::Display for ChannelError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ChannelError::NotSealed => write!(f, "unsealed frame on an established interlink"),
            ChannelError::Truncated => write!(f, "truncated sealed interlink frame"),
            ChannelError::Replayed { expected, got } => {
                write!(f, "replayed interlink frame {got} (expected {expected})")
            }
            ChannelError::OutOfOrder { expected, got } => {
                write!(
                    f,
                    "interlink frame {got} out of order (expected {expected})"
                )
            }
            ChannelError::Altered => write!(f, "interlink frame altered (authentication tag)"),
            ChannelError::StaleEpoch { expected, got } => {
                write!(f, "interlink frame of epoch {got} on epoch {expected}")
            }
            ChannelError::UnknownChannel(c) => write!(f, "interlink frame on unknown channel {c}"),
            ChannelError::Malformed => write!(f, "malformed interlink message"),
            ChannelError::TooLarge => write!(f, "interlink message too large for a frame"),
            ChannelError::SequenceExhausted => write!(f, "interlink sequence numbers exhausted"),
            ChannelError::Closed => write!(f, "interlink channel already failed"),
        }
    }
}

/// A handshake that failed: write `send` (if any) to the peer, then drop the connection.
#[derive(Debug)]
pub struct Failure {
    pub error: HandshakeError,
    pub send: Option<Vec<u8>>,
}

impl From<HandshakeError> for Failure {
    fn from(error: HandshakeError) -> Failure {
        Failure { error, send: None }
    }
}

/// The link is up.
pub struct Established {
    pub peer: Hello,
    /// One more than both sides' last epochs.
    pub epoch: u64,
    pub channel: SecureChannel,
    /// Bytes to write to the peer now (empty on the responder).
    pub send: Vec<u8>,
}

impl core::fmt::Debug for Established {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Established")
            .field("peer", &self.peer)
            .field("epoch", &self.epoch)
            .finish_non_exhaustive()
    }
}

#[derive(Debug)]
pub enum Step {
    /// Write these bytes and wait for the next frame.
    Send(Vec<u8>),
    Established(Box<Established>),
}

enum State {
    /// Initiator: message 1 sent.
    AwaitResponse(Box<snow::HandshakeState>),
    /// Responder: nothing received yet.
    AwaitInitiation(Box<snow::HandshakeState>),
    /// Responder: message 2 sent; the first sealed frame carries the initiator's Hello.
    AwaitConfirmation(Box<SecureChannel>),
    Done,
}

/// One side of the handshake, sans I/O: feed it the frames the decoder yields.
pub struct Handshake {
    hello: Hello,
    state: State,
}

fn prologue() -> [u8; 20] {
    let mut p = [0u8; 20];
    p[..14].copy_from_slice(b"dyad interlink");
    p[14..18].copy_from_slice(&MAGIC);
    p[18..].copy_from_slice(&HANDSHAKE_VERSION.to_be_bytes());
    p
}

fn builder_state(psk: &Psk, initiator: bool) -> Result<snow::HandshakeState, HandshakeError> {
    let params: snow::params::NoiseParams =
        NOISE_PARAMS.parse().map_err(|_| HandshakeError::Crypto)?;
    let prologue = prologue();
    let builder = snow::Builder::new(params)
        .prologue(&prologue)
        .and_then(|b| b.psk(0, &psk.0))
        .map_err(|_| HandshakeError::Crypto)?;
    if initiator {
        builder.build_initiator()
    } else {
        builder.build_responder()
    }
    .map_err(|_| HandshakeError::Crypto)
}

fn handshake_frame(noise: &[u8]) -> Vec<u8> {
    let mut body = Vec::with_capacity(HS_HEADER + noise.len());
    body.extend_from_slice(&MAGIC);
    body.extend_from_slice(&HANDSHAKE_VERSION.to_be_bytes());
    body.extend_from_slice(noise);
    let mut out = Vec::new();
    encode_frame(FrameKind::Handshake, &body, &mut out);
    out
}

/// Checks a handshake frame's kind, magic and version; returns the Noise bytes.
fn handshake_body<'a>(frame: &Frame<'a>) -> Result<&'a [u8], HandshakeError> {
    if frame.kind != FrameKind::Handshake {
        return Err(HandshakeError::UnexpectedFrame);
    }
    let body = frame.body;
    if body.len() < MAGIC.len() || body[..MAGIC.len()] != MAGIC {
        return Err(HandshakeError::NotInterlink);
    }
    if body.len() < HS_HEADER {
        return Err(HandshakeError::Malformed);
    }
    let theirs = u16::from_be_bytes([body[4], body[5]]);
    if theirs != HANDSHAKE_VERSION {
        return Err(HandshakeError::UnsupportedVersion {
            ours: HANDSHAKE_VERSION,
            theirs,
        });
    }
    Ok(&body[HS_HEADER..])
}

fn link_epoch(a: &Hello, b: &Hello) -> u64 {
    a.epoch.max(b.epoch).saturating_add(1)
}

impl Handshake {
    /// The connecting side; returns the first frame to write.
    pub fn initiator(psk: &Psk, hello: Hello) -> Result<(Handshake, Vec<u8>), HandshakeError> {
        let mut noise = builder_state(psk, true)?;
        let mut buf = [0u8; 128];
        let n = noise
            .write_message(&[], &mut buf)
            .map_err(|_| HandshakeError::Crypto)?;
        let first = handshake_frame(&buf[..n]);
        Ok((
            Handshake {
                hello,
                state: State::AwaitResponse(Box::new(noise)),
            },
            first,
        ))
    }

    /// The listening side; it waits for the initiator's first frame.
    pub fn responder(psk: &Psk, hello: Hello) -> Result<Handshake, HandshakeError> {
        Ok(Handshake {
            hello,
            state: State::AwaitInitiation(Box::new(builder_state(psk, false)?)),
        })
    }

    /// Whether the handshake ended (established or failed).
    pub fn is_done(&self) -> bool {
        matches!(self.state, State::Done)
    }

    /// Advances on one received frame. After an error or `Established` the handshake is
    /// done and refuses further frames.
    pub fn on_frame(&mut self, frame: Frame<'_>) -> Result<Step, Failure> {
        match core::mem::replace(&mut self.state, State::Done) {
            State::AwaitInitiation(noise) => self.on_initiation(*noise, frame),
            State::AwaitResponse(noise) => self.on_response(*noise, frame),
            State::AwaitConfirmation(channel) => self.on_confirmation(*channel, frame),
            State::Done => Err(HandshakeError::UnexpectedFrame.into()),
        }
    }

    fn on_initiation(
        &mut self,
        mut noise: snow::HandshakeState,
        frame: Frame<'_>,
    ) -> Result<Step, Failure> {
        let msg = match handshake_body(&frame) {
            Ok(msg) => msg,
            Err(error @ HandshakeError::UnsupportedVersion { .. }) => {
                // Say which version we speak: the bare header.
                return Err(Failure {
                    error,
                    send: Some(handshake_frame(&[])),
                });
            }
            Err(e) => return Err(e.into()),
        };
        let mut payload = [0u8; 64];
        let n = noise
            .read_message(msg, &mut payload)
            .map_err(|_| HandshakeError::AuthenticationFailed)?;
        if n != 0 {
            return Err(HandshakeError::Malformed.into());
        }
        let hello = self.hello.encode();
        let mut buf = [0u8; 1024];
        let n = noise
            .write_message(&hello, &mut buf)
            .map_err(|_| HandshakeError::Crypto)?;
        let reply = handshake_frame(&buf[..n]);
        let transport = noise
            .into_stateless_transport_mode()
            .map_err(|_| HandshakeError::Crypto)?;
        self.state = State::AwaitConfirmation(Box::new(SecureChannel::new(transport, 0)));
        Ok(Step::Send(reply))
    }

    fn on_response(
        &mut self,
        mut noise: snow::HandshakeState,
        frame: Frame<'_>,
    ) -> Result<Step, Failure> {
        let msg = handshake_body(&frame)?;
        let mut payload = [0u8; 1024];
        let n = noise
            .read_message(msg, &mut payload)
            .map_err(|_| HandshakeError::AuthenticationFailed)?;
        let peer = Hello::decode(&payload[..n]).map_err(|_| HandshakeError::Malformed)?;
        let transport = noise
            .into_stateless_transport_mode()
            .map_err(|_| HandshakeError::Crypto)?;
        let epoch = link_epoch(&self.hello, &peer);
        let mut channel = SecureChannel::new(transport, epoch);
        let mut send = Vec::new();
        if let Err(reason) = check_peer(&self.hello, &peer) {
            let send = channel
                .seal(&Message::Refused(reason), &mut send)
                .ok()
                .map(|()| send);
            return Err(Failure {
                error: HandshakeError::Refused(reason),
                send,
            });
        }
        channel
            .seal(&Message::Hello(self.hello.clone()), &mut send)
            .map_err(HandshakeError::Channel)?;
        Ok(Step::Established(Box::new(Established {
            peer,
            epoch,
            channel,
            send,
        })))
    }

    fn on_confirmation(
        &mut self,
        mut channel: SecureChannel,
        frame: Frame<'_>,
    ) -> Result<Step, Failure> {
        let (epoch, peer) = match channel.open_checked(frame, None) {
            Ok((epoch, Incoming::Message(Message::Hello(peer)))) => (epoch, peer),
            Ok((_, Incoming::Message(Message::Refused(r)))) => {
                return Err(HandshakeError::RefusedByPeer(r).into())
            }
            Ok(_) => return Err(HandshakeError::UnexpectedFrame.into()),
            Err(ChannelError::Altered) => return Err(HandshakeError::AuthenticationFailed.into()),
            Err(e) => return Err(HandshakeError::Channel(e).into()),
        };
        let expected = link_epoch(&self.hello, &peer);
        if epoch != expected {
            return Err(HandshakeError::Channel(ChannelError::StaleEpoch {
                expected,
                got: epoch,
            })
            .into());
        }
        channel.epoch = expected;
        if let Err(reason) = check_peer(&self.hello, &peer) {
            let mut send = Vec::new();
            let send = channel
                .seal(&Message::Refused(reason), &mut send)
                .ok()
                .map(|()| send);
            return Err(Failure {
                error: HandshakeError::Refused(reason),
                send,
            });
        }
        Ok(Step::Established(Box::new(Established {
            peer,
            epoch: expected,
            channel,
            send: Vec::new(),
        })))
    }
}

/// What an established link received.
// A Message is ~300 bytes (bounded CDB and sense inline); boxing would allocate per message.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, PartialEq, Eq)]
pub enum Incoming<'a> {
    Message(Message),
    /// A data chunk; `payload` borrows the channel's decryption buffer (no further copy).
    Data {
        header: DataHeader,
        payload: &'a [u8],
    },
}

/// The sealed, sequenced channel of an established link.
pub struct SecureChannel {
    transport: snow::StatelessTransportState,
    epoch: u64,
    send_seq: u64,
    recv_seq: u64,
    plain: Vec<u8>,
    failed: bool,
}

impl SecureChannel {
    fn new(transport: snow::StatelessTransportState, epoch: u64) -> Self {
        SecureChannel {
            transport,
            epoch,
            send_seq: 0,
            recv_seq: 0,
            plain: Vec::new(),
            failed: false,
        }
    }

    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Whether an error closed the channel.
    pub fn is_failed(&self) -> bool {
        self.failed
    }

    /// Appends one sealed frame carrying `msg` to `out`.
    pub fn seal(&mut self, msg: &Message, out: &mut Vec<u8>) -> Result<(), ChannelError> {
        self.start_plain(CHANNEL_CONTROL);
        let plain = core::mem::take(&mut self.plain);
        self.plain = postcard::to_extend(msg, plain).map_err(|_| ChannelError::Malformed)?;
        self.seal_plain(out)
    }

    /// Appends one sealed data-channel frame: `header` then `payload` (whose length must be
    /// `header.len`, at most [`MAX_DATA_CHUNK`]).
    pub fn seal_data(
        &mut self,
        header: &DataHeader,
        payload: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), ChannelError> {
        if payload.len() != header.len as usize {
            return Err(ChannelError::Malformed);
        }
        if payload.len() > MAX_DATA_CHUNK {
            return Err(ChannelError::TooLarge);
        }
        self.start_plain(CHANNEL_DATA);
        let plain = core::mem::take(&mut self.plain);
        self.plain = postcard::to_extend(header, plain).map_err(|_| ChannelError::Malformed)?;
        self.plain.extend_from_slice(payload);
        self.seal_plain(out)
    }

    fn start_plain(&mut self, channel: u8) {
        self.plain.clear();
        self.plain.push(channel);
        self.plain.extend_from_slice(&self.epoch.to_be_bytes());
    }

    fn seal_plain(&mut self, out: &mut Vec<u8>) -> Result<(), ChannelError> {
        if self.failed {
            return Err(ChannelError::Closed);
        }
        if self.plain.len() > MAX_PLAINTEXT {
            return Err(ChannelError::TooLarge);
        }
        if self.send_seq == u64::MAX {
            return Err(ChannelError::SequenceExhausted);
        }
        let sealed = self.plain.len() + TAG_LEN;
        let start = out.len();
        out.reserve(crate::frame::HEADER_LEN + SEQ_LEN + sealed);
        out.extend_from_slice(&((SEQ_LEN + sealed) as u32).to_be_bytes());
        out.push(FrameKind::Sealed as u8);
        out.extend_from_slice(&self.send_seq.to_be_bytes());
        let at = out.len();
        out.resize(at + sealed, 0);
        match self
            .transport
            .write_message(self.send_seq, &self.plain, &mut out[at..])
        {
            Ok(n) if n == sealed => {
                self.send_seq += 1;
                Ok(())
            }
            _ => {
                out.truncate(start);
                Err(ChannelError::TooLarge)
            }
        }
    }

    /// Checks, decrypts and decodes one received frame. Any error closes the channel.
    pub fn open<'a>(&'a mut self, frame: Frame<'_>) -> Result<Incoming<'a>, ChannelError> {
        let expected = self.epoch;
        self.open_checked(frame, Some(expected))
            .map(|(_, incoming)| incoming)
    }

    /// Opens a frame; its epoch must be `expect` if given.
    fn open_checked<'a>(
        &'a mut self,
        frame: Frame<'_>,
        expect: Option<u64>,
    ) -> Result<(u64, Incoming<'a>), ChannelError> {
        if self.failed {
            return Err(ChannelError::Closed);
        }
        self.failed = true; // until every check passed
        if frame.kind != FrameKind::Sealed {
            return Err(ChannelError::NotSealed);
        }
        let body = frame.body;
        if body.len() < SEQ_LEN + TAG_LEN + INNER_HEADER {
            return Err(ChannelError::Truncated);
        }
        let mut seq = [0u8; SEQ_LEN];
        seq.copy_from_slice(&body[..SEQ_LEN]);
        let got = u64::from_be_bytes(seq);
        let expected = self.recv_seq;
        if got < expected {
            return Err(ChannelError::Replayed { expected, got });
        }
        if got > expected {
            return Err(ChannelError::OutOfOrder { expected, got });
        }
        let cipher = &body[SEQ_LEN..];
        self.plain.clear();
        self.plain.resize(cipher.len(), 0);
        let n = self
            .transport
            .read_message(got, cipher, &mut self.plain)
            .map_err(|_| ChannelError::Altered)?;
        self.recv_seq += 1;
        let plain = &self.plain[..n];
        if plain.len() < INNER_HEADER {
            return Err(ChannelError::Malformed);
        }
        let mut epoch = [0u8; 8];
        epoch.copy_from_slice(&plain[1..INNER_HEADER]);
        let epoch = u64::from_be_bytes(epoch);
        if let Some(expected) = expect.filter(|e| *e != epoch) {
            return Err(ChannelError::StaleEpoch {
                expected,
                got: epoch,
            });
        }
        let rest = &plain[INNER_HEADER..];
        let incoming = match plain[0] {
            CHANNEL_CONTROL => {
                Incoming::Message(Message::decode(rest).map_err(|_| ChannelError::Malformed)?)
            }
            CHANNEL_DATA => {
                let (header, payload): (DataHeader, &[u8]) =
                    postcard::take_from_bytes(rest).map_err(|_| ChannelError::Malformed)?;
                if payload.len() != header.len as usize || payload.len() > MAX_DATA_CHUNK {
                    return Err(ChannelError::Malformed);
                }
                Incoming::Data { header, payload }
            }
            other => return Err(ChannelError::UnknownChannel(other)),
        };
        self.failed = false;
        Ok((epoch, incoming))
    }
}
