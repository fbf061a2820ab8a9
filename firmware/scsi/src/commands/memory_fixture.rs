//! A device whose LUN keeps what is written to it (the shared test backend drops writes),
//! for the tests of this group of families.

use super::test_support::{block_on, lun_config, port_config, PORT};
use crate::backend::IoResult;
use crate::backend::{BackendError, BackendErrorKind, BlockBackend, Extent, Geometry};
use crate::device::{BackendOpener, CommandRequest, Completion, Submission, TargetDevice};
use crate::lun::{Lun, LunConfig, StorageSpec};
use crate::lun_address;
use crate::mutation::Mutation;
use crate::nexus::{InitiatorPort, NexusId};
use crate::status::{CommandResult, ScsiStatus};
use crate::task_set::TaskAttribute;
use alloc::boxed::Box;
use alloc::rc::Rc;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;
use core::cell::{Cell, RefCell};

/// Blocks of the test LUN.
pub(crate) const BLOCKS: u64 = 8192;

pub(crate) struct MemBackend {
    geometry: Geometry,
    data: RefCell<Vec<u8>>,
    /// Per block: whether it holds data (for extents).
    mapped: RefCell<Vec<bool>>,
    deallocates: bool,
    /// Set when any operation asked for bytes outside the medium.
    pub outside: Cell<bool>,
    pub writes: Cell<usize>,
    pub unmaps: Cell<usize>,
    /// Reads of this block fail.
    pub bad_block: Cell<Option<u64>>,
}

impl MemBackend {
    fn span(&self, offset: u64, len: usize) -> Option<core::ops::Range<usize>> {
        let start = usize::try_from(offset).ok()?;
        let end = start.checked_add(len)?;
        if end > self.data.borrow().len() {
            self.outside.set(true);
            return None;
        }
        Some(start..end)
    }

    fn blocks_of(&self, r: &core::ops::Range<usize>) -> core::ops::Range<usize> {
        let bs = self.geometry.block_size as usize;
        r.start / bs..r.end.div_ceil(bs)
    }

    pub fn bytes(&self, offset: usize, len: usize) -> Vec<u8> {
        self.data.borrow()[offset..offset + len].to_vec()
    }

    pub fn is_mapped(&self, block: usize) -> bool {
        self.mapped.borrow()[block]
    }
}

impl BlockBackend for MemBackend {
    fn geometry(&self) -> Geometry {
        self.geometry
    }

    async fn read(&self, offset: u64, mut buf: Vec<u8>) -> (Vec<u8>, IoResult) {
        let Some(r) = self.span(offset, buf.len()) else {
            return (buf, Err(BackendError::new(BackendErrorKind::Read)));
        };
        if let Some(bad) = self.bad_block.get() {
            if self.blocks_of(&r).contains(&(bad as usize)) {
                return (buf, Err(BackendError::new(BackendErrorKind::Read)));
            }
        }
        buf.copy_from_slice(&self.data.borrow()[r]);
        (buf, Ok(()))
    }

    async fn write(&self, offset: u64, buf: Vec<u8>, _fua: bool) -> (Vec<u8>, IoResult) {
        let Some(r) = self.span(offset, buf.len()) else {
            return (buf, Err(BackendError::new(BackendErrorKind::Write)));
        };
        self.writes.set(self.writes.get() + 1);
        for b in self.blocks_of(&r) {
            self.mapped.borrow_mut()[b] = true;
        }
        self.data.borrow_mut()[r].copy_from_slice(&buf);
        (buf, Ok(()))
    }

    async fn flush(&self) -> IoResult {
        Ok(())
    }

    fn can_deallocate(&self) -> bool {
        self.deallocates
    }

    async fn unmap(&self, offset: u64, len: u64) -> IoResult {
        let Some(r) = self.span(offset, len as usize) else {
            return Err(BackendError::new(BackendErrorKind::Write));
        };
        self.unmaps.set(self.unmaps.get() + 1);
        for b in self.blocks_of(&r) {
            self.mapped.borrow_mut()[b] = false;
        }
        self.data.borrow_mut()[r].fill(0);
        Ok(())
    }

