//! `Cache-Control` (RFC 9111 §5.2) and `Pragma` (§5.4) as the partner cache reads them: one
//! [`CacheControl`] for a request or a response, parsed from every field line, comma lists
//! and quoted strings included, never panicking on any bytes. Also the list splitting
//! (RFC 9110 §5.6.1) that `Vary`, `Connection` and `Pragma` share.
//!
//! Conservative readings (RFC 9111 §4.2.1): an invalid `max-age` or `s-maxage` (not
//! delta-seconds) reads as `0`, as do duplicates that disagree, so the response is stale;
//! delta-seconds beyond 2^31 saturate at 2147483648 (§1.2.2). Restrictive directives count
//! even when they carry an argument they should not have; permissive ones (`public`,
//! `immutable`) do not. Unknown directives are ignored (§5.2.3).

use http::{header, HeaderMap};

/// The largest delta-seconds value a cache must be able to represent (RFC 9111 §1.2.2):
/// anything above reads as this.
pub const DELTA_SECONDS_MAX: u64 = 2_147_483_648;

/// The parsed `Cache-Control` of one message. Request-only and response-only directives
/// share the struct; a caller reads the ones that apply to the side it parsed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CacheControl {
    /// `no-store` (§5.2.1.5, §5.2.2.5).
    pub no_store: bool,
    /// `no-cache` (§5.2.1.4, §5.2.2.4): `Some(vec![])` unqualified, `Some(names)` qualified
    /// with lower-case field names. Unqualified anywhere wins over qualified lists.
    pub no_cache: Option<Vec<String>>,
    /// `private` (§5.2.2.7), like `no_cache`.
    pub private: Option<Vec<String>>,
    /// `public` (§5.2.2.9).
    pub public: bool,
    /// `must-revalidate` (§5.2.2.2).
    pub must_revalidate: bool,
    /// `proxy-revalidate` (§5.2.2.8).
    pub proxy_revalidate: bool,
    /// `must-understand` (§5.2.2.3).
    pub must_understand: bool,
    /// `no-transform` (§5.2.1.6, §5.2.2.6).
    pub no_transform: bool,
    /// `s-maxage` seconds (§5.2.2.10); invalid or conflicting reads as `Some(0)`.
    pub s_maxage: Option<u64>,
    /// `max-age` seconds (§5.2.1.1, §5.2.2.1); invalid or conflicting reads as `Some(0)`.
    pub max_age: Option<u64>,
    /// `immutable` (RFC 8246).
    pub immutable: bool,
    /// Request `max-stale` (§5.2.1.2): `Some(None)` accepts any staleness, `Some(Some(n))`
    /// at most `n` seconds. An invalid value is ignored (no stale response is accepted).
    pub max_stale: Option<Option<u64>>,
    /// Request `min-fresh` seconds (§5.2.1.3); an invalid value is ignored, duplicates keep
    /// the largest.
    pub min_fresh: Option<u64>,
    /// Request `only-if-cached` (§5.2.1.7).
    pub only_if_cached: bool,
}

impl CacheControl {
    /// Unqualified `no-cache`: never reused without successful validation (§5.2.2.4).
    pub fn no_cache_unqualified(&self) -> bool {
        self.no_cache.as_ref().is_some_and(|v| v.is_empty())
    }

    /// Unqualified `private`: a shared cache must not store it (§5.2.2.7).
    pub fn private_unqualified(&self) -> bool {
        self.private.as_ref().is_some_and(|v| v.is_empty())
    }

    /// The field names that qualified `no-cache="..."` and `private="..."` forbid a shared
    /// cache to store or replay (§3.1), lower-case, sorted, deduplicated.
    pub fn excluded_fields(&self) -> Vec<String> {
        let mut out: Vec<String> = [&self.no_cache, &self.private]
            .into_iter()
            .flatten()
            .flatten()
            .cloned()
            .collect();
        out.sort();
        out.dedup();
        out
    }
}

