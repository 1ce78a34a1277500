//! Framework-agnostic HTTP handlers (feature `http`).
//!
//! [`SsoService`] answers `http::Request`s with `http::Response`s, so any
//! framework (axum, hyper, actix, ...) can mount it: collect the body (at
//! most [`MAX_BODY_BYTES`]), call [`SsoService::handle`], and send back the
//! [`Outcome`]'s response — or, for [`Outcome::Page`], render the private
//! page the signed-in reader asked for.
//!
//! | method, path | answer |
//! |---|---|
//! | `POST /api/jwt/generate-code` (alias `/jwt/generateCode`) | 200 `{"code"}`; 400; 401 with `WWW-Authenticate: Basic`; 403 when disabled |
//! | `POST /api/jwt/token` | 200 `{"id_token","access_token","token_type","expires_in"}`; 400 `invalid_grant` |
//! | `GET /jwt/authorize?code=&redirectUrl=` | 302 to the safe target with the session cookie |
//! | `GET /jwt/logout` | session revoked on the server, cookies cleared, 302 to the logout URL (or home) |
//! | `GET /.well-known/jwks.json` | the token signer's public keys |
//! | `GET /login` | the sign-in options |
//! | any other `GET` | [`Outcome::Page`] with a session; else 302 to the login URL with `redirectPath` |
//!
//! Errors are JSON `{"error", "error_description"}` in OAuth style with a
//! 4xx status; bodies over 64 KiB get 413. Answers carrying a code or token
//! send `Cache-Control: no-store` and `Pragma: no-cache`.

use std::collections::HashMap;
use std::sync::Arc;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use serde_json::json;
use time::OffsetDateTime;
use url::Url;

use crate::clock::Clock;
use crate::code::{CodeError, CodeStore, GrantProblem};
use crate::form::DuplicateParameter;
use crate::handshake::{HandshakeErrorKind, HandshakeVerifier, ReplayCache};
use crate::identity::IdentityServer;
use crate::identity::{ID_TOKEN_TYPE, IdTokenClaims};
use crate::jose::{KeySet, UntrustedToken, Validation, Verifier};
use crate::limit::{Decision, Limit, Limits, RateLimiter};
use crate::login_page::{HtmlLoginRenderer, LoginPage, LoginPageRenderer, RenderContext};
use crate::paths;
use crate::project::ConfigStore;
use crate::redirect::{RedirectError, RedirectPolicy, SafeRedirect, append_query};
use crate::routing::{DomainRouter, Route};
use crate::secret::{BasicAuthError, ClientCredentials, ClientId, CredentialsError};
use crate::session::{
    HANDSHAKE_COOKIE, MAX_CODE_FLOW_SESSION, ReaderSession, SECURE_SESSION_COOKIE, SECURE_VERIFIER_COOKIE,
    SESSION_COOKIE, SessionCodec, SessionRevocations, VERIFIER_COOKIE,
};
use crate::store::BoxReplayCache;
use crate::store::memory::{MemoryRateLimiter, MemoryReplayCache, MemorySessionRevocations};
use crate::widget::{WidgetError, WidgetProject, WidgetTokenIssuer, WidgetTokenRequest};

/// The largest request body accepted, in bytes. Larger ones get 413.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// What [`SsoService::handle`] decided.
#[derive(Debug)]
pub enum Outcome {
    /// Send this response as it is.
    Response(Response<Vec<u8>>),
    /// A signed-in reader asked for a private page: render it.
    Page(PageRequest),
}

/// A private page requested by a reader with a valid session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    /// The reader.
    pub reader: ReaderSession,
    /// The requested path (with its query, if any).
    pub path: String,
}

/// Why a [`SsoService`] could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SetupError {
    /// The KB's base URL is not an absolute http(s) URL.
    #[error("the KB URL is not usable: {0}")]
    KbUrl(#[from] RedirectError),
}

/// Whether the back-channel exchange requires client credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClientAuthentication {
    /// Credentials are checked when sent, but a code alone is accepted (the
    /// KB runs in the same process as the identity server).
    #[default]
    Optional,
    /// Every exchange must authenticate as the configuration that the code
    /// was issued to.
    Required,
}

/// The identity server and KB site endpoints over `http` types.
#[derive(Debug)]
pub struct SsoService<CS, S, C, L = MemoryRateLimiter, R = MemorySessionRevocations> {
    identity: IdentityServer<CS, S, C>,
    limiter: L,
    revocations: R,
    site: Site,
}

/// The KB site's own settings, whatever the stores.
#[derive(Debug)]
struct Site {
    limits: Limits,
    verifier: Verifier,
    jwks: Vec<u8>,
    sessions: SessionCodec,
    redirects: RedirectPolicy,
    secure_cookies: bool,
    client_auth: ClientAuthentication,
    renderer: Arc<dyn LoginPageRenderer>,
    handshakes: Option<HandshakeVerifier>,
    replay: BoxReplayCache,
    widgets: Option<WidgetProject>,
}

