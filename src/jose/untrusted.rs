//! Parsing a token string: [`UntrustedToken`], which tells its header and
//! never its claims.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, IgnoredAny, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};

use super::{Algorithm, MAX_TOKEN_LEN, VerifyError, base64url};

/// Deserializes to `true` from any value: marks that a field is present.
#[derive(Default)]
struct Present(bool);

impl<'de> Deserialize<'de> for Present {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        IgnoredAny::deserialize(deserializer)?;
        Ok(Self(true))
    }
}

/// The header fields read. Others (`cty`, `jku`, `jwk`, `x5u`, `x5c`...)
/// are ignored and never acted on. `typ` is kept when it is a string (a
/// verifier may require it); a `typ` of another JSON type reads as absent.
#[derive(Deserialize)]
struct RawHeader<'a> {
    #[serde(borrow)]
    alg: Text<'a>,
    kid: Option<HeaderText>,
    #[serde(default)]
    typ: LenientText,
    #[serde(default)]
    crit: Present,
}

/// Bytes a [`HeaderText`] holds without a heap allocation.
const INLINE_TEXT: usize = 62;

/// A header string (`kid`, `typ`): held inline when short, as key ids and
/// types are, so that reading a header allocates nothing.
#[derive(Clone)]
enum HeaderText {
    Inline(u8, [u8; INLINE_TEXT]),
    Heap(Box<str>),
}

impl HeaderText {
    fn new(text: &str) -> Self {
        match u8::try_from(text.len()) {
            Ok(len) if text.len() <= INLINE_TEXT => {
                let mut bytes = [0u8; INLINE_TEXT];
                bytes[..text.len()].copy_from_slice(text.as_bytes());
                Self::Inline(len, bytes)
            }
            _ => Self::Heap(text.into()),
        }
    }

    fn as_str(&self) -> &str {
        match self {
            // Always a copy of a whole `&str`, so valid UTF-8.
            Self::Inline(len, bytes) => std::str::from_utf8(&bytes[..usize::from(*len)]).unwrap_or_default(),
            Self::Heap(text) => text,
        }
    }
}

impl<'de> Deserialize<'de> for HeaderText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Text::deserialize(deserializer).map(|text| Self::new(&text.0))
    }
}

/// A string, or nothing for a value of another JSON type.
#[derive(Default)]
struct LenientText(Option<HeaderText>);

impl<'de> Deserialize<'de> for LenientText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = LenientText;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<LenientText, E> {
                Ok(LenientText(Some(HeaderText::new(v))))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<LenientText, E> {
                Ok(LenientText(None))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<LenientText, E> {
                Ok(LenientText(None))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<LenientText, E> {
                Ok(LenientText(None))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<LenientText, E> {
                Ok(LenientText(None))
            }
            fn visit_unit<E: de::Error>(self) -> Result<LenientText, E> {
                Ok(LenientText(None))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<LenientText, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(LenientText(None))
            }
            fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<LenientText, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(LenientText(None))
            }
        }
        deserializer.deserialize_any(V)
    }
}

/// Whether `segment` is non-empty unpadded base64url text. Branch-free over
/// the bytes, so that the compiler checks many at once.
fn is_base64url(segment: &str) -> bool {
    !segment.is_empty()
        && segment.len() % 4 != 1
        && segment.bytes().fold(true, |ok, b| {
            ok & (b.is_ascii_alphanumeric() | (b == b'-') | (b == b'_'))
        })
}