    async fn extent(&self, offset: u64, len: u64) -> Result<Extent, BackendError> {
        let Some(r) = self.span(offset, len as usize) else {
            return Err(BackendError::new(BackendErrorKind::Read));
        };
        let bs = self.geometry.block_size as usize;
        let blocks = self.blocks_of(&r);
        let mapped = self.mapped.borrow();
        let first = mapped[blocks.start];
        let run = mapped[blocks.clone()]
            .iter()
            .take_while(|&&m| m == first)
            .count();
        Ok(Extent {
            mapped: first,
            len: (run * bs) as u64,
        })
    }
}

struct MemOpener {
    deallocates: bool,
}

impl BackendOpener<MemBackend> for MemOpener {
    fn open(&self, config: &LunConfig) -> Result<MemBackend, String> {
        let StorageSpec::Ramdisk { size } = config.storage else {
            return Err("memory only".to_string());
        };
        let blocks = size / u64::from(config.block_size);
        Ok(MemBackend {
            geometry: Geometry {
                block_size: config.block_size,
                blocks,
            },
            data: RefCell::new(vec![0; size as usize]),
            mapped: RefCell::new(vec![false; blocks as usize]),
            deallocates: self.deallocates,
            outside: Cell::new(false),
            writes: Cell::new(0),
            unmaps: Cell::new(0),
            bad_block: Cell::new(None),
        })
    }
}

pub(crate) struct MemFixture {
    pub device: TargetDevice<MemBackend>,
    pub nexus: NexusId,
    tag: Cell<u64>,
}

impl MemFixture {
    /// A LUN of [`BLOCKS`] 512-byte blocks, thin or not, whose backend deallocates.
    pub fn new(thin: bool) -> Self {
        let mut c = lun_config(0, BLOCKS);
        c.thin = thin;
        Self::with(c, true)
    }

    pub fn with(config: LunConfig, deallocates: bool) -> Self {
        let device = TargetDevice::new(1, Box::new(MemOpener { deallocates }));
        device
            .apply(Mutation::PortAdded(port_config(None)))
            .expect("port");
        device.apply(Mutation::LunAdded(config)).expect("LUN");
        let initiator = InitiatorPort {
            name: "iqn.2024-01.org.test:mem".to_string(),
            isid: [0; 6],
        };
        let nexus = device.login(PORT, initiator).expect("login");
        let f = MemFixture {
            device,
            nexus,
            tag: Cell::new(1),
        };
        let cleared =
            (0..16).any(|_| f.run(&[0x00, 0, 0, 0, 0, 0], &[]).scsi_status() == ScsiStatus::Good);
        assert!(cleared, "unit attentions never cleared");
        f
    }

    pub fn lun(&self) -> Rc<Lun<MemBackend>> {
        self.device.lun(crate::lun::LunId(0)).expect("LUN 0")
    }

    pub fn backend_bytes(&self, lba: u64, blocks: u64) -> Vec<u8> {
        let bs = self.lun().block_size() as usize;
        self.lun()
            .backend
            .bytes(lba as usize * bs, blocks as usize * bs)
    }

    /// Stores `data` at `lba` directly in the backend.
    pub fn put(&self, lba: u64, data: &[u8]) {
        let bs = u64::from(self.lun().block_size());
        let (_, r) = block_on(self.lun().backend.write(lba * bs, data.to_vec(), false));
        r.expect("backend write");
    }

    /// Runs `cdb` with `data` as the data-out the initiator announces and sends.
    pub fn run(&self, cdb: &[u8], data: &[u8]) -> CommandResult {
        self.run_edtl(cdb, data, data.len() as u32)
    }

    /// Runs `cdb`, announcing `edtl` bytes of data-out and sending what the device asks
    /// for of `data`.
    pub fn run_edtl(&self, cdb: &[u8], data: &[u8], edtl: u32) -> CommandResult {
        let tag = self.tag.get();
        self.tag.set(tag + 1);
        let req = CommandRequest {
            nexus: self.nexus,
            lun: lun_address::encode(0),
            cdb,
            tag,
            attr: TaskAttribute::Simple,
            data_out_len: edtl,
        };
        match self.device.submit(&req) {
            Submission::Complete(r) => r,
            Submission::Queued(task) => {
                let n = (task.data_out_len() as usize).min(data.len());
                let out = data[..n].to_vec();
                match block_on(self.device.execute(task, out)) {
                    Completion::Done(r) => r,
                    Completion::Aborted(kind) => panic!("aborted: {kind:?}"),
                }
            }
        }
    }
}
