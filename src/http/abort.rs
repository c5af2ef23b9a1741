//! A failed response body ends its connection with a TCP reset. hyper stops writing when
//! a body fails and closes the connection; with a length or chunked framing a client can
//! tell the body is short, but an HTTP/1.0 client (or any close-delimited body) sees the
//! normal close as the end of a complete body. So a body error marks the connection
//! ([`AbortOnError`] sets its [`AbortFlag`]), and when the connection's transport
//! ([`ResetOnAbort`]) is dropped it sets `SO_LINGER` to zero first: the close sends RST and
//! the client's read fails, on every protocol version.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http_body::{Body, Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// Set when a response body of the connection failed.
#[derive(Clone, Default, Debug)]
pub struct AbortFlag(Arc<AtomicBool>);

impl AbortFlag {
    /// Mark the connection: it will end with a reset.
    pub fn set(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// True once a body of the connection failed.
    pub fn is_set(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// A connection's TCP stream that is reset instead of closed when its [`AbortFlag`] is set.
pub struct ResetOnAbort {
    stream: TcpStream,
    abort: AbortFlag,
}

impl ResetOnAbort {
    pub fn new(stream: TcpStream, abort: AbortFlag) -> Self {
        ResetOnAbort { stream, abort }
    }

    /// The stream itself (for `sendfile`).
    pub fn tcp(&self) -> &TcpStream {
        &self.stream
    }
}

impl Drop for ResetOnAbort {
    fn drop(&mut self) {
        if self.abort.is_set() {
            // A zero linger never blocks: the close discards what is unsent and sends RST.
            let _ = socket2::SockRef::from(&self.stream).set_linger(Some(Duration::ZERO));
        }
    }
}

impl AsyncRead for ResetOnAbort {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_read(cx, buf)
    }
}

/// Nothing more is written on a connection that will be reset: not even a TLS
/// `close_notify`, which would tell a client that a close-delimited body is complete.
fn aborted() -> io::Error {
    io::Error::new(io::ErrorKind::ConnectionAborted, "the response body failed")
}

impl AsyncWrite for ResetOnAbort {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let me = self.get_mut();
        if me.abort.is_set() {
            return Poll::Ready(Err(aborted()));
        }
        Pin::new(&mut me.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let me = self.get_mut();
        if me.abort.is_set() {
            return Poll::Ready(Err(aborted()));
        }
        Pin::new(&mut me.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let me = self.get_mut();
        if me.abort.is_set() {
            // No FIN before the reset: the client must not see an orderly end.
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut me.stream).poll_shutdown(cx)
    }
}

/// A response body that marks its connection when it fails.
pub struct AbortOnError<B> {
    body: B,
    abort: AbortFlag,
}

impl<B> AbortOnError<B> {
    pub fn new(body: B, abort: AbortFlag) -> Self {
        AbortOnError { body, abort }
    }
}

impl<B: Body + Unpin> Body for AbortOnError<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let me = self.get_mut();
        let polled = Pin::new(&mut me.body).poll_frame(cx);
        if let Poll::Ready(Some(Err(_))) = &polled {
            me.abort.set();
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use http_body_util::BodyExt;
    use tokio::io::AsyncReadExt;

    #[tokio::test]
    async fn a_failed_body_resets_its_connection() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut client = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
        let (server, _) = l.accept().await.unwrap();
        let flag = AbortFlag::default();
        let io = ResetOnAbort::new(server, flag.clone());
        let failing = http_body_util::StreamBody::new(futures_util::stream::iter([
            Ok(Frame::data(Bytes::from_static(b"x"))),
            Err(io::Error::other("cut")),
        ]));
        let mut body = AbortOnError::new(failing, flag.clone());
        assert!(body.frame().await.unwrap().is_ok());
        assert!(!flag.is_set());
        assert!(body.frame().await.unwrap().is_err());
        assert!(flag.is_set());
        drop(io);
        let mut buf = [0u8; 8];
        let err = client.read(&mut buf).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionReset);
    }

    #[tokio::test]
    async fn a_connection_without_failures_closes_normally() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut client = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
        let (server, _) = l.accept().await.unwrap();
        drop(ResetOnAbort::new(server, AbortFlag::default()));
        let mut buf = [0u8; 8];
        assert_eq!(client.read(&mut buf).await.unwrap(), 0);
    }
}
