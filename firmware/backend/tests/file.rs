//! Tests of the file backend: data round trips through the I/O threads and inline, durability
//! paths, sizing, read-only LUNs and the errors of opening.

mod common;

use std::os::unix::fs::MetadataExt;
use std::rc::Rc;

use backend::{FileBackend, FileOptions, OpenError};
use common::{block_on, ScratchDir};
use scsi::backend::{BackendErrorKind, BlockBackend, Extent};

fn opts(block_size: u32, size: Option<u64>) -> FileOptions {
    FileOptions {
        block_size,
        size,
        ..FileOptions::default()
    }
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31) ^ seed)
        .collect()
}

fn round_trip(io_threads: usize, block_size: u32) {
    let dir = ScratchDir::new("round-trip");
    let path = dir.join("lun");
    let lun = FileBackend::open(
        &path,
        FileOptions {
            io_threads,
            ..opts(block_size, Some(1 << 20))
        },
    )
    .unwrap();
    assert_eq!(lun.geometry().block_size, block_size);
    assert_eq!(lun.geometry().blocks, (1 << 20) / u64::from(block_size));
    block_on(async {
        let data = pattern(3 * block_size as usize, 5);
        let offset = 7 * u64::from(block_size);
        let (buf, r) = lun.write(offset, data.clone(), false).await;
        r.unwrap();
        assert_eq!(buf, data, "write hands the buffer back");
        let (back, r) = lun.read(offset, vec![0; data.len()]).await;
        r.unwrap();
        assert_eq!(back, data);
        // Never-written blocks of the sparse file read as zeros.
        let (zeros, r) = lun.read(0, vec![0xEE; block_size as usize]).await;
        r.unwrap();
        assert!(zeros.iter().all(|&b| b == 0));
        lun.flush().await.unwrap();
    });
    drop(lun);
    let on_disk = std::fs::read(&path).unwrap();
    let at = 7 * block_size as usize;
    assert_eq!(
        on_disk[at..at + 3 * block_size as usize],
        pattern(3 * block_size as usize, 5)
    );
}

#[test]
fn round_trip_through_io_threads_512() {
    round_trip(2, 512);
}

#[test]
fn round_trip_through_io_threads_4096() {
    round_trip(1, 4096);
}

#[test]
fn round_trip_inline() {
    round_trip(0, 4096);
}

#[test]
fn fua_writes_and_disabled_write_cache_and_flush_complete() {
    let dir = ScratchDir::new("durable");
    let path = dir.join("lun");
    let lun = FileBackend::open(&path, opts(512, Some(64 * 1024))).unwrap();
    assert!(lun.write_cache_enabled());
    block_on(async {
        let (_, r) = lun.write(0, vec![1; 512], true).await;
        r.unwrap();
        lun.set_write_cache(false);
        assert!(!lun.write_cache_enabled());
        let (_, r) = lun.write(512, vec![2; 1024], false).await;
        r.unwrap();
        lun.set_write_cache(true);
        let (_, r) = lun.write(4096, vec![3; 512], false).await;
        r.unwrap();
        lun.flush().await.unwrap();
    });
    // Visible through an independent handle.
    let on_disk = std::fs::read(&path).unwrap();
    assert!(on_disk[..512].iter().all(|&b| b == 1));
    assert!(on_disk[512..1536].iter().all(|&b| b == 2));
    assert!(on_disk[4096..4608].iter().all(|&b| b == 3));
}

#[test]
fn missing_file_is_created_sparse_at_the_configured_size() {
    let dir = ScratchDir::new("create");
    let path = dir.join("lun");
    let size = 1u64 << 30;
    let lun = FileBackend::open(&path, opts(4096, Some(size))).unwrap();
    assert_eq!(lun.capacity(), size);
    let meta = std::fs::metadata(&path).unwrap();
    assert_eq!(meta.len(), size);
    assert!(
        meta.blocks() * 512 < 1 << 20,
        "no data blocks: {}",
        meta.blocks()
    );
}

