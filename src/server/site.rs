//! The KB site's endpoints: authorize, the handshake callback, logout, the
//! login page and its domain form, and the [`guard`](SiteEndpoints::guard)
//! of the host's own private pages.

use std::sync::Arc;

use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use serde_json::json;
use time::OffsetDateTime;
use url::Url;

use super::exchange::{CodeExchange, ExchangeError};
use super::wire::{
    self, CookieJar, Rejection, code_error, cookies, error, has_cookie, json_response, no_store, redirect, redirect_to,
    set, set_cookie, set_owned_cookie, too_large_session, unavailable, wants_json, without_param,
};
use super::{Endpoint, SetupError};
use crate::clock::Clock;
use crate::code::{CodeError, GrantProblem};
use crate::handshake::{HandshakeErrorKind, HandshakeVerifier, ReplayCache};
use crate::login_page::{HtmlLoginRenderer, LoginPage, LoginPageRenderer, RenderContext};
use crate::paths;
use crate::project::{ConfigStore, ProjectSnapshot, Revision};
use crate::redirect::{RedirectPolicy, SafeRedirect, append_query};
use crate::routing::{DomainRouter, Route};
use crate::session::{HANDSHAKE_COOKIE, ReaderSession, SessionCodec, SessionRevocations};
use crate::store::BoxReplayCache;
use crate::store::memory::MemoryReplayCache;

/// What the [`guard`](SiteEndpoints::guard) of a private page decided.
#[derive(Debug)]
pub enum Guard {
    /// A reader with a valid session: let the request go on.
    Reader(ReaderSession),
    /// Send this answer instead of the page: a redirect to sign in
    /// (browsers), 401 JSON (API clients, by `Accept`), or the answer to a
    /// handshake token that came with the request.
    Respond(Response<Vec<u8>>),
}

/// The KB site's endpoints over `http` types, redeeming codes through `X`
/// ([`InProcess`](super::InProcess) or [`RemoteExchange`](super::RemoteExchange)),
/// reading the configurations from `CS`, the time from `C`, and revoked
/// sessions from `R`. Each endpoint method makes its endpoint's own size
/// and method checks, so any one can be mounted alone.
#[derive(Debug)]
pub struct SiteEndpoints<CS, C, X, R> {
    configs: CS,
    clock: C,
    exchange: X,
    revocations: R,
    sessions: SessionCodec,
    redirects: RedirectPolicy,
    cookies: CookieJar,
    prefix: String,
    renderer: Arc<dyn LoginPageRenderer>,
    verifiers: VerifierCache,
    replay: BoxReplayCache,
}

/// The handshake verifier of the latest project revision seen: rebuilt
/// when the revision moves, shared (an `Arc`) by the requests in between.
/// The replay cache lives apart, so it survives every rebuild.
#[derive(Debug, Default)]
struct VerifierCache(std::sync::Mutex<Option<(Revision, Arc<HandshakeVerifier>)>>);

impl VerifierCache {
    fn get(&self, snapshot: &ProjectSnapshot) -> Result<Arc<HandshakeVerifier>, Rejection> {
        let mut slot = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((revision, verifier)) = &*slot
            && *revision == snapshot.revision
        {
            return Ok(Arc::clone(verifier));
        }
        let verifier = Arc::new(
            snapshot
                .project
                .handshake_verifier()
                .map_err(|_| Rejection::Unavailable)?,
        );
        *slot = Some((snapshot.revision, Arc::clone(&verifier)));
        Ok(verifier)
    }
}

/// Where a reader without a session goes.
enum SignIn {
    /// The customer app's login URL (Direct JWT login).
    Customer(Url),
    /// The KB's login page.
    LoginPage(Url),
}

