//! RFC 2046 clause 5.1 multipart bodies, binary-safe: the envelope of the parts of an FD
//! SIP MESSAGE.
//!
//! Encoding writes CRLF line endings, `--boundary CRLF`, the part headers, an empty line,
//! the part's octets unchanged, and `CRLF --boundary--` at the end; the caller picks a
//! boundary that occurs in no part ([`occurs_in`]).
//!
//! Decoding follows the clause 5.1.1 grammar, tolerantly:
//! - the preamble (before the first delimiter) and the epilogue (after the close
//!   delimiter) are ignored;
//! - transport padding (spaces and tabs) after a boundary is ignored;
//! - a line starting with `--boundary` followed by anything else is content, not a
//!   delimiter;
//! - LF-only line endings are accepted (the LF, with a CR before it if any, belongs to the
//!   delimiter that follows);
//! - part headers may be folded; a part without headers has the empty line first.
//!
//! Part bodies are octets: CR, LF, `--` and NUL inside them are content. The work is
//! linear in the input, at most [`MAX_PARTS`] parts and [`MAX_HEADER_LINES`] header lines
//! a part; no input panics.

use std::borrow::Cow;

use memchr::memmem::Finder;

use super::BodyError;

/// At most this many parts in one body (the FD bodies have two or three).
pub const MAX_PARTS: usize = 16;
/// At most this many header lines in one part.
pub const MAX_HEADER_LINES: usize = 32;
/// Longest boundary RFC 2046 clause 5.1.1 allows.
pub const MAX_BOUNDARY_LEN: usize = 70;

/// One body part: its headers and its octets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part<'a> {
    /// Header fields in order, names as written, values unfolded and trimmed.
    pub headers: Vec<(Cow<'a, str>, Cow<'a, str>)>,
    /// The part's octets.
    pub body: &'a [u8],
}

impl<'a> Part<'a> {
    /// A part with a Content-Type header.
    pub fn new(content_type: &'a str, body: &'a [u8]) -> Self {
        Part {
            headers: vec![(Cow::Borrowed("Content-Type"), Cow::Borrowed(content_type))],
            body,
        }
    }

    /// Adds a header (e.g. Content-ID or Content-Disposition).
    pub fn with_header(mut self, name: &'a str, value: impl Into<Cow<'a, str>>) -> Self {
        self.headers.push((Cow::Borrowed(name), value.into()));
        self
    }

    /// The value of the first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_ref())
    }
}

/// Whether `boundary` is a boundary RFC 2046 allows in length and one this encoder and
/// decoder can handle (no CR or LF).
pub fn valid_boundary(boundary: &str) -> bool {
    (1..=MAX_BOUNDARY_LEN).contains(&boundary.len()) && !boundary.contains(['\r', '\n'])
}

