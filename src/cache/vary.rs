//! Secondary cache keys (RFC 9111 §4.1): the request fields a response's `Vary` nominates,
//! and a deterministic, normalized rendering of their values in a request, to hash into the
//! cache key and to compare a new request against the one that filled the entry.

use http::{header, HeaderMap};

use super::directives::{is_token, list_elements, split_list};

/// What a response's `Vary` nominates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VaryFields {
    /// No `Vary` (or only empty ones): the primary key alone selects the response.
    None,
    /// `*` somewhere (or a member that is not a field name): never matches (§4.1).
    Star,
    /// Lower-case field names, deduplicated and sorted.
    Fields(Vec<String>),
}

/// Reads every `Vary` line of `resp` (RFC 9110 §12.5.5). A member that is not a token
/// (non-UTF-8 bytes included) cannot be matched and counts as `*`.
pub fn vary_fields(resp: &HeaderMap) -> VaryFields {
    let mut names: Vec<String> = Vec::new();
    for line in resp.get_all(header::VARY) {
        for member in list_elements(line.as_bytes()) {
            if member == b"*" || !is_token(member) {
                return VaryFields::Star;
            }
            names.push(String::from_utf8_lossy(member).to_ascii_lowercase());
        }
    }
    if names.is_empty() {
        return VaryFields::None;
    }
    names.sort();
    names.dedup();
    VaryFields::Fields(names)
}

/// The secondary key of `req` for the nominated `fields`: for each field in the order
/// given (as [`vary_fields`] returns them: sorted), `name:-` when the request lacks it,
/// else `name:=value`, lines joined with `\n`. The value is every line of the field
/// combined with `,`, with optional whitespace around commas (outside quoted strings) and
/// at both ends removed (§4.1: whitespace and line-combining differences still match);
/// empty members are kept, so `a,,b` and `a,b` differ (what they mean is the field's
/// business). Values are compared case-sensitively. Bytes outside visible ASCII and space, and `%`, are percent-encoded, so the rendering
/// is injective and never contains a newline.
pub fn secondary_key(fields: &[String], req: &HeaderMap) -> String {
    let mut out = String::new();
    for (i, name) in fields.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let name = name.to_ascii_lowercase();
        out.push_str(&name);
        let mut lines = req.get_all(name.as_str()).iter().peekable();
        if lines.peek().is_none() {
            out.push_str(":-");
            continue;
        }
        out.push_str(":=");
        let mut first = true;
        for line in lines {
            for element in split_list(line.as_bytes()) {
                if !first {
                    out.push(',');
                }
                first = false;
                escape_into(&mut out, element);
            }
        }
    }
    out
}

/// Whether `req` selects a stored response that has `fields` and was stored with
/// `stored_secondary_key` (RFC 9111 §4.1); `Vary: *` never matches.
pub fn matches(fields: &VaryFields, stored_secondary_key: &str, req: &HeaderMap) -> bool {
    match fields {
        VaryFields::None => stored_secondary_key.is_empty(),
        VaryFields::Star => false,
        VaryFields::Fields(f) => secondary_key(f, req) == stored_secondary_key,
    }
}

