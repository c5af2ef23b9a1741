//! Placeholder: codec for FD messages (TS 24.282 clause 15). Being written.
