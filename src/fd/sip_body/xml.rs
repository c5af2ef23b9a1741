//! What the two XML parts share: a namespace-aware event reader over quick-xml's
//! [`NsReader`], and escaping for output.
//!
//! The reader gives the parsers only what they act on: element starts (with whether the
//! element is in the namespace they read, and its local name), element ends, text (with
//! character and predefined entity references and CDATA resolved), and the end of the
//! document. Comments, processing instructions, the XML declaration and a DOCTYPE are
//! skipped. Well-formedness is checked (quick-xml checks end tag names; this module checks
//! nesting depth, one root, and no text outside it), the input must be UTF-8 (an initial
//! BOM is dropped), an unknown entity is an error (no DTD is ever expanded).

use std::borrow::Cow;

use quick_xml::events::{BytesStart, Event};
use quick_xml::name::{Namespace, ResolveResult};
use quick_xml::NsReader;

use super::BodyError;

/// Deepest element nesting accepted (the FD documents need four levels).
pub const MAX_DEPTH: usize = 32;

/// What the reader reports.
#[derive(Debug)]
pub enum Node<'i> {
    /// An element start; no [`Node::End`] follows when `empty` (`<x/>`).
    Start {
        /// Whether the element is in the namespace being read.
        ours: bool,
        /// Local name (without prefix).
        local: String,
        element: BytesStart<'i>,
        empty: bool,
    },
    /// The end of the innermost open element.
    End,
    /// Character data, unescaped.
    Text(String),
    /// The end of the document.
    Eof,
}

/// A namespace-aware reader of one XML part.
pub struct Reader<'i> {
    inner: NsReader<&'i [u8]>,
    namespace: &'static str,
    part: &'static str,
    depth: usize,
    roots: usize,
}

impl<'i> Reader<'i> {
    /// Reads `bytes`, the `part` (for errors), elements in `namespace` being ours.
    pub fn new(
        part: &'static str,
        namespace: &'static str,
        bytes: &'i [u8],
    ) -> Result<Self, BodyError> {
        let text = std::str::from_utf8(bytes).map_err(|_| bad(part, "not UTF-8"))?;
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        Ok(Reader {
            inner: NsReader::from_str(text),
            namespace,
            part,
            depth: 0,
            roots: 0,
        })
    }

    /// The error for this part.
    pub fn error(&self, reason: impl Into<String>) -> BodyError {
        bad(self.part, reason)
    }

    /// The decoder of the document's text (UTF-8), for attribute values.
    pub fn decoder(&self) -> quick_xml::Decoder {
        self.inner.decoder()
    }

    /// Current nesting depth: 0 outside the root, 1 inside it, ...
    #[cfg(test)]
    pub fn depth(&self) -> usize {
        self.depth
    }

