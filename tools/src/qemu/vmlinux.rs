//! The kernel's ELF (vmlinux) out of Debian's compressed bzImage, so that QEMU boots it
//! through its PVH entry point: that skips the in-guest decompression of the kernel, about
//! 3 s under TCG.
//!
//! A bzImage starts with the real-mode setup (`setup_sects` + 1 sectors of 512 bytes, the
//! count at offset 0x1f1, 0 meaning 4); the protected-mode part after it holds the compressed
//! kernel at `payload_offset` (0x248), `payload_length` (0x24c) bytes long (boot protocol
//! 2.08 and later, magic `HdrS` at 0x202, version at 0x206).

use std::io::Write;
use std::process::{Command, Stdio};

/// The compressions a bzImage payload may use that we can undo (with the usual tools).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    Xz,
    Gzip,
    Zstd,
}

/// The compressed kernel inside a bzImage, and how it is compressed.
pub fn payload(bzimage: &[u8]) -> Result<(&[u8], Compression), String> {
    if bzimage.get(0x202..0x206) != Some(b"HdrS") {
        return Err("not a bzImage (no HdrS at 0x202)".into());
    }
    let u16_at = |at: usize| -> Option<u16> {
        Some(u16::from_le_bytes(
            bzimage.get(at..at + 2)?.try_into().ok()?,
        ))
    };
    let u32_at = |at: usize| -> Option<u32> {
        Some(u32::from_le_bytes(
            bzimage.get(at..at + 4)?.try_into().ok()?,
        ))
    };
    let version = u16_at(0x206).ok_or("truncated header")?;
    if version < 0x208 {
        return Err(format!(
            "boot protocol {}.{:02} has no payload fields (2.08 needed)",
            version >> 8,
            version & 0xff
        ));
    }
    let setup_sects = match bzimage[0x1f1] {
        0 => 4,
        n => usize::from(n),
    };
    let offset = u32_at(0x248).ok_or("truncated header")? as usize;
    let length = u32_at(0x24c).ok_or("truncated header")? as usize;
    let start = (setup_sects + 1) * 512 + offset;
    let payload = bzimage
        .get(start..start + length)
        .ok_or_else(|| format!("the payload ({length} bytes at {start}) runs past the file"))?;
    let compression = if payload.starts_with(b"\xfd7zXZ\0") {
        Compression::Xz
    } else if payload.starts_with(b"\x1f\x8b") {
        Compression::Gzip
    } else if payload.starts_with(b"\x28\xb5\x2f\xfd") {
        Compression::Zstd
    } else {
        return Err(format!(
            "the payload's compression is not one we undo (starts {:02x?})",
            &payload[..payload.len().min(6)]
        ));
    };
    Ok((payload, compression))
}

/// Decompresses with the matching tool (`xz`, `gzip`, `zstd`). The kernel appends the
/// uncompressed size after the stream, which the tools are told to ignore (or warn about).
fn decompress(data: &[u8], compression: Compression) -> Result<Vec<u8>, String> {
    let (program, args): (&str, &[&str]) = match compression {
        Compression::Xz => ("xz", &["-dc", "--single-stream"]),
        Compression::Gzip => ("gzip", &["-dc"]),
        Compression::Zstd => ("zstd", &["-dcq"]),
    };
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {program} (make deps installs it): {e}"))?;
    let mut stdin = child.stdin.take().ok_or("no stdin")?;
    let input = data.to_vec();
    let feeder = std::thread::spawn(move || {
        // The tool may stop reading at the end of its stream (the trailing size): fine.
        let _ = stdin.write_all(&input);
    });
    let output = child
        .wait_with_output()
        .map_err(|e| format!("{program}: {e}"))?;
    let _ = feeder.join();
    // gzip says "trailing garbage ignored" and exits 2 for the size after the stream.
    let ok = output.status.success()
        || (compression != Compression::Xz && output.status.code() == Some(2));
    if !ok || output.stdout.is_empty() {
        return Err(format!(
            "{program} failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    Ok(output.stdout)
}

/// The ELF kernel inside a bzImage.
pub fn extract(bzimage: &[u8]) -> Result<Vec<u8>, String> {
    let (payload, compression) = payload(bzimage)?;
    let elf = decompress(payload, compression)?;
    if !elf.starts_with(b"\x7fELF") {
        return Err("the decompressed payload is not an ELF file".into());
    }
    Ok(elf)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A bzImage-shaped file: setup sectors, then a payload at an offset.
    fn fake_bzimage(setup_sects: u8, payload: &[u8]) -> Vec<u8> {
        let sects = if setup_sects == 0 {
            4
        } else {
            usize::from(setup_sects)
        };
        let mut image = vec![0u8; (sects + 1) * 512 + 100];
        image[0x1f1] = setup_sects;
        image[0x202..0x206].copy_from_slice(b"HdrS");
        image[0x206..0x208].copy_from_slice(&0x020fu16.to_le_bytes());
        image[0x248..0x24c].copy_from_slice(&100u32.to_le_bytes());
        image[0x24c..0x250].copy_from_slice(&(payload.len() as u32).to_le_bytes());
        image.extend_from_slice(payload);
        image.extend_from_slice(&[0xAA; 16]);
        image
    }

    #[test]
    fn finds_the_payload_and_its_compression() {
        let xz = b"\xfd7zXZ\0rest-of-stream";
        let image = fake_bzimage(0, xz);
        assert_eq!(payload(&image).unwrap(), (&xz[..], Compression::Xz));
        let image = fake_bzimage(27, b"\x1f\x8bgzip");
        assert_eq!(payload(&image).unwrap().1, Compression::Gzip);
        let e = payload(&fake_bzimage(1, b"BZh9")).unwrap_err();
        assert!(e.contains("compression"), "{e}");
        assert!(payload(b"MZ not a kernel").is_err());
        let mut old = fake_bzimage(1, xz);
        old[0x206..0x208].copy_from_slice(&0x0204u16.to_le_bytes());
        assert!(payload(&old).unwrap_err().contains("2.08"));
    }

    /// Round trip through the real tool when it is there: the size trailer is ignored.
    #[test]
    fn undoes_xz_with_a_trailer() {
        let elf = b"\x7fELF and the rest of a kernel".repeat(100);
        let Ok(mut child) = Command::new("xz")
            .args(["-c", "--check=crc32"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
        else {
            return;
        };
        child.stdin.take().unwrap().write_all(&elf).unwrap();
        let mut compressed = child.wait_with_output().unwrap().stdout;
        compressed.extend_from_slice(&(elf.len() as u32).to_le_bytes());
        let image = fake_bzimage(0, &compressed);
        assert_eq!(extract(&image).unwrap(), elf);
    }
}