impl<CS: ConfigStore, S: CodeStore, C: Clock> SsoService<CS, S, C, MemoryRateLimiter, MemorySessionRevocations> {
    /// A service for the KB at `kb_url`, verifying its own tokens with the
    /// signer's key. Session cookies are `Secure` when `kb_url` is https.
    /// Failed attempts are limited in memory with [`Limits::default`].
    ///
    /// # Errors
    /// [`SetupError::KbUrl`] when `kb_url` is not an absolute http(s) URL.
    pub fn new(
        mut identity: IdentityServer<CS, S, C>,
        sessions: SessionCodec,
        kb_url: &Url,
    ) -> Result<Self, SetupError> {
        // Every code issued must open a session whose cookie a browser keeps.
        identity.cap_identity_room(crate::session::session_identity_room());
        let redirects = RedirectPolicy::new(kb_url)?;
        let mut keys = KeySet::new();
        // A fresh set holds no kid yet, so this insert cannot collide.
        let _ = keys.insert(identity.signer().key().verification_key());
        let jwks = serde_json::to_vec(&keys.jwks()).unwrap_or_default();
        // The audience (the grant's client id) is added per exchange.
        let validation = Validation::new().token_type(ID_TOKEN_TYPE).issuer(identity.issuer());
        Ok(Self {
            identity,
            limiter: MemoryRateLimiter::new(),
            revocations: MemorySessionRevocations::new(),
            site: Site {
                limits: Limits::default(),
                verifier: Verifier::new(keys, validation),
                jwks,
                sessions,
                redirects,
                secure_cookies: kb_url.scheme() == "https",
                client_auth: ClientAuthentication::Optional,
                renderer: Arc::new(HtmlLoginRenderer),
                handshakes: None,
                replay: Box::new(MemoryReplayCache::new()),
                widgets: None,
            },
        })
    }
}

impl<CS: ConfigStore, S: CodeStore, C: Clock, L: RateLimiter, R: SessionRevocations> SsoService<CS, S, C, L, R> {
    /// Counts failed attempts with `limiter` instead of in memory.
    pub fn rate_limiter<L2: RateLimiter>(self, limiter: L2) -> SsoService<CS, S, C, L2, R> {
        SsoService {
            identity: self.identity,
            limiter,
            revocations: self.revocations,
            site: self.site,
        }
    }

    /// Keeps revoked sessions in `revocations` instead of in memory (share
    /// one store between instances).
    pub fn session_revocations<R2: SessionRevocations>(self, revocations: R2) -> SsoService<CS, S, C, L, R2> {
        SsoService {
            identity: self.identity,
            limiter: self.limiter,
            revocations,
            site: self.site,
        }
    }

