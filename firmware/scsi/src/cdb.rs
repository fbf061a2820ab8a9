//! Big-endian field readers for CDBs and parameter lists that never index out of bounds.

/// Reads `N` bytes at `at` as a big-endian unsigned number; missing bytes read as zero.
#[inline]
pub fn be(buf: &[u8], at: usize, n: usize) -> u64 {
    let mut v = 0u64;
    for i in 0..n {
        v = (v << 8) | u64::from(buf.get(at + i).copied().unwrap_or(0));
    }
    v
}

#[inline]
pub fn be16(buf: &[u8], at: usize) -> u16 {
    be(buf, at, 2) as u16
}

#[inline]
pub fn be24(buf: &[u8], at: usize) -> u32 {
    be(buf, at, 3) as u32
}

#[inline]
pub fn be32(buf: &[u8], at: usize) -> u32 {
    be(buf, at, 4) as u32
}

#[inline]
pub fn be64(buf: &[u8], at: usize) -> u64 {
    be(buf, at, 8)
}

#[inline]
pub fn byte(buf: &[u8], at: usize) -> u8 {
    buf.get(at).copied().unwrap_or(0)
}

/// Copies `src` into `dst` at `at`, ignoring what does not fit.
#[inline]
pub fn put(dst: &mut [u8], at: usize, src: &[u8]) {
    if let Some(d) = dst.get_mut(at..) {
        let n = d.len().min(src.len());
        d[..n].copy_from_slice(&src[..n]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_past_end_as_zero() {
        assert_eq!(be32(&[1, 2], 0), 0x0102_0000);
        assert_eq!(be16(&[], 5), 0);
        assert_eq!(byte(&[9], 0), 9);
    }
}
