//! The hyper example (`examples/hyper_server.rs`: plain hyper 1.x over the
//! crate's tower services, no axum) runs the same flows as the axum app,
//! over real localhost HTTP.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../examples/common/mod.rs"]
mod common;
#[path = "../examples/common/hyper_app.rs"]
mod hyper_app;
#[path = "support/sso_flow.rs"]
mod sso_flow;

use std::net::SocketAddr;
use std::sync::Arc;

const LOGIN: &str = "http://127.0.0.1:9/login";

async fn start(prefix: &str) -> (sso_flow::App, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (service, project) =
        common::server::demo_service(&url::Url::parse(&base).unwrap(), LOGIN, kb_sso::SystemClock).unwrap();
    let task = tokio::spawn(hyper_app::serve(listener, Arc::new(service.mount_prefix(prefix))));
    let app = sso_flow::App {
        base,
        prefix: prefix.to_owned(),
        login_url: LOGIN.to_owned(),
        client_id: project.client_id,
        secret: project.primary_secret,
    };
    (app, task)
}

#[tokio::test]
async fn the_hyper_example_under_a_prefix_runs_the_code_flow_a_handshake_and_logout() {
    let (app, task) = start("/sso").await;
    app.all_flows().await;
    task.abort();
}

#[tokio::test]
async fn the_hyper_example_at_the_spec_paths_runs_every_flow() {
    let (app, task) = start("").await;
    app.all_flows().await;
    task.abort();
}

#[test]
fn the_hyper_example_has_a_help() {
    let out = std::process::Command::new(env!("CARGO"))
        .args([
            "run",
            "--quiet",
            "--all-features",
            "--example",
            "hyper_server",
            "--",
            "--help",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let help = String::from_utf8(out.stdout).unwrap();
    assert!(
        help.contains("usage: hyper_server") && help.contains("--prefix"),
        "{help}"
    );
}
