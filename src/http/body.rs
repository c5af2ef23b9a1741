//! The one response body type of the servers, and constructors for JSON and empty bodies.

use bytes::Bytes;
use http::{header, HeaderValue, Response, StatusCode};
use http_body_util::{combinators::UnsyncBoxBody, BodyExt, Empty, Full};

/// Error type carried by response bodies; an error mid-body aborts the response, so the
/// client sees a reset or an incomplete body, never a clean-looking short one.
pub type BodyError = Box<dyn std::error::Error + Send + Sync>;

/// The response body of every handler.
pub type Body = UnsyncBoxBody<Bytes, BodyError>;

/// A body holding `data` whole.
pub fn full(data: impl Into<Bytes>) -> Body {
    Full::new(data.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// An empty body.
pub fn empty() -> Body {
    Empty::new().map_err(|never| match never {}).boxed_unsync()
}

/// A JSON response.
pub fn json(status: StatusCode, value: &serde_json::Value) -> Response<Body> {
    let mut text = value.to_string();
    text.push('\n');
    let mut resp = Response::new(full(text));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// The next batch of body data: waits for one data frame, then takes the frames that are
/// already available without waiting, up to about `max` bytes. Fewer, bigger writes keep
/// syscalls and wake-ups per byte low without delaying bytes that are here now.
/// `None` at the end of the body.
pub async fn next_batch<B>(body: &mut B, max: usize) -> Option<Result<Bytes, B::Error>>
where
    B: http_body::Body<Data = Bytes> + Unpin,
{
    use futures_util::FutureExt;
    let first = loop {
        match body.frame().await? {
            Ok(f) => {
                if let Ok(d) = f.into_data() {
                    if !d.is_empty() {
                        break d;
                    }
                }
            }
            Err(e) => return Some(Err(e)),
        }
    };
    if first.len() >= max {
        return Some(Ok(first));
    }
    let mut buf = bytes::BytesMut::from(first);
    while buf.len() < max {
        match body.frame().now_or_never() {
            Some(Some(Ok(f))) => {
                if let Ok(d) = f.into_data() {
                    buf.extend_from_slice(&d);
                }
            }
            Some(Some(Err(e))) => return Some(Err(e)),
            // End of body (seen again by the next call) or nothing ready now.
            Some(None) | None => break,
        }
    }
    Some(Ok(buf.freeze()))
}

/// `body` (of `len` bytes), with `done` awaited once all `len` bytes were produced and
/// before the frame that completes them is handed on: work that must happen only when the
/// whole body went out (a delivery record, for one). hyper stops polling a body once it has
/// sent `Content-Length` bytes, so the end is found by counting, not by waiting for `None`.
pub fn on_complete<F>(body: Body, len: u64, done: F) -> Body
where
    F: std::future::Future<Output = ()> + Send + 'static,
{
    use http_body_util::StreamBody;
    let state = (body, 0u64, Some(Box::pin(done)));
    let s = futures_util::stream::unfold(state, move |(mut body, mut sent, mut done)| async move {
        let item = match body.frame().await {
            Some(item) => item,
            None => {
                if sent >= len {
                    if let Some(d) = done.take() {
                        d.await;
                    }
                }
                return None;
            }
        };
        if let Ok(frame) = &item {
            if let Some(d) = frame.data_ref() {
                sent += d.len() as u64;
            }
        }
        if sent >= len {
            if let Some(d) = done.take() {
                d.await;
            }
        }
        Some((item, (body, sent, done)))
    });
    StreamBody::new(s).boxed_unsync()
}
