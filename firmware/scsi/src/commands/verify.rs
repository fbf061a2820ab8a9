//! VERIFY and WRITE AND VERIFY (10, 12, 16) (SBC-4 §5.33–5.35, §5.43–5.45), with BYTCHK 0, 1
//! and 3, and the helpers the other medium-comparing and medium-filling families (WRITE SAME,
//! UNMAP, COMPARE AND WRITE, ORWRITE, WRITE ATOMIC, PRE-FETCH) share: range and length checks,
//! chunked medium reads and compares, and the sense a failed backend operation maps to.

use super::read_write::MAX_TRANSFER_BYTES;
use super::{Ctx, Plan};
use crate::backend::{BackendErrorKind, BlockBackend};
use crate::cdb::{be16, be32, be64, byte};
use crate::lun::Lun;
use crate::sense::{asc, Sense, SenseKey};
use crate::status::CommandResult;
use crate::table::{AccessClass as A, CommandEntry as E, Flags as F, Kind};
use alloc::vec::Vec;

/// Every command here reads or writes at most MAXIMUM TRANSFER LENGTH blocks, which an
/// initiator expects to finish well within half a minute.
const TIMEOUTS: (u32, u32) = (30, 60);

pub(crate) const ENTRIES: &[E] = &[
    E::new(
        0x2E,
        "WRITE AND VERIFY(10)",
        Kind::WriteAndVerify10,
        F::DATA_OUT,
        A::Write,
        &[0x2E, 0x16, 0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0xFF, 0xFF, 0x07],
    )
    .timeouts(TIMEOUTS.0, TIMEOUTS.1),
    E::new(
        0x2F,
        "VERIFY(10)",
        Kind::Verify10,
        F::ALLOW_ON_PR_WRESV.union(F::DATA_OUT),
        A::Read,
        &[0x2F, 0x16, 0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0xFF, 0xFF, 0x07],
    )
    .timeouts(TIMEOUTS.0, TIMEOUTS.1),
    E::new(
        0x8E,
        "WRITE AND VERIFY(16)",
        Kind::WriteAndVerify16,
        F::DATA_OUT,
        A::Write,
        &[
            0x8E, 0x16, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
            0x00, 0x07,
        ],
    )
    .timeouts(TIMEOUTS.0, TIMEOUTS.1),
    E::new(
        0x8F,
        "VERIFY(16)",
        Kind::Verify16,
        F::ALLOW_ON_PR_WRESV.union(F::DATA_OUT),
        A::Read,
        &[
            0x8F, 0x16, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
            0x00, 0x07,
        ],
    )
    .timeouts(TIMEOUTS.0, TIMEOUTS.1),
    E::new(
        0xAE,
        "WRITE AND VERIFY(12)",
        Kind::WriteAndVerify12,
        F::DATA_OUT,
        A::Write,
        &[
            0xAE, 0x16, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x07,
        ],
    )
    .timeouts(TIMEOUTS.0, TIMEOUTS.1),
    E::new(
        0xAF,
        "VERIFY(12)",
        Kind::Verify12,
        F::ALLOW_ON_PR_WRESV.union(F::DATA_OUT),
        A::Read,
        &[
            0xAF, 0x16, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x07,
        ],
    )
    .timeouts(TIMEOUTS.0, TIMEOUTS.1),
];

/// BYTCHK: the data-out holds every block, compared byte by byte.
const BYTCHK_ALL: u8 = 0b01;
/// BYTCHK: the data-out holds one block, compared against every block (VERIFY only).
const BYTCHK_ONE: u8 = 0b11;

/// One validated VERIFY or WRITE AND VERIFY.
struct Verify {
    lba: u64,
    blocks: u64,
    /// The range in bytes on the medium.
    offset: u64,
    len: u64,
    bytchk: u8,
    write: bool,
}

