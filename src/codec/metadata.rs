//! The Metadata IE (0x79): file metadata as UTF-8 text.
//!
//! Coding (our choice): one `key: value` line per present field, LF-terminated, in the
//! order `name`, `size`, `type`, `hash`, `file-date`, `file-availability`,
//! `file-description`. Decoding is lenient where it cannot lose information: CRLF line
//! ends, blank lines and whitespace around keys are accepted, one space after the colon
//! is optional, and lines with unknown keys are ignored. A non-blank line without a colon,
//! a repeated known key, a CR inside a line or a `size` that is not a decimal `u64` is an
//! error. Values that contain CR or LF cannot be encoded.
//!
//! `file-availability` is kept as sent: seconds, or a date. The date form this crate
//! writes ([`FileMetadata::availability_until`]) is RFC 3339 UTC to the second
//! (`2030-01-01T00:00:00Z`): an end of availability that stays true however long the
//! message travels or waits.

use super::error::CodecError;
use super::ie;

/// File metadata carried by an FD request. All fields are optional.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FileMetadata {
    /// `name`: the file name.
    pub name: Option<String>,
    /// `size`: size in octets.
    pub size: Option<u64>,
    /// `type`: the content (MIME) type.
    pub content_type: Option<String>,
    /// `hash`: SHA-256 of the content, hex (not validated).
    pub sha256: Option<String>,
    /// `file-date`: the file's date, as sent.
    pub file_date: Option<String>,
    /// `file-availability`: seconds or an ISO 8601 date string, as sent (see
    /// [`FileMetadata::availability_until`] for the date form).
    pub file_availability: Option<String>,
    /// `file-description`: free text.
    pub file_description: Option<String>,
}

const NAME: &str = "name";
const SIZE: &str = "size";
const TYPE: &str = "type";
const HASH: &str = "hash";
const FILE_DATE: &str = "file-date";
const FILE_AVAILABILITY: &str = "file-availability";
const FILE_DESCRIPTION: &str = "file-description";

impl FileMetadata {
    /// The `file-availability` value of a file available until `unix_secs` (seconds since
    /// the epoch): that time in RFC 3339 UTC, to the second (`2030-01-01T00:00:00Z`).
    pub fn availability_until(unix_secs: u64) -> String {
        crate::support::time::utc_date_time(unix_secs, 'T')
    }

    /// The text coding of this metadata (see the module doc).
    pub fn to_text(&self) -> Result<String, CodecError> {
        let size = self.size.map(|s| s.to_string());
        let fields = [
            (NAME, self.name.as_deref()),
            (SIZE, size.as_deref()),
            (TYPE, self.content_type.as_deref()),
            (HASH, self.sha256.as_deref()),
            (FILE_DATE, self.file_date.as_deref()),
            (FILE_AVAILABILITY, self.file_availability.as_deref()),
            (FILE_DESCRIPTION, self.file_description.as_deref()),
        ];
        let mut out = String::new();
        for (key, value) in fields {
            let Some(value) = value else { continue };
            if value.contains(['\r', '\n']) {
                return Err(CodecError::LineBreak {
                    what: key_what(key),
                });
            }
            out.push_str(key);
            out.push_str(": ");
            out.push_str(value);
            out.push('\n');
        }
        Ok(out)
    }

    /// Parses the text coding (see the module doc).
    pub fn from_text(text: &str) -> Result<Self, CodecError> {
        let mut m = Self::default();
        for (index, raw) in text.split('\n').enumerate() {
            let line = index + 1;
            let bad = |reason| CodecError::BadMetadata { line, reason };
            let content = raw.strip_suffix('\r').unwrap_or(raw);
            if content.trim().is_empty() {
                continue;
            }
            if content.contains('\r') {
                return Err(bad("carriage return inside a line"));
            }
            let (key, value) = content.split_once(':').ok_or(bad("no ':' after the key"))?;
            let value = value.strip_prefix(' ').unwrap_or(value);
            let slot = match key.trim() {
                NAME => &mut m.name,
                TYPE => &mut m.content_type,
                HASH => &mut m.sha256,
                FILE_DATE => &mut m.file_date,
                FILE_AVAILABILITY => &mut m.file_availability,
                FILE_DESCRIPTION => &mut m.file_description,
                SIZE => {
                    let size = value
                        .trim()
                        .parse()
                        .map_err(|_| bad("size is not a decimal u64"))?;
                    if m.size.replace(size).is_some() {
                        return Err(bad("repeated key"));
                    }
                    continue;
                }
                _ => continue,
            };
            if slot.replace(value.to_owned()).is_some() {
                return Err(bad("repeated key"));
            }
        }
        Ok(m)
    }

