//! Hand-written byte vectors for the three messages.

use uuid::Uuid;

use super::super::*;
use super::{assert_prefixes, decoded};

const CONVERSATION: u128 = 0x0011_2233_4455_6677_8899_AABB_CCDD_EEFF;
const MESSAGE: u128 = 0x0123_4567_89AB_CDEF_FEDC_BA98_7654_3210;
const REPLY_TO: u128 = 0x1011_1213_1415_1617_1819_1A1B_1C1D_1E1F;
const URL: &str = "http://p:8080/files/1";

pub(super) fn signalling_bytes() -> Vec<u8> {
    [
        &[0xC2][..],                     // message type 2, protected (0x40), authenticated (0x80)
        &[0x00, 0x65, 0x53, 0xF1, 0x00], // date and time 1_700_000_000
        &[0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77], // conversation ID
        &[0x88, 0x99, 0xAA, 0xBB, 0xCC, 0xDD, 0xEE, 0xFF],
        &[0x01, 0x23, 0x45, 0x67, 0x89, 0xAB, 0xCD, 0xEF], // message ID
        &[0xFE, 0xDC, 0xBA, 0x98, 0x76, 0x54, 0x32, 0x10],
        &[0x21], // InReplyTo message ID, TV
        &[0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17],
        &[0x18, 0x19, 0x1A, 0x1B, 0x1C, 0x1D, 0x1E, 0x1F],
        &[0x22, 0x05],            // application ID 5, TV
        &[0x91],                  // FD disposition request type: FILE DOWNLOAD COMPLETED UPDATE
        &[0xA1],                  // mandatory download
        &[0x78, 0x00, 0x16],      // payload, TLV-E, 22 octets
        &[0x04],                  // content type FILEURL
        b"http://p:8080/files/1", // 21 octets of URL
        &[0x79, 0x00, 0x14],      // metadata, TLV-E, 20 octets
        b"name: a.txt\n",         // 12
        b"size: 3\n",             // 8
        &[0x51, 0x00, 0x05],      // sender MCData user ID, TLV-E, 5 octets
        b"alice",
        &[0x53, 0x00, 0x02, 0xDE, 0xAD], // application metadata container
        &[0x7D, 0x00, 0x01, 0x07],       // extended application ID
        &[0x7E, 0x00, 0x03, 0x01, 0x02, 0x03], // user location
    ]
    .concat()
}

pub(super) fn signalling() -> FdSignalling {
    FdSignalling {
        protected: true,
        authenticated: true,
        date_time: 1_700_000_000,
        conversation_id: Uuid::from_u128(CONVERSATION),
        message_id: Uuid::from_u128(MESSAGE),
        in_reply_to: Some(Uuid::from_u128(REPLY_TO)),
        application_id: Some(5),
        disposition_request: Some(DispositionRequest::FileDownloadCompletedUpdate),
        mandatory_download: true,
        payload: Some(Payload::file_url(URL)),
        metadata: Some(FileMetadata {
            name: Some("a.txt".into()),
            size: Some(3),
            ..FileMetadata::default()
        }),
        sender: Some("alice".into()),
        app_metadata: Some(vec![0xDE, 0xAD]),
        extended_application_id: Some(vec![0x07]),
        user_location: Some(vec![1, 2, 3]),
    }
}

/// Lengths at which a prefix of [`signalling_bytes`] ends between optional IEs.
const SIGNALLING_IE_ENDS: [usize; 11] = [38, 55, 57, 58, 59, 84, 107, 115, 120, 124, 130];

