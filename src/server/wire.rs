//! What every endpoint shares on the wire: the body size and method checks,
//! form parsing, client credentials, cookies, OAuth error bodies, redirects
//! and the 413, 405 and 429 answers. One home, so that an endpoint mounted
//! alone answers exactly as it does inside [`SsoService`](super::SsoService).

use std::collections::HashMap;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Request, Response, StatusCode};
use serde_json::json;

use super::Endpoint;
use crate::code::{CodeError, GrantProblem};
use crate::form::DuplicateParameter;
use crate::redirect::SafeRedirect;
use crate::secret::{BasicAuthError, ClientCredentials, ClientId, CredentialsError};
use crate::session::{
    HANDSHAKE_COOKIE, SECURE_SESSION_COOKIE, SECURE_VERIFIER_COOKIE, SESSION_COOKIE, VERIFIER_COOKIE,
};
use crate::widget::WidgetError;

/// The largest request body accepted, in bytes. Larger ones get 413.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The client's network address, as the host put it in the request's
/// extensions; brute-force limits count per address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RemoteAddr(pub std::net::IpAddr);

/// The checks every endpoint makes before anything else: 413 for a body
/// (declared or sent) over [`MAX_BODY_BYTES`], then 405 with `Allow` for a
/// method `endpoint` does not take. `None`: the request may go on.
pub(crate) fn precheck<B: AsRef<[u8]>>(req: &Request<B>, endpoint: Endpoint) -> Option<Response<Vec<u8>>> {
    if too_large(req) {
        return Some(payload_too_large());
    }
    (!endpoint.allows(req.method())).then(|| method_not_allowed(endpoint.allow_header()))
}

