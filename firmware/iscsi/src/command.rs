//! The SCSI data path of a connection: SCSI Command PDUs into the core, data-out gathered from
//! immediate data, unsolicited Data-Out and R2T-solicited bursts, and results back as Data-In
//! and SCSI Response PDUs with residuals.

use crate::connection::{Conn, Flow, RESERVED_TAG};
use crate::pdu::{reject_reason, DataIn, Residual, ScsiCommand, ScsiResponse, R2T};
use crate::wire::{Header, OutData, OutPdu, PduReader, StatSn};
use scsi::backend::BlockBackend;
use scsi::sense::{Sense, SenseKey};
use scsi::{
    AbortKind, CommandRequest, CommandResult, Completion, ScsiStatus, Submission, Task,
    TaskAttribute,
};
use std::collections::VecDeque;
use std::io;
use std::rc::Rc;
use tokio::net::tcp::OwnedReadHalf;

/// What the initiator asked of a command, kept until its response.
#[derive(Clone, Copy)]
pub(crate) struct CommandInfo {
    pub lun: [u8; 8],
    pub itt: u32,
    pub read: bool,
    pub write: bool,
    /// Expected data transfer length (EDTL).
    pub expected: u32,
    /// Data-out the command wanted (SPDTL for writes).
    pub wanted_out: u32,
    /// R2Ts sent for it (its ExpDataSN in the response).
    pub r2ts: u32,
}

/// One R2T the initiator has not fully answered yet.
struct OpenR2t {
    ttt: u32,
    offset: u32,
    len: u32,
    received: u32,
    next_datasn: u32,
}

/// A write command gathering its data-out.
pub(crate) struct PendingWrite<B: BlockBackend> {
    task: Task<B>,
    buf: Vec<u8>,
    info: CommandInfo,
    /// Bytes of `buf` filled; the command starts when all `task.data_out_len()` are.
    stored: u32,
    /// Unsolicited data (immediate and Data-Out with the reserved TTT) received so far, and
    /// where it must end: FirstBurstLength, or EDTL if smaller.
    unsolicited: u32,
    unsolicited_end: u32,
    unsolicited_done: bool,
    unsolicited_datasn: u32,
    r2ts: VecDeque<OpenR2t>,
    next_r2t_offset: u32,
}

/// A task the connection tracks by ITT.
pub(crate) enum TaskTrack<B: BlockBackend> {
    GatheringData(Box<PendingWrite<B>>),
    /// Executing in the core.
    Executing,
    /// Temporarily out of the map while its data is read from the socket.
    Receiving,
}

impl<B: BlockBackend> TaskTrack<B> {
    pub fn is_aborted_write(&self) -> bool {
        matches!(self, TaskTrack::GatheringData(p) if p.task.is_aborted())
    }
}

/// DATA PHASE ERROR: a Data-Out out of sequence (wrong DataSN, offset or length).
const DATA_PHASE_ERROR: Sense = Sense::new(SenseKey::AbortedCommand, 0x4B, 0x00);
/// INVALID TARGET PORT TRANSFER TAG RECEIVED.
const INVALID_TTT: Sense = Sense::new(SenseKey::AbortedCommand, 0x4B, 0x01);