pub(super) fn notification_bytes() -> Vec<u8> {
    [
        &[0x86][..],                                       // message type 6, authenticated (0x80)
        &[0x03], // disposition notification type: FILE DOWNLOAD COMPLETED
        &[0x00, 0x65, 0x53, 0xF1, 0x3C], // date and time 1_700_000_060
        &[0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77], // conversation ID
        &[0x88, 0x99, 0xAA, 0xBB, 0xCC, 0xDD, 0xEE, 0xFF],
        &[0x01, 0x23, 0x45, 0x67, 0x89, 0xAB, 0xCD, 0xEF], // message ID of the request
        &[0xFE, 0xDC, 0xBA, 0x98, 0x76, 0x54, 0x32, 0x10],
        &[0x51, 0x00, 0x03], // sender MCData user ID, TLV-E, 3 octets
        b"bob",
        &[0x53, 0x00, 0x01, 0xFF],       // application metadata container
        &[0x7D, 0x00, 0x02, 0x00, 0x01], // extended application ID
        &[0x7E, 0x00, 0x00],             // user location, empty
    ]
    .concat()
}

pub(super) fn notification() -> FdNotification {
    FdNotification {
        protected: false,
        authenticated: true,
        disposition: Disposition::FileDownloadCompleted,
        date_time: 1_700_000_060,
        conversation_id: Uuid::from_u128(CONVERSATION),
        message_id: Uuid::from_u128(MESSAGE),
        sender: Some("bob".into()),
        app_metadata: Some(vec![0xFF]),
        extended_application_id: Some(vec![0x00, 0x01]),
        user_location: Some(vec![]),
    }
}

const NOTIFICATION_IE_ENDS: [usize; 5] = [39, 45, 49, 54, 57];

pub(super) fn network_bytes() -> Vec<u8> {
    [
        &[0x49][..],                                       // message type 9, protected (0x40)
        &[0x02], // notification type: FILE DELETED UNAVAILABLE TO DOWNLOAD
        &[0x00, 0x65, 0x53, 0xF1, 0x00], // date and time 1_700_000_000
        &[0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77], // conversation ID
        &[0x88, 0x99, 0xAA, 0xBB, 0xCC, 0xDD, 0xEE, 0xFF],
        &[0x01, 0x23, 0x45, 0x67, 0x89, 0xAB, 0xCD, 0xEF], // message ID
        &[0xFE, 0xDC, 0xBA, 0x98, 0x76, 0x54, 0x32, 0x10],
        &[0x78, 0x00, 0x16], // payload, TLV-E, 22 octets
        &[0x04],             // content type FILEURL
        b"http://p:8080/files/1",
        &[0x51, 0x00, 0x06], // sender MCData user ID, TLV-E, 6 octets
        b"server",
    ]
    .concat()
}

pub(super) fn network() -> FdNetworkNotification {
    FdNetworkNotification {
        protected: true,
        authenticated: false,
        kind: NetworkNotificationKind::FileDeleted,
        date_time: 1_700_000_000,
        conversation_id: Uuid::from_u128(CONVERSATION),
        message_id: Uuid::from_u128(MESSAGE),
        payload: Some(Payload::file_url(URL)),
        sender: Some("server".into()),
    }
}

const NETWORK_IE_ENDS: [usize; 3] = [39, 64, 73];

#[test]
fn signalling_vector() {
    let bytes = signalling_bytes();
    assert_eq!(bytes.len(), 130);
    assert_eq!(FdSignalling::decode(&bytes), Ok(signalling()));
    assert_eq!(decoded(&bytes), Message::Signalling(signalling()));
    assert_eq!(signalling().encode(), Ok(bytes.clone()));
    assert_eq!(Message::from(signalling()).encode(), Ok(bytes));
}

#[test]
fn notification_vector() {
    let bytes = notification_bytes();
    assert_eq!(bytes.len(), 57);
    assert_eq!(FdNotification::decode(&bytes), Ok(notification()));
    assert_eq!(decoded(&bytes), Message::Notification(notification()));
    assert_eq!(notification().encode(), Ok(bytes));
}

#[test]
fn network_notification_vector() {
    let bytes = network_bytes();
    assert_eq!(bytes.len(), 73);
    assert_eq!(FdNetworkNotification::decode(&bytes), Ok(network()));
    assert_eq!(decoded(&bytes), Message::NetworkNotification(network()));
    assert_eq!(network().encode(), Ok(bytes));
    assert_eq!(network().file_url(), Some(URL));
}

