//! The interlink's TCP/IP stack: one smoltcp interface and its sockets, polled by a tokio
//! task that sleeps until the NIC has a frame, smoltcp's next timer is due, or an
//! application task has queued data or read some (a [`Notify`]); never a busy loop.
//!
//! The byte streams ([`LinkStream`]) and the listener ([`Listener`]) wait on smoltcp's
//! socket wakers (feature `async`), which the interface fires as it moves data or changes
//! a socket's state.

use std::future::poll_fn;
use std::io;
use std::os::fd::AsRawFd;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use hal::nic::FrameNic;
use smoltcp::iface::{Config, Interface, PollResult, SocketHandle, SocketSet};
use smoltcp::socket::tcp::{self, State};
use smoltcp::time::{Duration as SmolDuration, Instant as SmolInstant};
use smoltcp::wire::{EthernetAddress, HardwareAddress, IpAddress, IpCidr, IpEndpoint, Ipv4Address};
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::device::{DeviceCounters, NicDevice, ETHERNET_HEADER};
use crate::{link_ip, LINK_PREFIX};

/// The standard IP MTU.
pub const MTU_STANDARD: usize = 1500;
/// The jumbo IP MTU.
pub const MTU_JUMBO: usize = 9000;

/// How a stack is set up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StackConfig {
    /// The controller this stack runs on, 1 or 2: its address ([`link_ip`]).
    pub controller: u8,
    /// The IP MTU: [`MTU_STANDARD`] or [`MTU_JUMBO`] (the NIC must carry `mtu + 14`).
    pub mtu: usize,
    /// Each connection's receive and send buffer, bytes. Over 64 KiB the window is scaled.
    pub socket_buffer: usize,
    /// A connection with data unacknowledged this long is lost (`None`: never).
    pub timeout: Option<Duration>,
    /// Keep-alive probes on an idle connection this often, so a lost peer is noticed
    /// within `timeout` even when nothing is sent (`None`: none).
    pub keep_alive: Option<Duration>,
    /// TCP's delayed acknowledgement (`None`: acknowledge at once).
    pub ack_delay: Option<Duration>,
}

impl StackConfig {
    /// Controller `controller`'s stack: standard MTU, 512 KiB buffers, a connection lost
    /// after 3 s without acknowledgement, keep-alive every second.
    pub fn new(controller: u8) -> StackConfig {
        StackConfig {
            controller,
            mtu: MTU_STANDARD,
            socket_buffer: 512 << 10,
            timeout: Some(Duration::from_secs(3)),
            keep_alive: Some(Duration::from_secs(1)),
            ack_delay: None,
        }
    }

    /// With IP MTU `mtu`.
    pub fn with_mtu(mut self, mtu: usize) -> StackConfig {
        self.mtu = mtu;
        self
    }
}

/// Why a stack did not start.
#[derive(Debug)]
pub enum StackError {
    /// The controller id is not 1 or 2.
    BadController(u8),
    /// The MTU is outside 576..=9000.
    BadMtu(usize),
    /// The NIC carries shorter frames than the MTU needs.
    NicTooSmall { nic: usize, needed: usize },
    /// The NIC's descriptor cannot be waited on.
    Io(io::Error),
}

impl std::fmt::Display for StackError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StackError::BadController(c) => write!(f, "controller {c}: it is 1 or 2"),
            StackError::BadMtu(m) => write!(f, "MTU {m}: it is 576 to 9000"),
            StackError::NicTooSmall { nic, needed } => write!(
                f,
                "the NIC carries {nic}-byte frames, the MTU needs {needed}"
            ),
            StackError::Io(e) => write!(f, "waiting on the NIC: {e}"),
        }
    }
}

impl std::error::Error for StackError {}

/// What went wrong on a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkError {
    /// The peer reset the connection, or stopped acknowledging (cable cut, peer gone).
    ConnectionLost,
    /// Nobody listens at the address (the peer answered with a reset), or the handshake
    /// timed out.
    Refused,
    /// This side closed the stream (or its writing half).
    Closed,
    /// The stack has no room for another socket, or the port is taken.
    Unavailable,
}

