//! Code shared by the examples (and by the tests, through `#[path]`).
#![allow(dead_code)]

// The reference server has one home, the `kb-sso serve` command's
// modules; the examples and tests use the same code.
#[path = "../../src/bin/kb-sso/serve/durable.rs"]
pub(crate) mod durable;
#[path = "../../src/bin/kb-sso/serve/server.rs"]
pub(crate) mod server;

/// The code request body of the spec's curl and Postman tests.
#[allow(unused_imports)]
pub(crate) use server::SPEC_CODE_REQUEST;

pub(crate) mod customer;
