//! PDUs on the TCP stream: reading them (with digests and padding) and writing batches of them
//! with vectored writes, filling StatSN/ExpCmdSN/MaxCmdSN at send time.

use crate::digest;
use crate::pdu::{data_segment_len, pad4, total_ahs_len, BHS_LEN};
use std::io::{self, IoSlice};
use std::ops::Range;
use std::rc::Rc;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};

/// Largest AHS we accept: an extended CDB of 260 bytes fits with room to spare.
const MAX_AHS: usize = 1020;

/// Reads PDUs from the initiator.
pub struct PduReader<R> {
    rd: BufReader<R>,
    pub header_digest: bool,
    pub data_digest: bool,
    ahs: Vec<u8>,
}

/// A received header: the BHS and any AHS.
pub struct Header {
    pub bhs: [u8; BHS_LEN],
    pub ahs: Vec<u8>,
}

impl Header {
    pub fn opcode(&self) -> u8 {
        self.bhs[0] & 0x3F
    }

    pub fn data_len(&self) -> usize {
        data_segment_len(&self.bhs)
    }
}

fn digest_error(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("{what} digest mismatch"),
    )
}

impl<R: AsyncRead + Unpin> PduReader<R> {
    pub fn new(rd: R) -> Self {
        PduReader {
            rd: BufReader::with_capacity(256 * 1024, rd),
            header_digest: false,
            data_digest: false,
            ahs: Vec::new(),
        }
    }

    /// Reads the next BHS and AHS. A header digest error ends the connection (ERL 0).
    pub async fn read_header(&mut self) -> io::Result<Header> {
        let mut bhs = [0u8; BHS_LEN];
        self.rd.read_exact(&mut bhs).await?;
        let ahs_len = total_ahs_len(&bhs);
        if ahs_len > MAX_AHS {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "AHS too long"));
        }
        self.ahs.clear();
        self.ahs.resize(ahs_len, 0);
        self.rd.read_exact(&mut self.ahs).await?;
        if self.header_digest {
            let mut d = [0u8; 4];
            self.rd.read_exact(&mut d).await?;
            let crc = digest::crc32c_append(digest::crc32c(&bhs), &self.ahs);
            if digest::from_wire(d) != crc {
                return Err(digest_error("header"));
            }
        }
        Ok(Header {
            bhs,
            ahs: std::mem::take(&mut self.ahs),
        })
    }

    /// Reads a data segment of `dst.len()` bytes into `dst`, then its padding and digest.
    pub async fn read_data(&mut self, dst: &mut [u8]) -> io::Result<()> {
        let len = dst.len();
        self.read_data_prefix(dst, len).await
    }

    /// Reads a data segment of `len` bytes, keeping its first `dst.len()` in `dst` and
    /// dropping the rest, then its padding and digest.
    pub async fn read_data_prefix(&mut self, dst: &mut [u8], len: usize) -> io::Result<()> {
        let keep = dst.len().min(len);
        let (dst, _) = dst.split_at_mut(keep);
        self.rd.read_exact(dst).await?;
        let mut crc = if self.data_digest {
            digest::crc32c(dst)
        } else {
            0
        };
        let mut left = pad4(len) - keep;
        let mut scratch = [0u8; 4096];
        while left > 0 {
            let n = left.min(scratch.len());
            self.rd.read_exact(&mut scratch[..n]).await?;
            if self.data_digest {
                crc = digest::crc32c_append(crc, &scratch[..n]);
            }
            left -= n;
        }
        if self.data_digest && len > 0 {
            let mut d = [0u8; 4];
            self.rd.read_exact(&mut d).await?;
            if digest::from_wire(d) != crc {
                return Err(digest_error("data"));
            }
        }
        Ok(())
    }

    /// Reads a data segment into a fresh vector.
    pub async fn read_data_vec(&mut self, len: usize) -> io::Result<Vec<u8>> {
        let mut v = vec![0u8; len];
        self.read_data(&mut v).await?;
        Ok(v)
    }

    /// Reads and discards a data segment (of a PDU we ignore or reject).
    pub async fn skip_data(&mut self, len: usize) -> io::Result<()> {
        self.read_data_prefix(&mut [], len).await
    }
}

/// How a PDU uses the StatSN counter when it is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatSn {
    /// Carries the next StatSN and consumes it (responses).
    Advance,
    /// Carries the next StatSN without consuming it (R2T, target NOP-In ping).
    Current,
    /// Leaves the field as encoded (Data-In without status).
    Keep,
}

