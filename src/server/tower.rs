//! The crate's endpoints as a `tower` service, and a `Layer` that guards
//! the host's own routes (feature `tower`).
//!
//! Two pieces, for any tower-based stack (hyper, axum, tonic's HTTP side,
//! ...):
//!
//! - [`SsoEndpoints`] serves the crate's endpoints (those
//!   [`SsoService::endpoint`] names under the mount prefix). It collects
//!   the request body up to [`MAX_BODY_BYTES`] (413 beyond), then answers
//!   with [`SsoService::serve`]. A request for any other path is handed,
//!   untouched, to the **fallback** service: by default [`NotFound`] (a 404
//!   JSON answer); set the host's own service with
//!   [`SsoEndpoints::fallback`].
//! - [`SsoGuardLayer`] wraps the host's private routes: for each request it
//!   asks [`SsoService::guard`]. A signed-in reader's request goes on to the
//!   inner service with the [`ReaderSession`] in its extensions
//!   (`req.extensions().get::<ReaderSession>()`); otherwise the guard
//!   answers itself (a redirect to sign in, 401 JSON for API clients, or the
//!   answer to a `?jwt=` / `jwt` cookie handshake) and the inner service is
//!   not called.
//!
//! **Bodies.** Answers of the crate are [`Full<Bytes>`](Full). The guard's
//! response body is [`GuardBody<B>`]: `Either::Left` with the inner
//! service's own body `B`, or `Either::Right` with the guard's answer, so
//! that no body is boxed or copied.
//!
//! **Client addresses.** Brute-force limits count failures per client
//! address, which the crate reads from the request's [`RemoteAddr`]
//! extension. The host inserts it (from the accepted connection, or from a
//! trusted proxy's header) before the request reaches [`SsoEndpoints`];
//! without it every client shares the one key `unknown`.
//!
//! [`RemoteAddr`]: crate::server::RemoteAddr

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body::Body;
use http_body_util::{BodyExt, Either, Full, Limited};
use tower_layer::Layer;
use tower_service::Service;

use super::{Guard, MAX_BODY_BYTES, SsoService};
use crate::clock::Clock;
use crate::code::CodeStore;
use crate::limit::RateLimiter;
use crate::project::ConfigStore;
use crate::session::{ReaderSession, SessionRevocations};

/// A boxed, `Send` future, as the services here return.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// The response body of [`SsoGuard`]: the inner service's own body, or the
/// guard's answer.
pub type GuardBody<B> = Either<B, Full<Bytes>>;

/// The response body of [`SsoEndpoints`] with fallback body `B`: the
/// crate's answer, or the fallback's own body.
pub type EndpointsBody<B> = Either<Full<Bytes>, B>;

/// Collects `req`'s body (at most [`MAX_BODY_BYTES`]) and answers it with
/// [`SsoService::serve`]: `Err(req)` when the path is not one of ours.
///
/// # Errors
/// The request itself, untouched, when its path names none of the crate's
/// endpoints.
pub async fn serve_request<CS, S, C, L, R, B>(
    service: &SsoService<CS, S, C, L, R>,
    req: Request<B>,
) -> Result<Response<Full<Bytes>>, Request<B>>
where
    CS: ConfigStore,
    S: CodeStore,
    C: Clock,
    L: RateLimiter,
    R: SessionRevocations,
    B: Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    if service.endpoint(req.uri().path()).is_none() {
        return Err(req);
    }
    let (parts, body) = req.into_parts();
    let bytes = match Limited::new(body, MAX_BODY_BYTES).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            return Ok(super::wire::payload_too_large().map(Full::from));
        }
        Err(_) => return Ok(error(StatusCode::BAD_REQUEST, "the request body could not be read")),
    };
    match service.serve(Request::from_parts(parts, bytes)).await {
        Some(resp) => Ok(resp.map(Full::from)),
        // `endpoint` named it, so `serve` answers; this is not reached.
        None => Ok(error(StatusCode::NOT_FOUND, "no such endpoint")),
    }
}

/// An OAuth-style JSON error with `invalid_request`.
fn error(status: StatusCode, description: &str) -> Response<Full<Bytes>> {
    super::wire::error(status, "invalid_request", description).map(Full::from)
}

/// The default fallback of [`SsoEndpoints`]: 404 JSON for every request.
#[derive(Debug, Clone, Copy, Default)]
pub struct NotFound;

impl<B> Service<Request<B>> for NotFound {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _req: Request<B>) -> Self::Future {
        std::future::ready(Ok(error(StatusCode::NOT_FOUND, "no such page")))
    }
}

/// A `tower::Service` serving the crate's endpoints; any other request
/// goes to the fallback service `F` ([`NotFound`] unless set).
pub struct SsoEndpoints<CS, S, C, L, R, F = NotFound> {
    service: Arc<SsoService<CS, S, C, L, R>>,
    fallback: F,
}

impl<CS, S, C, L, R> SsoEndpoints<CS, S, C, L, R, NotFound> {
    /// The crate's endpoints, with 404 for every other path.
    pub fn new(service: Arc<SsoService<CS, S, C, L, R>>) -> Self {
        Self {
            service,
            fallback: NotFound,
        }
    }
}

