//! The admin HTTP API (feature `server`): the [`Admin`] service's
//! operations over `http::Request` / `http::Response`, under a mount prefix
//! (default [`DEFAULT_PREFIX`], `/api/admin`).
//!
//! The host authenticates the administrator (for example with
//! [`AdminTokens`] and `Authorization: Bearer`) and passes who it is to
//! [`AdminEndpoints::answer`], which checks the administrator's roles and
//! answers; a request outside the prefix gets `None` and stays the host's.
//!
//! | method, path (under the prefix) | role | answer |
//! |---|---|---|
//! | `GET /project` | any | settings, configurations (no secret, no digest), SSO providers |
//! | `GET /jwt-configs` | any | the configurations |
//! | `POST /jwt-configs` | `admin`, `owner` | 201: the configuration with `primary_secret`, `secondary_secret`, shown once |
//! | `GET /jwt-configs/{client_id}` | any | the configuration |
//! | `PATCH /jwt-configs/{client_id}` | `admin`, `owner` | only the fields given change; 200 with the configuration |
//! | `DELETE /jwt-configs/{client_id}` | `admin`, `owner` | 204 |
//! | `POST /jwt-configs/{client_id}/enable`, `/disable` | `admin`, `owner` | 200 with the configuration |
//! | `POST /jwt-configs/{client_id}/regenerate-primary-secret`, `/regenerate-secondary-secret` | `admin`, `owner` | `{"secret"}`, shown once |
//! | `POST /jwt-configs/{client_id}/handshake-key` | `admin`, `owner` | a new Ed25519 key pair: `{"private_key_pem","public_key_pem"}`, the private key shown once |
//! | `PUT /settings` | `admin`, `owner` | `direct_jwt_login`, `disable_default_login_page`; changing Direct JWT login needs `"confirm": true` |
//! | `POST /widget/regenerate-secret` | `admin`, `owner` | `{"secret"}`, shown once |
//! | `GET /sso-providers`, `POST /sso-providers` | any, `admin`/`owner` | the SSO providers; create one (201) |
//! | `PUT /sso-providers/{name}`, `DELETE /sso-providers/{name}` | `admin`, `owner` | replace (200), remove (204) |
//! | `GET /audit?event=&since=&until=&limit=&cursor=` | `security_audit` only | `{"entries","next_cursor"}`, newest first |
//! | `GET /notifications?limit=` | `admin`, `owner` | the outbox, newest first: recipients, subject, state |
//!
//! `POST /jwt-configs` and `PATCH /jwt-configs/{client_id}` also take a
//! `handshake` object ([`HandshakeOptions`](crate::HandshakeOptions):
//! `alg`, `issuer`, `audience`, `session_duration_minutes`,
//! `max_age_seconds`, `require_jti`; `null` stops handshake tokens). An
//! Ed25519 handshake answers its `private_key_pem` once; switching a
//! configuration to HS256 answers new `primary_secret` and
//! `secondary_secret` (HMAC needs them in clear, and only digests were
//! kept). A `PATCH` changes the configuration's fields first, then its
//! handshake: two audited operations.
//!
//! # Errors
//! JSON `{"error", "error_description"}` as the other endpoints, with a
//! `field` member when one field is at fault:
//!
//! - 400 `invalid_request` for a malformed body, an unknown field, a value
//!   of the wrong type, or a value a rule refuses; the description starts
//!   with the field's name (`login_button_logo: ...`, `jwt: ...` for a sixth
//!   configuration, `login_url: ...` for a domain already taken,
//!   `show_login_button: ...` for a fourth login button);
//! - 400 `confirmation_required` for a change of Direct JWT login without
//!   `"confirm": true`;
//! - 403 `access_denied` when the administrator lacks the route's role;
//! - 404 `not_found` for an unknown client id or path under the prefix;
//! - 405 with `Allow` for another method; 413 for a body over
//!   [`MAX_BODY_BYTES`](super::MAX_BODY_BYTES) (or
//!   [`MAX_CONFIG_BODY_BYTES`] where a configuration with its logo is
//!   sent); 415 for a body that is not JSON;
//! - 409 `conflict` when another admin operation changed the project at the
//!   same time (read it again and retry);
//! - 503 `temporarily_unavailable` when the store, the audit sink or the
//!   notifier failed (never their details).
//!
//! A refused request changes nothing. Every answer carrying a secret has
//! `Cache-Control: no-store`; no error ever repeats a secret or a value
//! sent.

mod input;
mod tokens;

use std::sync::Arc;

use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub use tokens::{AdminAuthError, AdminToken, AdminTokens, AdminTokensError, unauthorized};

use super::wire;
use crate::admin::{Admin, AdminError};
use crate::audit::{Administrator, AuditQueryParams, AuditSink, NotificationOutbox, Principal};
use crate::config::{ConfigError, JwtConfig, MAX_JWT_CONFIGS, MAX_LOGIN_BUTTONS, MAX_LOGO_BYTES};
use crate::project::{ConfigStore, Created, Project};
use crate::secret::ClientId;
use input::{ConfigInput, Refusal, SettingsInput, SsoInput};

/// Where the admin API is mounted unless the host says otherwise.
pub const DEFAULT_PREFIX: &str = "/api/admin";