/// Whether `boundary` occurs anywhere in the parts (bodies or header values), in which
/// case it must not be used for them.
pub fn occurs_in(boundary: &str, parts: &[Part<'_>]) -> bool {
    let finder = Finder::new(boundary.as_bytes());
    parts.iter().any(|part| {
        finder.find(part.body).is_some()
            || part.headers.iter().any(|(n, v)| {
                finder.find(n.as_bytes()).is_some() || finder.find(v.as_bytes()).is_some()
            })
    })
}

/// Encodes `parts` with `boundary`, which must be [`valid_boundary`] and not
/// [`occurs_in`] the parts.
pub fn encode(boundary: &str, parts: &[Part<'_>]) -> Vec<u8> {
    let size: usize = parts
        .iter()
        .map(|p| {
            p.body.len()
                + boundary.len()
                + 8
                + p.headers
                    .iter()
                    .map(|(n, v)| n.len() + v.len() + 4)
                    .sum::<usize>()
        })
        .sum();
    let mut out = Vec::with_capacity(size + boundary.len() + 8);
    for part in parts {
        out.extend_from_slice(b"--");
        out.extend_from_slice(boundary.as_bytes());
        out.extend_from_slice(b"\r\n");
        for (name, value) in &part.headers {
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(part.body);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"--");
    out.extend_from_slice(boundary.as_bytes());
    out.extend_from_slice(b"--\r\n");
    out
}

/// Decodes a multipart body delimited by `boundary` (the Content-Type parameter).
pub fn decode<'a>(boundary: &str, data: &'a [u8]) -> Result<Vec<Part<'a>>, BodyError> {
    if !valid_boundary(boundary) {
        return Err(BodyError::NoBoundary);
    }
    let dash_boundary = format!("--{boundary}");
    let finder = Finder::new(dash_boundary.as_bytes());
    let mut delimiter = find_delimiter(&finder, data, 0)
        .ok_or(BodyError::Malformed("no boundary delimiter line"))?;
    let mut parts = Vec::new();
    while !delimiter.close {
        if parts.len() == MAX_PARTS {
            return Err(BodyError::Malformed("more parts than the limit"));
        }
        let start = delimiter.next;
        delimiter = find_delimiter(&finder, data, start)
            .ok_or(BodyError::Malformed("no close delimiter"))?;
        // `--b CRLF --b` (an empty part without its CRLF) is tolerated as an empty part.
        let content = data
            .get(start..delimiter.start.max(start))
            .unwrap_or_default();
        parts.push(parse_part(content)?);
    }
    Ok(parts)
}

/// A delimiter line found in the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Delimiter {
    /// Where the delimiter starts: its CRLF (or LF), or the `--` at offset 0.
    start: usize,
    /// Where what follows the delimiter line starts.
    next: usize,
    /// Whether it is the close delimiter (`--boundary--`).
    close: bool,
}

/// The first delimiter line at or after `from`: `--boundary` at the start of a line,
/// followed by `--`, or by transport padding and a line end.
fn find_delimiter(finder: &Finder<'_>, data: &[u8], from: usize) -> Option<Delimiter> {
    let mut search = from;
    loop {
        let at = search + finder.find(data.get(search..)?)?;
        search = at + 1;
        let line_start = at == 0 || data.get(at - 1) == Some(&b'\n');
        if !line_start {
            continue;
        }
        let start = match at {
            0 => 0,
            _ if at >= 2 && data[at - 2] == b'\r' => at - 2,
            _ => at - 1,
        };
        let after = &data[at + finder.needle().len()..];
        if after.starts_with(b"--") {
            return Some(Delimiter {
                start,
                next: data.len(),
                close: true,
            });
        }
        let padding = after
            .iter()
            .take_while(|b| matches!(b, b' ' | b'\t'))
            .count();
        let rest = &after[padding..];
        let line_end = if rest.starts_with(b"\r\n") {
            2
        } else if rest.starts_with(b"\n") {
            1
        } else {
            continue; // `--boundaryX...`: content that only starts like a delimiter
        };
        return Some(Delimiter {
            start,
            next: data.len() - rest.len() + line_end,
            close: false,
        });
    }
}

