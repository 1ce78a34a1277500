//! A small customer app: its own login, and the customer's half of every
//! flow through `kb_sso::client` — the code flow, a handshake token, and
//! the widget token endpoint. Shared by `customer_app` and the tests.
#![allow(dead_code)]

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Query, RawQuery, State};
use axum::response::{Html, IntoResponse};
use axum::routing::{get, post};
use http::{HeaderMap, HeaderValue, Response, StatusCode, header};
use kb_sso::client::{
    CodeRequestBuilder, HandshakeClaimsBuilder, HandshakeSigner, SignInRequest, WidgetAnswer,
    WidgetTokenRequestBuilder, authorize_url, handshake_callback_url, parse_code_response, parse_widget_token_response,
};
use kb_sso::{ClientCredentials, ClientSecret, Clock, SystemClock};
use serde::Deserialize;
use tokio::net::TcpListener;
use url::Url;

use super::server::escape;

/// The one account of the demo customer app.
pub(crate) const DEMO_USER: &str = "john.doe";
/// Its password.
pub(crate) const DEMO_PASSWORD: &str = "correct horse battery staple";
const SESSION: &str = "customer_session";

/// What the customer app knows about the KB.
#[derive(Debug, Clone)]
pub(crate) struct KbLink {
    pub(crate) kb_url: Url,
    pub(crate) client_id: String,
    pub(crate) client_secret: String,
    pub(crate) widget_client_id: String,
    pub(crate) widget_client_secret: String,
    pub(crate) widget_id: String,
}

struct App {
    kb: KbLink,
    http: reqwest::Client,
    /// A random value proving "logged in here" (one user, one demo).
    session: String,
}

/// Serves the customer app on `listener` until the task is dropped.
pub(crate) fn serve(listener: TcpListener, kb: KbLink) -> tokio::task::JoinHandle<()> {
    let app = Arc::new(App {
        kb,
        http: reqwest::Client::new(),
        session: ClientSecret::generate().expose().to_owned(),
    });
    let router = axum::Router::new()
        .route("/", get(home))
        .route("/login", get(login_page).post(login_submit))
        .route("/logout", get(logout))
        .route("/kb/handshake", get(handshake))
        .route("/widget-token", post(widget_token))
        .with_state(app);
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    })
}

/// Binds the customer app's port first, so the KB can be told its login URL.
pub(crate) async fn bind() -> std::io::Result<(TcpListener, String)> {
    bind_at("127.0.0.1:0").await
}

/// [`bind`] at `addr` (`host:port`, port 0 picks one).
pub(crate) async fn bind_at(addr: &str) -> std::io::Result<(TcpListener, String)> {
    let listener = TcpListener::bind(addr).await?;
    let base = format!("http://{}", listener.local_addr()?);
    Ok((listener, base))
}

/// The style of the app's pages: readable, with margins on a phone.
const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:32rem;margin:2rem auto;padding:0 1rem;line-height:1.4}\
label{display:block;margin-top:.8rem;font-weight:600}input,button{font:inherit}input{width:100%;padding:.4rem;box-sizing:border-box}\
button{margin-top:1rem;padding:.5rem 1rem}.error{color:#8a1c1c;background:#fdecec;padding:.5rem;border-left:4px solid #b42318}";

/// A page of the app: `title`, then `body` (already HTML).
fn page(status: StatusCode, title: &str, body: &str) -> Response<Body> {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{t} \u{b7} Customer app</title><style>{STYLE}</style></head><body><h1>{t}</h1>{body}</body></html>",
        t = escape(title)
    );
    (status, Html(html)).into_response()
}

/// `GET /`: the app's home, a link to each flow into the KB.
async fn home(State(app): State<Arc<App>>, headers: HeaderMap) -> Response<Body> {
    let kb = app.kb.kb_url.as_str().trim_end_matches('/');
    let status = if logged_in(&app, &headers) {
        "<p>You are logged in to the customer app as john.doe.</p>"
    } else {
        "<p>You are not logged in here yet: the KB sends you to this app's login page.</p>"
    };
    page(
        StatusCode::OK,
        "Customer app",
        &format!(
            concat!(
                "{status}<ul>",
                "<li><a href=\"{kb}/docs/getting-started\">Open the KB</a> (the code flow: the KB sends you here to sign in)</li>",
                "<li><a href=\"/kb/handshake?redirect=/docs/getting-started\">Open the KB with a handshake token</a> (the direct flow; log in here first)</li>",
                "<li><form method=\"post\" action=\"/widget-token\"><button type=\"submit\">Get a widget token</button></form> (what the KB widget asks this app's backend for; log in here first)</li>",
                "</ul><p><a href=\"/login\">Log in to the customer app</a> \u{b7} <a href=\"/logout\">Log out</a></p>"
            ),
            status = status,
            kb = escape(kb)
        ),
    )
}

