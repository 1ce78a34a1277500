//! `kb-sso admin`: the KB's admin API (`/api/admin` by default, bearer
//! token) from the terminal.
//!
//! The bearer token is read from `--token-file` (or stdin with `-`) or the
//! `KB_SSO_ADMIN_TOKEN` environment variable, never from the command line.
//! Secrets the API shows once (a new configuration's secrets, a
//! regenerated secret, a handshake private key) are printed that once, or
//! written to a new file with mode 0600 with `--out`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use clap::{Args as ClapArgs, Subcommand};
use serde_json::{Map, Value, json};

use crate::http;
use crate::out::{self, Exit, Failure, Outcome, Paint, Report};

/// What is escaped in a path segment: all but the unreserved characters.
const PATH_SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// The environment variable holding the admin bearer token.
const TOKEN_ENV: &str = "KB_SSO_ADMIN_TOKEN";

/// Use a KB's admin API (bearer token; roles admin, owner, security_audit).
#[derive(Debug, ClapArgs)]
#[command(after_help = "Examples:
  kb-sso admin --kb http://127.0.0.1:8080 --token-file admin.token project
  kb-sso admin --kb URL --token-file admin.token config create --name Portal --login-url https://app.example.com/login
  kb-sso admin --kb URL --token-file admin.token config disable 93ef716b-...
  kb-sso admin --kb URL --token-file admin.token config update 93ef716b-... --set show_login_button=true
  kb-sso admin --kb URL --token-file admin.token config regenerate-secret 93ef716b-... --which primary --out secret.txt
  kb-sso admin --kb URL --token-file admin.token config handshake-key 93ef716b-... --out handshake
  kb-sso admin --kb URL --token-file admin.token settings --set direct_jwt_login=true --confirm
  kb-sso admin --kb URL --token-file admin.token audit --limit 20
  KB_SSO_ADMIN_TOKEN=... kb-sso admin --kb URL notifications")]
