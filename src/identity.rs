//! The identity server: issues codes to customer apps and exchanges them
//! for signed tokens.
//!
//! [`IdentityServer`] ties a [`ConfigStore`], a [`CodeIssuer`] and a
//! [`TokenSigner`] together: [`issue_code`](IdentityServer::issue_code)
//! serves the code generation URL, [`exchange`](IdentityServer::exchange)
//! the back channel that turns a code into an `id_token`.

use serde::{Deserialize, Serialize};
use time::Duration;

use crate::clock::Clock;
use crate::code::{CodeDigest, CodeError, CodeGrant, CodeIssuer, CodeStore, GrantProblem, authenticate};
use crate::config::ConfigStore;
use crate::secret::{ClientCredentials, ClientId, random_token};
use crate::token::{IdTokenClaims, SigningKey, TokenSigner, VerificationKey};

/// The answer of the code exchange (RFC 6749 section 5.1).
#[derive(Clone, Serialize, Deserialize)]
pub struct TokenResponse {
    /// The signed token carrying the reader's claims.
    pub id_token: String,
    /// A bearer token for the KB's own APIs (same lifetime and reader).
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until both tokens expire.
    pub expires_in: i64,
}

impl std::fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenResponse")
            .field("id_token", &"[redacted]")
            .field("access_token", &"[redacted]")
            .field("token_type", &self.token_type)
            .field("expires_in", &self.expires_in)
            .finish()
    }
}

/// Claims of the access token returned beside the `id_token`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessTokenClaims {
    /// Issuer.
    pub iss: String,
    /// The reader's username.
    pub sub: String,
    /// `<issuer>/kb`: the KB's API, never a client id, so an access token is
    /// refused wherever an `id_token` is expected.
    pub aud: String,
    /// The configuration the reader came through.
    pub client_id: String,
    /// Reader group ids.
    pub groups: Vec<String>,
    /// Issued at (Unix seconds).
    pub iat: i64,
    /// Expires at (Unix seconds).
    pub exp: i64,
    /// Token id.
    pub jti: String,
}

/// Issues codes and exchanges them for tokens.
#[derive(Debug)]
pub struct IdentityServer<CS, S, C> {
    configs: CS,
    codes: CodeIssuer<S, C>,
    signer: TokenSigner,
    /// Signs access tokens: a key of the KB's own (HS256 by default), since
    /// only the KB verifies them. `None` when no key could be made: the
    /// `id_token` signer is used.
    access_signer: Option<TokenSigner>,
    issuer: String,
}

impl<CS: ConfigStore, S: CodeStore, C: Clock> IdentityServer<CS, S, C> {
    /// An identity server named `issuer` (the `iss` of its tokens, usually
    /// its base URL).
    pub fn new(configs: CS, codes: CodeIssuer<S, C>, signer: TokenSigner, issuer: impl Into<String>) -> Self {
        let key = crate::secret::random_token();
        let access_signer = SigningKey::hs256("kb-access", key.as_bytes())
            .ok()
            .map(TokenSigner::new);
        Self {
            configs,
            codes,
            signer,
            access_signer,
            issuer: issuer.into(),
        }
    }

    /// Signs access tokens with `signer` instead of the random HS256 key made
    /// at start (share one key between instances whose KB APIs verify
    /// access tokens).
    pub fn with_access_signer(mut self, signer: TokenSigner) -> Self {
        self.access_signer = Some(signer);
        self
    }

    /// The key that verifies this server's access tokens (their audience is
    /// [`access_audience`](Self::access_audience)). An HMAC key: never
    /// publish it.
    pub fn access_verification_key(&self) -> VerificationKey {
        self.access_signer
            .as_ref()
            .unwrap_or(&self.signer)
            .key()
            .verification_key()
    }

    /// The configurations.
    pub fn configs(&self) -> &CS {
        &self.configs
    }

    /// The code issuer.
    pub fn codes(&self) -> &CodeIssuer<S, C> {
        &self.codes
    }

    /// The token signer.
    pub fn signer(&self) -> &TokenSigner {
        &self.signer
    }

    /// The issuer name.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The audience of access tokens: `<issuer>/kb`.
    pub fn access_audience(&self) -> String {
        format!("{}/kb", self.issuer)
    }

    /// Serves the code generation URL: authenticates `credentials`
    /// (primary or secondary secret), refuses a disabled configuration,
    /// checks `body` and issues a one-time code.
    ///
    /// The credentials are checked before the body is read, so an
    /// unauthenticated caller learns nothing about payload rules.
    ///
    /// # Errors
    /// [`CodeError::InvalidClient`], [`CodeError::Disabled`],
    /// [`CodeError::InvalidRequest`] or [`CodeError::Store`].
    pub async fn issue_code(
        &self,
        credentials: &ClientCredentials,
        body: &[u8],
    ) -> Result<crate::code::AuthCode, CodeError> {
        let config = self.lookup(&credentials.client_id).await?;
        let secret = credentials.secret.expose().as_bytes();
        self.codes.issue_json(config.as_ref(), secret, body).await
    }