    /// The next node.
    pub fn node(&mut self) -> Result<Node<'i>, BodyError> {
        loop {
            let (ours, event) = {
                let (resolved, event) = self
                    .inner
                    .read_resolved_event()
                    .map_err(|e| bad(self.part, e.to_string()))?;
                let ns = self.namespace.as_bytes();
                let ours = matches!(resolved, ResolveResult::Bound(Namespace(n)) if n == ns);
                (ours, event)
            };
            match event {
                Event::Start(_) | Event::Empty(_) if self.depth == 0 && self.roots > 0 => {
                    return Err(self.error("more than one root element"));
                }
                Event::Start(element) => {
                    if self.depth == MAX_DEPTH {
                        return Err(self.error("elements nested too deeply"));
                    }
                    self.enter();
                    return Ok(start(ours, element, false));
                }
                Event::Empty(element) => {
                    if self.depth == 0 {
                        self.roots += 1;
                    }
                    return Ok(start(ours, element, true));
                }
                Event::End(_) => {
                    self.depth = self.depth.saturating_sub(1);
                    return Ok(Node::End);
                }
                Event::Text(text) => {
                    let text = text
                        .xml10_content()
                        .map_err(|e| bad(self.part, e.to_string()))?;
                    if let Some(node) = self.text(text)? {
                        return Ok(node);
                    }
                }
                Event::CData(data) => {
                    let text = data.decode().map_err(|e| bad(self.part, e.to_string()))?;
                    if let Some(node) = self.text(text)? {
                        return Ok(node);
                    }
                }
                Event::GeneralRef(reference) => {
                    let text = match reference.resolve_char_ref() {
                        Ok(Some(c)) => c.to_string(),
                        Ok(None) => {
                            let name = reference
                                .decode()
                                .map_err(|e| bad(self.part, e.to_string()))?;
                            quick_xml::escape::resolve_predefined_entity(&name)
                                .ok_or_else(|| self.error(format!("unknown entity &{name};")))?
                                .to_owned()
                        }
                        Err(e) => return Err(self.error(e.to_string())),
                    };
                    if let Some(node) = self.text(Cow::Owned(text))? {
                        return Ok(node);
                    }
                }
                Event::Eof if self.depth > 0 => {
                    return Err(self.error("document ends inside an element"))
                }
                Event::Eof if self.roots == 0 => return Err(self.error("no root element")),
                Event::Eof => return Ok(Node::Eof),
                Event::Comment(_) | Event::Decl(_) | Event::PI(_) | Event::DocType(_) => {}
            }
        }
    }

    /// Reads the root element, which must be `name` in the namespace: whether it is
    /// empty (`<name/>`).
    pub fn root(&mut self, name: &str) -> Result<bool, BodyError> {
        match self.node()? {
            Node::Start {
                ours: true,
                local,
                empty,
                ..
            } if local == name => Ok(empty),
            Node::Start { local, ours, .. } => Err(BodyError::WrongRoot {
                part: self.part,
                found: if ours {
                    local
                } else {
                    format!("{local} (other namespace)")
                },
            }),
            // `node` reports a missing root before the end; text outside it is an error.
            _ => Err(self.error("no root element")),
        }
    }

    /// Skips the rest of the element just started (call after a non-empty
    /// [`Node::Start`]).
    pub fn skip(&mut self) -> Result<(), BodyError> {
        let depth = self.depth;
        while self.depth >= depth {
            if let Node::Eof = self.node()? {
                return Err(self.error("document ends inside an element"));
            }
        }
        Ok(())
    }

    /// The text directly inside the element just started, child elements skipped
    /// (call after a non-empty [`Node::Start`]).
    pub fn text_content(&mut self) -> Result<String, BodyError> {
        let mut text = String::new();
        loop {
            match self.node()? {
                Node::Text(t) => text.push_str(&t),
                Node::Start { empty: false, .. } => self.skip()?,
                Node::Start { empty: true, .. } => {}
                Node::End => return Ok(text),
                Node::Eof => return Err(self.error("document ends inside an element")),
            }
        }
    }

    /// Reads to the end of the document, which must hold nothing more than the root.
    pub fn finish(&mut self) -> Result<(), BodyError> {
        loop {
            match self.node()? {
                Node::Eof => return Ok(()),
                Node::Start { empty: false, .. } => self.skip()?,
                _ => {}
            }
        }
    }

    fn enter(&mut self) {
        if self.depth == 0 {
            self.roots += 1;
        }
        self.depth += 1;
    }

    /// Text inside the root becomes a node; outside it only whitespace is allowed.
    fn text(&self, text: Cow<'_, str>) -> Result<Option<Node<'i>>, BodyError> {
        if self.depth > 0 {
            Ok(Some(Node::Text(text.into_owned())))
        } else if text.trim().is_empty() {
            Ok(None)
        } else {
            Err(self.error("text outside the root element"))
        }
    }
}

