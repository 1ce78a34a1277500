//! The customer-app side of every flow (feature `http`).
//!
//! Nothing here sends anything: builders return `http::Request<Vec<u8>>`
//! values for whatever HTTP client the app uses, and parsers read the
//! `http::Response`s it gets back, as oauth2-rs does. What is sent is
//! checked first with the very rules the identity server applies, so a bad
//! request fails in the app, with a message, before it leaves.
//!
//! | flow | build | read the answer | then |
//! |---|---|---|---|
//! | code flow | [`CodeRequestBuilder`] | [`parse_code_response`] | redirect to [`authorize_url`] |
//! | handshake token | [`HandshakeClaimsBuilder`], [`HandshakeSigner`] | — | redirect to [`handshake_callback_url`] |
//! | widget | [`WidgetTokenRequestBuilder`] | [`parse_widget_token_response`] | answer the widget with [`WidgetAnswer`] |
//!
//! The KB sends the reader to the app's login URL with `redirectPath` and
//! a login binding `codeChallenge`; [`SignInRequest`] reads both, and
//! [`CodeRequestBuilder::for_sign_in`] returns the challenge with the code
//! request, so that the code opens a session only in the browser that asked
//! for it (no login CSRF, no code injection).
//!
//! ```
//! use kb_sso::client::{CodeRequestBuilder, SignInRequest, authorize_url};
//! use kb_sso::{ClientCredentials, ClientSecret};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // The query of the request that reached the app's login URL.
//! let sign_in = SignInRequest::from_query(
//!     "redirectPath=%2Fdocs%2Fsetup&codeChallenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
//! );
//! let credentials = ClientCredentials::new(
//!     "0b9f4c1e-5f7a-4c55-9d1e-3f1f2a6c7d80",
//!     ClientSecret::new("the-client-secret"),
//! );
//! let url = "https://kb.example.com/api/jwt/generate-code";
//! let request = CodeRequestBuilder::for_sign_in(url, credentials, &sign_in)
//!     .username("john.doe")
//!     .first_name("John")
//!     .last_name("Doe")
//!     .email("john.doe@example.com")
//!     .reader_groups(["group1"])
//!     .token_validity_minutes(15)
//!     .build()?;
//! assert_eq!(request.method(), http::Method::POST);
//! assert!(std::str::from_utf8(request.body())?.contains("codeChallenge"));
//! // ... send it, then: let code = kb_sso::client::parse_code_response(&response)?;
//! // and redirect the reader to authorize_url(&kb, &code, sign_in.redirect_path()).
//! # Ok(())
//! # }
//! ```

use std::fmt;

use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::{Duration, OffsetDateTime};
use url::Url;

use crate::code::{AuthCode, CodeRequest};
use crate::config::check_url;
use crate::jose::{KeyError, SignError, SigningKey, TokenSigner, VerificationKey};
use crate::reader::PayloadError;
use crate::redirect::append_query;
use crate::secret::{ClientCredentials, ClientSecret, random_token};
use crate::widget::{WIDGET_GRANT_TYPE, WidgetError, WidgetPayload, WidgetTokenResponse};

/// How long a handshake token lives unless set otherwise: it is a
/// handshake, not a session.
pub const DEFAULT_HANDSHAKE_LIFETIME: Duration = Duration::seconds(60);

/// The longest handshake token lifetime that can be set.
pub const MAX_HANDSHAKE_LIFETIME: Duration = Duration::hours(1);

/// The longest code accepted from the identity server, in bytes.
pub const MAX_RECEIVED_CODE_LEN: usize = 512;

/// The longest `error` / `error_description` kept from a refusal, in
/// characters.
const MAX_ERROR_TEXT_CHARS: usize = 256;

/// Claims the [`HandshakeSigner`] sets itself.
const RESERVED_CLAIMS: [&str; 6] = ["iat", "exp", "nbf", "jti", "aud", "iss"];