impl<CS: ConfigStore, C: Clock, X: CodeExchange, R: SessionRevocations> SiteEndpoints<CS, C, X, R> {
    /// The site of the KB at `kb_url` (session cookies `Secure` and
    /// `__Host-` prefixed when it is https), mounted at the spec's paths.
    ///
    /// # Errors
    /// [`SetupError::KbUrl`] when `kb_url` is not an absolute http(s) URL.
    pub fn new(
        configs: CS,
        clock: C,
        exchange: X,
        revocations: R,
        sessions: SessionCodec,
        kb_url: &Url,
    ) -> Result<Self, SetupError> {
        let redirects = RedirectPolicy::new(kb_url)?;
        let secure = kb_url.scheme() == "https";
        Ok(Self {
            configs,
            clock,
            exchange,
            revocations,
            sessions,
            redirects,
            cookies: CookieJar::new(secure, ""),
            prefix: String::new(),
            renderer: Arc::new(HtmlLoginRenderer),
            verifiers: VerifierCache::default(),
            replay: Box::new(MemoryReplayCache::new()),
        })
    }

    /// Mounts the endpoints under `prefix` (see
    /// [`SsoService::mount_prefix`](super::SsoService::mount_prefix)): the
    /// login page URL, the domain form's action and the login binding
    /// cookie's path follow it.
    pub fn mount_prefix(mut self, prefix: &str) -> Self {
        self.prefix = super::normalize_prefix(prefix);
        self.cookies = CookieJar::new(self.cookies.secure(), &self.prefix);
        self
    }

    /// Remembers handshake `jti`s in `cache` instead of in memory.
    pub fn replay_cache(mut self, cache: impl ReplayCache + 'static) -> Self {
        self.replay = Box::new(cache);
        self
    }

    /// Replaces the login page's HTML renderer.
    pub fn login_renderer(mut self, renderer: impl LoginPageRenderer + 'static) -> Self {
        self.renderer = Arc::new(renderer);
        self
    }

    /// Keeps revoked sessions in `revocations`.
    pub fn session_revocations<R2: SessionRevocations>(self, revocations: R2) -> SiteEndpoints<CS, C, X, R2> {
        SiteEndpoints {
            configs: self.configs,
            clock: self.clock,
            exchange: self.exchange,
            revocations,
            sessions: self.sessions,
            redirects: self.redirects,
            cookies: self.cookies,
            prefix: self.prefix,
            renderer: self.renderer,
            verifiers: self.verifiers,
            replay: self.replay,
        }
    }

    /// The answer of `endpoint` when it is one of these; `None` otherwise.
    pub async fn answer<B: AsRef<[u8]>>(&self, endpoint: Endpoint, req: &Request<B>) -> Option<Response<Vec<u8>>> {
        Some(match endpoint {
            Endpoint::Authorize => self.authorize(req).await,
            Endpoint::HandshakeCallback => self.handshake_callback(req).await,
            Endpoint::Logout => self.logout(req).await,
            Endpoint::Login => self.login(req).await,
            Endpoint::LoginDomain => self.login_domain(req).await,
            _ => return None,
        })
    }

    /// `GET /jwt/authorize?code=&redirectUrl=`: redeems the code, opens the
    /// reader's session and redirects to the safe target (the home page
    /// when `redirectUrl` is missing or not a path on the KB). In process
    /// the session comes straight from the grant: no token is signed or
    /// verified. A code used before revokes the session its first use
    /// opened. 413 over 64 KiB, 405 for another method.
    ///
    /// Failed redemptions here are not rate-limited: a code is 256 random
    /// bits, so failures teach an attacker nothing, and counting them per
    /// address would let any web page (`<img src=".../jwt/authorize?code=junk">`)
    /// lock every reader behind one address out of sign-in.
    pub async fn authorize<B: AsRef<[u8]>>(&self, req: &Request<B>) -> Response<Vec<u8>> {
        if let Some(r) = wire::precheck(req, Endpoint::Authorize) {
            return r;
        }
        let query = match wire::query(req) {
            Ok(q) => q,
            Err(r) => return r.into_response(),
        };
        let Some(code) = query.get("code").filter(|c| !c.is_empty()) else {
            return error(StatusCode::BAD_REQUEST, "invalid_request", "code is missing");
        };
        let target = self
            .redirects
            .resolve_or_home(query.get("redirectUrl").map(String::as_str));
        let verifier = cookies(req.headers(), self.cookies.verifier_name()).next();
        let session = match self.exchange.redeem(code, verifier).await {
            Ok(s) => s,
            Err(e) => return self.refused(code, &e).await,
        };
        let now = self.clock.now();
        let mut resp = redirect(&target);
        if let Err(e) = self.open_session(&mut resp, &session, now) {
            return too_large_session(&e);
        }
        if verifier.is_some() {
            set_cookie(&mut resp, &self.cookies.verifier("", 0));
        }
        set(&mut resp, header::REFERRER_POLICY, "no-referrer");
        no_store(resp)
    }

