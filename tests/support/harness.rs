//! The harness of the test files whose tests need a server or tool from
//! outside (redis-server, PostgreSQL, curl, PyJWT): `harness = false` in
//! `Cargo.toml` and [`test_main!`](crate::test_main) instead of
//! `#[tokio::test]`.
//!
//! libtest cannot mark a test ignored once it runs, so a test that finds
//! its server missing would pass. Under this harness (libtest-mimic) such a
//! test ends in [`super::skip_or_fail`], which unwinds with a [`Skip`]; the
//! harness reports it as `ignored, <reason>` and counts it among the
//! ignored in the summary. Under `KB_SSO_REQUIRE_SERVERS=1` (CI) the same
//! call fails the test instead.

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::pin::Pin;
use std::process::ExitCode;

use libtest_mimic::{Arguments, Completion, Failed, Trial};

/// Why a test did not run: the payload [`super::skip_or_fail`] unwinds
/// with, reported by the harness as the reason the test is ignored.
pub(crate) struct Skip(pub(crate) String);

/// A test's body: makes the test's future.
pub(crate) type Body = Box<dyn FnOnce() -> Pin<Box<dyn Future<Output = ()>>> + Send>;

/// One test: its name, the worker threads of its runtime, its body.
pub(crate) struct Test {
    /// The function's name, as libtest would show it.
    pub(crate) name: &'static str,
    /// Worker threads of the test's multi-threaded tokio runtime.
    pub(crate) workers: usize,
    /// The test.
    pub(crate) body: Body,
}

/// Runs `tests` with libtest's command line (filters, `--list`,
/// `--ignored`, `--test-threads`, ...) and summary, each test on a tokio
/// runtime of its own.
pub(crate) fn run(tests: Vec<Test>) -> ExitCode {
    let args = Arguments::from_args();
    let trials = tests
        .into_iter()
        .map(|test| {
            Trial::ignorable_test(test.name, move || {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(test.workers)
                    .enable_all()
                    .build()
                    .map_err(|e| Failed::from(format!("tokio runtime: {e}")))?;
                match catch_unwind(AssertUnwindSafe(|| rt.block_on((test.body)()))) {
                    Ok(()) => Ok(Completion::Completed),
                    Err(payload) => match payload.downcast::<Skip>() {
                        Ok(skip) => Ok(Completion::ignored_with(skip.0)),
                        Err(payload) => resume_unwind(payload),
                    },
                }
            })
        })
        .collect();
    libtest_mimic::run(&args, trials).exit_code()
}

/// `fn main` running the named `async fn`s as tests under [`run`]:
/// `test_main!(a, b, #[cfg(feature = "x")] c, d = 8)` (`= 8`: eight worker
/// threads instead of two).
#[macro_export]
macro_rules! test_main {
    ($( $(#[$meta:meta])* $name:ident $(= $workers:literal)? ),* $(,)?) => {
        fn main() -> std::process::ExitCode {
            #[allow(unused_mut)]
            let mut tests = Vec::new();
            $(
                $(#[$meta])*
                tests.push(support::harness::Test {
                    name: stringify!($name),
                    workers: { #[allow(unused_variables)] let w = 2; $(let w = $workers;)? w },
                    body: Box::new(|| Box::pin($name())),
                });
            )*
            support::harness::run(tests)
        }
    };
}
