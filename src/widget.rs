//! The widget flow: the customer's backend asks the identity server for an

use std::borrow::Borrow;
use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use time::{Duration, OffsetDateTime};

use crate::clock::Clock;
use crate::form::{non_empty, parse_form};
use crate::jose::{KeySet, MAX_NUMERIC_DATE, SignError, TokenSigner, TokenType, Validation, Verifier, VerifyError};
use crate::reader::{PayloadError, ReaderIdentity, describe_json_error, parse_validity};
use crate::secret::{
    ClientCredentials, ClientSecret, CredentialsError, SecretDigest, presented_digest, random_token,
    stored_digest_matches,
};

/// The type (`typ` header) of a widget access token: `kb-sso.widget+jwt`.
/// Its verifiers require it, so no other kind of token signed by the same
/// key passes for a widget token, nor a widget token for another kind.
pub const WIDGET_TOKEN_TYPE: TokenType = TokenType::new("kb-sso.widget+jwt");
use crate::validity::{TokenValidity, ValidityBand};

/// The `grant_type` of a widget token request.
pub const WIDGET_GRANT_TYPE: &str = "Widget";

/// The longest project id or widget id, in bytes.
pub const MAX_ID_LEN: usize = 128;

/// The largest `payload` form field accepted, in bytes.
pub const MAX_PAYLOAD_BYTES: usize = 16 * 1024;

/// The suffix of the widget audience: tokens are issued for
/// `<issuer>/widget`.
pub const WIDGET_AUDIENCE_SUFFIX: &str = "/widget";

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

/// Why a project id or widget id is refused when a [`WidgetProject`] is set
/// up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WidgetSetupError {
    /// The project id is empty, longer than [`MAX_ID_LEN`], or not visible
    /// ASCII.
    #[error("the project id must be 1 to {MAX_ID_LEN} visible ASCII characters")]
    InvalidProjectId,
    /// A widget id is empty, longer than [`MAX_ID_LEN`], or not visible
    /// ASCII.
    #[error("a widget id must be 1 to {MAX_ID_LEN} visible ASCII characters")]
    InvalidWidgetId,
}

/// Why a widget token request is refused.
///
/// [`oauth_error`](Self::oauth_error) and [`status`](Self::status) give the
/// OAuth `error` code and the HTTP status; `Display` is the
/// `error_description`. No message echoes request values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WidgetError {
    /// A form parameter is given more than once (RFC 6749 section 3.2).
    #[error("a request parameter is given more than once")]
    DuplicateParameter,
    /// A required form parameter is missing or empty.
    #[error("`{0}` is missing")]
    MissingParameter(&'static str),
    /// `grant_type` is not `Widget`.
    #[error("grant_type must be `Widget`")]
    UnsupportedGrantType,
    /// Neither a Basic header nor `client_id` and `client_secret`.
    #[error("client authentication is required (HTTP Basic, or client_id and client_secret)")]
    MissingClientAuthentication,
    /// The Basic header is malformed, given twice, or `client_id` and
    /// `client_secret` do not come together.
    #[error("the client credentials are malformed")]
    MalformedClientAuthentication,
    /// Credentials in a Basic header and in the form at once.
    #[error("use one client authentication method, not two")]
    MultipleClientAuthentication,
    /// Unknown project id or wrong secret; the two are not told apart.
    #[error("client authentication failed")]
    InvalidClient,
    /// The `payload` exceeds [`MAX_PAYLOAD_BYTES`].
    #[error("`payload` exceeds {MAX_PAYLOAD_BYTES} bytes")]
    PayloadTooLarge,
    /// The `payload` is not one JSON object of the documented fields and
    /// types (unknown, duplicate, missing or mistyped fields).
    #[error("`payload` is not a valid widget token request: {0}")]
    InvalidPayload(String),
    /// An identity field of the payload breaks a rule.
    #[error(transparent)]
    InvalidField(PayloadError),
    /// `tokenValidity` is not a number.
    #[error("`tokenValidity` must be a number of seconds")]
    InvalidTokenValidity,
    /// `readerGroupIds` is missing, `null` or empty.
    #[error("`readerGroupIds` must name at least one reader group")]
    NoReaderGroups,
    /// `widgetId` or `projectId` is empty, too long or not visible ASCII.
    #[error("`{0}` must be 1 to {MAX_ID_LEN} visible ASCII characters")]
    InvalidId(&'static str),
    /// `projectId` or `id` is not the authenticated project.
    #[error("`{0}` does not match the authenticated client id")]
    ProjectMismatch(&'static str),
    /// `widgetId` is not a JWT-enabled widget of the project.
    #[error("`widgetId` does not name a JWT-enabled widget of this project")]
    UnknownWidget,
    /// The token could not be signed.
    #[error("the token could not be signed")]
    Sign(#[source] SignError),
}

impl WidgetError {
    /// The OAuth `error` code (RFC 6749 section 5.2): `invalid_request`,
    /// `invalid_client`, `unsupported_grant_type`, or `server_error` when
    /// signing failed.
    #[must_use]
    pub const fn oauth_error(&self) -> &'static str {
        match self {
            Self::MissingClientAuthentication | Self::MalformedClientAuthentication | Self::InvalidClient => {
                "invalid_client"
            }
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::Sign(_) => "server_error",
            Self::DuplicateParameter
            | Self::MissingParameter(_)
            | Self::MultipleClientAuthentication
            | Self::PayloadTooLarge
            | Self::InvalidPayload(_)
            | Self::InvalidField(_)
            | Self::InvalidTokenValidity
            | Self::NoReaderGroups
            | Self::InvalidId(_)
            | Self::ProjectMismatch(_)
            | Self::UnknownWidget => "invalid_request",
        }
    }

    /// The HTTP status: 401 for `invalid_client` (send
    /// `WWW-Authenticate: Basic` with it), 500 for `server_error`, 400
    /// otherwise.
    #[must_use]
    pub const fn status(&self) -> u16 {
        match self.oauth_error().as_bytes() {
            b"invalid_client" => 401,
            b"server_error" => 500,
            _ => 400,
        }
    }
}

// ---------------------------------------------------------------------------
// The project
// ---------------------------------------------------------------------------

/// Whether `id` is 1 to [`MAX_ID_LEN`] visible ASCII characters.
fn is_valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_ID_LEN && id.bytes().all(|b| b.is_ascii_graphic())
}

/// A project's widget settings: its id (the widgets' client id), the
/// digest of the widget client secret shared by all its JWT-enabled widgets,
/// and the ids of those widgets.
///
/// The secret is shown once, at [`build`](WidgetProjectBuilder::build) or
/// [`regenerate_secret`](Self::regenerate_secret); only its digest is kept.
/// Serializes with the digest, never the secret.
#[derive(Clone, Serialize, Deserialize)]
#[serde(try_from = "WidgetProjectRecord", into = "WidgetProjectRecord")]
pub struct WidgetProject {
    project_id: String,
    widget_ids: BTreeSet<String>,
    secret: SecretDigest,
}

impl fmt::Debug for WidgetProject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WidgetProject")
            .field("project_id", &self.project_id)
            .field("widget_ids", &self.widget_ids)
            .finish_non_exhaustive()
    }
}

