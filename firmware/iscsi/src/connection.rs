//! One iSCSI connection from accept to close: the login phase, then the full feature phase with
//! a reader (this task), a writer task, a keep-alive task, and one task per executing command.

use crate::chap::ChapCredential;
use crate::command::TaskTrack;
use crate::discovery::{self, Asker};
use crate::login_phase::{self, LoggedIn};
use crate::params::{SessionParams, SessionType};
use crate::pdu::{
    async_event, decode_request, logout, reject_reason, AsyncMessage, LogoutResponse, NopIn,
    Reject, Request, TextResponse,
};
use crate::portal::{PortalGroup, TargetDef};
use crate::session::{SessionHandle, SessionKey};
use crate::text;
use crate::wire::{Header, OutData, OutPdu, PduReader, PduWriter, Sequencer, StatSn};
use scsi::backend::BlockBackend;
use scsi::{InitiatorPort, NexusId, TargetDevice};
use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::Notify;

pub(crate) use crate::pdu::RESERVED_TAG;
/// Largest text a Text Request sequence may accumulate.
const MAX_TEXT: usize = 64 * 1024;
/// PDUs the writer takes in one vectored write.
const WRITE_BATCH: usize = 64;

/// What the reader does after a PDU.
pub(crate) enum Flow {
    Continue,
    /// Close the connection (after sending what is queued).
    Close,
}

/// The connection's state shared by its tasks.
pub(crate) struct Conn<B: BlockBackend> {
    pub portal: Rc<PortalGroup<B>>,
    pub device: Rc<TargetDevice<B>>,
    pub params: SessionParams,
    pub nexus: Option<NexusId>,
    pub target: Option<TargetDef>,
    pub local: SocketAddr,
    /// The initiator's address, for the discovery filter.
    peer: SocketAddr,
    /// The CHAP credential the session authenticated with, for the discovery filter.
    chap: Option<ChapCredential>,
    session: Rc<SessionHandle>,
    key: SessionKey,
    out: RefCell<VecDeque<OutPdu>>,
    out_ready: Notify,
    statsn: Cell<u32>,
    exp_cmdsn: Cell<u32>,
    /// Tasks by ITT: those gathering data-out and those executing.
    pub tasks: RefCell<HashMap<u32, TaskTrack<B>>>,
    next_ttt: Cell<u32>,
    closing: Cell<bool>,
    /// The connection is being dropped: nothing more is written.
    dead: Cell<bool>,
    /// Set to drop the connection without draining the output queue.
    killed: Notify,
    last_rx: Cell<Instant>,
    ping: Cell<Option<(u32, Instant)>>,
    /// A Text Response too long for one PDU: (TTT, data, bytes already sent).
    text_continuation: RefCell<Option<(u32, Vec<u8>, usize)>>,
    text_request: RefCell<Vec<u8>>,
    /// The TTT of our interim answer to a Text Request continued with the C bit.
    text_request_ttt: Cell<Option<u32>>,
}

impl<B: BlockBackend> Sequencer for Conn<B> {
    fn next_statsn(&self, advance: bool) -> u32 {
        let s = self.statsn.get();
        if advance {
            self.statsn.set(s.wrapping_add(1));
        }
        s
    }

    fn cmd_window(&self) -> (u32, u32) {
        let exp = self.exp_cmdsn.get();
        let outstanding = self.tasks.borrow().len() as u32;
        let room = self.portal.queue_depth.saturating_sub(outstanding);
        // MaxCmdSN = ExpCmdSN - 1 closes the window while the queue is full.
        (exp, exp.wrapping_add(room).wrapping_sub(1))
    }
}

