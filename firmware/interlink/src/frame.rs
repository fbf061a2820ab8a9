//! Length-delimited frames over a byte stream.
//!
//! Wire layout: `[length: u32 big-endian][kind: u8][body: length bytes]`. The length counts
//! the body only, is never zero and never above the decoder's bound, so a decoder never holds
//! more than `max_body` bytes whatever the peer claims. Kinds: [`FrameKind::Handshake`]
//! (Noise handshake messages, before the link is up) and [`FrameKind::Sealed`] (AEAD-sealed
//! frames of an established [`crate::SecureChannel`]; control and data channels are told
//! apart inside the sealed plaintext, so the channel is authenticated too).

use alloc::vec::Vec;

/// Bytes before a frame's body.
pub const HEADER_LEN: usize = 5;
/// The largest body any frame can have: a sealed frame's 8-byte sequence number plus a
/// Noise transport message (at most 65535 bytes, Noise's own limit).
pub const MAX_BODY: usize = 8 + 65535;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum FrameKind {
    Handshake = 1,
    Sealed = 2,
}

impl FrameKind {
    fn from_byte(b: u8) -> Option<Self> {
        match b {
            1 => Some(FrameKind::Handshake),
            2 => Some(FrameKind::Sealed),
            _ => None,
        }
    }
}

/// One decoded frame, borrowing the decoder's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<'a> {
    pub kind: FrameKind,
    pub body: &'a [u8],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    /// A header announced an empty body.
    EmptyFrame,
    /// A header announced more than the decoder's bound.
    Oversize { length: u32, max: u32 },
    /// A header carried a kind byte that is no [`FrameKind`].
    UnknownKind(u8),
    /// The decoder already failed: the stream cannot be resynchronised, drop the link.
    Poisoned,
}

impl core::fmt::Display for FrameError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            FrameError::EmptyFrame => write!(f, "interlink frame with an empty body"),
            FrameError::Oversize { length, max } => {
                write!(f, "interlink frame of {length} bytes (at most {max})")
            }
            FrameError::UnknownKind(k) => write!(f, "interlink frame of unknown kind {k:#04x}"),
            FrameError::Poisoned => write!(f, "interlink stream already failed"),
        }
    }
}

/// Incremental decoder: bytes go in as they arrive, in any chunking; frames come out.
#[derive(Debug)]
pub struct FrameDecoder {
    max_body: usize,
    header: [u8; HEADER_LEN],
    header_len: usize,
    kind: FrameKind,
    body_len: usize,
    body: Vec<u8>,
    /// The last call returned a frame: its bytes are cleared before the next one.
    delivered: bool,
    poisoned: bool,
}

impl FrameDecoder {
    /// A decoder accepting bodies of 1..=`max_body` bytes (clamped to [`MAX_BODY`]).
    pub fn new(max_body: usize) -> Self {
        FrameDecoder {
            max_body: max_body.clamp(1, MAX_BODY),
            header: [0; HEADER_LEN],
            header_len: 0,
            kind: FrameKind::Handshake,
            body_len: 0,
            body: Vec::new(),
            delivered: false,
            poisoned: false,
        }
    }

    /// Whether bytes of an unfinished frame are held (a stream that ends now was truncated).
    pub fn is_mid_frame(&self) -> bool {
        !self.delivered && (self.header_len > 0)
    }

    /// Takes bytes from the front of `input` (advancing it) until one frame is complete and
    /// returns it, or returns `None` with `input` emptied. Call again with the rest of
    /// `input` until it is empty. Any error poisons the decoder.
    pub fn decode<'a>(&'a mut self, input: &mut &[u8]) -> Result<Option<Frame<'a>>, FrameError> {
        if self.poisoned {
            return Err(FrameError::Poisoned);
        }
        if self.delivered {
            self.delivered = false;
            self.header_len = 0;
            self.body.clear();
        }
        if self.header_len < HEADER_LEN {
            let take = (HEADER_LEN - self.header_len).min(input.len());
            self.header[self.header_len..self.header_len + take].copy_from_slice(&input[..take]);
            self.header_len += take;
            *input = &input[take..];
            if self.header_len < HEADER_LEN {
                return Ok(None);
            }
            let length = u32::from_be_bytes([
                self.header[0],
                self.header[1],
                self.header[2],
                self.header[3],
            ]);
            let checked = if length == 0 {
                Err(FrameError::EmptyFrame)
            } else if length as usize > self.max_body {
                Err(FrameError::Oversize {
                    length,
                    max: self.max_body as u32,
                })
            } else {
                FrameKind::from_byte(self.header[4]).ok_or(FrameError::UnknownKind(self.header[4]))
            };
            match checked {
                Ok(kind) => {
                    self.kind = kind;
                    self.body_len = length as usize;
                    self.body.reserve_exact(self.body_len);
                }
                Err(e) => {
                    self.poisoned = true;
                    return Err(e);
                }
            }
        }
        let take = (self.body_len - self.body.len()).min(input.len());
        self.body.extend_from_slice(&input[..take]);
        *input = &input[take..];
        if self.body.len() < self.body_len {
            return Ok(None);
        }
        self.delivered = true;
        Ok(Some(Frame {
            kind: self.kind,
            body: &self.body,
        }))
    }
}