/// Why a customer-app request could not be built or an answer not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// An endpoint or base URL is not an absolute http(s) URL.
    #[error("the {what} is not usable: {reason}")]
    InvalidUrl {
        /// Which URL.
        what: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The code request would be refused by the identity server.
    #[error(transparent)]
    InvalidCodeRequest(PayloadError),
    /// The widget token request would be refused by the identity server.
    #[error(transparent)]
    InvalidWidgetRequest(WidgetError),
    /// A header value could not be built (for example, a client id with
    /// control characters).
    #[error("the HTTP request could not be built")]
    Request,
    /// The signing key is not usable.
    #[error("the signing key is not usable")]
    Key(#[source] KeyError),
    /// The handshake token could not be signed.
    #[error("the handshake token could not be signed")]
    Sign(#[source] SignError),
    /// A custom claim uses a name the signer sets itself (`iat`, `exp`,
    /// `nbf`, `jti`, `aud`, `iss`).
    #[error("`{0}` is set by the signer; use the builder's method for it")]
    ReservedClaim(String),
    /// The server answered with an error.
    #[error("the server refused the request (HTTP {status})")]
    Refused {
        /// The HTTP status.
        status: u16,
        /// The OAuth `error` code, if the body carried one (control
        /// characters removed, at most 256 characters).
        error: Option<String>,
        /// The `error_description`, if any (same cleaning).
        description: Option<String>,
    },
    /// A success answer that is not what the flow returns.
    #[error("the server's answer is not usable: {0}")]
    InvalidResponse(&'static str),
}

fn endpoint(text: &str, what: &'static str) -> Result<Url, ClientError> {
    check_url(text).map_err(|reason| ClientError::InvalidUrl { what, reason })
}

/// `base` with its path extended by `path` (`/kb` + `/jwt/authorize`), its
/// query and fragment removed.
fn at_path(base: &Url, path: &str) -> Url {
    let mut url = base.clone();
    let joined = format!("{}{path}", base.path().trim_end_matches('/'));
    url.set_path(&joined);
    url.set_query(None);
    url.set_fragment(None);
    url
}

/// A `POST` with Basic credentials, a body and its content type.
fn post(
    url: &Url,
    credentials: &ClientCredentials,
    content_type: &'static str,
    body: Vec<u8>,
) -> Result<Request<Vec<u8>>, ClientError> {
    let mut authorization =
        HeaderValue::from_str(credentials.to_basic_header().as_str()).map_err(|_| ClientError::Request)?;
    authorization.set_sensitive(true);
    Request::builder()
        .method(Method::POST)
        .uri(url.as_str())
        .header(header::AUTHORIZATION, authorization)
        .header(header::CONTENT_TYPE, content_type)
        .header(header::ACCEPT, "application/json")
        .body(body)
        .map_err(|_| ClientError::Request)
}

/// Reads a JSON success body as `T`, or the OAuth error of a failure.
fn read_answer<T, B>(response: &Response<B>) -> Result<T, ClientError>
where
    T: serde::de::DeserializeOwned,
    B: AsRef<[u8]>,
{
    let status = response.status();
    if !status.is_success() {
        return Err(refusal(status, response.body().as_ref()));
    }
    serde_json::from_slice(response.body().as_ref())
        .map_err(|_| ClientError::InvalidResponse("the body is not the expected JSON object"))
}

fn refusal(status: StatusCode, body: &[u8]) -> ClientError {
    #[derive(Deserialize)]
    struct OAuthError {
        error: Option<Value>,
        error_description: Option<Value>,
    }
    let clean = |v: Option<Value>| match v {
        Some(Value::String(s)) => {
            let s: String = s
                .chars()
                .filter(|c| !c.is_control())
                .take(MAX_ERROR_TEXT_CHARS)
                .collect();
            (!s.is_empty()).then_some(s)
        }
        _ => None,
    };
    let parsed = serde_json::from_slice::<OAuthError>(body).ok();
    let (error, description) = match parsed {
        Some(e) => (clean(e.error), clean(e.error_description)),
        None => (None, None),
    };
    ClientError::Refused {
        status: status.as_u16(),
        error,
        description,
    }
}

// ---------------------------------------------------------------------------
// The code flow
// ---------------------------------------------------------------------------

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CodeRequestBody<'a> {
    username: &'a str,
    first_name: &'a str,
    last_name: &'a str,
    email_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    reader_group_ids: Option<&'a [String]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    token_validity: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    code_challenge: Option<&'a str>,
}

/// What the KB passed to the customer app's login URL: where the reader was
/// going (`redirectPath`, also read as `RedirectPath`) and the login
/// binding challenge (`codeChallenge`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SignInRequest {
    redirect_path: Option<String>,
    code_challenge: Option<String>,
}

impl SignInRequest {
    /// Reads the query string of the request that reached the login URL
    /// (without the leading `?`). Empty values count as absent; nothing is
    /// checked here: the identity server checks the challenge's shape and
    /// the KB checks the path.
    pub fn from_query(query: &str) -> Self {
        let mut out = Self::default();
        for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
            if v.is_empty() {
                continue;
            }
            match k.as_ref() {
                "redirectPath" | "RedirectPath" => out.redirect_path = Some(v.into_owned()),
                "codeChallenge" => out.code_challenge = Some(v.into_owned()),
                _ => {}
            }
        }
        out
    }

    /// Reads the query of `url`, the full URL that reached the login URL.
    pub fn from_url(url: &Url) -> Self {
        Self::from_query(url.query().unwrap_or(""))
    }

    /// The page the reader asked for on the KB, to return as `redirectUrl`
    /// ([`authorize_url`]).
    pub fn redirect_path(&self) -> Option<&str> {
        self.redirect_path.as_deref()
    }

    /// The login binding challenge, returned in the code request by
    /// [`CodeRequestBuilder::for_sign_in`].
    pub fn code_challenge(&self) -> Option<&str> {
        self.code_challenge.as_deref()
    }
}

