//! Safe redirect targets: only ever send a reader to a page of the KB itself.

use std::fmt;

use url::{Position, Url};

/// The longest redirect target accepted, in bytes (before and after
/// normalisation).
pub const MAX_REDIRECT_LEN: usize = 2048;

/// Why a redirect target or a base URL was refused.
///
/// The messages never repeat the refused text: it is untrusted input and
/// may be meant for a log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RedirectError {
    /// The target is empty.
    #[error("redirect target is empty")]
    Empty,
    /// The target is longer than [`MAX_REDIRECT_LEN`] bytes.
    #[error("redirect target is longer than {max} bytes")]
    TooLong {
        /// The limit that was exceeded.
        max: usize,
    },
    /// The target does not start with `/`: it has a scheme, or it is a
    /// relative path, query or fragment.
    #[error("redirect target is not an absolute path on this site")]
    NotAPath,
    /// The target starts with `//` or `/\`, before or after decoding or
    /// resolving: a browser would take what follows as a host.
    #[error("redirect target is protocol-relative")]
    ProtocolRelative,
    /// The target contains a backslash, before or after decoding.
    #[error("redirect target contains a backslash")]
    Backslash,
    /// The target contains a control character, before or after decoding.
    #[error("redirect target contains a control character")]
    ControlCharacter,
    /// The target contains whitespace, before decoding, or whitespace other
    /// than a plain space after decoding.
    #[error("redirect target contains whitespace")]
    Whitespace,
    /// The target has a `%` not followed by two hex digits, or does not
    /// decode to UTF-8.
    #[error("redirect target has an invalid percent-encoding")]
    BadEncoding,
    /// The target resolves to another origin than the KB's.
    #[error("redirect target leaves this site")]
    CrossOrigin,
    /// Decoding the target once changes which segments `.` and `..`
    /// remove (an encoded dot or slash), so a browser and a server that
    /// decodes could reach different paths.
    #[error("redirect target has dot segments that change meaning when decoded")]
    AmbiguousDotSegment,
    /// The base URL given to [`RedirectPolicy::new`] is not `http` or
    /// `https` with a host.
    #[error("base URL must be http or https with a host")]
    InvalidBase,
}

/// Safe redirect targets: only ever send a reader to a page of the KB itself.
///
/// The KB receives redirect targets from untrusted input: `redirectUrl` on
/// `/jwt/authorize`, `redirect` on the handshake-token callback and
/// `redirectPath` as the customer app hands it back. A [`RedirectPolicy`],
/// built from the KB's own base URL, turns such a target into a
/// [`SafeRedirect`]: an absolute URL on the KB's origin that is safe to put in
/// a `Location` header. Anything else is refused, and handlers fall back to
/// the home page with [`RedirectPolicy::resolve_or_home`].
///
/// ```
/// use kb_sso::RedirectPolicy;
/// use url::Url;
///
/// let base = Url::parse("https://kb.example.com/")?;
/// let policy = RedirectPolicy::new(&base)?.with_home("/docs")?;
///
/// let target = policy.check("/docs/getting-started?x=1#top")?;
/// assert_eq!(target.as_str(), "https://kb.example.com/docs/getting-started?x=1#top");
/// assert_eq!(target.path_and_query(), "/docs/getting-started?x=1#top");
///
/// // Anything that could leave the KB is refused ...
/// assert!(policy.check("/\\evil.com").is_err());
/// assert!(policy.check("/..//evil.com").is_err());
/// assert!(policy.check("/%2E%2E%2F%2Fevil.com").is_err());
/// // ... and handlers send the reader home instead.
/// let fallback = policy.resolve_or_home(Some("https://evil.com/"));
/// assert_eq!(fallback.as_str(), "https://kb.example.com/docs");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Rules
///
/// Browsers parse URLs leniently: `/\evil.com`, `\\evil.com`,
/// `/<TAB>/evil.com`, `/..//evil.com` and `//evil%E3%80%82com` all reach the
/// host `evil.com`. A target is therefore accepted only when all of these
/// hold:
///
/// 1. it is not empty and at most [`MAX_REDIRECT_LEN`] bytes long;
/// 2. it contains no control character (C0, DEL, C1 such as U+0085), no
///    whitespace (space, tab, CR, LF, U+2028, U+00A0, ...) and no backslash;
/// 3. it starts with exactly one `/`, not followed by `/` or `\`, so it has
///    no scheme and no host;
/// 4. every `%` starts a valid percent-encoded byte, and the text decoded
///    once is UTF-8 and again passes rules 2 and 3 (so `/%2F/evil.com`,
///    `/%5Cevil.com` and `/docs%0d%0a...` are refused). After decoding, a
///    plain space (`%20`) is allowed, since it cannot change where a URL
///    leads;
/// 5. resolved against the KB's base URL, it has the base's origin (scheme,
///    host and port) and its path does not start with `//`;
/// 6. when it has a `%`, the decision is the same for its decoded form: the
///    text decoded once, resolved against the base URL, has the base's
///    origin and a path not starting with `//`; and its path decoded once,
///    with `.` and `..` segments then removed, neither starts with `//` nor
///    differs from the resolved path decoded once. So an encoded dot or
///    slash, in any case and mix (`%2E%2E`, `.%2e`, `%2e.`, `..%2F`), can
///    not make a dot segment that means something else once decoded:
///    `/%2E%2E%2F%2Fevil.com` (decoded `/..//evil.com`) and
///    `/docs%2F..%2Fadmin` are refused, while `/docs/a.b`, `/docs/%20x`
///    and `/docs/%2e%2e/faq` (the same path to browsers and servers) are
///    accepted;
/// 7. its relative form ([`SafeRedirect::path_and_query`]) passes rules 1
///    to 4 too, so that the form sent to the customer app as `redirectPath`
///    is accepted when it comes back.
///
/// Query and fragment are kept. The output is always the absolute URL, ASCII
/// only, with every other character percent-encoded.
///
/// The rules for redirect targets on one KB site: its origin and its home
/// page.
///
/// Build one per site at start-up and share it; checking is pure and cheap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedirectPolicy {
    /// The origin of the KB as a URL with the path `/`.
    base: Url,
    /// Where refused or missing targets lead.
    home: SafeRedirect,
}