impl WidgetProject {
    /// Starts the widget settings of project `project_id`.
    pub fn builder(project_id: impl Into<String>) -> WidgetProjectBuilder {
        WidgetProjectBuilder {
            project_id: project_id.into(),
            widget_ids: Vec::new(),
        }
    }

    /// The project id: the client id of every widget token request.
    #[must_use]
    pub fn project_id(&self) -> &str {
        &self.project_id
    }

    /// The JWT-enabled widgets, in order.
    pub fn widget_ids(&self) -> impl Iterator<Item = &str> {
        self.widget_ids.iter().map(String::as_str)
    }

    /// Whether `widget_id` is a JWT-enabled widget of the project.
    #[must_use]
    pub fn has_widget(&self, widget_id: &str) -> bool {
        self.widget_ids.contains(widget_id)
    }

    /// Enables JWT for a widget. Answers whether it was new.
    ///
    /// # Errors
    /// [`WidgetSetupError::InvalidWidgetId`] for an id that is empty, too
    /// long or not visible ASCII.
    pub fn add_widget(&mut self, widget_id: impl Into<String>) -> Result<bool, WidgetSetupError> {
        let id = widget_id.into();
        if !is_valid_id(&id) {
            return Err(WidgetSetupError::InvalidWidgetId);
        }
        Ok(self.widget_ids.insert(id))
    }

    /// Disables JWT for a widget: its requests are refused from now on.
    /// Answers whether it was there.
    pub fn remove_widget(&mut self, widget_id: &str) -> bool {
        self.widget_ids.remove(widget_id)
    }

    /// Whether `candidate` is the widget client secret, compared in
    /// constant time.
    #[must_use]
    pub fn accepts_secret(&self, candidate: &[u8]) -> bool {
        self.secret.verify(candidate)
    }

    /// Replaces the widget client secret and returns the new one, in clear,
    /// to show once. The old secret fails at once, for every widget of the
    /// project.
    pub fn regenerate_secret(&mut self) -> ClientSecret {
        let secret = ClientSecret::generate();
        self.secret = secret.digest();
        secret
    }
}

/// Builds a [`WidgetProject`]; see [`WidgetProject::builder`].
#[derive(Debug)]
pub struct WidgetProjectBuilder {
    project_id: String,
    widget_ids: Vec<String>,
}

impl WidgetProjectBuilder {
    /// Enables JWT for a widget.
    #[must_use]
    pub fn widget(mut self, widget_id: impl Into<String>) -> Self {
        self.widget_ids.push(widget_id.into());
        self
    }

