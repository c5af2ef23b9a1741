//! A server-sent events parser (the `text/event-stream` format of the WHATWG HTML
//! standard), as a pure function over byte chunks: feed it whatever the body frames hold
//! and it hands back the events completed so far. Events may be split anywhere across
//! chunks (even inside a `\r\n` or a UTF-8 sequence), several may share a chunk, lines end
//! with `\n`, `\r\n` or `\r`, comment lines (`: keep-alive`) are skipped, `retry:` sets the
//! reconnection time, several `data:` lines are joined with `\n`, and the last `id:` seen
//! sticks to the events that follow (as `Last-Event-ID` would).

use std::time::Duration;

/// Longest line, and longest `data` of one event, we accept: far above any FD event, low
/// enough that a broken server cannot make us buffer without end.
pub const MAX_LINE: usize = 4 * 1024 * 1024;

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// The last event ID at dispatch time (`None` if none was ever set, or it was reset
    /// with an empty `id:`).
    pub id: Option<String>,
    /// The `event:` name, `message` when the event had none.
    pub event: String,
    /// The `data:` lines joined with `\n`.
    pub data: String,
}

/// The stream went beyond [`MAX_LINE`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("event stream line or event longer than {MAX_LINE} bytes")]
pub struct TooLong;

/// Parser state between chunks.
#[derive(Debug, Default)]
pub struct SseParser {
    line: Vec<u8>,
    /// The previous chunk ended with `\r`: a `\n` starting the next one belongs to it.
    after_cr: bool,
    /// At least one line was seen (a byte order mark is only skipped on the first).
    seen_line: bool,
    event: String,
    data: String,
    last_id: String,
    retry: Option<Duration>,
    comments: u64,
}

impl SseParser {
    pub fn new() -> SseParser {
        SseParser::default()
    }

    /// The reconnection time the server asked for with `retry:`.
    pub fn retry(&self) -> Option<Duration> {
        self.retry
    }

    /// The last event ID seen so far (even on an event not yet dispatched).
    pub fn last_id(&self) -> Option<&str> {
        Some(self.last_id.as_str()).filter(|s| !s.is_empty())
    }

    /// How many comment lines were seen (keep-alives).
    pub fn comments(&self) -> u64 {
        self.comments
    }

    /// Feed the next bytes; returns the events they complete, in order.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<Vec<SseEvent>, TooLong> {
        let mut out = Vec::new();
        let mut rest = chunk;
        if self.after_cr && !rest.is_empty() {
            self.after_cr = false;
            if rest[0] == b'\n' {
                rest = &rest[1..];
            }
        }
        while let Some(i) = rest.iter().position(|&b| b == b'\n' || b == b'\r') {
            self.push_line_bytes(&rest[..i])?;
            let line = std::mem::take(&mut self.line);
            if let Some(ev) = self.line_done(&line)? {
                out.push(ev);
            }
            self.line = line;
            self.line.clear();
            let ended_by_cr = rest[i] == b'\r';
            rest = &rest[i + 1..];
            if ended_by_cr {
                match rest.first() {
                    Some(b'\n') => rest = &rest[1..],
                    Some(_) => {}
                    None => self.after_cr = true,
                }
            }
        }
        self.push_line_bytes(rest)?;
        Ok(out)
    }

    fn push_line_bytes(&mut self, bytes: &[u8]) -> Result<(), TooLong> {
        if self.line.len() + bytes.len() > MAX_LINE {
            return Err(TooLong);
        }
        self.line.extend_from_slice(bytes);
        Ok(())
    }

    /// Process one complete line (without its end).
    fn line_done(&mut self, raw: &[u8]) -> Result<Option<SseEvent>, TooLong> {
        let mut raw = raw;
        if !self.seen_line {
            self.seen_line = true;
            if let Some(rest) = raw.strip_prefix(b"\xEF\xBB\xBF") {
                raw = rest;
            }
        }
        if raw.is_empty() {
            return Ok(self.dispatch());
        }
        if raw[0] == b':' {
            self.comments += 1;
            return Ok(None);
        }
        let line = String::from_utf8_lossy(raw);
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line.as_ref(), ""),
        };
        match field {
            "event" => self.event = value.to_string(),
            "data" => {
                if self.data.len() + value.len() + 1 > MAX_LINE {
                    return Err(TooLong);
                }
                self.data.push_str(value);
                self.data.push('\n');
            }
            // An id with NUL is ignored.
            "id" if !value.contains('\0') => self.last_id = value.to_string(),
            // Only all-digit values; one too big for u64 is ignored as well.
            "retry" if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) => {
                if let Ok(ms) = value.parse::<u64>() {
                    self.retry = Some(Duration::from_millis(ms));
                }
            }
            _ => {}
        }
        Ok(None)
    }

    fn dispatch(&mut self) -> Option<SseEvent> {
        let event = std::mem::take(&mut self.event);
        if self.data.is_empty() {
            return None;
        }
        let mut data = std::mem::take(&mut self.data);
        data.pop(); // the `\n` after the last data line
        Some(SseEvent {
            id: self.last_id().map(str::to_string),
            event: if event.is_empty() {
                "message".to_string()
            } else {
                event
            },
            data,
        })
    }
}

