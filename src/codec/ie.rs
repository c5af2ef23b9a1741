//! Information element identifiers and the generic reading of optional IEs.
//!
//! # How an optional IE's length is found
//!
//! After the mandatory part of a message come optional IEs in any order. The decoder
//! finds each one's length from its IEI alone, following TS 24.007 as far as that is
//! decidable without knowing every IE of the spec:
//!
//! | IEI | format | length on the wire | if unknown to the message |
//! |---|---|---|---|
//! | `0x80..=0xFF` | TV half-octet: high nibble IEI, low nibble value | 1 | skipped |
//! | `0x21` | TV, 16-octet value | 17 | skipped (known length) |
//! | `0x22` | TV, 1-octet value | 2 | skipped (known length) |
//! | other `0x20..=0x2F` | TV of unknown length | ? | **error** [`CodecError::UnknownIei`] |
//! | `0x50..=0x5F`, `0x70..=0x7F` | TLV-E | 3 + length | skipped |
//! | anything else | undecidable | ? | **error** [`CodecError::UnknownIei`] |
//!
//! An IE that cannot be measured cannot be stepped over, so it is rejected rather than
//! guessed at. The formats of 0x21 and 0x22 are shared by the three messages, so a
//! notification carrying them is still decodable (they are ignored there).
//!
//! A known IE that appears twice in one message is an error ([`CodecError::DuplicateIe`]):
//! the decoder never has to choose between two values. Skipped IEs may repeat.

use uuid::Uuid;

use super::cursor::{Reader, Writer};
use super::error::CodecError;

/// InReplyTo message ID: TV, 16-octet value.
pub const IN_REPLY_TO: u8 = 0x21;
/// Application ID: TV, 1-octet value.
pub const APPLICATION_ID: u8 = 0x22;
/// Sender MCData user ID: TLV-E, UTF-8.
pub const SENDER: u8 = 0x51;
/// Application metadata container: TLV-E, raw octets.
pub const APP_METADATA: u8 = 0x53;
/// Payload: TLV-E, content type octet then content.
pub const PAYLOAD: u8 = 0x78;
/// Metadata: TLV-E, UTF-8 text.
pub const METADATA: u8 = 0x79;
/// Extended application ID: TLV-E, raw octets.
pub const EXTENDED_APPLICATION_ID: u8 = 0x7D;
/// User location: TLV-E, raw octets.
pub const USER_LOCATION: u8 = 0x7E;
/// FD disposition request type: TV half-octet (IEI in the high nibble), value 1.
pub const DISPOSITION_REQUEST: u8 = 0x90;
/// Mandatory download: TV half-octet (IEI in the high nibble), value 1.
pub const MANDATORY_DOWNLOAD: u8 = 0xA0;

/// Human name of an IE, for error messages.
pub(crate) fn name(iei: u8) -> &'static str {
    match iei {
        IN_REPLY_TO => "InReplyTo message ID",
        APPLICATION_ID => "application ID",
        SENDER => "sender MCData user ID",
        APP_METADATA => "application metadata container",
        PAYLOAD => "payload",
        METADATA => "metadata",
        EXTENDED_APPLICATION_ID => "extended application ID",
        USER_LOCATION => "user location",
        DISPOSITION_REQUEST => "FD disposition request type",
        MANDATORY_DOWNLOAD => "mandatory download",
        _ => "unknown information element",
    }
}

/// One optional IE as read from the wire, value not yet interpreted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RawIe<'a> {
    /// The IEI; for half-octet IEs the low nibble is cleared (0x91 gives 0x90).
    pub iei: u8,
    /// For half-octet IEs the low nibble; otherwise the value octets.
    value: RawValue<'a>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RawValue<'a> {
    Half(u8),
    Octets(&'a [u8]),
}

impl<'a> RawIe<'a> {
    /// Reads the next optional IE (see the module doc for the length rules).
    pub(crate) fn read(r: &mut Reader<'a>) -> Result<Self, CodecError> {
        let octet = r.u8("IEI")?;
        let (iei, value) = match octet {
            0x80..=0xFF => (octet & 0xF0, RawValue::Half(octet & 0x0F)),
            IN_REPLY_TO => (octet, RawValue::Octets(r.take(16, name(octet))?)),
            APPLICATION_ID => (octet, RawValue::Octets(r.take(1, name(octet))?)),
            0x50..=0x5F | 0x70..=0x7F => {
                let len = r.u16_be("TLV-E length")?;
                (
                    octet,
                    RawValue::Octets(r.take(usize::from(len), name(octet))?),
                )
            }
            _ => return Err(CodecError::UnknownIei(octet)),
        };
        Ok(Self { iei, value })
    }

    /// The value octets (empty for a half-octet IE).
    pub(crate) fn octets(&self) -> &'a [u8] {
        match self.value {
            RawValue::Octets(v) => v,
            RawValue::Half(_) => &[],
        }
    }

    /// The half-octet value (0 for other IEs).
    pub(crate) fn half(&self) -> u8 {
        match self.value {
            RawValue::Half(v) => v,
            RawValue::Octets(_) => 0,
        }
    }

    /// The error for a reserved half-octet value.
    pub(crate) fn bad_half(&self) -> CodecError {
        CodecError::BadValue {
            what: name(self.iei),
            value: u64::from(self.half()),
        }
    }

    /// The value as exactly one octet.
    pub(crate) fn octet(&self) -> Result<u8, CodecError> {
        let mut r = Reader::new(self.octets());
        let v = r.u8(name(self.iei))?;
        r.finish(name(self.iei))?;
        Ok(v)
    }

    /// The value as exactly one UUID.
    pub(crate) fn uuid(&self) -> Result<Uuid, CodecError> {
        let mut r = Reader::new(self.octets());
        let v = r.uuid(name(self.iei))?;
        r.finish(name(self.iei))?;
        Ok(v)
    }

    /// The value as UTF-8 text.
    pub(crate) fn text(&self) -> Result<String, CodecError> {
        utf8(self.octets(), name(self.iei))
    }

    /// The value octets, owned.
    pub(crate) fn to_vec(self) -> Vec<u8> {
        self.octets().to_vec()
    }
}

/// Decodes UTF-8 text or reports which field was not text.
pub(crate) fn utf8(octets: &[u8], what: &'static str) -> Result<String, CodecError> {
    std::str::from_utf8(octets)
        .map(str::to_owned)
        .map_err(|_| CodecError::InvalidUtf8 { what })
}

/// Stores a decoded value, refusing a second occurrence of the same IE.
pub(crate) fn set_once<T>(slot: &mut Option<T>, value: T, iei: u8) -> Result<(), CodecError> {
    if slot.is_some() {
        return Err(CodecError::DuplicateIe(iei));
    }
    *slot = Some(value);
    Ok(())
}

/// Writes the optional TLV-E IEs 0x51, 0x53, 0x7D, 0x7E, in that order.
pub(crate) fn write_common_tlv_e(
    w: &mut Writer,
    sender: Option<&str>,
    app_metadata: Option<&[u8]>,
    extended_application_id: Option<&[u8]>,
    user_location: Option<&[u8]>,
) -> Result<(), CodecError> {
    let fields = [
        (SENDER, sender.map(str::as_bytes)),
        (APP_METADATA, app_metadata),
        (EXTENDED_APPLICATION_ID, extended_application_id),
        (USER_LOCATION, user_location),
    ];
    for (iei, value) in fields {
        if let Some(value) = value {
            w.tlv_e(iei, name(iei), value)?;
        }
    }
    Ok(())
}
