//! An axum app mounting the crate the way the README shows: the crate's
//! endpoints under `/sso` next to the app's own routes, its private routes
//! behind the guard layer. Every flow runs over real localhost HTTP.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../examples/common/mod.rs"]
mod common;
#[path = "support/sso_flow.rs"]
mod sso_flow;

use std::net::SocketAddr;
use std::sync::Arc;

// ---- The app, as in the README -------------------------------------------
use axum::routing::get;
use axum::{Json, Router};
use kb_sso::ReaderSession;
use kb_sso::server::axum::{guard_layer, router};
use serde_json::{Value, json};

/// The app's own pages: one public, the rest for signed-in readers.
fn app(sso: Arc<common::server::Service<kb_sso::SystemClock>>) -> Router {
    Router::new()
        .route("/docs/{*page}", get(doc))
        .route("/api/me", get(me))
        .route_layer(guard_layer(sso.clone()))
        .route("/", get(|| async { "Welcome! The docs are for signed-in readers." }))
        .merge(router(sso))
}

async fn doc(reader: ReaderSession, uri: http::Uri) -> Json<Value> {
    Json(json!({
        "reader": { "username": reader.username, "groups": reader.groups },
        "path": uri.path(),
    }))
}

async fn me(reader: ReaderSession) -> Json<Value> {
    Json(json!({ "username": reader.username, "email": reader.email }))
}
// ---------------------------------------------------------------------------

/// The customer app's login URL (played by the tests).
const LOGIN: &str = "http://127.0.0.1:9/login";

async fn start(prefix: &str) -> (sso_flow::App, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (service, project) =
        common::server::demo_service(&url::Url::parse(&base).unwrap(), LOGIN, kb_sso::SystemClock).unwrap();
    let sso = Arc::new(service.mount_prefix(prefix));
    let task = tokio::spawn(async move {
        axum::serve(listener, app(sso)).await.unwrap();
    });
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
async fn an_axum_app_with_the_crate_under_a_prefix_runs_the_code_flow_a_handshake_and_logout() {
    let (app, task) = start("/sso").await;
    app.all_flows().await;
    task.abort();
}

#[tokio::test]
async fn an_axum_app_with_the_crate_at_the_spec_paths_runs_every_flow() {
    let (app, task) = start("").await;
    app.all_flows().await;
    task.abort();
}

#[tokio::test]
async fn the_reader_extractor_without_the_guard_fails_closed() {
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let unguarded = Router::new().route("/api/me", get(me));
    let task = tokio::spawn(async move {
        axum::serve(listener, unguarded).await.unwrap();
    });
    let resp = reqwest::get(format!("{base}/api/me")).await.unwrap();
    assert_eq!(resp.status(), reqwest::StatusCode::UNAUTHORIZED);
    assert_eq!(resp.json::<Value>().await.unwrap()["error"], "login_required");
    task.abort();
}