/// Builds the code request: `POST` to the code generation URL with Basic
/// credentials and the reader's identity as JSON.
///
/// Made with [`for_sign_in`](Self::for_sign_in), it returns the KB's login
/// binding challenge, which ties the code to the reader's browser; a code
/// requested with [`unbound`](Self::unbound) can be redeemed in any browser,
/// so an attacker who gets one for their own account can sign a victim in
/// to it (login CSRF).
#[derive(Debug, Clone)]
pub struct CodeRequestBuilder {
    url: String,
    credentials: ClientCredentials,
    username: String,
    first_name: String,
    last_name: String,
    email: String,
    reader_groups: Option<Vec<String>>,
    token_validity_minutes: Option<i64>,
    code_challenge: Option<String>,
}

impl CodeRequestBuilder {
    /// A request to `code_generation_url` with the configuration's client
    /// id and secret (primary or secondary), for the reader who arrived
    /// with `sign_in`: the code is bound to the reader's browser when the KB
    /// sent a `codeChallenge` (every kb-sso KB does).
    pub fn for_sign_in(
        code_generation_url: impl Into<String>,
        credentials: ClientCredentials,
        sign_in: &SignInRequest,
    ) -> Self {
        let mut builder = Self::unbound(code_generation_url, credentials);
        builder.code_challenge = sign_in.code_challenge.clone();
        builder
    }

    /// A request whose code is not bound to a browser, as in the spec's own
    /// samples. Prefer [`for_sign_in`](Self::for_sign_in): an unbound code
    /// signs in whichever browser brings it to the KB.
    pub fn unbound(code_generation_url: impl Into<String>, credentials: ClientCredentials) -> Self {
        Self {
            url: code_generation_url.into(),
            credentials,
            username: String::new(),
            first_name: String::new(),
            last_name: String::new(),
            email: String::new(),
            reader_groups: None,
            token_validity_minutes: None,
            code_challenge: None,
        }
    }

    /// The reader's username (required): the token's `sub`.
    #[must_use]
    pub fn username(mut self, username: impl Into<String>) -> Self {
        self.username = username.into();
        self
    }

    /// The reader's first name.
    #[must_use]
    pub fn first_name(mut self, first_name: impl Into<String>) -> Self {
        self.first_name = first_name.into();
        self
    }

    /// The reader's last name.
    #[must_use]
    pub fn last_name(mut self, last_name: impl Into<String>) -> Self {
        self.last_name = last_name.into();
        self
    }

    /// The reader's email address (required), sent as `emailId`.
    #[must_use]
    pub fn email(mut self, email: impl Into<String>) -> Self {
        self.email = email.into();
        self
    }

    /// Reader group ids, sent as `readerGroupIds`.
    #[must_use]
    pub fn reader_groups<I, S>(mut self, groups: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.reader_groups
            .get_or_insert_with(Vec::new)
            .extend(groups.into_iter().map(Into::into));
        self
    }

