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
use crate::code::{CodeDigest, CodeError, CodeGrant, CodeGrantRef, CodeIssuer, CodeStore, GrantProblem, GroupIds};
use crate::config::JwtConfig;
use crate::jose::{
    KeySet, MAX_NUMERIC_DATE, SigningKey, TokenSigner, TokenType, Validation, VerificationKey, Verified, Verifier,
    VerifyError,
};
use crate::project::{ConfigRef, ConfigStore};
use crate::secret::{ClientCredentials, ClientId};
use crate::session::ReaderSession;

/// The type (`typ` header) of the `id_token` of the code exchange:
/// `kb-sso.id+jwt`. Its verifiers require it, so no other kind of token
/// signed by the same key passes for an `id_token`.
pub const ID_TOKEN_TYPE: TokenType = TokenType::new("kb-sso.id+jwt");

/// The type (`typ` header) of the access token of the code exchange:
/// `kb-sso.access+jwt`.
pub const ACCESS_TOKEN_TYPE: TokenType = TokenType::new("kb-sso.access+jwt");

/// The claims of an `id_token` issued by the identity server after a code
/// exchange.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdTokenClaims {
    /// Issuer.
    pub iss: String,
    /// Subject: the reader's username.
    pub sub: String,
    /// Audience: the configuration's client id.
    pub aud: String,
    /// Issued at, seconds since the Unix epoch.
    pub iat: i64,
    /// Expiry, seconds since the Unix epoch.
    pub exp: i64,
    /// Unique token id.
    pub jti: String,
    /// First name.
    pub given_name: String,
    /// Last name.
    pub family_name: String,
    /// Full name.
    pub name: String,
    /// Email address, as given (never case-folded).
    pub email: String,
    /// Reader group ids.
    #[serde(default)]
    pub groups: Vec<String>,
}

impl IdTokenClaims {
    /// The reader session these verified claims open: it lasts as long as
    /// the token and carries its `jti`, so that revoking the token ends the
    /// session. `None` when `aud` is not a client id or `exp` is not a date.
    #[must_use]
    pub fn into_session(self) -> Option<ReaderSession> {
        let client_id = ClientId::parse(&self.aud).ok()?;
        let expires_at = time::OffsetDateTime::from_unix_timestamp(self.exp).ok()?;
        let username = crate::session::username_or_fallback(
            self.sub,
            &self.email,
            &client_id,
            &[&self.given_name, &self.family_name],
        );
        Some(ReaderSession {
            username,
            email: self.email,
            first_name: self.given_name,
            last_name: self.family_name,
            groups: self.groups,
            client_id,
            jti: self.jti,
            expires_at,
            name: String::new(),
            claims: serde_json::Map::new(),
            binding: None,
        })
    }
}

/// What an `id_token` from `issuer` for the configuration `client_id` must
/// satisfy: type [`ID_TOKEN_TYPE`], issuer `issuer`, audience the
/// client id. A widget token or an access token fails it (wrong type and
/// wrong audience).
#[must_use]
pub fn id_token_validation(issuer: &str, client_id: &ClientId) -> Validation {
    Validation::new()
        .token_type(ID_TOKEN_TYPE)
        .issuer(issuer)
        .audience(client_id.as_str())
}

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
    /// Token id: the same as the `id_token`'s, derived from the code
    /// ([`IdentityServer::token_id_for_code`]), so that revoking it when the
    /// code is used again revokes everything the exchange issued.
    pub jti: String,
}

/// [`IdTokenClaims`], borrowed: the same fields in the same order, so the
/// same JSON.
#[derive(Serialize)]
struct IdTokenClaimsRef<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    iat: i64,
    exp: i64,
    jti: &'a str,
    given_name: &'a str,
    family_name: &'a str,
    name: FullName<'a>,
    email: &'a str,
    groups: GroupIds<'a>,
}

/// Writes the string `parts` make together, joined on the stack when short
/// (as names and issuers are), without a heap copy either way.
fn serialize_joined<S: serde::Serializer>(serializer: S, parts: &[&str]) -> Result<S::Ok, S::Error> {
    const STACK: usize = 256;
    let len: usize = parts.iter().map(|p| p.len()).sum();
    if len > STACK {
        return serializer.collect_str(&Joined(parts));
    }
    let mut buf = [0u8; STACK];
    let mut at = 0;
    for part in parts {
        buf[at..at + part.len()].copy_from_slice(part.as_bytes());
        at += part.len();
    }
    // Whole strings laid end to end: UTF-8.
    match std::str::from_utf8(&buf[..at]) {
        Ok(text) => serializer.serialize_str(text),
        Err(_) => serializer.collect_str(&Joined(parts)),
    }
}

