//! Table-driven CDB validation of the SCSI core: for every command in the command table, every
//! CDB bit outside the entry's usage mask (the bits the standards reserve or the command does
//! not honour), set alone, must end the command with CHECK CONDITION, ILLEGAL REQUEST, INVALID
//! FIELD IN CDB (24h/00h) and sense-key-specific data pointing at exactly that bit (SKSV=1,
//! C/D=1, BPV=1, field pointer = the byte, bit pointer = the bit). The service-action bits of
//! byte 1 are left alone for entries with a service action (they select the entry).
//!
//! A second table drives every block command past the end of the LUN, across 64-bit overflow,
//! onto the last block, and with a zero transfer length, each with the answer SBC-4 names.
//!
//! The device is built from the `scsi` crate's public API with an in-memory backend: one port,
//! LUN 0 of 1024 blocks, one nexus whose power-on unit attention has been cleared.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use scsi::backend::{BlockBackend, Geometry, IoResult};
use scsi::mutation::Mutation;
use scsi::table::{self, CommandEntry};
use scsi::{
    BackendOpener, CommandRequest, Completion, InitiatorPort, LunConfig, LunId, NexusId,
    PortConfig, ScsiStatus, StorageSpec, Submission, TargetDevice, TaskAttribute,
};

const PORT: u16 = 1;
const BLOCKS: u64 = 1024;

/// Storage in memory: whatever the command under test does, it has somewhere to do it.
struct MemBackend {
    geometry: Geometry,
    data: RefCell<Vec<u8>>,
}

impl BlockBackend for MemBackend {
    fn geometry(&self) -> Geometry {
        self.geometry
    }

    async fn read(&self, offset: u64, mut buf: Vec<u8>) -> (Vec<u8>, IoResult) {
        let (start, len) = (offset as usize, buf.len());
        buf.copy_from_slice(&self.data.borrow()[start..start + len]);
        (buf, Ok(()))
    }

    async fn write(&self, offset: u64, buf: Vec<u8>, _fua: bool) -> (Vec<u8>, IoResult) {
        let start = offset as usize;
        self.data.borrow_mut()[start..start + buf.len()].copy_from_slice(&buf);
        (buf, Ok(()))
    }

    async fn flush(&self) -> IoResult {
        Ok(())
    }
}

struct MemOpener;

impl BackendOpener<MemBackend> for MemOpener {
    fn open(&self, config: &LunConfig) -> Result<MemBackend, String> {
        let StorageSpec::Ramdisk { size } = config.storage else {
            return Err("only ramdisks here".into());
        };
        Ok(MemBackend {
            geometry: Geometry {
                block_size: config.block_size,
                blocks: size / u64::from(config.block_size),
            },
            data: RefCell::new(vec![0; size as usize]),
        })
    }
}

fn lun0() -> LunConfig {
    LunConfig {
        id: LunId(0),
        name: "lun0".into(),
        storage: StorageSpec::Ramdisk { size: BLOCKS * 512 },
        block_size: 512,
        pblock_exp: 0,
        pblock_offset: 0,
        serial: "CDBFIELDS0".into(),
        device_id: "cdb-fields-0".into(),
        naa: [0x60, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15],
        eui64: [1, 2, 3, 4, 5, 6, 7, 8],
        vendor: "DYAD".into(),
        product: "CDB FIELDS".into(),
        revision: "0001".into(),
        read_only: false,
        removable: false,
        write_cache: true,
        read_cache: true,
        thin: false,
    }
}

/// Drives a future of the in-memory device to its end.
fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    for _ in 0..100_000 {
        if let Poll::Ready(v) = future.as_mut().poll(&mut cx) {
            return v;
        }
    }
    panic!("a command never completed");
}

struct Device {
    device: TargetDevice<MemBackend>,
    nexus: NexusId,
    tag: Cell<u64>,
}

/// How one command ended: its status and sense bytes.
struct Outcome {
    status: Option<ScsiStatus>,
    sense: Vec<u8>,
}