    /// `tokenValidity` in **minutes**; the identity server clamps it to
    /// 5..=1440 (default 15 when not set).
    #[must_use]
    pub fn token_validity_minutes(mut self, minutes: i64) -> Self {
        self.token_validity_minutes = Some(minutes);
        self
    }

    /// The JSON body as the identity server will read it.
    fn body(&self) -> Result<Vec<u8>, ClientError> {
        let body = serde_json::to_vec(&CodeRequestBody {
            username: &self.username,
            first_name: &self.first_name,
            last_name: &self.last_name,
            email_id: &self.email,
            reader_group_ids: self.reader_groups.as_deref(),
            token_validity: self.token_validity_minutes,
            code_challenge: self.code_challenge.as_deref(),
        })
        .map_err(|_| ClientError::Request)?;
        CodeRequest::from_json(&body).map_err(ClientError::InvalidCodeRequest)?;
        Ok(body)
    }

    /// Checks the payload with the identity server's own rules
    /// ([`CodeRequest::from_json`]) and builds the `POST`.
    ///
    /// # Errors
    /// [`ClientError::InvalidUrl`], [`ClientError::InvalidCodeRequest`]
    /// naming the field, or [`ClientError::Request`].
    pub fn build(&self) -> Result<Request<Vec<u8>>, ClientError> {
        let url = endpoint(&self.url, "code generation URL")?;
        let body = self.body()?;
        post(&url, &self.credentials, "application/json", body)
    }
}

/// Reads the identity server's answer to a code request: `{"code": "..."}`.
///
/// # Errors
/// [`ClientError::Refused`] with the OAuth error for a non-2xx answer;
/// [`ClientError::InvalidResponse`] for a success without a usable code.
pub fn parse_code_response<B: AsRef<[u8]>>(response: &Response<B>) -> Result<AuthCode, ClientError> {
    #[derive(Deserialize)]
    struct CodeAnswer {
        code: String,
    }
    let answer: CodeAnswer = read_answer(response)?;
    let code = answer.code;
    if code.is_empty()
        || code.len() > MAX_RECEIVED_CODE_LEN
        || code.chars().any(|c| c.is_control() || c.is_whitespace())
    {
        return Err(ClientError::InvalidResponse("the code is empty or malformed"));
    }
    Ok(AuthCode::received(code))
}

/// The KB's callback for a code: `<kb>/jwt/authorize?code=...`, with
/// `redirectUrl` set to the `redirectPath` the KB sent to the login URL
/// (omitted when `None` or empty). The KB checks the path itself; anything
/// that is not a path on the KB lands on its home page.
pub fn authorize_url(kb_base_url: &Url, code: &AuthCode, redirect_path: Option<&str>) -> Url {
    let url = at_path(kb_base_url, crate::paths::AUTHORIZE);
    let mut pairs = vec![("code", code.expose())];
    if let Some(path) = redirect_path.filter(|p| !p.is_empty()) {
        pairs.push(("redirectUrl", path));
    }
    append_query(&url, &pairs)
}

// ---------------------------------------------------------------------------
// Handshake tokens
// ---------------------------------------------------------------------------

/// The claims of a handshake token, for either spec:
///
/// - helpsite-jwt: [`subject`](Self::subject) (`sub`), [`email`](Self::email),
///   [`name`](Self::name), [`given_name`](Self::given_name),
///   [`family_name`](Self::family_name), [`groups`](Self::groups);
/// - documentation-ai-jwt: [`host`](Self::host),
///   [`firstname`](Self::firstname), [`lastname`](Self::lastname),
///   [`company`](Self::company), [`access_roles`](Self::access_roles)
///   (`accessRoles`, `["*"]` = every group);
///
/// plus any [`claim`](Self::claim). The [`HandshakeSigner`] adds `iat` (now),
/// `exp` (now + [`lifetime`](Self::lifetime), default 60 s), a random `jti`
/// (unless [`without_jti`](Self::without_jti)), and `aud` / `iss` when set.
#[derive(Debug, Clone)]
pub struct HandshakeClaimsBuilder {
    claims: Map<String, Value>,
    audiences: Vec<String>,
    issuer: Option<String>,
    lifetime: Duration,
    jti: bool,
}

impl Default for HandshakeClaimsBuilder {
    fn default() -> Self {
        Self {
            claims: Map::new(),
            audiences: Vec::new(),
            issuer: None,
            lifetime: DEFAULT_HANDSHAKE_LIFETIME,
            jti: true,
        }
    }
}

