//! A minimal raw-PDU iSCSI initiator for the hostile-input tests: initiator BHS bytes built by
//! hand from RFC 7143 §11 (so they do not share the target codec's mistakes), target PDUs read
//! back field by field, and just enough session logic (CmdSN, R2T, Data-In) to run commands.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

/// The reserved tag value: "no task" (RFC 7143 §11.2).
pub const RESERVED: u32 = 0xffff_ffff;
/// The initiator name every test logs in with, unless it says otherwise.
pub const INITIATOR: &str = "iqn.2024-01.org.example:bad-input";
/// How long a read waits before the test calls the target hung.
pub const READ_TIMEOUT: Duration = Duration::from_secs(3);

/// Initiator opcodes (RFC 7143 §11.2.1.2).
pub mod op {
    pub const NOP_OUT: u8 = 0x00;
    pub const SCSI_COMMAND: u8 = 0x01;
    pub const TMF_REQUEST: u8 = 0x02;
    pub const LOGIN_REQUEST: u8 = 0x03;
    pub const TEXT_REQUEST: u8 = 0x04;
    pub const DATA_OUT: u8 = 0x05;
    pub const LOGOUT_REQUEST: u8 = 0x06;
    // Target opcodes.
    pub const NOP_IN: u8 = 0x20;
    pub const SCSI_RESPONSE: u8 = 0x21;
    pub const TMF_RESPONSE: u8 = 0x22;
    pub const LOGIN_RESPONSE: u8 = 0x23;
    pub const TEXT_RESPONSE: u8 = 0x24;
    pub const DATA_IN: u8 = 0x25;
    pub const LOGOUT_RESPONSE: u8 = 0x26;
    pub const R2T: u8 = 0x31;
    pub const ASYNC_MESSAGE: u8 = 0x32;
    pub const REJECT: u8 = 0x3f;
}

/// A Basic Header Segment under construction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bhs(pub [u8; 48]);

impl Bhs {
    pub fn new(opcode: u8) -> Self {
        let mut b = [0u8; 48];
        b[0] = opcode & 0x3f;
        Bhs(b)
    }

    /// Sets the I (immediate delivery) bit.
    pub fn immediate(mut self) -> Self {
        self.0[0] |= 0x40;
        self
    }

    pub fn flags(self, flags: u8) -> Self {
        self.byte(1, flags)
    }

    pub fn byte(mut self, at: usize, v: u8) -> Self {
        self.0[at] = v;
        self
    }

    pub fn u16_at(mut self, at: usize, v: u16) -> Self {
        self.0[at..at + 2].copy_from_slice(&v.to_be_bytes());
        self
    }

    pub fn u32_at(mut self, at: usize, v: u32) -> Self {
        self.0[at..at + 4].copy_from_slice(&v.to_be_bytes());
        self
    }

    pub fn itt(self, itt: u32) -> Self {
        self.u32_at(16, itt)
    }

    pub fn ttt(self, ttt: u32) -> Self {
        self.u32_at(20, ttt)
    }

    pub fn cmdsn(self, cmdsn: u32) -> Self {
        self.u32_at(24, cmdsn)
    }

    pub fn exp_statsn(self, statsn: u32) -> Self {
        self.u32_at(28, statsn)
    }

    /// TotalAHSLength in 4-byte words (byte 4).
    pub fn ahs_words(self, words: u8) -> Self {
        self.byte(4, words)
    }

    /// DataSegmentLength (bytes 5..8); [`Initiator::send`] sets it from the data it sends.
    pub fn data_len(mut self, len: u32) -> Self {
        self.0[5..8].copy_from_slice(&len.to_be_bytes()[1..]);
        self
    }

    /// The CDB field (bytes 32..48), zero-padded.
    pub fn cdb(mut self, cdb: &[u8]) -> Self {
        self.0[32..48].fill(0);
        self.0[32..32 + cdb.len()].copy_from_slice(cdb);
        self
    }
}