/// The header as [`RawHeader`] reads it, for the common shape only: one
/// JSON object of `alg` (required), `kid` and `typ`, each at most once, each
/// a string without escapes, and nothing after it but whitespace. `None`
/// for anything else, which serde then reads (and refuses where it is not
/// a valid header): so this answers exactly what serde would, faster.
fn simple_header(json: &[u8]) -> Option<RawHeader<'_>> {
    fn skip_ws(json: &[u8], mut at: usize) -> usize {
        while matches!(json.get(at), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            at += 1;
        }
        at
    }
    /// A string without escapes or control characters starting at `at`
    /// (its opening quote), and the index after its closing quote.
    fn string(text: &str, at: usize) -> Option<(&str, usize)> {
        let json = text.as_bytes();
        if json.get(at) != Some(&b'"') {
            return None;
        }
        let rest = json.get(at + 1..)?;
        let len = rest.iter().position(|&b| b == b'"' || b == b'\\' || b < 0x20)?;
        if rest[len] != b'"' {
            return None;
        }
        // Between two ASCII quotes: on character boundaries.
        Some((text.get(at + 1..at + 1 + len)?, at + 1 + len + 1))
    }
    // The whole header checked as UTF-8 once, not string by string.
    let text = std::str::from_utf8(json).ok()?;
    let (mut alg, mut kid, mut typ) = (None, None, None);
    let mut at = skip_ws(json, 0);
    if json.get(at) != Some(&b'{') {
        return None;
    }
    loop {
        let (name, next) = string(text, skip_ws(json, at + 1))?;
        at = skip_ws(json, next);
        if json.get(at) != Some(&b':') {
            return None;
        }
        let (value, next) = string(text, skip_ws(json, at + 1))?;
        let slot = match name {
            "alg" => &mut alg,
            "kid" => &mut kid,
            "typ" => &mut typ,
            _ => return None,
        };
        if slot.replace(value).is_some() {
            return None;
        }
        at = skip_ws(json, next);
        match json.get(at) {
            Some(b',') => {}
            Some(b'}') => break,
            _ => return None,
        }
    }
    if skip_ws(json, at + 1) != json.len() {
        return None;
    }
    Some(RawHeader {
        alg: Text(Cow::Borrowed(alg?)),
        kid: kid.map(HeaderText::new),
        typ: LenientText(typ.map(HeaderText::new)),
        crit: Present(false),
    })
}

/// Largest header decoded on the stack; a larger one (still within
/// [`MAX_TOKEN_LEN`]) is decoded onto the heap.
const STACK_HEADER: usize = 256;

pub(super) fn is_json_object(bytes: &[u8]) -> bool {
    bytes.trim_ascii_start().first() == Some(&b'{')
}

/// A token whose signature and claims have not been checked. It tells its
/// key id and algorithm only; claims come from
/// [`Verifier::verify`](super::Verifier::verify).
pub struct UntrustedToken<'a> {
    /// The header segment, as sent (base64url).
    header_segment: &'a str,
    /// Whether the header's reading came from a [`HeaderMemo`].
    header_from_memo: bool,
    pub(super) signing_input: &'a str,
    pub(super) payload: &'a str,
    pub(super) signature: &'a str,
    pub(super) algorithm: Algorithm,
    algorithm_name: &'static str,
    kid: Option<HeaderText>,
    typ: Option<HeaderText>,
}

impl<'a> UntrustedToken<'a> {
    /// Checks a token's size and shape and reads its header.
    ///
    /// # Errors
    ///
    /// [`VerifyError::TooLarge`] over [`MAX_TOKEN_LEN`] bytes (checked
    /// first), [`VerifyError::Malformed`] unless three non-empty base64url
    /// segments with a JSON object header, [`VerifyError::UnsupportedHeader`]
    /// for a header with `crit`, [`VerifyError::UnsupportedAlgorithm`] for an
    /// `alg` other than `EdDSA`, `Ed25519` or `HS256` (so also `none`).
    pub fn parse(token: &'a str) -> Result<Self, VerifyError> {
        Self::parse_with(token, None)
    }

    /// [`parse`](Self::parse), taking the header's reading from `memo` when
    /// it holds this exact header segment: the same bytes read the same.
    pub(crate) fn parse_memo(token: &'a str, memo: &HeaderMemo) -> Result<Self, VerifyError> {
        Self::parse_with(token, Some(memo))
    }

