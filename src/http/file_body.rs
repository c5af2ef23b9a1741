//! Response bodies read from a file with positional reads, in big chunks: a complete
//! object (a hit), or a file that a fill is still writing (a miss or a joined waiter),
//! in which case the reader follows the fill's [`Growth`] and sends bytes as they land
//! (from the file, and from the fill's [`crate::storage::MemoryTail`] once the file
//! failed).

use std::fs::File;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::stream;
use http_body::Frame;
use http_body_util::{BodyExt, StreamBody};
use prometheus::IntCounter;
use tokio::sync::watch;

use super::body::{Body, BodyError};
use super::sendfile::{self, SendfileSlot};
use crate::storage::{read_at, Growth, TailError, TailReader};

/// Largest read per chunk: big enough to keep syscalls and wake-ups per byte low.
pub const CHUNK: u64 = 256 * 1024;

/// Why a body read stopped early.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("upstream fill failed: {0}")]
    FillFailed(Arc<str>),
    #[error("fill abandoned")]
    Abandoned,
    #[error("read error: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Tail(#[from] TailError),
}

struct Reader {
    /// None only for a fill whose file could not even be made: all of it is in `tail`.
    file: Option<Arc<File>>,
    pos: u64,
    /// Exclusive end of what this response sends; `None` = until the fill completes.
    end: Option<u64>,
    growth: Option<watch::Receiver<Growth>>,
    served: IntCounter,
    /// When set, ranges are not read but queued for `sendfile` ([`sendfile`]).
    slot: Option<SendfileSlot>,
    /// A fill's bytes past the point where its file failed.
    tail: Option<TailReader>,
}

impl Reader {
    /// How many bytes from the start may be sent now, or the end of the stream.
    fn readable(&self) -> Result<Readable, ReadError> {
        let Some(rx) = &self.growth else {
            return Ok(Readable::Upto(self.end.unwrap_or(self.pos)));
        };
        let g = rx.borrow().clone();
        Ok(match g {
            Growth::Complete { len } => Readable::Upto(self.end.map_or(len, |e| e.min(len))),
            Growth::Failed(why) => return Err(ReadError::FillFailed(why)),
            Growth::Growing { written, total } => {
                // The last byte of a body is withheld until the fill's verdict, so that a
                // body that fails its length or digest check never ends cleanly.
                let cap = total.map_or(written, |t| written.min(t.saturating_sub(1)));
                Readable::Wait(self.end.map_or(cap, |e| e.min(cap)))
            }
        })
    }

    async fn next_chunk(&mut self) -> Option<Result<Bytes, ReadError>> {
        loop {
            let (upto, done_when_reached) = match self.readable() {
                Ok(Readable::Upto(n)) => (n, true),
                Ok(Readable::Wait(n)) => (n, false),
                Err(e) => return Some(Err(e)),
            };
            if self.pos < upto {
                let in_file = self
                    .tail
                    .as_ref()
                    .and_then(TailReader::file_len)
                    .unwrap_or(u64::MAX);
                let file = match &self.file {
                    Some(f) if self.pos < in_file => f.clone(),
                    _ => {
                        let Some(tail) = self.tail.as_mut() else {
                            return Some(Err(TailError::Absent.into()));
                        };
                        return Some(match tail.read(self.pos, upto) {
                            Ok(b) => {
                                self.pos += b.len() as u64;
                                self.served.inc_by(b.len() as u64);
                                Ok(b)
                            }
                            Err(e) => Err(e.into()),
                        });
                    }
                };
                let upto = upto.min(in_file);
                if let Some(slot) = &self.slot {
                    let to = upto.min(self.pos + sendfile::MAX_SEGMENT);
                    let len = (to - self.pos) as usize;
                    let frame = slot.frame(file, self.pos, len);
                    self.pos = to;
                    self.advanced();
                    self.served.inc_by(len as u64);
                    return Some(Ok(frame));
                }
                let to = upto.min(self.pos + CHUNK);
                return match read_at(file, self.pos..to).await {
                    Ok(b) => {
                        self.pos = to;
                        self.advanced();
                        self.served.inc_by(b.len() as u64);
                        Some(Ok(b))
                    }
                    Err(e) => Some(Err(e.into())),
                };
            }
            if done_when_reached
                || self
                    .end
                    .is_some_and(|e| self.pos >= e && !self.holds_last())
            {
                return None;
            }
            let rx = self.growth.as_mut()?;
            if rx.changed().await.is_err() {
                // The fill dropped its sender without a verdict.
                return Some(Err(ReadError::Abandoned));
            }
        }
    }

    /// Tell the fill's memory tail how far this reader got.
    fn advanced(&self) {
        if let Some(t) = &self.tail {
            t.advanced(self.pos);
        }
    }