/// The largest body of `POST /jwt-configs` and `PATCH /jwt-configs/{id}`,
/// in bytes: room for a logo of
/// [`MAX_LOGO_BYTES`] in base64 with the
/// other fields. Every other admin route takes at most
/// [`MAX_BODY_BYTES`](super::MAX_BODY_BYTES). A host reading the body
/// itself should read up to this many bytes and let
/// [`AdminEndpoints::answer`] judge.
pub const MAX_CONFIG_BODY_BYTES: usize = 1024 * 1024;

/// A role of an administrator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum AdminRole {
    /// Project Admin: manages configurations and settings.
    Admin,
    /// Project Owner: manages configurations and settings.
    Owner,
    /// Security & Audit: reads the audit log.
    SecurityAudit,
}

/// The administrator behind a request, as the host authenticated them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminIdentity {
    /// Who it is: the name recorded in audit events.
    pub name: String,
    /// What they may do.
    pub roles: Vec<AdminRole>,
}

impl AdminIdentity {
    /// Whether they hold `role`.
    pub fn has(&self, role: AdminRole) -> bool {
        self.roles.contains(&role)
    }

    /// Whether they may manage configurations and settings (`admin` or
    /// `owner`).
    pub fn manages(&self) -> bool {
        self.has(AdminRole::Admin) || self.has(AdminRole::Owner)
    }

    fn administrator(&self) -> Administrator {
        Administrator(self.name.clone())
    }
}

/// The admin API's endpoints over an [`Admin`] service; see the
/// [module documentation](self).
#[derive(Debug)]
pub struct AdminEndpoints<CS: ConfigStore, A: AuditSink, N: NotificationOutbox> {
    admin: Arc<Admin<CS, A, N>>,
    prefix: String,
}

impl<CS: ConfigStore, A: AuditSink, N: NotificationOutbox> Clone for AdminEndpoints<CS, A, N> {
    fn clone(&self) -> Self {
        Self {
            admin: Arc::clone(&self.admin),
            prefix: self.prefix.clone(),
        }
    }
}

/// What a path under the prefix names.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Route {
    Project,
    JwtConfigs,
    JwtConfig(String),
    JwtAction(String, JwtAction),
    Settings,
    WidgetSecret,
    SsoProviders,
    SsoProvider(String),
    Audit,
    Notifications,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum JwtAction {
    Enable,
    Disable,
    RegeneratePrimary,
    RegenerateSecondary,
    HandshakeKey,
}

impl Route {
    /// The route `rest` (the path after the prefix) names.
    fn parse(rest: &str) -> Option<Self> {
        let segments: Vec<&str> = rest.strip_prefix('/')?.split('/').collect();
        match segments.as_slice() {
            ["project"] => Some(Self::Project),
            ["settings"] => Some(Self::Settings),
            ["widget", "regenerate-secret"] => Some(Self::WidgetSecret),
            ["sso-providers"] => Some(Self::SsoProviders),
            ["sso-providers", name] if !name.is_empty() => {
                let name = percent_encoding::percent_decode_str(name).decode_utf8().ok()?;
                Some(Self::SsoProvider(name.into_owned()))
            }
            ["audit"] => Some(Self::Audit),
            ["notifications"] => Some(Self::Notifications),
            ["jwt-configs"] => Some(Self::JwtConfigs),
            ["jwt-configs", id] if !id.is_empty() => Some(Self::JwtConfig((*id).to_owned())),
            ["jwt-configs", id, action] if !id.is_empty() => {
                let action = match *action {
                    "enable" => JwtAction::Enable,
                    "disable" => JwtAction::Disable,
                    "regenerate-primary-secret" => JwtAction::RegeneratePrimary,
                    "regenerate-secondary-secret" => JwtAction::RegenerateSecondary,
                    "handshake-key" => JwtAction::HandshakeKey,
                    _ => return None,
                };
                Some(Self::JwtAction((*id).to_owned(), action))
            }
            _ => None,
        }
    }

    /// The methods the route takes, as its `Allow` header.
    fn allow(&self) -> &'static str {
        match self {
            Self::Project => "GET",
            Self::JwtConfigs => "GET, POST",
            Self::JwtConfig(_) => "GET, PATCH, DELETE",
            Self::JwtAction(..) | Self::WidgetSecret => "POST",
            Self::Settings => "PUT",
            Self::SsoProviders => "GET, POST",
            Self::SsoProvider(_) => "PUT, DELETE",
            Self::Audit | Self::Notifications => "GET",
        }
    }

    fn allows(&self, method: &Method) -> bool {
        self.allow().split(", ").any(|m| m == method.as_str())
    }

    /// The largest body the route takes.
    fn max_body(&self, method: &Method) -> usize {
        match self {
            Self::JwtConfigs | Self::JwtConfig(_) if method == Method::POST || method == Method::PATCH => {
                MAX_CONFIG_BODY_BYTES
            }
            _ => super::MAX_BODY_BYTES,
        }
    }

    /// Whether `who` may call the route with `method`: the audit log takes
    /// `security_audit` (and only it); the notifications, like every
    /// change, take `admin` or `owner`; the rest is readable by any role.
    fn permits(&self, method: &Method, who: &AdminIdentity) -> bool {
        match self {
            Self::Audit => who.has(AdminRole::SecurityAudit),
            Self::Notifications => who.manages(),
            _ if method == Method::GET => !who.roles.is_empty(),
            _ => who.manages(),
        }
    }
}

impl<CS: ConfigStore, A: AuditSink, N: NotificationOutbox> AdminEndpoints<CS, A, N> {
    /// The endpoints over `admin`, mounted at [`DEFAULT_PREFIX`].
    pub fn new(admin: Arc<Admin<CS, A, N>>) -> Self {
        Self {
            admin,
            prefix: DEFAULT_PREFIX.to_owned(),
        }
    }

