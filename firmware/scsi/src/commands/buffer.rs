//! READ BUFFER (10, 16) and WRITE BUFFER (SPC-5 §6.18, §6.19, §6.49): the data, descriptor,
//! echo buffer and echo buffer descriptor modes over a per-LUN buffer. Download modes are not
//! supported: microcode arrives as a signed firmware image, not through a LUN.

use super::{Ctx, Plan};
use crate::backend::BlockBackend;
use crate::cdb::{be24, be32, be64, byte};
use crate::lun::Lun;
use crate::nexus::NexusId;
use crate::sense::{asc, Sense, SenseKey};
use crate::status::CommandResult;
use crate::table::{AccessClass as A, CommandEntry as E, Flags as F, Kind};
use alloc::collections::BTreeMap;
use alloc::vec::Vec;

// MODE SPECIFIC (byte 1 bits 7:5) stays outside the usage masks: no supported mode defines it.
pub(crate) const ENTRIES: &[E] = &[
    E::new(
        0x3B,
        "WRITE BUFFER",
        Kind::WriteBuffer,
        F::OK_ON_STANDBY.union(F::DATA_OUT).union(F::OK_ON_NO_MEDIA),
        A::Free,
        &[0x3B, 0x1F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x07],
    ),
    E::new(
        0x3C,
        "READ BUFFER(10)",
        Kind::ReadBuffer10,
        F::OK_ON_STANDBY
            .union(F::DATA_IN)
            .union(F::ALLOW_ON_PR_WRESV)
            .union(F::OK_ON_NO_MEDIA),
        A::Free,
        &[0x3C, 0x1F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x07],
    ),
    E::new(
        0x9B,
        "READ BUFFER(16)",
        Kind::ReadBuffer16,
        F::OK_ON_STANDBY.union(F::DATA_IN).union(F::OK_ON_NO_MEDIA),
        A::Free,
        &[
            0x9B, 0x1F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
            0xFF, 0x07,
        ],
    ),
];

/// MODE field values (SPC-5 tables 236 and 348).
const DATA: u8 = 0x02;
const DESCRIPTOR: u8 = 0x03;
const ECHO: u8 = 0x0A;
const ECHO_DESCRIPTOR: u8 = 0x0B;

/// Capacity of the data buffer (CTL's `CTL_WRITE_BUFFER_SIZE`).
const BUFFER_SIZE: usize = 256 << 10;
/// Capacity of each nexus's echo buffer: SPC-5's largest (the descriptor field is 13 bits
/// and the capacity a multiple of 4).
const ECHO_CAPACITY: usize = 4096;

/// COMMAND SEQUENCE ERROR (2Ch/00h): an echo buffer read with no echo buffer write before it.
const COMMAND_SEQUENCE_ERROR: Sense = Sense::new(SenseKey::IllegalRequest, 0x2C, 0x00);

/// A LUN's buffers.
#[derive(Debug, Default)]
pub(crate) struct BufferState {
    /// The data buffer, allocated by the first write: until then it reads as zeros.
    data: Option<Vec<u8>>,
    /// Echo buffers are per I_T nexus (SPC-5 §6.49.9): what one nexus wrote, only it reads.
    echo: BTreeMap<NexusId, Vec<u8>>,
}

/// The fields of a READ BUFFER or WRITE BUFFER CDB, with where each one sits for sense.
struct Request {
    mode: u8,
    buffer_id: u8,
    offset: u64,
    /// Allocation length (reads) or parameter list length (writes).
    length: u64,
    id_byte: u16,
    offset_byte: u16,
    length_byte: u16,
}

fn decode(kind: Kind, cdb: &[u8]) -> Request {
    let mode = byte(cdb, 1) & 0x1F;
    match kind {
        Kind::ReadBuffer16 => Request {
            mode,
            buffer_id: byte(cdb, 14),
            offset: be64(cdb, 2),
            length: u64::from(be32(cdb, 10)),
            id_byte: 14,
            offset_byte: 2,
            length_byte: 10,
        },
        _ => Request {
            mode,
            buffer_id: byte(cdb, 2),
            offset: u64::from(be24(cdb, 3)),
            length: u64::from(be24(cdb, 6)),
            id_byte: 2,
            offset_byte: 3,
            length_byte: 6,
        },
    }
}

