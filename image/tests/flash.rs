//! The board flash end to end over memory: flashing, the boot ROM's trial, revert and
//! fallback, confirmation, the security counter, and a torn state write.

use image::boot::{Slot, SlotStatus, BLOCK};
use image::bundle::{INITRAMFS, KERNEL};
use image::{
    build_unsigned, sign, BoardFlash, Bundle, FlashError, ImageError, ImageSpec, Layout, MemFlash,
    SigningKey,
};

const LAYOUT: Layout = Layout {
    slot_size: 256 << 10,
};
const BOARD: &str = "dyad-qemu";

fn key() -> SigningKey {
    SigningKey::from_seed(&[3; 32])
}

fn image_for(version: &str, counter: u32, board: &str, key: &SigningKey, size: usize) -> Vec<u8> {
    let kernel = format!("kernel {version}").into_bytes();
    let initramfs = vec![counter as u8; size];
    let bundle = Bundle::build(&[(KERNEL, &kernel[..]), (INITRAMFS, &initramfs[..])]).unwrap();
    let spec = ImageSpec {
        version: version.parse().unwrap(),
        security_counter: counter,
        board,
        component: "controller",
        build_id: None,
        git_commit: None,
    };
    sign(&build_unsigned(&bundle, &spec).unwrap(), key).unwrap()
}

fn image(version: &str, counter: u32) -> Vec<u8> {
    image_for(version, counter, BOARD, &key(), 1000)
}

fn blank() -> BoardFlash<MemFlash> {
    BoardFlash::open(MemFlash(vec![0; LAYOUT.size() as usize]), LAYOUT).unwrap()
}

/// Power-cycles the board: the state is read back from the flash bytes.
fn reopen(flash: BoardFlash<MemFlash>) -> BoardFlash<MemFlash> {
    BoardFlash::open(flash.into_inner(), LAYOUT).unwrap()
}

/// A board running v1 (counter 1) confirmed in slot A.
fn running_v1() -> BoardFlash<MemFlash> {
    let mut flash = blank();
    assert_eq!(
        flash.flash(&image("1.0.0", 1), false).unwrap().slot,
        Slot::A
    );
    let boot = flash.boot(&key().public_key(), BOARD).unwrap();
    assert_eq!((boot.slot, boot.trial), (Slot::A, true));
    flash.confirm().unwrap();
    reopen(flash)
}

fn boot(flash: &mut BoardFlash<MemFlash>) -> Result<image::Boot, FlashError> {
    flash.boot(&key().public_key(), BOARD)
}

#[test]
fn blank_board_has_nothing_to_boot() {
    let mut flash = blank();
    let err = boot(&mut flash).unwrap_err();
    assert_eq!(
        err.to_string(),
        "no bootable image: slot A: empty; slot B: empty"
    );
    assert_eq!(flash.confirm().unwrap_err(), FlashError::NothingBooted);
}

#[test]
fn first_image_boots_as_trial_and_confirms() {
    let mut flash = running_v1();
    assert_eq!(flash.state().security_counter, 1);
    assert_eq!(flash.state().slot(Slot::A).status, SlotStatus::Confirmed);
    let boot = boot(&mut flash).unwrap();
    assert_eq!((boot.slot, boot.trial), (Slot::A, false));
    assert_eq!(boot.kernel(), b"kernel 1.0.0");
    assert_eq!(boot.initramfs(), &[1u8; 1000][..]);
    assert_eq!(boot.log, ["slot A (1.0.0): confirmed"]);
    // Confirming again is harmless.
    assert!(!flash.confirm().unwrap().newly);
}

#[test]
fn unconfirmed_update_is_reverted_on_the_next_boot() {
    let mut flash = running_v1();
    assert_eq!(
        flash.flash(&image("2.0.0", 2), false).unwrap().slot,
        Slot::B
    );
    let first = boot(&mut flash).unwrap();
    assert_eq!((first.slot, first.trial), (Slot::B, true));
    assert_eq!(first.kernel(), b"kernel 2.0.0");
    // The firmware exits before confirming; the board restarts.
    let mut flash = reopen(flash);
    let second = boot(&mut flash).unwrap();
    assert_eq!((second.slot, second.trial), (Slot::A, false));
    assert_eq!(second.kernel(), b"kernel 1.0.0");
    assert_eq!(
        second.log,
        [
            "slot B (2.0.0): booted as a trial and never confirmed: reverted",
            "slot A (1.0.0): confirmed"
        ]
    );
    assert_eq!(
        flash.state().slot(Slot::B).status,
        SlotStatus::Rejected("booted as a trial and never confirmed".into())
    );
    assert_eq!(flash.state().security_counter, 1);
    assert!(flash.state().last_boot.contains("reverted"));
    // And it stays on v1.
    let third = boot(&mut reopen(flash)).unwrap();
    assert_eq!(third.slot, Slot::A);
}

