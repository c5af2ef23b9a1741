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
    Full::new(data.into()).map_err(|never| match never {}).boxed_unsync()
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
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
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

/// `body`, with `done` awaited after its last frame and before the stream ends: work that
/// must happen only when the whole body was produced (a delivery record, for one).
pub fn on_complete<F>(body: Body, done: F) -> Body
where
    F: std::future::Future<Output = ()> + Send + 'static,
{
    use http_body_util::StreamBody;
    let state = (Some(body), Some(Box::pin(done)));
    let s = futures_util::stream::unfold(state, |(mut body, mut done)| async move {
        if let Some(b) = body.as_mut() {
            if let Some(item) = b.frame().await {
                return Some((item, (body, done)));
            }
        }
        if let Some(d) = done.take() {
            d.await;
        }
        None
    });
    StreamBody::new(s).boxed_unsync()
}
