//! `kb-sso token`: inspect, verify and sign tokens.
//!
//! `verify` uses the crate's own verifiers, so a refused token gets the
//! same `jwt_error` reason the KB site would put in the login URL:
//! handshake tokens go through a `HandshakeVerifier`, other tokens through
//! a `Verifier` and `jwt_error_reason`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use clap::{Args as ClapArgs, Subcommand, ValueEnum};
use kb_sso::client::{HandshakeClaimsBuilder, HandshakeSigner};
use kb_sso::store::memory::MemoryReplayCache;
use kb_sso::{
    ClientId, ClientSecret, HandshakeKey, HandshakeSettings, HandshakeVerifier, ID_TOKEN_TYPE, KeySet, UntrustedToken,
    Validation, VerificationKey, Verifier, VerifyError, jwt_error_reason,
};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use crate::out::{self, Exit, Failure, Outcome, Paint, Report};

/// Look inside, verify and sign tokens.
#[derive(Debug, ClapArgs)]
#[command(after_help = "Examples:
  kb-sso token inspect eyJhbGciOi...                 # header and claims, UNVERIFIED
  pbpaste | kb-sso token inspect -
  kb-sso token verify TOKEN --jwks http://127.0.0.1:8080/.well-known/jwks.json \\
      --issuer http://127.0.0.1:8080 --audience CLIENT_ID --kind id-token
  kb-sso token verify TOKEN --secret-file secret.txt --audience https://kb.example.com
  kb-sso token verify TOKEN --pem handshake.pub
  kb-sso token sign --secret-file secret.txt --kid CLIENT_ID --sub jdoe \\
      --email jdoe@example.com --group group1 --audience https://kb.example.com \\
      --kb https://kb.example.com")]
pub(crate) struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Show a token's header and claims, times as UTC and relative. Nothing
    /// is verified: do not trust what it shows.
    Inspect {
        /// The token, or - to read it from stdin.
        token: String,
    },
    /// Verify a token's signature and claims; on failure print the
    /// `jwt_error` reason the KB site reports.
    Verify(VerifyArgs),
    /// Sign a handshake token (HS256 with a configuration's secret, or
    /// EdDSA with an Ed25519 private key) to test a KB by hand.
    Sign(SignArgs),
}

/// What kind of token `verify` checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Kind {
    /// A handshake token from a customer app to a KB (the KB's own checks:
    /// the reason is what the KB puts in `jwt_error`).
    Handshake,
    /// An `id_token` from the identity server (`typ` kb-sso.id+jwt).
    IdToken,
    /// Any token: signature, expiry and the given issuer and audience.
    Any,
}

#[derive(Debug, ClapArgs)]
struct VerifyArgs {
    /// The token, or - to read it from stdin.
    token: String,
    /// The keys: a JWKS URL (http:// or https://) or a JWKS file.
    #[arg(long, value_name = "URL|FILE", group = "key", required_unless_present_any = ["pem", "secret_file"])]
    jwks: Option<String>,
    /// The key: an Ed25519 public key (SPKI PEM file).
    #[arg(long, value_name = "FILE", group = "key")]
    pem: Option<PathBuf>,
    /// The key: an HS256 secret, the first line of FILE (- for stdin).
    #[arg(long, value_name = "FILE", group = "key")]
    secret_file: Option<PathBuf>,
    /// The issuer (`iss`) the token must carry.
    #[arg(long, value_name = "ISS")]
    issuer: Option<String>,
    /// The audience (`aud`) the token must carry (for an id_token: the
    /// client id).
    #[arg(long, value_name = "AUD")]
    audience: Option<String>,
    /// What kind of token (default: handshake with --pem or --secret-file,
    /// any with --jwks).
    #[arg(long, value_enum)]
    kind: Option<Kind>,
    /// Handshake: the configuration's client id (default: the token's kid).
    #[arg(long, value_name = "ID")]
    client_id: Option<String>,
    /// Handshake: refuse a token without `jti`, as a KB that requires it.
    #[arg(long)]
    require_jti: bool,
    /// Handshake: the longest accepted token lifetime (exp - iat), seconds.
    #[arg(long, value_name = "SECONDS")]
    max_age: Option<i64>,
}

