//! SANITIZE (SBC-4 §5.30, §4.11): overwrite, block erase, exit failure mode, and the failure
//! state a failed sanitize leaves.
//!
//! CRYPTOGRAPHIC ERASE has no table entry (no backend encrypts), so it is an unknown service
//! action: INVALID FIELD IN CDB, as SBC-4 asks of an unsupported one. BLOCK ERASE exists only
//! where the backend deallocates ([`offered`]); REPORT SUPPORTED OPERATION CODES asks the same
//! question, so it never advertises what would be refused.

use super::{Ctx, Plan};
use crate::backend::{BackendError, BackendErrorKind, BlockBackend};
use crate::buffer_pool::BufferPool;
use crate::cdb::{be16, byte};
use crate::lun::Lun;
use crate::sense::{asc, FieldPointer, Sense, SenseKey};
use crate::status::CommandResult;
use crate::table::{AccessClass as A, CommandEntry as E, Flags as F, Kind};
use alloc::boxed::Box;
use alloc::vec::Vec;
use core::cell::RefCell;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

/// Service actions (SBC-4 table 131).
const OVERWRITE: u8 = 0x01;
const BLOCK_ERASE: u8 = 0x02;
const EXIT_FAILURE_MODE: u8 = 0x1F;

/// SANITIZE byte 1 holds IMMED (80h) and AUSE besides the service action, so each usage
/// mask's byte 1 is A0h plus the service action. With IMMED the status reports the start; the
/// operation runs on in the background (where the device has a spawner).
const AUSE: u8 = 0x20;
const IMMED: u8 = 0x80;

pub(crate) const ENTRIES: &[E] = &[
    E::new(
        0x48,
        "SANITIZE OVERWRITE",
        Kind::Sanitize,
        F::DATA_OUT,
        A::Write,
        &[0x48, 0xA1, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0x07],
    )
    .service_action(OVERWRITE)
    .timeouts(0, 3600),
    E::new(
        0x48,
        "SANITIZE BLOCK ERASE",
        Kind::Sanitize,
        F::NONE,
        A::Write,
        &[0x48, 0xA2, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0x07],
    )
    .service_action(BLOCK_ERASE)
    .timeouts(0, 600),
    E::new(
        0x48,
        "SANITIZE EXIT FAILURE MODE",
        Kind::Sanitize,
        F::NONE,
        A::Free,
        &[0x48, 0xBF, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0x07],
    )
    .service_action(EXIT_FAILURE_MODE),
];

/// LOGICAL UNIT NOT READY, SANITIZE IN PROGRESS (04h/1Bh).
const SANITIZE_IN_PROGRESS: Sense = Sense::new(SenseKey::NotReady, 0x04, 0x1B);
/// SANITIZE COMMAND FAILED (31h/03h).
const SANITIZE_COMMAND_FAILED: Sense = Sense::new(SenseKey::MediumError, 0x31, 0x03);

/// Bytes written or deallocated per backend call: bounds the memory an operation holds and
/// how long it keeps other tasks of the runtime waiting.
const CHUNK_BYTES: u64 = 1 << 20;
/// Deallocation moves no data, so it goes in larger steps.
const DEALLOCATE_CHUNK_BYTES: u64 = 256 << 20;

/// Overwrite parameter list (SBC-4 table 133) byte 0.
const INVERT: u8 = 0x80;
const TEST: u8 = 0x60;
const OVERWRITE_COUNT: u8 = 0x1F;

/// How far a running sanitize operation has come.
#[derive(Debug, Clone, Copy)]
struct Progress {
    done: u64,
    total: u64,
}

/// A LUN's sanitize state (SBC-4 §4.11): an operation running, or the failure one left.
#[derive(Debug, Default)]
pub(crate) struct SanitizeState {
    running: Option<Progress>,
    /// After a failed operation: whether it allowed an unrestricted exit (its AUSE bit).
    failed: Option<bool>,
    /// Operations ended so far: a SANITIZE command waits for this to move.
    ended: u64,
}

impl SanitizeState {
    /// The sense a command gets while a sanitize runs or a failed one blocks medium access;
    /// `None` when it may run.
    pub(crate) fn media_check(&self, command: &E) -> Option<Sense> {
        if let Some(progress) = self.running {
            // SBC-4 §4.11.2: only the commands that describe the device rather than its
            // medium (INQUIRY, REPORT LUNS, REQUEST SENSE) run during a sanitize.
            return (!command.flags.contains(F::OK_ON_NO_LUN)).then(|| in_progress_sense(progress));
        }
        let medium_access = command.access != A::Free && command.kind != Kind::Sanitize;
        (self.failed.is_some() && medium_access).then_some(SANITIZE_COMMAND_FAILED)
    }
}