/// Login stages (CSG/NSG).
pub const OPERATIONAL: u8 = 1;
pub const FULL_FEATURE: u8 = 3;

/// The fields of a Login Request (RFC 7143 §11.12).
#[derive(Clone, Copy, Debug)]
pub struct LoginFields {
    pub transit: bool,
    pub continue_: bool,
    pub csg: u8,
    pub nsg: u8,
    pub version_max: u8,
    pub version_min: u8,
    pub isid: [u8; 6],
    pub tsih: u16,
    pub itt: u32,
    pub cid: u16,
    pub cmdsn: u32,
    pub exp_statsn: u32,
}

impl LoginFields {
    /// The one-PDU login of these tests: operational stage straight to full feature phase.
    pub fn new(isid: [u8; 6]) -> Self {
        LoginFields {
            transit: true,
            continue_: false,
            csg: OPERATIONAL,
            nsg: FULL_FEATURE,
            version_max: 0,
            version_min: 0,
            isid,
            tsih: 0,
            itt: 0x1000,
            cid: 1,
            cmdsn: 1,
            exp_statsn: 0,
        }
    }

    pub fn bhs(&self) -> Bhs {
        let mut flags = ((self.csg & 3) << 2) | (self.nsg & 3);
        if self.transit {
            flags |= 0x80;
        }
        if self.continue_ {
            flags |= 0x40;
        }
        let mut b = Bhs::new(op::LOGIN_REQUEST)
            .immediate()
            .flags(flags)
            .byte(2, self.version_max)
            .byte(3, self.version_min)
            .u16_at(14, self.tsih)
            .itt(self.itt)
            .u16_at(20, self.cid)
            .cmdsn(self.cmdsn)
            .exp_statsn(self.exp_statsn);
        b.0[8..14].copy_from_slice(&self.isid);
        b
    }
}

/// `key=value\0` for each pair.
pub fn text(pairs: &[(&str, &str)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (k, v) in pairs {
        out.extend_from_slice(k.as_bytes());
        out.push(b'=');
        out.extend_from_slice(v.as_bytes());
        out.push(0);
    }
    out
}

/// Splits a text into its pairs; repeated keys are kept (SendTargets answers repeat them).
pub fn parse_text(data: &[u8]) -> Vec<(String, String)> {
    data.split(|&c| c == 0)
        .filter(|e| !e.is_empty())
        .map(|e| {
            let s = String::from_utf8_lossy(e);
            let (k, v) = s.split_once('=').unwrap_or((&s, ""));
            (k.to_owned(), v.to_owned())
        })
        .collect()
}

/// The value of `key` in a text, if there.
pub fn text_value(data: &[u8], key: &str) -> Option<String> {
    parse_text(data)
        .into_iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v)
}

/// A PDU received from the target.
#[derive(Clone, Debug)]
pub struct Pdu {
    pub bhs: [u8; 48],
    pub data: Vec<u8>,
}

impl Pdu {
    pub fn opcode(&self) -> u8 {
        self.bhs[0] & 0x3f
    }

    pub fn flags(&self) -> u8 {
        self.bhs[1]
    }

    pub fn final_(&self) -> bool {
        self.bhs[1] & 0x80 != 0
    }

    pub fn continue_(&self) -> bool {
        self.bhs[1] & 0x40 != 0
    }

    pub fn u32_at(&self, at: usize) -> u32 {
        u32::from_be_bytes([
            self.bhs[at],
            self.bhs[at + 1],
            self.bhs[at + 2],
            self.bhs[at + 3],
        ])
    }

    pub fn itt(&self) -> u32 {
        self.u32_at(16)
    }

    pub fn ttt(&self) -> u32 {
        self.u32_at(20)
    }

    pub fn statsn(&self) -> u32 {
        self.u32_at(24)
    }

    pub fn exp_cmdsn(&self) -> u32 {
        self.u32_at(28)
    }

