//! The identity server's endpoints: code generation, the back-channel token
//! exchange, widget tokens and the public keys.

use std::sync::Arc;

use http::header;
use http::{Request, Response, StatusCode};
use serde_json::json;

use super::wire::{
    self, auth_key, basic_credentials, basic_error_text, code_error, error, json_response, no_store, remote_addr, set,
    token_credentials, unauthorized, unavailable, widget_error,
};
use super::{ClientAuthentication, Endpoint};
use crate::clock::Clock;
use crate::code::{CodeError, CodeStore, GrantProblem};
use crate::identity::IdentityServer;
use crate::limit::{Decision, Limit, Limits, RateLimiter};
use crate::project::ConfigStore;
use crate::secret::ClientCredentials;
use crate::session::SessionRevocations;
use crate::store::memory::{MemoryRateLimiter, MemorySessionRevocations};
use crate::widget::{WidgetClaims, WidgetError, WidgetTokenIssuer, WidgetTokenRequest, verify_widget_token};

/// The identity server's endpoints over `http` types: generate-code,
/// token, widget-token and JWKS. Each method makes its endpoint's own size
/// and method checks, so any one can be mounted alone.
#[derive(Debug)]
pub struct IdentityEndpoints<CS, S, C, L = MemoryRateLimiter, R = MemorySessionRevocations> {
    identity: Arc<IdentityServer<CS, S, C>>,
    limiter: L,
    revocations: R,
    limits: Limits,
    client_auth: ClientAuthentication,
    jwks: Vec<u8>,
}

impl<CS: ConfigStore, S: CodeStore, C: Clock> IdentityEndpoints<CS, S, C> {
    /// The endpoints of `identity`, counting failed attempts in memory with
    /// [`Limits::default`] and recording revocations (of sessions opened by
    /// a code used twice) in memory.
    pub fn new(identity: Arc<IdentityServer<CS, S, C>>) -> Self {
        // The current signer's key and the previous ones still accepted.
        let jwks = serde_json::to_vec(&identity.published_keys().jwks()).unwrap_or_default();
        Self {
            identity,
            limiter: MemoryRateLimiter::new(),
            revocations: MemorySessionRevocations::new(),
            limits: Limits::default(),
            client_auth: ClientAuthentication::Optional,
            jwks,
        }
    }
}

impl<CS: ConfigStore, S: CodeStore, C: Clock, L: RateLimiter, R: SessionRevocations> IdentityEndpoints<CS, S, C, L, R> {
    /// Counts failed attempts with `limiter` instead of in memory.
    pub fn rate_limiter<L2: RateLimiter>(self, limiter: L2) -> IdentityEndpoints<CS, S, C, L2, R> {
        IdentityEndpoints {
            identity: self.identity,
            limiter,
            revocations: self.revocations,
            limits: self.limits,
            client_auth: self.client_auth,
            jwks: self.jwks,
        }
    }

    /// Records revocations (the session of a code used twice) in
    /// `revocations`: the KB site's store.
    pub fn session_revocations<R2: SessionRevocations>(self, revocations: R2) -> IdentityEndpoints<CS, S, C, L, R2> {
        IdentityEndpoints {
            identity: self.identity,
            limiter: self.limiter,
            revocations,
            limits: self.limits,
            client_auth: self.client_auth,
            jwks: self.jwks,
        }
    }

    /// Sets the brute-force limits.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Sets whether the back-channel exchange requires client credentials.
    pub fn client_authentication(mut self, mode: ClientAuthentication) -> Self {
        self.client_auth = mode;
        self
    }

    /// The identity server inside.
    pub fn identity(&self) -> &IdentityServer<CS, S, C> {
        &self.identity
    }

    /// The answer of `endpoint` when it is one of these; `None` otherwise.
    pub async fn answer<B: AsRef<[u8]>>(&self, endpoint: Endpoint, req: &Request<B>) -> Option<Response<Vec<u8>>> {
        Some(match endpoint {
            Endpoint::GenerateCode => self.generate_code(req).await,
            Endpoint::Token => self.token(req).await,
            Endpoint::WidgetToken => self.widget_token(req).await,
            Endpoint::Jwks => self.jwks(req),
            _ => return None,
        })
    }

