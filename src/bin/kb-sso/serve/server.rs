//! The reference KB server, shared by `kb_server`, `demo` and the tests:
//! an ordinary axum app with the crate's endpoints merged in (feature
//! `axum`), a public home page and private pages behind the guard layer,
//! speaking HTTP/1.1 and cleartext HTTP/2 (prior knowledge) on one port.
//! The admin API (`kb_sso::server::admin`) is mounted at `/api/admin`
//! behind bearer-token authentication (`AdminTokens`).
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::routing::{any, get};
use http::{HeaderValue, Request, Response, StatusCode, Uri, header};
use kb_sso::keys::KeyRing;
use kb_sso::project_file::ProjectFile;
use kb_sso::server::admin::{self, AdminEndpoints, AdminToken, AdminTokens, MAX_CONFIG_BODY_BYTES};
use kb_sso::server::{RemoteAddr, SsoService};
use kb_sso::store::memory::MemoryRateLimiter;
use kb_sso::store::memory::{MemoryCodeStore, MemoryConfigStore, MemorySessionRevocations};
use kb_sso::store::{
    ArcAuditSink, ArcConfigStore, ArcNotificationOutbox, BoxCodeStore, BoxRateLimiter, BoxReplayCache,
    BoxSessionRevocations,
};
use kb_sso::{Admin, CheckpointKey, Limits};
use kb_sso::{
    Clock, CodeIssuer, HandshakeKey, HandshakeSettings, IdentityServer, JwtConfig, Project, ProjectSettings,
    ReaderSession, WidgetProject,
};
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use url::Url;

/// The service type of the reference server: its configuration store (memory
/// or a database), code store, limiter and revoked-session list are chosen
/// at start (memory, Redis or a database) as trait objects.
pub(crate) type Service<C> = SsoService<ArcConfigStore, BoxCodeStore, C, BoxRateLimiter, BoxSessionRevocations>;

/// The admin service of the reference server: the service's own
/// configuration store, an audit log and a notification outbox, in memory
/// or in the database of `Options::stores` (reachable through
/// `Admin::audit` and `Admin::notifier`).
pub(crate) type AdminService = Admin<ArcConfigStore, ArcAuditSink, ArcNotificationOutbox>;

/// The admin API as the reference server mounts it: its endpoints and the
/// administrators' tokens.
pub(crate) struct AdminApi {
    pub(crate) endpoints: AdminEndpoints<ArcConfigStore, ArcAuditSink, ArcNotificationOutbox>,
    pub(crate) tokens: AdminTokens,
}

/// How a server is set up beyond its project.
pub(crate) struct Options {
    /// Where codes live.
    pub(crate) codes: BoxCodeStore,
    /// Brute-force limits.
    pub(crate) limits: Limits,
    /// Where failed attempts are counted.
    pub(crate) limiter: BoxRateLimiter,
    /// The token-signing and session keys; `None` makes fresh ones at
    /// start (one instance only: another instance would refuse its
    /// sessions).
    pub(crate) keys: Option<KeyRing>,
    /// Where revoked sessions are listed.
    pub(crate) revocations: BoxSessionRevocations,
    /// Where handshake `jti`s are remembered, if not in memory.
    pub(crate) replay: Option<BoxReplayCache>,
    /// The administrators of the admin API; `None` makes a demo admin
    /// token with every role, shown in the ready line.
    pub(crate) admin_tokens: Option<AdminTokens>,
    /// The project, audit log and outbox (`kb_server --db`); `None` keeps
    /// them in memory. When given, a project file's project is not used by
    /// `start_project_with`: it seeded these stores when they were empty.
    pub(crate) stores: Option<super::durable::Stores>,
    /// The demo configuration's logout URL (none by default: signing out
    /// ends on `/jwt/signed-out`).
    pub(crate) logout_url: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            codes: Box::new(MemoryCodeStore::new()),
            limits: Limits::default(),
            limiter: Box::new(MemoryRateLimiter::new()),
            keys: None,
            revocations: Box::new(MemorySessionRevocations::new()),
            replay: None,
            admin_tokens: None,
            stores: None,
            logout_url: None,
        }
    }
}