    /// Sets the brute-force limits.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.site.limits = limits;
        self
    }

    /// Sets whether the back-channel exchange requires client credentials.
    pub fn client_authentication(mut self, mode: ClientAuthentication) -> Self {
        self.site.client_auth = mode;
        self
    }

    /// Accepts handshake tokens signed by customer apps (the direct flows):
    /// on `/api/auth/jwt/callback?token=&redirect=`, as `?jwt=` on any page,
    /// in a `jwt` cookie, or as a form field `jwt` posted to the callback
    /// from this KB's site or the customer app's. Each
    /// `jti` is accepted once (in memory unless another replay cache is set
    /// with [`replay_cache`](Self::replay_cache)).
    pub fn handshakes(mut self, verifier: HandshakeVerifier) -> Self {
        self.site.handshakes = Some(verifier);
        self
    }

    /// Serves widget tokens for this project's widgets on
    /// `POST /api/jwt/widget-token`.
    pub fn widgets(mut self, project: WidgetProject) -> Self {
        self.site.widgets = Some(project);
        self
    }

    /// Remembers handshake `jti`s in `cache` instead of in memory (for
    /// example `store::redis::RedisReplayCache`, so that a token is accepted
    /// once across every instance).
    pub fn replay_cache(mut self, cache: impl ReplayCache + 'static) -> Self {
        self.site.replay = Box::new(cache);
        self
    }

    /// Replaces the login page's HTML renderer.
    pub fn login_renderer(mut self, renderer: impl LoginPageRenderer + 'static) -> Self {
        self.site.renderer = Arc::new(renderer);
        self
    }

    /// The identity server inside.
    pub fn identity(&self) -> &IdentityServer<CS, S, C> {
        &self.identity
    }

    /// Routes one request.
    pub async fn handle<B: AsRef<[u8]>>(&self, req: Request<B>) -> Outcome {
        let path = req.uri().path();
        let respond = |r| Outcome::Response(r);
        if too_large(&req) {
            return respond(error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "invalid_request",
                "the request body is larger than 64 KiB",
            ));
        }
        let method = req.method();
        let only = |allowed: Method| -> Option<Response<Vec<u8>>> {
            (method != allowed).then(|| method_not_allowed(&allowed))
        };
        match path {
            paths::GENERATE_CODE | paths::GENERATE_CODE_ALIAS => respond(match only(Method::POST) {
                Some(r) => r,
                None => self.generate_code(&req).await,
            }),
            paths::TOKEN => respond(match only(Method::POST) {
                Some(r) => r,
                None => self.token(&req).await,
            }),
            paths::AUTHORIZE => respond(match only(Method::GET) {
                Some(r) => r,
                None => self.authorize(&req).await,
            }),
            paths::LOGOUT => respond(match only(Method::GET) {
                Some(r) => r,
                None => self.logout(&req).await,
            }),
            paths::JWKS => respond(match only(Method::GET) {
                Some(r) => r,
                None => self.jwks(),
            }),
            paths::LOGIN => respond(match only(Method::GET) {
                Some(r) => r,
                None => self.login(&req).await,
            }),
            paths::LOGIN_DOMAIN => respond(match only(Method::POST) {
                Some(r) => r,
                None => self.login_domain(&req).await,
            }),
            paths::WIDGET_TOKEN => respond(match only(Method::POST) {
                Some(r) => r,
                None => self.widget_token(&req).await,
            }),
            paths::HANDSHAKE_CALLBACK => match *method {
                Method::GET | Method::POST => respond(self.handshake_callback(&req).await),
                _ => respond(method_not_allowed(&Method::GET)),
            },
            _ => match only(Method::GET) {
                Some(r) => respond(r),
                None => self.page(&req).await,
            },
        }
    }

    /// `POST /api/jwt/generate-code`: Basic client credentials and a JSON
    /// code request; answers `{"code": "..."}`.
    pub async fn generate_code<B: AsRef<[u8]>>(&self, req: &Request<B>) -> Response<Vec<u8>> {
        if !is_json(req.headers()) {
            return error(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "invalid_request",
                "the body must be JSON (Content-Type: application/json)",
            );
        }
        let addr = remote_addr(req);
        let creds = basic_credentials(req.headers());
        let client = creds.as_ref().map_or("", |c| c.client_id.as_str());
        let auth_key = auth_key(client, &addr);
        if let Some(r) = self.limited(&auth_key, self.site.limits.failed_auth).await {
            return r;
        }
        let creds = match creds {
            Ok(c) => c,
            Err(e) => {
                self.failed(&auth_key, self.site.limits.failed_auth).await;
                return unauthorized(basic_error_text(e));
            }
        };
        match self.identity.issue_code(&creds, req.body().as_ref()).await {
            Ok(code) => no_store(json_response(StatusCode::OK, &json!({ "code": code.expose() }))),
            Err(e) => {
                if matches!(e, CodeError::InvalidClient) {
                    self.failed(&auth_key, self.site.limits.failed_auth).await;
                }
                code_error(&e)
            }
        }
    }

    /// A 429 answer if `key` has used up `limit`.
    async fn limited(&self, key: &str, limit: Limit) -> Option<Response<Vec<u8>>> {
        let now = self.identity.codes().clock().now();
        match self.limiter.check(key, limit, now).await {
            Ok(Decision::Allowed) => None,
            Ok(Decision::Limited { retry_after }) => Some(too_many(retry_after)),
            Err(_) => Some(unavailable()),
        }
    }

    /// Records a failed attempt of `key`.
    async fn failed(&self, key: &str, limit: Limit) {
        let now = self.identity.codes().clock().now();
        // A limiter that cannot record is no reason to change the answer.
        let _ = self.limiter.fail(key, limit, now).await;
    }

    /// Redeems a code through the identity server. When the code was used
    /// before, the session its first use opened is revoked (RFC 6749
    /// section 4.1.2); a revocation that cannot be recorded is a 503.
    async fn redeem(
        &self,
        code: &str,
        creds: Option<&ClientCredentials>,
        verifier: Option<&str>,
    ) -> Result<crate::identity::Exchange, Redeem> {
        match self.identity.exchange_for_client(code, creds, verifier).await {
            Ok(exchange) => Ok(exchange),
            Err(e) => {
                if matches!(e, CodeError::InvalidGrant(GrantProblem::AlreadyUsed)) {
                    let session = IdentityServer::<CS, S, C>::token_id_for_code(code);
                    let now = self.identity.codes().clock().now();
                    let until = now + MAX_CODE_FLOW_SESSION;
                    if self.revocations.revoke(&session, until, now).await.is_err() {
                        return Err(Redeem::Unavailable);
                    }
                }
                Err(Redeem::Refused(e))
            }
        }
    }

    /// Redeems a code on the back channel, counting failed client
    /// authentications per client and address and failed redemptions per
    /// address.
    async fn exchange_limited(
        &self,
        addr: &str,
        code: &str,
        creds: Option<&ClientCredentials>,
        verifier: Option<&str>,
    ) -> Result<crate::identity::Exchange, Response<Vec<u8>>> {
        let redeem_key = format!("redeem|{addr}");
        if let Some(r) = self.limited(&redeem_key, self.site.limits.failed_redemption).await {
            return Err(r);
        }
        if let Some(c) = creds {
            let key = auth_key(&c.client_id, addr);
            if let Some(r) = self.limited(&key, self.site.limits.failed_auth).await {
                return Err(r);
            }
        }
        match self.redeem(code, creds, verifier).await {
            Ok(exchange) => Ok(exchange),
            Err(Redeem::Unavailable) => Err(unavailable()),
            Err(Redeem::Refused(e)) => {
                match (&e, creds) {
                    (CodeError::InvalidClient, Some(c)) => {
                        self.failed(&auth_key(&c.client_id, addr), self.site.limits.failed_auth)
                            .await;
                    }
                    (CodeError::InvalidGrant(_), _) => {
                        self.failed(&redeem_key, self.site.limits.failed_redemption).await;
                    }
                    _ => {}
                }
                Err(code_error(&e))
            }
        }
    }

    /// `POST /api/jwt/token`: form `grant_type=authorization_code&code=...`,
    /// client credentials in a Basic header or as `client_id` /
    /// `client_secret` form fields.
    pub async fn token<B: AsRef<[u8]>>(&self, req: &Request<B>) -> Response<Vec<u8>> {
        let form = match parse_form(req.body().as_ref()) {
            Ok(f) => f,
            Err(r) => return r.into_response(),
        };
        match form.get("grant_type").map(String::as_str) {
            None => {
                return error(StatusCode::BAD_REQUEST, "invalid_request", "grant_type is missing");
            }
            Some("authorization_code") => {}
            Some(_) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "unsupported_grant_type",
                    "only grant_type=authorization_code is supported here",
                );
            }
        }
        let Some(code) = form.get("code") else {
            return error(StatusCode::BAD_REQUEST, "invalid_request", "code is missing");
        };
        let creds = match token_credentials(req.headers(), &form) {
            Ok(c) => c,
            Err(r) => return r.into_response(),
        };
        if creds.is_none() && self.site.client_auth == ClientAuthentication::Required {
            return unauthorized("client authentication is required");
        }
        let verifier = form.get("code_verifier").map(String::as_str);
        match self
            .exchange_limited(&remote_addr(req), code, creds.as_ref(), verifier)
            .await
        {
            Ok(exchange) => match serde_json::to_value(&exchange.tokens) {
                Ok(body) => no_store(json_response(StatusCode::OK, &body)),
                Err(_) => error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "server_error",
                    "could not encode tokens",
                ),
            },
            Err(r) => r,
        }
    }

    /// `GET /jwt/authorize?code=&redirectUrl=`: redeems the code over the
    /// back channel, opens the reader's session and redirects to the safe
    /// target (the home page when `redirectUrl` is missing or not a path on
    /// the KB).
    ///
    /// Failed redemptions here are not rate-limited: a code is 256 random
    /// bits, so failures teach an attacker nothing, and counting them per
    /// address would let any web page (`<img src=".../jwt/authorize?code=junk">`)
    /// lock every reader behind one address out of sign-in.
    pub async fn authorize<B>(&self, req: &Request<B>) -> Response<Vec<u8>> {
        let query = match parse_form(req.uri().query().unwrap_or("").as_bytes()) {
            Ok(q) => q,
            Err(r) => return r.into_response(),
        };
        let Some(code) = query.get("code").filter(|c| !c.is_empty()) else {
            return error(StatusCode::BAD_REQUEST, "invalid_request", "code is missing");
        };
        let target = self
            .site
            .redirects
            .resolve_or_home(query.get("redirectUrl").map(String::as_str));
        let verifier = cookies(req.headers(), self.verifier_cookie_name()).next();
        let exchange = match self.redeem(code, None, verifier).await {
            Ok(e) => e,
            Err(Redeem::Unavailable) => return unavailable(),
            Err(Redeem::Refused(e)) => return code_error(&e),
        };
        let now = self.identity.codes().clock().now();
        let session = match self.session_from_id_token(&exchange.tokens.id_token, &exchange.client_id, now) {
            Some(s) => s,
            None => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "the issued token could not be verified",
                );
            }
        };
        let mut resp = redirect(&target);
        if let Err(e) = self.open_session(&mut resp, &session, now) {
            return too_large_session(&e);
        }
        if verifier.is_some() {
            set_cookie(&mut resp, &self.verifier_cookie("", 0));
        }
        set(&mut resp, header::REFERRER_POLICY, "no-referrer");
        no_store(resp)
    }

    /// Builds a session from an `id_token` this KB's verifier accepts: type
    /// `id_token`, this issuer, audience `client_id` (the grant's client).
    fn session_from_id_token(
        &self,
        id_token: &str,
        client_id: &ClientId,
        now: OffsetDateTime,
    ) -> Option<ReaderSession> {
        let untrusted = UntrustedToken::parse(id_token).ok()?;
        let validation = crate::identity::id_token_validation(self.identity.issuer(), client_id);
        let claims: IdTokenClaims = self
            .site
            .verifier
            .verify_with(&untrusted, &validation, now)
            .ok()?
            .into_claims();
        claims.into_session()
    }

    /// `GET /jwt/logout`: revokes the session on the server (a copy of the
    /// cookie is worthless afterwards), clears the session and `jwt`
    /// cookies and redirects to the logout URL of the reader's
    /// configuration, or to the home page. When the revocation cannot be
    /// recorded the answer is 503, with the cookies still cleared.
    pub async fn logout<B>(&self, req: &Request<B>) -> Response<Vec<u8>> {
        let now = self.identity.codes().clock().now();
        let session = self.reader(req.headers(), now).await;
        let mut logout_url = None;
        let mut revoked = true;
        if let Some(s) = &session {
            revoked = self.revocations.revoke(&s.jti, s.expires_at, now).await.is_ok();
            if let Ok(Some(config)) = self.identity.configs().get(&s.client_id).await {
                logout_url = config.logout_url().cloned();
            }
        }
        let mut resp = match logout_url {
            _ if !revoked => unavailable(),
            Some(url) => redirect_to(url.as_str()),
            None => redirect(&self.site.redirects.home()),
        };
        set_cookie(&mut resp, &self.session_cookie("", 0));
        if self.site.handshakes.is_some() {
            set_cookie(&mut resp, &self.handshake_cookie_cleared());
        }
        no_store(resp)
    }

    /// `GET /.well-known/jwks.json`.
    pub fn jwks(&self) -> Response<Vec<u8>> {
        let mut resp = Response::new(self.site.jwks.clone());
        set(&mut resp, header::CONTENT_TYPE, "application/json");
        set(&mut resp, header::CACHE_CONTROL, "public, max-age=300");
        resp
    }

    /// `GET /login`: the login page ([`LoginPage`]) as HTML, or as JSON
    /// with `Accept: application/json`. With Direct JWT login and one active
    /// configuration, a 302 to its login URL instead. `redirectPath` is
    /// kept.
    pub async fn login<B>(&self, req: &Request<B>) -> Response<Vec<u8>> {
        let query = parse_form(req.uri().query().unwrap_or("").as_bytes()).unwrap_or_default();
        let back = self
            .site
            .redirects
            .resolve_or_home(query.get("redirectPath").map(String::as_str));
        let project = match self.identity.configs().project().await {
            Ok(p) => p,
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
            let context = RenderContext {
                redirect_path: back.path_and_query().to_owned(),
                ..RenderContext::default()
            };
            let mut resp = Response::new(self.site.renderer.render(&options, &context).into_bytes());
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
    /// `/login` for the default options.
    pub async fn login_domain<B: AsRef<[u8]>>(&self, req: &Request<B>) -> Response<Vec<u8>> {
        let form = match parse_form(req.body().as_ref()) {
            Ok(f) => f,
            Err(r) => return r.into_response(),
        };
        let back = self
            .site
            .redirects
            .resolve_or_home(form.get("redirectPath").map(String::as_str));
        let project = match self.identity.configs().project().await {
            Ok(p) => p,
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

    /// Any other `GET`: the page for a reader with a valid session, or a
    /// redirect to sign in with `redirectPath` set to the requested path.
    pub async fn page<B>(&self, req: &Request<B>) -> Outcome {
        let now = self.identity.codes().clock().now();
        if self.site.handshakes.is_some() {
            let query = parse_form(req.uri().query().unwrap_or("").as_bytes()).unwrap_or_default();
            if let Some(token) = query.get("jwt") {
                let target = self
                    .site
                    .redirects
                    .resolve_or_home(Some(&without_param(req.uri(), "jwt")));
                return Outcome::Response(self.open_handshake(token, &target, false).await);
            }
        }
        let requested = req.uri().path_and_query().map_or("/", |p| p.as_str());
        if let Some(reader) = self.reader(req.headers(), now).await {
            return Outcome::Page(PageRequest {
                reader,
                path: requested.to_owned(),
            });
        }
        let back = self.site.redirects.resolve_or_home(Some(requested));
        if self.site.handshakes.is_some()
            && let Some(token) = cookies(req.headers(), HANDSHAKE_COOKIE).next()
        {
            return Outcome::Response(self.open_handshake(token, &back, true).await);
        }
        let mut resp = match self.sign_in_target(&back).await {
            Ok(SignIn::Customer(login_url)) => {
                let (binding_cookie, challenge) = self.new_binding();
                let mut resp = redirect_to(login_url_for(&login_url, &back, &challenge).as_str());
                set_cookie(&mut resp, &binding_cookie);
                resp
            }
            Ok(SignIn::LoginPage(url)) => redirect_to(url.as_str()),
            Err(r) => r.into_response(),
        };
        if has_cookie(req.headers(), self.session_cookie_name()) {
            set_cookie(&mut resp, &self.session_cookie("", 0));
        }
        Outcome::Response(no_store(resp))
    }

    /// `POST /api/jwt/widget-token`: form `grant_type=Widget`, client
    /// credentials (Basic or form), `payload` (JSON text) and `id`; answers
    /// `{"access_token","token_type":"Bearer","expires_in"}`.
    pub async fn widget_token<B: AsRef<[u8]>>(&self, req: &Request<B>) -> Response<Vec<u8>> {
        let addr = remote_addr(req);
        let headers = req
            .headers()
            .get_all(header::AUTHORIZATION)
            .iter()
            .map(HeaderValue::as_bytes);
        let request = match WidgetTokenRequest::parse(headers, req.body().as_ref()) {
            Ok(r) => r,
            Err(e) => return widget_error(&e),
        };
        let key = auth_key(request.client_id(), &addr);
        if let Some(r) = self.limited(&key, self.site.limits.failed_auth).await {
            return r;
        }
        let project = self
            .site
            .widgets
            .as_ref()
            .filter(|p| p.project_id() == request.client_id());
        let clock = self.identity.codes().clock();
        let issuer = WidgetTokenIssuer::new(self.identity.signer(), self.identity.issuer(), clock);
        match issuer.issue(project, &request) {
            Ok(answer) => match serde_json::to_value(&answer) {
                Ok(body) => no_store(json_response(StatusCode::OK, &body)),
                Err(_) => error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "server_error",
                    "could not encode the token",
                ),
            },
            Err(e) => {
                if matches!(e, WidgetError::InvalidClient) {
                    self.failed(&key, self.site.limits.failed_auth).await;
                }
                widget_error(&e)
            }
        }
    }

    /// `/api/auth/jwt/callback`: `GET ?token=&redirect=`, or a form `POST`
    /// with `jwt` (or `token`) and `redirect`.
    ///
    /// A `POST` is taken only from this KB's own site or the customer app's
    /// (by `Sec-Fetch-Site`, else `Origin`), so that no
    /// other web page can post its own token and sign a visitor in to
    /// another account; the `GET` forms stay open, as the spec requires.
    pub async fn handshake_callback<B: AsRef<[u8]>>(&self, req: &Request<B>) -> Response<Vec<u8>> {
        if self.site.handshakes.is_none() {
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
            parse_form(req.body().as_ref())
        } else {
            parse_form(req.uri().query().unwrap_or("").as_bytes())
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
            .site
            .redirects
            .resolve_or_home(fields.get("redirect").map(String::as_str));
        self.open_handshake(token, &target, false).await
    }

    /// Whether a browser `POST` comes from a site allowed to post handshake
    /// tokens. With `Sec-Fetch-Site`, the browser's own verdict decides:
    /// `same-origin`, `same-site` and `none` (typed or bookmarked) pass. A
    /// cross-site `POST`, or one with an `Origin` but no `Sec-Fetch-Site`,
    /// passes only from this KB's origin or the origin of an enabled
    /// configuration's login URL (the customer app). Without either header
    /// (a client that is not a browser) it passes.
    async fn post_origin_allowed(&self, headers: &HeaderMap) -> Result<bool, Rejection> {
        let fetch_site = headers.get("sec-fetch-site").map(HeaderValue::as_bytes);
        if matches!(fetch_site, Some(b"same-origin" | b"same-site" | b"none")) {
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
        if origin == self.site.redirects.base().origin() {
            return Ok(true);
        }
        let project = self
            .identity
            .configs()
            .project()
            .await
            .map_err(|_| Rejection::Unavailable)?;
        Ok(project
            .jwt_configs()
            .iter()
            .any(|c| c.is_enabled() && c.login_url().origin() == origin))
    }

    /// Verifies a handshake token and answers: a session and a redirect to
    /// `target` (which carries no token), or a redirect to the login URL of
    /// the token's configuration with `jwt_error`, `expected_aud` and
    /// `from_url` (to `/login` when the configuration cannot be told).
    async fn open_handshake(&self, token: &str, target: &SafeRedirect, from_cookie: bool) -> Response<Vec<u8>> {
        let Some(verifier) = &self.site.handshakes else {
            return redirect(target);
        };
        let now = self.identity.codes().clock().now();
        let verified = verifier.verify_str(token, now, &self.site.replay).await;
        let project = match self.identity.configs().project().await {
            Ok(p) => p,
            Err(_) => return unavailable(),
        };
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
            set_cookie(&mut resp, &self.handshake_cookie_cleared());
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
            .identity
            .configs()
            .project()
            .await
            .map_err(|_| Rejection::Unavailable)?;
        match LoginPage::direct_target(&project) {
            Some(only) => Ok(SignIn::Customer(only.login_url().clone())),
            None => self.login_page_url(back).map(SignIn::LoginPage),
        }
    }

    /// `/login` on the KB with `redirectPath`.
    fn login_page_url(&self, back: &SafeRedirect) -> Result<Url, Rejection> {
        let login = self
            .site
            .redirects
            .base()
            .join(paths::LOGIN)
            .map_err(|_| Rejection::Unavailable)?;
        Ok(append_query(&login, &[("redirectPath", back.path_and_query())]))
    }

    /// The reader behind the request's session cookie, if it is valid at
    /// `now` and not revoked.
    pub async fn reader(&self, headers: &HeaderMap, now: OffsetDateTime) -> Option<ReaderSession> {
        let session =
            cookies(headers, self.session_cookie_name()).find_map(|v| self.site.sessions.decode(v, now).ok())?;
        match self.revocations.is_revoked(&session.jti, now).await {
            Ok(false) => Some(session),
            // Revoked, or the list cannot be read: no session.
            _ => None,
        }
    }

    /// The login binding cookie: on https `__Host-` prefixed (so only this
    /// host can set it) with `Path=/`; on plain http sent only to the
    /// callback path.
    fn verifier_cookie(&self, value: &str, max_age: i64) -> String {
        let name = self.verifier_cookie_name();
        if self.site.secure_cookies {
            format!("{name}={value}; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age={max_age}")
        } else {
            format!(
                "{name}={value}; Path={}; HttpOnly; SameSite=Lax; Max-Age={max_age}",
                paths::AUTHORIZE
            )
        }
    }

    /// [`SECURE_VERIFIER_COOKIE`] on https, [`VERIFIER_COOKIE`] on plain
    /// http. Only that name is read: on https an unprefixed cookie, which
    /// any sibling subdomain could have set, is ignored.
    fn verifier_cookie_name(&self) -> &'static str {
        if self.site.secure_cookies {
            SECURE_VERIFIER_COOKIE
        } else {
            VERIFIER_COOKIE
        }
    }

    /// The `Set-Cookie` value that removes the customer app's `jwt` cookie
    /// (`Secure` on https, like every cookie this service sets there).
    fn handshake_cookie_cleared(&self) -> String {
        let secure = if self.site.secure_cookies { "; Secure" } else { "" };
        format!("{HANDSHAKE_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{secure}")
    }

    /// Sets the session cookie for `session` on `resp`.
    ///
    /// # Errors
    /// [`SessionError::TooLarge`](crate::session::SessionError::TooLarge)
    /// when the session is too large for a cookie a browser keeps: it is
    /// refused (see [`too_large_session`]) rather than issued and dropped.
    fn open_session(
        &self,
        resp: &mut Response<Vec<u8>>,
        session: &ReaderSession,
        now: OffsetDateTime,
    ) -> Result<(), crate::session::SessionError> {
        let value = self.site.sessions.encode(session)?;
        let max_age = (session.expires_at.unix_timestamp() - now.unix_timestamp()).max(0);
        set_cookie(resp, &self.session_cookie(&value, max_age));
        Ok(())
    }

    /// A fresh login binding: the `Set-Cookie` value for the verifier and
    /// the `codeChallenge` to pass beside `redirectPath`.
    fn new_binding(&self) -> (String, String) {
        let verifier = crate::secret::random_token();
        let challenge = crate::code::s256_challenge(&verifier);
        (self.verifier_cookie(&verifier, 600), challenge)
    }

    fn session_cookie(&self, value: &str, max_age: i64) -> String {
        let secure = if self.site.secure_cookies { "; Secure" } else { "" };
        let name = self.session_cookie_name();
        format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}")
    }

    /// `__Host-kb_session` on https, so that no sibling subdomain can set or
    /// shadow it; `kb_session` on plain http (local development), where the
    /// prefix is not allowed.
    fn session_cookie_name(&self) -> &'static str {
        if self.site.secure_cookies {
            SECURE_SESSION_COOKIE
        } else {
            SESSION_COOKIE
        }
    }
}

/// Where a reader without a session goes.
enum SignIn {
    /// The customer app's login URL (Direct JWT login).
    Customer(Url),
    /// The KB's login page.
    LoginPage(Url),
}

/// A login URL with `redirectPath` and the login binding `codeChallenge`.
fn login_url_for(login_url: &Url, back: &SafeRedirect, challenge: &str) -> Url {
    append_query(
        login_url,
        &[("redirectPath", back.path_and_query()), ("codeChallenge", challenge)],
    )
}

fn too_large<B: AsRef<[u8]>>(req: &Request<B>) -> bool {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .is_some_and(|n| n > MAX_BODY_BYTES as u64);
    declared || req.body().as_ref().len() > MAX_BODY_BYTES
}

fn is_json(headers: &HeaderMap) -> bool {
    match headers.get(header::CONTENT_TYPE) {
        // curl -d without -H sends form type; the spec's samples all send
        // application/json. A missing type is taken as JSON.
        None => true,
        Some(v) => v.to_str().is_ok_and(|t| {
            let media = t.split(';').next().unwrap_or("").trim();
            media.eq_ignore_ascii_case("application/json")
        }),
    }
}

/// The values of the request's `Authorization` headers.
fn authorization(headers: &HeaderMap) -> impl Iterator<Item = &[u8]> {
    headers.get_all(header::AUTHORIZATION).iter().map(HeaderValue::as_bytes)
}

fn basic_credentials(headers: &HeaderMap) -> Result<ClientCredentials, BasicAuthError> {
    ClientCredentials::from_authorization(authorization(headers))?.ok_or(BasicAuthError::Missing)
}

fn basic_error_text(e: BasicAuthError) -> &'static str {
    match e {
        BasicAuthError::Missing => "client authentication is required (HTTP Basic with the client id and secret)",
        BasicAuthError::NotBasic => "use HTTP Basic authentication with the client id and secret",
        _ => "the Basic credentials are malformed",
    }
}

