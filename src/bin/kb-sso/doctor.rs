//! `kb-sso doctor`: the spec's own test of a JWT configuration, end to end,
//! with the likely cause of each failure in the spec's words.
//!
//! 1. The KB answers and publishes its keys (`/.well-known/jwks.json`).
//! 2. A code is generated exactly as the spec's curl and Postman steps do:
//!    `POST` of the JSON payload to the code generation URL with HTTP Basic
//!    auth (client id and client secret).
//! 3. The code is redeemed on the back channel (`/api/jwt/token`).
//! 4. The `id_token` verifies against the KB's JWKS: signature, type,
//!    issuer (the KB), audience (the client id), times.
//! 5. Its claims are the payload's, and it lasts the `tokenValidity` asked
//!    for (minutes, clamped to 5..=1440).
//!
//! The KB's clock is read from its `Date` header, to tell clock skew.

use std::fmt::Write as _;
use std::path::PathBuf;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use clap::Args as ClapArgs;
use kb_sso::{
    ClientId, ClientSecret, IdTokenClaims, KeySet, Verifier, VerifyError, id_token_validation, jwt_error_reason,
};
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::http::{self, Answer};
use crate::out::{self, Exit, Failure, Outcome, Paint, Report};

/// The code request body of the spec's curl and Postman tests.
use crate::serve::server::SPEC_CODE_REQUEST as SPEC_PAYLOAD;

/// Clock difference beyond which the KB's and this machine's clocks are
/// said to disagree (the token checks allow 30 s).
const SKEW_WARNING_SECS: i64 = 30;

/// Run the spec's code-flow test against a KB: generate a code with HTTP
/// Basic auth, redeem it on the back channel, verify the id_token against
/// the KB's JWKS. Each step says what happened and, on failure, the likely
/// cause.
#[derive(Debug, ClapArgs)]
#[command(after_help = "Examples:
  kb-sso doctor --kb http://127.0.0.1:8080 --client-id 93ef716b-... --client-secret-file secret.txt
  kb-sso doctor --kb https://kb.example.com --client-id ID --client-secret-file - < secret.txt
  kb-sso doctor --kb URL --client-id ID --client-secret-file F --payload my-payload.json --json")]
pub(crate) struct Args {
    /// The KB's base URL (its identity server's, when separate).
    #[arg(long, value_name = "URL")]
    kb: String,
    /// The JWT configuration's client id.
    #[arg(long, value_name = "ID")]
    client_id: String,
    /// The client secret: the first line of FILE (- for stdin).
    #[arg(long, value_name = "FILE")]
    client_secret_file: PathBuf,
    /// The code request's JSON payload (default: the spec's sample, John
    /// Doe in group1 and group2, tokenValidity 15 minutes).
    #[arg(long, value_name = "FILE")]
    payload: Option<PathBuf>,
    /// The code generation path (the spec's alias is /jwt/generateCode).
    #[arg(long, value_name = "PATH", default_value = "/api/jwt/generate-code")]
    code_path: String,
}

/// One step's result.
struct Step {
    name: &'static str,
    ok: bool,
    detail: String,
    cause: Option<String>,
    warning: Option<String>,
}

impl Step {
    fn pass(name: &'static str, detail: impl Into<String>) -> Self {
        Self {
            name,
            ok: true,
            detail: detail.into(),
            cause: None,
            warning: None,
        }
    }

    fn fail(name: &'static str, detail: impl Into<String>, cause: impl Into<String>) -> Self {
        Self {
            name,
            ok: false,
            detail: detail.into(),
            cause: Some(cause.into()),
            warning: None,
        }
    }
}

/// Runs `kb-sso doctor`.
pub(crate) fn run(args: &Args, paint: Paint) -> Outcome {
    let kb = url::Url::parse(args.kb.trim_end_matches('/'))
        .map_err(|e| Failure::usage(format!("--kb {}: not a URL: {e}", args.kb)))?;
    if !matches!(kb.scheme(), "http" | "https") {
        return Err(Failure::usage(format!("--kb {}: must be http:// or https://", args.kb)));
    }
    let base = kb.as_str().trim_end_matches('/').to_owned();
    let client_id = args.client_id.trim().to_owned();
    let secret = out::read_secret(&args.client_secret_file, "--client-secret-file")?;
    let payload_text = match &args.payload {
        Some(path) => out::read_file(path, "--payload")?,
        None => zeroize::Zeroizing::new(SPEC_PAYLOAD.to_owned()),
    };
    let mut steps: Vec<Step> = Vec::new();
    let mut skew: Option<i64> = None;
    let agent = http::agent();
    let outcome = checks(
        &agent,
        &base,
        &client_id,
        &secret,
        &payload_text,
        &args.code_path,
        &mut steps,
        &mut skew,
    );
    let unreachable = outcome.err();
    Ok(report(&base, &steps, skew, unreachable.as_ref(), paint))
}