    /// The answer to a code that opened no session. A code used a second
    /// time revokes the session its first use opened (RFC 6749 section
    /// 4.1.2); a revocation that cannot be recorded is a 503.
    async fn refused(&self, code: &str, e: &ExchangeError) -> Response<Vec<u8>> {
        match e {
            ExchangeError::Code(e) => {
                if matches!(e, CodeError::InvalidGrant(GrantProblem::AlreadyUsed))
                    && super::revoke_reused(&self.revocations, code, self.clock.now())
                        .await
                        .is_err()
                {
                    return unavailable();
                }
                code_error(e)
            }
            ExchangeError::Refused { .. } => no_store(error(
                StatusCode::BAD_REQUEST,
                "invalid_grant",
                "the identity server refused the code",
            )),
            ExchangeError::Token(_) => no_store(error(
                StatusCode::BAD_REQUEST,
                "invalid_grant",
                "the issued token could not be verified",
            )),
            _ => unavailable(),
        }
    }

    /// `GET /jwt/logout`: revokes the session on the server (a copy of the
    /// cookie is worthless afterwards), clears the session and `jwt`
    /// cookies and redirects to the logout URL of the reader's
    /// configuration, or to the home page. When the revocation cannot be
    /// recorded the answer is 503, with the cookies still cleared. 413 over
    /// 64 KiB, 405 for another method.
    pub async fn logout<B: AsRef<[u8]>>(&self, req: &Request<B>) -> Response<Vec<u8>> {
        if let Some(r) = wire::precheck(req, Endpoint::Logout) {
            return r;
        }
        let now = self.clock.now();
        let session = self.reader(req.headers(), now).await;
        let mut logout_url = None;
        let mut revoked = true;
        if let Some(s) = &session {
            revoked = self.revocations.revoke(&s.jti, s.expires_at, now).await.is_ok();
            if let Ok(snapshot) = self.configs.current().await
                && let Some(config) = snapshot.project.jwt_config(&s.client_id)
            {
                logout_url = config.logout_url().cloned();
            }
        }
        let mut resp = match logout_url {
            _ if !revoked => unavailable(),
            Some(url) => redirect_to(url.as_str()),
            None => redirect(&self.redirects.home()),
        };
        set_cookie(&mut resp, &self.cookies.session("", 0));
        if has_cookie(req.headers(), HANDSHAKE_COOKIE) || self.takes_handshakes().await {
            set_cookie(&mut resp, &self.cookies.handshake_cleared());
        }
        no_store(resp)
    }