/// A redirect target that passed [`RedirectPolicy::check`]: an absolute URL
/// on the KB's own origin.
///
/// Only a [`RedirectPolicy`] makes one, so holding a `SafeRedirect` means the
/// check was done.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SafeRedirect {
    url: Url,
}

impl RedirectPolicy {
    /// A policy for the KB at `base`, with `/` as its home page.
    ///
    /// Only the origin of `base` (scheme, host, port) matters: its path,
    /// query, fragment and credentials are dropped, and targets are paths
    /// from the root of that origin. An international host is kept in its
    /// ASCII (IDNA) form, as the `url` crate parses it.
    ///
    /// # Errors
    ///
    /// [`RedirectError::InvalidBase`] if `base` is not `http` or `https` or
    /// has no host.
    pub fn new(base: &Url) -> Result<Self, RedirectError> {
        if !matches!(base.scheme(), "http" | "https") || base.host_str().is_none() {
            return Err(RedirectError::InvalidBase);
        }
        let origin = base.origin();
        if !origin.is_tuple() {
            return Err(RedirectError::InvalidBase);
        }
        let root = Url::parse(&format!("{}/", origin.ascii_serialization())).map_err(|_| RedirectError::InvalidBase)?;
        if root.origin() != origin {
            return Err(RedirectError::InvalidBase);
        }
        let home = SafeRedirect { url: root.clone() };
        Ok(Self { base: root, home })
    }

    /// The same policy with `path` as its home page, the fallback of
    /// [`resolve_or_home`](Self::resolve_or_home).
    ///
    /// # Errors
    ///
    /// The reason `path` fails [`check`](Self::check): the home page obeys
    /// the same rules as any target.
    pub fn with_home(mut self, path: &str) -> Result<Self, RedirectError> {
        self.home = self.check(path)?;
        Ok(self)
    }

    /// The KB's origin, as a URL with the path `/`.
    pub fn base(&self) -> &Url {
        &self.base
    }

    /// The home page.
    pub fn home(&self) -> SafeRedirect {
        self.home.clone()
    }

    /// Checks an untrusted redirect target and resolves it on the KB's
    /// origin. See [`RedirectPolicy`] for the rules.
    ///
    /// # Errors
    ///
    /// A [`RedirectError`] naming the first rule the target breaks.
    pub fn check(&self, target: &str) -> Result<SafeRedirect, RedirectError> {
        let decoded = check_text(target)?;
        let url = self.resolve(target)?;
        if let Some(decoded) = decoded {
            // Rule 6: the decoded form must be as acceptable as the target.
            self.resolve(&decoded)?;
            check_decoded_path(target, &url)?;
        }
        // The relative form must survive a round trip through the customer
        // app, and the absolute form goes into a header.
        check_text(&url[Position::BeforePath..])?;
        check_chars(url.as_str(), false)?;
        Ok(SafeRedirect { url })
    }

