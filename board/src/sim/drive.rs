//! A sim drive as a `hal` block device: positional I/O on its data file, the identity its
//! sidecar gives.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;

use hal::backplane::DriveIdentity;
use hal::drive::{BlockDevice, ErrorType, Geometry};

use super::slots::SimError;
use super::Enclosure;

/// Bytes of zeros one write of a discard puts down.
const ZERO_CHUNK: usize = 1 << 20;

/// The drive in a slot, open.
#[derive(Debug)]
pub struct SimDrive {
    file: File,
    identity: DriveIdentity,
}

impl Enclosure {
    /// Opens the drive in slot `n` for I/O.
    pub fn open_drive(&self, n: u32) -> io::Result<SimDrive> {
        let record = self
            .drive_in(n)?
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("slot {n} is empty")))?;
        let path = self.slot_path(n);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        Ok(SimDrive {
            file,
            identity: record.identity,
        })
    }
}

impl SimDrive {
    fn check_range(&self, offset: u64, len: u64) -> Result<(), SimError> {
        let fits = offset
            .checked_add(len)
            .is_some_and(|end| end <= self.identity.capacity);
        if fits {
            Ok(())
        } else {
            Err(SimError(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "{len} bytes at {offset} run past the drive's {} bytes",
                    self.identity.capacity
                ),
            )))
        }
    }
}

impl ErrorType for SimDrive {
    type Error = SimError;
}

impl BlockDevice for SimDrive {
    fn identity(&self) -> &DriveIdentity {
        &self.identity
    }

    fn geometry(&self) -> Geometry {
        let lbs = u64::from(self.identity.logical_block_size.max(1));
        Geometry {
            logical_block_size: self.identity.logical_block_size,
            physical_block_size: self.identity.physical_block_size,
            capacity: self.identity.capacity / lbs * lbs,
        }
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), SimError> {
        self.check_range(offset, buf.len() as u64)?;
        Ok(self.file.read_exact_at(buf, offset)?)
    }

    fn write_at(&self, offset: u64, buf: &[u8]) -> Result<(), SimError> {
        self.check_range(offset, buf.len() as u64)?;
        Ok(self.file.write_all_at(buf, offset)?)
    }

    fn flush(&self) -> Result<(), SimError> {
        Ok(self.file.sync_data()?)
    }

    fn discard(&self, offset: u64, len: u64) -> Result<(), SimError> {
        self.check_range(offset, len)?;
        // Zeros rather than a punched hole: the same to a reader, and no syscall std lacks.
        let zeros = vec![0u8; ZERO_CHUNK];
        let mut done = 0u64;
        while done < len {
            let n = usize::try_from(len - done).map_or(ZERO_CHUNK, |n| n.min(ZERO_CHUNK));
            self.file.write_all_at(&zeros[..n], offset + done)?;
            done += n as u64;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_dir::TestDir;
    use super::*;
    use hal::drive::{Error as _, ErrorKind};

    #[test]
    fn reads_writes_and_discards_within_the_drive() {
        let dir = TestDir::new("drive");
        let e = Enclosure::open(dir.path()).unwrap();
        assert_eq!(e.open_drive(1).unwrap_err().kind(), io::ErrorKind::NotFound);
        e.ensure_drive(1, 64 * 1024).unwrap();
        let d = e.open_drive(1).unwrap();
        assert_eq!(d.geometry().capacity, 64 * 1024);
        assert_eq!(d.geometry().physical_block_size, 4096);
        d.write_at(4096, &[9u8; 4096]).unwrap();
        d.flush().unwrap();
        let mut back = [0u8; 4096];
        d.read_at(4096, &mut back).unwrap();
        assert_eq!(back, [9u8; 4096]);
        d.discard(4096, 4096).unwrap();
        d.read_at(4096, &mut back).unwrap();
        assert_eq!(back, [0u8; 4096]);
        let past = d.read_at(64 * 1024 - 512, &mut back).unwrap_err();
        assert_eq!(past.kind(), ErrorKind::OutOfRange);
        assert_eq!(d.identity(), &e.drive_in(1).unwrap().unwrap().identity);
    }
}
