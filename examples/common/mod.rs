//! Code shared by the examples (and by the tests, through `#[path]`).
#![allow(dead_code)]

pub(crate) mod server;