#[derive(Debug, ClapArgs)]
struct SignArgs {
    /// HS256 with the secret on the first line of FILE (- for stdin).
    #[arg(long, value_name = "FILE", group = "signing", required_unless_present = "key")]
    secret_file: Option<PathBuf>,
    /// EdDSA with the Ed25519 private key (PKCS#8 PEM) in FILE.
    #[arg(long, value_name = "FILE", group = "signing")]
    key: Option<PathBuf>,
    /// The header's kid: the configuration's client id, or the key id the
    /// KB's handshake settings name.
    #[arg(long, value_name = "KID")]
    kid: String,
    /// `sub`: the reader's id.
    #[arg(long)]
    sub: Option<String>,
    /// `email`.
    #[arg(long)]
    email: Option<String>,
    /// `name`.
    #[arg(long)]
    name: Option<String>,
    /// `groups` (repeat for several).
    #[arg(long = "group", value_name = "GROUP")]
    groups: Vec<String>,
    /// `aud`: the KB's URL, as its handshake settings expect.
    #[arg(long, value_name = "AUD")]
    audience: Option<String>,
    /// `iss`.
    #[arg(long, value_name = "ISS")]
    issuer: Option<String>,
    /// Lifetime in seconds (exp - iat; default 60, at most 3600).
    #[arg(long, value_name = "SECONDS", default_value = "60")]
    lifetime: i64,
    /// Another claim, NAME=JSON (or NAME=text); repeat for several.
    #[arg(long = "claim", value_name = "NAME=VALUE")]
    claims: Vec<String>,
    /// Leave out the random `jti`.
    #[arg(long)]
    no_jti: bool,
    /// Also print the KB's callback URL carrying the token.
    #[arg(long, value_name = "URL")]
    kb: Option<String>,
}

/// Runs `kb-sso token`.
pub(crate) fn run(args: Args, paint: Paint) -> Outcome {
    match args.command {
        Command::Inspect { token } => inspect(&token, paint),
        Command::Verify(args) => verify(&args, paint),
        Command::Sign(args) => sign(&args, paint),
    }
}

/// A token's decoded parts, unverified.
struct Decoded {
    header: Map<String, Value>,
    claims: Map<String, Value>,
}

/// Decodes the header and payload of a compact JWS without checking
/// anything else.
fn decode(token: &str) -> Result<Decoded, String> {
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(_signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("not a JWT: expected three dot-separated base64url parts".to_owned());
    };
    let object = |part: &str, what: &str| -> Result<Map<String, Value>, String> {
        let bytes = URL_SAFE_NO_PAD
            .decode(part.trim_end_matches('='))
            .map_err(|_| format!("not a JWT: the {what} is not base64url"))?;
        match serde_json::from_slice(&bytes) {
            Ok(Value::Object(map)) => Ok(map),
            _ => Err(format!("not a JWT: the {what} is not a JSON object")),
        }
    };
    Ok(Decoded {
        header: object(header, "header")?,
        claims: object(payload, "payload")?,
    })
}

/// The token text from the argument or stdin, trimmed.
fn token_text(arg: &str) -> Result<zeroize::Zeroizing<String>, Failure> {
    let text = out::arg_or_stdin(arg, "token")?;
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(Failure::usage("no token given"));
    }
    Ok(zeroize::Zeroizing::new(trimmed.to_owned()))
}

/// The claims whose values are times (NumericDate).
const TIME_CLAIMS: [&str; 4] = ["iat", "nbf", "exp", "auth_time"];

