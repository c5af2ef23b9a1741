//! The integration test binary: every module under `tests/integration/` starts real servers
//! on 127.0.0.1 ports and talks HTTP to them. One binary keeps link time low.

#[path = "integration/binary.rs"]
mod binary;
#[path = "integration/harness.rs"]
mod harness;
#[path = "integration/moto.rs"]
mod moto;
#[path = "integration/origin.rs"]
mod origin;
#[path = "integration/plain_origin.rs"]
mod plain_origin;

#[path = "integration/cli.rs"]
mod cli;
#[path = "integration/coalescing.rs"]
mod coalescing;
#[path = "integration/disk_full.rs"]
mod disk_full;
#[path = "integration/fd.rs"]
mod fd;
#[path = "integration/fd_metadata.rs"]
mod fd_metadata;
#[path = "integration/file_names.rs"]
mod file_names;
#[path = "integration/http_cache.rs"]
mod http_cache;
#[path = "integration/jwt.rs"]
mod jwt;
#[path = "integration/methods.rs"]
mod methods;
#[path = "integration/operations.rs"]
mod operations;
#[path = "integration/packaging.rs"]
mod packaging;
#[path = "integration/partner.rs"]
mod partner;
#[path = "integration/primary.rs"]
mod primary;
#[path = "integration/restart.rs"]
mod restart;
#[path = "integration/s3.rs"]
mod s3;
#[path = "integration/s3_partner.rs"]
mod s3_partner;
#[path = "integration/scale_out.rs"]
mod scale_out;
#[path = "integration/security.rs"]
mod security;
#[path = "integration/signals.rs"]
mod signals;
#[path = "integration/sip.rs"]
mod sip;
#[path = "integration/sipp.rs"]
mod sipp;
#[path = "integration/store_suite.rs"]
mod store_suite;
#[path = "integration/tls.rs"]
mod tls;
#[path = "integration/tls_listen.rs"]
mod tls_listen;
