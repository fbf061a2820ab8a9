//! The board flash: a state area (two copies of the boot state) and two slots, and the
//! three things done to it: the flasher writes an image to the inactive slot as pending,
//! the boot ROM picks and verifies a slot (trial, revert, fallback), the firmware confirms.
//!
//! Layout: bytes [0, 1 MiB) are the state area (copies at 0 and 4096); slot A follows at
//! 1 MiB, slot B after it, each [`Layout::slot_size`] bytes (128 MiB on a board: a PVH
//! kernel ELF is 66 MB). An image sits at the start of its slot; the file is sparse.

#[cfg(feature = "std")]
mod file;
mod io;
#[cfg(feature = "std")]
pub use file::Extracted;

pub use io::{FlashIo, MemFlash};

use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;
use core::ops::Range;

use crate::boot::{self, BootState, RecordError, Slot, SlotRecord, SlotStatus};
use crate::bundle::{INITRAMFS, KERNEL};
use crate::error::ImageError;
use crate::header::Version;
use crate::key::PublicKey;
use crate::parse::Image;
use crate::tlv::kind;
use crate::verify::verify;

/// Where the state area and the slots are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// Bytes per slot.
    pub slot_size: u64,
}

impl Layout {
    /// The state area before the slots.
    pub const STATE_AREA: u64 = 1 << 20;
    /// A board's flash: two 128 MiB slots.
    pub const BOARD: Layout = Layout {
        slot_size: 128 << 20,
    };

    /// Offset of `slot`.
    pub fn slot_offset(&self, slot: Slot) -> u64 {
        Layout::STATE_AREA + slot.index() as u64 * self.slot_size
    }

    /// Size of the whole flash.
    pub fn size(&self) -> u64 {
        Layout::STATE_AREA + 2 * self.slot_size
    }
}

/// Why the flash refused an operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlashError {
    /// Reading or writing the flash failed.
    Io(String),
    /// The file is not the size of a board flash.
    WrongSize {
        /// Its size.
        size: u64,
        /// A board flash's size.
        expected: u64,
    },
    /// The state area is damaged beyond its second copy.
    State(RecordError),
    /// The flasher refused a malformed image.
    Image(ImageError),
    /// The image does not fit a slot.
    TooLarge {
        /// Image length.
        len: usize,
        /// Slot size.
        slot_size: u64,
    },
    /// The image's security counter is below the board's, and the flash was not forced.
    Downgrade {
        /// The image's SEC_CNT.
        image: u32,
        /// The board's NV counter.
        board: u32,
    },
    /// The boot ROM found nothing to boot; one line per slot says why.
    NoBootableImage {
        /// What happened to each slot.
        log: Vec<String>,
    },
    /// Confirm: no image was booted since the last flash or revert.
    NothingBooted,
    /// Confirm: the booted slot is not on trial.
    NotOnTrial {
        /// The slot.
        slot: Slot,
        /// Its status.
        status: String,
    },
}

impl fmt::Display for FlashError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FlashError::Io(why) => write!(f, "flash I/O: {why}"),
            FlashError::WrongSize { size, expected } => write!(
                f,
                "not a board flash: it is {size} bytes, a board flash is {expected}"
            ),
            FlashError::State(why) => write!(f, "{why}"),
            FlashError::Image(why) => write!(f, "{why}"),
            FlashError::TooLarge { len, slot_size } => write!(
                f,
                "too large: the image is {len} bytes, a slot holds {slot_size}"
            ),
            FlashError::Downgrade { image, board } => write!(
                f,
                "downgrade: the image's security counter {image} is below the board's {board} (only a forced flash writes it)"
            ),
            FlashError::NoBootableImage { log } => {
                write!(f, "no bootable image: {}", log.join("; "))
            }
            FlashError::NothingBooted => write!(
                f,
                "nothing to confirm: no image was booted since the last flash or revert"
            ),
            FlashError::NotOnTrial { slot, status } => {
                write!(f, "nothing to confirm: slot {slot} is {status}")
            }
        }
    }
}

impl core::error::Error for FlashError {}

impl From<RecordError> for FlashError {
    fn from(why: RecordError) -> FlashError {
        FlashError::State(why)
    }
}

fn io_error(why: impl fmt::Display) -> FlashError {
    FlashError::Io(why.to_string())
}

