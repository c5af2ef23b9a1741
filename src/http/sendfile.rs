//! Zero-copy file bodies: the bytes of a file go from the page cache to the socket with
//! `sendfile(2)`, never through our memory, for cache hits and for clients of a fill.
//!
//! hyper owns the connection and writes what a body yields, so the body cannot call
//! `sendfile` itself. Instead each connection gets a [`SendfileIo`] (its transport) and a
//! [`SendfileSlot`] (a request extension, the same queue for both). A file body that has a
//! slot does not read the file: for each range it would have read it queues a
//! `Segment` (file, offset, length) in the slot and yields a *placeholder* frame of that
//! length, a slice of a static buffer (`PLACEHOLDER`) that nobody reads or writes. hyper
//! queues frames without copying them (its vectored `Queue` write strategy, forced by
//! [`builder_options`]), so when it asks [`SendfileIo`] to write a slice that points into
//! the placeholder, that slice stands for the rest of the oldest queued segment, and the
//! transport sends it from the file with `sendfile` instead. HTTP/1.1 writes responses in
//! order, so placeholders and segments match one for one. A placeholder that does not
//! match the oldest segment exactly is an error (the connection is closed): bytes of the
//! placeholder are never sent.
//!
//! Like nginx's default (`sendfile on`, no `aio`), a `sendfile` from a file whose pages are
//! not in the page cache reads them on the connection's thread.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use hyper::rt::{Read, ReadBufCursor, Write};
use hyper_util::rt::TokioIo;

use super::abort::ResetOnAbort;

/// Size of the placeholder, and so the largest segment one frame stands for. It lives in
/// `.bss` and is never touched, so it costs address space, not memory.
const PLACEHOLDER_LEN: usize = 4 * 1024 * 1024;
static PLACEHOLDER: [u8; PLACEHOLDER_LEN] = [0; PLACEHOLDER_LEN];

/// True where `sendfile` is available (Linux, 64-bit `off_t`).
pub const SUPPORTED: bool = cfg!(all(target_os = "linux", target_pointer_width = "64"));

/// Largest segment one frame may stand for.
pub const MAX_SEGMENT: u64 = PLACEHOLDER_LEN as u64;

/// A range of a file that the transport sends in place of a placeholder frame.
struct Segment {
    file: Arc<File>,
    offset: u64,
    len: usize,
}

/// The queue of segments of one connection, in the order their frames were yielded.
#[derive(Clone, Default)]
pub struct SendfileSlot {
    queue: Arc<Mutex<VecDeque<Segment>>>,
}

impl SendfileSlot {
    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Segment>> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queue `len` bytes of `file` from `offset` (at most [`MAX_SEGMENT`]) and return the
    /// placeholder frame that stands for them.
    pub fn frame(&self, file: Arc<File>, offset: u64, len: usize) -> Bytes {
        debug_assert!(len > 0 && len <= PLACEHOLDER_LEN);
        self.lock().push_back(Segment { file, offset, len });
        Bytes::from_static(&PLACEHOLDER[..len])
    }

    /// Segments queued and not yet sent (for tests).
    pub fn pending(&self) -> usize {
        self.lock().len()
    }
}

fn placeholder_offset(buf: &[u8]) -> Option<usize> {
    let base = PLACEHOLDER.as_ptr() as usize;
    let p = buf.as_ptr() as usize;
    (!buf.is_empty() && p >= base && p < base + PLACEHOLDER_LEN).then(|| p - base)
}

/// The transport of one HTTP/1.1 connection: a TCP stream that sends placeholder slices
/// from their files.
pub struct SendfileIo {
    io: TokioIo<ResetOnAbort>,
    slot: SendfileSlot,
}

impl SendfileIo {
    /// Wrap `stream`; bodies of this connection queue their segments in `slot`.
    pub fn new(stream: ResetOnAbort, slot: SendfileSlot) -> Self {
        SendfileIo {
            io: TokioIo::new(stream),
            slot,
        }
    }

    /// Send (part of) the placeholder slice `buf`, which stands for the rest of the oldest
    /// queued segment.
    fn poll_send_placeholder(
        &mut self,
        cx: &mut Context<'_>,
        at: usize,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let (file, offset) = {
            let q = self.slot.lock();
            let Some(seg) = q.front() else {
                return Poll::Ready(Err(io::Error::other(
                    "sendfile: a placeholder frame without a queued segment",
                )));
            };
            if at + buf.len() != seg.len {
                return Poll::Ready(Err(io::Error::other(
                    "sendfile: a placeholder frame does not match its segment",
                )));
            }
            (seg.file.clone(), seg.offset + at as u64)
        };
        let tcp = self.io.inner().tcp();
        let n = loop {
            ready!(tcp.poll_write_ready(cx))?;
            match tcp.try_io(tokio::io::Interest::WRITABLE, || {
                sys::sendfile(tcp, &file, offset, buf.len())
            }) {
                Ok(0) => {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "sendfile: file shorter than its recorded length",
                    )))
                }
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Poll::Ready(Err(e)),
            }
        };
        if n == buf.len() {
            // The segment is sent whole.
            self.slot.lock().pop_front();
        }
        Poll::Ready(Ok(n))
    }
}

