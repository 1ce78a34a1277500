//! The key ring of a deployment: the Ed25519 keys that sign tokens and the
//! HMAC keys that sign session cookies, shared by every instance.
//!
//! Each half of a [`KeyRing`] holds a next key, a current key and previous
//! keys. Tokens and cookies are signed with the current key; the next key
//! and the previous keys are accepted and published too (the JWK Set lists
//! every token key, each under its own `kid`), the previous ones until what
//! they signed has expired. Rotation is [`KeyRing::rotate`] and restarting
//! the instances one by one: the next key becomes current, a new next key
//! is made, the old current key becomes a previous one. Since every
//! instance already accepted the key that becomes current (it was the next
//! key of the ring they run), a session or token signed by a restarted
//! instance is accepted by one that has not restarted yet, and the other
//! way round: nobody is signed out, no token is refused. Roll a rotated
//! ring out to every instance before rotating again.
//!
//! # The key file
//!
//! JSON, newest keys first, secrets in base64url without padding:
//!
//! ```json
//! {"format":"kb-sso-keys/1",
//!  "token_keys":[{"kid":"…","ed25519_seed":"…","created_at":1767225600,"next":true},
//!                {"kid":"…","ed25519_seed":"…","created_at":1767225600}],
//!  "session_keys":[{"id":"…","secret":"…","created_at":1767225600,"next":true},
//!                  {"id":"…","secret":"…","created_at":1767225600,"retired_at":null}]}
//! ```
//!
//! `created_at` and `retired_at` are Unix seconds; `retired_at` is when the
//! key stopped being the current one; `next` marks the next key. The
//! current key is the first key that is neither next nor retired. [`KeyRing::load`] refuses a file that
//! the group or others may read or write (on Unix), and nothing here
//! prints a secret: errors name the field, `Debug` shows key ids only.

use std::fmt;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::jose::{SigningKey, TokenSigner, VerificationKey};
use crate::session::{MAX_SESSION_DURATION, MAX_SESSION_KEYS, SessionCodec};

/// The `format` of a key file this version writes and reads.
pub const KEY_FILE_FORMAT: &str = "kb-sso-keys/1";
/// The environment variable [`KeyRing::from_env`] reads: the key file's
/// JSON text.
pub const KEYS_ENV: &str = "KB_SSO_KEYS";
/// The most keys in each half of a ring (current and previous).
pub const MAX_RING_KEYS: usize = MAX_SESSION_KEYS;
/// How long a previous token key is kept after it stopped being current:
/// longer than any token it signed can live (id and access tokens at most a
/// day, widget tokens less).
pub const TOKEN_KEY_RETENTION: Duration = Duration::days(2);
/// How long a previous session key is kept after it stopped being current:
/// longer than any session it signed can last ([`MAX_SESSION_DURATION`]).
pub const SESSION_KEY_RETENTION: Duration = MAX_SESSION_DURATION.saturating_add(Duration::DAY);

/// Why a key ring could not be read, made or written. Never carries a
/// secret.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyRingError {
    /// The file could not be read or written.
    #[error("{path}: {message}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What went wrong (the system's message).
        message: String,
    },
    /// The group or others may read or write the file.
    #[error("{path}: the key file is open to group or others (mode {mode:o}); run `chmod 600` on it")]
    Permissions {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// `--new-keys` never overwrites a file.
    #[error("{0}: the file exists; a new key ring is never written over another file")]
    Exists(PathBuf),
    /// The text is not a key file: the field named is missing or wrong.
    #[error("not a key ring: {0}")]
    Format(String),
    /// The operating system's random number generator failed.
    #[error("the operating system random number generator failed")]
    Rng,
}

/// One token-signing key.
#[derive(Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
#[serde(deny_unknown_fields)]
struct TokenKeyEntry {
    kid: String,
    /// The Ed25519 seed, base64url.
    ed25519_seed: String,
    created_at: i64,
    #[serde(default)]
    retired_at: Option<i64>,
    #[serde(default, skip_serializing_if = "is_false")]
    next: bool,
}

