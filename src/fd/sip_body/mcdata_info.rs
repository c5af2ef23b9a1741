//! The `application/vnd.3gpp.mcdata-info+xml` part (TS 24.282 annex D.1): who sends,
//! to whom, and what kind of request.
//!
//! ```xml
//! <mcdatainfo xmlns="urn:3gpp:ns:mcdataInfo:1.0">
//!   <mcdata-Params>
//!     <request-type>one-to-one-fd</request-type>
//!     <mcdata-calling-user-id type="Normal"><mcdataURI>sip:alice@a.example</mcdataURI></mcdata-calling-user-id>
//!   </mcdata-Params>
//! </mcdatainfo>
//! ```
//!
//! In the D.1.2 schema `request-type` is an `xs:string`, so it is written as plain text;
//! the other elements kept here are of `contentType`, a choice of `<mcdataString>`,
//! `<mcdataURI>`, ... with a `type` attribute (`protectionType`, `Normal` or `Encrypted`)
//! on the element itself, as MCPTT's `mcpttinfo` does (TS 24.379 annex F.1). Output is in
//! schema order with `type="Normal"`.
//!
//! Input is read tolerantly, as the schema's `xs:any`, `anyExt` and `anyAttribute` demand:
//! any prefix (or the default namespace) bound to [`NAMESPACE`]; unknown elements,
//! attributes and namespaces ignored anywhere; values trimmed, empty ones absent; a value
//! given as bare text, or `request-type` wrapped in `<mcdataString>`, accepted; an
//! element given twice keeps its first value; an encrypted value (`<mcdata-Encrypted>`)
//! is read as absent. The root must be `mcdatainfo` in [`NAMESPACE`].

use std::fmt;

use super::xml::{escape, Node, Reader};
use super::BodyError;

/// MIME type of the part.
pub const MIME: &str = "application/vnd.3gpp.mcdata-info+xml";
/// XML namespace of the document (TS 24.282 annex D.1.2).
pub const NAMESPACE: &str = "urn:3gpp:ns:mcdataInfo:1.0";

const PART: &str = "mcdata-info";

/// The `<mcdata-Params>` this server reads and writes (TS 24.282 annex D.1.2).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct McdataInfo {
    /// `<mcdata-access-token>` (`<mcdataString>`).
    pub access_token: Option<String>,
    /// `<request-type>`.
    pub request_type: Option<RequestType>,
    /// `<mcdata-request-uri>` (`<mcdataURI>`).
    pub request_uri: Option<String>,
    /// `<mcdata-calling-user-id>` (`<mcdataURI>`): the sender's MCData ID.
    pub calling_user_id: Option<String>,
    /// `<mcdata-called-party-id>` (`<mcdataURI>`).
    pub called_party_id: Option<String>,
    /// `<mcdata-calling-group-id>` (`<mcdataURI>`).
    pub calling_group_id: Option<String>,
}

/// `<request-type>` values of file distribution (TS 24.282 clause 10.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestType {
    /// `one-to-one-fd`.
    OneToOneFd,
    /// `group-fd`.
    GroupFd,
    /// Any other value (e.g. `one-to-one-sds`), kept as received.
    Unknown(String),
}

impl RequestType {
    /// The value as written in the document.
    pub fn as_str(&self) -> &str {
        match self {
            RequestType::OneToOneFd => "one-to-one-fd",
            RequestType::GroupFd => "group-fd",
            RequestType::Unknown(other) => other,
        }
    }

    /// Reads a (trimmed) value; values are case-sensitive, as in the spec.
    pub fn parse(value: &str) -> RequestType {
        match value.trim() {
            "one-to-one-fd" => RequestType::OneToOneFd,
            "group-fd" => RequestType::GroupFd,
            other => RequestType::Unknown(other.to_owned()),
        }
    }
}

impl fmt::Display for RequestType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a `contentType` value is wrapped.
#[derive(Clone, Copy)]
enum Value {
    Text,
    String,
    Uri,
}

/// The elements kept, in schema order, with how each is written.
const FIELDS: [(&str, Value); 6] = [
    ("mcdata-access-token", Value::String),
    ("request-type", Value::Text),
    ("mcdata-request-uri", Value::Uri),
    ("mcdata-calling-user-id", Value::Uri),
    ("mcdata-called-party-id", Value::Uri),
    ("mcdata-calling-group-id", Value::Uri),
];

