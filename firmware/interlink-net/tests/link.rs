//! Two interlink stacks in one process, cabled through two sim NICs on loopback UDP (the
//! framing of QEMU's `-netdev dgram`), with the sim NIC's fault injection in between.

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use board::sim::{FaultHandle, UdpFrameNic};
use interlink_net::bench::{bulk_throughput, pattern, rtt};
use interlink_net::{
    link_ip, link_mac, LinkError, LinkStream, Stack, StackConfig, StackError, INTERLINK_PORT,
    MTU_JUMBO,
};

/// Bytes for the bulk transfers: more in an optimised build.
fn bulk_bytes() -> u64 {
    if cfg!(debug_assertions) {
        8 << 20
    } else {
        64 << 20
    }
}

struct Pair {
    a: Stack,
    b: Stack,
    /// The faults of controller 1's NIC (a cut there stops both ways).
    faults: FaultHandle,
}

/// A short timeout, so a cut shows quickly.
const CUT_TIMEOUT: Duration = Duration::from_millis(800);

fn config(controller: u8, mtu: usize, timeout: Duration) -> StackConfig {
    let mut c = StackConfig::new(controller).with_mtu(mtu);
    c.timeout = Some(timeout);
    c.keep_alive = Some(Duration::from_millis(200));
    c
}

fn pair(mtu: usize) -> Pair {
    pair_with(mtu, CUT_TIMEOUT)
}

/// Heavy loss needs a longer timeout: smoltcp has no SACK, and a retransmission lost
/// again doubles its timer.
fn pair_with(mtu: usize, timeout: Duration) -> Pair {
    let (nic_a, nic_b) = UdpFrameNic::cabled_pair(link_mac(1), link_mac(2)).unwrap();
    let frame = mtu + 14;
    let (nic_a, nic_b) = (nic_a.with_max_frame(frame), nic_b.with_max_frame(frame));
    let faults = nic_a.faults();
    Pair {
        a: Stack::start(nic_a, config(1, mtu, timeout)).unwrap(),
        b: Stack::start(nic_b, config(2, mtu, timeout)).unwrap(),
        faults,
    }
}

/// Controller 2 connects to controller 1: (1's end, 2's end).
async fn connect(p: &Pair, port: u16) -> (LinkStream, LinkStream) {
    let mut listener = p.a.listen(port).unwrap();
    let (a, b) = within(Duration::from_secs(5), "connect", async {
        tokio::join!(listener.accept(), p.b.connect(link_ip(1), port))
    })
    .await;
    (a.unwrap(), b.unwrap())
}

async fn within<T>(limit: Duration, what: &str, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(limit, f)
        .await
        .unwrap_or_else(|_| panic!("{what}: not done within {limit:?}"))
}

/// Raw UDP on the same loopback path: bursts of `frame`-byte datagrams, each burst read
/// back before the next (so none is lost), one thread.
fn raw_udp_mbit(frame: usize, bytes: u64) -> f64 {
    let a = UdpSocket::bind("127.0.0.1:0").unwrap();
    let b = UdpSocket::bind("127.0.0.1:0").unwrap();
    a.connect(b.local_addr().unwrap()).unwrap();
    // A burst stays well inside the default receive buffer, so none is dropped; a lost
    // one would only end the measurement early.
    b.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    let per_burst = (64 << 10) / frame as u64;
    let out = vec![0x5a; frame];
    let mut buf = vec![0; frame];
    let frames = bytes / frame as u64;
    let started = Instant::now();
    let mut sent = 0;
    while sent < frames {
        let burst = (frames - sent).min(per_burst.max(1));
        for _ in 0..burst {
            a.send(&out).unwrap();
        }
        for _ in 0..burst {
            if b.recv(&mut buf).is_err() {
                return f64::NAN;
            }
        }
        sent += burst;
    }
    (frames * frame as u64) as f64 * 8.0 / started.elapsed().as_secs_f64() / 1e6
}

