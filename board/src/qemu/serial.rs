//! The machine's serial ports (16550 UARTs, `/dev/ttyS*`): put in raw mode so bytes pass
//! untouched both ways (the console's line editor does its own echo and line endings; the
//! log port carries binary defmt frames), and served asynchronously to tokio through
//! `AsyncFd`, as `AsyncRead` + `AsyncWrite` halves that `embedded_io_adapters`' `FromTokio`
//! turns into the console's embedded-io streams.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::sys;

/// Opens the serial port at `path` in raw mode, ignoring modem lines (no hang-ups when
/// nobody is connected), non-blocking when `nonblocking`. The speed is left as it is:
/// QEMU's UART moves bytes as fast as its character device takes them. (glibc's
/// cfsetispeed is a versioned symbol the static link cannot resolve.)
pub fn open_raw(path: &Path, nonblocking: bool) -> io::Result<File> {
    let mut flags = libc::O_NOCTTY;
    if nonblocking {
        flags |= libc::O_NONBLOCK;
    }
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(flags)
        .open(path)?;
    let mut termios = sys::tcgetattr(file.as_fd())?;
    sys::make_raw(&mut termios);
    termios.c_cflag |= libc::CLOCAL | libc::CREAD;
    termios.c_cflag &= !libc::HUPCL;
    sys::tcsetattr(file.as_fd(), &termios)?;
    if nonblocking {
        sys::set_nonblocking(file.as_fd())?;
    }
    Ok(file)
}

/// One end of a serial port for tokio; [`SerialPort::try_clone`] gives the other half (both
/// share the descriptor: reading and writing go on independently).
#[derive(Clone)]
pub struct SerialPort {
    fd: Arc<AsyncFd<File>>,
}

impl SerialPort {
    /// Opens `path` raw and non-blocking and registers it with the current tokio runtime
    /// (call from within one).
    pub fn open(path: &Path) -> io::Result<SerialPort> {
        let file = open_raw(path, true)?;
        // SAFETY: the File owns its descriptor, which stays open and the same for as long as
        // the AsyncFd owns the File (it is never taken out or replaced).
        let fd = unsafe { AsyncFd::register(file) }?;
        Ok(SerialPort { fd: Arc::new(fd) })
    }

    /// Another handle to the same port.
    pub fn try_clone(&self) -> SerialPort {
        self.clone()
    }
}

impl AsyncRead for SerialPort {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            let mut guard = ready!(self.fd.poll_read_ready(cx))?;
            let unfilled = buf.initialize_unfilled();
            match guard.try_io(|fd| {
                let mut file: &File = fd.get_ref();
                file.read(unfilled)
            }) {
                Ok(Ok(n)) => {
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                Ok(Err(e)) if e.kind() == io::ErrorKind::Interrupted => continue,
                Ok(Err(e)) => return Poll::Ready(Err(e)),
                // Not readable after all: the readiness was cleared, wait again.
                Err(_would_block) => continue,
            }
        }
    }
}

impl AsyncWrite for SerialPort {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        loop {
            let mut guard = ready!(self.fd.poll_write_ready(cx))?;
            match guard.try_io(|fd| {
                let mut file: &File = fd.get_ref();
                file.write(buf)
            }) {
                Ok(Ok(n)) => return Poll::Ready(Ok(n)),
                Ok(Err(e)) if e.kind() == io::ErrorKind::Interrupted => continue,
                Ok(Err(e)) => return Poll::Ready(Err(e)),
                Err(_would_block) => continue,
            }
        }
    }

    /// Bytes written are in the kernel's tty buffer, which drains to the UART by itself.
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A pseudo-terminal stands in for the UART: what is written to the master arrives on
    /// the port, raw (no CR translation, no echo), and the other way round.
    #[test]
    fn a_terminal_in_raw_mode_passes_bytes_both_ways() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()
            .unwrap();
        runtime.block_on(async {
            let (mut master, slave) = pty();
            let port = SerialPort::open(&slave).unwrap();
            let (mut reader, mut writer) = (port.try_clone(), port);
            master.write_all(b"devlist\r\x03").unwrap();
            let mut got = [0u8; 9];
            reader.read_exact(&mut got).await.unwrap();
            assert_eq!(&got, b"devlist\r\x03");
            writer.write_all(b"ok\n\0\xff").await.unwrap();
            let mut back = [0u8; 5];
            master.read_exact(&mut back).unwrap();
            assert_eq!(&back, b"ok\n\0\xff");
        });
    }

    fn pty() -> (File, std::path::PathBuf) {
        let master = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NOCTTY)
            .open("/dev/ptmx")
            .unwrap();
        use std::os::fd::AsRawFd;
        let fd = master.as_raw_fd();
        let mut name = [0 as libc::c_char; 64];
        // SAFETY: plain calls on our own master descriptor; ptsname_r writes at most the
        // buffer's length.
        unsafe {
            assert_eq!(libc::grantpt(fd), 0);
            assert_eq!(libc::unlockpt(fd), 0);
            assert_eq!(libc::ptsname_r(fd, name.as_mut_ptr(), name.len()), 0);
        }
        // SAFETY: ptsname_r wrote a NUL-terminated string into `name`.
        let path = unsafe { std::ffi::CStr::from_ptr(name.as_ptr()) };
        (
            master,
            std::path::PathBuf::from(path.to_string_lossy().into_owned()),
        )
    }
}
