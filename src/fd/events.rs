//! Per-user event queues and their server-sent-event streams.
//!
//! Every event gets a number from one counter. A user's events are kept for
//! `time-temp-data-waiting`, so a client that was offline, or that reconnects with
//! `Last-Event-ID`, gets what it missed; a client that connects without `Last-Event-ID`
//! gets the events that no connection of that user has received yet.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body::Frame;
use http_body_util::{BodyExt, StreamBody};
use tokio::sync::watch;

use crate::http::body::{Body, BodyError};

/// Most events kept waiting for one user.
const MAX_PER_USER: usize = 10_000;

/// One event for one user.
#[derive(Debug, Clone)]
pub struct Event {
    pub id: u64,
    pub name: &'static str,
    pub data: serde_json::Value,
    at: Instant,
}

struct Queue {
    events: VecDeque<Event>,
    /// Highest id any connection of this user has been sent.
    delivered: u64,
    latest: watch::Sender<u64>,
}

impl Queue {
    fn new() -> Self {
        Queue {
            events: VecDeque::new(),
            delivered: 0,
            latest: watch::Sender::new(0),
        }
    }
}

/// All users' queues.
pub struct Events {
    queues: Mutex<HashMap<String, Queue>>,
    next: Mutex<u64>,
    closing: watch::Sender<bool>,
    retention: Duration,
    keep_alive: Duration,
}

impl Events {
    pub fn new(retention: Duration) -> Self {
        // Ids start from the clock (microseconds), so that after a restart new events
        // still sort after the ids clients hold in Last-Event-ID.
        let start = crate::support::time::unix_micros_now();
        Events {
            queues: Mutex::new(HashMap::new()),
            next: Mutex::new(start),
            closing: watch::Sender::new(false),
            retention,
            keep_alive: Duration::from_secs(15),
        }
    }

    /// End every open stream (at shutdown), so clients reconnect to the next instance.
    pub fn close_streams(&self) {
        self.closing.send_replace(true);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Queue>> {
        self.queues.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queue an event for `user`; returns its id.
    pub fn push(&self, user: &str, name: &'static str, data: serde_json::Value) -> u64 {
        let id = {
            let mut n = self.next.lock().unwrap_or_else(|p| p.into_inner());
            *n += 1;
            *n
        };
        let mut queues = self.lock();
        let q = queues.entry(user.to_string()).or_insert_with(Queue::new);
        let now = Instant::now();
        while q
            .events
            .front()
            .is_some_and(|e| now.duration_since(e.at) > self.retention)
        {
            q.events.pop_front();
        }
        q.events.push_back(Event {
            id,
            name,
            data,
            at: now,
        });
        // A bound per user, so that a flood for one offline user cannot exhaust memory.
        while q.events.len() > MAX_PER_USER {
            q.events.pop_front();
            tracing::warn!(
                user,
                "event queue full: the oldest waiting event was dropped"
            );
        }
        q.latest.send_replace(id);
        id
    }

    /// Events of `user` after `cursor` (or after what was delivered, when `None`), and
    /// a receiver that changes when new ones arrive.
    fn after(&self, user: &str, cursor: Option<u64>) -> (Vec<Event>, u64, watch::Receiver<u64>) {
        let mut queues = self.lock();
        let q = queues.entry(user.to_string()).or_insert_with(Queue::new);
        let now = Instant::now();
        let from = cursor.unwrap_or(q.delivered);
        let out: Vec<Event> = q
            .events
            .iter()
            .filter(|e| e.id > from && now.duration_since(e.at) <= self.retention)
            .cloned()
            .collect();
        let last = out.last().map_or(from, |e| e.id);
        q.delivered = q.delivered.max(last);
        (out, last, q.latest.subscribe())
    }

    /// The `text/event-stream` body for a connection of `user`.
    pub fn stream(self: &Arc<Self>, user: &str, last_event_id: Option<u64>) -> Body {
        let state = (self.clone(), user.to_string(), last_event_id, true);
        let s = futures_util::stream::unfold(state, |(me, user, cursor, first)| async move {
            let mut closing = me.closing.subscribe();
            if *closing.borrow_and_update() {
                return None;
            }
            if first {
                let hello = Bytes::from_static(b"retry: 2000\n\n");
                return Some((
                    Ok::<_, BodyError>(Frame::data(hello)),
                    (me, user, cursor, false),
                ));
            }
            loop {
                let (events, last, mut rx) = me.after(&user, cursor);
                if !events.is_empty() {
                    let mut text = String::new();
                    for e in &events {
                        text.push_str(&format!(
                            "id: {}\nevent: {}\ndata: {}\n\n",
                            e.id, e.name, e.data
                        ));
                    }
                    return Some((
                        Ok(Frame::data(Bytes::from(text))),
                        (me, user, Some(last), false),
                    ));
                }
                tokio::select! {
                    _ = closing.changed() => return None,
                    changed = rx.changed() => {
                        if changed.is_err() {
                            return None;
                        }
                    }
                    _ = tokio::time::sleep(me.keep_alive) => {
                        let ping = Bytes::from_static(b": keep-alive\n\n");
                        return Some((Ok(Frame::data(ping)), (me, user, Some(last), false)));
                    }
                }
            }
        });
        StreamBody::new(s).boxed_unsync()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offline_events_wait_and_replay_by_last_event_id() {
        let ev = Events::new(Duration::from_secs(60));
        let a = ev.push("bob", "fd-request", serde_json::json!({"n": 1}));
        let b = ev.push("bob", "fd-request", serde_json::json!({"n": 2}));
        ev.push("alice", "fd-response", serde_json::json!({}));
        let (got, last, _) = ev.after("bob", None);
        assert_eq!(got.iter().map(|e| e.id).collect::<Vec<_>>(), vec![a, b]);
        assert_eq!(last, b);
        let (again, _, _) = ev.after("bob", None);
        assert!(
            again.is_empty(),
            "delivered events are not resent to a fresh connection"
        );
        let (replay, _, _) = ev.after("bob", Some(a));
        assert_eq!(replay.len(), 1, "Last-Event-ID replays what came after it");
    }

    #[test]
    fn events_older_than_retention_are_dropped() {
        let ev = Events::new(Duration::from_millis(1));
        ev.push("bob", "x", serde_json::json!({}));
        std::thread::sleep(Duration::from_millis(5));
        assert!(ev.after("bob", None).0.is_empty());
    }
}