fn check<B: BlockBackend>(kind: Kind, lun: &Lun<B>, cdb: &[u8]) -> Result<Verify, Sense> {
    let (lba, blocks, length_byte) = match kind {
        Kind::Verify10 | Kind::WriteAndVerify10 => {
            (u64::from(be32(cdb, 2)), u64::from(be16(cdb, 7)), 7)
        }
        Kind::Verify12 | Kind::WriteAndVerify12 => {
            (u64::from(be32(cdb, 2)), u64::from(be32(cdb, 6)), 6)
        }
        _ => (be64(cdb, 2), u64::from(be32(cdb, 10)), 10),
    };
    let write = matches!(
        kind,
        Kind::WriteAndVerify10 | Kind::WriteAndVerify12 | Kind::WriteAndVerify16
    );
    let bytchk = (byte(cdb, 1) >> 1) & 0b11;
    // 10b is reserved for both; WRITE AND VERIFY has no single-block form either.
    if bytchk == 0b10 || (write && bytchk == BYTCHK_ONE) {
        return Err(Sense::invalid_field_in_cdb(1, Some(2)));
    }
    block_range(lun, lba, blocks)?;
    let len = transfer_bytes(lun, blocks, MAX_TRANSFER_BYTES, length_byte)?;
    if write && lun.write_protected() {
        return Err(asc::WRITE_PROTECTED);
    }
    Ok(Verify {
        lba,
        blocks,
        offset: byte_offset(lun, lba)?,
        len,
        bytchk,
        write,
    })
}

pub(crate) fn precheck<B: BlockBackend>(
    kind: Kind,
    lun: Option<&Lun<B>>,
    cdb: &[u8],
) -> Result<Plan, Sense> {
    let lun = lun.ok_or(asc::LOGICAL_UNIT_NOT_SUPPORTED)?;
    let v = check(kind, lun, cdb)?;
    let data_out = match v.bytchk {
        _ if v.write => v.len,
        BYTCHK_ALL => v.len,
        BYTCHK_ONE if v.blocks > 0 => u64::from(lun.block_size()),
        _ => 0,
    };
    Ok(Plan {
        range: (v.lba, v.lba.saturating_add(v.blocks)),
        data_out_len: plan_len(data_out),
        data_in_len: plan_len(v.len.min(CHUNK_BYTES)),
        exact_data_out: false,
    })
}

pub(crate) async fn execute<B: BlockBackend>(
    ctx: &Ctx<'_, B>,
    kind: Kind,
    data_out: Vec<u8>,
) -> CommandResult {
    let Some(lun) = ctx.lun else {
        ctx.device.buffers.give(data_out);
        return ctx.fail(&asc::LOGICAL_UNIT_NOT_SUPPORTED);
    };
    let v = match check(kind, lun, ctx.cdb) {
        Ok(v) => v,
        Err(sense) => {
            ctx.device.buffers.give(data_out);
            return ctx.fail(&sense);
        }
    };
    let result = if v.write {
        write_and_verify(ctx, lun, &v, data_out).await
    } else {
        verify(ctx, lun, &v, data_out).await
    };
    match result {
        Ok(()) => CommandResult::good(Vec::new()),
        Err(sense) => ctx.fail(&sense),
    }
}

async fn verify<B: BlockBackend>(
    ctx: &Ctx<'_, B>,
    lun: &Lun<B>,
    v: &Verify,
    data: Vec<u8>,
) -> Result<(), Sense> {
    let result = match v.bytchk {
        // Less data-out than the CDB asked for (EDTL < SPDTL) is compared as far as it goes.
        BYTCHK_ALL => compare_medium(ctx, lun, v.offset, &data).await,
        BYTCHK_ONE if v.blocks > 0 => match data.get(..block_len(lun)) {
            Some(pattern) => compare_replicated(ctx, lun, v.offset, v.len, pattern).await,
            None => Err(SHORT_DATA_OUT),
        },
        _ => read_through(ctx, lun, v.offset, v.len).await,
    };
    ctx.device.buffers.give(data);
    result
}

