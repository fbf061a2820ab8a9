//! The boot state as stored: two copies, each in its own 4 KiB block, each with a sequence
//! number and a CRC. A write goes to the older copy and is synced; a torn write leaves that
//! copy with a bad CRC and the reader falls back to the other, one step older.
//!
//! Block layout (little-endian): magic `DYADBOOT` (8), format 1 (u32), body length L
//! (u32), sequence (u64), postcard body (L bytes), CRC-32C of everything before it (u32).
//! The rest of the block is zero.

use alloc::vec::Vec;
use core::fmt;

use super::BootState;

/// Bytes per copy; the two copies sit at offsets 0 and `BLOCK` of the state area.
pub const BLOCK: usize = 4096;
/// The first eight bytes of a record.
pub const RECORD_MAGIC: [u8; 8] = *b"DYADBOOT";
const FORMAT: u32 = 1;
const HEAD: usize = 24;
const CRC: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISCSI);

/// Why the state could not be stored or read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordError {
    /// Neither copy is intact, yet the area is not blank.
    Unreadable,
    /// The encoded state does not fit a block (the reasons it keeps are bounded, so this
    /// would be a bug).
    TooLarge {
        /// Encoded length.
        len: usize,
    },
}

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecordError::Unreadable => write!(
                f,
                "boot state unreadable: neither copy of the state record is intact"
            ),
            RecordError::TooLarge { len } => write!(
                f,
                "boot state too large: {len} bytes do not fit a {BLOCK}-byte record"
            ),
        }
    }
}

impl core::error::Error for RecordError {}

/// `state` as one block with sequence number `sequence`.
pub fn encode(state: &BootState, sequence: u64) -> Result<Vec<u8>, RecordError> {
    let body = postcard::to_allocvec(state).map_err(|_| RecordError::TooLarge { len: BLOCK })?;
    let len = HEAD + body.len() + 4;
    if len > BLOCK {
        return Err(RecordError::TooLarge { len });
    }
    let mut block = Vec::with_capacity(BLOCK);
    block.extend_from_slice(&RECORD_MAGIC);
    block.extend_from_slice(&FORMAT.to_le_bytes());
    block.extend_from_slice(&(body.len() as u32).to_le_bytes());
    block.extend_from_slice(&sequence.to_le_bytes());
    block.extend_from_slice(&body);
    let crc = CRC.checksum(&block);
    block.extend_from_slice(&crc.to_le_bytes());
    block.resize(BLOCK, 0);
    Ok(block)
}

/// The sequence number and state of one block, if it is an intact record.
pub fn decode(block: &[u8]) -> Option<(u64, BootState)> {
    let head = block.get(..HEAD)?;
    if head[..8] != RECORD_MAGIC || head[8..12] != FORMAT.to_le_bytes() {
        return None;
    }
    let len = u32::from_le_bytes(head[12..16].try_into().ok()?) as usize;
    let sequence = u64::from_le_bytes(head[16..24].try_into().ok()?);
    let end = HEAD.checked_add(len)?;
    let body = block.get(HEAD..end)?;
    let stored = u32::from_le_bytes(block.get(end..end + 4)?.try_into().ok()?);
    if CRC.checksum(&block[..end]) != stored {
        return None;
    }
    let state = postcard::from_bytes(body).ok()?;
    Some((sequence, state))
}

/// The newer intact copy of two blocks. Both blank (all zero, as a fresh sparse file, or
/// all 0xff, as erased flash): a blank board at sequence 0. Otherwise at least one copy
/// must be intact.
pub fn pick(first: &[u8], second: &[u8]) -> Result<(u64, BootState), RecordError> {
    match (decode(first), decode(second)) {
        (Some(a), Some(b)) => Ok(if b.0 > a.0 { b } else { a }),
        (Some(one), None) | (None, Some(one)) => Ok(one),
        (None, None) if blank(first) && blank(second) => Ok((0, BootState::default())),
        (None, None) => Err(RecordError::Unreadable),
    }
}

fn blank(block: &[u8]) -> bool {
    block.iter().all(|b| *b == 0) || block.iter().all(|b| *b == 0xff)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::boot::{Slot, SlotStatus};
    use alloc::string::ToString;

    fn state(counter: u32) -> BootState {
        let mut state = BootState {
            security_counter: counter,
            ..BootState::default()
        };
        state.slot_mut(Slot::B).status = SlotStatus::Rejected("reverted".to_string());
        state.booted = Some(Slot::A);
        state
    }

    #[test]
    fn round_trip() {
        let block = encode(&state(3), 7).unwrap();
        assert_eq!(block.len(), BLOCK);
        assert_eq!(decode(&block), Some((7, state(3))));
    }

    #[test]
    fn newer_copy_wins() {
        let old = encode(&state(1), 4).unwrap();
        let new = encode(&state(2), 5).unwrap();
        assert_eq!(pick(&old, &new), Ok((5, state(2))));
        assert_eq!(pick(&new, &old), Ok((5, state(2))));
    }

    #[test]
    fn torn_write_falls_back_to_the_older_copy() {
        let old = encode(&state(1), 4).unwrap();
        let mut torn = encode(&state(2), 5).unwrap();
        // Only the first half of the new record reached the flash.
        torn[30..].fill(0);
        assert_eq!(decode(&torn), None);
        assert_eq!(pick(&old, &torn), Ok((4, state(1))));
        let mut flipped = encode(&state(2), 5).unwrap();
        flipped[HEAD] ^= 0x10;
        assert_eq!(pick(&flipped, &old), Ok((4, state(1))));
    }

    #[test]
    fn blank_area_is_a_blank_board() {
        let zero = [0u8; BLOCK];
        let erased = [0xffu8; BLOCK];
        assert_eq!(pick(&zero, &erased), Ok((0, BootState::default())));
    }

    #[test]
    fn refuses_two_damaged_copies() {
        let mut a = encode(&state(1), 4).unwrap();
        a[0] = b'X';
        let mut b = encode(&state(1), 5).unwrap();
        b[9] = 9;
        assert_eq!(pick(&a, &b), Err(RecordError::Unreadable));
        // A length running past the block.
        let mut c = encode(&state(1), 6).unwrap();
        c[12..16].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(decode(&c), None);
    }
}
