//! Sparse in-memory LUN storage: memory is taken only for chunks that hold written data, and
//! given back when they are deallocated; a chunk holding data is what "mapped" means here.
//!
//! Copies run inline on the caller's thread: a memcpy is cheaper than any handoff to another
//! thread, so the futures returned here are ready on their first poll.

use core::cell::{Cell, RefCell};

use scsi::backend::{BackendError, BackendErrorKind, BlockBackend, Extent, Geometry, IoResult};

/// Bytes per allocation unit. 64 KiB keeps a stray 4 KiB write from pinning much memory while
/// keeping the tables that point at chunks small.
const CHUNK_SHIFT: u32 = 16;
/// Size in bytes of one chunk, the unit in which the ramdisk takes memory.
pub const CHUNK_SIZE: usize = 1 << CHUNK_SHIFT;
/// Chunks per directory. One directory is 32 KiB of pointers and covers 256 MiB of the medium,
/// so tables cost at most about 0.01 % of the data they describe, and nothing for areas never
/// written: a flat table for a multi-terabyte ramdisk would cost hundreds of MiB up front.
const DIR_SHIFT: u32 = 12;
const DIR_LEN: usize = 1 << DIR_SHIFT;
/// Bytes of the medium one directory covers.
const DIR_SPAN_SHIFT: u32 = DIR_SHIFT + CHUNK_SHIFT;

type Chunk = Box<[u8; CHUNK_SIZE]>;
type Directory = Box<[Option<Chunk>]>;

/// Why a chunk or directory could not be allocated.
struct OutOfMemory;

/// Two-level radix table: directory index, then chunk index within the directory.
struct Chunks {
    /// Grows only up to the highest directory written, so a fresh ramdisk owns nothing.
    dirs: Vec<Option<Directory>>,
    /// Number of chunks holding data.
    allocated: usize,
}

impl Chunks {
    fn split(index: u64) -> (usize, usize) {
        // A directory index beyond usize cannot exist in `dirs`; saturating keeps it absent.
        let dir = usize::try_from(index >> DIR_SHIFT).unwrap_or(usize::MAX);
        // Masked to DIR_LEN - 1, so it always fits.
        let slot = (index as usize) & (DIR_LEN - 1);
        (dir, slot)
    }

    fn get(&self, index: u64) -> Option<&[u8; CHUNK_SIZE]> {
        let (dir, slot) = Self::split(index);
        self.dirs.get(dir)?.as_ref()?[slot].as_deref()
    }

    /// Whether directory `dir` exists, i.e. some chunk in its span may hold data.
    fn has_directory(&self, dir: usize) -> bool {
        self.dirs.get(dir).is_some_and(Option::is_some)
    }

    /// Forgets bytes `within..within + len` of chunk `index`. The chunk's memory goes back
    /// when nothing else in it holds data; otherwise the range is zeroed.
    fn deallocate(&mut self, index: u64, within: usize, len: usize) {
        let (dir, slot) = Self::split(index);
        let Some(directory) = self.dirs.get_mut(dir).and_then(|d| d.as_mut()) else {
            return;
        };
        let Some(chunk) = directory[slot].as_mut() else {
            return;
        };
        if len < CHUNK_SIZE {
            chunk[within..within + len].fill(0);
            if !is_zero(&chunk[..]) {
                return;
            }
        }
        directory[slot] = None;
        self.allocated -= 1;
    }

    /// Drops directory `dir` when none of its chunks holds data.
    fn trim_directory(&mut self, dir: usize) {
        if let Some(slot) = self.dirs.get_mut(dir) {
            if slot.as_ref().is_some_and(|d| d.iter().all(Option::is_none)) {
                *slot = None;
            }
        }
    }

