//! The HTTP surface: the server loop, the body type, file-backed bodies (read, or sent
//! zero-copy with `sendfile`) and stored-stream bodies, the shared
//! representation logic (validators, ranges, conditionals), file names in
//! `Content-Disposition` (RFC 6266, RFC 8187), and the one mapping of every module's errors
//! to HTTP responses.

pub mod abort;
pub mod access_log;
pub mod body;
pub mod client;
pub mod conditional;
pub mod disposition;
pub mod error;
pub mod file_body;
pub mod metrics_listener;
pub mod replay;
pub mod representation;
pub mod sendfile;
pub mod server;
pub mod server_tls;
pub mod stream_body;
