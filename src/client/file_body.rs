//! An upload body read from a file in chunks as the connection takes them, with its exact
//! length announced (so the content server can refuse an oversized file before it is sent).

use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::io::{AsyncRead, ReadBuf};

use crate::http::body::BodyError;

/// Bytes per chunk.
pub const CHUNK: usize = 256 * 1024;

/// `len` bytes of `file`, from its current position.
pub struct FileBody {
    file: tokio::fs::File,
    remaining: u64,
    buf: Vec<u8>,
}

impl FileBody {
    pub fn new(file: tokio::fs::File, len: u64) -> FileBody {
        FileBody {
            file,
            remaining: len,
            buf: Vec::new(),
        }
    }
}

impl Body for FileBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let this = self.get_mut();
        if this.remaining == 0 {
            return Poll::Ready(None);
        }
        let want = usize::try_from(this.remaining).map_or(CHUNK, |r| r.min(CHUNK));
        if this.buf.len() < want {
            this.buf.resize(want, 0);
        }
        let mut rb = ReadBuf::new(&mut this.buf[..want]);
        if let Err(e) = ready!(Pin::new(&mut this.file).poll_read(cx, &mut rb)) {
            return Poll::Ready(Some(Err(e.into())));
        }
        let n = rb.filled().len();
        if n == 0 {
            return Poll::Ready(Some(Err(format!(
                "the file ended {} bytes early (did it shrink during the upload?)",
                this.remaining
            )
            .into())));
        }
        this.remaining -= n as u64;
        Poll::Ready(Some(Ok(Frame::data(Bytes::copy_from_slice(
            &this.buf[..n],
        )))))
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;
    use std::io::Write;

    #[tokio::test]
    async fn reads_the_whole_file_in_chunks() {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        let data: Vec<u8> = (0..(CHUNK * 2 + 17)).map(|i| (i % 251) as u8).collect();
        f.write_all(&data).unwrap();
        let file = tokio::fs::File::open(f.path()).await.unwrap();
        let body = FileBody::new(file, data.len() as u64);
        assert_eq!(body.size_hint().exact(), Some(data.len() as u64));
        let got = body.collect().await.unwrap().to_bytes();
        assert_eq!(got.as_ref(), data.as_slice());
    }

    #[tokio::test]
    async fn a_file_shorter_than_announced_is_an_error() {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(b"abc").unwrap();
        let file = tokio::fs::File::open(f.path()).await.unwrap();
        let e = FileBody::new(file, 10).collect().await.err().unwrap();
        assert!(e.to_string().contains("7 bytes early"), "{e}");
    }
}