fn inspect(arg: &str, paint: Paint) -> Outcome {
    let token = token_text(arg)?;
    let decoded = decode(&token).map_err(Failure::usage)?;
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let shape = UntrustedToken::parse(&token).err();
    let mut human = String::new();
    let _ = writeln!(
        human,
        "{}",
        paint.warn("UNVERIFIED: the signature and claims have not been checked (use `kb-sso token verify`).")
    );
    let _ = writeln!(human, "{}", paint.bold("Header"));
    for (name, value) in &decoded.header {
        let _ = writeln!(human, "  {name}: {value}");
    }
    let _ = writeln!(human, "{}", paint.bold("Claims"));
    let mut times = Map::new();
    for (name, value) in &decoded.claims {
        match value.as_i64().filter(|_| TIME_CLAIMS.contains(&name.as_str())) {
            Some(at) => {
                let _ = writeln!(human, "  {name}: {at} = {}", out::when(at, now));
                times.insert(
                    name.clone(),
                    json!({"unix": at, "utc": utc(at), "relative_seconds": at.saturating_sub(now)}),
                );
            }
            None => {
                let _ = writeln!(human, "  {name}: {value}");
            }
        }
    }
    let lifetime = match (
        decoded.claims.get("iat").and_then(Value::as_i64),
        decoded.claims.get("exp").and_then(Value::as_i64),
    ) {
        (Some(iat), Some(exp)) => Some(exp.saturating_sub(iat)),
        _ => None,
    };
    if let Some(lifetime) = lifetime {
        let _ = writeln!(
            human,
            "  {}",
            paint.dim(&format!(
                "lifetime (exp - iat): {lifetime} s = {}",
                out::span(lifetime.unsigned_abs())
            ))
        );
    }
    if let Some(exp) = decoded.claims.get("exp").and_then(Value::as_i64)
        && exp < now
    {
        let _ = writeln!(human, "{}", paint.bad(&format!("expired {}", out::relative(exp - now))));
    }
    if let Some(e) = &shape {
        let _ = writeln!(
            human,
            "{}",
            paint.bad(&format!(
                "a KB would refuse it: jwt_error={} ({e})",
                jwt_error_reason(e)
            ))
        );
    }
    let json = json!({
        "ok": true,
        "verified": false,
        "header": decoded.header,
        "claims": decoded.claims,
        "times": times,
        "lifetime_seconds": lifetime,
        "jwt_error": shape.as_ref().map(jwt_error_reason),
        "detail": shape.as_ref().map(ToString::to_string),
    });
    Ok(Report::new(Exit::Ok, human, json))
}

/// RFC 3339 UTC text of a NumericDate.
fn utc(at: i64) -> Option<String> {
    OffsetDateTime::from_unix_timestamp(at)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
}

/// The result of a verification: claims, or the reason and detail.
enum Verdict {
    Valid {
        claims: Value,
        kid: String,
        expires_at: i64,
    },
    Refused {
        reason: &'static str,
        detail: String,
    },
}

fn verify(args: &VerifyArgs, paint: Paint) -> Outcome {
    let token = token_text(&args.token)?;
    let kind = args.kind.unwrap_or(if args.jwks.is_some() {
        Kind::Any
    } else {
        Kind::Handshake
    });
    let now = OffsetDateTime::now_utc();
    let verdict = match kind {
        Kind::Handshake => verify_handshake(args, &token, now)?,
        Kind::IdToken | Kind::Any => {
            let keys = key_set(args)?;
            let mut validation = Validation::new();
            if kind == Kind::IdToken {
                validation = validation.token_type(ID_TOKEN_TYPE);
            }
            if let Some(iss) = &args.issuer {
                validation = validation.issuer(iss.clone());
            }
            if let Some(aud) = &args.audience {
                validation = validation.audience(aud.clone());
            }
            match Verifier::new(keys, validation).verify_str::<Value>(&token, now) {
                Ok(v) => Verdict::Valid {
                    kid: v.kid().to_owned(),
                    expires_at: v.expires_at().unix_timestamp(),
                    claims: v.into_claims(),
                },
                Err(e) => refused(&e),
            }
        }
    };
    // A token that is not even a JWS is bad input; one that parses but
    // fails a check is a failed check.
    let parses = UntrustedToken::parse(&token).is_ok();
    Ok(report_verdict(verdict, kind, parses, now.unix_timestamp(), paint))
}

fn refused(e: &VerifyError) -> Verdict {
    Verdict::Refused {
        reason: jwt_error_reason(e),
        detail: e.to_string(),
    }
}

fn report_verdict(verdict: Verdict, kind: Kind, parses: bool, now: i64, paint: Paint) -> Report {
    let kind_name = match kind {
        Kind::Handshake => "handshake",
        Kind::IdToken => "id_token",
        Kind::Any => "any",
    };
    match verdict {
        Verdict::Valid {
            claims,
            kid,
            expires_at,
        } => {
            let mut human = format!(
                "{} ({kind_name}, key {kid}); expires {}\n",
                paint.good("valid"),
                out::when(expires_at, now)
            );
            if let Value::Object(map) = &claims {
                for (name, value) in map {
                    let _ = writeln!(human, "  {name}: {value}");
                }
            }
            let json = json!({"ok": true, "valid": true, "kind": kind_name, "kid": kid, "expires_at": expires_at, "claims": claims});
            Report::new(Exit::Ok, human, json)
        }
        Verdict::Refused { reason, detail } => {
            let human = format!(
                "{} jwt_error={reason} ({detail})\n{}\n",
                paint.bad("refused:"),
                paint.dim(hint(reason))
            );
            let exit = if parses { Exit::Failed } else { Exit::Usage };
            let json = json!({"ok": false, "valid": false, "kind": kind_name, "jwt_error": reason, "detail": detail});
            Report::new(exit, human, json)
        }
    }
}