#[test]
fn shorter_file_grows_longer_file_is_kept_and_sizes_round_down_to_blocks() {
    let dir = ScratchDir::new("sizes");
    let path = dir.join("lun");
    std::fs::write(&path, pattern(10_000, 9)).unwrap();

    // No size: the file's size in whole blocks.
    let lun = FileBackend::open(&path, opts(4096, None)).unwrap();
    assert_eq!(lun.geometry().blocks, 2);
    drop(lun);

    // Smaller configured size: only that much is used, the file keeps its tail.
    let lun = FileBackend::open(&path, opts(512, Some(4096))).unwrap();
    assert_eq!(lun.geometry().blocks, 8);
    let (_, r) = block_on(lun.read(4096, vec![0; 512]));
    assert_eq!(
        r.unwrap_err().kind,
        BackendErrorKind::Read,
        "past the LUN's end"
    );
    drop(lun);
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 10_000);

    // Larger configured size: grown, old data intact.
    let lun = FileBackend::open(&path, opts(512, Some(1 << 20))).unwrap();
    assert_eq!(lun.geometry().blocks, 2048);
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 1 << 20);
    let (head, r) = block_on(lun.read(0, vec![0; 1024]));
    r.unwrap();
    assert_eq!(head, pattern(10_000, 9)[..1024]);
}

#[test]
fn read_only_refuses_writes_but_reads_and_flushes() {
    let dir = ScratchDir::new("read-only");
    let path = dir.join("lun");
    std::fs::write(&path, pattern(8192, 3)).unwrap();
    let lun = FileBackend::open(
        &path,
        FileOptions {
            read_only: true,
            ..opts(512, None)
        },
    )
    .unwrap();
    assert!(lun.is_read_only());
    block_on(async {
        let (buf, r) = lun.write(0, vec![0; 512], false).await;
        assert_eq!(r.unwrap_err().kind, BackendErrorKind::Write);
        assert_eq!(buf.len(), 512);
        let (_, r) = lun.write(512, vec![0; 512], true).await;
        assert_eq!(r.unwrap_err().kind, BackendErrorKind::Write);
        let (data, r) = lun.read(0, vec![0; 8192]).await;
        r.unwrap();
        assert_eq!(data, pattern(8192, 3));
        lun.flush().await.unwrap();
    });
    assert_eq!(std::fs::read(&path).unwrap(), pattern(8192, 3));
}

