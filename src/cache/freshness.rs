//! Freshness, age and storability for a shared cache (RFC 9111 §3, §4.2), and the
//! operator's [`Policy`] on top of them: whether a response may be stored, how long it stays
//! fresh, how old it already is, whether a stored response can answer a request now
//! ([`usable`]), and how long the partner keeps it ([`Policy::decide`]). Pure functions of
//! headers and clock readings; the caller does the I/O.

use std::time::{Duration, SystemTime};

use http::{header, HeaderMap, HeaderValue, Method, StatusCode};

use super::directives::{delta_seconds, CacheControl};
use super::vary::{vary_fields, VaryFields};

/// The clock readings around one exchange with the primary (RFC 9111 §4.2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// When the request that produced the response was sent.
    pub request_time: SystemTime,
    /// When the response (its header section) was received.
    pub response_time: SystemTime,
}

/// Parses an HTTP-date (RFC 9110 §5.6.7) in any of its three forms, matching names
/// case-insensitively (RFC 9111 §4.2). Only `GMT` is accepted as zone; anything else is
/// `None`.
pub fn parse_http_date(value: &HeaderValue) -> Option<SystemTime> {
    let s = std::str::from_utf8(value.as_bytes()).ok()?.trim();
    if let Ok(t) = httpdate::parse_http_date(s) {
        return Some(t);
    }
    // Canonical capitalisation: "thu, 01 dec 1994 16:00:00 gmt" -> "Thu, 01 Dec ... GMT".
    let mut canon = String::with_capacity(s.len());
    let mut word_start = true;
    for c in s.chars() {
        if c.is_ascii_alphabetic() {
            canon.push(if word_start {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            });
            word_start = false;
        } else {
            canon.push(c);
            word_start = true;
        }
    }
    let canon = canon.replace("Gmt", "GMT");
    httpdate::parse_http_date(&canon).ok()
}

/// The first `name` field line as an HTTP-date: `None` if absent, `Some(None)` if invalid.
fn date_field(headers: &HeaderMap, name: header::HeaderName) -> Option<Option<SystemTime>> {
    headers.get(name).map(parse_http_date)
}

/// `Date`, or the time the response was received when it is absent or invalid (RFC 9110
/// §6.6.1).
fn date_value(resp: &HeaderMap, t: &Timing) -> SystemTime {
    date_field(resp, header::DATE)
        .flatten()
        .unwrap_or(t.response_time)
}

/// `a - b`, or zero when `b` is later.
fn since(a: SystemTime, b: SystemTime) -> Duration {
    a.duration_since(b).unwrap_or(Duration::ZERO)
}

/// `age_value` (RFC 9111 §4.2.3, §5.1): the first `Age` line as delta-seconds (saturating
/// at 2^31), 0 when absent or invalid.
pub fn age_value(resp: &HeaderMap) -> Duration {
    let secs = resp
        .get(header::AGE)
        .and_then(|v| std::str::from_utf8(v.as_bytes()).ok())
        .and_then(|s| delta_seconds(s.trim()))
        .unwrap_or(0);
    Duration::from_secs(secs)
}

/// `corrected_initial_age` (RFC 9111 §4.2.3), the conservative form:
/// `max(apparent_age, age_value + response_delay)`, with `apparent_age =
/// max(0, response_time - date_value)` (0 without a valid `Date`) and `response_delay =
/// response_time - request_time`.
pub fn corrected_initial_age(resp: &HeaderMap, t: &Timing) -> Duration {
    let apparent_age = match date_field(resp, header::DATE).flatten() {
        Some(date) => since(t.response_time, date),
        None => Duration::ZERO,
    };
    let response_delay = since(t.response_time, t.request_time);
    let corrected_age_value = age_value(resp).saturating_add(response_delay);
    apparent_age.max(corrected_age_value)
}

/// `current_age = corrected_initial_age + (now - response_time)` (RFC 9111 §4.2.3); a clock
/// that went backwards adds nothing.
pub fn current_age(initial: Duration, response_time: SystemTime, now: SystemTime) -> Duration {
    initial.saturating_add(since(now, response_time))
}

/// The heuristic of RFC 9111 §4.2.2: a fraction of the time since `Last-Modified`, capped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Heuristic {
    /// Percent of `Date - Last-Modified` (10 by default, the RFC's "typical setting").
    pub fraction_percent: u32,
    /// The largest heuristic lifetime (1 day by default).
    pub max: Duration,
    /// The heuristic lifetime of a `public` response without a usable `Last-Modified`
    /// (60 s by default, still capped by `max`).
    pub public: Duration,
}

impl Default for Heuristic {
    fn default() -> Self {
        Heuristic {
            fraction_percent: 10,
            max: Duration::from_secs(24 * 3600),
            public: Duration::from_secs(60),
        }
    }
}

/// A response's freshness lifetime (RFC 9111 §4.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifetime {
    /// From `s-maxage`, `max-age` or `Expires`.
    Explicit(Duration),
    /// Assigned by the cache (§4.2.2).
    Heuristic(Duration),
    /// Neither: the response is never fresh.
    None,
}

impl Lifetime {
    /// The lifetime, zero for [`Lifetime::None`].
    pub fn duration(&self) -> Duration {
        match self {
            Lifetime::Explicit(d) | Lifetime::Heuristic(d) => *d,
            Lifetime::None => Duration::ZERO,
        }
    }
}

