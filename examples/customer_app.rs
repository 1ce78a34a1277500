//! A small customer app that signs its users into the reference KB server.
//!
//! ```text
//! cargo run --example customer_app                      # with its own KB
//! cargo run --example customer_app -- --kb URL --client-id ID --client-secret SECRET
//! ```
//!
//! Without `--kb` it starts `kb_server` in-process with its login URL
//! pointing here. With `--kb` it signs readers into the KB at URL (a
//! running `kb_server`, whose ready line gives the client id and secret;
//! start that one with `--login-url http://127.0.0.1:3000/login`, where
//! this app listens by default then). It serves until Ctrl-C: `GET /`
//! (links to every flow), `GET /login` (the app's own login page; then the
//! code flow into the KB), `GET /kb/handshake?redirect=/docs` (an HS256
//! handshake token into the KB) and `POST /widget-token` (the widget's
//! `{accessToken, expiresIn}`). Sign in as `john.doe` with password
//! `correct horse battery staple`, then open the KB URL it prints.

mod common;

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::Parser;
use kb_sso::SystemClock;

/// customer_app: a small customer app that signs its users into a KB.
///
/// Without --kb it starts the reference KB server in-process, its login
/// URL pointing here. With --kb it targets a running kb_server: give the
/// client id and secret from its ready line, and start that server with
/// `--login-url http://127.0.0.1:3000/login` (this app's default address
/// then). Pages: / (every flow), /login (the code flow), /logout (the
/// KB's logout URL: ends the session here too), /kb/handshake (a handshake
/// token), POST /widget-token (the widget's token). Sign in as john.doe /
/// correct horse battery staple. Ctrl-C stops it.
#[derive(Debug, Parser)]
#[command(name = "customer_app", about, long_about)]
struct Cli {
    /// The KB to sign readers into (a running kb_server's "listening" URL).
    #[arg(long, value_name = "URL", requires_all = ["client_id", "client_secret"])]
    kb: Option<url::Url>,
    /// The KB's JWT configuration: its client id (ready line "client_id").
    #[arg(long, value_name = "ID", requires = "kb")]
    client_id: Option<String>,
    /// Its client secret (ready line "primary_secret").
    #[arg(long, value_name = "SECRET", requires = "kb")]
    client_secret: Option<String>,
    /// The widget project's id (ready line "widget_client_id"), for POST
    /// /widget-token.
    #[arg(long, value_name = "ID", requires = "kb")]
    widget_client_id: Option<String>,
    /// Its secret (ready line "widget_client_secret").
    #[arg(long, value_name = "SECRET", requires = "kb")]
    widget_client_secret: Option<String>,
    /// The widget's id (ready line "widget_id").
    #[arg(long, value_name = "ID", requires = "kb")]
    widget_id: Option<String>,
    /// Address to listen on (port 0 picks one). Default: 127.0.0.1:3000
    /// with --kb (kb_server's default login URL), a free port without.
    #[arg(long, value_name = "ADDR")]
    listen: Option<String>,
}

#[tokio::main]
async fn main() -> ExitCode {
    // Help exits 0; a usage error prints the usage and exits 2.
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("customer_app: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let default_listen = if cli.kb.is_some() {
        "127.0.0.1:3000"
    } else {
        "127.0.0.1:0"
    };
    let listen = cli.listen.as_deref().unwrap_or(default_listen);
    let (listener, customer) = common::customer::bind_at(listen).await?;
    let login_url = format!("{customer}/login");
    let (link, kb) = match cli.kb {
        Some(kb_url) => (
            common::customer::KbLink {
                kb_url,
                client_id: cli.client_id.unwrap_or_default(),
                client_secret: cli.client_secret.unwrap_or_default(),
                widget_client_id: cli.widget_client_id.unwrap_or_default(),
                widget_client_secret: cli.widget_client_secret.unwrap_or_default(),
                widget_id: cli.widget_id.unwrap_or_default(),
            },
            None,
        ),
        None => {
            // Signing out of the KB ends the session here too.
            let options = common::server::Options {
                logout_url: Some(format!("{customer}/logout")),
                ..Default::default()
            };
            let kb = common::server::start_demo_with(
                SocketAddr::from(([127, 0, 0, 1], 0)),
                &login_url,
                SystemClock,
                options,
            )
            .await?;
            let link = common::customer::KbLink {
                kb_url: url::Url::parse(&kb.base)?,
                client_id: kb.project.client_id.clone(),
                client_secret: kb.project.primary_secret.clone(),
                widget_client_id: kb.project.widget_client_id.clone(),
                widget_client_secret: kb.project.widget_client_secret.clone(),
                widget_id: kb.project.widget_id.clone(),
            };
            (link, Some(kb))
        }
    };
    let kb_base = link.kb_url.as_str().trim_end_matches('/').to_owned();
    let app = common::customer::serve(listener, link);
    println!("KB:           {kb_base}/docs/getting-started");
    println!("customer app: {customer}/");
    if kb.is_none() {
        println!("(the KB's JWT configuration must have the login URL {login_url})");
    }
    println!(
        "sign in as {} / {}; Ctrl-C stops {}",
        common::customer::DEMO_USER,
        common::customer::DEMO_PASSWORD,
        if kb.is_some() { "both" } else { "it" }
    );
    tokio::signal::ctrl_c().await?;
    app.abort();
    if let Some(kb) = kb {
        kb.stop().await;
    }
    Ok(())
}
