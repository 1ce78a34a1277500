//! Code shared by the examples (and by the tests, through `#[path]`).
#![allow(dead_code)]

pub(crate) mod durable;
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
