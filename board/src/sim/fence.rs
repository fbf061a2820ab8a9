//! The sim board's peer fence: each running controller registers its process id in the
//! enclosure folder (`controller-a.pid`), and fencing the peer kills that process, as
//! pulling a board's reset line would stop it. Power-off also leaves a marker
//! (`controller-b.off`) telling the launcher not to start it again.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use hal::fence::{ErrorType, FenceAction, PeerFence};

use super::slots::SimError;
use super::watchdog::letter;
use super::{write_atomic, Enclosure};

/// What the firmware's process is called (`/proc/PID/comm`, at most 15 characters): a pid
/// file naming any other process is stale and never killed.
const FIRMWARE_COMM: &str = "dyad-firmware";

/// How long a fence waits to see the peer gone.
const CONFIRM: Duration = Duration::from_secs(5);

/// `controller`'s pid file in `dir`.
pub fn pid_path(dir: &Path, controller: u8) -> PathBuf {
    dir.join(format!("controller-{}.pid", letter(controller)))
}

/// `controller`'s power-off marker in `dir`.
pub fn off_path(dir: &Path, controller: u8) -> PathBuf {
    dir.join(format!("controller-{}.off", letter(controller)))
}

/// A running controller's pid file; removed when dropped (if it still names this process).
#[derive(Debug)]
pub struct ControllerRegistration {
    path: PathBuf,
    pid: u32,
}

impl Drop for ControllerRegistration {
    fn drop(&mut self) {
        if read_pid(&self.path).ok().flatten() == Some(self.pid) {
            let _ = fs::remove_file(&self.path);
        }
    }
}

impl Enclosure {
    /// Registers this process as `controller`, for the peer's fence. Clears a power-off
    /// marker: whoever starts the controller again means it.
    pub fn register_controller(&self, controller: u8) -> io::Result<ControllerRegistration> {
        let path = pid_path(self.dir(), controller);
        let pid = std::process::id();
        write_atomic(&path, &format!("{pid}\n"))?;
        match fs::remove_file(off_path(self.dir(), controller)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        Ok(ControllerRegistration { path, pid })
    }

    /// The fence line from `controller` to its peer.
    pub fn peer_fence(&self, controller: u8) -> SimPeerFence {
        SimPeerFence {
            dir: self.dir().to_path_buf(),
            peer: if controller == 2 { 1 } else { 2 },
            confirm: CONFIRM,
        }
    }
}

/// The fence line to the peer controller's process.
#[derive(Debug, Clone)]
pub struct SimPeerFence {
    dir: PathBuf,
    peer: u8,
    confirm: Duration,
}

fn read_pid(path: &Path) -> io::Result<Option<u32>> {
    match fs::read_to_string(path) {
        Ok(text) => Ok(text.trim().parse().ok()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Whether `pid` is a live (not zombie) firmware process.
fn is_running_firmware(pid: u32) -> bool {
    let comm = fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    if comm.trim_end() != FIRMWARE_COMM {
        return false;
    }
    // `pid (comm) S ...`: the state follows the last ')'.
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.trim_start().chars().next());
    !matches!(state, None | Some('Z' | 'X'))
}

#[allow(unsafe_code)]
fn kill(pid: u32) -> io::Result<()> {
    let pid = libc::pid_t::try_from(pid)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "pid out of range"))?;
    // SAFETY: kill takes two integers and touches no memory of ours; `pid` was checked to
    // be a running dyad-firmware process just before.
    let r = unsafe { libc::kill(pid, libc::SIGKILL) };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

impl ErrorType for SimPeerFence {
    type Error = SimError;
}

impl PeerFence for SimPeerFence {
    fn fence(&mut self, action: FenceAction) -> Result<(), SimError> {
        if action == FenceAction::PowerOff {
            // Before the kill, so a launcher that sees the controller die knows to leave it.
            write_atomic(&off_path(&self.dir, self.peer), "fenced by the peer\n")?;
        }
        let pid_file = pid_path(&self.dir, self.peer);
        let Some(pid) = read_pid(&pid_file)? else {
            // No peer registered: nothing can be touching the drives.
            return Ok(());
        };
        if is_running_firmware(pid) {
            match kill(pid) {
                Ok(()) => {}
                // Gone between the check and the kill: as good as fenced.
                Err(e) if e.raw_os_error() == Some(libc::ESRCH) => {}
                Err(e) => return Err(SimError(e)),
            }
            let deadline = Instant::now() + self.confirm;
            while is_running_firmware(pid) {
                if Instant::now() > deadline {
                    return Err(SimError(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!("controller {} (pid {pid}) still runs", letter(self.peer)),
                    )));
                }
                thread::sleep(Duration::from_millis(10));
            }
        }
        let _ = fs::remove_file(&pid_file);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_dir::TestDir;
    use super::*;

    #[test]
    fn registration_lives_as_long_as_its_guard() {
        let dir = TestDir::new("register");
        let e = Enclosure::open(dir.path()).unwrap();
        fs::write(off_path(dir.path(), 1), "x").unwrap();
        let guard = e.register_controller(1).unwrap();
        assert_eq!(
            read_pid(&pid_path(dir.path(), 1)).unwrap(),
            Some(std::process::id())
        );
        assert!(!off_path(dir.path(), 1).exists());
        drop(guard);
        assert!(!pid_path(dir.path(), 1).exists());
    }

    #[test]
    fn fencing_kills_the_registered_peer_process() {
        let dir = TestDir::new("fence-kill");
        let e = Enclosure::open(dir.path()).unwrap();
        // A stand-in peer: `sleep` under the firmware's process name.
        let peer_binary = dir.path().join(FIRMWARE_COMM);
        fs::copy("/bin/sleep", &peer_binary).unwrap();
        let mut peer = std::process::Command::new(&peer_binary)
            .arg("60")
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while !is_running_firmware(peer.id()) {
            assert!(Instant::now() < deadline, "the stand-in never ran");
            thread::sleep(Duration::from_millis(10));
        }
        fs::write(pid_path(dir.path(), 2), format!("{}\n", peer.id())).unwrap();
        e.peer_fence(1).fence(FenceAction::Reset).unwrap();
        let status = peer.wait().unwrap();
        assert!(!status.success(), "killed, not ended: {status}");
        assert!(!pid_path(dir.path(), 2).exists());
        assert!(
            !off_path(dir.path(), 2).exists(),
            "a reset lets it come back"
        );
    }

    #[test]
    fn fencing_an_absent_or_stale_peer_succeeds_without_killing_anyone() {
        let dir = TestDir::new("fence");
        let e = Enclosure::open(dir.path()).unwrap();
        let mut fence = e.peer_fence(1);
        fence.fence(FenceAction::Reset).unwrap();
        // A pid file naming this test process, which is no firmware: stale.
        fs::write(pid_path(dir.path(), 2), format!("{}\n", std::process::id())).unwrap();
        fence.fence(FenceAction::PowerOff).unwrap();
        assert!(!pid_path(dir.path(), 2).exists());
        assert!(off_path(dir.path(), 2).exists());
        assert!(!is_running_firmware(std::process::id()));
    }
}
