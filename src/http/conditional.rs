//! RFC 9110 conditional requests (If-Match, If-None-Match, If-Modified-Since,
//! If-Unmodified-Since, If-Range) and single byte-range evaluation: pure functions, no I/O.

use http::header::{
    HeaderName, IF_MATCH, IF_MODIFIED_SINCE, IF_NONE_MATCH, IF_RANGE, IF_UNMODIFIED_SINCE, RANGE,
};
use http::{HeaderMap, Method};
use std::time::{SystemTime, UNIX_EPOCH};

/// Validators of the selected representation.
#[derive(Debug, Clone, Copy)]
pub struct Validators<'a> {
    /// The full entity-tag as sent in the ETag header, e.g. `"abc"` or `W/"abc"`.
    /// A value that is not one syntactically valid entity-tag is treated as no ETag.
    pub etag: Option<&'a str>,
    /// Last modification time; compared at one-second precision.
    pub last_modified: Option<SystemTime>,
}

/// Result of evaluating the preconditions of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precondition {
    /// Perform the method normally.
    Proceed,
    /// Answer 304 Not Modified (only ever returned for GET/HEAD).
    NotModified,
    /// Answer 412 Precondition Failed.
    Failed,
}

/// RFC 9110 13.2.2 evaluation order:
/// 1. `If-Match` (strong comparison; `*` matches) -> `Failed` when no tag matches;
/// 2. otherwise `If-Unmodified-Since` -> `Failed` when `last_modified` is later than the date;
/// 3. `If-None-Match` (weak comparison; `*` matches) -> `NotModified` for GET/HEAD, `Failed`
///    for other methods, when a tag matches;
/// 4. otherwise, for GET/HEAD only, `If-Modified-Since` -> `NotModified` when `last_modified`
///    is not later than the date.
///
/// Dates compare at one-second precision. Unparseable dates, dates sent in more than one
/// header line, and date conditions on a representation without `last_modified` are ignored.
/// A header whose value is blank (only whitespace/commas) is treated as absent.
///
/// The caller must only evaluate this against an *existing* selected representation: `*`
/// always matches here. For a missing resource, `If-Match: *` must fail (412) and
/// `If-None-Match: *` must proceed, which the caller handles itself.
pub fn evaluate_preconditions(
    method: &Method,
    headers: &HeaderMap,
    v: Validators<'_>,
) -> Precondition {
    let current = v.etag.and_then(|e| EntityTag::parse(e.as_bytes()));
    let last_modified = v.last_modified.map(unix_secs);
    let safe = *method == Method::GET || *method == Method::HEAD;

    let if_match = etag_header(headers, &IF_MATCH);
    if if_match.present {
        if !if_match.matches(current, Comparison::Strong) {
            return Precondition::Failed;
        }
    } else if let (Some(date), Some(lm)) =
        (single_date(headers, &IF_UNMODIFIED_SINCE), last_modified)
    {
        if lm > date {
            return Precondition::Failed;
        }
    }

    let if_none_match = etag_header(headers, &IF_NONE_MATCH);
    if if_none_match.present {
        if if_none_match.matches(current, Comparison::Weak) {
            return if safe {
                Precondition::NotModified
            } else {
                Precondition::Failed
            };
        }
    } else if safe {
        if let (Some(date), Some(lm)) = (single_date(headers, &IF_MODIFIED_SINCE), last_modified) {
            if lm <= date {
                return Precondition::NotModified;
            }
        }
    }

    Precondition::Proceed
}

/// Result of evaluating a `Range` request header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeOutcome {
    /// Ignore `Range`: send the whole representation (200).
    Full,
    /// Send bytes `start..=end` (206); always `start <= end < len`.
    Partial { start: u64, end: u64 },
    /// 416 Range Not Satisfiable, with `Content-Range: bytes */len`.
    Unsatisfiable,
}

