//! A small bounded pool of I/O threads that runs blocking positional I/O off the runtime thread.
//!
//! The runtime thread queues a job that owns its data buffer and awaits a oneshot completion;
//! a worker runs the job against the pool's [`IoTarget`] and sends the buffer back, which wakes
//! the runtime. The number of jobs queued or running is bounded by a semaphore, so a burst of
//! commands waits on the runtime side instead of growing the queue.

use std::collections::VecDeque;
use std::io;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};

use scsi::backend::{BackendError, BackendErrorKind, Extent};
use tokio::sync::{oneshot, Semaphore};

/// One operation for an I/O thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IoOp {
    /// Fill the whole buffer from the offset.
    Read,
    /// Write the whole buffer at the offset; with `fua`, durable before completion.
    Write { fua: bool },
    /// Make every completed write durable; buffer and offset are ignored.
    Flush,
    /// Deallocate `len` bytes at the offset so they read as zeros; with `durable`, the
    /// deallocation survives a power loss before completion. The buffer is ignored.
    Unmap { len: u64, durable: bool },
    /// Report whether the bytes at the offset are mapped and how far (at most `len`) that
    /// status runs. The buffer is ignored.
    Extent { len: u64 },
}

/// What a completed operation reports besides its buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IoReply {
    Done,
    Extent(Extent),
}

/// The result of one operation.
pub type IoOutcome = Result<IoReply, BackendError>;

/// What the I/O threads operate on, e.g. an open file.
pub trait IoTarget: Send + Sync + 'static {
    /// Runs `op` at byte `offset` on `buf`, blocking the calling I/O thread. `scratch` belongs
    /// to that thread and survives between jobs, so a target needing a bounce buffer (O_DIRECT
    /// alignment) allocates it once per thread instead of once per I/O.
    fn execute(&self, op: IoOp, offset: u64, buf: &mut [u8], scratch: &mut Vec<u8>) -> IoOutcome;
}

type Completion = (Vec<u8>, IoOutcome);

struct Job {
    op: IoOp,
    offset: u64,
    buf: Vec<u8>,
    done: oneshot::Sender<Completion>,
}

struct Queue {
    jobs: VecDeque<Job>,
    /// Workers waiting on the condvar: a submitter signals only when one of them would
    /// otherwise stay asleep, which saves a futex wake per I/O when the workers are busy.
    idle: usize,
    closing: bool,
}

struct Shared<T> {
    target: T,
    queue: Mutex<Queue>,
    work: Condvar,
    /// Free places for jobs (queued + running).
    slots: Semaphore,
}

/// I/O threads per pool unless configured otherwise.
pub const DEFAULT_THREADS: usize = 2;
/// Jobs queued or running per pool unless configured otherwise: above any sensible device
/// queue depth, small enough that the buffers held by queued jobs stay bounded.
pub const DEFAULT_QUEUE_DEPTH: usize = 128;

/// A bounded pool of threads running jobs against one [`IoTarget`].
pub struct IoPool<T: IoTarget> {
    shared: Arc<Shared<T>>,
    workers: Vec<JoinHandle<()>>,
}

fn lock(queue: &Mutex<Queue>) -> MutexGuard<'_, Queue> {
    // Workers hold the lock only to move jobs in and out, never across I/O, so a poisoned
    // lock still guards a consistent queue.
    queue.lock().unwrap_or_else(PoisonError::into_inner)
}

fn unavailable() -> IoOutcome {
    Err(BackendError::new(BackendErrorKind::Unavailable))
}