    /// Enables JWT for each of `widget_ids`.
    #[must_use]
    pub fn widgets<I, S>(mut self, widget_ids: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.widget_ids.extend(widget_ids.into_iter().map(Into::into));
        self
    }

    /// Checks the ids and builds the project with a new secret, returned in
    /// clear this once.
    ///
    /// # Errors
    /// [`WidgetSetupError`] names the id that is not valid.
    pub fn build(self) -> Result<(WidgetProject, ClientSecret), WidgetSetupError> {
        let secret = ClientSecret::generate();
        let project = self.build_with_digest(secret.digest())?;
        Ok((project, secret))
    }

    /// Checks the ids and builds the project with an existing secret (for
    /// example, one loaded from a project file). Only its digest is kept.
    ///
    /// # Errors
    /// [`WidgetSetupError`] names the id that is not valid.
    pub fn build_with_secret(self, secret: &ClientSecret) -> Result<WidgetProject, WidgetSetupError> {
        self.build_with_digest(secret.digest())
    }

    fn build_with_digest(self, secret: SecretDigest) -> Result<WidgetProject, WidgetSetupError> {
        if !is_valid_id(&self.project_id) {
            return Err(WidgetSetupError::InvalidProjectId);
        }
        let mut project = WidgetProject {
            project_id: self.project_id,
            widget_ids: BTreeSet::new(),
            secret,
        };
        for id in self.widget_ids {
            project.add_widget(id)?;
        }
        Ok(project)
    }
}

/// The stored form of a [`WidgetProject`].
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct WidgetProjectRecord {
    project_id: String,
    widget_ids: Vec<String>,
    secret_digest: SecretDigest,
}

impl TryFrom<WidgetProjectRecord> for WidgetProject {
    type Error = WidgetSetupError;
    fn try_from(r: WidgetProjectRecord) -> Result<Self, WidgetSetupError> {
        WidgetProject::builder(r.project_id)
            .widgets(r.widget_ids)
            .build_with_digest(r.secret_digest)
    }
}

impl From<WidgetProject> for WidgetProjectRecord {
    fn from(p: WidgetProject) -> Self {
        Self {
            project_id: p.project_id,
            widget_ids: p.widget_ids.into_iter().collect(),
            secret_digest: p.secret,
        }
    }
}

// ---------------------------------------------------------------------------
// The payload
// ---------------------------------------------------------------------------

/// A checked widget token payload: who the reader is, for which widget of
/// which project, and for how long.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WidgetPayload {
    /// The reader; at least one reader group.
    pub identity: ReaderIdentity,
    /// The clamped token validity (seconds band).
    pub validity: TokenValidity,
    /// `widgetId`.
    pub widget_id: String,
    /// `projectId`.
    pub project_id: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawWidgetPayload<'a> {
    username: String,
    first_name: String,
    last_name: String,
    email_id: String,
    #[serde(default)]
    reader_group_ids: Option<Vec<String>>,
    #[serde(default, borrow)]
    token_validity: Option<&'a RawValue>,
    widget_id: String,
    project_id: String,
}

impl WidgetPayload {
    /// Parses and checks a `payload`:
    /// `{username, firstName, lastName, emailId, readerGroupIds, tokenValidity?, widgetId, projectId}`.
    ///
    /// The identity fields follow the code flow's rules
    /// ([`CodeRequest::from_json`](crate::CodeRequest::from_json)); at least
    /// one reader group is required; `tokenValidity` is seconds, any JSON
    /// number clamped to 300..=86400, `null` or absent meaning 900.
    ///
    /// # Errors
    /// [`WidgetError::PayloadTooLarge`], [`WidgetError::InvalidPayload`],
    /// [`WidgetError::InvalidField`], [`WidgetError::NoReaderGroups`],
    /// [`WidgetError::InvalidTokenValidity`] or [`WidgetError::InvalidId`].
    pub fn from_json(payload: &[u8]) -> Result<Self, WidgetError> {
        if payload.len() > MAX_PAYLOAD_BYTES {
            return Err(WidgetError::PayloadTooLarge);
        }
        let raw: RawWidgetPayload<'_> =
            serde_json::from_slice(payload).map_err(|e| WidgetError::InvalidPayload(describe_json_error(&e)))?;
        let identity = ReaderIdentity::from_fields(
            raw.username,
            raw.first_name,
            raw.last_name,
            raw.email_id,
            raw.reader_group_ids,
        )
        .map_err(WidgetError::InvalidField)?;
        if identity.reader_group_ids.is_empty() {
            return Err(WidgetError::NoReaderGroups);
        }
        let seconds = parse_validity(raw.token_validity).map_err(|_| WidgetError::InvalidTokenValidity)?;
        if !is_valid_id(&raw.widget_id) {
            return Err(WidgetError::InvalidId("widgetId"));
        }
        if !is_valid_id(&raw.project_id) {
            return Err(WidgetError::InvalidId("projectId"));
        }
        Ok(Self {
            identity,
            validity: TokenValidity::from_seconds(seconds),
            widget_id: raw.widget_id,
            project_id: raw.project_id,
        })
    }
}