/// Parts written one after another.
struct Joined<'a>(&'a [&'a str]);

impl std::fmt::Display for Joined<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.iter().try_for_each(|p| f.write_str(p))
    }
}

/// The `name` claim: first and last name joined by a space, trimmed
/// (`ReaderIdentity::full_name`), written without a copy.
struct FullName<'a>(&'a str, &'a str);

impl Serialize for FullName<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // `format!("{first} {last}").trim()`: when one side is blank after
        // trimming its outer end, the other side trimmed alone.
        let (first, last) = (self.0.trim_start(), self.1.trim_end());
        if first.is_empty() {
            serializer.serialize_str(last.trim_start())
        } else if last.is_empty() {
            serializer.serialize_str(first.trim_end())
        } else {
            serialize_joined(serializer, &[first, " ", last])
        }
    }
}

/// [`AccessTokenClaims`], borrowed: the same fields in the same order, so
/// the same JSON.
#[derive(Serialize)]
struct AccessTokenClaimsRef<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: AccessAudience<'a>,
    client_id: &'a str,
    groups: GroupIds<'a>,
    iat: i64,
    exp: i64,
    jti: &'a str,
}

/// The access tokens' audience of an issuer, `<issuer>/kb`
/// ([`IdentityServer::access_audience`]), written without a copy.
struct AccessAudience<'a>(&'a str);

impl Serialize for AccessAudience<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serialize_joined(serializer, &[self.0, "/kb"])
    }
}

/// What one code exchange issued, with the configuration it was for.
#[derive(Debug, Clone)]
pub struct Exchange {
    /// The configuration the code was issued to: the `id_token`'s `aud`.
    pub client_id: ClientId,
    /// The tokens.
    pub tokens: TokenResponse,
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
    /// Public keys of previous signers, still published and accepted until
    /// the tokens they signed have expired.
    previous_keys: Vec<VerificationKey>,
    issuer: String,
}

impl<CS: ConfigStore, S: CodeStore, C: Clock> IdentityServer<CS, S, C> {
    /// An identity server named `issuer` (the `iss` of its tokens, usually
    /// its base URL).
    ///
    /// The code issuer is told how much room these signers' tokens have for
    /// a reader identity, so that it refuses up front a request whose tokens
    /// could not be signed.
    pub fn new(configs: CS, codes: CodeIssuer<S, C>, signer: TokenSigner, issuer: impl Into<String>) -> Self {
        let key = crate::secret::random_token();
        let access_signer = SigningKey::hs256("kb-access", key.as_bytes())
            .ok()
            .map(|k| TokenSigner::new(k).with_token_type(ACCESS_TOKEN_TYPE));
        let mut server = Self {
            configs,
            codes,
            // The exchange signs both types: their headers are encoded once.
            signer: signer.with_token_type(ID_TOKEN_TYPE).with_token_type(ACCESS_TOKEN_TYPE),
            access_signer,
            previous_keys: Vec::new(),
            issuer: issuer.into(),
        };
        server.update_token_room();
        server
    }

    /// Signs access tokens with `signer` instead of the random HS256 key made
    /// at start (share one key between instances whose KB APIs verify
    /// access tokens).
    pub fn with_access_signer(mut self, signer: TokenSigner) -> Self {
        self.access_signer = Some(signer.with_token_type(ACCESS_TOKEN_TYPE));
        self.update_token_room();
        self
    }

    /// Publishes and accepts the public keys of previous token signers
    /// besides the current signer's (key rotation: a token signed before
    /// the rotation still verifies until it expires). A key whose `kid` is
    /// the current signer's, or repeats an earlier one, is left out.
    pub fn with_previous_keys(mut self, keys: impl IntoIterator<Item = VerificationKey>) -> Self {
        let mut published = KeySet::new();
        let _ = published.insert(self.signer.key().verification_key());
        self.previous_keys = keys
            .into_iter()
            .filter(|k| published.insert(k.clone()).is_ok())
            .collect();
        self
    }

    /// The public keys of this server's `id_token`s: the current signer's
    /// key and the previous ones. The JWK Set publishes these.
    pub fn published_keys(&self) -> KeySet {
        let mut keys = KeySet::new();
        // A fresh set holds no kid yet; previous keys were checked distinct.
        let _ = keys.insert(self.signer.key().verification_key());
        for key in &self.previous_keys {
            let _ = keys.insert(key.clone());
        }
        keys
    }