/// Client credentials of a token request: Basic header or form fields, not
/// both (RFC 6749 section 2.3), by [`ClientCredentials::from_basic_or_form`].
fn token_credentials(
    headers: &HeaderMap,
    form: &HashMap<String, String>,
) -> Result<Option<ClientCredentials>, Rejection> {
    ClientCredentials::from_basic_or_form(authorization(headers), form).map_err(|e| match e {
        CredentialsError::Basic(b) => Rejection::Unauthorized(basic_error_text(b)),
        CredentialsError::IncompleteForm => Rejection::Unauthorized("client_id and client_secret go together"),
        _ => Rejection::BadRequest("use one client authentication method, not two"),
    })
}

/// Why a redemption produced no tokens.
enum Redeem {
    /// The identity server refused the code.
    Refused(CodeError),
    /// A store did not answer.
    Unavailable,
}

/// A request refused before it reaches the protocol logic.
#[derive(Debug, Clone, Copy)]
enum Rejection {
    /// 400 `invalid_request`.
    BadRequest(&'static str),
    /// 401 `invalid_client` with `WWW-Authenticate: Basic`.
    Unauthorized(&'static str),
    /// 503: a store is not answering.
    Unavailable,
}

impl Rejection {
    fn into_response(self) -> Response<Vec<u8>> {
        match self {
            Self::BadRequest(d) => error(StatusCode::BAD_REQUEST, "invalid_request", d),
            Self::Unauthorized(d) => unauthorized(d),
            Self::Unavailable => unavailable(),
        }
    }
}

/// Parses `application/x-www-form-urlencoded` text by
/// [`crate::form::parse_form`]; a parameter given twice is refused (RFC
/// 6749 section 3.1).
fn parse_form(body: &[u8]) -> Result<HashMap<String, String>, Rejection> {
    crate::form::parse_form(body).map_err(|DuplicateParameter| Rejection::BadRequest("a parameter is given twice"))
}

/// Every value of cookie `name` in the request's `Cookie` headers (HTTP/2
/// may split them over several headers).
fn cookies<'h>(headers: &'h HeaderMap, name: &'h str) -> impl Iterator<Item = &'h str> + 'h {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(move |pair| {
            let (k, v) = pair.split_once('=')?;
            (k.trim() == name).then(|| v.trim())
        })
}