impl Device {
    fn new() -> Device {
        let device = TargetDevice::new(1, Box::new(MemOpener));
        device
            .apply(Mutation::PortAdded(PortConfig {
                relative_id: PORT,
                tpg: 1,
                target_name: "iqn.2024-01.org.dyad:cdb-fields".into(),
                port_name: "iqn.2024-01.org.dyad:cdb-fields,t,0x0001".into(),
                lun_map: None,
            }))
            .expect("add the port");
        device.apply(Mutation::LunAdded(lun0())).expect("add LUN 0");
        let nexus = device
            .login(
                PORT,
                InitiatorPort {
                    name: "iqn.2024-01.org.dyad:cdb-fields-initiator".into(),
                    isid: [0, 0, 0, 0, 0, 1],
                },
            )
            .expect("log in");
        let d = Device {
            device,
            nexus,
            tag: Cell::new(0),
        };
        // TEST UNIT READY until the power-on unit attention is reported and gone.
        let ready = (0..16).any(|_| d.run(&[0; 6]).status == Some(ScsiStatus::Good));
        assert!(ready, "LUN 0 never became ready");
        d
    }

    fn run(&self, cdb: &[u8]) -> Outcome {
        self.run_with(cdb, 0)
    }

    /// Runs `cdb` with the initiator announcing `data_out_len` bytes of data-out.
    fn run_with(&self, cdb: &[u8], data_out_len: u32) -> Outcome {
        self.tag.set(self.tag.get() + 1);
        let req = CommandRequest {
            nexus: self.nexus,
            lun: scsi::lun_address::encode(0),
            cdb,
            tag: self.tag.get(),
            attr: TaskAttribute::Simple,
            data_out_len,
        };
        let result = match self.device.submit(&req) {
            Submission::Complete(r) => r,
            Submission::Queued(task) => {
                let data = vec![0; task.data_out_len() as usize];
                match block_on(self.device.execute(task, data)) {
                    Completion::Done(r) => r,
                    Completion::Aborted(kind) => panic!("command aborted: {kind:?}"),
                }
            }
        };
        Outcome {
            status: result.status,
            sense: result.sense.to_vec(),
        }
    }
}

/// The parts of sense data an INVALID FIELD IN CDB is judged by.
#[derive(Debug, PartialEq, Eq)]
struct FieldSense {
    key: u8,
    asc: u8,
    ascq: u8,
    /// The sense-key-specific bytes: SKSV/C-D/BPV/bit pointer, then the field pointer.
    sks: Option<[u8; 3]>,
}

/// Reads fixed (70h/71h) or descriptor (72h/73h, descriptor type 02h) sense data.
fn field_sense(sense: &[u8]) -> FieldSense {
    let b = |i: usize| sense.get(i).copied().unwrap_or(0);
    match b(0) & 0x7F {
        0x72 | 0x73 => {
            let mut sks = None;
            let mut at = 8;
            while at + 1 < sense.len() {
                let (kind, len) = (sense[at], usize::from(sense[at + 1]));
                if kind == 0x02 && len >= 6 {
                    sks = Some([b(at + 4), b(at + 5), b(at + 6)]);
                }
                at += 2 + len;
            }
            FieldSense {
                key: b(1) & 0x0F,
                asc: b(2),
                ascq: b(3),
                sks,
            }
        }
        _ => FieldSense {
            key: b(2) & 0x0F,
            asc: b(12),
            ascq: b(13),
            sks: (sense.len() >= 18).then(|| [b(15), b(16), b(17)]),
        },
    }
}

/// What is wrong with how `outcome` answers a CDB with `byte`.`bit` set, if anything.
fn judge(outcome: &Outcome, byte: usize, bit: u8) -> Option<String> {
    if outcome.status != Some(ScsiStatus::CheckCondition) {
        return Some(format!("status {:?}, not CHECK CONDITION", outcome.status));
    }
    let s = field_sense(&outcome.sense);
    if (s.key, s.asc, s.ascq) != (0x05, 0x24, 0x00) {
        return Some(format!(
            "sense {:02x}/{:02x}/{:02x}, not ILLEGAL REQUEST / INVALID FIELD IN CDB",
            s.key, s.asc, s.ascq
        ));
    }
    let Some([flags, hi, lo]) = s.sks else {
        return Some("no sense-key-specific field pointer".into());
    };
    let pointer = usize::from(u16::from_be_bytes([hi, lo]));
    let (sksv, cd, bpv, bit_pointer) = (
        flags & 0x80 != 0,
        flags & 0x40 != 0,
        flags & 0x08 != 0,
        flags & 0x07,
    );
    let want = (true, true, true, bit, byte);
    let got = (sksv, cd, bpv, bit_pointer, pointer);
    (got != want).then(|| {
        format!(
            "field pointer SKSV={} C/D={} BPV={} byte {pointer} bit {bit_pointer}, want byte \
             {byte} bit {bit} with SKSV, C/D and BPV set",
            u8::from(sksv),
            u8::from(cd),
            u8::from(bpv)
        )
    })
}

