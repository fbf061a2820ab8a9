//! Fuzzes the SCSI core (`scsi::TargetDevice`) with sequences of arbitrary CDBs and data-out
//! against small in-memory LUNs, through the public API a transport uses (`submit`, then
//! `execute` with the data-out; task management; ALUA state changes; logins and logouts).
//! Besides not panicking, it checks that:
//! - no read, write or deallocation ever reaches a backend outside its LUN or in parts of a
//!   block (the core checks ranges before it calls the backend);
//! - no write or deallocation ever reaches a write-protected LUN's backend;
//! - once a command has ended, it holds no task-set entry and no part of the buffer budget.
//!
//! The backends complete at once, so a poll loop with a waker that does nothing drives every
//! future to its end; one that does not end is a hang and fails too.
//!
//! Input, repeated until it runs out (missing bytes read as zero):
//! `op` byte, then by `op % 16`:
//! - 0..=12, a command: `flags` (bit 0: opcode from the command table, `selector` picks the
//!   entry; bits 1-2: LUN 0, 1, 2 or 8 raw LUN bytes from the input; bit 3: second nexus;
//!   bits 4-5: task attribute; bit 6: clear the CDB bits outside the entry's usage mask; bit
//!   7: announce 1 MiB of data-out rather than a 16-bit length from the input), `selector`,
//!   `cdb_len` (without the table: 1-32), the CDB bytes, the 8 LUN bytes if raw, the 16-bit
//!   announced length unless bit 7, then a 16-bit count and that many data-out bytes (cut
//!   or padded with zeros to what the command wants);
//! - 13, task management: function and LUN byte, tag byte;
//! - 14, an ALUA access state for the port's group;
//! - 15, the second nexus logs out and in again.
#![no_main]

use core::future::Future;
use core::pin::pin;
use core::task::{Context, Poll, Waker};
use std::cell::RefCell;

use libfuzzer_sys::fuzz_target;
use scsi::alua::AccessState;
use scsi::backend::{BackendError, BackendErrorKind, BlockBackend, Extent, Geometry, IoResult};
use scsi::mutation::Mutation;
use scsi::table::{self, CommandEntry};
use scsi::{
    BackendOpener, CommandRequest, InitiatorPort, LunConfig, LunId, NexusId, PortConfig,
    StorageSpec, Submission, TargetDevice, TaskAttribute,
};

/// The port every nexus logs in through; it maps every LUN as its global number.
const PORT: u16 = 1;
const TPG: u16 = 1;
/// Polls of one future before it counts as hung.
const MAX_POLLS: usize = 100_000;
/// Data all commands in flight may hold: small, so no input makes the fuzzer allocate much.
const BUDGET: u64 = 1 << 20;

/// A LUN's storage in memory, which checks every call against the LUN's geometry.
struct MemBackend {
    geometry: Geometry,
    data: RefCell<Vec<u8>>,
    /// Per block: whether it is mapped (thin LUNs deallocate).
    mapped: RefCell<Vec<bool>>,
    read_only: bool,
    thin: bool,
    name: String,
}

impl MemBackend {
    fn size(&self) -> u64 {
        u64::from(self.geometry.block_size) * self.geometry.blocks
    }

    /// Panics unless `offset..offset + len` is whole blocks inside the LUN.
    fn check(&self, what: &str, offset: u64, len: u64) {
        let bs = u64::from(self.geometry.block_size);
        let end = offset.checked_add(len);
        assert!(
            end.is_some_and(|end| end <= self.size()),
            "{what} of {len} bytes at byte {offset} is outside {} ({} bytes)",
            self.name,
            self.size()
        );
        assert!(
            offset.is_multiple_of(bs) && len.is_multiple_of(bs),
            "{what} of {len} bytes at byte {offset} on {} is not whole {bs}-byte blocks",
            self.name
        );
    }

