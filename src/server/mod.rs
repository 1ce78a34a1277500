//! Framework-agnostic HTTP endpoints (feature `server`), split by party.
//!
//! [`IdentityEndpoints`] serve the identity server (code generation, the
//! back-channel token exchange, widget tokens, the public keys);
//! [`SiteEndpoints`] serve the KB site (authorize, the handshake callback,
//! logout, the login page and its domain form) and
//! [`guard`](SiteEndpoints::guard) the host's own private pages. Both
//! answer `http::Request`s with `http::Response`s, and every endpoint
//! method makes its own size and method checks, so a host may
//! mount any one alone. [`SsoService`] composes the two in one process.
//!
//! The crate owns only the paths of its [`Endpoint`] table, under the
//! prefix the host chooses ([`SsoService::mount_prefix`]); every other
//! path is the host's. [`SsoService::serve`] answers a request for one of
//! them and returns `None` for any other; private pages are the host's
//! ordinary routes behind [`SsoService::guard`].
//!
//! | method, path (under the prefix) | answer |
//! |---|---|
//! | `POST /api/jwt/generate-code` (alias `/jwt/generateCode`) | 200 `{"code"}`; 400; 401 with `WWW-Authenticate: Basic`; 403 when disabled |
//! | `POST /api/jwt/token` | 200 `{"id_token","access_token","token_type","expires_in"}`; 400 `invalid_grant` |
//! | `POST /api/jwt/widget-token` | 200 `{"access_token","token_type","expires_in"}` |
//! | `GET /.well-known/jwks.json` | the token signer's public keys |
//! | `GET /jwt/authorize?code=&redirectUrl=` | 302 to the safe target with the session cookie |
//! | `GET`, `POST /api/auth/jwt/callback` | handshake token: session and 302 |
//! | `GET /jwt/logout` | session revoked on the server, cookies cleared, 302 to the logout URL (or home) |
//! | `GET /login` | the sign-in options |
//! | `POST /login/domain` | 302 to the matched login URL, or to the login page |
//!
//! Errors are JSON `{"error", "error_description"}` in OAuth style with a
//! 4xx status; bodies over 64 KiB get 413 and another method 405 with
//! `Allow`, from every endpoint. Answers carrying a code or token send
//! `Cache-Control: no-store` and `Pragma: no-cache`.

pub mod admin;
#[cfg(feature = "axum")]
pub mod axum;
mod exchange;
mod identity;
mod site;
#[cfg(feature = "tower")]
pub mod tower;
mod wire;

use std::sync::Arc;

use http::{Method, Request, Response};
use time::OffsetDateTime;
use url::Url;

pub use exchange::{CodeExchange, ExchangeError, InProcess, RemoteExchange, TokenSender};
pub use identity::IdentityEndpoints;
pub use site::{Guard, SiteEndpoints};
pub use wire::{Format, MAX_BODY_BYTES, RemoteAddr, negotiate};

use crate::clock::Clock;
use crate::code::CodeStore;
use crate::handshake::ReplayCache;
use crate::identity::IdentityServer;
use crate::limit::{Limits, RateLimiter};
use crate::login_page::LoginPageRenderer;
use crate::paths;
use crate::project::ConfigStore;
use crate::redirect::RedirectError;
use crate::session::{MAX_CODE_FLOW_SESSION, ReaderSession, SessionCodec, SessionRevocations};
use crate::store::memory::{MemoryRateLimiter, MemorySessionRevocations};

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

/// One of the crate's endpoints: its default path (the spec's) and the
/// methods it takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Endpoint {
    /// `POST /api/jwt/generate-code` (also `/jwt/generateCode`): identity.
    GenerateCode,
    /// `POST /api/jwt/token`: identity, back channel.
    Token,
    /// `POST /api/jwt/widget-token`: identity.
    WidgetToken,
    /// `GET /.well-known/jwks.json`: identity.
    Jwks,
    /// `GET /jwt/authorize`: KB site.
    Authorize,
    /// `GET` or `POST /api/auth/jwt/callback`: KB site.
    HandshakeCallback,
    /// `GET /jwt/logout`: KB site.
    Logout,
    /// `GET /login`: KB site.
    Login,
    /// `POST /login/domain`: KB site.
    LoginDomain,
    /// `GET /jwt/signed-out`: KB site, the public signed-out page.
    SignedOut,
}

impl Endpoint {
    /// Every endpoint.
    pub const ALL: [Self; 10] = [
        Self::GenerateCode,
        Self::Token,
        Self::WidgetToken,
        Self::Jwks,
        Self::Authorize,
        Self::HandshakeCallback,
        Self::Logout,
        Self::Login,
        Self::LoginDomain,
        Self::SignedOut,
    ];

