//! The reader, as a customer app describes them: the identity fields of a
//! code request, a widget token payload and a handshake token, their rules
//! and limits, and the error text of a refused JSON body.
//!
//! One home for the rules the code flow, the widget flow and the handshake
//! flow share: `username` and `emailId` required, no control characters,
//! at most [`MAX_FIELD_CHARS`] characters a field and [`MAX_READER_GROUPS`]
//! reader groups, and an identity small enough for a signed token
//! ([`ReaderIdentity::token_bytes`]).

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// The longest identity field (username, names, email), in characters.
pub const MAX_FIELD_CHARS: usize = 256;
/// The most reader group ids one request may carry.
pub const MAX_READER_GROUPS: usize = 100;

/// The reader a code, a widget token or a session speaks for, as the
/// customer app described them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReaderIdentity {
    /// The reader's username in the customer app (the token's `sub`).
    pub username: String,
    /// Given name.
    pub first_name: String,
    /// Family name.
    pub last_name: String,
    /// Email address, exactly as sent: never case-folded.
    pub email: String,
    /// Reader group ids granting access to parts of the KB.
    pub reader_group_ids: Vec<String>,
}

/// Why a code request body (or the identity fields of a widget payload)
/// is refused. Each names the problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PayloadError {
    /// Not one JSON object of the documented fields and types (includes
    /// unknown fields, duplicate fields, wrong types, trailing data).
    #[error("the body is not a valid code request: {0}")]
    Json(String),
    /// A required field is empty.
    #[error("`{0}` must not be empty")]
    Empty(&'static str),
    /// A field is longer than allowed.
    #[error("`{0}` is too long")]
    TooLong(&'static str),
    /// A field contains control characters.
    #[error("`{0}` contains control characters")]
    ControlCharacters(&'static str),
    /// `emailId` is not an email address.
    #[error("`emailId` is not an email address")]
    InvalidEmail,
    /// `tokenValidity` is not a number.
    #[error("`tokenValidity` must be a number of minutes")]
    InvalidTokenValidity,
    /// Too many reader groups.
    #[error("`readerGroupIds` has more than {MAX_READER_GROUPS} entries")]
    TooManyGroups,
    /// `codeChallenge` is not 43 base64url characters (S256).
    #[error("`codeChallenge` must be the S256 challenge the KB sent (43 base64url characters)")]
    InvalidCodeChallenge,
    /// This configuration requires login binding and no `codeChallenge`
    /// was sent.
    #[error("this JWT configuration requires login binding: send the `codeChallenge` the KB passed to the login URL")]
    MissingCodeChallenge,
    /// The identity fields together ([`ReaderIdentity::token_bytes`]) are
    /// more than a token has room for: refused before anything is issued,
    /// so that no code or token is promised that could not be signed.
    #[error(
        "the reader's identity is too large: {size} bytes, at most {max} (its names, email and reader groups must fit in a signed token and a session cookie)"
    )]
    IdentityTooLarge {
        /// The identity's encoded size, in bytes.
        size: usize,
        /// The most the token has room for, in bytes.
        max: usize,
    },
}

impl ReaderIdentity {
    /// Checks the identity fields of a request body, as the code and widget
    /// flows both send them: `username` and `emailId` required, no control
    /// characters, at most [`MAX_FIELD_CHARS`] each, at most
    /// [`MAX_READER_GROUPS`] non-empty group ids.
    pub(crate) fn from_fields(
        username: String,
        first_name: String,
        last_name: String,
        email_id: String,
        reader_group_ids: Option<Vec<String>>,
    ) -> Result<Self, PayloadError> {
        let groups = reader_group_ids.unwrap_or_default();
        check_fields(&username, &first_name, &last_name, &email_id, &groups)?;
        Ok(Self {
            username,
            first_name,
            last_name,
            email: email_id,
            reader_group_ids: groups,
        })
    }

    /// `first_name last_name`, trimmed: the `name` claim.
    pub(crate) fn full_name(&self) -> String {
        format!("{} {}", self.first_name, self.last_name).trim().to_owned()
    }