async fn bulk_both_ways(mtu: usize) {
    let p = pair(mtu);
    let (mut a, mut b) = connect(&p, INTERLINK_PORT).await;
    let bytes = bulk_bytes();
    let ab = within(
        Duration::from_secs(20),
        "1 -> 2",
        bulk_throughput(&mut a, &mut b, bytes),
    )
    .await
    .unwrap();
    assert!(ab.intact, "1 -> 2 arrived damaged: {ab:?}");
    assert_eq!(ab.bytes, bytes);
    // The other way on a fresh connection (the first is half closed now).
    let (mut a, mut b) = connect(&p, INTERLINK_PORT + 1).await;
    let ba = within(
        Duration::from_secs(20),
        "2 -> 1",
        bulk_throughput(&mut b, &mut a, bytes),
    )
    .await
    .unwrap();
    assert!(ba.intact, "2 -> 1 arrived damaged: {ba:?}");
    let (mut a, mut b) = connect(&p, INTERLINK_PORT + 2).await;
    let rtt = within(Duration::from_secs(5), "rtt", rtt(&mut a, &mut b, 200))
        .await
        .unwrap();
    let raw = raw_udp_mbit(mtu + 14, bytes.min(64 << 20));
    println!(
        "MTU {mtu}: TCP over smoltcp {:.0} Mbit/s (1->2), {:.0} Mbit/s (2->1), {} MiB each; \
         rtt {rtt:?}; raw UDP loopback {raw:.0} Mbit/s ({}-byte datagrams); {} build; {:?}",
        ab.mbit_per_s(),
        ba.mbit_per_s(),
        bytes >> 20,
        mtu + 14,
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        },
        p.a.counters(),
    );
}

#[tokio::test]
async fn a_byte_stream_crosses_intact_both_ways() {
    bulk_both_ways(1500).await;
}

#[tokio::test]
async fn jumbo_frames_carry_the_stream() {
    bulk_both_ways(MTU_JUMBO).await;
}

#[tokio::test]
async fn a_jumbo_mtu_needs_a_nic_that_carries_jumbo_frames() {
    let (nic, _) = UdpFrameNic::cabled_pair(link_mac(1), link_mac(2)).unwrap();
    match Stack::start(nic, StackConfig::new(1).with_mtu(MTU_JUMBO)) {
        Err(StackError::NicTooSmall {
            nic: 1514,
            needed: 9014,
        }) => {}
        Err(e) => panic!("{e}"),
        Ok(_) => panic!("started"),
    }
    let (nic, _) = UdpFrameNic::cabled_pair(link_mac(1), link_mac(2)).unwrap();
    assert!(matches!(
        Stack::start(nic, StackConfig::new(3)),
        Err(StackError::BadController(3))
    ));
}

#[tokio::test]
async fn a_cut_loses_the_connection_and_clear_lets_a_new_one_work() {
    let p = pair(1500);
    let (mut a, mut b) = connect(&p, 7800).await;
    a.write_all(b"before the cut").await.unwrap();
    let mut buf = [0u8; 64];
    let n = b.read(&mut buf).await.unwrap();
    assert_eq!(&buf[..n], b"before the cut");

    p.faults.command("cut").unwrap();
    let cut = Instant::now();
    // The writer's data is never acknowledged; the idle reader's keep-alives neither.
    a.write_all(b"lost in the cut").await.unwrap();
    let write_side = within(Duration::from_secs(5), "writer notices", a.flush()).await;
    assert_eq!(write_side, Err(LinkError::ConnectionLost));
    let read_side = within(Duration::from_secs(5), "reader notices", b.read(&mut buf)).await;
    assert_eq!(read_side, Err(LinkError::ConnectionLost));
    println!("both ends saw the cut after {:?}", cut.elapsed());
    assert!(!a.is_open() && !b.is_open());

    // While cut, a new connection cannot be made.
    let mut listener = p.a.listen(7801).unwrap();
    let tried =
        tokio::time::timeout(Duration::from_millis(300), p.b.connect(link_ip(1), 7801)).await;
    assert!(!matches!(tried, Ok(Ok(_))), "connected through a cut");

    p.faults.command("clear").unwrap();
    let (a2, b2) = tokio::join!(listener.accept(), p.b.connect(link_ip(1), 7801));
    let (mut a2, mut b2) = (a2.unwrap(), b2.unwrap());
    b2.write_all(b"after the clear").await.unwrap();
    let n = within(
        Duration::from_secs(2),
        "read after clear",
        a2.read(&mut buf),
    )
    .await
    .unwrap();
    assert_eq!(&buf[..n], b"after the clear");
    drop((a, b));
}