    /// The default path (the spec's), without a mount prefix.
    #[must_use]
    pub fn path(self) -> &'static str {
        match self {
            Self::GenerateCode => paths::GENERATE_CODE,
            Self::Token => paths::TOKEN,
            Self::WidgetToken => paths::WIDGET_TOKEN,
            Self::Jwks => paths::JWKS,
            Self::Authorize => paths::AUTHORIZE,
            Self::HandshakeCallback => paths::HANDSHAKE_CALLBACK,
            Self::Logout => paths::LOGOUT,
            Self::Login => paths::LOGIN,
            Self::LoginDomain => paths::LOGIN_DOMAIN,
            Self::SignedOut => paths::SIGNED_OUT,
        }
    }

    /// Other paths that name this endpoint (the legacy
    /// `/jwt/generateCode`).
    #[must_use]
    pub fn aliases(self) -> &'static [&'static str] {
        match self {
            Self::GenerateCode => &[paths::GENERATE_CODE_ALIAS],
            _ => &[],
        }
    }

    /// Whether the endpoint takes `method`.
    #[must_use]
    pub fn allows(self, method: &Method) -> bool {
        match self {
            Self::HandshakeCallback => method == Method::GET || method == Method::POST,
            Self::GenerateCode | Self::Token | Self::WidgetToken | Self::LoginDomain => method == Method::POST,
            Self::Jwks | Self::Authorize | Self::Logout | Self::Login | Self::SignedOut => method == Method::GET,
        }
    }

    /// The methods it takes, as the `Allow` header of its 405 answer.
    #[must_use]
    pub fn allow_header(self) -> &'static str {
        match self {
            Self::HandshakeCallback => "GET, POST",
            Self::GenerateCode | Self::Token | Self::WidgetToken | Self::LoginDomain => "POST",
            Self::Jwks | Self::Authorize | Self::Logout | Self::Login | Self::SignedOut => "GET",
        }
    }

    /// Whether the identity server serves it (else the KB site).
    #[must_use]
    pub fn is_identity(self) -> bool {
        matches!(self, Self::GenerateCode | Self::Token | Self::WidgetToken | Self::Jwks)
    }

    /// The endpoint `path` names without a prefix, if any.
    fn from_path(path: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|e| e.path() == path || e.aliases().contains(&path))
    }
}

/// A mount prefix as used: `""`, or `/` followed by the segments given,
/// without a trailing `/`.
pub(crate) fn normalize_prefix(prefix: &str) -> String {
    let trimmed = prefix.trim_matches('/');
    if trimmed.is_empty() {
        String::new()
    } else {
        format!("/{trimmed}")
    }
}

/// Revokes the session (and access token) the first use of `code` opened,
/// now that it is used again (RFC 6749 section 4.1.2): their `jti` is
/// derived from the code, and no code-flow session outlives
/// [`MAX_CODE_FLOW_SESSION`].
pub(crate) async fn revoke_reused<R: SessionRevocations>(
    revocations: &R,
    code: &str,
    now: OffsetDateTime,
) -> Result<(), R::Error> {
    let session = crate::identity::token_id_for_code(code);
    revocations.revoke(&session, now + MAX_CODE_FLOW_SESSION, now).await
}

/// The KB site of an [`SsoService`]: redeeming codes, reading
/// configurations and the time in process.
pub type LocalSite<CS, S, C, R> = SiteEndpoints<InProcess<CS, S, C>, InProcess<CS, S, C>, InProcess<CS, S, C>, R>;

/// The identity server and the KB site in one process: their endpoints
/// under one mount prefix, the site redeeming codes straight from the
/// identity server ([`InProcess`]), both sharing one revocation store.
#[derive(Debug)]
pub struct SsoService<CS, S, C, L = MemoryRateLimiter, R = MemorySessionRevocations> {
    identity: IdentityEndpoints<CS, S, C, L, Arc<R>>,
    site: LocalSite<CS, S, C, Arc<R>>,
    prefix: String,
}

impl<CS: ConfigStore, S: CodeStore, C: Clock> SsoService<CS, S, C, MemoryRateLimiter, MemorySessionRevocations> {
    /// A service for the KB at `kb_url`, at the spec's paths. Session
    /// cookies are `Secure` when `kb_url` is https. Failed attempts are
    /// limited in memory with [`Limits::default`].
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
        let identity = Arc::new(identity);
        let revocations = Arc::new(MemorySessionRevocations::new());
        let local = InProcess(Arc::clone(&identity));
        let site = SiteEndpoints::new(
            local.clone(),
            local.clone(),
            local,
            Arc::clone(&revocations),
            sessions,
            kb_url,
        )?;
        Ok(Self {
            identity: IdentityEndpoints::new(identity).session_revocations(revocations),
            site,
            prefix: String::new(),
        })
    }
}

impl<CS: ConfigStore, S: CodeStore, C: Clock, L: RateLimiter, R: SessionRevocations> SsoService<CS, S, C, L, R> {
    /// Counts failed attempts with `limiter` instead of in memory.
    pub fn rate_limiter<L2: RateLimiter>(self, limiter: L2) -> SsoService<CS, S, C, L2, R> {
        SsoService {
            identity: self.identity.rate_limiter(limiter),
            site: self.site,
            prefix: self.prefix,
        }
    }

    /// Keeps revoked sessions in `revocations` instead of in memory (share
    /// one store between instances).
    pub fn session_revocations<R2: SessionRevocations>(self, revocations: R2) -> SsoService<CS, S, C, L, R2> {
        let revocations = Arc::new(revocations);
        SsoService {
            identity: self.identity.session_revocations(Arc::clone(&revocations)),
            site: self.site.session_revocations(revocations),
            prefix: self.prefix,
        }
    }