// ---------------------------------------------------------------------------
// The request
// ---------------------------------------------------------------------------

/// A widget token request whose form has been read: `grant_type=Widget`,
/// the client credentials, the raw `payload` and `id`.
///
/// The payload is checked by [`WidgetTokenIssuer::issue`], after the
/// credentials, so that an unauthenticated caller learns nothing about
/// payload rules. `Debug` redacts the secret and the payload.
pub struct WidgetTokenRequest {
    credentials: ClientCredentials,
    payload: String,
    id: Option<String>,
}

impl fmt::Debug for WidgetTokenRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WidgetTokenRequest")
            .field("client_id", &self.credentials.client_id)
            .field("id", &self.id)
            .field("payload_len", &self.payload.len())
            .finish_non_exhaustive()
    }
}

impl WidgetTokenRequest {
    /// Reads a widget token request from the values of its `Authorization`
    /// headers (none or one) and its form body.
    ///
    /// # Errors
    /// [`WidgetError::DuplicateParameter`], [`WidgetError::MissingParameter`]
    /// (`grant_type`, `payload`), [`WidgetError::UnsupportedGrantType`],
    /// [`WidgetError::MissingClientAuthentication`],
    /// [`WidgetError::MalformedClientAuthentication`],
    /// [`WidgetError::MultipleClientAuthentication`],
    /// [`WidgetError::PayloadTooLarge`].
    pub fn parse<'h, I>(authorization: I, body: &[u8]) -> Result<Self, WidgetError>
    where
        I: IntoIterator<Item = &'h [u8]>,
    {
        let mut form = parse_form(body).map_err(|_| WidgetError::DuplicateParameter)?;
        match non_empty(&mut form, "grant_type").as_deref() {
            None => return Err(WidgetError::MissingParameter("grant_type")),
            Some(WIDGET_GRANT_TYPE) => {}
            Some(_) => return Err(WidgetError::UnsupportedGrantType),
        }
        let credentials = match ClientCredentials::from_basic_or_form(authorization, &form) {
            Ok(Some(c)) => c,
            Ok(None) => return Err(WidgetError::MissingClientAuthentication),
            Err(CredentialsError::Multiple) => return Err(WidgetError::MultipleClientAuthentication),
            Err(_) => return Err(WidgetError::MalformedClientAuthentication),
        };
        let payload = non_empty(&mut form, "payload").ok_or(WidgetError::MissingParameter("payload"))?;
        if payload.len() > MAX_PAYLOAD_BYTES {
            return Err(WidgetError::PayloadTooLarge);
        }
        Ok(Self {
            credentials,
            payload,
            id: non_empty(&mut form, "id"),
        })
    }

    /// The client id, as sent: the project to look up.
    #[must_use]
    pub fn client_id(&self) -> &str {
        &self.credentials.client_id
    }
}

// ---------------------------------------------------------------------------
// Issuing and verifying
// ---------------------------------------------------------------------------

/// The claims of a widget access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WidgetClaims {
    /// Issuer.
    pub iss: String,
    /// The reader's username.
    pub sub: String,
    /// `<issuer>/widget`.
    pub aud: String,
    /// Issued at (Unix seconds).
    pub iat: i64,
    /// Expires at (Unix seconds).
    pub exp: i64,
    /// Token id.
    pub jti: String,
    /// Email address, as sent.
    pub email: String,
    /// First name.
    pub given_name: String,
    /// Last name.
    pub family_name: String,
    /// Full name.
    pub name: String,
    /// Reader group ids (at least one).
    pub groups: Vec<String>,
    /// The widget the token is for.
    pub widget_id: String,
    /// The project the widget belongs to.
    pub project_id: String,
}

/// The answer of the widget token endpoint (RFC 6749 section 5.1).
/// `Debug` redacts the token.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WidgetTokenResponse {
    /// The signed widget access token.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the token expires.
    pub expires_in: i64,
}

impl fmt::Debug for WidgetTokenResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WidgetTokenResponse")
            .field("access_token", &"[redacted]")
            .field("token_type", &self.token_type)
            .field("expires_in", &self.expires_in)
            .finish()
    }
}

/// The audience of widget tokens from `issuer`: `<issuer>/widget`.
#[must_use]
pub fn widget_audience(issuer: &str) -> String {
    format!("{issuer}{WIDGET_AUDIENCE_SUFFIX}")
}

/// What a widget token must satisfy: type [`WIDGET_TOKEN_TYPE`],
/// issuer `issuer`, audience `<issuer>/widget`, `iat` required, lifetime at
/// most the widget band's maximum (86400 s).
#[must_use]
pub fn widget_validation(issuer: &str) -> Validation {
    Validation::new()
        .token_type(WIDGET_TOKEN_TYPE)
        .issuer(issuer)
        .audience(widget_audience(issuer))
        .max_lifetime(Duration::seconds(ValidityBand::WIDGET_SECONDS.max))
}