fn start(ours: bool, element: BytesStart<'_>, empty: bool) -> Node<'_> {
    let local = String::from_utf8_lossy(element.local_name().as_ref()).into_owned();
    Node::Start {
        ours,
        local,
        element,
        empty,
    }
}

fn bad(part: &'static str, reason: impl Into<String>) -> BodyError {
    BodyError::BadXml {
        part,
        reason: reason.into(),
    }
}

/// `s` escaped for XML character data or (`attribute`) a double-quoted attribute value.
///
/// The five special characters become references; in attributes TAB, CR and LF become
/// character references too, so that attribute-value normalization (XML 1.0 clause 3.3.3)
/// gives them back; characters XML 1.0 does not allow (most C0 controls, U+FFFE, U+FFFF)
/// become U+FFFD, as they cannot be written at all.
pub fn escape(s: &str, attribute: bool) -> Cow<'_, str> {
    let plain = |c: char| {
        !matches!(c, '&' | '<' | '>' | '"' | '\'' | '\r')
            && allowed(c)
            && !(attribute && matches!(c, '\t' | '\n'))
    };
    if s.chars().all(plain) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\r' => out.push_str("&#13;"),
            '\t' if attribute => out.push_str("&#9;"),
            '\n' if attribute => out.push_str("&#10;"),
            c if !allowed(c) => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// XML 1.0 clause 2.2 `Char` (a Rust `char` is never a surrogate).
fn allowed(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{fffd}' | '\u{10000}'..)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NS: &str = "urn:test";

    fn nodes(xml: &str) -> Result<Vec<String>, BodyError> {
        let mut reader = Reader::new("test", NS, xml.as_bytes())?;
        let mut out = Vec::new();
        loop {
            match reader.node()? {
                Node::Start {
                    ours, local, empty, ..
                } => out.push(format!(
                    "<{}{local}{}>",
                    if ours { "" } else { "?" },
                    if empty { "/" } else { "" }
                )),
                Node::End => out.push("</>".to_owned()),
                Node::Text(t) => out.push(t),
                Node::Eof => return Ok(out),
            }
        }
    }

    #[test]
    fn namespaces_prefixes_and_references() {
        // Namespaces in XML 1.0 clause 6: any prefix, or the default namespace.
        let xml = "\u{feff}<?xml version=\"1.0\"?><!-- c --><a:r xmlns:a=\"urn:test\"><a:x>1 &amp; &#x41;&lt;<![CDATA[<raw>]]></a:x>\
            <y xmlns=\"urn:test\"/><z/><?pi x?></a:r>\n";
        assert_eq!(
            nodes(xml).unwrap(),
            ["<r>", "<x>", "1 ", "&", " ", "A", "<", "<raw>", "</>", "<y/>", "<?z/>", "</>"]
        );
    }

    #[test]
    fn ill_formed_documents() {
        for (xml, reason) in [
            ("", "no root element"),
            ("<!-- only -->", "no root element"),
            ("<r>", "document ends inside an element"),
            ("<r/><r/>", "more than one root element"),
            ("<r></r><r></r>", "more than one root element"),
            ("x<r/>", "text outside the root element"),
            ("<r>&nbsp;</r>", "unknown entity &nbsp;"),
        ] {
            assert_eq!(
                nodes(xml),
                Err(BodyError::BadXml {
                    part: "test",
                    reason: reason.to_owned()
                }),
                "{xml}"
            );
        }
        // quick-xml's own checks: end names, bad references, bare `&`, unmatched ends.
        for xml in ["<r></s>", "<r>&#xZZ;</r>", "<r>a & b</r>", "</r>"] {
            assert!(matches!(nodes(xml), Err(BodyError::BadXml { .. })), "{xml}");
        }
        assert!(matches!(
            Reader::new("test", NS, b"<r>\xff</r>"),
            Err(BodyError::BadXml { .. })
        ));
        let deep = "<a>".repeat(MAX_DEPTH + 1) + &"</a>".repeat(MAX_DEPTH + 1);
        assert!(
            matches!(nodes(&deep), Err(BodyError::BadXml { reason, .. }) if reason == "elements nested too deeply")
        );
        let ok = "<a>".repeat(MAX_DEPTH) + &"</a>".repeat(MAX_DEPTH);
        assert!(nodes(&ok).is_ok());
    }

    #[test]
    fn skip_text_content_and_finish() {
        let mut reader = Reader::new(
            "test",
            NS,
            b"<r><v>a<i>x<j/></i>b</v><w><x/></w></r><!-- end -->",
        )
        .unwrap();
        assert!(matches!(reader.node().unwrap(), Node::Start { .. }));
        assert!(matches!(reader.node().unwrap(), Node::Start { .. }));
        assert_eq!(reader.text_content().unwrap(), "ab");
        assert!(matches!(reader.node().unwrap(), Node::Start { .. }));
        reader.skip().unwrap();
        assert_eq!(reader.depth(), 1);
        reader.finish().unwrap();
    }

    #[test]
    fn escaping() {
        // XML 1.0 clauses 2.4 (character data), 3.3.3 (attribute-value normalization), 2.2.
        assert!(matches!(escape("sip:a@b.example", false), Cow::Borrowed(_)));
        assert_eq!(
            escape("a&b<c>\"d'\r", false),
            "a&amp;b&lt;c&gt;&quot;d&apos;&#13;"
        );
        assert_eq!(escape("a\tb\nc", false), "a\tb\nc");
        assert_eq!(escape("a\tb\nc", true), "a&#9;b&#10;c");
        assert_eq!(
            escape("\u{0}x\u{1b}\u{fffe}", false),
            "\u{fffd}x\u{fffd}\u{fffd}"
        );
        let attr = format!(
            "<r a=\"{}\">{}</r>",
            escape(" x&\t\r\n\"'", true),
            escape("&<>\r", false)
        );
        let mut reader = Reader::new("test", NS, attr.as_bytes()).unwrap();
        let Node::Start { element, .. } = reader.node().unwrap() else {
            panic!()
        };
        let value = element
            .try_get_attribute("a")
            .unwrap()
            .unwrap()
            .decoded_and_normalized_value(quick_xml::XmlVersion::Implicit1_0, reader.decoder())
            .unwrap();
        assert_eq!(value, " x&\t\r\n\"'");
        assert_eq!(reader.text_content().unwrap(), "&<>\r");
    }
}