    /// Mounts every endpoint under `prefix`: `""` (the default) for the
    /// spec's paths, or for example `"/sso"` for `/sso/jwt/authorize`. The
    /// public keys move too (`/sso/.well-known/jwks.json`): the crate claims
    /// nothing outside its prefix. The login page URL, the domain form's
    /// action and the login binding cookie's path follow the prefix; the
    /// customer app's callback URL must name `{prefix}/jwt/authorize`.
    pub fn mount_prefix(mut self, prefix: &str) -> Self {
        self.prefix = normalize_prefix(prefix);
        self.site = self.site.mount_prefix(&self.prefix);
        self
    }

    /// Sets the brute-force limits.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.identity = self.identity.limits(limits);
        self
    }

    /// Sets whether the back-channel exchange requires client credentials.
    pub fn client_authentication(mut self, mode: ClientAuthentication) -> Self {
        self.identity = self.identity.client_authentication(mode);
        self
    }

    /// Remembers handshake `jti`s in `cache` instead of in memory (for
    /// example `store::redis::RedisReplayCache`, so that a token is accepted
    /// once across every instance).
    pub fn replay_cache(mut self, cache: impl ReplayCache + 'static) -> Self {
        self.site = self.site.replay_cache(cache);
        self
    }

    /// Replaces the login page's HTML renderer.
    pub fn login_renderer(mut self, renderer: impl LoginPageRenderer + 'static) -> Self {
        self.site = self.site.login_renderer(renderer);
        self
    }

    /// Shows the login page's email/password form, posting to `path`
    /// ([`SiteEndpoints::password_form`]).
    pub fn password_form(mut self, path: &str) -> Self {
        self.site = self.site.password_form(path);
        self
    }

    /// Shows the login page's SSO buttons, starting at `path`
    /// ([`SiteEndpoints::sso_start`]).
    pub fn sso_start(mut self, path: &str) -> Self {
        self.site = self.site.sso_start(path);
        self
    }

    /// The KB's name on its pages ([`SiteEndpoints::site_name`]).
    pub fn site_name(mut self, name: &str) -> Self {
        self.site = self.site.site_name(name);
        self
    }

    /// The identity server inside.
    pub fn identity(&self) -> &IdentityServer<CS, S, C> {
        self.identity.identity()
    }

    /// The identity server's endpoints.
    pub fn identity_endpoints(&self) -> &IdentityEndpoints<CS, S, C, L, Arc<R>> {
        &self.identity
    }

    /// The KB site's endpoints.
    pub fn site(&self) -> &LocalSite<CS, S, C, Arc<R>> {
        &self.site
    }

    /// The mount prefix (`""` for the spec's paths).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The endpoint table: each path the crate owns under the prefix, with
    /// its endpoint.
    pub fn endpoints(&self) -> Vec<(String, Endpoint)> {
        Endpoint::ALL
            .into_iter()
            .flat_map(|e| {
                std::iter::once(e.path())
                    .chain(e.aliases().iter().copied())
                    .map(move |p| (format!("{}{p}", self.prefix), e))
            })
            .collect()
    }

    /// Which of the crate's endpoints `path` names under the prefix; `None`
    /// when it is not one of them (the request is the host's).
    pub fn endpoint(&self, path: &str) -> Option<Endpoint> {
        let rest = path.strip_prefix(self.prefix.as_str())?;
        Endpoint::from_path(rest)
    }

    /// Answers a request for one of the crate's endpoints, with that
    /// endpoint's own size and method checks; `None` when the path is not
    /// one of them (the request belongs to the host, untouched).
    pub async fn serve<B: AsRef<[u8]>>(&self, req: Request<B>) -> Option<Response<Vec<u8>>> {
        let endpoint = self.endpoint(req.uri().path())?;
        if endpoint.is_identity() {
            self.identity.answer(endpoint, &req).await
        } else {
            self.site.answer(endpoint, &req).await
        }
    }

    /// Guards one of the host's private pages ([`SiteEndpoints::guard`]):
    /// [`Guard::Reader`] to let the request go on, or [`Guard::Respond`]
    /// with the answer to send instead.
    pub async fn guard<B>(&self, req: &Request<B>) -> Guard {
        self.site.guard(req).await
    }

    /// The reader behind the request's session cookie, if it is valid at
    /// `now` and not revoked.
    pub async fn reader(&self, headers: &http::HeaderMap, now: OffsetDateTime) -> Option<ReaderSession> {
        self.site.reader(headers, now).await
    }

    /// The widget access token of a widget API request, checked
    /// ([`IdentityEndpoints::widget_bearer`]).
    ///
    /// # Errors
    /// As [`IdentityEndpoints::widget_bearer`]: the 401 (or 503) to send.
    pub async fn widget_bearer(
        &self,
        headers: &http::HeaderMap,
    ) -> Result<crate::widget::WidgetClaims, Response<Vec<u8>>> {
        self.identity.widget_bearer(headers).await
    }
}