/// Verifies a widget access token for the widget's content API: signature
/// by one of `keys`, [`widget_validation`] for `issuer`, at `now`.
///
/// # Errors
/// [`VerifyError`] says why the token is refused; an `id_token`, a KB access
/// token or a handshake token is [`VerifyError::WrongAudience`], and a
/// token with the widget audience but another type (`typ`)
/// [`VerifyError::WrongType`].
pub fn verify_widget_token(
    keys: &KeySet,
    issuer: &str,
    token: &str,
    now: OffsetDateTime,
) -> Result<WidgetClaims, VerifyError> {
    // A Verifier is a key set and a Validation; building one per call costs
    // a clone of the (small) key set.
    Verifier::new(keys.clone(), widget_validation(issuer))
        .verify_str::<WidgetClaims>(token, now)
        .map(crate::jose::Verified::into_claims)
}

/// The widget flow: the customer's backend asks the identity server for an
/// access token on behalf of its signed-in reader, and the KB widget embedded
/// in the customer's site uses that token to fetch the reader's articles.
///
/// # The token request
///
/// `POST` to the widget token endpoint, `application/x-www-form-urlencoded`,
/// as the spec's C# sample sends it (IdentityModel `RequestTokenAsync`):
///
/// | form field | value |
/// |---|---|
/// | `grant_type` | `Widget` (exactly; anything else is `unsupported_grant_type`) |
/// | `payload` | JSON text, see below |
/// | `id` | the project id (the client id), as the sample sends `clientData.ClientId`; optional, must match when given |
/// | `client_id`, `client_secret` | the credentials, unless they come in an `Authorization: Basic` header |
///
/// The credentials are the project id and the project's widget client
/// secret, in a Basic header **or** as form fields, never both
/// (RFC 6749 section 2.3.1: one authentication method per request). A form
/// `client_id` beside a Basic header is tolerated when it names the same
/// client ([`ClientCredentials::from_basic_or_form`], the rules every form
/// endpoint shares). As RFC 6749 section 3.2 requires, a parameter given
/// twice is refused, an empty `grant_type`, `payload` or `id` counts as
/// absent, and unknown parameters are ignored. An empty `client_id` or
/// `client_secret` counts as sent: beside a Basic header it is a second
/// method, alone it is malformed.
///
/// The `payload` is one JSON object of exactly these fields (unknown and
/// duplicate fields are refused):
///
/// ```json
/// {"username": "john.doe", "firstName": "John", "lastName": "Doe",
///  "emailId": "john.doe@example.com", "readerGroupIds": ["group1", "group2"],
///  "tokenValidity": 900, "widgetId": "your-widget-id", "projectId": "your-project-id"}
/// ```
///
/// `tokenValidity` is in **seconds**, clamped to 300..=86400, default 900
/// ([`TokenValidity::from_seconds`]); a value that is not a number is
/// `invalid_request`. At least one reader group is required: the widget
/// renders nothing without one. `projectId` (and `id`) must be the
/// authenticated project; `widgetId` must be one of its JWT-enabled widgets.
///
/// # Errors in OAuth terms
///
/// | [`WidgetError`] | `error` | status |
/// |---|---|---|
/// | bad, missing or unknown credentials | `invalid_client` | 401 |
/// | `grant_type` other than `Widget` | `unsupported_grant_type` | 400 |
/// | everything else about the request, including an unknown `widgetId` | `invalid_request` | 400 |
/// | the token could not be signed | `server_error` | 500 |
///
/// An unknown widget id is `invalid_request`, not `invalid_client`: it is
/// checked only after the project has authenticated, so it tells an outsider
/// nothing, and the client itself is genuine (RFC 6749 section 5.2 keeps
/// `invalid_client` for failed client authentication).
///
/// # The answer
///
/// `{"access_token": "...", "token_type": "Bearer", "expires_in": 900}`
/// ([`WidgetTokenResponse`]). The token's type (`typ` header) is
/// `kb-sso.widget+jwt` ([`WIDGET_TOKEN_TYPE`]) and its audience
/// `<issuer>/widget`, never a client id or the KB's `<issuer>/kb`, so it is
/// refused wherever an `id_token`, a KB access token or a handshake token is
/// expected; the widget's content API checks it with [`verify_widget_token`],
/// which requires both.
///
/// A reader identity too large for a token (many long reader group ids,
/// each field within its own limit) is refused before anything is signed:
/// `invalid_request` naming its size and the room
/// ([`PayloadError::IdentityTooLarge`]).
///
/// # Serving the endpoint
///
/// The host looks the project up by [`WidgetTokenRequest::client_id`] and
/// hands the result, found or not, to [`WidgetTokenIssuer::issue`]:
///
/// ```
/// use kb_sso::{WidgetProject, WidgetTokenIssuer, WidgetTokenRequest};
/// use kb_sso::{ClientCredentials, SigningKey, SystemClock, TokenSigner};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let (project, secret) = WidgetProject::builder("your-project-id")
///     .widget("your-widget-id")
///     .build()?;
/// let issuer = WidgetTokenIssuer::new(
///     TokenSigner::new(SigningKey::generate_ed25519("key-1")?),
///     "https://kb.example.com",
///     SystemClock,
/// );
///
/// // What arrives at the endpoint.
/// let basic = ClientCredentials::new("your-project-id", secret).to_basic_header();
/// let payload = r#"{"username":"john.doe","firstName":"John","lastName":"Doe",
///     "emailId":"john.doe@example.com","readerGroupIds":["group1"],"tokenValidity":900,
///     "widgetId":"your-widget-id","projectId":"your-project-id"}"#;
/// let body = url::form_urlencoded::Serializer::new(String::new())
///     .append_pair("grant_type", "Widget")
///     .append_pair("payload", payload)
///     .append_pair("id", "your-project-id")
///     .finish();
///
/// // The handler: parse, look up, issue.
/// let request = WidgetTokenRequest::parse([basic.as_bytes()], body.as_bytes())?;
/// let found = (request.client_id() == project.project_id()).then_some(&project);
/// let answer = issuer.issue(found, &request)?;
/// assert_eq!((answer.token_type.as_str(), answer.expires_in), ("Bearer", 900));
/// # Ok(())
/// # }
/// ```
///
/// Issues widget access tokens.
///
/// `S` is the signer, owned or shared (`TokenSigner`, `&TokenSigner`,
/// `Arc<TokenSigner>`), so one signing key can serve the code flow and the
/// widget flow.
#[derive(Debug)]
pub struct WidgetTokenIssuer<S, C> {
    signer: S,
    issuer: String,
    clock: C,
}