/// One session key.
#[derive(Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
#[serde(deny_unknown_fields)]
struct SessionKeyEntry {
    id: String,
    /// 32 bytes, base64url.
    secret: String,
    created_at: i64,
    #[serde(default)]
    retired_at: Option<i64>,
    #[serde(default, skip_serializing_if = "is_false")]
    next: bool,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFile {
    format: String,
    token_keys: Vec<TokenKeyEntry>,
    session_keys: Vec<SessionKeyEntry>,
}

/// A key with its id and dates; the secret is zeroized on drop.
#[derive(Clone)]
struct RingKey {
    id: String,
    secret: Zeroizing<[u8; 32]>,
    created_at: i64,
    retired_at: Option<i64>,
    /// Accepted and published, not yet signing.
    next: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// The token-signing keys and the session keys of a deployment: a current
/// key and previous keys in each half. See the [module
/// documentation](self).
#[derive(Clone)]
pub struct KeyRing {
    token: Vec<RingKey>,
    session: Vec<RingKey>,
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ids = |keys: &[RingKey]| keys.iter().map(|k| k.id.clone()).collect::<Vec<_>>();
        f.debug_struct("KeyRing")
            .field("token_kids", &ids(&self.token))
            .field("session_key_ids", &ids(&self.session))
            .field("secrets", &format_args!("[redacted]"))
            .finish()
    }
}

fn random_32() -> Result<Zeroizing<[u8; 32]>, KeyRingError> {
    use rand_core::{OsRng, RngCore};
    let mut bytes = Zeroizing::new([0u8; 32]);
    OsRng.try_fill_bytes(bytes.as_mut()).map_err(|_| KeyRingError::Rng)?;
    Ok(bytes)
}

/// A fresh key id: the date and 8 random hex digits.
fn new_id(prefix: &str, now: OffsetDateTime) -> Result<String, KeyRingError> {
    let random = random_32()?;
    let hex = crate::secret::to_hex(random.get(..4).unwrap_or_default());
    Ok(format!(
        "{prefix}-{:04}{:02}{:02}-{hex}",
        now.year(),
        u8::from(now.month()),
        now.day()
    ))
}

fn new_key(prefix: &str, now: OffsetDateTime, next: bool) -> Result<RingKey, KeyRingError> {
    Ok(RingKey {
        id: new_id(prefix, now)?,
        secret: random_32()?,
        created_at: now.unix_timestamp(),
        retired_at: None,
        next,
    })
}

/// The signing key first, then every other key (next and previous).
fn signing_order(keys: &[RingKey]) -> Vec<&RingKey> {
    let current = keys.iter().position(|k| !k.next && k.retired_at.is_none());
    let first = current.and_then(|i| keys.get(i));
    first
        .into_iter()
        .chain(
            keys.iter()
                .enumerate()
                .filter(|(i, _)| Some(*i) != current)
                .map(|(_, k)| k),
        )
        .collect()
}

fn decode_secret(field: &str, text: &str) -> Result<Zeroizing<[u8; 32]>, KeyRingError> {
    let mut out = Zeroizing::new([0u8; 32]);
    let mut buf = Zeroizing::new([0u8; 48]);
    match URL_SAFE_NO_PAD.decode_slice(text.as_bytes(), buf.as_mut()) {
        Ok(32) => {
            out.copy_from_slice(buf.get(..32).unwrap_or_default());
            Ok(out)
        }
        _ => Err(KeyRingError::Format(format!(
            "{field} must be 32 bytes in base64url without padding"
        ))),
    }
}

/// Keeps the next and current keys and the previous keys retired less
/// than `retention` before `now`, at most [`MAX_RING_KEYS`] (newest first).
fn prune(keys: &mut Vec<RingKey>, retention: Duration, now: OffsetDateTime) {
    let cutoff = (now - retention).unix_timestamp();
    keys.retain(|k| k.retired_at.is_none_or(|at| at > cutoff));
    keys.truncate(MAX_RING_KEYS);
}

impl KeyRing {
    /// A fresh ring: in each half a current key and a next key, from the
    /// operating system's generator.
    ///
    /// # Errors
    /// [`KeyRingError::Rng`] when the generator fails.
    pub fn generate(now: OffsetDateTime) -> Result<Self, KeyRingError> {
        Ok(Self {
            token: vec![new_key("token", now, true)?, new_key("token", now, false)?],
            session: vec![new_key("session", now, true)?, new_key("session", now, false)?],
        })
    }