    /// Mounts the endpoints under `prefix` (for example `"/admin"`; `""`
    /// mounts them at the root).
    pub fn mount_prefix(mut self, prefix: &str) -> Self {
        self.prefix = super::normalize_prefix(prefix);
        self
    }

    /// The mount prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The service behind the endpoints.
    pub fn admin(&self) -> &Arc<Admin<CS, A, N>> {
        &self.admin
    }

    /// Whether `path` is under the prefix (the admin API's to answer, an
    /// unknown one with 404).
    pub fn owns(&self, path: &str) -> bool {
        path.strip_prefix(self.prefix.as_str())
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    }

    /// Answers a request under the prefix for the administrator `who`, whom
    /// the host has authenticated; `None` for any other path (the request
    /// is the host's, untouched).
    pub async fn answer<B: AsRef<[u8]>>(&self, req: &Request<B>, who: &AdminIdentity) -> Option<Response<Vec<u8>>> {
        if !self.owns(req.uri().path()) {
            return None;
        }
        let rest = &req.uri().path()[self.prefix.len()..];
        let Some(route) = Route::parse(rest) else {
            if too_large(req, super::MAX_BODY_BYTES) {
                return Some(wire::payload_too_large());
            }
            return Some(wire::error(
                StatusCode::NOT_FOUND,
                "not_found",
                "no admin API route has this path",
            ));
        };
        if too_large(req, route.max_body(req.method())) {
            return Some(payload_too_large(route.max_body(req.method())));
        }
        if !route.allows(req.method()) {
            return Some(method_not_allowed(route.allow()));
        }
        if !route.permits(req.method(), who) {
            return Some(wire::error(
                StatusCode::FORBIDDEN,
                "access_denied",
                "this administrator's roles do not allow this operation",
            ));
        }
        Some(self.dispatch(route, req, who).await)
    }

    async fn dispatch<B: AsRef<[u8]>>(&self, route: Route, req: &Request<B>, who: &AdminIdentity) -> Response<Vec<u8>> {
        let body = req.body().as_ref();
        let method = req.method();
        let result = match route {
            Route::Project => self.project().await,
            Route::JwtConfigs if method == Method::GET => self.list().await,
            Route::JwtConfigs => self.create(req, body, who).await,
            Route::JwtConfig(id) => {
                let id = client_id(&id);
                match *method {
                    Method::GET => match id {
                        Ok(id) => self.one(&id).await,
                        Err(r) => Err(r),
                    },
                    Method::PATCH => match id {
                        Ok(id) => self.update(req, body, &id, who).await,
                        Err(r) => Err(r),
                    },
                    _ => match id {
                        Ok(id) => self.delete(body, &id, who).await,
                        Err(r) => Err(r),
                    },
                }
            }
            Route::JwtAction(id, action) => match client_id(&id) {
                Ok(id) => self.action(req, body, &id, action, who).await,
                Err(r) => Err(r),
            },
            Route::Settings => self.settings(req, body, who).await,
            Route::WidgetSecret => self.widget_secret(req, body, who).await,
            Route::SsoProviders if method == Method::GET => self.sso_list().await,
            Route::SsoProviders => self.sso_create(req, body, who).await,
            Route::SsoProvider(name) if method == Method::PUT => self.sso_update(req, body, &name, who).await,
            Route::SsoProvider(name) => self.sso_delete(body, &name, who).await,
            Route::Audit => self.audit(req, who).await,
            Route::Notifications => self.notifications(req).await,
        };
        result.unwrap_or_else(Refusal::into_response)
    }

    /// The project as stored now (the one place the endpoints read it).
    async fn read(&self) -> Result<Arc<Project>, Refusal> {
        self.admin
            .project()
            .await
            .map(|snapshot| snapshot.project)
            .map_err(|_| Refusal::Unavailable)
    }

    async fn project(&self) -> Result<Response<Vec<u8>>, Refusal> {
        let project = self.read().await?;
        Ok(ok(json!({
            "settings": project.settings(),
            "jwt": project.jwt_configs().iter().map(|c| config_view(&project, c)).collect::<Vec<_>>(),
            "sso": project.sso_providers(),
            "widget": project.widget().map(|w| json!({
                "project_id": w.project_id(),
                "widget_ids": w.widget_ids().collect::<Vec<_>>(),
            })),
            "login_buttons": project.login_buttons(),
            "limits": {
                "max_jwt_configs": MAX_JWT_CONFIGS,
                "max_login_buttons": MAX_LOGIN_BUTTONS,
                "max_logo_bytes": MAX_LOGO_BYTES,
            },
        })))
    }

    async fn list(&self) -> Result<Response<Vec<u8>>, Refusal> {
        let project = self.read().await?;
        let configs: Vec<Value> = project.jwt_configs().iter().map(|c| config_view(&project, c)).collect();
        Ok(ok(json!({ "jwt": configs })))
    }

    async fn one(&self, id: &ClientId) -> Result<Response<Vec<u8>>, Refusal> {
        let project = self.read().await?;
        let config = project.jwt_config(id).ok_or(Refusal::NotFound)?;
        Ok(ok(config_view(&project, config)))
    }