fn escape_into(out: &mut String, bytes: &[u8]) {
    for &b in bytes {
        if (b' '..=b'~').contains(&b) && b != b'%' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{HeaderName, HeaderValue};

    fn h(pairs: &[(&str, &[u8])]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (k, v) in pairs {
            m.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_bytes(v).unwrap(),
            );
        }
        m
    }

    fn fields(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn rfc9110_12_5_5_vary_all_lines_lowercase_sorted_deduped() {
        let resp = h(&[
            ("vary", b"Accept-Language, accept"),
            ("vary", b"ACCEPT-ENCODING ,Accept"),
        ]);
        assert_eq!(
            vary_fields(&resp),
            VaryFields::Fields(fields(&["accept", "accept-encoding", "accept-language"]))
        );
        assert_eq!(vary_fields(&HeaderMap::new()), VaryFields::None);
        assert_eq!(vary_fields(&h(&[("vary", b" , ")])), VaryFields::None);
    }

    #[test]
    fn s4_1_star_anywhere() {
        assert_eq!(vary_fields(&h(&[("vary", b"*")])), VaryFields::Star);
        assert_eq!(
            vary_fields(&h(&[("vary", b"accept"), ("vary", b"origin, *")])),
            VaryFields::Star
        );
        // Not a field name: cannot be matched.
        assert_eq!(
            vary_fields(&h(&[("vary", b"acc\xffept")])),
            VaryFields::Star
        );
        assert_eq!(vary_fields(&h(&[("vary", b"a b")])), VaryFields::Star);
    }

    #[test]
    fn s4_1_whitespace_around_commas_matches() {
        let f = fields(&["accept-language"]);
        let a = h(&[("accept-language", b"en, fr")]);
        let b = h(&[("accept-language", b"en,fr")]);
        let c = h(&[("accept-language", b"  en ,\tfr  ")]);
        let key = secondary_key(&f, &a);
        assert_eq!(key, "accept-language:=en,fr");
        assert_eq!(secondary_key(&f, &b), key);
        assert_eq!(secondary_key(&f, &c), key);
        assert!(matches(&VaryFields::Fields(f), &key, &b));
    }

    #[test]
    fn s4_1_combining_lines_matches() {
        let f = fields(&["accept-language"]);
        let one = h(&[("accept-language", b"en, fr")]);
        let two = h(&[("accept-language", b"en"), ("accept-language", b" fr")]);
        assert_eq!(secondary_key(&f, &one), secondary_key(&f, &two));
    }

    #[test]
    fn s4_1_field_name_case_matches() {
        let upper = vary_fields(&h(&[("vary", b"Accept-Language")]));
        let lower = vary_fields(&h(&[("vary", b"accept-language")]));
        assert_eq!(upper, lower);
        let req = h(&[("Accept-Language", b"de")]);
        let VaryFields::Fields(f) = &upper else {
            panic!("{upper:?}")
        };
        let key = secondary_key(f, &req);
        assert!(matches(&lower, &key, &req));
        // Names passed in mixed case are lower-cased too.
        assert_eq!(secondary_key(&fields(&["Accept-Language"]), &req), key);
    }

    #[test]
    fn s4_1_absent_differs_from_empty() {
        let f = fields(&["x-a"]);
        let absent = secondary_key(&f, &HeaderMap::new());
        let empty = secondary_key(&f, &h(&[("x-a", b"")]));
        assert_eq!(absent, "x-a:-");
        assert_eq!(empty, "x-a:=");
        assert_ne!(absent, empty);
        assert!(!matches(
            &VaryFields::Fields(f),
            &absent,
            &h(&[("x-a", b"")])
        ));
    }

    #[test]
    fn s4_1_values_differ() {
        let f = fields(&["accept", "accept-language"]);
        let a = h(&[("accept", b"text/html"), ("accept-language", b"en")]);
        let b = h(&[("accept", b"text/html"), ("accept-language", b"fr")]);
        let key = secondary_key(&f, &a);
        assert_eq!(key, "accept:=text/html\naccept-language:=en");
        assert!(!matches(&VaryFields::Fields(f.clone()), &key, &b));
        assert!(matches(&VaryFields::Fields(f), &key, &a));
        // Values are case-sensitive in general.
        let g = fields(&["x-v"]);
        assert_ne!(
            secondary_key(&g, &h(&[("x-v", b"A")])),
            secondary_key(&g, &h(&[("x-v", b"a")]))
        );
    }

    #[test]
    fn s4_1_quoted_commas_are_not_normalized() {
        let f = fields(&["x-q"]);
        let a = secondary_key(&f, &h(&[("x-q", b"\"a , b\", c")]));
        let b = secondary_key(&f, &h(&[("x-q", b"\"a,b\",c")]));
        assert_eq!(a, "x-q:=\"a , b\",c");
        assert_ne!(a, b);
    }

    #[test]
    fn s4_1_star_never_matches() {
        let req = HeaderMap::new();
        assert!(!matches(&VaryFields::Star, "", &req));
        assert!(!matches(&VaryFields::Star, &secondary_key(&[], &req), &req));
    }

    #[test]
    fn s4_1_no_vary_matches_empty_key() {
        let req = h(&[("accept", b"x")]);
        assert_eq!(secondary_key(&[], &req), "");
        assert!(matches(&VaryFields::None, "", &req));
        assert!(!matches(&VaryFields::None, "accept:=x", &req));
    }

    #[test]
    fn s4_1_bytes_escaped_injectively() {
        let f = fields(&["x-b"]);
        let raw = secondary_key(&f, &h(&[("x-b", b"caf\xe9\t%")]));
        assert_eq!(raw, "x-b:=caf%E9%09%25");
        let lookalike = secondary_key(&f, &h(&[("x-b", b"caf%E9%09%25")]));
        assert_ne!(raw, lookalike);
        assert!(!raw.contains('\n'));
    }
}