/// The steps, in order, stopping at the first that fails. `Err` when the
/// KB could not be reached at all.
#[allow(clippy::too_many_arguments)]
fn checks(
    agent: &ureq::Agent,
    base: &str,
    client_id: &str,
    secret: &str,
    payload_text: &str,
    code_path: &str,
    steps: &mut Vec<Step>,
    skew: &mut Option<i64>,
) -> Result<(), Failure> {
    // 0. The inputs, before anything is sent.
    let payload: Value = match serde_json::from_str(payload_text) {
        Ok(v @ Value::Object(_)) => v,
        Ok(_) | Err(_) => {
            steps.push(Step::fail(
                "payload",
                "the payload is not a JSON object",
                "Ensure correct JSON syntax to avoid configuration errors (the spec's note on the payload).",
            ));
            return Ok(());
        }
    };
    let mut inputs = Step::pass("inputs", "client id, secret and payload read");
    let mut notes = Vec::new();
    if ClientId::parse(client_id).is_err() {
        notes.push("the client id is not a UUID as the KB generates them (copied whole?)".to_owned());
    }
    if ClientSecret::parse_generated(secret).is_err() {
        notes.push(
            "the secret is not 43 base64url characters as the KB generates them (copied whole, no quotes?)".to_owned(),
        );
    }
    let validity = payload.get("tokenValidity").and_then(Value::as_f64);
    if let Some(v) = validity
        && !(5.0..=1440.0).contains(&v)
    {
        let clamped = if v < 5.0 { 5 } else { 1440 };
        notes.push(format!(
            "tokenValidity {v} is outside 5..=1440: the code flow takes MINUTES (the spec: \"tokenValidity in minutes\", min 5, max 1440); \
             the KB uses {clamped} minutes. A value like 3600 is seconds from a widget or a sample: divide by 60."
        ));
    }
    if !notes.is_empty() {
        inputs.warning = Some(notes.join("; "));
    }
    steps.push(inputs);

    // 1. The KB answers and publishes its keys.
    let jwks_url = format!("{base}/.well-known/jwks.json");
    let answer = http::get(agent, &jwks_url, None)?;
    *skew = clock_skew(&answer);
    let keys = if answer.status == 200 {
        match KeySet::from_jwks_json(&answer.body) {
            Ok(keys) => {
                steps.push(Step::pass(
                    "jwks",
                    format!("GET {jwks_url}: 200, {} key(s)", keys.len()),
                ));
                keys
            }
            Err(e) => {
                steps.push(Step::fail(
                    "jwks",
                    format!("GET {jwks_url}: 200 but not a JWK Set: {e}"),
                    "The URL is not the KB's identity server (check --kb).",
                ));
                return Ok(());
            }
        }
    } else {
        steps.push(Step::fail(
            "jwks",
            format!("GET {jwks_url}: {}", answer.status),
            "The URL is not the KB's identity server (check --kb: the KB's base URL, without a path).",
        ));
        return Ok(());
    };

    // 2. The code, as the spec's curl and Postman steps make it.
    let code_url = format!("{base}{code_path}");
    let basic = zeroize::Zeroizing::new(STANDARD.encode(format!("{client_id}:{secret}")));
    let request = ::http::Request::builder()
        .method("POST")
        .uri(&code_url)
        .header("content-type", "application/json")
        .header("authorization", format!("Basic {}", basic.as_str()))
        .body(payload_text.as_bytes().to_vec())
        .map_err(|e| Failure::usage(format!("{code_url}: {e}")))?;
    let answer = http::send(agent, request)?;
    let code = match answer.status {
        200 => match answer
            .json()
            .and_then(|v| v.get("code").and_then(Value::as_str).map(str::to_owned))
        {
            Some(code) => {
                steps.push(Step::pass(
                    "generate code",
                    format!(
                        "POST {code_url} (JSON payload, HTTP Basic auth): 200, a code of {} characters",
                        code.len()
                    ),
                ));
                code
            }
            None => {
                steps.push(Step::fail(
                    "generate code",
                    format!("POST {code_url}: 200 without a code"),
                    "The URL is not the KB's code generation URL (check --kb and --code-path).",
                ));
                return Ok(());
            }
        },
        status => {
            steps.push(code_failure(&code_url, status, &answer, agent, payload_text));
            return Ok(());
        }
    };

    // 3. The back channel.
    let token_url = format!("{base}/api/jwt/token");
    let form = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "authorization_code")
        .append_pair("code", &code)
        .finish();
    let request = ::http::Request::builder()
        .method("POST")
        .uri(&token_url)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("authorization", format!("Basic {}", basic.as_str()))
        .body(form.into_bytes())
        .map_err(|e| Failure::usage(format!("{token_url}: {e}")))?;
    let answer = http::send(agent, request)?;
    let id_token = match (answer.status, answer.json()) {
        (200, Some(body)) => match body.get("id_token").and_then(Value::as_str) {
            Some(t) => {
                steps.push(Step::pass(
                    "redeem code",
                    format!(
                        "POST {token_url} (grant_type=authorization_code): 200, token_type {}, expires_in {}",
                        body.get("token_type").and_then(Value::as_str).unwrap_or("?"),
                        body.get("expires_in")
                            .map_or_else(|| "?".to_owned(), ToString::to_string)
                    ),
                ));
                t.to_owned()
            }
            None => {
                steps.push(Step::fail(
                    "redeem code",
                    format!("POST {token_url}: 200 without an id_token"),
                    "The URL is not the KB's identity server.",
                ));
                return Ok(());
            }
        },
        (status, _) => {
            let what = error_text(&answer);
            let cause = match answer.error_code().as_deref() {
                Some("invalid_grant") => {
                    "The code was refused: a code is single-use and short-lived (the spec: \"The authentication code is a one-time use code and cannot be reused\"); \
                     if it was fresh, the KB's clock may disagree with the code store's."
                }
                Some("invalid_client") => {
                    "The back channel's client authentication failed: the client id or secret is wrong."
                }
                _ => "The back-channel exchange failed; see the KB's answer.",
            };
            steps.push(Step::fail(
                "redeem code",
                format!("POST {token_url}: {status} {what}"),
                cause,
            ));
            return Ok(());
        }
    };

    // 4. The id_token against the JWKS.
    let Ok(audience) = ClientId::parse(client_id) else {
        steps.push(Step::fail(
            "verify id_token",
            "the client id is not a UUID",
            "Use the client id exactly as the KB shows it.",
        ));
        return Ok(());
    };
    let verifier = Verifier::new(keys, id_token_validation(base, &audience));
    let now = OffsetDateTime::now_utc();
    match verifier.verify_str::<IdTokenClaims>(&id_token, now) {
        Ok(verified) => {
            let lifetime = verified.expires_at().unix_timestamp() - now.unix_timestamp();
            steps.push(Step::pass(
                "verify id_token",
                format!(
                    "signature (key {}), type, issuer {base}, audience {client_id}: valid; expires {}",
                    verified.kid(),
                    out::when(verified.expires_at().unix_timestamp(), now.unix_timestamp())
                ),
            ));
            steps.push(claims_step(&payload, verified.claims(), lifetime, validity));
        }
        Err(e) => {
            let cause = id_token_cause(&e, *skew);
            steps.push(Step::fail(
                "verify id_token",
                format!("jwt_error={} ({e})", jwt_error_reason(&e)),
                cause,
            ));
        }
    }
    Ok(())
}