    /// `GET /login`: the login page ([`LoginPage`]) as HTML, or as JSON
    /// with `Accept: application/json`. With Direct JWT login and one active
    /// configuration, a 302 to its login URL instead. `redirectPath` is
    /// kept. 413 over 64 KiB, 405 for another method.
    pub async fn login<B: AsRef<[u8]>>(&self, req: &Request<B>) -> Response<Vec<u8>> {
        if let Some(r) = wire::precheck(req, Endpoint::Login) {
            return r;
        }
        let query = wire::query(req).unwrap_or_default();
        let back = self
            .redirects
            .resolve_or_home(query.get("redirectPath").map(String::as_str));
        let project = match self.configs.current().await {
            Ok(s) => s.project,
            Err(_) => return unavailable(),
        };
        let (binding_cookie, challenge) = self.new_binding();
        let mut options = match LoginPage::resolve(&project) {
            LoginPage::Redirect { login_url, .. } => {
                let url = login_url_for(&login_url, &back, &challenge);
                let mut resp = redirect_to(url.as_str());
                set_cookie(&mut resp, &binding_cookie);
                return no_store(resp);
            }
            LoginPage::Options(o) => o,
        };
        // Every JWT button carries the login binding challenge; the
        // verifier cookie goes out with this page.
        for b in &mut options.jwt_buttons {
            b.login_url = append_query(&b.login_url, &[("codeChallenge", &challenge)]);
        }
        let mut resp = if wants_json(req.headers()) {
            let buttons: Vec<_> = options
                .jwt_buttons
                .iter()
                .map(|b| {
                    let url = append_query(&b.login_url, &[("redirectPath", back.path_and_query())]);
                    json!({ "name": b.name, "text": b.text, "login_url": url.as_str() })
                })
                .collect();
            json_response(
                StatusCode::OK,
                &json!({
                    "email_password_form": options.email_password_form,
                    "domain_field": options.domain_field,
                    "jwt_buttons": buttons,
                    "sso_buttons": options.sso_buttons,
                    "message": options.message,
                }),
            )
        } else {
            let defaults = RenderContext::default();
            let context = RenderContext {
                redirect_path: back.path_and_query().to_owned(),
                domain_action: format!("{}{}", self.prefix, paths::LOGIN_DOMAIN),
                password_action: format!("{}{}", self.prefix, defaults.password_action),
            };
            let mut resp = Response::new(self.renderer.render(&options, &context).into_bytes());
            set(&mut resp, header::CONTENT_TYPE, "text/html; charset=utf-8");
            set(&mut resp, header::X_FRAME_OPTIONS, "DENY");
            set(
                &mut resp,
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; img-src data:; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
            );
            resp
        };
        if !options.jwt_buttons.is_empty() {
            set_cookie(&mut resp, &binding_cookie);
        }
        set(&mut resp, header::CACHE_CONTROL, "no-store");
        set(&mut resp, header::VARY, "Accept");
        resp
    }

    /// `POST /login/domain` (form `domain=`, optional `redirectPath=`): 302
    /// to the matched configuration's login URL with `redirectPath`, or to
    /// the login page for the default options. 413 over 64 KiB, 405 for
    /// another method.
    pub async fn login_domain<B: AsRef<[u8]>>(&self, req: &Request<B>) -> Response<Vec<u8>> {
        if let Some(r) = wire::precheck(req, Endpoint::LoginDomain) {
            return r;
        }
        let form = match wire::parse_form(req.body().as_ref()) {
            Ok(f) => f,
            Err(r) => return r.into_response(),
        };
        let back = self
            .redirects
            .resolve_or_home(form.get("redirectPath").map(String::as_str));
        let project = match self.configs.current().await {
            Ok(s) => s.project,
            Err(_) => return unavailable(),
        };
        let router = DomainRouter::new(project.jwt_configs());
        let route = router.route(form.get("domain").map_or("", String::as_str));
        let config = match route {
            Route::Config(id) => project.jwt_config(&id),
            _ => None,
        };
        let resp = match config {
            Some(c) => {
                let (binding_cookie, challenge) = self.new_binding();
                let mut resp = redirect_to(login_url_for(c.login_url(), &back, &challenge).as_str());
                set_cookie(&mut resp, &binding_cookie);
                resp
            }
            None => match self.login_page_url(&back) {
                Ok(url) => redirect_to(url.as_str()),
                Err(r) => r.into_response(),
            },
        };
        no_store(resp)
    }