    /// Rotates each half: the current key is retired at `now` (it stays,
    /// accepted, as a previous key), the next key becomes current (every
    /// instance running the ring before this rotation already accepts it),
    /// and a new next key is put in front. Previous keys retired longer ago
    /// than [`TOKEN_KEY_RETENTION`] and [`SESSION_KEY_RETENTION`] are
    /// dropped (and any beyond [`MAX_RING_KEYS`]).
    ///
    /// Roll a rotated ring out to every instance (restarting them one by
    /// one) before the next rotation.
    ///
    /// # Errors
    /// [`KeyRingError::Rng`] when the generator fails.
    pub fn rotate(&mut self, now: OffsetDateTime) -> Result<(), KeyRingError> {
        let token = new_key("token", now, true)?;
        let session = new_key("session", now, true)?;
        for (keys, key, retention) in [
            (&mut self.token, token, TOKEN_KEY_RETENTION),
            (&mut self.session, session, SESSION_KEY_RETENTION),
        ] {
            let current = keys.iter().position(|k| !k.next && k.retired_at.is_none());
            if let Some(current) = current.and_then(|i| keys.get_mut(i)) {
                current.retired_at = Some(now.unix_timestamp());
            }
            // The newest next key becomes current; a ring without one (an
            // older file) gets its new key as current at once.
            let promoted = keys.iter().position(|k| k.next);
            let key = match promoted.and_then(|i| keys.get_mut(i)) {
                Some(next) => {
                    next.next = false;
                    key
                }
                None => RingKey { next: false, ..key },
            };
            keys.insert(0, key);
            prune(keys, retention, now);
        }
        Ok(())
    }

    /// Reads a ring from the key file's JSON text.
    ///
    /// # Errors
    /// [`KeyRingError::Format`] naming the field that is missing or wrong
    /// (never quoting the text).
    pub fn parse(json: &str) -> Result<Self, KeyRingError> {
        let file: KeyFile = serde_json::from_str(json).map_err(|e| {
            // serde_json's message may quote a value: give the place only.
            KeyRingError::Format(format!(
                "the JSON does not match the key file format at line {} column {}",
                e.line(),
                e.column()
            ))
        })?;
        if file.format != KEY_FILE_FORMAT {
            return Err(KeyRingError::Format(format!("format must be {KEY_FILE_FORMAT:?}")));
        }
        let mut token = Vec::new();
        for (i, entry) in file.token_keys.iter().enumerate() {
            let key = RingKey {
                id: entry.kid.clone(),
                secret: decode_secret(&format!("token_keys[{i}].ed25519_seed"), &entry.ed25519_seed)?,
                created_at: entry.created_at,
                retired_at: entry.retired_at,
                next: entry.next,
            };
            SigningKey::ed25519_from_seed(key.id.clone(), &key.secret)
                .map_err(|e| KeyRingError::Format(format!("token_keys[{i}].kid: {e}")))?;
            token.push(key);
        }
        let mut session = Vec::new();
        for (i, entry) in file.session_keys.iter().enumerate() {
            session.push(RingKey {
                id: entry.id.clone(),
                secret: decode_secret(&format!("session_keys[{i}].secret"), &entry.secret)?,
                created_at: entry.created_at,
                retired_at: entry.retired_at,
                next: entry.next,
            });
        }
        for (name, keys) in [("token_keys", &token), ("session_keys", &session)] {
            if keys.is_empty() || keys.len() > MAX_RING_KEYS {
                return Err(KeyRingError::Format(format!(
                    "{name} must hold 1 to {MAX_RING_KEYS} keys"
                )));
            }
            if !keys.iter().any(|k| !k.next && k.retired_at.is_none()) {
                return Err(KeyRingError::Format(format!(
                    "{name} has no current key (one neither next nor retired)"
                )));
            }
            let mut ids: Vec<&str> = keys.iter().map(|k| k.id.as_str()).collect();
            ids.sort_unstable();
            if ids.windows(2).any(|w| w.first() == w.get(1)) {
                return Err(KeyRingError::Format(format!("{name}: two keys share an id")));
            }
        }
        Ok(Self { token, session })
    }