/// Evaluate `Range` for a GET of a representation of `len` bytes.
///
/// Only a single `bytes=` range is honoured: `a-b`, `a-`, `-suffix`; `b` is clamped to
/// `len - 1`; a suffix longer than `len` selects the whole representation (as `Partial`).
/// `a >= len`, suffix 0, or `len == 0` with any valid range -> `Unsatisfiable`.
/// `a-b` with `b < a`, several ranges, other units, several `Range` lines, numbers that
/// overflow `u64` and any other malformed syntax -> `Full` (Range is ignored).
/// Optional whitespace around `=`, `,` and `-` is tolerated; empty list elements are skipped.
///
/// If `If-Range` is present it holds only if it is a strong entity-tag strongly equal to
/// `v.etag`, or an HTTP-date exactly equal to `v.last_modified` (second precision); when it
/// does not hold the result is `Full`, even if the range would be unsatisfiable.
///
/// The caller decides the method: call this only for GET (RFC 9110 ignores Range otherwise),
/// and only after the preconditions yielded [`Precondition::Proceed`].
pub fn evaluate_range(headers: &HeaderMap, len: u64, v: Validators<'_>) -> RangeOutcome {
    let Some(spec) = single_str(headers, &RANGE) else {
        return RangeOutcome::Full;
    };
    let Some(range) = parse_byte_range(spec) else {
        return RangeOutcome::Full;
    };
    if headers.contains_key(IF_RANGE) && !if_range_holds(headers, v) {
        return RangeOutcome::Full;
    }
    match range {
        ByteRange::FromTo(start, end) => {
            if start >= len {
                RangeOutcome::Unsatisfiable
            } else {
                RangeOutcome::Partial {
                    start,
                    end: end.min(len - 1),
                }
            }
        }
        ByteRange::From(start) => {
            if start >= len {
                RangeOutcome::Unsatisfiable
            } else {
                RangeOutcome::Partial {
                    start,
                    end: len - 1,
                }
            }
        }
        ByteRange::Suffix(n) => {
            if n == 0 || len == 0 {
                RangeOutcome::Unsatisfiable
            } else {
                RangeOutcome::Partial {
                    start: len - n.min(len),
                    end: len - 1,
                }
            }
        }
    }
}

/// `Content-Range` value of a 206 response: `bytes 0-99/1000`.
pub fn content_range(start: u64, end: u64, len: u64) -> String {
    format!("bytes {start}-{end}/{len}")
}

/// `Content-Range` value of a 416 response: `bytes */1000`.
pub fn unsatisfied_range(len: u64) -> String {
    format!("bytes */{len}")
}

// ---------------------------------------------------------------------------------------
// Entity tags
// ---------------------------------------------------------------------------------------

/// One entity-tag; `opaque` is the content between the double quotes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct EntityTag<'a> {
    pub(crate) weak: bool,
    pub(crate) opaque: &'a [u8],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Comparison {
    Strong,
    Weak,
}

impl<'a> EntityTag<'a> {
    /// Parse exactly one entity-tag (surrounding optional whitespace allowed).
    pub(crate) fn parse(s: &'a [u8]) -> Option<Self> {
        let start = skip_ows(s, 0);
        let (tag, next) = parse_tag_at(s, start)?;
        (skip_ows(s, next) == s.len()).then_some(tag)
    }

    /// RFC 9110 8.8.3.2 strong comparison: both strong and identical opaque tags.
    pub(crate) fn strong_eq(&self, other: &EntityTag<'_>) -> bool {
        !self.weak && !other.weak && self.opaque == other.opaque
    }

    /// RFC 9110 8.8.3.2 weak comparison: identical opaque tags, weakness ignored.
    pub(crate) fn weak_eq(&self, other: &EntityTag<'_>) -> bool {
        self.opaque == other.opaque
    }

    fn compare(&self, other: &EntityTag<'_>, how: Comparison) -> bool {
        match how {
            Comparison::Strong => self.strong_eq(other),
            Comparison::Weak => self.weak_eq(other),
        }
    }
}

/// A parsed `If-Match`/`If-None-Match` style list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct EtagList<'a> {
    /// A `*` element was present.
    pub(crate) any: bool,
    /// The syntactically valid entity-tags, in order.
    pub(crate) tags: Vec<EntityTag<'a>>,
    /// At least one non-empty element (valid or not) was present.
    pub(crate) present: bool,
}

impl<'a> EtagList<'a> {
    fn matches(&self, current: Option<EntityTag<'_>>, how: Comparison) -> bool {
        self.any || current.is_some_and(|c| self.tags.iter().any(|t| t.compare(&c, how)))
    }

    /// Add the elements of one field line. Invalid elements are skipped (but make the
    /// list `present`); a quoted tag may contain commas.
    fn extend_from(&mut self, s: &'a [u8]) -> &mut Self {
        let mut i = 0;
        loop {
            while i < s.len() && (is_ows(s[i]) || s[i] == b',') {
                i += 1;
            }
            if i >= s.len() {
                return self;
            }
            self.present = true;
            if s[i] == b'*' {
                let j = skip_ows(s, i + 1);
                if j == s.len() || s[j] == b',' {
                    self.any = true;
                    i = j;
                    continue;
                }
            } else if let Some((tag, next)) = parse_tag_at(s, i) {
                let j = skip_ows(s, next);
                if j == s.len() || s[j] == b',' {
                    self.tags.push(tag);
                    i = j;
                    continue;
                }
            }
            i = skip_element(s, i);
        }
    }
}

/// Parse an entity-tag list (comma separated, `W/` prefix, quoted tags may contain commas,
/// `*`). Invalid elements are skipped.
pub(crate) fn parse_etag_list(value: &[u8]) -> EtagList<'_> {
    let mut list = EtagList::default();
    list.extend_from(value);
    list
}