#[test]
fn minimal_messages() {
    let ids = [
        &[0x00, 0x00, 0x00, 0x00, 0x2A][..], // date and time 42
        &[0x00; 16],                         // conversation ID (nil)
        &[0xFF; 16],                         // message ID (max)
    ]
    .concat();
    let m = FdSignalling::new(42, Uuid::nil(), Uuid::max());
    let bytes = [&[0x02][..], &ids].concat();
    assert_eq!(m.encode(), Ok(bytes.clone()));
    assert_eq!(decoded(&bytes), Message::Signalling(m));

    let m = FdNotification::new(Disposition::Deferred, 42, Uuid::nil(), Uuid::max());
    let bytes = [&[0x06, 0x04][..], &ids].concat();
    assert_eq!(m.encode(), Ok(bytes.clone()));
    assert_eq!(decoded(&bytes), Message::Notification(m));

    let m = FdNetworkNotification::new(
        NetworkNotificationKind::FileExpired,
        42,
        Uuid::nil(),
        Uuid::max(),
    );
    let bytes = [&[0x09, 0x01][..], &ids].concat();
    assert_eq!(m.encode(), Ok(bytes.clone()));
    let d = decoded(&bytes);
    assert_eq!(
        (d.message_type(), d.date_time(), d.message_id()),
        (9, 42, Uuid::max())
    );
    assert_eq!(d, Message::NetworkNotification(m));
}

#[test]
fn every_prefix_is_an_error_unless_it_ends_an_ie() {
    assert_prefixes(&signalling_bytes(), &SIGNALLING_IE_ENDS);
    assert_prefixes(&notification_bytes(), &NOTIFICATION_IE_ENDS);
    assert_prefixes(&network_bytes(), &NETWORK_IE_ENDS);
}

#[test]
fn file_url_rewrite_changes_the_tlv_e_length() {
    const PAYLOAD_AT: usize = 59; // offset of IEI 0x78 in the signalling vector
    const PARTNER: &str = "http://partner:8081/";
    let before = signalling_bytes();
    let mut m = FdSignalling::decode(&before).unwrap();
    assert_eq!(m.file_url(), Some(URL));
    let prefixed = format!("{PARTNER}{URL}");
    m.set_file_url(&prefixed);
    let after = m.encode().unwrap();

    assert_eq!(after.len(), before.len() + PARTNER.len());
    assert_eq!(after.get(..PAYLOAD_AT), before.get(..PAYLOAD_AT));
    let new_len = u16::try_from(1 + prefixed.len()).unwrap().to_be_bytes();
    assert_eq!(
        after.get(PAYLOAD_AT..PAYLOAD_AT + 4),
        Some(&[0x78, new_len[0], new_len[1], 0x04][..])
    );
    assert_eq!(new_len, [0x00, 0x2A]); // 1 + 20 + 21
    let url_end = PAYLOAD_AT + 4 + prefixed.len();
    assert_eq!(
        after.get(PAYLOAD_AT + 4..url_end),
        Some(prefixed.as_bytes())
    );
    assert_eq!(
        after.get(url_end..),
        before.get(PAYLOAD_AT + 4 + URL.len()..)
    );

    let again = FdSignalling::decode(&after).unwrap();
    assert_eq!(again.file_url(), Some(prefixed.as_str()));
    assert_eq!(again, m);

    // Back: removing the prefix restores the original bytes.
    let mut back = again;
    back.set_file_url(prefixed.strip_prefix(PARTNER).unwrap());
    assert_eq!(back.encode(), Ok(before));

    // Same rewrite on the network notification, whose payload starts at 39.
    let mut n = network();
    n.set_file_url(&prefixed);
    let bytes = n.encode().unwrap();
    assert_eq!(bytes.len(), network_bytes().len() + PARTNER.len());
    assert_eq!(bytes.get(39..42), Some(&[0x78, 0x00, 0x2A][..]));
    assert_eq!(
        FdNetworkNotification::decode(&bytes).unwrap().file_url(),
        Some(prefixed.as_str())
    );
}
