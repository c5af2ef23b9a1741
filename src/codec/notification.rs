//! FD NOTIFICATION (message type 6): the FD response and the download completed report.

use uuid::Uuid;

use super::cursor::{Reader, Writer};
use super::error::CodecError;
use super::header::{Ids, TypeOctet};
use super::ie::{self, set_once, RawIe};
use super::FD_NOTIFICATION;

/// FD disposition notification type (1 octet, V).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Disposition {
    /// 1: ACCEPTED.
    Accepted,
    /// 2: REJECTED.
    Rejected,
    /// 3: FILE DOWNLOAD COMPLETED (the download completed report).
    FileDownloadCompleted,
    /// 4: DEFERRED.
    Deferred,
}

impl Disposition {
    pub fn to_u8(self) -> u8 {
        match self {
            Self::Accepted => 1,
            Self::Rejected => 2,
            Self::FileDownloadCompleted => 3,
            Self::Deferred => 4,
        }
    }

    /// The disposition for an octet; other values are reserved (`None`).
    pub fn from_u8(v: u8) -> Option<Self> {
        match v {
            1 => Some(Self::Accepted),
            2 => Some(Self::Rejected),
            3 => Some(Self::FileDownloadCompleted),
            4 => Some(Self::Deferred),
            _ => None,
        }
    }
}

/// FD NOTIFICATION. Optional IEs: 0x51, 0x53, 0x7D, 0x7E (encoded in that order);
/// others are skipped when measurable (see `ie`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FdNotification {
    pub protected: bool,
    pub authenticated: bool,
    pub disposition: Disposition,
    /// Seconds since the UNIX epoch; at most 2^40 - 1.
    pub date_time: u64,
    pub conversation_id: Uuid,
    /// The message ID of the FD request this answers.
    pub message_id: Uuid,
    pub sender: Option<String>,
    pub app_metadata: Option<Vec<u8>>,
    pub extended_application_id: Option<Vec<u8>>,
    pub user_location: Option<Vec<u8>>,
}

impl FdNotification {
    /// A notification with the mandatory fields set and no optional IE.
    pub fn new(
        disposition: Disposition,
        date_time: u64,
        conversation_id: Uuid,
        message_id: Uuid,
    ) -> Self {
        Self {
            protected: false,
            authenticated: false,
            disposition,
            date_time,
            conversation_id,
            message_id,
            sender: None,
            app_metadata: None,
            extended_application_id: None,
            user_location: None,
        }
    }

    /// Decodes an FD NOTIFICATION; any other message type is an error.
    pub fn decode(bytes: &[u8]) -> Result<Self, CodecError> {
        let mut r = Reader::new(bytes);
        let t = TypeOctet::read(&mut r, FD_NOTIFICATION)?;
        let octet = r.u8("disposition notification type")?;
        let disposition = Disposition::from_u8(octet).ok_or(CodecError::BadValue {
            what: "disposition notification type",
            value: u64::from(octet),
        })?;
        let ids = Ids::read(&mut r)?;
        let mut m = Self {
            protected: t.protected,
            authenticated: t.authenticated,
            ..Self::new(
                disposition,
                ids.date_time,
                ids.conversation_id,
                ids.message_id,
            )
        };
        while !r.is_empty() {
            let e = RawIe::read(&mut r)?;
            match e.iei {
                ie::SENDER => set_once(&mut m.sender, e.text()?, e.iei)?,
                ie::APP_METADATA => set_once(&mut m.app_metadata, e.to_vec(), e.iei)?,
                ie::EXTENDED_APPLICATION_ID => {
                    set_once(&mut m.extended_application_id, e.to_vec(), e.iei)?
                }
                ie::USER_LOCATION => set_once(&mut m.user_location, e.to_vec(), e.iei)?,
                _ => {} // not carried by this message, or unknown: skipped
            }
        }
        Ok(m)
    }

    /// Encodes the message; fails on a date and time above 40 bits or a TLV-E value
    /// above 65535 octets.
    pub fn encode(&self) -> Result<Vec<u8>, CodecError> {
        let mut w = Writer::new();
        TypeOctet::write(&mut w, FD_NOTIFICATION, self.protected, self.authenticated);
        w.u8(self.disposition.to_u8());
        Ids::write(
            &mut w,
            self.date_time,
            &self.conversation_id,
            &self.message_id,
        )?;
        ie::write_common_tlv_e(
            &mut w,
            self.sender.as_deref(),
            self.app_metadata.as_deref(),
            self.extended_application_id.as_deref(),
            self.user_location.as_deref(),
        )?;
        Ok(w.into_vec())
    }
}