    /// Rule 5: `target` resolved against the base, on the base's origin and
    /// with a path not starting with `//`.
    fn resolve(&self, target: &str) -> Result<Url, RedirectError> {
        let url = self.base.join(target).map_err(|_| RedirectError::NotAPath)?;
        if url.origin() != self.base.origin() || !url.username().is_empty() || url.password().is_some() {
            return Err(RedirectError::CrossOrigin);
        }
        if url.path().starts_with("//") {
            return Err(RedirectError::ProtocolRelative);
        }
        Ok(url)
    }

    /// The checked target, or the home page when `target` is missing, empty
    /// or refused. This is what handlers use: a bad target is not an error
    /// the reader can do anything about.
    pub fn resolve_or_home(&self, target: Option<&str>) -> SafeRedirect {
        target.and_then(|t| self.check(t).ok()).unwrap_or_else(|| self.home())
    }
}

impl SafeRedirect {
    /// The absolute URL, on the KB's origin.
    pub fn as_url(&self) -> &Url {
        &self.url
    }

    /// The absolute URL as text: ASCII without control characters or
    /// whitespace, ready for a `Location` header.
    pub fn as_str(&self) -> &str {
        self.url.as_str()
    }

    /// The relative form, `/path?query#fragment`, to pass on as
    /// `redirectPath`. It passes [`RedirectPolicy::check`] and resolves to
    /// the same URL.
    pub fn path_and_query(&self) -> &str {
        &self.url[Position::BeforePath..]
    }

    /// The absolute URL, by value.
    pub fn into_url(self) -> Url {
        self.url
    }
}