/// Bytes a data-mode transfer can move from `offset`, or the field that is wrong.
fn data_room(r: &Request) -> Result<u64, Sense> {
    // Only buffer 0 exists.
    if r.buffer_id != 0 {
        return Err(Sense::invalid_field_in_cdb(r.id_byte, None));
    }
    (BUFFER_SIZE as u64)
        .checked_sub(r.offset)
        .ok_or(Sense::invalid_field_in_cdb(r.offset_byte, None))
}

const INVALID_MODE: Sense = Sense::invalid_field_in_cdb(1, Some(4));

pub(crate) fn precheck<B: BlockBackend>(
    kind: Kind,
    _lun: Option<&Lun<B>>,
    cdb: &[u8],
) -> Result<Plan, Sense> {
    let r = decode(kind, cdb);
    let mut plan = Plan::NONE;
    if kind == Kind::WriteBuffer {
        let limit = match r.mode {
            DATA => data_room(&r)?,
            // The buffer ID and offset fields mean nothing to the echo buffer.
            ECHO => ECHO_CAPACITY as u64,
            _ => return Err(INVALID_MODE),
        };
        if r.length > limit {
            return Err(Sense::invalid_field_in_cdb(r.length_byte, None));
        }
        plan.data_out_len = r.length as u32;
    } else {
        let available = match r.mode {
            // Reads are cut to the allocation length: reading past the end of the buffer
            // just moves less, but an offset beyond it is wrong.
            DATA => data_room(&r)?,
            DESCRIPTOR => {
                if r.offset != 0 {
                    return Err(Sense::invalid_field_in_cdb(r.offset_byte, None));
                }
                4
            }
            ECHO => ECHO_CAPACITY as u64,
            ECHO_DESCRIPTOR => 4,
            _ => return Err(INVALID_MODE),
        };
        plan.data_in_len = r.length.min(available) as u32;
    }
    Ok(plan)
}

pub(crate) async fn execute<B: BlockBackend>(
    ctx: &Ctx<'_, B>,
    kind: Kind,
    data_out: Vec<u8>,
) -> CommandResult {
    let Some(lun) = ctx.lun else {
        ctx.device.buffers.give(data_out);
        return ctx.fail(&asc::LOGICAL_UNIT_NOT_SUPPORTED);
    };
    let r = decode(kind, ctx.cdb);
    if kind == Kind::WriteBuffer {
        write_buffer(ctx, lun, &r, data_out)
    } else {
        ctx.device.buffers.give(data_out);
        read_buffer(ctx, lun, &r)
    }
}

fn write_buffer<B: BlockBackend>(
    ctx: &Ctx<'_, B>,
    lun: &Lun<B>,
    r: &Request,
    mut data: Vec<u8>,
) -> CommandResult {
    // The initiator may have sent less than the CDB announced: what came is what is stored.
    data.truncate(r.length as usize);
    let mut state = lun.buffer.borrow_mut();
    match r.mode {
        // Nothing to store: the buffer is not allocated for it.
        DATA if data.is_empty() => ctx.device.buffers.give(data),
        DATA => {
            let buffer = state
                .data
                .get_or_insert_with(|| alloc::vec![0; BUFFER_SIZE]);
            let start = r.offset as usize;
            if let Some(dst) = buffer.get_mut(start..start + data.len()) {
                dst.copy_from_slice(&data);
            }
            ctx.device.buffers.give(data);
        }
        _ => {
            // Nexuses that logged out never read theirs back: keep the map to live ones.
            state.echo.retain(|n, _| ctx.device.nexus(*n).is_some());
            if let Some(old) = state.echo.insert(ctx.nexus, data) {
                ctx.device.buffers.give(old);
            }
        }
    }
    CommandResult::good(Vec::new())
}