/// Parses every `Cache-Control` field line of `headers` (RFC 9111 §5.2).
pub fn parse(headers: &HeaderMap) -> CacheControl {
    let mut cc = CacheControl::default();
    let mut max_age = Numeric::default();
    let mut s_maxage = Numeric::default();
    for line in headers.get_all(header::CACHE_CONTROL) {
        for element in list_elements(line.as_bytes()) {
            let Some((name, value)) = directive(element) else {
                continue;
            };
            match name.as_str() {
                "no-store" => cc.no_store = true,
                "no-cache" => merge_names(&mut cc.no_cache, value.as_deref()),
                "private" => merge_names(&mut cc.private, value.as_deref()),
                "public" => cc.public |= value.is_none(),
                "must-revalidate" => cc.must_revalidate = true,
                "proxy-revalidate" => cc.proxy_revalidate = true,
                "must-understand" => cc.must_understand = true,
                "no-transform" => cc.no_transform = true,
                "immutable" => cc.immutable |= value.is_none(),
                "only-if-cached" => cc.only_if_cached = true,
                "max-age" => max_age.add(value.as_deref()),
                "s-maxage" => s_maxage.add(value.as_deref()),
                "min-fresh" => {
                    if let Some(n) = value.as_deref().and_then(delta_seconds) {
                        cc.min_fresh = Some(cc.min_fresh.map_or(n, |m| m.max(n)));
                    }
                }
                "max-stale" => match value.as_deref() {
                    None => {
                        if cc.max_stale.is_none() {
                            cc.max_stale = Some(None);
                        }
                    }
                    Some(v) => {
                        if let Some(n) = delta_seconds(v) {
                            cc.max_stale = Some(Some(match cc.max_stale {
                                Some(Some(m)) => m.min(n),
                                _ => n,
                            }));
                        }
                    }
                },
                _ => {}
            }
        }
    }
    cc.max_age = max_age.value();
    cc.s_maxage = s_maxage.value();
    cc
}

/// `Pragma: no-cache` in a request that has no `Cache-Control` field at all. RFC 9111 §5.4
/// deprecates `Pragma`; RFC 7234 §5.4 had caches treat this as `Cache-Control: no-cache`,
/// which is what a caller does with a `true`.
pub fn pragma_no_cache(headers: &HeaderMap) -> bool {
    !headers.contains_key(header::CACHE_CONTROL)
        && headers.get_all(header::PRAGMA).iter().any(|line| {
            list_elements(line.as_bytes())
                .into_iter()
                .any(|e| e.eq_ignore_ascii_case(b"no-cache"))
        })
}

/// The elements of one field line that uses the list syntax (RFC 9110 §5.6.1): split at
/// commas outside quoted strings, each trimmed of optional whitespace, empty ones dropped.
/// An unterminated quoted string runs to the end of the line.
pub fn list_elements(line: &[u8]) -> Vec<&[u8]> {
    let mut out = split_list(line);
    out.retain(|e| !e.is_empty());
    out
}

/// Like [`list_elements`], but empty elements are kept: an empty line is one empty
/// element, `a,,b` three.
pub fn split_list(line: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut quoted = false;
    let mut escaped = false;
    for (i, &b) in line.iter().enumerate() {
        if quoted {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                quoted = false;
            }
        } else if b == b'"' {
            quoted = true;
        } else if b == b',' {
            out.push(trim_ows(&line[start..i]));
            start = i + 1;
        }
    }
    out.push(trim_ows(&line[start..]));
    out
}

/// `element` without leading and trailing SP / HTAB.
pub fn trim_ows(element: &[u8]) -> &[u8] {
    let is_ows = |b: &u8| *b == b' ' || *b == b'\t';
    let start = element
        .iter()
        .position(|b| !is_ows(b))
        .unwrap_or(element.len());
    let end = element
        .iter()
        .rposition(|b| !is_ows(b))
        .map_or(start, |e| e + 1);
    &element[start..end]
}

/// Whether `b` is a `tchar` (RFC 9110 §5.6.2).
pub fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Whether `s` is a non-empty `token` (RFC 9110 §5.6.2).
pub fn is_token(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|&b| is_tchar(b))
}

