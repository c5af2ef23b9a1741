//! The MCData client library used by `mcdata client`, `mcdata demo` and the tests: one
//! user's side of file distribution (TS 23.282 7.5.2.4.3) over the HTTP APIs of the
//! MCData server (`docs/fd-api.md`) and of the content server (`docs/content-server.md`).
//!
//! - [`McDataClient`] (`api.rs`): upload a file (streamed) or bytes, read a file's
//!   metadata (`HEAD`), send an FD request, open the event stream, accept or reject,
//!   report, query history; [`McDataClient::download`] (`download.rs`) streams a file to
//!   any writer, hashing it and refusing short or broken bodies.
//! - [`EventStream`] and [`FdEvent`] (`events.rs`): typed events over the SSE parser of
//!   `sse.rs` (a pure function over byte chunks).
//! - [`handle_request`] (`handle.rs`): what a receiving client does with an FD request:
//!   decide (mandatory download forces acceptance), answer, download, check, report.
//! - `wire.rs`: URL joining, request bodies, metadata from response headers;
//!   `file_body.rs`: the streamed upload body; `error.rs`: [`ClientError`].
//!
//! Servers may be `http://` or `https://` (rustls on ring, the system's roots plus an
//! optional private CA). The command line `mcdata client` is built over this library in
//! [`crate::client_cli`]; nothing here knows of it.

mod api;
mod download;
mod error;
mod events;
mod file_body;
mod handle;
pub mod sse;
#[cfg(test)]
mod testserver;
mod types;
mod wire;

pub use crate::support::time::unix_now;
pub use api::{McDataClient, Timeouts};
pub use download::{to_hex, PendingDownload};
pub use error::ClientError;
pub use events::{EventStream, FdEvent};
pub use handle::{
    download_to_dir, effective_decision, file_name_for, handle_request, handle_request_with,
    safe_file_name, Decision, Handled,
};
pub use types::{
    Downloaded, FileInfo, HistoryQuery, IncomingRequest, Report, SendFd, Sent, Uploaded,
};
pub use wire::{file_info_from_headers, guess_content_type, history_url, join, ReqBody};
