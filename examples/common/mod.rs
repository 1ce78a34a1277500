//! Code shared by the examples (and by the tests, through `#[path]`).
#![allow(dead_code)]

// The reference server has one home, the `kb-sso serve` command's
// modules; the examples and tests use the same code.
#[path = "../../src/bin/kb-sso/serve/durable.rs"]
pub(crate) mod durable;
#[path = "../../src/bin/kb-sso/serve/server.rs"]
pub(crate) mod server;

/// The code request body of the spec's curl and Postman tests.
pub(crate) const SPEC_CODE_REQUEST: &str = r#"{
"username": "john.doe",
"firstName": "John",
"lastName": "Doe",
"emailId": "john.doe@example.com",
"readerGroupIds": ["group1", "group2"],
"tokenValidity": 15
}"#;

pub(crate) mod customer;