    /// The identity's encoded size: the bytes its claims (`sub`,
    /// `given_name`, `family_name`, `name`, `email` and the `groups`
    /// array's entries) add to a token's JSON payload beyond those claims'
    /// empty values, escapes counted as serde_json writes them. Exact for
    /// an `id_token` or a widget token; an access token carries less.
    ///
    /// Each field is at most [`MAX_FIELD_CHARS`] characters, yet the
    /// fields together can outgrow a token (the longest token this crate
    /// signs or reads);
    /// issuers compare this size with their room before issuing anything.
    #[must_use]
    pub fn token_bytes(&self) -> usize {
        token_bytes(
            &self.username,
            &self.first_name,
            &self.last_name,
            &self.email,
            &self.reader_group_ids,
        )
    }

    /// Checks [`token_bytes`](Self::token_bytes) against `max`.
    pub(crate) fn check_token_room(&self, max: usize) -> Result<(), PayloadError> {
        check_token_room(self.token_bytes(), max)
    }
}

/// [`ReaderIdentity::token_bytes`] of these fields.
pub(crate) fn token_bytes<G: AsRef<str>>(
    username: &str,
    first_name: &str,
    last_name: &str,
    email: &str,
    groups: &[G],
) -> usize {
    let group_bytes: usize = groups.iter().map(|g| json_escaped_len(g.as_ref()) + 2).sum();
    json_escaped_len(username)
        + json_escaped_len(first_name)
        + json_escaped_len(last_name)
        + full_name_escaped_len(first_name, last_name)
        + json_escaped_len(email)
        + group_bytes
        + groups.len().saturating_sub(1)
}

/// `size` against the room `max`.
pub(crate) fn check_token_room(size: usize, max: usize) -> Result<(), PayloadError> {
    if size > max {
        return Err(PayloadError::IdentityTooLarge { size, max });
    }
    Ok(())
}

/// The escaped length ([`json_escaped_len`]) of the full name,
/// `format!("{first} {last}").trim()`, counted without making it.
fn full_name_escaped_len(first: &str, last: &str) -> usize {
    full_name_escaped_len_of(first, last, json_escaped_len(first), json_escaped_len(last))
}

/// [`full_name_escaped_len`], given the escaped lengths of both names.
fn full_name_escaped_len_of(first: &str, last: &str, first_len: usize, last_len: usize) -> usize {
    let joined = || first.chars().chain(std::iter::once(' ')).chain(last.chars());
    let total = first_len + 1 + last_len;
    let leading: usize = joined().take_while(|c| c.is_whitespace()).map(char_escaped_len).sum();
    if leading == total {
        // Nothing but whitespace: trimmed to nothing.
        return 0;
    }
    let trailing: usize = joined()
        .rev()
        .take_while(|c| c.is_whitespace())
        .map(char_escaped_len)
        .sum();
    total - leading - trailing
}

/// [`json_escaped_len`] of one character.
fn char_escaped_len(c: char) -> usize {
    match c {
        '"' | '\\' | '\n' | '\r' | '\t' | '\u{8}' | '\u{c}' => 2,
        '\0'..='\u{1f}' => 6,
        _ => c.len_utf8(),
    }
}

/// The identity field checks of [`ReaderIdentity::from_fields`], on
/// borrowed text, in its order: each field, then the email's shape, then
/// the number of groups, then each group.
pub(crate) fn check_fields<G: AsRef<str>>(
    username: &str,
    first_name: &str,
    last_name: &str,
    email: &str,
    groups: &[G],
) -> Result<(), PayloadError> {
    check_fields_sized(username, first_name, last_name, email, groups).map(|_| ())
}