    /// Writes `src` at byte `within` of chunk `index`, allocating the chunk only for data that
    /// is not all zeros (reads of an absent chunk already return zeros).
    fn write(&mut self, index: u64, within: usize, src: &[u8]) -> Result<(), OutOfMemory> {
        let (dir, slot) = Self::split(index);
        let existing = self
            .dirs
            .get_mut(dir)
            .and_then(|d| d.as_mut())
            .and_then(|d| d[slot].as_mut());
        if let Some(chunk) = existing {
            if src.len() == CHUNK_SIZE && is_zero(src) {
                // A whole chunk overwritten with zeros gives its memory back.
                if let Some(d) = self.dirs.get_mut(dir).and_then(|d| d.as_mut()) {
                    d[slot] = None;
                    self.allocated -= 1;
                }
            } else {
                chunk[within..within + src.len()].copy_from_slice(src);
            }
            return Ok(());
        }
        if is_zero(src) {
            return Ok(());
        }
        let mut chunk = new_chunk()?;
        chunk[within..within + src.len()].copy_from_slice(src);
        if self.dirs.len() <= dir {
            self.dirs
                .try_reserve(dir + 1 - self.dirs.len())
                .map_err(|_| OutOfMemory)?;
            self.dirs.resize_with(dir + 1, || None);
        }
        let directory = match &mut self.dirs[dir] {
            Some(d) => d,
            empty => empty.insert(new_directory()?),
        };
        directory[slot] = Some(chunk);
        self.allocated += 1;
        Ok(())
    }
}

// Allocation goes through try_reserve so that running out of memory becomes a NO SPACE error
// for one write rather than an abort of the whole controller.
fn new_chunk() -> Result<Chunk, OutOfMemory> {
    let mut bytes = Vec::new();
    bytes
        .try_reserve_exact(CHUNK_SIZE)
        .map_err(|_| OutOfMemory)?;
    bytes.resize(CHUNK_SIZE, 0u8);
    bytes.into_boxed_slice().try_into().map_err(|_| OutOfMemory)
}

fn new_directory() -> Result<Directory, OutOfMemory> {
    let mut slots = Vec::new();
    slots.try_reserve_exact(DIR_LEN).map_err(|_| OutOfMemory)?;
    slots.resize_with(DIR_LEN, || None);
    Ok(slots.into_boxed_slice())
}

/// The first byte of the directory after the one covering byte `pos`.
fn next_directory(pos: u64) -> u64 {
    ((pos >> DIR_SPAN_SHIFT) + 1)
        .checked_shl(DIR_SPAN_SHIFT)
        .unwrap_or(u64::MAX)
}

/// Whether every byte is zero; compares 64-byte blocks so the compiler can vectorise while
/// typical data still stops at its first block.
fn is_zero(bytes: &[u8]) -> bool {
    let mut blocks = bytes.chunks_exact(64);
    for block in &mut blocks {
        if block.iter().fold(0u8, |acc, &b| acc | b) != 0 {
            return false;
        }
    }
    blocks.remainder().iter().all(|&b| b == 0)
}

/// A LUN held in memory. Reads of never-written areas return zeros.
pub struct RamDisk {
    /// Both change when the LUN is resized.
    geometry: Cell<Geometry>,
    capacity: Cell<u64>,
    read_only: Cell<bool>,
    chunks: RefCell<Chunks>,
}

impl RamDisk {
    /// A zero-filled ramdisk of `blocks` logical blocks of `block_size` bytes; takes no memory
    /// for data until written.
    pub fn new(block_size: u32, blocks: u64) -> Self {
        // Clamp so that capacity in bytes stays representable.
        let blocks = blocks.min(u64::MAX / u64::from(block_size.max(1)));
        RamDisk {
            geometry: Cell::new(Geometry { block_size, blocks }),
            capacity: Cell::new(blocks * u64::from(block_size)),
            read_only: Cell::new(false),
            chunks: RefCell::new(Chunks {
                dirs: Vec::new(),
                allocated: 0,
            }),
        }
    }

    /// Refuses every write from now on when `read_only` is set.
    pub fn with_read_only(self, read_only: bool) -> Self {
        self.read_only.set(read_only);
        self
    }

    /// Size of the medium in bytes.
    pub fn capacity(&self) -> u64 {
        self.capacity.get()
    }

    /// Changes the size to `bytes`, in whole blocks (at least one). Growing takes no memory;
    /// shrinking gives back the memory of the data beyond the new end, so that growing again
    /// reads zeros there rather than what was written before.
    pub fn resize(&self, bytes: u64) -> IoResult {
        let block_size = self.geometry.get().block_size;
        let blocks = bytes / u64::from(block_size.max(1));
        if blocks == 0 {
            return Err(BackendError::new(BackendErrorKind::Unsupported));
        }
        let capacity = blocks * u64::from(block_size);
        let old = self.capacity.get();
        if capacity < old {
            self.forget(capacity, old);
        }
        self.capacity.set(capacity);
        self.geometry.set(Geometry { block_size, blocks });
        Ok(())
    }

