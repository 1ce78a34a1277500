//! Store implementations.
//!
//! [`memory`] holds embedded, in-process stores: the default for a single
//! process and for tests. `redis` (feature `redis`) holds a code store
//! shared by many app instances.

pub mod memory;
mod replay;

#[cfg(feature = "redis")]
pub mod redis;