    /// The room, in bytes, both tokens of an exchange have for a reader
    /// identity ([`ReaderIdentity::token_bytes`](crate::ReaderIdentity::token_bytes)):
    /// the largest payload each signer can sign under
    /// [`MAX_TOKEN_LEN`](crate::jose::MAX_TOKEN_LEN), less the claims that
    /// do not come from the identity, at their longest. An identity within
    /// it always signs.
    pub fn identity_room(&self) -> usize {
        // The identity-free claims at their longest: dates of 12 digits, a
        // 36-character client id, a 43-character jti.
        let client_id = "00000000-0000-4000-8000-000000000000";
        let jti = "A".repeat(crate::secret::RANDOM_TOKEN_LEN);
        let date = MAX_NUMERIC_DATE;
        let id = IdTokenClaims {
            iss: self.issuer.clone(),
            sub: String::new(),
            aud: client_id.to_owned(),
            iat: date,
            exp: date,
            jti: jti.clone(),
            given_name: String::new(),
            family_name: String::new(),
            name: String::new(),
            email: String::new(),
            groups: Vec::new(),
        };
        let access = AccessTokenClaims {
            iss: self.issuer.clone(),
            sub: String::new(),
            aud: self.access_audience(),
            client_id: client_id.to_owned(),
            groups: Vec::new(),
            iat: date,
            exp: date,
            jti,
        };
        let id_fixed = serde_json::to_vec(&id).map_or(usize::MAX, |v| v.len());
        let access_fixed = serde_json::to_vec(&access).map_or(usize::MAX, |v| v.len());
        // The access token carries part of the identity only (`sub` and
        // `groups`), so checking the whole against its room is safe.
        let id_room = self.signer.max_payload_len(ID_TOKEN_TYPE).saturating_sub(id_fixed);
        let access_room = self
            .access_signer()
            .max_payload_len(ACCESS_TOKEN_TYPE)
            .saturating_sub(access_fixed);
        id_room.min(access_room)
    }

    /// Caps the room for a reader identity at `room` bytes (for example what
    /// a session cookie holds), below what the tokens allow.
    #[cfg_attr(not(feature = "server"), allow(dead_code))]
    pub(crate) fn cap_identity_room(&mut self, room: usize) {
        let room = self.identity_room().min(room);
        self.codes.set_token_room(room);
    }

    fn update_token_room(&mut self) {
        let room = self.identity_room();
        self.codes.set_token_room(room);
    }

    fn access_signer(&self) -> &TokenSigner {
        self.access_signer.as_ref().unwrap_or(&self.signer)
    }

    /// A verifier of this server's access tokens: type
    /// [`ACCESS_TOKEN_TYPE`], this issuer, audience
    /// [`access_audience`](Self::access_audience), with
    /// [`access_verification_key`](Self::access_verification_key).
    pub fn access_verifier(&self) -> Verifier {
        let mut keys = KeySet::new();
        // A fresh set holds no kid yet, so this insert cannot collide.
        let _ = keys.insert(self.access_verification_key());
        let validation = Validation::new()
            .token_type(ACCESS_TOKEN_TYPE)
            .issuer(self.issuer.clone())
            .audience(self.access_audience());
        Verifier::new(keys, validation)
    }

    /// Verifies an `id_token` of this server for the configuration
    /// `client_id` ([`id_token_validation`]) with the signer's key or a
    /// previous one ([`published_keys`](Self::published_keys)).
    ///
    /// # Errors
    /// [`VerifyError`] says why it is refused; a widget token or an access
    /// token is [`VerifyError::WrongAudience`] (and would be
    /// [`VerifyError::WrongType`] if its audience matched).
    pub fn verify_id_token(
        &self,
        token: &str,
        client_id: &ClientId,
        now: time::OffsetDateTime,
    ) -> Result<Verified<IdTokenClaims>, VerifyError> {
        Verifier::new(self.published_keys(), id_token_validation(&self.issuer, client_id)).verify_str(token, now)
    }