    /// The configuration `id` as stored now: 200 with it, or 204 when it
    /// is gone already (deleted by another operation since).
    async fn current(&self, id: &ClientId) -> Result<Response<Vec<u8>>, Refusal> {
        let project = self.read().await?;
        Ok(match project.jwt_config(id) {
            Some(c) => ok(config_view(&project, c)),
            None => empty(StatusCode::NO_CONTENT),
        })
    }

    async fn create<B>(
        &self,
        req: &Request<B>,
        body: &[u8],
        who: &AdminIdentity,
    ) -> Result<Response<Vec<u8>>, Refusal> {
        let mut input: ConfigInput = input::parse_json(req.headers(), body)?;
        let handshake = input.take_handshake().flatten();
        let builder = input.into_new_builder()?;
        let applied = self
            .admin
            .create_with_handshake(&who.administrator(), builder, handshake.as_ref())
            .await
            .map_err(admin_error)?;
        let Created {
            client_id: id,
            secrets,
            key_pair,
        } = applied.value;
        let project = self.read().await?;
        let mut view = match project.jwt_config(&id) {
            Some(c) => config_view(&project, c),
            None => json!({ "client_id": id.as_str() }),
        };
        if let Some(map) = view.as_object_mut() {
            map.insert("primary_secret".into(), secrets.primary.expose().into());
            map.insert("secondary_secret".into(), secrets.secondary.expose().into());
            if let Some(pair) = &key_pair {
                map.insert("private_key_pem".into(), pair.private_key_pem.as_str().into());
            }
        }
        let mut resp = wire::no_store(wire::json_response(StatusCode::CREATED, &view));
        let location = format!("{}/jwt-configs/{id}", self.prefix);
        if let Ok(v) = HeaderValue::from_str(&location) {
            resp.headers_mut().insert(header::LOCATION, v);
        }
        Ok(resp)
    }

    async fn update<B>(
        &self,
        req: &Request<B>,
        body: &[u8],
        id: &ClientId,
        who: &AdminIdentity,
    ) -> Result<Response<Vec<u8>>, Refusal> {
        let mut input: ConfigInput = input::parse_json(req.headers(), body)?;
        let handshake = input.take_handshake();
        let admin = who.administrator();
        if input.changes_config() || handshake.is_none() {
            let project = self.read().await?;
            let current = project.jwt_config(id).ok_or(Refusal::NotFound)?;
            let builder = input.apply_to(current.to_builder())?;
            let _applied = self.admin.update(&admin, id, builder).await.map_err(admin_error)?;
        }
        // The configuration's fields first, then its handshake: each is its
        // own audited operation.
        let Some(handshake) = handshake else {
            return self.current(id).await;
        };
        let issued = self
            .admin
            .set_handshake(&admin, id, handshake.as_ref())
            .await
            .map_err(admin_error)?
            .value;
        let project = self.read().await?;
        let config = project.jwt_config(id).ok_or(Refusal::NotFound)?;
        let mut view = config_view(&project, config);
        let shown = issued.secrets.is_some() || issued.key_pair.is_some();
        if let Some(map) = view.as_object_mut() {
            if let Some(secrets) = &issued.secrets {
                map.insert("primary_secret".into(), secrets.primary.expose().into());
                map.insert("secondary_secret".into(), secrets.secondary.expose().into());
            }
            if let Some(pair) = &issued.key_pair {
                map.insert("private_key_pem".into(), pair.private_key_pem.as_str().into());
            }
        }
        let resp = ok(view);
        Ok(if shown { wire::no_store(resp) } else { resp })
    }

    async fn delete(&self, body: &[u8], id: &ClientId, who: &AdminIdentity) -> Result<Response<Vec<u8>>, Refusal> {
        input::no_body(body)?;
        let _applied = self.admin.delete(&who.administrator(), id).await.map_err(admin_error)?;
        Ok(empty(StatusCode::NO_CONTENT))
    }

    async fn action<B>(
        &self,
        req: &Request<B>,
        body: &[u8],
        id: &ClientId,
        action: JwtAction,
        who: &AdminIdentity,
    ) -> Result<Response<Vec<u8>>, Refusal> {
        input::empty_object(req.headers(), body)?;
        let admin = who.administrator();
        let secret = match action {
            JwtAction::Enable | JwtAction::Disable => {
                let on = action == JwtAction::Enable;
                let _applied = self.admin.set_enabled(&admin, id, on).await.map_err(admin_error)?;
                return self.current(id).await;
            }
            JwtAction::RegeneratePrimary => self.admin.regenerate_primary_secret(&admin, id).await,
            JwtAction::RegenerateSecondary => self.admin.regenerate_secondary_secret(&admin, id).await,
            JwtAction::HandshakeKey => {
                let pair = self
                    .admin
                    .generate_handshake_key(&admin, id)
                    .await
                    .map_err(admin_error)?
                    .value;
                return Ok(wire::no_store(ok(json!({
                    "private_key_pem": pair.private_key_pem.as_str(),
                    "public_key_pem": pair.public_key_pem,
                }))));
            }
        }
        .map_err(admin_error)?
        .value;
        Ok(wire::no_store(ok(json!({ "secret": secret.expose() }))))
    }

    async fn widget_secret<B>(
        &self,
        req: &Request<B>,
        body: &[u8],
        who: &AdminIdentity,
    ) -> Result<Response<Vec<u8>>, Refusal> {
        input::empty_object(req.headers(), body)?;
        let secret = self
            .admin
            .regenerate_widget_secret(&who.administrator())
            .await
            .map_err(admin_error)?
            .value;
        Ok(wire::no_store(ok(json!({ "secret": secret.expose() }))))
    }

