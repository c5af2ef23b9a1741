//! Codec tests: hand-written vectors, skip rules and errors, generated round trips,
//! truncations and random input.

mod errors;
mod generated;
mod vectors;

use super::{decode, Message};

/// The property the fuzz target checks: whatever decodes re-encodes, and the encoding
/// decodes to the same message. Returns whether `bytes` decoded.
fn assert_reencodes(bytes: &[u8]) -> bool {
    let Ok(m) = decode(bytes) else { return false };
    let again = m
        .encode()
        .unwrap_or_else(|e| panic!("{m:?} decoded but does not encode: {e}"));
    assert_eq!(decode(&again), Ok(m), "re-encoding of {bytes:02X?}");
    true
}

/// Every prefix of `bytes` is an error, except the prefixes of length `ok_lengths`
/// (ends of optional IEs), which decode and re-encode to exactly themselves.
fn assert_prefixes(bytes: &[u8], ok_lengths: &[usize]) {
    for n in 0..bytes.len() {
        let prefix = bytes.get(..n).unwrap_or_default();
        match decode(prefix) {
            Ok(m) => {
                assert!(
                    ok_lengths.contains(&n),
                    "prefix of {n} octets decoded: {m:?}"
                );
                assert_eq!(m.encode().as_deref(), Ok(prefix));
            }
            Err(_) => assert!(!ok_lengths.contains(&n), "prefix of {n} octets failed"),
        }
    }
}

/// Decodes through [`decode`] and unwraps.
fn decoded(bytes: &[u8]) -> Message {
    decode(bytes).unwrap_or_else(|e| panic!("decode failed: {e}"))
}