impl McdataInfo {
    fn field(&self, index: usize) -> Option<&str> {
        match index {
            0 => self.access_token.as_deref(),
            1 => self.request_type.as_ref().map(RequestType::as_str),
            2 => self.request_uri.as_deref(),
            3 => self.calling_user_id.as_deref(),
            4 => self.called_party_id.as_deref(),
            5 => self.calling_group_id.as_deref(),
            _ => None,
        }
    }

    fn set_field(&mut self, index: usize, value: String) {
        let slot = match index {
            0 => &mut self.access_token,
            1 => {
                self.request_type
                    .get_or_insert_with(|| RequestType::parse(&value));
                return;
            }
            2 => &mut self.request_uri,
            3 => &mut self.calling_user_id,
            4 => &mut self.called_party_id,
            5 => &mut self.calling_group_id,
            _ => return,
        };
        slot.get_or_insert(value);
    }

    /// The XML document (UTF-8), elements in schema order.
    pub fn encode(&self) -> String {
        let mut out = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n<mcdatainfo xmlns=\"{NAMESPACE}\">\r\n<mcdata-Params>\r\n"
        );
        for (index, (name, kind)) in FIELDS.iter().enumerate() {
            let Some(value) = self.field(index) else {
                continue;
            };
            let value = escape(value, false);
            let line = match kind {
                Value::Text => format!("<{name}>{value}</{name}>"),
                Value::String => {
                    format!("<{name} type=\"Normal\"><mcdataString>{value}</mcdataString></{name}>")
                }
                Value::Uri => {
                    format!("<{name} type=\"Normal\"><mcdataURI>{value}</mcdataURI></{name}>")
                }
            };
            out.push_str(&line);
            out.push_str("\r\n");
        }
        out.push_str("</mcdata-Params>\r\n</mcdatainfo>\r\n");
        out
    }

    /// Reads the document.
    pub fn decode(bytes: &[u8]) -> Result<McdataInfo, BodyError> {
        let mut reader = Reader::new(PART, NAMESPACE, bytes)?;
        let mut info = McdataInfo::default();
        let root_empty = reader.root("mcdatainfo")?;
        if !root_empty {
            read_root(&mut reader, &mut info)?;
        }
        reader.finish()?;
        Ok(info)
    }
}

/// Children of `<mcdatainfo>`: the first `<mcdata-Params>` is read, the rest skipped.
fn read_root(reader: &mut Reader<'_>, info: &mut McdataInfo) -> Result<(), BodyError> {
    let mut seen_params = false;
    loop {
        match reader.node()? {
            Node::Start {
                ours: true,
                local,
                empty: false,
                ..
            } if local == "mcdata-Params" && !seen_params => {
                seen_params = true;
                read_params(reader, info)?;
            }
            Node::Start { empty: false, .. } => reader.skip()?,
            Node::End => return Ok(()),
            Node::Eof => return Err(reader.error("document ends inside an element")),
            Node::Start { empty: true, .. } | Node::Text(_) => {}
        }
    }
}

/// Children of `<mcdata-Params>`.
fn read_params(reader: &mut Reader<'_>, info: &mut McdataInfo) -> Result<(), BodyError> {
    loop {
        match reader.node()? {
            Node::Start {
                ours: true,
                local,
                empty: false,
                ..
            } => match FIELDS.iter().position(|(name, _)| *name == local) {
                Some(index) => {
                    if let Some(value) = read_value(reader)? {
                        info.set_field(index, value);
                    }
                }
                None => reader.skip()?,
            },
            Node::Start { empty: false, .. } => reader.skip()?,
            Node::End => return Ok(()),
            Node::Eof => return Err(reader.error("document ends inside an element")),
            Node::Start { empty: true, .. } | Node::Text(_) => {}
        }
    }
}