/// What the demo project looks like to its customer app.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub(crate) struct DemoProject {
    pub(crate) client_id: String,
    pub(crate) primary_secret: String,
    pub(crate) secondary_secret: String,
    pub(crate) login_url: String,
    /// Where readers go after signing out, if anywhere but
    /// `/jwt/signed-out`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) logout_url: Option<String>,
    /// Whether codes must carry the `codeChallenge` the KB passes to the
    /// login URL (login binding). The demo configuration leaves it optional
    /// so that the spec's own samples work; the customer app sends it.
    pub(crate) require_login_binding: bool,
    /// The `aud` handshake tokens must carry.
    pub(crate) handshake_audience: String,
    pub(crate) widget_client_id: String,
    pub(crate) widget_client_secret: String,
    pub(crate) widget_id: String,
}

/// A running server.
pub(crate) struct Running<C> {
    pub(crate) addr: SocketAddr,
    pub(crate) base: String,
    /// The demo project's credentials (empty when serving a project file).
    pub(crate) project: DemoProject,
    /// Whether a project file is served instead of the demo project.
    pub(crate) from_file: bool,
    pub(crate) service: Arc<Service<C>>,
    /// The admin service behind `/api/admin` (its audit log and
    /// notifications are in memory).
    pub(crate) admin: Arc<AdminService>,
    /// The demo admin token, when no token file was given.
    pub(crate) admin_token: Option<AdminToken>,
    shutdown: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl<C> Running<C> {
    /// The one JSON line `kb_server` prints when it is ready.
    pub(crate) fn ready_line(&self) -> String {
        /// The ready line, fields in the documented order (`listening`
        /// first).
        #[derive(serde::Serialize)]
        struct Ready<'a> {
            listening: &'a str,
            #[serde(flatten)]
            demo: Option<&'a DemoProject>,
            #[serde(skip_serializing_if = "Option::is_none")]
            admin_token: Option<&'a str>,
        }
        let demo = (!self.from_file).then_some(&self.project);
        serde_json::to_string(&Ready {
            listening: &self.base,
            demo,
            admin_token: self.admin_token.as_ref().map(AdminToken::expose),
        })
        .unwrap_or_default()
    }

    /// Stops accepting connections and waits for the server task.
    pub(crate) async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let _ = self.task.await;
    }
}

/// The code request body of the spec's curl and Postman tests.
pub(crate) const SPEC_CODE_REQUEST: &str = r#"{
"username": "john.doe",
"firstName": "John",
"lastName": "Doe",
"emailId": "john.doe@example.com",
"readerGroupIds": ["group1", "group2"],
"tokenValidity": 15
}"#;

/// The default login URL of the demo configuration: the customer app that
/// `examples/customer_app.rs` runs.
pub(crate) const DEFAULT_LOGIN_URL: &str = "http://127.0.0.1:3000/login";

/// The logout URL of the demo configuration when its login URL is
/// [`DEFAULT_LOGIN_URL`]: the same customer app's `/logout`, which ends its
/// own session too, so that a reader who signs out of the KB is not signed
/// straight back in by the app.
pub(crate) const DEFAULT_LOGOUT_URL: &str = "http://127.0.0.1:3000/logout";

/// Binds `listen`, builds a demo project with one enabled JWT
/// configuration, and serves it until stopped.
pub(crate) async fn start<C: Clock + 'static>(
    listen: SocketAddr,
    login_url: &str,
    clock: C,
) -> Result<Running<C>, Box<dyn std::error::Error + Send + Sync>> {
    start_demo_with(listen, login_url, clock, Options::default()).await
}

/// [`start`] with [`Options`].
pub(crate) async fn start_demo_with<C: Clock + 'static>(
    listen: SocketAddr,
    login_url: &str,
    clock: C,
    mut options: Options,
) -> Result<Running<C>, Box<dyn std::error::Error + Send + Sync>> {
    let listener = TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    let base = format!("http://{addr}");
    let admin_tokens = options.admin_tokens.take();
    // The demo project is in memory; of `options.stores` only the audit
    // log and the outbox are used.
    let (audit, outbox) = match options.stores.take() {
        Some(stores) => (stores.audit, stores.outbox),
        None => memory_audit_and_outbox()?,
    };
    let (service, project) = demo_service_with(&Url::parse(&base)?, login_url, clock, options)?;
    serve_on(listener, base, service, project, false, admin_tokens, audit, outbox)
}

