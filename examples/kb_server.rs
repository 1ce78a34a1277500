//! The reference KB server: identity server and KB site in one process.
//!
//! ```text
//! cargo run --features http --example kb_server -- [--listen ADDR] [--login-url URL]
//! ```
//!
//! With `--project FILE` it serves the project in FILE (see
//! `kb_sso::ProjectFile`; secrets in the file are for development only), and
//! a file that breaks a rule makes it exit with status 2, naming the field.
//! Without it, it creates a demo project with one enabled JWT configuration
//! and, when ready, prints one JSON line to stdout:
//! `{"listening":"http://127.0.0.1:PORT","client_id":"...","primary_secret":"...","secondary_secret":"...","login_url":"..."}`.
//! It speaks HTTP/1.1 and cleartext HTTP/2 (prior knowledge) on one port.

mod common;

use std::io::Write as _;
use std::net::SocketAddr;
use std::process::ExitCode;

use kb_sso::SystemClock;

const USAGE: &str = "usage: kb_server [--listen ADDR] [--login-url URL | --project FILE]";

#[tokio::main]
async fn main() -> ExitCode {
    let mut listen: SocketAddr = SocketAddr::from(([127, 0, 0, 1], 8080));
    let mut login_url = common::server::DEFAULT_LOGIN_URL.to_owned();
    let mut project_file = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = args.next();
        match (arg.as_str(), value) {
            ("--listen", Some(v)) => match v.parse() {
                Ok(a) => listen = a,
                Err(_) => return fail(&format!("--listen: not an address: {v}")),
            },
            ("--login-url", Some(v)) => login_url = v,
            ("--project", Some(v)) => project_file = Some(v),
            _ => return fail(USAGE),
        }
    }
    let started = match project_file {
        Some(path) => match common::server::load_project_file(&path) {
            Ok(loaded) => common::server::start_project(listen, loaded, SystemClock).await,
            Err(message) => return fail(&message),
        },
        None => common::server::start(listen, &login_url, SystemClock).await,
    };
    let running = match started {
        Ok(r) => r,
        Err(e) => return fail(&format!("kb_server: {e}")),
    };
    let mut out = std::io::stdout().lock();
    if writeln!(out, "{}", running.ready_line())
        .and_then(|()| out.flush())
        .is_err()
    {
        return ExitCode::FAILURE;
    }
    drop(out);
    let _ = tokio::signal::ctrl_c().await;
    running.stop().await;
    ExitCode::SUCCESS
}

fn fail(message: &str) -> ExitCode {
    eprintln!("{message}");
    ExitCode::from(2)
}
