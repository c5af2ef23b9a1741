//! Partner request targets: extracting the original primary URL from `GET /<absolute URL>`,
//! refusing smuggling tricks, and the allowlist of primary origins the proxy may contact.

use std::collections::HashMap;
use url::Url;

use crate::http::error::ApiError;
use crate::support::origin::Origin;

/// Why a partner request target cannot be served.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TargetError {
    /// The path is not `/<scheme>:...` at all (e.g. `/`, `/files/x`), or `url` rejected it.
    #[error("the path does not hold an absolute http(s) URL after the leading '/'")]
    NotAUrl,
    /// A smuggling trick or a forbidden construct; the text is a reason for the client.
    #[error("{0}")]
    Refused(String),
    /// Well-formed, but the origin is not a configured primary.
    #[error("origin {0} is not a primary system this server has an agreement with")]
    ForbiddenOrigin(String),
}

fn refused(reason: &str) -> TargetError {
    TargetError::Refused(reason.to_owned())
}

/// Parse the original URL out of a partner request target.
///
/// `path` is the request path as received (starts with '/', without the query), `query`
/// the raw query if any (`Some("")` for a bare trailing `?`, which is kept).
///
/// Returns the normalized original URL (lower-case scheme and host, default port removed,
/// `/` path for a bare authority, IPv4 in dotted-decimal form). This does NOT check the
/// allowlist: always follow with [`Allowlist::system_for`].
///
/// Errors:
/// * [`TargetError::NotAUrl`]: empty target, no `<scheme>:` at the start, or `url` rejects it
///   (e.g. port out of range).
/// * [`TargetError::Refused`], checked on the raw text before parsing: control characters,
///   spaces or non-ASCII anywhere; backslash or `#` anywhere (path or query); `?` inside
///   `path`; `%2f`/`%5c`/`%2e` (any case) in the path; a scheme other than http/https; anything
///   but exactly `scheme://` followed by a non-empty authority (`//host`, `/http:/host`,
///   `/http:///host`); userinfo (`@`) or any `%` in the authority; an empty host, host
///   characters outside `[A-Za-z0-9._-]` (or a bracketed IPv6 literal); a non-numeric port;
///   a `.` or `..` path segment.
///
/// Percent-encodings in the query are passed through untouched.
pub fn parse_prefixed(path: &str, query: Option<&str>) -> Result<Url, TargetError> {
    let rest = path.strip_prefix('/').ok_or(TargetError::NotAUrl)?;
    if rest.is_empty() {
        return Err(TargetError::NotAUrl);
    }
    if rest.starts_with('/') || rest.starts_with('\\') {
        return Err(refused("scheme-relative targets are not allowed"));
    }
    check_raw_chars(rest)?;
    if rest.contains('?') {
        return Err(refused("the query must not be part of the path"));
    }
    if let Some(q) = query {
        check_raw_chars(q)?;
    }

    // `scheme:` at the start, per RFC 3986 `ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )`.
    let (scheme, after_scheme) = rest.split_once(':').ok_or(TargetError::NotAUrl)?;
    let mut scheme_chars = scheme.chars();
    let scheme_ok = scheme_chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && scheme_chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if !scheme_ok {
        return Err(TargetError::NotAUrl);
    }
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return Err(refused("only http and https URLs can be proxied"));
    }
    let after_slashes = after_scheme
        .strip_prefix("//")
        .ok_or_else(|| refused("the URL must start with scheme://"))?;

    let lower = rest.to_ascii_lowercase();
    if lower.contains("%2f") || lower.contains("%5c") {
        return Err(refused("encoded slashes or backslashes are not allowed"));
    }
    if lower.contains("%2e") {
        return Err(refused("encoded dots are not allowed"));
    }

    let (authority, url_path) = match after_slashes.find('/') {
        Some(i) => after_slashes.split_at(i),
        None => (after_slashes, ""),
    };
    check_authority(authority)?;
    if url_path.split('/').any(|seg| seg == "." || seg == "..") {
        return Err(refused("dot segments are not allowed in the path"));
    }

    let full = match query {
        Some(q) => format!("{rest}?{q}"),
        None => rest.to_owned(),
    };
    let url = Url::parse(&full).map_err(|_| TargetError::NotAUrl)?;

    // Double check what the parser made of it.
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err(refused("only http and https URLs can be proxied"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(refused("user information is not allowed in the URL"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(refused("the URL has an empty host"));
    }
    if url.fragment().is_some() {
        return Err(refused("fragments are not allowed"));
    }
    Ok(url)
}

/// Refuse control characters, spaces, non-ASCII, backslashes and `#`.
fn check_raw_chars(s: &str) -> Result<(), TargetError> {
    for c in s.chars() {
        if c.is_ascii_control() || c == ' ' {
            return Err(refused("control characters and spaces are not allowed"));
        }
        if !c.is_ascii() {
            return Err(refused("non-ASCII characters are not allowed"));
        }
        if c == '\\' {
            return Err(refused("backslashes are not allowed"));
        }
        if c == '#' {
            return Err(refused("fragments are not allowed"));
        }
    }
    Ok(())
}

/// `host[:port]` with host a reg-name/IPv4 of `[A-Za-z0-9._-]` or a bracketed IPv6 literal.
fn check_authority(authority: &str) -> Result<(), TargetError> {
    if authority.contains('@') {
        return Err(refused("user information is not allowed in the URL"));
    }
    if authority.contains('%') {
        return Err(refused("percent-encoding is not allowed in the host"));
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (inside, after) = v6
            .split_once(']')
            .ok_or_else(|| refused("unterminated IPv6 literal"))?;
        if inside.is_empty()
            || !inside
                .chars()
                .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.')
        {
            return Err(refused("invalid IPv6 literal"));
        }
        let port = match after {
            "" => None,
            p => Some(
                p.strip_prefix(':')
                    .ok_or_else(|| refused("invalid text after the IPv6 literal"))?,
            ),
        };
        (inside, port)
    } else {
        let (host, port) = match authority.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        };
        if !host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        {
            return Err(refused("invalid characters in the host"));
        }
        (host, port)
    };
    if host.is_empty() {
        return Err(refused("the URL has an empty host"));
    }
    if port.is_some_and(|p| !p.chars().all(|c| c.is_ascii_digit())) {
        return Err(refused("invalid port"));
    }
    Ok(())
}

/// The configured primaries: origin of each content server base URL -> system id.
#[derive(Debug, Clone, Default)]
pub struct Allowlist {
    systems: HashMap<Origin, String>,
}

impl Allowlist {
    /// Build from `(system id, content server base URL)` pairs. Only the origin of each
    /// base URL is kept (its path is ignored). Entries whose URL has no http(s) origin are
    /// skipped; when two systems share an origin the first one wins. Validate configuration
    /// beforehand with [`Origin::of`] if these cases must be reported.
    pub fn new<I: IntoIterator<Item = (String, Url)>>(entries: I) -> Self {
        let mut systems = HashMap::new();
        for (id, base) in entries {
            if let Some(origin) = Origin::of(&base) {
                systems.entry(origin).or_insert(id);
            }
        }
        Allowlist { systems }
    }

    /// The system id owning this URL's origin, or [`TargetError::ForbiddenOrigin`]. The
    /// comparison is exact on (scheme, host, port): no subdomain, scheme or port leeway.
    pub fn system_for(&self, url: &Url) -> Result<&str, TargetError> {
        let origin = Origin::of(url)
            .ok_or_else(|| TargetError::ForbiddenOrigin(url.origin().ascii_serialization()))?;
        match self.systems.get(&origin) {
            Some(id) => Ok(id),
            None => Err(TargetError::ForbiddenOrigin(origin.to_string())),
        }
    }
}

/// True when `url`, an original URL on a peer's content server, is itself a
/// partner-prefixed URL there (`http://peer/http://...`): fetching it would make the peer
/// fetch for us, and nested prefixes loop between systems. Refused.
pub fn is_partner_prefixed(url: &Url) -> bool {
    let path = url.path().trim_start_matches('/');
    let starts = |scheme: &str| {
        path.get(..scheme.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(scheme))
    };
    starts("http:") || starts("https:")
}

impl From<TargetError> for ApiError {
    fn from(e: TargetError) -> Self {
        match e {
            TargetError::NotAUrl => ApiError::NotFound(e.to_string()),
            TargetError::Refused(_) | TargetError::ForbiddenOrigin(_) => {
                ApiError::Forbidden(e.to_string())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    fn allow() -> Allowlist {
        Allowlist::new([("sys-a".to_owned(), url("http://127.0.0.1:8080/"))])
    }

    fn is_refused(r: Result<Url, TargetError>) -> bool {
        matches!(r, Err(TargetError::Refused(_)))
    }

    /// Parse then check the allowlist, as the proxy does.
    fn resolve(path: &str) -> Result<String, TargetError> {
        let u = parse_prefixed(path, None)?;
        allow().system_for(&u).map(str::to_owned)
    }

    #[test]
    fn happy_path() {
        let u = parse_prefixed("/http://127.0.0.1:8080/files/3f2a", None).unwrap();
        assert_eq!(u.as_str(), "http://127.0.0.1:8080/files/3f2a");
        assert_eq!(allow().system_for(&u), Ok("sys-a"));
    }

    #[test]
    fn query_kept() {
        let u = parse_prefixed("/http://127.0.0.1:8080/files/3f2a", Some("v=1&x=%2F")).unwrap();
        assert_eq!(u.as_str(), "http://127.0.0.1:8080/files/3f2a?v=1&x=%2F");
        assert_eq!(u.query(), Some("v=1&x=%2F"));
        let u = parse_prefixed("/http://127.0.0.1:8080/f", Some("")).unwrap();
        assert_eq!(u.as_str(), "http://127.0.0.1:8080/f?");
    }

    #[test]
    fn query_tricks_refused() {
        for q in ["a#b", "a b", "a\\b", "a\nb", "caf\u{e9}"] {
            assert!(
                is_refused(parse_prefixed("/http://127.0.0.1:8080/f", Some(q))),
                "{q}"
            );
        }
        assert!(is_refused(parse_prefixed(
            "/http://127.0.0.1:8080/f?x=1",
            None
        )));
    }

    #[test]
    fn bare_authority_gets_root_path() {
        let u = parse_prefixed("/http://127.0.0.1:8080", None).unwrap();
        assert_eq!(u.as_str(), "http://127.0.0.1:8080/");
        assert_eq!(allow().system_for(&u), Ok("sys-a"));
    }

    #[test]
    fn default_ports() {
        let a = Origin::of(&url("http://h/x")).unwrap();
        let b = Origin::of(&url("http://h:80/x")).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.port, 80);
        assert_eq!(a.to_string(), "http://h:80");
        let s = Origin::of(&url("https://h/x")).unwrap();
        assert_eq!(s, Origin::of(&url("https://h:443/")).unwrap());
        assert_eq!(s.to_string(), "https://h:443");
        assert_ne!(a, s);

        let list = Allowlist::new([("d".to_owned(), url("http://h/"))]);
        let u = parse_prefixed("/http://h:80/x", None).unwrap();
        assert_eq!(u.as_str(), "http://h/x");
        assert_eq!(list.system_for(&u), Ok("d"));
        let u = parse_prefixed("/http://h:8080/x", None).unwrap();
        assert!(matches!(
            list.system_for(&u),
            Err(TargetError::ForbiddenOrigin(_))
        ));
    }

    #[test]
    fn uppercase_normalizes() {
        let u = parse_prefixed("/HTTP://LocalHost:8080/Files/X", None).unwrap();
        assert_eq!(u.as_str(), "http://localhost:8080/Files/X");
        let o = Origin::of(&u).unwrap();
        assert_eq!(o.host, "localhost");
        assert_eq!(o.scheme, "http");
        let list = Allowlist::new([("s".to_owned(), url("http://LOCALHOST:8080"))]);
        assert_eq!(list.system_for(&u), Ok("s"));
    }

    #[test]
    fn origin_display_and_non_http() {
        assert_eq!(
            Origin::of(&url("http://127.0.0.1:8080/a?b"))
                .unwrap()
                .to_string(),
            "http://127.0.0.1:8080"
        );
        assert_eq!(
            Origin::of(&url("http://[::1]:8080/")).unwrap().to_string(),
            "http://[::1]:8080"
        );
        assert_eq!(Origin::of(&url("ftp://h/x")), None);
        assert_eq!(Origin::of(&url("file:///etc/passwd")), None);
        assert_eq!(Origin::of(&url("data:text/plain,x")), None);
    }

    #[test]
    fn userinfo_refused() {
        assert!(is_refused(parse_prefixed(
            "/http://127.0.0.1:8080@evil.com/files/x",
            None
        )));
        assert!(is_refused(parse_prefixed(
            "/http://u:p@127.0.0.1:8080/x",
            None
        )));
        assert!(is_refused(parse_prefixed(
            "/http://@127.0.0.1:8080/x",
            None
        )));
    }

    #[test]
    fn fragment_refused() {
        assert!(is_refused(parse_prefixed(
            "/http://evil.com#@127.0.0.1:8080/",
            None
        )));
        assert!(is_refused(parse_prefixed(
            "/http://127.0.0.1:8080/x#y",
            None
        )));
    }

    #[test]
    fn dot_segments_refused() {
        for p in [
            "/http://127.0.0.1:8080/files/../../x",
            "/http://127.0.0.1:8080/files/./x",
            "/http://127.0.0.1:8080/..",
            "/http://127.0.0.1:8080/files/..",
            "/http://127.0.0.1:8080/.",
        ] {
            assert!(is_refused(parse_prefixed(p, None)), "{p}");
        }
        // dots inside a segment are fine
        let u = parse_prefixed("/http://127.0.0.1:8080/files/a..b/.x/x.", None).unwrap();
        assert_eq!(u.path(), "/files/a..b/.x/x.");
    }

    #[test]
    fn encoded_tricks_refused() {
        for p in [
            "/http://127.0.0.1:8080/files/%2e%2e/x",
            "/http://127.0.0.1:8080/files/%2E%2E/x",
            "/http://127.0.0.1:8080/files/.%2e/x",
            "/http://127.0.0.1:8080/files%2fx",
            "/http://127.0.0.1:8080/files%2Fx",
            "/http://127.0.0.1:8080/files%5cx",
            "/http://127.0.0.1:8080/files%5Cx",
            "/http://127.0.0.1%3a8080/x",
            "/http://127.0.0.1%2e/x",
            "/http://ex%61mple.com/x",
        ] {
            assert!(is_refused(parse_prefixed(p, None)), "{p}");
        }
        // other percent-encodings in the path are allowed and kept
        let u = parse_prefixed("/http://127.0.0.1:8080/files/a%20b", None).unwrap();
        assert_eq!(u.path(), "/files/a%20b");
    }

    #[test]
    fn scheme_form_refused() {
        for p in [
            "/http:/127.0.0.1:8080/x",
            "/http:\\\\127.0.0.1:8080/x",
            "/http:127.0.0.1:8080/x",
            "/http:///127.0.0.1:8080/x",
            "//127.0.0.1:8080/x",
            "/\\\\127.0.0.1:8080/x",
            "/ftp://127.0.0.1:8080/x",
            "/file:///etc/passwd",
            "/javascript:alert(1)",
            "/httpx://127.0.0.1:8080/x",
        ] {
            assert!(is_refused(parse_prefixed(p, None)), "{p}");
        }
    }

    #[test]
    fn chars_refused() {
        for p in [
            "/http://127.0.0.1:8080/a b",
            "/http://127.0.0.1:8080/a\tb",
            "/http://127.0.0.1:8080/a\nb",
            "/http://127.0.0.1:8080/a\u{7f}",
            "/ http://127.0.0.1:8080/x",
            "/http://127.0.0.1:8080/a\\b",
            "/http://127.0.0.1\u{ff0e}evil.com/x",
            "/http://127.0.0.1:8080/caf\u{e9}",
        ] {
            assert!(is_refused(parse_prefixed(p, None)), "{p:?}");
        }
    }

    #[test]
    fn other_port_or_scheme_forbidden() {
        assert_eq!(
            resolve("/http://127.0.0.1:8081/files/x"),
            Err(TargetError::ForbiddenOrigin("http://127.0.0.1:8081".into()))
        );
        assert_eq!(
            resolve("/https://127.0.0.1:8080/x"),
            Err(TargetError::ForbiddenOrigin(
                "https://127.0.0.1:8080".into()
            ))
        );
        assert_eq!(
            resolve("/http://127.0.0.1/x"),
            Err(TargetError::ForbiddenOrigin("http://127.0.0.1:80".into()))
        );
        assert_eq!(
            resolve("/http://localhost:8080/x"),
            Err(TargetError::ForbiddenOrigin("http://localhost:8080".into()))
        );
    }

    #[test]
    fn lookalike_hosts() {
        assert_eq!(
            resolve("/http://127.0.0.1.evil.com:8080/x"),
            Err(TargetError::ForbiddenOrigin(
                "http://127.0.0.1.evil.com:8080".into()
            ))
        );
        // the port is not a number: refused before the URL parser sees it
        assert!(matches!(
            resolve("/http://127.0.0.1:8080.evil.com/x"),
            Err(TargetError::Refused(_))
        ));
        assert!(matches!(
            resolve("/http://127.0.0.1:8080:80/x"),
            Err(TargetError::Refused(_))
        ));
        assert!(matches!(
            resolve("/http://127.0.0.1;evil.com:8080/x"),
            Err(TargetError::Refused(_))
        ));
    }

    #[test]
    fn ipv6_not_allowed_when_only_ipv4_is() {
        assert_eq!(
            resolve("/http://[::1]:8080/x"),
            Err(TargetError::ForbiddenOrigin("http://[::1]:8080".into()))
        );
        assert_eq!(
            resolve("/http://[::ffff:127.0.0.1]:8080/x"),
            Err(TargetError::ForbiddenOrigin(
                "http://[::ffff:7f00:1]:8080".into()
            ))
        );
        assert!(is_refused(parse_prefixed("/http://[::1:8080/x", None)));
        assert!(is_refused(parse_prefixed("/http://[::1]x:8080/x", None)));
        assert!(is_refused(parse_prefixed("/http://[]:8080/x", None)));
        // an allowed IPv6 primary works
        let list = Allowlist::new([("v6".to_owned(), url("http://[::1]:8080"))]);
        let u = parse_prefixed("/http://[0:0::1]:8080/x", None).unwrap();
        assert_eq!(u.as_str(), "http://[::1]:8080/x");
        assert_eq!(list.system_for(&u), Ok("v6"));
    }

    /// Alternative IPv4 spellings are normalized by `url` to dotted-decimal before the
    /// allowlist check. Allowing them is safe: the origin that is compared is exactly the
    /// one that will be contacted (the request is made from the normalized URL).
    #[test]
    fn alternative_ipv4_forms_normalize_and_are_allowed() {
        for p in [
            "/http://2130706433:8080/x",
            "/http://0x7f000001:8080/x",
            "/http://0x7f.1:8080/x",
            "/http://127.1:8080/x",
            "/http://0177.0.0.1:8080/x",
        ] {
            let u = parse_prefixed(p, None).unwrap();
            assert_eq!(u.as_str(), "http://127.0.0.1:8080/x", "{p}");
            assert_eq!(allow().system_for(&u), Ok("sys-a"), "{p}");
        }
    }

    #[test]
    fn not_urls() {
        assert_eq!(parse_prefixed("/", None), Err(TargetError::NotAUrl));
        assert_eq!(parse_prefixed("", None), Err(TargetError::NotAUrl));
        assert_eq!(
            parse_prefixed("http://h/x", None),
            Err(TargetError::NotAUrl)
        );
        assert_eq!(
            parse_prefixed("/files/3f2a", None),
            Err(TargetError::NotAUrl)
        );
        assert_eq!(parse_prefixed("/3f2a", None), Err(TargetError::NotAUrl));
        assert_eq!(parse_prefixed("/:x", None), Err(TargetError::NotAUrl));
        // port out of range: rejected by the URL parser
        assert_eq!(
            parse_prefixed("/http://127.0.0.1:99999/x", None),
            Err(TargetError::NotAUrl)
        );
    }

    #[test]
    fn empty_host_refused() {
        for p in [
            "/http://",
            "/https://",
            "/http:///x",
            "/http://:8080/x",
            "/http://?",
        ] {
            assert!(is_refused(parse_prefixed(p, None)), "{p}");
        }
        assert!(is_refused(parse_prefixed("/http://", Some("x"))));
    }

    #[test]
    fn empty_port_is_default() {
        let u = parse_prefixed("/http://127.0.0.1:/x", None).unwrap();
        assert_eq!(u.as_str(), "http://127.0.0.1/x");
    }

    #[test]
    fn allowlist_construction() {
        let list = Allowlist::new([
            ("a".to_owned(), url("http://127.0.0.1:8080/base/path/")),
            ("b".to_owned(), url("http://127.0.0.1:8080/")),
            ("bad".to_owned(), url("ftp://127.0.0.1:21/")),
            ("s".to_owned(), url("https://primary.example")),
        ]);
        // path of the base URL is ignored; first system wins on a shared origin
        assert_eq!(
            list.system_for(&url("http://127.0.0.1:8080/other")),
            Ok("a")
        );
        assert_eq!(
            list.system_for(&url("https://primary.example:443/f")),
            Ok("s")
        );
        assert_eq!(
            list.system_for(&url("ftp://127.0.0.1:21/")),
            Err(TargetError::ForbiddenOrigin("ftp://127.0.0.1".into()))
        );
        assert!(matches!(
            Allowlist::default().system_for(&url("http://127.0.0.1:8080/")),
            Err(TargetError::ForbiddenOrigin(_))
        ));
    }

    #[test]
    fn prefixed_round_trips() {
        let original = url("http://127.0.0.1:8080/files/3f2a?v=1");
        let p = crate::support::origin::prefixed("http://partner.example:9000/", original.as_str());
        assert_eq!(
            p,
            "http://partner.example:9000/http://127.0.0.1:8080/files/3f2a?v=1"
        );
        assert_eq!(
            crate::support::origin::prefixed("http://partner.example:9000", original.as_str()),
            "http://partner.example:9000/http://127.0.0.1:8080/files/3f2a?v=1"
        );
        let target = url(&p);
        let back = parse_prefixed(target.path(), target.query()).unwrap();
        assert_eq!(back, original);
    }
}
