//! A writer of "newc" cpio archives, the format the kernel unpacks an initramfs from: each
//! entry a 110-byte ASCII header (`070701` and thirteen 8-digit hex fields), the NUL-ended
//! name, the data, each padded to 4 bytes; a `TRAILER!!!` entry ends it. Device nodes are
//! entries of their own, so building an image needs neither root nor mknod.

/// File type bits of `st_mode`.
const S_IFDIR: u32 = 0o040000;
const S_IFREG: u32 = 0o100000;
const S_IFCHR: u32 = 0o020000;

/// An archive being built in memory.
#[derive(Default)]
pub struct Archive {
    out: Vec<u8>,
    next_inode: u32,
}

fn pad4(out: &mut Vec<u8>) {
    out.resize(out.len().next_multiple_of(4), 0);
}

impl Archive {
    pub fn new() -> Archive {
        Archive {
            out: Vec::new(),
            next_inode: 1,
        }
    }

    fn entry(&mut self, name: &str, mode: u32, rdev: (u32, u32), data: &[u8]) {
        let name = name.trim_start_matches('/');
        let inode = self.next_inode;
        self.next_inode += 1;
        let nlink = if mode & S_IFDIR != 0 { 2 } else { 1 };
        let fields = [
            inode,
            mode,
            0, // uid
            0, // gid
            nlink,
            0, // mtime: reproducible images
            data.len() as u32,
            0, // devmajor
            0, // devminor
            rdev.0,
            rdev.1,
            name.len() as u32 + 1,
            0, // check
        ];
        self.out.extend_from_slice(b"070701");
        for field in fields {
            self.out
                .extend_from_slice(format!("{field:08x}").as_bytes());
        }
        self.out.extend_from_slice(name.as_bytes());
        self.out.push(0);
        pad4(&mut self.out);
        self.out.extend_from_slice(data);
        pad4(&mut self.out);
    }

    /// A directory (its parents must come first).
    pub fn dir(&mut self, name: &str) {
        self.entry(name, S_IFDIR | 0o755, (0, 0), &[]);
    }

    /// A regular file with permission bits `perm` (0o755 for a program).
    pub fn file(&mut self, name: &str, perm: u32, data: &[u8]) {
        self.entry(name, S_IFREG | (perm & 0o7777), (0, 0), data);
    }

    /// A character device node.
    pub fn char_device(&mut self, name: &str, perm: u32, major: u32, minor: u32) {
        self.entry(name, S_IFCHR | (perm & 0o7777), (major, minor), &[]);
    }

    /// Ends the archive and returns its bytes.
    pub fn finish(mut self) -> Vec<u8> {
        self.next_inode = 0;
        self.entry("TRAILER!!!", 0, (0, 0), &[]);
        // The kernel reads the archive in 512-byte blocks, as cpio writes it.
        self.out.resize(self.out.len().next_multiple_of(512), 0);
        self.out
    }
}

/// One entry read back, for tests.
#[cfg(test)]
pub(crate) struct Entry {
    pub name: String,
    pub mode: u32,
    pub rdev: (u32, u32),
    pub data: Vec<u8>,
}

/// Reads an archive back (the kernel's view of it), for tests.
#[cfg(test)]
pub(crate) fn read(mut bytes: &[u8]) -> Vec<Entry> {
    let mut entries = Vec::new();
    let field = |h: &[u8], i: usize| {
        u32::from_str_radix(std::str::from_utf8(&h[6 + 8 * i..14 + 8 * i]).unwrap(), 16).unwrap()
    };
    let total = bytes.len();
    loop {
        let header = &bytes[..110];
        assert_eq!(&header[..6], b"070701");
        let name_len = field(header, 11) as usize;
        let size = field(header, 6) as usize;
        let name_end = 110 + name_len;
        let name = std::str::from_utf8(&bytes[110..name_end - 1])
            .unwrap()
            .to_string();
        let data_at = (name_end + 3) & !3;
        let data = bytes[data_at..data_at + size].to_vec();
        let next = (data_at + size + 3) & !3;
        assert_eq!((total - bytes.len() + next) % 4, 0);
        if name == "TRAILER!!!" {
            break;
        }
        entries.push(Entry {
            name,
            mode: field(header, 1),
            rdev: (field(header, 9), field(header, 10)),
            data,
        });
        bytes = &bytes[next..];
    }
    entries
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_read_back_as_written() {
        let mut a = Archive::new();
        a.dir("dev");
        a.char_device("/dev/console", 0o600, 5, 1);
        a.file("init", 0o755, b"\x7fELF...");
        a.file("etc/ctl.conf", 0o644, b"lun x {\n}\n");
        let bytes = a.finish();
        assert_eq!(bytes.len() % 512, 0);
        let entries = read(&bytes);
        let names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["dev", "dev/console", "init", "etc/ctl.conf",]);
        assert_eq!(entries[0].mode, 0o040755);
        assert_eq!((entries[1].mode, entries[1].rdev), (0o020600, (5, 1)));
        assert_eq!(
            (entries[2].mode, entries[2].data.as_slice()),
            (0o100755, &b"\x7fELF..."[..])
        );
        assert_eq!(entries[3].data, b"lun x {\n}\n");
    }

    #[test]
    fn the_header_layout_is_newc() {
        let mut a = Archive::new();
        a.file("a", 0o644, b"xyz");
        let bytes = a.finish();
        // Magic, then inode 1, mode 0100644, uid, gid, nlink 1, mtime, size 3.
        let expected = [
            "070701", "00000001", "000081a4", "00000000", "00000000", "00000001", "00000000",
            "00000003",
        ]
        .concat();
        assert_eq!(&bytes[..62], expected.as_bytes());
        // Name "a\0" at 110, data padded to 4 at 112.
        assert_eq!(&bytes[110..112], b"a\0");
        assert_eq!(&bytes[112..115], b"xyz");
    }
}