/// NOT READY, SANITIZE IN PROGRESS with the progress indication (SPC-5 §4.4.2.4.4).
fn in_progress_sense(p: Progress) -> Sense {
    let fraction = u128::from(p.done) * 65536 / u128::from(p.total.max(1));
    let mut sense = SANITIZE_IN_PROGRESS;
    // A progress indication is SKSV plus a 16-bit fraction of 65536: byte for byte what a
    // field pointer with C/D and BPV clear encodes to, in both sense formats.
    sense.field = Some(FieldPointer {
        in_cdb: false,
        byte: u16::try_from(fraction).unwrap_or(u16::MAX),
        bit: None,
    });
    sense
}

/// Whether `entry` can run on `lun`: BLOCK ERASE needs a backend that deallocates, on a LUN
/// that reports logical block provisioning (libiscsi's Sanitize.BlockErase checks LBPME and
/// that GET LBA STATUS shows everything deallocated afterwards).
pub(crate) fn offered<B: BlockBackend>(entry: &E, lun: &Lun<B>) -> bool {
    entry.kind != Kind::Sanitize
        || entry.service_action != Some(BLOCK_ERASE)
        || block_erase_offered(lun)
}

/// BLOCK ERASE is offered where erasing is real: on thin LUNs whose backend deallocates.
pub(crate) fn block_erase_offered<B: BlockBackend>(lun: &Lun<B>) -> bool {
    lun.thin() && lun.backend.can_deallocate()
}

fn service_action(cdb: &[u8]) -> u8 {
    byte(cdb, 1) & 0x1F
}

pub(crate) fn precheck<B: BlockBackend>(
    _kind: Kind,
    lun: Option<&Lun<B>>,
    cdb: &[u8],
) -> Result<Plan, Sense> {
    let lun = lun.ok_or(asc::LOGICAL_UNIT_NOT_SUPPORTED)?;
    let sa = service_action(cdb);
    if sa == BLOCK_ERASE && !(lun.thin() && lun.backend.can_deallocate()) {
        return Err(Sense::invalid_field_in_cdb(1, Some(4)));
    }
    let parameter_list_length = be16(cdb, 7);
    // SBC-4 table 131: OVERWRITE takes more than the 4-byte header and at most one block of
    // pattern; the others take no parameter list.
    let length_ok = match sa {
        OVERWRITE => {
            parameter_list_length > 4
                && u32::from(parameter_list_length) <= lun.block_size().saturating_add(4)
        }
        _ => parameter_list_length == 0,
    };
    if !length_ok {
        return Err(Sense::invalid_field_in_cdb(7, None));
    }
    if sa != EXIT_FAILURE_MODE && lun.write_protected() {
        return Err(asc::WRITE_PROTECTED);
    }
    Ok(Plan {
        range: (0, lun.blocks()),
        data_out_len: u32::from(parameter_list_length),
        data_in_len: 0,
        exact_data_out: false,
    })
}

/// A validated OVERWRITE parameter list.
struct Overwrite {
    invert: bool,
    count: u8,
    pattern: Vec<u8>,
}

fn parse_overwrite(params: &[u8], length: usize, block_size: usize) -> Result<Overwrite, Sense> {
    if params.len() < length {
        return Err(asc::PARAMETER_LIST_LENGTH_ERROR);
    }
    let b0 = byte(params, 0);
    if b0 & TEST != 0 {
        return Err(Sense::invalid_field_in_parameter_list(0, Some(6)));
    }
    let count = b0 & OVERWRITE_COUNT;
    if count == 0 {
        return Err(Sense::invalid_field_in_parameter_list(0, Some(4)));
    }
    let reserved = byte(params, 1);
    if reserved != 0 {
        let bit = 7 - reserved.leading_zeros() as u8;
        return Err(Sense::invalid_field_in_parameter_list(1, Some(bit)));
    }
    let pattern_length = usize::from(be16(params, 2));
    let end = pattern_length.checked_add(4).filter(|&e| e <= length);
    let pattern = match end.and_then(|e| params.get(4..e)) {
        Some(p) if pattern_length != 0 && pattern_length <= block_size => p.to_vec(),
        _ => return Err(Sense::invalid_field_in_parameter_list(2, None)),
    };
    Ok(Overwrite {
        invert: b0 & INVERT != 0,
        count,
        pattern,
    })
}