    /// The key file's JSON text (it holds the secrets: write it with mode
    /// 0600, never log it).
    pub fn to_json(&self) -> Zeroizing<String> {
        let file = KeyFile {
            format: KEY_FILE_FORMAT.to_owned(),
            token_keys: self
                .token
                .iter()
                .map(|k| TokenKeyEntry {
                    kid: k.id.clone(),
                    ed25519_seed: URL_SAFE_NO_PAD.encode(k.secret.as_ref()),
                    created_at: k.created_at,
                    retired_at: k.retired_at,
                    next: k.next,
                })
                .collect(),
            session_keys: self
                .session
                .iter()
                .map(|k| SessionKeyEntry {
                    id: k.id.clone(),
                    secret: URL_SAFE_NO_PAD.encode(k.secret.as_ref()),
                    created_at: k.created_at,
                    retired_at: k.retired_at,
                    next: k.next,
                })
                .collect(),
        };
        Zeroizing::new(serde_json::to_string_pretty(&file).unwrap_or_default())
    }

    /// Reads the key file at `path`, refusing (on Unix) a file the group or
    /// others may read or write.
    ///
    /// # Errors
    /// [`KeyRingError::Io`], [`KeyRingError::Permissions`], or
    /// [`KeyRingError::Format`] as [`parse`](Self::parse).
    pub fn load(path: &Path) -> Result<Self, KeyRingError> {
        let io = |e: std::io::Error| KeyRingError::Io {
            path: path.to_owned(),
            message: e.to_string(),
        };
        check_private(path).map_err(|e| match e {
            Private::Io(e) => io(e),
            Private::Open(mode) => KeyRingError::Permissions {
                path: path.to_owned(),
                mode,
            },
        })?;
        let text = Zeroizing::new(std::fs::read_to_string(path).map_err(io)?);
        Self::parse(&text)
    }

    /// The ring in the environment variable [`KEYS_ENV`] (the key file's
    /// JSON text), `None` when it is not set.
    ///
    /// # Errors
    /// [`KeyRingError::Format`] as [`parse`](Self::parse), naming the
    /// variable.
    pub fn from_env() -> Result<Option<Self>, KeyRingError> {
        match std::env::var(KEYS_ENV) {
            Ok(text) => {
                let text = Zeroizing::new(text);
                Self::parse(&text)
                    .map(Some)
                    .map_err(|e| KeyRingError::Format(format!("{KEYS_ENV}: {e}")))
            }
            Err(std::env::VarError::NotPresent) => Ok(None),
            Err(std::env::VarError::NotUnicode(_)) => {
                Err(KeyRingError::Format(format!("{KEYS_ENV} is not valid UTF-8")))
            }
        }
    }

    /// Writes the ring to a new file at `path` with mode 0600; an existing
    /// file is never overwritten.
    ///
    /// # Errors
    /// [`KeyRingError::Exists`] when `path` exists; [`KeyRingError::Io`].
    pub fn write_new(&self, path: &Path) -> Result<(), KeyRingError> {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        private_mode(&mut options);
        let file = options.open(path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                KeyRingError::Exists(path.to_owned())
            } else {
                KeyRingError::Io {
                    path: path.to_owned(),
                    message: e.to_string(),
                }
            }
        })?;
        write_all(file, &self.to_json(), path)
    }

    /// Replaces the file at `path` with the ring: written to a new file
    /// beside it (mode 0600) and renamed over it, so that a reader sees the
    /// old ring or the new one, never half of one.
    ///
    /// # Errors
    /// [`KeyRingError::Io`].
    pub fn replace(&self, path: &Path) -> Result<(), KeyRingError> {
        let mut name = path.file_name().unwrap_or_default().to_os_string();
        name.push(".new");
        let temp = path.with_file_name(name);
        let _ = std::fs::remove_file(&temp);
        self.write_new(&temp)?;
        std::fs::rename(&temp, path).map_err(|e| KeyRingError::Io {
            path: path.to_owned(),
            message: e.to_string(),
        })
    }

    /// The signer of tokens: the current token key.
    ///
    /// # Errors
    /// [`KeyRingError::Format`] if the ring has no token key (a parsed or
    /// generated ring always has one).
    pub fn token_signer(&self) -> Result<TokenSigner, KeyRingError> {
        let current = signing_order(&self.token)
            .first()
            .copied()
            .ok_or_else(|| KeyRingError::Format("token_keys is empty".to_owned()))?;
        SigningKey::ed25519_from_seed(current.id.clone(), &current.secret)
            .map(TokenSigner::new)
            .map_err(|e| KeyRingError::Format(format!("token_keys[0].kid: {e}")))
    }

    /// The public keys of the token keys other than the current one (the
    /// next key and the previous keys), accepted and published too (for
    /// [`IdentityServer::with_previous_keys`](crate::IdentityServer::with_previous_keys)).
    pub fn previous_token_keys(&self) -> Vec<VerificationKey> {
        signing_order(&self.token)
            .into_iter()
            .skip(1)
            .filter_map(|k| SigningKey::ed25519_from_seed(k.id.clone(), &k.secret).ok())
            .map(|k| k.verification_key())
            .collect()
    }

    /// The session codec: signs with the current session key, accepts every
    /// key of the ring.
    ///
    /// # Errors
    /// [`KeyRingError::Format`] if the ring has no session key.
    pub fn session_codec(&self) -> Result<SessionCodec, KeyRingError> {
        SessionCodec::with_keys(signing_order(&self.session).into_iter().map(|k| *k.secret))
            .map_err(|e| KeyRingError::Format(format!("session_keys: {e}")))
    }

    /// The token keys' ids, the current key first.
    pub fn token_kids(&self) -> Vec<&str> {
        signing_order(&self.token).into_iter().map(|k| k.id.as_str()).collect()
    }

    /// The session keys' ids, the current key first.
    pub fn session_key_ids(&self) -> Vec<&str> {
        signing_order(&self.session)
            .into_iter()
            .map(|k| k.id.as_str())
            .collect()
    }
}

