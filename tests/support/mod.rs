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
///
/// The notice is written straight to the process's stderr, past the test
/// harness's output capture, so that it stands on the test's own line in
/// the runner's output (`test x ... SKIPPED: redis-server is missing ok`)
/// instead of being swallowed behind a plain `ok`; libtest cannot mark a
/// test ignored once it runs, so CI sets `KB_SSO_REQUIRE_SERVERS=1` to make
/// a skip a failure.
pub(crate) fn skip_or_fail(test: &str, what: &str) {
    assert!(
        !servers_required(),
        "{test}: {what} is missing and KB_SSO_REQUIRE_SERVERS=1 is set"
    );
    use std::io::Write as _;
    let notice = format!(
        "SKIPPED {test}: {what} is missing (install it, or set KB_SSO_REQUIRE_SERVERS=1 to make this a failure) "
    );
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(notice.as_bytes());
    let _ = err.flush();
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

/// The example binary `name` that `cargo test` built beside this test
/// (`target/<profile>/examples/<name>`), built now when it is missing (a
/// test file run alone does not build the examples).
pub(crate) fn example_binary(name: &str) -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let dir = exe
        .parent()
        .and_then(std::path::Path::parent)
        .expect("the test binary sits in target/<profile>/deps")
        .join("examples");
    let bin = dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    if !bin.exists() {
        build_example(name);
    }
    bin
}

/// Builds the example `name` with every feature (a no-op when it is up to
/// date).
pub(crate) fn build_example(name: &str) {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = std::process::Command::new(cargo)
        .args(["build", "--example", name, "--all-features"])
        .status()
        .expect("cargo runs");
    assert!(status.success(), "could not build {name}");
}