pub(crate) async fn execute<B: BlockBackend>(
    ctx: &Ctx<'_, B>,
    _kind: Kind,
    data_out: Vec<u8>,
) -> CommandResult {
    let Some(lun) = ctx.lun else {
        ctx.device.buffers.give(data_out);
        return ctx.fail(&asc::LOGICAL_UNIT_NOT_SUPPORTED);
    };
    let sa = service_action(ctx.cdb);
    let ause = byte(ctx.cdb, 1) & AUSE != 0;
    let restricted = lun.sanitize.borrow().failed == Some(false);
    // SBC-4 §4.11.3: after a failure in the restricted completion mode only a sanitize that
    // completes leaves the failure mode; neither EXIT FAILURE MODE nor a sanitize asking for
    // the unrestricted mode may.
    if restricted && sa == EXIT_FAILURE_MODE {
        ctx.device.buffers.give(data_out);
        return ctx.fail(&Sense::invalid_field_in_cdb(1, Some(4)));
    }
    if restricted && ause {
        ctx.device.buffers.give(data_out);
        return ctx.fail(&Sense::invalid_field_in_cdb(1, Some(5)));
    }
    let overwrite = if sa == OVERWRITE {
        let length = usize::from(be16(ctx.cdb, 7));
        let parsed = parse_overwrite(&data_out, length, lun.block_size() as usize);
        ctx.device.buffers.give(data_out);
        match parsed {
            Ok(o) => Some(o),
            Err(sense) => return ctx.fail(&sense),
        }
    } else {
        ctx.device.buffers.give(data_out);
        None
    };
    if sa == EXIT_FAILURE_MODE {
        lun.sanitize.borrow_mut().failed = None;
        return CommandResult::good(Vec::new());
    }
    // The operation belongs to the LUN, not to this command: task management, resets and the
    // initiator going away end the command but not the sanitize (SBC-4 §4.11), so it runs on
    // its own when the device can spawn; the command then waits for it, or not with IMMED.
    let Some(shared) = ctx.device.lun(lun.id()) else {
        return ctx.fail(&asc::LOGICAL_UNIT_NOT_SUPPORTED);
    };
    let buffers = ctx.device.buffers.clone();
    let before = lun.sanitize.borrow().ended;
    lun.sanitize.borrow_mut().running = Some(Progress { done: 0, total: 1 });
    let operation = Box::pin(async move {
        let operation = Operation::start(&shared.sanitize, ause);
        let result = match &overwrite {
            Some(o) => overwrite_all(&shared, &buffers, o, &operation).await,
            None => {
                deallocate_all(&shared, &buffers, &mut |done, total| {
                    operation.progress(done, total)
                })
                .await
            }
        };
        let result = match result {
            Ok(()) => shared.backend.flush().await,
            Err(e) => Err(e),
        };
        operation.finish(result.is_ok());
        shared.tasks.changed.notify_all();
    });
    match ctx.device.spawn(operation) {
        Some(inline) => inline.await,
        None if byte(ctx.cdb, 1) & IMMED != 0 => return CommandResult::good(Vec::new()),
        None => loop {
            let changed = lun.tasks.changed.changed();
            if lun.sanitize.borrow().ended != before || ctx.is_aborted() {
                break;
            }
            changed.await;
        },
    }
    let st = lun.sanitize.borrow();
    if st.ended != before && st.failed.is_none() {
        CommandResult::good(Vec::new())
    } else {
        ctx.fail(&SANITIZE_COMMAND_FAILED)
    }
}

/// The running operation's mark on the LUN. If the command is dropped before finishing (its
/// connection's runtime going away), the operation counts as failed: the medium is neither
/// what it was nor sanitized.
struct Operation<'a> {
    state: &'a RefCell<SanitizeState>,
    ause: bool,
    finished: bool,
}

impl<'a> Operation<'a> {
    fn start(state: &'a RefCell<SanitizeState>, ause: bool) -> Self {
        state.borrow_mut().running = Some(Progress { done: 0, total: 1 });
        Operation {
            state,
            ause,
            finished: false,
        }
    }

    fn progress(&self, done: u64, total: u64) {
        self.state.borrow_mut().running = Some(Progress { done, total });
    }