    fn parse_with(token: &'a str, memo: Option<&HeaderMemo>) -> Result<Self, VerifyError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(VerifyError::TooLarge);
        }
        // The first dot ends the header, the last one starts the signature;
        // a third dot would be in the payload, which base64url refuses.
        let (Some((header, rest)), Some((_, signature))) = (token.split_once('.'), token.rsplit_once('.')) else {
            return Err(VerifyError::Malformed);
        };
        let Some(payload) = rest.get(..rest.len().saturating_sub(signature.len() + 1)) else {
            return Err(VerifyError::Malformed);
        };
        // A header the memo holds was base64url when it was kept.
        let kept = memo.and_then(|m| m.get(header));
        if rest.len() == signature.len()
            || !(kept.is_some() || is_base64url(header))
            || !is_base64url(payload)
            || !is_base64url(signature)
        {
            return Err(VerifyError::Malformed);
        }
        let signing_input = token
            .get(..header.len() + 1 + payload.len())
            .ok_or(VerifyError::Malformed)?;
        let (parsed, header_from_memo) = match kept {
            Some(parsed) => (parsed.clone(), true),
            None => (ParsedHeader::read(header)?, false),
        };
        Ok(Self {
            header_segment: header,
            header_from_memo,
            signing_input,
            payload,
            signature,
            algorithm: parsed.algorithm,
            algorithm_name: parsed.algorithm_name,
            kid: parsed.kid,
            typ: parsed.typ,
        })
    }

    /// Whether the header's reading came from a [`HeaderMemo`] (so there is
    /// nothing to remember).
    pub(crate) fn header_from_memo(&self) -> bool {
        self.header_from_memo
    }

    /// What the header says, for a [`HeaderMemo`].
    fn parsed_header(&self) -> ParsedHeader {
        ParsedHeader {
            algorithm: self.algorithm,
            algorithm_name: self.algorithm_name,
            kid: self.kid.clone(),
            typ: self.typ.clone(),
        }
    }

    /// The header's `typ`, if it is a string. Untrusted until the signature
    /// is checked; [`Validation::token_type`](super::Validation::token_type) makes a verifier require it.
    #[must_use]
    pub fn typ(&self) -> Option<&str> {
        self.typ.as_ref().map(HeaderText::as_str)
    }

    /// The header's `kid`, if any. Untrusted: use it only to choose among
    /// keys already configured.
    #[must_use]
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_ref().map(HeaderText::as_str)
    }

    /// The header's `alg` as written (`EdDSA`, `Ed25519` or `HS256`).
    #[must_use]
    pub fn algorithm_name(&self) -> &'static str {
        self.algorithm_name
    }

    /// The algorithm the header's `alg` names.
    #[must_use]
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }
}

impl fmt::Debug for UntrustedToken<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UntrustedToken")
            .field("alg", &self.algorithm_name)
            .field("kid", &self.kid())
            .field("typ", &self.typ())
            .finish_non_exhaustive()
    }
}

/// What a header segment says: the reading [`UntrustedToken::parse`] gives
/// it, a function of the segment's bytes alone.
#[derive(Clone)]
struct ParsedHeader {
    algorithm: Algorithm,
    algorithm_name: &'static str,
    kid: Option<HeaderText>,
    typ: Option<HeaderText>,
}

impl ParsedHeader {
    /// Decodes and reads a header segment already checked to be base64url.
    fn read(header: &str) -> Result<Self, VerifyError> {
        // The header's one decoding, onto the stack when it fits.
        let mut stack = [0u8; STACK_HEADER];
        let heap;
        let header_json: &[u8] = if header.len() / 4 * 3 + 3 <= STACK_HEADER {
            base64url::decode_into(header.as_bytes(), &mut stack).ok_or(VerifyError::Malformed)?
        } else {
            heap = base64url::decode_to_vec(header.as_bytes()).ok_or(VerifyError::Malformed)?;
            &heap
        };
        if !is_json_object(header_json) {
            return Err(VerifyError::Malformed);
        }
        let header = match simple_header(header_json) {
            Some(header) => header,
            None => serde_json::from_slice(header_json).map_err(|_| VerifyError::Malformed)?,
        };
        if header.crit.0 {
            return Err(VerifyError::UnsupportedHeader);
        }
        let (algorithm, algorithm_name) =
            Algorithm::from_header_name(&header.alg.0).ok_or(VerifyError::UnsupportedAlgorithm)?;
        Ok(Self {
            algorithm,
            algorithm_name,
            kid: header.kid,
            typ: header.typ.0,
        })
    }
}

