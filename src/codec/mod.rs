//! Binary coding of the MCData FD messages of 3GPP TS 24.282 clause 15, the bodies of
//! MIME type [`MIME`].
//!
//! This module owns pure encoding and decoding of FD SIGNALLING PAYLOAD (type 2),
//! FD NOTIFICATION (type 6) and FD NETWORK NOTIFICATION (type 9): bytes in, structs out,
//! and back. No I/O, no async, no policy. Decoding never panics: every read goes through
//! a bounds-checked cursor and every failure is a [`CodecError`].
//!
//! Choices callers should know:
//! - unknown optional IEs are skipped when their length can be told from the IEI, and
//!   rejected otherwise (rules in the `ie` module: 0x80..=0xFF one octet, 0x50..=0x5F and
//!   0x70..=0x7F TLV-E; 0x20..=0x2F other than 0x21/0x22 and other ranges are errors);
//!   skipped IEs are not kept, so re-encoding drops them;
//! - a known optional IE present twice is an error, as are reserved values;
//! - optional IEs are encoded in a fixed order (the struct field order);
//! - the Metadata IE is `key: value` text lines (our choice, see [`FileMetadata`]);
//! - a FILEURL payload must be UTF-8; other payload content is kept raw.
//!
//! Layout: `cursor` (checked reader, writer), `header` (type octet, date and time, IDs),
//! `ie` (IEIs, optional IE reading), `payload`, `metadata`, one file per message, and
//! `message` (the [`Message`] enum and [`decode`]).

mod cursor;
mod error;
mod header;
mod ie;
mod message;
mod metadata;
mod network;
mod notification;
mod payload;
mod signalling;

#[cfg(test)]
mod tests;

pub use cursor::{MAX_DATE_TIME, MAX_TLV_E_LEN};
pub use error::CodecError;
pub use header::{AUTHENTICATED_BIT, PROTECTED_BIT};
pub use message::{decode, Message};
pub use metadata::FileMetadata;
pub use network::{FdNetworkNotification, NetworkNotificationKind};
pub use notification::{Disposition, FdNotification};
pub use payload::{ContentType, Payload};
pub use signalling::{DispositionRequest, FdSignalling};

/// IEI values of the optional information elements.
pub mod iei {
    pub use super::ie::{
        APPLICATION_ID, APP_METADATA, DISPOSITION_REQUEST, EXTENDED_APPLICATION_ID, IN_REPLY_TO,
        MANDATORY_DOWNLOAD, METADATA, PAYLOAD, SENDER, USER_LOCATION,
    };
}

/// MIME type of an FD message body.
pub const MIME: &str = "application/vnd.3gpp.mcdata-signalling";

/// Message type of FD SIGNALLING PAYLOAD.
pub const FD_SIGNALLING_PAYLOAD: u8 = 2;
/// Message type of FD NOTIFICATION.
pub const FD_NOTIFICATION: u8 = 6;
/// Message type of FD NETWORK NOTIFICATION.
pub const FD_NETWORK_NOTIFICATION: u8 = 9;