    pub fn max_cmdsn(&self) -> u32 {
        self.u32_at(32)
    }

    /// Login Response status class and detail (bytes 36, 37).
    pub fn login_status(&self) -> (u8, u8) {
        (self.bhs[36], self.bhs[37])
    }

    pub fn tsih(&self) -> u16 {
        u16::from_be_bytes([self.bhs[14], self.bhs[15]])
    }

    /// Reject reason, SCSI Response "response", TMF Response "response" (byte 2).
    pub fn byte2(&self) -> u8 {
        self.bhs[2]
    }

    /// Whether this PDU consumes a StatSN (a response, or Data-In with status).
    fn has_statsn(&self) -> bool {
        match self.opcode() {
            op::SCSI_RESPONSE
            | op::TMF_RESPONSE
            | op::LOGIN_RESPONSE
            | op::TEXT_RESPONSE
            | op::LOGOUT_RESPONSE
            | op::ASYNC_MESSAGE
            | op::REJECT => true,
            op::NOP_IN => self.itt() != RESERVED,
            op::DATA_IN => self.flags() & 0x01 != 0,
            _ => false,
        }
    }

    /// A NOP-In the target sends on its own to ping us.
    pub fn is_ping(&self) -> bool {
        self.opcode() == op::NOP_IN && self.itt() == RESERVED
    }
}

/// How a SCSI command ended.
#[derive(Clone, Debug)]
pub struct ScsiOutcome {
    pub status: u8,
    pub sense: Vec<u8>,
    pub data: Vec<u8>,
}

impl ScsiOutcome {
    /// (sense key, ASC, ASCQ) of fixed (70h/71h) or descriptor (72h/73h) sense data.
    pub fn sense_code(&self) -> Option<(u8, u8, u8)> {
        let s = &self.sense;
        match s.first()? & 0x7f {
            0x70 | 0x71 if s.len() >= 14 => Some((s[2] & 0x0f, s[12], s[13])),
            0x72 | 0x73 if s.len() >= 4 => Some((s[1] & 0x0f, s[2], s[3])),
            _ => None,
        }
    }
}

/// Sense data of a SCSI Response data segment (after its 2-byte SenseLength).
fn sense_of(data: &[u8]) -> Vec<u8> {
    if data.len() < 2 {
        return Vec::new();
    }
    let n = usize::from(u16::from_be_bytes([data[0], data[1]]));
    data[2..].iter().take(n).copied().collect()
}

/// Rounds up to a multiple of 4: AHS and data segments are padded to 4 bytes on the wire.
fn pad4(n: usize) -> usize {
    (n + 3) & !3
}

/// CDB builders.
pub mod cdb {
    pub fn test_unit_ready() -> Vec<u8> {
        vec![0u8; 6]
    }

    pub fn read10(lba: u32, blocks: u16) -> Vec<u8> {
        let mut c = vec![0x28u8, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        c[2..6].copy_from_slice(&lba.to_be_bytes());
        c[7..9].copy_from_slice(&blocks.to_be_bytes());
        c
    }

    pub fn write10(lba: u32, blocks: u16) -> Vec<u8> {
        let mut c = read10(lba, blocks);
        c[0] = 0x2a;
        c
    }
}

/// One TCP connection to the target and the session state on it.
pub struct Initiator {
    stream: TcpStream,
    pub name: String,
    pub isid: [u8; 6],
    pub tsih: u16,
    /// CmdSN of the next non-immediate command.
    pub cmdsn: u32,
    pub exp_statsn: u32,
    next_itt: u32,
    /// The target's declared MaxRecvDataSegmentLength (what we may send per PDU).
    pub target_mrdsl: usize,
    /// ExpCmdSN of the last PDU the target sent.
    pub target_exp_cmdsn: u32,
    /// Answer the target's NOP-In pings inside `recv` (the keep-alive tests turn this off).
    pub auto_pong: bool,
}

impl Initiator {
    pub async fn connect(addr: SocketAddr, isid: [u8; 6]) -> Initiator {
        let stream = timeout(READ_TIMEOUT, TcpStream::connect(addr))
            .await
            .expect("connect timed out")
            .expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        Initiator {
            stream,
            name: INITIATOR.to_owned(),
            isid,
            tsih: 0,
            cmdsn: 1,
            exp_statsn: 0,
            next_itt: 1,
            target_mrdsl: 8192,
            target_exp_cmdsn: 0,
            auto_pong: true,
        }
    }