    /// Refuses every write from now on when `read_only` is set; accepts them again when not.
    pub fn set_read_only(&self, read_only: bool) {
        self.read_only.set(read_only);
    }

    pub fn is_read_only(&self) -> bool {
        self.read_only.get()
    }

    /// Bytes of memory holding data (whole chunks), excluding the small chunk tables.
    pub fn allocated_bytes(&self) -> u64 {
        self.chunks.borrow().allocated as u64 * CHUNK_SIZE as u64
    }

    fn in_bounds(&self, offset: u64, len: usize) -> bool {
        offset
            .checked_add(len as u64)
            .is_some_and(|end| end <= self.capacity.get())
    }

    /// Deallocates `len` bytes at `offset`: whole chunks give their memory back, partly
    /// covered ones are zeroed in that part (and freed when that leaves them all zeros).
    pub fn unmap_at(&self, offset: u64, len: u64) -> IoResult {
        let end = offset
            .checked_add(len)
            .filter(|&end| end <= self.capacity.get() && !self.read_only.get());
        let Some(end) = end else {
            return Err(BackendError::new(BackendErrorKind::Write));
        };
        self.forget(offset, end);
        Ok(())
    }

    /// Deallocates bytes `offset..end`, which the caller has checked.
    fn forget(&self, offset: u64, end: u64) {
        let mut chunks = self.chunks.borrow_mut();
        let mut touched = None;
        let mut pos = offset;
        while pos < end {
            let index = pos >> CHUNK_SHIFT;
            let (dir, _) = Chunks::split(index);
            if !chunks.has_directory(dir) {
                // Nothing was ever written in this directory's span.
                pos = next_directory(pos).min(end);
                continue;
            }
            if touched != Some(dir) {
                if let Some(previous) = touched.replace(dir) {
                    chunks.trim_directory(previous);
                }
            }
            let within = (pos as usize) & (CHUNK_SIZE - 1);
            let n = (CHUNK_SIZE - within).min(usize::try_from(end - pos).unwrap_or(usize::MAX));
            chunks.deallocate(index, within, n);
            pos += n as u64;
        }
        if let Some(dir) = touched {
            chunks.trim_directory(dir);
        }
    }

    /// Whether the chunk holding byte `offset` holds data, and how far (at most `len` bytes)
    /// chunks of that status run.
    pub fn extent_at(&self, offset: u64, len: u64) -> Result<Extent, BackendError> {
        let end = offset
            .checked_add(len)
            .filter(|&end| end <= self.capacity.get());
        let Some(end) = end.filter(|_| len > 0) else {
            return Err(BackendError::new(BackendErrorKind::Read));
        };
        let chunks = self.chunks.borrow();
        let mapped = chunks.get(offset >> CHUNK_SHIFT).is_some();
        let mut pos = ((offset >> CHUNK_SHIFT) + 1) << CHUNK_SHIFT;
        while pos < end {
            let index = pos >> CHUNK_SHIFT;
            if !chunks.has_directory(Chunks::split(index).0) {
                if mapped {
                    break;
                }
                pos = next_directory(pos);
                continue;
            }
            if chunks.get(index).is_some() != mapped {
                break;
            }
            pos += CHUNK_SIZE as u64;
        }
        Ok(Extent {
            mapped,
            len: pos.min(end) - offset,
        })
    }

    /// Fills `buf` from byte `offset`.
    pub fn read_at(&self, offset: u64, buf: &mut [u8]) -> IoResult {
        if !self.in_bounds(offset, buf.len()) {
            return Err(BackendError::new(BackendErrorKind::Read));
        }
        let chunks = self.chunks.borrow();
        let mut done = 0;
        while done < buf.len() {
            let pos = offset + done as u64;
            let within = (pos as usize) & (CHUNK_SIZE - 1);
            let len = (CHUNK_SIZE - within).min(buf.len() - done);
            let dst = &mut buf[done..done + len];
            match chunks.get(pos >> CHUNK_SHIFT) {
                Some(chunk) => dst.copy_from_slice(&chunk[within..within + len]),
                None => dst.fill(0),
            }
            done += len;
        }
        Ok(())
    }