#[test]
fn confirmed_update_stays() {
    let mut flash = running_v1();
    flash.flash(&image("2.0.0", 2), false).unwrap();
    boot(&mut flash).unwrap();
    let confirmed = flash.confirm().unwrap();
    assert_eq!(
        (confirmed.slot, confirmed.security_counter, confirmed.newly),
        (Slot::B, 2, true)
    );
    let mut flash = reopen(flash);
    let again = boot(&mut flash).unwrap();
    assert_eq!((again.slot, again.trial), (Slot::B, false));
    // The next update goes to A, over the old image.
    assert_eq!(
        flash.flash(&image("3.0.0", 3), false).unwrap().slot,
        Slot::A
    );
}

#[test]
fn downgrade_needs_force_and_then_boots() {
    let mut flash = running_v1();
    flash.flash(&image("2.0.0", 2), false).unwrap();
    boot(&mut flash).unwrap();
    flash.confirm().unwrap();
    let err = flash.flash(&image("1.5.0", 1), false).unwrap_err();
    assert_eq!(err, FlashError::Downgrade { image: 1, board: 2 });
    assert!(err
        .to_string()
        .starts_with("downgrade: the image's security counter 1 is below the board's 2"));
    let flashed = flash.flash(&image("1.5.0", 1), true).unwrap();
    assert!(flashed.forced);
    let booted = boot(&mut flash).unwrap();
    assert_eq!(
        (booted.slot, booted.version.to_string().as_str()),
        (Slot::A, "1.5.0")
    );
    flash.confirm().unwrap();
    assert_eq!(
        flash.state().security_counter,
        2,
        "the counter never goes down"
    );
}

/// Flashes `bad` over a board running v1, boots, and returns the refusal logged for B.
fn refused_at_boot(bad: &[u8]) -> String {
    let mut flash = running_v1();
    flash.flash(bad, false).unwrap();
    let boot = boot(&mut flash).unwrap();
    assert_eq!(boot.slot, Slot::A, "falls back to the confirmed image");
    assert!(matches!(
        flash.state().slot(Slot::B).status,
        SlotStatus::Rejected(_)
    ));
    boot.log[0].clone()
}

#[test]
fn boot_rom_refuses_bad_images_and_names_the_reason() {
    let good = image("2.0.0", 2);
    let mut payload = good.clone();
    payload[0x200 + 4096] ^= 1;
    assert!(refused_at_boot(&payload).starts_with("slot B (2.0.0): refused: SHA-256 mismatch"));
    let mut header = good.clone();
    header[4] ^= 1; // load address
    assert!(refused_at_boot(&header).starts_with("slot B (2.0.0): refused: SHA-256 mismatch"));
    let mut signature = good.clone();
    let at = signature.len() - 10;
    signature[at] ^= 1;
    assert!(refused_at_boot(&signature).starts_with("slot B (2.0.0): refused: bad signature"));
    let other = image_for("2.0.0", 2, BOARD, &SigningKey::from_seed(&[4; 32]), 10);
    assert!(refused_at_boot(&other).starts_with("slot B (2.0.0): refused: unknown key"));
    let sim = image_for("2.0.0", 2, "dyad-sim", &key(), 10);
    assert_eq!(
        refused_at_boot(&sim),
        "slot B (2.0.0): refused: wrong board: the image is for dyad-sim, this board is dyad-qemu"
    );
}

#[test]
fn damaged_current_image_and_old_fallback_leave_nothing_to_boot() {
    let mut flash = running_v1();
    flash.flash(&image("2.0.0", 2), false).unwrap();
    boot(&mut flash).unwrap();
    flash.confirm().unwrap();
    // Bit rot in slot B's payload.
    let mut bytes = flash.into_inner();
    let at = (LAYOUT.slot_offset(Slot::B) + 0x200 + 4096) as usize;
    bytes.0[at] ^= 1;
    let mut flash = BoardFlash::open(bytes, LAYOUT).unwrap();
    let err = boot(&mut flash).unwrap_err();
    let FlashError::NoBootableImage { log } = &err else {
        panic!("{err}")
    };
    assert!(
        log[0].starts_with("slot B (2.0.0): refused: SHA-256 mismatch"),
        "{log:?}"
    );
    assert_eq!(
        log[1],
        "slot A (1.0.0): refused: downgrade: the image's security counter 1 is below 2"
    );
}

