//! mcdata: MCData file distribution (3GPP TS 23.282 7.5.2) between interconnected systems.
//!
//! The crate is one binary with a library behind it so that integration tests and
//! benches drive the same code the binary runs. Each module owns one concern; see
//! `docs/architecture.md` for the picture and the path of a request.

pub mod access;
pub mod cache;
pub mod client;
pub mod client_cli;
pub mod codec;
pub mod config;
pub mod content_server;
pub mod demo;
pub mod fd;
pub mod http;
pub mod metrics;
pub mod partner;
pub mod primary;
pub mod service;
pub mod storage;
pub mod support;
pub mod system;