    /// Writes all of `data` at byte `offset`.
    pub fn write_at(&self, offset: u64, data: &[u8]) -> IoResult {
        if self.read_only.get() || !self.in_bounds(offset, data.len()) {
            return Err(BackendError::new(BackendErrorKind::Write));
        }
        let mut chunks = self.chunks.borrow_mut();
        let mut done = 0;
        while done < data.len() {
            let pos = offset + done as u64;
            let within = (pos as usize) & (CHUNK_SIZE - 1);
            let len = (CHUNK_SIZE - within).min(data.len() - done);
            chunks
                .write(pos >> CHUNK_SHIFT, within, &data[done..done + len])
                .map_err(|OutOfMemory| BackendError::new(BackendErrorKind::NoSpace))?;
            done += len;
        }
        Ok(())
    }
}

impl BlockBackend for RamDisk {
    fn geometry(&self) -> Geometry {
        self.geometry.get()
    }

    async fn read(&self, offset: u64, mut buf: Vec<u8>) -> (Vec<u8>, IoResult) {
        let result = self.read_at(offset, &mut buf);
        (buf, result)
    }

    // Memory is as durable as this medium gets, so FUA and flush have nothing to do.
    async fn write(&self, offset: u64, buf: Vec<u8>, _fua: bool) -> (Vec<u8>, IoResult) {
        let result = self.write_at(offset, &buf);
        (buf, result)
    }

    async fn flush(&self) -> IoResult {
        Ok(())
    }

    fn can_deallocate(&self) -> bool {
        !self.read_only.get()
    }

    async fn unmap(&self, offset: u64, len: u64) -> IoResult {
        self.unmap_at(offset, len)
    }

    async fn extent(&self, offset: u64, len: u64) -> Result<Extent, BackendError> {
        self.extent_at(offset, len)
    }

    fn allocated_bytes(&self) -> u64 {
        RamDisk::allocated_bytes(self)
    }

    fn resize(&self, bytes: u64) -> IoResult {
        RamDisk::resize(self, bytes)
    }

    fn set_read_only(&self, read_only: bool) -> IoResult {
        RamDisk::set_read_only(self, read_only);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block_on<F: core::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("test runtime")
            .block_on(f)
    }

    #[test]
    fn fresh_ramdisk_owns_no_data_and_reads_zeros() {
        let disk = RamDisk::new(512, 1 << 40); // 512 TiB, sparse
        assert_eq!(disk.allocated_bytes(), 0);
        assert_eq!(disk.geometry().blocks, 1 << 40);
        let (buf, r) = block_on(disk.read(12345 * 512, vec![0xAA; 8192]));
        r.unwrap();
        assert!(buf.iter().all(|&b| b == 0));
        assert_eq!(disk.allocated_bytes(), 0);
    }

    #[test]
    fn round_trip_across_chunk_boundaries() {
        let disk = RamDisk::new(512, 4096); // 2 MiB
        let offset = CHUNK_SIZE as u64 - 1024;
        let data: Vec<u8> = (0..3 * CHUNK_SIZE).map(|i| (i % 251) as u8 + 1).collect();
        let (_, r) = block_on(disk.write(offset, data.clone(), false));
        r.unwrap();
        let (back, r) = block_on(disk.read(offset, vec![0; data.len()]));
        r.unwrap();
        assert_eq!(back, data);
        // Touches four chunks: a tail, two whole ones and a head.
        assert_eq!(disk.allocated_bytes(), 4 * CHUNK_SIZE as u64);
        // Bytes just around the written range are still zero.
        let (around, r) = block_on(disk.read(offset - 512, vec![1; 512]));
        r.unwrap();
        assert!(around.iter().all(|&b| b == 0));
    }

    #[test]
    fn memory_grows_only_with_written_data() {
        let disk = RamDisk::new(4096, 1 << 30); // 4 TiB
        disk.write_at(0, &[7; 4096]).unwrap();
        assert_eq!(disk.allocated_bytes(), CHUNK_SIZE as u64);
        disk.write_at(4096, &[8; 4096]).unwrap(); // same chunk
        assert_eq!(disk.allocated_bytes(), CHUNK_SIZE as u64);
        disk.write_at(3 << 40, &[9; 4096]).unwrap(); // far away: one more chunk only
        assert_eq!(disk.allocated_bytes(), 2 * CHUNK_SIZE as u64);
        let mut buf = [0u8; 4096];
        disk.read_at(3 << 40, &mut buf).unwrap();
        assert!(buf.iter().all(|&b| b == 9));
    }

