//! `kb-sso project check FILE`: every rule of a project file, each problem
//! with its field path.
//!
//! The crate's `ProjectFile` stops at the first problem; this check goes
//! part by part so that it can name them all: the shape of each part
//! (settings, every configuration, every SSO provider, the widget), then the
//! rules of each configuration on its own (client id, both secrets, URLs,
//! handshake settings), then the rules between them (duplicate domains,
//! names, the project's toggles), each with its field path.

use std::fmt::Write as _;
use std::path::PathBuf;

use clap::{Args as ClapArgs, Subcommand};
use kb_sso::project_file::{JwtConfigFile, ProjectFile, ProjectFileError, WidgetFile};
use kb_sso::{ClientId, ClientSecret, ProjectSettings, SsoProvider};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::out::{self, Exit, Outcome, Paint, Report};

/// Project files (feature dev-files): a whole project as JSON, for
/// development, demos and tests.
#[derive(Debug, ClapArgs)]
#[command(after_help = "Examples:
  kb-sso project check project.json
  kb-sso project check project.json --json | jq '.problems[].field'
  cat project.json | kb-sso project check -")]
pub(crate) struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check every rule of a project file and name each problem's field
    /// path (exit 1 when there is any).
    Check {
        /// The project file, or - for stdin.
        file: PathBuf,
    },
}

/// One problem: where and what.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Problem {
    field: String,
    message: String,
}

impl Problem {
    fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }

    /// A problem of a file made of one part, its paths moved from
    /// `from` (e.g. `jwt[0]`) to `to` (e.g. `jwt[3]`).
    fn moved(e: &ProjectFileError, from: &str, to: &str) -> Self {
        let field = match e.field.strip_prefix(from) {
            Some(rest) => format!("{to}{rest}"),
            None => e.field.clone(),
        };
        Self::new(field, e.problem.to_string())
    }
}

/// Runs `kb-sso project`.
pub(crate) fn run(args: &Args, paint: Paint) -> Outcome {
    match &args.command {
        Command::Check { file } => check(file, paint),
    }
}

fn check(path: &std::path::Path, paint: Paint) -> Outcome {
    let text = out::read_file(path, "project file")?;
    let shown = path.display().to_string();
    let (problems, summary) = problems(&text);
    let mut human = String::new();
    let json = if problems.is_empty() {
        let summary = summary.unwrap_or_default();
        let _ = writeln!(
            human,
            "{} {shown}: {} JWT configuration(s), {} SSO provider(s), widget {}",
            paint.good("ok"),
            summary.jwt,
            summary.sso,
            if summary.widget { "set" } else { "not set" }
        );
        json!({"ok": true, "file": shown, "jwt_configs": summary.jwt, "sso_providers": summary.sso, "widget": summary.widget, "problems": []})
    } else {
        let _ = writeln!(human, "{} {shown}: {} problem(s)", paint.bad("invalid"), problems.len());
        for p in &problems {
            let _ = writeln!(human, "  {}: {}", paint.bold(&p.field), p.message);
        }
        let list: Vec<Value> = problems
            .iter()
            .map(|p| json!({"field": p.field, "message": p.message}))
            .collect();
        json!({"ok": false, "file": shown, "problems": list})
    };
    let exit = if problems.is_empty() { Exit::Ok } else { Exit::Failed };
    Ok(Report::new(exit, human, json))
}

/// What a valid file holds.
#[derive(Debug, Default)]
struct Summary {
    jwt: usize,
    sso: usize,
    widget: bool,
}

