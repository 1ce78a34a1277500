//! # kb-sso
//!
//! JWT single sign-on for private knowledge bases and docs sites: a
//! customer's own app logs its users into the KB, and the KB never holds
//! passwords for them.
//!
//! ## Quickstart
//!
//! The code flow in one process: the customer app asks for a one-time code
//! with its client credentials, the KB redeems it once for a signed
//! `id_token`, verifies it and opens a reader session.
//!
//! ```
//! use kb_sso::store::memory::{MemoryCodeStore, MemoryConfigStore};
//! use kb_sso::*;
//!
//! # async fn quickstart() -> Result<(), Box<dyn std::error::Error>> {
//! // The KB admin creates a JWT configuration; its secrets are shown once.
//! let (config, secrets) = JwtConfig::builder("Customer Portal SSO", "https://app.example.com/kb-login").build()?;
//! let client_id = config.client_id().clone();
//!
//! // The identity server: configurations, one-time codes, a token signer.
//! let signer = TokenSigner::new(SigningKey::generate_ed25519("key-1")?);
//! let verifier = Verifier::new(
//!     KeySet::from_keys([signer.key().verification_key()])?,
//!     Validation::new().issuer("https://kb.example.com").audience(client_id.as_str()),
//! );
//! let identity = IdentityServer::new(
//!     MemoryConfigStore::new(Project::new(ProjectSettings::default(), vec![config], vec![])?),
//!     CodeIssuer::new(MemoryCodeStore::new(), SystemClock),
//!     signer,
//!     "https://kb.example.com",
//! );
//!
//! // The customer app's backend: Basic credentials and the reader's identity.
//! let credentials = ClientCredentials::new(client_id.as_str(), secrets.primary.clone());
//! let body = br#"{"username":"john.doe","firstName":"John","lastName":"Doe",
//!                 "emailId":"john.doe@example.com","readerGroupIds":["group1"],"tokenValidity":15}"#;
//! let code = identity.issue_code(&credentials, body).await?;
//!
//! // The KB redeems the code over the back channel, once.
//! let tokens = identity.exchange(code.expose(), None).await?;
//! assert_eq!(tokens.expires_in, 15 * 60);
//! assert!(identity.exchange(code.expose(), None).await.is_err(), "a code is single-use");
//!
//! // ... and verifies the id_token before trusting a single claim.
//! let untrusted = UntrustedToken::parse(&tokens.id_token)?;
//! let claims: IdTokenClaims = verifier.verify(&untrusted, SystemClock.now())?.into_claims();
//! assert_eq!(claims.sub, "john.doe");
//! assert_eq!(claims.groups, ["group1"]);
//! # Ok(())
//! # }
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(quickstart()).unwrap();
//! ```
//!
//! With the `server` feature, `server::SsoService` serves all of this over
//! `http::Request` / `http::Response` for any web framework; see
//! `examples/kb_server.rs` and `cargo run --example demo`. The `tower`
//! feature adds a `tower::Service` for the endpoints and a guard `Layer`
//! for the host's own private routes; `axum` adds a `Router` to merge and a
//! `ReaderSession` extractor (the README's "Use it in an axum app").
//!
//! ## The code flow
//!
//! 1. A reader without a session asks for a private page; the KB redirects
//!    to the configuration's login URL with `redirectPath`.
//! 2. The customer app logs the reader in, then its backend `POST`s
//!    `{username, firstName, lastName, emailId, readerGroupIds?, tokenValidity?}`
//!    to the code generation URL with `Authorization: Basic
//!    base64(clientId:clientSecret)` (primary or secondary secret) and gets
//!    `{"code": "..."}`.
//! 3. It redirects the reader to `/jwt/authorize?code=...&redirectUrl=<redirectPath>`.
//! 4. The KB redeems the code — in process, straight from the grant, or
//!    against a remote identity server over the back channel for a signed
//!    `id_token` — opens a session that lasts as long as the token would,
//!    and redirects to the page (only ever a path on the KB itself).
//!
//! **Units.** `tokenValidity` is in **minutes**, default 15, clamped to
//! 5..=1440 (a value of 3600 from sample code meant as seconds becomes 1440
//! minutes). **Codes** are 32 random bytes (43 base64url characters), live
//! 5 minutes by default (at most 10), and redeem exactly once.
//!
//! ## Handshake tokens (the direct flows)
//!
//! The customer app signs a short JWT itself — HS256 with the
//! configuration's secret, or EdDSA with its own Ed25519 key whose public
//! half the KB holds ([`generate_ed25519_key_pair`]) — and sends the reader
//! to `/api/auth/jwt/callback?token=…&redirect=…` (or `?jwt=` on any page, a
//! `jwt` cookie, a form `POST` to the callback from its own site). [`HandshakeVerifier`] turns the
//! [`UntrustedToken`] into a [`VerifiedHandshake`] only after the signature
//! (algorithm pinned by the key), `exp`, `iat`, `nbf`, `aud`, `iss`, the
//! maximum age and single use of the `jti` ([`ReplayCache`]); reader groups
//! follow `accessRoles` (`["*"]` = every group) or `groups`. Failures carry
//! the `jwt_error` reason the login URL receives.
//!
//! ## Widgets
//!
//! [`WidgetTokenIssuer`] serves `grant_type=Widget` requests: a
//! project-level secret shared by all widgets ([`WidgetProject`]), the
//! reader's identity and groups in a JSON `payload`, `tokenValidity` in
//! **seconds** (300..=86400, default 900). Its access tokens have an
//! audience of their own, so they are refused wherever an `id_token`,
//! session or handshake token is expected ([`verify_widget_token`]).
//!
//! ## The customer app's side
//!
//! With the `client` feature, `client` builds the customer app's requests as
//! `http::Request` values and parses the answers: the code request (checked
//! before it is sent, and bound to the reader's browser by the KB's
//! `codeChallenge`: `CodeRequestBuilder::for_sign_in`), the callback URL,
//! handshake token signing and the widget token request.
//!
//! ## Login page, domain routing, administration
//!
//! [`LoginPage::resolve`] decides what a reader sees (the spec's six states,
//! button limits, Direct JWT login); [`DomainRouter`] sends a typed domain to
//! the most specific configuration. [`Project`] keeps the admin rules (at
//! most 5 configurations, unique domains, at most 3 login buttons) and
//! returns the [`AuditEvent`] of every operation; [`AuditSink`] chains them
//! and keeps a signed [`Checkpoint`] of the chain's head, so that an edit,
//! insertion or removal anywhere, the newest entries included, is found.
//!
//! ## Many instances
//!
//! Every instance must share one atomic [`CodeStore`]: the `redis` feature
//! provides `store::redis::RedisCodeStore`.
//!
//! ## Where things are
//!
//! Every public item has one path. The protocol core is at the crate root;
//! a few namespaces hold what belongs together:
//!
//! | path | what | feature |
//! |---|---|---|
//! | `kb_sso::*` | the protocol core: configurations, codes, tokens, handshakes, widgets, sessions, audit | — |
//! | [`store`] | store forms (`&T`, `Arc`, `Box`, `dyn`), [`store::memory`], `store::redis` | `redis` for Redis |
//! | [`paths`] | the endpoint paths | — |
//! | `server` | the KB site's and identity server's HTTP endpoints | `server` |
//! | `server::tower` | the endpoints as a `tower::Service`, a guard `Layer` for the host's routes | `tower` |
//! | `server::axum` | the endpoints as an axum `Router`, `guard_layer`, the `ReaderSession` extractor | `axum` |
//! | `client` | the customer app's side | `client` |
//! | `project_file` | whole projects as JSON files, for development | `dev-files` |
//!
//! ## Security
//!
//! What the crate guarantees:
//! - Client secrets are 256-bit random values, stored only as SHA-256
//!   digests, compared in constant time; their `Debug` is redacted and their
//!   memory zeroed. An unknown client id costs the same work as a wrong
//!   secret.
//! - Codes are stored as digests; redemption is one atomic store call, so of
//!   any number of concurrent redemptions exactly one wins. A second use is
//!   refused as `invalid_grant`.
//! - Tokens pin their algorithm per key: `alg: none`, algorithm swaps, `crit`
//!   headers, weak Ed25519 keys and HMAC keys under 32 bytes are refused;
//!   `exp` and `iat` are required and checked against the injected clock.
//! - Redirect targets are paths on the KB only, checked before and after
//!   percent-decoding and resolved against the KB's own origin.
//! - Session cookies are HMAC-signed with the KB's own key, `HttpOnly`,
//!   `SameSite=Lax`, and `Secure` on https; logging out revokes the session
//!   on the server.
//! - Codes can be bound to the reader's browser (login binding); a
//!   configuration that does not require it leaves login CSRF open, as
//!   `SECURITY.md` explains.
//!
//! What the host must do: serve everything over HTTPS, keep the token
//! signing key and the session key secret, use an atomic shared
//! [`CodeStore`] when running several instances, and never log request
//! bodies or `Authorization` headers.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod admin;
mod audit;
#[cfg(feature = "client")]
pub mod client;
mod clock;
mod code;
mod config;
mod form;
mod forward;
mod handshake;
mod identity;
mod jose;
pub mod keys;
mod limit;
mod login_page;
pub mod paths;
mod project;
#[cfg(feature = "dev-files")]
pub mod project_file;
mod reader;
mod redirect;
mod routing;
mod secret;
#[cfg(feature = "server")]
pub mod server;
mod session;
pub mod store;
mod validity;
mod widget;

