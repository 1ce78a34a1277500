//! What every command shares: exit codes, the report a command hands back
//! (text for people, one JSON object for scripts), colour, and reading
//! tokens, secrets and files.

use std::fmt::Write as _;
use std::io::{IsTerminal as _, Read as _};
use std::path::Path;

use serde_json::Value;
use zeroize::Zeroizing;

/// The process's exit status (documented in `--help` and the crate docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exit {
    /// Everything checked out.
    Ok = 0,
    /// A check failed: a token that does not verify, a project file that
    /// breaks a rule, a doctor step that failed, an admin request refused.
    Failed = 1,
    /// Bad input: a usage error, a malformed token, key or file content.
    Usage = 2,
    /// Input/output: a file that cannot be read or written, a KB that
    /// cannot be reached.
    Io = 3,
}

impl Exit {
    /// The numeric status.
    pub(crate) fn code(self) -> u8 {
        self as u8
    }
}

/// What a command answers: its exit status, the text for a terminal and the
/// JSON object for `--json`.
#[derive(Debug)]
pub(crate) struct Report {
    pub(crate) exit: Exit,
    pub(crate) human: String,
    pub(crate) json: Value,
}

impl Report {
    /// A report with status `exit`.
    pub(crate) fn new(exit: Exit, human: String, json: Value) -> Self {
        Self { exit, human, json }
    }
}

/// A command that could not do its work: the status and one message
/// (never holding a secret).
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) exit: Exit,
    pub(crate) message: String,
}

impl Failure {
    /// Bad input (exit 2).
    pub(crate) fn usage(message: impl Into<String>) -> Self {
        Self {
            exit: Exit::Usage,
            message: message.into(),
        }
    }

    /// An I/O or network problem (exit 3).
    pub(crate) fn io(message: impl Into<String>) -> Self {
        Self {
            exit: Exit::Io,
            message: message.into(),
        }
    }
}

/// A command's result.
pub(crate) type Outcome = Result<Report, Failure>;

/// Colours for text output: ANSI escapes only when enabled.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Paint {
    on: bool,
}

impl Paint {
    /// Colour when `choice` says so; `auto` means stdout is a terminal and
    /// `NO_COLOR` is not set.
    pub(crate) fn new(choice: ColorChoice) -> Self {
        let on = match choice {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
        };
        Self { on }
    }

    fn wrap(self, code: &str, text: &str) -> String {
        if self.on {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }

    /// Green: a passed check.
    pub(crate) fn good(self, text: &str) -> String {
        self.wrap("32", text)
    }

    /// Red: a failed check.
    pub(crate) fn bad(self, text: &str) -> String {
        self.wrap("31", text)
    }

    /// Yellow: a warning.
    pub(crate) fn warn(self, text: &str) -> String {
        self.wrap("33", text)
    }

    /// Bold: a heading.
    pub(crate) fn bold(self, text: &str) -> String {
        self.wrap("1", text)
    }

    /// Dim: a detail.
    pub(crate) fn dim(self, text: &str) -> String {
        self.wrap("2", text)
    }
}

/// When to colour text output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum ColorChoice {
    /// On a terminal, unless `NO_COLOR` is set.
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

/// Largest input read from a file or stdin (1 MiB): tokens, keys, project
/// files and payloads are all far smaller.
const MAX_INPUT: u64 = 1024 * 1024;

/// The text of `arg`, or of stdin when it is `-`.
pub(crate) fn arg_or_stdin(arg: &str, what: &str) -> Result<Zeroizing<String>, Failure> {
    if arg == "-" {
        read_stdin(what)
    } else {
        Ok(Zeroizing::new(arg.to_owned()))
    }
}

/// All of stdin (at most 1 MiB).
pub(crate) fn read_stdin(what: &str) -> Result<Zeroizing<String>, Failure> {
    let mut text = Zeroizing::new(String::new());
    std::io::stdin()
        .take(MAX_INPUT)
        .read_to_string(&mut text)
        .map_err(|e| Failure::io(format!("{what}: reading stdin: {e}")))?;
    Ok(text)
}

/// The text of the file at `path`, or of stdin when it is `-` (at most
/// 1 MiB).
pub(crate) fn read_file(path: &Path, what: &str) -> Result<Zeroizing<String>, Failure> {
    if path.as_os_str() == "-" {
        return read_stdin(what);
    }
    let file = std::fs::File::open(path).map_err(|e| Failure::io(format!("{what} {}: {e}", path.display())))?;
    let mut text = Zeroizing::new(String::new());
    file.take(MAX_INPUT)
        .read_to_string(&mut text)
        .map_err(|e| Failure::io(format!("{what} {}: {e}", path.display())))?;
    Ok(text)
}

/// A secret from a file (or stdin with `-`): its first line, trimmed.
pub(crate) fn read_secret(path: &Path, what: &str) -> Result<Zeroizing<String>, Failure> {
    let text = read_file(path, what)?;
    let line = text.lines().next().unwrap_or("").trim();
    if line.is_empty() {
        return Err(Failure::usage(format!("{what} {}: empty", path.display())));
    }
    Ok(Zeroizing::new(line.to_owned()))
}

/// Writes a new file (never replacing one) that only its owner may read.
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> Result<(), Failure> {
    write_new(path, bytes, 0o600)
}

/// Writes a new file (never replacing one) with `mode` (on Unix).
pub(crate) fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<(), Failure> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
    #[cfg(not(unix))]
    let _ = mode;
    let result = options.open(path).and_then(|mut file| {
        file.write_all(bytes)?;
        file.sync_all()
    });
    result.map_err(|e| {
        let hint = if e.kind() == std::io::ErrorKind::AlreadyExists {
            " (refusing to replace an existing file)"
        } else {
            ""
        };
        Failure::io(format!("{}: {e}{hint}", path.display()))
    })
}