/// Parse a whole stream given as chunks (a test and debugging helper).
pub fn parse_chunks<'a>(
    chunks: impl IntoIterator<Item = &'a [u8]>,
) -> Result<Vec<SseEvent>, TooLong> {
    let mut p = SseParser::new();
    let mut out = Vec::new();
    for c in chunks {
        out.extend(p.feed(c)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(id: Option<&str>, event: &str, data: &str) -> SseEvent {
        SseEvent {
            id: id.map(str::to_string),
            event: event.to_string(),
            data: data.to_string(),
        }
    }

    fn parse(text: &str) -> Vec<SseEvent> {
        parse_chunks([text.as_bytes()]).unwrap()
    }

    /// Every way of cutting `text` into two or three chunks gives the same events.
    fn same_for_all_splits(text: &[u8], expected: &[SseEvent]) {
        for i in 0..=text.len() {
            let got = parse_chunks([&text[..i], &text[i..]]).unwrap();
            assert_eq!(got, expected, "split at {i}");
            for j in i..=text.len() {
                let got = parse_chunks([&text[..i], &text[i..j], &text[j..]]).unwrap();
                assert_eq!(got, expected, "split at {i} and {j}");
            }
        }
        // And byte by byte.
        let got = parse_chunks(text.chunks(1)).unwrap();
        assert_eq!(got, expected, "byte by byte");
    }

    #[test]
    fn one_event_as_the_server_sends_it() {
        assert_eq!(
            parse("id: 7\nevent: fd-request\ndata: {\"a\":1}\n\n"),
            vec![ev(Some("7"), "fd-request", "{\"a\":1}")]
        );
    }

    #[test]
    fn several_events_in_one_chunk() {
        let text = "id: 1\nevent: a\ndata: x\n\nid: 2\nevent: b\ndata: y\n\nid: 3\ndata: z\n\n";
        assert_eq!(
            parse(text),
            vec![
                ev(Some("1"), "a", "x"),
                ev(Some("2"), "b", "y"),
                ev(Some("3"), "message", "z")
            ]
        );
    }

    #[test]
    fn events_split_anywhere_across_chunks() {
        let text = "id: 41\r\nevent: fd-response\r\ndata: {\"k\":\"é\"}\r\n\r\n: keep-alive\r\n\r\nid: 42\nevent: download-report\ndata: 1\n\n";
        same_for_all_splits(
            text.as_bytes(),
            &[
                ev(Some("41"), "fd-response", "{\"k\":\"é\"}"),
                ev(Some("42"), "download-report", "1"),
            ],
        );
    }

    #[test]
    fn crlf_lf_and_lone_cr_line_ends() {
        let expected = vec![ev(Some("5"), "e", "d1\nd2")];
        assert_eq!(
            parse("id: 5\r\nevent: e\r\ndata: d1\r\ndata: d2\r\n\r\n"),
            expected
        );
        assert_eq!(parse("id: 5\revent: e\rdata: d1\rdata: d2\r\r"), expected);
        assert_eq!(
            parse("id: 5\nevent: e\r\ndata: d1\rdata: d2\n\r\n"),
            expected
        );
        same_for_all_splits(b"id: 5\revent: e\rdata: d1\rdata: d2\r\r", &expected);
    }

    #[test]
    fn a_cr_at_a_chunk_end_then_an_empty_chunk_then_lf() {
        let got = parse_chunks([
            b"data: x\r".as_slice(),
            b"".as_slice(),
            b"\n".as_slice(),
            b"\r".as_slice(),
            b"\n".as_slice(),
        ])
        .unwrap();
        assert_eq!(got, vec![ev(None, "message", "x")]);
    }

    #[test]
    fn comments_are_skipped_and_counted() {
        let mut p = SseParser::new();
        let got = p
            .feed(b": keep-alive\n\n:\n: another\ndata: x\n: inside an event\n\n")
            .unwrap();
        assert_eq!(got, vec![ev(None, "message", "x")]);
        assert_eq!(p.comments(), 4);
    }

    #[test]
    fn multi_line_data_is_joined_with_newlines() {
        assert_eq!(
            parse("data: {\ndata:  \"a\": 1\ndata:}\n\n"),
            vec![ev(None, "message", "{\n \"a\": 1\n}")]
        );
        // An empty data line still makes an event (with empty data).
        assert_eq!(parse("data\n\n"), vec![ev(None, "message", "")]);
        assert_eq!(parse("data:\n\n"), vec![ev(None, "message", "")]);
    }

    #[test]
    fn only_one_space_after_the_colon_is_removed() {
        assert_eq!(
            parse("data:  two spaces\n\n"),
            vec![ev(None, "message", " two spaces")]
        );
        assert_eq!(parse("data:none\n\n"), vec![ev(None, "message", "none")]);
    }

    #[test]
    fn retry_sets_the_reconnection_time_only_when_numeric() {
        let mut p = SseParser::new();
        assert!(p.feed(b"retry: 2500\n\n").unwrap().is_empty());
        assert_eq!(p.retry(), Some(Duration::from_millis(2500)));
        p.feed(b"retry: soon\nretry: 12a\nretry:\n\n").unwrap();
        assert_eq!(p.retry(), Some(Duration::from_millis(2500)));
        p.feed(b"retry:100\n").unwrap();
        assert_eq!(p.retry(), Some(Duration::from_millis(100)));
    }

    #[test]
    fn events_without_data_are_not_dispatched_and_their_type_is_reset() {
        assert_eq!(
            parse("event: a\n\ndata: x\n\n"),
            vec![ev(None, "message", "x")]
        );
        // But their id sticks.
        assert_eq!(
            parse("id: 9\n\ndata: x\n\n"),
            vec![ev(Some("9"), "message", "x")]
        );
    }

    #[test]
    fn the_last_id_sticks_and_an_empty_id_resets_it() {
        assert_eq!(
            parse("id: 3\ndata: a\n\ndata: b\n\nid\ndata: c\n\nid: 4\0\ndata: d\n\n"),
            vec![
                ev(Some("3"), "message", "a"),
                ev(Some("3"), "message", "b"),
                ev(None, "message", "c"),
                ev(None, "message", "d"),
            ]
        );
    }

    #[test]
    fn an_unfinished_event_is_not_dispatched() {
        let mut p = SseParser::new();
        assert!(p.feed(b"id: 1\nevent: x\ndata: y\n").unwrap().is_empty());
        assert_eq!(p.last_id(), Some("1"));
        assert_eq!(p.feed(b"\n").unwrap(), vec![ev(Some("1"), "x", "y")]);
    }

    #[test]
    fn unknown_fields_and_lines_without_colon_are_ignored() {
        assert_eq!(
            parse("foo: bar\nevent\nbogus\ndata: x\n\n"),
            vec![ev(None, "message", "x")]
        );
    }

    #[test]
    fn a_byte_order_mark_is_skipped_at_the_start_only() {
        assert_eq!(parse("\u{FEFF}data: x\n\n"), vec![ev(None, "message", "x")]);
        same_for_all_splits(
            "\u{FEFF}data: x\n\n".as_bytes(),
            &[ev(None, "message", "x")],
        );
        // Later, a BOM makes the field name unknown: the line is ignored.
        assert_eq!(
            parse("data: x\n\n\u{FEFF}data: y\n\n"),
            vec![ev(None, "message", "x")]
        );
    }

    #[test]
    fn invalid_utf8_is_replaced_not_fatal() {
        let got = parse_chunks([b"data: a\xFFb\n\n".as_slice()]).unwrap();
        assert_eq!(got, vec![ev(None, "message", "a\u{FFFD}b")]);
    }

    #[test]
    fn endless_lines_are_refused() {
        let mut p = SseParser::new();
        let big = vec![b'x'; MAX_LINE / 2 + 1];
        assert!(p.feed(b"data: ").is_ok());
        assert!(p.feed(&big).is_ok());
        assert_eq!(p.feed(&big), Err(TooLong));
    }
}
