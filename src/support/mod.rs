//! Leaf helpers: small pure functions every layer may use, with no imports from the rest
//! of the crate (so any module can depend on them without creating a cycle). One concern a
//! file: [`time`] (Unix seconds), [`hex`] (lower-case hex and sha-256 text), [`origin`]
//! (URL origins and the partner-prefixed form of a URL), [`size`] (human byte counts),
//! [`error_chain`] (an error and its sources as one line), and the `step!` macro that logs
//! one step of the FD procedure ([`step`]).

pub mod error_chain;
pub mod hex;
pub mod origin;
pub mod size;
pub mod step;
pub mod time;
