//! The reference KB server: identity server and KB site in one process.
//!
//! ```text
//! cargo run --example kb_server -- [--listen ADDR] [--login-url URL]
//! ```
//!
//! The same server, with the same flags, is `kb-sso serve` (feature `cli`):
//! this example runs the command line's own code
//! (`src/bin/kb-sso/serve/`).
//!
//! `--login-url` (the demo configuration's) and `--project` exclude each
//! other: a project file sets its configurations' login URLs. When nothing
//! answers at the demo's login URL, stderr says so and how to start
//! `customer_app` there.
//!
//! With `--project FILE` it serves the project in FILE (see
//! `kb_sso::project_file::ProjectFile`; secrets in the file are for development only), and
//! a file that breaks a rule makes it exit with status 2, naming the field.
//! Without it, it creates a demo project with one enabled JWT configuration
//! and, when ready, prints one JSON line to stdout:
//! `{"listening":"http://127.0.0.1:PORT","client_id":"...","primary_secret":"...","secondary_secret":"...","login_url":"..."}`.
//! It speaks HTTP/1.1 and cleartext HTTP/2 (prior knowledge) on one port.
//!
//! Its pages are `/` and `/docs/...`, private unless the project's
//! `settings.visibility` opens them (`public`, or `mixed` with
//! `public_paths`); `?code=` and `?jwt=` are taken on any of them. Signing
//! out without a logout URL ends on `/jwt/signed-out`. The widget API,
//! `GET /api/widget/articles` with `Authorization: Bearer <widget access
//! token>`, answers the demo articles the token's reader groups may read.
//!
//! `--redis URL` (feature `redis`) keeps one-time codes, handshake `jti`s,
//! revoked sessions (pushed to every instance by pub/sub) and the
//! brute-force limiter's counts in Redis, so that several instances serving
//! the same project file act as one. `--max-failed-auth N` and
//! `--max-failed-redemptions N` set the brute-force limits (per minute;
//! defaults 20 and 120).
//!
//! `--keys FILE` signs tokens and session cookies with the key ring in FILE
//! (`kb_sso::keys::KeyRing`; refused when the group or others may read it),
//! else with the ring in the environment variable `KB_SSO_KEYS` (the file's
//! JSON text), else with keys made fresh at start (one instance only).
//! Instances behind one load balancer need the same ring.
//! `--new-keys FILE` writes a fresh ring to a new file (mode 0600) and exits;
//! `--rotate-keys FILE` makes each half's next key (already accepted by
//! every instance) current, adds a new next key, keeps the previous keys
//! (until what they signed has expired) and exits: then restart the
//! instances one by one.
//!
//! The admin API is served at `/api/admin` behind `Authorization: Bearer`
//! tokens. `--admin-token-file FILE` lists the administrators
//! (`{"admins":[{"name":"...","token_sha256":"<hex>","roles":["admin","owner","security_audit"]}]}`);
//! without it a demo admin token with every role is made and the ready line
//! shows it as `"admin_token"`.
//!
//! `--db` chooses where the project, the audit log and the notification
//! outbox live (see `serve::durable`): `sqlite:PATH` (the default with
//! `--project FILE` is `FILE.db`), `postgres://...` (feature `postgres`; all
//! instances on one database share the project) or `memory` (the default
//! without `--project`). A database is seeded from the project file (or an
//! empty project) only while it holds none; afterwards it is the source of
//! truth. The audit log's checkpoint key is read from `--audit-key-file`
//! (default `PATH.audit-key` beside a SQLite file; made with mode 0600 when
//! missing; a file its group or others may read is refused). A database
//! file that is not kb-sso's, or a key that is not the database's, makes it
//! exit with status 2, naming the problem, the file unchanged.
//!
//! `--smtp smtp://[user:password@]host[:port]` (feature `email`) delivers the
//! outbox by email every second, to `--admin-email` addresses (and
//! `--owner-email` ones for the notifications owners get), from
//! `--mail-from`.

#[path = "../src/bin/kb-sso/serve/mod.rs"]
mod serve;

use std::process::ExitCode;

use clap::Parser;

/// kb_server: the reference KB server (identity server and KB site in one
/// process).
///
/// When ready it prints one JSON line: {"listening":"http://ADDR", ...}
/// with the demo project's client id and secrets (and "admin_token" when
/// no --admin-token-file is given). Ctrl-C stops it.
#[derive(Debug, Parser)]
#[command(name = "kb_server", about, long_about)]
struct Cli {
    #[command(flatten)]
    args: serve::Args,
}

fn main() -> ExitCode {
    // Help exits 0; a usage error prints the usage and exits 2.
    serve::main(Cli::parse().args, "kb_server")
}