fn has_cookie(headers: &HeaderMap, name: &str) -> bool {
    cookies(headers, name).next().is_some()
}

/// A code error as an OAuth answer with its status
/// ([`CodeError::oauth_error`], [`CodeError::status`]).
fn code_error(e: &CodeError) -> Response<Vec<u8>> {
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let description = match e {
        CodeError::InvalidRequest(p) => p.to_string(),
        CodeError::InvalidGrant(p) => match p {
            GrantProblem::AlreadyUsed => "the code has already been used",
            GrantProblem::Expired => "the code has expired",
            GrantProblem::WrongClient => "the code was issued to another client",
            GrantProblem::ConfigurationInactive => "the code's JWT configuration is no longer active",
            _ => "the code is not valid",
        }
        .to_owned(),
        CodeError::TooManyCodes { .. } => {
            "this JWT configuration has too many outstanding codes; redeem some or wait for them to expire".to_owned()
        }
        CodeError::ConfigStore(_) | CodeError::CodeStore(_) => "a store is not answering; try again".to_owned(),
        other => other.to_string(),
    };
    let mut resp = if status == StatusCode::UNAUTHORIZED {
        unauthorized(&description)
    } else {
        error(status, e.oauth_error(), &description)
    };
    match e {
        CodeError::InvalidGrant(_) => resp = no_store(resp),
        CodeError::TooManyCodes { retry_after } => {
            if let Ok(v) = HeaderValue::from_str(&retry_after.whole_seconds().max(1).to_string()) {
                resp.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        _ => {}
    }
    resp
}

/// A widget error as an OAuth answer with its status.
fn widget_error(e: &WidgetError) -> Response<Vec<u8>> {
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST);
    if status == StatusCode::UNAUTHORIZED {
        return unauthorized("client authentication failed");
    }
    error(status, e.oauth_error(), &e.to_string())
}

/// 400: the session cannot be carried in a cookie a browser keeps.
fn too_large_session(e: &crate::session::SessionError) -> Response<Vec<u8>> {
    error(StatusCode::BAD_REQUEST, "invalid_request", &e.to_string())
}

fn unavailable() -> Response<Vec<u8>> {
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        "temporarily_unavailable",
        "a store is not answering; try again",
    )
}