impl<S: Borrow<TokenSigner>, C: Clock> WidgetTokenIssuer<S, C> {
    /// An issuer named `issuer` (the `iss` of its tokens, usually the
    /// identity server's base URL).
    pub fn new(signer: S, issuer: impl Into<String>, clock: C) -> Self {
        Self {
            signer,
            issuer: issuer.into(),
            clock,
        }
    }

    /// The issuer name.
    #[must_use]
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The audience of its tokens: `<issuer>/widget`.
    #[must_use]
    pub fn audience(&self) -> String {
        widget_audience(&self.issuer)
    }

    /// The signer.
    #[must_use]
    pub fn signer(&self) -> &TokenSigner {
        self.signer.borrow()
    }

    /// Serves a widget token request. `project` is the host's lookup of
    /// [`WidgetTokenRequest::client_id`]; pass `None` when there is no such
    /// project: the same work is done, so an unknown project id and a wrong
    /// secret are not told apart by timing.
    ///
    /// Order: credentials, then the payload, then `projectId` / `id`
    /// against the project, then the widget id.
    ///
    /// # Errors
    /// [`WidgetError::InvalidClient`] for an unknown project or a wrong
    /// secret; the payload errors of [`WidgetPayload::from_json`];
    /// [`WidgetError::ProjectMismatch`], [`WidgetError::UnknownWidget`];
    /// [`WidgetError::InvalidField`] with
    /// [`PayloadError::IdentityTooLarge`] when the reader's identity is too
    /// large for a token (checked before signing);
    /// [`WidgetError::Sign`] if signing fails.
    pub fn issue(
        &self,
        project: Option<&WidgetProject>,
        request: &WidgetTokenRequest,
    ) -> Result<WidgetTokenResponse, WidgetError> {
        let project = authenticate(project, &request.credentials)?;
        let payload = WidgetPayload::from_json(request.payload.as_bytes())?;
        if payload.project_id != project.project_id {
            return Err(WidgetError::ProjectMismatch("projectId"));
        }
        if request.id.as_deref().is_some_and(|id| id != project.project_id) {
            return Err(WidgetError::ProjectMismatch("id"));
        }
        if !project.has_widget(&payload.widget_id) {
            return Err(WidgetError::UnknownWidget);
        }
        payload
            .identity
            .check_token_room(self.identity_room(&payload))
            .map_err(WidgetError::InvalidField)?;
        self.sign(payload)
    }