/// All field lines of an entity-tag list header, combined.
fn etag_header<'h>(headers: &'h HeaderMap, name: &HeaderName) -> EtagList<'h> {
    let mut all = EtagList::default();
    for value in headers.get_all(name) {
        let list = parse_etag_list(value.as_bytes());
        all.any |= list.any;
        all.present |= list.present;
        all.tags.extend(list.tags);
    }
    all
}

/// Parse `[W/]"etagc*"` starting at `i`; returns the tag and the index after the closing quote.
fn parse_tag_at(s: &[u8], i: usize) -> Option<(EntityTag<'_>, usize)> {
    let (weak, quote) = if s.get(i..i + 2) == Some(b"W/") {
        (true, i + 2)
    } else {
        (false, i)
    };
    if s.get(quote) != Some(&b'"') {
        return None;
    }
    let body = quote + 1;
    let len = s.get(body..)?.iter().position(|&b| !is_etagc(b))?;
    let close = body + len;
    (s.get(close) == Some(&b'"')).then(|| {
        (
            EntityTag {
                weak,
                opaque: &s[body..close],
            },
            close + 1,
        )
    })
}

/// Index of the next top-level comma (outside quotes) at or after `i`, or `s.len()`.
fn skip_element(s: &[u8], mut i: usize) -> usize {
    let mut quoted = false;
    while i < s.len() {
        match s[i] {
            b'"' => quoted = !quoted,
            b',' if !quoted => return i,
            _ => {}
        }
        i += 1;
    }
    i
}

/// RFC 9110 `etagc = %x21 / %x23-7E / obs-text`.
fn is_etagc(b: u8) -> bool {
    b == 0x21 || (0x23..=0x7e).contains(&b) || b >= 0x80
}

fn is_ows(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

fn skip_ows(s: &[u8], mut i: usize) -> usize {
    while i < s.len() && is_ows(s[i]) {
        i += 1;
    }
    i
}

fn trim_ows(s: &str) -> &str {
    s.trim_matches(|c| c == ' ' || c == '\t')
}

// ---------------------------------------------------------------------------------------
// Dates and single-valued headers
// ---------------------------------------------------------------------------------------

/// Whole seconds since the Unix epoch (floor), so that comparisons use HTTP-date precision.
fn unix_secs(t: SystemTime) -> i128 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i128::from(d.as_secs()),
        Err(e) => {
            let d = e.duration();
            let s = -i128::from(d.as_secs());
            if d.subsec_nanos() > 0 {
                s - 1
            } else {
                s
            }
        }
    }
}

/// The value of a header sent exactly once, as visible ASCII text.
fn single_str<'h>(headers: &'h HeaderMap, name: &HeaderName) -> Option<&'h str> {
    let mut values = headers.get_all(name).iter();
    let first = values.next()?;
    if values.next().is_some() {
        return None;
    }
    first.to_str().ok()
}

/// A header sent exactly once holding a valid HTTP-date, in Unix seconds.
fn single_date(headers: &HeaderMap, name: &HeaderName) -> Option<i128> {
    let s = single_str(headers, name)?;
    httpdate::parse_http_date(trim_ows(s)).ok().map(unix_secs)
}

// ---------------------------------------------------------------------------------------
// Ranges
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ByteRange {
    /// `a-b`, `a <= b`.
    FromTo(u64, u64),
    /// `a-`.
    From(u64),
    /// `-n`.
    Suffix(u64),
}

/// Parse a `Range` value holding exactly one byte range; `None` means "ignore Range".
fn parse_byte_range(spec: &str) -> Option<ByteRange> {
    let (unit, set) = trim_ows(spec).split_once('=')?;
    if !trim_ows(unit).eq_ignore_ascii_case("bytes") {
        return None;
    }
    let mut ranges = set.split(',').map(trim_ows).filter(|r| !r.is_empty());
    let range = ranges.next()?;
    if ranges.next().is_some() {
        return None;
    }
    let (first, last) = range.split_once('-')?;
    let (first, last) = (trim_ows(first), trim_ows(last));
    match (first.is_empty(), last.is_empty()) {
        (true, true) => None,
        (true, false) => Some(ByteRange::Suffix(parse_digits(last)?)),
        (false, true) => Some(ByteRange::From(parse_digits(first)?)),
        (false, false) => {
            let (a, b) = (parse_digits(first)?, parse_digits(last)?);
            (b >= a).then_some(ByteRange::FromTo(a, b))
        }
    }
}