/// The step for a code request the KB refused.
fn code_failure(url: &str, status: u16, answer: &Answer, agent: &ureq::Agent, payload: &str) -> Step {
    let what = format!("POST {url}: {status} {}", error_text(answer));
    match status {
        401 => {
            // Does the KB ask for Basic auth at all? Then the credentials
            // themselves are wrong.
            let asks_basic = answer
                .header("www-authenticate")
                .is_some_and(|v| v.to_ascii_lowercase().starts_with("basic"));
            let probe = ::http::Request::builder()
                .method("POST")
                .uri(url)
                .header("content-type", "application/json")
                .body(payload.as_bytes().to_vec())
                .ok()
                .and_then(|r| http::send(agent, r).ok())
                .map(|a| a.status);
            let cause = if asks_basic {
                "Wrong secret or client id: the KB refused the Basic credentials. The spec: \"set the authorization type to Basic Auth. \
                 In the Username field, enter the Client ID. In the Password field, enter the Client Secret.\" Check that the secret \
                 is the configuration's current one (regenerating a secret stops the old one at once) and has no stray whitespace."
            } else {
                "The credentials must be in HTTP Basic auth (Authorization: Basic base64(clientId:clientSecret)), not in the body or \
                 another header. The spec: \"This request must be authorized using HTTP Basic Auth with your Client ID and Client Secret.\""
            };
            let mut step = Step::fail("generate code", what, cause);
            if probe == Some(401) {
                step.warning =
                    Some("without credentials the KB answers 401 too: it expects HTTP Basic auth".to_owned());
            }
            step
        }
        403 => Step::fail(
            "generate code",
            what,
            "The JWT configuration is disabled on the KB (or JWT sign-in is off): enable it in the KB's settings \
             (kb-sso admin config enable CLIENT_ID).",
        ),
        400 => {
            let description = answer.error_description().unwrap_or_default();
            let cause = if description.contains("tokenValidity") {
                "A payload field is wrong: tokenValidity is in minutes (5..=1440) in the code flow."
            } else if description.contains("JSON") || description.contains("json") {
                "The payload is not the JSON the KB expects: send it raw with Content-Type: application/json (the spec: \
                 \"Select the raw option from the dropdown and ensure the format is set to JSON\")."
            } else {
                "A payload field is wrong (the KB names it above): username, firstName, lastName, emailId, readerGroupIds, tokenValidity."
            };
            Step::fail("generate code", what, cause)
        }
        404 | 405 => Step::fail(
            "generate code",
            what,
            "This is not the code generation URL: check --kb (the KB's base URL) and --code-path.",
        ),
        413 => Step::fail("generate code", what, "The payload is too large (64 KiB at most)."),
        429 => Step::fail(
            "generate code",
            what,
            "Too many failed attempts: the KB is limiting this client and address for a minute. Wait, then retry with the right secret.",
        ),
        _ => Step::fail("generate code", what, "The KB failed to answer; see its logs."),
    }
}

