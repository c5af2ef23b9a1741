//! The partner cache: what is kept ([`entry`]), for how long ([`freshness`]), the index of
//! kept entries with its byte budget and expiry ([`index`]), and the lifecycle of fills that
//! bring new entries in, shared by every client that asks while they run ([`fill`]), and
//! where a fill's bytes go while it runs ([`spool`]).

pub mod entry;
pub mod fill;
pub mod freshness;
pub mod index;
pub mod key;
pub mod spool;

pub use entry::EntryMeta;
pub use fill::{Fill, Fills, HeadState};
pub use index::Index;
pub use key::CacheKey;