/// A page saying what went wrong on the way to the KB, with a way back.
fn failure(status: StatusCode, what: &str) -> Response<Body> {
    page(
        status,
        "Could not reach the knowledge base",
        &format!(
            "<p class=\"error\" role=\"alert\">{}</p><p><a href=\"/\">Customer app home</a></p>",
            escape(what)
        ),
    )
}

/// `GET /logout`: ends the reader's session here. It is the demo
/// configuration's logout URL, so signing out of the KB ends both: a
/// private KB page then asks to sign in again instead of signing the
/// reader straight back in.
async fn logout(State(app): State<Arc<App>>) -> Response<Body> {
    let kb = app.kb.kb_url.as_str().trim_end_matches('/');
    let mut resp = page(
        StatusCode::OK,
        "You are signed out",
        &format!(
            "<p>You are signed out of the customer app and of the knowledge base.</p>\
             <p><a href=\"{}/\">Back to the knowledge base</a> &middot; <a href=\"/\">Customer app home</a></p>",
            escape(kb)
        ),
    );
    let clear = format!("{SESSION}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0");
    if let Ok(v) = HeaderValue::from_str(&clear) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    resp
}

/// The username and password fields of the login form.
fn credentials_in(form: &str) -> (String, String) {
    let (mut user, mut password) = (String::new(), String::new());
    for (k, v) in url::form_urlencoded::parse(form.as_bytes()) {
        match k.as_ref() {
            "username" => user = v.into_owned(),
            "password" => password = v.into_owned(),
            _ => {}
        }
    }
    (user, password)
}

fn logged_in(app: &App, headers: &HeaderMap) -> bool {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .any(|c| c.trim() == format!("{SESSION}={}", app.session))
}

/// `GET /login`: the KB sent the reader here. Already logged in: straight
/// on to the KB; otherwise the login form, carrying `redirectPath` and
/// `codeChallenge` along.
async fn login_page(State(app): State<Arc<App>>, headers: HeaderMap, RawQuery(query): RawQuery) -> Response<Body> {
    let sign_in = SignInRequest::from_query(query.as_deref().unwrap_or(""));
    if logged_in(&app, &headers) {
        return to_kb(&app, &sign_in, None).await;
    }
    login_form(StatusCode::OK, &sign_in, None)
}

/// The app's login form, carrying the sign-in request along, with `error`
/// above it.
fn login_form(status: StatusCode, sign_in: &SignInRequest, error: Option<&str>) -> Response<Body> {
    let error = error.map_or_else(String::new, |e| {
        format!("<p class=\"error\" role=\"alert\">{}</p>", escape(e))
    });
    page(
        status,
        "Sign in to the customer app",
        &format!(
            concat!(
                "{}<form method=\"post\" action=\"/login\">",
                "<input type=\"hidden\" name=\"redirectPath\" value=\"{}\">",
                "<input type=\"hidden\" name=\"codeChallenge\" value=\"{}\">",
                "<label for=\"u\">Username</label><input id=\"u\" name=\"username\" autocomplete=\"username\" required>",
                "<label for=\"p\">Password</label><input id=\"p\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required>",
                "<button type=\"submit\">Sign in</button></form>",
                "<p><a href=\"/\">Customer app home</a> (the handshake and widget flows)</p>"
            ),
            error,
            escape(sign_in.redirect_path().unwrap_or("/")),
            escape(sign_in.code_challenge().unwrap_or(""))
        ),
    )
}

/// `POST /login`: checks the password, then asks the KB for a code. The
/// form carries `redirectPath` and `codeChallenge` under the names the KB
/// used, so it reads as the sign-in request itself.
async fn login_submit(State(app): State<Arc<App>>, form: String) -> Response<Body> {
    let (user, password) = credentials_in(&form);
    if user != DEMO_USER || password != DEMO_PASSWORD {
        // The form again, with the sign-in request it carried, to try again.
        return login_form(
            StatusCode::UNAUTHORIZED,
            &SignInRequest::from_query(&form),
            Some("Wrong username or password; try again."),
        );
    }
    let cookie = format!("{SESSION}={}; Path=/; HttpOnly; SameSite=Lax", app.session);
    to_kb(&app, &SignInRequest::from_query(&form), Some(cookie)).await
}

