//! A blocking HTTP client (ureq, rustls for `https://` KBs) that never
//! treats a status as an error and never follows a redirect: the commands
//! read every answer themselves.

use std::time::Duration;

use crate::out::Failure;

/// Largest response body read (1 MiB).
const MAX_BODY: u64 = 1024 * 1024;

/// An answer: status, headers and body.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) headers: http::HeaderMap,
    pub(crate) body: Vec<u8>,
}

impl Answer {
    /// The body as JSON, if it is.
    pub(crate) fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// The body as text (lossy).
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// An OAuth-style error body's `error` code.
    pub(crate) fn error_code(&self) -> Option<String> {
        self.json()
            .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_owned))
    }

    /// An OAuth-style error body's `error_description`.
    pub(crate) fn error_description(&self) -> Option<String> {
        self.json()
            .and_then(|v| v.get("error_description").and_then(|e| e.as_str()).map(str::to_owned))
    }

    /// A header's value as text.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// The client: 10 s timeout, no redirects, statuses as answers.
pub(crate) fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(Duration::from_secs(10)))
        .user_agent(concat!("kb-sso/", env!("CARGO_PKG_VERSION")))
        .build()
        .new_agent()
}

/// Sends `request` and reads the whole answer.
///
/// # Errors
/// [`Failure::io`] naming the URL when nothing answers (refused, name not
/// found, TLS, timeout).
pub(crate) fn send(agent: &ureq::Agent, request: http::Request<Vec<u8>>) -> Result<Answer, Failure> {
    let url = request.uri().to_string();
    let mut response = agent.run(request).map_err(|e| unreachable(&url, &e))?;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response
        .body_mut()
        .with_config()
        .limit(MAX_BODY)
        .read_to_vec()
        .map_err(|e| unreachable(&url, &e))?;
    Ok(Answer { status, headers, body })
}

/// `GET url`.
///
/// # Errors
/// As [`send`]; [`Failure::usage`] for a URL that does not parse.
pub(crate) fn get(agent: &ureq::Agent, url: &str, bearer: Option<&str>) -> Result<Answer, Failure> {
    request(agent, "GET", url, bearer, None)
}

/// A request with an optional bearer token and JSON body.
///
/// # Errors
/// As [`send`]; [`Failure::usage`] for a URL that does not parse.
pub(crate) fn request(
    agent: &ureq::Agent,
    method: &str,
    url: &str,
    bearer: Option<&str>,
    json: Option<&serde_json::Value>,
) -> Result<Answer, Failure> {
    let mut builder = http::Request::builder().method(method).uri(url);
    if let Some(token) = bearer {
        builder = builder.header(http::header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let body = match json {
        Some(value) => {
            builder = builder.header(http::header::CONTENT_TYPE, "application/json");
            value.to_string().into_bytes()
        }
        None => Vec::new(),
    };
    let request = builder
        .body(body)
        .map_err(|e| Failure::usage(format!("{url}: not a URL: {e}")))?;
    send(agent, request)
}

/// The message for a KB that did not answer.
fn unreachable(url: &str, error: &ureq::Error) -> Failure {
    Failure::io(format!("cannot reach {url}: {error}"))
}
