//! A small customer app that signs its users into the reference KB server.
//!
//! ```text
//! cargo run --example customer_app
//! ```
//!
//! Starts `kb_server` in-process with its login URL pointing here, then
//! serves the customer app until Ctrl-C: `GET /login` (the app's own login
//! page; then the code flow into the KB), `GET /kb/handshake?redirect=/docs`
//! (an HS256 handshake token into the KB) and `POST /widget-token` (the
//! widget's `{accessToken, expiresIn}`). Sign in as `john.doe` with password
//! `correct horse battery staple`, then open the KB URL it prints.

mod common;

use std::net::SocketAddr;
use std::process::ExitCode;

use kb_sso::SystemClock;

#[tokio::main]
async fn main() -> ExitCode {
    if std::env::args().skip(1).any(|a| a == "--help" || a == "-h") {
        println!(
            "customer_app: a small customer app signed in to the reference KB server.\n\n\
             usage: cargo run --example customer_app\n\n\
             Starts kb_server in-process with its login URL pointing here, then serves the app\n\
             until Ctrl-C: GET /login (its own login page, then the code flow into the KB, bound\n\
             to the reader's browser), GET /kb/handshake?redirect=/docs (an HS256 handshake\n\
             token) and POST /widget-token (the widget's answer). Sign in as john.doe with the\n\
             password printed at start. It takes no options."
        );
        return ExitCode::SUCCESS;
    }
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("customer_app: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let (listener, customer) = common::customer::bind().await?;
    let login_url = format!("{customer}/login");
    let kb = common::server::start(SocketAddr::from(([127, 0, 0, 1], 0)), &login_url, SystemClock).await?;
    let link = common::customer::KbLink {
        kb_url: url::Url::parse(&kb.base)?,
        client_id: kb.project.client_id.clone(),
        client_secret: kb.project.primary_secret.clone(),
        widget_client_id: kb.project.widget_client_id.clone(),
        widget_client_secret: kb.project.widget_client_secret.clone(),
        widget_id: kb.project.widget_id.clone(),
    };
    let app = common::customer::serve(listener, link);
    println!("KB:           {}/docs/getting-started", kb.base);
    println!("customer app: {customer}/login");
    println!(
        "sign in as {} / {}; Ctrl-C stops both",
        common::customer::DEMO_USER,
        common::customer::DEMO_PASSWORD
    );
    tokio::signal::ctrl_c().await?;
    app.abort();
    kb.stop().await;
    Ok(())
}