/// [`check_fields`], answering, when the fields pass, their
/// [`token_bytes`] as well: each field is read once for both.
pub(crate) fn check_fields_sized<G: AsRef<str>>(
    username: &str,
    first_name: &str,
    last_name: &str,
    email: &str,
    groups: &[G],
) -> Result<usize, PayloadError> {
    let username_len = check_field_sized("username", username, true)?;
    let first_len = check_field_sized("firstName", first_name, false)?;
    let last_len = check_field_sized("lastName", last_name, false)?;
    let email_len = check_field_sized("emailId", email, true)?;
    if !looks_like_email(email) {
        return Err(PayloadError::InvalidEmail);
    }
    if groups.len() > MAX_READER_GROUPS {
        return Err(PayloadError::TooManyGroups);
    }
    let mut group_bytes = groups.len().saturating_sub(1);
    for g in groups {
        group_bytes += check_field_sized("readerGroupIds", g.as_ref(), true)? + 2;
    }
    Ok(username_len
        + first_len
        + last_len
        + full_name_escaped_len_of(first_name, last_name, first_len, last_len)
        + email_len
        + group_bytes)
}

/// The length of `s` inside a JSON string as serde_json writes it (without
/// the quotes): `"` and `\` and the short control escapes take two bytes,
/// other control characters six.
fn json_escaped_len(s: &str) -> usize {
    // Most text has nothing to escape: one branch-free pass tells.
    let plain = s
        .bytes()
        .fold(true, |plain, b| plain & (b >= 0x20) & (b != b'"') & (b != b'\\'));
    if plain {
        return s.len();
    }
    s.bytes()
        .map(|b| match b {
            b'"' | b'\\' | b'\n' | b'\r' | b'\t' | 0x08 | 0x0c => 2,
            0..=0x1f => 6,
            _ => 1,
        })
        .sum()
}

/// A JSON number of any size as `f64` (out-of-range values become
/// infinities, which clamping handles); `null` as absent.
pub(crate) fn parse_validity(raw: Option<&RawValue>) -> Result<Option<f64>, PayloadError> {
    let Some(raw) = raw else { return Ok(None) };
    let text = raw.get().trim();
    if text == "null" {
        return Ok(None);
    }
    // serde_json has already checked that this is valid JSON; a number
    // starts with '-' or a digit, and Rust's float parser accepts every JSON
    // number (saturating to infinity).
    if !text.starts_with(|c: char| c == '-' || c.is_ascii_digit()) {
        return Err(PayloadError::InvalidTokenValidity);
    }
    text.parse::<f64>()
        .map(Some)
        .map_err(|_| PayloadError::InvalidTokenValidity)
}

/// [`check_field_sized`], without the size.
#[cfg(test)]
fn check_field(name: &'static str, value: &str, required: bool) -> Result<(), PayloadError> {
    check_field_sized(name, value, required).map(|_| ())
}

/// One field's rules, in one pass over its characters: no control
/// characters (checked first), at most [`MAX_FIELD_CHARS`] characters, and
/// when `required` something besides whitespace. A field that passes is
/// answered with its [`json_escaped_len`], counted in the same pass when
/// the text is ASCII.
fn check_field_sized(name: &'static str, value: &str, required: bool) -> Result<usize, PayloadError> {
    // Most fields are printable ASCII other than the space, `"` and `\`
    // (0x21..=0x7e less those two): one branch-free pass tells, and such
    // text has no control, one byte a character, is blank only when empty
    // and is written as it is.
    let plain = value.bytes().fold(true, |plain, b| {
        plain & (b.wrapping_sub(0x21) < 0x5e) & (b != b'"') & (b != b'\\')
    });
    if plain {
        if value.len() > MAX_FIELD_CHARS {
            return Err(PayloadError::TooLong(name));
        }
        if required && value.is_empty() {
            return Err(PayloadError::Empty(name));
        }
        return Ok(value.len());
    }
    let (chars, control, blank, escaped);
    if value.is_ascii() {
        // One byte a character; ASCII controls are below 0x20 and 0x7f.
        // The ASCII whitespace other than the space (0x09..=0x0d) is
        // control, refused first: without it, blank text is all spaces.
        // Without control characters, only `"` and `\` are escaped, in
        // two bytes each.
        let (mut c, mut spaces, mut quoted) = (false, 0usize, 0usize);
        for b in value.bytes() {
            c |= b < 0x20 || b == 0x7f;
            spaces += usize::from(b == b' ');
            quoted += usize::from(b == b'"' || b == b'\\');
        }
        chars = value.len();
        control = c;
        blank = spaces == value.len();
        escaped = value.len() + quoted;
    } else {
        let (mut n, mut c, mut b) = (0usize, false, true);
        for ch in value.chars() {
            n += 1;
            c |= ch.is_control();
            b &= ch.is_whitespace();
        }
        chars = n;
        control = c;
        blank = b;
        escaped = if control { 0 } else { json_escaped_len(value) };
    }
    if control {
        return Err(PayloadError::ControlCharacters(name));
    }
    if chars > MAX_FIELD_CHARS {
        return Err(PayloadError::TooLong(name));
    }
    if required && blank {
        return Err(PayloadError::Empty(name));
    }
    Ok(escaped)
}

