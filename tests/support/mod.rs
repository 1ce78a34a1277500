//! Helpers shared by the integration tests.
#![allow(dead_code)]

#[cfg(feature = "postgres")]
pub(crate) mod postgres;
pub(crate) mod redis;
pub(crate) mod route;
#[cfg(feature = "email")]
pub(crate) mod smtp;
pub(crate) mod store_contract;

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

/// Changes the project in `store` directly, unaudited (a test's set-up;
/// admin operations go through `kb_sso::Admin`): reads the current
/// revision, runs `f` on a copy and saves it against that revision.
pub(crate) async fn edit_project<CS, T>(
    store: &CS,
    f: impl FnOnce(&mut kb_sso::Project) -> Result<T, kb_sso::ConfigError>,
) -> Result<T, kb_sso::ConfigError>
where
    CS: kb_sso::ConfigStore + ?Sized,
{
    let current = store.current().await.expect("the store answers");
    let mut draft = kb_sso::Project::clone(&current.project);
    let value = f(&mut draft)?;
    store
        .save(current.revision, draft)
        .await
        .expect("the store answers")
        .expect("no other save in between");
    Ok(value)
}