/// Heuristically cacheable status codes (RFC 9110 §15.1; "cacheable by default" before):
/// 200, 203, 204, 206, 300, 301, 308, 404, 405, 410, 414, 501.
pub fn cacheable_by_default(status: StatusCode) -> bool {
    matches!(
        status.as_u16(),
        200 | 203 | 204 | 206 | 300 | 301 | 308 | 404 | 405 | 410 | 414 | 501
    )
}

/// The status codes whose caching requirements this cache implements, for
/// `must-understand` (RFC 9111 §5.2.2.3, §3): the heuristically cacheable ones except 206,
/// since partial responses are never stored.
pub fn understood(status: StatusCode) -> bool {
    cacheable_by_default(status) && status != StatusCode::PARTIAL_CONTENT
}

/// The freshness lifetime for a shared cache (RFC 9111 §4.2.1), first match of: `s-maxage`;
/// `max-age`; `Expires - Date` (`Date` absent or invalid: the response time; `Expires`
/// invalid, or on more than one line: already expired, `Explicit(0)`, §5.3); else the
/// heuristic (§4.2.2), only for a heuristically cacheable status or `public`, when
/// `Last-Modified` is valid and earlier than `Date`: `fraction_percent` of the interval,
/// capped at `heuristic.max`.
pub fn freshness_lifetime(
    status: StatusCode,
    resp: &HeaderMap,
    cc: &CacheControl,
    heuristic: &Heuristic,
    t: &Timing,
) -> Lifetime {
    if let Some(s) = cc.s_maxage.or(cc.max_age) {
        return Lifetime::Explicit(Duration::from_secs(s));
    }
    let mut expires = resp.get_all(header::EXPIRES).iter();
    if let Some(first) = expires.next() {
        if expires.next().is_some() {
            return Lifetime::Explicit(Duration::ZERO);
        }
        return Lifetime::Explicit(match parse_http_date(first) {
            Some(exp) => since(exp, date_value(resp, t)),
            None => Duration::ZERO,
        });
    }
    if !(cacheable_by_default(status) || cc.public) {
        return Lifetime::None;
    }
    // `public` says the response may be reused without other freshness information
    // (§5.2.2.9): without a Last-Modified to reason from, it gets `heuristic.public`.
    let public = || {
        if cc.public {
            Lifetime::Heuristic(heuristic.public.min(heuristic.max))
        } else {
            Lifetime::None
        }
    };
    let Some(Some(last_modified)) = date_field(resp, header::LAST_MODIFIED) else {
        return public();
    };
    let date = date_value(resp, t);
    if last_modified >= date {
        return public();
    }
    let interval = since(date, last_modified).as_secs();
    let secs = u128::from(interval) * u128::from(heuristic.fraction_percent) / 100;
    let secs = u64::try_from(secs).unwrap_or(u64::MAX);
    Lifetime::Heuristic(Duration::from_secs(secs).min(heuristic.max))
}

/// Whether a response may be stored (RFC 9111 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Storable {
    Yes,
    /// Not storable, with a short reason.
    No(&'static str),
}

/// Whether the response has a validator (`ETag` or `Last-Modified`) to revalidate with.
pub fn has_validator(resp: &HeaderMap) -> bool {
    resp.contains_key(header::ETAG) || resp.contains_key(header::LAST_MODIFIED)
}

/// RFC 9111 §3 for a shared cache. Stored only when: the method is GET (a HEAD response
/// has no body to store); the status is final and neither 206 nor 304 (partials are not
/// stored); neither request nor response has `no-store` (a response's `no-store` is ignored
/// under `must-understand` with an [`understood`] status, §5.2.2.3; `must-understand` with
/// any other status is not stored); the response has no unqualified `private` (qualified
/// `private` is storable, `fields::to_store` drops the named fields); no `Vary: *`
/// (§4.1: it could never be reused); and the response carries one of `public`, `Expires`,
/// `max-age`, `s-maxage`, a heuristically cacheable status with a heuristic lifetime, or an
/// unqualified `no-cache` with a validator (stored, but revalidated on every use).
///
/// The §3.5 rule on requests with `Authorization` does not apply here: the only
/// `Authorization` the partner sends upstream is its own agreement credential towards the
/// primary, never a user's, so every response it gets is meant for the partner system as a
/// whole. The caller never forwards a client's `Authorization` (see `fields::to_forward`).
pub fn storable(
    method: &Method,
    status: StatusCode,
    req_cc: &CacheControl,
    resp: &HeaderMap,
    cc: &CacheControl,
    lifetime: &Lifetime,
) -> Storable {
    if method != Method::GET {
        return Storable::No("method");
    }
    if status.is_informational()
        || status == StatusCode::PARTIAL_CONTENT
        || status == StatusCode::NOT_MODIFIED
    {
        return Storable::No("status");
    }
    if cc.must_understand && !understood(status) {
        return Storable::No("must-understand");
    }
    if req_cc.no_store || (cc.no_store && !cc.must_understand) {
        return Storable::No("no-store");
    }
    if cc.private_unqualified() {
        return Storable::No("private");
    }
    if vary_fields(resp) == VaryFields::Star {
        return Storable::No("vary-star");
    }
    let allowed = cc.public
        || resp.contains_key(header::EXPIRES)
        || cc.max_age.is_some()
        || cc.s_maxage.is_some()
        || (cacheable_by_default(status) && matches!(lifetime, Lifetime::Heuristic(_)))
        || (cc.no_cache_unqualified() && has_validator(resp));
    if allowed {
        Storable::Yes
    } else {
        Storable::No("no-lifetime")
    }
}