/// `1*DIGIT` as u64; `None` on anything else (including a sign) or on overflow.
fn parse_digits(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn if_range_holds(headers: &HeaderMap, v: Validators<'_>) -> bool {
    let Some(value) = single_str(headers, &IF_RANGE) else {
        return false;
    };
    let value = trim_ows(value);
    if value.starts_with('"') || value.starts_with("W/") {
        let Some(tag) = EntityTag::parse(value.as_bytes()) else {
            return false;
        };
        let current = v.etag.and_then(|e| EntityTag::parse(e.as_bytes()));
        return current.is_some_and(|c| tag.strong_eq(&c));
    }
    match (httpdate::parse_http_date(value), v.last_modified) {
        (Ok(date), Some(lm)) => unix_secs(date) == unix_secs(lm),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;
    use std::time::Duration;

    const T: u64 = 1_700_000_000; // 2023-11-14T22:13:20Z

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn date(secs: u64) -> String {
        httpdate::fmt_http_date(at(secs))
    }

    fn hm(pairs: &[(HeaderName, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(k.clone(), HeaderValue::from_str(v).unwrap());
        }
        h
    }

    fn v<'a>(etag: Option<&'a str>, lm: Option<SystemTime>) -> Validators<'a> {
        Validators {
            etag,
            last_modified: lm,
        }
    }

    fn strong() -> Validators<'static> {
        v(Some("\"abc\""), Some(at(T)))
    }

    fn weak() -> Validators<'static> {
        v(Some("W/\"abc\""), Some(at(T)))
    }

    fn pre(method: Method, pairs: &[(HeaderName, &str)], val: Validators<'_>) -> Precondition {
        evaluate_preconditions(&method, &hm(pairs), val)
    }

    fn range(pairs: &[(HeaderName, &str)], len: u64, val: Validators<'_>) -> RangeOutcome {
        evaluate_range(&hm(pairs), len, val)
    }

    fn r(spec: &str, len: u64) -> RangeOutcome {
        range(&[(RANGE, spec)], len, strong())
    }

    fn p(start: u64, end: u64) -> RangeOutcome {
        RangeOutcome::Partial { start, end }
    }

    use Precondition::{Failed, NotModified, Proceed};
    use RangeOutcome::{Full, Unsatisfiable};

    // ---- entity-tag parsing ----

    #[test]
    fn parse_single_tags() {
        assert_eq!(
            EntityTag::parse(b"\"abc\""),
            Some(EntityTag {
                weak: false,
                opaque: b"abc"
            })
        );
        assert_eq!(
            EntityTag::parse(b" W/\"abc\"\t"),
            Some(EntityTag {
                weak: true,
                opaque: b"abc"
            })
        );
        assert_eq!(
            EntityTag::parse(b"\"\""),
            Some(EntityTag {
                weak: false,
                opaque: b""
            })
        );
        assert_eq!(EntityTag::parse(b"abc"), None);
        assert_eq!(EntityTag::parse(b"\"abc"), None);
        assert_eq!(EntityTag::parse(b"w/\"abc\""), None);
        assert_eq!(EntityTag::parse(b"\"a\" \"b\""), None);
        assert_eq!(EntityTag::parse(b"\"a b\""), None);
        assert_eq!(EntityTag::parse(b""), None);
    }

    #[test]
    fn parse_lists() {
        let l = parse_etag_list(b"\"a\", W/\"b\" ,\"c,d\",,  \"e\"");
        let opaque: Vec<&[u8]> = l.tags.iter().map(|t| t.opaque).collect();
        assert_eq!(opaque, vec![&b"a"[..], b"b", b"c,d", b"e"]);
        assert_eq!(
            l.tags.iter().map(|t| t.weak).collect::<Vec<_>>(),
            vec![false, true, false, false]
        );
        assert!(!l.any && l.present);

        let l = parse_etag_list(b" * ");
        assert!(l.any && l.present && l.tags.is_empty());

        // invalid elements are skipped without losing the following valid ones
        let l = parse_etag_list(b"junk, \"x,y\" trailing, *x, \"ok\"");
        assert_eq!(l.tags.len(), 1);
        assert_eq!(l.tags[0].opaque, b"ok");
        assert!(!l.any && l.present);

        let l = parse_etag_list(b" , ,\t");
        assert!(!l.present && !l.any && l.tags.is_empty());
    }

    #[test]
    fn comparisons() {
        let s = EntityTag::parse(b"\"1\"").unwrap();
        let w = EntityTag::parse(b"W/\"1\"").unwrap();
        let s2 = EntityTag::parse(b"\"2\"").unwrap();
        assert!(s.strong_eq(&s));
        assert!(!s.strong_eq(&w) && !w.strong_eq(&s) && !w.strong_eq(&w));
        assert!(s.weak_eq(&w) && w.weak_eq(&w) && w.weak_eq(&s));
        assert!(!s.weak_eq(&s2) && !s.strong_eq(&s2));
    }

    // ---- preconditions ----

    #[test]
    fn no_conditions_proceed() {
        assert_eq!(pre(Method::GET, &[], strong()), Proceed);
        assert_eq!(pre(Method::PUT, &[], v(None, None)), Proceed);
    }

    #[test]
    fn if_match_strong() {
        assert_eq!(
            pre(Method::GET, &[(IF_MATCH, "\"abc\"")], strong()),
            Proceed
        );
        assert_eq!(
            pre(Method::PUT, &[(IF_MATCH, "\"abc\"")], strong()),
            Proceed
        );
        assert_eq!(pre(Method::GET, &[(IF_MATCH, "\"xyz\"")], strong()), Failed);
        // weak tags never match strongly, whichever side is weak
        assert_eq!(
            pre(Method::GET, &[(IF_MATCH, "W/\"abc\"")], strong()),
            Failed
        );
        assert_eq!(pre(Method::GET, &[(IF_MATCH, "\"abc\"")], weak()), Failed);
        assert_eq!(pre(Method::GET, &[(IF_MATCH, "W/\"abc\"")], weak()), Failed);
        // no etag on the representation: no tag can match
        assert_eq!(
            pre(Method::GET, &[(IF_MATCH, "\"abc\"")], v(None, None)),
            Failed
        );
    }

    #[test]
    fn if_match_lists_and_star() {
        assert_eq!(
            pre(
                Method::GET,
                &[(IF_MATCH, "\"x\", \"abc\" , \"y\"")],
                strong()
            ),
            Proceed
        );
        assert_eq!(
            pre(
                Method::GET,
                &[(IF_MATCH, "\"x\""), (IF_MATCH, "\"abc\"")],
                strong()
            ),
            Proceed
        );
        assert_eq!(
            pre(Method::GET, &[(IF_MATCH, "\"x\", \"y\"")], strong()),
            Failed
        );
        assert_eq!(pre(Method::GET, &[(IF_MATCH, "*")], strong()), Proceed);
        assert_eq!(
            pre(Method::DELETE, &[(IF_MATCH, "*")], v(None, None)),
            Proceed
        );
        // an unparseable representation ETag counts as none
        assert_eq!(
            pre(Method::GET, &[(IF_MATCH, "\"abc\"")], v(Some("abc"), None)),
            Failed
        );
        // garbage-only If-Match is present and matches nothing
        assert_eq!(pre(Method::GET, &[(IF_MATCH, "abc")], strong()), Failed);
        // a blank If-Match is treated as absent
        assert_eq!(pre(Method::GET, &[(IF_MATCH, " ")], strong()), Proceed);
    }

    #[test]
    fn if_match_tag_with_comma() {
        let val = v(Some("\"a,b\""), None);
        assert_eq!(pre(Method::GET, &[(IF_MATCH, "\"a,b\"")], val), Proceed);
        assert_eq!(pre(Method::GET, &[(IF_MATCH, "\"a\", \"b\"")], val), Failed);
    }

    #[test]
    fn if_unmodified_since() {
        let h = |d: &str| pre(Method::PUT, &[(IF_UNMODIFIED_SINCE, d)], strong());
        assert_eq!(h(&date(T)), Proceed);
        assert_eq!(h(&date(T + 10)), Proceed);
        assert_eq!(h(&date(T - 1)), Failed);
        assert_eq!(h("not a date"), Proceed);
        // sub-second part of last_modified is ignored
        let val = v(None, Some(at(T) + Duration::from_millis(900)));
        assert_eq!(
            pre(Method::PUT, &[(IF_UNMODIFIED_SINCE, &date(T))], val),
            Proceed
        );
        // no last_modified: ignored
        assert_eq!(
            pre(
                Method::PUT,
                &[(IF_UNMODIFIED_SINCE, &date(T - 100))],
                v(None, None)
            ),
            Proceed
        );
        // obsolete formats are accepted
        assert_eq!(
            pre(
                Method::GET,
                &[(IF_UNMODIFIED_SINCE, "Sunday, 06-Nov-94 08:49:37 GMT")],
                strong()
            ),
            Failed
        );
        assert_eq!(
            pre(
                Method::GET,
                &[(IF_UNMODIFIED_SINCE, "Sun Nov  6 08:49:37 1994")],
                strong()
            ),
            Failed
        );
    }

    #[test]
    fn if_unmodified_since_ignored_with_if_match() {
        let old = date(T - 100);
        assert_eq!(
            pre(
                Method::PUT,
                &[(IF_MATCH, "\"abc\""), (IF_UNMODIFIED_SINCE, &old)],
                strong()
            ),
            Proceed
        );
        assert_eq!(
            pre(
                Method::PUT,
                &[(IF_MATCH, "\"zzz\""), (IF_UNMODIFIED_SINCE, &date(T + 100))],
                strong()
            ),
            Failed
        );
    }

    #[test]
    fn if_none_match_weak() {
        for m in [Method::GET, Method::HEAD] {
            assert_eq!(
                pre(m.clone(), &[(IF_NONE_MATCH, "\"abc\"")], strong()),
                NotModified
            );
            assert_eq!(
                pre(m.clone(), &[(IF_NONE_MATCH, "W/\"abc\"")], strong()),
                NotModified
            );
            assert_eq!(
                pre(m.clone(), &[(IF_NONE_MATCH, "\"abc\"")], weak()),
                NotModified
            );
            assert_eq!(
                pre(m.clone(), &[(IF_NONE_MATCH, "W/\"abc\"")], weak()),
                NotModified
            );
            assert_eq!(
                pre(m.clone(), &[(IF_NONE_MATCH, "\"xyz\"")], strong()),
                Proceed
            );
            assert_eq!(
                pre(m.clone(), &[(IF_NONE_MATCH, "*")], strong()),
                NotModified
            );
            assert_eq!(
                pre(m, &[(IF_NONE_MATCH, "\"1\", W/\"2\", \"abc\"")], strong()),
                NotModified
            );
        }
        assert_eq!(pre(Method::PUT, &[(IF_NONE_MATCH, "*")], strong()), Failed);
        assert_eq!(
            pre(Method::POST, &[(IF_NONE_MATCH, "W/\"abc\"")], strong()),
            Failed
        );
        assert_eq!(
            pre(Method::PUT, &[(IF_NONE_MATCH, "\"xyz\"")], strong()),
            Proceed
        );
        assert_eq!(
            pre(Method::GET, &[(IF_NONE_MATCH, "\"abc\"")], v(None, None)),
            Proceed
        );
    }

    #[test]
    fn if_modified_since() {
        let h = |m: Method, d: &str| pre(m, &[(IF_MODIFIED_SINCE, d)], strong());
        assert_eq!(h(Method::GET, &date(T)), NotModified);
        assert_eq!(h(Method::HEAD, &date(T + 5)), NotModified);
        assert_eq!(h(Method::GET, &date(T - 1)), Proceed);
        // only GET/HEAD
        assert_eq!(h(Method::POST, &date(T + 5)), Proceed);
        assert_eq!(h(Method::PUT, &date(T + 5)), Proceed);
        // unparseable: ignored
        assert_eq!(h(Method::GET, "yesterday"), Proceed);
        assert_eq!(h(Method::GET, ""), Proceed);
        // second precision: 900 ms after T is still "not modified since T"
        let val = v(None, Some(at(T) + Duration::from_millis(900)));
        assert_eq!(
            pre(Method::GET, &[(IF_MODIFIED_SINCE, &date(T))], val),
            NotModified
        );
        // no last_modified: ignored
        assert_eq!(
            pre(
                Method::GET,
                &[(IF_MODIFIED_SINCE, &date(T))],
                v(Some("\"a\""), None)
            ),
            Proceed
        );
        // more than one field line: ignored
        assert_eq!(
            pre(
                Method::GET,
                &[(IF_MODIFIED_SINCE, &date(T)), (IF_MODIFIED_SINCE, &date(T))],
                strong()
            ),
            Proceed
        );
    }

    #[test]
    fn if_modified_since_ignored_with_if_none_match() {
        assert_eq!(
            pre(
                Method::GET,
                &[
                    (IF_NONE_MATCH, "\"xyz\""),
                    (IF_MODIFIED_SINCE, &date(T + 10))
                ],
                strong()
            ),
            Proceed
        );
        assert_eq!(
            pre(
                Method::GET,
                &[
                    (IF_NONE_MATCH, "\"abc\""),
                    (IF_MODIFIED_SINCE, &date(T - 10))
                ],
                strong()
            ),
            NotModified
        );
    }

    #[test]
    fn evaluation_order() {
        // If-Match failing wins over If-None-Match
        assert_eq!(
            pre(
                Method::GET,
                &[(IF_MATCH, "\"xyz\""), (IF_NONE_MATCH, "\"abc\"")],
                strong()
            ),
            Failed
        );
        // If-Unmodified-Since failing wins over If-None-Match / If-Modified-Since
        assert_eq!(
            pre(
                Method::GET,
                &[
                    (IF_UNMODIFIED_SINCE, &date(T - 1)),
                    (IF_NONE_MATCH, "\"abc\""),
                    (IF_MODIFIED_SINCE, &date(T)),
                ],
                strong()
            ),
            Failed
        );
        // If-Match passing, then If-None-Match matching -> 304
        assert_eq!(
            pre(
                Method::GET,
                &[(IF_MATCH, "\"abc\""), (IF_NONE_MATCH, "\"abc\"")],
                strong()
            ),
            NotModified
        );
    }

    // ---- ranges ----

    #[test]
    fn no_range_is_full() {
        assert_eq!(range(&[], 100, strong()), Full);
        assert_eq!(range(&[], 0, strong()), Full);
    }

    #[test]
    fn simple_ranges() {
        assert_eq!(r("bytes=0-99", 1000), p(0, 99));
        assert_eq!(r("bytes=0-0", 1000), p(0, 0));
        assert_eq!(r("bytes=100-", 1000), p(100, 999));
        assert_eq!(r("bytes=-100", 1000), p(900, 999));
        assert_eq!(r("bytes=500-2000", 1000), p(500, 999));
        assert_eq!(r("bytes=0-18446744073709551615", 1000), p(0, 999));
    }

    #[test]
    fn ranges_at_the_last_byte() {
        assert_eq!(r("bytes=999-999", 1000), p(999, 999));
        assert_eq!(r("bytes=999-", 1000), p(999, 999));
        assert_eq!(r("bytes=-1", 1000), p(999, 999));
        assert_eq!(r("bytes=999-5000", 1000), p(999, 999));
        assert_eq!(r("bytes=1000-", 1000), Unsatisfiable);
        assert_eq!(r("bytes=1000-1000", 1000), Unsatisfiable);
        assert_eq!(r("bytes=0-", 1), p(0, 0));
        assert_eq!(r("bytes=-1", 1), p(0, 0));
    }

    #[test]
    fn suffix_larger_than_len() {
        assert_eq!(r("bytes=-5000", 1000), p(0, 999));
        assert_eq!(r("bytes=-1000", 1000), p(0, 999));
        assert_eq!(r("bytes=-18446744073709551615", 1000), p(0, 999));
    }

    #[test]
    fn unsatisfiable() {
        assert_eq!(r("bytes=2000-", 1000), Unsatisfiable);
        assert_eq!(r("bytes=2000-3000", 1000), Unsatisfiable);
        assert_eq!(r("bytes=-0", 1000), Unsatisfiable);
        assert_eq!(r("bytes=0-", 0), Unsatisfiable);
        assert_eq!(r("bytes=0-10", 0), Unsatisfiable);
        assert_eq!(r("bytes=-5", 0), Unsatisfiable);
        assert_eq!(r("bytes=-0", 0), Unsatisfiable);
    }

    #[test]
    fn malformed_ranges_are_full() {
        for spec in [
            "bytes=10-5",
            "bytes=2000-1000",
            "bytes=0-1,5-6",
            "bytes=0-1, -5",
            "items=0-5",
            "bytes 0-5",
            "bytes=",
            "bytes=-",
            "bytes=abc",
            "bytes=a-b",
            "bytes=1-2-3",
            "bytes=--5",
            "bytes=+5-10",
            "bytes=5-+10",
            "bytes=0x10-",
            "bytes=1.5-",
            "=0-5",
            "",
            "bytes=0-5;x",
        ] {
            assert_eq!(r(spec, 1000), Full, "{spec}");
        }
        // malformed wins over unsatisfiable for an empty representation
        assert_eq!(r("bytes=5-1", 0), Full);
        assert_eq!(r("bytes=0-1,2-3", 0), Full);
    }

    #[test]
    fn overflowing_numbers_are_full() {
        assert_eq!(r("bytes=18446744073709551616-", 1000), Full);
        assert_eq!(r("bytes=0-18446744073709551616", 1000), Full);
        assert_eq!(r("bytes=-18446744073709551616", 1000), Full);
        assert_eq!(r("bytes=99999999999999999999999999-1", 1000), Full);
        assert_eq!(r("bytes=18446744073709551615-", u64::MAX), Unsatisfiable);
        assert_eq!(
            r("bytes=18446744073709551614-", u64::MAX),
            p(u64::MAX - 1, u64::MAX - 1)
        );
        assert_eq!(r("bytes=-1", u64::MAX), p(u64::MAX - 1, u64::MAX - 1));
    }

    #[test]
    fn whitespace_tolerance() {
        assert_eq!(r("bytes= 0-10", 1000), p(0, 10));
        assert_eq!(r("  bytes=0-10  ", 1000), p(0, 10));
        assert_eq!(r("bytes = 0-10", 1000), p(0, 10));
        assert_eq!(r("bytes=0 - 10", 1000), p(0, 10));
        assert_eq!(r("BYTES=0-10", 1000), p(0, 10));
        assert_eq!(r("bytes=\t-10", 1000), p(990, 999));
        // empty list elements are not ranges
        assert_eq!(r("bytes=0-10,", 1000), p(0, 10));
        assert_eq!(r("bytes= , 0-10 ,", 1000), p(0, 10));
        assert_eq!(r("bytes= , ", 1000), Full);
        // whitespace inside a number is not a number
        assert_eq!(r("bytes=1 0-20", 1000), Full);
    }

    #[test]
    fn several_range_lines_are_full() {
        assert_eq!(
            range(
                &[(RANGE, "bytes=0-1"), (RANGE, "bytes=2-3")],
                1000,
                strong()
            ),
            Full
        );
    }

    #[test]
    fn if_range_strong_etag() {
        let h = |ir: &str, val| range(&[(RANGE, "bytes=0-9"), (IF_RANGE, ir)], 100, val);
        assert_eq!(h("\"abc\"", strong()), p(0, 9));
        assert_eq!(h(" \"abc\" ", strong()), p(0, 9));
        assert_eq!(h("\"xyz\"", strong()), Full);
        // weak tags never hold, either side
        assert_eq!(h("W/\"abc\"", strong()), Full);
        assert_eq!(h("W/\"abc\"", weak()), Full);
        assert_eq!(h("\"abc\"", weak()), Full);
        assert_eq!(h("\"abc\"", v(None, Some(at(T)))), Full);
        // lists and garbage do not hold
        assert_eq!(h("\"abc\", \"abc\"", strong()), Full);
        assert_eq!(h("\"abc", strong()), Full);
        assert_eq!(h("*", strong()), Full);
        assert_eq!(h("", strong()), Full);
    }

    #[test]
    fn if_range_date() {
        let h = |ir: &str, val| range(&[(RANGE, "bytes=10-"), (IF_RANGE, ir)], 100, val);
        assert_eq!(h(&date(T), strong()), p(10, 99));
        assert_eq!(
            h(&date(T), v(None, Some(at(T) + Duration::from_millis(500)))),
            p(10, 99)
        );
        // must be exactly equal, not merely "not modified since"
        assert_eq!(h(&date(T + 1), strong()), Full);
        assert_eq!(h(&date(T - 1), strong()), Full);
        assert_eq!(h(&date(T), v(Some("\"abc\""), None)), Full);
        assert_eq!(h("not a date", strong()), Full);
    }

    #[test]
    fn if_range_false_ignores_even_unsatisfiable() {
        assert_eq!(
            range(
                &[(RANGE, "bytes=500-"), (IF_RANGE, "\"old\"")],
                100,
                strong()
            ),
            Full
        );
        assert_eq!(
            range(
                &[(RANGE, "bytes=500-"), (IF_RANGE, "\"abc\"")],
                100,
                strong()
            ),
            Unsatisfiable
        );
    }

    #[test]
    fn if_range_without_range_is_full() {
        assert_eq!(range(&[(IF_RANGE, "\"abc\"")], 100, strong()), Full);
    }

    #[test]
    fn several_if_range_lines_do_not_hold() {
        assert_eq!(
            range(
                &[
                    (RANGE, "bytes=0-1"),
                    (IF_RANGE, "\"abc\""),
                    (IF_RANGE, "\"abc\"")
                ],
                100,
                strong()
            ),
            Full
        );
    }

    #[test]
    fn content_range_values() {
        assert_eq!(content_range(0, 99, 1000), "bytes 0-99/1000");
        assert_eq!(content_range(999, 999, 1000), "bytes 999-999/1000");
        assert_eq!(unsatisfied_range(1000), "bytes */1000");
        assert_eq!(unsatisfied_range(0), "bytes */0");
    }

    #[test]
    fn obs_text_tags_compare_bytewise() {
        let mut h = HeaderMap::new();
        h.insert(
            IF_NONE_MATCH,
            HeaderValue::from_bytes("\"caf\u{e9}\"".as_bytes()).unwrap(),
        );
        let val = v(Some("\"caf\u{e9}\""), None);
        assert_eq!(evaluate_preconditions(&Method::GET, &h, val), NotModified);
    }

    #[test]
    fn unix_secs_floors() {
        assert_eq!(unix_secs(at(5) + Duration::from_millis(999)), 5);
        assert_eq!(unix_secs(UNIX_EPOCH - Duration::from_millis(1)), -1);
        assert_eq!(unix_secs(UNIX_EPOCH - Duration::from_secs(2)), -2);
    }

    #[test]
    fn non_ascii_header_values_do_not_panic() {
        let mut h = HeaderMap::new();
        h.insert(RANGE, HeaderValue::from_bytes(b"bytes=\xff0-1").unwrap());
        h.insert(
            IF_NONE_MATCH,
            HeaderValue::from_bytes(b"\"\xe9t\xe9\"").unwrap(),
        );
        h.insert(IF_MODIFIED_SINCE, HeaderValue::from_bytes(b"\xff").unwrap());
        assert_eq!(evaluate_range(&h, 10, strong()), Full);
        assert_eq!(evaluate_preconditions(&Method::GET, &h, strong()), Proceed);
        let val = v(Some("\"\u{e9}t\u{e9}\""), None);
        // obs-text is compared byte for byte: the ISO-8859-1 bytes differ from UTF-8
        assert_eq!(evaluate_preconditions(&Method::GET, &h, val), Proceed);
    }
}