/// Every problem of the file's text, in file order, or what it holds.
fn problems(text: &str) -> (Vec<Problem>, Option<Summary>) {
    let value: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            return (
                vec![Problem::new(
                    format!("line {} column {}", e.line(), e.column()),
                    e.to_string(),
                )],
                None,
            );
        }
    };
    let Value::Object(top) = &value else {
        return (vec![Problem::new("(top level)", "must be a JSON object")], None);
    };
    let mut found = Vec::new();
    // The shape of each part.
    const FIELDS: [&str; 5] = ["kb_url", "settings", "jwt", "sso", "widget"];
    for key in top.keys().filter(|k| !FIELDS.contains(&k.as_str())) {
        found.push(Problem::new(
            key.clone(),
            format!("unknown field, expected one of {}", FIELDS.join(", ")),
        ));
    }
    if let Some(v) = top.get("kb_url").filter(|v| !v.is_null()) {
        match v.as_str() {
            Some(url) => {
                if let Err(e) = url::Url::parse(url) {
                    found.push(Problem::new("kb_url", format!("not a URL: {e}")));
                }
            }
            None => found.push(Problem::new("kb_url", "must be a string (the KB's base URL)")),
        }
    }
    if let Some(v) = top.get("settings") {
        shape::<ProjectSettings>(v, "settings", &mut found);
    }
    let jwt = list(top.get("jwt"), "jwt", &mut found);
    let sso = list(top.get("sso"), "sso", &mut found);
    let configs: Vec<Option<JwtConfigFile>> = jwt
        .iter()
        .enumerate()
        .map(|(i, v)| shape::<JwtConfigFile>(v, &format!("jwt[{i}]"), &mut found))
        .collect();
    let providers: Vec<Option<SsoProvider>> = sso
        .iter()
        .enumerate()
        .map(|(i, v)| shape::<SsoProvider>(v, &format!("sso[{i}]"), &mut found))
        .collect();
    let widget = match top.get("widget") {
        Some(v) if !v.is_null() => shape::<WidgetFile>(v, "widget", &mut found),
        _ => None,
    };
    // The rules of each part on its own.
    for (i, config) in configs.iter().enumerate() {
        if let Some(config) = config {
            config_rules(i, config, &mut found);
        }
    }
    for (i, provider) in providers.iter().enumerate() {
        if let Some(provider) = provider {
            let file = ProjectFile {
                kb_url: None,
                settings: ProjectSettings::default(),
                jwt: Vec::new(),
                sso: vec![provider.clone()],
                widget: None,
            };
            if let Err(e) = file.into_project() {
                found.push(Problem::moved(&e, "sso[0]", &format!("sso[{i}]")));
            }
        }
    }
    if let Some(widget) = &widget {
        let file = ProjectFile {
            kb_url: None,
            settings: ProjectSettings::default(),
            jwt: Vec::new(),
            sso: Vec::new(),
            widget: Some(widget.clone()),
        };
        if let Err(e) = file.widget_project() {
            found.push(Problem::moved(&e, "widget", "widget"));
        }
    }
    if !found.is_empty() {
        return (found, None);
    }
    // The rules between the parts: the whole file, as the server loads it.
    let file = match serde_path_to_error::deserialize::<_, ProjectFile>(&value) {
        Ok(file) => file,
        Err(e) => return (vec![Problem::new(path_of(&e), e.inner().to_string())], None),
    };
    let summary = Summary {
        jwt: file.jwt.len(),
        sso: file.sso.len(),
        widget: file.widget.is_some(),
    };
    if let Err(e) = file.handshakes() {
        found.push(Problem::new(e.field.clone(), e.problem.to_string()));
    }
    if let Err(e) = file.into_project() {
        let p = Problem::new(e.field.clone(), e.problem.to_string());
        if !found.contains(&p) {
            found.push(p);
        }
    }
    (found, Some(summary))
}

/// The rules of configuration `i` alone: each field that can be checked
/// by itself, then the configuration as the server builds it.
fn config_rules(i: usize, config: &JwtConfigFile, found: &mut Vec<Problem>) {
    let at = |f: &str| format!("jwt[{i}].{f}");
    let before = found.len();
    if let Err(e) = ClientId::parse(&config.client_id) {
        found.push(Problem::new(at("client_id"), e.to_string()));
    }
    if let Err(e) = ClientSecret::parse_generated(&config.primary_secret) {
        found.push(Problem::new(at("primary_secret"), e.to_string()));
    }
    if let Err(e) = ClientSecret::parse_generated(&config.secondary_secret) {
        found.push(Problem::new(at("secondary_secret"), e.to_string()));
    }
    let file = ProjectFile {
        kb_url: None,
        settings: ProjectSettings::default(),
        jwt: vec![config.clone()],
        sso: Vec::new(),
        widget: None,
    };
    let mut seen: Vec<Problem> = found[before..].to_vec();
    if let Err(e) = file.handshakes() {
        let p = Problem::moved(&e, "jwt[0]", &format!("jwt[{i}]"));
        if !seen.contains(&p) {
            seen.push(p.clone());
            found.push(p);
        }
    }
    // The builder's checks (name, URLs, button text) once the fields
    // checked above pass: with valid stand-ins for those, so that a bad
    // secret does not hide a bad URL.
    let mut stand_in = config.clone();
    if ClientId::parse(&stand_in.client_id).is_err() {
        stand_in.client_id = ClientId::generate().to_string();
    }
    if ClientSecret::parse_generated(&stand_in.primary_secret).is_err() {
        stand_in.primary_secret = ClientSecret::generate().expose().to_owned();
    }
    if ClientSecret::parse_generated(&stand_in.secondary_secret).is_err() {
        stand_in.secondary_secret = ClientSecret::generate().expose().to_owned();
    }
    stand_in.handshake = None;
    let file = ProjectFile {
        jwt: vec![stand_in],
        ..file
    };
    if let Err(e) = file.into_project() {
        let p = Problem::moved(&e, "jwt[0]", &format!("jwt[{i}]"));
        if !seen.contains(&p) {
            found.push(p);
        }
    }
}

/// The array at `name` (absent or null: empty).
fn list<'a>(value: Option<&'a Value>, name: &str, found: &mut Vec<Problem>) -> &'a [Value] {
    match value {
        None | Some(Value::Null) => &[],
        Some(Value::Array(items)) => items,
        Some(_) => {
            found.push(Problem::new(name, "must be an array"));
            &[]
        }
    }
}

/// `value` as a `T`, or the problem at `at` plus the inner field path.
fn shape<T: DeserializeOwned>(value: &Value, at: &str, found: &mut Vec<Problem>) -> Option<T> {
    match serde_path_to_error::deserialize::<_, T>(value) {
        Ok(v) => Some(v),
        Err(e) => {
            let inner = path_of(&e);
            let field = if inner == "." {
                at.to_owned()
            } else if inner.starts_with('[') {
                format!("{at}{inner}")
            } else {
                format!("{at}.{inner}")
            };
            found.push(Problem::new(field, e.inner().to_string()));
            None
        }
    }
}

/// The path of a deserialization error (`.` for the value itself).
fn path_of(e: &serde_path_to_error::Error<serde_json::Error>) -> String {
    e.path().to_string()
}