    fn finish(mut self, ok: bool) {
        self.finished = true;
        let mut st = self.state.borrow_mut();
        st.running = None;
        st.failed = if ok { None } else { Some(self.ause) };
        st.ended = st.ended.wrapping_add(1);
    }
}

impl Drop for Operation<'_> {
    fn drop(&mut self) {
        if !self.finished {
            let mut st = self.state.borrow_mut();
            st.running = None;
            st.failed = Some(self.ause);
            st.ended = st.ended.wrapping_add(1);
        }
    }
}

/// Writes the pattern over every block, `count` passes (SBC-4 §5.30.2.2).
async fn overwrite_all<B: BlockBackend>(
    lun: &Lun<B>,
    buffers: &BufferPool,
    o: &Overwrite,
    operation: &Operation<'_>,
) -> Result<(), BackendError> {
    let bs = lun.block_size() as usize;
    let total = lun.blocks();
    let per_chunk = (CHUNK_BYTES / bs as u64).max(1);
    // Each block starts with the pattern's first byte, repeated to fill it.
    let block: Vec<u8> = o.pattern.iter().copied().cycle().take(bs).collect();
    let inverted: Vec<u8> = block.iter().map(|b| !b).collect();
    let count = u64::from(o.count);
    let mut buf = buffers.take_empty(per_chunk as usize * bs);
    let mut result = Ok(());
    'passes: for pass in 0..count {
        // With INVERT, passes alternate so that the last one writes the pattern itself.
        let pattern = if o.invert && (count - 1 - pass) % 2 == 1 {
            &inverted
        } else {
            &block
        };
        let mut lba = 0u64;
        while lba < total {
            let n = per_chunk.min(total - lba);
            buf.clear();
            for _ in 0..n {
                buf.extend_from_slice(pattern);
            }
            let (b, r) = lun.backend.write(lba * bs as u64, buf, false).await;
            buf = b;
            if let Err(e) = r {
                result = Err(e);
                break 'passes;
            }
            lba += n;
            operation.progress(
                pass.saturating_mul(total) + lba,
                count.saturating_mul(total),
            );
            yield_now().await;
        }
    }
    buffers.give(buf);
    result
}