    async fn sso_list(&self) -> Result<Response<Vec<u8>>, Refusal> {
        let project = self.read().await?;
        Ok(ok(json!({ "sso": project.sso_providers() })))
    }

    async fn sso_create<B>(
        &self,
        req: &Request<B>,
        body: &[u8],
        who: &AdminIdentity,
    ) -> Result<Response<Vec<u8>>, Refusal> {
        let provider: SsoInput = input::parse_json(req.headers(), body)?;
        let _applied = self
            .admin
            .create_sso_provider(&who.administrator(), provider)
            .await
            .map_err(admin_error)?;
        let project = self.read().await?;
        Ok(wire::json_response(
            StatusCode::CREATED,
            &json!({ "sso": project.sso_providers() }),
        ))
    }

    async fn sso_update<B>(
        &self,
        req: &Request<B>,
        body: &[u8],
        name: &str,
        who: &AdminIdentity,
    ) -> Result<Response<Vec<u8>>, Refusal> {
        let provider: SsoInput = input::parse_json(req.headers(), body)?;
        let _applied = self
            .admin
            .update_sso_provider(&who.administrator(), name, provider)
            .await
            .map_err(admin_error)?;
        self.sso_list().await
    }

    async fn sso_delete(&self, body: &[u8], name: &str, who: &AdminIdentity) -> Result<Response<Vec<u8>>, Refusal> {
        input::no_body(body)?;
        let _applied = self
            .admin
            .delete_sso_provider(&who.administrator(), name)
            .await
            .map_err(admin_error)?;
        Ok(empty(StatusCode::NO_CONTENT))
    }

    /// `GET /audit?event=&since=&until=&limit=&cursor=`: a page of the
    /// audit log, newest first.
    async fn audit<B>(&self, req: &Request<B>, who: &AdminIdentity) -> Result<Response<Vec<u8>>, Refusal> {
        let params = audit_params(req)?;
        let query = params.parse().map_err(|e| Refusal::field(e.param(), e.to_string()))?;
        let principal = Principal {
            id: who.name.clone(),
            security_audit: who.has(AdminRole::SecurityAudit),
        };
        let access = principal.security_audit_access().ok_or(Refusal::Forbidden)?;
        let page = self
            .admin
            .audit()
            .query(&access, &query)
            .await
            .map_err(|_| Refusal::Unavailable)?;
        Ok(ok(json!({
            "entries": page.entries,
            "next_cursor": page.next_cursor.map(|c| c.to_string()),
        })))
    }

    /// `GET /notifications?limit=`: the outbox, newest first.
    async fn notifications<B>(&self, req: &Request<B>) -> Result<Response<Vec<u8>>, Refusal> {
        let query = wire::query(req).map_err(|_| Refusal::field("limit", "the query string is malformed"))?;
        let limit = match query.get("limit").map(String::as_str) {
            None | Some("") => 50,
            Some(n) => n
                .parse::<usize>()
                .map_err(|_| Refusal::field("limit", "must be a whole number"))?
                .clamp(1, 500),
        };
        let entries = self
            .admin
            .notifier()
            .list(limit)
            .await
            .map_err(|_| Refusal::Unavailable)?;
        Ok(ok(json!({ "notifications": entries })))
    }

    async fn settings<B>(
        &self,
        req: &Request<B>,
        body: &[u8],
        who: &AdminIdentity,
    ) -> Result<Response<Vec<u8>>, Refusal> {
        let input = input::parse_json::<SettingsInput>(req.headers(), body)?.check()?;
        let current = self.read().await?.settings();
        let direct = input.direct_jwt_login.filter(|on| *on != current.direct_jwt_login);
        if direct.is_some() && !input.confirm {
            return Err(Refusal::ConfirmationRequired);
        }
        let page = input
            .disable_default_login_page
            .filter(|on| *on != current.disable_default_login_page);
        let admin = who.administrator();
        // Visibility first: it is the one part that can still be refused
        // for its input, so a refused request changes nothing.
        if input.visibility.is_some() || input.public_paths.is_some() || input.home_published.is_some() {
            let now = self.read().await?.settings();
            let visibility = input.visibility.unwrap_or(now.visibility);
            let paths = input.public_paths.unwrap_or(now.public_paths);
            let home = input.home_published.unwrap_or(now.home_published);
            let _applied = self
                .admin
                .set_visibility(&admin, visibility, paths, home)
                .await
                .map_err(admin_error)?;
        }
        // Checked above already; the service checks the confirmation too.
        if let Some(on) = direct {
            let _applied = self
                .admin
                .set_direct_jwt_login(&admin, on, input.confirm)
                .await
                .map_err(admin_error)?;
        }
        if let Some(on) = page {
            let _applied = self
                .admin
                .set_default_login_page_disabled(&admin, on)
                .await
                .map_err(admin_error)?;
        }
        let settings = self.read().await?.settings();
        Ok(ok(json!(settings)))
    }
}

