//! FD SIGNALLING PAYLOAD (message type 2): the FD request.

use uuid::Uuid;

use super::cursor::{Reader, Writer};
use super::error::CodecError;
use super::header::{Ids, TypeOctet};
use super::ie::{self, set_once, RawIe};
use super::metadata::FileMetadata;
use super::payload::Payload;
use super::FD_SIGNALLING_PAYLOAD;

/// FD disposition request type (half-octet IE 0x9_).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DispositionRequest {
    /// 1: FILE DOWNLOAD COMPLETED UPDATE, the sender wants a download completed report.
    FileDownloadCompletedUpdate,
}

impl DispositionRequest {
    /// The half-octet value; other values are reserved.
    pub fn to_nibble(self) -> u8 {
        match self {
            Self::FileDownloadCompletedUpdate => 1,
        }
    }

    pub fn from_nibble(v: u8) -> Option<Self> {
        match v {
            1 => Some(Self::FileDownloadCompletedUpdate),
            _ => None,
        }
    }
}

/// Value of the mandatory download half-octet IE (0xA1); other values are reserved.
const MANDATORY_DOWNLOAD_VALUE: u8 = 1;

/// FD SIGNALLING PAYLOAD. Optional IEs are encoded in field order (0x21, 0x22, 0x9_,
/// 0xA_, 0x78, 0x79, 0x51, 0x53, 0x7D, 0x7E) and decoded in any order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FdSignalling {
    pub protected: bool,
    pub authenticated: bool,
    /// Seconds since the UNIX epoch; at most 2^40 - 1.
    pub date_time: u64,
    pub conversation_id: Uuid,
    pub message_id: Uuid,
    pub in_reply_to: Option<Uuid>,
    pub application_id: Option<u8>,
    pub disposition_request: Option<DispositionRequest>,
    /// Mandatory download IE present (0xA1).
    pub mandatory_download: bool,
    pub payload: Option<Payload>,
    pub metadata: Option<FileMetadata>,
    pub sender: Option<String>,
    pub app_metadata: Option<Vec<u8>>,
    pub extended_application_id: Option<Vec<u8>>,
    pub user_location: Option<Vec<u8>>,
}

impl FdSignalling {
    /// A message with the mandatory fields set and no optional IE.
    pub fn new(date_time: u64, conversation_id: Uuid, message_id: Uuid) -> Self {
        Self {
            date_time,
            conversation_id,
            message_id,
            ..Self::default()
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

    /// Decodes an FD SIGNALLING PAYLOAD; any other message type is an error.
    pub fn decode(bytes: &[u8]) -> Result<Self, CodecError> {
        let mut r = Reader::new(bytes);
        let t = TypeOctet::read(&mut r, FD_SIGNALLING_PAYLOAD)?;
        let ids = Ids::read(&mut r)?;
        let mut m = Self {
            protected: t.protected,
            authenticated: t.authenticated,
            date_time: ids.date_time,
            conversation_id: ids.conversation_id,
            message_id: ids.message_id,
            ..Self::default()
        };
        let mut mandatory = None;
        while !r.is_empty() {
            let e = RawIe::read(&mut r)?;
            match e.iei {
                ie::IN_REPLY_TO => set_once(&mut m.in_reply_to, e.uuid()?, e.iei)?,
                ie::APPLICATION_ID => set_once(&mut m.application_id, e.octet()?, e.iei)?,
                ie::DISPOSITION_REQUEST => {
                    let v = DispositionRequest::from_nibble(e.half()).ok_or(e.bad_half())?;
                    set_once(&mut m.disposition_request, v, e.iei)?;
                }
                ie::MANDATORY_DOWNLOAD => {
                    if e.half() != MANDATORY_DOWNLOAD_VALUE {
                        return Err(e.bad_half());
                    }
                    set_once(&mut mandatory, (), e.iei)?;
                }
                ie::PAYLOAD => set_once(&mut m.payload, Payload::decode_value(e.octets())?, e.iei)?,
                ie::METADATA => set_once(
                    &mut m.metadata,
                    FileMetadata::decode_value(e.octets())?,
                    e.iei,
                )?,
                ie::SENDER => set_once(&mut m.sender, e.text()?, e.iei)?,
                ie::APP_METADATA => set_once(&mut m.app_metadata, e.to_vec(), e.iei)?,
                ie::EXTENDED_APPLICATION_ID => {
                    set_once(&mut m.extended_application_id, e.to_vec(), e.iei)?
                }
                ie::USER_LOCATION => set_once(&mut m.user_location, e.to_vec(), e.iei)?,
                _ => {} // unknown but measurable: skipped (see `ie`)
            }
        }
        m.mandatory_download = mandatory.is_some();
        Ok(m)
    }

    /// Encodes the message; fails on a date and time above 40 bits, a TLV-E value above
    /// 65535 octets, or a value the decoder would refuse (see [`Payload`], [`FileMetadata`]).
    pub fn encode(&self) -> Result<Vec<u8>, CodecError> {
        let mut w = Writer::new();
        TypeOctet::write(
            &mut w,
            FD_SIGNALLING_PAYLOAD,
            self.protected,
            self.authenticated,
        );
        Ids::write(
            &mut w,
            self.date_time,
            &self.conversation_id,
            &self.message_id,
        )?;
        if let Some(id) = &self.in_reply_to {
            w.tv(ie::IN_REPLY_TO, id.as_bytes());
        }
        if let Some(app) = self.application_id {
            w.tv(ie::APPLICATION_ID, &[app]);
        }
        if let Some(d) = self.disposition_request {
            w.u8(ie::DISPOSITION_REQUEST | d.to_nibble());
        }
        if self.mandatory_download {
            w.u8(ie::MANDATORY_DOWNLOAD | MANDATORY_DOWNLOAD_VALUE);
        }
        if let Some(p) = &self.payload {
            w.tlv_e(ie::PAYLOAD, ie::name(ie::PAYLOAD), &p.encode_value()?)?;
        }
        if let Some(md) = &self.metadata {
            w.tlv_e(ie::METADATA, ie::name(ie::METADATA), &md.encode_value()?)?;
        }
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
