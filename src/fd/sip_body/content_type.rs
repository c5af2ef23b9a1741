//! Content-Type values (RFC 2045 clause 5.1, as SIP carries them, RFC 3261 clause 20.15):
//! `type/subtype *(";" attribute "=" value)`, a value being a token or a quoted-string.
//!
//! Only what the FD bodies need: the media type, lowercased, and the parameters by
//! case-insensitive name (`boundary` above all). Whitespace around `;` and `=` is
//! tolerated; a parameter without `=` is skipped; RFC 2231 continuations are not joined.

/// A parsed Content-Type value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentType {
    /// `type/subtype`, lowercased (media types are case-insensitive, RFC 2045 clause 5.1).
    pub media_type: String,
    /// Parameters in order: names lowercased, values unquoted.
    pub params: Vec<(String, String)>,
}

impl ContentType {
    /// Parses a Content-Type value; `None` when there is no `type/subtype`, or a
    /// quoted-string is not closed.
    pub fn parse(value: &str) -> Option<ContentType> {
        let (media, mut rest) = match value.find(';') {
            Some(at) => (&value[..at], &value[at + 1..]),
            None => (value, ""),
        };
        let media = media.trim();
        let (kind, subtype) = media.split_once('/')?;
        if !is_token(kind) || !is_token(subtype) {
            return None;
        }
        let mut params = Vec::new();
        loop {
            rest = rest.trim_start_matches(|c: char| c == ';' || c.is_ascii_whitespace());
            if rest.is_empty() {
                break;
            }
            let name_end = rest.find(['=', ';']).unwrap_or(rest.len());
            let name = rest[..name_end].trim().to_ascii_lowercase();
            rest = &rest[name_end..];
            let Some(after_eq) = rest.strip_prefix('=') else {
                continue; // `;name;` or `;name` at the end: no value, skipped
            };
            let after_eq = after_eq.trim_start();
            let value = if let Some(quoted) = after_eq.strip_prefix('"') {
                let (value, used) = unquote(quoted)?;
                rest = &quoted[used..];
                value
            } else {
                let end = after_eq.find(';').unwrap_or(after_eq.len());
                rest = &after_eq[end..];
                after_eq[..end].trim().to_owned()
            };
            params.push((name, value));
        }
        Some(ContentType {
            media_type: media.to_ascii_lowercase(),
            params,
        })
    }

    /// The first parameter called `name` (case-insensitive).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether this is a `multipart/*` type (RFC 2046 clause 5.1.7: unknown multipart
    /// subtypes are treated as `multipart/mixed`).
    pub fn is_multipart(&self) -> bool {
        self.media_type.starts_with("multipart/")
    }
}

/// The media type of a Content-Type value, lowercased, without parameters.
pub fn media_type(value: &str) -> Option<String> {
    ContentType::parse(value).map(|ct| ct.media_type)
}

/// Reads a quoted-string after its opening `"`: the value with `\` escapes removed and
/// the number of bytes used including the closing `"`; `None` if it is not closed.
fn unquote(s: &str) -> Option<(String, usize)> {
    let mut value = String::new();
    let mut chars = s.char_indices();
    while let Some((at, c)) = chars.next() {
        match c {
            '"' => return Some((value, at + 1)),
            '\\' => value.push(chars.next()?.1),
            c => value.push(c),
        }
    }
    None
}

/// RFC 2045 token: ASCII printable, no space, no tspecials.
pub fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?=".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_quoted_boundaries() {
        // RFC 2046 clause 5.1.1: the boundary parameter, quoted or not.
        let ct = ContentType::parse("multipart/mixed;boundary=abc").unwrap();
        assert_eq!(ct.media_type, "multipart/mixed");
        assert_eq!(ct.param("boundary"), Some("abc"));

        let ct = ContentType::parse(r#"Multipart/Mixed ; BOUNDARY = "a b;c\"d" ; x=1"#).unwrap();
        assert_eq!(ct.media_type, "multipart/mixed");
        assert_eq!(ct.param("boundary"), Some("a b;c\"d"));
        assert_eq!(ct.param("X"), Some("1"));
        assert!(ct.is_multipart());
    }

    #[test]
    fn parameters_without_value_are_skipped() {
        let ct = ContentType::parse("multipart/mixed; flag; boundary=b;").unwrap();
        assert_eq!(ct.params, vec![("boundary".to_owned(), "b".to_owned())]);
    }

    #[test]
    fn malformed_values() {
        assert_eq!(ContentType::parse(""), None);
        assert_eq!(ContentType::parse("multipart"), None);
        assert_eq!(ContentType::parse("/mixed"), None);
        assert_eq!(ContentType::parse("multi part/mixed"), None);
        assert_eq!(
            ContentType::parse(r#"multipart/mixed; boundary="open"#),
            None
        );
        assert_eq!(ContentType::parse("multipart/mixed; boundary=\"x\\"), None);
    }

    #[test]
    fn media_type_only() {
        assert_eq!(
            media_type("Application/Vnd.3gpp.MCDATA-info+xml; charset=utf-8").as_deref(),
            Some("application/vnd.3gpp.mcdata-info+xml")
        );
        assert!(!ContentType::parse("text/plain").unwrap().is_multipart());
    }
}
