//! The reference KB server, shared by `kb_server`, `demo` and the tests:
//! the `kb_sso::http` handlers mounted on axum, speaking HTTP/1.1 and
//! cleartext HTTP/2 (prior knowledge) on one port.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use http::{HeaderValue, Response, StatusCode, header};
use kb_sso::http::{MAX_BODY_BYTES, Outcome, PageRequest, SsoService};
use kb_sso::store::memory::{MemoryCodeStore, MemoryConfigStore};
use kb_sso::{Clock, CodeIssuer, IdentityServer, JwtConfig, SessionCodec, SigningKey, TokenSigner};
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use url::Url;

/// The service type of the reference server.
pub(crate) type Service<C> = SsoService<MemoryConfigStore, MemoryCodeStore, C>;

/// What the demo project looks like to its customer app.
#[derive(Debug, Clone)]
pub(crate) struct DemoProject {
    pub(crate) client_id: String,
    pub(crate) primary_secret: String,
    pub(crate) secondary_secret: String,
    pub(crate) login_url: String,
}

/// A running server.
pub(crate) struct Running<C> {
    pub(crate) addr: SocketAddr,
    pub(crate) base: String,
    pub(crate) project: DemoProject,
    pub(crate) service: Arc<Service<C>>,
    shutdown: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl<C> Running<C> {
    /// The one JSON line `kb_server` prints when it is ready.
    pub(crate) fn ready_line(&self) -> String {
        json!({
            "listening": self.base,
            "client_id": self.project.client_id,
            "primary_secret": self.project.primary_secret,
            "secondary_secret": self.project.secondary_secret,
            "login_url": self.project.login_url,
        })
        .to_string()
    }

    /// Stops accepting connections and waits for the server task.
    pub(crate) async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let _ = self.task.await;
    }
}

/// The default login URL of the demo configuration: the customer app that
/// `examples/customer_app.rs` runs.
pub(crate) const DEFAULT_LOGIN_URL: &str = "http://127.0.0.1:3000/login";

/// Binds `listen`, builds a demo project with one enabled JWT
/// configuration, and serves it until stopped.
pub(crate) async fn start<C: Clock + 'static>(
    listen: SocketAddr,
    login_url: &str,
    clock: C,
) -> Result<Running<C>, Box<dyn std::error::Error + Send + Sync>> {
    let listener = TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    let base = format!("http://{addr}");
    let kb_url = Url::parse(&base)?;

    let (service, project) = demo_service(&kb_url, login_url, clock)?;
    let service = Arc::new(service);

    let app = axum::Router::new()
        .fallback(serve::<C>)
        .with_state(service.clone());
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
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
        service,
        shutdown: Some(tx),
        task,
    })
}

/// The demo project's service for the KB at `kb_url`: one enabled JWT
/// configuration, an Ed25519 token signer, a fresh session key.
pub(crate) fn demo_service<C: Clock>(
    kb_url: &Url,
    login_url: &str,
    clock: C,
) -> Result<(Service<C>, DemoProject), Box<dyn std::error::Error + Send + Sync>> {
    let (config, secrets) = JwtConfig::builder("Demo customer app", login_url).build()?;
    let project = DemoProject {
        client_id: config.client_id().to_string(),
        primary_secret: secrets.primary.expose().to_owned(),
        secondary_secret: secrets.secondary.expose().to_owned(),
        login_url: config.login_url().to_string(),
    };
    let issuer = kb_url.as_str().trim_end_matches('/').to_owned();
    let signer = TokenSigner::new(SigningKey::generate_ed25519("kb-sso-1")?);
    let codes = CodeIssuer::new(MemoryCodeStore::new(), clock);
    let identity = IdentityServer::new(MemoryConfigStore::new([config]), codes, signer, issuer);
    let sessions = SessionCodec::new(SessionCodec::generate_key().as_ref())?;
    Ok((SsoService::new(identity, sessions, kb_url)?, project))
}

async fn serve<C: Clock + 'static>(
    State(service): State<Arc<Service<C>>>,
    req: axum::extract::Request,
) -> Response<Body> {
    let (parts, body) = req.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_BODY_BYTES).await else {
        return json_answer(
            StatusCode::PAYLOAD_TOO_LARGE,
            &json!({"error": "invalid_request", "error_description": "the request body is larger than 64 KiB"}),
        );
    };
    match service
        .handle(http::Request::from_parts(parts, bytes))
        .await
    {
        Outcome::Response(resp) => resp.map(Body::from),
        Outcome::Page(page) => render_page(&page),
    }
}

/// A private page: who is reading, and which page.
fn render_page(page: &PageRequest) -> Response<Body> {
    let r = &page.reader;
    let mut resp = json_answer(
        StatusCode::OK,
        &json!({
            "reader": {
                "username": r.username,
                "email": r.email,
                "first_name": r.first_name,
                "last_name": r.last_name,
                "groups": r.groups,
            },
            "path": page.path,
        }),
    );
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    resp
}

fn json_answer(status: StatusCode, body: &serde_json::Value) -> Response<Body> {
    let mut resp = Response::new(Body::from(body.to_string()));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}
