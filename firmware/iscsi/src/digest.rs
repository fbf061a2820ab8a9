//! CRC32C header and data digests (RFC 7143 §11.2, test vectors from RFC 3720 Appendix B.4).
//!
//! The `crc32c` crate picks the SSE4.2 instruction at run time when the CPU has it. On the
//! wire the digest goes least-significant byte first: libiscsi (`lib/pdu.c`, `lib/socket.c`)
//! writes `crc`, `crc >> 8`, `crc >> 16`, `crc >> 24` and Linux does the same, so RFC 3720's
//! example "aa 36 91 8a" for 32 zero bytes is the byte sequence of the value 0x8A9136AA.

/// Size of a digest on the wire.
pub const DIGEST_LEN: usize = 4;

/// The CRC32C (Castagnoli) of `data`.
pub fn crc32c(data: &[u8]) -> u32 {
    crc32c::crc32c(data)
}

/// Continues a CRC over more bytes: `state` is the finished CRC of the bytes before (start
/// with 0), so a digest over header + AHS, or data + padding, can be computed piece by piece
/// without copying them together.
pub fn crc32c_append(state: u32, data: &[u8]) -> u32 {
    crc32c::crc32c_append(state, data)
}

/// The digest bytes as sent on the wire.
pub fn to_wire(crc: u32) -> [u8; DIGEST_LEN] {
    crc.to_le_bytes()
}

/// The digest value from its wire bytes.
pub fn from_wire(bytes: [u8; DIGEST_LEN]) -> u32 {
    u32::from_le_bytes(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 3720 Appendix B.4; the RFC lists the bytes in wire order.
    #[test]
    fn rfc3720_vectors() {
        assert_eq!(to_wire(crc32c(&[0u8; 32])), [0xaa, 0x36, 0x91, 0x8a]);
        assert_eq!(to_wire(crc32c(&[0xffu8; 32])), [0x43, 0xab, 0xa8, 0x62]);
        let inc: Vec<u8> = (0u8..32).collect();
        assert_eq!(to_wire(crc32c(&inc)), [0x4e, 0x79, 0xdd, 0x46]);
        let dec: Vec<u8> = (0u8..32).rev().collect();
        assert_eq!(to_wire(crc32c(&dec)), [0x5c, 0xdb, 0x3f, 0x11]);
    }

    #[test]
    fn rfc3720_scsi_read_pdu_vector() {
        // The "iSCSI - Read (10) Command PDU" example of Appendix B.4.
        let pdu: [u8; 48] = [
            0x01, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
            0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x14,
            0x00, 0x00, 0x00, 0x18, 0x28, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00,
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        ];
        assert_eq!(to_wire(crc32c(&pdu)), [0x56, 0x3a, 0x96, 0xd9]);
    }

    #[test]
    fn known_value_and_byte_order() {
        assert_eq!(crc32c(&[0u8; 32]), 0x8a91_36aa);
        assert_eq!(crc32c(b"123456789"), 0xe306_9283);
        assert_eq!(from_wire(to_wire(0x1234_5678)), 0x1234_5678);
        assert_eq!(to_wire(0x1234_5678), [0x78, 0x56, 0x34, 0x12]);
    }

    #[test]
    fn append_matches_one_shot() {
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 7) as u8).collect();
        for split in [0, 1, 48, 999, 1000] {
            let (a, b) = data.split_at(split);
            assert_eq!(crc32c_append(crc32c(a), b), crc32c(&data));
        }
        assert_eq!(crc32c_append(0, &data), crc32c(&data));
    }
}