/// How many header segments a [`HeaderMemo`] holds.
pub(crate) const HEADER_MEMO_SLOTS: usize = 4;

/// The longest header segment a [`HeaderMemo`] keeps, in bytes.
const HEADER_MEMO_MAX: usize = 256;

/// A few header segments already read, with their reading: a verifier
/// that sees the same header again and again (one per signing key) skips
/// decoding and reading it. The same bytes give the same reading, so the
/// memo changes no answer; it only saves work. A segment is kept only
/// when its caller says so ([`remember`](Self::remember), after a token
/// carrying it verified), at most [`HEADER_MEMO_SLOTS`] of them, each
/// kept for the memo's life: unsigned tokens cannot fill it.
#[derive(Clone, Default)]
pub(crate) struct HeaderMemo {
    slots: [std::sync::OnceLock<(Box<str>, ParsedHeader)>; HEADER_MEMO_SLOTS],
}

impl HeaderMemo {
    /// The reading of exactly this header segment, if kept.
    fn get(&self, segment: &str) -> Option<&ParsedHeader> {
        self.slots
            .iter()
            .filter_map(std::sync::OnceLock::get)
            .find(|(kept, _)| **kept == *segment)
            .map(|(_, parsed)| parsed)
    }

    /// Keeps `token`'s header segment and its reading, if there is room
    /// and it is not kept already.
    pub(crate) fn remember(&self, token: &UntrustedToken<'_>) {
        let segment = token.header_segment;
        if segment.len() > HEADER_MEMO_MAX || self.get(segment).is_some() {
            return;
        }
        if let Some(slot) = self.slots.iter().find(|s| s.get().is_none()) {
            // Another thread may fill the slot first: then this one is
            // simply not kept.
            let _ = slot.set((segment.into(), token.parsed_header()));
        }
    }

    /// How many segments are kept.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.slots.iter().filter(|s| s.get().is_some()).count()
    }
}

impl fmt::Debug for HeaderMemo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HeaderMemo")
            .field("kept", &self.slots.iter().filter(|s| s.get().is_some()).count())
            .finish()
    }
}

/// A JSON string, borrowed from the text being read unless it has
/// escapes: token payloads here, code request bodies and claim names
/// elsewhere in the crate.
pub(crate) struct Text<'a>(pub(crate) Cow<'a, str>);

impl AsRef<str> for Text<'_> {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(TextVisitor)
    }
}

pub(super) struct TextVisitor;

impl<'de> Visitor<'de> for TextVisitor {
    type Value = Text<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Text(Cow::Borrowed(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Text(Cow::Owned(v.to_owned())))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Text(Cow::Owned(v)))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::jose::test_support::*;
    use crate::jose::{SignError, SigningKey, TokenSigner, Validation};
    use proptest::prelude::*;
    use serde_json::json;

