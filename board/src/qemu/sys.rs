//! The system calls the machine's bring-up needs that std does not wrap: mounts, module
//! loading, reboot, interface ioctls, raw packet sockets. Each wrapper turns the C return
//! convention into an `io::Result` and keeps its unsafe block to the call itself.

use std::ffi::{CString, OsStr};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

fn c_string(bytes: &[u8]) -> io::Result<CString> {
    CString::new(bytes).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in a name"))
}

fn check(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// mount(2) of a pseudo file system: `mount -t TYPE SOURCE TARGET -o DATA`.
pub fn mount(
    source: &str,
    target: &Path,
    fs_type: &str,
    flags: libc::c_ulong,
    data: &str,
) -> io::Result<()> {
    let source = c_string(source.as_bytes())?;
    let target = c_string(target.as_os_str().as_bytes())?;
    let fs_type = c_string(fs_type.as_bytes())?;
    let data = c_string(data.as_bytes())?;
    // SAFETY: every pointer is a NUL-terminated string that outlives the call.
    check(unsafe {
        libc::mount(
            source.as_ptr(),
            target.as_ptr(),
            fs_type.as_ptr(),
            flags,
            data.as_ptr().cast(),
        )
    })
    .map(|_| ())
}

/// finit_module(2): loads the module in `file` with no parameters.
pub fn finit_module(file: BorrowedFd<'_>) -> io::Result<()> {
    let params = c_string(b"")?;
    // SAFETY: the descriptor is open for the call, the parameter string is NUL-terminated
    // and outlives it; flags 0.
    let r = unsafe {
        libc::syscall(
            libc::SYS_finit_module,
            file.as_raw_fd(),
            params.as_ptr(),
            0 as libc::c_int,
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// reboot(2) with `how` (`RB_POWER_OFF`, `RB_DISABLE_CAD`, ...).
pub fn reboot(how: libc::c_int) -> io::Result<()> {
    // SAFETY: reboot takes an integer; only PID 1 (CAP_SYS_BOOT) gets past the check.
    check(unsafe { libc::reboot(how) }).map(|_| ())
}

/// sync(2).
pub fn sync() {
    // SAFETY: sync takes nothing and cannot fail.
    unsafe { libc::sync() }
}

/// Whether descriptor `fd` is open.
pub fn fd_is_open(fd: libc::c_int) -> bool {
    // SAFETY: F_GETFD only reads the descriptor's flags; an unopened number gives EBADF.
    unsafe { libc::fcntl(fd, libc::F_GETFD) >= 0 }
}

/// dup2(2): makes `to` a copy of `from`.
pub fn dup2(from: BorrowedFd<'_>, to: libc::c_int) -> io::Result<()> {
    // SAFETY: dup2 takes two descriptor numbers; `from` is open for the call.
    check(unsafe { libc::dup2(from.as_raw_fd(), to) }).map(|_| ())
}

/// A socket of `domain`, `kind`, `protocol`, close-on-exec.
pub fn socket(
    domain: libc::c_int,
    kind: libc::c_int,
    protocol: libc::c_int,
) -> io::Result<OwnedFd> {
    // SAFETY: socket takes integers; a non-negative result is a new descriptor we own.
    let fd = check(unsafe { libc::socket(domain, kind | libc::SOCK_CLOEXEC, protocol) })?;
    // SAFETY: `fd` was just returned by socket(2) and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// An `ifreq` naming interface `name`.
pub fn ifreq(name: &OsStr) -> io::Result<libc::ifreq> {
    let bytes = name.as_bytes();
    if bytes.is_empty() || bytes.len() >= libc::IFNAMSIZ {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "bad interface name",
        ));
    }
    // SAFETY: ifreq is plain old data (a name array and a union of integers and
    // sockaddrs), for which all zeros is a valid value.
    let mut request: libc::ifreq = unsafe { std::mem::zeroed() };
    for (to, from) in request.ifr_name.iter_mut().zip(bytes) {
        *to = *from as libc::c_char;
    }
    Ok(request)
}

/// ioctl(2) on a socket with an `ifreq`.
pub fn ifreq_ioctl(
    socket: BorrowedFd<'_>,
    request: libc::c_ulong,
    ifreq: &mut libc::ifreq,
) -> io::Result<()> {
    // SAFETY: the interface ioctls read and write one `ifreq`, which `ifreq` points to and
    // which lives across the call.
    check(unsafe { libc::ioctl(socket.as_raw_fd(), request as _, ifreq as *mut libc::ifreq) })
        .map(|_| ())
}

/// bind(2) of a packet socket to an interface and EtherType.
pub fn bind_packet(socket: BorrowedFd<'_>, ifindex: u32, ethertype: u16) -> io::Result<()> {
    // SAFETY: sockaddr_ll is plain old data; all zeros is valid.
    let mut address: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    address.sll_family = libc::AF_PACKET as libc::c_ushort;
    address.sll_protocol = ethertype.to_be();
    address.sll_ifindex = ifindex as libc::c_int;
    // SAFETY: the address is a sockaddr_ll of the size given, alive across the call.
    check(unsafe {
        libc::bind(
            socket.as_raw_fd(),
            (&address as *const libc::sockaddr_ll).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    })
    .map(|_| ())
}

/// Sets `O_NONBLOCK` on `fd`.
pub fn set_nonblocking(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: F_GETFL/F_SETFL read and set the descriptor's status flags; no memory.
    let flags = check(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) })?;
    // SAFETY: as above.
    check(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK) })
        .map(|_| ())
}

/// The terminal settings of `fd`.
pub fn tcgetattr(fd: BorrowedFd<'_>) -> io::Result<libc::termios> {
    // SAFETY: termios is plain old data; all zeros is valid and tcgetattr fills it in.
    let mut termios: libc::termios = unsafe { std::mem::zeroed() };
    // SAFETY: `termios` is a valid termios that lives across the call.
    check(unsafe { libc::tcgetattr(fd.as_raw_fd(), &mut termios) })?;
    Ok(termios)
}

/// Sets the terminal settings of `fd` at once.
pub fn tcsetattr(fd: BorrowedFd<'_>, termios: &libc::termios) -> io::Result<()> {
    // SAFETY: `termios` points to a valid termios for the call.
    check(unsafe { libc::tcsetattr(fd.as_raw_fd(), libc::TCSANOW, termios) }).map(|_| ())
}

/// Raw mode (cfmakeraw): bytes pass both ways untouched, no echo, no signals.
pub fn make_raw(termios: &mut libc::termios) {
    // SAFETY: cfmakeraw only changes the fields of the termios it is given.
    unsafe { libc::cfmakeraw(termios) }
}

/// SO_RCVTIMEO: a blocking receive gives up (EAGAIN) after `timeout`.
pub fn set_receive_timeout(socket: BorrowedFd<'_>, timeout: std::time::Duration) -> io::Result<()> {
    let value = libc::timeval {
        tv_sec: timeout.as_secs() as libc::time_t,
        tv_usec: timeout.subsec_micros() as libc::suseconds_t,
    };
    // SAFETY: the option value is a timeval of the size given, alive across the call.
    check(unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&value as *const libc::timeval).cast(),
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        )
    })
    .map(|_| ())
}