    /// Redeems `code` and signs the reader's tokens. When `client` is given
    /// it must authenticate and the code must have been issued to it.
    /// A code bound to a browser (login binding) is refused here; use
    /// [`exchange_with_verifier`](Self::exchange_with_verifier).
    ///
    /// # Errors
    /// As [`exchange_with_verifier`](Self::exchange_with_verifier).
    pub async fn exchange(&self, code: &str, client: Option<&ClientCredentials>) -> Result<TokenResponse, CodeError> {
        self.exchange_with_verifier(code, client, None).await
    }

    /// Redeems `code` with the login binding verifier from the reader's
    /// browser (`code_verifier`, RFC 7636): a code requested with a
    /// `codeChallenge` is exchanged only when `verifier` answers it. Any
    /// attempt uses the code up.
    ///
    /// # Errors
    /// [`CodeError::InvalidClient`] for bad client credentials;
    /// [`CodeError::InvalidGrant`] for an unknown, expired, used or foreign
    /// code, a binding mismatch, or a code whose configuration was disabled
    /// or deleted since; [`CodeError::Store`] when a store fails.
    pub async fn exchange_with_verifier(
        &self,
        code: &str,
        client: Option<&ClientCredentials>,
        verifier: Option<&str>,
    ) -> Result<TokenResponse, CodeError> {
        let client_id = match client {
            Some(creds) => {
                let config = self.lookup(&creds.client_id).await?;
                let config = authenticate(config.as_ref(), creds.secret.expose().as_bytes())?;
                Some(config.client_id().clone())
            }
            None => None,
        };
        let grant = self.codes.redeem(code, client_id.as_ref()).await?;
        if let Some(challenge) = &grant.code_challenge
            && !verifier.is_some_and(|v| crate::code::verifier_matches(challenge, v))
        {
            return Err(CodeError::InvalidGrant(GrantProblem::BindingMismatch));
        }
        // Configuration changes apply at once: a configuration disabled or
        // deleted after the code was issued issues nothing.
        match self.lookup(grant.client_id.as_str()).await? {
            Some(c) if c.is_enabled() => {}
            _ => return Err(CodeError::InvalidGrant(GrantProblem::ConfigurationInactive)),
        }
        self.sign_tokens(code, &grant)
    }

    /// The `jti` of the `id_token` that redeeming `code` issues (or issued).
    /// It is derived from the code, so that when a code is used a second
    /// time the KB can revoke the session the first use opened (RFC 6749
    /// section 4.1.2) without storing anything more.
    pub fn token_id_for_code(code: &str) -> String {
        use base64::Engine as _;
        let mut input = b"kb-sso id_token jti\0".to_vec();
        input.extend_from_slice(&CodeDigest::of(code).0);
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(crate::secret::sha256(&input))
    }

    fn sign_tokens(&self, code: &str, grant: &CodeGrant) -> Result<TokenResponse, CodeError> {
        let now = self.codes.clock().now();
        let iat = now.unix_timestamp();
        let validity = grant.token_validity().max(Duration::SECOND);
        let exp = (now + validity).unix_timestamp();
        let who = &grant.identity;
        let name = who.full_name();
        let id = IdTokenClaims {
            iss: self.issuer.clone(),
            sub: who.username.clone(),
            aud: grant.client_id.to_string(),
            iat,
            exp,
            jti: Self::token_id_for_code(code),
            given_name: who.first_name.clone(),
            family_name: who.last_name.clone(),
            name,
            email: who.email.clone(),
            groups: who.reader_group_ids.clone(),
        };
        let access = AccessTokenClaims {
            iss: self.issuer.clone(),
            sub: who.username.clone(),
            aud: self.access_audience(),
            client_id: grant.client_id.to_string(),
            groups: who.reader_group_ids.clone(),
            iat,
            exp,
            jti: random_token().to_string(),
        };
        let sign_err = |e: crate::token::SignError| CodeError::Store(Box::new(e));
        Ok(TokenResponse {
            id_token: self.signer.sign(&id).map_err(sign_err)?,
            access_token: self
                .access_signer
                .as_ref()
                .unwrap_or(&self.signer)
                .sign(&access)
                .map_err(sign_err)?,
            token_type: "Bearer".to_owned(),
            expires_in: exp - iat,
        })
    }

    async fn lookup(&self, client_id: &str) -> Result<Option<crate::config::JwtConfig>, CodeError> {
        let Ok(id) = ClientId::parse(client_id) else {
            return Ok(None);
        };
        self.configs.get(&id).await.map_err(|e| CodeError::Store(Box::new(e)))
    }
}