/// Binds `listen` and serves the project of a project file (already
/// checked with [`ProjectFile::into_project`]); its `kb_url` defaults to the
/// listening URL.
pub(crate) async fn start_project<C: Clock + 'static>(
    listen: SocketAddr,
    loaded: LoadedProject,
    clock: C,
) -> Result<Running<C>, Box<dyn std::error::Error + Send + Sync>> {
    start_project_with(listen, loaded, clock, Options::default()).await
}

/// [`start_project`] with [`Options`].
pub(crate) async fn start_project_with<C: Clock + 'static>(
    listen: SocketAddr,
    loaded: LoadedProject,
    clock: C,
    mut options: Options,
) -> Result<Running<C>, Box<dyn std::error::Error + Send + Sync>> {
    let admin_tokens = options.admin_tokens.take();
    let LoadedProject { kb_url, project } = loaded;
    let kb_url = kb_url.as_deref();
    let listener = TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    let base = format!("http://{addr}");
    let kb_url = Url::parse(kb_url.unwrap_or(&base))?;
    let (service, audit, outbox) = match options.stores.take() {
        Some(stores) => (
            store_service(&kb_url, stores.configs, clock, options)?,
            stores.audit,
            stores.outbox,
        ),
        None => {
            let (audit, outbox) = memory_audit_and_outbox()?;
            (project_service(&kb_url, project, clock, options)?, audit, outbox)
        }
    };
    serve_on(
        listener,
        base,
        service,
        DemoProject::default(),
        true,
        admin_tokens,
        audit,
        outbox,
    )
}

/// Reads and checks a project file: the message names the field.
pub(crate) fn load_project_file(path: &str) -> Result<LoadedProject, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    let file = ProjectFile::parse(&text).map_err(|e| format!("{path}: {e}"))?;
    let kb_url = file.kb_url.clone();
    let project = file.into_project().map_err(|e| format!("{path}: {e}"))?;
    Ok(LoadedProject { kb_url, project })
}

/// A checked project file: its handshake and widget settings are in the
/// project.
pub(crate) struct LoadedProject {
    pub(crate) kb_url: Option<String>,
    pub(crate) project: Project,
}

/// An audit log (with a fresh checkpoint key) and an outbox in memory.
fn memory_audit_and_outbox() -> Result<(ArcAuditSink, ArcNotificationOutbox), Box<dyn std::error::Error + Send + Sync>>
{
    let key = CheckpointKey::new(CheckpointKey::generate_key().as_ref())?;
    let stores = super::durable::Stores::memory(kb_sso::Project::default(), key);
    Ok((stores.audit, stores.outbox))
}

#[allow(clippy::too_many_arguments)]
fn serve_on<C: Clock + 'static>(
    listener: TcpListener,
    base: String,
    service: Service<C>,
    project: DemoProject,
    from_file: bool,
    admin_tokens: Option<AdminTokens>,
    audit: ArcAuditSink,
    outbox: ArcNotificationOutbox,
) -> Result<Running<C>, Box<dyn std::error::Error + Send + Sync>> {
    let addr = listener
        .local_addr()
        .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)));
    let service = Arc::new(service);
    let (tokens, admin_token) = match admin_tokens {
        Some(tokens) => (tokens, None),
        None => {
            let (tokens, token) = AdminTokens::demo();
            (tokens, Some(token))
        }
    };
    let admin = Arc::new(Admin::new(
        Arc::clone(service.identity().configs()),
        audit,
        outbox,
        ServiceClock(Arc::clone(&service)),
    ));
    let admin_api = Arc::new(AdminApi {
        endpoints: AdminEndpoints::new(Arc::clone(&admin)),
        tokens,
    });
    let app = app(service.clone(), admin_api);
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let app = app.into_make_service_with_connect_info::<SocketAddr>();
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await;
    });
    Ok(Running {
        addr,
        base,
        project,
        from_file,
        service,
        admin,
        admin_token,
        shutdown: Some(tx),
        task,
    })
}

/// The server's own clock (the code issuer's), so that admin operations
/// are timed as everything else.
struct ServiceClock<C>(Arc<Service<C>>);