/// What [`BoardFlash::flash`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flashed {
    /// The slot written.
    pub slot: Slot,
    /// The image's version.
    pub version: Version,
    /// The image's SEC_CNT.
    pub security_counter: u32,
    /// A downgrade allowed by `force`.
    pub forced: bool,
}

/// What [`BoardFlash::confirm`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Confirmed {
    /// The slot confirmed.
    pub slot: Slot,
    /// Its version.
    pub version: Version,
    /// The board's security counter afterwards.
    pub security_counter: u32,
    /// False when it had been confirmed before.
    pub newly: bool,
}

/// The image the boot ROM chose, verified, with its kernel and initramfs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Boot {
    /// The slot booting.
    pub slot: Slot,
    /// A pending image's first boot: it must confirm, or the next boot reverts it.
    pub trial: bool,
    /// What happened to each slot considered, in order.
    pub log: Vec<String>,
    /// The image's version.
    pub version: Version,
    /// The image's SEC_CNT.
    pub security_counter: u32,
    /// The image's BOARD.
    pub board: String,
    /// The image's BUILD_ID, if any.
    pub build_id: Option<Vec<u8>>,
    /// The image's SHA-256 digest.
    pub digest: [u8; 32],
    image: Vec<u8>,
    kernel: Range<usize>,
    initramfs: Range<usize>,
}

impl Boot {
    /// The kernel to start.
    pub fn kernel(&self) -> &[u8] {
        &self.image[self.kernel.clone()]
    }

    /// The initramfs to hand it.
    pub fn initramfs(&self) -> &[u8] {
        &self.image[self.initramfs.clone()]
    }

    /// The whole verified image.
    pub fn image(&self) -> &[u8] {
        &self.image
    }
}

/// A board flash and its boot state.
pub struct BoardFlash<F: FlashIo> {
    io: F,
    layout: Layout,
    state: BootState,
    sequence: u64,
}

impl<F: FlashIo> BoardFlash<F> {
    /// Opens a flash of `layout`, reading its boot state (blank flash: a blank board).
    pub fn open(mut io: F, layout: Layout) -> Result<BoardFlash<F>, FlashError> {
        let size = io.size().map_err(io_error)?;
        if size != layout.size() {
            return Err(FlashError::WrongSize {
                size,
                expected: layout.size(),
            });
        }
        let mut first = vec![0; boot::BLOCK];
        let mut second = vec![0; boot::BLOCK];
        io.read_at(0, &mut first).map_err(io_error)?;
        io.read_at(boot::BLOCK as u64, &mut second)
            .map_err(io_error)?;
        let (sequence, state) = boot::pick(&first, &second)?;
        Ok(BoardFlash {
            io,
            layout,
            state,
            sequence,
        })
    }

    /// The boot state.
    pub fn state(&self) -> &BootState {
        &self.state
    }

    /// The layout.
    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// The flash access, back.
    pub fn into_inner(self) -> F {
        self.io
    }

    /// Writes `image` to the inactive slot and marks it pending. Refuses an image that does
    /// not parse, has no SEC_CNT, does not fit, or (unless `force`) whose SEC_CNT is below
    /// the board's counter. The signature is the boot ROM's to check, not the flasher's.
    pub fn flash(&mut self, image: &[u8], force: bool) -> Result<Flashed, FlashError> {
        let parsed = Image::parse(image).map_err(FlashError::Image)?;
        let security_counter =
            parsed
                .metadata
                .security_counter
                .ok_or(FlashError::Image(ImageError::MissingTlv {
                    tlv_type: kind::SEC_CNT,
                }))?;
        let len = u32::try_from(image.len())
            .ok()
            .filter(|len| u64::from(*len) <= self.layout.slot_size)
            .ok_or(FlashError::TooLarge {
                len: image.len(),
                slot_size: self.layout.slot_size,
            })?;
        let forced = self.state.admit(security_counter, force)?;
        let slot = self.state.flash_target();
        let old_len = self.state.slot(slot).len;
        // Empty first, durably: a write cut short must never look like a pending image.
        self.state.erase(slot);
        self.save()?;
        let offset = self.layout.slot_offset(slot);
        self.io.write_at(offset, image).map_err(io_error)?;
        // Erase what is left of a longer image, so the slot holds only this one.
        let mut at = u64::from(len);
        let zeros = vec![0; 1 << 20];
        while at < u64::from(old_len) {
            let n = (u64::from(old_len) - at).min(zeros.len() as u64) as usize;
            self.io
                .write_at(offset + at, &zeros[..n])
                .map_err(io_error)?;
            at += n as u64;
        }
        self.io.sync().map_err(io_error)?;
        let version = parsed.header.version;
        *self.state.slot_mut(slot) = SlotRecord {
            status: SlotStatus::Pending,
            len,
            version,
            security_counter,
            digest: parsed.sha256,
            forced,
        };
        self.save()?;
        Ok(Flashed {
            slot,
            version,
            security_counter,
            forced,
        })
    }