/// Appends one frame (header and body) to `out`. `body` must be 1..=[`MAX_BODY`] bytes.
pub fn encode_frame(kind: FrameKind, body: &[u8], out: &mut Vec<u8>) {
    debug_assert!(!body.is_empty() && body.len() <= MAX_BODY);
    out.reserve(HEADER_LEN + body.len());
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.push(kind as u8);
    out.extend_from_slice(body);
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn frames(
        dec: &mut FrameDecoder,
        mut input: &[u8],
    ) -> Result<Vec<(FrameKind, Vec<u8>)>, FrameError> {
        let mut out = Vec::new();
        while !input.is_empty() {
            if let Some(f) = dec.decode(&mut input)? {
                out.push((f.kind, f.body.to_vec()));
            }
        }
        Ok(out)
    }

    #[test]
    fn round_trip_in_any_chunking() {
        let mut wire = Vec::new();
        encode_frame(FrameKind::Handshake, b"hello", &mut wire);
        encode_frame(FrameKind::Sealed, &[7u8; 300], &mut wire);
        let want = vec![
            (FrameKind::Handshake, b"hello".to_vec()),
            (FrameKind::Sealed, vec![7u8; 300]),
        ];
        for chunk in [1, 2, 5, 7, 64, wire.len()] {
            let mut dec = FrameDecoder::new(1024);
            let mut got = Vec::new();
            for piece in wire.chunks(chunk) {
                got.extend(frames(&mut dec, piece).unwrap());
            }
            assert_eq!(got, want, "chunk {chunk}");
            assert!(!dec.is_mid_frame());
        }
    }

    #[test]
    fn truncated_frame_waits_and_reports_mid_frame() {
        let mut wire = Vec::new();
        encode_frame(FrameKind::Sealed, &[1u8; 10], &mut wire);
        let mut dec = FrameDecoder::new(1024);
        assert!(frames(&mut dec, &wire[..8]).unwrap().is_empty());
        assert!(dec.is_mid_frame());
    }

    #[test]
    fn empty_oversize_and_unknown_kind_are_refused_and_poison() {
        let mut dec = FrameDecoder::new(1024);
        assert_eq!(
            frames(&mut dec, &[0, 0, 0, 0, 1]),
            Err(FrameError::EmptyFrame)
        );
        assert_eq!(
            frames(&mut dec, &[0, 0, 0, 1, 1, 0]),
            Err(FrameError::Poisoned)
        );

        let mut dec = FrameDecoder::new(1024);
        assert_eq!(
            frames(&mut dec, &[0xff, 0xff, 0xff, 0xff, 2]),
            Err(FrameError::Oversize {
                length: u32::MAX,
                max: 1024
            })
        );
        let mut dec = FrameDecoder::new(1024);
        assert_eq!(
            frames(&mut dec, &[0, 0, 4, 1, 2]),
            Err(FrameError::Oversize {
                length: 1025,
                max: 1024
            })
        );
        let mut dec = FrameDecoder::new(1024);
        assert_eq!(
            frames(&mut dec, &[0, 0, 0, 1, 9, 0]),
            Err(FrameError::UnknownKind(9))
        );
    }

    #[test]
    fn bound_is_clamped_to_the_noise_limit() {
        let mut dec = FrameDecoder::new(usize::MAX);
        let len = (MAX_BODY as u32 + 1).to_be_bytes();
        assert_eq!(
            frames(&mut dec, &[len[0], len[1], len[2], len[3], 2]),
            Err(FrameError::Oversize {
                length: MAX_BODY as u32 + 1,
                max: MAX_BODY as u32
            })
        );
    }
}
