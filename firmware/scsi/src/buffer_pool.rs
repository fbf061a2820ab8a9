//! Data buffers recycled between the transport, the core and the backends, so the steady-state
//! data path allocates nothing, and the budget that bounds how much data all commands in
//! flight may hold, so no initiator can make the controller allocate without limit.

use alloc::vec::Vec;
use core::cell::{Cell, RefCell};

/// Buffers larger than this are freed rather than kept.
const MAX_POOLED_CAPACITY: usize = 4 << 20;
const MAX_POOLED: usize = 256;

/// Data all commands in flight may hold at once, by default.
pub const DEFAULT_BUDGET: u64 = 256 << 20;

pub struct BufferPool {
    free: RefCell<Vec<Vec<u8>>>,
    budget: Cell<u64>,
    reserved: Cell<u64>,
}

impl Default for BufferPool {
    fn default() -> Self {
        BufferPool {
            free: RefCell::new(Vec::new()),
            budget: Cell::new(DEFAULT_BUDGET),
            reserved: Cell::new(0),
        }
    }
}

impl BufferPool {
    pub fn set_budget(&self, bytes: u64) {
        self.budget.set(bytes);
    }

    /// Reserves `bytes` of the budget for a command; false when it would be exceeded.
    pub fn reserve(&self, bytes: u64) -> bool {
        let after = self.reserved.get().saturating_add(bytes);
        if after > self.budget.get() {
            return false;
        }
        self.reserved.set(after);
        true
    }

    pub fn release(&self, bytes: u64) {
        self.reserved.set(self.reserved.get().saturating_sub(bytes));
    }

    /// Bytes reserved by commands in flight.
    pub fn reserved(&self) -> u64 {
        self.reserved.get()
    }

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_refuses_what_does_not_fit_and_frees_on_release() {
        let p = BufferPool::default();
        p.set_budget(100);
        assert!(p.reserve(60));
        assert!(!p.reserve(41));
        assert!(p.reserve(40));
        p.release(60);
        assert_eq!(p.reserved(), 40);
        assert!(p.reserve(60));
    }

    #[test]
    fn buffers_are_reused() {
        let p = BufferPool::default();
        let b = p.take(4096);
        let ptr = b.as_ptr();
        p.give(b);
        let again = p.take(512);
        assert_eq!(again.as_ptr(), ptr);
    }
}
