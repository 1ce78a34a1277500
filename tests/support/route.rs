//! Routes a request the way a host with `GET`-only private pages does: the
//! crate's endpoints through `SsoService::serve`, every other path as a
//! private page behind `SsoService::guard`.

use std::future::Future;

use http::{Method, Request, Response, StatusCode, header};
use kb_sso::server::{Guard, SsoService};
use kb_sso::{Clock, CodeStore, ConfigStore, RateLimiter, ReaderSession, SessionRevocations};

/// What the host answers.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// The crate's answer (an endpoint's, or the guard's).
    Response(Response<Vec<u8>>),
    /// The guard let a signed-in reader through to a private page.
    Page(PageRequest),
}

/// A private page the guard let a reader through to.
#[derive(Debug)]
pub(crate) struct PageRequest {
    /// The reader.
    pub(crate) reader: ReaderSession,
    /// The requested path (with its query, if any).
    pub(crate) path: String,
}

/// [`route`] as a method of the service.
pub(crate) trait Handle {
    /// Routes `req` ([`route`]).
    fn handle(&self, req: Request<Vec<u8>>) -> impl Future<Output = Outcome>;
}

impl<CS: ConfigStore, S: CodeStore, C: Clock, L: RateLimiter, R: SessionRevocations> Handle
    for SsoService<CS, S, C, L, R>
{
    fn handle(&self, req: Request<Vec<u8>>) -> impl Future<Output = Outcome> {
        route(self, req)
    }
}

/// The crate's endpoints by `serve`; any other path is a private page that
/// takes `GET` only (405 otherwise), behind the guard.
pub(crate) async fn route<CS: ConfigStore, S: CodeStore, C: Clock, L: RateLimiter, R: SessionRevocations>(
    service: &SsoService<CS, S, C, L, R>,
    req: Request<Vec<u8>>,
) -> Outcome {
    if service.endpoint(req.uri().path()).is_some() {
        let resp = service.serve(req).await.expect("serve answers for its own endpoints");
        return Outcome::Response(resp);
    }
    if req.method() != Method::GET {
        let mut resp = Response::new(Vec::new());
        *resp.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
        resp.headers_mut()
            .insert(header::ALLOW, http::HeaderValue::from_static("GET"));
        return Outcome::Response(resp);
    }
    match service.guard(&req).await {
        Guard::Reader(reader) => Outcome::Page(PageRequest {
            reader,
            path: req.uri().path_and_query().map_or("/", |p| p.as_str()).to_owned(),
        }),
        Guard::Respond(resp) => Outcome::Response(resp),
        // A public page (none in these projects): served empty.
        Guard::Visitor => Outcome::Response(Response::new(Vec::new())),
    }
}