enum Private {
    Io(std::io::Error),
    Open(u32),
}

#[cfg(unix)]
fn check_private(path: &Path) -> Result<(), Private> {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(path).map_err(Private::Io)?.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(Private::Open(mode));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(path: &Path) -> Result<(), Private> {
    std::fs::metadata(path).map(|_| ()).map_err(Private::Io)
}

#[cfg(unix)]
fn private_mode(options: &mut std::fs::OpenOptions) {
    use std::os::unix::fs::OpenOptionsExt as _;
    options.mode(0o600);
}

#[cfg(not(unix))]
fn private_mode(_options: &mut std::fs::OpenOptions) {}

fn write_all(mut file: std::fs::File, text: &str, path: &Path) -> Result<(), KeyRingError> {
    use std::io::Write as _;
    file.write_all(text.as_bytes())
        .and_then(|()| file.write_all(b"\n"))
        .and_then(|()| file.sync_all())
        .map_err(|e| KeyRingError::Io {
            path: path.to_owned(),
            message: e.to_string(),
        })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::session::ReaderSession;
    use time::macros::datetime;

    const T0: OffsetDateTime = datetime!(2026-01-01 00:00 UTC);

    fn temp_path(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!("kb-sso-keys-{}-{name}", crate::secret::ClientId::generate()))
    }

    fn session() -> ReaderSession {
        ReaderSession {
            username: "r".into(),
            email: "r@example.com".into(),
            first_name: "R".into(),
            last_name: "S".into(),
            groups: vec![],
            client_id: crate::secret::ClientId::generate(),
            jti: "j".into(),
            expires_at: T0 + Duration::hours(1),
            name: String::new(),
            claims: serde_json::Map::new(),
            binding: None,
        }
    }

    #[test]
    fn a_ring_round_trips_through_its_json() {
        let mut ring = KeyRing::generate(T0).unwrap();
        ring.rotate(T0 + Duration::hours(1)).unwrap();
        let back = KeyRing::parse(&ring.to_json()).unwrap();
        assert_eq!(back.token_kids(), ring.token_kids());
        assert_eq!(back.session_key_ids(), ring.session_key_ids());
        let cookie = ring.session_codec().unwrap().encode(&session()).unwrap();
        assert!(back.session_codec().unwrap().decode(&cookie, T0).is_ok());
    }

    #[test]
    fn rotation_keeps_the_previous_keys_and_signs_with_the_next() {
        let before = KeyRing::generate(T0).unwrap();
        let mut ring = before.clone();
        let old_codec = before.session_codec().unwrap();
        let old_kid = before.token_kids()[0].to_owned();
        let next_kid = before.token_kids()[1].to_owned();
        let old_cookie = old_codec.encode(&session()).unwrap();
        ring.rotate(T0).unwrap();
        assert_eq!(ring.token_kids().len(), 3);
        assert_eq!(ring.token_kids()[0], next_kid, "the next key signs now");
        assert!(ring.token_kids().contains(&old_kid.as_str()));
        assert_eq!(ring.token_signer().unwrap().key().kid(), next_kid);
        let published: Vec<String> = ring.previous_token_keys().iter().map(|k| k.kid().to_owned()).collect();
        assert!(published.contains(&old_kid), "{published:?}");
        let codec = ring.session_codec().unwrap();
        assert!(
            codec.decode(&old_cookie, T0).is_ok(),
            "a previous key still opens sessions"
        );
        let new_cookie = codec.encode(&session()).unwrap();
        assert_ne!(new_cookie, old_cookie, "new cookies use another key");
        // An instance still on the ring before the rotation accepts them:
        // the key was its next key.
        let before_codec = before.session_codec().unwrap();
        assert!(before_codec.decode(&new_cookie, T0).is_ok());
    }

    #[test]
    fn rotation_drops_keys_retired_beyond_their_retention() {
        let mut ring = KeyRing::generate(T0).unwrap();
        ring.rotate(T0).unwrap();
        ring.rotate(T0 + TOKEN_KEY_RETENTION + Duration::SECOND).unwrap();
        // The first token key was retired at T0: gone. Session keys live on.
        assert_eq!(ring.token_kids().len(), 3);
        assert_eq!(ring.session_key_ids().len(), 4);
        for i in 0..20 {
            ring.rotate(T0 + Duration::days(3) + Duration::seconds(i)).unwrap();
        }
        assert_eq!(ring.session_key_ids().len(), MAX_RING_KEYS);
    }

    #[test]
    fn debug_and_errors_never_show_secrets() {
        let ring = KeyRing::generate(T0).unwrap();
        let json = ring.to_json();
        let file: serde_json::Value = serde_json::from_str(&json).unwrap();
        let secret = file["session_keys"][0]["secret"].as_str().unwrap().to_owned();
        let seed = file["token_keys"][0]["ed25519_seed"].as_str().unwrap().to_owned();
        let debug = format!("{ring:?}");
        assert!(!debug.contains(&secret) && !debug.contains(&seed), "{debug}");
        // A secret in the wrong place is not echoed by the parse error.
        let bad = json.replace("\"created_at\": ", &format!("\"created_at\": \"{secret}\", \"x\": "));
        let e = KeyRing::parse(&bad).unwrap_err().to_string();
        assert!(!e.contains(&secret), "{e}");
        let short = json.replace(&secret, "c2hvcnQ");
        let e = KeyRing::parse(&short).unwrap_err().to_string();
        assert!(e.contains("session_keys[0].secret"), "{e}");
    }

    #[test]
    fn parse_refuses_empty_halves_duplicate_ids_and_other_formats() {
        let ring = KeyRing::generate(T0).unwrap();
        let mut v: serde_json::Value = serde_json::from_str(&ring.to_json()).unwrap();
        let mut empty = v.clone();
        empty["token_keys"] = serde_json::json!([]);
        assert!(KeyRing::parse(&empty.to_string()).is_err());
        let mut no_current = v.clone();
        no_current["session_keys"][1]["next"] = true.into();
        assert!(
            KeyRing::parse(&no_current.to_string())
                .unwrap_err()
                .to_string()
                .contains("no current key")
        );
        let mut twice = v.clone();
        let key = twice["session_keys"][0].clone();
        twice["session_keys"].as_array_mut().unwrap().push(key);
        assert!(
            KeyRing::parse(&twice.to_string())
                .unwrap_err()
                .to_string()
                .contains("share an id")
        );
        v["format"] = "kb-sso-keys/9".into();
        assert!(KeyRing::parse(&v.to_string()).is_err());
    }

    #[cfg(unix)]
    #[test]
    fn new_files_are_private_and_open_files_are_refused() {
        use std::os::unix::fs::PermissionsExt as _;
        let path = temp_path("new");
        let ring = KeyRing::generate(T0).unwrap();
        ring.write_new(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert!(matches!(ring.write_new(&path), Err(KeyRingError::Exists(_))));
        assert_eq!(KeyRing::load(&path).unwrap().token_kids(), ring.token_kids());
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = KeyRing::load(&path).unwrap_err();
        assert!(matches!(e, KeyRingError::Permissions { mode: 0o644, .. }), "{e}");
        assert!(e.to_string().contains("chmod 600"), "{e}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let mut rotated = ring.clone();
        rotated.rotate(T0).unwrap();
        rotated.replace(&path).unwrap();
        assert_eq!(KeyRing::load(&path).unwrap().token_kids().len(), 3);
        let _ = std::fs::remove_file(&path);
    }
}
