//! The bodies of the SIP MESSAGE requests that carry file distribution between MCData
//! servers (TS 24.282 clauses 6.2.4 and 6.3, procedures in clause 10.2.4): FD requests,
//! FD notifications and FD network notifications. Encoding and decoding only; no SIP
//! stack, no I/O.
//!
//! A body is `multipart/mixed` (RFC 2046 clause 5.1, [`multipart`]) holding
//! 1. `application/vnd.3gpp.mcdata-info+xml` ([`mcdata_info`], TS 24.282 annex D.1);
//! 2. `application/vnd.3gpp.mcdata-signalling`, the binary message of [`crate::codec`]
//!    (TS 24.282 clause 15), carried here as opaque octets;
//! 3. on the originating side of a one-to-one FD, `application/resource-lists+xml`
//!    naming the recipient ([`resource_lists`], RFC 5366 with RFC 4826 documents).
//!
//! This module owns the envelope: which parts, their order and headers, the boundary,
//! and what a received body gets refused with, as a SIP status and, where TS 24.282
//! clause 4.9 has one, a warning code ([`BodyError::sip_status`], [`BodyError::warning`]).
//! What the signalling part says is [`crate::codec`]'s business; SIP headers,
//! transactions and transports are the SIP layer's.
//!
//! Choices:
//! - encoding writes the parts in the order above; the resource-lists part only when
//!   there are recipients, with `Content-Disposition: recipient-list` (RFC 5363 clause
//!   4.2, required by RFC 5366 clause 4.1); the boundary is `mcdata-` and the 32 hex
//!   digits of a random UUID v4 (122 random bits), drawn again if it occurs in a part;
//!   the Content-Type is `multipart/mixed;boundary=...`;
//! - decoding accepts any `multipart/*` (RFC 2046 clause 5.1.7 treats unknown subtypes
//!   as mixed), finds the parts by media type in any order, ignores other parts (e.g.
//!   `application/vnd.3gpp.mcdata-payload`), refuses a known part given twice, and takes
//!   part octets as they are (no, `binary`, `8bit` or `7bit` Content-Transfer-Encoding)
//!   or base64-decoded (`base64`, which some stacks use for the binary part);
//! - a one-to-one FD naming more than one recipient is refused by [`FdBody::decode`];
//!   a missing recipient is only wrong on a one-to-one FD *request* received from the
//!   originating side, which the body cannot tell: the receiver calls
//!   [`FdBody::one_to_one_recipient`] (TS 24.282 clause 10.2.4).

// Nothing outside this module calls it until the SIP transport of issue 14 does; remove
// this then, so that dead code shows again.

mod content_type;
pub mod mcdata_info;
pub mod multipart;
pub mod resource_lists;
mod xml;

#[cfg(test)]
mod tests;

use std::borrow::Cow;

use base64::Engine as _;

pub use crate::codec::MIME as SIGNALLING_MIME;
pub use content_type::{media_type, ContentType};
pub use mcdata_info::{McdataInfo, RequestType};
use multipart::Part;