    fn blocks(&self, offset: u64, len: u64) -> core::ops::Range<usize> {
        let bs = u64::from(self.geometry.block_size);
        (offset / bs) as usize..((offset + len) / bs) as usize
    }
}

impl BlockBackend for MemBackend {
    fn geometry(&self) -> Geometry {
        self.geometry
    }

    async fn read(&self, offset: u64, mut buf: Vec<u8>) -> (Vec<u8>, IoResult) {
        self.check("a read", offset, buf.len() as u64);
        let (start, len) = (offset as usize, buf.len());
        buf.copy_from_slice(&self.data.borrow()[start..start + len]);
        (buf, Ok(()))
    }

    async fn write(&self, offset: u64, buf: Vec<u8>, _fua: bool) -> (Vec<u8>, IoResult) {
        self.check("a write", offset, buf.len() as u64);
        assert!(
            !self.read_only,
            "a write of {} bytes at byte {offset} reached write-protected {}",
            buf.len(),
            self.name
        );
        let start = offset as usize;
        self.data.borrow_mut()[start..start + buf.len()].copy_from_slice(&buf);
        for b in self.blocks(offset, buf.len() as u64) {
            self.mapped.borrow_mut()[b] = true;
        }
        (buf, Ok(()))
    }

    async fn flush(&self) -> IoResult {
        Ok(())
    }

    fn can_deallocate(&self) -> bool {
        self.thin
    }

    async fn unmap(&self, offset: u64, len: u64) -> IoResult {
        self.check("a deallocation", offset, len);
        assert!(
            !self.read_only,
            "a deallocation of {len} bytes at byte {offset} reached write-protected {}",
            self.name
        );
        if !self.thin {
            return Err(BackendError::new(BackendErrorKind::Unsupported));
        }
        let start = offset as usize;
        self.data.borrow_mut()[start..start + len as usize].fill(0);
        for b in self.blocks(offset, len) {
            self.mapped.borrow_mut()[b] = false;
        }
        Ok(())
    }

    async fn extent(&self, offset: u64, len: u64) -> Result<Extent, BackendError> {
        let bs = u64::from(self.geometry.block_size);
        // A query may run past the end (the core asks "from here on"); it must start inside.
        assert!(
            offset < self.size() && offset.is_multiple_of(bs),
            "a provisioning query at byte {offset} is outside {} or not on a block",
            self.name
        );
        let len = len.min(self.size() - offset);
        let mapped = self.mapped.borrow();
        let first = (offset / bs) as usize;
        let status = mapped[first];
        let run = mapped[first..].iter().take_while(|&&m| m == status).count() as u64;
        Ok(Extent {
            mapped: status,
            len: (run * bs).min(len),
        })
    }

    fn allocated_bytes(&self) -> u64 {
        let blocks = self.mapped.borrow().iter().filter(|&&m| m).count() as u64;
        blocks * u64::from(self.geometry.block_size)
    }
}

struct MemOpener;

impl BackendOpener<MemBackend> for MemOpener {
    fn open(&self, config: &LunConfig) -> Result<MemBackend, String> {
        let StorageSpec::Ramdisk { size } = config.storage else {
            return Err("the fuzz target only makes ramdisks".into());
        };
        let blocks = size / u64::from(config.block_size);
        Ok(MemBackend {
            geometry: Geometry {
                block_size: config.block_size,
                blocks,
            },
            data: RefCell::new(vec![0; size as usize]),
            mapped: RefCell::new(vec![!config.thin; blocks as usize]),
            read_only: config.read_only,
            thin: config.thin,
            name: format!("LUN {}", config.id.0),
        })
    }
}