impl HandshakeClaimsBuilder {
    /// No claims yet; 60 s lifetime; random `jti`.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    fn string(mut self, name: &str, value: impl Into<String>) -> Self {
        self.claims.insert(name.to_owned(), Value::String(value.into()));
        self
    }

    fn strings<I, S>(mut self, name: &str, values: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let list = values.into_iter().map(|s| Value::String(s.into())).collect();
        self.claims.insert(name.to_owned(), Value::Array(list));
        self
    }

    /// `sub`: the reader's id in the customer app.
    #[must_use]
    pub fn subject(self, sub: impl Into<String>) -> Self {
        self.string("sub", sub)
    }

    /// `email`.
    #[must_use]
    pub fn email(self, email: impl Into<String>) -> Self {
        self.string("email", email)
    }

    /// `name`.
    #[must_use]
    pub fn name(self, name: impl Into<String>) -> Self {
        self.string("name", name)
    }

    /// `groups`: reader group ids.
    #[must_use]
    pub fn groups<I, S>(self, groups: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.strings("groups", groups)
    }

    /// `given_name` (OpenID Connect spelling of the first name).
    #[must_use]
    pub fn given_name(self, given_name: impl Into<String>) -> Self {
        self.string("given_name", given_name)
    }

    /// `family_name` (OpenID Connect spelling of the last name).
    #[must_use]
    pub fn family_name(self, family_name: impl Into<String>) -> Self {
        self.string("family_name", family_name)
    }

    /// `lastname`.
    #[must_use]
    pub fn lastname(self, lastname: impl Into<String>) -> Self {
        self.string("lastname", lastname)
    }

    /// `host`: the docs site's host name.
    #[must_use]
    pub fn host(self, host: impl Into<String>) -> Self {
        self.string("host", host)
    }

    /// `firstname`.
    #[must_use]
    pub fn firstname(self, firstname: impl Into<String>) -> Self {
        self.string("firstname", firstname)
    }

    /// `company`.
    #[must_use]
    pub fn company(self, company: impl Into<String>) -> Self {
        self.string("company", company)
    }

    /// `accessRoles`: role names; `["*"]` grants every group.
    #[must_use]
    pub fn access_roles<I, S>(self, roles: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.strings("accessRoles", roles)
    }

    /// Any other claim. The names the signer sets (`iat`, `exp`, `nbf`,
    /// `jti`, `aud`, `iss`) are refused when signing.
    #[must_use]
    pub fn claim(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.claims.insert(name.into(), value.into());
        self
    }

    /// Adds an accepted audience (`aud`): one gives a string, several an
    /// array.
    #[must_use]
    pub fn audience(mut self, aud: impl Into<String>) -> Self {
        self.audiences.push(aud.into());
        self
    }

    /// `iss`.
    #[must_use]
    pub fn issuer(mut self, iss: impl Into<String>) -> Self {
        self.issuer = Some(iss.into());
        self
    }

    /// `exp - iat`, bounded to 1 second ..= [`MAX_HANDSHAKE_LIFETIME`]
    /// (default [`DEFAULT_HANDSHAKE_LIFETIME`]).
    #[must_use]
    pub fn lifetime(mut self, lifetime: Duration) -> Self {
        self.lifetime = lifetime.clamp(Duration::SECOND, MAX_HANDSHAKE_LIFETIME);
        self
    }

    /// Leaves out `jti`. With a `jti` (the default) the KB accepts the token
    /// once.
    #[must_use]
    pub fn without_jti(mut self) -> Self {
        self.jti = false;
        self
    }

    /// The full claims as of `now`.
    fn at(&self, now: OffsetDateTime) -> Result<Map<String, Value>, ClientError> {
        if let Some(name) = self.claims.keys().find(|k| RESERVED_CLAIMS.contains(&k.as_str())) {
            return Err(ClientError::ReservedClaim(name.clone()));
        }
        let mut claims = self.claims.clone();
        let iat = now.unix_timestamp();
        claims.insert("iat".into(), iat.into());
        claims.insert("exp".into(), (iat + self.lifetime.whole_seconds()).into());
        if self.jti {
            claims.insert("jti".into(), random_token().to_string().into());
        }
        match self.audiences.as_slice() {
            [] => {}
            [one] => {
                claims.insert("aud".into(), one.clone().into());
            }
            many => {
                claims.insert("aud".into(), many.to_vec().into());
            }
        }
        if let Some(iss) = &self.issuer {
            claims.insert("iss".into(), iss.clone().into());
        }
        Ok(claims)
    }
}

