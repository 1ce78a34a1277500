//! `kb-sso project`.

use crate::out::{Failure, Outcome, Paint};

/// Not yet.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {}

/// Runs it.
pub(crate) fn run(_args: &Args, _paint: Paint) -> Outcome {
    Err(Failure::usage("not yet"))
}
