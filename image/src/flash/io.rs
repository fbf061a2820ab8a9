//! How the board flash is reached: positioned reads and writes plus a sync, over a file
//! (the host tools, the QEMU launcher), a block device (the firmware confirming itself) or
//! memory (tests).

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// Positioned access to the flash.
pub trait FlashIo {
    /// What goes wrong; only its message is kept.
    type Error: fmt::Display;
    /// Size of the whole flash.
    fn size(&mut self) -> Result<u64, Self::Error>;
    /// Fills `buf` from `offset`.
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), Self::Error>;
    /// Writes all of `data` at `offset`.
    fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<(), Self::Error>;
    /// Makes every write so far durable (fsync): the boot state relies on its order.
    fn sync(&mut self) -> Result<(), Self::Error>;
}

/// A flash in memory, for tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemFlash(pub Vec<u8>);

impl MemFlash {
    fn range(&self, offset: u64, len: usize) -> Result<core::ops::Range<usize>, String> {
        let start = usize::try_from(offset).map_err(|_| String::from("offset out of range"))?;
        let end = start
            .checked_add(len)
            .filter(|end| *end <= self.0.len())
            .ok_or_else(|| String::from("access past the end of the flash"))?;
        Ok(start..end)
    }
}

impl FlashIo for MemFlash {
    type Error = String;

    fn size(&mut self) -> Result<u64, String> {
        Ok(self.0.len() as u64)
    }

    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), String> {
        let range = self.range(offset, buf.len())?;
        buf.copy_from_slice(&self.0[range]);
        Ok(())
    }

    fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<(), String> {
        let range = self.range(offset, data.len())?;
        self.0[range].copy_from_slice(data);
        Ok(())
    }

    fn sync(&mut self) -> Result<(), String> {
        Ok(())
    }
}

#[cfg(feature = "std")]
mod file {
    use std::fs::File;
    use std::io::{self, Seek, SeekFrom};
    use std::os::unix::fs::FileExt;

    use super::FlashIo;

    /// A flash file (sparse) or a block device such as the guest's `/dev/vdb`.
    impl FlashIo for File {
        type Error = io::Error;

        fn size(&mut self) -> io::Result<u64> {
            // Seeking to the end works for block devices too, where metadata says 0.
            self.seek(SeekFrom::End(0))
        }

        fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
            self.read_exact_at(buf, offset)
        }

        fn write_at(&mut self, offset: u64, data: &[u8]) -> io::Result<()> {
            self.write_all_at(data, offset)
        }

        fn sync(&mut self) -> io::Result<()> {
            self.sync_data()
        }
    }
}
