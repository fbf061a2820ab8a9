//! Per-LUN statistics the data path counts and LOG SENSE reports (General Statistics and
//! Performance page 0x19).

use core::cell::Cell;

/// Counters of one LUN. They wrap rather than saturate or panic: SPC lets a counter that
/// reaches its maximum start again at zero, and at any real rate a `u64` never gets there.
#[derive(Debug, Default)]
pub(crate) struct Statistics {
    read_commands: Cell<u64>,
    write_commands: Cell<u64>,
    bytes_read: Cell<u64>,
    bytes_written: Cell<u64>,
}

/// One consistent reading of the counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Counters {
    pub read_commands: u64,
    pub write_commands: u64,
    /// Bytes sent to initiators (LOGICAL BLOCKS TRANSMITTED once divided by the block size).
    pub bytes_read: u64,
    /// Bytes received from initiators (LOGICAL BLOCKS RECEIVED).
    pub bytes_written: u64,
}

fn add(counter: &Cell<u64>, n: u64) {
    counter.set(counter.get().wrapping_add(n));
}

impl Statistics {
    /// A read command moved `bytes`.
    pub(crate) fn record_read(&self, bytes: u64) {
        add(&self.read_commands, 1);
        add(&self.bytes_read, bytes);
    }

    /// A write command moved `bytes`.
    pub(crate) fn record_write(&self, bytes: u64) {
        add(&self.write_commands, 1);
        add(&self.bytes_written, bytes);
    }

    pub(crate) fn counters(&self) -> Counters {
        Counters {
            read_commands: self.read_commands.get(),
            write_commands: self.write_commands.get(),
            bytes_read: self.bytes_read.get(),
            bytes_written: self.bytes_written.get(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_commands_and_bytes_separately_for_reads_and_writes() {
        let s = Statistics::default();
        s.record_read(512);
        s.record_read(4096);
        s.record_write(1024);
        assert_eq!(
            s.counters(),
            Counters {
                read_commands: 2,
                write_commands: 1,
                bytes_read: 4608,
                bytes_written: 1024,
            }
        );
    }

    #[test]
    fn counters_wrap_instead_of_overflowing() {
        let s = Statistics::default();
        s.record_write(u64::MAX);
        s.record_write(2);
        assert_eq!(s.counters().bytes_written, 1);
        assert_eq!(s.counters().write_commands, 2);
    }
}
