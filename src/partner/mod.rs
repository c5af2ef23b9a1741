//! Partner role.
pub mod target;