fn unauthorized(description: &str) -> Response<Vec<u8>> {
    let mut resp = error(StatusCode::UNAUTHORIZED, "invalid_client", description);
    set(
        &mut resp,
        header::WWW_AUTHENTICATE,
        "Basic realm=\"kb-sso\", charset=\"UTF-8\"",
    );
    resp
}

fn method_not_allowed(allowed: &Method) -> Response<Vec<u8>> {
    let mut resp = error(
        StatusCode::METHOD_NOT_ALLOWED,
        "invalid_request",
        "method not allowed here",
    );
    if let Ok(v) = HeaderValue::from_str(allowed.as_str()) {
        resp.headers_mut().insert(header::ALLOW, v);
    }
    resp
}

/// An OAuth-style JSON error.
fn error(status: StatusCode, code: &str, description: &str) -> Response<Vec<u8>> {
    json_response(status, &json!({ "error": code, "error_description": description }))
}

fn json_response(status: StatusCode, body: &serde_json::Value) -> Response<Vec<u8>> {
    let mut resp = Response::new(serde_json::to_vec(body).unwrap_or_default());
    *resp.status_mut() = status;
    set(&mut resp, header::CONTENT_TYPE, "application/json");
    resp
}

fn redirect(target: &SafeRedirect) -> Response<Vec<u8>> {
    redirect_to(target.as_str())
}