pub(crate) struct Args {
    /// The KB's base URL.
    #[arg(long, value_name = "URL")]
    kb: String,
    /// The admin bearer token: the first line of FILE (- for stdin);
    /// default: $KB_SSO_ADMIN_TOKEN.
    #[arg(long, value_name = "FILE")]
    token_file: Option<PathBuf>,
    /// Where the admin API is mounted.
    #[arg(long, value_name = "PATH", default_value = "/api/admin")]
    prefix: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The project: settings, configurations, SSO providers, widget (no
    /// secrets).
    Project,
    /// JWT configurations.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Change the project's settings (direct_jwt_login,
    /// disable_default_login_page, visibility, public_paths,
    /// home_published).
    Settings {
        /// A field to set, NAME=JSON (e.g. visibility="mixed" or
        /// direct_jwt_login=true); repeat for several.
        #[arg(long = "set", value_name = "NAME=VALUE", required = true)]
        set: Vec<String>,
        /// Confirm a change of Direct JWT login (else refused with
        /// confirmation_required).
        #[arg(long)]
        confirm: bool,
    },
    /// The widget's client secret.
    #[command(subcommand)]
    Widget(WidgetCommand),
    /// The audit log, newest first (role security_audit).
    Audit {
        /// Only this category (e.g. jwt).
        #[arg(long)]
        event: Option<String>,
        /// From this time (RFC 3339).
        #[arg(long)]
        since: Option<String>,
        /// Until this time (RFC 3339).
        #[arg(long)]
        until: Option<String>,
        /// At most this many entries.
        #[arg(long)]
        limit: Option<u32>,
        /// The page after this cursor (the previous page's next_cursor).
        #[arg(long)]
        cursor: Option<String>,
    },
    /// The notification outbox: recipients, subject, state.
    Notifications,
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Create a configuration; its two secrets are shown once.
    Create {
        /// The configuration's name.
        #[arg(long)]
        name: String,
        /// The customer app's login URL.
        #[arg(long, value_name = "URL")]
        login_url: String,
        /// Another field, NAME=JSON (e.g. logout_url="https://..." or
        /// enabled=false); repeat for several.
        #[arg(long = "set", value_name = "NAME=VALUE")]
        set: Vec<String>,
        /// Write the secrets to FILE.primary and FILE.secondary (mode 0600)
        /// instead of printing them.
        #[arg(long, value_name = "PREFIX")]
        out: Option<PathBuf>,
    },
    /// Change the given fields of a configuration.
    Update {
        /// The configuration's client id.
        client_id: String,
        /// A field, NAME=JSON (e.g. login_url="https://..." or
        /// show_login_button=true); repeat for several.
        #[arg(long = "set", value_name = "NAME=VALUE", required = true)]
        set: Vec<String>,
    },
    /// Delete a configuration.
    Delete {
        /// The configuration's client id.
        client_id: String,
    },
    /// Enable a configuration.
    Enable {
        /// The configuration's client id.
        client_id: String,
    },
    /// Disable a configuration (its codes and handshakes are refused).
    Disable {
        /// The configuration's client id.
        client_id: String,
    },
    /// Regenerate the primary or secondary secret (shown once; the old one
    /// stops working at once).
    RegenerateSecret {
        /// The configuration's client id.
        client_id: String,
        /// Which secret.
        #[arg(long, value_parser = ["primary", "secondary"])]
        which: String,
        /// Write the secret to FILE (mode 0600) instead of printing it.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// A new Ed25519 handshake key pair for the configuration (the private
    /// key shown once).
    HandshakeKey {
        /// The configuration's client id.
        client_id: String,
        /// Write PREFIX.key (mode 0600) and PREFIX.pub instead of printing.
        #[arg(long, value_name = "PREFIX")]
        out: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum WidgetCommand {
    /// Regenerate the widget client secret (shown once).
    RegenerateSecret {
        /// Write the secret to FILE (mode 0600) instead of printing it.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
}

/// One request to the admin API.
struct Call {
    method: &'static str,
    path: String,
    body: Option<Value>,
}

/// What to do with the secrets in an answer.
enum Secrets<'a> {
    /// None expected.
    None,
    /// These fields of the answer are secrets: print them once, or write
    /// each to `prefix` + suffix.
    Fields(&'a [(&'a str, &'a str)], Option<&'a Path>),
}

/// Runs `kb-sso admin`.
pub(crate) fn run(args: Args, paint: Paint) -> Outcome {
    let kb = args.kb.trim_end_matches('/').to_owned();
    let token = match &args.token_file {
        Some(path) => out::read_secret(path, "--token-file")?,
        None => match std::env::var(TOKEN_ENV) {
            Ok(t) if !t.trim().is_empty() => zeroize::Zeroizing::new(t.trim().to_owned()),
            _ => {
                return Err(Failure::usage(format!(
                    "give the admin token with --token-file FILE (or - for stdin) or ${TOKEN_ENV}"
                )));
            }
        },
    };
    let prefix = format!("/{}", args.prefix.trim_matches('/'));
    let id_path = |id: &str, action: &str| {
        let id = percent_encoding::utf8_percent_encode(id, PATH_SEGMENT).to_string();
        format!("{prefix}/jwt-configs/{id}{action}")
    };
    let (call, secrets) = match &args.command {
        Command::Project => (get(format!("{prefix}/project")), Secrets::None),
        Command::Notifications => (get(format!("{prefix}/notifications")), Secrets::None),
        Command::Audit {
            event,
            since,
            until,
            limit,
            cursor,
        } => {
            let mut query = url::form_urlencoded::Serializer::new(String::new());
            for (name, value) in [
                ("event", event.clone()),
                ("since", since.clone()),
                ("until", until.clone()),
                ("limit", limit.map(|l| l.to_string())),
                ("cursor", cursor.clone()),
            ] {
                if let Some(v) = value {
                    query.append_pair(name, &v);
                }
            }
            let query = query.finish();
            let path = if query.is_empty() {
                format!("{prefix}/audit")
            } else {
                format!("{prefix}/audit?{query}")
            };
            (get(path), Secrets::None)
        }
        Command::Settings { set, confirm } => {
            let mut body = fields(set)?;
            if *confirm {
                body.insert("confirm".into(), Value::Bool(true));
            }
            (
                Call {
                    method: "PUT",
                    path: format!("{prefix}/settings"),
                    body: Some(Value::Object(body)),
                },
                Secrets::None,
            )
        }
        Command::Widget(WidgetCommand::RegenerateSecret { out }) => (
            post(format!("{prefix}/widget/regenerate-secret")),
            Secrets::Fields(&[("secret", "")], out.as_deref()),
        ),
        Command::Config(command) => match command {
            ConfigCommand::Create {
                name,
                login_url,
                set,
                out,
            } => {
                let mut body = fields(set)?;
                body.insert("name".into(), Value::String(name.clone()));
                body.insert("login_url".into(), Value::String(login_url.clone()));
                (
                    Call {
                        method: "POST",
                        path: format!("{prefix}/jwt-configs"),
                        body: Some(Value::Object(body)),
                    },
                    Secrets::Fields(
                        &[("primary_secret", ".primary"), ("secondary_secret", ".secondary")],
                        out.as_deref(),
                    ),
                )
            }
            ConfigCommand::Update { client_id, set } => (
                Call {
                    method: "PATCH",
                    path: id_path(client_id, ""),
                    body: Some(Value::Object(fields(set)?)),
                },
                Secrets::None,
            ),
            ConfigCommand::Delete { client_id } => (
                Call {
                    method: "DELETE",
                    path: id_path(client_id, ""),
                    body: None,
                },
                Secrets::None,
            ),
            ConfigCommand::Enable { client_id } => (post(id_path(client_id, "/enable")), Secrets::None),
            ConfigCommand::Disable { client_id } => (post(id_path(client_id, "/disable")), Secrets::None),
            ConfigCommand::RegenerateSecret { client_id, which, out } => (
                post(id_path(client_id, &format!("/regenerate-{which}-secret"))),
                Secrets::Fields(&[("secret", "")], out.as_deref()),
            ),
            ConfigCommand::HandshakeKey { client_id, out } => (
                post(id_path(client_id, "/handshake-key")),
                Secrets::Fields(&[("private_key_pem", ".key")], out.as_deref()),
            ),
        },
    };
    let url = format!("{kb}{}", call.path);
    let answer = http::request(&http::agent(), call.method, &url, Some(&token), call.body.as_ref())?;
    answered(call.method, &url, &answer, &secrets, paint)
}

fn get(path: String) -> Call {
    Call {
        method: "GET",
        path,
        body: None,
    }
}

fn post(path: String) -> Call {
    Call {
        method: "POST",
        path,
        body: Some(json!({})),
    }
}

/// `NAME=JSON` pairs as a JSON object (a value that is not JSON is a
/// string).
fn fields(pairs: &[String]) -> Result<Map<String, Value>, Failure> {
    let mut map = Map::new();
    for pair in pairs {
        let Some((name, value)) = pair.split_once('=') else {
            return Err(Failure::usage(format!("--set {pair}: expected NAME=VALUE")));
        };
        let value = serde_json::from_str(value).unwrap_or_else(|_| Value::String(value.to_owned()));
        map.insert(name.trim().to_owned(), value);
    }
    Ok(map)
}

/// The report of an answer: success with its body (secrets printed once
/// or written to files), or the KB's error.
fn answered(method: &str, url: &str, answer: &http::Answer, secrets: &Secrets<'_>, paint: Paint) -> Outcome {
    let status = answer.status;
    let body = answer.json().unwrap_or(Value::Null);
    if !(200..300).contains(&status) {
        let code = answer.error_code().unwrap_or_else(|| "error".to_owned());
        let description = answer.error_description().unwrap_or_else(|| answer.text());
        let hint = match status {
            401 => "\n  the admin token is missing or wrong",
            403 => "\n  the administrator lacks the role this needs (admin, owner or security_audit)",
            404 => "\n  no such configuration or route (check the client id and --prefix)",
            409 => "\n  a concurrent change: read the project again and retry",
            _ => "",
        };
        let human = format!(
            "{} {method} {url}: {status} {code}: {description}{}\n",
            paint.bad("refused:"),
            paint.dim(hint)
        );
        let json = json!({"ok": false, "status": status, "error": code, "error_description": description});
        return Ok(Report::new(Exit::Failed, human, json));
    }
    let mut shown = body.clone();
    let mut human = format!("{} {method} {url}: {status}\n", paint.good("ok"));
    let mut written = Map::new();
    if let Secrets::Fields(names, out) = secrets {
        let mut once = Vec::new();
        for (field, suffix) in names.iter() {
            let Some(secret) = body.get(*field).and_then(Value::as_str) else {
                continue;
            };
            match out {
                Some(prefix) => {
                    let mut name = prefix.as_os_str().to_owned();
                    name.push(suffix);
                    let path = PathBuf::from(name);
                    let text = zeroize::Zeroizing::new(if secret.ends_with('\n') {
                        secret.to_owned()
                    } else {
                        format!("{secret}\n")
                    });
                    out::write_private(&path, text.as_bytes())?;
                    let _ = writeln!(human, "  {field}: written to {} (mode 0600)", path.display());
                    if let Value::Object(map) = &mut shown {
                        map.remove(*field);
                    }
                    written.insert((*field).to_owned(), json!(path));
                }
                None => once.push(*field),
            }
        }
        if let (Some(prefix), Some(public)) = (out, body.get("public_key_pem").and_then(Value::as_str)) {
            let mut name = prefix.as_os_str().to_owned();
            name.push(".pub");
            let path = PathBuf::from(name);
            out::write_new(&path, public.as_bytes(), 0o644)?;
            let _ = writeln!(human, "  public_key_pem: written to {}", path.display());
            written.insert("public_key_pem".to_owned(), json!(path));
        }
        if !once.is_empty() {
            let _ = writeln!(
                human,
                "{}",
                paint.warn(&format!("{} shown this once only: store now.", once.join(", ")))
            );
        }
    }
    if !shown.is_null() {
        let pretty = serde_json::to_string_pretty(&shown).unwrap_or_default();
        let _ = writeln!(human, "{pretty}");
    }
    let json = json!({"ok": true, "status": status, "body": shown, "written": written});
    Ok(Report::new(Exit::Ok, human, json))
}