    /// The room a token for `payload` has for its reader identity
    /// ([`ReaderIdentity::token_bytes`]): the largest payload the signer can
    /// sign under [`MAX_TOKEN_LEN`](crate::jose::MAX_TOKEN_LEN), less the
    /// claims that do not come from the identity, at their longest.
    fn identity_room(&self, payload: &WidgetPayload) -> usize {
        let fixed = WidgetClaims {
            iss: self.issuer.clone(),
            sub: String::new(),
            aud: self.audience(),
            iat: MAX_NUMERIC_DATE,
            exp: MAX_NUMERIC_DATE,
            jti: "A".repeat(crate::secret::RANDOM_TOKEN_LEN),
            email: String::new(),
            given_name: String::new(),
            family_name: String::new(),
            name: String::new(),
            groups: Vec::new(),
            widget_id: payload.widget_id.clone(),
            project_id: payload.project_id.clone(),
        };
        let fixed = serde_json::to_vec(&fixed).map_or(usize::MAX, |v| v.len());
        self.signer().max_payload_len(WIDGET_TOKEN_TYPE).saturating_sub(fixed)
    }

    fn sign(&self, payload: WidgetPayload) -> Result<WidgetTokenResponse, WidgetError> {
        let now = self.clock.now();
        let iat = now.unix_timestamp();
        let exp = (now + payload.validity.duration()).unix_timestamp();
        let name = payload.identity.full_name();
        let who = payload.identity;
        let claims = WidgetClaims {
            iss: self.issuer.clone(),
            sub: who.username,
            aud: self.audience(),
            iat,
            exp,
            jti: random_token().to_string(),
            email: who.email,
            given_name: who.first_name,
            family_name: who.last_name,
            name,
            groups: who.reader_group_ids,
            widget_id: payload.widget_id,
            project_id: payload.project_id,
        };
        let access_token = self
            .signer()
            .sign_typed(WIDGET_TOKEN_TYPE, &claims)
            .map_err(WidgetError::Sign)?;
        Ok(WidgetTokenResponse {
            access_token,
            token_type: "Bearer".to_owned(),
            expires_in: exp - iat,
        })
    }
}

