//! Administrators authenticated by bearer tokens, as a reference server
//! keeps them: a JSON file of names, SHA-256 digests of tokens and roles.

use std::fmt;
use std::path::Path;

use http::header::{self, HeaderMap, HeaderValue};
use http::{Response, StatusCode};
use serde::Deserialize;
use subtle::{Choice, ConditionallySelectable as _, ConstantTimeEq as _};
use zeroize::Zeroizing;

use super::input::{self, Refusal};
use super::{AdminIdentity, AdminRole};
use crate::secret::{from_hex_32, random_token, sha256, to_hex};
use crate::server::wire;

/// The longest `Authorization` header value looked at, in bytes.
const MAX_AUTHORIZATION_LEN: usize = 1024;

/// An admin token in clear: made by [`AdminToken::generate`] (or
/// [`AdminTokens::demo`]) and shown once; only its SHA-256 is kept.
/// `Debug` prints `AdminToken([redacted])`; its memory is zeroed on drop.
pub struct AdminToken(Zeroizing<String>);

impl AdminToken {
    /// A new token: 32 bytes from the OS CSPRNG, base64url (43 characters).
    pub fn generate() -> Self {
        Self(random_token())
    }

    /// The token's text. Call this only to show it once or to send it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// SHA-256 of the token, 64 lower-case hex digits: what a token file
    /// keeps as `token_sha256`.
    pub fn sha256_hex(&self) -> String {
        to_hex(&sha256(self.0.as_bytes()))
    }
}

impl fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AdminToken([redacted])")
    }
}

/// Why a token file was refused. Each message names the entry and field.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AdminTokensError {
    /// The file could not be read.
    #[error("{path}: cannot be read: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The JSON is malformed, or a field is unknown, missing or of the
    /// wrong type (`field` is its path, for example `admins[1].roles[0]`).
    #[error("{field}: {problem}")]
    Json {
        /// The field's path (`.` for the whole file).
        field: String,
        /// What is wrong with it.
        problem: String,
    },
    /// An entry breaks a rule.
    #[error("admins[{index}].{field}: {problem}")]
    Entry {
        /// The entry's place in `admins`, from 0.
        index: usize,
        /// The field at fault.
        field: &'static str,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// No administrator is listed.
    #[error("admins: no administrator is listed")]
    NoAdmins,
}

/// Why a request's bearer token was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AdminAuthError {
    /// No `Authorization` header.
    #[error("an admin bearer token is required (Authorization: Bearer <token>)")]
    Missing,
    /// The header is not one `Bearer <token>`.
    #[error("the Authorization header must be one Bearer token")]
    Malformed,
    /// No administrator has this token.
    #[error("the admin token is not valid")]
    Invalid,
}

struct Entry {
    name: String,
    /// SHA-256 of the token.
    digest: [u8; 32],
    roles: Vec<AdminRole>,
}

/// The administrators of a reference server and the digests of their
/// bearer tokens.
///
/// Loaded from JSON, `{"admins":[{"name":"...","token_sha256":"<64 hex
/// digits>","roles":["admin","owner","security_audit"]}]}` (unknown fields
/// refused). A presented token is hashed once and compared, in constant
/// time, with every entry's digest, whichever matches. `Debug` shows names
/// and roles only.
pub struct AdminTokens {
    admins: Vec<Entry>,
}

