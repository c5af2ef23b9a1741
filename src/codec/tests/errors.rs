//! Skip rules for unknown optional IEs, duplicates, reserved values and other errors.

use super::super::*;
use super::vectors::{
    network, network_bytes, notification, notification_bytes, signalling, signalling_bytes,
};
use super::{assert_reencodes, decoded};

/// Unknown IEs of the skippable classes: half-octet (high bit set) and TLV-E
/// (0x5_ and 0x7_).
const SKIPPABLE: [&[u8]; 6] = [
    &[0xB7],                               // unknown half-octet IE
    &[0x83],                               // unknown half-octet IE
    &[0x5F, 0x00, 0x02, 0x01, 0x02],       // unknown TLV-E in 0x50..=0x5F
    &[0x70, 0x00, 0x00],                   // unknown TLV-E in 0x70..=0x7F, empty
    &[0x7F, 0x00, 0x03, 0x21, 0x22, 0x23], // its value looks like IEIs: not parsed
    &[0x55, 0x01, 0x00],                   // 256-octet TLV-E, value appended below
];

fn with_unknown_ies(bytes: &[u8], header_len: usize) -> Vec<u8> {
    let (head, tail) = bytes.split_at(header_len);
    let mut out = head.to_vec();
    for ie in SKIPPABLE {
        out.extend_from_slice(ie);
    }
    out.extend_from_slice(&[0xAB; 256]);
    out.extend_from_slice(tail);
    out.extend_from_slice(&[0xF0, 0x72, 0x00, 0x01, 0x00]); // half-octet 0xF0, TLV-E 0x72
    out
}

#[test]
fn unknown_skippable_ies_are_skipped() {
    let bytes = with_unknown_ies(&signalling_bytes(), 38);
    assert_eq!(decoded(&bytes), Message::Signalling(signalling()));
    let bytes = with_unknown_ies(&notification_bytes(), 39);
    assert_eq!(decoded(&bytes), Message::Notification(notification()));
    let bytes = with_unknown_ies(&network_bytes(), 39);
    assert_eq!(decoded(&bytes), Message::NetworkNotification(network()));
}

#[test]
fn ies_a_message_does_not_carry_are_skipped() {
    // A notification with InReplyTo (0x21), application ID (0x22), 0x91, 0xA1 and a payload.
    let extra: &[u8] = &[
        0x21, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, // TV, 17 octets
        0x22, 0x09, // TV, 2 octets
        0x91, 0xA1, // half-octet IEs
        0x78, 0x00, 0x02, 0x04, b'x', // payload
    ];
    let bytes = [&notification_bytes()[..], extra].concat();
    assert_eq!(decoded(&bytes), Message::Notification(notification()));
    let bytes = [&network_bytes()[..], extra].concat();
    assert_eq!(decode(&bytes), Err(CodecError::DuplicateIe(0x78)));
    let bytes = [&network_bytes()[..], extra.get(..21).unwrap_or_default()].concat();
    assert_eq!(decoded(&bytes), Message::NetworkNotification(network()));
}

#[test]
fn unmeasurable_ies_are_rejected() {
    for iei in [0x20, 0x23, 0x2F, 0x00, 0x1F, 0x30, 0x4F, 0x60, 0x6F] {
        for base in [signalling_bytes(), notification_bytes(), network_bytes()] {
            let bytes = [&base[..], &[iei, 0x00, 0x00]].concat();
            assert_eq!(
                decode(&bytes),
                Err(CodecError::UnknownIei(iei)),
                "IEI 0x{iei:02X}"
            );
        }
    }
}

#[test]
fn known_ies_twice_are_rejected() {
    let twice = |base: Vec<u8>, ie: &[u8]| [&base[..], ie].concat();
    assert_eq!(
        decode(&twice(signalling_bytes(), &[0x91])),
        Err(CodecError::DuplicateIe(0x90))
    );
    assert_eq!(
        decode(&twice(signalling_bytes(), &[0xA1])),
        Err(CodecError::DuplicateIe(0xA0))
    );
    assert_eq!(
        decode(&twice(signalling_bytes(), &[0x22, 0x05])),
        Err(CodecError::DuplicateIe(0x22))
    );
    let sender: &[u8] = &[0x51, 0x00, 0x01, b'x'];
    assert_eq!(
        decode(&twice(signalling_bytes(), sender)),
        Err(CodecError::DuplicateIe(0x51))
    );
    assert_eq!(
        decode(&twice(notification_bytes(), sender)),
        Err(CodecError::DuplicateIe(0x51))
    );
    assert_eq!(
        decode(&twice(network_bytes(), sender)),
        Err(CodecError::DuplicateIe(0x51))
    );
}

#[test]
fn reserved_values_are_rejected() {
    let header = FdSignalling::default().encode().unwrap();
    let with = |ie: &[u8]| [&header[..], ie].concat();
    assert!(matches!(
        decode(&with(&[0x92])),
        Err(CodecError::BadValue { value: 2, .. })
    ));
    assert!(matches!(
        decode(&with(&[0x90])),
        Err(CodecError::BadValue { value: 0, .. })
    ));
    assert!(matches!(
        decode(&with(&[0xA0])),
        Err(CodecError::BadValue { value: 0, .. })
    ));

    for disposition in [0, 5, 0xFF] {
        let mut bytes = notification_bytes();
        bytes[1] = disposition;
        assert!(matches!(decode(&bytes), Err(CodecError::BadValue { .. })));
    }
    for kind in [0, 3] {
        let mut bytes = network_bytes();
        bytes[1] = kind;
        assert!(matches!(decode(&bytes), Err(CodecError::BadValue { .. })));
    }
}