async fn write_and_verify<B: BlockBackend>(
    ctx: &Ctx<'_, B>,
    lun: &Lun<B>,
    v: &Verify,
    mut data: Vec<u8>,
) -> Result<(), Sense> {
    // Only what arrived is written (FCP-4 §9.4.2 option a, as WRITE does).
    data.truncate(usize::try_from(v.len).unwrap_or(usize::MAX));
    if data.is_empty() {
        ctx.device.buffers.give(data);
        return Ok(());
    }
    let received = data.len();
    // The verification must see the medium, not a volatile cache: write through.
    let (data, written) = write_blocks(ctx, lun, v.offset, data, true).await;
    let result = match written {
        Ok(written) => {
            lun.stats.record_write(received as u64);
            if v.bytchk == BYTCHK_ALL {
                let sent = data.get(..received).unwrap_or(&data);
                compare_medium(ctx, lun, v.offset, sent).await
            } else {
                read_through(ctx, lun, v.offset, written).await
            }
        }
        Err(sense) => Err(sense),
    };
    ctx.device.buffers.give(data);
    result
}

// ---------------------------------------------------------------------------------------------
// Shared by the families of this group.

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
async fn compare_replicated<B: BlockBackend>(
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

#[cfg(test)]
pub(super) mod memory {
    //! A device whose LUN keeps what is written to it (the shared test backend drops writes),
    //! for the tests of this group of families.

    use super::super::test_support::{block_on, lun_config, port_config, PORT};
    use crate::backend::IoResult;
    use crate::backend::{BackendError, BackendErrorKind, BlockBackend, Extent, Geometry};
    use crate::device::{BackendOpener, CommandRequest, Completion, Submission, TargetDevice};
    use crate::lun::{Lun, LunConfig, StorageSpec};
    use crate::lun_address;
    use crate::mutation::Mutation;
    use crate::nexus::{InitiatorPort, NexusId};
    use crate::status::{CommandResult, ScsiStatus};
    use crate::task_set::TaskAttribute;
    use alloc::boxed::Box;
    use alloc::rc::Rc;
    use alloc::string::{String, ToString};
    use alloc::vec;
    use alloc::vec::Vec;
    use core::cell::{Cell, RefCell};

    /// Blocks of the test LUN.
    pub(crate) const BLOCKS: u64 = 8192;

    pub(crate) struct MemBackend {
        geometry: Geometry,
        data: RefCell<Vec<u8>>,
        /// Per block: whether it holds data (for extents).
        mapped: RefCell<Vec<bool>>,
        deallocates: bool,
        /// Set when any operation asked for bytes outside the medium.
        pub outside: Cell<bool>,
        pub writes: Cell<usize>,
        pub unmaps: Cell<usize>,
        /// Reads of this block fail.
        pub bad_block: Cell<Option<u64>>,
    }

    impl MemBackend {
        fn span(&self, offset: u64, len: usize) -> Option<core::ops::Range<usize>> {
            let start = usize::try_from(offset).ok()?;
            let end = start.checked_add(len)?;
            if end > self.data.borrow().len() {
                self.outside.set(true);
                return None;
            }
            Some(start..end)
        }

        fn blocks_of(&self, r: &core::ops::Range<usize>) -> core::ops::Range<usize> {
            let bs = self.geometry.block_size as usize;
            r.start / bs..r.end.div_ceil(bs)
        }

        pub fn bytes(&self, offset: usize, len: usize) -> Vec<u8> {
            self.data.borrow()[offset..offset + len].to_vec()
        }

        pub fn is_mapped(&self, block: usize) -> bool {
            self.mapped.borrow()[block]
        }
    }

    impl BlockBackend for MemBackend {
        fn geometry(&self) -> Geometry {
            self.geometry
        }

        async fn read(&self, offset: u64, mut buf: Vec<u8>) -> (Vec<u8>, IoResult) {
            let Some(r) = self.span(offset, buf.len()) else {
                return (buf, Err(BackendError::new(BackendErrorKind::Read)));
            };
            if let Some(bad) = self.bad_block.get() {
                if self.blocks_of(&r).contains(&(bad as usize)) {
                    return (buf, Err(BackendError::new(BackendErrorKind::Read)));
                }
            }
            buf.copy_from_slice(&self.data.borrow()[r]);
            (buf, Ok(()))
        }

        async fn write(&self, offset: u64, buf: Vec<u8>, _fua: bool) -> (Vec<u8>, IoResult) {
            let Some(r) = self.span(offset, buf.len()) else {
                return (buf, Err(BackendError::new(BackendErrorKind::Write)));
            };
            self.writes.set(self.writes.get() + 1);
            for b in self.blocks_of(&r) {
                self.mapped.borrow_mut()[b] = true;
            }
            self.data.borrow_mut()[r].copy_from_slice(&buf);
            (buf, Ok(()))
        }

        async fn flush(&self) -> IoResult {
            Ok(())
        }

        fn can_deallocate(&self) -> bool {
            self.deallocates
        }

        async fn unmap(&self, offset: u64, len: u64) -> IoResult {
            let Some(r) = self.span(offset, len as usize) else {
                return Err(BackendError::new(BackendErrorKind::Write));
            };
            self.unmaps.set(self.unmaps.get() + 1);
            for b in self.blocks_of(&r) {
                self.mapped.borrow_mut()[b] = false;
            }
            self.data.borrow_mut()[r].fill(0);
            Ok(())
        }

        async fn extent(&self, offset: u64, len: u64) -> Result<Extent, BackendError> {
            let Some(r) = self.span(offset, len as usize) else {
                return Err(BackendError::new(BackendErrorKind::Read));
            };
            let bs = self.geometry.block_size as usize;
            let blocks = self.blocks_of(&r);
            let mapped = self.mapped.borrow();
            let first = mapped[blocks.start];
            let run = mapped[blocks.clone()]
                .iter()
                .take_while(|&&m| m == first)
                .count();
            Ok(Extent {
                mapped: first,
                len: (run * bs) as u64,
            })
        }
    }

    struct MemOpener {
        deallocates: bool,
    }

    impl BackendOpener<MemBackend> for MemOpener {
        fn open(&self, config: &LunConfig) -> Result<MemBackend, String> {
            let StorageSpec::Ramdisk { size } = config.storage else {
                return Err("memory only".to_string());
            };
            let blocks = size / u64::from(config.block_size);
            Ok(MemBackend {
                geometry: Geometry {
                    block_size: config.block_size,
                    blocks,
                },
                data: RefCell::new(vec![0; size as usize]),
                mapped: RefCell::new(vec![false; blocks as usize]),
                deallocates: self.deallocates,
                outside: Cell::new(false),
                writes: Cell::new(0),
                unmaps: Cell::new(0),
                bad_block: Cell::new(None),
            })
        }
    }

    pub(crate) struct MemFixture {
        pub device: TargetDevice<MemBackend>,
        pub nexus: NexusId,
        tag: Cell<u64>,
    }

    impl MemFixture {
        /// A LUN of [`BLOCKS`] 512-byte blocks, thin or not, whose backend deallocates.
        pub fn new(thin: bool) -> Self {
            let mut c = lun_config(0, BLOCKS);
            c.thin = thin;
            Self::with(c, true)
        }

        pub fn with(config: LunConfig, deallocates: bool) -> Self {
            let device = TargetDevice::new(1, Box::new(MemOpener { deallocates }));
            device
                .apply(Mutation::PortAdded(port_config(None)))
                .expect("port");
            device.apply(Mutation::LunAdded(config)).expect("LUN");
            let initiator = InitiatorPort {
                name: "iqn.2024-01.org.test:mem".to_string(),
                isid: [0; 6],
            };
            let nexus = device.login(PORT, initiator).expect("login");
            let f = MemFixture {
                device,
                nexus,
                tag: Cell::new(1),
            };
            let cleared = (0..16)
                .any(|_| f.run(&[0x00, 0, 0, 0, 0, 0], &[]).scsi_status() == ScsiStatus::Good);
            assert!(cleared, "unit attentions never cleared");
            f
        }

        pub fn lun(&self) -> Rc<Lun<MemBackend>> {
            self.device.lun(crate::lun::LunId(0)).expect("LUN 0")
        }

        pub fn backend_bytes(&self, lba: u64, blocks: u64) -> Vec<u8> {
            let bs = self.lun().block_size() as usize;
            self.lun()
                .backend
                .bytes(lba as usize * bs, blocks as usize * bs)
        }

        /// Stores `data` at `lba` directly in the backend.
        pub fn put(&self, lba: u64, data: &[u8]) {
            let bs = u64::from(self.lun().block_size());
            let (_, r) = block_on(self.lun().backend.write(lba * bs, data.to_vec(), false));
            r.expect("backend write");
        }

        /// Runs `cdb` with `data` as the data-out the initiator announces and sends.
        pub fn run(&self, cdb: &[u8], data: &[u8]) -> CommandResult {
            self.run_edtl(cdb, data, data.len() as u32)
        }

        /// Runs `cdb`, announcing `edtl` bytes of data-out and sending what the device asks
        /// for of `data`.
        pub fn run_edtl(&self, cdb: &[u8], data: &[u8], edtl: u32) -> CommandResult {
            let tag = self.tag.get();
            self.tag.set(tag + 1);
            let req = CommandRequest {
                nexus: self.nexus,
                lun: lun_address::encode(0),
                cdb,
                tag,
                attr: TaskAttribute::Simple,
                data_out_len: edtl,
            };
            match self.device.submit(&req) {
                Submission::Complete(r) => r,
                Submission::Queued(task) => {
                    let n = (task.data_out_len() as usize).min(data.len());
                    let out = data[..n].to_vec();
                    match block_on(self.device.execute(task, out)) {
                        Completion::Done(r) => r,
                        Completion::Aborted(kind) => panic!("aborted: {kind:?}"),
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::memory::{MemFixture, BLOCKS};
    use crate::status::ScsiStatus;
    use alloc::vec;
    use alloc::vec::Vec;

    fn cdb10(op: u8, byte1: u8, lba: u32, blocks: u16) -> Vec<u8> {
        let mut c = vec![0u8; 10];
        c[0] = op;
        c[1] = byte1;
        c[2..6].copy_from_slice(&lba.to_be_bytes());
        c[7..9].copy_from_slice(&blocks.to_be_bytes());
        c
    }

    fn cdb12(op: u8, byte1: u8, lba: u32, blocks: u32) -> Vec<u8> {
        let mut c = vec![0u8; 12];
        c[0] = op;
        c[1] = byte1;
        c[2..6].copy_from_slice(&lba.to_be_bytes());
        c[6..10].copy_from_slice(&blocks.to_be_bytes());
        c
    }

    fn cdb16(op: u8, byte1: u8, lba: u64, blocks: u32) -> Vec<u8> {
        let mut c = vec![0u8; 16];
        c[0] = op;
        c[1] = byte1;
        c[2..10].copy_from_slice(&lba.to_be_bytes());
        c[10..14].copy_from_slice(&blocks.to_be_bytes());
        c
    }

    const BYTCHK1: u8 = 0x02;
    const BYTCHK3: u8 = 0x06;

    fn pattern(len: usize, seed: u8) -> Vec<u8> {
        (0..len).map(|i| (i as u8).wrapping_mul(7) ^ seed).collect()
    }

    fn miscompare_at(r: &crate::status::CommandResult) -> u32 {
        assert_eq!(r.scsi_status(), ScsiStatus::CheckCondition);
        assert_eq!(sense_code(&r.sense), (0x0E, 0x1D, 0x00), "{:02x?}", r.sense);
        assert_eq!(r.sense[0] & 0x80, 0x80, "VALID");
        u32::from_be_bytes([r.sense[3], r.sense[4], r.sense[5], r.sense[6]])
    }

    #[test]
    fn verify_compares_the_data_out_and_names_the_first_difference() {
        let f = MemFixture::new(false);
        let data = pattern(4 * 512, 3);
        f.put(100, &data);
        for cdb in [
            cdb10(0x2F, BYTCHK1, 100, 4),
            cdb12(0xAF, BYTCHK1, 100, 4),
            cdb16(0x8F, BYTCHK1, 100, 4),
        ] {
            good(f.run(&cdb, &data));
            let mut bad = data.clone();
            bad[1234] ^= 0x58;
            assert_eq!(miscompare_at(&f.run(&cdb, &bad)), 1234);
        }
    }

    #[test]
    fn verify_without_bytchk_reads_the_medium_and_takes_no_data() {
        let f = MemFixture::new(false);
        let cdb = cdb10(0x2F, 0, 0, 16);
        good(f.run(&cdb, &[]));
        f.lun().backend.bad_block.set(Some(7));
        let r = f.run(&cdb, &[]);
        assert_eq!(sense_code(&r.sense), (0x03, 0x11, 0x00));
        // DPO is accepted and means nothing to us.
        f.lun().backend.bad_block.set(None);
        good(f.run(&cdb10(0x2F, 0x10, 0, 16), &[]));
    }

    #[test]
    fn verify_with_bytchk_3_compares_one_block_against_every_block() {
        let f = MemFixture::new(false);
        let block = pattern(512, 9);
        for lba in 10..14 {
            f.put(lba, &block);
        }
        good(f.run(&cdb16(0x8F, BYTCHK3, 10, 4), &block));
        f.put(12, &[0xEE; 1]);
        // Block 12 (the third) now differs at its first byte.
        assert_eq!(
            miscompare_at(&f.run(&cdb16(0x8F, BYTCHK3, 10, 4), &block)),
            2 * 512
        );
        // Less than the one block is a broken transfer.
        let r = f.run(&cdb16(0x8F, BYTCHK3, 10, 4), &block[..100]);
        assert_eq!(sense_code(&r.sense), (0x05, 0x0E, 0x03));
    }

    #[test]
    fn reserved_bytchk_and_protection_fields_are_invalid() {
        let f = Fixture::new();
        // BYTCHK 10b.
        assert_invalid_field(&f.run(0, &cdb10(0x2F, 0x04, 0, 1)), 1);
        // BYTCHK 11b is reserved for WRITE AND VERIFY.
        assert_invalid_field(&f.run(0, &cdb10(0x2E, 0x06, 0, 1)), 1);
        for vrprotect in 1..8u8 {
            assert_invalid_field(&f.run(0, &cdb10(0x2F, vrprotect << 5, 0, 1)), 1);
            assert_invalid_field(&f.run(0, &cdb16(0x8E, vrprotect << 5, 0, 1)), 1);
        }
        // Group number and reserved bits.
        let mut c = cdb10(0x2F, 0, 0, 1);
        c[6] = 3;
        assert_invalid_field(&f.run(0, &c), 6);
        assert_invalid_field(&f.run(0, &cdb10(0x2F, 0x08, 0, 1)), 1);
    }

    #[test]
    fn ranges_past_the_end_and_overflowing_ranges_are_out_of_range() {
        let f = Fixture::new();
        let oob = |r: crate::status::CommandResult| {
            assert_eq!(sense_code(&r.sense), (0x05, 0x21, 0x00), "{:02x?}", r.sense)
        };
        oob(f.run(0, &cdb10(0x2F, 0, 2047, 2)));
        oob(f.run(0, &cdb10(0x2F, 0, 2049, 0)));
        oob(f.run(0, &cdb10(0x2F, 0, u32::MAX, 1)));
        oob(f.run(0, &cdb16(0x8F, 0, u64::MAX, 1)));
        oob(f.run(0, &cdb16(0x8F, 0, u64::MAX, u32::MAX)));
        oob(f.run(0, &cdb16(0x8E, 0, 1 << 63, 1)));
        oob(f.run(0, &cdb12(0xAE, 0, 0x8000_0000, 0)));
        good(f.run(0, &cdb10(0x2F, 0, 2047, 1)));
        good(f.run(0, &cdb10(0x2F, 0, 2048, 0)));
    }

    #[test]
    fn transfers_over_the_maximum_are_invalid_and_zero_blocks_are_good() {
        let mut c = lun_config(0, 1 << 20);
        c.block_size = 512;
        let f = Fixture::with(port_config(None), [c]);
        let blocks = (super::MAX_TRANSFER_BYTES / 512) as u32 + 1;
        assert_invalid_field(&f.run(0, &cdb16(0x8F, 0, 0, blocks)), 10);
        assert_invalid_field(&f.run(0, &cdb12(0xAF, BYTCHK1, 0, blocks)), 6);
        good(f.run(0, &cdb10(0x2F, BYTCHK1, 0, 0)));
        good(f.run(0, &cdb10(0x2E, BYTCHK1, 0, 0)));
    }

    #[test]
    fn write_and_verify_writes_then_compares() {
        let f = MemFixture::new(false);
        let data = pattern(8 * 512, 1);
        for (i, cdb) in [
            cdb10(0x2E, BYTCHK1, 8, 8),
            cdb12(0xAE, 0, 16, 8),
            cdb16(0x8E, BYTCHK1 | 0x10, 24, 8),
        ]
        .iter()
        .enumerate()
        {
            good(f.run(cdb, &data));
            assert_eq!(f.backend_bytes(8 + 8 * i as u64, 8), data);
        }
        assert!(!f.lun().backend.outside.get());
    }

    #[test]
    fn write_and_verify_writes_only_what_arrived() {
        let f = MemFixture::new(false);
        f.put(0, &[b'a'; 1024]);
        // Two blocks asked for, one sent: only the first block changes.
        good(f.run_edtl(&cdb10(0x2E, BYTCHK1, 0, 2), &[b'b'; 512], 512));
        assert_eq!(f.backend_bytes(0, 1), vec![b'b'; 512]);
        assert_eq!(f.backend_bytes(1, 1), vec![b'a'; 512]);
        // 200 bytes: the rest of the block keeps what the medium held.
        good(f.run_edtl(&cdb10(0x2E, BYTCHK1, 1, 1), &[b'c'; 200], 200));
        let block = f.backend_bytes(1, 1);
        assert_eq!(&block[..200], &[b'c'; 200][..]);
        assert_eq!(&block[200..], &[b'a'; 312][..]);
        // Nothing sent: nothing written.
        let writes = f.lun().backend.writes.get();
        good(f.run_edtl(&cdb10(0x2E, BYTCHK1, 0, 1), &[], 0));
        assert_eq!(f.lun().backend.writes.get(), writes);
    }

    #[test]
    fn random_cdbs_of_this_group_never_panic_or_reach_past_the_medium() {
        // Opcodes and service actions of every family in this group, with the CDB length.
        const OPS: [(u8, u8, usize); 19] = [
            (0x2F, 0, 10),
            (0xAF, 0, 12),
            (0x8F, 0, 16),
            (0x2E, 0, 10),
            (0xAE, 0, 12),
            (0x8E, 0, 16),
            (0x41, 0, 10),
            (0x93, 0, 16),
            (0x42, 0, 10),
            (0x9E, 0x12, 16),
            (0x89, 0, 16),
            (0x8B, 0, 16),
            (0x9C, 0, 16),
            (0x34, 0, 10),
            (0x90, 0, 16),
            (0x2F, 0, 10),
            (0x42, 0, 10),
            (0x93, 0, 16),
            (0x89, 0, 16),
        ];
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for thin in [false, true] {
            let f = MemFixture::new(thin);
            for _ in 0..4000 {
                let (op, sa, len) = OPS[(next() % OPS.len() as u64) as usize];
                let mut cdb: Vec<u8> = (0..len).map(|_| next() as u8).collect();
                cdb[0] = op;
                if sa != 0 {
                    cdb[1] = (cdb[1] & 0xE0) | sa;
                }
                // Mostly plausible values: small lengths, LBAs near the end, clear flags.
                if next() % 4 != 0 {
                    cdb[1] &= 0x1F;
                    for b in cdb.iter_mut().skip(2).take(len - 4) {
                        if next() % 3 != 0 {
                            *b = 0;
                        }
                    }
                    let at = len - 3;
                    cdb[at] = (next() % 0x21) as u8;
                }
                let data: Vec<u8> = (0..(next() % 9000) as usize)
                    .map(|_| if next() % 3 == 0 { 0 } else { next() as u8 })
                    .collect();
                let edtl = if next() % 2 == 0 {
                    data.len() as u32
                } else {
                    (next() % 70000) as u32
                };
                let _ = f.run_edtl(&cdb, &data, edtl);
                assert!(!f.lun().backend.outside.get(), "{cdb:02x?}");
            }
        }
    }

    #[test]
    fn write_and_verify_on_a_write_protected_lun_is_refused() {
        let mut c = lun_config(0, BLOCKS);
        c.read_only = true;
        let f = Fixture::with(port_config(None), [c]);
        let r = f.run(0, &cdb10(0x2E, 0, 0, 1));
        assert_eq!(sense_code(&r.sense), (0x07, 0x27, 0x00));
        // Verifying a write-protected medium is fine.
        good(f.run(0, &cdb10(0x2F, 0, 0, 1)));
    }
}
