//! [`Message`]: any of the three FD messages, chosen by the message type octet.

use uuid::Uuid;

use super::error::CodecError;
use super::header::TypeOctet;
use super::network::FdNetworkNotification;
use super::notification::FdNotification;
use super::signalling::FdSignalling;
use super::{FD_NETWORK_NOTIFICATION, FD_NOTIFICATION, FD_SIGNALLING_PAYLOAD};

/// One decoded FD message.
// Not boxed: messages are handled one at a time, never stored in bulk, and plain
// variants keep construction and matching simple for callers.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// FD SIGNALLING PAYLOAD (type 2).
    Signalling(FdSignalling),
    /// FD NOTIFICATION (type 6).
    Notification(FdNotification),
    /// FD NETWORK NOTIFICATION (type 9).
    NetworkNotification(FdNetworkNotification),
}

/// Decodes any of the three messages; other message types (including 13, FD HTTP
/// TERMINATION) give [`CodecError::UnknownMessageType`].
pub fn decode(bytes: &[u8]) -> Result<Message, CodecError> {
    Message::decode(bytes)
}

impl Message {
    /// See [`decode`].
    pub fn decode(bytes: &[u8]) -> Result<Self, CodecError> {
        let octet = *bytes.first().ok_or(CodecError::Truncated {
            what: "message type",
            needed: 1,
            available: 0,
        })?;
        match TypeOctet::from_octet(octet).message_type {
            FD_SIGNALLING_PAYLOAD => FdSignalling::decode(bytes).map(Self::Signalling),
            FD_NOTIFICATION => FdNotification::decode(bytes).map(Self::Notification),
            FD_NETWORK_NOTIFICATION => {
                FdNetworkNotification::decode(bytes).map(Self::NetworkNotification)
            }
            other => Err(CodecError::UnknownMessageType(other)),
        }
    }

    pub fn encode(&self) -> Result<Vec<u8>, CodecError> {
        match self {
            Self::Signalling(m) => m.encode(),
            Self::Notification(m) => m.encode(),
            Self::NetworkNotification(m) => m.encode(),
        }
    }

    /// The message type (bits 1-6 of the first octet).
    pub fn message_type(&self) -> u8 {
        match self {
            Self::Signalling(_) => FD_SIGNALLING_PAYLOAD,
            Self::Notification(_) => FD_NOTIFICATION,
            Self::NetworkNotification(_) => FD_NETWORK_NOTIFICATION,
        }
    }

    pub fn date_time(&self) -> u64 {
        match self {
            Self::Signalling(m) => m.date_time,
            Self::Notification(m) => m.date_time,
            Self::NetworkNotification(m) => m.date_time,
        }
    }

    pub fn conversation_id(&self) -> Uuid {
        match self {
            Self::Signalling(m) => m.conversation_id,
            Self::Notification(m) => m.conversation_id,
            Self::NetworkNotification(m) => m.conversation_id,
        }
    }

    pub fn message_id(&self) -> Uuid {
        match self {
            Self::Signalling(m) => m.message_id,
            Self::Notification(m) => m.message_id,
            Self::NetworkNotification(m) => m.message_id,
        }
    }
}

impl From<FdSignalling> for Message {
    fn from(m: FdSignalling) -> Self {
        Self::Signalling(m)
    }
}

impl From<FdNotification> for Message {
    fn from(m: FdNotification) -> Self {
        Self::Notification(m)
    }
}

impl From<FdNetworkNotification> for Message {
    fn from(m: FdNetworkNotification) -> Self {
        Self::NetworkNotification(m)
    }
}