    /// The memo answers only for the exact segment it kept: a header that
    /// differs by one byte (here the last character of its `kid`) is read
    /// afresh, and a header never remembered is never taken from it.
    #[test]
    fn header_memo_reads_a_header_one_byte_apart_afresh() {
        let key = ed_key("k1");
        let payload = json!({"exp": T0 + 60, "iat": T0}).to_string();
        let first = raw_token(&key, r#"{"alg":"EdDSA","typ":"JWT","kid":"k1"}"#, &payload);
        let second = raw_token(&key, r#"{"alg":"EdDSA","typ":"JWT","kid":"k2"}"#, &payload);
        let memo = HeaderMemo::default();
        memo.remember(&UntrustedToken::parse(&first).unwrap());
        assert_eq!(memo.len(), 1);
        let (a, b) = (first.split('.').next().unwrap(), second.split('.').next().unwrap());
        assert_eq!(a.len(), b.len());
        assert_eq!(a.bytes().zip(b.bytes()).filter(|(x, y)| x != y).count(), 1);
        assert_eq!(UntrustedToken::parse_memo(&first, &memo).unwrap().kid(), Some("k1"));
        assert_eq!(UntrustedToken::parse_memo(&second, &memo).unwrap().kid(), Some("k2"));
        // A header `none` is never kept, so it is refused as always.
        let none = format!(
            "{}.{}.AAAA",
            b64(br#"{"alg":"none","kid":"k1"}"#),
            b64(payload.as_bytes())
        );
        assert_eq!(
            UntrustedToken::parse_memo(&none, &memo).map(|_| ()),
            Err(VerifyError::UnsupportedAlgorithm)
        );
        // Remembering again keeps one copy; the slots are bounded.
        memo.remember(&UntrustedToken::parse(&first).unwrap());
        assert_eq!(memo.len(), 1);
        for kid in 0..10 {
            let header = format!(r#"{{"alg":"EdDSA","kid":"k{kid}x"}}"#);
            memo.remember(&UntrustedToken::parse(&raw_token(&key, &header, &payload)).unwrap());
        }
        assert_eq!(memo.len(), HEADER_MEMO_SLOTS);
    }

    proptest! {
        /// Parsing with a memo answers what parsing without one answers,
        /// for any token text, whatever headers the memo holds.
        #[test]
        fn header_memo_changes_no_parse(token in "[A-Za-z0-9_.=-]{0,120}", kid in "[a-z0-9]{1,4}") {
            let key = ed_key("k1");
            let payload = json!({"exp": T0 + 60, "iat": T0}).to_string();
            let memo = HeaderMemo::default();
            let header = format!(r#"{{"alg":"EdDSA","kid":"{kid}"}}"#);
            memo.remember(&UntrustedToken::parse(&raw_token(&key, &header, &payload)).unwrap());
            let fresh = UntrustedToken::parse(&token);
            let memo_read = UntrustedToken::parse_memo(&token, &memo);
            prop_assert_eq!(format!("{fresh:?}"), format!("{memo_read:?}"));
        }
    }

    #[test]
    fn ed25519_algorithm_name_is_accepted_as_eddsa() {
        let key = ed_key("k1");
        let payload = json!({"exp": T0 + 60, "iat": T0}).to_string();
        let token = raw_token(&key, r#"{"alg":"Ed25519","kid":"k1"}"#, &payload);
        let parsed = UntrustedToken::parse(&token).unwrap();
        assert_eq!(parsed.algorithm_name(), "Ed25519");
        assert_eq!(parsed.algorithm(), Algorithm::EdDSA);
        assert_eq!(check(&verifier(&[&key], Validation::new()), &token, T0), Ok(()));
        // But not against an HMAC key.
        let hs = SigningKey::hs256("k1", SECRET).unwrap();
        assert_eq!(
            check(&verifier(&[&hs], Validation::new()), &token, T0),
            Err(VerifyError::AlgorithmMismatch)
        );
    }

    #[test]
    fn alg_none_and_other_algorithms_fail() {
        let key = SigningKey::hs256("k1", SECRET).unwrap();
        let v = verifier(&[&key], Validation::new());
        let payload = b64(json!({"exp": T0 + 60, "iat": T0}).to_string().as_bytes());
        for alg in ["none", "None", "HS384", "HS512", "RS256", "ES256", "eddsa", ""] {
            let header = b64(json!({"alg": alg, "kid": "k1"}).to_string().as_bytes());
            // Unsecured JWS: empty signature.
            let unsecured = format!("{header}.{payload}.");
            assert_eq!(check(&v, &unsecured, T0), Err(VerifyError::Malformed));
            let with_sig = format!("{header}.{payload}.{}", b64(&[0u8; 32]));
            assert_eq!(
                check(&v, &with_sig, T0),
                Err(VerifyError::UnsupportedAlgorithm),
                "{alg}"
            );
        }
        // `alg` missing or not a string.
        for header in [json!({"kid": "k1"}), json!({"alg": 1}), json!({"alg": null})] {
            let header = b64(header.to_string().as_bytes());
            let token = format!("{header}.{payload}.{}", b64(&[0u8; 32]));
            assert_eq!(check(&v, &token, T0), Err(VerifyError::Malformed));
        }
    }

    #[test]
    fn crit_header_rejected() {
        let key = ed_key("k1");
        let v = verifier(&[&key], Validation::new());
        let payload = json!({"exp": T0 + 60, "iat": T0}).to_string();
        for header in [
            r#"{"alg":"EdDSA","kid":"k1","crit":["exp"],"exp":1}"#,
            r#"{"alg":"EdDSA","kid":"k1","crit":[]}"#,
            r#"{"alg":"EdDSA","kid":"k1","crit":null}"#,
            r#"{"alg":"EdDSA","kid":"k1","b64":false,"crit":["b64"]}"#,
        ] {
            let token = raw_token(&key, header, &payload);
            assert_eq!(
                UntrustedToken::parse(&token).map(|_| ()),
                Err(VerifyError::UnsupportedHeader)
            );
            assert_eq!(check(&v, &token, T0), Err(VerifyError::UnsupportedHeader));
        }
        let token = raw_token(&key, r#"{"alg":"EdDSA","kid":"k1"}"#, &payload);
        assert_eq!(check(&v, &token, T0), Ok(()));
    }

    #[test]
    fn oversized_token_rejected_before_decoding() {
        // Not base64 at all: only the size check can name it.
        let junk = "!".repeat(MAX_TOKEN_LEN + 1);
        assert_eq!(UntrustedToken::parse(&junk).map(|_| ()), Err(VerifyError::TooLarge));
        let junk = "!".repeat(MAX_TOKEN_LEN);
        assert_eq!(UntrustedToken::parse(&junk).map(|_| ()), Err(VerifyError::Malformed));
        // A validly signed but huge token.
        let key = ed_key("k1");
        let payload = json!({"exp": T0 + 60, "iat": T0, "pad": "x".repeat(10_000)}).to_string();
        let token = raw_token(&key, r#"{"alg":"EdDSA","kid":"k1"}"#, &payload);
        assert_eq!(
            check(&verifier(&[&key], Validation::new()), &token, T0),
            Err(VerifyError::TooLarge)
        );
        // The signer refuses to produce what would be refused.
        let big = json!({"exp": T0 + 60, "pad": "x".repeat(MAX_TOKEN_LEN)});
        assert_eq!(TokenSigner::new(key).sign(&big), Err(SignError::TooLarge));
    }

    #[test]
    fn malformed_shapes_rejected() {
        let key = ed_key("k1");
        let v = verifier(&[&key], Validation::new());
        let good = raw_token(
            &key,
            r#"{"alg":"EdDSA","kid":"k1"}"#,
            &json!({"exp": T0 + 60, "iat": T0}).to_string(),
        );
        let parts: Vec<&str> = good.split('.').collect();
        let (h, p, s) = (parts[0], parts[1], parts[2]);
        let cases = [
            String::new(),
            "..".into(),
            format!("{h}.{p}"),
            format!("{h}.{p}.{s}.{s}"),
            format!("{h}..{s}"),
            format!(".{p}.{s}"),
            format!("{h}={}.{p}.{s}", ""),
            format!("{h}.{p}=.{s}"),
            format!("{h}.{p}.{s}="),
            format!("{h}.{p}+.{s}"),
            format!("{h} .{p}.{s}"),
            format!("{h}.{p}.{s}AAA"), // length 4n+1 cannot be base64
        ];
        for token in &cases {
            assert_eq!(check(&v, token, T0), Err(VerifyError::Malformed), "{token:?}");
        }
        // Header or payload not a JSON object.
        for (header, payload) in [
            (r#"["EdDSA"]"#, r#"{"exp":1}"#),
            (r#""EdDSA""#, r#"{"exp":1}"#),
            (r#"{"alg":"EdDSA","kid":"k1"}"#, &*format!("[{}]", T0 + 60)),
            (r#"{"alg":"EdDSA","kid":"k1"}"#, "not json"),
            (r#"{"alg":"EdDSA","kid":"k1"}"#, "null"),
            (r#"{"alg":"EdDSA","kid":5}"#, r#"{"exp":1}"#),
            (r#"{"alg":"EdDSA","alg":"EdDSA","kid":"k1"}"#, r#"{"exp":1}"#),
        ] {
            let token = raw_token(&key, header, payload);
            assert_eq!(check(&v, &token, T0), Err(VerifyError::Malformed), "{header} {payload}");
        }
        assert_eq!(check(&v, &good, T0), Ok(()));
    }

    /// What a header reads as: `alg`, `kid`, `typ`, `crit`.
    fn read(header: &RawHeader<'_>) -> (String, Option<String>, Option<String>, bool) {
        (
            header.alg.0.to_string(),
            header.kid.as_ref().map(|k| k.as_str().to_owned()),
            header.typ.0.as_ref().map(|t| t.as_str().to_owned()),
            header.crit.0,
        )
    }

    #[test]
    fn simple_header_reads_the_common_shape() {
        let json = br#" { "alg" :"HS256",	"kid":"k1" ,"typ":"JWT"}
 "#;
        let header = simple_header(json).unwrap();
        assert_eq!(
            read(&header),
            ("HS256".into(), Some("k1".into()), Some("JWT".into()), false)
        );
        // Escapes, other members, duplicates, non-strings and trailing text
        // are left to serde.
        for json in [
            r#"{"alg":"HS2""}"#,
            r#"{"alg":"HS256","x":"y"}"#,
            r#"{"alg":"HS256","alg":"HS256"}"#,
            r#"{"alg":"HS256","typ":1}"#,
            r#"{"alg":"HS256"}x"#,
            r#"{"kid":"k1"}"#,
            r#"{}"#,
        ] {
            assert!(simple_header(json.as_bytes()).is_none(), "{json}");
        }
    }

    /// Members for [`simple_header_agrees_with_serde`].
    fn member() -> impl Strategy<Value = String> {
        // The fast path's own names and plain strings, most of the time.
        let names = prop::sample::select(vec![
            "alg",
            "kid",
            "typ",
            "alg",
            "kid",
            "typ",
            "alg",
            "crit",
            "x",
            "a\\u006cg",
            "ALG",
        ]);
        let values = prop::sample::select(vec![
            "\"HS256\"",
            "\"EdDSA\"",
            "\"JWT\"",
            "\"\"",
            "\"é\"",
            "\"k1\"",
            "\"HS256\"",
            "\"JWT\"",
            "\"k\\\"1\"",
            "1",
            "null",
            "[]",
            "{}",
            "\"\t\"",
        ]);
        let spaces = prop::sample::select(vec!["", " ", "\n", "\t ", "\r"]);
        (names, values, spaces).prop_map(|(n, v, w)| format!("{w}\"{n}\"{w}:{w}{v}{w}"))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1024))]

        /// Whenever the fast path reads a header, serde reads the same.
        #[test]
        fn simple_header_agrees_with_serde(
            members in proptest::collection::vec(member(), 0..5),
            tail in prop::sample::select(vec!["", "", " ", "\n", "x", "}", ","]),
        ) {
            let json = format!("{{{}}}{tail}", members.join(","));
            let serde: Option<RawHeader<'_>> = serde_json::from_str(&json).ok();
            if let Some(fast) = simple_header(json.as_bytes()) {
                prop_assert_eq!(Some(read(&fast)), serde.as_ref().map(read), "{}", json);
            }
        }

        #[test]
        fn random_text_never_verifies(token in "[A-Za-z0-9_.\\-]{0,200}") {
            let key = SigningKey::hs256("k", SECRET).unwrap();
            let v = verifier(&[&key], Validation::new().require_iat(false));
            prop_assert!(check(&v, &token, T0).is_err());
        }
    }
}
