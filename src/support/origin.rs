//! URL origins (scheme, host, port) and the partner-prefixed form of a URL
//! (`<partner content server URI>/<original URL>`, TS 23.282 7.5.2.4.3 step 5).

use std::fmt;

use url::Url;

/// The origin (scheme, lower-case host, port with the scheme's default filled in) of an
/// absolute http(s) URL.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Origin {
    /// `http` or `https`.
    pub scheme: String,
    /// Lower-case host as serialized by `url` (IPv6 in brackets, IPv4 dotted-decimal).
    pub host: String,
    /// Explicit port, or the scheme's default (80/443).
    pub port: u16,
}

impl Origin {
    /// The origin of `url`; `None` unless it is an http(s) URL with a non-empty host.
    pub fn of(url: &Url) -> Option<Origin> {
        let scheme = url.scheme();
        if scheme != "http" && scheme != "https" {
            return None;
        }
        let host = url.host_str().filter(|h| !h.is_empty())?;
        let port = url.port_or_known_default()?;
        Some(Origin {
            scheme: scheme.to_owned(),
            host: host.to_ascii_lowercase(),
            port,
        })
    }
}

impl fmt::Display for Origin {
    /// `http://127.0.0.1:8080`, always with the port.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}:{}", self.scheme, self.host, self.port)
    }
}

/// True when two absolute URLs have the same origin (scheme, host, port).
pub fn same_origin(a: &str, b: &str) -> bool {
    match (Url::parse(a), Url::parse(b)) {
        (Ok(a), Ok(b)) => Origin::of(&a).is_some() && Origin::of(&a) == Origin::of(&b),
        _ => false,
    }
}

/// The prefixed URL a client of a partner uses for `original`:
/// `<partner base without trailing '/'>/<original>`.
pub fn prefixed(partner_base: &str, original: &str) -> String {
    format!("{}/{original}", partner_base.trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixed_joins_with_one_slash() {
        let original = "http://127.0.0.1:8080/files/3f2a?v=1";
        let want = "http://partner.example:9000/http://127.0.0.1:8080/files/3f2a?v=1";
        assert_eq!(prefixed("http://partner.example:9000/", original), want);
        assert_eq!(prefixed("http://partner.example:9000", original), want);
    }

    #[test]
    fn origins() {
        assert!(same_origin("http://H:80/a", "http://h/b"));
        assert!(!same_origin("http://h/a", "https://h/a"));
        assert!(!same_origin("http://h:81/a", "http://h/a"));
        assert!(!same_origin("not a url", "http://h/a"));
        assert!(!same_origin("ftp://h/a", "ftp://h/a"));
    }
}