/// A deliberately loose check: one `@` with text on both sides and no
/// whitespace. The address is kept byte for byte as sent.
fn looks_like_email(s: &str) -> bool {
    let whitespace = if s.is_ascii() {
        s.bytes().any(|b| b.is_ascii_whitespace() || b == 0x0b)
    } else {
        s.chars().any(char::is_whitespace)
    };
    match s.rsplit_once('@') {
        Some((local, domain)) => !local.is_empty() && !domain.is_empty() && !whitespace,
        None => false,
    }
}

/// The field names a code or widget request may carry: the only quoted
/// text an error description repeats.
const DOCUMENTED_FIELDS: [&str; 7] = [
    "username",
    "firstName",
    "lastName",
    "emailId",
    "readerGroupIds",
    "tokenValidity",
    "codeChallenge",
];

/// serde_json's message names the problem, the field and the position;
/// keep that but never echo input text back: a quoted value or an unknown
/// field name (which may be anything, a pasted secret included) is left
/// out, and only the documented field names are repeated.
pub(crate) fn describe_json_error(e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let at = format!("at line {} column {}", e.line(), e.column());
    match e.classify() {
        Category::Eof => "the JSON ends early".to_owned(),
        Category::Syntax => format!("JSON syntax error {at}"),
        Category::Data => {
            let msg = e.to_string();
            // "invalid type: string \"...\", expected a string at line 1
            // column 5", "unknown field `foo`, expected one of ...",
            // "duplicate field `username` at line ...".
            let head = msg.split(", expected").next().unwrap_or("");
            let head = head.split(" at line ").next().unwrap_or("");
            format!("{} {at}", without_quoted_input(head))
        }
        Category::Io => "the body could not be read".to_owned(),
    }
}