/// LUN 0: a plain 1 MiB disk of 512-byte blocks (4 KiB physical). LUN 1: thin and
/// removable, 128 KiB of 4 KiB blocks. LUN 2: write-protected, 64 KiB of 512-byte blocks.
fn lun_configs() -> [LunConfig; 3] {
    let lun = |id: u32, block_size: u32, blocks: u64| LunConfig {
        id: LunId(id),
        name: format!("lun{id}"),
        storage: StorageSpec::Ramdisk {
            size: blocks * u64::from(block_size),
        },
        block_size,
        pblock_exp: 0,
        pblock_offset: 0,
        serial: format!("FUZZ{id:04}"),
        device_id: format!("fuzz-{id:04}"),
        naa: [
            0x60, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, id as u8,
        ],
        eui64: [1, 2, 3, 4, 5, 6, 7, id as u8],
        vendor: "DYAD".into(),
        product: "FUZZ".into(),
        revision: "0001".into(),
        read_only: false,
        removable: false,
        write_cache: true,
        read_cache: true,
        thin: false,
    };
    let plain = LunConfig {
        pblock_exp: 3,
        ..lun(0, 512, 2048)
    };
    let thin = LunConfig {
        thin: true,
        removable: true,
        ..lun(1, 4096, 32)
    };
    let read_only = LunConfig {
        read_only: true,
        ..lun(2, 512, 128)
    };
    [plain, thin, read_only]
}

/// Drives a future whose backends complete at once; panics if it never ends.
fn block_on<F: Future>(what: &str, future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    for _ in 0..MAX_POLLS {
        if let Poll::Ready(v) = future.as_mut().poll(&mut cx) {
            return v;
        }
    }
    panic!("{what} never completed: it waits on something nothing wakes");
}

/// The fuzz input as a stream of bytes; past its end every byte is zero.
struct Input<'a> {
    data: &'a [u8],
}

impl Input<'_> {
    fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    fn byte(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0,
        }
    }

    fn u16(&mut self) -> u16 {
        u16::from_be_bytes([self.byte(), self.byte()])
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        let take = n.min(self.data.len());
        let (head, rest) = self.data.split_at(take);
        self.data = rest;
        let mut out = head.to_vec();
        out.resize(n, 0);
        out
    }
}

struct Harness {
    device: TargetDevice<MemBackend>,
    nexuses: [NexusId; 2],
    tag: u64,
    entries: Vec<&'static CommandEntry>,
}

impl Harness {
    fn new() -> Harness {
        let device = TargetDevice::new(1, Box::new(MemOpener));
        device.buffers.set_budget(BUDGET);
        device
            .apply(Mutation::PortAdded(PortConfig {
                relative_id: PORT,
                tpg: TPG,
                target_name: "iqn.2024-01.org.dyad:fuzz".into(),
                port_name: "iqn.2024-01.org.dyad:fuzz,t,0x0001".into(),
                lun_map: None,
            }))
            .expect("add the port");
        for config in lun_configs() {
            device.apply(Mutation::LunAdded(config)).expect("add a LUN");
        }
        let nexuses = [login(&device, 1), login(&device, 2)];
        Harness {
            device,
            nexuses,
            tag: 0,
            entries: table::entries().collect(),
        }
    }

    fn lun_address(&self, input: &mut Input<'_>, which: u8) -> [u8; 8] {
        match which {
            0..=2 => scsi::lun_address::encode(u32::from(which)),
            _ => {
                let raw = input.bytes(8);
                raw.try_into().expect("8 bytes")
            }
        }
    }

