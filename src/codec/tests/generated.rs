//! Generated messages (deterministic xorshift), truncations and random input.

use uuid::Uuid;

use super::super::*;
use super::{assert_prefixes, assert_reencodes, decoded};

const ITERATIONS: usize = 500;

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn index(&mut self, n: usize) -> usize {
        usize::try_from(self.below(n as u64)).unwrap()
    }

    fn bool(&mut self) -> bool {
        self.next() & 1 == 1
    }

    fn octet(&mut self) -> u8 {
        self.next().to_le_bytes()[0]
    }

    fn uuid(&mut self) -> Uuid {
        Uuid::from_u128(u128::from(self.next()) << 64 | u128::from(self.next()))
    }

    fn opt<T>(&mut self, f: impl FnOnce(&mut Self) -> T) -> Option<T> {
        if self.bool() {
            Some(f(self))
        } else {
            None
        }
    }

    /// Mostly short, sometimes a few thousand octets.
    fn octets(&mut self) -> Vec<u8> {
        let len = if self.below(40) == 0 {
            self.index(5000)
        } else {
            self.index(40)
        };
        (0..len).map(|_| self.octet()).collect()
    }

    /// Text without line breaks, with spaces, colons and non-ASCII characters.
    fn text(&mut self) -> String {
        const CHARS: [char; 12] = [
            'a', 'Z', '0', ' ', ':', '/', '.', '-', 'é', '日', '\t', '🦀',
        ];
        let len = self.index(30);
        (0..len).map(|_| CHARS[self.index(CHARS.len())]).collect()
    }

    fn date_time(&mut self) -> u64 {
        if self.bool() {
            self.next() & MAX_DATE_TIME
        } else {
            1_600_000_000 + self.below(400_000_000)
        }
    }

    fn payload(&mut self) -> Payload {
        let content_type = ContentType::from_u8(self.octet() % 12);
        let data = match content_type {
            ContentType::FileUrl => format!("http://h/{}", self.text()).into_bytes(),
            _ => self.octets(),
        };
        Payload::new(content_type, data)
    }

    fn metadata(&mut self) -> FileMetadata {
        FileMetadata {
            name: self.opt(Self::text),
            size: self.opt(Self::next),
            content_type: self.opt(Self::text),
            sha256: self.opt(Self::text),
            file_date: self.opt(Self::text),
            file_availability: self.opt(Self::text),
            file_description: self.opt(Self::text),
        }
    }

    fn signalling(&mut self) -> FdSignalling {
        FdSignalling {
            protected: self.bool(),
            authenticated: self.bool(),
            date_time: self.date_time(),
            conversation_id: self.uuid(),
            message_id: self.uuid(),
            in_reply_to: self.opt(Self::uuid),
            application_id: self.opt(Self::octet),
            disposition_request: self.opt(|_| DispositionRequest::FileDownloadCompletedUpdate),
            mandatory_download: self.bool(),
            payload: self.opt(Self::payload),
            metadata: self.opt(Self::metadata),
            sender: self.opt(Self::text),
            app_metadata: self.opt(Self::octets),
            extended_application_id: self.opt(Self::octets),
            user_location: self.opt(Self::octets),
        }
    }

    fn notification(&mut self) -> FdNotification {
        const ALL: [Disposition; 4] = [
            Disposition::Accepted,
            Disposition::Rejected,
            Disposition::FileDownloadCompleted,
            Disposition::Deferred,
        ];
        FdNotification {
            protected: self.bool(),
            authenticated: self.bool(),
            disposition: ALL[self.index(ALL.len())],
            date_time: self.date_time(),
            conversation_id: self.uuid(),
            message_id: self.uuid(),
            sender: self.opt(Self::text),
            app_metadata: self.opt(Self::octets),
            extended_application_id: self.opt(Self::octets),
            user_location: self.opt(Self::octets),
        }
    }

    fn network(&mut self) -> FdNetworkNotification {
        FdNetworkNotification {
            protected: self.bool(),
            authenticated: self.bool(),
            kind: if self.bool() {
                NetworkNotificationKind::FileExpired
            } else {
                NetworkNotificationKind::FileDeleted
            },
            date_time: self.date_time(),
            conversation_id: self.uuid(),
            message_id: self.uuid(),
            payload: self.opt(Self::payload),
            sender: self.opt(Self::text),
        }
    }
}