    /// `POST /api/jwt/generate-code`: Basic client credentials and a JSON
    /// code request; answers `{"code": "..."}`. 413 over 64 KiB, 405 for
    /// another method, 415 for a body that is not JSON.
    pub async fn generate_code<B: AsRef<[u8]>>(&self, req: &Request<B>) -> Response<Vec<u8>> {
        if let Some(r) = wire::precheck(req, Endpoint::GenerateCode) {
            return r;
        }
        if !wire::is_json(req.headers()) {
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
        if let Some(r) = self.limited(&auth_key, self.limits.failed_auth).await {
            return r;
        }
        let creds = match creds {
            Ok(c) => c,
            Err(e) => {
                self.failed(&auth_key, self.limits.failed_auth).await;
                return unauthorized(basic_error_text(e));
            }
        };
        match self.identity.issue_code(&creds, req.body().as_ref()).await {
            Ok(code) => no_store(json_response(StatusCode::OK, &json!({ "code": code.expose() }))),
            Err(e) => {
                if matches!(e, CodeError::InvalidClient) {
                    self.failed(&auth_key, self.limits.failed_auth).await;
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
            Ok(Decision::Limited { retry_after }) => Some(wire::too_many(retry_after)),
            Err(_) => Some(unavailable()),
        }
    }

    /// Records a failed attempt of `key`.
    async fn failed(&self, key: &str, limit: Limit) {
        let now = self.identity.codes().clock().now();
        // A limiter that cannot record is no reason to change the answer.
        let _ = self.limiter.fail(key, limit, now).await;
    }

    /// Redeems a code on the back channel, counting failed client
    /// authentications per client and address and failed redemptions per
    /// address. A code used before revokes the session its first use
    /// opened (RFC 6749 section 4.1.2); a revocation that cannot be
    /// recorded is a 503.
    async fn exchange_limited(
        &self,
        addr: &str,
        code: &str,
        creds: Option<&ClientCredentials>,
        verifier: Option<&str>,
    ) -> Result<crate::identity::Exchange, Response<Vec<u8>>> {
        let redeem_key = format!("redeem|{addr}");
        if let Some(r) = self.limited(&redeem_key, self.limits.failed_redemption).await {
            return Err(r);
        }
        if let Some(c) = creds {
            let key = auth_key(&c.client_id, addr);
            if let Some(r) = self.limited(&key, self.limits.failed_auth).await {
                return Err(r);
            }
        }
        let e = match self.identity.exchange_for_client(code, creds, verifier).await {
            Ok(exchange) => return Ok(exchange),
            Err(e) => e,
        };
        if matches!(e, CodeError::InvalidGrant(GrantProblem::AlreadyUsed)) {
            let now = self.identity.codes().clock().now();
            if super::revoke_reused(&self.revocations, code, now).await.is_err() {
                return Err(unavailable());
            }
        }
        match (&e, creds) {
            (CodeError::InvalidClient, Some(c)) => {
                self.failed(&auth_key(&c.client_id, addr), self.limits.failed_auth)
                    .await;
            }
            (CodeError::InvalidGrant(_), _) => {
                self.failed(&redeem_key, self.limits.failed_redemption).await;
            }
            _ => {}
        }
        Err(code_error(&e))
    }

    /// `POST /api/jwt/token`: form `grant_type=authorization_code&code=...`,
    /// client credentials in a Basic header or as `client_id` /
    /// `client_secret` form fields. Signs the `id_token` and the access
    /// token: someone outside this process reads them. 413 over 64 KiB,
    /// 405 for another method.
    pub async fn token<B: AsRef<[u8]>>(&self, req: &Request<B>) -> Response<Vec<u8>> {
        if let Some(r) = wire::precheck(req, Endpoint::Token) {
            return r;
        }
        let form = match wire::parse_form(req.body().as_ref()) {
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
        if creds.is_none() && self.client_auth == ClientAuthentication::Required {
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

    /// `GET /.well-known/jwks.json`: the token signer's public keys. 405
    /// for another method.
    pub fn jwks<B: AsRef<[u8]>>(&self, req: &Request<B>) -> Response<Vec<u8>> {
        if let Some(r) = wire::precheck(req, Endpoint::Jwks) {
            return r;
        }
        let mut resp = Response::new(self.jwks.clone());
        set(&mut resp, header::CONTENT_TYPE, "application/json");
        set(&mut resp, header::CACHE_CONTROL, "public, max-age=300");
        resp
    }

    /// `POST /api/jwt/widget-token`: form `grant_type=Widget`, client
    /// credentials (Basic or form), `payload` (JSON text) and `id`; answers
    /// `{"access_token","token_type":"Bearer","expires_in"}`. 413 over 64
    /// KiB, 405 for another method.
    pub async fn widget_token<B: AsRef<[u8]>>(&self, req: &Request<B>) -> Response<Vec<u8>> {
        if let Some(r) = wire::precheck(req, Endpoint::WidgetToken) {
            return r;
        }
        let addr = remote_addr(req);
        let request = match WidgetTokenRequest::parse(wire::authorization(req.headers()), req.body().as_ref()) {
            Ok(r) => r,
            Err(e) => return widget_error(&e),
        };
        let key = auth_key(request.client_id(), &addr);
        if let Some(r) = self.limited(&key, self.limits.failed_auth).await {
            return r;
        }
        // The widget settings of the current revision: a regenerated widget
        // secret stops working at once.
        let snapshot = match self.identity.configs().current().await {
            Ok(s) => s,
            Err(_) => return unavailable(),
        };
        let project = snapshot
            .project
            .widget()
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
                    self.failed(&key, self.limits.failed_auth).await;
                }
                widget_error(&e)
            }
        }
    }

    /// Checks the `Authorization: Bearer` widget access token of a widget
    /// API request (DESIGN 3.22): signed by this server, a widget token
    /// ([`widget_validation`](crate::widget::widget_validation)) unexpired
    /// at the clock's time, for the project's current widget settings and
    /// one of its widgets. Answers its claims, whose `groups` say what the
    /// reader may read.
    ///
    /// # Errors
    /// The 401 answer to send: JSON `{"error":"invalid_token"}` with
    /// `WWW-Authenticate: Bearer error="invalid_token"`, for a missing or
    /// malformed header, another kind of token (an `id_token`, a KB access
    /// token, a handshake token), a token signed elsewhere, an expired one,
    /// or one for a widget the project no longer has; 503 when the
    /// configuration store does not answer.
    pub async fn widget_bearer(&self, headers: &http::HeaderMap) -> Result<WidgetClaims, Response<Vec<u8>>> {
        let refused = |description: &str| {
            let mut resp = error(StatusCode::UNAUTHORIZED, "invalid_token", description);
            set(
                &mut resp,
                header::WWW_AUTHENTICATE,
                "Bearer realm=\"kb-sso\", error=\"invalid_token\"",
            );
            no_store(resp)
        };
        let mut values = headers.get_all(header::AUTHORIZATION).iter();
        let token = match (values.next(), values.next()) {
            (Some(v), None) => v
                .to_str()
                .ok()
                .and_then(|v| v.split_once(' '))
                .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
                .map(|(_, t)| t.trim())
                .filter(|t| !t.is_empty()),
            _ => None,
        };
        let Some(token) = token else {
            return Err(refused("a widget access token is required (Authorization: Bearer)"));
        };
        let keys = self.identity.published_keys();
        let now = self.identity.codes().clock().now();
        let claims = verify_widget_token(&keys, self.identity.issuer(), token, now)
            .map_err(|_| refused("the widget access token is not valid or has expired"))?;
        let snapshot = self.identity.configs().current().await.map_err(|_| unavailable())?;
        let current = snapshot
            .project
            .widget()
            .is_some_and(|w| w.project_id() == claims.project_id && w.has_widget(&claims.widget_id));
        if !current {
            return Err(refused("the token's widget is no longer configured"));
        }
        Ok(claims)
    }
}