    /// The initiator's end of the connection, as the target sees it.
    pub fn local_addr(&self) -> SocketAddr {
        self.stream.local_addr().expect("local address")
    }

    /// A fresh Initiator Task Tag.
    pub fn itt(&mut self) -> u32 {
        let t = self.next_itt;
        self.next_itt += 1;
        t
    }

    /// CmdSN for a non-immediate command, advancing it.
    pub fn take_cmdsn(&mut self) -> u32 {
        let c = self.cmdsn;
        self.cmdsn = c.wrapping_add(1);
        c
    }

    /// Sends raw bytes; errors (the target may already have closed) are returned.
    pub async fn send_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes).await
    }

    /// Sends `bhs` with `ahs` and `data` (DataSegmentLength is set from `data`, padding added).
    pub async fn send(&mut self, bhs: Bhs, ahs: &[u8], data: &[u8]) -> io::Result<()> {
        let bhs = bhs.data_len(data.len() as u32);
        let mut out = Vec::with_capacity(48 + ahs.len() + pad4(data.len()));
        out.extend_from_slice(&bhs.0);
        out.extend_from_slice(ahs);
        out.extend_from_slice(data);
        out.resize(48 + ahs.len() + pad4(data.len()), 0);
        self.send_raw(&out).await
    }

    async fn read_pdu(&mut self) -> io::Result<Pdu> {
        let mut bhs = [0u8; 48];
        self.stream.read_exact(&mut bhs).await?;
        let ahs = usize::from(bhs[4]) * 4;
        let len = (usize::from(bhs[5]) << 16) | (usize::from(bhs[6]) << 8) | usize::from(bhs[7]);
        let mut rest = vec![0u8; ahs + pad4(len)];
        self.stream.read_exact(&mut rest).await?;
        let data = rest[ahs..ahs + len].to_vec();
        Ok(Pdu { bhs, data })
    }

    /// The next PDU, or `Ok(None)` when nothing came within `wait`. Pings are answered (and
    /// not returned) while `auto_pong` is set.
    pub async fn recv_within(&mut self, wait: Duration) -> io::Result<Option<Pdu>> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let pdu = match tokio::time::timeout_at(deadline, self.read_pdu()).await {
                Err(_) => return Ok(None),
                Ok(r) => r?,
            };
            self.target_exp_cmdsn = pdu.exp_cmdsn();
            if pdu.has_statsn() {
                self.exp_statsn = pdu.statsn().wrapping_add(1);
            }
            if self.auto_pong && pdu.is_ping() {
                self.pong(&pdu).await?;
                continue;
            }
            return Ok(Some(pdu));
        }
    }

    /// The next PDU; the test fails if the target sends nothing or closes.
    pub async fn recv(&mut self) -> Pdu {
        match self.recv_within(READ_TIMEOUT).await {
            Ok(Some(p)) => p,
            Ok(None) => panic!("no PDU from the target within {READ_TIMEOUT:?}"),
            Err(e) => panic!("connection lost while waiting for a PDU: {e}"),
        }
    }

    /// Asserts that the target sends nothing for `wait`.
    pub async fn expect_silence(&mut self, wait: Duration) {
        match self.recv_within(wait).await {
            Ok(None) => {}
            Ok(Some(p)) => panic!(
                "expected silence, got opcode {:#04x} ITT {:#x}",
                p.opcode(),
                p.itt()
            ),
            Err(e) => panic!("expected silence, the connection failed: {e}"),
        }
    }

    /// Waits until the target closes the connection (EOF or reset) and returns the PDUs it
    /// sent before; the test fails if it is still open after `wait`.
    pub async fn expect_closed(&mut self, wait: Duration) -> Vec<Pdu> {
        let deadline = tokio::time::Instant::now() + wait;
        let mut got = Vec::new();
        loop {
            match tokio::time::timeout_at(deadline, self.read_pdu()).await {
                Err(_) => panic!(
                    "the target kept the connection open for {wait:?} (PDUs meanwhile: {:?})",
                    got.iter().map(Pdu::opcode).collect::<Vec<_>>()
                ),
                Ok(Ok(p)) => got.push(p),
                Ok(Err(_)) => return got,
            }
        }
    }

    /// Answers a target ping (RFC 7143 §11.18: ITT reserved, TTT copied, I bit set).
    pub async fn pong(&mut self, ping: &Pdu) -> io::Result<()> {
        let b = Bhs::new(op::NOP_OUT)
            .immediate()
            .flags(0x80)
            .itt(RESERVED)
            .ttt(ping.ttt())
            .cmdsn(self.cmdsn)
            .exp_statsn(self.exp_statsn);
        self.send(b, &[], &[]).await
    }

    // --- login ----------------------------------------------------------------------------

    /// Sends one Login Request and returns the response.
    pub async fn login_pdu(&mut self, fields: &LoginFields, data: &[u8]) -> Pdu {
        self.send(fields.bhs(), &[], data)
            .await
            .expect("send login");
        let r = self.recv().await;
        assert_eq!(r.opcode(), op::LOGIN_RESPONSE, "not a Login Response");
        assert_eq!(r.itt(), fields.itt, "Login Response ITT");
        r
    }

    /// Logs in to `target` (a normal session) or to discovery (`None`) in one PDU, with extra
    /// operational keys; panics unless the login succeeds.
    pub async fn login(&mut self, target: Option<&str>, keys: &[(&str, &str)]) -> Pdu {
        let name = self.name.clone();
        let mut pairs: Vec<(&str, &str)> = vec![("InitiatorName", &name)];
        match target {
            Some(t) => pairs.extend([("TargetName", t), ("SessionType", "Normal")]),
            None => pairs.push(("SessionType", "Discovery")),
        }
        pairs.extend_from_slice(keys);
        let fields = LoginFields {
            cmdsn: self.cmdsn,
            exp_statsn: self.exp_statsn,
            ..LoginFields::new(self.isid)
        };
        let r = self.login_pdu(&fields, &text(&pairs)).await;
        assert_eq!(r.login_status(), (0, 0), "login failed");
        assert!(r.final_(), "login did not complete in one step");
        assert_eq!(
            r.flags() & 3,
            FULL_FEATURE,
            "NSG of the final Login Response"
        );
        self.tsih = r.tsih();
        self.cmdsn = r.exp_cmdsn();
        if let Some(n) = text_value(&r.data, "MaxRecvDataSegmentLength") {
            self.target_mrdsl = n.parse().expect("numeric MaxRecvDataSegmentLength");
        }
        r
    }

    // --- full feature phase ---------------------------------------------------------------

    /// A NOP-Out ping (RFC 7143 §11.18) carrying `data`; returns the matching NOP-In.
    pub async fn ping(&mut self, data: &[u8]) -> Pdu {
        let itt = self.itt();
        let b = Bhs::new(op::NOP_OUT)
            .flags(0x80)
            .itt(itt)
            .ttt(RESERVED)
            .cmdsn(self.take_cmdsn())
            .exp_statsn(self.exp_statsn);
        self.send(b, &[], data).await.expect("send NOP-Out");
        let r = self.recv().await;
        assert_eq!(r.opcode(), op::NOP_IN, "answer to a NOP-Out ping");
        assert_eq!(r.itt(), itt, "NOP-In ITT");
        assert_eq!(r.ttt(), RESERVED, "NOP-In TTT");
        assert_eq!(r.data, data, "NOP-In echoes the ping data");
        r
    }

    /// A SCSI Command header (RFC 7143 §11.3) for LUN 0 with the simple task attribute.
    pub fn command(&mut self, itt: u32, cdb: &[u8], edtl: u32, read: bool, write: bool) -> Bhs {
        let mut flags = 0x80 | 0x01;
        if read {
            flags |= 0x40;
        }
        if write {
            flags |= 0x20;
        }
        Bhs::new(op::SCSI_COMMAND)
            .flags(flags)
            .itt(itt)
            .u32_at(20, edtl)
            .cmdsn(self.take_cmdsn())
            .exp_statsn(self.exp_statsn)
            .cdb(cdb)
    }

    /// A Data-Out header (RFC 7143 §11.7) for LUN 0.
    pub fn data_out(&self, itt: u32, ttt: u32, datasn: u32, offset: u32, final_: bool) -> Bhs {
        Bhs::new(op::DATA_OUT)
            .flags(if final_ { 0x80 } else { 0 })
            .itt(itt)
            .ttt(ttt)
            .exp_statsn(self.exp_statsn)
            .u32_at(36, datasn)
            .u32_at(40, offset)
    }

    /// Answers one R2T with `data[offset..offset + len]` in Data-Out PDUs of at most the
    /// target's MaxRecvDataSegmentLength.
    pub async fn answer_r2t(&mut self, r2t: &Pdu, data: &[u8]) {
        let itt = r2t.itt();
        let ttt = r2t.ttt();
        let offset = r2t.u32_at(40) as usize;
        let len = r2t.u32_at(44) as usize;
        let chunk = self.target_mrdsl.max(512);
        let mut at = offset;
        let mut datasn = 0;
        while at < offset + len {
            let n = chunk.min(offset + len - at);
            let last = at + n == offset + len;
            let b = self.data_out(itt, ttt, datasn, at as u32, last);
            self.send(b, &[], &data[at..at + n])
                .await
                .expect("send Data-Out");
            at += n;
            datasn += 1;
        }
    }

    /// Collects the rest of command `itt`: answers R2Ts from `out`, gathers Data-In, and returns
    /// at its status. Panics on a Reject or on PDUs for other tasks.
    pub async fn finish(&mut self, itt: u32, out: &[u8]) -> ScsiOutcome {
        let mut data = Vec::new();
        loop {
            let p = self.recv().await;
            assert_eq!(
                p.itt(),
                itt,
                "PDU (opcode {:#04x}) for another task while waiting for {itt:#x}",
                p.opcode()
            );
            match p.opcode() {
                op::R2T => self.answer_r2t(&p, out).await,
                op::DATA_IN => {
                    let offset = p.u32_at(40) as usize;
                    if data.len() < offset + p.data.len() {
                        data.resize(offset + p.data.len(), 0);
                    }
                    data[offset..offset + p.data.len()].copy_from_slice(&p.data);
                    if p.flags() & 0x01 != 0 {
                        return ScsiOutcome {
                            status: p.bhs[3],
                            sense: Vec::new(),
                            data,
                        };
                    }
                }
                op::SCSI_RESPONSE => {
                    assert_eq!(p.byte2(), 0, "iSCSI response: command completed at target");
                    return ScsiOutcome {
                        status: p.bhs[3],
                        sense: sense_of(&p.data),
                        data,
                    };
                }
                other => panic!("unexpected opcode {other:#04x} for task {itt:#x}"),
            }
        }
    }

    /// Runs one SCSI command. Write data goes as immediate data (up to the target's limit)
    /// when `immediate`, the rest when the target asks for it.
    pub async fn scsi(
        &mut self,
        cdb: &[u8],
        edtl: u32,
        out: Option<&[u8]>,
        immediate: bool,
    ) -> ScsiOutcome {
        let itt = self.itt();
        let write = out.is_some();
        let out = out.unwrap_or_default();
        let b = self.command(itt, cdb, edtl, !write && edtl > 0, write);
        let imm = if immediate {
            &out[..out.len().min(self.target_mrdsl)]
        } else {
            &[]
        };
        self.send(b, &[], imm).await.expect("send SCSI Command");
        self.finish(itt, out).await
    }

    pub async fn test_unit_ready(&mut self) -> ScsiOutcome {
        self.scsi(&cdb::test_unit_ready(), 0, None, false).await
    }

    /// Takes the unit attentions a new I_T nexus starts with (power on/reset).
    pub async fn clear_unit_attentions(&mut self) {
        for _ in 0..8 {
            let r = self.test_unit_ready().await;
            if r.status == 0 {
                return;
            }
            assert_eq!(r.status, 2, "TEST UNIT READY status");
            assert_eq!(
                r.sense_code().map(|s| s.0),
                Some(6),
                "unit attention expected"
            );
        }
        panic!("unit attentions do not clear");
    }

    /// WRITE(10) of `data` (whole 512-byte blocks) at `lba`; returns the status.
    pub async fn write(&mut self, lba: u32, data: &[u8], immediate: bool) -> ScsiOutcome {
        let blocks = (data.len() / 512) as u16;
        self.scsi(
            &cdb::write10(lba, blocks),
            data.len() as u32,
            Some(data),
            immediate,
        )
        .await
    }

    /// READ(10) of `blocks` 512-byte blocks at `lba`.
    pub async fn read(&mut self, lba: u32, blocks: u16) -> ScsiOutcome {
        self.scsi(
            &cdb::read10(lba, blocks),
            u32::from(blocks) * 512,
            None,
            false,
        )
        .await
    }

    /// A Task Management Function Request (RFC 7143 §11.5), immediate; returns the response
    /// code of its TMF Response.
    pub async fn task_management(
        &mut self,
        function: u8,
        referenced_itt: u32,
        ref_cmdsn: u32,
    ) -> u8 {
        let itt = self.itt();
        let b = Bhs::new(op::TMF_REQUEST)
            .immediate()
            .flags(0x80 | function)
            .itt(itt)
            .u32_at(20, referenced_itt)
            .cmdsn(self.cmdsn)
            .exp_statsn(self.exp_statsn)
            .u32_at(32, ref_cmdsn);
        self.send(b, &[], &[]).await.expect("send TMF Request");
        let r = self.recv().await;
        assert_eq!(r.opcode(), op::TMF_RESPONSE, "answer to a TMF Request");
        assert_eq!(r.itt(), itt, "TMF Response ITT");
        r.byte2()
    }

    /// A Text Request (RFC 7143 §11.10).
    pub fn text_request(&mut self, itt: u32, ttt: u32, final_: bool, continue_: bool) -> Bhs {
        let mut flags = 0;
        if final_ {
            flags |= 0x80;
        }
        if continue_ {
            flags |= 0x40;
        }
        Bhs::new(op::TEXT_REQUEST)
            .flags(flags)
            .itt(itt)
            .ttt(ttt)
            .cmdsn(self.take_cmdsn())
            .exp_statsn(self.exp_statsn)
    }

    /// Logout (close the session) and wait for the target to close the connection.
    pub async fn logout(mut self) {
        let itt = self.itt();
        let b = Bhs::new(op::LOGOUT_REQUEST)
            .immediate()
            .flags(0x80)
            .itt(itt)
            .cmdsn(self.cmdsn)
            .exp_statsn(self.exp_statsn);
        self.send(b, &[], &[]).await.expect("send Logout");
        let r = self.recv().await;
        assert_eq!(r.opcode(), op::LOGOUT_RESPONSE);
        assert_eq!(r.byte2(), 0, "logout response: closed successfully");
        let rest = self.expect_closed(READ_TIMEOUT).await;
        assert!(rest.is_empty(), "PDUs after the Logout Response");
    }
}