impl<T: IoTarget> IoPool<T> {
    /// Starts `threads` workers (at least one) named `name`, allowing at most `queue_depth`
    /// jobs (at least one) queued or running at once.
    pub fn new(target: T, name: &str, threads: usize, queue_depth: usize) -> io::Result<Self> {
        let queue_depth = queue_depth.clamp(1, Semaphore::MAX_PERMITS);
        let shared = Arc::new(Shared {
            target,
            queue: Mutex::new(Queue {
                // Sized for the bound up front: pushing a job never allocates.
                jobs: VecDeque::with_capacity(queue_depth),
                idle: 0,
                closing: false,
            }),
            work: Condvar::new(),
            slots: Semaphore::new(queue_depth),
        });
        let mut pool = IoPool {
            shared,
            workers: Vec::new(),
        };
        for i in 0..threads.max(1) {
            let shared = Arc::clone(&pool.shared);
            // On failure `pool` drops here, which stops and joins the workers already started.
            let handle = thread::Builder::new()
                .name(format!("{name}-{i}"))
                .spawn(move || run_worker(&shared))?;
            pool.workers.push(handle);
        }
        Ok(pool)
    }

    /// The target the workers operate on.
    pub fn target(&self) -> &T {
        &self.shared.target
    }

    /// Number of worker threads.
    pub fn threads(&self) -> usize {
        self.workers.len()
    }

    /// Runs `op` on an I/O thread and returns the buffer with the result. Waits for a free
    /// place first when the pool is at its bound. If the pool shuts down under the job the
    /// buffer is lost and an empty one comes back with `Unavailable`.
    pub async fn submit(&self, op: IoOp, offset: u64, buf: Vec<u8>) -> Completion {
        match self.shared.slots.acquire().await {
            // The worker that finishes the job gives the place back.
            Ok(permit) => permit.forget(),
            Err(_closed) => return (buf, unavailable()),
        }
        let (done, completion) = oneshot::channel();
        let wake = {
            let mut queue = lock(&self.shared.queue);
            queue.jobs.push_back(Job {
                op,
                offset,
                buf,
                done,
            });
            // Idle workers take queued jobs in turn; one more job than sleepers would wake
            // needs no signal because a busy worker re-checks the queue before sleeping.
            queue.idle >= queue.jobs.len()
        };
        if wake {
            self.shared.work.notify_one();
        }
        match completion.await {
            Ok(done) => done,
            Err(_worker_gone) => (Vec::new(), unavailable()),
        }
    }
}

fn run_worker<T: IoTarget>(shared: &Shared<T>) {
    let mut scratch = Vec::new();
    while let Some(mut job) = next_job(shared) {
        let result = shared
            .target
            .execute(job.op, job.offset, &mut job.buf, &mut scratch);
        shared.slots.add_permits(1);
        // A submitter whose future was dropped no longer wants the buffer: it drops here.
        let _ = job.done.send((job.buf, result));
    }
}

/// The next job, or `None` once the pool is closing and the queue is drained: jobs already
/// queued still run, so a write whose submitter went away is not silently half-applied.
fn next_job<T>(shared: &Shared<T>) -> Option<Job> {
    let mut queue = lock(&shared.queue);
    loop {
        if let Some(job) = queue.jobs.pop_front() {
            return Some(job);
        }
        if queue.closing {
            return None;
        }
        queue.idle += 1;
        queue = shared
            .work
            .wait(queue)
            .unwrap_or_else(PoisonError::into_inner);
        queue.idle -= 1;
    }
}

