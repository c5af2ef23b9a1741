//! The memory tail of a body being stored whose disk failed (out of space, say): from the
//! byte where the write failed on, the body's chunks no longer land in a file its readers
//! can read, so they go to every reader through a small window in memory instead, paced by
//! the slowest reader. Bytes before that point stay in the (unlinked) file, readable as
//! before. Memory stays flat in the body's size: at most [`WINDOW`] chunks per body.
//!
//! A reader subscribes ([`MemoryTail::subscribe`]) when its response starts, before any
//! chunk it needs is sent; a reader that finds a gap (it subscribed late) or falls more
//! than the window behind gets an error, never wrong bytes.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::Notify;

/// Chunks a tail holds for its slowest reader before the writer waits.
pub const WINDOW: usize = 16;

/// Why a reader could not get its bytes from the tail.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TailError {
    #[error("the store failed during this fill and the reader started too late to follow it")]
    Missed,
    #[error("the store failed during this fill and the reader fell too far behind")]
    TooSlow,
    #[error("the fill's memory tail does not have the bytes it announced")]
    Absent,
}

/// Where one reader is.
#[derive(Default)]
struct Cursor {
    pos: AtomicU64,
    left_behind: AtomicBool,
}

#[derive(Default)]
struct Ring {
    chunks: VecDeque<(u64, Bytes)>,
    readers: Vec<Weak<Cursor>>,
}

/// Where a body's bytes are once its file failed.
pub struct MemoryTail {
    /// Bytes `0..file_len` are in the file, the rest only in the window; `u64::MAX` while
    /// the file takes everything.
    file_len: AtomicU64,
    ring: Mutex<Ring>,
    progressed: Notify,
}

impl Default for MemoryTail {
    fn default() -> Self {
        MemoryTail {
            file_len: AtomicU64::new(u64::MAX),
            ring: Mutex::default(),
            progressed: Notify::new(),
        }
    }
}

impl MemoryTail {
    fn lock(&self) -> std::sync::MutexGuard<'_, Ring> {
        self.ring.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Where the file ends and the memory tail starts, once the file failed.
    pub fn file_len(&self) -> Option<u64> {
        match self.file_len.load(Ordering::Acquire) {
            u64::MAX => None,
            n => Some(n),
        }
    }

    /// The file failed: bytes from `at` on come through the tail.
    pub fn switch(&self, at: u64) {
        self.file_len.store(at, Ordering::Release);
    }

    /// A reader for a response that starts at `pos`, now.
    pub fn subscribe(self: &Arc<Self>, pos: u64) -> TailReader {
        let cursor = Arc::new(Cursor {
            pos: AtomicU64::new(pos),
            left_behind: AtomicBool::new(false),
        });
        self.lock().readers.push(Arc::downgrade(&cursor));
        TailReader {
            cursor,
            tail: self.clone(),
        }
    }

    /// Hand the chunk at `offset` to every reader. Waits while the window is full for the
    /// slowest reader, at most `patience` at a time: a reader that does not move in that
    /// time is left behind (it ends with [`TailError::TooSlow`]) so that the others and the
    /// fill go on.
    pub async fn push(&self, offset: u64, chunk: Bytes, patience: Duration) {
        loop {
            {
                let mut ring = self.lock();
                ring.readers.retain(|r| r.strong_count() > 0);
                let slowest = ring
                    .readers
                    .iter()
                    .filter_map(Weak::upgrade)
                    .filter(|c| !c.left_behind.load(Ordering::Relaxed))
                    .map(|c| c.pos.load(Ordering::Relaxed))
                    .min()
                    .unwrap_or(u64::MAX);
                while ring
                    .chunks
                    .front()
                    .is_some_and(|(off, c)| off + c.len() as u64 <= slowest)
                {
                    ring.chunks.pop_front();
                }
                if ring.chunks.len() < WINDOW {
                    ring.chunks.push_back((offset, chunk));
                    return;
                }
            }
            if tokio::time::timeout(patience, self.progressed.notified())
                .await
                .is_err()
            {
                self.leave_slowest_behind();
            }
        }
    }