/// 413: the body is over [`MAX_BODY_BYTES`].
pub(crate) fn payload_too_large() -> Response<Vec<u8>> {
    error(
        StatusCode::PAYLOAD_TOO_LARGE,
        "invalid_request",
        "the request body is larger than 64 KiB",
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

pub(crate) fn is_json(headers: &HeaderMap) -> bool {
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
pub(crate) fn authorization(headers: &HeaderMap) -> impl Iterator<Item = &[u8]> {
    headers.get_all(header::AUTHORIZATION).iter().map(HeaderValue::as_bytes)
}

/// HTTP Basic client credentials, required.
pub(crate) fn basic_credentials(headers: &HeaderMap) -> Result<ClientCredentials, BasicAuthError> {
    ClientCredentials::from_authorization(authorization(headers))?.ok_or(BasicAuthError::Missing)
}

pub(crate) fn basic_error_text(e: BasicAuthError) -> &'static str {
    match e {
        BasicAuthError::Missing => "client authentication is required (HTTP Basic with the client id and secret)",
        BasicAuthError::NotBasic => "use HTTP Basic authentication with the client id and secret",
        _ => "the Basic credentials are malformed",
    }
}

/// Client credentials of a token request: Basic header or form fields, not
/// both (RFC 6749 section 2.3), by [`ClientCredentials::from_basic_or_form`].
pub(crate) fn token_credentials(
    headers: &HeaderMap,
    form: &HashMap<String, String>,
) -> Result<Option<ClientCredentials>, Rejection> {
    ClientCredentials::from_basic_or_form(authorization(headers), form).map_err(|e| match e {
        CredentialsError::Basic(b) => Rejection::Unauthorized(basic_error_text(b)),
        CredentialsError::IncompleteForm => Rejection::Unauthorized("client_id and client_secret go together"),
        _ => Rejection::BadRequest("use one client authentication method, not two"),
    })
}

/// A request refused before it reaches the protocol logic.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Rejection {
    /// 400 `invalid_request`.
    BadRequest(&'static str),
    /// 401 `invalid_client` with `WWW-Authenticate: Basic`.
    Unauthorized(&'static str),
    /// 503: a store is not answering.
    Unavailable,
}

impl Rejection {
    pub(crate) fn into_response(self) -> Response<Vec<u8>> {
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
pub(crate) fn parse_form(body: &[u8]) -> Result<HashMap<String, String>, Rejection> {
    crate::form::parse_form(body).map_err(|DuplicateParameter| Rejection::BadRequest("a parameter is given twice"))
}

/// The request's query parameters ([`parse_form`]).
pub(crate) fn query<B>(req: &Request<B>) -> Result<HashMap<String, String>, Rejection> {
    parse_form(req.uri().query().unwrap_or("").as_bytes())
}

/// Every value of cookie `name` in the request's `Cookie` headers (HTTP/2
/// may split them over several headers).
pub(crate) fn cookies<'h>(headers: &'h HeaderMap, name: &'h str) -> impl Iterator<Item = &'h str> + 'h {
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

pub(crate) fn has_cookie(headers: &HeaderMap, name: &str) -> bool {
    cookies(headers, name).next().is_some()
}

/// The cookies the KB site sets: `__Host-` prefixed and `Secure` on https.
#[derive(Debug, Clone)]
pub(crate) struct CookieJar {
    secure: bool,
}

impl CookieJar {
    pub(crate) fn new(secure: bool, _prefix: &str) -> Self {
        Self { secure }
    }

    /// Whether cookies are `Secure` (the KB is on https).
    pub(crate) fn secure(&self) -> bool {
        self.secure
    }

    /// The login binding cookie, holding the verifiers of the reader's
    /// open sign-in attempts: `Path=/`, so that the login page, the domain
    /// form and the guard (which each add an attempt) read the attempts
    /// already open and the code's return (`/jwt/authorize` or any guarded
    /// page with `?code=`) finds them all; on https `__Host-` prefixed and
    /// `Secure`, so only this host can set it.
    pub(crate) fn verifier(&self, value: &str, max_age: i64) -> String {
        let name = self.verifier_name();
        let secure = if self.secure { "; Secure" } else { "" };
        format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}")
    }

    /// [`SECURE_VERIFIER_COOKIE`] on https, [`VERIFIER_COOKIE`] on plain
    /// http. Only that name is read: on https an unprefixed cookie, which
    /// any sibling subdomain could have set, is ignored.
    pub(crate) fn verifier_name(&self) -> &'static str {
        if self.secure {
            SECURE_VERIFIER_COOKIE
        } else {
            VERIFIER_COOKIE
        }
    }

    /// The `Set-Cookie` value that removes the customer app's `jwt` cookie
    /// (`Secure` on https, like every cookie set there).
    pub(crate) fn handshake_cleared(&self) -> String {
        let secure = if self.secure { "; Secure" } else { "" };
        format!("{HANDSHAKE_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{secure}")
    }

    /// The return-target cookie (DESIGN 3.17) with `value` for `max_age`
    /// seconds (0 clears it): HttpOnly, SameSite=Lax, `Path=/`, host-only,
    /// `__Host-` prefixed and `Secure` on https.
    pub(crate) fn return_target(&self, value: &str, max_age: i64) -> String {
        let secure = if self.secure { "; Secure" } else { "" };
        format!(
            "{}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}",
            self.return_name()
        )
    }

    /// `__Host-kb_return` on https, `kb_return` on plain http.
    pub(crate) fn return_name(&self) -> &'static str {
        if self.secure {
            crate::session::SECURE_RETURN_COOKIE
        } else {
            crate::session::RETURN_COOKIE
        }
    }

    /// The session cookie with `value` for `max_age` seconds (0 clears it).
    pub(crate) fn session(&self, value: &str, max_age: i64) -> String {
        self.session_with(value.len(), |line| line.push_str(value), max_age)
    }

    /// [`session`](Self::session) with a value of `value_len` bytes that
    /// `value` appends: the line is written in one buffer (this runs on
    /// every sign-in).
    pub(crate) fn session_with(&self, value_len: usize, value: impl FnOnce(&mut String), max_age: i64) -> String {
        const ATTRIBUTES: &str = "; Path=/; HttpOnly; SameSite=Lax; Max-Age=";
        const SECURE: &str = "; Secure";
        let name = self.session_name();
        let mut line = String::with_capacity(name.len() + 1 + value_len + ATTRIBUTES.len() + 20 + SECURE.len());
        line.push_str(name);
        line.push('=');
        value(&mut line);
        line.push_str(ATTRIBUTES);
        line.push_str(itoa(max_age, &mut [0; 20]));
        if self.secure {
            line.push_str(SECURE);
        }
        line
    }

    /// `__Host-kb_session` on https, so that no sibling subdomain can set or
    /// shadow it; `kb_session` on plain http (local development), where the
    /// prefix is not allowed.
    pub(crate) fn session_name(&self) -> &'static str {
        if self.secure {
            SECURE_SESSION_COOKIE
        } else {
            SESSION_COOKIE
        }
    }
}

/// A code error as an OAuth answer with its status
/// ([`CodeError::oauth_error`], [`CodeError::status`]).
pub(crate) fn code_error(e: &CodeError) -> Response<Vec<u8>> {
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
pub(crate) fn widget_error(e: &WidgetError) -> Response<Vec<u8>> {
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST);
    if status == StatusCode::UNAUTHORIZED {
        return unauthorized("client authentication failed");
    }
    error(status, e.oauth_error(), &e.to_string())
}

/// 400: the session cannot be carried in a cookie a browser keeps.
pub(crate) fn too_large_session(e: &crate::session::SessionError) -> Response<Vec<u8>> {
    error(StatusCode::BAD_REQUEST, "invalid_request", &e.to_string())
}

/// 503: a store is not answering.
pub(crate) fn unavailable() -> Response<Vec<u8>> {
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        "temporarily_unavailable",
        "a store is not answering; try again",
    )
}