impl<C: Clock> Clock for ServiceClock<C> {
    fn now(&self) -> time::OffsetDateTime {
        self.0.identity().codes().clock().now()
    }
}

/// The demo project's service for the KB at `kb_url`: one enabled JWT
/// configuration, an Ed25519 token signer, a fresh session key.
pub(crate) fn demo_service<C: Clock>(
    kb_url: &Url,
    login_url: &str,
    clock: C,
) -> Result<(Service<C>, DemoProject), Box<dyn std::error::Error + Send + Sync>> {
    demo_service_with(kb_url, login_url, clock, Options::default())
}

/// [`demo_service`] with [`Options`].
pub(crate) fn demo_service_with<C: Clock>(
    kb_url: &Url,
    login_url: &str,
    clock: C,
    options: Options,
) -> Result<(Service<C>, DemoProject), Box<dyn std::error::Error + Send + Sync>> {
    // Login binding stays optional here so that the spec's samples, which
    // do not send `codeChallenge`, work as sent; the ready line says so.
    let mut builder = JwtConfig::builder("Demo customer app", login_url).require_login_binding(false);
    if let Some(url) = &options.logout_url {
        builder = builder.logout_url(url.as_str());
    }
    let (config, secrets) = builder.build()?;
    let widget_id = uuid_like();
    let (widgets, widget_secret) = WidgetProject::builder(uuid_like()).widget(widget_id.clone()).build()?;
    let project = DemoProject {
        client_id: config.client_id().to_string(),
        primary_secret: secrets.primary.expose().to_owned(),
        secondary_secret: secrets.secondary.expose().to_owned(),
        login_url: config.login_url().to_string(),
        logout_url: config.logout_url().map(ToString::to_string),
        require_login_binding: config.requires_login_binding(),
        handshake_audience: handshake_audience(kb_url),
        widget_client_id: widgets.project_id().to_owned(),
        widget_client_secret: widget_secret.expose().to_owned(),
        widget_id,
    };
    let config_id = config.client_id().clone();
    // The demo configuration also takes HS256 handshake tokens signed with
    // its secrets (the direct flow), named by its client id: addressed to
    // this KB (`aud`), at most 5 minutes long, each accepted once (`jti`).
    let key = HandshakeKey::hs256(&secrets.primary, Some(&secrets.secondary))?;
    let settings = HandshakeSettings::builder(key)
        .audience(handshake_audience(kb_url))
        .max_token_age(time::Duration::minutes(5))
        .require_jti(true)
        .build()?;
    let demo = Project::new(ProjectSettings::default(), vec![config], vec![])?
        .with_handshake(&config_id, settings)?
        .with_widget(widgets);
    let service = project_service(kb_url, demo, clock, options)?;
    Ok((service, project))
}

/// The `aud` the demo configuration expects in handshake tokens: the KB's
/// own URL.
pub(crate) fn handshake_audience(kb_url: &Url) -> String {
    kb_url.as_str().trim_end_matches('/').to_owned()
}

/// A fresh random id in UUID form (the spec's project and widget ids).
fn uuid_like() -> String {
    kb_sso::ClientId::generate().to_string()
}

/// The service for `project` at `kb_url`: the stores of `options`, and the
/// token signer and session keys of its key ring (made fresh at start
/// without one).
pub(crate) fn project_service<C: Clock>(
    kb_url: &Url,
    project: Project,
    clock: C,
    options: Options,
) -> Result<Service<C>, Box<dyn std::error::Error + Send + Sync>> {
    store_service(kb_url, Arc::new(MemoryConfigStore::new(project)), clock, options)
}

/// [`project_service`] over the project in `configs` (memory or a
/// database).
pub(crate) fn store_service<C: Clock>(
    kb_url: &Url,
    configs: ArcConfigStore,
    clock: C,
    options: Options,
) -> Result<Service<C>, Box<dyn std::error::Error + Send + Sync>> {
    let issuer = kb_url.as_str().trim_end_matches('/').to_owned();
    let keys = match options.keys {
        Some(keys) => keys,
        None => KeyRing::generate(time::OffsetDateTime::now_utc())?,
    };
    let signer = keys.token_signer()?;
    let codes = CodeIssuer::new(options.codes, clock);
    let identity = IdentityServer::new(configs, codes, signer, issuer).with_previous_keys(keys.previous_token_keys());
    let sessions = keys.session_codec()?;
    let service = SsoService::new(identity, sessions, kb_url)?
        .rate_limiter(options.limiter)
        .limits(options.limits)
        .site_name("the demo knowledge base")
        .session_revocations(options.revocations);
    let service = match options.replay {
        Some(cache) => service.replay_cache(cache),
        None => service,
    };
    Ok(service)
}

