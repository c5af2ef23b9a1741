//! How long a partner may keep a primary's response (NOTE 4 of TS 23.282 7.5.2.4.3): the
//! primary's `Cache-Control` (`s-maxage`, `max-age`, less `Age`) or `Expires` (against
//! `Date`), else a local default, always capped by the local maximum. `no-store`,
//! `private`, `no-cache` and `Vary: *` responses are streamed through and not kept.

use std::time::{Duration, SystemTime};

use http::{header, HeaderMap};

/// Whether and how long to keep a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Storability {
    /// Keep it for `ttl` from now.
    Keep { ttl: Duration },
    /// Stream it through without keeping it, for the given reason.
    Pass(&'static str),
}

/// The local policy.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    pub default_ttl: Duration,
    pub max_ttl: Duration,
}

fn directives(headers: &HeaderMap) -> Vec<(String, Option<String>)> {
    headers
        .get_all(header::CACHE_CONTROL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|d| {
            let d = d.trim();
            if d.is_empty() {
                return None;
            }
            Some(match d.split_once('=') {
                Some((k, v)) => (
                    k.trim().to_ascii_lowercase(),
                    Some(v.trim().trim_matches('"').to_string()),
                ),
                None => (d.to_ascii_lowercase(), None),
            })
        })
        .collect()
}

fn date(headers: &HeaderMap, name: header::HeaderName) -> Option<Result<SystemTime, ()>> {
    let v = headers.get(name)?;
    Some(
        v.to_str()
            .ok()
            .and_then(|s| httpdate::parse_http_date(s).ok())
            .ok_or(()),
    )
}

impl Policy {
    /// Decide for a response with `headers`, received at `now`.
    pub fn decide(&self, headers: &HeaderMap, now: SystemTime) -> Storability {
        let d = directives(headers);
        let has = |name: &str| d.iter().any(|(k, _)| k == name);
        if has("no-store") {
            return Storability::Pass("no-store");
        }
        if has("private") {
            return Storability::Pass("private");
        }
        if has("no-cache") {
            return Storability::Pass("no-cache");
        }
        if headers
            .get_all(header::VARY)
            .iter()
            .any(|v| v.to_str().is_ok_and(|s| s.contains('*')))
        {
            return Storability::Pass("vary");
        }
        let seconds = |name: &str| {
            d.iter()
                .find(|(k, _)| k == name)
                .and_then(|(_, v)| v.as_deref())
                .map(|v| v.parse::<u64>().unwrap_or(0))
        };
        let age = headers
            .get(header::AGE)
            .and_then(|v| v.to_str().ok())
            .and_then(|s| s.trim().parse::<u64>().ok())
            .unwrap_or(0);
        let upstream = if let Some(s) = seconds("s-maxage").or_else(|| seconds("max-age")) {
            Some(Duration::from_secs(s.saturating_sub(age)))
        } else {
            match date(headers, header::EXPIRES) {
                Some(Ok(exp)) => {
                    let base = match date(headers, header::DATE) {
                        Some(Ok(d)) => d,
                        _ => now,
                    };
                    Some(exp.duration_since(base).unwrap_or(Duration::ZERO))
                }
                // An invalid Expires means "already expired" (RFC 9111 5.3).
                Some(Err(())) => Some(Duration::ZERO),
                None => None,
            }
        };
        let ttl = upstream.unwrap_or(self.default_ttl).min(self.max_ttl);
        if ttl.as_secs() == 0 {
            Storability::Pass("stale")
        } else {
            Storability::Keep { ttl }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    const P: Policy = Policy {
        default_ttl: Duration::from_secs(60),
        max_ttl: Duration::from_secs(3600),
    };

    fn h(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (k, v) in pairs {
            m.append(*k, HeaderValue::from_str(v).unwrap());
        }
        m
    }

    #[test]
    fn max_age_capped_and_age_subtracted() {
        let now = SystemTime::now();
        assert_eq!(
            P.decide(&h(&[("cache-control", "max-age=100")]), now),
            Storability::Keep {
                ttl: Duration::from_secs(100)
            }
        );
        assert_eq!(
            P.decide(&h(&[("cache-control", "public, max-age=100000")]), now),
            Storability::Keep {
                ttl: Duration::from_secs(3600)
            }
        );
        assert_eq!(
            P.decide(&h(&[("cache-control", "max-age=100, s-maxage=50")]), now),
            Storability::Keep {
                ttl: Duration::from_secs(50)
            }
        );
        assert_eq!(
            P.decide(&h(&[("cache-control", "max-age=100"), ("age", "30")]), now),
            Storability::Keep {
                ttl: Duration::from_secs(70)
            }
        );
        assert_eq!(
            P.decide(&h(&[]), now),
            Storability::Keep {
                ttl: Duration::from_secs(60)
            }
        );
    }

    #[test]
    fn expires_against_date() {
        let now = SystemTime::now();
        let date = httpdate::fmt_http_date(now);
        let exp = httpdate::fmt_http_date(now + Duration::from_secs(120));
        match P.decide(&h(&[("date", &date), ("expires", &exp)]), now) {
            Storability::Keep { ttl } => assert!((119..=120).contains(&ttl.as_secs())),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            P.decide(&h(&[("expires", "0")]), now),
            Storability::Pass("stale")
        );
    }

    #[test]
    fn not_kept() {
        let now = SystemTime::now();
        assert_eq!(
            P.decide(&h(&[("cache-control", "no-store")]), now),
            Storability::Pass("no-store")
        );
        assert_eq!(
            P.decide(&h(&[("cache-control", "private, max-age=60")]), now),
            Storability::Pass("private")
        );
        assert_eq!(
            P.decide(&h(&[("cache-control", "max-age=0")]), now),
            Storability::Pass("stale")
        );
        assert_eq!(
            P.decide(&h(&[("vary", "*")]), now),
            Storability::Pass("vary")
        );
    }
}