/// Encodes, checks the per-type and generic decoders give `m` back, returns the octets.
fn round_trip(m: Message) -> Vec<u8> {
    let bytes = m
        .encode()
        .unwrap_or_else(|e| panic!("{m:?} does not encode: {e}"));
    assert_eq!(decoded(&bytes), m);
    let again = match &m {
        Message::Signalling(_) => FdSignalling::decode(&bytes).map(Message::from),
        Message::Notification(_) => FdNotification::decode(&bytes).map(Message::from),
        Message::NetworkNotification(_) => FdNetworkNotification::decode(&bytes).map(Message::from),
    };
    assert_eq!(again, Ok(m));
    bytes
}

#[test]
fn generated_signalling_round_trips() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for _ in 0..ITERATIONS {
        round_trip(rng.signalling().into());
    }
}

#[test]
fn generated_notification_round_trips() {
    let mut rng = Rng(0xD1B5_4A32_D192_ED03);
    for _ in 0..ITERATIONS {
        round_trip(rng.notification().into());
    }
}

#[test]
fn generated_network_notification_round_trips() {
    let mut rng = Rng(0x8CB9_2BA7_2F3D_8DD7);
    for _ in 0..ITERATIONS {
        round_trip(rng.network().into());
    }
}

/// Every prefix of generated messages fails or ends exactly at an IE boundary.
#[test]
fn truncations_of_generated_messages() {
    let mut rng = Rng(0x1234_5678_9ABC_DEF1);
    for i in 0..60 {
        let m: Message = match i % 3 {
            0 => rng.signalling().into(),
            1 => rng.notification().into(),
            _ => rng.network().into(),
        };
        let bytes = m.encode().unwrap();
        for n in 0..bytes.len() {
            let prefix = bytes.get(..n).unwrap_or_default();
            if let Ok(shorter) = decode(prefix) {
                assert_eq!(shorter.encode().as_deref(), Ok(prefix));
            }
        }
    }
    // The header alone is always required.
    assert_prefixes(&FdSignalling::default().encode().unwrap(), &[]);
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = Rng(0xC0FF_EE00_DEAD_BEEF);
    let mut ok = 0;
    for _ in 0..5000 {
        let len = rng.index(160);
        let mut bytes: Vec<u8> = (0..len).map(|_| rng.octet()).collect();
        // Half the time start like a real message so decoding gets past the header.
        if rng.bool() {
            if let Some(first) = bytes.first_mut() {
                *first = [0x02, 0x46, 0x89, 0xC2][rng.index(4)];
            }
            if let Some(second) = bytes.get_mut(1) {
                *second = 1 + rng.octet() % 2;
            }
        }
        ok += usize::from(assert_reencodes(&bytes));
    }
    eprintln!("random: {ok} of 5000 decoded");
    assert!(
        ok > 0,
        "no random input decoded: the re-encode check never ran"
    );
}

#[test]
fn mutated_messages_never_panic() {
    let mut rng = Rng(0x0BAD_5EED_0BAD_5EED);
    let mut ok = 0;
    for i in 0..3000 {
        let m: Message = match i % 3 {
            0 => rng.signalling().into(),
            1 => rng.notification().into(),
            _ => rng.network().into(),
        };
        let mut bytes = m.encode().unwrap();
        for _ in 0..1 + rng.index(4) {
            let at = rng.index(bytes.len());
            match rng.below(3) {
                0 => bytes[at] = rng.octet(),
                1 => bytes.insert(at, rng.octet()),
                _ => {
                    bytes.remove(at);
                }
            }
        }
        ok += usize::from(assert_reencodes(&bytes));
    }
    eprintln!("mutated: {ok} of 3000 decoded");
    assert!(ok > 300, "too few mutated messages decoded ({ok})");
}