/// 401 `invalid_client` with `WWW-Authenticate: Basic`.
pub(crate) fn unauthorized(description: &str) -> Response<Vec<u8>> {
    let mut resp = error(StatusCode::UNAUTHORIZED, "invalid_client", description);
    set(
        &mut resp,
        header::WWW_AUTHENTICATE,
        "Basic realm=\"kb-sso\", charset=\"UTF-8\"",
    );
    resp
}

fn method_not_allowed(allow: &'static str) -> Response<Vec<u8>> {
    let mut resp = error(
        StatusCode::METHOD_NOT_ALLOWED,
        "invalid_request",
        "method not allowed here",
    );
    resp.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    resp
}

/// An OAuth-style JSON error.
pub(crate) fn error(status: StatusCode, code: &str, description: &str) -> Response<Vec<u8>> {
    json_response(status, &json!({ "error": code, "error_description": description }))
}

pub(crate) fn json_response(status: StatusCode, body: &serde_json::Value) -> Response<Vec<u8>> {
    let mut resp = Response::new(serde_json::to_vec(body).unwrap_or_default());
    *resp.status_mut() = status;
    set(&mut resp, header::CONTENT_TYPE, "application/json");
    resp
}

pub(crate) fn redirect(target: &SafeRedirect) -> Response<Vec<u8>> {
    redirect_to(target.as_str())
}