    /// The key that verifies this server's access tokens (their audience is
    /// [`access_audience`](Self::access_audience)). An HMAC key: never
    /// publish it.
    pub fn access_verification_key(&self) -> VerificationKey {
        self.access_signer().key().verification_key()
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
    /// [`CodeError::InvalidRequest`] (also for a reader identity too large
    /// for the tokens, [`PayloadError::IdentityTooLarge`](crate::PayloadError::IdentityTooLarge)),
    /// [`CodeError::TooManyCodes`], [`CodeError::ConfigStore`] or
    /// [`CodeError::CodeStore`].
    pub async fn issue_code(
        &self,
        credentials: &ClientCredentials,
        body: &[u8],
    ) -> Result<crate::code::AuthCode, CodeError> {
        let config = self.lookup(&credentials.client_id).await?;
        let secret = credentials.secret.expose().as_bytes();
        self.codes.issue_json(config.as_deref(), secret, body).await
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
    /// or deleted since; [`CodeError::Sign`] when a token cannot be signed;
    /// [`CodeError::ConfigStore`] or [`CodeError::CodeStore`] when a store
    /// fails.
    pub async fn exchange_with_verifier(
        &self,
        code: &str,
        client: Option<&ClientCredentials>,
        verifier: Option<&str>,
    ) -> Result<TokenResponse, CodeError> {
        self.exchange_for_client(code, client, verifier).await.map(|e| e.tokens)
    }

    /// As [`exchange_with_verifier`](Self::exchange_with_verifier), and
    /// says which configuration the code was for: the audience to require
    /// of the `id_token` ([`verify_id_token`](Self::verify_id_token)).
    ///
    /// # Errors
    /// As [`exchange_with_verifier`](Self::exchange_with_verifier).
    pub async fn exchange_for_client(
        &self,
        code: &str,
        client: Option<&ClientCredentials>,
        verifier: Option<&str>,
    ) -> Result<Exchange, CodeError> {
        let client_id = self.authenticate(client).await?;
        let digest = CodeIssuer::<S, C>::digest_of_code(code)?;
        let now = self.codes.clock().now();
        // The grant is read where the store holds it: the checks of
        // `redeem_checked` in its order, and the tokens signed from it.
        let signed = self
            .codes
            .store()
            .redeem_with(digest, now, |grant| {
                if client_id.as_ref().is_some_and(|c| c != grant.client_id) {
                    return Err(CodeError::InvalidGrant(GrantProblem::WrongClient));
                }
                if let Some(challenge) = grant.code_challenge
                    && !verifier.is_some_and(|v| crate::code::verifier_answers(challenge, v))
                {
                    return Err(CodeError::InvalidGrant(GrantProblem::BindingMismatch));
                }
                Ok((grant.client_id.clone(), self.sign_tokens(&digest, grant, now)))
            })
            .await
            .map_err(|e| CodeError::CodeStore(Box::new(e)))?
            .map_err(CodeError::InvalidGrant)?;
        let (client_id, tokens) = signed?;
        // Configuration changes apply at once: a configuration disabled or
        // deleted after the code was issued issues nothing (the tokens
        // signed are dropped unseen).
        match self.lookup_id(&client_id).await? {
            Some(c) if c.is_enabled() => {}
            _ => return Err(CodeError::InvalidGrant(GrantProblem::ConfigurationInactive)),
        }
        Ok(Exchange {
            client_id,
            tokens: tokens?,
        })
    }

    /// The client id of `client`'s configuration when its credentials
    /// authenticate; `None` when no client is given.
    async fn authenticate(&self, client: Option<&ClientCredentials>) -> Result<Option<ClientId>, CodeError> {
        Ok(match client {
            Some(creds) => {
                let config = self.lookup(&creds.client_id).await?;
                let config = JwtConfig::authenticate(config.as_deref(), creds.secret.expose().as_bytes())?;
                Some(config.client_id().clone())
            }
            None => None,
        })
    }

    /// Redeems `code` in process with the login binding `verifier` and
    /// opens the reader's session straight from the grant: no token is
    /// signed, parsed or verified, since no one outside reads it. The
    /// session carries the `jti` the exchange's tokens would carry
    /// ([`token_id_for_code`](Self::token_id_for_code)), so that a second use
    /// of the code revokes it, and lasts the grant's token validity.
    ///
    /// # Errors
    /// As [`exchange_with_verifier`](Self::exchange_with_verifier), without
    /// [`CodeError::Sign`] and [`CodeError::InvalidClient`].
    pub async fn redeem_for_session(&self, code: &str, verifier: Option<&str>) -> Result<ReaderSession, CodeError> {
        let (digest, grant) = self.redeem_checked(code, None, verifier).await?;
        let now = self.codes.clock().now();
        Ok(session_from_grant(&digest, grant, now))
    }

    /// Redeems `code` (for `client` when given) and checks the login binding
    /// and that the grant's configuration is still active. Answers the
    /// code's digest (computed once) with the grant.
    async fn redeem_checked(
        &self,
        code: &str,
        client: Option<&ClientCredentials>,
        verifier: Option<&str>,
    ) -> Result<(CodeDigest, CodeGrant), CodeError> {
        let client_id = self.authenticate(client).await?;
        let digest = CodeIssuer::<S, C>::digest_of_code(code)?;
        let grant = self.codes.redeem_digest(digest, client_id.as_ref()).await?;
        if let Some(challenge) = &grant.code_challenge
            && !verifier.is_some_and(|v| crate::code::verifier_answers(challenge, v))
        {
            return Err(CodeError::InvalidGrant(GrantProblem::BindingMismatch));
        }
        // Configuration changes apply at once: a configuration disabled or
        // deleted after the code was issued issues nothing.
        match self.lookup_id(&grant.client_id).await? {
            Some(c) if c.is_enabled() => {}
            _ => return Err(CodeError::InvalidGrant(GrantProblem::ConfigurationInactive)),
        }
        Ok((digest, grant))
    }

    /// The `jti` of the `id_token` and of the access token that redeeming
    /// `code` issues (or issued). It is derived from the code, so that when a
    /// code is used a second time the KB can revoke the session and the
    /// access token the first use issued, by this one id (RFC 6749 section
    /// 4.1.2), without storing anything more.
    pub fn token_id_for_code(code: &str) -> String {
        token_id_for_code(code)
    }

    /// Signs the tokens of `grant` redeemed at `now`.
    fn sign_tokens(
        &self,
        digest: &CodeDigest,
        grant: &CodeGrantRef<'_>,
        now: time::OffsetDateTime,
    ) -> Result<TokenResponse, CodeError> {
        let iat = now.unix_timestamp();
        let exp = token_expiry(grant.token_validity_seconds, now);
        let who = grant;
        let jti = TokenId::of_digest(digest);
        let jti = jti.as_str();
        // Borrowed views of the claims, serialized as `IdTokenClaims` and
        // `AccessTokenClaims` are: nothing is copied only to be signed.
        let id = IdTokenClaimsRef {
            iss: &self.issuer,
            sub: who.username,
            aud: grant.client_id.as_str(),
            iat,
            exp,
            jti,
            given_name: who.first_name,
            family_name: who.last_name,
            name: FullName(who.first_name, who.last_name),
            email: who.email,
            groups: who.reader_group_ids,
        };
        let access = AccessTokenClaimsRef {
            iss: &self.issuer,
            sub: who.username,
            aud: AccessAudience(&self.issuer),
            client_id: grant.client_id.as_str(),
            groups: who.reader_group_ids,
            iat,
            exp,
            jti,
        };
        // One buffer for both payloads.
        let mut payload = Vec::new();
        Ok(TokenResponse {
            id_token: self
                .signer
                .sign_typed_with(ID_TOKEN_TYPE, &id, &mut payload)
                .map_err(CodeError::Sign)?,
            access_token: self
                .access_signer()
                .sign_typed_with(ACCESS_TOKEN_TYPE, &access, &mut payload)
                .map_err(CodeError::Sign)?,
            token_type: "Bearer".to_owned(),
            expires_in: exp - iat,
        })
    }

    pub(crate) async fn lookup(&self, client_id: &str) -> Result<Option<ConfigRef>, CodeError> {
        let Ok(id) = ClientId::parse(client_id) else {
            return Ok(None);
        };
        self.lookup_id(&id).await
    }

    /// As [`lookup`](Self::lookup), for a client id already parsed.
    async fn lookup_id(&self, id: &ClientId) -> Result<Option<ConfigRef>, CodeError> {
        let snapshot = self
            .configs
            .current()
            .await
            .map_err(|e| CodeError::ConfigStore(Box::new(e)))?;
        Ok(snapshot.config(id))
    }
}

/// The expiry (Unix seconds) of the tokens redeeming `grant` at `now`
/// issues: the grant's token validity, at least one second.
fn token_expiry(token_validity_seconds: i64, now: time::OffsetDateTime) -> i64 {
    (now + Duration::seconds(token_validity_seconds).max(Duration::SECOND)).unix_timestamp()
}

/// The session a redeemed `grant` opens at `now`: the same reader, `jti`
/// and expiry as the `id_token` the exchange would sign, so that in process
/// and over the back channel a code opens the same session.
fn session_from_grant(digest: &CodeDigest, grant: CodeGrant, now: time::OffsetDateTime) -> ReaderSession {
    let exp = token_expiry(grant.token_validity_seconds, now);
    let who = grant.identity;
    let username = crate::session::username_or_fallback(
        who.username,
        &who.email,
        &grant.client_id,
        &[&who.first_name, &who.last_name],
    );
    ReaderSession {
        username,
        email: who.email,
        first_name: who.first_name,
        last_name: who.last_name,
        groups: who.reader_group_ids,
        client_id: grant.client_id,
        jti: TokenId::of_digest(digest).as_str().to_owned(),
        // `exp` is a date the clock produced plus at most a day.
        expires_at: time::OffsetDateTime::from_unix_timestamp(exp).unwrap_or(now),
        name: String::new(),
        claims: serde_json::Map::new(),
        binding: None,
    }
}

/// The `jti` a redemption of `code` gives its tokens and session
/// ([`IdentityServer::token_id_for_code`]).
pub(crate) fn token_id_for_code(code: &str) -> String {
    TokenId::of_digest(&CodeDigest::of(code)).as_str().to_owned()
}

/// The `jti` of a redemption ([`token_id_for_code`]), from the code's
/// digest, held on the stack: base64url of
/// SHA-256(`kb-sso id_token jti\0` || digest).
struct TokenId([u8; crate::secret::RANDOM_TOKEN_LEN]);

impl TokenId {
    fn of_digest(digest: &CodeDigest) -> Self {
        use base64::Engine as _;
        use sha2::Digest as _;
        let hash = sha2::Sha256::new()
            .chain_update(b"kb-sso id_token jti\0")
            .chain_update(digest.0)
            .finalize();
        let mut text = [0u8; crate::secret::RANDOM_TOKEN_LEN];
        // 32 bytes are exactly 43 base64url characters.
        let _ = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode_slice(hash, &mut text);
        Self(text)
    }

    fn as_str(&self) -> &str {
        // base64url text is ASCII.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// The borrowed views the exchange signs write exactly the JSON of
        /// the public claims types, escapes included.
        #[test]
        fn borrowed_claims_write_the_same_json(
            texts in proptest::collection::vec("\\PC{0,12}|[\"\\\\/\u{0}-\u{1f}é😀]{0,4}|[ \t\u{a0}\u{2003}a]{0,4}", 8),
            groups in proptest::collection::vec("\\PC{0,8}", 0..4),
            iat in any::<i64>(),
            exp in any::<i64>(),
        ) {
            let t = |i: usize| texts[i].clone();
            let owned = IdTokenClaims {
                iss: t(0), sub: t(1), aud: t(2), iat, exp, jti: t(3), given_name: t(4),
                family_name: t(5), name: format!("{} {}", t(4), t(5)).trim().to_owned(), email: t(7),
                groups: groups.clone(),
            };
            let borrowed = IdTokenClaimsRef {
                iss: &texts[0], sub: &texts[1], aud: &texts[2], iat, exp, jti: &texts[3], given_name: &texts[4],
                family_name: &texts[5], name: FullName(&texts[4], &texts[5]), email: &texts[7], groups: GroupIds::new(&groups),
            };
            prop_assert_eq!(serde_json::to_string(&borrowed).unwrap(), serde_json::to_string(&owned).unwrap());
            let owned = AccessTokenClaims {
                iss: t(0), sub: t(1), aud: format!("{}/kb", texts[0]), client_id: t(2), groups: groups.clone(),
                iat, exp, jti: t(3),
            };
            let borrowed = AccessTokenClaimsRef {
                iss: &texts[0], sub: &texts[1], aud: AccessAudience(&texts[0]), client_id: &texts[2],
                groups: GroupIds::new(&groups), iat, exp, jti: &texts[3],
            };
            prop_assert_eq!(serde_json::to_string(&borrowed).unwrap(), serde_json::to_string(&owned).unwrap());
        }

        /// The `jti` made from the code's digest is the one the code gives.
        #[test]
        fn token_id_from_the_digest_is_the_codes(code in "[A-Za-z0-9_-]{43}") {
            use base64::Engine as _;
            let mut input = b"kb-sso id_token jti\0".to_vec();
            input.extend_from_slice(&CodeDigest::of(&code).0);
            let expected = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(crate::secret::sha256(&input));
            let id = TokenId::of_digest(&CodeDigest::of(&code));
            prop_assert_eq!(id.as_str(), expected.as_str());
            prop_assert_eq!(token_id_for_code(&code), expected);
        }
    }
}