    /// Guards one of the host's private pages: [`Guard::Reader`] for a
    /// reader with a valid, unrevoked session cookie; otherwise
    /// [`Guard::Respond`] with the answer to send instead. With handshakes
    /// on, a `GET` with `?jwt=` (checked even with a session) or a `jwt`
    /// cookie opens a session and redirects to the page without the token.
    /// Without a session, a browser `GET` is redirected to sign in (the one
    /// customer app's login URL under Direct JWT login, else the login page)
    /// with `redirectPath`; an API client (`Accept: application/json`) or
    /// any other method gets 401 JSON `{"error":"login_required",
    /// "error_description","login_url"}`.
    pub async fn guard<B>(&self, req: &Request<B>) -> Guard {
        let now = self.clock.now();
        let browser_get = matches!(*req.method(), Method::GET | Method::HEAD);
        if browser_get {
            let query = wire::query(req).unwrap_or_default();
            if let Some(token) = query.get("jwt")
                && self.takes_handshakes().await
            {
                let target = self.redirects.resolve_or_home(Some(&without_param(req.uri(), "jwt")));
                return Guard::Respond(self.open_handshake(token, &target, false).await);
            }
        }
        if let Some(reader) = self.reader(req.headers(), now).await {
            return Guard::Reader(reader);
        }
        let requested = req.uri().path_and_query().map_or("/", |p| p.as_str());
        let back = self.redirects.resolve_or_home(Some(requested));
        if browser_get
            && let Some(token) = cookies(req.headers(), HANDSHAKE_COOKIE).next()
            && self.takes_handshakes().await
        {
            return Guard::Respond(self.open_handshake(token, &back, true).await);
        }
        let target = self.sign_in_target(&back).await;
        let mut resp = if browser_get && !wants_json(req.headers()) {
            match target {
                Ok(SignIn::Customer(login_url)) => {
                    let (binding_cookie, challenge) = self.new_binding();
                    let mut resp = redirect_to(login_url_for(&login_url, &back, &challenge).as_str());
                    set_cookie(&mut resp, &binding_cookie);
                    resp
                }
                Ok(SignIn::LoginPage(url)) => redirect_to(url.as_str()),
                Err(r) => r.into_response(),
            }
        } else {
            match self.login_page_url(&back) {
                Ok(login) => json_response(
                    StatusCode::UNAUTHORIZED,
                    &json!({
                        "error": "login_required",
                        "error_description": "sign in to read this page",
                        "login_url": login.as_str(),
                    }),
                ),
                Err(r) => r.into_response(),
            }
        };
        if has_cookie(req.headers(), self.cookies.session_name()) {
            set_cookie(&mut resp, &self.cookies.session("", 0));
        }
        Guard::Respond(no_store(resp))
    }

    /// `/api/auth/jwt/callback`: `GET ?token=&redirect=`, or a form `POST`
    /// with `jwt` (or `token`) and `redirect`. 413 over 64 KiB, 405 for a
    /// method other than `GET` and `POST`, 404 when handshakes are off.
    ///
    /// A `POST` is taken only from this KB's own site or the customer app's
    /// (by `Sec-Fetch-Site`, else `Origin`), so that no
    /// other web page can post its own token and sign a visitor in to
    /// another account; the `GET` forms stay open, as the spec requires.
    pub async fn handshake_callback<B: AsRef<[u8]>>(&self, req: &Request<B>) -> Response<Vec<u8>> {
        if let Some(r) = wire::precheck(req, Endpoint::HandshakeCallback) {
            return r;
        }
        if !self.takes_handshakes().await {
            return error(
                StatusCode::NOT_FOUND,
                "invalid_request",
                "this KB takes no handshake tokens",
            );
        }
        let fields = if req.method() == Method::POST {
            match self.post_origin_allowed(req.headers()).await {
                Ok(true) => {}
                Ok(false) => {
                    return error(
                        StatusCode::FORBIDDEN,
                        "access_denied",
                        "a handshake token may be posted only from this KB's site or the customer app's",
                    );
                }
                Err(r) => return r.into_response(),
            }
            wire::parse_form(req.body().as_ref())
        } else {
            wire::query(req)
        };
        let fields = match fields {
            Ok(f) => f,
            Err(r) => return r.into_response(),
        };
        let token = fields
            .get("token")
            .or_else(|| fields.get("jwt"))
            .map_or("", String::as_str);
        let target = self
            .redirects
            .resolve_or_home(fields.get("redirect").map(String::as_str));
        self.open_handshake(token, &target, false).await
    }