#[test]
fn torn_state_write_falls_back_to_the_older_copy() {
    let mut flash = running_v1();
    flash.flash(&image("2.0.0", 2), false).unwrap();
    let pending = flash.state().clone();
    boot(&mut flash).unwrap();
    // The boot's state write (the newer copy) was torn: the board wakes with B pending.
    let mut bytes = flash.into_inner();
    let sequence = |at: usize| u64::from_le_bytes(bytes.0[at + 16..at + 24].try_into().unwrap());
    let newer = if sequence(0) > sequence(BLOCK) {
        0
    } else {
        BLOCK
    };
    bytes.0[newer + 40] ^= 0xff;
    let flash = BoardFlash::open(bytes, LAYOUT).unwrap();
    assert_eq!(flash.state(), &pending);
    // Both copies damaged: refused, never taken for a blank board.
    let mut bytes = flash.into_inner();
    bytes.0[30] ^= 0xff;
    bytes.0[BLOCK + 30] ^= 0xff;
    let err = BoardFlash::open(bytes, LAYOUT).err().unwrap();
    assert!(err.to_string().starts_with("boot state unreadable"));
}

#[test]
fn flasher_refusals() {
    let mut flash = blank();
    assert_eq!(
        flash.flash(b"garbage", false).unwrap_err(),
        FlashError::Image(ImageError::Truncated {
            what: "header",
            need: 32,
            have: 7
        })
    );
    let big = image_for("1.0.0", 1, BOARD, &key(), 300 << 10);
    assert!(matches!(
        flash.flash(&big, false),
        Err(FlashError::TooLarge { .. })
    ));
    assert_eq!(flash.state().slot(Slot::A).status, SlotStatus::Empty);
    let err = BoardFlash::open(MemFlash(vec![0; 100]), LAYOUT)
        .err()
        .unwrap();
    assert_eq!(
        err.to_string(),
        format!(
            "not a board flash: it is 100 bytes, a board flash is {}",
            LAYOUT.size()
        )
    );
}

#[test]
fn a_shorter_image_leaves_no_stale_bytes() {
    let mut flash = blank();
    let long = image_for("1.0.0", 1, BOARD, &key(), 100 << 10);
    flash.flash(&long, false).unwrap();
    let short = image("1.0.1", 1);
    flash.flash(&short, false).unwrap();
    assert_eq!(flash.read_image(Slot::A).unwrap().unwrap(), short);
    let bytes = flash.into_inner();
    let start = (LAYOUT.slot_offset(Slot::A)) as usize;
    assert!(bytes.0[start + short.len()..start + long.len()]
        .iter()
        .all(|b| *b == 0));
}

#[test]
fn reflashing_the_trial_slot_cancels_its_confirmation() {
    let mut flash = running_v1();
    flash.flash(&image("2.0.0", 2), false).unwrap();
    boot(&mut flash).unwrap();
    flash.flash(&image("2.0.1", 2), false).unwrap();
    assert_eq!(flash.confirm().unwrap_err(), FlashError::NothingBooted);
    let next = boot(&mut flash).unwrap();
    assert_eq!(
        (next.slot, next.trial, next.version.to_string().as_str()),
        (Slot::B, true, "2.0.1")
    );
}

/// The file-backed flash (the `std` feature): a blank board's sparse file, made once and
/// then reopened with its state; the boot hand-off writes kernel and initramfs.
#[cfg(feature = "std")]
#[test]
fn flash_file_round_trip() {
    let dir = std::env::temp_dir().join(format!("dyad-image-flash-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("board-a.flash");
    let _ = std::fs::remove_file(&path);
    {
        let mut flash = BoardFlash::create_file(&path).unwrap();
        flash.flash(&image("1.0.0", 1), false).unwrap();
    }
    assert_eq!(
        std::fs::metadata(&path).unwrap().len(),
        Layout::BOARD.size()
    );
    let mut flash = BoardFlash::create_file(&path).unwrap();
    assert_eq!(flash.state().slot(Slot::A).status, SlotStatus::Pending);
    let booted = flash.boot(&key().public_key(), BOARD).unwrap();
    let files = booted.extract_to(&dir.join("boot")).unwrap();
    assert_eq!(std::fs::read(&files.kernel).unwrap(), b"kernel 1.0.0");
    assert_eq!(std::fs::read(&files.initramfs).unwrap(), vec![1u8; 1000]);
    drop(flash);
    let mut flash = BoardFlash::open_file(&path).unwrap();
    assert!(flash.confirm().unwrap().newly);
    let err = BoardFlash::open_file(&dir.join("missing.flash"))
        .err()
        .unwrap();
    assert!(matches!(err, FlashError::Io(_)), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}