/// The claims step: the `id_token` carries the payload's reader and lasts
/// what was asked.
fn claims_step(payload: &Value, claims: &IdTokenClaims, lifetime: i64, validity: Option<f64>) -> Step {
    let claims = serde_json::to_value(claims).unwrap_or(Value::Null);
    let mut mismatches = Vec::new();
    let pairs = [
        ("username", "sub"),
        ("emailId", "email"),
        ("firstName", "given_name"),
        ("lastName", "family_name"),
    ];
    for (sent, got) in pairs {
        if let Some(want) = payload.get(sent).and_then(Value::as_str) {
            let have = find_string(&claims, got, sent);
            if have.as_deref() != Some(want) {
                mismatches.push(format!("{sent} sent {want:?}, id_token has {have:?}"));
            }
        }
    }
    let minutes = lifetime.saturating_add(30) / 60;
    let asked = validity.map_or(15, |v| (v as i64).clamp(5, 1440));
    let mut detail = format!("the id_token lasts about {minutes} minute(s) (asked: {asked})");
    if !mismatches.is_empty() {
        let _ = write!(detail, "; {}", mismatches.join("; "));
        return Step::fail(
            "claims",
            detail,
            "A payload field is wrong or named differently (the spec's fields: username, firstName, lastName, emailId, readerGroupIds).",
        );
    }
    let mut step = Step::pass("claims", detail);
    if (minutes - asked).abs() > 1 {
        step.warning = Some(format!(
            "asked for {asked} minutes, got about {minutes}: tokenValidity is in minutes"
        ));
    }
    step
}

