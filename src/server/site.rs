//! The KB site's endpoints: authorize, the handshake callback, logout, the
//! login page and its domain form, and the [`guard`](SiteEndpoints::guard)
//! of the host's own private pages.

use std::collections::HashMap;
use std::sync::Arc;

use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use serde_json::json;
use time::OffsetDateTime;
use url::Url;

use super::exchange::{CodeExchange, ExchangeError};
use super::wire::{
    self, CookieJar, Rejection, code_error, cookies, error, has_cookie, json_response, no_store, redirect, redirect_to,
    set, set_cookie, set_owned_cookie, too_large_session, unavailable, wants_html, wants_json, without_param,
};
use super::{Endpoint, SetupError};
use crate::clock::Clock;
use crate::code::{CodeError, GrantProblem};
use crate::handshake::{HandshakeErrorKind, HandshakeVerifier, ReplayCache, SessionMode};
use crate::login_page::{HtmlLoginRenderer, LoginPage, LoginPageRenderer, RenderContext};
use crate::paths;
use crate::project::{ConfigStore, Project, ProjectSnapshot, Revision};
use crate::redirect::{RedirectPolicy, SafeRedirect, append_query};
use crate::routing::{DomainRouter, Route};
use crate::secret::ClientId;
use crate::session::{HANDSHAKE_COOKIE, ReaderSession, SessionCodec, SessionRevocations, TokenBinding};
use crate::store::BoxReplayCache;
use crate::store::memory::MemoryReplayCache;

/// The KB's name on its pages when the host gives none.
const DEFAULT_SITE_NAME: &str = "the knowledge base";

/// What the [`guard`](SiteEndpoints::guard) of a private page decided.
#[derive(Debug)]
pub enum Guard {
    /// A reader with a valid session: let the request go on.
    Reader(ReaderSession),
    /// A page open to everyone (DESIGN 3.21) and no session: let the
    /// request go on without a reader.
    Visitor,
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
    password_action: Option<String>,
    sso_start: Option<String>,
    site_name: String,
}

/// The most login binding verifiers a browser holds at once: one per
/// sign-in attempt still open (tabs, a second try), the newest kept.
pub(crate) const MAX_LOGIN_ATTEMPTS: usize = crate::code::MAX_VERIFIERS;

