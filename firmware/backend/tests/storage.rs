//! Tests of opening storage from its configuration and of dispatch through `Storage`.

mod common;

use backend::{open, OpenError, Storage, StorageSpec};
use common::{block_on, ScratchDir};
use scsi::backend::{BackendErrorKind, BlockBackend, Geometry};

async fn check_round_trip(storage: &Storage) {
    let bs = storage.geometry().block_size as usize;
    let data: Vec<u8> = (0..2 * bs).map(|i| (i % 199) as u8).collect();
    let (_, r) = storage
        .write(u64::from(storage.geometry().block_size), data.clone(), true)
        .await;
    r.unwrap();
    let (back, r) = storage
        .read(
            u64::from(storage.geometry().block_size),
            vec![0; data.len()],
        )
        .await;
    r.unwrap();
    assert_eq!(back, data);
    storage.set_write_cache(false);
    storage.flush().await.unwrap();
}

#[test]
fn ramdisk_spec_opens_a_sparse_ramdisk() {
    let storage = open(&StorageSpec::Ramdisk { size: 1 << 30 }, 4096, false).unwrap();
    assert_eq!(
        storage.geometry(),
        Geometry {
            block_size: 4096,
            blocks: 1 << 18
        }
    );
    let Storage::Ram(disk) = &storage else {
        panic!("not a ramdisk");
    };
    assert_eq!(disk.allocated_bytes(), 0);
    block_on(check_round_trip(&storage));
}

#[test]
fn read_only_ramdisk_refuses_writes() {
    let storage = open(&StorageSpec::Ramdisk { size: 1 << 20 }, 512, true).unwrap();
    let (_, r) = block_on(storage.write(0, vec![1; 512], false));
    assert_eq!(r.unwrap_err().kind, BackendErrorKind::Write);
}

#[test]
fn file_spec_opens_a_file_backend() {
    let dir = ScratchDir::new("spec");
    let spec = StorageSpec::File {
        path: dir.join("lun"),
        size: Some(1 << 20),
    };
    let storage = open(&spec, 512, false).unwrap();
    assert!(matches!(storage, Storage::File(_)));
    assert_eq!(storage.geometry().blocks, 2048);
    block_on(check_round_trip(&storage));
}

#[test]
fn read_only_file_spec_refuses_writes() {
    let dir = ScratchDir::new("spec-ro");
    let path = dir.join("lun");
    std::fs::write(&path, vec![4u8; 4096]).unwrap();
    let storage = open(&StorageSpec::File { path, size: None }, 512, true).unwrap();
    let (_, r) = block_on(storage.write(0, vec![1; 512], true));
    assert_eq!(r.unwrap_err().kind, BackendErrorKind::Write);
}

#[test]
fn unsupported_block_sizes_are_refused_for_every_kind() {
    let dir = ScratchDir::new("spec-bs");
    let specs = [
        StorageSpec::Ramdisk { size: 1 << 20 },
        StorageSpec::File {
            path: dir.join("lun"),
            size: Some(1 << 20),
        },
    ];
    for spec in &specs {
        let err = open(spec, 2048, false).err().unwrap();
        assert!(matches!(err, OpenError::BlockSize { block_size: 2048 }));
        assert_eq!(
            err.to_string(),
            "logical block size 2048 is not supported: use 512 or 4096"
        );
    }
}

#[test]
fn errors_name_what_failed() {
    let err = open(&StorageSpec::Ramdisk { size: 100 }, 512, false)
        .err()
        .unwrap();
    assert_eq!(
        err.to_string(),
        "ramdisk: 100 bytes is smaller than one 512-byte block"
    );

    let dir = ScratchDir::new("spec-missing");
    let path = dir.join("absent.img");
    let err = open(
        &StorageSpec::File {
            path: path.clone(),
            size: None,
        },
        512,
        false,
    )
    .err()
    .unwrap();
    assert_eq!(
        err.to_string(),
        format!(
            "{}: no such file, and no size is configured to create it with",
            path.display()
        )
    );

    // An OS refusal carries the OS error as its source.
    let path = dir.join("no-dir").join("lun");
    let err = open(
        &StorageSpec::File {
            path: path.clone(),
            size: Some(1 << 20),
        },
        512,
        false,
    )
    .err()
    .unwrap();
    assert!(matches!(err, OpenError::Io { .. }), "{err}");
    assert!(
        err.to_string().starts_with(&path.display().to_string()),
        "{err}"
    );
    assert!(std::error::Error::source(&err).is_some());
}

#[test]
fn deallocation_dispatches_to_either_backend() {
    let dir = ScratchDir::new("spec-unmap");
    let file = StorageSpec::File {
        path: dir.join("lun"),
        size: Some(1 << 20),
    };
    for spec in [StorageSpec::Ramdisk { size: 1 << 20 }, file] {
        let storage = open(&spec, 512, false).unwrap();
        assert!(storage.can_deallocate());
        block_on(async {
            let (_, r) = storage.write(0, vec![3; 65536], false).await;
            r.unwrap();
            assert!(storage.allocated_bytes() >= 65536);
            assert!(storage.extent(0, 512).await.unwrap().mapped);
            storage.unmap(0, 65536).await.unwrap();
            let (back, r) = storage.read(0, vec![1; 65536]).await;
            r.unwrap();
            assert!(back.iter().all(|&b| b == 0));
            assert!(!storage.extent(0, 512).await.unwrap().mapped);
        });
    }
}

#[test]
fn resize_and_write_protection_dispatch_to_either_backend() {
    let dir = ScratchDir::new("spec-resize");
    let file = StorageSpec::File {
        path: dir.join("lun"),
        size: Some(1 << 20),
    };
    for spec in [StorageSpec::Ramdisk { size: 1 << 20 }, file] {
        let storage = open(&spec, 512, false).unwrap();
        storage.resize(3 << 20).unwrap();
        assert_eq!(storage.geometry().blocks, 6144);
        storage.resize(1 << 19).unwrap();
        assert_eq!(storage.geometry().blocks, 1024);
        storage.set_read_only(true).unwrap();
        let (_, r) = block_on(storage.write(0, vec![1; 512], false));
        assert_eq!(r.unwrap_err().kind, BackendErrorKind::Write);
        storage.set_read_only(false).unwrap();
        let (_, r) = block_on(storage.write(0, vec![1; 512], false));
        r.unwrap();
    }
}