/// A time as UTC text and relative to `now` ("in 4m 10s", "3h 2m ago").
pub(crate) fn when(at: i64, now: i64) -> String {
    let utc = time::OffsetDateTime::from_unix_timestamp(at)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_else(|| format!("{at} (out of range)"));
    format!("{utc} ({})", relative(at.saturating_sub(now)))
}

/// A signed span of seconds as "in 1h 2m" or "1h 2m ago".
pub(crate) fn relative(secs: i64) -> String {
    if secs == 0 {
        return "now".to_owned();
    }
    let span = span(secs.unsigned_abs());
    if secs > 0 {
        format!("in {span}")
    } else {
        format!("{span} ago")
    }
}

/// Seconds as "2d 3h", "1h 2m", "4m 10s" or "9s".
pub(crate) fn span(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    let mut out = String::new();
    let parts = [(d, "d"), (h, "h"), (m, "m"), (s, "s")];
    let first = parts.iter().position(|(n, _)| *n > 0).unwrap_or(3);
    for (n, unit) in parts.iter().skip(first).take(2) {
        if !out.is_empty() {
            out.push(' ');
        }
        let _ = write!(out, "{n}{unit}");
    }
    out
}

/// Writes `text` to standard output. A closed pipe (`kb-sso ... | head`)
/// or a full disk ends the output quietly instead of panicking as
/// `println!` would: the exit status still tells what the command found.
pub(crate) fn emit(text: &str) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

/// [`emit`] for standard error.
fn emit_err(text: &str) {
    use std::io::Write as _;
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(text.as_bytes()).and_then(|()| err.flush());
}

/// Prints a finished command and answers its exit status.
pub(crate) fn finish(outcome: Outcome, json: bool) -> u8 {
    match outcome {
        Ok(report) => {
            if json {
                emit(&format!("{}\n", report.json));
            } else if !report.human.is_empty() {
                let newline = if report.human.ends_with('\n') { "" } else { "\n" };
                emit(&format!("{}{newline}", report.human));
            }
            report.exit.code()
        }
        Err(failure) => {
            if json {
                let object = serde_json::json!({
                    "ok": false,
                    "exit": failure.exit.code(),
                    "error": failure.message,
                });
                emit(&format!("{object}\n"));
            } else {
                emit_err(&format!("kb-sso: {}\n", failure.message));
            }
            failure.exit.code()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_show_the_two_largest_units() {
        assert_eq!(span(9), "9s");
        assert_eq!(span(250), "4m 10s");
        assert_eq!(span(3720), "1h 2m");
        assert_eq!(span(2 * 86_400 + 3 * 3600 + 5), "2d 3h");
        assert_eq!(relative(-90), "1m 30s ago");
        assert_eq!(relative(60), "in 1m 0s");
    }
}