fn read_buffer<B: BlockBackend>(ctx: &Ctx<'_, B>, lun: &Lun<B>, r: &Request) -> CommandResult {
    let allocation_length = usize::try_from(r.length).unwrap_or(usize::MAX);
    let state = lun.buffer.borrow();
    let data = match r.mode {
        DATA => {
            let start = r.offset as usize;
            let end = start.saturating_add(allocation_length).min(BUFFER_SIZE);
            match &state.data {
                Some(buffer) => buffer.get(start..end).unwrap_or(&[]).to_vec(),
                None => alloc::vec![0; end.saturating_sub(start)],
            }
        }
        DESCRIPTOR => {
            // OFFSET BOUNDARY 0 (any byte offset) and the BUFFER CAPACITY; a buffer that does
            // not exist is described by zeros.
            let mut d = alloc::vec![0u8; 4];
            if r.buffer_id == 0 {
                d[1..4].copy_from_slice(&(BUFFER_SIZE as u32).to_be_bytes()[1..4]);
            }
            d
        }
        ECHO => match state.echo.get(&ctx.nexus) {
            Some(echo) => echo.clone(),
            None => return ctx.fail(&COMMAND_SEQUENCE_ERROR),
        },
        // EBOS 0: a nexus's echo buffer is never overwritten by another.
        _ => {
            let capacity = (ECHO_CAPACITY as u16).to_be_bytes();
            alloc::vec![0, 0, capacity[0] & 0x1F, capacity[1]]
        }
    };
    ctx.data_in(data, allocation_length)
}

#[cfg(test)]
mod tests {
    use super::super::sanitize::mem::MemFixture;
    use super::super::test_support::*;
    use super::*;
    use crate::status::ScsiStatus;

    fn write_buffer(mode: u8, id: u8, offset: u32, length: u32) -> [u8; 10] {
        let o = offset.to_be_bytes();
        let l = length.to_be_bytes();
        [0x3B, mode, id, o[1], o[2], o[3], l[1], l[2], l[3], 0]
    }

    fn read_buffer10(mode: u8, id: u8, offset: u32, length: u32) -> [u8; 10] {
        let mut cdb = write_buffer(mode, id, offset, length);
        cdb[0] = 0x3C;
        cdb
    }

    fn read_buffer16(mode: u8, id: u8, offset: u64, length: u32) -> [u8; 16] {
        let mut cdb = [0u8; 16];
        cdb[0] = 0x9B;
        cdb[1] = mode;
        cdb[2..10].copy_from_slice(&offset.to_be_bytes());
        cdb[10..14].copy_from_slice(&length.to_be_bytes());
        cdb[14] = id;
        cdb
    }

    #[test]
    fn data_written_is_read_back_at_its_offset() {
        let f = MemFixture::new(false);
        // Before any write the buffer reads as zeros.
        assert_eq!(good(f.run(&read_buffer10(DATA, 0, 10, 4))), [0; 4]);
        good(f.run_out(&write_buffer(DATA, 0, 100, 4), &[1, 2, 3, 4]));
        assert_eq!(
            good(f.run(&read_buffer10(DATA, 0, 99, 6))),
            [0, 1, 2, 3, 4, 0]
        );
        assert_eq!(good(f.run(&read_buffer16(DATA, 0, 101, 2))), [2, 3]);
        let end = BUFFER_SIZE as u32;
        good(f.run_out(&write_buffer(DATA, 0, end - 2, 2), &[9, 9]));
        // Reads stop at the end of the buffer.
        assert_eq!(good(f.run(&read_buffer10(DATA, 0, end - 2, 100))), [9, 9]);
        assert!(good(f.run(&read_buffer10(DATA, 0, end, 100))).is_empty());
    }

    #[test]
    fn offsets_lengths_and_buffer_ids_are_checked() {
        let f = MemFixture::new(false);
        let end = BUFFER_SIZE as u32;
        assert_invalid_field(&f.run_out(&write_buffer(DATA, 0, end - 1, 2), &[0, 0]), 6);
        assert_invalid_field(&f.run_out(&write_buffer(DATA, 0, end + 1, 0), &[]), 3);
        assert_invalid_field(&f.run_out(&write_buffer(DATA, 1, 0, 1), &[0]), 2);
        assert_invalid_field(&f.run(&read_buffer10(DATA, 0, end + 1, 1)), 3);
        assert_invalid_field(&f.run(&read_buffer10(DATA, 2, 0, 1)), 2);
        assert_invalid_field(&f.run(&read_buffer16(DATA, 0, u64::MAX, 1)), 2);
        assert_invalid_field(&f.run(&read_buffer16(DATA, 3, 0, 1)), 14);
        assert_invalid_field(&f.run(&read_buffer10(DESCRIPTOR, 0, 1, 4)), 3);
        let big = alloc::vec![0u8; ECHO_CAPACITY + 1];
        let cdb = write_buffer(ECHO, 0, 0, big.len() as u32);
        assert_invalid_field(&f.run_out(&cdb, &big), 6);
    }

