//! The read-while-write contract: how far a body being stored (a partner fill) has got.
//! The writer (`cache::fill`) publishes it on a watch channel; readers (`http::file_body`)
//! follow it to send bytes as they land and to end with an error when the write fails.

use std::sync::Arc;

/// How far a file being filled has got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Growth {
    /// `written` bytes are on disk; `total` is the announced length, if any.
    Growing { written: u64, total: Option<u64> },
    /// The body is complete and verified: `len` bytes.
    Complete { len: u64 },
    /// The fill failed; readers must end with an error.
    Failed(Arc<str>),
}
