//! The partner cache, an RFC 9111 shared cache: which stored response answers a request
//! ([`key`], with [`vary`] for secondary keys), what is kept of it ([`entry`], with
//! [`fields`] for the header fields that cross the cache), for how long and whether it may
//! be used now ([`freshness`], over the parsed [`directives`]), the index of kept entries
//! with its byte budget and expiry ([`index`]), the lifecycle of fills that bring new
//! entries in (or revalidate them), shared by every client that asks while they run
//! ([`fill`]), and where a fill's bytes go while it runs ([`spool`]).

pub mod directives;
pub mod entry;
pub mod fields;
pub mod fill;
pub mod freshness;
pub mod index;
pub mod key;
pub mod shared;
pub mod spool;
pub mod vary;

pub use entry::EntryMeta;
pub use fill::{Fill, Fills, HeadState};
pub use index::Index;
pub use key::CacheKey;