#[test]
fn read_only_cannot_create_or_grow() {
    let dir = ScratchDir::new("read-only-size");
    let path = dir.join("lun");
    let ro = |size| FileOptions {
        read_only: true,
        ..opts(512, size)
    };
    let err = FileBackend::open(&path, ro(Some(4096))).err().unwrap();
    assert!(
        matches!(
            err,
            OpenError::Missing {
                read_only: true,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("read-only"), "{err}");

    std::fs::write(&path, [0u8; 1024]).unwrap();
    let err = FileBackend::open(&path, ro(Some(4096))).err().unwrap();
    assert!(matches!(err, OpenError::CannotGrow { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains(&path.display().to_string()) && msg.contains("4096"),
        "{msg}"
    );
}

#[test]
fn bad_block_size_is_refused_by_name() {
    let dir = ScratchDir::new("block-size");
    for bad in [0, 1024, 520, 8192] {
        let err = FileBackend::open(dir.join("lun"), opts(bad, Some(1 << 20)))
            .err()
            .unwrap();
        assert!(matches!(err, OpenError::BlockSize { block_size } if block_size == bad));
        assert!(err.to_string().contains(&bad.to_string()), "{err}");
    }
    assert!(
        !dir.join("lun").exists(),
        "nothing created for a refused LUN"
    );
}

#[test]
fn missing_file_without_size_names_the_path() {
    let dir = ScratchDir::new("missing");
    let path = dir.join("no-such-lun");
    let err = FileBackend::open(&path, opts(512, None)).err().unwrap();
    assert!(matches!(
        err,
        OpenError::Missing {
            read_only: false,
            ..
        }
    ));
    let msg = err.to_string();
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    assert!(msg.contains("no such file"), "{msg}");
    assert!(!path.exists());
}

#[test]
fn directories_and_sub_block_files_are_refused() {
    let dir = ScratchDir::new("not-storage");
    let err = FileBackend::open(dir.path(), opts(512, None))
        .err()
        .unwrap();
    assert!(matches!(err, OpenError::NotStorage { .. }), "{err}");
    assert!(err.to_string().contains(&dir.path().display().to_string()));

    let path = dir.join("tiny");
    std::fs::write(&path, [0u8; 100]).unwrap();
    let err = FileBackend::open(&path, opts(512, None)).err().unwrap();
    assert!(matches!(err, OpenError::TooSmall { .. }), "{err}");
    assert!(err.to_string().contains("tiny"), "{err}");
}

#[test]
fn read_past_a_truncated_end_returns_zeros() {
    let dir = ScratchDir::new("truncated");
    let path = dir.join("lun");
    std::fs::write(&path, vec![0x55; 8192]).unwrap();
    let lun = FileBackend::open(&path, opts(512, None)).unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(1000)
        .unwrap();
    let (buf, r) = block_on(lun.read(512, vec![0xAA; 1024]));
    r.unwrap();
    assert!(buf[..488].iter().all(|&b| b == 0x55));
    assert!(buf[488..].iter().all(|&b| b == 0));
}

#[test]
fn direct_io_round_trips_unaligned_buffers_or_is_refused_clearly() {
    let dir = ScratchDir::new("direct");
    let path = dir.join("lun");
    let lun = match FileBackend::open(
        &path,
        FileOptions {
            direct: true,
            ..opts(4096, Some(1 << 20))
        },
    ) {
        Ok(lun) => lun,
        Err(err @ OpenError::DirectUnsupported { .. }) => {
            assert!(err.to_string().contains("O_DIRECT"));
            eprintln!("skipped: {err}");
            return;
        }
        Err(err) => panic!("{err}"),
    };
    block_on(async {
        // Offset by one byte inside a larger allocation: certainly not 4096-aligned.
        for len in [4096usize, 65536] {
            let data = pattern(len, 77);
            let (_, r) = lun.write(8192, data.clone(), true).await;
            r.unwrap();
            let (back, r) = lun.read(8192, vec![0; len]).await;
            r.unwrap();
            assert_eq!(back, data);
        }
    });
}

#[test]
fn many_concurrent_ios_on_the_thread_pool_all_land() {
    let dir = ScratchDir::new("concurrent");
    let lun = Rc::new(FileBackend::open(dir.join("lun"), opts(4096, Some(4 << 20))).unwrap());
    let local = tokio::task::LocalSet::new();
    block_on(local.run_until(async {
        let writers: Vec<_> = (0..300u64)
            .map(|i| {
                let lun = Rc::clone(&lun);
                tokio::task::spawn_local(async move {
                    let block = i % 1024;
                    let (_, r) = lun
                        .write(block * 4096, vec![block as u8; 4096], false)
                        .await;
                    r.unwrap();
                })
            })
            .collect();
        for w in writers {
            w.await.unwrap();
        }
        let readers: Vec<_> = (0..300u64)
            .map(|block| {
                let lun = Rc::clone(&lun);
                tokio::task::spawn_local(async move {
                    let (buf, r) = lun.read(block * 4096, vec![0xFF; 4096]).await;
                    r.unwrap();
                    assert!(buf.iter().all(|&b| b == block as u8), "block {block}");
                })
            })
            .collect();
        for r in readers {
            r.await.unwrap();
        }
    }));
}

fn deallocation(io_threads: usize) {
    let dir = ScratchDir::new("unmap");
    let path = dir.join("lun");
    let mb = 1u64 << 20;
    let lun = FileBackend::open(
        &path,
        FileOptions {
            io_threads,
            ..opts(512, Some(8 * mb))
        },
    )
    .unwrap();
    assert!(lun.can_deallocate());
    block_on(async {
        // A fresh sparse file is one hole.
        let e = lun.extent(0, 8 * mb).await.unwrap();
        assert_eq!(
            e,
            Extent {
                mapped: false,
                len: 8 * mb
            }
        );
        let (_, r) = lun.write(mb, vec![0x5A; 2 * mb as usize], false).await;
        r.unwrap();
        let before = lun.allocated_bytes();
        assert!(before >= 2 * mb, "allocated {before}");
        assert_eq!(
            lun.extent(0, 8 * mb).await.unwrap(),
            Extent {
                mapped: false,
                len: mb
            }
        );
        assert_eq!(
            lun.extent(mb, 8 * mb - mb).await.unwrap(),
            Extent {
                mapped: true,
                len: 2 * mb
            }
        );
        // The extent never runs past what was asked for.
        assert_eq!(
            lun.extent(mb, 4096).await.unwrap(),
            Extent {
                mapped: true,
                len: 4096
            }
        );
        // Deallocate the first of the two written MiB: it reads as zeros and frees space.
        lun.unmap(mb, mb).await.unwrap();
        let (back, r) = lun.read(mb - 512, vec![0xFF; 2 * mb as usize]).await;
        r.unwrap();
        assert!(back[..mb as usize + 512].iter().all(|&b| b == 0));
        assert!(back[mb as usize + 512..].iter().all(|&b| b == 0x5A));
        assert!(lun.allocated_bytes() < before);
        let e = lun.extent(mb, 8 * mb - mb).await.unwrap();
        assert!(!e.mapped && e.len >= mb, "{e:?}");
        // Deallocation honours the medium's bounds.
        let r = lun.unmap(8 * mb - 512, 1024).await;
        assert_eq!(r.unwrap_err().kind, BackendErrorKind::Write);
        assert!(lun.extent(8 * mb, 512).await.is_err());
        lun.set_write_cache(false);
        lun.unmap(2 * mb, 512).await.unwrap();
    });
}

#[test]
fn deallocation_punches_holes_through_io_threads() {
    deallocation(2);
}

#[test]
fn deallocation_punches_holes_inline() {
    deallocation(0);
}

#[test]
fn read_only_files_cannot_deallocate() {
    let dir = ScratchDir::new("unmap-ro");
    let path = dir.join("lun");
    std::fs::write(&path, vec![1u8; 4096]).unwrap();
    let lun = FileBackend::open(
        &path,
        FileOptions {
            read_only: true,
            ..opts(512, None)
        },
    )
    .unwrap();
    assert!(!lun.can_deallocate());
    let r = block_on(lun.unmap(0, 512));
    assert_eq!(r.unwrap_err().kind, BackendErrorKind::Write);
    let e = block_on(lun.extent(0, 4096)).unwrap();
    assert_eq!(
        e,
        Extent {
            mapped: true,
            len: 4096
        }
    );
    assert!(lun.allocated_bytes() >= 4096);
}

#[test]
fn resize_cuts_or_extends_the_file_and_regrown_space_reads_zeros() {
    let dir = ScratchDir::new("resize");
    let path = dir.join("lun");
    let lun = FileBackend::open(&path, opts(512, Some(1 << 20))).unwrap();
    let last = (1 << 20) - 512;
    block_on(async {
        let (_, r) = lun.write(last, vec![7; 512], false).await;
        r.unwrap();
    });

    lun.resize(1 << 19).unwrap();
    assert_eq!(lun.geometry().blocks, 1024);
    assert_eq!(lun.capacity(), 1 << 19);
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 1 << 19);
    block_on(async {
        let (_, r) = lun.read(1 << 19, vec![0; 512]).await;
        assert_eq!(
            r.unwrap_err().kind,
            BackendErrorKind::Read,
            "past the new end"
        );
    });

    // A size that is not whole blocks rounds down.
    lun.resize((2 << 20) + 100).unwrap();
    assert_eq!(lun.geometry().blocks, 4096);
    let meta = std::fs::metadata(&path).unwrap();
    assert_eq!(meta.len(), 2 << 20);
    assert!(meta.blocks() * 512 < 1 << 20, "grown sparsely");
    block_on(async {
        let (back, r) = lun.read(last, vec![1; 512]).await;
        r.unwrap();
        assert!(back.iter().all(|&b| b == 0), "what was cut off is gone");
        let (_, r) = lun.write((2 << 20) - 512, vec![9; 512], false).await;
        r.unwrap();
    });

    assert_eq!(
        lun.resize(100).unwrap_err().kind,
        BackendErrorKind::Unsupported
    );
    assert_eq!(
        lun.geometry().blocks,
        4096,
        "a refused resize changes nothing"
    );
}

#[test]
fn a_read_only_file_resizes_only_within_itself_and_stays_read_only() {
    let dir = ScratchDir::new("resize-ro");
    let path = dir.join("lun");
    std::fs::write(&path, pattern(8192, 1)).unwrap();
    let lun = FileBackend::open(
        &path,
        FileOptions {
            read_only: true,
            ..opts(512, None)
        },
    )
    .unwrap();
    lun.resize(4096).unwrap();
    assert_eq!(lun.geometry().blocks, 8);
    lun.resize(8192).unwrap();
    assert_eq!(
        lun.resize(16384).unwrap_err().kind,
        BackendErrorKind::Unsupported
    );
    assert_eq!(lun.geometry().blocks, 16);
    assert_eq!(std::fs::read(&path).unwrap(), pattern(8192, 1), "untouched");
    // Opened without write access: it cannot become writable.
    assert_eq!(
        lun.set_read_only(false).unwrap_err().kind,
        BackendErrorKind::Unsupported
    );
    assert!(lun.is_read_only());
}

#[test]
fn write_protection_can_be_switched_on_and_off() {
    let dir = ScratchDir::new("set-ro");
    let lun = FileBackend::open(dir.join("lun"), opts(512, Some(1 << 16))).unwrap();
    lun.set_read_only(true).unwrap();
    assert!(lun.is_read_only());
    assert!(!lun.can_deallocate());
    block_on(async {
        let (_, r) = lun.write(0, vec![1; 512], false).await;
        assert_eq!(r.unwrap_err().kind, BackendErrorKind::Write);
        lun.flush().await.unwrap();
    });
    lun.set_read_only(false).unwrap();
    block_on(async {
        let (_, r) = lun.write(0, vec![1; 512], false).await;
        r.unwrap();
    });
}

/// Hot-plug: the drive behind a LUN pulled (the file moved away) and put back, in its own
/// place or another.
fn pull_and_insert_elsewhere(io_threads: usize) {
    let dir = ScratchDir::new("hot-plug");
    let slot3 = dir.join("slot-03.img");
    let slot5 = dir.join("slot-05.img");
    let lun = FileBackend::open(
        &slot3,
        FileOptions {
            io_threads,
            ..opts(512, Some(1 << 20))
        },
    )
    .unwrap();
    let data = pattern(4096, 9);
    block_on(async {
        lun.write(8192, data.clone(), true).await.1.unwrap();
        // The drive leaves: its file moves out of the slot, as `dyad enclosure pull` does.
        std::fs::rename(&slot3, dir.join("pulled.img")).unwrap();
        lun.detach_medium();
        let no_medium = Some(BackendErrorKind::NoMedium);
        assert_eq!(
            lun.read(0, vec![0; 512]).await.1.err().map(|e| e.kind),
            no_medium
        );
        assert_eq!(
            lun.write(0, vec![0; 512], false)
                .await
                .1
                .err()
                .map(|e| e.kind),
            no_medium
        );
        assert_eq!(lun.flush().await.err().map(|e| e.kind), no_medium);
        assert_eq!(lun.unmap(0, 512).await.err().map(|e| e.kind), no_medium);
        assert_eq!(lun.extent(0, 512).await.err().map(|e| e.kind), no_medium);
        assert_eq!(lun.allocated_bytes(), 0);
        // Back in another slot.
        std::fs::rename(dir.join("pulled.img"), &slot5).unwrap();
        BlockBackend::attach_medium(&lun, slot5.to_str()).unwrap();
        assert_eq!(lun.path(), slot5);
        let (back, r) = lun.read(8192, vec![0; 4096]).await;
        r.unwrap();
        assert_eq!(back, data, "the data came along");
        lun.write(0, pattern(512, 1), true).await.1.unwrap();
        lun.flush().await.unwrap();
    });
    assert_eq!(std::fs::read(&slot5).unwrap()[..512], pattern(512, 1));
    assert_eq!(lun.geometry().blocks, 2048);
}

#[test]
fn a_pulled_medium_fails_cleanly_and_comes_back_through_io_threads() {
    pull_and_insert_elsewhere(2);
}

#[test]
fn a_pulled_medium_fails_cleanly_and_comes_back_inline() {
    pull_and_insert_elsewhere(0);
}

#[test]
fn attach_refuses_what_cannot_be_the_lun_medium() {
    let dir = ScratchDir::new("attach-refused");
    let path = dir.join("lun");
    let lun = FileBackend::open(&path, opts(512, Some(1 << 20))).unwrap();
    lun.detach_medium();
    let small = dir.join("small");
    std::fs::write(&small, vec![0u8; 4096]).unwrap();
    for bad in [dir.join("missing"), small, dir.path().to_path_buf()] {
        let r = lun.attach_medium(Some(&bad));
        assert_eq!(
            r.err().map(|e| e.kind),
            Some(BackendErrorKind::NoMedium),
            "{}",
            bad.display()
        );
        assert_eq!(lun.path(), path, "a refused attach changes nothing");
    }
    block_on(async {
        assert!(lun.read(0, vec![0; 512]).await.1.is_err());
        // Where it was: still there.
        lun.attach_medium(None).unwrap();
        lun.read(0, vec![0; 512]).await.1.unwrap();
    });
}

#[test]
fn memory_has_no_medium_to_pull() {
    let disk = backend::storage::open(&backend::StorageSpec::Ramdisk { size: 1 << 20 }, 512, false)
        .unwrap();
    disk.detach_medium();
    block_on(async { disk.read(0, vec![0; 512]).await.1.unwrap() });
    disk.attach_medium(None).unwrap();
    assert_eq!(
        disk.attach_medium(Some("/elsewhere")).err().map(|e| e.kind),
        Some(BackendErrorKind::Unsupported)
    );
}