    /// Whether a browser `POST` comes from a site allowed to post handshake
    /// tokens. `Sec-Fetch-Site: same-origin` and `none` (typed or
    /// bookmarked) pass. Any other `POST` with an `Origin` (cross-site,
    /// same-site from a sibling subdomain, or without `Sec-Fetch-Site`)
    /// passes only from this KB's origin or the origin of an enabled
    /// configuration's login URL (the customer app). Without either header
    /// (a client that is not a browser) it passes.
    async fn post_origin_allowed(&self, headers: &HeaderMap) -> Result<bool, Rejection> {
        let fetch_site = headers.get("sec-fetch-site").map(HeaderValue::as_bytes);
        // `same-site` is not enough: it takes in every sibling subdomain
        // (another tenant, say); such a POST is judged by its `Origin`.
        if matches!(fetch_site, Some(b"same-origin" | b"none")) {
            return Ok(true);
        }
        let origin = headers.get(header::ORIGIN).map(HeaderValue::as_bytes);
        let Some(origin) = origin else {
            // No Origin: a browser always sends one on a cross-site POST.
            return Ok(fetch_site.is_none());
        };
        let Some(origin) = std::str::from_utf8(origin).ok().and_then(|o| Url::parse(o).ok()) else {
            return Ok(false); // `null` (sandboxed frames, data: pages) or junk
        };
        let origin = origin.origin();
        if origin == self.redirects.base().origin() {
            return Ok(true);
        }
        let snapshot = self.configs.current().await.map_err(|_| Rejection::Unavailable)?;
        Ok(snapshot
            .project
            .jwt_configs()
            .iter()
            .any(|c| c.is_enabled() && c.login_url().origin() == origin))
    }

    /// Verifies a handshake token and answers: a session and a redirect to
    /// `target` (which carries no token), or a redirect to the login URL of
    /// the token's configuration with `jwt_error`, `expected_aud` and
    /// `from_url` (to the login page when the configuration cannot be told).
    async fn open_handshake(&self, token: &str, target: &SafeRedirect, from_cookie: bool) -> Response<Vec<u8>> {
        // One snapshot for the whole check: the verifier and the
        // configuration it names are of the same revision.
        let Ok(snapshot) = self.configs.current().await else {
            return unavailable();
        };
        let verifier = match self.verifiers.get(&snapshot) {
            Ok(v) => v,
            Err(r) => return r.into_response(),
        };
        let project = &snapshot.project;
        let now = self.clock.now();
        let verified = verifier.verify_str(token, now, &self.replay).await;
        let mut resp = match verified {
            Ok(v) => match project.jwt_config(v.client_id()) {
                Some(c) if c.is_enabled() => {
                    let session = v.into_session(now);
                    let mut resp = redirect(target);
                    if let Err(e) = self.open_session(&mut resp, &session, now) {
                        return too_large_session(&e);
                    }
                    resp
                }
                Some(c) => self.handshake_failure(Some(c.login_url()), "disabled", None, target),
                None => self.handshake_failure(None, "disabled", None, target),
            },
            Err(e) if matches!(e.kind(), HandshakeErrorKind::ReplayStore) => return unavailable(),
            Err(e) => {
                let login = e
                    .client_id()
                    .and_then(|id| project.jwt_config(id))
                    .map(|c| c.login_url());
                self.handshake_failure(login, e.reason(), e.expected_aud(), target)
            }
        };
        if from_cookie {
            set_cookie(&mut resp, &self.cookies.handshake_cleared());
        }
        set(&mut resp, header::REFERRER_POLICY, "no-referrer");
        no_store(resp)
    }

