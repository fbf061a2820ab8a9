//! Micro-benchmark (ignored by default) of file reads through the I/O thread pool versus inline
//! on the runtime thread. Run: `cargo test -p backend --release --test bench_io -- --ignored --nocapture`.

mod common;

use std::path::Path;
use std::rc::Rc;
use std::time::Instant;

use backend::{FileBackend, FileOptions};
use common::ScratchDir;
use scsi::backend::BlockBackend;

const FILE_SIZE: u64 = 256 << 20;

fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// Runs `ops` random reads of `len` bytes, `in_flight` at a time, on a current-thread runtime;
/// returns reads per second.
fn run(path: &Path, io_threads: usize, len: usize, ops: u64, in_flight: u64) -> f64 {
    let lun = Rc::new(
        FileBackend::open(
            path,
            FileOptions {
                block_size: 4096,
                io_threads,
                ..FileOptions::default()
            },
        )
        .expect("open bench file"),
    );
    let slots = FILE_SIZE / len as u64;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let local = tokio::task::LocalSet::new();
    let start = Instant::now();
    local.block_on(&runtime, async {
        let tasks: Vec<_> = (0..in_flight)
            .map(|t| {
                let lun = Rc::clone(&lun);
                tokio::task::spawn_local(async move {
                    let mut rng = 0x9E37_79B9_7F4A_7C15 ^ (t + 1);
                    // One buffer per stream, recycled, as the transport does.
                    let mut buf = vec![0u8; len];
                    for _ in 0..ops / in_flight {
                        let offset = (xorshift(&mut rng) % slots) * len as u64;
                        let (back, r) = lun.read(offset, buf).await;
                        r.expect("read");
                        buf = back;
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.expect("task");
        }
    });
    (ops / in_flight * in_flight) as f64 / start.elapsed().as_secs_f64()
}

#[test]
#[ignore = "micro-benchmark: run explicitly in release mode"]
fn pool_versus_inline_reads() {
    let shm = Path::new("/dev/shm");
    let dir = ScratchDir::new_in(shm.is_dir().then_some(shm), "bench");
    let path = dir.join("lun");
    // Written, not sparse: holes would read from the shared zero page and flatter the numbers.
    let chunk: Vec<u8> = (0..1 << 20).map(|i: u32| (i * 7) as u8).collect();
    let mut data = Vec::with_capacity(FILE_SIZE as usize);
    while (data.len() as u64) < FILE_SIZE {
        data.extend_from_slice(&chunk);
    }
    std::fs::write(&path, &data).expect("write bench file");
    drop(data);
    println!("file {} ({} MiB)", path.display(), FILE_SIZE >> 20);

    let setups = [("inline", 0), ("pool 1 thread", 1), ("pool 2 threads", 2)];
    for in_flight in [32, 1] {
        for (label, threads) in setups {
            let iops = run(&path, threads, 4096, 200_000, in_flight);
            println!("4 KiB random reads, QD{in_flight:<2} {label:>14}: {iops:>9.0} IOPS");
        }
    }
    for in_flight in [32, 1] {
        for (label, threads) in setups {
            let ops = run(&path, threads, 128 << 10, 40_000, in_flight);
            let rate = ops * (128 << 10) as f64 / (1u64 << 30) as f64;
            println!("128 KiB random reads, QD{in_flight:<2} {label:>14}: {rate:>6.2} GiB/s");
        }
    }
}