/// Whether a stored response is fresh (RFC 9111 §4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Usability {
    Fresh,
    Stale,
}

impl Usability {
    /// `response_is_fresh = (freshness_lifetime > current_age)`.
    pub fn of(lifetime: Duration, current_age: Duration) -> Usability {
        if lifetime > current_age {
            Usability::Fresh
        } else {
            Usability::Stale
        }
    }
}

/// What to do with a stored response for a request (RFC 9111 §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Use {
    /// Serve it as is.
    Fresh,
    /// Serve it although stale: the request's `max-stale` allows it (§4.2.4, §5.2.1.2).
    ServeStale,
    /// Validate it with the primary first (§4.3).
    Revalidate,
}

/// Whether a stored response with freshness lifetime `stored_lifetime` and age
/// `current_age` can answer a request with `req_cc` (and `Pragma: no-cache` when
/// `req_pragma_no_cache`, see `directives::pragma_no_cache`):
/// - response unqualified `no-cache` (§5.2.2.4), request `no-cache` (§5.2.1.4) or Pragma:
///   revalidate (qualified response `no-cache` is usable, the caller drops the fields);
/// - request `max-age` below the age (§5.2.1.1), or `min-fresh` that the remaining
///   freshness does not exceed (§5.2.1.3): revalidate;
/// - fresh (§4.2): fresh;
/// - stale: served only within the request's `max-stale` (§5.2.1.2), and never when the
///   response has `must-revalidate`, `proxy-revalidate`, `s-maxage` or `no-cache`
///   (§4.2.4, §5.2.2.2, §5.2.2.8, §5.2.2.10); else revalidate.
pub fn usable(
    stored_lifetime: Duration,
    current_age: Duration,
    resp_cc: &CacheControl,
    req_cc: &CacheControl,
    req_pragma_no_cache: bool,
) -> Use {
    if resp_cc.no_cache_unqualified() || req_cc.no_cache.is_some() || req_pragma_no_cache {
        return Use::Revalidate;
    }
    // Ages are whole seconds, truncated: a copy whose age reads `max_age` is already
    // older than `max_age` (so `max-age=0` always revalidates).
    if let Some(max_age) = req_cc.max_age {
        if current_age >= Duration::from_secs(max_age) {
            return Use::Revalidate;
        }
    }
    if let Some(min_fresh) = req_cc.min_fresh {
        if stored_lifetime <= current_age.saturating_add(Duration::from_secs(min_fresh)) {
            return Use::Revalidate;
        }
    }
    if Usability::of(stored_lifetime, current_age) == Usability::Fresh {
        return Use::Fresh;
    }
    let stale_forbidden = resp_cc.must_revalidate
        || resp_cc.proxy_revalidate
        || resp_cc.s_maxage.is_some()
        || resp_cc.no_cache.is_some();
    if stale_forbidden {
        return Use::Revalidate;
    }
    match req_cc.max_stale {
        Some(None) => Use::ServeStale,
        Some(Some(limit))
            if current_age.saturating_sub(stored_lifetime) <= Duration::from_secs(limit) =>
        {
            Use::ServeStale
        }
        _ => Use::Revalidate,
    }
}

/// The operator's policy for the partner cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// The longest freshness lifetime kept: a local policy, told to nobody; we only
    /// revalidate sooner.
    pub max_ttl: Duration,
    /// An operator override used only when the response has neither an explicit nor a
    /// heuristic lifetime (and its status is heuristically cacheable or it is `public`):
    /// a fixed heuristic, which §4.2.2 leaves to the cache. Off (`None`) by default.
    pub default_ttl: Option<Duration>,
    /// The §4.2.2 heuristic.
    pub heuristic: Heuristic,
    /// How long a stale copy with a validator is kept for revalidation after its lifetime
    /// ends.
    pub keep_stale: Duration,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            max_ttl: Duration::from_secs(24 * 3600),
            default_ttl: None,
            heuristic: Heuristic::default(),
            keep_stale: Duration::from_secs(3600),
        }
    }
}

/// What [`Policy::decide`] made of a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Keep {
        /// The freshness lifetime, capped by `max_ttl`.
        lifetime: Duration,
        /// `corrected_initial_age` at `response_time`.
        initial_age: Duration,
        /// How long to keep the entry, from `response_time`: until it is stale
        /// (`lifetime - initial_age`), plus `keep_stale` when it has a validator.
        keep_for: Duration,
    },
    /// Stream it through without keeping it, for a short reason: "method", "status",
    /// "must-understand", "no-store", "private", "vary-star", "no-lifetime", "no-cache",
    /// "stale".
    Pass(&'static str),
}