    fn handshake_failure(
        &self,
        login_url: Option<&Url>,
        reason: &str,
        expected_aud: Option<&str>,
        target: &SafeRedirect,
    ) -> Response<Vec<u8>> {
        let mut pairs = vec![("jwt_error", reason)];
        if let Some(aud) = expected_aud {
            pairs.push(("expected_aud", aud));
        }
        pairs.push(("from_url", target.as_str()));
        match login_url {
            Some(url) => redirect_to(append_query(url, &pairs).as_str()),
            None => match self.login_page_url(target) {
                Ok(url) => redirect_to(append_query(&url, &pairs).as_str()),
                Err(r) => r.into_response(),
            },
        }
    }

    /// Where a reader without a session is sent: the login URL of the one
    /// enabled configuration, or the login page when there are several or
    /// none.
    async fn sign_in_target(&self, back: &SafeRedirect) -> Result<SignIn, Rejection> {
        let project = self
            .configs
            .current()
            .await
            .map_err(|_| Rejection::Unavailable)?
            .project;
        match LoginPage::direct_target(&project) {
            Some(only) => Ok(SignIn::Customer(only.login_url().clone())),
            None => self.login_page_url(back).map(SignIn::LoginPage),
        }
    }

    /// Whether the current project takes handshake tokens (a store that
    /// does not answer: no).
    async fn takes_handshakes(&self) -> bool {
        self.configs.current().await.is_ok_and(|s| s.project.takes_handshakes())
    }

    /// The login page (under the mount prefix) with `redirectPath`.
    fn login_page_url(&self, back: &SafeRedirect) -> Result<Url, Rejection> {
        let login = self
            .redirects
            .base()
            .join(&format!("{}{}", self.prefix, paths::LOGIN))
            .map_err(|_| Rejection::Unavailable)?;
        Ok(append_query(&login, &[("redirectPath", back.path_and_query())]))
    }

    /// The reader behind the request's session cookie, if it is valid at
    /// `now` and not revoked.
    pub async fn reader(&self, headers: &HeaderMap, now: OffsetDateTime) -> Option<ReaderSession> {
        let session = cookies(headers, self.cookies.session_name()).find_map(|v| self.sessions.decode(v, now).ok())?;
        match self.revocations.is_revoked(&session.jti, now).await {
            Ok(false) => Some(session),
            // Revoked, or the list cannot be read: no session.
            _ => None,
        }
    }

    /// Sets the session cookie for `session` on `resp`.
    ///
    /// # Errors
    /// [`SessionError::TooLarge`](crate::session::SessionError::TooLarge)
    /// when the session is too large for a cookie a browser keeps: it is
    /// refused rather than issued and dropped.
    fn open_session(
        &self,
        resp: &mut Response<Vec<u8>>,
        session: &ReaderSession,
        now: OffsetDateTime,
    ) -> Result<(), crate::session::SessionError> {
        let value = self.sessions.seal(session)?;
        let max_age = (session.expires_at.unix_timestamp() - now.unix_timestamp()).max(0);
        let line = self
            .cookies
            .session_with(value.encoded_len(), |line| value.write_to(line), max_age);
        set_owned_cookie(resp, line);
        Ok(())
    }

    /// A fresh login binding: the `Set-Cookie` value for the verifier and
    /// the `codeChallenge` to pass beside `redirectPath`.
    fn new_binding(&self) -> (String, String) {
        let verifier = crate::secret::random_token();
        let challenge = crate::code::s256_challenge(&verifier);
        (self.cookies.verifier(&verifier, 600), challenge)
    }
}

/// A login URL with `redirectPath` and the login binding `codeChallenge`.
fn login_url_for(login_url: &Url, back: &SafeRedirect, challenge: &str) -> Url {
    append_query(
        login_url,
        &[("redirectPath", back.path_and_query()), ("codeChallenge", challenge)],
    )
}
