//! What every block command shares: range and length checks that cannot overflow, the byte
//! offsets they map to, medium errors as sense, and chunked reads, compares and writes through
//! pooled buffers.

use super::Ctx;
use crate::backend::{BackendErrorKind, BlockBackend};
use crate::lun::Lun;
use crate::sense::{asc, Sense, SenseKey};
use crate::status::CommandResult;
use alloc::vec::Vec;

/// Bytes one medium read of a verify, compare or fill moves: bounds the memory a command holds
/// besides its data-out. A multiple of every logical block size.
pub(super) const CHUNK_BYTES: u64 = 1 << 20;

/// Data-out shorter than the part a command cannot do without (the WRITE SAME block, the
/// compare half of COMPARE AND WRITE, a WRITE ATOMIC): the transfer itself was wrong.
pub(super) const SHORT_DATA_OUT: Sense = asc::INVALID_FIELD_IN_COMMAND_IU;

/// MISCOMPARE DURING VERIFY OPERATION (1Dh/00h); INFORMATION is the offset into the data-out
/// buffer of the first byte that differs.
pub(super) fn miscompare(offset: u64) -> Sense {
    Sense::new(SenseKey::Miscompare, 0x1D, 0x00).with_information(offset)
}

/// The end of `[lba, lba + blocks)`; LBA OUT OF RANGE past the end of the LUN and when the sum
/// does not fit in 64 bits.
pub(super) fn block_range<B: BlockBackend>(
    lun: &Lun<B>,
    lba: u64,
    blocks: u64,
) -> Result<u64, Sense> {
    lba.checked_add(blocks)
        .filter(|&end| end <= lun.blocks())
        .ok_or(asc::LBA_OUT_OF_RANGE)
}

/// `blocks` in bytes; INVALID FIELD IN CDB at `length_byte` beyond `limit` bytes.
pub(super) fn transfer_bytes<B: BlockBackend>(
    lun: &Lun<B>,
    blocks: u64,
    limit: u64,
    length_byte: u16,
) -> Result<u64, Sense> {
    blocks
        .checked_mul(u64::from(lun.block_size()))
        .filter(|&bytes| bytes <= limit)
        .ok_or(Sense::invalid_field_in_cdb(length_byte, None))
}

/// Byte offset of block `lba`, which [`block_range`] has accepted.
pub(super) fn byte_offset<B: BlockBackend>(lun: &Lun<B>, lba: u64) -> Result<u64, Sense> {
    lba.checked_mul(u64::from(lun.block_size()))
        .ok_or(asc::LBA_OUT_OF_RANGE)
}

/// A length the budget and the transport count in 32 bits; every caller has bounded it far
/// below that already.
pub(super) fn plan_len(bytes: u64) -> u32 {
    u32::try_from(bytes).unwrap_or(u32::MAX)
}

/// What a failed backend operation at block `lba` tells the initiator.
pub(super) fn medium_error(kind: BackendErrorKind, lba: u64, write: bool) -> Sense {
    match kind {
        BackendErrorKind::NoMedium => asc::MEDIUM_NOT_PRESENT,
        // SPACE ALLOCATION FAILED WRITE PROTECT: a thin LUN ran out of backing store.
        BackendErrorKind::NoSpace => Sense::new(SenseKey::DataProtect, 0x27, 0x07),
        BackendErrorKind::Unavailable => asc::INTERNAL_TARGET_FAILURE,
        _ if write => asc::WRITE_ERROR.with_information(lba),
        _ => asc::UNRECOVERED_READ_ERROR.with_information(lba),
    }
}

/// The logical block size as a length. Never zero, so that no malformed geometry can make a
/// division or a chunking of buffers panic.
pub(super) fn block_len<B: BlockBackend>(lun: &Lun<B>) -> usize {
    (lun.block_size() as usize).max(1)
}

fn lba_of<B: BlockBackend>(lun: &Lun<B>, offset: u64) -> u64 {
    offset / block_len(lun) as u64
}

/// Reads `len` bytes (whole blocks) at byte `offset` into a pooled buffer.
pub(super) async fn read_medium<B: BlockBackend>(
    ctx: &Ctx<'_, B>,
    lun: &Lun<B>,
    offset: u64,
    len: usize,
) -> Result<Vec<u8>, Sense> {
    let buf = ctx.device.buffers.take(len);
    let (buf, r) = lun.backend.read(offset, buf).await;
    match r {
        Ok(()) => Ok(buf),
        Err(e) => {
            ctx.device.buffers.give(buf);
            Err(medium_error(e.kind, lba_of(lun, offset), false))
        }
    }
}