    #[test]
    fn unsupported_modes_and_mode_specific_bits_are_refused() {
        let f = MemFixture::new(false);
        for mode in [0x00, 0x01, 0x04, 0x05, 0x07, 0x0E, 0x0F, 0x1C, 0x1F] {
            assert_invalid_field(&f.run(&read_buffer10(mode, 0, 0, 4)), 1);
            assert_invalid_field(&f.run(&write_buffer(mode, 0, 0, 0)), 1);
        }
        assert_invalid_field(&f.run(&write_buffer(DESCRIPTOR, 0, 0, 0)), 1);
        assert_invalid_field(&f.run(&write_buffer(ECHO_DESCRIPTOR, 0, 0, 0)), 1);
        assert_invalid_field(&f.run(&write_buffer(0x20 | DATA, 0, 0, 0)), 1);
        assert_invalid_field(&f.run(&read_buffer10(0x80 | DATA, 0, 0, 0)), 1);
    }

    #[test]
    fn descriptors_give_the_capacities() {
        let f = MemFixture::new(false);
        assert_eq!(
            good(f.run(&read_buffer10(DESCRIPTOR, 0, 0, 4))),
            [0, 0x04, 0, 0]
        );
        assert_eq!(
            good(f.run(&read_buffer16(DESCRIPTOR, 0, 0, 4))),
            [0, 0x04, 0, 0]
        );
        assert_eq!(good(f.run(&read_buffer10(DESCRIPTOR, 5, 0, 4))), [0; 4]);
        assert_eq!(good(f.run(&read_buffer10(DESCRIPTOR, 0, 0, 2))), [0, 0x04]);
        assert_eq!(
            good(f.run(&read_buffer10(ECHO_DESCRIPTOR, 0, 0, 4))),
            [0, 0, 0x10, 0]
        );
    }

    #[test]
    fn the_echo_buffer_belongs_to_its_nexus() {
        let f = MemFixture::new(false);
        let r = f.run(&read_buffer10(ECHO, 0, 0, 64));
        assert_eq!(r.scsi_status(), ScsiStatus::CheckCondition);
        assert_eq!(sense_code(&r.sense), (0x05, 0x2C, 0x00));
        good(f.run_out(&write_buffer(ECHO, 7, 99, 5), &[5, 4, 3, 2, 1]));
        assert_eq!(good(f.run(&read_buffer10(ECHO, 0, 0, 64))), [5, 4, 3, 2, 1]);
        assert_eq!(good(f.run(&read_buffer16(ECHO, 0, 0, 2))), [5, 4]);
        let other = f
            .device
            .login(
                PORT,
                crate::nexus::InitiatorPort {
                    name: "iqn.2024-01.org.test:other".into(),
                    isid: [1; 6],
                },
            )
            .unwrap();
        let lun = f.lun();
        assert!(!lun.buffer.borrow().echo.contains_key(&other));
        // A logged-out nexus's echo buffer goes with the next echo write.
        lun.buffer.borrow_mut().echo.insert(other, alloc::vec![1]);
        f.device.logout(other);
        good(f.run_out(&write_buffer(ECHO, 0, 0, 1), &[8]));
        assert_eq!(lun.buffer.borrow().echo.len(), 1);
    }

    #[test]
    fn reserved_bits_are_refused() {
        let f = MemFixture::new(false);
        let mut cdb = read_buffer10(DATA, 0, 0, 4);
        cdb[9] = 0x08;
        assert_invalid_field(&f.run(&cdb), 9);
        let mut cdb = read_buffer16(DATA, 0, 0, 4);
        cdb[1] |= 0x40;
        assert_invalid_field(&f.run(&cdb), 1);
    }
}