    fn command(&mut self, input: &mut Input<'_>) {
        let flags = input.byte();
        let selector = input.byte();
        let entry =
            (flags & 1 != 0).then(|| self.entries[usize::from(selector) % self.entries.len()]);
        let len = match entry {
            Some(e) => e.cdb_len(),
            None => usize::from(input.byte() % 32) + 1,
        };
        let mut cdb = input.bytes(len);
        if let Some(e) = entry {
            cdb[0] = e.opcode;
            if let Some(sa) = e.service_action {
                cdb[1] = (cdb[1] & 0xE0) | sa;
            }
            if flags & 0x40 != 0 {
                for (byte, mask) in cdb.iter_mut().zip(e.usage).skip(1) {
                    *byte &= mask;
                }
                if let Some(sa) = e.service_action {
                    cdb[1] |= sa;
                }
            }
        }
        let lun = self.lun_address(input, (flags >> 1) & 3);
        let nexus = self.nexuses[usize::from(flags >> 3 & 1)];
        let attr = TaskAttribute::from_iscsi((flags >> 4) & 3);
        let announced = if flags & 0x80 != 0 {
            1 << 20
        } else {
            u32::from(input.u16())
        };
        let count = usize::from(input.u16());
        let supplied = input.bytes(count.min(input.data.len()));
        self.tag += 1;
        let req = CommandRequest {
            nexus,
            lun,
            cdb: &cdb,
            tag: self.tag,
            attr,
            data_out_len: announced,
        };
        let name = entry.map_or("a command off the table", |e| e.name);
        match self.device.submit(&req) {
            Submission::Complete(_) => {}
            Submission::Queued(task) => {
                let wanted = task.data_out_len() as usize;
                assert!(
                    wanted <= announced as usize,
                    "{name} wants {wanted} bytes of data-out, more than the {announced} announced"
                );
                let mut data = supplied;
                data.resize(wanted, 0);
                let _ = block_on(name, self.device.execute(task, data));
            }
        }
    }

    fn task_management(&mut self, input: &mut Input<'_>) {
        let function = input.byte();
        let tag = u64::from(input.byte());
        let lun = self.lun_address(input, function >> 4 & 3);
        let nexus = self.nexuses[usize::from(function >> 6 & 1)];
        let d = &self.device;
        let _ = match function % 5 {
            0 => block_on("ABORT TASK", d.abort_task(nexus, lun, tag)),
            1 => block_on("ABORT TASK SET", d.abort_task_set(nexus, lun)),
            2 => block_on("CLEAR TASK SET", d.clear_task_set(nexus, lun)),
            3 => block_on("LOGICAL UNIT RESET", d.lun_reset(nexus, lun)),
            _ => block_on("TARGET RESET", d.target_reset(nexus)),
        };
    }

    fn set_access_state(&mut self, input: &mut Input<'_>) {
        let state = match input.byte() % 5 {
            0 => AccessState::ActiveOptimized,
            1 => AccessState::ActiveNonOptimized,
            2 => AccessState::Standby,
            3 => AccessState::Unavailable,
            _ => AccessState::Transitioning,
        };
        self.device.set_access_state(TPG, state);
    }

    fn relogin(&mut self) {
        self.device.logout(self.nexuses[1]);
        self.nexuses[1] = login(&self.device, 2);
    }

    /// After every operation: nothing is in flight, so nothing may hold a task-set entry or
    /// any of the buffer budget.
    fn check_idle(&self, op: u8) {
        for lun in 0..3 {
            assert_eq!(
                self.device.tasks_in_set(LunId(lun)),
                0,
                "a task stayed in LUN {lun}'s task set after operation {op:#04x} ended"
            );
        }
        assert_eq!(
            self.device.buffers.reserved(),
            0,
            "buffer budget still reserved after operation {op:#04x} ended"
        );
    }
}

fn login(device: &TargetDevice<MemBackend>, n: u8) -> NexusId {
    device
        .login(
            PORT,
            InitiatorPort {
                name: format!("iqn.2024-01.org.dyad:fuzz-initiator-{n}"),
                isid: [0, 0, 0, 0, 0, n],
            },
        )
        .expect("log a nexus in")
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input { data };
    let mut harness = Harness::new();
    // Bounded: a long input is many operations, not a longer run per operation.
    for _ in 0..64 {
        if input.is_empty() {
            break;
        }
        let op = input.byte();
        match op % 16 {
            0..=12 => harness.command(&mut input),
            13 => harness.task_management(&mut input),
            14 => harness.set_access_state(&mut input),
            _ => harness.relogin(),
        }
        harness.check_idle(op);
    }
});
