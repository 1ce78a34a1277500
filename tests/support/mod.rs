//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub(crate) mod harness;
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

/// Ends a test that cannot run because `what` is missing: under
/// `KB_SSO_REQUIRE_SERVERS=1` (as CI sets it) a failure; otherwise an
/// unwind with a [`harness::Skip`], which the files' own harness
/// ([`harness`], `harness = false`) reports as an ignored test with the
/// reason, in the runner's summary, never as a pass.
pub(crate) fn skip_or_fail(test: &str, what: &str) -> ! {
    assert!(
        !servers_required(),
        "{test}: {what} is missing and KB_SSO_REQUIRE_SERVERS=1 is set"
    );
    std::panic::resume_unwind(Box::new(harness::Skip(format!(
        "needs {what}; under KB_SSO_REQUIRE_SERVERS=1 a failure"
    ))))
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