    #[test]
    fn zero_writes_do_not_allocate_and_whole_zero_chunks_are_freed() {
        let disk = RamDisk::new(512, 1 << 20);
        disk.write_at(0, &vec![0; 4 * CHUNK_SIZE]).unwrap();
        assert_eq!(disk.allocated_bytes(), 0);
        disk.write_at(CHUNK_SIZE as u64, &[5; 512]).unwrap();
        assert_eq!(disk.allocated_bytes(), CHUNK_SIZE as u64);
        // A partial zero write into an allocated chunk must land (it clears the 5s).
        disk.write_at(CHUNK_SIZE as u64, &[0; 512]).unwrap();
        let mut buf = [1u8; 512];
        disk.read_at(CHUNK_SIZE as u64, &mut buf).unwrap();
        assert!(buf.iter().all(|&b| b == 0));
        assert_eq!(disk.allocated_bytes(), CHUNK_SIZE as u64);
        disk.write_at(CHUNK_SIZE as u64, &vec![0; CHUNK_SIZE])
            .unwrap();
        assert_eq!(disk.allocated_bytes(), 0);
    }

    #[test]
    fn out_of_range_and_read_only_are_refused_without_panicking() {
        let disk = RamDisk::new(512, 8);
        let (_, r) = block_on(disk.read(4096, vec![0; 512]));
        assert_eq!(r.unwrap_err().kind, BackendErrorKind::Read);
        let (_, r) = block_on(disk.write(u64::MAX - 10, vec![1; 512], true));
        assert_eq!(r.unwrap_err().kind, BackendErrorKind::Write);
        let disk = RamDisk::new(512, 8).with_read_only(true);
        let (buf, r) = block_on(disk.write(0, vec![1; 512], false));
        assert_eq!(r.unwrap_err().kind, BackendErrorKind::Write);
        assert_eq!(buf.len(), 512, "the buffer comes back even on failure");
        block_on(disk.flush()).unwrap();
    }

    #[test]
    fn unmap_frees_whole_chunks_and_zeroes_partial_ones() {
        let disk = RamDisk::new(512, 1 << 20);
        let chunk = CHUNK_SIZE as u64;
        disk.write_at(0, &vec![7; 3 * CHUNK_SIZE]).unwrap();
        assert_eq!(disk.allocated_bytes(), 3 * chunk);
        // The second half of chunk 0, all of chunk 1 and the first block of chunk 2.
        block_on(disk.unmap(chunk / 2, chunk / 2 + chunk + 512)).unwrap();
        assert_eq!(BlockBackend::allocated_bytes(&disk), 2 * chunk);
        let mut buf = vec![0xAA; 3 * CHUNK_SIZE];
        disk.read_at(0, &mut buf).unwrap();
        let half = CHUNK_SIZE / 2;
        assert!(buf[..half].iter().all(|&b| b == 7));
        assert!(buf[half..2 * CHUNK_SIZE + 512].iter().all(|&b| b == 0));
        assert!(buf[2 * CHUNK_SIZE + 512..].iter().all(|&b| b == 7));
        // Zeroing what is left of a chunk frees it.
        block_on(disk.unmap(0, chunk / 2)).unwrap();
        assert_eq!(disk.allocated_bytes(), chunk);
        block_on(disk.unmap(0, 3 * chunk)).unwrap();
        assert_eq!(disk.allocated_bytes(), 0);
        assert!(
            disk.chunks.borrow().dirs.iter().all(Option::is_none),
            "directory trimmed"
        );
    }

    #[test]
    fn unmap_of_a_huge_sparse_range_skips_empty_directories() {
        let disk = RamDisk::new(4096, 1 << 32); // 16 TiB
        disk.write_at(5 << 40, &[1; 4096]).unwrap();
        block_on(disk.unmap(0, disk.capacity())).unwrap();
        assert_eq!(disk.allocated_bytes(), 0);
    }