#[test]
fn malformed_values_are_rejected() {
    let header = FdSignalling::default().encode().unwrap();
    let with = |ie: &[u8]| [&header[..], ie].concat();
    // Bad UTF-8 where text is required.
    assert!(matches!(
        decode(&with(&[0x51, 0x00, 0x01, 0xFF])),
        Err(CodecError::InvalidUtf8 { .. })
    ));
    assert!(matches!(
        decode(&with(&[0x78, 0x00, 0x02, 0x04, 0xC3])),
        Err(CodecError::InvalidUtf8 { .. })
    ));
    assert!(matches!(
        decode(&with(&[0x79, 0x00, 0x01, 0x80])),
        Err(CodecError::InvalidUtf8 { .. })
    ));
    // Non-FILEURL payloads are raw.
    assert!(decode(&with(&[0x78, 0x00, 0x02, 0x02, 0xC3])).is_ok());
    // A payload needs its content type octet.
    assert!(matches!(
        decode(&with(&[0x78, 0x00, 0x00])),
        Err(CodecError::Truncated { .. })
    ));
    // Malformed metadata text.
    assert!(matches!(
        decode(&with(&[0x79, 0x00, 0x03, b'a', b'b', b'c'])),
        Err(CodecError::BadMetadata { line: 1, .. })
    ));
    // Length past the end.
    assert!(matches!(
        decode(&with(&[0x53, 0x00, 0x05, 1, 2])),
        Err(CodecError::Truncated { .. })
    ));
    assert!(matches!(
        decode(&with(&[0x53, 0xFF, 0xFF])),
        Err(CodecError::Truncated { .. })
    ));
}

#[test]
fn message_type_errors() {
    assert!(matches!(decode(&[]), Err(CodecError::Truncated { .. })));
    assert_eq!(decode(&[0x0D]), Err(CodecError::UnknownMessageType(13)));
    assert_eq!(decode(&[0xC0]), Err(CodecError::UnknownMessageType(0)));
    assert_eq!(
        FdSignalling::decode(&notification_bytes()),
        Err(CodecError::WrongMessageType {
            expected: 2,
            found: 6
        })
    );
    assert_eq!(
        FdNotification::decode(&network_bytes()),
        Err(CodecError::WrongMessageType {
            expected: 6,
            found: 9
        })
    );
    assert_eq!(
        FdNetworkNotification::decode(&signalling_bytes()),
        Err(CodecError::WrongMessageType {
            expected: 9,
            found: 2
        })
    );
}

#[test]
fn encode_errors() {
    let mut m = FdSignalling::new(MAX_DATE_TIME + 1, uuid::Uuid::nil(), uuid::Uuid::nil());
    assert!(matches!(m.encode(), Err(CodecError::BadValue { .. })));
    m.date_time = MAX_DATE_TIME;
    assert!(m.encode().is_ok());

    m.app_metadata = Some(vec![0; MAX_TLV_E_LEN + 1]);
    assert!(matches!(
        m.encode(),
        Err(CodecError::TooLong {
            len: 65536,
            max: 65535,
            ..
        })
    ));
    m.app_metadata = Some(vec![0; MAX_TLV_E_LEN]);
    assert!(assert_reencodes(&m.encode().unwrap()));

    // The payload value includes its content type octet.
    m.payload = Some(Payload::new(ContentType::Binary, vec![0; MAX_TLV_E_LEN]));
    assert!(matches!(m.encode(), Err(CodecError::TooLong { .. })));
    m.payload = Some(Payload::new(ContentType::Other(4), vec![]));
    assert!(matches!(
        m.encode(),
        Err(CodecError::BadValue { value: 4, .. })
    ));
    m.payload = Some(Payload::new(ContentType::FileUrl, vec![0xFF]));
    assert!(matches!(m.encode(), Err(CodecError::InvalidUtf8 { .. })));
    m.payload = None;

    m.metadata = Some(FileMetadata {
        name: Some("a\nb".into()),
        ..FileMetadata::default()
    });
    assert!(matches!(m.encode(), Err(CodecError::LineBreak { .. })));

    let mut n = notification();
    n.sender = Some("x".repeat(MAX_TLV_E_LEN + 1));
    assert!(matches!(n.encode(), Err(CodecError::TooLong { .. })));
}

#[test]
fn content_types() {
    for v in 0..=u8::MAX {
        assert_eq!(ContentType::from_u8(v).to_u8(), v);
    }
    assert_eq!(ContentType::from(4), ContentType::FileUrl);
    assert_eq!(ContentType::from(9), ContentType::Other(9));
    assert_eq!(
        Payload::new(ContentType::Text, b"hi".to_vec()).as_file_url(),
        None
    );
}
