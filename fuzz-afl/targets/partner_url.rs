//! Partner request targets (`mcdata::partner::target::parse_prefixed`): the input is a
//! request target `/<original URL>[?query]`, split at the first `?` as `http::Uri` does.
//! Parsing must never panic, and a URL it accepts must be what the checks promise: http(s),
//! a non-empty host, no userinfo, no fragment, no dot segments, visible ASCII only, with the
//! host `url` parsed equal to the host the raw-text checks saw (no smuggling between the
//! two parsers), and re-parsing its own serialization gives it back unchanged. Origins,
//! the allowlist and `is_partner_prefixed` run on it too.

use mcdata::partner::target::{is_partner_prefixed, parse_prefixed, Allowlist};
use mcdata::support::origin::{prefixed, same_origin, Origin};
use url::{Host, Url};

fn main() {
    let primary = Url::parse("http://127.0.0.1:8080/").expect("constant URL");
    let allow = Allowlist::new([("A".to_owned(), primary.clone())]);
    let primary_origin = Origin::of(&primary).expect("constant URL");

    afl::fuzz!(|data: &[u8]| {
        let Ok(target) = std::str::from_utf8(data) else {
            return;
        };
        let (path, query) = match target.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (target, None),
        };
        // The plain helpers take any text.
        let _ = same_origin(target, path);
        let _ = prefixed("http://partner.example:9000/", target);

        let Ok(url) = parse_prefixed(path, query) else {
            return;
        };
        let s = url.as_str();
        assert!(
            matches!(url.scheme(), "http" | "https"),
            "{target:?} -> {s}"
        );
        assert!(
            url.username().is_empty() && url.password().is_none(),
            "{target:?} -> {s}"
        );
        assert!(url.fragment().is_none(), "{target:?} -> {s}");
        assert!(
            url.host_str().is_some_and(|h| !h.is_empty()),
            "{target:?} -> {s}"
        );
        assert!(
            s.bytes()
                .all(|b| b.is_ascii_graphic() && b != b'\\' && b != b'#'),
            "{target:?} -> {s}"
        );
        assert!(
            !url.path().split('/').any(|seg| seg == "." || seg == ".."),
            "{target:?} -> {s}"
        );

        // The host the raw checks saw (between `//` and the next `/` or `:`) is the one
        // `url` connects to, up to case (IP literals are normalized, so only names compare).
        if let Some(Host::Domain(domain)) = url.host() {
            let authority = path
                .split_once("//")
                .map_or("", |(_, rest)| rest.split('/').next().unwrap_or(""));
            let raw_host = authority.rsplit_once(':').map_or(authority, |(h, _)| h);
            assert_eq!(domain, raw_host.to_ascii_lowercase(), "{target:?} -> {s}");
        }

        // Normalized output is a fixed point.
        let (again_path, again_query) = match s.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (s, None),
        };
        let again = parse_prefixed(&format!("/{again_path}"), again_query);
        assert_eq!(
            again.as_ref(),
            Ok(&url),
            "{target:?} -> {s} does not parse back"
        );

        let origin = Origin::of(&url).unwrap_or_else(|| panic!("{s} has no origin"));
        assert!(same_origin(s, s), "{s}");
        match allow.system_for(&url) {
            Ok(id) => assert!(id == "A" && origin == primary_origin, "{s} -> {id}"),
            Err(_) => assert_ne!(origin, primary_origin, "{s} refused"),
        }
        let _ = is_partner_prefixed(&url);
    });
}
