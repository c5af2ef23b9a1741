//! The client's event stream (`GET /fd/events`): typed FD events over the SSE parser,
//! with the last event ID and the server's `retry:` kept for reconnecting.

use std::collections::VecDeque;
use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::BodyExt;
use serde::Deserialize;
use uuid::Uuid;

use super::error::{chain, ClientError};
use super::sse::{SseEvent, SseParser};
use super::types::IncomingRequest;
use crate::http::body::BodyError;
use crate::support::size::human_bytes;

/// A typed event from the stream.
#[derive(Debug, Clone, PartialEq)]
pub enum FdEvent {
    /// `fd-request`: an FD request for this user (step 5).
    Request(IncomingRequest),
    /// `fd-response`: the recipient's answer to our request (step 9); `disposition` is
    /// `accepted`, `rejected` or `deferred`.
    Response {
        message_id: Uuid,
        conversation_id: Uuid,
        from: String,
        disposition: String,
    },
    /// `download-report`: the recipient downloaded the file (step 16).
    Report {
        message_id: Uuid,
        conversation_id: Uuid,
        from: String,
        file_url: String,
    },
    /// `network-notification`: the file is gone; `kind` is `expired` or `deleted`.
    NetworkNotification {
        message_id: Uuid,
        conversation_id: Uuid,
        kind: String,
        file_url: String,
    },
    /// Any other event name (`data` as JSON, or as a JSON string when it is not JSON).
    Other {
        name: String,
        data: serde_json::Value,
    },
}

#[derive(Deserialize)]
struct ResponseData {
    message_id: Uuid,
    conversation_id: Uuid,
    from: String,
    disposition: String,
}

#[derive(Deserialize)]
struct ReportData {
    message_id: Uuid,
    conversation_id: Uuid,
    from: String,
    file_url: String,
}

#[derive(Deserialize)]
struct NotificationData {
    message_id: Uuid,
    conversation_id: Uuid,
    kind: String,
    file_url: String,
}

fn decode<T: serde::de::DeserializeOwned>(name: &str, data: &str) -> Result<T, ClientError> {
    serde_json::from_str(data).map_err(|e| ClientError::Decode(format!("{name} event: {e}")))
}

impl FdEvent {
    /// Type an event by its name; a known name whose data does not decode is an error.
    pub fn from_sse(name: &str, data: &str) -> Result<FdEvent, ClientError> {
        Ok(match name {
            "fd-request" => FdEvent::Request(decode(name, data)?),
            "fd-response" => {
                let d: ResponseData = decode(name, data)?;
                FdEvent::Response {
                    message_id: d.message_id,
                    conversation_id: d.conversation_id,
                    from: d.from,
                    disposition: d.disposition,
                }
            }
            "download-report" => {
                let d: ReportData = decode(name, data)?;
                FdEvent::Report {
                    message_id: d.message_id,
                    conversation_id: d.conversation_id,
                    from: d.from,
                    file_url: d.file_url,
                }
            }
            "network-notification" => {
                let d: NotificationData = decode(name, data)?;
                FdEvent::NetworkNotification {
                    message_id: d.message_id,
                    conversation_id: d.conversation_id,
                    kind: d.kind,
                    file_url: d.file_url,
                }
            }
            other => FdEvent::Other {
                name: other.to_string(),
                data: serde_json::from_str(data)
                    .unwrap_or_else(|_| serde_json::Value::String(data.to_string())),
            },
        })
    }

    /// The event name on the wire.
    pub fn name(&self) -> &str {
        match self {
            FdEvent::Request(_) => "fd-request",
            FdEvent::Response { .. } => "fd-response",
            FdEvent::Report { .. } => "download-report",
            FdEvent::NetworkNotification { .. } => "network-notification",
            FdEvent::Other { name, .. } => name,
        }
    }

    /// The FD request the event is about.
    pub fn message_id(&self) -> Option<Uuid> {
        match self {
            FdEvent::Request(r) => Some(r.message_id),
            FdEvent::Response { message_id, .. }
            | FdEvent::Report { message_id, .. }
            | FdEvent::NetworkNotification { message_id, .. } => Some(*message_id),
            FdEvent::Other { .. } => None,
        }
    }
}

/// One line for people: what happened, from whom, about which message.
impl fmt::Display for FdEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FdEvent::Request(r) => {
                let m = &r.metadata;
                write!(
                    f,
                    "FD request {} from {}: {}",
                    r.message_id,
                    r.from,
                    m.name.as_deref().unwrap_or("(unnamed file)")
                )?;
                let mut details = Vec::new();
                if let Some(s) = m.size {
                    details.push(human_bytes(s));
                }
                if let Some(t) = &m.content_type {
                    details.push(t.clone());
                }
                if !details.is_empty() {
                    write!(f, " ({})", details.join(", "))?;
                }
                if r.mandatory_download {
                    write!(f, ", mandatory download")?;
                }
                if r.download_report {
                    write!(f, ", download report requested")?;
                }
                write!(f, "; conversation {}; url {}", r.conversation_id, r.file_url)
            }
            FdEvent::Response {
                message_id,
                from,
                disposition,
                ..
            } => write!(f, "FD response from {from}: {disposition} (message {message_id})"),
            FdEvent::Report {
                message_id,
                from,
                file_url,
                ..
            } => write!(
                f,
                "download completed report from {from} (message {message_id}, {file_url})"
            ),
            FdEvent::NetworkNotification {
                message_id,
                kind,
                file_url,
                ..
            } => write!(
                f,
                "network notification: file {kind}, no longer available to download ({file_url}, message {message_id})"
            ),
            FdEvent::Other { name, data } => write!(f, "event {name}: {data}"),
        }
    }
}