/// What a `jwt_error` reason usually means.
pub(crate) fn hint(reason: &str) -> &'static str {
    match reason {
        "malformed" => {
            "The token is not a well-formed JWT of the accepted algorithms (EdDSA, HS256), or lacks a required claim."
        }
        "bad_signature" => {
            "The key does not match: wrong secret or public key, a kid the KB does not know, or the algorithm of another key."
        }
        "expired" => "exp has passed (or exp - iat exceeds the allowed age): sign a fresh token; check the clocks.",
        "not_yet_valid" => "iat or nbf lies in the future: the signer's clock is ahead (clock skew).",
        "wrong_audience" => "aud is not what the KB expects (its own URL), or the token is of another type.",
        "wrong_issuer" => "iss is not the issuer the KB is set up to expect.",
        "replayed" => "This jti was used before: each handshake token works once.",
        "disabled" => "The JWT configuration is disabled on the KB.",
        "missing" => "No token was sent.",
        _ => "",
    }
}

/// The keys of `--jwks`, `--pem` or `--secret-file`.
fn key_set(args: &VerifyArgs) -> Result<KeySet, Failure> {
    if let Some(source) = &args.jwks {
        let bytes = if source.starts_with("http://") || source.starts_with("https://") {
            let answer = crate::http::get(&crate::http::agent(), source, None)?;
            if answer.status != 200 {
                return Err(Failure::io(format!("{source}: answered {}", answer.status)));
            }
            answer.body
        } else {
            out::read_file(Path::new(source), "--jwks")?.as_bytes().to_vec()
        };
        return KeySet::from_jwks_json(&bytes).map_err(|e| Failure::usage(format!("--jwks {source}: {e}")));
    }
    let key = if let Some(path) = &args.pem {
        let pem = out::read_file(path, "--pem")?;
        VerificationKey::ed25519_from_spki_pem("pem", &pem)
            .map_err(|e| Failure::usage(format!("--pem {}: {e}", path.display())))?
    } else if let Some(path) = &args.secret_file {
        let secret = out::read_secret(path, "--secret-file")?;
        VerificationKey::hs256("secret", secret.as_bytes())
            .map_err(|e| Failure::usage(format!("--secret-file {}: {e}", path.display())))?
    } else {
        return Err(Failure::usage("give --jwks, --pem or --secret-file"));
    };
    KeySet::from_keys([key]).map_err(|e| Failure::usage(e.to_string()))
}

/// Verifies a handshake token as the KB does: one configuration with the
/// given key, issuer, audience and age; its client id is `--client-id`, or
/// a fresh one named by the token's kid.
fn verify_handshake(args: &VerifyArgs, token: &str, now: OffsetDateTime) -> Result<Verdict, Failure> {
    let key = if let Some(path) = &args.pem {
        let pem = out::read_file(path, "--pem")?;
        HandshakeKey::ed25519_from_spki_pem(&pem)
            .map_err(|e| Failure::usage(format!("--pem {}: {e}", path.display())))?
    } else if let Some(path) = &args.secret_file {
        let secret = ClientSecret::new(out::read_secret(path, "--secret-file")?.as_str());
        HandshakeKey::hs256(&secret, None)
            .map_err(|e| Failure::usage(format!("--secret-file {}: {e}", path.display())))?
    } else {
        return Err(Failure::usage(
            "--kind handshake needs --pem or --secret-file (the configuration's key)",
        ));
    };
    let client_id = match &args.client_id {
        Some(id) => ClientId::parse(id).map_err(|e| Failure::usage(format!("--client-id {id}: {e}")))?,
        None => ClientId::generate(),
    };
    let mut builder = HandshakeSettings::builder(key).require_jti(args.require_jti);
    let token_kid = UntrustedToken::parse(token)
        .ok()
        .and_then(|t| t.kid().map(str::to_owned));
    if args.client_id.is_none()
        && let Some(kid) = token_kid.clone()
    {
        builder = builder.kid(kid);
    }
    let shown_kid = token_kid.unwrap_or_else(|| client_id.to_string());
    if let Some(iss) = &args.issuer {
        builder = builder.issuer(iss.clone());
    }
    if let Some(aud) = &args.audience {
        builder = builder.audience(aud.clone());
    }
    if let Some(age) = args.max_age {
        if age <= 0 {
            return Err(Failure::usage("--max-age must be more than zero"));
        }
        builder = builder.max_token_age(time::Duration::seconds(age));
    }
    let settings = builder.build().map_err(|e| Failure::usage(e.to_string()))?;
    let mut verifier = HandshakeVerifier::new();
    verifier
        .insert(client_id, settings)
        .map_err(|e| Failure::usage(e.to_string()))?;
    let replay = MemoryReplayCache::new();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .map_err(|e| Failure::io(e.to_string()))?;
    let result = runtime.block_on(verifier.verify_str(token, now, &replay));
    Ok(match result {
        Ok(verified) => Verdict::Valid {
            // The signature verified: the payload is the signer's.
            claims: decode(token).map_or(Value::Null, |d| Value::Object(d.claims)),
            kid: shown_kid,
            expires_at: verified.token_expires_at().unix_timestamp(),
        },
        Err(e) => Verdict::Refused {
            reason: e.reason(),
            detail: e.to_string(),
        },
    })
}