impl<T: IoTarget> Drop for IoPool<T> {
    fn drop(&mut self) {
        self.shared.slots.close();
        lock(&self.shared.queue).closing = true;
        self.shared.work.notify_all();
        for worker in self.workers.drain(..) {
            // A worker that panicked has nothing left to clean up.
            let _ = worker.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::Future;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    /// Records the highest number of jobs running at once and stamps buffers.
    #[derive(Default)]
    struct Probe {
        running: AtomicUsize,
        peak: AtomicUsize,
        ran: AtomicUsize,
    }

    impl IoTarget for Arc<Probe> {
        fn execute(&self, op: IoOp, offset: u64, buf: &mut [u8], _: &mut Vec<u8>) -> IoOutcome {
            let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
            self.peak.fetch_max(now, Ordering::SeqCst);
            thread::sleep(Duration::from_millis(2));
            if op == IoOp::Read {
                buf.fill(offset as u8);
            }
            self.ran.fetch_add(1, Ordering::SeqCst);
            self.running.fetch_sub(1, Ordering::SeqCst);
            match op {
                IoOp::Write { fua: true } => Err(BackendError::new(BackendErrorKind::Write)),
                IoOp::Extent { len } => Ok(IoReply::Extent(Extent {
                    mapped: offset.is_multiple_of(2),
                    len,
                })),
                _ => Ok(IoReply::Done),
            }
        }
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("test runtime")
    }

    #[test]
    fn jobs_run_on_workers_and_return_buffers_and_results() {
        let probe = Arc::new(Probe::default());
        let pool = IoPool::new(Arc::clone(&probe), "test-io", 2, 4).unwrap();
        assert_eq!(pool.threads(), 2);
        runtime().block_on(async {
            let (buf, r) = pool.submit(IoOp::Read, 7, vec![0; 16]).await;
            r.unwrap();
            assert_eq!(buf, vec![7; 16]);
            let (buf, r) = pool.submit(IoOp::Write { fua: true }, 0, vec![1; 8]).await;
            assert_eq!(r.unwrap_err().kind, BackendErrorKind::Write);
            assert_eq!(buf, vec![1; 8]);
            let (_, r) = pool.submit(IoOp::Flush, 0, Vec::new()).await;
            assert_eq!(r, Ok(IoReply::Done));
            let (_, r) = pool
                .submit(
                    IoOp::Unmap {
                        len: 8,
                        durable: true,
                    },
                    0,
                    Vec::new(),
                )
                .await;
            assert_eq!(r, Ok(IoReply::Done));
            let (_, r) = pool.submit(IoOp::Extent { len: 512 }, 4, Vec::new()).await;
            let expected = Extent {
                mapped: true,
                len: 512,
            };
            assert_eq!(r, Ok(IoReply::Extent(expected)));
        });
    }

    #[test]
    fn in_flight_jobs_never_exceed_the_bound_and_all_complete() {
        let probe = Arc::new(Probe::default());
        // More threads than places: only the bound can limit concurrency.
        let pool = Arc::new(IoPool::new(Arc::clone(&probe), "test-io", 6, 3).unwrap());
        let local = tokio::task::LocalSet::new();
        runtime().block_on(local.run_until(async {
            let tasks: Vec<_> = (0..40u64)
                .map(|i| {
                    let pool = Arc::clone(&pool);
                    tokio::task::spawn_local(async move {
                        let (buf, r) = pool.submit(IoOp::Read, i, vec![0; 4]).await;
                        r.unwrap();
                        assert_eq!(buf, vec![i as u8; 4]);
                    })
                })
                .collect();
            for task in tasks {
                task.await.unwrap();
            }
        }));
        assert_eq!(probe.ran.load(Ordering::SeqCst), 40);
        let peak = probe.peak.load(Ordering::SeqCst);
        assert!((1..=3).contains(&peak), "peak {peak}");
    }

    #[test]
    fn dropping_the_pool_drains_queued_jobs_and_joins_workers() {
        let probe = Arc::new(Probe::default());
        let pool = IoPool::new(Arc::clone(&probe), "test-io", 1, 8).unwrap();
        let rt = runtime();
        // Queue jobs whose submitters are then abandoned (dropped futures).
        for i in 0..5 {
            let mut fut = Box::pin(pool.submit(IoOp::Write { fua: false }, i, vec![0; 4]));
            let waker = std::task::Waker::noop();
            let mut cx = std::task::Context::from_waker(waker);
            rt.block_on(async {
                let _ = fut.as_mut().poll(&mut cx);
            });
        }
        drop(pool);
        assert_eq!(probe.ran.load(Ordering::SeqCst), 5);
        assert_eq!(Arc::strong_count(&probe), 1, "workers are gone");
    }
}