/// Signs handshake tokens for a customer app, with the key the KB holds the
/// other half of: HS256 with the configuration's secret (its ASCII text, as
/// shown to the admin), or EdDSA with an Ed25519 private key.
///
/// Tokens carry `kid` in their header: use the configuration's client id,
/// or the key id the KB's handshake settings name for the key.
#[derive(Debug)]
pub struct HandshakeSigner {
    signer: TokenSigner,
}

impl HandshakeSigner {
    /// HS256 with `secret`'s text as key.
    ///
    /// # Errors
    /// [`ClientError::Key`] for a bad key id or a secret under 32 bytes.
    pub fn hs256(kid: impl Into<String>, secret: &ClientSecret) -> Result<Self, ClientError> {
        SigningKey::hs256(kid, secret.expose().as_bytes())
            .map(Self::new)
            .map_err(ClientError::Key)
    }

    /// EdDSA with a PKCS#8 PEM Ed25519 private key
    /// (`-----BEGIN PRIVATE KEY-----`), as the KB's dashboard hands it out.
    ///
    /// # Errors
    /// [`ClientError::Key`] for a bad key id or PEM text.
    pub fn ed25519_from_pkcs8_pem(kid: impl Into<String>, pem: &str) -> Result<Self, ClientError> {
        SigningKey::ed25519_from_pkcs8_pem(kid, pem)
            .map(Self::new)
            .map_err(ClientError::Key)
    }

    /// A signer with `key`.
    #[must_use]
    pub fn new(key: SigningKey) -> Self {
        Self {
            signer: TokenSigner::new(key),
        }
    }

    /// The key that verifies this signer's tokens (for HS256 it holds the
    /// secret: keep it private).
    #[must_use]
    pub fn verification_key(&self) -> VerificationKey {
        self.signer.key().verification_key()
    }

    /// Signs `claims` as of `now`.
    ///
    /// # Errors
    /// [`ClientError::ReservedClaim`] for a custom claim the signer sets;
    /// [`ClientError::Sign`] if signing fails (for example, claims too
    /// large).
    pub fn sign(&self, claims: &HandshakeClaimsBuilder, now: OffsetDateTime) -> Result<String, ClientError> {
        let claims = claims.at(now)?;
        self.signer.sign(&claims).map_err(ClientError::Sign)
    }
}

/// The KB's handshake callback: `<kb>/api/auth/jwt/callback?token=...`,
/// with `redirect` when given and not empty. The KB checks the path itself.
pub fn handshake_callback_url(kb_base_url: &Url, token: &str, redirect: Option<&str>) -> Url {
    let url = at_path(kb_base_url, crate::paths::HANDSHAKE_CALLBACK);
    let mut pairs = vec![("token", token)];
    if let Some(path) = redirect.filter(|p| !p.is_empty()) {
        pairs.push(("redirect", path));
    }
    append_query(&url, &pairs)
}

// ---------------------------------------------------------------------------
// The widget flow
// ---------------------------------------------------------------------------

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WidgetPayloadBody<'a> {
    username: &'a str,
    first_name: &'a str,
    last_name: &'a str,
    email_id: &'a str,
    reader_group_ids: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    token_validity: Option<i64>,
    widget_id: &'a str,
    project_id: &'a str,
}

/// Builds the widget token request as the spec's C# sample sends it: a
/// form `POST` with `grant_type=Widget`, the JSON `payload` and `id` (the
/// project id), credentials in a Basic header.
#[derive(Debug, Clone)]
pub struct WidgetTokenRequestBuilder {
    url: String,
    credentials: ClientCredentials,
    widget_id: String,
    username: String,
    first_name: String,
    last_name: String,
    email: String,
    reader_groups: Vec<String>,
    token_validity_seconds: Option<i64>,
}