fn sign(args: &SignArgs, paint: Paint) -> Outcome {
    let signer = if let Some(path) = &args.secret_file {
        let secret = ClientSecret::new(out::read_secret(path, "--secret-file")?.as_str());
        HandshakeSigner::hs256(args.kid.clone(), &secret)
            .map_err(|e| Failure::usage(format!("--secret-file {}: {e}", path.display())))?
    } else if let Some(path) = &args.key {
        let pem = out::read_file(path, "--key")?;
        HandshakeSigner::ed25519_from_pkcs8_pem(args.kid.clone(), &pem)
            .map_err(|e| Failure::usage(format!("--key {}: {e}", path.display())))?
    } else {
        return Err(Failure::usage("give --secret-file (HS256) or --key (EdDSA)"));
    };
    if args.lifetime <= 0 || args.lifetime > kb_sso::client::MAX_HANDSHAKE_LIFETIME.whole_seconds() {
        return Err(Failure::usage(format!(
            "--lifetime {}: must be 1 to {} seconds",
            args.lifetime,
            kb_sso::client::MAX_HANDSHAKE_LIFETIME.whole_seconds()
        )));
    }
    let mut claims = HandshakeClaimsBuilder::new().lifetime(time::Duration::seconds(args.lifetime));
    if let Some(v) = &args.sub {
        claims = claims.subject(v.clone());
    }
    if let Some(v) = &args.email {
        claims = claims.email(v.clone());
    }
    if let Some(v) = &args.name {
        claims = claims.name(v.clone());
    }
    if !args.groups.is_empty() {
        claims = claims.groups(args.groups.iter().cloned());
    }
    if let Some(v) = &args.audience {
        claims = claims.audience(v.clone());
    }
    if let Some(v) = &args.issuer {
        claims = claims.issuer(v.clone());
    }
    if args.no_jti {
        claims = claims.without_jti();
    }
    for pair in &args.claims {
        let Some((name, value)) = pair.split_once('=') else {
            return Err(Failure::usage(format!("--claim {pair}: expected NAME=VALUE")));
        };
        let value = serde_json::from_str(value).unwrap_or_else(|_| Value::String(value.to_owned()));
        claims = claims.claim(name, value);
    }
    let token = signer
        .sign(&claims, OffsetDateTime::now_utc())
        .map_err(|e| Failure::usage(format!("cannot sign: {e}")))?;
    let callback = match &args.kb {
        Some(kb) => {
            let base = url::Url::parse(kb).map_err(|e| Failure::usage(format!("--kb {kb}: {e}")))?;
            Some(kb_sso::client::handshake_callback_url(&base, &token, None).to_string())
        }
        None => None,
    };
    let mut human = format!("{token}\n");
    if let Some(url) = &callback {
        let _ = writeln!(human, "{} {url}", paint.dim("callback:"));
    }
    let json = json!({"ok": true, "token": token, "callback_url": callback});
    Ok(Report::new(Exit::Ok, human, json))
}