impl Policy {
    /// Decides for a response to `method` with `status` and `resp_headers`, to a request
    /// with `req_cc`, exchanged at `timing`. A response stale on arrival is kept only with
    /// a validator (so the next request revalidates it) and a non-zero `keep_stale`, else
    /// `Pass("stale")`; an unqualified `no-cache` response without a validator could never
    /// be reused and is `Pass("no-cache")`.
    pub fn decide(
        &self,
        method: &Method,
        status: StatusCode,
        req_cc: &CacheControl,
        resp_headers: &HeaderMap,
        timing: &Timing,
    ) -> Decision {
        let cc = super::directives::parse(resp_headers);
        let mut lifetime = freshness_lifetime(status, resp_headers, &cc, &self.heuristic, timing);
        if lifetime == Lifetime::None && (cacheable_by_default(status) || cc.public) {
            if let Some(ttl) = self.default_ttl {
                lifetime = Lifetime::Heuristic(ttl);
            }
        }
        if let Storable::No(reason) = storable(method, status, req_cc, resp_headers, &cc, &lifetime)
        {
            return Decision::Pass(reason);
        }
        let validator = has_validator(resp_headers);
        if cc.no_cache_unqualified() && !validator {
            return Decision::Pass("no-cache");
        }
        let lifetime = lifetime.duration().min(self.max_ttl);
        let initial_age = corrected_initial_age(resp_headers, timing);
        let fresh_for = lifetime.saturating_sub(initial_age);
        let keep_for = if validator {
            fresh_for.saturating_add(self.keep_stale)
        } else {
            fresh_for
        };
        if keep_for.is_zero() {
            return Decision::Pass("stale");
        }
        Decision::Keep {
            lifetime,
            initial_age,
            keep_for,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::directives::parse;

    const SEC: Duration = Duration::from_secs(1);

    fn t0() -> SystemTime {
        // A whole second, so HTTP-dates round-trip exactly.
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)
    }

    fn timing(delay: u64) -> Timing {
        Timing {
            request_time: t0(),
            response_time: t0() + SEC * delay as u32,
        }
    }

    fn date(t: SystemTime) -> String {
        httpdate::fmt_http_date(t)
    }

    fn h(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (k, v) in pairs {
            m.append(
                header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        m
    }

    fn cc(v: &str) -> CacheControl {
        parse(&h(&[("cache-control", v)]))
    }

    fn lifetime(status: u16, resp: &HeaderMap, t: &Timing) -> Lifetime {
        freshness_lifetime(
            StatusCode::from_u16(status).unwrap(),
            resp,
            &parse(resp),
            &Heuristic::default(),
            t,
        )
    }

    // ---- §4.2 dates ----

    #[test]
    fn s4_2_dates_case_insensitive_gmt_only() {
        let v = |s: &str| HeaderValue::from_str(s).unwrap();
        let want = httpdate::parse_http_date("Thu, 01 Dec 1994 16:00:00 GMT").unwrap();
        assert_eq!(
            parse_http_date(&v("thu, 01 DEC 1994 16:00:00 gmt")),
            Some(want)
        );
        assert_eq!(
            parse_http_date(&v("Thursday, 01-Dec-94 16:00:00 GMT")),
            Some(want)
        );
        assert_eq!(parse_http_date(&v("Thu Dec  1 16:00:00 1994")), Some(want));
        assert_eq!(parse_http_date(&v("Thu, 01 Dec 1994 16:00:00 PST")), None);
        assert_eq!(parse_http_date(&v("0")), None);
        assert_eq!(
            parse_http_date(&HeaderValue::from_bytes(b"\xff\xfe").unwrap()),
            None
        );
    }

    // ---- §4.2.3 age ----

    #[test]
    fn s4_2_3_corrected_initial_age_uses_age_plus_delay() {
        // Date = request_time, response after 2 s, Age 10: corrected_age_value 12 wins.
        let t = timing(2);
        let resp = h(&[("date", &date(t0())), ("age", "10")]);
        assert_eq!(corrected_initial_age(&resp, &t), SEC * 12);
    }

    #[test]
    fn s4_2_3_apparent_age_wins_when_larger() {
        // Date 100 s before the response; no Age: apparent_age 100 > delay 2.
        let t = timing(2);
        let resp = h(&[("date", &date(t.response_time - SEC * 100))]);
        assert_eq!(corrected_initial_age(&resp, &t), SEC * 100);
    }

    #[test]
    fn s4_2_3_date_in_future_and_missing_date() {
        let t = timing(3);
        let resp = h(&[("date", &date(t.response_time + SEC * 500))]);
        assert_eq!(corrected_initial_age(&resp, &t), SEC * 3);
        assert_eq!(corrected_initial_age(&HeaderMap::new(), &t), SEC * 3);
        let resp = h(&[("date", "yesterday")]);
        assert_eq!(corrected_initial_age(&resp, &t), SEC * 3);
    }

    #[test]
    fn s4_2_3_invalid_age_ignored() {
        let t = timing(1);
        for a in ["-5", "abc", "1.5", "", "10, 20"] {
            let resp = h(&[("age", a)]);
            assert_eq!(corrected_initial_age(&resp, &t), SEC, "{a:?}");
        }
        let mut resp = HeaderMap::new();
        resp.insert(header::AGE, HeaderValue::from_bytes(b"\xff1").unwrap());
        assert_eq!(corrected_initial_age(&resp, &t), SEC);
        assert_eq!(age_value(&h(&[("age", " 7 ")])), SEC * 7);
    }

    #[test]
    fn s1_2_2_huge_age_saturates() {
        let resp = h(&[("age", &"9".repeat(100))]);
        assert_eq!(age_value(&resp), Duration::from_secs(2_147_483_648));
        assert_eq!(
            corrected_initial_age(&resp, &timing(1)),
            Duration::from_secs(2_147_483_649)
        );
    }

    #[test]
    fn s4_2_3_clock_backwards_no_panic() {
        let t = Timing {
            request_time: t0() + SEC * 10,
            response_time: t0(),
        };
        assert_eq!(corrected_initial_age(&HeaderMap::new(), &t), Duration::ZERO);
        assert_eq!(current_age(SEC * 5, t0(), t0() - SEC * 100), SEC * 5);
    }

    #[test]
    fn s4_2_3_current_age_adds_resident_time() {
        assert_eq!(current_age(SEC * 5, t0(), t0() + SEC * 60), SEC * 65);
        assert_eq!(current_age(Duration::MAX, t0(), t0() + SEC), Duration::MAX);
    }

    // ---- §4.2.1 freshness lifetime ----

    #[test]
    fn s4_2_1_s_maxage_first_for_shared_cache() {
        let resp = h(&[
            ("cache-control", "max-age=100, s-maxage=50"),
            ("expires", &date(t0() + SEC * 1000)),
        ]);
        assert_eq!(
            lifetime(200, &resp, &timing(0)),
            Lifetime::Explicit(SEC * 50)
        );
    }

    #[test]
    fn s4_2_1_max_age_over_expires() {
        let resp = h(&[
            ("cache-control", "max-age=100"),
            ("expires", &date(t0() + SEC * 1000)),
            ("date", &date(t0())),
        ]);
        assert_eq!(
            lifetime(200, &resp, &timing(0)),
            Lifetime::Explicit(SEC * 100)
        );
    }

    #[test]
    fn s4_2_1_expires_minus_date() {
        let resp = h(&[
            ("date", &date(t0() - SEC * 30)),
            ("expires", &date(t0() + SEC * 90)),
        ]);
        assert_eq!(
            lifetime(200, &resp, &timing(0)),
            Lifetime::Explicit(SEC * 120)
        );
        // Expires before Date: already expired.
        let resp = h(&[("date", &date(t0())), ("expires", &date(t0() - SEC * 90))]);
        assert_eq!(
            lifetime(200, &resp, &timing(0)),
            Lifetime::Explicit(Duration::ZERO)
        );
    }

    #[test]
    fn s4_2_1_expires_without_valid_date_uses_response_time() {
        let t = timing(5);
        let resp = h(&[("expires", &date(t.response_time + SEC * 60))]);
        assert_eq!(lifetime(200, &resp, &t), Lifetime::Explicit(SEC * 60));
        let resp = h(&[
            ("date", "garbage"),
            ("expires", &date(t.response_time + SEC * 60)),
        ]);
        assert_eq!(lifetime(200, &resp, &t), Lifetime::Explicit(SEC * 60));
    }

    #[test]
    fn s5_3_invalid_expires_is_already_expired() {
        for e in ["0", "-1", "never", ""] {
            let resp = h(&[("expires", e), ("last-modified", &date(t0() - SEC * 1000))]);
            assert_eq!(
                lifetime(200, &resp, &timing(0)),
                Lifetime::Explicit(Duration::ZERO)
            );
        }
    }

    #[test]
    fn s4_2_1_multiple_expires_is_stale() {
        let e = date(t0() + SEC * 100);
        let resp = h(&[("date", &date(t0())), ("expires", &e), ("expires", &e)]);
        assert_eq!(
            lifetime(200, &resp, &timing(0)),
            Lifetime::Explicit(Duration::ZERO)
        );
    }

    #[test]
    fn s4_2_1_invalid_max_age_is_stale() {
        let resp = h(&[("cache-control", "max-age=soon")]);
        assert_eq!(
            lifetime(200, &resp, &timing(0)),
            Lifetime::Explicit(Duration::ZERO)
        );
    }

    // ---- §4.2.2 heuristic ----

    #[test]
    fn s4_2_2_heuristic_fraction_of_last_modified() {
        let resp = h(&[
            ("date", &date(t0())),
            ("last-modified", &date(t0() - SEC * 1000)),
        ]);
        assert_eq!(
            lifetime(200, &resp, &timing(0)),
            Lifetime::Heuristic(SEC * 100)
        );
        let custom = Heuristic {
            fraction_percent: 50,
            max: SEC * 300,
            ..Heuristic::default()
        };
        let l = freshness_lifetime(StatusCode::OK, &resp, &parse(&resp), &custom, &timing(0));
        assert_eq!(l, Lifetime::Heuristic(SEC * 300));
    }

    #[test]
    fn s4_2_2_heuristic_capped_at_max() {
        let resp = h(&[
            ("date", &date(t0())),
            ("last-modified", &date(t0() - SEC * 100 * 24 * 3600)),
        ]);
        assert_eq!(
            lifetime(200, &resp, &timing(0)),
            Lifetime::Heuristic(SEC * 24 * 3600)
        );
    }

    #[test]
    fn s4_2_2_heuristic_only_for_cacheable_status_or_public() {
        let lm = date(t0() - SEC * 1000);
        let resp = h(&[("date", &date(t0())), ("last-modified", &lm)]);
        assert_eq!(lifetime(302, &resp, &timing(0)), Lifetime::None);
        assert_eq!(
            lifetime(404, &resp, &timing(0)),
            Lifetime::Heuristic(SEC * 100)
        );
        let resp = h(&[
            ("date", &date(t0())),
            ("last-modified", &lm),
            ("cache-control", "public"),
        ]);
        assert_eq!(
            lifetime(302, &resp, &timing(0)),
            Lifetime::Heuristic(SEC * 100)
        );
    }

    #[test]
    fn s5_2_2_9_public_without_last_modified_gets_the_public_heuristic() {
        let resp = h(&[("date", &date(t0())), ("cache-control", "public")]);
        assert_eq!(
            lifetime(200, &resp, &timing(0)),
            Lifetime::Heuristic(SEC * 60)
        );
        let resp = h(&[("date", &date(t0()))]);
        assert_eq!(lifetime(200, &resp, &timing(0)), Lifetime::None);
    }

    #[test]
    fn s4_2_2_no_heuristic_without_earlier_last_modified() {
        assert_eq!(lifetime(200, &HeaderMap::new(), &timing(0)), Lifetime::None);
        let resp = h(&[("date", &date(t0())), ("last-modified", &date(t0() + SEC))]);
        assert_eq!(lifetime(200, &resp, &timing(0)), Lifetime::None);
        let resp = h(&[("date", &date(t0())), ("last-modified", &date(t0()))]);
        assert_eq!(lifetime(200, &resp, &timing(0)), Lifetime::None);
        let resp = h(&[("date", &date(t0())), ("last-modified", "bogus")]);
        assert_eq!(lifetime(200, &resp, &timing(0)), Lifetime::None);
        // Without Date, the response time is the date.
        let t = timing(0);
        let resp = h(&[("last-modified", &date(t.response_time - SEC * 50))]);
        assert_eq!(lifetime(200, &resp, &t), Lifetime::Heuristic(SEC * 5));
    }

    #[test]
    fn rfc9110_15_1_cacheable_by_default() {
        for s in [200, 203, 204, 206, 300, 301, 308, 404, 405, 410, 414, 501] {
            assert!(
                cacheable_by_default(StatusCode::from_u16(s).unwrap()),
                "{s}"
            );
        }
        for s in [100, 201, 202, 302, 303, 304, 307, 400, 403, 500, 502, 503] {
            assert!(
                !cacheable_by_default(StatusCode::from_u16(s).unwrap()),
                "{s}"
            );
        }
        assert!(!understood(StatusCode::PARTIAL_CONTENT));
        assert!(understood(StatusCode::OK));
    }

    // ---- §3 storable ----

    fn store(method: Method, status: u16, req: &str, resp: &HeaderMap) -> Storable {
        let rcc = parse(resp);
        let l = freshness_lifetime(
            StatusCode::from_u16(status).unwrap(),
            resp,
            &rcc,
            &Heuristic::default(),
            &timing(0),
        );
        storable(
            &method,
            StatusCode::from_u16(status).unwrap(),
            &cc(req),
            resp,
            &rcc,
            &l,
        )
    }

    #[test]
    fn s3_method_get_only() {
        let resp = h(&[("cache-control", "max-age=60")]);
        assert_eq!(store(Method::GET, 200, "", &resp), Storable::Yes);
        assert_eq!(store(Method::HEAD, 200, "", &resp), Storable::No("method"));
        assert_eq!(store(Method::POST, 200, "", &resp), Storable::No("method"));
    }

    #[test]
    fn s3_status_final_not_partial_not_304() {
        let resp = h(&[("cache-control", "max-age=60")]);
        for s in [100, 103, 206, 304] {
            assert_eq!(
                store(Method::GET, s, "", &resp),
                Storable::No("status"),
                "{s}"
            );
        }
        // Any other final status with explicit freshness.
        assert_eq!(store(Method::GET, 302, "", &resp), Storable::Yes);
        assert_eq!(store(Method::GET, 500, "", &resp), Storable::Yes);
    }

    #[test]
    fn s5_2_no_store_request_or_response() {
        let resp = h(&[("cache-control", "max-age=60")]);
        assert_eq!(
            store(Method::GET, 200, "no-store", &resp),
            Storable::No("no-store")
        );
        let resp = h(&[("cache-control", "max-age=60, no-store")]);
        assert_eq!(store(Method::GET, 200, "", &resp), Storable::No("no-store"));
    }

    #[test]
    fn s5_2_2_3_must_understand() {
        let resp = h(&[("cache-control", "max-age=60, must-understand, no-store")]);
        // Understood status: no-store is ignored.
        assert_eq!(store(Method::GET, 200, "", &resp), Storable::Yes);
        assert_eq!(
            store(Method::GET, 302, "", &resp),
            Storable::No("must-understand")
        );
        // The request's no-store still applies.
        assert_eq!(
            store(Method::GET, 200, "no-store", &resp),
            Storable::No("no-store")
        );
    }

    #[test]
    fn s5_2_2_7_private_unqualified_not_stored_qualified_stored() {
        let resp = h(&[("cache-control", "private, max-age=60")]);
        assert_eq!(store(Method::GET, 200, "", &resp), Storable::No("private"));
        let resp = h(&[("cache-control", "private=\"x-user\", max-age=60")]);
        assert_eq!(store(Method::GET, 200, "", &resp), Storable::Yes);
    }

    #[test]
    fn s4_1_vary_star_not_stored() {
        let resp = h(&[("cache-control", "max-age=60"), ("vary", "accept, *")]);
        assert_eq!(
            store(Method::GET, 200, "", &resp),
            Storable::No("vary-star")
        );
        let resp = h(&[("cache-control", "max-age=60"), ("vary", "accept")]);
        assert_eq!(store(Method::GET, 200, "", &resp), Storable::Yes);
    }

    #[test]
    fn s3_needs_explicit_or_heuristic_permission() {
        assert_eq!(
            store(Method::GET, 200, "", &HeaderMap::new()),
            Storable::No("no-lifetime")
        );
        let resp = h(&[("cache-control", "public")]);
        assert_eq!(store(Method::GET, 200, "", &resp), Storable::Yes);
        let resp = h(&[("expires", "0")]);
        assert_eq!(store(Method::GET, 200, "", &resp), Storable::Yes);
        let resp = h(&[("cache-control", "s-maxage=5")]);
        assert_eq!(store(Method::GET, 302, "", &resp), Storable::Yes);
        // Heuristically cacheable status with a heuristic lifetime.
        let resp = h(&[
            ("date", &date(t0())),
            ("last-modified", &date(t0() - SEC * 100)),
        ]);
        assert_eq!(store(Method::GET, 200, "", &resp), Storable::Yes);
        // Not heuristically cacheable: no.
        assert_eq!(
            store(Method::GET, 302, "", &resp),
            Storable::No("no-lifetime")
        );
        // no-cache with a validator: stored, always revalidated.
        let resp = h(&[("cache-control", "no-cache"), ("etag", "\"v1\"")]);
        assert_eq!(store(Method::GET, 200, "", &resp), Storable::Yes);
        let resp = h(&[("cache-control", "no-cache")]);
        assert_eq!(
            store(Method::GET, 200, "", &resp),
            Storable::No("no-lifetime")
        );
    }

    // ---- §4 usable ----

    fn use_of(lifetime: u64, age: u64, resp: &str, req: &str) -> Use {
        usable(
            SEC * lifetime as u32,
            SEC * age as u32,
            &cc(resp),
            &cc(req),
            false,
        )
    }

    #[test]
    fn s4_2_fresh_iff_lifetime_exceeds_age() {
        assert_eq!(use_of(60, 59, "", ""), Use::Fresh);
        assert_eq!(use_of(60, 60, "", ""), Use::Revalidate);
        assert_eq!(use_of(0, 0, "", ""), Use::Revalidate);
        assert_eq!(Usability::of(SEC * 2, SEC), Usability::Fresh);
        assert_eq!(Usability::of(SEC, SEC), Usability::Stale);
    }

    #[test]
    fn s5_2_2_4_response_no_cache() {
        assert_eq!(use_of(60, 1, "no-cache", ""), Use::Revalidate);
        // Qualified: usable, the caller strips the fields.
        assert_eq!(use_of(60, 1, "no-cache=\"x-a\"", ""), Use::Fresh);
    }

    #[test]
    fn s5_2_1_4_request_no_cache_and_pragma() {
        assert_eq!(use_of(60, 1, "", "no-cache"), Use::Revalidate);
        let r = usable(SEC * 60, SEC, &cc(""), &cc(""), true);
        assert_eq!(r, Use::Revalidate);
    }

    #[test]
    fn s5_2_1_1_request_max_age() {
        assert_eq!(use_of(60, 10, "", "max-age=5"), Use::Revalidate);
        // Ages are truncated seconds: an age that reads 10 is past max-age=10.
        assert_eq!(use_of(60, 10, "", "max-age=10"), Use::Revalidate);
        assert_eq!(use_of(60, 9, "", "max-age=10"), Use::Fresh);
        assert_eq!(use_of(60, 1, "", "max-age=0"), Use::Revalidate);
        // Even max-stale does not let an older-than-max-age response through.
        assert_eq!(
            use_of(60, 100, "", "max-age=50, max-stale"),
            Use::Revalidate
        );
    }

    #[test]
    fn s5_2_1_3_request_min_fresh() {
        assert_eq!(use_of(60, 10, "", "min-fresh=49"), Use::Fresh);
        assert_eq!(use_of(60, 10, "", "min-fresh=50"), Use::Revalidate);
        assert_eq!(use_of(60, 10, "", "min-fresh=0"), Use::Fresh);
    }

    #[test]
    fn s5_2_1_2_max_stale_serves_stale() {
        assert_eq!(use_of(60, 100, "", "max-stale"), Use::ServeStale);
        assert_eq!(use_of(60, 100, "", "max-stale=40"), Use::ServeStale);
        assert_eq!(use_of(60, 100, "", "max-stale=39"), Use::Revalidate);
        assert_eq!(use_of(60, 100, "", ""), Use::Revalidate);
    }

    #[test]
    fn s4_2_4_shared_cache_never_serves_stale_when_forbidden() {
        for resp in [
            "must-revalidate",  // §5.2.2.2
            "proxy-revalidate", // §5.2.2.8
            "s-maxage=60",      // §5.2.2.10
            "no-cache=\"x-a\"", // §5.2.2.4
        ] {
            assert_eq!(
                use_of(60, 100, resp, "max-stale"),
                Use::Revalidate,
                "{resp}"
            );
            assert_eq!(use_of(60, 10, resp, "max-stale"), Use::Fresh, "{resp}");
        }
    }

    // ---- Policy::decide ----

    fn policy() -> Policy {
        Policy {
            max_ttl: SEC * 3600,
            default_ttl: None,
            heuristic: Heuristic::default(),
            keep_stale: SEC * 600,
        }
    }

    fn decide(p: &Policy, status: u16, req: &str, resp: &HeaderMap, t: &Timing) -> Decision {
        p.decide(
            &Method::GET,
            StatusCode::from_u16(status).unwrap(),
            &cc(req),
            resp,
            t,
        )
    }

    #[test]
    fn s4_2_1_decide_keeps_fresh_response_without_validator() {
        let t = timing(0);
        let resp = h(&[("date", &date(t0())), ("cache-control", "max-age=100")]);
        assert_eq!(
            decide(&policy(), 200, "", &resp, &t),
            Decision::Keep {
                lifetime: SEC * 100,
                initial_age: Duration::ZERO,
                keep_for: SEC * 100,
            }
        );
    }

    #[test]
    fn s4_2_3_decide_subtracts_initial_age_and_adds_keep_stale_with_validator() {
        let t = timing(2);
        let resp = h(&[
            ("date", &date(t0())),
            ("age", "30"),
            ("cache-control", "max-age=100"),
            ("etag", "\"v1\""),
        ]);
        assert_eq!(
            decide(&policy(), 200, "", &resp, &t),
            Decision::Keep {
                lifetime: SEC * 100,
                initial_age: SEC * 32,
                keep_for: SEC * (68 + 600),
            }
        );
    }

    #[test]
    fn s4_2_1_decide_caps_lifetime_at_max_ttl() {
        let resp = h(&[("date", &date(t0())), ("cache-control", "max-age=100000")]);
        match decide(&policy(), 200, "", &resp, &timing(0)) {
            Decision::Keep {
                lifetime, keep_for, ..
            } => {
                assert_eq!(lifetime, SEC * 3600);
                assert_eq!(keep_for, SEC * 3600);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn s4_2_4_decide_stale_on_arrival() {
        let t = timing(0);
        let stale = h(&[("date", &date(t0())), ("cache-control", "max-age=0")]);
        assert_eq!(
            decide(&policy(), 200, "", &stale, &t),
            Decision::Pass("stale")
        );
        let stale = h(&[("date", &date(t0())), ("expires", "0")]);
        assert_eq!(
            decide(&policy(), 200, "", &stale, &t),
            Decision::Pass("stale")
        );
        // With a validator: kept for revalidation.
        let stale = h(&[
            ("date", &date(t0())),
            ("cache-control", "max-age=10"),
            ("age", "20"),
            ("last-modified", &date(t0() - SEC * 1000)),
        ]);
        assert_eq!(
            decide(&policy(), 200, "", &stale, &t),
            Decision::Keep {
                lifetime: SEC * 10,
                initial_age: SEC * 20,
                keep_for: SEC * 600,
            }
        );
        // ... unless keep_stale is zero.
        let p = Policy {
            keep_stale: Duration::ZERO,
            ..policy()
        };
        assert_eq!(decide(&p, 200, "", &stale, &t), Decision::Pass("stale"));
    }

    #[test]
    fn s5_2_2_4_decide_no_cache() {
        let t = timing(0);
        let resp = h(&[("cache-control", "no-cache"), ("etag", "\"a\"")]);
        assert_eq!(
            decide(&policy(), 200, "", &resp, &t),
            Decision::Keep {
                lifetime: Duration::ZERO,
                initial_age: Duration::ZERO,
                keep_for: SEC * 600,
            }
        );
        let resp = h(&[("cache-control", "no-cache, max-age=60")]);
        assert_eq!(
            decide(&policy(), 200, "", &resp, &t),
            Decision::Pass("no-cache")
        );
    }

    #[test]
    fn s3_decide_pass_reasons() {
        let t = timing(0);
        let ok = h(&[("cache-control", "max-age=60")]);
        let p = policy();
        let m = |m: Method| p.decide(&m, StatusCode::OK, &cc(""), &ok, &t);
        assert_eq!(m(Method::HEAD), Decision::Pass("method"));
        assert_eq!(decide(&p, 206, "", &ok, &t), Decision::Pass("status"));
        assert_eq!(
            decide(&p, 200, "no-store", &ok, &t),
            Decision::Pass("no-store")
        );
        let r = h(&[("cache-control", "private, max-age=60")]);
        assert_eq!(decide(&p, 200, "", &r, &t), Decision::Pass("private"));
        let r = h(&[("cache-control", "max-age=60"), ("vary", "*")]);
        assert_eq!(decide(&p, 200, "", &r, &t), Decision::Pass("vary-star"));
        assert_eq!(
            decide(&p, 200, "", &HeaderMap::new(), &t),
            Decision::Pass("no-lifetime")
        );
    }

    #[test]
    fn s4_2_2_decide_heuristic_and_default_ttl() {
        let t = timing(0);
        let resp = h(&[
            ("date", &date(t0())),
            ("last-modified", &date(t0() - SEC * 1000)),
        ]);
        assert_eq!(
            decide(&policy(), 200, "", &resp, &t),
            Decision::Keep {
                lifetime: SEC * 100,
                initial_age: Duration::ZERO,
                keep_for: SEC * 700,
            }
        );
        // The operator's default applies only without any lifetime...
        let p = Policy {
            default_ttl: Some(SEC * 30),
            ..policy()
        };
        assert_eq!(
            decide(&p, 200, "", &HeaderMap::new(), &t),
            Decision::Keep {
                lifetime: SEC * 30,
                initial_age: Duration::ZERO,
                keep_for: SEC * 30,
            }
        );
        // ... not over a heuristic or explicit one ...
        match decide(&p, 200, "", &resp, &t) {
            Decision::Keep { lifetime, .. } => assert_eq!(lifetime, SEC * 100),
            other => panic!("{other:?}"),
        }
        // ... and not for a status that is not heuristically cacheable.
        assert_eq!(
            decide(&p, 302, "", &HeaderMap::new(), &t),
            Decision::Pass("no-lifetime")
        );
    }

    #[test]
    fn s5_2_2_10_decide_s_maxage_over_max_age() {
        let resp = h(&[("cache-control", "max-age=10, s-maxage=200")]);
        match decide(&policy(), 200, "", &resp, &timing(0)) {
            Decision::Keep { lifetime, .. } => assert_eq!(lifetime, SEC * 200),
            other => panic!("{other:?}"),
        }
    }
}