pub use admin::{Admin, AdminError, Applied};
pub use audit::{
    Administrator, AuditAction, AuditEntry, AuditEvent, AuditLog, AuditSink, AuditValue, BUTTON_LIMIT_MESSAGE,
    ChainError, ChainHash, ChainHead, Checkpoint, CheckpointKey, FieldChange, InvalidChainHash, MIN_CHECKPOINT_KEY_LEN,
    MIN_RETENTION, Notification, Notifier, Principal, Recipients, SecurityAuditAccess, WeakCheckpointKey, verify_chain,
};
pub use audit::{
    AuditCursor, AuditPage, AuditQuery, AuditQueryError, AuditQueryParams, BUTTON_LIMIT_SUBJECT, EventCategory,
    EventFilter, MIN_LEASE, NotificationOutbox, OutboxEntry, OutboxId, OutboxLease, OutboxState,
};
pub use clock::{Clock, SettableClock, SystemClock};
pub use code::{
    AuthCode, CodeDigest, CodeError, CodeGrant, CodeGrantRef, CodeIssuer, CodeRequest, CodeStore,
    DEFAULT_CODE_LIFETIME, DEFAULT_MAX_IDENTITY_BYTES, DEFAULT_MAX_OUTSTANDING_CODES, GrantProblem, GroupIds,
    Insertion, MAX_CODE_LIFETIME, Redemption, s256_challenge,
};
pub use config::{
    ClientAuthError, ConfigError, IssuedSecrets, JwtConfig, JwtConfigBuilder, Logo, LogoFormat, MAX_JWT_CONFIGS,
    MAX_LOGIN_BUTTONS, MAX_LOGO_BYTES, MAX_NAME_CHARS, MAX_URL_LEN,
};
pub use handshake::{
    ALL_GROUPS, HandshakeAlg, HandshakeClaims, HandshakeError, HandshakeErrorKind, HandshakeKey, HandshakeOptions,
    HandshakeSettings, HandshakeSettingsBuilder, HandshakeSetupError, HandshakeVerifier, MAX_HANDSHAKE_CONFIGS,
    ReaderGroups, ReplayCache, SessionMode, VerifiedHandshake, generate_ed25519_key_pair, jwt_error_reason,
};
pub use identity::{
    ACCESS_TOKEN_TYPE, AccessTokenClaims, Exchange, ID_TOKEN_TYPE, IdTokenClaims, IdentityServer, TokenResponse,
    id_token_validation,
};
pub use jose::{
    Algorithm, Audience, DEFAULT_LEEWAY_SECS, KeyError, KeySet, MAX_LEEWAY_SECS, MAX_NUMERIC_DATE, MAX_TOKEN_LEN,
    MIN_HMAC_SECRET_LEN, SignError, SigningKey, TokenSigner, TokenType, UntrustedToken, Validation, VerificationKey,
    Verified, Verifier, VerifyError,
};
pub use limit::{Decision, Limit, LimitError, Limits, RateLimiter};
pub use login_page::{
    HtmlLoginRenderer, JwtButton, LoginOptions, LoginPage, LoginPageRenderer, MAX_SSO_BUTTONS, NO_OPTIONS_MESSAGE,
    RenderContext, SsoButton,
};
pub use project::{
    Change, ConfigStore, Created, HandshakeKeyPair, HandshakeKeys, Project, ProjectSettings, ProjectSnapshot, Revision,
    SsoKind, SsoProvider, StaleRevision, Visibility,
};
pub use reader::{MAX_FIELD_CHARS, MAX_READER_GROUPS, PayloadError, ReaderIdentity};
pub use redirect::{MAX_REDIRECT_LEN, RedirectError, RedirectPolicy, SafeRedirect};
pub use routing::{DomainInputError, DomainRouter, MAX_DOMAIN_INPUT, MultiProjectRouter, Route, normalize_domain};
pub use secret::{
    BasicAuthError, ClientCredentials, ClientId, ClientSecret, CredentialsError, InvalidClientId,
    MAX_AUTHORIZATION_LEN, MalformedSecret, RANDOM_TOKEN_LEN, SecretDigest,
};
pub use session::{
    DEFAULT_SESSION_DURATION, HANDSHAKE_COOKIE, MAX_CODE_FLOW_SESSION, MAX_COOKIE_LEN, MAX_ENCODED_LEN,
    MAX_SESSION_CLAIMS_BYTES, MAX_SESSION_DURATION, MAX_SESSION_KEYS, MIN_KEY_LEN as MIN_SESSION_KEY_LEN,
    RETURN_COOKIE, RETURN_COOKIE_LIFETIME, ReaderSession, SECURE_RETURN_COOKIE, SECURE_SESSION_COOKIE,
    SECURE_VERIFIER_COOKIE, SESSION_COOKIE, SessionCodec, SessionError, SessionRevocations, TokenBinding,
    VERIFIER_COOKIE, session_identity_room,
};
pub use validity::{TokenValidity, ValidityBand};
pub use widget::{
    MAX_ID_LEN as MAX_WIDGET_ID_LEN, MAX_PAYLOAD_BYTES as MAX_WIDGET_PAYLOAD_BYTES, WIDGET_AUDIENCE_SUFFIX,
    WIDGET_GRANT_TYPE, WIDGET_TOKEN_TYPE, WidgetClaims, WidgetError, WidgetPayload, WidgetProject,
    WidgetProjectBuilder, WidgetSetupError, WidgetTokenIssuer, WidgetTokenRequest, WidgetTokenResponse,
    verify_widget_token, widget_audience, widget_validation,
};

/// The README's examples, compiled and run as doc-tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