/// A 302 to `location`, which must be a URL this crate built or checked.
pub(crate) fn redirect_to(location: &str) -> Response<Vec<u8>> {
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

/// `Cache-Control: no-store` and `Pragma: no-cache`.
pub(crate) fn no_store(mut resp: Response<Vec<u8>>) -> Response<Vec<u8>> {
    set(&mut resp, header::CACHE_CONTROL, "no-store");
    set(&mut resp, header::PRAGMA, "no-cache");
    resp
}

pub(crate) fn set_cookie(resp: &mut Response<Vec<u8>>, cookie: &str) {
    if let Ok(v) = HeaderValue::from_str(cookie) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
}

/// [`set_cookie`] for a line already owned: no copy.
pub(crate) fn set_owned_cookie(resp: &mut Response<Vec<u8>>, cookie: String) {
    if let Ok(v) = HeaderValue::try_from(cookie) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
}

/// The decimal digits of `n`, written into `buf` (20 bytes hold any
/// `i64`).
fn itoa(n: i64, buf: &mut [u8; 20]) -> &str {
    let mut i = buf.len();
    let mut m = n.unsigned_abs();
    loop {
        i -= 1;
        buf[i] = b'0' + (m % 10) as u8;
        m /= 10;
        if m == 0 {
            break;
        }
    }
    if n < 0 {
        i -= 1;
        buf[i] = b'-';
    }
    std::str::from_utf8(&buf[i..]).unwrap_or("0")
}

pub(crate) fn set(resp: &mut Response<Vec<u8>>, name: HeaderName, value: &'static str) {
    resp.headers_mut().insert(name, HeaderValue::from_static(value));
}

/// The request's path and query without parameter `name` (a token that
/// came in the URL must not stay in it).
pub(crate) fn without_param(uri: &http::Uri, name: &str) -> String {
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

/// The request's [`RemoteAddr`] as text (`unknown` when the host set none).
pub(crate) fn remote_addr<B>(req: &Request<B>) -> String {
    req.extensions()
        .get::<RemoteAddr>()
        .map_or_else(|| "unknown".to_owned(), |a| a.0.to_string())
}

/// The limiter key of client authentication: the normalized client id
/// and the address. Every spelling the parser accepts (upper case, 32 hex
/// digits) counts as the one id it names, and every id that does not parse
/// shares one key per address, so no spelling buys extra attempts.
pub(crate) fn auth_key(client_id: &str, addr: &str) -> String {
    match ClientId::parse(client_id) {
        Ok(id) => format!("auth|{id}|{addr}"),
        Err(_) => format!("auth|-|{addr}"),
    }
}

/// 429 with `Retry-After` in whole seconds.
pub(crate) fn too_many(retry_after: time::Duration) -> Response<Vec<u8>> {
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

/// What a client gets, HTML or JSON, by [`negotiate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `text/html`: a page, for browsers.
    Html,
    /// `application/json`: for API clients.
    Json,
}

/// The format the request's `Accept` headers prefer (RFC 9110 section
/// 12.5.1): the one of `text/html` and `application/json` with the higher
/// quality, each taking its quality from the most specific range that
/// matches it (`text/html`, then `text/*`, then `*/*`; `q=0` refuses it).
/// `None` when neither is preferred: no `Accept`, a tie (`*/*`), or both
/// refused; each caller has its own default then.
pub fn negotiate(headers: &HeaderMap) -> Option<Format> {
    // (specificity, quality) of the best-matching range per format.
    let mut html: Option<(u8, u16)> = None;
    let mut json: Option<(u8, u16)> = None;
    let ranges = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','));
    for range in ranges {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let mut q = 1000;
        for p in parts {
            let Some((k, v)) = p.split_once('=') else { continue };
            if k.trim().eq_ignore_ascii_case("q") {
                q = quality(v.trim());
            }
        }
        let (ty, sub) = media.split_once('/').unwrap_or((media.as_str(), ""));
        for (slot, want_ty, want_sub) in [(&mut html, "text", "html"), (&mut json, "application", "json")] {
            let specificity = match (ty, sub) {
                (t, s) if t == want_ty && s == want_sub => 3,
                (t, "*") if t == want_ty => 2,
                ("*", "*") => 1,
                _ => continue,
            };
            if slot.is_none_or(|(s, _)| specificity > s) {
                *slot = Some((specificity, q));
            }
        }
    }
    let html = html.map_or(0, |(_, q)| q);
    let json = json.map_or(0, |(_, q)| q);
    match html.cmp(&json) {
        std::cmp::Ordering::Greater => Some(Format::Html),
        std::cmp::Ordering::Less => Some(Format::Json),
        std::cmp::Ordering::Equal => None,
    }
}