impl<B: BlockBackend + 'static> Conn<B> {
    pub(crate) async fn scsi_command(
        self: &Rc<Self>,
        rd: &mut PduReader<OwnedReadHalf>,
        h: &Header,
        c: ScsiCommand,
        len: usize,
    ) -> io::Result<Flow> {
        let Some(nexus) = self.nexus else {
            // SCSI commands have no place in a discovery session.
            rd.skip_data(len).await?;
            self.reject(reject_reason::PROTOCOL_ERROR, &h.bhs);
            return Ok(Flow::Continue);
        };
        if !self.accept_cmdsn(c.immediate, c.cmdsn) {
            rd.skip_data(len).await?;
            return Ok(Flow::Continue);
        }
        if len > 0
            && (!c.write
                || !self.params.immediate_data
                || len as u32 > self.params.first_burst_length
                || len as u32 > c.expected_data_len)
        {
            // Immediate data that was not negotiated or exceeds what was announced.
            return Ok(Flow::Close);
        }
        if self.tasks.borrow().contains_key(&c.itt) {
            rd.skip_data(len).await?;
            self.refuse(reject_reason::PROTOCOL_ERROR, &h.bhs, c.immediate, c.cmdsn);
            return Ok(Flow::Continue);
        }
        let req = CommandRequest {
            nexus,
            lun: c.lun,
            cdb: c.cdb.get(..c.cdb_len).unwrap_or(&c.cdb),
            tag: u64::from(c.itt),
            attr: TaskAttribute::from_iscsi(c.attr),
            data_out_len: if c.write { c.expected_data_len } else { 0 },
        };
        let mut info = CommandInfo {
            lun: c.lun,
            itt: c.itt,
            read: c.read,
            write: c.write,
            expected: c.expected_data_len,
            wanted_out: 0,
            r2ts: 0,
        };
        let task = match self.device.submit(&req) {
            Submission::Complete(result) => {
                rd.skip_data(len).await?;
                self.respond(&info, result);
                return Ok(Flow::Continue);
            }
            Submission::Queued(task) => task,
        };
        info.wanted_out = task.wanted_out();
        let need = task.data_out_len();
        if need == 0 {
            rd.skip_data(len).await?;
            self.start(info, task, Vec::new());
            return Ok(Flow::Continue);
        }
        let mut buf = self.device.buffers.take(need as usize);
        let keep = len.min(need as usize);
        rd.read_data_prefix(&mut buf[..keep], len).await?;
        let unsolicited_end = if c.final_ || self.params.initial_r2t {
            len as u32
        } else {
            self.params.first_burst_length.min(c.expected_data_len)
        };
        let mut pending = Box::new(PendingWrite {
            task,
            buf,
            info,
            stored: keep as u32,
            unsolicited: len as u32,
            unsolicited_end,
            unsolicited_done: c.final_ || unsolicited_end == len as u32,
            unsolicited_datasn: 0,
            r2ts: VecDeque::new(),
            next_r2t_offset: unsolicited_end.min(need),
        });
        if pending.stored == need {
            let p = *pending;
            self.start(p.info, p.task, p.buf);
            return Ok(Flow::Continue);
        }
        if pending.unsolicited_done {
            self.solicit(&mut pending);
        }
        self.tasks
            .borrow_mut()
            .insert(c.itt, TaskTrack::GatheringData(pending));
        Ok(Flow::Continue)
    }

    /// Sends R2Ts until MaxOutstandingR2T are open or all needed data is asked for.
    fn solicit(&self, p: &mut PendingWrite<B>) {
        let need = p.task.data_out_len();
        let max_open = self.params.max_outstanding_r2t.max(1) as usize;
        while p.r2ts.len() < max_open && p.next_r2t_offset < need {
            let offset = p.next_r2t_offset;
            let len = (need - offset).min(self.params.max_burst_length);
            let ttt = self.next_ttt();
            let header = R2T {
                lun: p.info.lun,
                itt: p.info.itt,
                ttt,
                statsn: 0,
                exp_cmdsn: 0,
                max_cmdsn: 0,
                r2tsn: p.info.r2ts,
                buffer_offset: offset,
                desired_len: len,
            }
            .encode();
            self.send(OutPdu::new(header, OutData::None, StatSn::Current));
            p.r2ts.push_back(OpenR2t {
                ttt,
                offset,
                len,
                received: 0,
                next_datasn: 0,
            });
            p.info.r2ts = p.info.r2ts.wrapping_add(1);
            p.next_r2t_offset = offset + len;
        }
    }

    /// Ends a write that task management aborted while its data was arriving.
    pub(crate) fn end_aborted(&self, p: PendingWrite<B>) {
        let kind = p.task.abort_kind();
        self.device.buffers.give(p.buf);
        let info = p.info;
        drop(p.task);
        if kind == Some(AbortKind::TaskAborted) {
            self.respond(&info, CommandResult::status(ScsiStatus::TaskAborted));
        }
    }

    /// Ends a command whose data-out went wrong, keeping the session: the initiator gets
    /// CHECK CONDITION, ABORTED COMMAND and may retry.
    fn fail_data_out(&self, p: PendingWrite<B>, sense: &Sense) {
        self.device.buffers.give(p.buf);
        let descriptor = false;
        let mut info = p.info;
        info.wanted_out = p.stored.min(info.wanted_out);
        drop(p.task);
        self.respond(&info, CommandResult::check_condition(sense, descriptor));
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn data_out(
        self: &Rc<Self>,
        rd: &mut PduReader<OwnedReadHalf>,
        h: &Header,
        itt: u32,
        ttt: u32,
        datasn: u32,
        offset: u32,
        final_: bool,
        len: usize,
    ) -> io::Result<Flow> {
        let track = self.tasks.borrow_mut().insert(itt, TaskTrack::Receiving);
        let mut p = match track {
            Some(TaskTrack::GatheringData(p)) => p,
            other => {
                // A Data-Out for a task not gathering data: dropped when unsolicited (the
                // command may have ended early), rejected when it claims an R2T.
                match other {
                    Some(t) => self.tasks.borrow_mut().insert(itt, t),
                    None => self.tasks.borrow_mut().remove(&itt),
                };
                rd.skip_data(len).await?;
                if ttt != RESERVED_TAG {
                    self.reject(reject_reason::INVALID_PDU_FIELD, &h.bhs);
                }
                return Ok(Flow::Continue);
            }
        };
        let n = len as u32;
        let in_sequence = if ttt == RESERVED_TAG {
            let ok = !p.unsolicited_done
                && datasn == p.unsolicited_datasn
                && offset == p.unsolicited
                && offset
                    .checked_add(n)
                    .is_some_and(|e| e <= p.unsolicited_end);
            if ok {
                p.unsolicited_datasn = p.unsolicited_datasn.wrapping_add(1);
                p.unsolicited += n;
                p.unsolicited_done |= final_;
            }
            ok.then_some(()).ok_or(DATA_PHASE_ERROR)
        } else {
            match p.r2ts.iter_mut().find(|r| r.ttt == ttt) {
                None => Err(INVALID_TTT),
                Some(r) => {
                    let ok = datasn == r.next_datasn
                        && offset == r.offset + r.received
                        && r.received + n <= r.len
                        && (!final_ || r.received + n == r.len);
                    if ok {
                        r.next_datasn = r.next_datasn.wrapping_add(1);
                        r.received += n;
                    }
                    ok.then_some(()).ok_or(DATA_PHASE_ERROR)
                }
            }
        };
        if let Err(sense) = in_sequence {
            self.tasks.borrow_mut().remove(&itt);
            rd.skip_data(len).await?;
            self.fail_data_out(*p, &sense);
            return Ok(Flow::Continue);
        }
        // Data past what the command needs (EDTL > SPDTL) is read and dropped.
        let need = p.task.data_out_len();
        let keep = need.saturating_sub(offset).min(n) as usize;
        let start = offset as usize;
        let Some(dst) = p.buf.get_mut(start..start + keep) else {
            self.tasks.borrow_mut().remove(&itt);
            rd.skip_data(len).await?;
            self.fail_data_out(*p, &DATA_PHASE_ERROR);
            return Ok(Flow::Continue);
        };
        rd.read_data_prefix(dst, len).await?;
        p.stored += keep as u32;
        p.r2ts.retain(|r| r.received < r.len);
        if self.is_closing() {
            return Ok(Flow::Close);
        }
        let mut tasks = self.tasks.borrow_mut();
        if p.task.is_aborted() {
            // Task management ended it while its data was arriving.
            tasks.remove(&itt);
            drop(tasks);
            self.end_aborted(*p);
            return Ok(Flow::Continue);
        }
        if p.stored == need {
            tasks.remove(&itt);
            drop(tasks);
            let p = *p;
            self.start(p.info, p.task, p.buf);
            return Ok(Flow::Continue);
        }
        if p.unsolicited_done {
            self.solicit(&mut p);
        }
        tasks.insert(itt, TaskTrack::GatheringData(p));
        Ok(Flow::Continue)
    }

    /// Hands a command with all its data to the core on its own task.
    fn start(self: &Rc<Self>, info: CommandInfo, task: Task<B>, data: Vec<u8>) {
        self.tasks
            .borrow_mut()
            .insert(info.itt, TaskTrack::Executing);
        let conn = self.clone();
        tokio::task::spawn_local(async move {
            let completion = conn.device.execute(task, data).await;
            conn.tasks.borrow_mut().remove(&info.itt);
            match completion {
                Completion::Done(result) => conn.respond(&info, result),
                Completion::Aborted(scsi::AbortKind::Silent) => {}
                Completion::Aborted(scsi::AbortKind::TaskAborted) => {
                    conn.respond(&info, CommandResult::status(ScsiStatus::TaskAborted))
                }
            }
        });
    }

    /// Sends a command's data-in and status.
    pub(crate) fn respond(&self, info: &CommandInfo, result: CommandResult) {
        if self.is_closing() {
            self.device.buffers.give(result.data);
            return;
        }
        let status = result.scsi_status();
        let mut data = result.data;
        // Residuals compare what the command wanted to move with what the initiator expected.
        let (wanted, expected) = if info.write && !info.read {
            (info.wanted_out, info.expected)
        } else if info.read {
            (data.len() as u32, info.expected)
        } else {
            (data.len() as u32, 0)
        };
        let residual = if wanted > expected {
            Residual::Overflow(wanted - expected)
        } else if wanted < expected {
            Residual::Underflow(expected - wanted)
        } else {
            Residual::None
        };
        if !info.read {
            self.device.buffers.give(std::mem::take(&mut data));
        }
        data.truncate(info.expected as usize);
        let collapse = status == ScsiStatus::Good && result.sense.is_empty();
        let mut datasn = 0u32;
        if !data.is_empty() {
            datasn = self.send_data_in(info, data, collapse.then_some((status, residual)));
            if collapse {
                return;
            }
        } else {
            self.device.buffers.give(data);
        }
        let sense = if result.sense.is_empty() {
            OutData::None
        } else {
            let mut seg = Vec::with_capacity(2 + result.sense.len());
            seg.extend_from_slice(&(result.sense.len() as u16).to_be_bytes());
            seg.extend_from_slice(&result.sense);
            OutData::Owned(seg)
        };
        let seg_len = match &sense {
            OutData::Owned(v) => v.len() as u32,
            _ => 0,
        };
        let header = ScsiResponse {
            response: 0,
            status: status as u8,
            residual,
            itt: info.itt,
            statsn: 0,
            exp_cmdsn: 0,
            max_cmdsn: 0,
            exp_datasn: if info.read { datasn } else { info.r2ts },
        }
        .encode(seg_len);
        self.send(OutPdu::new(header, sense, StatSn::Advance));
    }

    /// Splits `data` into Data-In PDUs of at most the initiator's MaxRecvDataSegmentLength,
    /// ending a sequence every MaxBurstLength; the last carries the status when `status` is
    /// given. Returns the number of Data-In PDUs sent.
    fn send_data_in(
        &self,
        info: &CommandInfo,
        data: Vec<u8>,
        status: Option<(ScsiStatus, Residual)>,
    ) -> u32 {
        let total = data.len();
        let seg = (self.params.max_xmit_data_segment_length as usize).max(512);
        let burst = (self.params.max_burst_length as usize).max(seg);
        let (shared, mut owned) = if total > seg {
            (Some(Rc::new(data)), None)
        } else {
            (None, Some(data))
        };
        let mut offset = 0usize;
        let mut datasn = 0u32;
        while offset < total {
            let n = seg.min(total - offset).min(burst - offset % burst);
            let last = offset + n == total;
            let end_of_burst = last || (offset + n).is_multiple_of(burst);
            let header = DataIn {
                final_: end_of_burst,
                ack: false,
                status: if last {
                    status.map(|(s, _)| s as u8)
                } else {
                    None
                },
                residual: if last {
                    status.map_or(Residual::None, |(_, r)| r)
                } else {
                    Residual::None
                },
                lun: info.lun,
                itt: info.itt,
                ttt: RESERVED_TAG,
                statsn: 0,
                exp_cmdsn: 0,
                max_cmdsn: 0,
                datasn,
                buffer_offset: offset as u32,
            }
            .encode(n as u32);
            let payload = match (&shared, owned.take()) {
                (Some(rc), _) => OutData::Shared(rc.clone(), offset..offset + n),
                (None, Some(v)) => OutData::Owned(v),
                (None, None) => OutData::None,
            };
            let statsn = if last && status.is_some() {
                StatSn::Advance
            } else {
                StatSn::Keep
            };
            self.send(OutPdu::new(header, payload, statsn));
            offset += n;
            datasn = datasn.wrapping_add(1);
        }
        datasn
    }
}
