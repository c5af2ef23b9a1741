//! Whole bodies: round trips, the wire form, a body as another vendor might write it,
//! every refusal with its SIP answer, and generated bodies (deterministic xorshift).

use uuid::Uuid;

use super::*;
use crate::codec::FdSignalling;

/// An FD SIGNALLING PAYLOAD whose octets hold CR LF, `--` and the boundary prefix.
fn signalling() -> Vec<u8> {
    let mut m = FdSignalling::new(
        1_700_000_000,
        Uuid::from_bytes(*b"\r\n--mcdata-\r\n--x"),
        Uuid::from_bytes(*b"--mcdata--\r\n\r\n\0\xff"),
    );
    m.set_file_url("http://primary.a.example:8080/files/3f2a");
    m.encode().unwrap()
}

fn one_to_one() -> FdBody {
    FdBody {
        info: McdataInfo {
            request_type: Some(RequestType::OneToOneFd),
            calling_user_id: Some("sip:alice@a.example".to_owned()),
            called_party_id: Some("sip:bob@b.example".to_owned()),
            ..McdataInfo::default()
        },
        signalling: signalling(),
        recipients: vec!["sip:bob@b.example".to_owned()],
    }
}

#[test]
fn round_trips() {
    let group = FdBody {
        info: McdataInfo {
            request_type: Some(RequestType::GroupFd),
            calling_group_id: Some("sip:team@a.example".to_owned()),
            ..McdataInfo::default()
        },
        signalling: signalling(),
        recipients: vec![],
    };
    let notification = FdBody {
        signalling: vec![],
        ..FdBody::default()
    };
    for body in [one_to_one(), group, notification] {
        let (content_type, bytes) = body.encode();
        assert_eq!(FdBody::decode(&content_type, &bytes).unwrap(), body);
    }
    // The signalling part comes back as the codec's message.
    let (content_type, bytes) = one_to_one().encode();
    let back = FdBody::decode(&content_type, &bytes).unwrap();
    assert_eq!(
        FdSignalling::decode(&back.signalling).unwrap().file_url(),
        Some("http://primary.a.example:8080/files/3f2a")
    );
}

#[test]
fn random_boundaries() {
    // RFC 2046 clause 5.1.1: the boundary is chosen per body; ours is a UUID v4.
    let (a, _) = one_to_one().encode();
    let (b, _) = one_to_one().encode();
    assert_ne!(a, b);
    let boundary = a.strip_prefix("multipart/mixed;boundary=mcdata-").unwrap();
    assert_eq!(boundary.len(), 32);
    assert!(boundary.bytes().all(|c| c.is_ascii_hexdigit()));
}