/// A quality value in thousandths (`1`, `0.8`, `0.125`); junk counts as 0.
fn quality(v: &str) -> u16 {
    let (whole, frac) = v.split_once('.').unwrap_or((v, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return 0;
    }
    let digits = format!("{frac:0<3}");
    match (whole, digits.parse::<u16>()) {
        ("1", Ok(0)) => 1000,
        ("0", Ok(n)) => n,
        _ => 0,
    }
}

/// Whether the client prefers JSON to HTML ([`negotiate`]).
pub(crate) fn wants_json(headers: &HeaderMap) -> bool {
    negotiate(headers) == Some(Format::Json)
}

/// Whether the client prefers HTML to JSON ([`negotiate`]): a browser.
pub(crate) fn wants_html(headers: &HeaderMap) -> bool {
    negotiate(headers) == Some(Format::Html)
}

/// Whether the request is a browser's top-level page navigation: by Fetch
/// Metadata (`Sec-Fetch-Mode: navigate` and `Sec-Fetch-Dest: document`)
/// when the browser sends it, else by `Accept` preferring HTML or naming
/// nothing (an older browser, a command-line client). A favicon, an
/// image, a script or a frame never is, nor a `/favicon.ico` or
/// `/robots.txt` fetch by path.
pub(crate) fn is_navigation<B>(req: &Request<B>) -> bool {
    let path = req.uri().path();
    if path.ends_with("/favicon.ico") || path.ends_with("/robots.txt") {
        return false;
    }
    let headers = req.headers();
    let mode = headers.get("sec-fetch-mode").map(HeaderValue::as_bytes);
    let dest = headers.get("sec-fetch-dest").map(HeaderValue::as_bytes);
    if mode.is_some() || dest.is_some() {
        return mode == Some(b"navigate") && dest.is_none_or(|d| d == b"document");
    }
    !wants_json(headers)
}

/// An HTML error page for a browser: the status, `message`, and a link
/// back to `back` (a path on this KB this crate built). Content Security
/// Policy without scripts, no framing, `no-store`.
pub(crate) fn html_error(status: StatusCode, message: &str, back: &str, back_text: &str) -> Response<Vec<u8>> {
    let e = crate::login_page::escape_html;
    let title = status.canonical_reason().unwrap_or("Error");
    let body = format!(
        concat!(
            "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n",
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n",
            "<title>{title}</title>\n<style>{css}</style>\n</head>\n<body>\n<main>\n",
            "<h1>{title}</h1>\n<p role=\"alert\">{message}</p>\n",
            "<p><a class=\"button\" href=\"{back}\">{back_text}</a></p>\n</main>\n</body>\n</html>\n"
        ),
        title = e(title),
        css = crate::login_page::PAGE_STYLE,
        message = e(message),
        back = e(back),
        back_text = e(back_text),
    );
    let mut resp = Response::new(body.into_bytes());
    *resp.status_mut() = status;
    html_headers(&mut resp);
    resp
}

/// The headers of every HTML page the KB site serves itself: type, no
/// framing, a Content Security Policy without scripts.
pub(crate) fn html_headers(resp: &mut Response<Vec<u8>>) {
    set(resp, header::CONTENT_TYPE, "text/html; charset=utf-8");
    set(resp, header::X_FRAME_OPTIONS, "DENY");
    set(
        resp,
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; img-src data:; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
    );
}

/// `resp` as a browser should see it: a JSON error (4xx or 5xx with an
/// `error_description`) becomes an [`html_error`] page with a way back to
/// `back`, when the request prefers HTML ([`negotiate`]). Headers the
/// answer set (`Allow`, `Retry-After`, cookies, `Cache-Control`) stay.
pub(crate) fn for_browser(
    headers: &HeaderMap,
    resp: Response<Vec<u8>>,
    back: &str,
    back_text: &str,
) -> Response<Vec<u8>> {
    let status = resp.status();
    let is_json_error = (status.is_client_error() || status.is_server_error())
        && resp
            .headers()
            .get(header::CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !is_json_error || !wants_html(headers) {
        return resp;
    }
    let description = serde_json::from_slice::<serde_json::Value>(resp.body())
        .ok()
        .and_then(|v| v.get("error_description").and_then(|d| d.as_str()).map(str::to_owned))
        .unwrap_or_else(|| "the request could not be completed".to_owned());
    let mut page = html_error(status, &sentence(&description), back, back_text);
    for (name, value) in resp.headers() {
        if !matches!(
            *name,
            header::CONTENT_TYPE | header::CONTENT_LENGTH | header::X_FRAME_OPTIONS | header::CONTENT_SECURITY_POLICY
        ) {
            page.headers_mut().append(name.clone(), value.clone());
        }
    }
    set(&mut page, header::VARY, "Accept");
    page
}

/// `text` with a capital first letter and a full stop.
fn sentence(text: &str) -> String {
    let mut chars = text.chars();
    let mut out: String = chars.next().map(|c| c.to_uppercase().collect()).unwrap_or_default();
    out.push_str(chars.as_str());
    if !out.ends_with('.') {
        out.push('.');
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    /// The session line written piece by piece is the one the attributes
    /// describe, for any `Max-Age`.
    #[test]
    fn the_session_cookie_line_has_every_attribute() {
        for secure in [false, true] {
            let jar = CookieJar::new(secure, "");
            let name = jar.session_name();
            let flag = if secure { "; Secure" } else { "" };
            for max_age in [0, 1, 9, 10, 86_400, -5, i64::MAX, i64::MIN] {
                assert_eq!(
                    jar.session("abc", max_age),
                    format!("{name}=abc; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{flag}")
                );
            }
        }
    }
}