/// A configuration as the admin API shows it: every field but the secrets
/// and their digests; its handshake options, and the public key for
/// Ed25519.
fn config_view(project: &Project, c: &JwtConfig) -> Value {
    let handshake = project.handshake(c.client_id()).map(|h| {
        let mut v = json!(h.options());
        if let (Some(map), Some(pem)) = (v.as_object_mut(), h.key().ed25519_public_key_pem()) {
            map.insert("public_key_pem".into(), pem.into());
        }
        v
    });
    json!({
        "client_id": c.client_id().as_str(),
        "name": c.name(),
        "login_url": c.login_url().as_str(),
        "domain": c.domain(),
        "logout_url": c.logout_url().map(url::Url::as_str),
        "enabled": c.is_enabled(),
        "show_login_button": c.shows_login_button(),
        "login_button_text": c.login_button_text(),
        "login_button_logo": c.login_button_logo().map(|l| json!({
            "media_type": l.format().media_type(),
            "size": l.bytes().len(),
            "sha256": l.digest_hex(),
            "data_url": l.data_url(),
        })),
        "cta_position": c.cta_position(),
        "require_login_binding": c.requires_login_binding(),
        "read_only": c.is_read_only(),
        "handshake": handshake,
    })
}

fn client_id(text: &str) -> Result<ClientId, Refusal> {
    // An id that is not a UUID names no configuration.
    ClientId::parse(text).map_err(|_| Refusal::NotFound)
}

/// The audit query's parameters from the request's query string.
fn audit_params<B>(req: &Request<B>) -> Result<AuditQueryParams, Refusal> {
    let query = wire::query(req).map_err(|_| Refusal::field("query", "the query string is malformed"))?;
    for name in query.keys() {
        if !matches!(name.as_str(), "event" | "since" | "until" | "limit" | "cursor") {
            return Err(Refusal::field(
                "query",
                "unknown parameter (event, since, until, limit, cursor)",
            ));
        }
    }
    let get = |k: &str| query.get(k).cloned();
    Ok(AuditQueryParams {
        event: get("event"),
        since: get("since"),
        until: get("until"),
        limit: get("limit"),
        cursor: get("cursor"),
    })
}

/// The answer to a failed [`Admin`] operation.
fn admin_error(e: AdminError) -> Refusal {
    match e {
        AdminError::Config(ConfigError::UnknownConfig | ConfigError::UnknownSsoProvider | ConfigError::NoWidget) => {
            Refusal::NotFound
        }
        AdminError::Config(ConfigError::ConfirmationRequired) => Refusal::ConfirmationRequired,
        AdminError::Config(c) => Refusal::Config(c),
        AdminError::Conflict => Refusal::Conflict,
        AdminError::Notify(_) => Refusal::NotNotified,
        AdminError::ConfigStore(_) | AdminError::Audit(_) => Refusal::Unavailable,
    }
}

fn ok(body: Value) -> Response<Vec<u8>> {
    wire::json_response(StatusCode::OK, &body)
}

fn empty(status: StatusCode) -> Response<Vec<u8>> {
    let mut resp = Response::new(Vec::new());
    *resp.status_mut() = status;
    resp
}

fn too_large<B: AsRef<[u8]>>(req: &Request<B>, limit: usize) -> bool {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .is_some_and(|n| n > limit as u64);
    declared || req.body().as_ref().len() > limit
}

/// 413: the body is over `limit` bytes.
fn payload_too_large(limit: usize) -> Response<Vec<u8>> {
    if limit == super::MAX_BODY_BYTES {
        return wire::payload_too_large();
    }
    wire::error(
        StatusCode::PAYLOAD_TOO_LARGE,
        "invalid_request",
        "the request body is larger than 1 MiB (a login_button_logo may be at most 512 KB)",
    )
}

/// 413 for a body the host stopped reading at [`MAX_CONFIG_BODY_BYTES`]:
/// for a host that collects the body itself.
pub fn body_too_large() -> Response<Vec<u8>> {
    payload_too_large(MAX_CONFIG_BODY_BYTES)
}

fn method_not_allowed(allow: &'static str) -> Response<Vec<u8>> {
    let mut resp = wire::error(
        StatusCode::METHOD_NOT_ALLOWED,
        "invalid_request",
        "method not allowed here",
    );
    resp.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    resp
}

impl Refusal {
    fn into_response(self) -> Response<Vec<u8>> {
        match self {
            Self::Field { field, description } => field_error(&field, &description),
            Self::Config(e) => {
                let field = e.field();
                field_error(field, &format!("{field}: {e}"))
            }
            Self::Malformed(description) => wire::error(StatusCode::BAD_REQUEST, "invalid_request", &description),
            Self::NotJson => wire::error(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "invalid_request",
                "the request body must be JSON (Content-Type: application/json)",
            ),
            Self::ConfirmationRequired => {
                let mut resp = wire::json_response(
                    StatusCode::BAD_REQUEST,
                    &json!({
                        "error": "confirmation_required",
                        "error_description": "direct_jwt_login: changing Direct JWT login needs \"confirm\": true",
                        "field": "direct_jwt_login",
                    }),
                );
                wire::set(&mut resp, header::CACHE_CONTROL, "no-store");
                resp
            }
            Self::Forbidden => wire::error(
                StatusCode::FORBIDDEN,
                "access_denied",
                "this administrator's roles do not allow this operation",
            ),
            Self::NotFound => wire::error(
                StatusCode::NOT_FOUND,
                "not_found",
                "no such configuration, SSO provider or widget settings",
            ),
            Self::Conflict => wire::error(
                StatusCode::CONFLICT,
                "conflict",
                "the project changed during the operation; nothing was saved: read it again and retry",
            ),
            Self::NotNotified => wire::error(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "the change was saved and audited, but its notifications could not be queued (a secret it \
                 made is not shown: regenerate it again)",
            ),
            Self::Unavailable => wire::unavailable(),
        }
    }
}

