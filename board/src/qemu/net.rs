//! The machine's NICs: found by MAC in /sys/class/net (their names depend on probe order;
//! there is no udev), brought up and given an IPv4 address with the classic interface
//! ioctls, so the board needs neither DHCP nor netlink.

use std::ffi::OsStr;
use std::io;
use std::net::Ipv4Addr;
use std::os::fd::AsFd;
use std::path::Path;
use std::time::{Duration, Instant};

use super::cmdline::Mac;
use super::sys;

/// A network interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Nic {
    /// `eth0`, ...
    pub name: String,
    pub ifindex: u32,
    pub mac: Mac,
    /// The driver bound to it (`virtio_net`), when sysfs says.
    pub driver: Option<String>,
}

fn read_trimmed(path: &Path) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
}

/// Every interface with a MAC address (not `lo`).
pub fn nics() -> Vec<Nic> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir("/sys/class/net") else {
        return out;
    };
    for entry in entries.flatten() {
        let dir = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(mac) = read_trimmed(&dir.join("address")).and_then(|a| a.parse::<Mac>().ok())
        else {
            continue;
        };
        if mac.0 == [0; 6] {
            continue;
        }
        let Some(ifindex) = read_trimmed(&dir.join("ifindex")).and_then(|i| i.parse().ok()) else {
            continue;
        };
        let driver = std::fs::read_link(dir.join("device/driver"))
            .ok()
            .and_then(|p| Some(p.file_name()?.to_string_lossy().into_owned()));
        out.push(Nic {
            name,
            ifindex,
            mac,
            driver,
        });
    }
    out.sort_by_key(|n| n.ifindex);
    out
}

/// Waits up to `timeout` for an interface with each of `macs`; returns them in that order.
pub fn wait_for(macs: &[Mac], timeout: Duration) -> Result<Vec<Nic>, String> {
    let deadline = Instant::now() + timeout;
    loop {
        let present = nics();
        let found: Vec<Option<&Nic>> = macs
            .iter()
            .map(|mac| present.iter().find(|n| n.mac == *mac))
            .collect();
        if found.iter().all(Option::is_some) {
            return Ok(found.into_iter().flatten().cloned().collect());
        }
        if Instant::now() >= deadline {
            let missing: Vec<String> = macs
                .iter()
                .zip(&found)
                .filter(|(_, f)| f.is_none())
                .map(|(m, _)| m.to_string())
                .collect();
            let seen: Vec<String> = present
                .iter()
                .map(|n| format!("{} {}", n.name, n.mac))
                .collect();
            return Err(format!(
                "no NIC with MAC {} after {timeout:?} (the machine has: {})",
                missing.join(", "),
                if seen.is_empty() {
                    "none".to_string()
                } else {
                    seen.join(", ")
                }
            ));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn control_socket() -> io::Result<std::os::fd::OwnedFd> {
    sys::socket(libc::AF_INET, libc::SOCK_DGRAM, 0)
}

/// Sets IFF_UP on interface `name`.
pub fn set_up(name: &str) -> io::Result<()> {
    let socket = control_socket()?;
    let mut request = sys::ifreq(OsStr::new(name))?;
    sys::ifreq_ioctl(socket.as_fd(), libc::SIOCGIFFLAGS, &mut request)?;
    // SAFETY: SIOCGIFFLAGS filled in the flags member of the union.
    let flags = unsafe { request.ifr_ifru.ifru_flags };
    request.ifr_ifru.ifru_flags = flags | libc::IFF_UP as libc::c_short;
    sys::ifreq_ioctl(socket.as_fd(), libc::SIOCSIFFLAGS, &mut request)
}

fn sockaddr_in(address: Ipv4Addr) -> libc::sockaddr {
    let inet = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: 0,
        sin_addr: libc::in_addr {
            s_addr: u32::from(address).to_be(),
        },
        sin_zero: [0; 8],
    };
    // SAFETY: sockaddr_in and sockaddr are both 16-byte plain old data, and a sockaddr
    // holding an AF_INET address is exactly a sockaddr_in reinterpreted.
    unsafe { std::mem::transmute::<libc::sockaddr_in, libc::sockaddr>(inet) }
}

/// Gives interface `name` the address `address/prefix` (which also adds the route to its
/// subnet).
pub fn set_ipv4(name: &str, address: Ipv4Addr, prefix: u8) -> io::Result<()> {
    let socket = control_socket()?;
    let mut request = sys::ifreq(OsStr::new(name))?;
    request.ifr_ifru.ifru_addr = sockaddr_in(address);
    sys::ifreq_ioctl(socket.as_fd(), libc::SIOCSIFADDR, &mut request)?;
    let mask = u32::MAX
        .checked_shl(32 - u32::from(prefix.min(32)))
        .unwrap_or(0);
    let mut request = sys::ifreq(OsStr::new(name))?;
    request.ifr_ifru.ifru_netmask = sockaddr_in(Ipv4Addr::from(mask));
    sys::ifreq_ioctl(socket.as_fd(), libc::SIOCSIFNETMASK, &mut request)
}

/// Whether the interface reports a carrier (virtio-net has one as soon as it is up).
pub fn has_carrier(name: &str) -> bool {
    read_trimmed(&Path::new("/sys/class/net").join(name).join("carrier")).as_deref() == Some("1")
}