/// Why a received body is refused.
///
/// [`sip_status`](Self::sip_status) and [`warning`](Self::warning) give the SIP answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    /// The Content-Type is not `multipart/*` (or not a media type at all).
    #[error("Content-Type {0:?} is not multipart")]
    NotMultipart(String),
    /// The multipart Content-Type has no boundary parameter, or one RFC 2046 does not
    /// allow (empty, longer than 70, or with a line break).
    #[error("multipart Content-Type without a valid boundary parameter")]
    NoBoundary,
    /// The multipart structure is broken (RFC 2046 clause 5.1.1).
    #[error("malformed multipart body: {0}")]
    Malformed(&'static str),
    /// A part this module reads appears twice.
    #[error("more than one {0} part")]
    DuplicatePart(&'static str),
    /// No `application/vnd.3gpp.mcdata-info+xml` part.
    #[error("no application/vnd.3gpp.mcdata-info+xml part")]
    MissingInfo,
    /// No `application/vnd.3gpp.mcdata-signalling` part.
    #[error("no application/vnd.3gpp.mcdata-signalling part")]
    MissingSignalling,
    /// A part's Content-Transfer-Encoding is none this module decodes.
    #[error("Content-Transfer-Encoding {encoding:?} of the {part} part is not supported")]
    UnsupportedEncoding {
        part: &'static str,
        encoding: String,
    },
    /// A part declared base64 is not.
    #[error("the {part} part is not valid base64")]
    BadBase64 { part: &'static str },
    /// An XML part is not well-formed UTF-8 XML.
    #[error("bad XML in the {part} part: {reason}")]
    BadXml { part: &'static str, reason: String },
    /// An XML part's root element is not the one its namespace defines.
    #[error("the root element of the {part} part is {found}")]
    WrongRoot { part: &'static str, found: String },
    /// A one-to-one FD request without a recipient: no resource-lists part, or one
    /// without entries.
    #[error("one-to-one FD request without a recipient in an application/resource-lists+xml part")]
    MissingResourceLists,
    /// A one-to-one FD naming more than one recipient.
    #[error("one-to-one FD names {0} recipients, not one")]
    TooManyRecipients(usize),
}

/// TS 24.282 clause 4.9 warning of a one-to-one FD whose recipient cannot be told.
const WARNING_205: (u16, &str) = (205, "unable to determine targeted user for one-to-one FD");

impl BodyError {
    /// The SIP status to answer with: 415 (Unsupported Media Type) for a body that is not
    /// multipart or a part encoding not understood, 403 (Forbidden) where TS 24.282 refuses
    /// with a warning code, 400 (Bad Request) for anything malformed.
    pub fn sip_status(&self) -> u16 {
        match self {
            BodyError::NotMultipart(_) | BodyError::UnsupportedEncoding { .. } => 415,
            BodyError::MissingResourceLists | BodyError::TooManyRecipients(_) => 403,
            BodyError::NoBoundary
            | BodyError::Malformed(_)
            | BodyError::DuplicatePart(_)
            | BodyError::MissingInfo
            | BodyError::MissingSignalling
            | BodyError::BadBase64 { .. }
            | BodyError::BadXml { .. }
            | BodyError::WrongRoot { .. } => 400,
        }
    }

    /// The TS 24.282 clause 4.9 warning (code, text), for the warn-text of a `Warning: 399`
    /// header, where the spec has one.
    pub fn warning(&self) -> Option<(u16, &'static str)> {
        match self {
            BodyError::MissingResourceLists | BodyError::TooManyRecipients(_) => Some(WARNING_205),
            _ => None,
        }
    }
}

/// The parts of an FD SIP MESSAGE body.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FdBody {
    /// The mcdata-info part.
    pub info: McdataInfo,
    /// The signalling part: a [`crate::codec`] message, as octets.
    pub signalling: Vec<u8>,
    /// The resource-lists entries (recipients), in order; may be empty.
    pub recipients: Vec<String>,
}

impl FdBody {
    /// Returns (Content-Type header value with boundary, body bytes).
    pub fn encode(&self) -> (String, Vec<u8>) {
        self.encode_with(|| format!("mcdata-{}", uuid::Uuid::new_v4().simple()))
    }

    /// [`encode`](Self::encode) with boundaries drawn from `next_boundary` until one is
    /// valid and occurs in no part (each draw of 122 random bits all but surely is).
    fn encode_with(&self, mut next_boundary: impl FnMut() -> String) -> (String, Vec<u8>) {
        let info = self.info.encode();
        let lists = (!self.recipients.is_empty()).then(|| resource_lists::encode(&self.recipients));
        // The binary part last: the text parts before it stay readable to tools that
        // stop at the first NUL octet (SIPp's regexps, grep); RFC 2046 5.1.3 gives the
        // order of a multipart/mixed no meaning.
        let mut parts = vec![Part::new(mcdata_info::MIME, info.as_bytes())];
        if let Some(lists) = &lists {
            parts.push(
                Part::new(resource_lists::MIME, lists.as_bytes())
                    .with_header("Content-Disposition", resource_lists::DISPOSITION),
            );
        }
        parts.push(Part::new(SIGNALLING_MIME, &self.signalling));
        let boundary = loop {
            let candidate = next_boundary();
            if multipart::valid_boundary(&candidate) && !multipart::occurs_in(&candidate, &parts) {
                break candidate;
            }
        };
        let content_type = if content_type::is_token(&boundary) {
            format!("multipart/mixed;boundary={boundary}")
        } else {
            let mut quoted = String::with_capacity(boundary.len() + 2);
            for c in boundary.chars() {
                if matches!(c, '\\' | '"') {
                    quoted.push('\\');
                }
                quoted.push(c);
            }
            format!("multipart/mixed;boundary=\"{quoted}\"")
        };
        (content_type, multipart::encode(&boundary, &parts))
    }

    /// Reads a body given its Content-Type header value.
    pub fn decode(content_type: &str, body: &[u8]) -> Result<FdBody, BodyError> {
        let ct = ContentType::parse(content_type)
            .filter(ContentType::is_multipart)
            .ok_or_else(|| BodyError::NotMultipart(content_type.trim().to_owned()))?;
        let boundary = ct
            .param("boundary")
            .filter(|b| multipart::valid_boundary(b))
            .ok_or(BodyError::NoBoundary)?;
        let parts = multipart::decode(boundary, body)?;
        let (mut info, mut signalling, mut lists) = (None, None, None);
        for part in &parts {
            // RFC 2046 clause 5.1: a part without Content-Type is text/plain.
            let media = part
                .header("Content-Type")
                .and_then(media_type)
                .unwrap_or_else(|| "text/plain".to_owned());
            let (slot, name) = match media.as_str() {
                mcdata_info::MIME => (&mut info, "mcdata-info"),
                SIGNALLING_MIME => (&mut signalling, "mcdata-signalling"),
                resource_lists::MIME => (&mut lists, "resource-lists"),
                _ => continue,
            };
            if slot.is_some() {
                return Err(BodyError::DuplicatePart(name));
            }
            *slot = Some(octets(part, name)?);
        }
        let info = info.ok_or(BodyError::MissingInfo)?;
        let signalling = signalling.ok_or(BodyError::MissingSignalling)?;
        let info = McdataInfo::decode(&info)?;
        let recipients = match lists {
            Some(lists) => resource_lists::decode(&lists)?,
            None => Vec::new(),
        };
        if info.request_type == Some(RequestType::OneToOneFd) && recipients.len() > 1 {
            return Err(BodyError::TooManyRecipients(recipients.len()));
        }
        Ok(FdBody {
            info,
            signalling: signalling.into_owned(),
            recipients,
        })
    }

    /// The one recipient of a one-to-one FD request (TS 24.282 clause 10.2.4: exactly one
    /// `<entry>` in the resource-lists part).
    pub fn one_to_one_recipient(&self) -> Result<&str, BodyError> {
        match self.recipients.as_slice() {
            [one] => Ok(one),
            [] => Err(BodyError::MissingResourceLists),
            many => Err(BodyError::TooManyRecipients(many.len())),
        }
    }
}

/// A part's octets after its Content-Transfer-Encoding (RFC 2045 clause 6).
fn octets<'a>(part: &Part<'a>, name: &'static str) -> Result<Cow<'a, [u8]>, BodyError> {
    let encoding = part
        .header("Content-Transfer-Encoding")
        .map(|e| e.trim().to_ascii_lowercase());
    match encoding.as_deref() {
        None | Some("binary" | "8bit" | "7bit") => Ok(Cow::Borrowed(part.body)),
        Some("base64") => {
            let compact: Vec<u8> = part
                .body
                .iter()
                .copied()
                .filter(|b| !b.is_ascii_whitespace())
                .collect();
            base64::engine::general_purpose::STANDARD
                .decode(compact)
                .map(Cow::Owned)
                .map_err(|_| BodyError::BadBase64 { part: name })
        }
        Some(other) => Err(BodyError::UnsupportedEncoding {
            part: name,
            encoding: other.to_owned(),
        }),
    }
}
