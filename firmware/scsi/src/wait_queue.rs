//! A single-threaded, runtime-agnostic wait queue: tasks sleep until something they depend on
//! changes, then re-check their condition.

use alloc::vec::Vec;
use core::cell::{Cell, RefCell};
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};

#[derive(Default)]
pub struct WaitQueue {
    generation: Cell<u64>,
    wakers: RefCell<Vec<Waker>>,
}

impl WaitQueue {
    /// Wakes every waiter.
    pub fn notify_all(&self) {
        self.generation.set(self.generation.get().wrapping_add(1));
        let wakers = core::mem::take(&mut *self.wakers.borrow_mut());
        for w in wakers {
            w.wake();
        }
    }

    /// Resolves at the next `notify_all` after this call.
    pub fn changed(&self) -> Changed<'_> {
        Changed {
            queue: self,
            seen: self.generation.get(),
        }
    }
}

pub struct Changed<'a> {
    queue: &'a WaitQueue,
    seen: u64,
}

impl Future for Changed<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.queue.generation.get() != self.seen {
            return Poll::Ready(());
        }
        let mut wakers = self.queue.wakers.borrow_mut();
        if !wakers.iter().any(|w| w.will_wake(cx.waker())) {
            wakers.push(cx.waker().clone());
        }
        Poll::Pending
    }
}
