//! `kb-sso serve`.

/// Not yet.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {}

/// Runs it.
pub(crate) fn main(_args: Args, _name: &str) -> std::process::ExitCode {
    std::process::ExitCode::from(2)
}
