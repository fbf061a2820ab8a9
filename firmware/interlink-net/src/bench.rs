//! Measurements over two connected streams (for `dyad bench interlink` and the tests):
//! bulk throughput with the data checked end to end, and round-trip time.

use std::time::{Duration, Instant};

use crate::stack::{LinkError, LinkStream};

/// What a bulk transfer measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Throughput {
    pub bytes: u64,
    pub elapsed: Duration,
    /// Whether every byte arrived as sent.
    pub intact: bool,
}

impl Throughput {
    /// Megabits per second.
    pub fn mbit_per_s(&self) -> f64 {
        self.bytes as f64 * 8.0 / self.elapsed.as_secs_f64().max(1e-9) / 1e6
    }
}

/// The byte stream the transfers send: a pseudo-random sequence every reader can
/// regenerate from the offset alone, so a lost, doubled or damaged byte shows.
pub fn pattern(offset: u64, buf: &mut [u8]) {
    for (i, b) in buf.iter_mut().enumerate() {
        let word = (offset + i as u64) / 8;
        let mut x = word.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0xd1d0_5eed;
        x ^= x >> 29;
        x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
        x ^= x >> 32;
        *b = (x >> (((offset + i as u64) % 8) * 8)) as u8;
    }
}

const CHUNK: usize = 64 << 10;

/// Sends `bytes` of [`pattern`] on `tx` while reading and checking them on `rx` (the two
/// ends of one connection, on this task): what it took. The sender closes its side at
/// the end and the reader reads to the end, so extra bytes show too.
pub async fn bulk_throughput(
    tx: &mut LinkStream,
    rx: &mut LinkStream,
    bytes: u64,
) -> Result<Throughput, LinkError> {
    let started = Instant::now();
    let send = async {
        let mut buf = vec![0u8; CHUNK];
        let mut sent = 0u64;
        while sent < bytes {
            let n = (bytes - sent).min(CHUNK as u64) as usize;
            pattern(sent, &mut buf[..n]);
            tx.write_all(&buf[..n]).await?;
            sent += n as u64;
        }
        tx.flush().await?;
        tx.close();
        Ok::<_, LinkError>(())
    };
    let receive = async {
        let mut buf = vec![0u8; CHUNK];
        let mut want = vec![0u8; CHUNK];
        let mut got = 0u64;
        let mut intact = true;
        loop {
            let n = rx.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            pattern(got, &mut want[..n]);
            intact &= buf[..n] == want[..n];
            got += n as u64;
        }
        Ok::<_, LinkError>((got, intact))
    };
    let (sent, (got, intact)) = tokio::try_join!(send, receive)?;
    let () = sent;
    Ok(Throughput {
        bytes: got,
        elapsed: started.elapsed(),
        intact: intact && got == bytes,
    })
}

/// The mean round trip of `rounds` 64-byte pings from `a` echoed by `b`.
pub async fn rtt(
    a: &mut LinkStream,
    b: &mut LinkStream,
    rounds: u32,
) -> Result<Duration, LinkError> {
    let rounds = rounds.max(1);
    let mut ping = [0u8; 64];
    let mut pong = [0u8; 64];
    let started = Instant::now();
    for round in 0..rounds {
        pattern(u64::from(round) * 64, &mut ping);
        a.write_all(&ping).await?;
        b.read_exact(&mut pong).await?;
        b.write_all(&pong).await?;
        a.read_exact(&mut pong).await?;
        if pong != ping {
            return Err(LinkError::ConnectionLost);
        }
    }
    Ok(started.elapsed() / rounds)
}
