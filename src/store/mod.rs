//! Store implementations.
//!
//! [`memory`] holds embedded, in-process stores: the default for a single
//! process and for tests.

pub mod memory;
