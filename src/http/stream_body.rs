//! Response bodies of stored objects whatever the backend: a local file read positionally
//! ([`super::file_body`]) or a stream from the store (an S3 GET of exactly the bytes to
//! send), checked against the length the response announced so that a stream that ends
//! early or runs long breaks the response instead of ending it cleanly.

use futures_util::StreamExt;
use http_body::Frame;
use http_body_util::{BodyExt, StreamBody};
use prometheus::IntCounter;

use super::body::{self, Body, BodyError};
use super::file_body;
use super::representation::Span;
use super::sendfile::SendfileSlot;
use crate::storage::{BlobBody, BlobStream};

/// Why a stored stream did not match its announced length.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    #[error("the stored object ended {missing} bytes early")]
    Short { missing: u64 },
    #[error("the stored object is longer than announced")]
    Long,
}

/// The range of the object to open for `span` (`None`: all of it).
pub fn range_of(span: Span) -> Option<std::ops::Range<u64>> {
    match span {
        Span::Part { start, end } => Some(start..end),
        Span::None | Span::All => None,
    }
}

/// The body sending `span` of an object opened with [`range_of`]`(span)`.
pub fn from_blob(blob: BlobBody, span: Span, served: IntCounter) -> Body {
    from_blob_via(None, blob, span, served)
}

/// The same, a local file sent with `sendfile` through the connection's `slot` if any.
pub fn from_blob_via(
    slot: Option<&SendfileSlot>,
    blob: BlobBody,
    span: Span,
    served: IntCounter,
) -> Body {
    match (blob, span) {
        (_, Span::None) => body::empty(),
        (BlobBody::File { file, len }, Span::All) => {
            file_body::complete_via(slot, file, 0, len, served)
        }
        (BlobBody::File { file, .. }, Span::Part { start, end }) => {
            file_body::complete_via(slot, file, start, end, served)
        }
        (BlobBody::Stream { len, stream }, _) => streamed(stream, len, served),
    }
}

struct State {
    stream: BlobStream,
    left: u64,
    served: IntCounter,
    done: bool,
}

/// Exactly `len` bytes of `stream`, or an error.
pub fn streamed(stream: BlobStream, len: u64, served: IntCounter) -> Body {
    let state = State {
        stream,
        left: len,
        served,
        done: false,
    };
    let s = futures_util::stream::unfold(state, |mut st| async move {
        if st.done {
            return None;
        }
        let item = match st.stream.next().await {
            Some(Ok(b)) if b.len() as u64 > st.left => {
                Err(Box::new(StreamError::Long) as BodyError)
            }
            Some(Ok(b)) => {
                st.left -= b.len() as u64;
                st.served.inc_by(b.len() as u64);
                return Some((Ok(Frame::data(b)), st));
            }
            Some(Err(e)) => Err(Box::new(e) as BodyError),
            None if st.left > 0 => {
                Err(Box::new(StreamError::Short { missing: st.left }) as BodyError)
            }
            None => return None,
        };
        st.done = true;
        Some((item, st))
    });
    StreamBody::new(s).boxed_unsync()
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn stream_of(parts: &[&'static [u8]]) -> BlobStream {
        let items: Vec<Result<Bytes, crate::storage::StoreError>> =
            parts.iter().map(|p| Ok(Bytes::from_static(p))).collect();
        futures_util::stream::iter(items).boxed()
    }

    #[tokio::test]
    async fn exact_short_and_long() {
        let c = IntCounter::new("t", "t").unwrap();
        let ok = streamed(stream_of(&[b"ab", b"cd"]), 4, c.clone());
        assert_eq!(&ok.collect().await.unwrap().to_bytes()[..], b"abcd");
        assert_eq!(c.get(), 4);
        assert!(streamed(stream_of(&[b"ab"]), 4, c.clone())
            .collect()
            .await
            .is_err());
        assert!(streamed(stream_of(&[b"abcdef"]), 4, c)
            .collect()
            .await
            .is_err());
    }
}