/// The reference KB as an ordinary axum app: the crate's endpoints
/// (`kb_sso::server::axum::router`) merged with the host's own routes: the
/// home page at `/` and the pages under `/docs`, all behind the guard layer
/// (which lets through the pages the project's visibility opens, without a
/// reader, and takes `?code=` and `?jwt=` on any of them), and the widget
/// API at `/api/widget/articles` (a Bearer widget access token).
pub(crate) fn app<C: Clock + 'static>(service: Arc<Service<C>>, admin_api: Arc<AdminApi>) -> axum::Router {
    // The guard layers each method router, so that another method on a
    // private page gets axum's 405 before any sign-in.
    let guard = kb_sso::server::axum::guard_layer(service.clone());
    let prefix = admin_api.endpoints.prefix().to_owned();
    let admin_root = {
        let api = Arc::clone(&admin_api);
        any(move |req: axum::extract::Request| admin_request(Arc::clone(&api), req))
    };
    let admin_paths = any(move |req: axum::extract::Request| admin_request(Arc::clone(&admin_api), req));
    let home = {
        let service = Arc::clone(&service);
        get(move |reader: Option<ReaderSession>| home(Arc::clone(&service), reader)).route_layer(guard.clone())
    };
    let widget_api = {
        let service = Arc::clone(&service);
        get(move |headers: http::HeaderMap| widget_articles(Arc::clone(&service), headers))
    };
    axum::Router::new()
        .route(&prefix, admin_root)
        .route(&format!("{prefix}/{{*rest}}"), admin_paths)
        .route("/docs", get(private_page).route_layer(guard.clone()))
        .route("/docs/{*page}", get(private_page).route_layer(guard))
        .route("/", home)
        .route("/api/widget/articles", widget_api)
        .merge(kb_sso::server::axum::router(service))
        .layer(axum::middleware::map_request(remote_addr))
}

/// Puts the peer's address (from `ConnectInfo`) in the request as the
/// `RemoteAddr` the crate's brute-force limits count by.
async fn remote_addr(mut req: axum::extract::Request) -> axum::extract::Request {
    if let Some(ConnectInfo(peer)) = req.extensions().get::<ConnectInfo<SocketAddr>>().copied() {
        req.extensions_mut().insert(RemoteAddr(peer.ip()));
    }
    req
}

/// A request under `/api/admin`: the bearer token first (401 without a
/// valid one), then the body (at most `MAX_CONFIG_BODY_BYTES`, 413
/// beyond), then the admin API's answer.
async fn admin_request(api: Arc<AdminApi>, req: axum::extract::Request) -> Response<Body> {
    let (parts, body) = req.into_parts();
    let who = match api.tokens.authenticate(&parts.headers) {
        Ok(who) => who,
        Err(e) => return admin::unauthorized(e).map(Body::from),
    };
    let Ok(bytes) = axum::body::to_bytes(body, MAX_CONFIG_BODY_BYTES).await else {
        return admin::body_too_large().map(Body::from);
    };
    let req = Request::from_parts(parts, bytes);
    match api.endpoints.answer(&req, &who).await {
        Some(resp) => resp.map(Body::from),
        None => json_answer(
            StatusCode::NOT_FOUND,
            &json!({"error": "not_found", "error_description": "no such page"}),
        ),
    }
}