/// The open event stream. Reading ends (`None`) when the server closes it; a body error
/// ends it after being reported once. An event whose data does not decode is reported as
/// an error and the stream goes on.
pub struct EventStream {
    body: UnsyncBoxBody<Bytes, BodyError>,
    parser: SseParser,
    queue: VecDeque<SseEvent>,
    last_id: Option<u64>,
    idle_timeout: Option<Duration>,
    done: bool,
}

impl fmt::Debug for EventStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventStream")
            .field("last_id", &self.last_id)
            .field("queued", &self.queue.len())
            .field("done", &self.done)
            .finish()
    }
}

impl EventStream {
    /// A stream over any body of SSE bytes; `last_id` is the ID we resumed after.
    /// Without a byte for `idle_timeout` (the server sends a keep-alive every 15 s) the
    /// connection is taken as dead.
    pub fn from_body<B>(body: B, last_id: Option<u64>, idle_timeout: Option<Duration>) -> Self
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BodyError>,
    {
        EventStream {
            body: body.map_err(Into::into).boxed_unsync(),
            parser: SseParser::new(),
            queue: VecDeque::new(),
            last_id,
            idle_timeout,
            done: false,
        }
    }

    /// The next event with its ID (the last numeric ID seen, 0 before any).
    pub async fn next(&mut self) -> Option<Result<(u64, FdEvent), ClientError>> {
        loop {
            if let Some(ev) = self.queue.pop_front() {
                if let Some(id) = ev.id.as_deref().and_then(|s| s.trim().parse::<u64>().ok()) {
                    self.last_id = Some(id);
                }
                let id = self.last_id.unwrap_or(0);
                return Some(FdEvent::from_sse(&ev.event, &ev.data).map(|e| (id, e)));
            }
            if self.done {
                return None;
            }
            let frame = match self.idle_timeout {
                Some(t) => match tokio::time::timeout(t, self.body.frame()).await {
                    Ok(f) => f,
                    Err(_) => {
                        self.done = true;
                        return Some(Err(ClientError::Body(format!(
                            "event stream: nothing received for {} s",
                            t.as_secs()
                        ))));
                    }
                },
                None => self.body.frame().await,
            };
            match frame {
                None => {
                    self.done = true;
                    return None;
                }
                Some(Err(e)) => {
                    self.done = true;
                    return Some(Err(ClientError::Body(format!(
                        "event stream broke off: {}",
                        chain(e.as_ref())
                    ))));
                }
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        match self.parser.feed(&data) {
                            Ok(events) => self.queue.extend(events),
                            Err(e) => {
                                self.done = true;
                                return Some(Err(ClientError::Body(format!("event stream: {e}"))));
                            }
                        }
                    }
                }
            }
        }
    }

    /// The last numeric event ID received: give it to [`super::McDataClient::events`]
    /// to resume after it.
    pub fn last_event_id(&self) -> Option<u64> {
        self.last_id
    }

    /// The reconnection time the server asked for (`retry:`).
    pub fn retry(&self) -> Option<Duration> {
        self.parser.retry()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body::Frame;
    use http_body_util::StreamBody;

    fn stream_of(chunks: Vec<Result<&'static [u8], &'static str>>) -> EventStream {
        let s = futures_util::stream::iter(chunks.into_iter().map(|c| {
            c.map(|b| Frame::data(Bytes::from_static(b)))
                .map_err(|e| -> BodyError { e.into() })
        }));
        EventStream::from_body(StreamBody::new(s), None, None)
    }

    fn ids() -> (Uuid, Uuid) {
        (Uuid::new_v4(), Uuid::new_v4())
    }

    #[test]
    fn typing_an_fd_request() {
        let (m, c) = ids();
        let data = serde_json::json!({
            "message_id": m, "conversation_id": c, "from": "alice@a.example",
            "file_url": "http://b:8081/http://a:8080/files/1",
            "metadata": {"name": "scene.jpg", "size": 123456, "type": "image/jpeg",
                         "sha256": "9f86", "availability": "3600"},
            "mandatory_download": true, "download_report": false
        })
        .to_string();
        let ev = FdEvent::from_sse("fd-request", &data).unwrap();
        let FdEvent::Request(r) = &ev else {
            panic!("not a request: {ev:?}")
        };
        assert_eq!(r.message_id, m);
        assert_eq!(r.metadata.size, Some(123456));
        assert_eq!(r.metadata.content_type.as_deref(), Some("image/jpeg"));
        assert!(r.mandatory_download);
        assert_eq!(ev.name(), "fd-request");
        assert_eq!(ev.message_id(), Some(m));
        let line = ev.to_string();
        assert!(
            line.contains("scene.jpg (120.6 KiB, image/jpeg), mandatory download"),
            "{line}"
        );
    }

    #[test]
    fn typing_responses_reports_and_notifications() {
        let (m, c) = ids();
        let resp = serde_json::json!({"message_id": m, "conversation_id": c, "from": "bob@b", "disposition": "accepted"});
        assert_eq!(
            FdEvent::from_sse("fd-response", &resp.to_string()).unwrap(),
            FdEvent::Response {
                message_id: m,
                conversation_id: c,
                from: "bob@b".into(),
                disposition: "accepted".into()
            }
        );
        let rep = serde_json::json!({"message_id": m, "conversation_id": c, "from": "bob@b", "file_url": "u"});
        assert_eq!(
            FdEvent::from_sse("download-report", &rep.to_string()).unwrap(),
            FdEvent::Report {
                message_id: m,
                conversation_id: c,
                from: "bob@b".into(),
                file_url: "u".into()
            }
        );
        let n = serde_json::json!({"message_id": m, "conversation_id": c, "kind": "expired", "file_url": "u"});
        let ev = FdEvent::from_sse("network-notification", &n.to_string()).unwrap();
        assert_eq!(
            ev,
            FdEvent::NetworkNotification {
                message_id: m,
                conversation_id: c,
                kind: "expired".into(),
                file_url: "u".into()
            }
        );
        assert!(ev.to_string().contains("file expired"));
    }

    #[test]
    fn unknown_events_are_kept_and_bad_known_ones_are_errors() {
        assert_eq!(
            FdEvent::from_sse("hello", "{\"x\":1}").unwrap(),
            FdEvent::Other {
                name: "hello".into(),
                data: serde_json::json!({"x": 1})
            }
        );
        assert_eq!(
            FdEvent::from_sse("message", "plain text").unwrap(),
            FdEvent::Other {
                name: "message".into(),
                data: serde_json::json!("plain text")
            }
        );
        let e = FdEvent::from_sse("fd-response", "{\"message_id\": 1}").unwrap_err();
        assert!(
            matches!(e, ClientError::Decode(ref t) if t.starts_with("fd-response event")),
            "{e}"
        );
    }

    #[tokio::test]
    async fn stream_types_events_tracks_ids_and_goes_on_after_a_bad_event() {
        let (m, c) = ids();
        let resp = format!(
            "{{\"message_id\":\"{m}\",\"conversation_id\":\"{c}\",\"from\":\"bob@b\",\"disposition\":\"rejected\"}}"
        );
        let text: &'static str = Box::leak(
            format!("retry: 1500\n: keep-alive\n\nid: 4\nevent: fd-response\ndata: {resp}\n\nid: 5\nevent: fd-response\ndata: nope\n\nevent: x\ndata: 1\n\n")
                .into_boxed_str(),
        );
        let (a, b) = text.as_bytes().split_at(40);
        let mut s = stream_of(vec![Ok(a), Ok(b)]);
        let (id, ev) = s.next().await.unwrap().unwrap();
        assert_eq!(id, 4);
        assert!(
            matches!(ev, FdEvent::Response { ref disposition, .. } if disposition == "rejected")
        );
        assert!(matches!(s.next().await, Some(Err(ClientError::Decode(_)))));
        assert_eq!(s.last_event_id(), Some(5));
        let (id, ev) = s.next().await.unwrap().unwrap();
        assert_eq!((id, ev.name()), (5, "x"));
        assert!(s.next().await.is_none());
        assert!(s.next().await.is_none());
        assert_eq!(s.retry(), Some(Duration::from_millis(1500)));
    }

    #[tokio::test]
    async fn a_body_error_ends_the_stream_after_the_events_before_it() {
        let mut s = stream_of(vec![
            Ok(b"id: 1\nevent: x\ndata: 1\n\nid: 2\nevent: x\ndata:"),
            Err("connection reset"),
        ]);
        assert_eq!(s.next().await.unwrap().unwrap().0, 1);
        let e = s.next().await.unwrap().unwrap_err();
        assert!(e.to_string().contains("connection reset"), "{e}");
        assert!(s.next().await.is_none());
        assert_eq!(s.last_event_id(), Some(1));
    }

    #[tokio::test]
    async fn a_silent_stream_times_out() {
        let s = futures_util::stream::pending::<Result<Frame<Bytes>, BodyError>>();
        let mut s =
            EventStream::from_body(StreamBody::new(s), Some(9), Some(Duration::from_millis(50)));
        let e = s.next().await.unwrap().unwrap_err();
        assert!(e.to_string().contains("nothing received"), "{e}");
        assert_eq!(s.last_event_id(), Some(9));
    }
}
