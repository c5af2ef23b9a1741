//! The Payload IE (0x78): a content type octet, then the content.

use super::cursor::Reader;
use super::error::CodecError;
use super::ie;

/// Payload content type (first octet of the Payload IE value).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContentType {
    /// 1: TEXT.
    Text,
    /// 2: BINARY.
    Binary,
    /// 3: HYPERLINKS.
    Hyperlinks,
    /// 4: FILEURL; the content is the URL as UTF-8 (checked on decode and encode).
    FileUrl,
    /// 5: LOCATION.
    Location,
    /// 6: ENHANCED STATUS.
    EnhancedStatus,
    /// 7: VALUE.
    Value,
    /// 8: BOOLEAN.
    Boolean,
    /// Any other value, kept as is. Never holds one of the values above: encoding
    /// `Other(4)` is an error, use `FileUrl`.
    Other(u8),
}

impl ContentType {
    /// The type for an octet; unknown values become [`ContentType::Other`].
    pub fn from_u8(v: u8) -> Self {
        match v {
            1 => Self::Text,
            2 => Self::Binary,
            3 => Self::Hyperlinks,
            4 => Self::FileUrl,
            5 => Self::Location,
            6 => Self::EnhancedStatus,
            7 => Self::Value,
            8 => Self::Boolean,
            other => Self::Other(other),
        }
    }

    /// The octet for this type.
    pub fn to_u8(self) -> u8 {
        match self {
            Self::Text => 1,
            Self::Binary => 2,
            Self::Hyperlinks => 3,
            Self::FileUrl => 4,
            Self::Location => 5,
            Self::EnhancedStatus => 6,
            Self::Value => 7,
            Self::Boolean => 8,
            Self::Other(v) => v,
        }
    }
}

impl From<u8> for ContentType {
    fn from(v: u8) -> Self {
        Self::from_u8(v)
    }
}

impl From<ContentType> for u8 {
    fn from(t: ContentType) -> Self {
        t.to_u8()
    }
}

/// The value of a Payload IE. Only FILEURL content is interpreted (as UTF-8);
/// every other content type is kept as raw octets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payload {
    pub content_type: ContentType,
    pub data: Vec<u8>,
}

impl Payload {
    pub fn new(content_type: ContentType, data: Vec<u8>) -> Self {
        Self { content_type, data }
    }

    /// A FILEURL payload carrying `url`.
    pub fn file_url(url: &str) -> Self {
        Self::new(ContentType::FileUrl, url.as_bytes().to_vec())
    }

    /// The URL if this is a FILEURL payload holding UTF-8.
    pub fn as_file_url(&self) -> Option<&str> {
        match self.content_type {
            ContentType::FileUrl => std::str::from_utf8(&self.data).ok(),
            _ => None,
        }
    }

    /// Decodes the IE value (content type octet, content).
    pub(crate) fn decode_value(value: &[u8]) -> Result<Self, CodecError> {
        let mut r = Reader::new(value);
        let content_type = ContentType::from_u8(r.u8("payload content type")?);
        let data = r.rest().to_vec();
        r.finish(ie::name(ie::PAYLOAD))?;
        if content_type == ContentType::FileUrl {
            ie::utf8(&data, "FILEURL payload")?;
        }
        Ok(Self { content_type, data })
    }

    /// Encodes the IE value (content type octet, content).
    pub(crate) fn encode_value(&self) -> Result<Vec<u8>, CodecError> {
        let octet = self.content_type.to_u8();
        if ContentType::from_u8(octet) != self.content_type {
            return Err(CodecError::BadValue {
                what: "payload content type (Other holding a known type)",
                value: u64::from(octet),
            });
        }
        if self.content_type == ContentType::FileUrl {
            ie::utf8(&self.data, "FILEURL payload")?;
        }
        let mut out = Vec::with_capacity(1 + self.data.len());
        out.push(octet);
        out.extend_from_slice(&self.data);
        Ok(out)
    }
}