/// A 302 to `location`, which must be a URL this crate built or checked.
fn redirect_to(location: &str) -> Response<Vec<u8>> {
    match HeaderValue::from_str(location) {
        Ok(v) => {
            let mut resp = Response::new(Vec::new());
            *resp.status_mut() = StatusCode::FOUND;
            resp.headers_mut().insert(header::LOCATION, v);
            resp
        }
        Err(_) => error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "the redirect target is not valid",
        ),
    }
}

fn no_store(mut resp: Response<Vec<u8>>) -> Response<Vec<u8>> {
    set(&mut resp, header::CACHE_CONTROL, "no-store");
    set(&mut resp, header::PRAGMA, "no-cache");
    resp
}

fn set_cookie(resp: &mut Response<Vec<u8>>, cookie: &str) {
    if let Ok(v) = HeaderValue::from_str(cookie) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
}

fn set(resp: &mut Response<Vec<u8>>, name: HeaderName, value: &'static str) {
    resp.headers_mut().insert(name, HeaderValue::from_static(value));
}

/// The request's path and query without parameter `name` (a token that
/// came in the URL must not stay in it).
fn without_param(uri: &http::Uri, name: &str) -> String {
    let path = uri.path();
    let Some(query) = uri.query() else {
        return path.to_owned();
    };
    let kept: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .filter(|(k, _)| k != name)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    if kept.is_empty() {
        return path.to_owned();
    }
    let query: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(kept)
        .finish();
    format!("{path}?{query}")
}