    pub(crate) fn decode_value(value: &[u8]) -> Result<Self, CodecError> {
        Self::from_text(&ie::utf8(value, ie::name(ie::METADATA))?)
    }

    pub(crate) fn encode_value(&self) -> Result<Vec<u8>, CodecError> {
        self.to_text().map(String::into_bytes)
    }
}

fn key_what(key: &str) -> &'static str {
    match key {
        NAME => "metadata name",
        SIZE => "metadata size",
        TYPE => "metadata type",
        HASH => "metadata hash",
        FILE_DATE => "metadata file-date",
        FILE_AVAILABILITY => "metadata file-availability",
        _ => "metadata file-description",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full() -> FileMetadata {
        FileMetadata {
            name: Some("report.pdf".into()),
            size: Some(123_456),
            content_type: Some("application/pdf".into()),
            sha256: Some("ab".repeat(32)),
            file_date: Some("1700000000".into()),
            file_availability: Some("2030-01-01T00:00:00Z".into()),
            file_description: Some("  quarterly: numbers ".into()),
        }
    }

    #[test]
    fn text_round_trip() {
        let m = full();
        let text = m.to_text().unwrap();
        assert!(text.starts_with("name: report.pdf\nsize: 123456\ntype: application/pdf\n"));
        assert!(text.ends_with("file-description:   quarterly: numbers \n"));
        assert_eq!(FileMetadata::from_text(&text), Ok(m));
        assert_eq!(FileMetadata::default().to_text(), Ok(String::new()));
        assert_eq!(FileMetadata::from_text(""), Ok(FileMetadata::default()));
    }

    /// A name in any script travels as the UTF-8 it is (the IE is UTF-8 text), through
    /// the IE's value coding and back.
    #[test]
    fn non_ascii_names_round_trip() {
        let m = FileMetadata {
            name: Some("Einsatzbericht_München_화재.pdf".into()),
            ..FileMetadata::default()
        };
        let value = m.encode_value().unwrap();
        assert_eq!(
            value,
            "name: Einsatzbericht_München_화재.pdf\n"
                .as_bytes()
                .to_vec()
        );
        assert_eq!(FileMetadata::decode_value(&value), Ok(m));
    }

    #[test]
    fn availability_dates() {
        let at = FileMetadata::availability_until;
        assert_eq!(at(0), "1970-01-01T00:00:00Z");
        assert_eq!(at(951_825_600), "2000-02-29T12:00:00Z");
        assert_eq!(at(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(at(1_709_251_199), "2024-02-29T23:59:59Z");
        assert_eq!(at(4_102_444_800), "2100-01-01T00:00:00Z");
        assert_eq!(at(253_402_300_799), "9999-12-31T23:59:59Z");
        // Beyond RFC 3339's years: more digits, no panic.
        assert!(at(u64::MAX).ends_with('Z'));
        // It travels in the IE like any other value.
        let m = FileMetadata {
            file_availability: Some(at(1_700_000_000)),
            ..FileMetadata::default()
        };
        let value = m.encode_value().unwrap();
        assert_eq!(value, b"file-availability: 2023-11-14T22:13:20Z\n".to_vec());
        assert_eq!(FileMetadata::decode_value(&value), Ok(m));
    }

    #[test]
    fn lenient_decoding() {
        let m = FileMetadata::from_text("\r\n  name :x\r\nx-custom: 1\n\nsize:  7 \n").unwrap();
        assert_eq!(m.name.as_deref(), Some("x"));
        assert_eq!(m.size, Some(7));
        assert_eq!(m.content_type, None);
    }

    #[test]
    fn malformed_lines() {
        let err = |text| FileMetadata::from_text(text).unwrap_err();
        assert_eq!(
            err("name: a\nno colon here"),
            CodecError::BadMetadata {
                line: 2,
                reason: "no ':' after the key"
            }
        );
        assert!(matches!(
            err("size: -1"),
            CodecError::BadMetadata { line: 1, .. }
        ));
        assert!(matches!(
            err("size: 1\nsize: 1"),
            CodecError::BadMetadata { line: 2, .. }
        ));
        assert!(matches!(
            err("name: a\nname: a"),
            CodecError::BadMetadata { line: 2, .. }
        ));
        assert!(matches!(
            err("name: a\rb"),
            CodecError::BadMetadata { line: 1, .. }
        ));
        assert!(matches!(
            FileMetadata::decode_value(&[b'n', 0xFF]),
            Err(CodecError::InvalidUtf8 { .. })
        ));
    }

    #[test]
    fn line_breaks_cannot_be_encoded() {
        let m = FileMetadata {
            file_description: Some("a\nb".into()),
            ..FileMetadata::default()
        };
        assert_eq!(
            m.to_text(),
            Err(CodecError::LineBreak {
                what: "metadata file-description"
            })
        );
    }
}
