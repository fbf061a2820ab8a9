//! Per-LUN statistics the data path counts and LOG SENSE reports (General Statistics and
//! Performance page 0x19).

/// Counters of one LUN.
#[derive(Debug, Default)]
pub(crate) struct Statistics {}

impl Statistics {
    /// A read command moved `bytes`.
    pub(crate) fn record_read(&self, _bytes: u64) {}

    /// A write command moved `bytes`.
    pub(crate) fn record_write(&self, _bytes: u64) {}
}