/// How long a login binding verifier cookie lives, in seconds.
const VERIFIER_LIFETIME: i64 = 600;

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
            password_action: None,
            sso_start: None,
            site_name: DEFAULT_SITE_NAME.to_owned(),
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
            password_action: self.password_action,
            sso_start: self.sso_start,
            site_name: self.site_name,
        }
    }

    /// The KB's name as readers know it, in the login page's title and
    /// heading ("Sign in to Acme Docs"); "the knowledge base" by default.
    pub fn site_name(mut self, name: &str) -> Self {
        self.site_name = name.to_owned();
        self
    }

    /// Shows the email/password form on the login page, posting to `path`
    /// (under the mount prefix), which the host serves. Without it the form
    /// is left out, whatever the project's toggles say.
    pub fn password_form(mut self, path: &str) -> Self {
        self.password_action = Some(path.to_owned());
        self
    }

    /// Shows the SSO buttons on the login page, each starting sign-in at
    /// `path` (`?provider=&kind=&redirectPath=`), which the host serves.
    /// Without it the SSO buttons are left out.
    pub fn sso_start(mut self, path: &str) -> Self {
        self.sso_start = Some(path.to_owned());
        self
    }

    /// The answer of `endpoint` when it is one of these; `None` otherwise.
    /// An error answers a browser (`Accept` preferring HTML) with an HTML
    /// page and a link back to the login page; API clients get JSON.
    pub async fn answer<B: AsRef<[u8]>>(&self, endpoint: Endpoint, req: &Request<B>) -> Option<Response<Vec<u8>>> {
        let resp = self.answer_json(endpoint, req).await?;
        let back = format!("{}{}", self.prefix, paths::LOGIN);
        Some(wire::for_browser(req.headers(), resp, &back, "Back to sign in"))
    }

    async fn answer_json<B: AsRef<[u8]>>(&self, endpoint: Endpoint, req: &Request<B>) -> Option<Response<Vec<u8>>> {
        Some(match endpoint {
            Endpoint::Authorize => self.authorize(req).await,
            Endpoint::HandshakeCallback => self.handshake_callback(req).await,
            Endpoint::Logout => self.logout(req).await,
            Endpoint::Login => self.login(req).await,
            Endpoint::LoginDomain => self.login_domain(req).await,
            Endpoint::SignedOut => self.signed_out(req).await,
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
        let project = match self.configs.current().await {
            Ok(s) => s.project,
            Err(_) => return unavailable(),
        };
        let asked = ["redirectUrl", "RedirectUrl", "redirectPath", "RedirectPath"]
            .into_iter()
            .find_map(|k| query.get(k).filter(|v| !v.is_empty()));
        let target = self.return_target(req.headers(), asked.map(String::as_str), &project);
        self.redeem(req.headers(), code, &target).await
    }

    /// Redeems `code`, opens the reader's session and redirects to
    /// `target`, clearing the login binding and return-target cookies the
    /// request carried.
    async fn redeem(&self, headers: &HeaderMap, code: &str, target: &SafeRedirect) -> Response<Vec<u8>> {
        // Every open attempt's verifier goes along (space-separated): the
        // identity server takes the one that answers the code's challenge.
        let verifiers = self.open_verifiers(headers);
        let verifier = (!verifiers.is_empty()).then(|| verifiers.join(" "));
        let session = match self.exchange.redeem(code, verifier.as_deref()).await {
            Ok(s) => s,
            Err(e) => return self.refused(code, &e).await,
        };
        let now = self.clock.now();
        let mut resp = redirect(target);
        if let Err(e) = self.open_session(&mut resp, &session, now) {
            return too_large_session(&e);
        }
        // The verifier of a lone attempt goes; with several open, they all
        // stay (another tab may still finish signing in; the one just used
        // is worthless, its code spent, and the cookie expires).
        if verifiers.len() == 1 {
            set_cookie(&mut resp, &self.cookies.verifier("", 0));
        }
        self.clear_return(headers, &mut resp);
        set(&mut resp, header::REFERRER_POLICY, "no-referrer");
        no_store(resp)
    }

    /// Where a reader goes once signed in (DESIGN 3.17): `asked` (the
    /// request's `redirectUrl` or the like), else the page in the
    /// return-target cookie, else the landing page; each through the
    /// redirect policy, the first that passes.
    fn return_target(&self, headers: &HeaderMap, asked: Option<&str>, project: &Project) -> SafeRedirect {
        asked
            .and_then(|t| self.redirects.check(t).ok())
            .or_else(|| self.remembered(headers))
            .unwrap_or_else(|| self.landing(project))
    }

    /// The page in the request's return-target cookie, if it is one this
    /// KB set, unexpired and still a safe target.
    fn remembered(&self, headers: &HeaderMap) -> Option<SafeRedirect> {
        let now = self.clock.now();
        cookies(headers, self.cookies.return_name())
            .find_map(|v| self.sessions.open_return(v, now))
            .and_then(|path| self.redirects.check(&path).ok())
    }

    /// The project's default landing page: home, or `/docs` when the home
    /// page is unpublished.
    fn landing(&self, project: &Project) -> SafeRedirect {
        self.redirects.resolve_or_home(Some(project.landing_path()))
    }

    /// `target`, unless it is the bare home page `/` (where the spec's C#
    /// sample and HelpSite links send readers whatever page they asked
    /// for): then the remembered page, else the landing page.
    fn same_page_or_remembered(&self, headers: &HeaderMap, target: &str, project: &Project) -> SafeRedirect {
        if target == "/" {
            return self.return_target(headers, None, project);
        }
        self.redirects.check(target).unwrap_or_else(|_| self.landing(project))
    }

    /// Remembers `back` in the return-target cookie on `resp`.
    fn remember(&self, resp: &mut Response<Vec<u8>>, back: &SafeRedirect) {
        let value = self.sessions.seal_return(back.path_and_query(), self.clock.now());
        let max_age = crate::session::RETURN_COOKIE_LIFETIME.whole_seconds();
        set_owned_cookie(resp, self.cookies.return_target(&value, max_age));
    }

    /// Clears the return-target cookie when the request carried one.
    fn clear_return(&self, headers: &HeaderMap, resp: &mut Response<Vec<u8>>) {
        if has_cookie(headers, self.cookies.return_name()) {
            set_owned_cookie(resp, self.cookies.return_target("", 0));
        }
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
    /// configuration, or to the signed-out page (`/jwt/signed-out`), which
    /// never sends the reader back into sign-in by itself. When the revocation cannot be
    /// recorded the answer is 503, with the cookies still cleared. 413 over
    /// 64 KiB, 405 for another method.
    pub async fn logout<B: AsRef<[u8]>>(&self, req: &Request<B>) -> Response<Vec<u8>> {
        if let Some(r) = wire::precheck(req, Endpoint::Logout) {
            return r;
        }
        let now = self.clock.now();
        let session = self.reader(req.headers(), now).await;
        // One read of the project serves the logout URL and the handshake
        // cookie (a store that does not answer: neither).
        let snapshot = self.configs.current().await.ok();
        let mut logout_url = None;
        let mut revoked = true;
        if let Some(s) = &session {
            revoked = self.revocations.revoke(&s.jti, s.expires_at, now).await.is_ok();
            if let Some(config) = snapshot.as_ref().and_then(|p| p.project.jwt_config(&s.client_id)) {
                logout_url = config.logout_url().cloned();
            }
        }
        let mut resp = match logout_url {
            _ if !revoked => unavailable(),
            Some(url) => redirect_to(url.as_str()),
            None => match self.site_url(paths::SIGNED_OUT) {
                Ok(url) => redirect_to(url.as_str()),
                Err(r) => r.into_response(),
            },
        };
        set_cookie(&mut resp, &self.cookies.session("", 0));
        if has_cookie(req.headers(), HANDSHAKE_COOKIE) || snapshot.is_some_and(|p| p.project.takes_handshakes()) {
            set_cookie(&mut resp, &self.cookies.handshake_cleared());
        }
        no_store(resp)
    }

    /// `GET /jwt/signed-out`: the public signed-out page, HTML with a
    /// "Sign in again" link to the login page, or JSON
    /// `{"signed_out":true,"sign_in_url"}` with `Accept: application/json`.
    /// It never redirects. 413 over 64 KiB, 405 for another method.
    pub async fn signed_out<B: AsRef<[u8]>>(&self, req: &Request<B>) -> Response<Vec<u8>> {
        if let Some(r) = wire::precheck(req, Endpoint::SignedOut) {
            return r;
        }
        let sign_in = match self.site_url(paths::LOGIN) {
            Ok(url) => url,
            Err(r) => return r.into_response(),
        };
        let mut resp = if wants_json(req.headers()) {
            json_response(
                StatusCode::OK,
                &json!({"signed_out": true, "sign_in_url": sign_in.as_str()}),
            )
        } else {
            let href = crate::login_page::escape_html(sign_in.path());
            let mut resp = Response::new(
                format!(
                    concat!(
                        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n",
                        "<title>Signed out</title>\n</head>\n<body>\n<main>\n<h1>You are signed out</h1>\n",
                        "<p>You have signed out of the knowledge base.</p>\n",
                        "<p><a class=\"button\" href=\"{href}\">Sign in again</a></p>\n</main>\n</body>\n</html>\n"
                    ),
                    href = href
                )
                .into_bytes(),
            );
            set(&mut resp, header::CONTENT_TYPE, "text/html; charset=utf-8");
            set(&mut resp, header::X_FRAME_OPTIONS, "DENY");
            set(
                &mut resp,
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; frame-ancestors 'none'",
            );
            resp
        };
        set(&mut resp, header::VARY, "Accept");
        no_store(resp)
    }

    /// `GET /login`: the login page ([`LoginPage`]) as HTML, or as JSON
    /// with `Accept: application/json`. With Direct JWT login and one active
    /// configuration, a 302 to its login URL instead. `redirectPath` is
    /// kept, and remembered in the return-target cookie. The HTML shows
    /// only the controls the host serves: the email/password form with
    /// [`password_form`](Self::password_form), SSO buttons with
    /// [`sso_start`](Self::sso_start); the JSON gives the options the
    /// project's state resolves to, with `password_action` and
    /// `sso_start` (`null` when not served). 413 over 64 KiB, 405 for
    /// another method.
    pub async fn login<B: AsRef<[u8]>>(&self, req: &Request<B>) -> Response<Vec<u8>> {
        if let Some(r) = wire::precheck(req, Endpoint::Login) {
            return r;
        }
        let query = wire::query(req).unwrap_or_default();
        let project = match self.configs.current().await {
            Ok(s) => s.project,
            Err(_) => return unavailable(),
        };
        let back = self.target_or_landing(query.get("redirectPath").map(String::as_str), &project);
        self.login_answer(req, &project, &back, None)
    }

    /// The login page for `project` returning to `back`, with the domain
    /// field's `(value, message)` after an unmatched domain.
    fn login_answer<B>(
        &self,
        req: &Request<B>,
        project: &Project,
        back: &SafeRedirect,
        domain: Option<(&str, &str)>,
    ) -> Response<Vec<u8>> {
        let navigation = wire::is_navigation(req);
        let (binding_cookie, challenge) = self.new_binding(req.headers());
        let mut options = match LoginPage::resolve(project) {
            LoginPage::Redirect { client_id, login_url } => {
                let url = self.sign_in_url(project, &client_id, &login_url, back, &challenge);
                let mut resp = redirect_to(url.as_str());
                if navigation {
                    set_cookie(&mut resp, &binding_cookie);
                    self.remember(&mut resp, back);
                }
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
                    "password_action": self.password_action.as_ref().map(|p| format!("{}{p}", self.prefix)),
                    "sso_start": self.sso_start.as_ref().map(|p| format!("{}{p}", self.prefix)),
                }),
            )
        } else {
            let context = RenderContext {
                redirect_path: back.path_and_query().to_owned(),
                domain_action: format!("{}{}", self.prefix, paths::LOGIN_DOMAIN),
                password_action: self.password_action.as_ref().map(|p| format!("{}{p}", self.prefix)),
                sso_start: self.sso_start.as_ref().map(|p| format!("{}{p}", self.prefix)),
                site_name: self.site_name.clone(),
                domain_value: domain.map_or_else(String::new, |(v, _)| v.to_owned()),
                domain_error: domain.map(|(_, m)| m.to_owned()),
            };
            let mut resp = Response::new(self.renderer.render(&options, &context).into_bytes());
            wire::html_headers(&mut resp);
            resp
        };
        // Only a top-level page navigation opens a sign-in attempt: a
        // favicon, an image or a script fetch never replaces the binding
        // or the page to return to.
        if navigation {
            if !options.jwt_buttons.is_empty() {
                set_cookie(&mut resp, &binding_cookie);
            }
            self.remember(&mut resp, back);
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
        let project = match self.configs.current().await {
            Ok(s) => s.project,
            Err(_) => return unavailable(),
        };
        let back = self.target_or_landing(form.get("redirectPath").map(String::as_str), &project);
        let router = DomainRouter::new(project.jwt_configs());
        let route = router.route(form.get("domain").map_or("", String::as_str));
        let config = match route {
            Route::Config(id) => project.jwt_config(&id),
            _ => None,
        };
        // A browser's form submission may not follow a redirect to another
        // origin under the login page's `form-action 'self'`: it gets a
        // page of this KB that moves on by itself and shows where to.
        let browser = req.headers().contains_key("sec-fetch-mode") || wants_html(req.headers());
        let typed = form.get("domain").map_or("", String::as_str);
        let resp = match config {
            Some(c) => {
                let (binding_cookie, challenge) = self.new_binding(req.headers());
                let url = self.sign_in_url(&project, c.client_id(), c.login_url(), &back, &challenge);
                let mut resp = if browser {
                    self.continue_page(&url)
                } else {
                    redirect_to(url.as_str())
                };
                set_cookie(&mut resp, &binding_cookie);
                self.remember(&mut resp, &back);
                set(&mut resp, header::REFERRER_POLICY, "no-referrer");
                resp
            }
            None if browser => {
                let message = if typed.trim().is_empty() {
                    "Enter your organisation's domain or your work email address.".to_owned()
                } else {
                    format!(
                        "No sign-in is set up for \u{201c}{}\u{201d}. Check the spelling, or use your work email address.",
                        typed.trim()
                    )
                };
                let mut resp = self.login_answer(req, &project, &back, Some((typed, &message)));
                if resp.status() == StatusCode::OK {
                    *resp.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
                }
                resp
            }
            None => match self.login_page_url(&back) {
                Ok(url) => redirect_to(url.as_str()),
                Err(r) => r.into_response(),
            },
        };
        no_store(resp)
    }

    /// A page of this KB that sends the browser on to `url` (a login URL
    /// this crate built) by `Refresh`, with a link to it and its origin
    /// shown, for a reader whose browser does not refresh.
    fn continue_page(&self, url: &Url) -> Response<Vec<u8>> {
        let e = crate::login_page::escape_html;
        let href = e(url.as_str());
        let origin = e(&url.origin().ascii_serialization());
        let body = format!(
            concat!(
                "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n",
                "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n",
                "<meta http-equiv=\"refresh\" content=\"0; url={href}\">\n",
                "<title>Continue to sign in \u{b7} {site}</title>\n<style>{css}</style>\n</head>\n<body>\n<main>\n",
                "<h1>Continue to sign in</h1>\n",
                "<p>Your organisation signs in to {site} at <strong>{origin}</strong>.</p>\n",
                "<p><a class=\"button\" id=\"continue\" href=\"{href}\">Continue to {origin}</a></p>\n",
                "</main>\n</body>\n</html>\n"
            ),
            href = href,
            origin = origin,
            site = e(&self.site_name),
            css = crate::login_page::PAGE_STYLE,
        );
        let mut resp = Response::new(body.into_bytes());
        wire::html_headers(&mut resp);
        resp
    }

    /// Guards one of the host's pages: [`Guard::Reader`] for a reader with
    /// a valid, unrevoked session cookie, [`Guard::Visitor`] for a page the
    /// project's visibility opens to everyone (DESIGN 3.21); otherwise
    /// [`Guard::Respond`] with the answer to send instead.
    ///
    /// A browser `GET` with `?code=` is redeemed as on `/jwt/authorize`,
    /// then redirected to the same URL without `code` (DESIGN 3.16; on the
    /// bare home page `/`, to the page remembered when the reader was sent
    /// to sign in). With handshakes on, a `GET` with `?jwt=` (checked even
    /// with a session) or a `jwt` cookie opens a session and redirects to
    /// the page without the token; in session mode `token` a `jwt` cookie
    /// other than the one that opened the session replaces it, and a
    /// session whose configuration's key has changed since is over.
    /// Without a session, a browser `GET` is redirected to sign in (the one
    /// customer app's login URL under Direct JWT login, with
    /// `jwt_error=missing`, `from_url` and `expected_aud` when it takes
    /// handshake tokens; else the login page) with `redirectPath`, and the
    /// page is remembered in the return-target cookie; an API client
    /// (`Accept: application/json`) or any other method gets 401 JSON
    /// `{"error":"login_required", "error_description","login_url"}`.
    ///
    /// An error answers a browser (`Accept` preferring HTML) with an HTML
    /// page and a link to the login page; API clients get JSON.
    pub async fn guard<B>(&self, req: &Request<B>) -> Guard {
        match self.guard_json(req).await {
            Guard::Respond(resp) => {
                let back = format!("{}{}", self.prefix, paths::LOGIN);
                Guard::Respond(wire::for_browser(req.headers(), resp, &back, "Go to sign in"))
            }
            other => other,
        }
    }

    async fn guard_json<B>(&self, req: &Request<B>) -> Guard {
        let now = self.clock.now();
        let headers = req.headers();
        let browser_get = matches!(*req.method(), Method::GET | Method::HEAD);
        // A page without a query string carries no `code` or `jwt`.
        let query = if browser_get && req.uri().query().is_some() {
            wire::query(req).unwrap_or_default()
        } else {
            HashMap::new()
        };
        let code = query.get("code").filter(|c| !c.is_empty());
        let token = query.get("jwt");
        // A page view with a session that needs no check against the
        // project (no login binding) is answered without reading it.
        let session = if code.is_none() && token.is_none() {
            match self.reader(headers, now).await {
                Some(reader) if reader.binding.is_none() => return Guard::Reader(reader),
                other => Some(other),
            }
        } else {
            None
        };
        let Ok(snapshot) = self.configs.current().await else {
            // Without the project, a session that needs no check against
            // it still reads; anything else waits for the store.
            let reader = match session {
                Some(read) => read,
                None => self.reader(headers, now).await,
            };
            return match reader {
                Some(reader) if reader.binding.is_none() => Guard::Reader(reader),
                _ => Guard::Respond(unavailable()),
            };
        };
        let project = &snapshot.project;
        if let Some(code) = code {
            let target = self.same_page_or_remembered(headers, &without_param(req.uri(), "code"), project);
            return Guard::Respond(self.redeem(headers, code, &target).await);
        }
        if let Some(token) = token
            && project.takes_handshakes()
        {
            let target = self.same_page_or_remembered(headers, &without_param(req.uri(), "jwt"), project);
            return Guard::Respond(self.open_handshake(headers, token, &target, false).await);
        }
        let requested = req.uri().path_and_query().map_or("/", |p| p.as_str());
        // Where to come back to: only when the answer is not the page.
        let back = || self.redirects.resolve_or_home(Some(requested));
        let handshake_cookie = if browser_get && project.takes_handshakes() {
            cookies(headers, HANDSHAKE_COOKIE).next()
        } else {
            None
        };
        let mut stale_session = false;
        let reader = match session {
            Some(read) => read,
            None => self.reader(headers, now).await,
        };
        if let Some(reader) = reader {
            match reader.binding {
                None => return Guard::Reader(reader),
                Some(binding) if bound_key_current(project, &reader, &binding) => {
                    // The same token again (a cookie on the customer's
                    // domain the KB cannot clear) keeps the session; another
                    // one replaces it.
                    match handshake_cookie {
                        Some(token) if TokenBinding::digest(token) != binding.token => {
                            return Guard::Respond(self.open_handshake(headers, token, &back(), true).await);
                        }
                        _ => return Guard::Reader(reader),
                    }
                }
                Some(_) => stale_session = true,
            }
        }
        let back = back();
        if let Some(token) = handshake_cookie {
            return Guard::Respond(self.open_handshake(headers, token, &back, true).await);
        }
        if project.is_public(req.uri().path()) {
            if stale_session {
                let mut resp = redirect(&back);
                set_cookie(&mut resp, &self.cookies.session("", 0));
                return Guard::Respond(no_store(resp));
            }
            return Guard::Visitor;
        }
        let mut resp = if browser_get && !wants_json(headers) && wire::is_navigation(req) {
            let mut resp = match LoginPage::direct_target(project) {
                Some(only) => {
                    let (binding_cookie, challenge) = self.new_binding(headers);
                    let url = self.sign_in_url(project, only.client_id(), only.login_url(), &back, &challenge);
                    let mut resp = redirect_to(url.as_str());
                    set_cookie(&mut resp, &binding_cookie);
                    resp
                }
                None => match self.login_page_url(&back) {
                    Ok(url) => redirect_to(url.as_str()),
                    Err(r) => r.into_response(),
                },
            };
            self.remember(&mut resp, &back);
            resp
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
        if has_cookie(headers, self.cookies.session_name()) {
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
        let project = match self.configs.current().await {
            Ok(s) => s.project,
            Err(_) => return unavailable(),
        };
        let target = self.return_target(req.headers(), fields.get("redirect").map(String::as_str), &project);
        self.open_handshake(req.headers(), token, &target, false).await
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
    async fn open_handshake(
        &self,
        headers: &HeaderMap,
        token: &str,
        target: &SafeRedirect,
        from_cookie: bool,
    ) -> Response<Vec<u8>> {
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
                    let mut session = v.into_session(now);
                    if let Some(binding) = &mut session.binding {
                        binding.token = TokenBinding::digest(token.trim());
                    }
                    let mut resp = redirect(target);
                    if let Err(e) = self.open_session(&mut resp, &session, now) {
                        return too_large_session(&e);
                    }
                    self.clear_return(headers, &mut resp);
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

    /// The login URL `login_url` of the configuration `client_id` with
    /// `redirectPath` and the login binding `codeChallenge`; when the
    /// configuration takes handshake tokens, also `jwt_error=missing`,
    /// `from_url` (the absolute URL asked for) and `expected_aud` (when
    /// an audience is set), as HelpSite sends a token-less reader.
    fn sign_in_url(
        &self,
        project: &Project,
        client_id: &ClientId,
        login_url: &Url,
        back: &SafeRedirect,
        challenge: &str,
    ) -> Url {
        let url = login_url_for(login_url, back, challenge);
        match project.handshake(client_id) {
            Some(h) => {
                let mut pairs = vec![("jwt_error", "missing"), ("from_url", back.as_str())];
                if let Some(aud) = h.expected_audience() {
                    pairs.push(("expected_aud", aud));
                }
                append_query(&url, &pairs)
            }
            None => url,
        }
    }

    /// `target` when the redirect policy takes it, else the landing page.
    fn target_or_landing(&self, target: Option<&str>, project: &Project) -> SafeRedirect {
        target
            .and_then(|t| self.redirects.check(t).ok())
            .unwrap_or_else(|| self.landing(project))
    }

    /// The absolute URL of `path` under the mount prefix on this KB.
    fn site_url(&self, path: &str) -> Result<Url, Rejection> {
        self.redirects
            .base()
            .join(&format!("{}{path}", self.prefix))
            .map_err(|_| Rejection::Unavailable)
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

    /// A fresh login binding for one more sign-in attempt: the
    /// `Set-Cookie` value holding its verifier beside those of the
    /// request's other open attempts (the newest [`MAX_LOGIN_ATTEMPTS`]),
    /// and the `codeChallenge` to pass beside `redirectPath`.
    fn new_binding(&self, headers: &HeaderMap) -> (String, String) {
        let verifier = crate::secret::random_token();
        let challenge = crate::code::s256_challenge(&verifier);
        let mut kept = vec![verifier.as_str()];
        kept.extend(self.open_verifiers(headers).into_iter().take(MAX_LOGIN_ATTEMPTS - 1));
        (self.cookies.verifier(&kept.join("."), VERIFIER_LIFETIME), challenge)
    }

    /// The verifiers of the sign-in attempts the request's login binding
    /// cookie holds, newest first: at most [`MAX_LOGIN_ATTEMPTS`], each of
    /// the shape this site makes (43 base64url characters).
    fn open_verifiers<'h>(&self, headers: &'h HeaderMap) -> Vec<&'h str> {
        cookies(headers, self.cookies.verifier_name())
            .flat_map(|v| v.split('.'))
            .filter(|v| v.len() == 43 && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
            .take(MAX_LOGIN_ATTEMPTS)
            .collect()
    }
}

/// Whether the key that verified the token of a `token`-mode session is
/// still its configuration's key, in session mode `token` (a regenerated
/// secret or key pair, or a configuration that no longer takes handshake
/// tokens that way, ends the session). One SHA-256 per guarded request.
fn bound_key_current(project: &Project, reader: &ReaderSession, binding: &TokenBinding) -> bool {
    project
        .handshake(&reader.client_id)
        .is_some_and(|h| h.session_mode() == SessionMode::Token && h.key().fingerprint() == binding.key)
}

/// A login URL with `redirectPath` and the login binding `codeChallenge`.
fn login_url_for(login_url: &Url, back: &SafeRedirect, challenge: &str) -> Url {
    append_query(
        login_url,
        &[("redirectPath", back.path_and_query()), ("codeChallenge", challenge)],
    )
}