/// One `cache-directive = token [ "=" ( token / quoted-string ) ]`: the lower-case name and
/// the unquoted argument. Whitespace around `=` is tolerated; anything else malformed is
/// `None` (the element is ignored).
fn directive(element: &[u8]) -> Option<(String, Option<String>)> {
    let (name, value) = match element.iter().position(|&b| b == b'=') {
        Some(eq) => (trim_ows(&element[..eq]), Some(trim_ows(&element[eq + 1..]))),
        None => (element, None),
    };
    if !is_token(name) {
        return None;
    }
    let name = String::from_utf8_lossy(name).to_ascii_lowercase();
    let value = match value {
        None => None,
        Some(v) if v.first() == Some(&b'"') => Some(unquote(v)),
        Some(v) => Some(String::from_utf8_lossy(v).into_owned()),
    };
    Some((name, value))
}

/// The content of a quoted-string starting at `v[0] == '"'`, quoted-pairs unescaped; an
/// unterminated string takes the rest.
fn unquote(v: &[u8]) -> String {
    let mut out = Vec::with_capacity(v.len());
    let mut escaped = false;
    for &b in v.iter().skip(1) {
        if escaped {
            out.push(b);
            escaped = false;
        } else if b == b'\\' {
            escaped = true;
        } else if b == b'"' {
            break;
        } else {
            out.push(b);
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `delta-seconds = 1*DIGIT` (§1.2.2), saturating at [`DELTA_SECONDS_MAX`]; `None` if not
/// all digits (or empty).
pub fn delta_seconds(v: &str) -> Option<u64> {
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut n: u64 = 0;
    for b in v.bytes() {
        n = n.saturating_mul(10).saturating_add(u64::from(b - b'0'));
        if n > DELTA_SECONDS_MAX {
            return Some(DELTA_SECONDS_MAX);
        }
    }
    Some(n)
}

/// A `no-cache` / `private` argument: unqualified (no argument, or an empty list) makes the
/// directive unqualified for good; qualified lists are unioned.
fn merge_names(slot: &mut Option<Vec<String>>, value: Option<&str>) {
    let names: Vec<String> = value
        .map(|v| {
            list_elements(v.as_bytes())
                .into_iter()
                .filter(|n| is_token(n))
                .map(|n| String::from_utf8_lossy(n).to_ascii_lowercase())
                .collect()
        })
        .unwrap_or_default();
    match slot {
        Some(existing) if existing.is_empty() => {}
        _ if names.is_empty() => *slot = Some(Vec::new()),
        Some(existing) => {
            for n in names {
                if !existing.contains(&n) {
                    existing.push(n);
                }
            }
        }
        None => *slot = Some(names),
    }
}

/// The occurrences of one numeric directive (`max-age`, `s-maxage`).
#[derive(Default)]
struct Numeric {
    seen: bool,
    value: Option<u64>,
    conflict: bool,
}

impl Numeric {
    fn add(&mut self, raw: Option<&str>) {
        // A missing or invalid argument reads as 0: stale (§4.2.1).
        let n = raw.and_then(delta_seconds).unwrap_or(0);
        if self.seen && self.value != Some(n) {
            self.conflict = true;
        }
        self.seen = true;
        self.value = Some(n);
    }

    fn value(&self) -> Option<u64> {
        if self.conflict {
            Some(0)
        } else {
            self.value
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn cc(lines: &[&str]) -> CacheControl {
        let mut h = HeaderMap::new();
        for l in lines {
            h.append(header::CACHE_CONTROL, HeaderValue::from_str(l).unwrap());
        }
        parse(&h)
    }

    fn names(v: &[&str]) -> Option<Vec<String>> {
        Some(v.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn s5_2_no_header_is_default() {
        assert_eq!(parse(&HeaderMap::new()), CacheControl::default());
    }

    #[test]
    fn s5_2_2_response_directives() {
        let c = cc(&[
            "public, must-revalidate, proxy-revalidate, no-transform, must-understand",
            "immutable, max-age=60, s-maxage=30, no-store",
        ]);
        assert!(c.public && c.must_revalidate && c.proxy_revalidate && c.no_transform);
        assert!(c.must_understand && c.immutable && c.no_store);
        assert_eq!(c.max_age, Some(60));
        assert_eq!(c.s_maxage, Some(30));
        assert_eq!(c.no_cache, None);
        assert_eq!(c.private, None);
    }

    #[test]
    fn s5_2_names_case_insensitive() {
        let c = cc(&["Max-Age=5, NO-STORE, Private, S-MaxAge=7"]);
        assert_eq!(c.max_age, Some(5));
        assert_eq!(c.s_maxage, Some(7));
        assert!(c.no_store);
        assert!(c.private_unqualified());
    }

    #[test]
    fn s5_2_1_request_directives() {
        let c = cc(&["max-stale, min-fresh=10, only-if-cached, no-cache, max-age=0"]);
        assert_eq!(c.max_stale, Some(None));
        assert_eq!(c.min_fresh, Some(10));
        assert!(c.only_if_cached);
        assert!(c.no_cache_unqualified());
        assert_eq!(c.max_age, Some(0));
        assert_eq!(cc(&["max-stale=30"]).max_stale, Some(Some(30)));
    }

    #[test]
    fn s5_2_1_2_max_stale_most_restrictive() {
        assert_eq!(cc(&["max-stale, max-stale=30"]).max_stale, Some(Some(30)));
        assert_eq!(cc(&["max-stale=30, max-stale"]).max_stale, Some(Some(30)));
        assert_eq!(
            cc(&["max-stale=30, max-stale=10"]).max_stale,
            Some(Some(10))
        );
        // An invalid value is not "any staleness".
        assert_eq!(cc(&["max-stale=soon"]).max_stale, None);
    }

    #[test]
    fn s5_2_1_3_min_fresh_invalid_ignored_duplicates_keep_largest() {
        assert_eq!(cc(&["min-fresh=x"]).min_fresh, None);
        assert_eq!(cc(&["min-fresh=5, min-fresh=9"]).min_fresh, Some(9));
    }

    #[test]
    fn s5_2_2_4_no_cache_qualified_and_unqualified() {
        let c = cc(&[r#"no-cache="Set-Cookie, X-Foo""#]);
        assert_eq!(c.no_cache, names(&["set-cookie", "x-foo"]));
        assert!(!c.no_cache_unqualified());
        // Token form is accepted too.
        assert_eq!(cc(&["no-cache=x-bar"]).no_cache, names(&["x-bar"]));
        // Lists are unioned, unqualified wins whatever the order.
        let c = cc(&[r#"no-cache="a", no-cache="b, A""#]);
        assert_eq!(c.no_cache, names(&["a", "b"]));
        assert!(cc(&[r#"no-cache="a", no-cache"#]).no_cache_unqualified());
        assert!(cc(&[r#"no-cache, no-cache="a""#]).no_cache_unqualified());
        // An empty list is as restrictive as no list.
        assert!(cc(&[r#"no-cache="""#]).no_cache_unqualified());
    }

    #[test]
    fn s5_2_2_7_private_qualified() {
        let c = cc(&[r#"private="Authorization-Info", max-age=10"#]);
        assert_eq!(c.private, names(&["authorization-info"]));
        assert!(!c.private_unqualified());
        assert_eq!(c.max_age, Some(10));
        let c = cc(&[r#"private="x-a", no-cache="x-b, x-a""#]);
        assert_eq!(
            c.excluded_fields(),
            vec!["x-a".to_string(), "x-b".to_string()]
        );
    }

    #[test]
    fn s5_2_quoted_strings_keep_commas() {
        // The comma inside the quoted string does not start a new directive.
        let c = cc(&[r#"community="UCI, max-age=5", public"#]);
        assert_eq!(c.max_age, None);
        assert!(c.public);
        let c = cc(&[r#"private="a, b", no-store"#]);
        assert_eq!(c.private, names(&["a", "b"]));
        assert!(c.no_store);
        // Escapes inside quoted strings.
        let c = cc(&[r#"ext="a\"b, max-age=1", max-age=2"#]);
        assert_eq!(c.max_age, Some(2));
    }

    #[test]
    fn s5_2_3_unknown_directives_ignored() {
        let c = cc(&["stale-while-revalidate=30, foo, bar=baz, max-age=3"]);
        assert_eq!(
            c,
            CacheControl {
                max_age: Some(3),
                ..Default::default()
            }
        );
    }

    #[test]
    fn s5_2_empty_elements_and_whitespace() {
        let c = cc(&[" , ,max-age = 8 ,, \tno-store ,"]);
        assert_eq!(c.max_age, Some(8));
        assert!(c.no_store);
    }

    #[test]
    fn s5_2_2_1_quoted_delta_seconds_accepted() {
        assert_eq!(cc(&[r#"max-age="60""#]).max_age, Some(60));
        assert_eq!(cc(&[r#"s-maxage="7""#]).s_maxage, Some(7));
    }

    #[test]
    fn s4_2_1_invalid_max_age_is_stale() {
        for v in [
            "max-age=-1",
            "max-age=1.5",
            "max-age=",
            "max-age",
            "max-age=abc",
            "max-age=\"\"",
        ] {
            assert_eq!(cc(&[v]).max_age, Some(0), "{v}");
        }
        assert_eq!(cc(&["s-maxage=ten"]).s_maxage, Some(0));
    }

    #[test]
    fn s4_2_1_conflicting_duplicates_are_stale() {
        assert_eq!(cc(&["max-age=10, max-age=20"]).max_age, Some(0));
        assert_eq!(cc(&["max-age=10", "max-age=20"]).max_age, Some(0));
        assert_eq!(cc(&["max-age=10", "max-age=10"]).max_age, Some(10));
        assert_eq!(cc(&["s-maxage=1, s-maxage=2"]).s_maxage, Some(0));
    }

    #[test]
    fn s1_2_2_delta_seconds_saturate() {
        assert_eq!(cc(&["max-age=2147483647"]).max_age, Some(2_147_483_647));
        assert_eq!(cc(&["max-age=2147483649"]).max_age, Some(DELTA_SECONDS_MAX));
        let huge = format!("max-age={}", "9".repeat(400));
        assert_eq!(cc(&[&huge]).max_age, Some(DELTA_SECONDS_MAX));
        assert_eq!(delta_seconds("007"), Some(7));
        assert_eq!(delta_seconds("+7"), None);
        assert_eq!(delta_seconds(""), None);
    }

    #[test]
    fn s5_2_permissive_directives_with_arguments_ignored() {
        let c = cc(&["public=yes, immutable=1, no-store=1, must-revalidate=x"]);
        assert!(!c.public && !c.immutable);
        assert!(c.no_store && c.must_revalidate);
    }

    #[test]
    fn s5_2_never_panics_on_bytes() {
        let mut h = HeaderMap::new();
        for raw in [
            &b"max-age=5, \xff\xfe, private=\"\xe9t\xe9\""[..],
            b"\"unterminated, no-store",
            b"=, ==, =5, \"\", \\",
            b"no-cache=\"a\\",
            b"\x80max-age=1",
        ] {
            h.append(header::CACHE_CONTROL, HeaderValue::from_bytes(raw).unwrap());
        }
        let c = parse(&h);
        assert_eq!(c.max_age, Some(5));
        // `private="\xe9t\xe9"` names no valid field: treated as unqualified.
        assert!(c.private_unqualified());
        // The unterminated quote swallowed `no-store`.
        assert!(!c.no_store);
    }

    #[test]
    fn s5_4_pragma_only_without_cache_control() {
        let mut h = HeaderMap::new();
        h.insert(header::PRAGMA, HeaderValue::from_static("foo, No-Cache"));
        assert!(pragma_no_cache(&h));
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("max-age=5"));
        assert!(!pragma_no_cache(&h));
        let mut h = HeaderMap::new();
        h.insert(header::PRAGMA, HeaderValue::from_static("no-cache=1"));
        assert!(!pragma_no_cache(&h));
        assert!(!pragma_no_cache(&HeaderMap::new()));
    }

    #[test]
    fn rfc9110_5_6_1_list_elements() {
        assert_eq!(
            list_elements(b" a ,b,, \"c,d\" ,\te\t"),
            vec![&b"a"[..], b"b", b"\"c,d\"", b"e"]
        );
        assert!(list_elements(b" , ,").is_empty());
        assert_eq!(split_list(b""), vec![&b""[..]]);
        assert_eq!(split_list(b"a, ,b"), vec![&b"a"[..], b"", b"b"]);
        assert_eq!(trim_ows(b"  "), b"");
    }
}
