//! The build id of the unstripped firmware ELF: its GNU build-id note when it has one (what
//! `readelf -n` and `file` show, and what debuggers and defmt tooling look up), else the
//! SHA-256 of the whole file.

use ::image::sha256;

const NT_GNU_BUILD_ID: u32 = 3;
const SHT_NOTE: u32 = 7;

pub fn of_elf(elf: &[u8]) -> Vec<u8> {
    gnu_build_id(elf)
        .map(<[u8]>::to_vec)
        .unwrap_or_else(|| sha256(elf).to_vec())
}

/// The `NT_GNU_BUILD_ID` note of a little-endian ELF64 file, found through its section
/// headers; `None` for anything else, every read bounds-checked.
fn gnu_build_id(elf: &[u8]) -> Option<&[u8]> {
    if elf.get(..4)? != b"\x7fELF" || *elf.get(4)? != 2 || *elf.get(5)? != 1 {
        return None;
    }
    let shoff = usize::try_from(u64_at(elf, 0x28)?).ok()?;
    let shentsize = usize::from(u16_at(elf, 0x3a)?);
    let shnum = usize::from(u16_at(elf, 0x3c)?);
    for index in 0..shnum {
        let header = shoff.checked_add(index.checked_mul(shentsize)?)?;
        if u32_at(elf, header + 4)? != SHT_NOTE {
            continue;
        }
        let offset = usize::try_from(u64_at(elf, header + 0x18)?).ok()?;
        let size = usize::try_from(u64_at(elf, header + 0x20)?).ok()?;
        let notes = elf.get(offset..offset.checked_add(size)?)?;
        if let Some(id) = find_note(notes) {
            return Some(id);
        }
    }
    None
}

/// Walks one note section: {namesz, descsz, type} then name and desc, each padded to 4.
fn find_note(mut notes: &[u8]) -> Option<&[u8]> {
    while notes.len() >= 12 {
        let namesz = usize::try_from(u32_at(notes, 0)?).ok()?;
        let descsz = usize::try_from(u32_at(notes, 4)?).ok()?;
        let kind = u32_at(notes, 8)?;
        let name_end = 12usize.checked_add(namesz)?;
        let desc_start = name_end.checked_next_multiple_of(4)?;
        let desc_end = desc_start.checked_add(descsz)?;
        let name = notes.get(12..name_end)?;
        let desc = notes.get(desc_start..desc_end)?;
        if kind == NT_GNU_BUILD_ID && name == b"GNU\0" && !desc.is_empty() {
            return Some(desc);
        }
        notes = notes.get(desc_end.checked_next_multiple_of(4)?.min(notes.len())..)?;
    }
    None
}

fn u16_at(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(bytes.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

fn u64_at(bytes: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(bytes.get(at..at + 8)?.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_test_binary_or_falls_back() {
        // The test binary itself is an ELF; Debian's linker gives it a GNU build-id.
        let exe = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        let id = of_elf(&exe);
        assert!(id.len() == 20 || id.len() == 32, "{}", id.len());
    }

    #[test]
    fn finds_a_note() {
        let mut note = Vec::new();
        note.extend_from_slice(&4u32.to_le_bytes());
        note.extend_from_slice(&3u32.to_le_bytes());
        note.extend_from_slice(&NT_GNU_BUILD_ID.to_le_bytes());
        note.extend_from_slice(b"GNU\0");
        note.extend_from_slice(&[1, 2, 3, 0]);
        assert_eq!(find_note(&note), Some(&[1u8, 2, 3][..]));
        // Cut short: no id, no panic.
        assert_eq!(find_note(&note[..18]), None);
    }

    #[test]
    fn anything_else_is_hashed() {
        assert_eq!(of_elf(b"not an elf"), sha256(b"not an elf").to_vec());
        assert_eq!(gnu_build_id(b"\x7fELF\x02\x01"), None);
    }
}