    fn leave_slowest_behind(&self) {
        let ring = self.lock();
        let live: Vec<Arc<Cursor>> = ring
            .readers
            .iter()
            .filter_map(Weak::upgrade)
            .filter(|c| !c.left_behind.load(Ordering::Relaxed))
            .collect();
        if let Some(slowest) = live.iter().map(|c| c.pos.load(Ordering::Relaxed)).min() {
            tracing::warn!(
                at = slowest,
                "a reader of a fill in memory does not keep up: it is left behind"
            );
            for c in live
                .iter()
                .filter(|c| c.pos.load(Ordering::Relaxed) == slowest)
            {
                c.left_behind.store(true, Ordering::Relaxed);
            }
        }
    }
}

/// One response's view of a [`MemoryTail`].
pub struct TailReader {
    cursor: Arc<Cursor>,
    tail: Arc<MemoryTail>,
}

impl TailReader {
    /// Where the file ends, once the tail is in use.
    pub fn file_len(&self) -> Option<u64> {
        self.tail.file_len()
    }

    /// The reader got up to `pos` (from the file): the writer may drop what lies before.
    pub fn advanced(&self, pos: u64) {
        self.cursor.pos.store(pos, Ordering::Relaxed);
        if self.tail.file_len().is_some() {
            self.tail.progressed.notify_one();
        }
    }

    /// The bytes from `pos` up to at most `upto` (`pos < upto`), which the writer has
    /// already pushed.
    pub fn read(&mut self, pos: u64, upto: u64) -> Result<Bytes, TailError> {
        if self.cursor.left_behind.load(Ordering::Relaxed) {
            return Err(TailError::TooSlow);
        }
        let got = {
            let ring = self.tail.lock();
            match ring.chunks.front() {
                Some((first, _)) if *first > pos => return Err(TailError::Missed),
                None => return Err(TailError::Absent),
                _ => {}
            }
            ring.chunks
                .iter()
                .find(|(off, c)| *off <= pos && pos < off + c.len() as u64)
                .map(|(off, c)| {
                    let end = off + c.len() as u64;
                    let from = (pos - off) as usize;
                    let to = (upto.clamp(pos, end) - off) as usize;
                    c.slice(from..to)
                })
                .ok_or(TailError::Absent)?
        };
        self.advanced(pos + got.len() as u64);
        Ok(got)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[tokio::test]
    async fn readers_get_every_chunk_in_slices_and_pace_the_writer() {
        let tail = Arc::new(MemoryTail::default());
        assert_eq!(tail.file_len(), None);
        let mut a = tail.subscribe(0);
        tail.switch(10);
        assert_eq!(a.file_len(), Some(10));
        a.advanced(10);
        tail.push(10, Bytes::from_static(b"abcdef"), Duration::from_secs(1))
            .await;
        tail.push(16, Bytes::from_static(b"ghij"), Duration::from_secs(1))
            .await;
        assert_eq!(&a.read(10, 13).unwrap()[..], b"abc");
        assert_eq!(&a.read(13, 100).unwrap()[..], b"def");
        assert_eq!(&a.read(16, 100).unwrap()[..], b"ghij");
        // Chunks every reader has passed are dropped: a reader that comes later sees a
        // gap, never other bytes.
        tail.push(20, Bytes::from_static(b"kl"), Duration::from_secs(1))
            .await;
        let mut late = tail.subscribe(10);
        assert_eq!(late.read(10, 100), Err(TailError::Missed));
        assert_eq!(&a.read(20, 100).unwrap()[..], b"kl");
    }

    #[tokio::test]
    async fn a_reader_that_stops_is_left_behind_after_the_patience() {
        let tail = Arc::new(MemoryTail::default());
        let mut slow = tail.subscribe(0);
        let mut quick = tail.subscribe(0);
        tail.switch(0);
        let started = std::time::Instant::now();
        for i in 0..(WINDOW as u64 + 4) {
            tail.push(i, Bytes::from_static(b"x"), Duration::from_millis(20))
                .await;
            assert_eq!(&quick.read(i, i + 1).unwrap()[..], b"x");
        }
        let waited = started.elapsed();
        assert!(waited >= Duration::from_millis(20), "it waited once");
        assert!(
            waited < Duration::from_millis(200),
            "and only once: {waited:?}"
        );
        assert_eq!(slow.read(0, 1), Err(TailError::TooSlow));
    }
}
