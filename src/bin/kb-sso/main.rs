//! `kb-sso`: the operator's command line for kb-sso (feature `cli`).
//!
//! ```text
//! cargo install kb-sso --features cli
//! kb-sso --help
//! ```
//!
//! For the people who wire a customer app to a knowledge base:
//!
//! | command | what it does |
//! |---|---|
//! | `keygen ed25519 \| hs256 \| ring` | Ed25519 key pairs (PKCS#8 / SPKI PEM), HS256 secrets, the reference server's key ring; private halves written with mode 0600 |
//! | `token inspect TOKEN\|-` | header and claims, times as UTC and relative, marked unverified |
//! | `token verify TOKEN\|-` | against a JWKS (URL or file), a PEM or a secret; the exact `jwt_error` reason on failure |
//! | `token sign` | an HS256 or EdDSA handshake token to test a KB by hand |
//! | `project check FILE` | every rule of a project file, each problem with its field path |
//! | `doctor --kb URL --client-id ID --client-secret-file F` | the spec's code flow end to end, with the likely cause of a failure |
//! | `admin ...` | the admin API (`/api/admin`, bearer token) |
//! | `serve` | the reference KB server (the flags of the `kb_server` example) |
//! | `completions SHELL` | shell completions |
//!
//! Output is text for people (coloured on a terminal, unless `NO_COLOR` is
//! set) or, with `--json`, one JSON object per command, `"ok"` always
//! present. Secrets are read from files or stdin (`-`), never from the
//! command line, and are printed only by the command that generates them,
//! that once.
//!
//! Exit codes:
//!
//! | code | meaning |
//! |---|---|
//! | 0 | success |
//! | 1 | a check failed: a token that does not verify, a project file that breaks a rule, a doctor step that failed, an admin request the KB refused |
//! | 2 | bad input or usage: unknown flags, a malformed token, key or file |
//! | 3 | input/output: a file that cannot be read or written, a KB that cannot be reached |
#![forbid(unsafe_code)]

mod admin;
mod doctor;
mod http;
mod keygen;
mod out;
mod project;
mod serve;
mod token;

use std::process::ExitCode;

use clap::{CommandFactory as _, Parser, Subcommand};

/// The exit codes, shown by `--help`.
const EXIT_CODES: &str = "Exit codes:
  0  success
  1  a check failed (token refused, project file broken, doctor step failed, admin request refused)
  2  bad input or usage (unknown flag, malformed token, key or file)
  3  input/output (file unreadable or unwritable, KB unreachable)

Examples:
  kb-sso keygen ed25519 --out handshake
  kb-sso token inspect eyJhbGciOi...
  kb-sso project check project.json
  kb-sso doctor --kb http://127.0.0.1:8080 --client-id ID --client-secret-file secret.txt
  kb-sso admin --kb http://127.0.0.1:8080 --token-file admin.token project
  kb-sso serve --listen 127.0.0.1:8080
  kb-sso completions bash > /etc/bash_completion.d/kb-sso";

/// The operator's command line for kb-sso: keys, tokens, project files, an
/// integration doctor, the admin API and the reference server.
#[derive(Debug, Parser)]
#[command(name = "kb-sso", version, after_help = EXIT_CODES, propagate_version = true)]
struct Cli {
    /// Print one JSON object instead of text (for scripts).
    #[arg(long, global = true)]
    json: bool,
    /// Colour text output: auto (on a terminal, unless NO_COLOR is set),
    /// always or never.
    #[arg(long, global = true, value_enum, default_value = "auto", value_name = "WHEN")]
    color: out::ColorChoice,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Make Ed25519 key pairs, HS256 secrets and key ring files.
    Keygen(keygen::Args),
    /// Inspect, verify and sign tokens.
    Token(token::Args),
    /// Check project files.
    Project(project::Args),
    /// Run the spec's code-flow test against a KB and explain any failure.
    Doctor(doctor::Args),
    /// Use a KB's admin API.
    Admin(admin::Args),
    /// Run the reference KB server (the flags of the `kb_server` example).
    ///
    /// When ready it prints one JSON line, {"listening":"http://ADDR", ...},
    /// with the demo project's client id and secrets (and "admin_token"
    /// when no --admin-token-file is given). Ctrl-C stops it. A flag or
    /// file that is refused exits with status 2, naming it.
    #[command(after_help = "Examples:
  kb-sso serve                                   # a demo project on 127.0.0.1:8080
  kb-sso serve --listen 127.0.0.1:0 --project project.json --keys keys.json
  kb-sso serve --new-keys keys.json              # write a fresh key ring and exit
  kb-sso serve --db sqlite:kb.db --admin-token-file admins.json")]
    Serve(Box<serve::Args>),
    /// Print shell completions.
    #[command(after_help = "Examples:
  kb-sso completions bash > ~/.local/share/bash-completion/completions/kb-sso
  kb-sso completions zsh > \"${fpath[1]}/_kb-sso\"
  kb-sso completions fish > ~/.config/fish/completions/kb-sso.fish")]
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let paint = out::Paint::new(cli.color);
    let outcome = match cli.command {
        Command::Keygen(args) => keygen::run(args, paint),
        Command::Token(args) => token::run(args, paint),
        Command::Project(args) => project::run(&args, paint),
        Command::Doctor(args) => doctor::run(&args, paint),
        Command::Admin(args) => admin::run(args, paint),
        Command::Serve(args) => return serve::main(*args, "kb-sso serve"),
        Command::Completions { shell } => {
            // Into a buffer first: clap_complete panics when its writer fails
            // (a closed pipe).
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "kb-sso", &mut script);
            out::emit(&String::from_utf8_lossy(&script));
            return ExitCode::SUCCESS;
        }
    };
    ExitCode::from(out::finish(outcome, cli.json))
}
