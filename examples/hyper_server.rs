//! A KB on plain hyper 1.x over the crate's `tower` services (no axum):
//! the crate's endpoints (`SsoEndpoints`), a public `/`, and private pages
//! (`/docs/...`, `/api/me`) behind `SsoGuardLayer`.
//!
//! ```text
//! cargo run --example hyper_server -- [--listen ADDR] [--login-url URL] [--prefix PATH]
//! ```
//!
//! When ready it prints one JSON line: the listening URL and the demo JWT
//! configuration's credentials (as `kb_server` does).

mod common;
#[path = "common/hyper_app.rs"]
mod hyper_app;

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use kb_sso::SystemClock;

const HELP: &str = "\
hyper_server: a KB on plain hyper 1.x and kb-sso's tower services.

usage: hyper_server [--listen ADDR] [--login-url URL] [--prefix PATH]

  --listen ADDR     address to listen on (default 127.0.0.1:8080)
  --login-url URL   the customer app's login URL for the demo JWT
                    configuration (default http://127.0.0.1:3000/login)
  --prefix PATH     mount the crate's endpoints under PATH, e.g. /sso
                    (default: the spec's paths)
  -h, --help        print this help

Routes: / (public), /docs/... and /api/me (sign-in required), and the
crate's endpoints: PREFIX/api/jwt/generate-code, PREFIX/api/jwt/token,
PREFIX/jwt/authorize, PREFIX/jwt/logout, PREFIX/login, ...";

#[tokio::main]
async fn main() -> ExitCode {
    let mut listen = SocketAddr::from(([127, 0, 0, 1], 8080));
    let mut login_url = common::server::DEFAULT_LOGIN_URL.to_owned();
    let mut prefix = String::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "-h" || arg == "--help" {
            println!("{HELP}");
            return ExitCode::SUCCESS;
        }
        let value = args.next();
        match (arg.as_str(), value) {
            ("--listen", Some(v)) => match v.parse() {
                Ok(a) => listen = a,
                Err(_) => return fail(&format!("--listen: not an address: {v}")),
            },
            ("--login-url", Some(v)) => login_url = v,
            ("--prefix", Some(v)) => prefix = v,
            _ => return fail(HELP),
        }
    }
    let listener = match tokio::net::TcpListener::bind(listen).await {
        Ok(l) => l,
        Err(e) => return fail(&format!("{listen}: {e}")),
    };
    let base = match listener.local_addr() {
        Ok(a) => format!("http://{a}"),
        Err(e) => return fail(&e.to_string()),
    };
    let kb_url = match url::Url::parse(&base) {
        Ok(u) => u,
        Err(e) => return fail(&e.to_string()),
    };
    let (service, project) = match common::server::demo_service(&kb_url, &login_url, SystemClock) {
        Ok(s) => s,
        Err(e) => return fail(&e.to_string()),
    };
    let ready = serde_json::json!({
        "listening": base,
        "prefix": prefix,
        "client_id": project.client_id,
        "primary_secret": project.primary_secret,
        "login_url": project.login_url,
    });
    println!("{ready}");
    hyper_app::serve(listener, Arc::new(service.mount_prefix(&prefix))).await;
    ExitCode::SUCCESS
}

fn fail(message: &str) -> ExitCode {
    eprintln!("{message}");
    ExitCode::from(2)
}