/// Reads `len` bytes at `offset` chunk by chunk and drops them: a medium verification.
pub(super) async fn read_through<B: BlockBackend>(
    ctx: &Ctx<'_, B>,
    lun: &Lun<B>,
    offset: u64,
    len: u64,
) -> Result<(), Sense> {
    let mut done = 0u64;
    while done < len {
        let n = (len - done).min(CHUNK_BYTES);
        let buf = read_medium(ctx, lun, offset + done, n as usize).await?;
        ctx.device.buffers.give(buf);
        done += n;
    }
    Ok(())
}

/// Compares the medium from `offset` with `expected` (which may end inside a block); a
/// difference is MISCOMPARE with its offset into `expected`.
pub(super) async fn compare_medium<B: BlockBackend>(
    ctx: &Ctx<'_, B>,
    lun: &Lun<B>,
    offset: u64,
    expected: &[u8],
) -> Result<(), Sense> {
    let bs = block_len(lun);
    for (i, want) in expected.chunks(CHUNK_BYTES as usize).enumerate() {
        let at = i * CHUNK_BYTES as usize;
        // Whole blocks for the backend: the last chunk may end inside one.
        let len = want.len().div_ceil(bs) * bs;
        let got = read_medium(ctx, lun, offset + at as u64, len).await?;
        let differs = first_difference(&got, want);
        ctx.device.buffers.give(got);
        if let Some(d) = differs {
            return Err(miscompare((at + d) as u64));
        }
    }
    Ok(())
}

/// Compares every block of `len` bytes from `offset` with `pattern` (one block), as if the
/// data-out held `pattern` once per block.
pub(super) async fn compare_replicated<B: BlockBackend>(
    ctx: &Ctx<'_, B>,
    lun: &Lun<B>,
    offset: u64,
    len: u64,
    pattern: &[u8],
) -> Result<(), Sense> {
    let mut done = 0u64;
    while done < len {
        let n = (len - done).min(CHUNK_BYTES);
        let got = read_medium(ctx, lun, offset + done, n as usize).await?;
        let differs = got
            .chunks(pattern.len())
            .enumerate()
            .find_map(|(b, block)| first_difference(block, pattern).map(|d| b * pattern.len() + d));
        ctx.device.buffers.give(got);
        if let Some(d) = differs {
            return Err(miscompare(done + d as u64));
        }
        done += n;
    }
    Ok(())
}

pub(super) fn first_difference(a: &[u8], b: &[u8]) -> Option<usize> {
    a.iter().zip(b).position(|(x, y)| x != y)
}

/// Writes `data` at byte `offset`, completing a trailing partial block with what the medium
/// holds (the initiator sent less than the CDB asked for). Returns the buffer and the bytes
/// written.
pub(super) async fn write_blocks<B: BlockBackend>(
    ctx: &Ctx<'_, B>,
    lun: &Lun<B>,
    offset: u64,
    mut data: Vec<u8>,
    fua: bool,
) -> (Vec<u8>, Result<u64, Sense>) {
    let bs = block_len(lun);
    let tail = data.len() % bs;
    if tail != 0 {
        let block_start = offset + (data.len() - tail) as u64;
        match read_medium(ctx, lun, block_start, bs).await {
            Ok(old) => {
                data.extend_from_slice(old.get(tail..).unwrap_or(&[]));
                ctx.device.buffers.give(old);
            }
            Err(sense) => return (data, Err(sense)),
        }
    }
    let len = data.len() as u64;
    let (data, r) = lun.backend.write(offset, data, fua).await;
    let r = r
        .map(|()| len)
        .map_err(|e| medium_error(e.kind, lba_of(lun, offset), true));
    (data, r)
}

/// The LUN and the decoded CDB a block command runs with, and its data-out back. When there
/// is no LUN or the CDB does not check out, the data-out goes back to the pool and the CHECK
/// CONDITION to return comes out instead.
pub(super) fn decoded<'c, B: BlockBackend, T>(
    ctx: &Ctx<'c, B>,
    data_out: Vec<u8>,
    check: impl FnOnce(&Lun<B>) -> Result<T, Sense>,
) -> Result<(&'c Lun<B>, T, Vec<u8>), CommandResult> {
    let Some(lun) = ctx.lun else {
        ctx.device.buffers.give(data_out);
        return Err(ctx.fail(&asc::LOGICAL_UNIT_NOT_SUPPORTED));
    };
    match check(lun) {
        Ok(t) => Ok((lun, t, data_out)),
        Err(sense) => {
            ctx.device.buffers.give(data_out);
            Err(ctx.fail(&sense))
        }
    }
}