impl WidgetTokenRequestBuilder {
    /// A request to `token_endpoint` for widget `widget_id`. The
    /// credentials' client id is the project id; the secret is the
    /// project's widget client secret.
    pub fn new(
        token_endpoint: impl Into<String>,
        credentials: ClientCredentials,
        widget_id: impl Into<String>,
    ) -> Self {
        Self {
            url: token_endpoint.into(),
            credentials,
            widget_id: widget_id.into(),
            username: String::new(),
            first_name: String::new(),
            last_name: String::new(),
            email: String::new(),
            reader_groups: Vec::new(),
            token_validity_seconds: None,
        }
    }

    /// The reader's username (required).
    #[must_use]
    pub fn username(mut self, username: impl Into<String>) -> Self {
        self.username = username.into();
        self
    }

    /// The reader's first name.
    #[must_use]
    pub fn first_name(mut self, first_name: impl Into<String>) -> Self {
        self.first_name = first_name.into();
        self
    }

    /// The reader's last name.
    #[must_use]
    pub fn last_name(mut self, last_name: impl Into<String>) -> Self {
        self.last_name = last_name.into();
        self
    }

    /// The reader's email address (required), sent as `emailId`.
    #[must_use]
    pub fn email(mut self, email: impl Into<String>) -> Self {
        self.email = email.into();
        self
    }

    /// Reader group ids (at least one is required).
    #[must_use]
    pub fn reader_groups<I, S>(mut self, groups: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.reader_groups.extend(groups.into_iter().map(Into::into));
        self
    }

    /// `tokenValidity` in **seconds**; the identity server clamps it to
    /// 300..=86400 (default 900 when not set).
    #[must_use]
    pub fn token_validity_seconds(mut self, seconds: i64) -> Self {
        self.token_validity_seconds = Some(seconds);
        self
    }

    /// The form body as the identity server will read it.
    fn body(&self) -> Result<Vec<u8>, ClientError> {
        let project_id = self.credentials.client_id.as_str();
        let payload = serde_json::to_string(&WidgetPayloadBody {
            username: &self.username,
            first_name: &self.first_name,
            last_name: &self.last_name,
            email_id: &self.email,
            reader_group_ids: &self.reader_groups,
            token_validity: self.token_validity_seconds,
            widget_id: &self.widget_id,
            project_id,
        })
        .map_err(|_| ClientError::Request)?;
        WidgetPayload::from_json(payload.as_bytes()).map_err(ClientError::InvalidWidgetRequest)?;
        Ok(url::form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", WIDGET_GRANT_TYPE)
            .append_pair("payload", &payload)
            .append_pair("id", project_id)
            .finish()
            .into_bytes())
    }

    /// Checks the payload with the identity server's own rules
    /// ([`WidgetPayload::from_json`]) and builds the `POST`.
    ///
    /// # Errors
    /// [`ClientError::InvalidUrl`], [`ClientError::InvalidWidgetRequest`]
    /// naming the problem, or [`ClientError::Request`].
    pub fn build(&self) -> Result<Request<Vec<u8>>, ClientError> {
        let url = endpoint(&self.url, "widget token endpoint")?;
        let body = self.body()?;
        post(&url, &self.credentials, "application/x-www-form-urlencoded", body)
    }
}

/// Reads the identity server's answer to a widget token request:
/// `{"access_token", "token_type": "Bearer", "expires_in"}`.
///
/// # Errors
/// [`ClientError::Refused`] with the OAuth error for a non-2xx answer;
/// [`ClientError::InvalidResponse`] for a success that is not a bearer
/// token with a positive lifetime.
pub fn parse_widget_token_response<B: AsRef<[u8]>>(response: &Response<B>) -> Result<WidgetTokenResponse, ClientError> {
    let answer: WidgetTokenResponse = read_answer(response)?;
    if answer.access_token.is_empty() || !answer.token_type.eq_ignore_ascii_case("bearer") {
        return Err(ClientError::InvalidResponse("not a bearer token"));
    }
    if answer.expires_in <= 0 {
        return Err(ClientError::InvalidResponse("expires_in is not positive"));
    }
    Ok(answer)
}

/// What the customer's backend answers the widget:
/// `{"accessToken": "...", "expiresIn": 900}`, the field names of the spec's
/// C# sample and Postman check. `Debug` redacts the token.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WidgetAnswer {
    /// The widget access token.
    pub access_token: String,
    /// Seconds until it expires.
    pub expires_in: i64,
}