    /// The boot ROM: reverts an unconfirmed trial, picks the slot (pending first, then the
    /// confirmed ones), verifies it against the trusted `key`, this `board` and the board's
    /// security counter, and returns it with its kernel and initramfs. The new state is
    /// stored before this returns, so the image runs only once its try is on record.
    pub fn boot(&mut self, key: &PublicKey, board: &str) -> Result<Boot, FlashError> {
        let mut state = self.state.clone();
        let io = &mut self.io;
        let layout = self.layout;
        let decision = state.select(|slot, record, minimum| {
            let image = read_slot(io, layout, slot, record.len)?;
            check_slot(image, key, board, minimum).map_err(FlashError::Image)
        });
        self.state = state;
        self.save()?;
        let decision = decision?;
        let mut boot = decision.value;
        boot.slot = decision.slot;
        boot.trial = decision.trial;
        boot.log = decision.log;
        Ok(boot)
    }

    /// The firmware's confirmation of the image it runs (after its self-test and, with
    /// HA, after meeting its peer): the image becomes the one that boots, and the board's
    /// security counter rises to its SEC_CNT.
    pub fn confirm(&mut self) -> Result<Confirmed, FlashError> {
        let mut state = self.state.clone();
        let (slot, newly) = state.confirm()?;
        if newly {
            self.state = state;
            self.save()?;
        }
        Ok(Confirmed {
            slot,
            version: self.state.slot(slot).version,
            security_counter: self.state.security_counter,
            newly,
        })
    }

    /// The image stored in `slot`, if its record says there is one.
    pub fn read_image(&mut self, slot: Slot) -> Result<Option<Vec<u8>>, FlashError> {
        let record = self.state.slot(slot);
        if record.status == SlotStatus::Empty {
            return Ok(None);
        }
        let len = record.len;
        read_slot(&mut self.io, self.layout, slot, len).map(Some)
    }

    /// Stores the state in the older copy and syncs it.
    fn save(&mut self) -> Result<(), FlashError> {
        let sequence = self.sequence + 1;
        let block = boot::encode(&self.state, sequence)?;
        let offset = (sequence % 2) * boot::BLOCK as u64;
        self.io.write_at(offset, &block).map_err(io_error)?;
        self.io.sync().map_err(io_error)?;
        self.sequence = sequence;
        Ok(())
    }
}

fn read_slot<F: FlashIo>(
    io: &mut F,
    layout: Layout,
    slot: Slot,
    len: u32,
) -> Result<Vec<u8>, FlashError> {
    if u64::from(len) > layout.slot_size {
        return Err(FlashError::TooLarge {
            len: len as usize,
            slot_size: layout.slot_size,
        });
    }
    let mut image = vec![0; len as usize];
    io.read_at(layout.slot_offset(slot), &mut image)
        .map_err(io_error)?;
    Ok(image)
}

/// Verifies one slot's image and finds its kernel and initramfs.
fn check_slot(
    image: Vec<u8>,
    key: &PublicKey,
    board: &str,
    minimum: u32,
) -> Result<Boot, ImageError> {
    let (kernel, initramfs, version, security_counter, build_id, digest) = {
        let verified = verify(&image, key, Some(board), minimum)?;
        let base = usize::from(verified.image.header.hdr_size);
        let range = |name| {
            verified
                .bundle
                .require(name)
                .map(|c| base + c.offset..base + c.offset + c.data.len())
        };
        (
            range(KERNEL)?,
            range(INITRAMFS)?,
            verified.image.header.version,
            verified.security_counter,
            verified.image.metadata.build_id.map(<[u8]>::to_vec),
            verified.digest,
        )
    };
    Ok(Boot {
        slot: Slot::A,
        trial: false,
        log: Vec::new(),
        version,
        security_counter,
        board: board.to_string(),
        build_id,
        digest,
        image,
        kernel,
        initramfs,
    })
}