/// `text` with every quoted part (between backticks or double quotes)
/// removed, unless it is a documented field name.
fn without_quoted_input(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find(['`', '"']) {
        let quote = rest[start..].chars().next().unwrap_or('"');
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        let Some(len) = after.find(quote) else {
            rest = "";
            break;
        };
        let inner = &after[..len];
        if DOCUMENTED_FIELDS.contains(&inner) {
            out.push('`');
            out.push_str(inner);
            out.push('`');
        }
        rest = &after[len + 1..];
    }
    out.push_str(rest);
    let out = out.split_whitespace().collect::<Vec<_>>().join(" ");
    if out.is_empty() || out.len() > 120 {
        "a field has the wrong type or name".to_owned()
    } else {
        out
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    /// The three passes a field's rules took before they were one.
    fn three_pass(name: &'static str, value: &str, required: bool) -> Result<(), PayloadError> {
        if value.chars().any(char::is_control) {
            return Err(PayloadError::ControlCharacters(name));
        }
        if value.chars().count() > MAX_FIELD_CHARS {
            return Err(PayloadError::TooLong(name));
        }
        if required && value.trim().is_empty() {
            return Err(PayloadError::Empty(name));
        }
        Ok(())
    }

    /// Field text: mostly text that passes, with quotes and backslashes
    /// (escaped in a token) and spaces; sometimes controls and other
    /// whitespace.
    fn field() -> impl proptest::strategy::Strategy<Value = String> {
        proptest::prop_oneof![
            3 => "[a\"\\\\ é]{0,6}",
            2 => "[!-~]{0,6}",
            1 => "[ \t\"\\\\\u{1}\u{7f}\u{a0}\u{2003}aé@]{0,6}",
        ]
    }

    proptest::proptest! {
        /// One pass over a field answers what three did, for ASCII and
        /// other text, controls, whitespace of every kind and lengths
        /// around the limit.
        #[test]
        fn one_pass_field_check_answers_as_three(
            value in "[ \t\n\u{b}\u{c}\r\u{0}\u{1f}\u{7f}\u{85}\u{a0}\u{2003}aé😀]{0,8}|[a ]{250,260}|[é ]{250,260}|[!-~]{0,8}|[!-~]{250,260}",
            required in proptest::prelude::any::<bool>(),
        ) {
            proptest::prop_assert_eq!(check_field("f", &value, required), three_pass("f", &value, required));
        }

        /// The checks that also size the fields answer as the checks one by
        /// one, in their order, and then the fields' token bytes exactly.
        #[test]
        fn sized_field_checks_answer_as_the_checks_then_token_bytes(
            fields in proptest::collection::vec(field(), 3),
            e in proptest::prop_oneof![
                3 => "[a\"\\\\é]{1,4}@[a\"\\\\é]{1,4}",
                1 => "[ \t\"\\\\\u{1}\u{7f}\u{a0}\u{2003}aé@]{0,6}",
            ],
            groups in proptest::collection::vec(field(), 0..4),
        ) {
            let [u, f, l] = [&fields[0], &fields[1], &fields[2]];
            let e = &e;
            let expected = (|| {
                three_pass("username", u, true)?;
                three_pass("firstName", f, false)?;
                three_pass("lastName", l, false)?;
                three_pass("emailId", e, true)?;
                if !looks_like_email(e) {
                    return Err(PayloadError::InvalidEmail);
                }
                for g in &groups {
                    three_pass("readerGroupIds", g, true)?;
                }
                Ok(token_bytes(u, f, l, e, &groups))
            })();
            proptest::prop_assert_eq!(check_fields_sized(u, f, l, e, &groups), expected);
        }

        /// The full name's escaped length, counted, is that of the name made.
        #[test]
        fn full_name_length_is_counted_exactly(
            first in "[ \t\u{a0}\u{2003}a\"\\\u{1}é]{0,6}",
            last in "[ \t\u{a0}\u{2003}b\"\\\u{1}é]{0,6}",
        ) {
            let made = format!("{first} {last}").trim().to_owned();
            proptest::prop_assert_eq!(full_name_escaped_len(&first, &last), json_escaped_len(&made));
        }
    }

    #[test]
    fn token_bytes_is_what_the_identity_adds_to_the_claims_json() {
        let empty = ReaderIdentity {
            username: String::new(),
            first_name: String::new(),
            last_name: String::new(),
            email: String::new(),
            reader_group_ids: vec![],
        };
        let who = ReaderIdentity {
            username: "jo\"hn\\".into(),
            first_name: "Jöhn\t".into(),
            last_name: "D\u{1}".into(),
            email: "j@x".into(),
            reader_group_ids: vec!["g1".into(), "g\"2".into(), String::new()],
        };
        let json = |w: &ReaderIdentity| {
            serde_json::to_vec(&serde_json::json!({
                "sub": w.username, "given_name": w.first_name, "family_name": w.last_name,
                "name": w.full_name(), "email": w.email, "groups": w.reader_group_ids,
            }))
            .unwrap()
            .len()
        };
        assert_eq!(empty.token_bytes(), 0);
        assert_eq!(json(&who) - json(&empty), who.token_bytes());
        let one = ReaderIdentity {
            reader_group_ids: vec!["only".into()],
            ..empty.clone()
        };
        assert_eq!(json(&one) - json(&empty), one.token_bytes());
    }
}