/// 400 `invalid_request` about one field, named in `field` too.
fn field_error(field: &str, description: &str) -> Response<Vec<u8>> {
    wire::json_response(
        StatusCode::BAD_REQUEST,
        &json!({
            "error": "invalid_request",
            "error_description": description,
            "field": field,
        }),
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use std::future::Future;
    use std::io;
    use std::sync::atomic::{AtomicBool, Ordering};

    use proptest::prelude::*;
    use time::{Duration, OffsetDateTime};

    use super::*;
    use crate::audit::{
        AuditEntry, AuditEvent, AuditLog, Checkpoint, CheckpointKey, Notification, SecurityAuditAccess,
    };
    use crate::clock::SettableClock;
    use crate::project::{ProjectSettings, ProjectSnapshot, Revision, StaleRevision};
    use crate::store::memory::{MemoryAuditSink, MemoryConfigStore, MemoryOutbox};

    const T0: OffsetDateTime = time::macros::datetime!(2026-05-01 10:00 UTC);

    fn key() -> CheckpointKey {
        CheckpointKey::new(&[7; 32]).unwrap()
    }

    fn alice() -> AdminIdentity {
        AdminIdentity {
            name: "alice".into(),
            roles: vec![AdminRole::Admin],
        }
    }

    fn one_config() -> (Project, ClientId) {
        let (c, _) = JwtConfig::builder("P", "https://app.example.com/login")
            .build()
            .unwrap();
        let id = c.client_id().clone();
        (Project::new(ProjectSettings::default(), vec![c], vec![]).unwrap(), id)
    }

    fn endpoints<CS: ConfigStore, A: AuditSink, N: NotificationOutbox>(
        store: CS,
        audit: A,
        notifier: N,
    ) -> AdminEndpoints<CS, A, N> {
        AdminEndpoints::new(Arc::new(Admin::new(store, audit, notifier, SettableClock::new(T0))))
    }

    fn request(method: Method, path: &str, body: &str) -> Request<Vec<u8>> {
        Request::builder()
            .method(method)
            .uri(path)
            .header(header::CONTENT_TYPE, "application/json")
            .body(body.as_bytes().to_vec())
            .unwrap()
    }

    fn run<F: Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    /// An audit sink that cannot append.
    struct FailingSink;

    impl AuditSink for FailingSink {
        type Error = io::Error;
        fn append(&self, _e: AuditEvent) -> impl Future<Output = Result<AuditEntry, io::Error>> + Send {
            std::future::ready(Err(io::Error::other("disk /var/lib/audit full")))
        }
        fn checkpoint(&self) -> impl Future<Output = Result<Checkpoint, io::Error>> + Send {
            std::future::ready(Err(io::Error::other("down")))
        }
        fn read(&self, _a: &SecurityAuditAccess) -> impl Future<Output = Result<AuditLog, io::Error>> + Send {
            std::future::ready(Err(io::Error::other("down")))
        }
        fn purge(&self, _n: OffsetDateTime, _r: Duration) -> impl Future<Output = Result<usize, io::Error>> + Send {
            std::future::ready(Err(io::Error::other("down")))
        }
    }

    /// A notifier that cannot queue anything.
    struct FailingNotifier;

    impl crate::Notifier for FailingNotifier {
        type Error = io::Error;
        fn notify(&self, _n: Notification) -> impl Future<Output = Result<(), io::Error>> + Send {
            std::future::ready(Err(io::Error::other("smtp.internal:25 refused")))
        }
    }

    impl NotificationOutbox for FailingNotifier {
        fn list(&self, _limit: usize) -> impl Future<Output = Result<Vec<crate::OutboxEntry>, io::Error>> + Send {
            std::future::ready(Err(io::Error::other("down")))
        }
        fn claim(
            &self,
            _now: OffsetDateTime,
            _lease: Duration,
            _max: usize,
        ) -> impl Future<Output = Result<Vec<crate::OutboxEntry>, io::Error>> + Send {
            std::future::ready(Err(io::Error::other("down")))
        }
        fn mark_sent(
            &self,
            _lease: crate::OutboxLease,
            _now: OffsetDateTime,
        ) -> impl Future<Output = Result<bool, io::Error>> + Send {
            std::future::ready(Err(io::Error::other("down")))
        }
        fn mark_failed(
            &self,
            _lease: crate::OutboxLease,
            _retry_at: OffsetDateTime,
        ) -> impl Future<Output = Result<bool, io::Error>> + Send {
            std::future::ready(Err(io::Error::other("down")))
        }
    }

    /// A store where another admin operation lands right after every read
    /// of the project while `race` is on.
    struct RacingStore {
        inner: MemoryConfigStore,
        race: AtomicBool,
    }

    impl ConfigStore for RacingStore {
        type Error = std::convert::Infallible;
        #[allow(clippy::manual_async_fn)] // the trait asks for a `Send` future
        fn current(&self) -> impl Future<Output = Result<ProjectSnapshot, Self::Error>> + Send {
            async move {
                let read = self.inner.current().await?;
                if self.race.load(Ordering::SeqCst) {
                    let mut p = Project::clone(&read.project);
                    let _ = p.set_default_login_page_disabled(&Administrator("bob".into()), T0, true);
                    let _ = self.inner.save(read.revision, p).await?;
                }
                Ok(read)
            }
        }
        fn save(
            &self,
            base: Revision,
            project: Project,
        ) -> impl Future<Output = Result<Result<Revision, StaleRevision>, Self::Error>> + Send {
            self.inner.save(base, project)
        }
    }

    #[test]
    fn an_audit_failure_is_a_503_without_its_details_and_saves_nothing() {
        let (project, id) = one_config();
        let api = endpoints(MemoryConfigStore::new(project), FailingSink, MemoryOutbox::default());
        for (method, path, body) in [
            (
                Method::POST,
                "/api/admin/jwt-configs".to_owned(),
                r#"{"name":"B","login_url":"https://b.example.com/"}"#,
            ),
            (
                Method::POST,
                format!("/api/admin/jwt-configs/{id}/regenerate-primary-secret"),
                "",
            ),
            (Method::DELETE, format!("/api/admin/jwt-configs/{id}"), ""),
        ] {
            let resp = run(api.answer(&request(method, &path, body), &alice())).unwrap();
            assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE, "{path}");
            let text = String::from_utf8(resp.into_body()).unwrap();
            assert!(
                text.contains("temporarily_unavailable") && !text.contains("disk"),
                "{text}"
            );
        }
        let p = run(api.admin().project()).unwrap().project;
        assert_eq!(p.jwt_configs().len(), 1);
        assert!(api.admin().notifier().queued().is_empty());
    }

    #[test]
    fn a_notifier_failure_is_a_503_without_its_details_or_the_secret() {
        let (project, id) = one_config();
        let api = endpoints(
            MemoryConfigStore::new(project),
            MemoryAuditSink::new(key()),
            FailingNotifier,
        );
        let path = format!("/api/admin/jwt-configs/{id}/regenerate-primary-secret");
        let resp = run(api.answer(&request(Method::POST, &path, ""), &alice())).unwrap();
        assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
        let text = String::from_utf8(resp.into_body()).unwrap();
        assert!(!text.contains("smtp") && !text.contains("\"secret\""), "{text}");
        assert!(text.contains("saved and audited"), "{text}");
    }

    #[test]
    fn a_concurrent_change_is_a_409_and_is_not_overwritten() {
        let (project, id) = one_config();
        let store = RacingStore {
            inner: MemoryConfigStore::new(project),
            race: AtomicBool::new(true),
        };
        let api = endpoints(store, MemoryAuditSink::new(key()), MemoryOutbox::default());
        let path = format!("/api/admin/jwt-configs/{id}");
        let resp = run(api.answer(&request(Method::DELETE, &path, ""), &alice())).unwrap();
        assert_eq!(resp.status(), StatusCode::CONFLICT);
        api.admin().store().race.store(false, Ordering::SeqCst);
        let p = run(api.admin().project()).unwrap().project;
        assert_eq!(p.jwt_configs().len(), 1, "not deleted");
        assert!(p.settings().disable_default_login_page, "the other change stands");
    }

    #[test]
    fn paths_outside_the_prefix_are_the_hosts() {
        let api = endpoints(
            MemoryConfigStore::new(Project::default()),
            MemoryAuditSink::new(key()),
            MemoryOutbox::default(),
        )
        .mount_prefix("/admin/");
        assert_eq!(api.prefix(), "/admin");
        for path in ["/", "/api/admin/project", "/administrator", "/adminx/project"] {
            assert!(
                run(api.answer(&request(Method::GET, path, ""), &alice())).is_none(),
                "{path}"
            );
        }
        let resp = run(api.answer(&request(Method::GET, "/admin/project", ""), &alice())).unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// No error repeats a value sent (it could be a secret pasted in
        /// the wrong field): only field names and what was expected.
        #[test]
        fn no_error_repeats_a_value_sent(marker in "[A-Za-z0-9]{12,40}", field in 0usize..8) {
            let (project, id) = one_config();
            let api = endpoints(
                MemoryConfigStore::new(project),
                MemoryAuditSink::new(key()),
                MemoryOutbox::default(),
            );
            let body = match field {
                0 => format!(r#"{{"name":"A","login_url":"https://a.example.com/","enabled":"{marker}"}}"#),
                1 => format!(r#"{{"name":"A","login_url":"https://a.example.com/","cta_position":"{marker}"}}"#),
                2 => format!(r#"{{"name":["{marker}"],"login_url":"https://a.example.com/"}}"#),
                3 => format!(r#"{{"name":"A","login_url":"https://a.example.com/","login_button_logo":"{marker}"}}"#),
                4 => format!(r#"{{"name":"A","login_url":"{marker}"}}"#),
                5 => format!(r#"{{"name":"A","login_url":"https://{marker}:{marker}@a.example.com/"}}"#),
                6 => format!(r#"{{"name":"A","login_url":"https://a.example.com/","show_login_button":{{"x":"{marker}"}}}}"#),
                _ => format!(r#"{{"name":"A","login_url":"https://a.example.com/","logout_url":"{marker}"}}"#),
            };
            let resp = run(api.answer(&request(Method::POST, "/api/admin/jwt-configs", &body), &alice())).unwrap();
            prop_assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
            let text = String::from_utf8(resp.into_body()).unwrap();
            prop_assert!(!text.contains(&marker), "{}", text);
            let path = format!("/api/admin/jwt-configs/{id}");
            let resp = run(api.answer(&request(Method::PATCH, &path, &body), &alice())).unwrap();
            let text = String::from_utf8(resp.into_body()).unwrap();
            prop_assert!(!text.contains(&marker), "{}", text);
        }
    }
}