/// The CDB of `entry` with only its opcode, service action and `byte`.`bit` set.
fn cdb_with_bit(entry: &CommandEntry, byte: usize, bit: u8) -> Vec<u8> {
    let mut cdb = vec![0u8; entry.cdb_len()];
    cdb[0] = entry.opcode;
    if let Some(sa) = entry.service_action {
        cdb[1] = sa;
    }
    cdb[byte] |= 1 << bit;
    cdb
}

/// The (byte, bit) pairs of `entry`'s CDB that are outside its usage mask.
fn unused_bits(entry: &CommandEntry) -> Vec<(usize, u8)> {
    let mut bits = Vec::new();
    for (byte, &mask) in entry.usage.iter().enumerate().skip(1) {
        for bit in 0..8u8 {
            let service_action_bit = entry.service_action.is_some() && byte == 1 && bit < 5;
            if mask & (1 << bit) == 0 && !service_action_bit {
                bits.push((byte, bit));
            }
        }
    }
    bits
}

#[test]
fn every_bit_outside_the_usage_mask_is_invalid_field_in_cdb_pointing_at_it() {
    let device = Device::new();
    let mut checked = 0;
    let mut wrong: Vec<String> = Vec::new();
    for entry in table::entries() {
        let mut wrong_here = 0;
        for (byte, bit) in unused_bits(entry) {
            let cdb = cdb_with_bit(entry, byte, bit);
            checked += 1;
            if let Some(why) = judge(&device.run(&cdb), byte, bit) {
                wrong_here += 1;
                wrong.push(format!(
                    "{} (CDB {cdb:02x?}) byte {byte} bit {bit}: {why}",
                    entry.name
                ));
            }
        }
        println!(
            "{:<48} {:>3} reserved bits, {wrong_here} wrong",
            entry.name,
            unused_bits(entry).len()
        );
    }
    println!(
        "{checked} reserved CDB bits of {} commands checked",
        table::entries().count()
    );
    assert!(
        checked > 0,
        "the command table has no reserved bits to check"
    );
    assert!(
        wrong.is_empty(),
        "{} of {checked} reserved CDB bits are not reported as INVALID FIELD IN CDB at \
         their byte and bit:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

#[test]
fn the_field_pointer_reader_understands_both_sense_formats() {
    let mut fixed = vec![0u8; 18];
    fixed[0] = 0x70;
    fixed[2] = 0x05;
    fixed[7] = 10;
    fixed[12] = 0x24;
    fixed[15] = 0xC8 | 3;
    fixed[17] = 9;
    assert_eq!(
        judge(
            &Outcome {
                status: Some(ScsiStatus::CheckCondition),
                sense: fixed
            },
            9,
            3
        ),
        None
    );
    let descriptor = vec![
        0x72,
        0x05,
        0x24,
        0x00,
        0,
        0,
        0,
        8,
        0x02,
        0x06,
        0,
        0,
        0xC8 | 1,
        0,
        2,
        0,
    ];
    let outcome = Outcome {
        status: Some(ScsiStatus::CheckCondition),
        sense: descriptor,
    };
    assert_eq!(judge(&outcome, 2, 1), None);
    assert!(judge(&outcome, 2, 2).is_some_and(|w| w.contains("bit 1")));
}

/// What a zero transfer length means for a command.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Zero {
    /// Nothing is transferred; not an error.
    Nothing,
    /// Through the last block of the LUN (WRITE SAME, PRE-FETCH, SYNCHRONIZE CACHE).
    ToEnd,
    /// 256 blocks (READ(6), WRITE(6)).
    Blocks256,
}

/// A block command whose LBA and length the range table varies.
struct RangeCase {
    name: &'static str,
    /// The CDB for `lba` and `blocks` (callers keep them within the fields' widths).
    cdb: fn(u64, u64) -> Vec<u8>,
    /// Data-out bytes the command moves for `blocks`.
    data_out: fn(u64) -> u64,
    zero: Zero,
    /// Whether LBA fields are 64 bits wide (the overflow case needs them).
    wide: bool,
}

fn cdb10(op: u8, byte1: u8) -> impl Fn(u64, u64) -> Vec<u8> {
    move |lba, n| {
        let mut c = vec![op, byte1, 0, 0, 0, 0, 0, 0, 0, 0];
        c[2..6].copy_from_slice(&(lba as u32).to_be_bytes());
        c[7..9].copy_from_slice(&(n as u16).to_be_bytes());
        c
    }
}

fn cdb12(op: u8) -> impl Fn(u64, u64) -> Vec<u8> {
    move |lba, n| {
        let mut c = vec![op, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        c[2..6].copy_from_slice(&(lba as u32).to_be_bytes());
        c[6..10].copy_from_slice(&(n as u32).to_be_bytes());
        c
    }
}

fn cdb16(op: u8, byte1: u8) -> impl Fn(u64, u64) -> Vec<u8> {
    move |lba, n| {
        let mut c = vec![0u8; 16];
        c[0] = op;
        c[1] = byte1;
        c[2..10].copy_from_slice(&lba.to_be_bytes());
        c[10..14].copy_from_slice(&(n as u32).to_be_bytes());
        c
    }
}

fn none(_: u64) -> u64 {
    0
}

fn blocks(n: u64) -> u64 {
    n * 512
}

fn one_block(_: u64) -> u64 {
    512
}

fn range_cases() -> Vec<RangeCase> {
    macro_rules! case {
        ($name:expr, $cdb:expr, $data:expr, $zero:expr, $wide:expr) => {
            RangeCase {
                name: $name,
                cdb: |l, n| ($cdb)(l, n),
                data_out: $data,
                zero: $zero,
                wide: $wide,
            }
        };
    }
    vec![
        case!(
            "READ(6)",
            |l: u64, n: u64| vec![
                0x08,
                (l >> 16) as u8 & 0x1F,
                (l >> 8) as u8,
                l as u8,
                n as u8,
                0
            ],
            none,
            Zero::Blocks256,
            false
        ),
        case!(
            "WRITE(6)",
            |l: u64, n: u64| vec![
                0x0A,
                (l >> 16) as u8 & 0x1F,
                (l >> 8) as u8,
                l as u8,
                n as u8,
                0
            ],
            |n| if n == 0 { 256 * 512 } else { n * 512 },
            Zero::Blocks256,
            false
        ),
        case!("READ(10)", cdb10(0x28, 0), none, Zero::Nothing, false),
        case!("READ(12)", cdb12(0xA8), none, Zero::Nothing, false),
        case!("READ(16)", cdb16(0x88, 0), none, Zero::Nothing, true),
        case!("WRITE(10)", cdb10(0x2A, 0), blocks, Zero::Nothing, false),
        case!("WRITE(12)", cdb12(0xAA), blocks, Zero::Nothing, false),
        case!("WRITE(16)", cdb16(0x8A, 0), blocks, Zero::Nothing, true),
        case!("VERIFY(10)", cdb10(0x2F, 0), none, Zero::Nothing, false),
        case!("VERIFY(12)", cdb12(0xAF), none, Zero::Nothing, false),
        case!("VERIFY(16)", cdb16(0x8F, 0), none, Zero::Nothing, true),
        case!(
            "WRITE AND VERIFY(10)",
            cdb10(0x2E, 0),
            blocks,
            Zero::Nothing,
            false
        ),
        case!(
            "WRITE AND VERIFY(12)",
            cdb12(0xAE),
            blocks,
            Zero::Nothing,
            false
        ),
        case!(
            "WRITE AND VERIFY(16)",
            cdb16(0x8E, 0),
            blocks,
            Zero::Nothing,
            true
        ),
        case!("ORWRITE(16)", cdb16(0x8B, 0), blocks, Zero::Nothing, true),
        case!(
            "COMPARE AND WRITE",
            |l: u64, n: u64| {
                let mut c = cdb16(0x89, 0)(l, 0);
                c[13] = n as u8;
                c
            },
            |n| 2 * n * 512,
            Zero::Nothing,
            true
        ),
        case!(
            "WRITE ATOMIC(16)",
            |l: u64, n: u64| {
                let mut c = cdb16(0x9C, 0)(l, 0);
                c[12..14].copy_from_slice(&(n as u16).to_be_bytes());
                c
            },
            blocks,
            Zero::Nothing,
            true
        ),
        case!(
            "SYNCHRONIZE CACHE(10)",
            cdb10(0x35, 0),
            none,
            Zero::ToEnd,
            false
        ),
        case!(
            "SYNCHRONIZE CACHE(16)",
            cdb16(0x91, 0),
            none,
            Zero::ToEnd,
            true
        ),
        case!("PRE-FETCH(10)", cdb10(0x34, 0), none, Zero::ToEnd, false),
        case!("PRE-FETCH(16)", cdb16(0x90, 0), none, Zero::ToEnd, true),
        case!(
            "WRITE SAME(10)",
            cdb10(0x41, 0),
            one_block,
            Zero::ToEnd,
            false
        ),
        case!(
            "WRITE SAME(16)",
            cdb16(0x93, 0),
            one_block,
            Zero::ToEnd,
            true
        ),
    ]
}

/// (status, sense key, ASC, ASCQ) of an outcome.
fn answer(o: &Outcome) -> (Option<ScsiStatus>, u8, u8, u8) {
    let f = field_sense(&o.sense);
    if o.sense.is_empty() {
        (o.status, 0, 0, 0)
    } else {
        (o.status, f.key, f.asc, f.ascq)
    }
}

const LBA_OUT_OF_RANGE: (Option<ScsiStatus>, u8, u8, u8) =
    (Some(ScsiStatus::CheckCondition), 0x05, 0x21, 0x00);

fn is_good(o: &Outcome) -> bool {
    matches!(
        o.status,
        Some(ScsiStatus::Good) | Some(ScsiStatus::ConditionMet)
    ) && o.sense.is_empty()
}

#[test]
fn transfers_past_the_end_overflowing_or_of_zero_length_get_the_sbc_answer() {
    let d = Device::new();
    let mut problems = Vec::new();
    for c in range_cases() {
        let run = |lba: u64, n: u64| d.run_with(&(c.cdb)(lba, n), (c.data_out)(n) as u32);
        let mut expect = |what: &str, o: Outcome, good: bool| {
            let ok = if good {
                is_good(&o)
            } else {
                answer(&o) == LBA_OUT_OF_RANGE
            };
            if !ok {
                problems.push(format!(
                    "{}: {what}: got {:?}, expected {}",
                    c.name,
                    answer(&o),
                    if good { "GOOD" } else { "LBA OUT OF RANGE" }
                ));
            }
        };
        expect("first block past the end", run(BLOCKS, 1), false);
        expect("last block plus one", run(BLOCKS - 1, 2), false);
        expect("the last block", run(BLOCKS - 1, 1), true);
        if c.wide {
            expect("LBA + length past 2^64", run(u64::MAX, 2), false);
        } else {
            expect(
                "the highest LBA the CDB can hold",
                run(
                    u64::from(u32::MAX)
                        & if c.name.ends_with("(6)") {
                            0x1F_FFFF
                        } else {
                            u64::MAX
                        },
                    1,
                ),
                false,
            );
        }
        match c.zero {
            Zero::Nothing => {
                expect("zero length at LBA 0", run(0, 0), true);
                expect("zero length at the last block", run(BLOCKS - 1, 0), true);
            }
            Zero::ToEnd => {
                expect(
                    "zero length: through the end, from the last block",
                    run(BLOCKS - 1, 0),
                    true,
                );
                expect("zero length from past the end", run(BLOCKS, 0), false);
            }
            Zero::Blocks256 => {
                expect("zero length is 256 blocks", run(BLOCKS - 256, 0), true);
                expect(
                    "zero length is 256 blocks: past the end",
                    run(BLOCKS - 255, 0),
                    false,
                );
            }
        }
    }
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
}