impl fmt::Display for SafeRedirect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl AsRef<str> for SafeRedirect {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl From<SafeRedirect> for Url {
    fn from(value: SafeRedirect) -> Self {
        value.url
    }
}

/// `url` with `pairs` added to its query, form-urlencoded, after any query it
/// already has; its fragment is kept. Used for URLs of other parties, such
/// as the customer's login URL with `redirectPath`.
///
/// A name already in the query is not removed: the new pair comes after it.
/// With no pairs the URL is returned unchanged.
///
/// `https://app.example.com/login?tenant=7` with `redirectPath` =
/// `/docs/x?y=1#f` becomes
/// `https://app.example.com/login?tenant=7&redirectPath=%2Fdocs%2Fx%3Fy%3D1%23f`.
pub(crate) fn append_query(url: &Url, pairs: &[(&str, &str)]) -> Url {
    let mut out = url.clone();
    if !pairs.is_empty() {
        out.query_pairs_mut().extend_pairs(pairs);
    }
    out
}

/// Rules 1 to 4: length, characters and shape, before and after decoding.
/// Returns the text decoded once, if it had a `%`.
fn check_text(target: &str) -> Result<Option<String>, RedirectError> {
    if target.is_empty() {
        return Err(RedirectError::Empty);
    }
    if target.len() > MAX_REDIRECT_LEN {
        return Err(RedirectError::TooLong { max: MAX_REDIRECT_LEN });
    }
    check_chars(target, false)?;
    check_shape(target)?;
    if target.contains('%') {
        let decoded = percent_decode_once(target)?;
        check_chars(&decoded, true)?;
        check_shape(&decoded)?;
        return Ok(Some(decoded));
    }
    Ok(None)
}

/// Rule 6, for paths: the path of `target` decoded once, with dot segments
/// then removed, must be the path `url` (the target resolved as it is)
/// decoded once, and must not start with `//`.
fn check_decoded_path(target: &str, url: &Url) -> Result<(), RedirectError> {
    let raw_path = target.split(['?', '#']).next().unwrap_or(target);
    let decoded_then_resolved = remove_dot_segments(&percent_decode_once(raw_path)?);
    if decoded_then_resolved.starts_with("//") {
        return Err(RedirectError::ProtocolRelative);
    }
    let resolved_then_decoded = percent_decode_once(url.path())?;
    if decoded_then_resolved != resolved_then_decoded {
        return Err(RedirectError::AmbiguousDotSegment);
    }
    Ok(())
}

/// Removes `.` and `..` segments from an absolute path as the URL standard
/// does: `..` drops the segment before it (never the root), and a final `.`
/// or `..` leaves a trailing `/`. Only literal dots count: the path is
/// already decoded.
fn remove_dot_segments(path: &str) -> String {
    let rest = path.strip_prefix('/').unwrap_or(path);
    let segments: Vec<&str> = rest.split('/').collect();
    let last = segments.len().saturating_sub(1);
    let mut out: Vec<&str> = Vec::with_capacity(segments.len());
    for (i, segment) in segments.into_iter().enumerate() {
        match segment {
            ".." => {
                out.pop();
                if i == last {
                    out.push("");
                }
            }
            "." => {
                if i == last {
                    out.push("");
                }
            }
            other => out.push(other),
        }
    }
    format!("/{}", out.join("/"))
}

/// No control characters, no backslash, no whitespace (but a plain space
/// when `allow_space`).
fn check_chars(text: &str, allow_space: bool) -> Result<(), RedirectError> {
    for c in text.chars() {
        if c.is_control() {
            return Err(RedirectError::ControlCharacter);
        }
        if c == '\\' {
            return Err(RedirectError::Backslash);
        }
        if c.is_whitespace() && !(allow_space && c == ' ') {
            return Err(RedirectError::Whitespace);
        }
    }
    Ok(())
}

/// Exactly one leading `/`, not followed by `/` or `\`.
fn check_shape(text: &str) -> Result<(), RedirectError> {
    let mut chars = text.chars();
    match (chars.next(), chars.next()) {
        (Some('/'), Some('/' | '\\')) => Err(RedirectError::ProtocolRelative),
        (Some('/'), _) => Ok(()),
        _ => Err(RedirectError::NotAPath),
    }
}

/// Decodes `%XX` once; a `%` without two hex digits, or bytes that are not
/// UTF-8, are refused.
fn percent_decode_once(text: &str) -> Result<String, RedirectError> {
    let mut out = Vec::with_capacity(text.len());
    let mut bytes = text.bytes();
    while let Some(b) = bytes.next() {
        if b == b'%' {
            let hi = bytes.next().and_then(hex_value);
            let lo = bytes.next().and_then(hex_value);
            match (hi, lo) {
                (Some(hi), Some(lo)) => out.push((hi << 4) | lo),
                _ => return Err(RedirectError::BadEncoding),
            }
        } else {
            out.push(b);
        }
    }
    String::from_utf8(out).map_err(|_| RedirectError::BadEncoding)
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn append_query_keeps_the_query_and_form_encodes_the_pair() {
        let login = Url::parse("https://app.example.com/login?tenant=7").unwrap();
        let url = append_query(&login, &[("redirectPath", "/docs/x?y=1#f")]);
        assert_eq!(
            url.as_str(),
            "https://app.example.com/login?tenant=7&redirectPath=%2Fdocs%2Fx%3Fy%3D1%23f"
        );
        assert_eq!(append_query(&login, &[]), login);
    }

    const BASE: &str = "https://kb.example.com/";

    fn policy() -> RedirectPolicy {
        RedirectPolicy::new(&Url::parse(BASE).unwrap()).unwrap()
    }

    fn refused(target: &str) -> RedirectError {
        match policy().check(target) {
            Ok(r) => panic!("{target:?} was accepted as {}", r.as_str()),
            Err(e) => e,
        }
    }

    fn accepted(target: &str) -> SafeRedirect {
        match policy().check(target) {
            Ok(r) => {
                assert_header_safe(r.as_str());
                assert_eq!(r.as_url().origin(), policy().base().origin());
                let again = policy().check(r.path_and_query()).unwrap();
                assert_eq!(again, r, "relative form of {target:?} must re-check");
                r
            }
            Err(e) => panic!("{target:?} was refused: {e}"),
        }
    }

    fn assert_header_safe(s: &str) {
        assert!(s.is_ascii(), "{s:?} is not ASCII");
        assert!(
            !s.chars().any(|c| c.is_control() || c.is_whitespace()),
            "{s:?} has a control character or whitespace"
        );
    }

    // --- the cases of SECURITY-NOTES, "Redirects" ---

    #[test]
    fn slash_backslash_is_refused() {
        assert_eq!(refused("/\\evil.com"), RedirectError::Backslash);
    }

    #[test]
    fn double_backslash_is_refused() {
        assert_eq!(refused("\\\\evil.com"), RedirectError::Backslash);
    }

    #[test]
    fn tab_between_slashes_is_refused() {
        assert_eq!(refused("/\t/evil.com"), RedirectError::ControlCharacter);
        // The same text read literally (backslash, t).
        assert_eq!(refused(r"/\t/evil.com"), RedirectError::Backslash);
    }

    #[test]
    fn dot_segments_reaching_double_slash_are_refused() {
        assert_eq!(refused("/..//evil.com"), RedirectError::ProtocolRelative);
        assert_eq!(refused("/.//evil.com"), RedirectError::ProtocolRelative);
        assert_eq!(refused("/a/../..//evil.com"), RedirectError::ProtocolRelative);
        assert_eq!(refused("/%2e%2e//evil.com"), RedirectError::ProtocolRelative);
        assert_eq!(refused("/%2E//evil.com"), RedirectError::ProtocolRelative);
    }

    #[test]
    fn encoded_dot_segments_reaching_double_slash_are_refused() {
        for target in [
            "/%2E%2E%2F%2Fevil.com",
            "/%2e%2E%2f%2Fevil.com",
            "/.%2E%2F%2Fevil.com",
            "/%2E.%2F/evil.com",
            "/..%2F%2Fevil.com",
            "/..%2F/evil.com",
            "/%2E%2F%2Fevil.com",
            "/docs%2F..%2F..%2F%2Fevil.com",
            "/docs/%2E%2E%2F%2Fevil.com?x=1#f",
            // Decoded once to `/%2e%2e//evil.com`, which itself resolves
            // to `//evil.com`.
            "/%252e%252e%2F%2Fevil.com",
        ] {
            assert_eq!(refused(target), RedirectError::ProtocolRelative, "{target}");
        }
    }

    #[test]
    fn encoded_dot_segments_with_backslashes_are_refused() {
        for target in ["/%2E%2E%5C%5Cevil.com", "/..%5Cevil.com", "/%2e%2e%5c/evil.com"] {
            assert_eq!(refused(target), RedirectError::Backslash, "{target}");
        }
    }

    #[test]
    fn dot_segments_that_change_meaning_when_decoded_are_refused() {
        for target in [
            "/docs%2F..%2Fadmin",
            "/%2E%2E%2Fdocs",
            "/a%2Fb/../c",
            "/docs/x%2F%2E%2E",
            "/docs/.%2e%2Fadmin",
            "/docs/%2E%2F",
        ] {
            assert_eq!(refused(target), RedirectError::AmbiguousDotSegment, "{target}");
        }
    }

    #[test]
    fn dots_and_encodings_in_ordinary_paths_are_accepted() {
        for (target, path) in [
            ("/docs/a.b", "/docs/a.b"),
            ("/docs/%20x", "/docs/%20x"),
            ("/docs/.hidden", "/docs/.hidden"),
            ("/docs/a..b/...", "/docs/a..b/..."),
            ("/docs/%2Ehtaccess", "/docs/%2Ehtaccess"),
            ("/docs/..%20", "/docs/..%20"),
            ("/a%2Fb", "/a%2Fb"),
            ("/v1.2/x%2Ey?q=..%2F..%2F#..%2F", "/v1.2/x%2Ey?q=..%2F..%2F#..%2F"),
            // An encoded dot segment that browsers and servers both resolve.
            ("/docs/%2e%2e/faq", "/faq"),
            ("/docs/%2E/faq", "/docs/faq"),
        ] {
            assert_eq!(accepted(target).path_and_query(), path, "{target}");
        }
    }

    #[test]
    fn protocol_relative_with_ideographic_dot_is_refused() {
        assert_eq!(refused("//evil%E3%80%82com"), RedirectError::ProtocolRelative);
        assert_eq!(refused("//evil。com"), RedirectError::ProtocolRelative);
        assert_eq!(refused("//evil.com"), RedirectError::ProtocolRelative);
    }

    #[test]
    fn absolute_urls_and_schemes_are_refused() {
        assert_eq!(refused("https://evil.com"), RedirectError::NotAPath);
        assert_eq!(refused("https://kb.example.com/docs"), RedirectError::NotAPath);
        assert_eq!(refused("javascript:alert(1)"), RedirectError::NotAPath);
        assert_eq!(refused("http:/evil.com"), RedirectError::NotAPath);
        assert_eq!(refused("http:evil.com"), RedirectError::NotAPath);
        assert_eq!(refused("data:text/html,x"), RedirectError::NotAPath);
        assert_eq!(refused("evil.com"), RedirectError::NotAPath);
        assert_eq!(refused("docs/x"), RedirectError::NotAPath);
        assert_eq!(refused("?x=1"), RedirectError::NotAPath);
        assert_eq!(refused("#top"), RedirectError::NotAPath);
    }

    #[test]
    fn encoded_slashes_are_refused() {
        assert_eq!(refused("/%2F/evil.com"), RedirectError::ProtocolRelative);
        assert_eq!(refused("/%2f%2fevil.com"), RedirectError::ProtocolRelative);
        assert_eq!(refused("%2F%2Fevil.com"), RedirectError::NotAPath);
        // Decoding reaches `//` only after resolving dot segments.
        assert_eq!(refused("/x/../%2Fevil.com"), RedirectError::ProtocolRelative);
    }

    #[test]
    fn encoded_backslash_is_refused() {
        assert_eq!(refused("/%5Cevil.com"), RedirectError::Backslash);
        assert_eq!(refused("/%5cevil.com"), RedirectError::Backslash);
        assert_eq!(refused("/docs%5C"), RedirectError::Backslash);
    }

    #[test]
    fn encoded_crlf_is_refused() {
        assert_eq!(refused("/docs%0d%0aSet-Cookie:x"), RedirectError::ControlCharacter);
        assert_eq!(refused("/docs?x=%0D%0ASet-Cookie:x"), RedirectError::ControlCharacter);
        assert_eq!(refused("/docs#%0a"), RedirectError::ControlCharacter);
        assert_eq!(refused("/%09/evil.com"), RedirectError::ControlCharacter);
        assert_eq!(refused("/docs%00"), RedirectError::ControlCharacter);
        assert_eq!(refused("/docs%7f"), RedirectError::ControlCharacter);
    }

    #[test]
    fn raw_control_characters_are_refused() {
        for c in ['\r', '\n', '\t', '\0', '\u{7f}', '\u{85}', '\u{9b}'] {
            assert_eq!(refused(&format!("/docs{c}x")), RedirectError::ControlCharacter, "{c:?}");
        }
        assert_eq!(refused("/docs\r\nSet-Cookie: x"), RedirectError::ControlCharacter);
    }

    #[test]
    fn whitespace_is_refused() {
        assert_eq!(refused(" /docs"), RedirectError::Whitespace);
        assert_eq!(refused("/docs "), RedirectError::Whitespace);
        assert_eq!(refused("/my docs"), RedirectError::Whitespace);
        for c in ['\u{2028}', '\u{2029}', '\u{a0}', '\u{3000}', '\u{feff}'] {
            let target = format!("/docs{c}x");
            // U+FEFF is not whitespace to Unicode, and is percent-encoded.
            if c == '\u{feff}' {
                accepted(&target);
            } else {
                assert_eq!(refused(&target), RedirectError::Whitespace, "{c:?}");
            }
        }
        // Encoded whitespace other than a plain space.
        assert_eq!(refused("/docs%E2%80%A8"), RedirectError::Whitespace);
        assert_eq!(refused("/docs%C2%85"), RedirectError::ControlCharacter);
        assert_eq!(refused("/docs%C2%A0"), RedirectError::Whitespace);
    }

    #[test]
    fn encoded_space_is_kept() {
        let r = accepted("/my%20docs");
        assert_eq!(r.as_str(), "https://kb.example.com/my%20docs");
    }

    #[test]
    fn bad_encodings_are_refused() {
        assert_eq!(refused("/docs%"), RedirectError::BadEncoding);
        assert_eq!(refused("/docs%2"), RedirectError::BadEncoding);
        assert_eq!(refused("/docs%zz"), RedirectError::BadEncoding);
        assert_eq!(refused("/100%-done"), RedirectError::BadEncoding);
        assert_eq!(refused("/docs%ff"), RedirectError::BadEncoding);
        assert_eq!(refused("/docs%C3"), RedirectError::BadEncoding);
        assert_eq!(refused("/docs%C3%28"), RedirectError::BadEncoding);
    }

    #[test]
    fn decoding_happens_once() {
        // `%252F` decodes once to `%2F`, which is text, not a slash.
        let r = accepted("/%252F%252Fevil.com");
        assert_eq!(r.as_str(), "https://kb.example.com/%252F%252Fevil.com");
    }

    #[test]
    fn empty_and_too_long_are_refused() {
        assert_eq!(refused(""), RedirectError::Empty);
        let long = format!("/{}", "a".repeat(MAX_REDIRECT_LEN));
        assert_eq!(refused(&long), RedirectError::TooLong { max: MAX_REDIRECT_LEN });
        let at_limit = format!("/{}", "a".repeat(MAX_REDIRECT_LEN - 1));
        accepted(&at_limit);
    }

    #[test]
    fn growing_past_the_limit_when_encoded_is_refused() {
        // 1 + 1000 * 2 bytes raw, 1 + 1000 * 6 bytes once percent-encoded.
        let target = format!("/{}", "ü".repeat(1000));
        assert!(target.len() <= MAX_REDIRECT_LEN);
        assert_eq!(refused(&target), RedirectError::TooLong { max: MAX_REDIRECT_LEN });
    }

    // --- accepted targets ---

    #[test]
    fn plain_path_is_accepted() {
        let r = accepted("/docs");
        assert_eq!(r.as_str(), "https://kb.example.com/docs");
        assert_eq!(r.path_and_query(), "/docs");
    }

    #[test]
    fn query_and_fragment_are_kept() {
        let r = accepted("/docs/getting-started?x=1#top");
        assert_eq!(r.as_str(), "https://kb.example.com/docs/getting-started?x=1#top");
        assert_eq!(r.path_and_query(), "/docs/getting-started?x=1#top");
        assert_eq!(r.as_url().query(), Some("x=1"));
        assert_eq!(r.as_url().fragment(), Some("top"));
    }

    #[test]
    fn root_is_accepted() {
        let r = accepted("/");
        assert_eq!(r.as_str(), "https://kb.example.com/");
        assert_eq!(r.path_and_query(), "/");
    }

    #[test]
    fn unicode_path_is_percent_encoded() {
        let r = accepted("/docs/ünïcode");
        assert_eq!(r.as_str(), "https://kb.example.com/docs/%C3%BCn%C3%AFcode");
        assert_eq!(r.path_and_query(), "/docs/%C3%BCn%C3%AFcode");
        assert_eq!(policy().check("/docs/%C3%BCn%C3%AFcode").unwrap(), r);
    }

    #[test]
    fn things_that_look_like_hosts_stay_in_the_path() {
        for target in [
            "/@evil.com",
            "/evil.com",
            "/:@evil.com",
            "/docs?next=//evil.com",
            "/docs?next=https://evil.com",
            "/docs#//evil.com",
            "/http://evil.com",
            "/%40evil.com",
        ] {
            let r = accepted(target);
            assert_eq!(r.as_url().host_str(), Some("kb.example.com"), "{target}");
        }
    }

    #[test]
    fn dot_segments_are_resolved_within_the_site() {
        assert_eq!(accepted("/docs/../faq").as_str(), "https://kb.example.com/faq");
        assert_eq!(accepted("/../../faq").as_str(), "https://kb.example.com/faq");
        assert_eq!(accepted("/docs/./x").path_and_query(), "/docs/x");
    }

    #[test]
    fn output_is_header_safe() {
        for target in [
            "/docs",
            "/docs/ünïcode",
            "/a\"b<c>d`e{f}",
            "/docs?q=a'b&c=ü#fragü",
            "/docs#\u{feff}",
        ] {
            let r = accepted(target);
            assert_header_safe(r.as_str());
            assert_header_safe(r.path_and_query());
            assert_eq!(r.to_string(), r.as_str());
        }
    }

    // --- fallback and home ---

    #[test]
    fn resolve_or_home_falls_back() {
        let p = policy();
        let home = p.home();
        assert_eq!(home.as_str(), "https://kb.example.com/");
        assert_eq!(p.resolve_or_home(None), home);
        assert_eq!(p.resolve_or_home(Some("")), home);
        assert_eq!(p.resolve_or_home(Some("//evil.com")), home);
        assert_eq!(p.resolve_or_home(Some("https://evil.com")), home);
        assert_eq!(p.resolve_or_home(Some("/docs%0d%0ax")), home);
        assert_eq!(p.resolve_or_home(Some("/docs")).as_str(), "https://kb.example.com/docs");
    }

    #[test]
    fn with_home_sets_the_fallback() {
        let p = policy().with_home("/docs/start?x=1").unwrap();
        assert_eq!(p.home().as_str(), "https://kb.example.com/docs/start?x=1");
        assert_eq!(p.resolve_or_home(Some("//evil.com")), p.home());
        assert_eq!(p.resolve_or_home(None), p.home());
    }

    #[test]
    fn with_home_is_checked() {
        for (home, err) in [
            ("", RedirectError::Empty),
            ("//evil.com", RedirectError::ProtocolRelative),
            ("https://evil.com/", RedirectError::NotAPath),
            ("/\\evil.com", RedirectError::Backslash),
            ("/..//evil.com", RedirectError::ProtocolRelative),
            ("docs", RedirectError::NotAPath),
        ] {
            assert_eq!(policy().with_home(home).unwrap_err(), err, "{home:?}");
        }
    }

    // --- base URLs ---

    #[test]
    fn base_must_be_http_or_https_with_a_host() {
        for base in [
            "ftp://kb.example.com/",
            "file:///srv/kb",
            "mailto:kb@example.com",
            "data:text/plain,kb",
            "javascript:alert(1)",
        ] {
            let url = Url::parse(base).unwrap();
            assert_eq!(
                RedirectPolicy::new(&url).unwrap_err(),
                RedirectError::InvalidBase,
                "{base}"
            );
        }
        for base in ["http://kb.example.com", "https://127.0.0.1:8080/x"] {
            RedirectPolicy::new(&Url::parse(base).unwrap()).unwrap();
        }
    }

    #[test]
    fn base_with_a_path_keeps_only_its_origin() {
        let base = Url::parse("https://user:pw@kb.example.com/base/page?q=1#f").unwrap();
        let p = RedirectPolicy::new(&base).unwrap();
        assert_eq!(p.base().as_str(), "https://kb.example.com/");
        assert_eq!(p.home().as_str(), "https://kb.example.com/");
        let r = p.check("/docs").unwrap();
        assert_eq!(r.as_str(), "https://kb.example.com/docs");
        for target in ["/base/..//evil.com", "/base/../../..//evil.com", "//evil.com"] {
            assert_eq!(
                p.check(target).unwrap_err(),
                RedirectError::ProtocolRelative,
                "{target}"
            );
        }
        assert_eq!(p.check("base/x").unwrap_err(), RedirectError::NotAPath);
    }

    #[test]
    fn base_port_is_kept_and_default_port_dropped() {
        let p = RedirectPolicy::new(&Url::parse("http://localhost:8080/kb/").unwrap()).unwrap();
        let r = p.check("/docs?x=1").unwrap();
        assert_eq!(r.as_str(), "http://localhost:8080/docs?x=1");
        assert_eq!(r.as_url().port_or_known_default(), Some(8080));

        let p = RedirectPolicy::new(&Url::parse("https://kb.example.com:443/").unwrap()).unwrap();
        assert_eq!(p.check("/x").unwrap().as_str(), "https://kb.example.com/x");
    }

    #[test]
    fn idna_base_host() {
        let p = RedirectPolicy::new(&Url::parse("https://BÜCHER.example/hilfe/").unwrap()).unwrap();
        assert_eq!(p.base().as_str(), "https://xn--bcher-kva.example/");
        let r = p.check("/docs/ü").unwrap();
        assert_eq!(r.as_str(), "https://xn--bcher-kva.example/docs/%C3%BC");
        assert_eq!(r.as_url().origin(), p.base().origin());
        assert_eq!(
            p.check("//bücher.example/x").unwrap_err(),
            RedirectError::ProtocolRelative
        );
    }

    #[test]
    fn safe_redirect_conversions() {
        let r = accepted("/docs?x=1");
        assert_eq!(r.as_ref(), "https://kb.example.com/docs?x=1");
        let url: Url = r.clone().into();
        assert_eq!(&url, r.as_url());
        assert_eq!(r.into_url(), url);
    }

    // --- append_query ---

    #[test]
    fn append_query_adds_after_existing_query() {
        let login = Url::parse("https://app.example.com/login?tenant=7&x").unwrap();
        let r = accepted("/docs/x?y=1#f");
        let url = append_query(&login, &[("redirectPath", r.path_and_query())]);
        assert_eq!(
            url.as_str(),
            "https://app.example.com/login?tenant=7&x&redirectPath=%2Fdocs%2Fx%3Fy%3D1%23f"
        );
        let back: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        assert_eq!(back[2], ("redirectPath".into(), "/docs/x?y=1#f".into()));
        // What comes back re-checks to the same target.
        assert_eq!(policy().check(&back[2].1).unwrap(), r);
    }

    #[test]
    fn append_query_without_query_keeps_fragment() {
        let login = Url::parse("https://app.example.com/sso#/login").unwrap();
        let url = append_query(
            &login,
            &[("jwt_error", "expired"), ("from_url", "https://kb.example.com/a b")],
        );
        assert_eq!(
            url.as_str(),
            "https://app.example.com/sso?jwt_error=expired&from_url=https%3A%2F%2Fkb.example.com%2Fa+b#/login"
        );
    }

    #[test]
    fn append_query_with_no_pairs_is_identity() {
        for s in ["https://app.example.com/login", "https://app.example.com/login?a=1"] {
            let u = Url::parse(s).unwrap();
            assert_eq!(append_query(&u, &[]), u);
        }
        let empty_query = Url::parse("https://app.example.com/login?").unwrap();
        assert_eq!(
            append_query(&empty_query, &[("a", "1")]).as_str(),
            "https://app.example.com/login?a=1"
        );
    }

    #[test]
    fn errors_do_not_echo_input() {
        let e = refused("/docs%0d%0aSet-Cookie:x");
        assert!(!e.to_string().contains("Set-Cookie"));
    }
}
