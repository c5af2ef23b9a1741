//! File names in `Content-Disposition` (RFC 6266), in any script: read on upload and by
//! clients, written on every download. A name that is not plain printable ASCII travels in
//! `filename*` as an RFC 8187 ext-value (`UTF-8''` and the percent-encoded UTF-8 bytes),
//! after an ASCII `filename` fallback for recipients that do not know `filename*`
//! (RFC 6266 §4.3, appendix D). Also what makes a name acceptable for an upload
//! ([`check_file_name`]).

use http::HeaderMap;

use super::error::ApiError;

/// The longest file name accepted on upload, in UTF-8 bytes: what most file systems allow
/// in one path component (`NAME_MAX`), so that every recipient can save it under its name.
pub const MAX_NAME_BYTES: usize = 255;

/// A `Content-Disposition` value that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DispositionError {
    #[error("Content-Disposition is not UTF-8")]
    NotUtf8,
    #[error("Content-Disposition: {0}")]
    Syntax(&'static str),
    /// RFC 6266 §4.1: a parameter given twice makes the whole value invalid.
    #[error("Content-Disposition: the parameter {0} appears twice")]
    Repeated(String),
    /// RFC 8187 §3.2.1: recipients must support UTF-8 and ISO-8859-1; nothing else is.
    #[error("Content-Disposition: filename* in charset {0:?} is not supported (use UTF-8)")]
    Charset(String),
    #[error("Content-Disposition: filename* has a '%' not followed by two hex digits")]
    PercentEncoding,
    #[error("Content-Disposition: filename* does not decode to UTF-8")]
    DecodedNotUtf8,
    #[error("more than one Content-Disposition field")]
    Several,
}

impl From<DispositionError> for ApiError {
    fn from(e: DispositionError) -> Self {
        ApiError::BadRequest(e.to_string())
    }
}

/// A file name that cannot be stored as given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FileNameError {
    #[error("file name {0:?} contains a path separator: give the name only")]
    PathSeparator(String),
    #[error("file name {name:?} contains the control character {ch:?}")]
    Control { name: String, ch: char },
    #[error("file name {0:?} names a directory")]
    DotName(String),
    #[error("file name of {0} bytes is longer than 255 bytes of UTF-8")]
    TooLong(usize),
    #[error("X-Mcdata-File-Name is not UTF-8")]
    NotUtf8,
}

impl From<FileNameError> for ApiError {
    fn from(e: FileNameError) -> Self {
        ApiError::BadRequest(e.to_string())
    }
}

/// True for characters a file name may not hold: control characters (Unicode `Cc`: C0,
/// DEL, C1) and the bidirectional formatting characters that make a name display other
/// than it is (`invoice_\u{202E}fdp.exe` shows as `invoice_exe.pdf`).
pub fn is_forbidden_char(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
        )
}

/// Accept `name` as the file name of an upload, or say why not: no path separators
/// (`/`, `\`), not `.` or `..`, no control or bidirectional formatting characters, at
/// most [`MAX_NAME_BYTES`] bytes. Refused rather than repaired, so that the name every
/// recipient sees is the one the sender chose, or the sender hears why it cannot be.
pub fn check_file_name(name: &str) -> Result<&str, FileNameError> {
    if name.contains(['/', '\\']) {
        return Err(FileNameError::PathSeparator(name.to_string()));
    }
    if let Some(ch) = name.chars().find(|c| is_forbidden_char(*c)) {
        return Err(FileNameError::Control {
            name: name.to_string(),
            ch,
        });
    }
    if name == "." || name == ".." {
        return Err(FileNameError::DotName(name.to_string()));
    }
    if name.len() > MAX_NAME_BYTES {
        return Err(FileNameError::TooLong(name.len()));
    }
    Ok(name)
}

/// A parsed `Content-Disposition` value (RFC 6266 §4.1); other parameters are ignored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContentDisposition {
    /// `attachment`, `inline` or an extension type, lower-cased.
    pub kind: String,
    /// `filename`: a token or a quoted-string, unescaped.
    pub filename: Option<String>,
    /// `filename*`, decoded from its charset.
    pub filename_ext: Option<String>,
}