/// The home page (behind the guard: private unless the project's
/// visibility opens it). When the project's home page is unpublished, the
/// landing page is `/docs`.
async fn home<C: Clock>(service: Arc<Service<C>>, reader: Option<ReaderSession>) -> Response<Body> {
    if let Ok(snapshot) = kb_sso::ConfigStore::current(service.identity().configs()).await
        && snapshot.project.landing_path() != "/"
    {
        let mut resp = Response::new(Body::empty());
        *resp.status_mut() = StatusCode::FOUND;
        resp.headers_mut()
            .insert(header::LOCATION, HeaderValue::from_static("/docs"));
        return resp;
    }
    let greeting = reader.map_or_else(String::new, |r| {
        format!("<p>Signed in as {}</p>", escape(&r.display_name()))
    });
    private_html(format!(
        "<!doctype html><title>Knowledge base</title><h1>Knowledge base</h1>{greeting}\
         <p><a href=\"/docs/getting-started\">Getting started</a></p>",
    ))
}

/// A page of the reader's own: HTML that no cache keeps.
fn private_html(html: String) -> Response<Body> {
    let mut resp = Response::new(Body::from(html));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    resp
}

/// `text` escaped for HTML text and attribute values.
pub(crate) fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#x27;")
}

/// The widget API's demo corpus: slug, title and the reader groups that
/// may read it (any one of them).
const ARTICLES: [(&str, &str, &[&str]); 4] = [
    ("getting-started", "Getting started", &["group1", "group2"]),
    ("billing", "Billing", &["group1"]),
    ("api-reference", "API reference", &["group2"]),
    ("internal-runbook", "Internal runbook", &["staff"]),
];

/// `GET /api/widget/articles`: the articles the widget token's reader
/// groups may read; 401 `invalid_token` otherwise.
async fn widget_articles<C: Clock>(service: Arc<Service<C>>, headers: http::HeaderMap) -> Response<Body> {
    let claims = match service.widget_bearer(&headers).await {
        Ok(c) => c,
        Err(resp) => return resp.map(Body::from),
    };
    let articles: Vec<_> = ARTICLES
        .iter()
        .filter(|(_, _, groups)| groups.iter().any(|g| claims.groups.iter().any(|c| c == g)))
        .map(|(slug, title, _)| json!({"slug": slug, "title": title}))
        .collect();
    let mut resp = json_answer(
        StatusCode::OK,
        &json!({"reader": claims.sub, "groups": claims.groups, "articles": articles}),
    );
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    resp
}

/// A page under `/docs`: who is reading (none on a public page), and
/// which page; HTML for a browser's page navigation (`Sec-Fetch-Mode:
/// navigate` and `Accept` preferring HTML), JSON for everything else
/// (scripts, API clients and the tests that read the reader from it).
async fn private_page(reader: Option<ReaderSession>, uri: Uri, headers: http::HeaderMap) -> Response<Body> {
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let navigation = headers.get("sec-fetch-mode").is_some_and(|m| m == "navigate");
    if navigation && kb_sso::server::negotiate(&headers) == Some(kb_sso::server::Format::Html) {
        return docs_page(reader.as_ref(), path);
    }
    let reader = reader.map(|r| {
        json!({
            "username": r.username,
            "email": r.email,
            "first_name": r.first_name,
            "last_name": r.last_name,
            "name": r.display_name(),
            "groups": r.groups,
            "claims": r.claims,
        })
    });
    let mut resp = json_answer(StatusCode::OK, &json!({"reader": reader, "path": path}));
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    resp
}

/// The HTML of a page under `/docs`: its path, who reads it and a way to
/// sign out (or in, on a public page).
fn docs_page(reader: Option<&ReaderSession>, path: &str) -> Response<Body> {
    let who = reader.map_or_else(
        || "<p>You are not signed in. <a href=\"/login\">Sign in</a></p>".to_owned(),
        |r| {
            format!(
                "<p id=\"reader\">Signed in as <strong>{}</strong> ({})</p><p><a href=\"/jwt/logout\">Sign out</a></p>",
                escape(&r.display_name()),
                escape(&r.username)
            )
        },
    );
    private_html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{p} \u{b7} Knowledge base</title></head><body><h1 id=\"page\">{p}</h1>{who}\
         <p><a href=\"/\">Home</a> \u{b7} <a href=\"/docs/getting-started\">Getting started</a> \u{b7} \
         <a href=\"/docs/billing\">Billing</a></p></body></html>",
        p = escape(path),
    ))
}

fn json_answer(status: StatusCode, body: &serde_json::Value) -> Response<Body> {
    let mut resp = Response::new(Body::from(body.to_string()));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}
