//! The KB of `examples/hyper_server.rs` on plain hyper 1.x and the crate's
//! `tower` services (no axum), shared with `tests/hyper_server.rs`:
//!
//! - `SsoEndpoints` answers the crate's endpoints (under the service's mount
//!   prefix) and hands every other request to the host's own service;
//! - the host serves `/` publicly, and `/docs/...` and `/api/me` behind
//!   `SsoGuardLayer`, reading the `ReaderSession` it leaves in the
//!   request's extensions; anything else is 404.
#![allow(dead_code)]

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body_util::{Either, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use kb_sso::server::RemoteAddr;
use kb_sso::server::tower::{GuardBody, SsoEndpoints, SsoGuard, SsoGuardLayer};
use kb_sso::store::ArcConfigStore;
use kb_sso::store::BoxCodeStore;
use kb_sso::store::{BoxRateLimiter, BoxSessionRevocations};
use kb_sso::{Clock, ReaderSession};
use serde_json::json;
use tokio::net::TcpListener;
use tower_layer::Layer;
use tower_service::Service;

use crate::common::server::Service as Sso;

/// The host's private pages, behind the guard.
type Guarded<C> = SsoGuard<Pages, ArcConfigStore, BoxCodeStore, C, BoxRateLimiter, BoxSessionRevocations>;

/// Accepts connections on `listener` and serves each one with hyper's
/// HTTP/1.1, the client's address going into the request as `RemoteAddr`.
/// Runs until the task is dropped.
pub(crate) async fn serve<C: Clock + 'static>(listener: TcpListener, sso: Arc<Sso<C>>) {
    let guarded = SsoGuardLayer::new(sso.clone()).layer(Pages);
    let app = SsoEndpoints::new(sso).fallback(Host { guarded });
    loop {
        let Ok((stream, peer)) = listener.accept().await else {
            continue;
        };
        let app = app.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |mut req: Request<Incoming>| {
                req.extensions_mut().insert(RemoteAddr(peer.ip()));
                let mut app = app.clone();
                async move {
                    std::future::poll_fn(|cx| app.poll_ready(cx)).await?;
                    app.call(req).await
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// The host's own routes: `/` for everyone, the private pages through the
/// guard, 404 for the rest.
struct Host<C> {
    guarded: Guarded<C>,
}

impl<C> Clone for Host<C> {
    fn clone(&self) -> Self {
        Self {
            guarded: self.guarded.clone(),
        }
    }
}

impl<C: Clock + 'static> Service<Request<Incoming>> for Host<C> {
    type Response = Response<GuardBody<Full<Bytes>>>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.guarded.poll_ready(cx)
    }

    fn call(&mut self, req: Request<Incoming>) -> Self::Future {
        let path = req.uri().path();
        if path == "/" {
            let home = html(
                "<!doctype html><title>Docs</title><h1>Docs</h1><p><a href=\"/docs/getting-started\">Getting started</a> (sign-in required)</p>",
            );
            return Box::pin(async move { Ok(home.map(Either::Left)) });
        }
        if path == "/api/me" || path == "/docs" || path.starts_with("/docs/") {
            return self.guarded.call(req);
        }
        let missing = json_answer(StatusCode::NOT_FOUND, &json!({"error": "not_found"}));
        Box::pin(async move { Ok(missing.map(Either::Left)) })
    }
}

/// The private pages; the guard put the reader in the extensions.
#[derive(Clone, Copy)]
struct Pages;

impl Service<Request<Incoming>> for Pages {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<Incoming>) -> Self::Future {
        let Some(r) = req.extensions().get::<ReaderSession>() else {
            // Not behind the guard: fail closed.
            return std::future::ready(Ok(json_answer(
                StatusCode::UNAUTHORIZED,
                &json!({"error": "login_required"}),
            )));
        };
        let body = if req.uri().path() == "/api/me" {
            json!({ "username": r.username, "email": r.email })
        } else {
            json!({
                "reader": {
                    "username": r.username,
                    "email": r.email,
                    "first_name": r.first_name,
                    "last_name": r.last_name,
                    "groups": r.groups,
                },
                "path": req.uri().path_and_query().map_or("/", |p| p.as_str()),
            })
        };
        let mut resp = json_answer(StatusCode::OK, &body);
        resp.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
        std::future::ready(Ok(resp))
    }
}

fn html(text: &'static str) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::from(text));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    resp
}

fn json_answer(status: StatusCode, body: &serde_json::Value) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::from(body.to_string()));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}