/// The code flow's customer half: code request over the back channel
/// (bound to the reader's browser by the KB's `codeChallenge`), then the
/// redirect to the KB's callback with `redirectUrl`.
async fn to_kb(app: &App, sign_in: &SignInRequest, cookie: Option<String>) -> Response<Body> {
    let credentials = ClientCredentials::new(
        app.kb.client_id.clone(),
        ClientSecret::new(app.kb.client_secret.clone()),
    );
    let Ok(endpoint) = app.kb.kb_url.join("/api/jwt/generate-code") else {
        return failure(StatusCode::BAD_GATEWAY, "bad KB URL");
    };
    let request = CodeRequestBuilder::for_sign_in(endpoint.as_str(), credentials, sign_in)
        .username(DEMO_USER)
        .first_name("John")
        .last_name("Doe")
        .email("john.doe@example.com")
        .reader_groups(["group1", "group2"])
        .token_validity_minutes(15);
    let answer = match request.build() {
        Ok(req) => send(&app.http, req).await,
        Err(e) => return failure(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    let code = match answer.as_ref().map(parse_code_response) {
        Ok(Ok(code)) => code,
        Ok(Err(e)) => return failure(StatusCode::BAD_GATEWAY, &e.to_string()),
        Err(e) => return failure(StatusCode::BAD_GATEWAY, e),
    };
    let target = authorize_url(&app.kb.kb_url, &code, sign_in.redirect_path());
    redirect(target.as_str(), cookie)
}

#[derive(Deserialize)]
struct HandshakeQuery {
    redirect: Option<String>,
}

/// `GET /kb/handshake?redirect=`: the direct flow — sign a short HS256
/// token with the configuration's secret and send the reader to the KB.
async fn handshake(State(app): State<Arc<App>>, headers: HeaderMap, Query(q): Query<HandshakeQuery>) -> Response<Body> {
    if !logged_in(&app, &headers) {
        return page(
            StatusCode::UNAUTHORIZED,
            "Log in first",
            "<p>Log in to the customer app first, then open the KB with a handshake token.</p>\
             <p><a href=\"/login\">Log in</a> \u{b7} <a href=\"/\">Customer app home</a></p>",
        );
    }
    let secret = ClientSecret::new(app.kb.client_secret.clone());
    let signer = match HandshakeSigner::hs256(app.kb.client_id.clone(), &secret) {
        Ok(s) => s,
        Err(e) => return failure(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    };
    let claims = HandshakeClaimsBuilder::new()
        .subject(DEMO_USER)
        .email("john.doe@example.com")
        .name("John Doe")
        .groups(["group1"])
        .audience(app.kb.kb_url.as_str().trim_end_matches('/'));
    match signer.sign(&claims, SystemClock.now()) {
        Ok(token) => redirect(
            handshake_callback_url(&app.kb.kb_url, &token, q.redirect.as_deref()).as_str(),
            None,
        ),
        Err(e) => failure(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

/// `POST /widget-token`: what the KB widget calls on the customer's
/// backend; answers `{"accessToken","expiresIn"}`.
async fn widget_token(State(app): State<Arc<App>>, headers: HeaderMap) -> Response<Body> {
    if !logged_in(&app, &headers) {
        return (StatusCode::UNAUTHORIZED, "log in first").into_response();
    }
    let credentials = ClientCredentials::new(
        app.kb.widget_client_id.clone(),
        ClientSecret::new(app.kb.widget_client_secret.clone()),
    );
    let Ok(endpoint) = app.kb.kb_url.join("/api/jwt/widget-token") else {
        return (StatusCode::BAD_GATEWAY, "bad KB URL").into_response();
    };
    let request = WidgetTokenRequestBuilder::new(endpoint.as_str(), credentials, app.kb.widget_id.clone())
        .username(DEMO_USER)
        .first_name("John")
        .last_name("Doe")
        .email("john.doe@example.com")
        .reader_groups(["group1"])
        .token_validity_seconds(900);
    let answer = match request.build() {
        Ok(req) => send(&app.http, req).await,
        Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    };
    match answer.as_ref().map(parse_widget_token_response) {
        Ok(Ok(token)) => WidgetAnswer::from(token).to_response().map(Body::from),
        Ok(Err(e)) => (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
        Err(e) => (StatusCode::BAD_GATEWAY, e.clone()).into_response(),
    }
}

/// Sends a `kb_sso::client` request with reqwest and returns the answer as
/// an `http::Response`.
async fn send(http: &reqwest::Client, req: http::Request<Vec<u8>>) -> Result<Response<Vec<u8>>, String> {
    let req = reqwest::Request::try_from(req).map_err(|e| e.to_string())?;
    let resp = http.execute(req).await.map_err(|e| e.to_string())?;
    let mut out = Response::builder().status(resp.status());
    for (k, v) in resp.headers() {
        out = out.header(k, v);
    }
    let body = resp.bytes().await.map_err(|e| e.to_string())?.to_vec();
    out.body(body).map_err(|e| e.to_string())
}

fn redirect(location: &str, cookie: Option<String>) -> Response<Body> {
    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = StatusCode::FOUND;
    if let Ok(v) = HeaderValue::from_str(location) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    if let Some(c) = cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
        resp.headers_mut().insert(header::SET_COOKIE, c);
    }
    resp
}