/// A string claim under `name` or `alt`, anywhere at the top level.
fn find_string(claims: &Value, name: &str, alt: &str) -> Option<String> {
    claims
        .get(name)
        .or_else(|| claims.get(alt))
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// The likely cause of an `id_token` that does not verify.
fn id_token_cause(e: &VerifyError, skew: Option<i64>) -> String {
    let skewed = skew.is_some_and(|s| s.abs() > SKEW_WARNING_SECS);
    match e {
        VerifyError::Expired | VerifyError::NotYetValid | VerifyError::IssuedInFuture if skewed => format!(
            "Clock skew: the KB's clock and this machine's differ by {} s; synchronise them (NTP).",
            skew.unwrap_or(0)
        ),
        VerifyError::WrongIssuer => {
            "The KB signs with another issuer than --kb: use the KB's public base URL exactly.".to_owned()
        }
        VerifyError::WrongAudience => "The id_token is for another client id.".to_owned(),
        VerifyError::UnknownKey | VerifyError::BadSignature | VerifyError::AlgorithmMismatch => {
            "The id_token is not signed by a key of the KB's JWKS (a proxy or another KB answered?).".to_owned()
        }
        _ => crate::token::hint(jwt_error_reason(e)).to_owned(),
    }
}

/// `error: error_description` of an OAuth-style error body.
fn error_text(answer: &Answer) -> String {
    match (answer.error_code(), answer.error_description()) {
        (Some(code), Some(description)) => format!("{code}: {description}"),
        (Some(code), None) => code,
        _ => {
            let text = answer.text();
            let text = text.trim();
            if text.len() > 200 {
                format!("{}...", text.chars().take(200).collect::<String>())
            } else {
                text.to_owned()
            }
        }
    }
}

/// The KB's clock minus this machine's, in seconds, from its `Date`
/// header.
fn clock_skew(answer: &Answer) -> Option<i64> {
    let date = answer.header("date")?;
    let format = time::format_description::parse_borrowed::<2>(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT",
    )
    .ok()?;
    let theirs = time::PrimitiveDateTime::parse(date, &format).ok()?.assume_utc();
    Some(theirs.unix_timestamp() - OffsetDateTime::now_utc().unix_timestamp())
}

fn report(base: &str, steps: &[Step], skew: Option<i64>, unreachable: Option<&Failure>, paint: Paint) -> Report {
    let mut human = format!("{} {base}\n", paint.bold("kb-sso doctor"));
    for step in steps {
        let mark = if step.ok { paint.good("ok  ") } else { paint.bad("FAIL") };
        let _ = writeln!(human, "{mark} {}: {}", step.name, step.detail);
        if let Some(w) = &step.warning {
            let _ = writeln!(human, "     {} {w}", paint.warn("warning:"));
        }
        if let Some(c) = &step.cause {
            let _ = writeln!(human, "     {} {c}", paint.bold("likely cause:"));
        }
    }
    if let Some(s) = skew
        && s.abs() > SKEW_WARNING_SECS
    {
        let _ = writeln!(
            human,
            "{} the KB's clock differs from this machine's by {s} s (clock skew): tokens may look expired or not yet valid",
            paint.warn("warning:")
        );
    }
    if let Some(f) = unreachable {
        let _ = writeln!(
            human,
            "{} {}\n     {} Nothing answered: check --kb (scheme, host, port), that the KB is running, and proxies or firewalls.",
            paint.bad("FAIL"),
            f.message,
            paint.bold("likely cause:")
        );
    }
    let all_ok = unreachable.is_none() && steps.iter().all(|s| s.ok) && steps.iter().any(|s| s.name == "claims");
    let _ = writeln!(
        human,
        "{}",
        if all_ok {
            paint.good("The KB passes the spec's test: codes are issued, redeemed and verified.")
        } else {
            paint.bad("The KB does not pass the spec's test (see above).")
        }
    );
    let exit = match (all_ok, unreachable) {
        (true, _) => Exit::Ok,
        (false, Some(f)) => f.exit,
        (false, None) => Exit::Failed,
    };
    let json_steps: Vec<Value> = steps
        .iter()
        .map(|s| json!({"name": s.name, "ok": s.ok, "detail": s.detail, "cause": s.cause, "warning": s.warning}))
        .collect();
    let json = json!({
        "ok": all_ok,
        "kb": base,
        "steps": json_steps,
        "clock_skew_seconds": skew,
        "error": unreachable.map(|f| f.message.clone()),
    });
    Report::new(exit, human, json)
}