    /// True when this response's end is the body's last byte, which needs the verdict.
    fn holds_last(&self) -> bool {
        match (&self.growth, self.end) {
            (Some(rx), Some(end)) => match &*rx.borrow() {
                Growth::Growing { total: Some(t), .. } => end >= *t,
                Growth::Growing { total: None, .. } => true,
                _ => false,
            },
            _ => false,
        }
    }
}

enum Readable {
    /// Send up to here, then the stream ends.
    Upto(u64),
    /// Send up to here, then wait for more.
    Wait(u64),
}

fn into_body(reader: Reader) -> Body {
    let s = stream::unfold(reader, |mut r| async move {
        let item = r.next_chunk().await?;
        Some((
            item.map(Frame::data).map_err(|e| Box::new(e) as BodyError),
            r,
        ))
    });
    StreamBody::new(s).boxed_unsync()
}

/// The bytes `start..end` of a complete file.
pub fn complete(file: Arc<File>, start: u64, end: u64, served: IntCounter) -> Body {
    complete_via(None, file, start, end, served)
}

/// The same, sent with `sendfile` through the connection's `slot` when there is one.
pub fn complete_via(
    slot: Option<&SendfileSlot>,
    file: Arc<File>,
    start: u64,
    end: u64,
    served: IntCounter,
) -> Body {
    into_body(Reader {
        file: Some(file),
        pos: start,
        end: Some(end),
        growth: None,
        served,
        slot: slot.cloned(),
        tail: None,
    })
}

/// The bytes from `start` (to `end`, or to the end of the body) of a file being filled.
pub fn growing(
    file: Arc<File>,
    start: u64,
    end: Option<u64>,
    growth: watch::Receiver<Growth>,
    served: IntCounter,
) -> Body {
    growing_via(
        None,
        Growing {
            file: Some(file),
            growth,
            tail: None,
        },
        start,
        end,
        served,
    )
}

/// What a reader of a fill follows: its file (if it could be made), its growth, and its
/// memory tail (for the bytes past a failure of the file).
pub struct Growing {
    pub file: Option<Arc<File>>,
    pub growth: watch::Receiver<Growth>,
    pub tail: Option<TailReader>,
}

/// The same, sent with `sendfile` through the connection's `slot` when there is one.
pub fn growing_via(
    slot: Option<&SendfileSlot>,
    fill: Growing,
    start: u64,
    end: Option<u64>,
    served: IntCounter,
) -> Body {
    into_body(Reader {
        file: fill.file,
        pos: start,
        end,
        growth: Some(fill.growth),
        served,
        slot: slot.cloned(),
        tail: fill.tail,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn file_with(data: &[u8]) -> Arc<File> {
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(data).unwrap();
        Arc::new(f)
    }

    async fn collect(body: Body) -> Result<Vec<u8>, BodyError> {
        body.collect().await.map(|c| c.to_bytes().to_vec())
    }

    #[tokio::test]
    async fn complete_range() {
        let f = file_with(b"0123456789");
        let c = IntCounter::new("t", "t").unwrap();
        assert_eq!(collect(complete(f, 2, 5, c.clone())).await.unwrap(), b"234");
        assert_eq!(c.get(), 3);
    }

    #[tokio::test]
    async fn growing_follows_and_withholds_last_byte() {
        let f = file_with(b"0123456789");
        let (tx, rx) = watch::channel(Growth::Growing {
            written: 10,
            total: Some(10),
        });
        let c = IntCounter::new("t", "t").unwrap();
        let mut body = growing(f, 0, None, rx, c);
        let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
        assert_eq!(&first[..], b"012345678");
        let pending =
            tokio::spawn(async move { body.frame().await.map(|r| r.map(|f| f.into_data().ok())) });
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        assert!(!pending.is_finished(), "last byte waits for the verdict");
        tx.send(Growth::Complete { len: 10 }).unwrap();
        let last = pending.await.unwrap().unwrap().unwrap().unwrap();
        assert_eq!(&last[..], b"9");
    }

    #[tokio::test]
    async fn growing_failure_is_an_error() {
        let f = file_with(b"0123456789");
        let (tx, rx) = watch::channel(Growth::Growing {
            written: 4,
            total: Some(10),
        });
        let c = IntCounter::new("t", "t").unwrap();
        let body = growing(f, 0, None, rx, c);
        let h = tokio::spawn(collect(body));
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        tx.send(Growth::Failed("boom".into())).unwrap();
        assert!(h.await.unwrap().is_err());
    }

    #[tokio::test]
    async fn growing_range_ends_without_verdict_when_before_last_byte() {
        let f = file_with(b"0123456789");
        let (_tx, rx) = watch::channel(Growth::Growing {
            written: 6,
            total: Some(10),
        });
        let c = IntCounter::new("t", "t").unwrap();
        assert_eq!(
            collect(growing(f, 1, Some(4), rx, c)).await.unwrap(),
            b"123"
        );
    }
}