impl ContentDisposition {
    /// Parse a field value. Strict where a mistake would change the name (percent-encoding,
    /// charsets, repeated parameters, unterminated quotes); lenient where browsers are: an
    /// unquoted `filename` is taken up to the next `;`, and a quoted `filename*` is read
    /// as if unquoted.
    pub fn parse(value: &[u8]) -> Result<Self, DispositionError> {
        let s = std::str::from_utf8(value).map_err(|_| DispositionError::NotUtf8)?;
        let mut p = Parser { s, i: 0 };
        p.ows();
        let kind = p
            .token()
            .ok_or(DispositionError::Syntax("no disposition type"))?
            .to_ascii_lowercase();
        let mut out = ContentDisposition {
            kind,
            ..Default::default()
        };
        let mut seen: Vec<String> = Vec::new();
        loop {
            p.ows();
            if p.done() {
                break;
            }
            if !p.eat(';') {
                return Err(DispositionError::Syntax("expected ';' before a parameter"));
            }
            p.ows();
            if p.done() {
                break;
            }
            let name = p
                .token()
                .ok_or(DispositionError::Syntax("expected a parameter name"))?
                .to_ascii_lowercase();
            p.ows();
            if !p.eat('=') {
                return Err(DispositionError::Syntax(
                    "expected '=' after a parameter name",
                ));
            }
            p.ows();
            if seen.contains(&name) {
                return Err(DispositionError::Repeated(name));
            }
            let value = if p.peek() == Some('"') {
                p.quoted()?
            } else {
                p.unquoted().to_string()
            };
            match name.as_str() {
                "filename" => out.filename = Some(value),
                "filename*" => out.filename_ext = Some(decode_ext_value(&value)?),
                _ => {}
            }
            seen.push(name);
        }
        Ok(out)
    }

    /// The file name: `filename*` when present, else `filename` (RFC 6266 §4.3); `None`
    /// when neither is there or the one chosen is blank.
    pub fn file_name(&self) -> Option<&str> {
        self.filename_ext
            .as_deref()
            .or(self.filename.as_deref())
            .map(str::trim)
            .filter(|n| !n.is_empty())
    }
}

/// The file name of a response's `Content-Disposition`, when it has a readable one. For
/// recipients: a value that does not parse gives `None`, never an error.
pub fn file_name_of(h: &HeaderMap) -> Option<String> {
    let v = h.get(http::header::CONTENT_DISPOSITION)?;
    ContentDisposition::parse(v.as_bytes())
        .ok()?
        .file_name()
        .map(str::to_string)
}

/// The name of an upload from its `Content-Disposition` (`filename*` over `filename`),
/// else from `X-Mcdata-File-Name` (UTF-8 as it is, no decoding), checked with
/// [`check_file_name`]; `None` when the request names no file. Surrounding whitespace is
/// dropped.
pub fn upload_file_name(h: &HeaderMap) -> Result<Option<String>, ApiError> {
    let mut fields = h.get_all(http::header::CONTENT_DISPOSITION).iter();
    let from_disposition = match (fields.next(), fields.next()) {
        (Some(_), Some(_)) => return Err(DispositionError::Several.into()),
        (Some(v), None) => ContentDisposition::parse(v.as_bytes())?
            .file_name()
            .map(str::to_string),
        _ => None,
    };
    let name = match from_disposition {
        Some(n) => Some(n),
        None => match h.get("x-mcdata-file-name") {
            Some(v) => Some(
                std::str::from_utf8(v.as_bytes())
                    .map_err(|_| FileNameError::NotUtf8)?
                    .to_string(),
            ),
            None => None,
        },
    };
    match name.as_deref().map(str::trim).filter(|n| !n.is_empty()) {
        Some(n) => Ok(Some(check_file_name(n)?.to_string())),
        None => Ok(None),
    }
}