async fn intact_under(plan: &str, bytes: u64) {
    let p = pair_with(1500, Duration::from_secs(10));
    let (mut a, mut b) = connect(&p, 7900).await;
    p.faults.command("clear").unwrap();
    for command in plan.split(',') {
        p.faults.command(command).unwrap();
    }
    let t = within(
        Duration::from_secs(30),
        plan,
        bulk_throughput(&mut a, &mut b, bytes),
    )
    .await
    .unwrap();
    assert!(t.intact, "{plan}: the stream arrived damaged: {t:?}");
    println!(
        "{plan}: {} KiB intact at {:.0} Mbit/s",
        bytes >> 10,
        t.mbit_per_s()
    );
}

#[tokio::test]
async fn ten_percent_dropped_still_delivers_intact_data() {
    intact_under("drop 10", 256 << 10).await;
}

#[tokio::test]
async fn corrupt_frames_are_discarded_by_the_checksums() {
    // One byte flipped in a tenth of the frames: were the IP/TCP checksums not checked,
    // the pattern check would fail.
    intact_under("corrupt 10", 256 << 10).await;
}

#[tokio::test]
async fn late_doubled_and_reordered_frames_still_deliver_intact_data() {
    // Small, as the loss tests: each reordered frame can cost smoltcp (no SACK) a
    // retransmission timeout, and the tests run side by side on two cores.
    intact_under("delay 2,dup 20,reorder 10", 256 << 10).await;
}

#[tokio::test]
async fn nobody_listening_is_refused_and_a_close_reads_as_the_end() {
    let p = pair(1500);
    let refused = within(
        Duration::from_secs(2),
        "refusal",
        p.b.connect(link_ip(1), 7999),
    )
    .await;
    assert_eq!(refused.err(), Some(LinkError::Refused));

    let (mut a, mut b) = connect(&p, 7998).await;
    let mut data = vec![0u8; 10_000];
    pattern(0, &mut data);
    b.write_all(&data).await.unwrap();
    b.close();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = within(Duration::from_secs(2), "read to the end", a.read(&mut buf))
            .await
            .unwrap();
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    assert_eq!(got, data);
    // The closed side cannot write any more; the other still can.
    assert_eq!(b.write_all(b"x").await, Err(LinkError::Closed));
    a.write_all(b"reply").await.unwrap();
    let n = b.read(&mut buf).await.unwrap();
    assert_eq!(&buf[..n], b"reply");
}

#[tokio::test]
async fn the_conventional_link_and_split_halves_work() {
    let p = pair(1500);
    let mut listener = p.a.listen(INTERLINK_PORT).unwrap();
    let retry = Duration::from_millis(20);
    let (a, b) = tokio::join!(
        p.a.link(Some(&mut listener), INTERLINK_PORT, retry),
        p.b.link(None, INTERLINK_PORT, retry)
    );
    let (ra, mut wa) = a.unwrap().split();
    let (rb, wb) = b.unwrap().split();
    let reader = tokio::spawn(async move {
        let mut rb = rb;
        let mut total = 0usize;
        let mut buf = [0u8; 8192];
        loop {
            match rb.read(&mut buf).await.unwrap() {
                0 => break total,
                n => total += n,
            }
        }
    });
    wa.write_all(&vec![7u8; 1 << 20]).await.unwrap();
    wa.close();
    assert_eq!(
        within(Duration::from_secs(5), "reader", reader)
            .await
            .unwrap(),
        1 << 20
    );
    drop((ra, wb, listener));
    // Closed sockets are reaped by the stack's task.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(p.a.sockets() <= 2, "{} sockets left", p.a.sockets());
}
