//! HTTP surface.
pub mod conditional;