impl<B: BlockBackend + 'static> Conn<B> {
    /// Queues a PDU for the writer.
    pub fn send(&self, pdu: OutPdu) {
        if self.closing.get() {
            if let OutData::Owned(v) = pdu.data {
                self.device.buffers.give(v);
            }
            return;
        }
        self.out.borrow_mut().push_back(pdu);
        self.out_ready.notify_one();
    }

    pub fn is_closing(&self) -> bool {
        self.closing.get()
    }

    pub fn next_ttt(&self) -> u32 {
        let t = self.next_ttt.get();
        let next = t.wrapping_add(1);
        self.next_ttt
            .set(if next == RESERVED_TAG { 1 } else { next });
        t
    }

    /// Accepts a non-immediate CmdSN only in order (RFC 7143 §3.2.2.1): anything outside the
    /// window, or ahead of ExpCmdSN on our single connection, is silently ignored.
    pub fn accept_cmdsn(&self, immediate: bool, cmdsn: u32) -> bool {
        if immediate {
            return true;
        }
        if cmdsn == self.exp_cmdsn.get() {
            self.exp_cmdsn.set(cmdsn.wrapping_add(1));
            true
        } else {
            false
        }
    }

    /// Rejects a command whose CmdSN was just accepted: a rejected command does not count as
    /// received (RFC 7143 §7.3), so the initiator can send it again with the same CmdSN.
    pub fn refuse(&self, reason: u8, bhs: &[u8; 48], immediate: bool, cmdsn: u32) {
        if !immediate && self.exp_cmdsn.get() == cmdsn.wrapping_add(1) {
            self.exp_cmdsn.set(cmdsn);
        }
        self.reject(reason, bhs);
    }

    pub fn reject(&self, reason: u8, bhs: &[u8; 48]) {
        let header = Reject {
            reason,
            statsn: 0,
            exp_cmdsn: 0,
            max_cmdsn: 0,
            datasn_r2tsn: 0,
        }
        .encode();
        self.send(OutPdu::new(
            header,
            OutData::Owned(bhs.to_vec()),
            StatSn::Advance,
        ));
    }

    fn close(&self) {
        self.closing.set(true);
        self.out_ready.notify_one();
    }

    fn kill(&self) {
        self.closing.set(true);
        self.dead.set(true);
        self.killed.notify_waiters();
        self.out_ready.notify_one();
    }

    /// Handles one PDU of the full feature phase.
    async fn dispatch(
        self: &Rc<Self>,
        rd: &mut PduReader<OwnedReadHalf>,
        h: Header,
    ) -> io::Result<Flow> {
        self.last_rx.set(Instant::now());
        self.ping.set(None);
        let len = h.data_len();
        if len > self.params.max_recv_data_segment_length as usize {
            // More than we declared we can receive: the framing is not to be trusted.
            return Ok(Flow::Close);
        }
        let req = match decode_request(&h.bhs, &h.ahs) {
            Ok(r) => r,
            Err(e) => {
                rd.skip_data(len).await?;
                self.reject(e.reject_reason(), &h.bhs);
                return Ok(Flow::Continue);
            }
        };
        match req {
            Request::ScsiCommand(c) => self.scsi_command(rd, &h, c, len).await,
            Request::DataOut {
                final_,
                itt,
                ttt,
                datasn,
                buffer_offset,
                ..
            } => {
                self.data_out(rd, &h, itt, ttt, datasn, buffer_offset, final_, len)
                    .await
            }
            Request::TaskMgmt {
                immediate,
                function,
                lun,
                itt,
                referenced_itt,
                cmdsn,
                ..
            } => {
                rd.skip_data(len).await?;
                if self.nexus.is_none() {
                    self.reject(reject_reason::PROTOCOL_ERROR, &h.bhs);
                    return Ok(Flow::Continue);
                }
                if !self.accept_cmdsn(immediate, cmdsn) {
                    return Ok(Flow::Continue);
                }
                let conn = self.clone();
                tokio::task::spawn_local(async move {
                    conn.task_management(function, lun, itt, referenced_itt)
                        .await;
                });
                Ok(Flow::Continue)
            }
            Request::NopOut {
                immediate,
                itt,
                ttt,
                lun,
                cmdsn,
                ..
            } => {
                let data = rd.read_data_vec(len).await?;
                if itt == RESERVED_TAG {
                    // The answer to our ping (handled above by clearing it), or a pointless
                    // unsolicited NOP-Out: neither gets a response.
                    let _ = ttt;
                    return Ok(Flow::Continue);
                }
                if !self.accept_cmdsn(immediate, cmdsn) {
                    return Ok(Flow::Continue);
                }
                let header = NopIn {
                    lun,
                    itt,
                    ttt: RESERVED_TAG,
                    statsn: 0,
                    exp_cmdsn: 0,
                    max_cmdsn: 0,
                }
                .encode(data.len() as u32);
                let data = if data.is_empty() {
                    OutData::None
                } else {
                    OutData::Owned(data)
                };
                self.send(OutPdu::new(header, data, StatSn::Advance));
                Ok(Flow::Continue)
            }
            Request::Text {
                immediate,
                final_,
                continue_,
                lun,
                itt,
                ttt,
                cmdsn,
                ..
            } => {
                if len > MAX_TEXT {
                    rd.skip_data(len).await?;
                    self.reject(reject_reason::PROTOCOL_ERROR, &h.bhs);
                    return Ok(Flow::Continue);
                }
                let data = rd.read_data_vec(len).await?;
                if !self.accept_cmdsn(immediate, cmdsn) {
                    return Ok(Flow::Continue);
                }
                if let Err(reason) = self.text(final_ || !continue_, lun, itt, ttt, data) {
                    self.refuse(reason, &h.bhs, immediate, cmdsn);
                }
                Ok(Flow::Continue)
            }
            Request::Logout {
                immediate,
                reason,
                itt,
                cmdsn,
                ..
            } => {
                rd.skip_data(len).await?;
                if !self.accept_cmdsn(immediate, cmdsn) {
                    return Ok(Flow::Continue);
                }
                // Close session and close connection are the same with one connection;
                // removing a connection for recovery needs ERL 2.
                let response = match reason {
                    logout::CLOSE_SESSION | logout::CLOSE_CONNECTION => logout::RESPONSE_CLOSED,
                    _ => logout::RESPONSE_RECOVERY_NOT_SUPPORTED,
                };
                let header = LogoutResponse {
                    response,
                    itt,
                    statsn: 0,
                    exp_cmdsn: 0,
                    max_cmdsn: 0,
                    time2wait: 0,
                    time2retain: 0,
                }
                .encode();
                self.send(OutPdu::new(header, OutData::None, StatSn::Advance));
                Ok(if response == 0 {
                    Flow::Close
                } else {
                    Flow::Continue
                })
            }
            Request::Snack { .. } => {
                rd.skip_data(len).await?;
                // SNACK needs ERL 1 or more; we negotiate ERL 0.
                self.reject(reject_reason::PROTOCOL_ERROR, &h.bhs);
                Ok(Flow::Continue)
            }
            Request::Login(_) => {
                rd.skip_data(len).await?;
                self.reject(reject_reason::PROTOCOL_ERROR, &h.bhs);
                Ok(Flow::Close)
            }
        }
    }

    /// A Text Request: SendTargets, a piece of a long request (C bit), or the initiator asking
    /// for the next piece of a long Text Response. `Err` is the reason to reject it with.
    fn text(&self, last: bool, lun: [u8; 8], itt: u32, ttt: u32, data: Vec<u8>) -> Result<(), u8> {
        if ttt == RESERVED_TAG {
            // A new request: whatever exchange was under way is abandoned (RFC 7143 §11.10.4).
            self.text_request.borrow_mut().clear();
            self.text_request_ttt.set(None);
            self.text_continuation.borrow_mut().take();
        } else if self.text_request_ttt.get() == Some(ttt) {
            self.text_request_ttt.set(None);
        } else {
            let cont = self.text_continuation.borrow_mut().take();
            return match cont {
                Some((t, body, sent)) if t == ttt => {
                    self.send_text(lun, itt, body, sent);
                    Ok(())
                }
                _ => Err(reject_reason::INVALID_PDU_FIELD),
            };
        }
        let mut acc = self.text_request.borrow_mut();
        if acc.len() + data.len() > MAX_TEXT {
            acc.clear();
            return Err(reject_reason::PROTOCOL_ERROR);
        }
        acc.extend_from_slice(&data);
        if !last {
            // More of the request follows: an empty answer whose TTT the initiator echoes.
            let ttt = self.next_ttt();
            self.text_request_ttt.set(Some(ttt));
            let header = TextResponse {
                final_: false,
                continue_: false,
                lun,
                itt,
                ttt,
                statsn: 0,
                exp_cmdsn: 0,
                max_cmdsn: 0,
            }
            .encode(0);
            self.send(OutPdu::new(header, OutData::None, StatSn::Advance));
            return Ok(());
        }
        let request = std::mem::take(&mut *acc);
        drop(acc);
        let pairs = text::parse(&request).map_err(|_| reject_reason::PROTOCOL_ERROR)?;
        let mut out = text::TextWriter::new();
        for (k, v) in pairs {
            if k == "SendTargets" {
                let body = discovery::send_targets(&v, &self.target_list(), self.own_target());
                out.extend_raw(&body);
            } else {
                out.push(&k, "NotUnderstood");
            }
        }
        self.send_text(lun, itt, out.into_bytes(), 0);
        Ok(())
    }

    fn send_text(&self, lun: [u8; 8], itt: u32, body: Vec<u8>, sent: usize) {
        let max = self.params.max_xmit_data_segment_length as usize;
        let rest = body.len().saturating_sub(sent);
        let n = rest.min(max.max(512));
        let more = n < rest;
        let ttt = if more { self.next_ttt() } else { RESERVED_TAG };
        let chunk = body.get(sent..sent + n).unwrap_or(&[]).to_vec();
        let header = TextResponse {
            final_: !more,
            continue_: more,
            lun,
            itt,
            ttt,
            statsn: 0,
            exp_cmdsn: 0,
            max_cmdsn: 0,
        }
        .encode(chunk.len() as u32);
        if more {
            *self.text_continuation.borrow_mut() = Some((ttt, body, sent + n));
        }
        self.send(OutPdu::new(header, OutData::Owned(chunk), StatSn::Advance));
    }

    /// The targets SendTargets may report to this initiator: the portal group's current
    /// list through its discovery filter. Normal sessions are filtered too, with the
    /// credentials they logged in with, so they cannot learn more than discovery would say.
    fn target_list(&self) -> Vec<(String, Vec<String>)> {
        let addrs = self.portal.addresses(self.local);
        let asker = Asker {
            name: &self.params.initiator_name,
            addr: self.peer.ip(),
            chap: self.chap.as_ref(),
        };
        self.portal
            .targets()
            .into_iter()
            .filter(|t| discovery::target_visible(self.portal.discovery_filter, &t.access, &asker))
            .map(|t| (t.access.name, addrs.clone()))
            .collect()
    }

    fn own_target(&self) -> Option<&str> {
        self.target.as_ref().map(|t| t.access.name.as_str())
    }

    /// Ends the writes still gathering data that task management aborted, wherever it was
    /// issued: each gets TASK ABORTED status when it was another nexus's doing (TAS), nothing
    /// when it was its own.
    pub(crate) fn end_aborted_writes(&self) {
        let aborted: Vec<_> = {
            let mut tasks = self.tasks.borrow_mut();
            let itts: Vec<u32> = tasks
                .iter()
                .filter(|(_, t)| t.is_aborted_write())
                .map(|(itt, _)| *itt)
                .collect();
            itts.into_iter()
                .filter_map(|itt| tasks.remove(&itt))
                .collect()
        };
        for track in aborted {
            if let TaskTrack::GatheringData(p) = track {
                self.end_aborted(*p);
            }
        }
    }

    async fn watch_aborts(self: Rc<Self>) {
        loop {
            let changed = self.device.aborts.changed();
            self.end_aborted_writes();
            changed.await;
        }
    }

    /// Pings an idle initiator and drops the connection when it stops answering.
    async fn keep_alive(self: Rc<Self>) {
        let timers = self.portal.timers;
        // A zero interval turns pinging off, as CTL's ping_timeout of 0 does.
        if timers.nop_interval.is_zero() || timers.nop_timeout.is_zero() {
            return;
        }
        let tick = timers.nop_interval.min(timers.nop_timeout) / 2;
        loop {
            tokio::time::sleep(tick).await;
            if self.closing.get() {
                return;
            }
            match self.ping.get() {
                Some((_, sent)) if sent.elapsed() >= timers.nop_timeout => {
                    eprintln!(
                        "iscsi: {} did not answer a NOP-In within {:?}; dropping the connection",
                        self.params.initiator_name, timers.nop_timeout
                    );
                    self.kill();
                    return;
                }
                Some(_) => {}
                None if self.last_rx.get().elapsed() >= timers.nop_interval => {
                    let ttt = self.next_ttt();
                    let header = NopIn {
                        lun: [0; 8],
                        itt: RESERVED_TAG,
                        ttt,
                        statsn: 0,
                        exp_cmdsn: 0,
                        max_cmdsn: 0,
                    }
                    .encode(0);
                    self.ping.set(Some((ttt, Instant::now())));
                    self.send(OutPdu::new(header, OutData::None, StatSn::Current));
                }
                None => {}
            }
        }
    }

    /// Carries out a console logout request (ctladm `islogout`): an Asynchronous Message
    /// "target requests logout" (RFC 7143 §11.9.1) whose Parameter3 gives the initiator the
    /// table's time limit; if the session is still running after it, it is dropped.
    async fn logout_watch(self: Rc<Self>) {
        self.session.logout_requested().await;
        let limit = self.portal.sessions.logout_time_limit();
        let header = AsyncMessage {
            lun: [0; 8],
            statsn: 0,
            exp_cmdsn: 0,
            max_cmdsn: 0,
            event: async_event::LOGOUT_REQUEST,
            vcode: 0,
            param1: 0,
            param2: 0,
            param3: limit,
        }
        .encode(0);
        self.send(OutPdu::new(header, OutData::None, StatSn::Advance));
        tokio::time::sleep(Duration::from_secs(u64::from(limit))).await;
        if !self.closing.get() {
            eprintln!(
                "iscsi: {} did not log out within {limit} s of being asked; dropping the session",
                self.params.initiator_name
            );
            self.session.stop();
        }
    }

    /// Sends queued PDUs until the connection closes.
    async fn write_loop(self: Rc<Self>, mut wr: PduWriter<OwnedWriteHalf>) {
        let mut batch: Vec<OutPdu> = Vec::with_capacity(WRITE_BATCH);
        loop {
            if self.dead.get() {
                break;
            }
            {
                let mut out = self.out.borrow_mut();
                let n = out.len().min(WRITE_BATCH);
                batch.extend(out.drain(..n));
            }
            if batch.is_empty() {
                if self.closing.get() {
                    break;
                }
                self.out_ready.notified().await;
                continue;
            }
            let result = tokio::select! {
                r = wr.write_batch(&mut batch, &*self) => r,
                _ = self.killed.notified() => Err(io::ErrorKind::ConnectionAborted.into()),
            };
            for pdu in batch.drain(..) {
                match pdu.data {
                    OutData::Owned(v) => self.device.buffers.give(v),
                    OutData::Shared(rc, _) => {
                        if let Ok(v) = Rc::try_unwrap(rc) {
                            self.device.buffers.give(v);
                        }
                    }
                    OutData::None => {}
                }
            }
            if result.is_err() {
                self.kill();
                break;
            }
        }
        wr.shutdown().await;
    }
}