/// The data segment of an outgoing PDU.
pub enum OutData {
    None,
    Owned(Vec<u8>),
    /// A slice of a buffer shared by several PDUs (a Data-In sequence).
    Shared(Rc<Vec<u8>>, Range<usize>),
}

impl OutData {
    fn bytes(&self) -> &[u8] {
        match self {
            OutData::None => &[],
            OutData::Owned(v) => v,
            OutData::Shared(v, r) => v.get(r.clone()).unwrap_or(&[]),
        }
    }
}

/// One PDU waiting to be sent.
pub struct OutPdu {
    pub bhs: [u8; BHS_LEN],
    pub data: OutData,
    pub statsn: StatSn,
}

impl OutPdu {
    pub fn new(bhs: [u8; BHS_LEN], data: OutData, statsn: StatSn) -> Self {
        OutPdu { bhs, data, statsn }
    }
}

/// Sequence numbers the writer stamps into every PDU as it goes out.
pub trait Sequencer {
    /// The StatSN for the next PDU; advances it when `advance`.
    fn next_statsn(&self, advance: bool) -> u32;
    /// (ExpCmdSN, MaxCmdSN) as of now.
    fn cmd_window(&self) -> (u32, u32);
}

/// Writes PDUs in batches with vectored writes.
pub struct PduWriter<W> {
    wr: W,
    pub header_digest: bool,
    pub data_digest: bool,
    /// Header (+digest) and padding (+digest) per PDU of the batch being written.
    heads: Vec<([u8; BHS_LEN + 4], usize, [u8; 8], usize)>,
}

impl<W: AsyncWrite + Unpin> PduWriter<W> {
    pub fn new(wr: W) -> Self {
        PduWriter {
            wr,
            header_digest: false,
            data_digest: false,
            heads: Vec::new(),
        }
    }

    /// Writes `batch` in order, stamping sequence numbers.
    pub async fn write_batch(
        &mut self,
        batch: &mut [OutPdu],
        seq: &dyn Sequencer,
    ) -> io::Result<()> {
        self.heads.clear();
        for pdu in batch.iter_mut() {
            let (exp, max) = seq.cmd_window();
            match pdu.statsn {
                StatSn::Advance => {
                    pdu.bhs[24..28].copy_from_slice(&seq.next_statsn(true).to_be_bytes())
                }
                StatSn::Current => {
                    pdu.bhs[24..28].copy_from_slice(&seq.next_statsn(false).to_be_bytes())
                }
                StatSn::Keep => {}
            }
            pdu.bhs[28..32].copy_from_slice(&exp.to_be_bytes());
            pdu.bhs[32..36].copy_from_slice(&max.to_be_bytes());
            let mut head = [0u8; BHS_LEN + 4];
            head[..BHS_LEN].copy_from_slice(&pdu.bhs);
            let mut head_len = BHS_LEN;
            if self.header_digest {
                head[BHS_LEN..].copy_from_slice(&digest::to_wire(digest::crc32c(&pdu.bhs)));
                head_len += 4;
            }
            let data = pdu.data.bytes();
            let pad = pad4(data.len()) - data.len();
            let mut tail = [0u8; 8];
            let mut tail_len = pad;
            if self.data_digest && !data.is_empty() {
                let crc = digest::crc32c_append(digest::crc32c(data), &tail[..pad]);
                tail[pad..pad + 4].copy_from_slice(&digest::to_wire(crc));
                tail_len += 4;
            }
            self.heads.push((head, head_len, tail, tail_len));
        }
        let mut slices: Vec<IoSlice<'_>> = Vec::with_capacity(batch.len() * 3);
        for (pdu, (head, head_len, tail, tail_len)) in batch.iter().zip(self.heads.iter()) {
            slices.push(IoSlice::new(&head[..*head_len]));
            let data = pdu.data.bytes();
            if !data.is_empty() {
                slices.push(IoSlice::new(data));
            }
            if *tail_len > 0 {
                slices.push(IoSlice::new(&tail[..*tail_len]));
            }
        }
        let mut slices = &mut slices[..];
        while !slices.is_empty() {
            let n = self.wr.write_vectored(slices).await?;
            if n == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            IoSlice::advance_slices(&mut slices, n);
        }
        Ok(())
    }

    pub async fn shutdown(&mut self) {
        let _ = self.wr.flush().await;
        let _ = self.wr.shutdown().await;
    }
}
