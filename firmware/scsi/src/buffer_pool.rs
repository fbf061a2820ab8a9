//! Data buffers recycled between the transport, the core and the backends, so the steady-state
//! data path allocates nothing.

use alloc::vec::Vec;
use core::cell::RefCell;

/// Buffers larger than this are freed rather than kept.
const MAX_POOLED_CAPACITY: usize = 4 << 20;
const MAX_POOLED: usize = 256;

#[derive(Default)]
pub struct BufferPool {
    free: RefCell<Vec<Vec<u8>>>,
}

impl BufferPool {
    /// A zeroed buffer of exactly `len` bytes.
    pub fn take(&self, len: usize) -> Vec<u8> {
        let mut buf = self.take_empty(len);
        buf.resize(len, 0);
        buf
    }

    /// An empty buffer with room for `capacity` bytes.
    pub fn take_empty(&self, capacity: usize) -> Vec<u8> {
        let mut free = self.free.borrow_mut();
        let found = free.iter().rposition(|b| b.capacity() >= capacity);
        let mut buf = match found {
            Some(i) => free.swap_remove(i),
            None => Vec::with_capacity(capacity),
        };
        buf.clear();
        buf
    }

    /// Returns a buffer for reuse.
    pub fn give(&self, buf: Vec<u8>) {
        if buf.capacity() == 0 || buf.capacity() > MAX_POOLED_CAPACITY {
            return;
        }
        let mut free = self.free.borrow_mut();
        if free.len() < MAX_POOLED {
            free.push(buf);
        }
    }
}