impl std::fmt::Display for LinkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            LinkError::ConnectionLost => "interlink connection lost",
            LinkError::Refused => "interlink connection refused",
            LinkError::Closed => "interlink connection closed",
            LinkError::Unavailable => "interlink stack: no socket available",
        })
    }
}

impl std::error::Error for LinkError {}

impl From<LinkError> for io::Error {
    fn from(e: LinkError) -> io::Error {
        let kind = match e {
            LinkError::ConnectionLost => io::ErrorKind::ConnectionReset,
            LinkError::Refused => io::ErrorKind::ConnectionRefused,
            LinkError::Closed => io::ErrorKind::BrokenPipe,
            LinkError::Unavailable => io::ErrorKind::AddrInUse,
        };
        io::Error::new(kind, e)
    }
}

/// What the poll task and the application tasks share.
struct Shared {
    inner: Mutex<Inner>,
    /// Application → poll task: a socket has something to send, or room to receive.
    wake: Notify,
    config: StackConfig,
}

struct Inner {
    iface: Interface,
    sockets: SocketSet<'static>,
    /// Sockets nobody holds any more: removed once closed.
    orphans: Vec<SocketHandle>,
    next_port: u16,
    counters: DeviceCounters,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // The stack's state is only changed by whole smoltcp calls; a panic in one leaves
        // smoltcp's state as it was, so the lock's poison is ignored.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn new_socket(&self) -> tcp::Socket<'static> {
        let c = &self.config;
        let mut s = tcp::Socket::new(
            tcp::SocketBuffer::new(vec![0; c.socket_buffer]),
            tcp::SocketBuffer::new(vec![0; c.socket_buffer]),
        );
        s.set_nagle_enabled(false);
        // Without congestion control a lossy link makes smoltcp (no SACK) resend whole
        // windows again and again; Reno backs off.
        s.set_congestion_control(tcp::CongestionControl::Reno);
        s.set_ack_delay(c.ack_delay.map(smol_duration));
        s.set_timeout(c.timeout.map(smol_duration));
        s.set_keep_alive(c.keep_alive.map(smol_duration));
        s
    }
}

fn smol_duration(d: Duration) -> SmolDuration {
    SmolDuration::from_micros(d.as_micros() as u64)
}