impl Read for SendfileIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl Write for SendfileIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let me = self.get_mut();
        match placeholder_offset(buf) {
            Some(at) => me.poll_send_placeholder(cx, at, buf),
            None => Pin::new(&mut me.io).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let me = self.get_mut();
        let bufs: Vec<&IoSlice<'_>> = bufs.iter().filter(|b| !b.is_empty()).collect();
        let Some(first) = bufs.first() else {
            return Poll::Ready(Ok(0));
        };
        if let Some(at) = placeholder_offset(first) {
            return me.poll_send_placeholder(cx, at, first);
        }
        // Plain bytes up to the next placeholder, in one writev.
        let plain: Vec<IoSlice<'_>> = bufs
            .iter()
            .take_while(|b| placeholder_offset(b).is_none())
            .map(|b| IoSlice::new(b))
            .collect();
        Pin::new(&mut me.io).poll_write_vectored(cx, &plain)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

/// Connection options that placeholders rely on: vectored writes, so that hyper queues
/// body frames instead of copying them into its own buffer.
pub fn builder_options(b: &mut hyper::server::conn::http1::Builder) {
    b.writev(true);
}

#[cfg(all(target_os = "linux", target_pointer_width = "64"))]
mod sys {
    use std::fs::File;
    use std::io;
    use std::os::fd::AsRawFd;

    extern "C" {
        #[link_name = "sendfile"]
        fn c_sendfile(out_fd: i32, in_fd: i32, offset: *mut i64, count: usize) -> isize;
    }

    /// One `sendfile(2)` of up to `len` bytes of `file` from `offset` to `out`.
    pub fn sendfile(out: &impl AsRawFd, file: &File, offset: u64, len: usize) -> io::Result<usize> {
        let mut off = i64::try_from(offset).map_err(|_| io::Error::other("offset too large"))?;
        // SAFETY: both descriptors are open for the duration of the call (we hold the
        // socket and the file), `off` is a valid i64 that the kernel updates, and no
        // user memory is passed.
        let n = unsafe { c_sendfile(out.as_raw_fd(), file.as_raw_fd(), &mut off, len) };
        if n < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(n as usize)
        }
    }
}

#[cfg(not(all(target_os = "linux", target_pointer_width = "64")))]
mod sys {
    use std::fs::File;
    use std::io;

    pub fn sendfile<T>(_out: &T, _file: &File, _offset: u64, _len: usize) -> io::Result<usize> {
        Err(io::Error::other(
            "sendfile is not supported on this platform",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::abort::AbortFlag;
    use tokio::net::TcpStream;

    #[test]
    fn placeholders_are_recognised_by_address_only() {
        let slot = SendfileSlot::default();
        let f = Arc::new(tempfile::tempfile().unwrap());
        let frame = slot.frame(f, 10, 100);
        assert_eq!(frame.len(), 100);
        assert_eq!(placeholder_offset(&frame), Some(0));
        assert_eq!(placeholder_offset(&frame[40..]), Some(40));
        assert_eq!(
            placeholder_offset(&[0u8; 100]),
            None,
            "zeros elsewhere are data"
        );
        assert_eq!(placeholder_offset(&frame[..0]), None);
        assert_eq!(slot.pending(), 1);
    }

    #[tokio::test]
    async fn placeholders_are_sent_from_their_file_and_never_as_zeros() {
        use std::io::Write as _;
        use tokio::io::AsyncReadExt;
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut client = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
        let (server, _) = l.accept().await.unwrap();
        let slot = SendfileSlot::default();
        let mut io = SendfileIo::new(
            ResetOnAbort::new(server, AbortFlag::default()),
            slot.clone(),
        );

        // No queued segment: an error, nothing written.
        let stray = Bytes::from_static(&PLACEHOLDER[..10]);
        let r = std::future::poll_fn(|cx| Pin::new(&mut io).poll_write(cx, &stray)).await;
        assert!(r.is_err());

        let mut f = tempfile::tempfile().unwrap();
        f.write_all(b"hello sendfile world").unwrap();
        let f = Arc::new(f);
        let frame = slot.frame(f.clone(), 6, 8);
        // A slice that is not the rest of the segment is refused too.
        let r = std::future::poll_fn(|cx| Pin::new(&mut io).poll_write(cx, &frame[..4])).await;
        assert!(r.is_err());
        let bufs = [IoSlice::new(b"<"), IoSlice::new(&frame), IoSlice::new(b">")];
        let mut sent = 0;
        let mut at = 0;
        while at < bufs.len() {
            let n =
                std::future::poll_fn(|cx| Pin::new(&mut io).poll_write_vectored(cx, &bufs[at..]))
                    .await
                    .unwrap();
            sent += n;
            // The test writes whole slices each time (tiny writes on loopback).
            at += 1;
        }
        assert_eq!(sent, 10);
        assert_eq!(slot.pending(), 0);
        let mut got = [0u8; 10];
        client.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"<sendfile>");
    }
}
