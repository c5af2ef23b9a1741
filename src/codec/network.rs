//! FD NETWORK NOTIFICATION (message type 9): a file is no longer available.

use uuid::Uuid;

use super::cursor::{Reader, Writer};
use super::error::CodecError;
use super::header::{Ids, TypeOctet};
use super::ie::{self, set_once, RawIe};
use super::payload::Payload;
use super::FD_NETWORK_NOTIFICATION;

/// FD network notification type (1 octet, V).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NetworkNotificationKind {
    /// 1: FILE EXPIRED UNAVAILABLE TO DOWNLOAD.
    FileExpired,
    /// 2: FILE DELETED UNAVAILABLE TO DOWNLOAD.
    FileDeleted,
}

impl NetworkNotificationKind {
    pub fn to_u8(self) -> u8 {
        match self {
            Self::FileExpired => 1,
            Self::FileDeleted => 2,
        }
    }

    /// The kind for an octet; other values are reserved (`None`).
    pub fn from_u8(v: u8) -> Option<Self> {
        match v {
            1 => Some(Self::FileExpired),
            2 => Some(Self::FileDeleted),
            _ => None,
        }
    }
}

/// FD NETWORK NOTIFICATION. Optional IEs: 0x78 payload (the FILEURL naming the file),
/// 0x51 sender (encoded in that order); others are skipped when measurable (see `ie`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FdNetworkNotification {
    pub protected: bool,
    pub authenticated: bool,
    pub kind: NetworkNotificationKind,
    /// Seconds since the UNIX epoch; at most 2^40 - 1.
    pub date_time: u64,
    pub conversation_id: Uuid,
    pub message_id: Uuid,
    pub payload: Option<Payload>,
    pub sender: Option<String>,
}

impl FdNetworkNotification {
    /// A notification with the mandatory fields set and no optional IE.
    pub fn new(
        kind: NetworkNotificationKind,
        date_time: u64,
        conversation_id: Uuid,
        message_id: Uuid,
    ) -> Self {
        Self {
            protected: false,
            authenticated: false,
            kind,
            date_time,
            conversation_id,
            message_id,
            payload: None,
            sender: None,
        }
    }

    /// The URL of a FILEURL payload, if there is one.
    pub fn file_url(&self) -> Option<&str> {
        self.payload.as_ref().and_then(Payload::as_file_url)
    }

    /// Replaces the payload with a FILEURL payload carrying `url`.
    pub fn set_file_url(&mut self, url: &str) {
        self.payload = Some(Payload::file_url(url));
    }

    /// Decodes an FD NETWORK NOTIFICATION; any other message type is an error.
    pub fn decode(bytes: &[u8]) -> Result<Self, CodecError> {
        let mut r = Reader::new(bytes);
        let t = TypeOctet::read(&mut r, FD_NETWORK_NOTIFICATION)?;
        let octet = r.u8("network notification type")?;
        let kind = NetworkNotificationKind::from_u8(octet).ok_or(CodecError::BadValue {
            what: "network notification type",
            value: u64::from(octet),
        })?;
        let ids = Ids::read(&mut r)?;
        let mut m = Self {
            protected: t.protected,
            authenticated: t.authenticated,
            ..Self::new(kind, ids.date_time, ids.conversation_id, ids.message_id)
        };
        while !r.is_empty() {
            let e = RawIe::read(&mut r)?;
            match e.iei {
                ie::PAYLOAD => set_once(&mut m.payload, Payload::decode_value(e.octets())?, e.iei)?,
                ie::SENDER => set_once(&mut m.sender, e.text()?, e.iei)?,
                _ => {} // not carried by this message, or unknown: skipped
            }
        }
        Ok(m)
    }

    /// Encodes the message; fails on a date and time above 40 bits, a TLV-E value above
    /// 65535 octets, or a payload the decoder would refuse (see [`Payload`]).
    pub fn encode(&self) -> Result<Vec<u8>, CodecError> {
        let mut w = Writer::new();
        TypeOctet::write(
            &mut w,
            FD_NETWORK_NOTIFICATION,
            self.protected,
            self.authenticated,
        );
        w.u8(self.kind.to_u8());
        Ids::write(
            &mut w,
            self.date_time,
            &self.conversation_id,
            &self.message_id,
        )?;
        if let Some(p) = &self.payload {
            w.tlv_e(ie::PAYLOAD, ie::name(ie::PAYLOAD), &p.encode_value()?)?;
        }
        ie::write_common_tlv_e(&mut w, self.sender.as_deref(), None, None, None)?;
        Ok(w.into_vec())
    }
}