/// The interlink stack of one controller. Dropping it stops its task; its streams then
/// never make progress again.
pub struct Stack {
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl Stack {
    /// Starts controller `config.controller`'s stack on `nic` (its MAC is the NIC's own):
    /// address [`link_ip`]`/16`, the poll task spawned on the current tokio runtime.
    pub fn start<N>(nic: N, config: StackConfig) -> Result<Stack, StackError>
    where
        N: FrameNic + AsRawFd + Send + Sync + 'static,
    {
        if !(1..=2).contains(&config.controller) {
            return Err(StackError::BadController(config.controller));
        }
        if !(576..=MTU_JUMBO).contains(&config.mtu) {
            return Err(StackError::BadMtu(config.mtu));
        }
        let needed = config.mtu + ETHERNET_HEADER;
        if nic.max_frame_len() < needed {
            return Err(StackError::NicTooSmall {
                nic: nic.max_frame_len(),
                needed,
            });
        }
        let mac = EthernetAddress(nic.mac_address());
        let mut device = NicDevice::new(nic, config.mtu);
        let clock = std::time::Instant::now();
        let mut iface_config = Config::new(HardwareAddress::Ethernet(mac));
        iface_config.random_seed = seed(config.controller);
        let mut iface = Interface::new(iface_config, &mut device, now(clock));
        iface.update_ip_addrs(|addrs| {
            let _ = addrs.push(IpCidr::new(
                IpAddress::Ipv4(link_ip(config.controller)),
                LINK_PREFIX,
            ));
        });
        let shared = Arc::new(Shared {
            inner: Mutex::new(Inner {
                iface,
                sockets: SocketSet::new(Vec::new()),
                orphans: Vec::new(),
                next_port: 49152 + u16::from(config.controller) * 1000,
                counters: DeviceCounters::default(),
            }),
            wake: Notify::new(),
            config,
        });
        // SAFETY: the AsyncFd owns the device, which owns the NIC, which owns the
        // descriptor: it stays open, and is the same one, for the AsyncFd's whole life (the
        // device never gives its NIC away or replaces it).
        let device = unsafe { AsyncFd::register_with_interest(device, Interest::READABLE) }
            .map_err(|e| StackError::Io(e.into()))?;
        let task = tokio::spawn(run(shared.clone(), device, clock));
        Ok(Stack { shared, task })
    }

    /// The stack's configuration.
    pub fn config(&self) -> StackConfig {
        self.shared.config
    }

    /// This controller's interlink address.
    pub fn address(&self) -> Ipv4Address {
        link_ip(self.shared.config.controller)
    }

    /// What the stack's device counted (as of its last poll).
    pub fn counters(&self) -> DeviceCounters {
        self.shared.lock().counters
    }

    /// Sockets open (streams, listeners, and closed ones not yet reaped).
    pub fn sockets(&self) -> usize {
        self.shared.lock().sockets.iter().count()
    }

    /// Listens on `port`: connections wait for [`Listener::accept`].
    pub fn listen(&self, port: u16) -> Result<Listener, LinkError> {
        let sock = SocketRef::listening(&self.shared, port)?;
        Ok(Listener {
            shared: self.shared.clone(),
            port,
            sock,
        })
    }

    /// Connects to `peer`'s `port`: the stream once the handshake is done.
    pub async fn connect(&self, peer: Ipv4Address, port: u16) -> Result<LinkStream, LinkError> {
        let sock = {
            let mut inner = self.shared.lock();
            let local_port = inner.next_port;
            inner.next_port = if local_port >= 65000 {
                49152
            } else {
                local_port + 1
            };
            let mut socket = self.shared.new_socket();
            let Inner { iface, sockets, .. } = &mut *inner;
            socket
                .connect(
                    iface.context(),
                    IpEndpoint::new(IpAddress::Ipv4(peer), port),
                    local_port,
                )
                .map_err(|_| LinkError::Unavailable)?;
            SocketRef::new(&self.shared, sockets.add(socket))
        };
        self.shared.wake.notify_one();
        poll_fn(|cx| {
            sock.with(|s| match s.state() {
                State::Established | State::CloseWait => Poll::Ready(Ok(())),
                State::Closed => Poll::Ready(Err(LinkError::Refused)),
                _ => {
                    s.register_send_waker(cx.waker());
                    Poll::Pending
                }
            })
        })
        .await?;
        Ok(LinkStream::new(sock))
    }

    /// Controller 2 connects to controller 1's `port`, trying again every `retry` until
    /// it answers; controller 1 accepts on `listener` (which it opened on `port`).
    /// The interlink's convention: the lower id listens, the higher connects.
    pub async fn link(
        &self,
        listener: Option<&mut Listener>,
        port: u16,
        retry: Duration,
    ) -> Result<LinkStream, LinkError> {
        if let Some(listener) = listener {
            return listener.accept().await;
        }
        let peer = link_ip(3 - self.shared.config.controller);
        loop {
            match self.connect(peer, port).await {
                Ok(stream) => return Ok(stream),
                Err(LinkError::Refused) => tokio::time::sleep(retry).await,
                Err(e) => return Err(e),
            }
        }
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn seed(controller: u8) -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    t ^ (u64::from(controller) << 56) ^ u64::from(std::process::id())
}

fn now(clock: std::time::Instant) -> SmolInstant {
    SmolInstant::from_micros(clock.elapsed().as_micros() as i64)
}

/// How long the task sleeps with no timer due at all (smoltcp has none when no socket
/// waits on anything): any wake-up comes from the NIC or an application task first.
const IDLE: Duration = Duration::from_secs(3600);
/// How many polls one turn of the task makes at most while smoltcp has more to send.
const BURST_POLLS: usize = 64;
/// How soon the task polls again after a receive stopped on errors.
const ERROR_RETRY: Duration = Duration::from_millis(1);

/// The poll task.
async fn run<N: FrameNic + AsRawFd>(
    shared: Arc<Shared>,
    mut device: AsyncFd<NicDevice<N>>,
    clock: std::time::Instant,
) {
    loop {
        let delay = {
            let mut guard = shared.lock();
            let inner = &mut *guard;
            let dev = device.get_mut();
            // smoltcp sends at most one segment per socket per poll: poll again while it
            // has more to send right away, up to a burst, before giving other tasks a turn.
            let mut t = now(clock);
            for _ in 0..BURST_POLLS {
                let _: PollResult = inner.iface.poll(t, dev, &mut inner.sockets);
                if inner.iface.poll_delay(t, &inner.sockets) != Some(SmolDuration::ZERO) {
                    break;
                }
                t = now(clock);
            }
            if !inner.orphans.is_empty() {
                let sockets = &mut inner.sockets;
                inner.orphans.retain(|&h| {
                    let state = sockets.get::<tcp::Socket>(h).state();
                    if matches!(state, State::Closed | State::TimeWait | State::Listen) {
                        sockets.remove(h);
                        false
                    } else {
                        true
                    }
                });
            }
            inner.counters = dev.counters();
            let delay = inner
                .iface
                .poll_delay(t, &inner.sockets)
                .map(|d| Duration::from_micros(d.total_micros()));
            if dev.undrained {
                Some(delay.map_or(ERROR_RETRY, |d| d.min(ERROR_RETRY)))
            } else {
                delay
            }
        };
        if delay == Some(Duration::ZERO) {
            // More to send right now: let the other tasks run first.
            tokio::task::yield_now().await;
            continue;
        }
        tokio::select! {
            ready = device.readable() => {
                // The poll above drained the NIC; readiness seen from now on is new.
                if let Ok(mut guard) = ready {
                    guard.clear_ready();
                }
            }
            () = tokio::time::sleep(delay.unwrap_or(IDLE)) => {}
            () = shared.wake.notified() => {}
        }
    }
}

/// A socket held by a stream or listener; closed (and reaped by the task) when dropped.
struct SocketRef {
    shared: Arc<Shared>,
    handle: SocketHandle,
    /// The peer's FIN was seen (reads give 0 rather than an error after that).
    peer_closed: AtomicBool,
}

impl SocketRef {
    fn new(shared: &Arc<Shared>, handle: SocketHandle) -> SocketRef {
        SocketRef {
            shared: shared.clone(),
            handle,
            peer_closed: AtomicBool::new(false),
        }
    }

    fn listening(shared: &Arc<Shared>, port: u16) -> Result<SocketRef, LinkError> {
        let mut socket = shared.new_socket();
        socket.listen(port).map_err(|_| LinkError::Unavailable)?;
        let handle = shared.lock().sockets.add(socket);
        Ok(SocketRef::new(shared, handle))
    }

    fn with<R>(&self, f: impl FnOnce(&mut tcp::Socket<'static>) -> R) -> R {
        let mut inner = self.shared.lock();
        f(inner.sockets.get_mut::<tcp::Socket>(self.handle))
    }

    fn poll_read(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<Result<usize, LinkError>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let r = self.with(|s| {
            if s.can_recv() {
                return Poll::Ready(s.recv_slice(buf).map_err(|_| LinkError::ConnectionLost));
            }
            match s.state() {
                State::CloseWait | State::LastAck | State::Closing | State::TimeWait => {
                    self.peer_closed.store(true, Ordering::Relaxed);
                    Poll::Ready(Ok(0))
                }
                State::Closed | State::Listen => {
                    if self.peer_closed.load(Ordering::Relaxed) {
                        Poll::Ready(Ok(0))
                    } else {
                        Poll::Ready(Err(LinkError::ConnectionLost))
                    }
                }
                _ => {
                    s.register_recv_waker(cx.waker());
                    Poll::Pending
                }
            }
        });
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            // Room in the window: the task may have an update to send.
            self.shared.wake.notify_one();
        }
        r
    }

    fn poll_write(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<Result<usize, LinkError>> {
        let r = self.with(|s| {
            if !s.may_send() {
                return Poll::Ready(Err(match s.state() {
                    State::Closed => LinkError::ConnectionLost,
                    _ => LinkError::Closed,
                }));
            }
            if buf.is_empty() {
                return Poll::Ready(Ok(0));
            }
            if s.can_send() {
                return Poll::Ready(s.send_slice(buf).map_err(|_| LinkError::Closed));
            }
            s.register_send_waker(cx.waker());
            Poll::Pending
        });
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.shared.wake.notify_one();
        }
        r
    }

    /// Ready once everything written has been acknowledged.
    fn poll_flush(&self, cx: &mut Context<'_>) -> Poll<Result<(), LinkError>> {
        self.with(|s| {
            if s.send_queue() == 0 {
                return Poll::Ready(Ok(()));
            }
            if s.state() == State::Closed {
                return Poll::Ready(Err(LinkError::ConnectionLost));
            }
            s.register_send_waker(cx.waker());
            Poll::Pending
        })
    }

    fn close(&self) {
        self.with(|s| s.close());
        self.shared.wake.notify_one();
    }
}

impl Drop for SocketRef {
    fn drop(&mut self) {
        let mut inner = self.shared.lock();
        let handle = self.handle;
        let s = inner.sockets.get_mut::<tcp::Socket>(handle);
        s.close();
        inner.orphans.push(handle);
        drop(inner);
        self.shared.wake.notify_one();
    }
}

/// A listening port: accepted connections become [`LinkStream`]s.
pub struct Listener {
    shared: Arc<Shared>,
    port: u16,
    sock: SocketRef,
}

impl Listener {
    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The next connection. A new listening socket takes the accepted one's place at
    /// once, so a peer reconnecting finds the port open.
    pub async fn accept(&mut self) -> Result<LinkStream, LinkError> {
        poll_fn(|cx| {
            self.sock.with(|s| match s.state() {
                State::Listen | State::SynReceived => {
                    s.register_recv_waker(cx.waker());
                    Poll::Pending
                }
                State::Closed | State::TimeWait => {
                    // A handshake that failed: listen again.
                    s.abort();
                    if s.listen(self.port).is_err() {
                        return Poll::Ready(Err(LinkError::Unavailable));
                    }
                    s.register_recv_waker(cx.waker());
                    Poll::Pending
                }
                _ => Poll::Ready(Ok(())),
            })
        })
        .await?;
        let fresh = SocketRef::listening(&self.shared, self.port)?;
        let accepted = std::mem::replace(&mut self.sock, fresh);
        Ok(LinkStream::new(accepted))
    }
}

/// One interlink connection: a reliable byte stream both ways.
///
/// `read` gives 0 once the peer has closed its side; [`LinkError::ConnectionLost`] when the
/// peer reset it or stopped answering (the stack's `timeout`). Dropping the stream closes
/// it. [`LinkStream::split`] gives halves for a reader and a writer task; it is also
/// tokio's [`AsyncRead`] + [`AsyncWrite`].
pub struct LinkStream {
    sock: Arc<SocketRef>,
}

impl LinkStream {
    fn new(sock: SocketRef) -> LinkStream {
        LinkStream {
            sock: Arc::new(sock),
        }
    }

    /// Reads what has arrived, waiting for at least one byte: the count, 0 at the end.
    pub async fn read(&mut self, buf: &mut [u8]) -> Result<usize, LinkError> {
        poll_fn(|cx| self.sock.poll_read(cx, buf)).await
    }

    /// Reads exactly `buf.len()` bytes; [`LinkError::ConnectionLost`] if the stream ends
    /// first.
    pub async fn read_exact(&mut self, mut buf: &mut [u8]) -> Result<(), LinkError> {
        while !buf.is_empty() {
            let n = self.read(buf).await?;
            if n == 0 {
                return Err(LinkError::ConnectionLost);
            }
            buf = &mut buf[n..];
        }
        Ok(())
    }

    /// Queues some of `buf` to send, waiting for room: the count queued.
    pub async fn write(&mut self, buf: &[u8]) -> Result<usize, LinkError> {
        poll_fn(|cx| self.sock.poll_write(cx, buf)).await
    }

    /// Queues all of `buf`.
    pub async fn write_all(&mut self, mut buf: &[u8]) -> Result<(), LinkError> {
        while !buf.is_empty() {
            let n = self.write(buf).await?;
            buf = &buf[n..];
        }
        Ok(())
    }

    /// Waits until the peer has acknowledged everything written.
    pub async fn flush(&mut self) -> Result<(), LinkError> {
        poll_fn(|cx| self.sock.poll_flush(cx)).await
    }

    /// Closes the sending side (FIN): the peer reads to its end; this side may still read.
    pub fn close(&mut self) {
        self.sock.close();
    }

    /// Whether the connection is up (not reset, timed out or fully closed).
    pub fn is_open(&self) -> bool {
        self.sock.with(|s| s.is_open())
    }

    /// The peer's address and port.
    pub fn peer(&self) -> Option<IpEndpoint> {
        self.sock.with(|s| s.remote_endpoint())
    }

    /// A reading half and a writing half, for two tasks.
    pub fn split(self) -> (LinkReader, LinkWriter) {
        (
            LinkReader {
                sock: self.sock.clone(),
            },
            LinkWriter { sock: self.sock },
        )
    }
}

/// The reading half of a [`LinkStream`].
pub struct LinkReader {
    sock: Arc<SocketRef>,
}

impl LinkReader {
    /// As [`LinkStream::read`].
    pub async fn read(&mut self, buf: &mut [u8]) -> Result<usize, LinkError> {
        poll_fn(|cx| self.sock.poll_read(cx, buf)).await
    }
}

/// The writing half of a [`LinkStream`].
pub struct LinkWriter {
    sock: Arc<SocketRef>,
}

impl LinkWriter {
    /// As [`LinkStream::write_all`].
    pub async fn write_all(&mut self, mut buf: &[u8]) -> Result<(), LinkError> {
        while !buf.is_empty() {
            let n = poll_fn(|cx| self.sock.poll_write(cx, buf)).await?;
            buf = &buf[n..];
        }
        Ok(())
    }

    /// As [`LinkStream::flush`].
    pub async fn flush(&mut self) -> Result<(), LinkError> {
        poll_fn(|cx| self.sock.poll_flush(cx)).await
    }

    /// As [`LinkStream::close`].
    pub fn close(&mut self) {
        self.sock.close();
    }
}

fn read_buf(sock: &SocketRef, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
    let dst = buf.initialize_unfilled();
    match sock.poll_read(cx, dst) {
        Poll::Ready(Ok(n)) => {
            buf.advance(n);
            Poll::Ready(Ok(()))
        }
        Poll::Ready(Err(e)) => Poll::Ready(Err(e.into())),
        Poll::Pending => Poll::Pending,
    }
}

impl AsyncRead for LinkStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        read_buf(&self.sock, cx, buf)
    }
}

impl AsyncRead for LinkReader {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        read_buf(&self.sock, cx, buf)
    }
}

macro_rules! async_write {
    ($t:ty) => {
        impl AsyncWrite for $t {
            fn poll_write(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &[u8],
            ) -> Poll<io::Result<usize>> {
                self.sock.poll_write(cx, buf).map_err(io::Error::from)
            }

            fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                self.sock.poll_flush(cx).map_err(io::Error::from)
            }

            fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                self.sock.close();
                Poll::Ready(Ok(()))
            }
        }
    };
}

async_write!(LinkStream);
async_write!(LinkWriter);
