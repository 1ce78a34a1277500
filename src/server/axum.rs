//! The axum adapter (feature `axum`): the crate's endpoints as a
//! [`Router`] to merge into the host's, a guard layer for the host's
//! private routes, and a [`ReaderSession`] extractor for their handlers.
//!
//! ```no_run
//! # use std::sync::Arc;
//! # use axum::routing::get;
//! # use kb_sso::ReaderSession;
//! # fn app<CS: kb_sso::ConfigStore + 'static, S: kb_sso::CodeStore + 'static, C: kb_sso::Clock + 'static>(
//! #     sso: Arc<kb_sso::server::SsoService<CS, S, C>>,
//! # ) -> axum::Router {
//! async fn doc(reader: ReaderSession) -> String {
//!     format!("Hello, {}", reader.first_name)
//! }
//! axum::Router::new()
//!     .route("/docs/{*page}", get(doc))
//!     .route_layer(kb_sso::server::axum::guard_layer(sso.clone()))
//!     .route("/", get(|| async { "public" }))
//!     .merge(kb_sso::server::axum::router(sso))
//! # }
//! ```
//!
//! Use `route_layer` (not `layer`) for the guard, so that it runs only for
//! requests a private route matches: an unknown path still gets the host's
//! 404. `Router::route_layer` guards every method of those routes (a
//! request with a method the route lacks is sent to sign in first); to
//! answer 405 before the guard, layer the method router instead:
//! `get(doc).route_layer(guard_layer(sso))`.
//!
//! The crate's brute-force limits count per client address: the host puts
//! a [`RemoteAddr`](crate::server::RemoteAddr) in each request's
//! extensions (for example from axum's `ConnectInfo`, in a
//! `middleware::map_request` layer); see [`tower`](super::tower).

use std::sync::Arc;

use axum::Router;
use axum::extract::FromRequestParts;
use axum::response::{IntoResponse, Response};
use http::request::Parts;
use http::{HeaderValue, StatusCode, header};

use super::SsoService;
use super::tower::{SsoEndpoints, SsoGuardLayer};
use crate::clock::Clock;
use crate::code::CodeStore;
use crate::limit::RateLimiter;
use crate::project::ConfigStore;
use crate::session::{ReaderSession, SessionRevocations};

/// A router with only the crate's endpoints, under the service's mount
/// prefix ([`SsoService::mount_prefix`]), to `merge` into the host's
/// router. Each endpoint keeps its own method and size checks (a body over
/// [`MAX_BODY_BYTES`](crate::server::MAX_BODY_BYTES) gets 413). A path the
/// host's router already has panics at `merge`, as axum does for any
/// overlap.
pub fn router<CS, S, C, L, R, St>(service: Arc<SsoService<CS, S, C, L, R>>) -> Router<St>
where
    CS: ConfigStore + 'static,
    S: CodeStore + 'static,
    C: Clock + 'static,
    L: RateLimiter + 'static,
    R: SessionRevocations + 'static,
    St: Clone + Send + Sync + 'static,
{
    let table = service.endpoints();
    let endpoints = SsoEndpoints::new(service);
    table.into_iter().fold(Router::new(), |router, (path, _)| {
        router.route_service(&path, endpoints.clone())
    })
}

/// The guard for the host's private routes ([`SsoGuardLayer`]): add it
/// with `Router::route_layer` after those routes; their handlers take a
/// [`ReaderSession`] argument.
pub fn guard_layer<CS, S, C, L, R>(service: Arc<SsoService<CS, S, C, L, R>>) -> SsoGuardLayer<CS, S, C, L, R> {
    SsoGuardLayer::new(service)
}

/// The rejection of the [`ReaderSession`] extractor: the route is not
/// behind the guard layer, so no reader was found. Answers 401 JSON
/// `{"error":"login_required"}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoReader;

impl IntoResponse for NoReader {
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "error": "login_required",
            "error_description": "this page needs a signed-in reader",
        });
        let mut resp = (StatusCode::UNAUTHORIZED, body.to_string()).into_response();
        resp.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        resp.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        resp
    }
}

/// The signed-in reader, as the guard layer left it in the request's
/// extensions. Without the layer in front, every request is refused with
/// [`NoReader`] (401): a route that forgot the guard fails closed.
impl<St: Send + Sync> FromRequestParts<St> for ReaderSession {
    type Rejection = NoReader;

    async fn from_request_parts(parts: &mut Parts, _state: &St) -> Result<Self, NoReader> {
        parts.extensions.get::<ReaderSession>().cloned().ok_or(NoReader)
    }
}

/// `Option<ReaderSession>`: the signed-in reader, or `None` on a page the
/// guard let through without one (a public page, DESIGN 3.21).
impl<St: Send + Sync> axum::extract::OptionalFromRequestParts<St> for ReaderSession {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &St) -> Result<Option<Self>, Self::Rejection> {
        Ok(parts.extensions.get::<ReaderSession>().cloned())
    }
}