/// A `contentType` value: the first `<mcdataURI>` or `<mcdataString>` child, else the
/// element's own text; trimmed, `None` when empty.
fn read_value(reader: &mut Reader<'_>) -> Result<Option<String>, BodyError> {
    let mut own_text = String::new();
    let mut wrapped: Option<String> = None;
    let mut encrypted = false;
    loop {
        match reader.node()? {
            Node::Text(text) => own_text.push_str(&text),
            Node::Start {
                ours: true,
                local,
                empty,
                ..
            } if local == "mcdataURI" || local == "mcdataString" => {
                let text = if empty {
                    String::new()
                } else {
                    reader.text_content()?
                };
                wrapped.get_or_insert(text);
            }
            Node::Start {
                ours, local, empty, ..
            } => {
                encrypted |= ours && local == "mcdata-Encrypted";
                if !empty {
                    reader.skip()?;
                }
            }
            Node::End => break,
            Node::Eof => return Err(reader.error("document ends inside an element")),
        }
    }
    let value = match wrapped {
        Some(value) => value,
        None if encrypted => return Ok(None),
        None => own_text,
    };
    let value = value.trim();
    Ok((!value.is_empty()).then(|| value.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full() -> McdataInfo {
        McdataInfo {
            access_token: Some("eyJ.a&b".to_owned()),
            request_type: Some(RequestType::OneToOneFd),
            request_uri: Some("sip:fd-psi@b.example".to_owned()),
            calling_user_id: Some("sip:alice@a.example".to_owned()),
            called_party_id: Some("sip:bob@b.example;x=\"<y>\"".to_owned()),
            calling_group_id: Some("sip:group@a.example".to_owned()),
        }
    }

    #[test]
    fn encodes_in_schema_order_with_type_normal() {
        // TS 24.282 annex D.1.2: mcdata-ParamsType sequence order; request-type is an
        // xs:string, the others contentType with type="Normal" on the element.
        let xml = full().encode();
        let expected = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n\
            <mcdatainfo xmlns=\"urn:3gpp:ns:mcdataInfo:1.0\">\r\n<mcdata-Params>\r\n\
            <mcdata-access-token type=\"Normal\"><mcdataString>eyJ.a&amp;b</mcdataString></mcdata-access-token>\r\n\
            <request-type>one-to-one-fd</request-type>\r\n\
            <mcdata-request-uri type=\"Normal\"><mcdataURI>sip:fd-psi@b.example</mcdataURI></mcdata-request-uri>\r\n\
            <mcdata-calling-user-id type=\"Normal\"><mcdataURI>sip:alice@a.example</mcdataURI></mcdata-calling-user-id>\r\n\
            <mcdata-called-party-id type=\"Normal\"><mcdataURI>sip:bob@b.example;x=&quot;&lt;y&gt;&quot;</mcdataURI></mcdata-called-party-id>\r\n\
            <mcdata-calling-group-id type=\"Normal\"><mcdataURI>sip:group@a.example</mcdataURI></mcdata-calling-group-id>\r\n\
            </mcdata-Params>\r\n</mcdatainfo>\r\n";
        assert_eq!(xml, expected);
    }

    #[test]
    fn round_trips() {
        for info in [
            full(),
            McdataInfo::default(),
            McdataInfo {
                request_type: Some(RequestType::GroupFd),
                calling_group_id: Some("sip:g@a.example".to_owned()),
                ..McdataInfo::default()
            },
            McdataInfo {
                request_type: Some(RequestType::Unknown("one-to-one-sds".to_owned())),
                ..McdataInfo::default()
            },
        ] {
            assert_eq!(McdataInfo::decode(info.encode().as_bytes()).unwrap(), info);
        }
    }

    #[test]
    fn reads_another_vendors_document() {
        // TS 24.282 annex D.1.2 xs:any / anyExt / anyAttribute: a prefix, unknown elements,
        // attributes and namespaces, comments, a PI, LF only, CDATA, whitespace, an
        // encrypted value, a duplicate, bare text, request-type in <mcdataString>.
        let xml = "<?xml version='1.0' encoding='UTF-8'?>\n\
            <!-- vendor X -->\n\
            <m:mcdatainfo xmlns:m='urn:3gpp:ns:mcdataInfo:1.0' xmlns:v='urn:vendor' v:build='7'>\n\
              <v:trace id='1'><m:mcdata-Params><m:request-type>group-fd</m:request-type></m:mcdata-Params></v:trace>\n\
              <m:mcdata-Params>\n\
                <m:mcdata-access-token type='Encrypted'><m:mcdata-Encrypted>xx</m:mcdata-Encrypted></m:mcdata-access-token>\n\
                <m:request-type><m:mcdataString> one-to-one-fd </m:mcdataString></m:request-type>\n\
                <v:hint>skip me<m:mcdata-request-uri>no</m:mcdata-request-uri></v:hint>\n\
                <m:mcdata-request-uri type='Normal' v:x='1'>\n  <?pi?><m:mcdataURI><![CDATA[sip:psi@b.example]]></m:mcdataURI>\n</m:mcdata-request-uri>\n\
                <m:mcdata-calling-user-id>  sip:alice@a.example  </m:mcdata-calling-user-id>\n\
                <m:mcdata-calling-user-id><m:mcdataURI>sip:second@a.example</m:mcdataURI></m:mcdata-calling-user-id>\n\
                <mcdata-called-party-id xmlns='urn:3gpp:ns:mcdataInfo:1.0'><mcdataURI>sip:bob@b.example</mcdataURI><v:x/></mcdata-called-party-id>\n\
                <m:mcdata-calling-group-id><m:mcdataURI>   </m:mcdataURI></m:mcdata-calling-group-id>\n\
                <m:anyExt><m:whatever/></m:anyExt>\n\
                <m:alert-ind><m:mcdataBoolean>true</m:mcdataBoolean></m:alert-ind>\n\
              </m:mcdata-Params>\n\
              <m:mcdata-Params><m:request-uri>ignored second params</m:request-uri></m:mcdata-Params>\n\
            </m:mcdatainfo>\n";
        assert_eq!(
            McdataInfo::decode(xml.as_bytes()).unwrap(),
            McdataInfo {
                access_token: None,
                request_type: Some(RequestType::OneToOneFd),
                request_uri: Some("sip:psi@b.example".to_owned()),
                calling_user_id: Some("sip:alice@a.example".to_owned()),
                called_party_id: Some("sip:bob@b.example".to_owned()),
                calling_group_id: None,
            }
        );
    }

    #[test]
    fn elements_of_other_namespaces_are_not_ours() {
        // Namespaces in XML: the same local names in another namespace are unknown elements.
        let xml =
            "<mcdatainfo xmlns='urn:3gpp:ns:mcdataInfo:1.0' xmlns:o='urn:other'><mcdata-Params>\
            <o:request-type>group-fd</o:request-type>\
            <mcdata-request-uri><o:mcdataURI>sip:x@y</o:mcdataURI></mcdata-request-uri>\
            </mcdata-Params></mcdatainfo>";
        assert_eq!(
            McdataInfo::decode(xml.as_bytes()).unwrap(),
            McdataInfo::default()
        );
        assert_eq!(
            McdataInfo::decode(b"<mcdatainfo xmlns='urn:3gpp:ns:mcdataInfo:1.0'/>").unwrap(),
            McdataInfo::default()
        );
    }

    #[test]
    fn refuses_other_roots_and_bad_xml() {
        for (xml, found) in [
            ("<mcdatainfo/>", "mcdatainfo (other namespace)"),
            (
                "<mcdatainfo xmlns='urn:3gpp:ns:mcpttInfo:1.0'/>",
                "mcdatainfo (other namespace)",
            ),
            (
                "<m:mcpttinfo xmlns:m='urn:3gpp:ns:mcdataInfo:1.0'/>",
                "mcpttinfo",
            ),
        ] {
            assert_eq!(
                McdataInfo::decode(xml.as_bytes()),
                Err(BodyError::WrongRoot {
                    part: PART,
                    found: found.to_owned()
                })
            );
        }
        for xml in [
            "",
            "<mcdatainfo xmlns='urn:3gpp:ns:mcdataInfo:1.0'><mcdata-Params>",
            "<mcdatainfo xmlns='urn:3gpp:ns:mcdataInfo:1.0'></mcdata-Params>",
            "<mcdatainfo xmlns='urn:3gpp:ns:mcdataInfo:1.0'/><again/>",
            "<u:mcdatainfo xmlns:m='urn:3gpp:ns:mcdataInfo:1.0'/>",
        ] {
            assert!(
                matches!(
                    McdataInfo::decode(xml.as_bytes()),
                    Err(BodyError::BadXml { part: PART, .. }) | Err(BodyError::WrongRoot { .. })
                ),
                "{xml}"
            );
        }
    }

    #[test]
    fn request_type_values() {
        assert_eq!(RequestType::parse(" group-fd "), RequestType::GroupFd);
        assert_eq!(
            RequestType::parse("Group-FD"),
            RequestType::Unknown("Group-FD".to_owned())
        );
        assert_eq!(RequestType::OneToOneFd.to_string(), "one-to-one-fd");
    }
}