/// Checks the secret against `project` (or a decoy when there is none, or
/// when the host handed over a project with another id).
///
/// Both paths do the same work, by construction: one digest of the
/// presented secret and one constant-time comparison; only which stored
/// digest is compared depends on whether the project exists.
fn authenticate<'p>(
    project: Option<&'p WidgetProject>,
    credentials: &ClientCredentials,
) -> Result<&'p WidgetProject, WidgetError> {
    let decoy = SecretDigest::decoy();
    let project = project.filter(|p| p.project_id == credentials.client_id);
    let stored = project.map_or(&decoy, |p| &p.secret);
    let presented = presented_digest(credentials.secret.expose().as_bytes());
    let matched = stored_digest_matches(stored, &presented);
    match project {
        Some(p) if matched => Ok(p),
        _ => Err(WidgetError::InvalidClient),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> Vec<u8> {
        url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish()
            .into_bytes()
    }

    const NO_AUTH: [&[u8]; 0] = [];

    #[test]
    fn form_parameters_given_twice_are_refused_and_empty_ones_are_absent() {
        let basic = ClientCredentials::new("p1", ClientSecret::new("s")).to_basic_header();
        let parse = |body: &[u8]| WidgetTokenRequest::parse([basic.as_bytes()], body);
        for body in [
            &b"grant_type=Widget&payload=x&payload=y"[..],
            b"grant_type=Widget&payload=x&id=&id=p1",
        ] {
            assert_eq!(parse(body).unwrap_err(), WidgetError::DuplicateParameter);
        }
        assert_eq!(
            parse(b"grant_type=&payload=x").unwrap_err(),
            WidgetError::MissingParameter("grant_type")
        );
        assert_eq!(
            parse(b"grant_type=Widget&payload=").unwrap_err(),
            WidgetError::MissingParameter("payload")
        );
        let r = parse(b"grant_type=Widget&payload=x&id=&unknown=y").unwrap();
        assert_eq!(r.id, None, "an empty id counts as absent");
    }

    #[test]
    fn grant_type_is_checked_before_credentials() {
        let body = form(&[("grant_type", "client_credentials"), ("payload", "{}")]);
        assert_eq!(
            WidgetTokenRequest::parse(NO_AUTH, &body).unwrap_err(),
            WidgetError::UnsupportedGrantType
        );
        let body = form(&[("grant_type", "widget"), ("payload", "{}")]);
        assert_eq!(
            WidgetTokenRequest::parse(NO_AUTH, &body).unwrap_err(),
            WidgetError::UnsupportedGrantType,
            "grant types are case-sensitive"
        );
        let body = form(&[("payload", "{}")]);
        assert_eq!(
            WidgetTokenRequest::parse(NO_AUTH, &body).unwrap_err(),
            WidgetError::MissingParameter("grant_type")
        );
    }

    #[test]
    fn credential_combinations() {
        let basic = ClientCredentials::new("p1", ClientSecret::new("s")).to_basic_header();
        let parse = |auth: &[&[u8]], pairs: &[(&str, &str)]| {
            let mut all = vec![("grant_type", "Widget"), ("payload", "{}")];
            all.extend_from_slice(pairs);
            WidgetTokenRequest::parse(auth.iter().copied(), &form(&all))
        };
        let b = basic.as_bytes();
        assert_eq!(parse(&[b], &[]).unwrap().client_id(), "p1");
        assert_eq!(
            parse(&[b], &[("client_id", "p1")]).unwrap().client_id(),
            "p1",
            "a matching client_id beside Basic is tolerated"
        );
        assert_eq!(
            parse(&[b], &[("client_id", "p2")]).unwrap_err(),
            WidgetError::MultipleClientAuthentication
        );
        assert_eq!(
            parse(&[b], &[("client_secret", "s")]).unwrap_err(),
            WidgetError::MultipleClientAuthentication
        );
        assert_eq!(
            parse(&[b, b], &[]).unwrap_err(),
            WidgetError::MalformedClientAuthentication
        );
        assert_eq!(
            parse(&[b"Bearer x"], &[]).unwrap_err(),
            WidgetError::MalformedClientAuthentication
        );
        assert_eq!(
            parse(&[], &[("client_id", "p1")]).unwrap_err(),
            WidgetError::MalformedClientAuthentication
        );
        assert_eq!(parse(&[], &[]).unwrap_err(), WidgetError::MissingClientAuthentication);
        assert_eq!(
            parse(&[b], &[("client_secret", "")]).unwrap_err(),
            WidgetError::MultipleClientAuthentication,
            "an empty client_secret beside a Basic header is a second method"
        );
        assert_eq!(
            parse(&[], &[("client_id", ""), ("client_secret", "")]).unwrap_err(),
            WidgetError::MalformedClientAuthentication
        );
        let r = parse(&[], &[("client_id", "p1"), ("client_secret", "s")]).unwrap();
        assert_eq!(r.client_id(), "p1");
        assert!(!format!("{r:?}").contains("\"s\""));
    }

    #[test]
    fn oauth_codes_and_statuses() {
        let cases = [
            (WidgetError::InvalidClient, "invalid_client", 401),
            (WidgetError::MissingClientAuthentication, "invalid_client", 401),
            (WidgetError::UnsupportedGrantType, "unsupported_grant_type", 400),
            (WidgetError::NoReaderGroups, "invalid_request", 400),
            (WidgetError::UnknownWidget, "invalid_request", 400),
            (WidgetError::MultipleClientAuthentication, "invalid_request", 400),
            (WidgetError::Sign(SignError::Crypto), "server_error", 500),
        ];
        for (e, code, status) in cases {
            assert_eq!((e.oauth_error(), e.status()), (code, status), "{e:?}");
        }
    }

    #[test]
    fn an_unknown_project_costs_the_same_digest_and_comparison_work_as_a_wrong_secret() {
        let (project, secret) = WidgetProject::builder("p1").widget("w1").build().unwrap();
        let creds = |id: &str, s: &str| ClientCredentials::new(id, ClientSecret::new(s));
        crate::secret::auth_work::take();
        assert_eq!(
            authenticate(Some(&project), &creds("p1", "wrong")).unwrap_err(),
            WidgetError::InvalidClient
        );
        let wrong_secret = crate::secret::auth_work::take();
        assert_eq!(
            authenticate(None, &creds("p1", "wrong")).unwrap_err(),
            WidgetError::InvalidClient
        );
        let unknown = crate::secret::auth_work::take();
        assert_eq!(
            authenticate(Some(&project), &creds("p2", secret.expose())).unwrap_err(),
            WidgetError::InvalidClient,
            "a project handed over under another id counts as unknown"
        );
        let other_id = crate::secret::auth_work::take();
        assert!(authenticate(Some(&project), &creds("p1", secret.expose())).is_ok());
        let right = crate::secret::auth_work::take();
        assert_eq!(wrong_secret, (1, 1));
        assert_eq!(unknown, wrong_secret);
        assert_eq!(other_id, wrong_secret);
        assert_eq!(right, wrong_secret);
    }

    #[test]
    fn ids_are_checked_when_the_project_is_built_and_loaded() {
        assert_eq!(
            WidgetProject::builder("").build().unwrap_err(),
            WidgetSetupError::InvalidProjectId
        );
        assert_eq!(
            WidgetProject::builder("p").widget("has space").build().unwrap_err(),
            WidgetSetupError::InvalidWidgetId
        );
        let (p, s) = WidgetProject::builder("p").widgets(["w2", "w1"]).build().unwrap();
        let json = serde_json::to_string(&p).unwrap();
        assert!(!json.contains(s.expose()));
        let back: WidgetProject = serde_json::from_str(&json).unwrap();
        assert!(back.accepts_secret(s.expose().as_bytes()));
        assert_eq!(back.widget_ids().collect::<Vec<_>>(), ["w1", "w2"]);
        let bad = json.replace("\"p\"", "\"\"");
        assert!(serde_json::from_str::<WidgetProject>(&bad).is_err());
        assert!(!format!("{p:?}").contains(s.expose()));
    }
}