impl<CS, S, C, L, R, F> SsoEndpoints<CS, S, C, L, R, F> {
    /// Hands requests for paths that are not the crate's to `fallback` (the
    /// host's own service), untouched.
    pub fn fallback<F2>(self, fallback: F2) -> SsoEndpoints<CS, S, C, L, R, F2> {
        SsoEndpoints {
            service: self.service,
            fallback,
        }
    }
}

impl<CS, S, C, L, R, F: Clone> Clone for SsoEndpoints<CS, S, C, L, R, F> {
    fn clone(&self) -> Self {
        Self {
            service: self.service.clone(),
            fallback: self.fallback.clone(),
        }
    }
}

impl<CS, S, C, L, R, F: std::fmt::Debug> std::fmt::Debug for SsoEndpoints<CS, S, C, L, R, F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SsoEndpoints")
            .field("fallback", &self.fallback)
            .finish_non_exhaustive()
    }
}

impl<CS, S, C, L, R, F, B, FB> Service<Request<B>> for SsoEndpoints<CS, S, C, L, R, F>
where
    CS: ConfigStore + 'static,
    S: CodeStore + 'static,
    C: Clock + 'static,
    L: RateLimiter + 'static,
    R: SessionRevocations + 'static,
    F: Service<Request<B>, Response = Response<FB>>,
    F::Future: Send + 'static,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Response = Response<EndpointsBody<FB>>;
    type Error = F::Error;
    type Future = BoxFuture<Result<Self::Response, F::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), F::Error>> {
        self.fallback.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        if self.service.endpoint(req.uri().path()).is_none() {
            let fut = self.fallback.call(req);
            return Box::pin(async move { Ok(fut.await?.map(Either::Right)) });
        }
        let service = self.service.clone();
        Box::pin(async move {
            match serve_request(&service, req).await {
                Ok(resp) => Ok(resp.map(Either::Left)),
                Err(_) => Ok(error(StatusCode::NOT_FOUND, "no such endpoint").map(Either::Left)),
            }
        })
    }
}

/// A `tower::Layer` guarding the host's private routes with
/// [`SsoService::guard`]; see the [module docs](self).
pub struct SsoGuardLayer<CS, S, C, L, R> {
    service: Arc<SsoService<CS, S, C, L, R>>,
}

impl<CS, S, C, L, R> SsoGuardLayer<CS, S, C, L, R> {
    /// A guard asking `service` about every request.
    pub fn new(service: Arc<SsoService<CS, S, C, L, R>>) -> Self {
        Self { service }
    }
}

impl<CS, S, C, L, R> Clone for SsoGuardLayer<CS, S, C, L, R> {
    fn clone(&self) -> Self {
        Self {
            service: self.service.clone(),
        }
    }
}

impl<CS, S, C, L, R> std::fmt::Debug for SsoGuardLayer<CS, S, C, L, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SsoGuardLayer").finish_non_exhaustive()
    }
}

impl<I, CS, S, C, L, R> Layer<I> for SsoGuardLayer<CS, S, C, L, R> {
    type Service = SsoGuard<I, CS, S, C, L, R>;

    fn layer(&self, inner: I) -> Self::Service {
        SsoGuard {
            inner,
            service: self.service.clone(),
        }
    }
}

/// The service [`SsoGuardLayer`] makes around the host's inner service.
pub struct SsoGuard<I, CS, S, C, L, R> {
    inner: I,
    service: Arc<SsoService<CS, S, C, L, R>>,
}

impl<I: Clone, CS, S, C, L, R> Clone for SsoGuard<I, CS, S, C, L, R> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            service: self.service.clone(),
        }
    }
}

impl<I: std::fmt::Debug, CS, S, C, L, R> std::fmt::Debug for SsoGuard<I, CS, S, C, L, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SsoGuard")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<I, CS, S, C, L, R, B, IB> Service<Request<B>> for SsoGuard<I, CS, S, C, L, R>
where
    I: Service<Request<B>, Response = Response<IB>> + Clone + Send + 'static,
    I::Future: Send + 'static,
    CS: ConfigStore + 'static,
    S: CodeStore + 'static,
    C: Clock + 'static,
    L: RateLimiter + 'static,
    R: SessionRevocations + 'static,
    B: Send + 'static,
{
    type Response = Response<GuardBody<IB>>;
    type Error = I::Error;
    type Future = BoxFuture<Result<Self::Response, I::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), I::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        // The readied service answers this request; a fresh clone waits for
        // the next one (tower's usual pattern).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let service = self.service.clone();
        Box::pin(async move {
            // The guard reads only the head; the body waits beside it.
            let (parts, body) = req.into_parts();
            let head = Request::from_parts(parts, ());
            match service.guard(&head).await {
                Guard::Reader(reader) => {
                    let (mut parts, ()) = head.into_parts();
                    parts.extensions.insert::<ReaderSession>(reader);
                    Ok(inner.call(Request::from_parts(parts, body)).await?.map(Either::Left))
                }
                Guard::Visitor => {
                    let (parts, ()) = head.into_parts();
                    Ok(inner.call(Request::from_parts(parts, body)).await?.map(Either::Left))
                }
                Guard::Respond(resp) => Ok(resp.map(|b| Either::Right(Full::from(b)))),
            }
        })
    }
}
