//! Test fixtures for the command handlers: an in-memory backend, a device with one port and
//! its LUNs, a logged-in nexus, and a poll loop that drives the device's futures.

use crate::backend::{BackendError, BackendErrorKind, BlockBackend, Geometry, IoResult};
use crate::device::{BackendOpener, CommandRequest, Completion, Submission, TargetDevice};
use crate::lun::{LunConfig, LunId, StorageSpec};
use crate::lun_address;
use crate::mutation::Mutation;
use crate::nexus::{InitiatorPort, NexusId, PortConfig};
use crate::status::{CommandResult, ScsiStatus};
use crate::task_set::TaskAttribute;
use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::cell::Cell;
use core::future::Future;
use core::pin::pin;
use core::task::{Context, Poll, Waker};

/// Storage that holds nothing: reads return zeros, writes are dropped (or refused while it is
/// read-only). Handlers under test only need its geometry, which a resize changes.
pub(crate) struct TestBackend {
    geometry: Cell<Geometry>,
    read_only: Cell<bool>,
    /// Cleared by `detach_medium`: reads and writes then fail as on a pulled drive.
    present: Cell<bool>,
}

/// The medium path [`TestBackend::attach_medium`] cannot open.
pub(crate) const UNOPENABLE: &str = "/no/such/drive";

/// The largest size the test backend resizes to; beyond it a resize fails, so that the tests
/// can see a refused resize change nothing.
pub(crate) const MAX_TEST_BYTES: u64 = 1 << 40;

impl TestBackend {
    pub fn is_read_only(&self) -> bool {
        self.read_only.get()
    }
}

impl BlockBackend for TestBackend {
    fn geometry(&self) -> Geometry {
        self.geometry.get()
    }

    fn resize(&self, bytes: u64) -> IoResult {
        let block_size = self.geometry.get().block_size;
        if bytes > MAX_TEST_BYTES || bytes < u64::from(block_size) {
            return Err(BackendError::new(BackendErrorKind::NoSpace));
        }
        self.geometry.set(Geometry {
            block_size,
            blocks: bytes / u64::from(block_size),
        });
        Ok(())
    }

    fn set_read_only(&self, read_only: bool) -> IoResult {
        self.read_only.set(read_only);
        Ok(())
    }

    fn detach_medium(&self) {
        self.present.set(false);
    }

    fn attach_medium(&self, path: Option<&str>) -> IoResult {
        if path == Some(UNOPENABLE) {
            return Err(BackendError::new(BackendErrorKind::NoMedium));
        }
        self.present.set(true);
        Ok(())
    }

    async fn read(&self, _offset: u64, mut buf: Vec<u8>) -> (Vec<u8>, IoResult) {
        if !self.present.get() {
            return (buf, Err(BackendError::new(BackendErrorKind::NoMedium)));
        }
        buf.fill(0);
        (buf, Ok(()))
    }

    async fn write(&self, _offset: u64, buf: Vec<u8>, _fua: bool) -> (Vec<u8>, IoResult) {
        if !self.present.get() {
            return (buf, Err(BackendError::new(BackendErrorKind::NoMedium)));
        }
        if self.read_only.get() {
            return (buf, Err(BackendError::new(BackendErrorKind::Write)));
        }
        (buf, Ok(()))
    }

    async fn flush(&self) -> IoResult {
        Ok(())
    }
}

struct TestOpener;

impl BackendOpener<TestBackend> for TestOpener {
    fn open(&self, config: &LunConfig) -> Result<TestBackend, String> {
        let size = match config.storage {
            StorageSpec::Ramdisk { size } => size,
            // Stands in for a drive file of that size (the hot-plug tests move it).
            StorageSpec::File {
                size: Some(size), ..
            } => size,
            StorageSpec::File { size: None, .. } => {
                return Err("test backend files need a size".to_string())
            }
        };
        let blocks = size / u64::from(config.block_size);
        Ok(TestBackend {
            geometry: Cell::new(Geometry {
                block_size: config.block_size,
                blocks,
            }),
            read_only: Cell::new(config.read_only),
            present: Cell::new(true),
        })
    }
}

/// Relative target port id of the fixture's port.
pub(crate) const PORT: u16 = 3;
/// Target port group of the fixture's port.
pub(crate) const TPG: u16 = 2;
pub(crate) const TARGET_NAME: &str = "iqn.2024-01.org.dyad:target0";
pub(crate) const PORT_NAME: &str = "iqn.2024-01.org.dyad:target0,t,0x0001";

/// A 512-byte-block LUN of `blocks` blocks with every identity field set.
pub(crate) fn lun_config(id: u32, blocks: u64) -> LunConfig {
    LunConfig {
        id: LunId(id),
        name: alloc::format!("lun{id}"),
        storage: StorageSpec::Ramdisk { size: blocks * 512 },
        block_size: 512,
        pblock_exp: 3,
        pblock_offset: 0,
        serial: alloc::format!("SN{id:04}"),
        device_id: alloc::format!("DEV{id:04}"),
        naa: [
            0x60, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d,
            0x0e, id as u8,
        ],
        eui64: [0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, id as u8],
        vendor: "DYAD".to_string(),
        product: "VDISK".to_string(),
        revision: "0001".to_string(),
        read_only: false,
        removable: false,
        write_cache: true,
        read_cache: true,
        thin: false,
    }
}

/// The fixture's port; `lun_map` as in [`PortConfig`].
pub(crate) fn port_config(lun_map: Option<BTreeMap<u32, LunId>>) -> PortConfig {
    PortConfig {
        relative_id: PORT,
        tpg: TPG,
        target_name: TARGET_NAME.to_string(),
        port_name: PORT_NAME.to_string(),
        lun_map,
    }
}