/// The client's network address, as the host put it in the request's
/// extensions; brute-force limits count per address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RemoteAddr(pub std::net::IpAddr);

/// The request's [`RemoteAddr`] as text (`unknown` when the host set none).
fn remote_addr<B>(req: &Request<B>) -> String {
    req.extensions()
        .get::<RemoteAddr>()
        .map_or_else(|| "unknown".to_owned(), |a| a.0.to_string())
}

/// The limiter key of client authentication: the normalized client id
/// and the address. Every spelling the parser accepts (upper case, 32 hex
/// digits) counts as the one id it names, and every id that does not parse
/// shares one key per address, so no spelling buys extra attempts.
fn auth_key(client_id: &str, addr: &str) -> String {
    match ClientId::parse(client_id) {
        Ok(id) => format!("auth|{id}|{addr}"),
        Err(_) => format!("auth|-|{addr}"),
    }
}

/// 429 with `Retry-After` in whole seconds.
fn too_many(retry_after: time::Duration) -> Response<Vec<u8>> {
    let mut resp = error(
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_requests",
        "too many failed attempts; try again later",
    );
    let secs = retry_after.whole_seconds().max(1).to_string();
    if let Ok(v) = HeaderValue::from_str(&secs) {
        resp.headers_mut().insert(header::RETRY_AFTER, v);
    }
    resp
}

/// Whether the client asked for JSON (`Accept: application/json`).
fn wants_json(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| {
            t.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .eq_ignore_ascii_case("application/json")
        })
}
