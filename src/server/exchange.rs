//! How a KB site redeems a code: [`CodeExchange`], in process
//! ([`InProcess`]) or over the back channel to a remote identity server
//! ([`RemoteExchange`]).

use std::future::Future;
use std::sync::Arc;

use http::header;
use http::{Method, Request, Response, StatusCode};
use time::OffsetDateTime;

use crate::clock::Clock;
use crate::code::{CodeError, CodeStore};
use crate::identity::{ID_TOKEN_TYPE, IdTokenClaims, IdentityServer, TokenResponse, id_token_validation};
use crate::jose::{KeySet, UntrustedToken, Validation, Verifier, VerifyError};
use crate::paths;
use crate::project::{ConfigStore, Project, ProjectSnapshot, Revision, StaleRevision};
use crate::secret::{ClientCredentials, ClientId};
use crate::session::ReaderSession;

/// Why a code opened no session.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExchangeError {
    /// The identity server in this process refused the code.
    #[error(transparent)]
    Code(#[from] CodeError),
    /// The remote identity server refused the code with this OAuth error.
    #[error("the identity server refused the code: {error}")]
    Refused {
        /// The HTTP status of its answer.
        status: u16,
        /// Its `error` (for example `invalid_grant`).
        error: String,
    },
    /// The `id_token` the remote identity server answered with did not
    /// verify, or names no reader session.
    #[error("the identity server's id_token is not valid: {0}")]
    Token(VerifyError),
    /// The identity server could not be reached, or answered with
    /// something that is not a token response.
    #[error("the identity server is not answering")]
    Unavailable,
}

/// Redeems a code the customer app sent the reader back with, and says
/// whose session it opens.
pub trait CodeExchange: Send + Sync {
    /// Redeems `code` with the login binding `verifier` from the reader's
    /// browser.
    ///
    /// # Errors
    /// [`ExchangeError`] says why no session is opened.
    fn redeem(
        &self,
        code: &str,
        verifier: Option<&str>,
    ) -> impl Future<Output = Result<ReaderSession, ExchangeError>> + Send;
}

/// The identity server in this process, shared with its endpoints: a
/// [`CodeExchange`] that opens the session straight from the redeemed
/// grant ([`IdentityServer::redeem_for_session`]), with no token signed or
/// verified, and the site's [`ConfigStore`] and [`Clock`] (the identity
/// server's own).
#[derive(Debug)]
pub struct InProcess<CS, S, C>(pub Arc<IdentityServer<CS, S, C>>);

impl<CS, S, C> Clone for InProcess<CS, S, C> {
    fn clone(&self) -> Self {
        Self(Arc::clone(&self.0))
    }
}

impl<CS: ConfigStore, S: CodeStore, C: Clock> CodeExchange for InProcess<CS, S, C> {
    async fn redeem(&self, code: &str, verifier: Option<&str>) -> Result<ReaderSession, ExchangeError> {
        Ok(self.0.redeem_for_session(code, verifier).await?)
    }
}

impl<CS: ConfigStore, S: CodeStore, C: Clock> Clock for InProcess<CS, S, C> {
    fn now(&self) -> OffsetDateTime {
        self.0.codes().clock().now()
    }
}

impl<CS: ConfigStore, S: CodeStore, C: Clock> ConfigStore for InProcess<CS, S, C> {
    type Error = CS::Error;

    fn current(&self) -> impl Future<Output = Result<ProjectSnapshot, Self::Error>> + Send {
        self.0.configs().current()
    }

    fn save(
        &self,
        base: Revision,
        project: Project,
    ) -> impl Future<Output = Result<Result<Revision, StaleRevision>, Self::Error>> + Send {
        self.0.configs().save(base, project)
    }
}

/// Sends one back-channel request to the identity server and returns its
/// answer: the host's HTTP client, so that this crate needs none.
pub trait TokenSender: Send + Sync {
    /// The client's failure (connection, timeout, ...).
    type Error: std::error::Error + Send + Sync + 'static;

    /// Sends `req` (absolute URI, body collected) and collects the answer.
    ///
    /// # Errors
    /// The client's own, when no answer came.
    fn send(&self, req: Request<Vec<u8>>) -> impl Future<Output = Result<Response<Vec<u8>>, Self::Error>> + Send;
}

/// The largest token response read, in bytes: two tokens of at most
/// [`MAX_TOKEN_LEN`](crate::jose::MAX_TOKEN_LEN) and a little JSON.
const MAX_TOKEN_RESPONSE: usize = 3 * crate::jose::MAX_TOKEN_LEN;

