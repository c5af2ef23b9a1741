//! Decodes arbitrary bytes as an FD message. Decoding must never panic; whatever decodes
//! must encode, and decoding that encoding must give the same message.

#![no_main]

use libfuzzer_sys::fuzz_target;
use mcdata::codec;

fuzz_target!(|data: &[u8]| {
    if let Ok(message) = codec::decode(data) {
        let bytes = message
            .encode()
            .unwrap_or_else(|e| panic!("{message:?} decoded but does not encode: {e}"));
        assert_eq!(codec::decode(&bytes), Ok(message));
    }
});