#[test]
fn boundary_is_drawn_again_when_it_occurs_in_a_part() {
    // RFC 2046 clause 5.1.1: the boundary must not occur in any encapsulated part.
    let mut draws = vec!["ok-boundary", "has\r\nbreak", "", "mcdata-", "alice@a"]
        .into_iter()
        .rev();
    let (content_type, bytes) = one_to_one().encode_with(|| draws.next().unwrap().to_owned());
    assert_eq!(content_type, "multipart/mixed;boundary=ok-boundary");
    assert_eq!(FdBody::decode(&content_type, &bytes).unwrap(), one_to_one());

    // A boundary that is not a token is quoted.
    let (content_type, bytes) = one_to_one().encode_with(|| "a b\"c".to_owned());
    assert_eq!(content_type, r#"multipart/mixed;boundary="a b\"c""#);
    assert_eq!(FdBody::decode(&content_type, &bytes).unwrap(), one_to_one());
}

#[test]
fn wire_form() {
    // TS 24.282 clause 6.2.4: mcdata-info, for the one-to-one request the resource-lists
    // part with Content-Disposition recipient-list (RFC 5366 clause 4.1), and the binary
    // signalling part last.
    let body = FdBody {
        signalling: b"\x02SIG".to_vec(),
        ..one_to_one()
    };
    let (content_type, bytes) = body.encode_with(|| "XyZ".to_owned());
    assert_eq!(content_type, "multipart/mixed;boundary=XyZ");
    let expected = "--XyZ\r\n\
        Content-Type: application/vnd.3gpp.mcdata-info+xml\r\n\r\n\
        <?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n\
        <mcdatainfo xmlns=\"urn:3gpp:ns:mcdataInfo:1.0\">\r\n<mcdata-Params>\r\n\
        <request-type>one-to-one-fd</request-type>\r\n\
        <mcdata-calling-user-id type=\"Normal\"><mcdataURI>sip:alice@a.example</mcdataURI></mcdata-calling-user-id>\r\n\
        <mcdata-called-party-id type=\"Normal\"><mcdataURI>sip:bob@b.example</mcdataURI></mcdata-called-party-id>\r\n\
        </mcdata-Params>\r\n</mcdatainfo>\r\n\
        \r\n--XyZ\r\n\
        Content-Type: application/resource-lists+xml\r\n\
        Content-Disposition: recipient-list\r\n\r\n\
        <?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n\
        <resource-lists xmlns=\"urn:ietf:params:xml:ns:resource-lists\">\r\n<list>\r\n\
        <entry uri=\"sip:bob@b.example\"/>\r\n</list>\r\n</resource-lists>\r\n\
        \r\n--XyZ\r\n\
        Content-Type: application/vnd.3gpp.mcdata-signalling\r\n\r\n\
        \x02SIG\
        \r\n--XyZ--\r\n";
    assert_eq!(String::from_utf8(bytes).unwrap(), expected);

    let (_, bytes) = FdBody::default().encode_with(|| "XyZ".to_owned());
    let text = String::from_utf8(bytes).unwrap();
    assert!(
        !text.contains("resource-lists"),
        "no recipients, no part: {text}"
    );
}

#[test]
fn body_as_another_vendor_writes_it() {
    // RFC 2046 clause 5.1.1 (quoted boundary, preamble, epilogue, padding, LF only, other
    // parts and headers), TS 24.282 annex D.1.2 (prefixed namespace, unknown elements,
    // comments), RFC 4826 (prefix, display-name), parts in another order.
    let body = b"This is a multi-part message in MIME format.\n\
        --=_Part_7.1\n\
        Content-Type: application/vnd.3gpp.mcdata-info+xml; charset=\"UTF-8\"\n\
        Content-ID: <info@vendor>\n\
        \n\
        <?xml version=\"1.0\"?>\n\
        <!-- generated -->\n\
        <x:mcdatainfo xmlns:x=\"urn:3gpp:ns:mcdataInfo:1.0\" xmlns:v=\"urn:vendor:ext\">\n\
         <x:mcdata-Params>\n\
          <x:request-type>one-to-one-fd</x:request-type>\n\
          <v:priority>high</v:priority>\n\
          <x:mcdata-calling-user-id type=\"Normal\"><x:mcdataURI> sip:alice@a.example </x:mcdataURI></x:mcdata-calling-user-id>\n\
          <x:mcdata-client-id type=\"Normal\"><x:mcdataString>urn:uuid:1</x:mcdataString></x:mcdata-client-id>\n\
         </x:mcdata-Params>\n\
         <x:anyExt/>\n\
        </x:mcdatainfo>\n\
        --=_Part_7.1 \t\n\
        Content-Type: Application/Resource-Lists+XML\n\
        Content-Disposition: recipient-list\n\
        \n\
        <rl:resource-lists xmlns:rl=\"urn:ietf:params:xml:ns:resource-lists\"><rl:list>\
        <rl:entry uri=\"sip:bob@b.example\"><rl:display-name>Bob &amp; co</rl:display-name></rl:entry>\
        </rl:list></rl:resource-lists>\n\
        --=_Part_7.1\n\
        Content-Type: text/plain\n\
        \n\
        ignored\n\
        --=_Part_7.1\n\
        Content-Type: application/vnd.3gpp.mcdata-signalling\n\
        Content-Transfer-Encoding: binary\n\
        \n\
        \x02\x00\r\n--=_Part_7.1x\x00\n\
        --=_Part_7.1--\n\
        epilogue";
    let got = FdBody::decode("multipart/mixed ; boundary=\"=_Part_7.1\" ; type=x", body).unwrap();
    assert_eq!(
        got,
        FdBody {
            info: McdataInfo {
                request_type: Some(RequestType::OneToOneFd),
                calling_user_id: Some("sip:alice@a.example".to_owned()),
                ..McdataInfo::default()
            },
            signalling: b"\x02\x00\r\n--=_Part_7.1x\x00".to_vec(),
            recipients: vec!["sip:bob@b.example".to_owned()],
        }
    );
    assert_eq!(got.one_to_one_recipient(), Ok("sip:bob@b.example"));
}

#[test]
fn base64_signalling_part() {
    // RFC 2045 clause 6.8: a stack that sends the binary part base64-encoded, folded.
    let wire = "--b\r\nContent-Type: application/vnd.3gpp.mcdata-info+xml\r\n\r\n\
        <mcdatainfo xmlns='urn:3gpp:ns:mcdataInfo:1.0'/>\r\n\
        --b\r\nContent-Type: application/vnd.3gpp.mcdata-signalling\r\n\
        Content-Transfer-Encoding: BASE64\r\n\r\nAgAN\r\nCi0t\r\n--b--";
    let got = FdBody::decode("multipart/mixed;boundary=b", wire.as_bytes()).unwrap();
    assert_eq!(got.signalling, b"\x02\x00\r\n--");
}

/// A body with the given parts (media type, extra header, octets) and boundary `b`.
fn body_of(parts: &[(&str, &str, &str)]) -> Vec<u8> {
    let mut out = String::new();
    for (media, header, octets) in parts {
        out += &format!("--b\r\nContent-Type: {media}\r\n{header}\r\n{octets}\r\n");
    }
    (out + "--b--\r\n").into_bytes()
}

const INFO: &str = "application/vnd.3gpp.mcdata-info+xml";
const SIG: &str = "application/vnd.3gpp.mcdata-signalling";
const RL: &str = "application/resource-lists+xml";
const INFO_1TO1: &str = "<mcdatainfo xmlns='urn:3gpp:ns:mcdataInfo:1.0'><mcdata-Params>\
    <request-type>one-to-one-fd</request-type></mcdata-Params></mcdatainfo>";
const TWO_ENTRIES: &str = "<resource-lists xmlns='urn:ietf:params:xml:ns:resource-lists'><list>\
    <entry uri='sip:a@x'/><entry uri='sip:b@x'/></list></resource-lists>";

fn decode(parts: &[(&str, &str, &str)]) -> Result<FdBody, BodyError> {
    FdBody::decode("multipart/mixed;boundary=b", &body_of(parts))
}

#[test]
fn refusals_and_their_sip_answers() {
    // TS 24.282 clause 4.9 / 10.2.4: 403 with warning 205 when the one-to-one recipient
    // cannot be told; RFC 3261 clause 21.4: 415 for a body type or encoding not
    // understood, 400 for a malformed body.
    let no_boundary = FdBody::decode("multipart/mixed", b"").unwrap_err();
    let cases: Vec<(BodyError, BodyError, u16)> = vec![
        (
            FdBody::decode("application/vnd.3gpp.mcdata-signalling", b"\x02").unwrap_err(),
            BodyError::NotMultipart("application/vnd.3gpp.mcdata-signalling".to_owned()),
            415,
        ),
        (
            FdBody::decode("", b"").unwrap_err(),
            BodyError::NotMultipart(String::new()),
            415,
        ),
        (no_boundary, BodyError::NoBoundary, 400),
        (
            FdBody::decode("multipart/mixed; boundary=\"\"", b"--\r\n").unwrap_err(),
            BodyError::NoBoundary,
            400,
        ),
        (
            FdBody::decode(&format!("multipart/mixed;boundary={}", "x".repeat(71)), b"")
                .unwrap_err(),
            BodyError::NoBoundary,
            400,
        ),
        (
            FdBody::decode("multipart/mixed;boundary=b", b"--b\r\n\r\nno end").unwrap_err(),
            BodyError::Malformed("no close delimiter"),
            400,
        ),
        (
            decode(&[(SIG, "", "x")]).unwrap_err(),
            BodyError::MissingInfo,
            400,
        ),
        (
            decode(&[(INFO, "", INFO_1TO1)]).unwrap_err(),
            BodyError::MissingSignalling,
            400,
        ),
        (
            decode(&[(INFO, "", INFO_1TO1), (SIG, "", "x"), (INFO, "", INFO_1TO1)]).unwrap_err(),
            BodyError::DuplicatePart("mcdata-info"),
            400,
        ),
        (
            decode(&[(INFO, "", INFO_1TO1), (SIG, "", "x"), (SIG, "", "y")]).unwrap_err(),
            BodyError::DuplicatePart("mcdata-signalling"),
            400,
        ),
        (
            decode(&[
                (INFO, "", INFO_1TO1),
                (SIG, "", "x"),
                (RL, "", TWO_ENTRIES),
                (RL, "", TWO_ENTRIES),
            ])
            .unwrap_err(),
            BodyError::DuplicatePart("resource-lists"),
            400,
        ),
        (
            decode(&[
                (INFO, "", INFO_1TO1),
                (SIG, "Content-Transfer-Encoding: quoted-printable\r\n", "x"),
            ])
            .unwrap_err(),
            BodyError::UnsupportedEncoding {
                part: "mcdata-signalling",
                encoding: "quoted-printable".to_owned(),
            },
            415,
        ),
        (
            decode(&[
                (INFO, "", INFO_1TO1),
                (SIG, "Content-Transfer-Encoding: base64\r\n", "!!"),
            ])
            .unwrap_err(),
            BodyError::BadBase64 {
                part: "mcdata-signalling",
            },
            400,
        ),
        (
            decode(&[
                (INFO, "", "<mcdatainfo xmlns='urn:3gpp:ns:mcdataInfo:1.0'>"),
                (SIG, "", "x"),
            ])
            .unwrap_err(),
            BodyError::BadXml {
                part: "mcdata-info",
                reason: "document ends inside an element".to_owned(),
            },
            400,
        ),
        (
            decode(&[
                (INFO, "", "<mcpttinfo xmlns='urn:3gpp:ns:mcpttInfo:1.0'/>"),
                (SIG, "", "x"),
            ])
            .unwrap_err(),
            BodyError::WrongRoot {
                part: "mcdata-info",
                found: "mcpttinfo (other namespace)".to_owned(),
            },
            400,
        ),
        (
            decode(&[
                (INFO, "", INFO_1TO1),
                (SIG, "", "x"),
                (RL, "", "<resource-lists"),
            ])
            .unwrap_err(),
            BodyError::BadXml {
                part: "resource-lists",
                reason: String::new(),
            },
            400,
        ),
        (
            decode(&[(INFO, "", INFO_1TO1), (SIG, "", "x"), (RL, "", TWO_ENTRIES)]).unwrap_err(),
            BodyError::TooManyRecipients(2),
            403,
        ),
        (
            decode(&[(INFO, "", INFO_1TO1), (SIG, "", "x")])
                .unwrap()
                .one_to_one_recipient()
                .unwrap_err(),
            BodyError::MissingResourceLists,
            403,
        ),
    ];
    for (got, expected, status) in cases {
        match (&got, &expected) {
            // quick-xml's wording is its own.
            (BodyError::BadXml { part, .. }, BodyError::BadXml { part: p, reason })
                if reason.is_empty() =>
            {
                assert_eq!(part, p)
            }
            _ => assert_eq!(got, expected),
        }
        assert_eq!(got.sip_status(), status, "{got}");
        let warning = got.warning();
        if status == 403 {
            assert_eq!(
                warning,
                Some((205, "unable to determine targeted user for one-to-one FD"))
            );
        } else {
            assert_eq!(warning, None, "{got}");
        }
    }
}

#[test]
fn recipients_outside_one_to_one() {
    // Two entries are only refused for a one-to-one FD; a group FD or a notification
    // without resource-lists decodes, and one_to_one_recipient says what is missing.
    let group_info = "<mcdatainfo xmlns='urn:3gpp:ns:mcdataInfo:1.0'><mcdata-Params>\
        <request-type>group-fd</request-type></mcdata-Params></mcdatainfo>";
    let got = decode(&[
        (INFO, "", group_info),
        (SIG, "", "x"),
        (RL, "", TWO_ENTRIES),
    ])
    .unwrap();
    assert_eq!(got.recipients, ["sip:a@x", "sip:b@x"]);
    assert_eq!(
        got.one_to_one_recipient(),
        Err(BodyError::TooManyRecipients(2))
    );
    let empty_list =
        "<resource-lists xmlns='urn:ietf:params:xml:ns:resource-lists'><list/></resource-lists>";
    let got = decode(&[(INFO, "", INFO_1TO1), (SIG, "", "x"), (RL, "", empty_list)]).unwrap();
    assert_eq!(
        got.one_to_one_recipient(),
        Err(BodyError::MissingResourceLists)
    );
}

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// A trimmed, non-empty value with XML specials, non-ASCII and inner whitespace.
    fn value(&mut self) -> String {
        const CHARS: [&str; 16] = [
            "a", "Z", "7", ":", "@", ";", "=", "&", "<", ">", "\"", "'", " ", "\t\r\n", "é", "😀",
        ];
        let len = 1 + self.below(12);
        let inner: String = (0..len).map(|_| CHARS[self.below(CHARS.len())]).collect();
        format!("s{inner}e")
    }

    fn maybe(&mut self) -> Option<String> {
        (self.below(3) > 0).then(|| self.value())
    }

    /// Octets biased toward CR, LF, `-` and the boundary prefix.
    fn octets(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        for _ in 0..self.below(40) {
            match self.below(6) {
                0 => out.extend_from_slice(b"\r\n"),
                1 => out.extend_from_slice(b"--"),
                2 => out.extend_from_slice(b"--mcdata-"),
                3 => out.push(b'\n'),
                _ => out.push(self.next().to_le_bytes()[0]),
            }
        }
        out
    }

    fn body(&mut self) -> FdBody {
        let request_type = match self.below(4) {
            0 => None,
            1 => Some(RequestType::OneToOneFd),
            2 => Some(RequestType::GroupFd),
            _ => Some(RequestType::Unknown(self.value())),
        };
        let recipients = match request_type {
            Some(RequestType::OneToOneFd) => self.below(2),
            _ => self.below(4),
        };
        FdBody {
            info: McdataInfo {
                access_token: self.maybe(),
                request_type,
                request_uri: self.maybe(),
                calling_user_id: self.maybe(),
                called_party_id: self.maybe(),
                calling_group_id: self.maybe(),
            },
            signalling: self.octets(),
            recipients: (0..recipients).map(|_| self.value()).collect(),
        }
    }
}

#[test]
fn generated_bodies_round_trip_and_mutations_never_panic() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for _ in 0..300 {
        let body = rng.body();
        let (content_type, bytes) = body.encode();
        assert_eq!(FdBody::decode(&content_type, &bytes).as_ref(), Ok(&body));
        // Truncations and single-octet changes: an error or a body, never a panic.
        for _ in 0..8 {
            let mut mutated = bytes.clone();
            match rng.below(3) {
                0 => mutated.truncate(rng.below(bytes.len() + 1)),
                1 => {
                    let at = rng.below(bytes.len());
                    mutated[at] = rng.next().to_le_bytes()[0];
                }
                _ => mutated.insert(rng.below(bytes.len()), b'\n'),
            }
            let _ = FdBody::decode(&content_type, &mutated);
        }
    }
}