/// Runs a connection from accept to close.
pub async fn run<B: BlockBackend + 'static>(
    stream: TcpStream,
    peer: SocketAddr,
    portal: Rc<PortalGroup<B>>,
) {
    let over_limit = !portal.connection_opened();
    let local = stream.local_addr().unwrap_or(peer);
    let (rd, wr) = stream.into_split();
    let mut reader = PduReader::new(rd);
    let mut wr = wr;
    let logged_in = tokio::time::timeout(
        portal.timers.login_timeout,
        login_phase::login(&mut reader, &mut wr, &portal, over_limit, peer, local),
    )
    .await;
    if let Ok(Ok(Some(session))) = logged_in {
        full_feature_phase(reader, wr, peer, local, portal.clone(), session).await;
    }
    portal.connection_closed();
}

async fn full_feature_phase<B: BlockBackend + 'static>(
    mut reader: PduReader<OwnedReadHalf>,
    wr: OwnedWriteHalf,
    peer: SocketAddr,
    local: SocketAddr,
    portal: Rc<PortalGroup<B>>,
    s: LoggedIn,
) {
    let LoggedIn {
        params,
        key,
        handle,
        chap,
        statsn,
        exp_cmdsn,
    } = s;
    let target = match params.session_type {
        SessionType::Normal => {
            // The console may have removed the target (and stopped this session) while the
            // login response was being written.
            let t = params.target_name.as_deref().and_then(|n| portal.target(n));
            if t.is_none() || handle.is_stopped() {
                portal.sessions.close(&key, &handle);
                return;
            }
            t
        }
        SessionType::Discovery => None,
    };
    let device = portal.device.clone();
    let nexus = match &target {
        Some(t) => match device.login(
            t.port,
            InitiatorPort {
                name: key.initiator.clone(),
                isid: key.isid,
            },
        ) {
            Ok(n) => {
                handle.set_nexus(n);
                Some(n)
            }
            Err(e) => {
                eprintln!("iscsi: cannot register the I_T nexus of {peer}: {e}");
                portal.sessions.close(&key, &handle);
                return;
            }
        },
        None => None,
    };
    reader.header_digest = params.header_digest;
    reader.data_digest = params.data_digest;
    let mut writer = PduWriter::new(wr);
    writer.header_digest = params.header_digest;
    writer.data_digest = params.data_digest;
    let conn = Rc::new(Conn {
        portal: portal.clone(),
        device: device.clone(),
        params,
        nexus,
        target,
        local,
        peer,
        chap,
        session: handle,
        key,
        out: RefCell::new(VecDeque::new()),
        out_ready: Notify::new(),
        statsn: Cell::new(statsn),
        exp_cmdsn: Cell::new(exp_cmdsn),
        tasks: RefCell::new(HashMap::new()),
        next_ttt: Cell::new(1),
        closing: Cell::new(false),
        dead: Cell::new(false),
        killed: Notify::new(),
        last_rx: Cell::new(Instant::now()),
        ping: Cell::new(None),
        text_continuation: RefCell::new(None),
        text_request: RefCell::new(Vec::new()),
        text_request_ttt: Cell::new(None),
    });
    let writer_task = tokio::task::spawn_local(conn.clone().write_loop(writer));
    let keep_alive = tokio::task::spawn_local(conn.clone().keep_alive());
    let abort_watch = tokio::task::spawn_local(conn.clone().watch_aborts());
    let logout_watch = tokio::task::spawn_local(conn.clone().logout_watch());
    loop {
        // A stop request must also reach a reader waiting in the middle of a PDU, or an
        // initiator that stalls mid-PDU would hold its session and nexus forever.
        let flow = tokio::select! {
            f = async {
                let h = reader.read_header().await?;
                conn.dispatch(&mut reader, h).await
            } => f,
            _ = conn.session.stopped() => break,
            _ = conn.killed.notified() => break,
        };
        match flow {
            Ok(Flow::Continue) if !conn.closing.get() => {}
            _ => break,
        }
    }
    conn.close();
    keep_alive.abort();
    abort_watch.abort();
    logout_watch.abort();
    // Tasks still gathering data-out are dropped (and leave the task set); executing ones
    // finish and find the connection closing.
    conn.tasks.borrow_mut().clear();
    if let Some(n) = conn.nexus {
        device.logout(n);
    }
    portal.sessions.close(&conn.key, &conn.session);
    let _ = writer_task.await;
}