/// `attachment; filename="<ASCII fallback>"`, plus `; filename*=UTF-8''<percent-encoded
/// UTF-8>` when the fallback is not the name itself (RFC 6266 appendix D: `filename`
/// first, `filename*` after it). The fallback never holds `"`, `\` or `%`.
pub fn content_disposition(name: &str) -> String {
    let fallback = ascii_fallback(name);
    if fallback == name {
        format!("attachment; filename=\"{name}\"")
    } else {
        format!(
            "attachment; filename=\"{fallback}\"; filename*=UTF-8''{}",
            percent_encode(name)
        )
    }
}

/// `name` in printable ASCII for a quoted-string: Latin-1 letters lose their accents
/// (`ü` -> `u`, `ß` -> `ss`), and `"`, `\`, `%` (RFC 6266 appendix D), control characters
/// and every other character become `_`.
pub fn ascii_fallback(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if (c.is_ascii_graphic() || c == ' ') && !matches!(c, '"' | '\\' | '%') {
            out.push(c);
        } else if let Some(base) = latin1_base(c) {
            out.push_str(base);
        } else {
            out.push('_');
        }
    }
    out
}

/// The unaccented form of a Latin-1 letter.
fn latin1_base(c: char) -> Option<&'static str> {
    Some(match c {
        'À'..='Å' => "A",
        'à'..='å' => "a",
        'Æ' => "AE",
        'æ' => "ae",
        'Ç' => "C",
        'ç' => "c",
        'È'..='Ë' => "E",
        'è'..='ë' => "e",
        'Ì'..='Ï' => "I",
        'ì'..='ï' => "i",
        'Ð' => "D",
        'ð' => "d",
        'Ñ' => "N",
        'ñ' => "n",
        'Ò'..='Ö' | 'Ø' => "O",
        'ò'..='ö' | 'ø' => "o",
        'Ù'..='Ü' => "U",
        'ù'..='ü' => "u",
        'Ý' => "Y",
        'ý' | 'ÿ' => "y",
        'Þ' => "TH",
        'þ' => "th",
        'ß' => "ss",
        _ => return None,
    })
}

/// RFC 8187 §3.2.1 `attr-char`: what an ext-value carries without percent-encoding.
fn is_attr_char(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'!' | b'#' | b'$' | b'&' | b'+' | b'-' | b'.' | b'^' | b'_' | b'`' | b'|' | b'~'
        )
}

/// The UTF-8 bytes of `s`, every byte that is not an `attr-char` as `%XX`.
pub fn percent_encode(s: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(s.len() * 3);
    for &b in s.as_bytes() {
        if is_attr_char(b) {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[(b >> 4) as usize] as char);
            out.push(HEX[(b & 0xF) as usize] as char);
        }
    }
    out
}

/// An RFC 8187 ext-value `charset'[language]'value-chars`, decoded.
fn decode_ext_value(v: &str) -> Result<String, DispositionError> {
    let shape = DispositionError::Syntax("filename* must be charset'language'percent-encoded");
    let (charset, rest) = v.split_once('\'').ok_or(shape.clone())?;
    let (_language, chars) = rest.split_once('\'').ok_or(shape)?;
    let bytes = percent_decode(chars)?;
    if charset.eq_ignore_ascii_case("utf-8") {
        String::from_utf8(bytes).map_err(|_| DispositionError::DecodedNotUtf8)
    } else if charset.eq_ignore_ascii_case("iso-8859-1") {
        Ok(bytes.into_iter().map(char::from).collect())
    } else {
        Err(DispositionError::Charset(charset.to_string()))
    }
}

fn percent_decode(s: &str) -> Result<Vec<u8>, DispositionError> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b
                .get(i + 1..i + 3)
                .ok_or(DispositionError::PercentEncoding)?;
            let hi = (hex[0] as char).to_digit(16);
            let lo = (hex[1] as char).to_digit(16);
            match (hi, lo) {
                (Some(h), Some(l)) => out.push((h * 16 + l) as u8),
                _ => return Err(DispositionError::PercentEncoding),
            }
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Ok(out)
}