/// A remote identity server: each code is redeemed with `POST
/// /api/jwt/token` through the host's [`TokenSender`], and the `id_token`
/// in the answer is verified with the server's published keys
/// ([`KeySet::from_jwks_json`]) by [`id_token_validation`] before it opens
/// a session ([`IdTokenClaims::into_session`]).
pub struct RemoteExchange<T> {
    sender: T,
    token_url: String,
    credentials: Option<ClientCredentials>,
    keys: Verifier,
    issuer: String,
    clock: Arc<dyn Clock>,
}

impl<T> std::fmt::Debug for RemoteExchange<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteExchange")
            .field("token_url", &self.token_url)
            .field("credentials", &self.credentials)
            .field("keys", &self.keys)
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

impl<T: TokenSender> RemoteExchange<T> {
    /// Redeems codes at `base_url` + `/api/jwt/token` (`base_url` without a
    /// trailing slash, e.g. `https://id.example.com`, plus the identity
    /// server's mount prefix if any), accepting `id_token`s of `issuer`
    /// signed by one of `keys`, checked at the time `clock` tells.
    pub fn new(
        sender: T,
        base_url: &str,
        issuer: impl Into<String>,
        keys: KeySet,
        clock: impl Clock + 'static,
    ) -> Self {
        Self {
            sender,
            token_url: format!("{}{}", base_url.trim_end_matches('/'), paths::TOKEN),
            credentials: None,
            keys: Verifier::new(keys, Validation::new()),
            issuer: issuer.into(),
            clock: Arc::new(clock),
        }
    }

    /// Authenticates every exchange as this configuration (form fields
    /// `client_id` and `client_secret`), and requires the `id_token`'s
    /// audience to be it. Without credentials the audience is the client
    /// id the token names, which must parse as one.
    pub fn credentials(mut self, credentials: ClientCredentials) -> Self {
        self.credentials = Some(credentials);
        self
    }

    /// The back-channel request for `code`.
    fn request(&self, code: &str, verifier: Option<&str>) -> Result<Request<Vec<u8>>, ExchangeError> {
        let mut form = url::form_urlencoded::Serializer::new(String::new());
        form.append_pair("grant_type", "authorization_code");
        form.append_pair("code", code);
        if let Some(v) = verifier {
            form.append_pair("code_verifier", v);
        }
        if let Some(c) = &self.credentials {
            form.append_pair("client_id", &c.client_id);
            form.append_pair("client_secret", c.secret.expose());
        }
        Request::builder()
            .method(Method::POST)
            .uri(&self.token_url)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::ACCEPT, "application/json")
            .body(form.finish().into_bytes())
            .map_err(|_| ExchangeError::Unavailable)
    }

    /// The session the token response `body` opens, after its `id_token`
    /// verifies.
    fn session(&self, body: &[u8]) -> Result<ReaderSession, ExchangeError> {
        let tokens: TokenResponse = serde_json::from_slice(body).map_err(|_| ExchangeError::Unavailable)?;
        let untrusted = UntrustedToken::parse(&tokens.id_token).map_err(ExchangeError::Token)?;
        let now = self.clock.now();
        let validation = match &self.credentials {
            Some(c) => {
                let id = ClientId::parse(&c.client_id).map_err(|_| ExchangeError::Token(VerifyError::WrongAudience))?;
                id_token_validation(&self.issuer, &id)
            }
            // The audience is checked below: it must be a client id.
            None => Validation::new().token_type(ID_TOKEN_TYPE).issuer(self.issuer.clone()),
        };
        let claims: IdTokenClaims = self
            .keys
            .verify_with(&untrusted, &validation, now)
            .map_err(ExchangeError::Token)?
            .into_claims();
        claims
            .into_session()
            .ok_or(ExchangeError::Token(VerifyError::WrongAudience))
    }
}

impl<T: TokenSender> CodeExchange for RemoteExchange<T> {
    async fn redeem(&self, code: &str, verifier: Option<&str>) -> Result<ReaderSession, ExchangeError> {
        let req = self.request(code, verifier)?;
        let resp = self.sender.send(req).await.map_err(|_| ExchangeError::Unavailable)?;
        if resp.body().len() > MAX_TOKEN_RESPONSE {
            return Err(ExchangeError::Unavailable);
        }
        if resp.status() == StatusCode::OK {
            return self.session(resp.body());
        }
        if resp.status().is_client_error() {
            #[derive(serde::Deserialize)]
            struct OAuthError {
                error: String,
            }
            if let Ok(e) = serde_json::from_slice::<OAuthError>(resp.body()) {
                return Err(ExchangeError::Refused {
                    status: resp.status().as_u16(),
                    error: e.error,
                });
            }
        }
        Err(ExchangeError::Unavailable)
    }
}
