//! FD message codec (`mcdata::codec`): arbitrary bytes are decoded as an FD message.
//! Decoding must never panic; whatever decodes must encode, decode back to the same
//! message, and re-encode to the same bytes (the encoding of a message is canonical).
//! The AFL++ twin of `fuzz/fuzz_targets/decode.rs`.

use mcdata::codec;

fn main() {
    afl::fuzz!(|data: &[u8]| {
        let Ok(message) = codec::decode(data) else {
            return;
        };
        let bytes = message
            .encode()
            .unwrap_or_else(|e| panic!("{message:?} decoded but does not encode: {e}"));
        let again = codec::decode(&bytes)
            .unwrap_or_else(|e| panic!("{message:?} encodes to {bytes:02x?}, which fails: {e}"));
        assert_eq!(again, message, "decode(encode(m)) != m");
        assert_eq!(
            again.encode().ok(),
            Some(bytes),
            "encoding is not canonical"
        );
    });
}