/// Deallocates every block of `lun` (writing zeros where the backend turns out not to
/// deallocate), reporting blocks done and the total as it goes. FORMAT UNIT uses it too.
pub(crate) async fn deallocate_all<B: BlockBackend>(
    lun: &Lun<B>,
    buffers: &BufferPool,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<(), BackendError> {
    let bs = u64::from(lun.block_size());
    let total = lun.blocks();
    let per_chunk = (DEALLOCATE_CHUNK_BYTES / bs).max(1);
    let mut lba = 0u64;
    while lba < total {
        let n = per_chunk.min(total - lba);
        match lun.backend.unmap(lba * bs, n * bs).await {
            Ok(()) => {}
            Err(e) if e.kind == BackendErrorKind::Unsupported => {
                return write_zeros(lun, buffers, lba, progress).await;
            }
            Err(e) => return Err(e),
        }
        lba += n;
        progress(lba, total);
        yield_now().await;
    }
    Ok(())
}

/// Zeros every block from `from` to the end of the LUN.
async fn write_zeros<B: BlockBackend>(
    lun: &Lun<B>,
    buffers: &BufferPool,
    from: u64,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<(), BackendError> {
    let bs = u64::from(lun.block_size());
    let total = lun.blocks();
    let per_chunk = (CHUNK_BYTES / bs).max(1);
    let mut buf = buffers.take_empty((per_chunk * bs) as usize);
    let mut lba = from;
    while lba < total {
        let n = per_chunk.min(total - lba);
        buf.clear();
        buf.resize((n * bs) as usize, 0);
        let (b, r) = lun.backend.write(lba * bs, buf, false).await;
        buf = b;
        if let Err(e) = r {
            buffers.give(buf);
            return Err(e);
        }
        lba += n;
        progress(lba, total);
        yield_now().await;
    }
    buffers.give(buf);
    Ok(())
}

/// Lets the runtime run other tasks between chunks: a backend that completes at once (a
/// ramdisk) would otherwise hold the thread for the whole LUN, and nothing else could see the
/// operation in progress.
fn yield_now() -> YieldNow {
    YieldNow(false)
}

struct YieldNow(bool);

impl Future for YieldNow {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// A device over an in-memory backend that keeps its data, for tests that look at what a
/// command left on the medium.
#[cfg(test)]
pub(super) mod mem {
    use super::super::test_support::{block_on, lun_config, port_config, PORT};
    use crate::backend::{BackendError, BackendErrorKind, BlockBackend, Geometry, IoResult};
    use crate::device::{BackendOpener, CommandRequest, Completion, Submission, TargetDevice};
    use crate::lun::{Lun, LunConfig, LunId};
    use crate::lun_address;
    use crate::mutation::Mutation;
    use crate::nexus::{InitiatorPort, NexusId};
    use crate::status::{CommandResult, ScsiStatus};
    use crate::task_set::TaskAttribute;
    use alloc::boxed::Box;
    use alloc::rc::Rc;
    use alloc::string::{String, ToString};
    use alloc::vec::Vec;
    use core::cell::{Cell, RefCell};

    pub(crate) struct MemBackend {
        geometry: Geometry,
        data: RefCell<Vec<u8>>,
        deallocates: bool,
        pub fail_writes: Cell<bool>,
    }

    impl MemBackend {
        fn range(&self, offset: u64, len: usize) -> core::ops::Range<usize> {
            let start = offset as usize;
            start..start + len
        }
    }

    impl BlockBackend for MemBackend {
        fn geometry(&self) -> Geometry {
            self.geometry
        }

        async fn read(&self, offset: u64, mut buf: Vec<u8>) -> (Vec<u8>, IoResult) {
            let r = self.range(offset, buf.len());
            buf.copy_from_slice(&self.data.borrow()[r]);
            (buf, Ok(()))
        }

        async fn write(&self, offset: u64, buf: Vec<u8>, _fua: bool) -> (Vec<u8>, IoResult) {
            if self.fail_writes.get() {
                return (buf, Err(BackendError::new(BackendErrorKind::Write)));
            }
            let r = self.range(offset, buf.len());
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
            if !self.deallocates {
                return Err(BackendError::new(BackendErrorKind::Unsupported));
            }
            let r = self.range(offset, len as usize);
            self.data.borrow_mut()[r].fill(0);
            Ok(())
        }
    }

    struct MemOpener;

    impl BackendOpener<MemBackend> for MemOpener {
        fn open(&self, config: &LunConfig) -> Result<MemBackend, String> {
            let size = match config.storage {
                crate::lun::StorageSpec::Ramdisk { size } => size,
                _ => return Err("memory backend only".to_string()),
            };
            Ok(MemBackend {
                geometry: Geometry {
                    block_size: config.block_size,
                    blocks: size / u64::from(config.block_size),
                },
                data: RefCell::new(alloc::vec![0; size as usize]),
                deallocates: config.thin,
                fail_writes: Cell::new(false),
            })
        }
    }

    /// Blocks of the fixture's LUN: 2 MiB, so whole-LUN operations take several chunks.
    pub(crate) const BLOCKS: u64 = 4096;

    pub(crate) struct MemFixture {
        pub device: TargetDevice<MemBackend>,
        pub nexus: NexusId,
        tag: Cell<u64>,
    }

    impl MemFixture {
        /// One LUN of [`BLOCKS`] 512-byte blocks; `thin` makes it deallocate.
        pub fn new(thin: bool) -> Self {
            let mut c = lun_config(0, BLOCKS);
            c.thin = thin;
            Self::with(c)
        }

        pub fn with(config: LunConfig) -> Self {
            let device = TargetDevice::new(1, Box::new(MemOpener));
            device
                .apply(Mutation::PortAdded(port_config(None)))
                .unwrap();
            device.apply(Mutation::LunAdded(config)).unwrap();
            let initiator = InitiatorPort {
                name: "iqn.2024-01.org.test:mem".to_string(),
                isid: [0; 6],
            };
            let nexus = device.login(PORT, initiator).unwrap();
            let f = MemFixture {
                device,
                nexus,
                tag: Cell::new(1),
            };
            let cleared =
                (0..16).any(|_| f.run(&[0, 0, 0, 0, 0, 0]).scsi_status() == ScsiStatus::Good);
            assert!(cleared, "unit attentions never cleared");
            f
        }

        pub fn lun(&self) -> Rc<Lun<MemBackend>> {
            self.device.lun(LunId(0)).unwrap()
        }

        pub fn run(&self, cdb: &[u8]) -> CommandResult {
            self.run_out(cdb, &[])
        }

        /// Runs `cdb` on LUN 0 with `data` as its data-out.
        pub fn run_out(&self, cdb: &[u8], data: &[u8]) -> CommandResult {
            let tag = self.tag.get();
            self.tag.set(tag + 1);
            let req = CommandRequest {
                nexus: self.nexus,
                lun: lun_address::encode(0),
                cdb,
                tag,
                attr: TaskAttribute::Simple,
                data_out_len: data.len() as u32,
            };
            match self.device.submit(&req) {
                Submission::Complete(r) => r,
                Submission::Queued(task) => {
                    let n = (task.data_out_len() as usize).min(data.len());
                    match block_on(self.device.execute(task, data[..n].to_vec())) {
                        Completion::Done(r) => r,
                        Completion::Aborted(kind) => panic!("aborted: {kind:?}"),
                    }
                }
            }
        }

        pub fn fill(&self, byte: u8) {
            self.lun().backend.data.borrow_mut().fill(byte);
        }

        pub fn contents(&self) -> Vec<u8> {
            self.lun().backend.data.borrow().clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::mem::{MemFixture, BLOCKS};
    use super::*;
    use crate::status::ScsiStatus;

    fn sanitize(sa: u8, flags: u8, length: u16) -> [u8; 10] {
        let l = length.to_be_bytes();
        [0x48, flags | sa, 0, 0, 0, 0, 0, l[0], l[1], 0]
    }

    fn overwrite_params(b0: u8, pattern: &[u8]) -> Vec<u8> {
        let mut p = alloc::vec![b0, 0];
        p.extend_from_slice(&(pattern.len() as u16).to_be_bytes());
        p.extend_from_slice(pattern);
        p
    }

    #[track_caller]
    fn assert_sense(r: &CommandResult, want: (u8, u8, u8)) {
        assert_eq!(r.scsi_status(), ScsiStatus::CheckCondition);
        assert_eq!(sense_code(&r.sense), want, "sense {:02x?}", r.sense);
    }

    #[test]
    fn overwrite_repeats_the_pattern_from_the_start_of_every_block() {
        let f = MemFixture::new(false);
        f.fill(b'a');
        let p = overwrite_params(1, &[1, 2, 3]);
        good(f.run_out(&sanitize(OVERWRITE, 0, p.len() as u16), &p));
        let data = f.contents();
        for block in data.chunks(512) {
            let expect: Vec<u8> = [1u8, 2, 3].iter().copied().cycle().take(512).collect();
            assert_eq!(block, &expect[..]);
        }
        assert_eq!(data.len() as u64, BLOCKS * 512);
        let full = overwrite_params(1, &[0xAA; 512]);
        good(f.run_out(&sanitize(OVERWRITE, 0x80, 516), &full));
        assert!(f.contents().iter().all(|&b| b == 0xAA));
    }

    #[test]
    fn inverted_passes_end_with_the_pattern_itself() {
        let f = MemFixture::new(false);
        for count in [2u8, 3] {
            let p = overwrite_params(INVERT | count, &[0x0F]);
            good(f.run_out(&sanitize(OVERWRITE, 0, p.len() as u16), &p));
            assert!(f.contents().iter().all(|&b| b == 0x0F), "count {count}");
        }
    }

    #[test]
    fn parameter_list_length_must_fit_the_service_action() {
        let f = MemFixture::new(true);
        for length in [0u16, 1, 4, 517] {
            let data = alloc::vec![0u8; usize::from(length)];
            assert_invalid_field(&f.run_out(&sanitize(OVERWRITE, 0, length), &data), 7);
        }
        for sa in [BLOCK_ERASE, EXIT_FAILURE_MODE] {
            assert_invalid_field(&f.run_out(&sanitize(sa, 0, 8), &[0; 8]), 7);
        }
    }

    #[test]
    fn bad_overwrite_parameters_point_into_the_list() {
        let f = MemFixture::new(false);
        let cases: [(Vec<u8>, u16); 6] = [
            (overwrite_params(0, &[1; 4]), 0),
            (overwrite_params(0x21, &[1; 4]), 0),
            (alloc::vec![1, 1, 0, 4, 1, 1, 1, 1], 1),
            (alloc::vec![1, 0, 0, 0, 1, 1, 1, 1], 2),
            (alloc::vec![1, 0, 0, 5, 1, 1, 1, 1], 2),
            (
                {
                    let mut p = overwrite_params(1, &[0; 512]);
                    p[2..4].copy_from_slice(&516u16.to_be_bytes());
                    p
                },
                2,
            ),
        ];
        for (params, at) in cases {
            let r = f.run_out(&sanitize(OVERWRITE, 0, params.len() as u16), &params);
            assert_sense(&r, (0x05, 0x26, 0x00));
            assert_eq!(
                u16::from_be_bytes([r.sense[16], r.sense[17]]),
                at,
                "{params:02x?}"
            );
        }
        // Less data than the CDB announced.
        let p = overwrite_params(1, &[1; 8]);
        let r = f.run_out(&sanitize(OVERWRITE, 0, 12), &p[..6]);
        assert_sense(&r, (0x05, 0x1A, 0x00));
    }

    #[test]
    fn reserved_cdb_fields_and_unknown_service_actions_are_refused() {
        let f = MemFixture::new(true);
        let base = sanitize(BLOCK_ERASE, 0, 0);
        let mut cdb = base;
        cdb[1] |= 0x40;
        assert_invalid_field(&f.run(&cdb), 1);
        for i in 2..7 {
            let mut cdb = base;
            cdb[i] = i as u8;
            assert_invalid_field(&f.run(&cdb), i as u16);
        }
        for sa in (0u8..0x1F).filter(|sa| ![OVERWRITE, BLOCK_ERASE].contains(sa)) {
            assert_invalid_field(&f.run(&sanitize(sa, 0, 0)), 1);
        }
    }

    #[test]
    fn block_erase_deallocates_everything() {
        let f = MemFixture::new(true);
        f.fill(b'a');
        good(f.run(&sanitize(BLOCK_ERASE, 0x80, 0)));
        assert!(f.contents().iter().all(|&b| b == 0));
    }

    #[test]
    fn block_erase_is_not_offered_without_deallocation() {
        let f = MemFixture::new(false);
        assert_invalid_field(&f.run(&sanitize(BLOCK_ERASE, 0, 0)), 1);
        let lun = f.lun();
        let erase = ENTRIES
            .iter()
            .find(|e| e.service_action == Some(BLOCK_ERASE));
        assert!(!offered(erase.unwrap(), &lun));
        assert!(ENTRIES
            .iter()
            .filter(|e| e.service_action != Some(BLOCK_ERASE))
            .all(|e| offered(e, &lun)));
    }

    #[test]
    fn a_write_protected_lun_is_not_sanitized() {
        let mut c = lun_config(0, BLOCKS);
        c.read_only = true;
        let f = MemFixture::with(c);
        let p = overwrite_params(1, &[1]);
        assert_sense(
            &f.run_out(&sanitize(OVERWRITE, 0, p.len() as u16), &p),
            (0x07, 0x27, 0x00),
        );
        good(f.run(&sanitize(EXIT_FAILURE_MODE, 0, 0)));
    }

    #[test]
    fn a_failed_sanitize_blocks_medium_access_until_exit_failure_mode() {
        let f = MemFixture::new(false);
        let p = overwrite_params(1, &[1]);
        f.lun().backend.fail_writes.set(true);
        let r = f.run_out(&sanitize(OVERWRITE, AUSE, p.len() as u16), &p);
        assert_sense(&r, (0x03, 0x31, 0x03));
        f.lun().backend.fail_writes.set(false);
        let read10 = [0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0];
        assert_sense(&f.run(&read10), (0x03, 0x31, 0x03));
        good(f.run(&[0, 0, 0, 0, 0, 0]));
        good(f.run(&[0x12, 0, 0, 0, 36, 0]));
        good(f.run(&sanitize(EXIT_FAILURE_MODE, 0, 0)));
        good(f.run(&read10));
        // Exiting when nothing failed is harmless.
        good(f.run(&sanitize(EXIT_FAILURE_MODE, 0, 0)));
    }

    #[test]
    fn a_restricted_failure_ends_only_with_a_successful_sanitize() {
        let f = MemFixture::new(false);
        let p = overwrite_params(1, &[1]);
        let cdb = sanitize(OVERWRITE, 0, p.len() as u16);
        f.lun().backend.fail_writes.set(true);
        assert_sense(&f.run_out(&cdb, &p), (0x03, 0x31, 0x03));
        f.lun().backend.fail_writes.set(false);
        assert_invalid_field(&f.run(&sanitize(EXIT_FAILURE_MODE, 0, 0)), 1);
        assert_invalid_field(
            &f.run_out(&sanitize(OVERWRITE, AUSE, p.len() as u16), &p),
            1,
        );
        good(f.run_out(&cdb, &p));
        good(f.run(&[0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0]));
    }

    #[test]
    fn while_running_only_inquiry_report_luns_and_request_sense_are_admitted() {
        let f = MemFixture::new(false);
        let lun = f.lun();
        let op = Operation::start(&lun.sanitize, false);
        op.progress(1, 4);
        let r = f.run(&[0, 0, 0, 0, 0, 0]);
        assert_sense(&r, (0x02, 0x04, 0x1B));
        // Progress indication: SKSV and a quarter of 65536.
        assert_eq!(&r.sense[15..18], &[0x80, 0x40, 0x00]);
        assert_sense(&f.run(&[0x1B, 1, 0, 0, 0x12, 0]), (0x02, 0x04, 0x1B));
        good(f.run(&[0x12, 0, 0, 0, 36, 0]));
        good(f.run(&[0xA0, 0, 0, 0, 0, 0, 0, 0, 0, 16, 0, 0]));
        op.finish(true);
        good(f.run(&[0, 0, 0, 0, 0, 0]));
    }

    type Queue = alloc::rc::Rc<RefCell<Vec<Pin<Box<dyn Future<Output = ()>>>>>>;

    /// A fixture whose device queues background operations for the test to run.
    fn with_spawner() -> (MemFixture, Queue) {
        let mut f = MemFixture::new(false);
        let queue = Queue::default();
        let q = queue.clone();
        f.device.set_spawner(move |op| q.borrow_mut().push(op));
        (f, queue)
    }

    #[test]
    fn with_immed_the_sanitize_runs_on_after_its_status() {
        let (f, queue) = with_spawner();
        f.fill(b'a');
        let p = overwrite_params(1, &[7]);
        good(f.run_out(&sanitize(OVERWRITE, IMMED, p.len() as u16), &p));
        assert_eq!(queue.borrow().len(), 1);
        assert_sense(&f.run(&[0; 6]), (0x02, 0x04, 0x1B));
        good(f.run(&[0x12, 0, 0, 0, 96, 0]));
        let op = queue.borrow_mut().pop().expect("the operation");
        block_on(op);
        good(f.run(&[0; 6]));
        assert!(f.contents().iter().all(|&b| b == 7));
    }

    #[test]
    fn task_management_ends_the_command_but_not_the_sanitize() {
        use crate::device::{CommandRequest, Completion, Submission};
        use crate::lun_address;
        use crate::task_set::TaskAttribute;
        use core::task::{Context, Poll, Waker};
        let (f, queue) = with_spawner();
        let p = overwrite_params(1, &[9]);
        let cdb = sanitize(OVERWRITE, 0, p.len() as u16);
        let req = CommandRequest {
            nexus: f.nexus,
            lun: lun_address::encode(0),
            cdb: &cdb,
            tag: 77,
            attr: TaskAttribute::Simple,
            data_out_len: p.len() as u32,
        };
        let Submission::Queued(task) = f.device.submit(&req) else {
            panic!("SANITIZE should be queued");
        };
        let mut cx = Context::from_waker(Waker::noop());
        let mut command = Box::pin(f.device.execute(task, p.clone()));
        assert!(
            command.as_mut().poll(&mut cx).is_pending(),
            "waits for the operation"
        );
        let mut abort = Box::pin(f.device.abort_task(f.nexus, lun_address::encode(0), 77));
        assert!(
            abort.as_mut().poll(&mut cx).is_pending(),
            "waits for the command to leave"
        );
        assert!(matches!(
            command.as_mut().poll(&mut cx),
            Poll::Ready(Completion::Aborted(_))
        ));
        drop(command);
        assert!(matches!(abort.as_mut().poll(&mut cx), Poll::Ready(_)));
        // The operation was not touched: it is still to run, and the LUN says so.
        assert_sense(&f.run(&[0; 6]), (0x02, 0x04, 0x1B));
        let op = queue.borrow_mut().pop().expect("the operation");
        block_on(op);
        good(f.run(&[0; 6]));
        assert!(f.contents().iter().all(|&b| b == 9));
    }

    #[test]
    fn an_operation_dropped_midway_counts_as_failed() {
        let f = MemFixture::new(false);
        let lun = f.lun();
        drop(Operation::start(&lun.sanitize, true));
        let read10 = [0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0];
        assert_sense(&f.run(&read10), (0x03, 0x31, 0x03));
        good(f.run(&sanitize(EXIT_FAILURE_MODE, 0, 0)));
    }
}
