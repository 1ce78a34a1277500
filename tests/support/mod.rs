//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub(crate) mod redis;
pub(crate) mod route;

/// Whether tests must fail rather than skip when a tool or server is
/// missing (`KB_SSO_REQUIRE_SERVERS=1`, as CI sets it).
pub(crate) fn servers_required() -> bool {
    std::env::var("KB_SSO_REQUIRE_SERVERS").is_ok_and(|v| v == "1")
}

/// Says loudly that a test is skipped because `what` is missing, or fails
/// the test when missing tools are not allowed.
pub(crate) fn skip_or_fail(test: &str, what: &str) {
    assert!(
        !servers_required(),
        "{test}: {what} is missing and KB_SSO_REQUIRE_SERVERS=1 is set"
    );
    eprintln!("\n!!! SKIPPED {test}: {what} is missing (set KB_SSO_REQUIRE_SERVERS=1 to make this a failure)\n");
}
