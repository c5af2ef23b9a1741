//! Lower-case hex: how digests are written in sidecars, records and the client's output.

/// Lower-case hex of bytes.
pub fn to_hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(HEX[usize::from(b >> 4)] as char);
        out.push(HEX[usize::from(b & 15)] as char);
    }
    out
}

/// Parse a hex sha-256 (64 digits).
pub fn sha_from_hex(hex: &str) -> Option<[u8; 32]> {
    if hex.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(hex.get(i * 2..i * 2 + 2)?, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let sha = [0xabu8; 32];
        assert_eq!(sha_from_hex(&to_hex(&sha)), Some(sha));
        assert_eq!(to_hex(&[0x00, 0x0f, 0xf0]), "000ff0");
        assert_eq!(sha_from_hex("zz"), None);
        assert_eq!(sha_from_hex(&"é".repeat(32)), None);
    }
}