    #[test]
    fn extents_follow_the_chunk_map() {
        let disk = RamDisk::new(512, 1 << 30); // 512 GiB
        let chunk = CHUNK_SIZE as u64;
        disk.write_at(2 * chunk, &vec![1; 2 * CHUNK_SIZE]).unwrap();
        let e = |offset, len| block_on(disk.extent(offset, len)).unwrap();
        assert_eq!(
            e(0, 10 * chunk),
            Extent {
                mapped: false,
                len: 2 * chunk
            }
        );
        assert_eq!(
            e(chunk / 2, 10 * chunk),
            Extent {
                mapped: false,
                len: chunk * 3 / 2
            }
        );
        assert_eq!(
            e(2 * chunk + 512, 10 * chunk),
            Extent {
                mapped: true,
                len: 2 * chunk - 512
            }
        );
        assert_eq!(
            e(2 * chunk, 512),
            Extent {
                mapped: true,
                len: 512
            }
        );
        let rest = disk.capacity() - 4 * chunk;
        assert_eq!(
            e(4 * chunk, rest),
            Extent {
                mapped: false,
                len: rest
            }
        );
        assert!(block_on(disk.extent(disk.capacity(), 512)).is_err());
        assert!(block_on(disk.extent(0, 0)).is_err());
    }

    #[test]
    fn deallocation_is_refused_out_of_range_and_when_read_only() {
        let disk = RamDisk::new(512, 8);
        assert!(disk.can_deallocate());
        let r = block_on(disk.unmap(4096, 512));
        assert_eq!(r.unwrap_err().kind, BackendErrorKind::Write);
        let r = block_on(disk.unmap(512, u64::MAX));
        assert_eq!(r.unwrap_err().kind, BackendErrorKind::Write);
        let disk = RamDisk::new(512, 8).with_read_only(true);
        assert!(!disk.can_deallocate());
        let r = block_on(disk.unmap(0, 512));
        assert_eq!(r.unwrap_err().kind, BackendErrorKind::Write);
    }

    #[test]
    fn shrinking_frees_what_lies_beyond_and_regrowth_reads_zeros() {
        let disk = RamDisk::new(512, 4 * CHUNK_SIZE as u64 / 512);
        let chunk = CHUNK_SIZE as u64;
        disk.write_at(0, &vec![5; 4 * CHUNK_SIZE]).unwrap();
        assert_eq!(disk.allocated_bytes(), 4 * chunk);
        // Ends half-way into chunk 1: chunks 2 and 3 go, chunk 1 keeps its first half.
        disk.resize(chunk + chunk / 2).unwrap();
        assert_eq!(disk.capacity(), chunk + chunk / 2);
        assert_eq!(disk.geometry().blocks, (chunk + chunk / 2) / 512);
        assert_eq!(disk.allocated_bytes(), 2 * chunk);
        assert_eq!(
            disk.write_at(2 * chunk, &[1; 512]).unwrap_err().kind,
            BackendErrorKind::Write,
            "past the new end"
        );
        // Growing takes no memory, and what was cut off reads as zeros.
        disk.resize(1 << 40).unwrap();
        assert_eq!(disk.geometry().blocks, (1 << 40) / 512);
        assert_eq!(disk.allocated_bytes(), 2 * chunk);
        let mut buf = vec![0xAA; 3 * CHUNK_SIZE];
        disk.read_at(0, &mut buf).unwrap();
        let keep = CHUNK_SIZE + CHUNK_SIZE / 2;
        assert!(buf[..keep].iter().all(|&b| b == 5));
        assert!(buf[keep..].iter().all(|&b| b == 0));
        // Less than a block is not a medium.
        assert_eq!(
            disk.resize(511).unwrap_err().kind,
            BackendErrorKind::Unsupported
        );
        assert_eq!(disk.capacity(), 1 << 40);
    }

    #[test]
    fn write_protection_follows_set_read_only() {
        let disk = RamDisk::new(512, 8).with_read_only(true);
        assert!(disk.is_read_only());
        assert!(disk.write_at(0, &[1; 512]).is_err());
        BlockBackend::set_read_only(&disk, false).unwrap();
        assert!(disk.can_deallocate());
        disk.write_at(0, &[1; 512]).unwrap();
        disk.set_read_only(true);
        assert!(disk.write_at(0, &[1; 512]).is_err());
    }

    #[test]
    fn is_zero_sees_a_single_set_byte_anywhere() {
        for len in [0, 1, 63, 64, 65, 200] {
            let mut v = vec![0u8; len];
            assert!(is_zero(&v));
            for i in 0..len {
                v[i] = 1;
                assert!(!is_zero(&v), "len {len} byte {i}");
                v[i] = 0;
            }
        }
    }
}