impl fmt::Debug for WidgetAnswer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WidgetAnswer")
            .field("access_token", &"[redacted]")
            .field("expires_in", &self.expires_in)
            .finish()
    }
}

impl From<WidgetTokenResponse> for WidgetAnswer {
    fn from(r: WidgetTokenResponse) -> Self {
        Self {
            access_token: r.access_token,
            expires_in: r.expires_in,
        }
    }
}

impl WidgetAnswer {
    /// A 200 JSON response carrying this answer, with
    /// `Cache-Control: no-store` and `Pragma: no-cache` (RFC 6749 5.1).
    #[must_use]
    pub fn to_response(&self) -> Response<Vec<u8>> {
        let mut resp = Response::new(serde_json::to_vec(self).unwrap_or_default());
        let headers = resp.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        resp
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn json_response(status: u16, body: &str) -> Response<Vec<u8>> {
        let mut r = Response::new(body.as_bytes().to_vec());
        *r.status_mut() = StatusCode::from_u16(status).unwrap();
        r
    }

    #[test]
    fn paths_keep_the_base_prefix_and_drop_its_query() {
        let base = Url::parse("https://kb.example.com/docs/?x=1#f").unwrap();
        assert_eq!(
            at_path(&base, "/jwt/authorize").as_str(),
            "https://kb.example.com/docs/jwt/authorize"
        );
        let root = Url::parse("https://kb.example.com").unwrap();
        assert_eq!(
            at_path(&root, crate::paths::HANDSHAKE_CALLBACK).as_str(),
            "https://kb.example.com/api/auth/jwt/callback"
        );
    }

    #[test]
    fn refusals_keep_the_oauth_error_cleaned_and_bounded() {
        let long = "x".repeat(1000);
        let body = format!(r#"{{"error":"invalid_client\u0007","error_description":"{long}"}}"#);
        match refusal(StatusCode::UNAUTHORIZED, body.as_bytes()) {
            ClientError::Refused {
                status,
                error,
                description,
            } => {
                assert_eq!(status, 401);
                assert_eq!(error.as_deref(), Some("invalid_client"));
                assert_eq!(description.unwrap().chars().count(), MAX_ERROR_TEXT_CHARS);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            refusal(StatusCode::BAD_GATEWAY, b"<html>"),
            ClientError::Refused {
                status: 502,
                error: None,
                description: None
            }
        );
    }

    #[test]
    fn received_codes_must_be_plain_text() {
        for bad in [
            r#"{"code":""}"#,
            r#"{"code":"a b"}"#,
            r#"{"code":"a\nb"}"#,
            r#"{"nocode":"x"}"#,
            "not json",
        ] {
            assert!(
                matches!(
                    parse_code_response(&json_response(200, bad)),
                    Err(ClientError::InvalidResponse(_))
                ),
                "{bad}"
            );
        }
        let too_long = format!(r#"{{"code":"{}"}}"#, "a".repeat(MAX_RECEIVED_CODE_LEN + 1));
        assert!(parse_code_response(&json_response(200, &too_long)).is_err());
        let ok = parse_code_response(&json_response(200, r#"{"code":"abc","x":1}"#)).unwrap();
        assert_eq!(ok.expose(), "abc");
    }

    #[test]
    fn reserved_claims_are_refused_and_lifetime_is_bounded() {
        let signer = HandshakeSigner::new(SigningKey::generate_ed25519("k").unwrap());
        let now = OffsetDateTime::from_unix_timestamp(1_767_225_600).unwrap();
        for name in RESERVED_CLAIMS {
            assert_eq!(
                signer
                    .sign(&HandshakeClaimsBuilder::new().claim(name, 1), now)
                    .unwrap_err(),
                ClientError::ReservedClaim(name.to_owned())
            );
        }
        let c = HandshakeClaimsBuilder::new()
            .lifetime(Duration::days(3))
            .at(now)
            .unwrap();
        assert_eq!(c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(), 3600);
        let c = HandshakeClaimsBuilder::new().lifetime(Duration::ZERO).at(now).unwrap();
        assert_eq!(c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(), 1);
        let c = HandshakeClaimsBuilder::new()
            .audience("a")
            .audience("b")
            .without_jti()
            .at(now)
            .unwrap();
        assert_eq!(c["aud"], serde_json::json!(["a", "b"]));
        assert!(!c.contains_key("jti"));
    }
}
