//! The one error type of the codec.

/// Why a message could not be decoded or encoded.
///
/// Every decoding failure is reported through this type: the decoder never panics.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// The input ended before `what` was complete.
    #[error("truncated {what}: needed {needed} octets, {available} left")]
    Truncated {
        what: &'static str,
        needed: usize,
        available: usize,
    },
    /// The message type (bits 1-6 of the first octet) is not one this codec handles.
    #[error("unknown or unsupported message type {0}")]
    UnknownMessageType(u8),
    /// A message-specific decoder was given another message type.
    #[error("expected message type {expected}, found {found}")]
    WrongMessageType { expected: u8, found: u8 },
    /// An optional IEI whose format, hence length, cannot be determined (see `ie` rules).
    #[error("unknown IEI 0x{0:02X}: its length cannot be determined")]
    UnknownIei(u8),
    /// A known optional IE appeared twice in one message (for half-octet IEs the IEI
    /// is reported with its low nibble cleared, e.g. 0x90).
    #[error("information element 0x{0:02X} appears more than once")]
    DuplicateIe(u8),
    /// A field holds a value outside its defined range (reserved or too large).
    #[error("bad value {value} for {what}")]
    BadValue { what: &'static str, value: u64 },
    /// A value does not fit its length field (TLV-E values are at most 65535 octets).
    #[error("{what} is {len} octets, at most {max} fit")]
    TooLong {
        what: &'static str,
        len: usize,
        max: usize,
    },
    /// Text was required and the octets are not UTF-8.
    #[error("{what} is not valid UTF-8")]
    InvalidUtf8 { what: &'static str },
    /// A value had octets left over after its content.
    #[error("{count} unexpected trailing octets in {what}")]
    TrailingBytes { what: &'static str, count: usize },
    /// A line of the metadata text (1-based) is malformed.
    #[error("malformed metadata line {line}: {reason}")]
    BadMetadata { line: usize, reason: &'static str },
    /// A metadata value contains CR or LF, which the line-based coding cannot carry.
    #[error("{what} contains a line break, which the metadata coding cannot carry")]
    LineBreak { what: &'static str },
}
