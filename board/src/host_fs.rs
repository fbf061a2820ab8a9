//! What the host file system under a path is, read from /proc/self/mountinfo: the sim board
//! uses it to run I/O to memory-backed files (tmpfs) inline, where a read is a memory copy and
//! cheaper than handing it to an I/O thread.

use std::fs;
use std::path::{Path, PathBuf};

/// File system types whose data lives in memory.
const MEMORY_BACKED: &[&str] = &["tmpfs", "ramfs"];

/// Undoes the octal escapes mountinfo uses for spaces and the like (`\040`).
fn unescape(field: &str) -> String {
    let mut out = String::with_capacity(field.len());
    let mut chars = field.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' {
            let digits: String = chars.clone().take(3).collect();
            if let Ok(v) = u8::from_str_radix(&digits, 8) {
                out.push(char::from(v));
                for _ in 0..3 {
                    chars.next();
                }
                continue;
            }
        }
        out.push(c);
    }
    out
}

/// The file system type of the mount holding `path`, from a mountinfo text.
pub fn fs_type_in(mountinfo: &str, path: &Path) -> Option<String> {
    let mut best: Option<(usize, String)> = None;
    for line in mountinfo.lines() {
        let (left, right) = line.split_once(" - ")?;
        let mount_point = PathBuf::from(unescape(left.split(' ').nth(4)?));
        let fs_type = right.split(' ').next()?.to_string();
        if path.starts_with(&mount_point) {
            let depth = mount_point.components().count();
            if best.as_ref().is_none_or(|(d, _)| depth >= *d) {
                best = Some((depth, fs_type));
            }
        }
    }
    best.map(|(_, t)| t)
}

/// Whether `path` (a file or the folder it will be created in) lives in memory.
pub fn is_memory_backed(path: &Path) -> bool {
    let probe = path.canonicalize().or_else(|_| {
        path.parent()
            .map_or(Err(()), |p| p.canonicalize().map_err(|_| ()))
    });
    let Ok(probe) = probe else {
        return false;
    };
    let Ok(info) = fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    fs_type_in(&info, &probe).is_some_and(|t| MEMORY_BACKED.contains(&t.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const INFO: &str = "\
22 1 254:0 / / rw,relatime - ext4 /dev/vda rw
23 22 0:21 / /dev/shm rw,nosuid,nodev - tmpfs tmpfs rw
24 22 0:22 / /mnt/my\\040disk rw - xfs /dev/vdb rw
";

    #[test]
    fn longest_mount_point_wins() {
        assert_eq!(
            fs_type_in(INFO, Path::new("/dev/shm/x.img")).as_deref(),
            Some("tmpfs")
        );
        assert_eq!(
            fs_type_in(INFO, Path::new("/dev/shmx/a")).as_deref(),
            Some("ext4")
        );
        assert_eq!(
            fs_type_in(INFO, Path::new("/var/enclosure/slot-00.img")).as_deref(),
            Some("ext4")
        );
        assert_eq!(
            fs_type_in(INFO, Path::new("/mnt/my disk/f")).as_deref(),
            Some("xfs")
        );
    }

    #[test]
    fn this_machine_answers_without_panicking() {
        let _ = is_memory_backed(Path::new("/dev/shm/none-such"));
        assert!(!is_memory_backed(Path::new("/no/such/dir/file")));
    }
}
