//! `kb-sso keygen`: Ed25519 key pairs, HS256 secrets and key ring files.

use std::path::{Path, PathBuf};

use clap::{Args as ClapArgs, Subcommand};
use kb_sso::keys::KeyRing;
use kb_sso::{ClientSecret, VerificationKey, generate_ed25519_key_pair};
use serde_json::json;
use time::OffsetDateTime;

use crate::out::{self, Exit, Failure, Outcome, Paint, Report};

/// Make keys and secrets. Private halves are written to new files with mode
/// 0600 (never replacing a file), or printed once when no file is named.
#[derive(Debug, ClapArgs)]
#[command(after_help = "Examples:
  kb-sso keygen ed25519 --out handshake        # handshake.key (0600) + handshake.pub
  kb-sso keygen hs256 --out secret.txt         # a 43-character secret, mode 0600
  kb-sso keygen ring --out keys.json           # the server's key ring (kb-sso serve --keys)
  kb-sso keygen ring --rotate keys.json        # a new current key, previous ones kept")]
pub(crate) struct Args {
    #[command(subcommand)]
    kind: Kind,
}

#[derive(Debug, Subcommand)]
enum Kind {
    /// An Ed25519 key pair for EdDSA handshake tokens: the private key as
    /// PKCS#8 PEM (for the customer app) and the public key as SPKI PEM
    /// (for the KB's handshake settings).
    Ed25519 {
        /// Write PREFIX.key (private, mode 0600) and PREFIX.pub (public);
        /// without it both are printed (the private key this once only).
        #[arg(long, value_name = "PREFIX")]
        out: Option<PathBuf>,
    },
    /// A secret for HS256 handshake tokens and client authentication: 43
    /// base64url characters (32 random bytes), as the KB generates them.
    Hs256 {
        /// Write the secret to FILE (mode 0600); without it it is printed
        /// this once only.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// The reference server's key ring (token-signing and session keys):
    /// a new file, mode 0600 (`kb-sso serve --keys FILE`).
    Ring {
        /// Write a fresh ring to FILE (a new file).
        #[arg(
            long,
            value_name = "FILE",
            required_unless_present = "rotate",
            conflicts_with = "rotate"
        )]
        out: Option<PathBuf>,
        /// Make each half's next key current in the ring in FILE, add a new
        /// next key and keep the previous ones (until what they signed
        /// expires); then restart the instances one by one.
        #[arg(long, value_name = "FILE")]
        rotate: Option<PathBuf>,
    },
}

/// Runs `kb-sso keygen`.
pub(crate) fn run(args: Args, paint: Paint) -> Outcome {
    match args.kind {
        Kind::Ed25519 { out } => ed25519(out.as_deref(), paint),
        Kind::Hs256 { out } => hs256(out.as_deref(), paint),
        Kind::Ring { out, rotate } => ring(out.as_deref(), rotate.as_deref(), paint),
    }
}

fn ed25519(prefix: Option<&Path>, paint: Paint) -> Outcome {
    let (private, public) = generate_ed25519_key_pair().map_err(|e| Failure::io(format!("key generation: {e}")))?;
    let thumbprint = VerificationKey::ed25519_from_spki_pem("k", &public)
        .ok()
        .and_then(|k| k.jwk_thumbprint())
        .unwrap_or_default();
    match prefix {
        Some(prefix) => {
            let key_path = with_suffix(prefix, ".key");
            let pub_path = with_suffix(prefix, ".pub");
            if pub_path.exists() {
                return Err(Failure::io(format!(
                    "{}: exists (refusing to replace an existing file)",
                    pub_path.display()
                )));
            }
            out::write_private(&key_path, private.as_bytes())?;
            out::write_new(&pub_path, public.as_bytes(), 0o644)?;
            let human = format!(
                "{} Ed25519 key pair\n  private key (PKCS#8, mode 0600): {}\n  public key (SPKI):               {}\n  JWK thumbprint:                  {thumbprint}\n\
                 Give the public key to the KB (handshake settings, alg EdDSA); keep the private key in the customer app.\n",
                paint.good("wrote"),
                key_path.display(),
                pub_path.display()
            );
            let json = json!({
                "ok": true,
                "kind": "ed25519",
                "private_key_file": key_path,
                "public_key_file": pub_path,
                "public_key_pem": public,
                "jwk_thumbprint": thumbprint,
            });
            Ok(Report::new(Exit::Ok, human, json))
        }
        None => {
            let human = format!(
                "{}\n{}{}\n{public}{}\n",
                paint.warn("The private key is shown this once only: store it now."),
                private.as_str(),
                paint.dim("# public key (give it to the KB):"),
                paint.dim(&format!("# JWK thumbprint: {thumbprint}")),
            );
            let json = json!({
                "ok": true,
                "kind": "ed25519",
                "private_key_pem": private.as_str(),
                "public_key_pem": public,
                "jwk_thumbprint": thumbprint,
            });
            Ok(Report::new(Exit::Ok, human, json))
        }
    }
}

fn hs256(path: Option<&Path>, paint: Paint) -> Outcome {
    let secret = ClientSecret::generate();
    match path {
        Some(path) => {
            let text = zeroize::Zeroizing::new(format!("{}\n", secret.expose()));
            out::write_private(path, text.as_bytes())?;
            let human = format!(
                "{} an HS256 secret (43 characters) to {} (mode 0600)\n",
                paint.good("wrote"),
                path.display()
            );
            Ok(Report::new(
                Exit::Ok,
                human,
                json!({"ok": true, "kind": "hs256", "secret_file": path}),
            ))
        }
        None => {
            let human = format!(
                "{}\n{}\n",
                paint.warn("The secret is shown this once only: store it now."),
                secret.expose()
            );
            Ok(Report::new(
                Exit::Ok,
                human,
                json!({"ok": true, "kind": "hs256", "secret": secret.expose()}),
            ))
        }
    }
}

fn ring(out: Option<&Path>, rotate: Option<&Path>, paint: Paint) -> Outcome {
    let now = OffsetDateTime::now_utc();
    let (ring, path, verb) = match (out, rotate) {
        (Some(path), _) => {
            let ring = KeyRing::generate(now).map_err(|e| Failure::io(format!("key ring: {e}")))?;
            ring.write_new(path)
                .map_err(|e| Failure::io(format!("{}: {e}", path.display())))?;
            (ring, path, "wrote a new key ring to")
        }
        (None, Some(path)) => {
            let mut ring = KeyRing::load(path).map_err(|e| Failure::io(format!("{}: {e}", path.display())))?;
            ring.rotate(now)
                .map_err(|e| Failure::usage(format!("{}: {e}", path.display())))?;
            ring.replace(path)
                .map_err(|e| Failure::io(format!("{}: {e}", path.display())))?;
            (ring, path, "rotated the key ring in")
        }
        (None, None) => return Err(Failure::usage("keygen ring: give --out FILE or --rotate FILE")),
    };
    let human = format!(
        "{} {} (mode 0600)\n  token kids (current first):      {}\n  session key ids (current first): {}\n",
        paint.good(verb),
        path.display(),
        ring.token_kids().join(", "),
        ring.session_key_ids().join(", ")
    );
    let json = json!({
        "ok": true,
        "kind": "ring",
        "file": path,
        "token_kids": ring.token_kids(),
        "session_key_ids": ring.session_key_ids(),
    });
    Ok(Report::new(Exit::Ok, human, json))
}

/// `prefix` with `suffix` appended to its file name.
fn with_suffix(prefix: &Path, suffix: &str) -> PathBuf {
    let mut name = prefix.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}