/// Drives a future that never waits on anything outside itself (the test backend completes
/// at once), so polling in a loop with a waker that does nothing is enough.
pub(crate) fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    for _ in 0..10_000 {
        if let Poll::Ready(v) = future.as_mut().poll(&mut cx) {
            return v;
        }
    }
    panic!("future did not complete: it waits on something no test wakes");
}

/// A device with one port, its LUNs, and one nexus logged in whose power-on unit attentions
/// have been cleared.
pub(crate) struct Fixture {
    pub device: TargetDevice<TestBackend>,
    pub nexus: NexusId,
    tag: Cell<u64>,
}

impl Fixture {
    /// LUN 0 of 2048 blocks behind a port that exposes every LUN as its global id.
    pub fn new() -> Self {
        Self::with(port_config(None), [lun_config(0, 2048)])
    }

    pub fn with(port: PortConfig, luns: impl IntoIterator<Item = LunConfig>) -> Self {
        let device = TargetDevice::new(1, Box::new(TestOpener));
        device.apply(Mutation::PortAdded(port)).expect("port added");
        for lun in luns {
            device.apply(Mutation::LunAdded(lun)).expect("LUN added");
        }
        let mut f = Fixture {
            device,
            nexus: NexusId(0),
            tag: Cell::new(1),
        };
        f.nexus = f.login();
        f
    }

    /// Logs a new nexus in through the port and clears every unit attention it starts with.
    pub fn login(&self) -> NexusId {
        self.login_as("iqn.2024-01.org.test:init", 0)
    }

    /// As [`Fixture::login`], for the initiator port `name` with an ISID ending in `isid`.
    pub fn login_as(&self, name: &str, isid: u8) -> NexusId {
        self.login_on(PORT, name, isid)
    }

    /// As [`Fixture::login_as`], through the target port `relative_id`.
    pub fn login_on(&self, relative_id: u16, name: &str, isid: u8) -> NexusId {
        let initiator = InitiatorPort {
            name: name.to_string(),
            isid: [0x40, 0, 0, 0, 0, isid],
        };
        let nexus = self.device.login(relative_id, initiator).expect("login");
        let port = self.device.port(relative_id).expect("port");
        for lun in self.device.luns() {
            let Some(n) = port.unmap(lun.id()) else {
                continue;
            };
            let cleared = (0..16).any(|_| {
                self.run_on(nexus, n, &[0x00, 0, 0, 0, 0, 0]).scsi_status() == ScsiStatus::Good
            });
            assert!(cleared, "unit attentions on LUN {n} never cleared");
        }
        nexus
    }

    /// Runs `cdb` on port LUN `lun` for the fixture's nexus.
    pub fn run(&self, lun: u32, cdb: &[u8]) -> CommandResult {
        self.run_on(self.nexus, lun, cdb)
    }

    pub fn run_on(&self, nexus: NexusId, lun: u32, cdb: &[u8]) -> CommandResult {
        self.run_with_data(nexus, lun, cdb, &[])
    }

    /// Runs `cdb` with `data` as its data-out.
    pub fn run_with_data(
        &self,
        nexus: NexusId,
        lun: u32,
        cdb: &[u8],
        data: &[u8],
    ) -> CommandResult {
        let tag = self.tag.get();
        self.tag.set(tag + 1);
        let req = CommandRequest {
            nexus,
            lun: lun_address::encode(lun),
            cdb,
            tag,
            attr: TaskAttribute::Simple,
            data_out_len: u32::try_from(data.len()).unwrap_or(u32::MAX),
        };
        match self.device.submit(&req) {
            Submission::Complete(r) => r,
            Submission::Queued(task) => match block_on(self.device.execute(task, data.to_vec())) {
                Completion::Done(r) => r,
                Completion::Aborted(kind) => panic!("command aborted: {kind:?}"),
            },
        }
    }
}

/// (sense key, ASC, ASCQ) of fixed- or descriptor-format sense bytes.
pub(crate) fn sense_code(sense: &[u8]) -> (u8, u8, u8) {
    let b = |i: usize| sense.get(i).copied().unwrap_or(0);
    match b(0) & 0x7F {
        0x72 | 0x73 => (b(1) & 0x0F, b(2), b(3)),
        _ => (b(2) & 0x0F, b(12), b(13)),
    }
}

/// The CDB byte the sense-key-specific field pointer of fixed-format sense names.
pub(crate) fn field_pointer(sense: &[u8]) -> Option<u16> {
    let sks = sense.get(15..18)?;
    (sks[0] & 0xC0 == 0xC0).then(|| u16::from_be_bytes([sks[1], sks[2]]))
}

/// Asserts GOOD status and returns the data-in.
#[track_caller]
pub(crate) fn good(r: CommandResult) -> Vec<u8> {
    assert_eq!(r.scsi_status(), ScsiStatus::Good, "sense {:02x?}", r.sense);
    r.data
}

/// Asserts CHECK CONDITION with ILLEGAL REQUEST, INVALID FIELD IN CDB at CDB byte `byte`.
#[track_caller]
pub(crate) fn assert_invalid_field(r: &CommandResult, byte: u16) {
    assert_eq!(r.scsi_status(), ScsiStatus::CheckCondition);
    assert_eq!(
        sense_code(&r.sense),
        (0x05, 0x24, 0x00),
        "sense {:02x?}",
        r.sense
    );
    assert_eq!(
        field_pointer(&r.sense),
        Some(byte),
        "sense {:02x?}",
        r.sense
    );
}