impl fmt::Debug for AdminTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.admins.iter().map(|e| (&e.name, &e.roles)))
            .finish()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenFile {
    admins: Vec<EntryRecord>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EntryRecord {
    name: String,
    token_sha256: String,
    roles: Vec<AdminRole>,
}

impl AdminTokens {
    /// Reads a token file.
    ///
    /// # Errors
    /// [`AdminTokensError::Read`], or as [`from_json`](Self::from_json).
    pub fn load(path: impl AsRef<Path>) -> Result<Self, AdminTokensError> {
        let path = path.as_ref();
        let text = std::fs::read(path).map_err(|source| AdminTokensError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_json(&text)
    }

    /// Parses a token file's text.
    ///
    /// # Errors
    /// [`AdminTokensError::Json`] for malformed JSON or an unknown,
    /// missing or mistyped field (an unknown role too);
    /// [`AdminTokensError::Entry`] for an empty or duplicate name, a
    /// `token_sha256` that is not 64 hex digits or repeats another's, no
    /// role or a role twice; [`AdminTokensError::NoAdmins`] for an empty
    /// list.
    pub fn from_json(text: &[u8]) -> Result<Self, AdminTokensError> {
        let file: TokenFile = input::parse_json(&HeaderMap::new(), text).map_err(|r| match r {
            Refusal::Field { field, description } => AdminTokensError::Json {
                problem: description
                    .strip_prefix(&format!("{field}: "))
                    .unwrap_or(&description)
                    .to_owned(),
                field,
            },
            Refusal::Malformed(problem) => AdminTokensError::Json {
                field: ".".into(),
                problem,
            },
            _ => AdminTokensError::Json {
                field: ".".into(),
                problem: "not a token file".into(),
            },
        })?;
        if file.admins.is_empty() {
            return Err(AdminTokensError::NoAdmins);
        }
        let mut admins: Vec<Entry> = Vec::with_capacity(file.admins.len());
        for (index, r) in file.admins.into_iter().enumerate() {
            let bad = |field, problem| AdminTokensError::Entry { index, field, problem };
            let name = r.name.trim();
            if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
                return Err(bad("name", "must be 1 to 100 characters without control characters"));
            }
            if admins.iter().any(|e| e.name == name) {
                return Err(bad("name", "is listed twice"));
            }
            let digest = from_hex_32(&r.token_sha256.to_ascii_lowercase())
                .ok_or_else(|| bad("token_sha256", "must be the SHA-256 of the token, 64 hex digits"))?;
            if admins.iter().any(|e| bool::from(e.digest.ct_eq(&digest))) {
                return Err(bad("token_sha256", "is another administrator's token"));
            }
            if r.roles.is_empty() {
                return Err(bad("roles", "needs at least one role"));
            }
            if r.roles.iter().enumerate().any(|(i, role)| r.roles[..i].contains(role)) {
                return Err(bad("roles", "lists a role twice"));
            }
            admins.push(Entry {
                name: name.to_owned(),
                digest,
                roles: r.roles,
            });
        }
        Ok(Self { admins })
    }

    /// One administrator, `demo-admin`, with every role and a new random
    /// token, returned this once.
    pub fn demo() -> (Self, AdminToken) {
        let token = AdminToken::generate();
        let tokens = Self {
            admins: vec![Entry {
                name: "demo-admin".to_owned(),
                digest: sha256(token.expose().as_bytes()),
                roles: vec![AdminRole::Admin, AdminRole::Owner, AdminRole::SecurityAudit],
            }],
        };
        (tokens, token)
    }

    /// The administrator whose token is `token`: its SHA-256 is compared
    /// in constant time with every entry's, whichever matches.
    pub fn identify(&self, token: &[u8]) -> Option<AdminIdentity> {
        let presented = sha256(token);
        let mut found = Choice::from(0);
        let mut index = 0u64;
        for (i, e) in self.admins.iter().enumerate() {
            let matched = e.digest.ct_eq(&presented);
            index.conditional_assign(&(i as u64), matched);
            found |= matched;
        }
        let found: bool = found.into();
        let entry = self.admins.get(usize::try_from(index).ok()?).filter(|_| found)?;
        Some(AdminIdentity {
            name: entry.name.clone(),
            roles: entry.roles.clone(),
        })
    }

    /// The administrator of the request's `Authorization: Bearer <token>`
    /// header.
    ///
    /// # Errors
    /// [`AdminAuthError`]: no header, not one Bearer token, or no
    /// administrator has the token.
    pub fn authenticate(&self, headers: &HeaderMap) -> Result<AdminIdentity, AdminAuthError> {
        let mut values = headers.get_all(header::AUTHORIZATION).iter();
        let value = values.next().ok_or(AdminAuthError::Missing)?;
        if values.next().is_some() || value.len() > MAX_AUTHORIZATION_LEN {
            return Err(AdminAuthError::Malformed);
        }
        let value = value.as_bytes();
        let (scheme, token) = value
            .iter()
            .position(|b| *b == b' ')
            .map(|i| (&value[..i], &value[i + 1..]))
            .ok_or(AdminAuthError::Malformed)?;
        if !scheme.eq_ignore_ascii_case(b"bearer") {
            return Err(AdminAuthError::Malformed);
        }
        let token = token.trim_ascii();
        if token.is_empty() || !token.iter().all(|b| b.is_ascii_graphic()) {
            return Err(AdminAuthError::Malformed);
        }
        self.identify(token).ok_or(AdminAuthError::Invalid)
    }
}

/// 401 for a missing or wrong admin bearer token, with `WWW-Authenticate:
/// Bearer` (RFC 6750: `error="invalid_token"` when a token was sent).
pub fn unauthorized(e: AdminAuthError) -> Response<Vec<u8>> {
    let (challenge, code) = match e {
        AdminAuthError::Missing => ("Bearer realm=\"kb-sso admin\"", "invalid_token"),
        AdminAuthError::Malformed => (
            "Bearer realm=\"kb-sso admin\", error=\"invalid_request\"",
            "invalid_request",
        ),
        AdminAuthError::Invalid => (
            "Bearer realm=\"kb-sso admin\", error=\"invalid_token\"",
            "invalid_token",
        ),
    };
    let mut resp = wire::error(StatusCode::UNAUTHORIZED, code, &e.to_string());
    resp.headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
    wire::no_store(resp)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn file(entries: &str) -> Vec<u8> {
        format!(r#"{{"admins":[{entries}]}}"#).into_bytes()
    }

    fn entry(name: &str, token: &AdminToken, roles: &str) -> String {
        format!(
            r#"{{"name":"{name}","token_sha256":"{}","roles":[{roles}]}}"#,
            token.sha256_hex()
        )
    }

    fn bearer(token: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Bearer {token}")).unwrap(),
        );
        h
    }

    #[test]
    fn each_token_names_its_administrator_and_roles() {
        let (a, b) = (AdminToken::generate(), AdminToken::generate());
        let tokens = AdminTokens::from_json(&file(&format!(
            "{},{}",
            entry("alice", &a, r#""admin""#),
            entry("bob", &b, r#""security_audit","owner""#)
        )))
        .unwrap();
        let alice = tokens.authenticate(&bearer(a.expose())).unwrap();
        assert_eq!(alice.name, "alice");
        assert_eq!(alice.roles, [AdminRole::Admin]);
        let bob = tokens.authenticate(&bearer(b.expose())).unwrap();
        assert_eq!(bob.roles, [AdminRole::SecurityAudit, AdminRole::Owner]);
        assert_eq!(
            tokens.authenticate(&bearer(AdminToken::generate().expose())),
            Err(AdminAuthError::Invalid)
        );
        assert_eq!(tokens.authenticate(&HeaderMap::new()), Err(AdminAuthError::Missing));
        let mut basic = HeaderMap::new();
        basic.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic YTpi"));
        assert_eq!(tokens.authenticate(&basic), Err(AdminAuthError::Malformed));
    }

    #[test]
    fn a_bad_file_is_refused_naming_the_entry_and_field() {
        let t = AdminToken::generate();
        let cases: [(Vec<u8>, &str); 9] = [
            (b"{".to_vec(), ".: "),
            (br#"{"admins":[],"extra":1}"#.to_vec(), "extra: unknown field"),
            (br#"{"admins":[]}"#.to_vec(), "admins: no administrator"),
            (
                file(r#"{"name":"a","token_sha256":"00","roles":["admin"]}"#),
                "admins[0].token_sha256: must be",
            ),
            (file(&entry("a", &t, r#""root""#)), "admins[0].roles[0]: "),
            (file(&entry("", &t, r#""admin""#)), "admins[0].name: "),
            (file(&entry("a", &t, "")), "admins[0].roles: needs"),
            (
                file(&format!(
                    "{},{}",
                    entry("a", &t, r#""admin""#),
                    entry("b", &t, r#""admin""#)
                )),
                "admins[1].token_sha256: is another",
            ),
            (
                file(r#"{"name":"a","token":"x","token_sha256":"00","roles":[]}"#),
                "admins[0].token: unknown field",
            ),
        ];
        for (text, expected) in cases {
            let e = AdminTokens::from_json(&text).unwrap_err().to_string();
            assert!(e.starts_with(expected), "{e:?} should start with {expected:?}");
        }
    }

    #[test]
    fn debug_shows_no_token_or_digest() {
        let (tokens, token) = AdminTokens::demo();
        let shown = format!("{tokens:?} {token:?}");
        assert!(!shown.contains(token.expose()));
        assert!(!shown.contains(&token.sha256_hex()));
        assert_eq!(
            tokens.authenticate(&bearer(token.expose())).unwrap().roles,
            [AdminRole::Admin, AdminRole::Owner, AdminRole::SecurityAudit]
        );
    }
}