/// RFC 9110 §5.6.2 `tchar`.
fn is_tchar(c: char) -> bool {
    c.is_ascii_alphanumeric()
        || matches!(
            c,
            '!' | '#'
                | '$'
                | '%'
                | '&'
                | '\''
                | '*'
                | '+'
                | '-'
                | '.'
                | '^'
                | '_'
                | '`'
                | '|'
                | '~'
        )
}

struct Parser<'a> {
    s: &'a str,
    i: usize,
}

impl<'a> Parser<'a> {
    fn rest(&self) -> &'a str {
        &self.s[self.i..]
    }

    fn done(&self) -> bool {
        self.i >= self.s.len()
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.i += c.len_utf8();
            true
        } else {
            false
        }
    }

    /// Optional whitespace (RFC 9110 §5.6.3).
    fn ows(&mut self) {
        while matches!(self.peek(), Some(' ' | '\t')) {
            self.i += 1;
        }
    }

    fn token(&mut self) -> Option<&'a str> {
        let rest = self.rest();
        let end = rest.find(|c| !is_tchar(c)).unwrap_or(rest.len());
        (end > 0).then(|| {
            self.i += end;
            &rest[..end]
        })
    }

    /// An unquoted value, up to the next `;` (trimmed): a token, or what lenient senders
    /// put there (spaces, raw UTF-8).
    fn unquoted(&mut self) -> &'a str {
        let rest = self.rest();
        let end = rest.find(';').unwrap_or(rest.len());
        self.i += end;
        rest[..end].trim()
    }

    /// A quoted-string (RFC 9110 §5.6.4), unescaped; non-ASCII text is taken as obs-text.
    fn quoted(&mut self) -> Result<String, DispositionError> {
        let unterminated = DispositionError::Syntax("unterminated quoted string");
        self.eat('"');
        let mut out = String::new();
        let mut chars = self.rest().char_indices();
        while let Some((at, c)) = chars.next() {
            match c {
                '"' => {
                    self.i += at + 1;
                    return Ok(out);
                }
                '\\' => match chars.next() {
                    Some((_, escaped)) => out.push(escaped),
                    None => return Err(unterminated),
                },
                c => out.push(c),
            }
        }
        Err(unterminated)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    const NAME: &str = "Einsatzbericht_München_화재.pdf";
    const NAME_EXT: &str = "Einsatzbericht_M%C3%BCnchen_%ED%99%94%EC%9E%AC.pdf";

    fn parse(v: &str) -> Result<ContentDisposition, DispositionError> {
        ContentDisposition::parse(v.as_bytes())
    }

    fn name_of(v: &str) -> Option<String> {
        parse(v).ok()?.file_name().map(str::to_string)
    }

    /// RFC 6266 §5's examples, and `filename*` over `filename` when both are there (§4.3).
    #[test]
    fn rfc_6266_examples() {
        assert_eq!(
            parse("Attachment; filename=example.html").unwrap(),
            ContentDisposition {
                kind: "attachment".into(),
                filename: Some("example.html".into()),
                filename_ext: None,
            }
        );
        assert_eq!(
            name_of("INLINE; FILENAME= \"an example.html\"").as_deref(),
            Some("an example.html")
        );
        assert_eq!(
            name_of("attachment; filename*= UTF-8''%e2%82%ac%20rates").as_deref(),
            Some("€ rates")
        );
        assert_eq!(
            name_of("attachment; filename=\"EURO rates\"; filename*=utf-8''%e2%82%ac%20rates")
                .as_deref(),
            Some("€ rates")
        );
        // The order does not matter: filename* still wins.
        assert_eq!(
            name_of("attachment; filename*=UTF-8''a%C3%A9; filename=\"ae\"").as_deref(),
            Some("aé")
        );
    }

    /// RFC 8187 §3.2.1: charset and language; ISO-8859-1 must be understood too.
    #[test]
    fn rfc_8187_ext_values() {
        assert_eq!(
            name_of("attachment; filename*=iso-8859-1'en'%A3%20rates").as_deref(),
            Some("£ rates")
        );
        assert_eq!(
            name_of(&format!("attachment; filename*=UTF-8'de'{NAME_EXT}")).as_deref(),
            Some(NAME)
        );
        assert_eq!(
            parse("attachment; filename*=Shift_JIS''%82%A0"),
            Err(DispositionError::Charset("Shift_JIS".into()))
        );
        assert_eq!(
            parse("attachment; filename*=UTF-8''%C3"),
            Err(DispositionError::DecodedNotUtf8)
        );
        for bad in ["UTF-8''%ZZ", "UTF-8''%4", "UTF-8''a%"] {
            assert_eq!(
                parse(&format!("attachment; filename*={bad}")),
                Err(DispositionError::PercentEncoding),
                "{bad}"
            );
        }
        assert!(matches!(
            parse("attachment; filename*=no-quotes"),
            Err(DispositionError::Syntax(_))
        ));
    }

    #[test]
    fn quoted_strings_and_leniency() {
        assert_eq!(
            name_of(r#"attachment; filename="a \"b\" \\ c.txt""#).as_deref(),
            Some(r#"a "b" \ c.txt"#)
        );
        // Raw UTF-8 in a quoted filename (obs-text, as browsers send it).
        assert_eq!(
            name_of(&format!("attachment; filename=\"{NAME}\"")).as_deref(),
            Some(NAME)
        );
        // Unquoted with spaces, a trailing ';', unknown parameters, a quoted filename*.
        assert_eq!(
            name_of("attachment; filename=my file.txt;").as_deref(),
            Some("my file.txt")
        );
        assert_eq!(
            name_of("attachment; size=12; creation-date=\"x; y\"; filename=a.txt").as_deref(),
            Some("a.txt")
        );
        assert_eq!(
            name_of("attachment; filename*=\"UTF-8''%C3%A9\"").as_deref(),
            Some("é")
        );
        assert_eq!(name_of("attachment"), None);
        assert_eq!(name_of("attachment; filename=\"\""), None);
        assert_eq!(
            parse("attachment; filename=\"open"),
            Err(DispositionError::Syntax("unterminated quoted string"))
        );
        assert_eq!(
            parse("attachment; filename=a; FileName=b"),
            Err(DispositionError::Repeated("filename".into()))
        );
        assert!(matches!(
            parse("; filename=a"),
            Err(DispositionError::Syntax(_))
        ));
        assert!(matches!(
            parse("attachment filename=a"),
            Err(DispositionError::Syntax(_))
        ));
        assert_eq!(
            ContentDisposition::parse(b"attachment; filename=\"\xFF\""),
            Err(DispositionError::NotUtf8)
        );
    }

    /// What every download carries (RFC 6266 §4.3, appendix D): an ASCII `filename` first,
    /// the exact name in `filename*` when the fallback differs; and it reads back.
    #[test]
    fn formatting_round_trips() {
        assert_eq!(
            content_disposition("report.txt"),
            "attachment; filename=\"report.txt\""
        );
        let v = content_disposition(NAME);
        assert_eq!(
            v,
            format!(
                "attachment; filename=\"Einsatzbericht_Munchen___.pdf\"; filename*=UTF-8''{NAME_EXT}"
            )
        );
        assert!(HeaderValue::from_str(&v).is_ok());
        for name in [
            NAME,
            "a\"b.txt",
            "100% sure.txt",
            "back\\slash",
            "tab\there",
            "ß Æ þ ÿ",
            "日本語のファイル名.docx",
            "emoji 📎.bin",
            "plain",
        ] {
            let v = content_disposition(name);
            assert!(v.is_ascii(), "{v}");
            assert_eq!(name_of(&v).as_deref(), Some(name), "{v}");
        }
        assert_eq!(ascii_fallback("a\"b\\c%d\u{7}"), "a_b_c_d_");
        assert_eq!(ascii_fallback("Ærø ß"), "AEro ss");
        assert_eq!(percent_encode("a b/é"), "a%20b%2F%C3%A9");
    }

    #[test]
    fn upload_names_are_checked() {
        assert_eq!(check_file_name(NAME), Ok(NAME));
        assert_eq!(check_file_name("..hidden"), Ok("..hidden"));
        for bad in ["../etc/passwd", "a/b", "C:\\x.txt"] {
            assert!(
                matches!(check_file_name(bad), Err(FileNameError::PathSeparator(_))),
                "{bad}"
            );
        }
        for (bad, ch) in [
            ("a\nb", '\n'),
            ("nul\0", '\0'),
            ("del\u{7f}", '\u{7f}'),
            ("c1\u{85}", '\u{85}'),
            ("invoice_\u{202E}fdp.exe", '\u{202E}'),
            ("x\u{2066}y", '\u{2066}'),
        ] {
            assert_eq!(
                check_file_name(bad),
                Err(FileNameError::Control {
                    name: bad.into(),
                    ch
                })
            );
        }
        assert!(matches!(
            check_file_name(".."),
            Err(FileNameError::DotName(_))
        ));
        assert!(matches!(
            check_file_name("."),
            Err(FileNameError::DotName(_))
        ));
        let long = "화".repeat(86); // 258 bytes
        assert_eq!(check_file_name(&long), Err(FileNameError::TooLong(258)));
        assert!(check_file_name(&"화".repeat(85)).is_ok());
    }

    #[test]
    fn upload_names_from_the_request() {
        let mut h = HeaderMap::new();
        assert_eq!(upload_file_name(&h).unwrap(), None);
        h.insert(
            "x-mcdata-file-name",
            HeaderValue::from_static(" report.txt "),
        );
        assert_eq!(upload_file_name(&h).unwrap().as_deref(), Some("report.txt"));
        // Raw UTF-8 in X-Mcdata-File-Name.
        h.insert(
            "x-mcdata-file-name",
            HeaderValue::from_bytes(NAME.as_bytes()).unwrap(),
        );
        assert_eq!(upload_file_name(&h).unwrap().as_deref(), Some(NAME));
        // Content-Disposition is preferred, and filename* within it.
        h.insert(
            "content-disposition",
            HeaderValue::from_str(&content_disposition("über.txt")).unwrap(),
        );
        assert_eq!(upload_file_name(&h).unwrap().as_deref(), Some("über.txt"));
        // One without a name leaves X-Mcdata-File-Name in charge.
        h.insert(
            "content-disposition",
            HeaderValue::from_static("attachment"),
        );
        assert_eq!(upload_file_name(&h).unwrap().as_deref(), Some(NAME));

        let refused = |cd: &str| {
            let mut h = HeaderMap::new();
            h.insert("content-disposition", HeaderValue::from_str(cd).unwrap());
            upload_file_name(&h).unwrap_err().status()
        };
        assert_eq!(refused("attachment; filename*=UTF-8''..%2Fx"), 400);
        assert_eq!(refused("attachment; filename*=UTF-8''a%0Ab"), 400);
        assert_eq!(refused("attachment; filename*=UTF-8''%ZZ"), 400);
        assert_eq!(refused("attachment; filename=\"..\""), 400);

        let mut h = HeaderMap::new();
        h.append(
            "content-disposition",
            HeaderValue::from_static("attachment; filename=a"),
        );
        h.append(
            "content-disposition",
            HeaderValue::from_static("attachment; filename=b"),
        );
        assert_eq!(upload_file_name(&h).unwrap_err().status(), 400);
        let mut h = HeaderMap::new();
        h.insert(
            "x-mcdata-file-name",
            HeaderValue::from_bytes(b"\xFF.txt").unwrap(),
        );
        assert_eq!(upload_file_name(&h).unwrap_err().status(), 400);
    }

    #[test]
    fn recipients_read_leniently() {
        let mut h = HeaderMap::new();
        assert_eq!(file_name_of(&h), None);
        h.insert(
            "content-disposition",
            HeaderValue::from_str(&content_disposition(NAME)).unwrap(),
        );
        assert_eq!(file_name_of(&h).as_deref(), Some(NAME));
        h.insert(
            "content-disposition",
            HeaderValue::from_static("attachment; filename*=UTF-8''%ZZ"),
        );
        assert_eq!(file_name_of(&h), None);
    }
}