/// Splits a part into its headers and its octets (RFC 2046 clause 5.1.1 `body-part`).
fn parse_part(content: &[u8]) -> Result<Part<'_>, BodyError> {
    let mut headers: Vec<(Cow<'_, str>, Cow<'_, str>)> = Vec::new();
    let mut rest = content;
    let mut lines = 0;
    loop {
        let (line, after) = match memchr::memchr(b'\n', rest) {
            Some(at) => (&rest[..at], &rest[at + 1..]),
            None => (rest, &rest[rest.len()..]),
        };
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            // The empty line ends the headers (or the part ends after its headers).
            return Ok(Part {
                headers,
                body: after,
            });
        }
        lines += 1;
        if lines > MAX_HEADER_LINES {
            return Err(BodyError::Malformed(
                "more part header lines than the limit",
            ));
        }
        let line = std::str::from_utf8(line)
            .map_err(|_| BodyError::Malformed("part header is not UTF-8"))?;
        if line.starts_with([' ', '\t']) {
            let (_, value) = headers.last_mut().ok_or(BodyError::Malformed(
                "part header continuation line before any header",
            ))?;
            let value = value.to_mut();
            value.push(' ');
            value.push_str(line.trim());
        } else {
            let (name, value) = line
                .split_once(':')
                .ok_or(BodyError::Malformed("part header line without a colon"))?;
            let name = name.trim();
            if name.is_empty() {
                return Err(BodyError::Malformed("part header without a name"));
            }
            headers.push((Cow::Borrowed(name), Cow::Borrowed(value.trim())));
        }
        rest = after;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A part as owned (headers, octets).
    type Owned = (Vec<(String, String)>, Vec<u8>);

    fn decoded(boundary: &str, data: &[u8]) -> Vec<Owned> {
        decode(boundary, data)
            .unwrap()
            .into_iter()
            .map(|p| {
                (
                    p.headers
                        .into_iter()
                        .map(|(n, v)| (n.into_owned(), v.into_owned()))
                        .collect(),
                    p.body.to_vec(),
                )
            })
            .collect()
    }

    fn ct(value: &str) -> Vec<(String, String)> {
        vec![("Content-Type".to_owned(), value.to_owned())]
    }

    #[test]
    fn round_trip_binary_parts() {
        // RFC 2046 clause 5.1.1: part octets are opaque; CRLF, "--" and lines that start
        // like the delimiter but continue ("--bX") stay content.
        let binary: Vec<u8> = b"\x02\r\n--b\r\n\x00--bX\r\n--\r\n\xff"
            .iter()
            .chain(&[0u8, 13, 10, 45, 45])
            .copied()
            .collect();
        let parts = [
            Part::new("application/a", b"<x/>").with_header("Content-ID", "<1@x>"),
            Part::new("application/b", &binary),
            Part::new("application/c", b""),
        ];
        // "b" occurs in the binary part, so this only shows the parser does not
        // split on a non-delimiter; real encoders pick a boundary absent from the parts.
        let boundary = "bnd";
        assert!(!occurs_in(boundary, &parts));
        let wire = encode(boundary, &parts);
        assert!(wire.starts_with(
            b"--bnd\r\nContent-Type: application/a\r\nContent-ID: <1@x>\r\n\r\n<x/>\r\n--bnd\r\n"
        ));
        assert!(wire.ends_with(b"\r\n--bnd--\r\n"));
        assert_eq!(decode(boundary, &wire).unwrap(), parts.to_vec());
    }

    #[test]
    fn delimiter_lookalikes_inside_a_part() {
        // RFC 2046 clause 5.1.1: only "--boundary" at a line start followed by padding and
        // CRLF, or by "--", delimits.
        let data = b"--b\r\nContent-Type: x/y\r\n\r\n--bb\r\n--b-\r\nx--b\r\n--b \t\r\n\r\n--b--";
        assert_eq!(
            decoded("b", data),
            vec![
                (ct("x/y"), b"--bb\r\n--b-\r\nx--b".to_vec()),
                (vec![], b"".to_vec())
            ]
        );
    }

    #[test]
    fn preamble_epilogue_padding_and_lf_only() {
        // RFC 2046 clause 5.1.1: preamble and epilogue ignored, transport padding after
        // the boundary; LF-only line ends tolerated.
        let data = b"This is the preamble.\n--b  \nContent-Type: x/y\n\nbody one\n--b\t\n\
            content-type:   x/z  \n  ; charset=utf-8\n\nbody two\n\n--b--  \nepilogue\n--b\n";
        assert_eq!(
            decoded("b", data),
            vec![
                (ct("x/y"), b"body one".to_vec()),
                (
                    vec![("content-type".to_owned(), "x/z ; charset=utf-8".to_owned())],
                    b"body two\n".to_vec()
                ),
            ]
        );
    }

    #[test]
    fn parts_without_headers_or_body() {
        // RFC 2046 clause 5.1.1: body-part := MIME-part-headers [CRLF *OCTET].
        let data = b"--b\r\n\r\nno headers\r\n--b\r\nContent-Type: x/y\r\n--b\r\n--b--\r\n";
        assert_eq!(
            decoded("b", data),
            vec![
                (vec![], b"no headers".to_vec()),
                (ct("x/y"), b"".to_vec()),
                (vec![], b"".to_vec()),
            ]
        );
    }

    #[test]
    fn close_delimiter_first_gives_no_parts() {
        assert_eq!(decoded("b", b"--b--\r\n"), vec![]);
    }

    #[test]
    fn malformed_bodies() {
        let cases: [(&[u8], &str); 7] = [
            (b"", "no boundary delimiter line"),
            (b"no delimiter here --b\r\n", "no boundary delimiter line"),
            (
                b"--b\r\nContent-Type: x/y\r\n\r\ntruncated",
                "no close delimiter",
            ),
            (
                b"--b\r\nno colon\r\n\r\n\r\n--b--",
                "part header line without a colon",
            ),
            (b"--b\r\n: v\r\n\r\n\r\n--b--", "part header without a name"),
            (
                b"--b\r\n folded\r\n\r\n\r\n--b--",
                "part header continuation line before any header",
            ),
            (
                b"--b\r\nA: \xff\r\n\r\n\r\n--b--",
                "part header is not UTF-8",
            ),
        ];
        for (data, reason) in cases {
            assert_eq!(
                decode("b", data),
                Err(BodyError::Malformed(reason)),
                "{data:?}"
            );
        }
    }

    #[test]
    fn limits() {
        let many = "--b\r\n\r\n\r\n".repeat(MAX_PARTS + 1) + "--b--";
        assert_eq!(
            decode("b", many.as_bytes()),
            Err(BodyError::Malformed("more parts than the limit"))
        );
        let ok = "--b\r\n\r\n\r\n".repeat(MAX_PARTS) + "--b--";
        assert_eq!(decode("b", ok.as_bytes()).unwrap().len(), MAX_PARTS);

        let headers = format!(
            "--b\r\n{}\r\n\r\n--b--",
            "A: 1\r\n".repeat(MAX_HEADER_LINES + 1)
        );
        assert_eq!(
            decode("b", headers.as_bytes()),
            Err(BodyError::Malformed(
                "more part header lines than the limit"
            ))
        );
    }

    #[test]
    fn boundary_validity() {
        // RFC 2046 clause 5.1.1: 1 to 70 characters.
        assert!(valid_boundary("a"));
        assert!(valid_boundary(&"a".repeat(70)));
        assert!(!valid_boundary(""));
        assert!(!valid_boundary(&"a".repeat(71)));
        assert!(!valid_boundary("a\r\nb"));
        assert_eq!(decode("", b"--\r\n"), Err(BodyError::NoBoundary));
    }

    #[test]
    fn occurs_in_checks_bodies_and_headers() {
        assert!(occurs_in("zz", &[Part::new("x/y", b"..zz..")]));
        assert!(occurs_in("zz", &[Part::new("x/zz", b"")]));
        assert!(!occurs_in("zz", &[Part::new("x/y", b"z z")]));
    }

    #[test]
    fn garbage_never_panics() {
        // Bounded work and no panic on any input: every prefix and a byte-flipped copy of
        // a valid body, and delimiter fragments.
        let wire = encode(
            "b",
            &[Part::new("x/y", b"\r\n--b-\r\n"), Part::new("x/z", b"\n")],
        );
        for end in 0..=wire.len() {
            let _ = decode("b", &wire[..end]);
            let mut flipped = wire.clone();
            if let Some(b) = flipped.get_mut(end) {
                *b ^= 0x5a;
            }
            let _ = decode("b", &flipped);
        }
        for data in [
            &b"--b"[..],
            b"--b-",
            b"\n--b",
            b"\r\n--b\r",
            b"--b\r\n\r",
            b"--b\n--b\n",
        ] {
            let _ = decode("b", data);
        }
    }
}
