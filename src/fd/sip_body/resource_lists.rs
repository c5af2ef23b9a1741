//! The `application/resource-lists+xml` part (RFC 4826 clause 3, used as a URI list by
//! RFC 5366 / RFC 5365): the recipients of a one-to-one FD request (TS 24.282 clause
//! 10.2.4, one `<entry>`).
//!
//! ```xml
//! <resource-lists xmlns="urn:ietf:params:xml:ns:resource-lists">
//!   <list><entry uri="sip:bob@b.example"/></list>
//! </resource-lists>
//! ```
//!
//! Decoding collects the `uri` of every `<entry>` directly inside a `<list>` (lists may
//! nest), in document order, trimmed; entries without a `uri` are skipped; `<external>`
//! and `<entry-ref>` are not followed; unknown elements and namespaces (e.g. RFC 5364's
//! `copyControl` attributes) are ignored. The root must be `resource-lists` in
//! [`NAMESPACE`].

use quick_xml::XmlVersion;

use super::xml::{escape, Node, Reader};
use super::BodyError;

/// MIME type of the part.
pub const MIME: &str = "application/resource-lists+xml";
/// XML namespace of the document (RFC 4826 clause 3.2).
pub const NAMESPACE: &str = "urn:ietf:params:xml:ns:resource-lists";
/// Content-Disposition of a URI list in a request (RFC 5363 clause 4.2, RFC 5366).
pub const DISPOSITION: &str = "recipient-list";

const PART: &str = "resource-lists";

/// The document listing `uris`, one `<entry>` each, in one `<list>`.
pub fn encode(uris: &[String]) -> String {
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n<resource-lists xmlns=\"{NAMESPACE}\">\r\n<list>\r\n"
    );
    for uri in uris {
        out.push_str("<entry uri=\"");
        out.push_str(&escape(uri, true));
        out.push_str("\"/>\r\n");
    }
    out.push_str("</list>\r\n</resource-lists>\r\n");
    out
}

/// The entry URIs of the document.
pub fn decode(bytes: &[u8]) -> Result<Vec<String>, BodyError> {
    let mut reader = Reader::new(PART, NAMESPACE, bytes)?;
    if reader.root("resource-lists")? {
        reader.finish()?;
        return Ok(Vec::new());
    }
    let mut uris = Vec::new();
    // For each open element below the root: whether it is one of our `<list>`s.
    let mut lists: Vec<bool> = Vec::new();
    loop {
        match reader.node()? {
            Node::Start {
                ours,
                local,
                element,
                empty,
            } => {
                let in_list = lists.last().copied().unwrap_or(false);
                if ours && in_list && local == "entry" {
                    let uri = element
                        .try_get_attribute("uri")
                        .map_err(|e| reader.error(e.to_string()))?
                        .map(|a| {
                            a.decoded_and_normalized_value(
                                XmlVersion::Implicit1_0,
                                reader.decoder(),
                            )
                        })
                        .transpose()
                        .map_err(|e| reader.error(e.to_string()))?;
                    if let Some(uri) = uri.as_deref().map(str::trim).filter(|u| !u.is_empty()) {
                        uris.push(uri.to_owned());
                    }
                }
                if !empty {
                    lists.push(ours && local == "list");
                }
            }
            Node::End => {
                if lists.pop().is_none() {
                    break; // the root's end
                }
            }
            Node::Text(_) => {}
            Node::Eof => return Err(reader.error("document ends inside an element")),
        }
    }
    reader.finish()?;
    Ok(uris)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_one_entry_per_uri() {
        // RFC 4826 clause 3.2: <resource-lists><list><entry uri="..."/></list>.
        let xml = encode(&["sip:bob@b.example".to_owned()]);
        assert_eq!(
            xml,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n\
             <resource-lists xmlns=\"urn:ietf:params:xml:ns:resource-lists\">\r\n<list>\r\n\
             <entry uri=\"sip:bob@b.example\"/>\r\n</list>\r\n</resource-lists>\r\n"
        );
    }

    #[test]
    fn round_trips_with_escaping() {
        let uris = vec![
            "sip:bob@b.example".to_owned(),
            "sip:x@y;p=\"a&b<c>'\"".to_owned(),
            "tel:+1234".to_owned(),
        ];
        assert_eq!(decode(encode(&uris).as_bytes()).unwrap(), uris);
        assert_eq!(
            decode(encode(&[]).as_bytes()).unwrap(),
            Vec::<String>::new()
        );
        assert_eq!(
            decode(b"<resource-lists xmlns='urn:ietf:params:xml:ns:resource-lists'/>").unwrap(),
            Vec::<String>::new()
        );
    }

    #[test]
    fn reads_nested_lists_prefixes_and_extensions() {
        // RFC 4826 clause 3.2: lists nest; <external>/<entry-ref> not followed; RFC 5364
        // copyControl attributes and other namespaces ignored; entities unescaped.
        let xml = "<?xml version='1.0'?>\n<!-- recipients -->\n\
            <rl:resource-lists xmlns:rl='urn:ietf:params:xml:ns:resource-lists' xmlns:cp='urn:ietf:params:xml:ns:copycontrol'>\n\
              <rl:list name='a'>\n\
                <rl:display-name>Team</rl:display-name>\n\
                <rl:entry uri=' sip:bob@b.example ' cp:copyControl='to'><rl:display-name>Bob</rl:display-name></rl:entry>\n\
                <rl:list><rl:entry uri='sip:carol@b.example;a=1&amp;b=2'/></rl:list>\n\
                <rl:external anchor='http://x/list'/>\n<rl:entry-ref ref='users/x'/>\n\
                <rl:entry/>\n<rl:entry uri=''/>\n\
                <v:entry xmlns:v='urn:vendor' uri='sip:not-ours@x'/>\n\
                <v:wrap xmlns:v='urn:vendor'><rl:entry uri='sip:not-in-a-list@x'/></v:wrap>\n\
              </rl:list>\n\
              <rl:entry uri='sip:outside-list@x'/>\n\
            </rl:resource-lists>";
        assert_eq!(
            decode(xml.as_bytes()).unwrap(),
            ["sip:bob@b.example", "sip:carol@b.example;a=1&b=2"]
        );
    }

    #[test]
    fn refuses_other_roots_and_bad_xml() {
        assert_eq!(
            decode(b"<resource-lists><list><entry uri='sip:b@x'/></list></resource-lists>"),
            Err(BodyError::WrongRoot {
                part: PART,
                found: "resource-lists (other namespace)".to_owned()
            })
        );
        assert_eq!(
            decode(b"<list xmlns='urn:ietf:params:xml:ns:resource-lists'/>"),
            Err(BodyError::WrongRoot {
                part: PART,
                found: "list".to_owned()
            })
        );
        for xml in [
            &b""[..],
            b"<resource-lists xmlns='urn:ietf:params:xml:ns:resource-lists'><list>",
            b"<resource-lists xmlns='urn:ietf:params:xml:ns:resource-lists'><list><entry uri='a&b'/></list></resource-lists>",
            b"<resource-lists xmlns='urn:ietf:params:xml:ns:resource-lists'><list><entry uri=x/></list></resource-lists>",
            b"<resource-lists xmlns='urn:ietf:params:xml:ns:resource-lists'/>trailing",
        ] {
            assert!(
                matches!(decode(xml), Err(BodyError::BadXml { part: PART, .. })),
                "{:?}",
                String::from_utf8_lossy(xml)
            );
        }
    }
}
