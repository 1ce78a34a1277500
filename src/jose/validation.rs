//! [`Validation`]: what a token's registered claims must satisfy.

use std::collections::BTreeSet;
use std::fmt;

use serde::de::{self, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};

use super::untrusted::{Text, TextVisitor};
use super::{DEFAULT_LEEWAY_SECS, MAX_LEEWAY_SECS, MAX_NUMERIC_DATE, TokenType, VerifyError};

/// What a token's registered claims must satisfy, beyond its signature.
///
/// Defaults: no issuer, audience or type check, 30 s leeway, `iat`
/// required, no maximum lifetime. Handshake tokens should set the audience;
/// verifiers of the identity server's own tokens set the audience and the
/// [`TokenType`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Validation {
    token_type: Option<TokenType>,
    issuer: Option<String>,
    audiences: BTreeSet<String>,
    leeway_secs: i64,
    require_iat: bool,
    max_lifetime_secs: Option<i64>,
}

impl Default for Validation {
    fn default() -> Self {
        Self {
            token_type: None,
            issuer: None,
            audiences: BTreeSet::new(),
            leeway_secs: DEFAULT_LEEWAY_SECS,
            require_iat: true,
            max_lifetime_secs: None,
        }
    }
}

impl Validation {
    /// The defaults.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Requires the header's `typ` to name `typ` (see [`TokenType`]); a
    /// token without `typ`, or of another type, fails with
    /// [`VerifyError::WrongType`].
    #[must_use]
    pub fn token_type(mut self, typ: TokenType) -> Self {
        self.token_type = Some(typ);
        self
    }

    /// The required token type.
    #[must_use]
    pub fn required_token_type(&self) -> Option<TokenType> {
        self.token_type
    }

    /// Requires `iss` to equal `issuer`.
    #[must_use]
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    /// Accepts `audience`; once any audience is set, `aud` is required and
    /// one of its values (a string or an array of strings) must be accepted.
    #[must_use]
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audiences.insert(audience.into());
        self
    }

    /// Accepts each of `audiences`, as [`Validation::audience`].
    #[must_use]
    pub fn audiences<I, S>(mut self, audiences: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.audiences.extend(audiences.into_iter().map(Into::into));
        self
    }

    /// Clock-skew allowance for `exp`, `nbf` and `iat`, in whole seconds.
    /// Negative values become zero; values above [`MAX_LEEWAY_SECS`] become
    /// that.
    #[must_use]
    pub fn leeway(mut self, leeway: time::Duration) -> Self {
        self.leeway_secs = leeway.whole_seconds().clamp(0, MAX_LEEWAY_SECS);
        self
    }

    /// Whether `iat` is required (default `true`). When present it is
    /// checked either way.
    #[must_use]
    pub fn require_iat(mut self, require: bool) -> Self {
        self.require_iat = require;
        self
    }

    /// Caps a token's lifetime, `exp - iat`, in whole seconds (negative
    /// values become zero). Makes `iat` required.
    #[must_use]
    pub fn max_lifetime(mut self, max: time::Duration) -> Self {
        self.max_lifetime_secs = Some(max.whole_seconds().max(0));
        self
    }

    /// The expected issuer.
    #[must_use]
    pub fn expected_issuer(&self) -> Option<&str> {
        self.issuer.as_deref()
    }

    /// The accepted audiences.
    pub fn accepted_audiences(&self) -> impl Iterator<Item = &str> {
        self.audiences.iter().map(String::as_str)
    }

    /// The leeway.
    #[must_use]
    pub fn leeway_duration(&self) -> time::Duration {
        time::Duration::seconds(self.leeway_secs)
    }

    /// Checks the registered claims; answers `exp`.
    pub(super) fn check(&self, claims: &RegisteredClaims<'_>, now: i64) -> Result<i64, VerifyError> {
        let now = i128::from(now);
        let leeway = i128::from(self.leeway_secs);
        let exp = numeric_date(claims.exp)?.ok_or(VerifyError::MissingClaim("exp"))?;
        let nbf = numeric_date(claims.nbf)?;
        let iat = numeric_date(claims.iat)?;

        if now > exp + leeway {
            return Err(VerifyError::Expired);
        }
        if let Some(nbf) = nbf
            && now + leeway < nbf
        {
            return Err(VerifyError::NotYetValid);
        }
        match iat {
            None if self.require_iat || self.max_lifetime_secs.is_some() => {
                return Err(VerifyError::MissingClaim("iat"));
            }
            Some(iat) if iat > now + leeway => return Err(VerifyError::IssuedInFuture),
            _ => {}
        }
        if let (Some(max), Some(iat)) = (self.max_lifetime_secs, iat)
            && exp - iat > i128::from(max)
        {
            return Err(VerifyError::TooOld);
        }
        if let Some(expected) = &self.issuer
            && claims.iss.as_ref().map(|iss| &*iss.0) != Some(expected.as_str())
        {
            return Err(VerifyError::WrongIssuer);
        }
        if !self.audiences.is_empty() {
            let accepted = match &claims.aud {
                Some(AudienceText::One(aud)) => self.audiences.contains(&*aud.0),
                Some(AudienceText::Many(auds)) => auds.iter().any(|aud| self.audiences.contains(&*aud.0)),
                Some(AudienceText::Kept(aud)) => aud.iter().any(|aud| self.audiences.contains(aud)),
                None => false,
            };
            if !accepted {
                return Err(VerifyError::WrongAudience);
            }
        }
        i64::try_from(exp).map_err(|_| VerifyError::Malformed)
    }
}

/// Range-checks a NumericDate.
fn numeric_date(value: Option<i64>) -> Result<Option<i128>, VerifyError> {
    match value {
        Some(v) if !(0..=MAX_NUMERIC_DATE).contains(&v) => Err(VerifyError::Malformed),
        other => Ok(other.map(i128::from)),
    }
}

/// A token's `aud` claim as sent: one string or an array of strings
/// (RFC 7519 section 4.1.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Audience {
    /// `"aud": "docs.example.com"`.
    One(String),
    /// `"aud": ["docs.example.com", ...]`.
    Many(Vec<String>),
}

impl Audience {
    /// Each audience named, in the order sent.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        let (one, many) = match self {
            Self::One(one) => (Some(one.as_str()), &[][..]),
            Self::Many(many) => (None, many.as_slice()),
        };
        one.into_iter().chain(many.iter().map(String::as_str))
    }

    /// Whether `audience` is among those named.
    #[must_use]
    pub fn contains(&self, audience: &str) -> bool {
        self.iter().any(|a| a == audience)
    }
}

impl serde::Serialize for Audience {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::One(one) => serializer.serialize_str(one),
            Self::Many(many) => serializer.collect_seq(many),
        }
    }
}

impl<'de> Deserialize<'de> for Audience {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // Read directly rather than as an untagged enum, which would first
        // copy the value into a buffer.
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Audience;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or an array of strings")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Audience, E> {
                Ok(Audience::One(v.to_owned()))
            }

            fn visit_string<E: de::Error>(self, v: String) -> Result<Audience, E> {
                Ok(Audience::One(v))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Audience, A::Error> {
                let mut values = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(16));
                while let Some(value) = seq.next_element::<String>()? {
                    values.push(value);
                }
                Ok(Audience::Many(values))
            }
        }
        deserializer.deserialize_any(V)
    }
}

/// `aud` as [`Validation::check`] reads it: borrowed from the payload, or
/// from an [`Audience`] a claims type already read.
enum AudienceText<'a> {
    One(Text<'a>),
    Many(Vec<Text<'a>>),
    Kept(&'a Audience),
}

impl<'de: 'a, 'a> Deserialize<'de> for AudienceText<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(AudienceVisitor)
    }
}

struct AudienceVisitor;

impl<'de> Visitor<'de> for AudienceVisitor {
    type Value = AudienceText<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string or an array of strings")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        TextVisitor.visit_borrowed_str(v).map(AudienceText::One)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        TextVisitor.visit_str(v).map(AudienceText::One)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut values = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(16));
        while let Some(value) = seq.next_element::<Text<'de>>()? {
            values.push(value);
        }
        Ok(AudienceText::Many(values))
    }
}

/// The registered claims of a claims type that reads them itself, in the
/// same single parse as the rest of its claims (see
/// [`OnePassClaims`](super::verify::OnePassClaims)), each already of its
/// type (a wrong type failed that parse). Strings and `aud` borrow from
/// those claims.
pub(crate) struct Registered<'a> {
    /// `exp`.
    pub(crate) exp: Option<i64>,
    /// `nbf`.
    pub(crate) nbf: Option<i64>,
    /// `iat`.
    pub(crate) iat: Option<i64>,
    /// `iss`.
    pub(crate) iss: Option<&'a str>,
    /// `aud`.
    pub(crate) aud: Option<&'a Audience>,
}

impl<'a> Registered<'a> {
    /// The same claims, as [`Validation::check`] reads them.
    pub(super) fn typed(&self) -> RegisteredClaims<'a> {
        RegisteredClaims {
            exp: self.exp,
            nbf: self.nbf,
            iat: self.iat,
            iss: self.iss.map(|s| Text(std::borrow::Cow::Borrowed(s))),
            aud: self.aud.map(AudienceText::Kept),
            jti: None,
        }
    }
}

/// The registered claims checked here, typed: wrong types and duplicate keys
/// fail to deserialize. Strings borrow from the decoded payload.
#[derive(Deserialize)]
pub(super) struct RegisteredClaims<'a> {
    exp: Option<i64>,
    nbf: Option<i64>,
    iat: Option<i64>,
    #[serde(borrow)]
    iss: Option<Text<'a>>,
    #[serde(borrow)]
    aud: Option<AudienceText<'a>>,
    #[serde(borrow)]
    pub(super) jti: Option<Text<'a>>,
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::jose::test_support::*;
    use proptest::prelude::*;
    use serde::de::IgnoredAny;
    use serde_json::json;

    #[test]
    fn escaped_registered_claims_are_read() {
        let key = SigningKey::hs256("k1", SECRET).unwrap();
        let v = verifier(&[&key], full_validation());
        // `\/` is an escaped `/`: the strings cannot be borrowed as written.
        let iss = ISS.replace('/', "\\/");
        let payload = format!(
            r#"{{"iss":"{iss}","aud":["x","{AUD}"],"exp":{},"iat":{T0},"jti":"a\u0062c"}}"#,
            T0 + 60
        );
        let token = raw_token(&key, r#"{"alg":"HS256"}"#, &payload);
        let verified = v.verify_str::<IgnoredAny>(&token, at(T0)).unwrap();
        assert_eq!(verified.jti(), Some("abc"));
    }

    #[test]
    fn exp_is_required_and_range_checked() {
        let v = Validation::new;
        assert_eq!(
            check_payload(&json!({"iat": T0}).to_string(), v()),
            Err(VerifyError::MissingClaim("exp"))
        );
        assert_eq!(
            check_payload(&json!({"iat": T0, "exp": null}).to_string(), v()),
            Err(VerifyError::MissingClaim("exp"))
        );
        for exp in [
            "18446744073709551615", // u64::MAX
            "9223372036854775808",  // 2^63
            "9223372036854775807",  // i64::MAX
            "253402300800",         // 10000-01-01
            "-1",
            "1e400",
            "1767225660.5",
            "\"1767225660\"",
            "true",
        ] {
            let payload = format!(r#"{{"iat":{T0},"exp":{exp}}}"#);
            assert_eq!(check_payload(&payload, v()), Err(VerifyError::Malformed), "{exp}");
        }
        // The last second of year 9999 is still a date.
        let payload = format!(r#"{{"iat":{T0},"exp":{MAX_NUMERIC_DATE}}}"#);
        assert_eq!(check_payload(&payload, v()), Ok(()));
        for (claim, value) in [("nbf", -5), ("iat", -5), ("nbf", MAX_NUMERIC_DATE + 1)] {
            let payload = format!(r#"{{"exp":{},"{claim}":{value}}}"#, T0 + 60);
            assert_eq!(check_payload(&payload, v()), Err(VerifyError::Malformed), "{claim}");
        }
    }

    #[test]
    fn expiry_with_leeway() {
        let payload = |exp: i64| json!({"iat": exp - 60, "exp": exp}).to_string();
        let v = Validation::new;
        assert_eq!(check_payload(&payload(T0), v()), Ok(()));
        assert_eq!(check_payload(&payload(T0 - 30), v()), Ok(()));
        assert_eq!(check_payload(&payload(T0 - 31), v()), Err(VerifyError::Expired));
        let strict = || Validation::new().leeway(time::Duration::ZERO);
        assert_eq!(check_payload(&payload(T0), strict()), Ok(()));
        assert_eq!(check_payload(&payload(T0 - 1), strict()), Err(VerifyError::Expired));
        let wide = || Validation::new().leeway(time::Duration::seconds(120));
        assert_eq!(check_payload(&payload(T0 - 120), wide()), Ok(()));
        assert_eq!(check_payload(&payload(T0 - 121), wide()), Err(VerifyError::Expired));
        // Leeway is clamped.
        let v = Validation::new().leeway(time::Duration::seconds(-5));
        assert_eq!(v.leeway_duration(), time::Duration::ZERO);
        let v = Validation::new().leeway(time::Duration::days(30));
        assert_eq!(v.leeway_duration(), time::Duration::seconds(MAX_LEEWAY_SECS));
        assert_eq!(Validation::new().leeway_duration(), time::Duration::seconds(30));
    }

    #[test]
    fn not_before() {
        let payload = |nbf: i64| json!({"iat": T0, "exp": T0 + 600, "nbf": nbf}).to_string();
        let v = Validation::new;
        assert_eq!(check_payload(&payload(T0 + 30), v()), Ok(()));
        assert_eq!(check_payload(&payload(T0 + 31), v()), Err(VerifyError::NotYetValid));
        assert_eq!(check_payload(&payload(T0 - 100), v()), Ok(()));
    }

    #[test]
    fn issued_at() {
        let v = Validation::new;
        let future = |iat: i64| json!({"iat": iat, "exp": T0 + 600}).to_string();
        assert_eq!(check_payload(&future(T0 + 30), v()), Ok(()));
        assert_eq!(check_payload(&future(T0 + 31), v()), Err(VerifyError::IssuedInFuture));
        let no_iat = json!({"exp": T0 + 600}).to_string();
        assert_eq!(check_payload(&no_iat, v()), Err(VerifyError::MissingClaim("iat")));
        assert_eq!(check_payload(&no_iat, v().require_iat(false)), Ok(()));
        // Present iat is checked even when not required.
        assert_eq!(
            check_payload(&future(T0 + 31), v().require_iat(false)),
            Err(VerifyError::IssuedInFuture)
        );
    }

    #[test]
    fn maximum_lifetime() {
        let v = || Validation::new().max_lifetime(time::Duration::minutes(5));
        let payload = |iat: i64, exp: i64| json!({"iat": iat, "exp": exp}).to_string();
        assert_eq!(check_payload(&payload(T0, T0 + 300), v()), Ok(()));
        assert_eq!(check_payload(&payload(T0, T0 + 301), v()), Err(VerifyError::TooOld));
        // Year-9999 expiry.
        assert_eq!(
            check_payload(&payload(T0, MAX_NUMERIC_DATE), v()),
            Err(VerifyError::TooOld)
        );
        // The cap needs iat.
        let no_iat = json!({"exp": T0 + 60}).to_string();
        assert_eq!(
            check_payload(&no_iat, v().require_iat(false)),
            Err(VerifyError::MissingClaim("iat"))
        );
        assert_eq!(check_payload(&payload(T0, T0 + 301), Validation::new()), Ok(()));
    }

    #[test]
    fn audience() {
        let base = |aud: serde_json::Value| {
            let mut claims = json!({"iat": T0, "exp": T0 + 60});
            if !aud.is_null() {
                claims["aud"] = aud;
            }
            claims.to_string()
        };
        let v = || Validation::new().audience("kb-1");
        assert_eq!(check_payload(&base(json!("kb-1")), v()), Ok(()));
        assert_eq!(check_payload(&base(json!(["x", "kb-1"])), v()), Ok(()));
        assert_eq!(
            check_payload(&base(json!("kb-2")), v()),
            Err(VerifyError::WrongAudience)
        );
        assert_eq!(
            check_payload(&base(json!(["x", "y"])), v()),
            Err(VerifyError::WrongAudience)
        );
        assert_eq!(check_payload(&base(json!([])), v()), Err(VerifyError::WrongAudience));
        assert_eq!(check_payload(&base(json!(null)), v()), Err(VerifyError::WrongAudience));
        assert_eq!(check_payload(&base(json!(123)), v()), Err(VerifyError::Malformed));
        assert_eq!(check_payload(&base(json!([123])), v()), Err(VerifyError::Malformed));
        assert_eq!(
            check_payload(&base(json!({"a": "kb-1"})), v()),
            Err(VerifyError::Malformed)
        );
        // Any accepted audience suffices.
        let many = || Validation::new().audiences(["kb-1", "kb-2"]);
        assert_eq!(check_payload(&base(json!("kb-2")), many()), Ok(()));
        assert_eq!(many().accepted_audiences().collect::<Vec<_>>(), vec!["kb-1", "kb-2"]);
        // No audience configured: aud not required.
        assert_eq!(check_payload(&base(json!(null)), Validation::new()), Ok(()));
    }

    #[test]
    fn issuer() {
        let with = |iss: serde_json::Value| json!({"iat": T0, "exp": T0 + 60, "iss": iss}).to_string();
        let v = || Validation::new().issuer(ISS);
        assert_eq!(v().expected_issuer(), Some(ISS));
        assert_eq!(check_payload(&with(json!(ISS)), v()), Ok(()));
        assert_eq!(
            check_payload(&with(json!("https://evil")), v()),
            Err(VerifyError::WrongIssuer)
        );
        assert_eq!(check_payload(&with(json!(42)), v()), Err(VerifyError::Malformed));
        assert_eq!(check_payload(&with(json!([ISS])), v()), Err(VerifyError::Malformed));
        let missing = json!({"iat": T0, "exp": T0 + 60}).to_string();
        assert_eq!(check_payload(&missing, v()), Err(VerifyError::WrongIssuer));
        assert_eq!(check_payload(&with(json!(null)), v()), Err(VerifyError::WrongIssuer));
    }

    #[test]
    fn duplicate_claim_keys_rejected() {
        let exp_twice = format!(r#"{{"iat":{T0},"exp":{},"exp":{}}}"#, T0 - 3600, T0 + 60);
        assert_eq!(
            check_payload(&exp_twice, Validation::new()),
            Err(VerifyError::Malformed)
        );
        let jti_twice = format!(r#"{{"iat":{T0},"exp":{},"jti":"a","jti":"b"}}"#, T0 + 60);
        assert_eq!(
            check_payload(&jti_twice, Validation::new()),
            Err(VerifyError::Malformed)
        );
        let aud_twice = format!(r#"{{"iat":{T0},"exp":{},"aud":"evil","aud":"kb-1"}}"#, T0 + 60);
        assert_eq!(
            check_payload(&aud_twice, Validation::new().audience("kb-1")),
            Err(VerifyError::Malformed)
        );
        // A duplicate in the caller's typed claims.
        let key = ed_key("k1");
        let v = verifier(&[&key], full_validation());
        let mut payload = serde_json::to_string(&id_claims(T0)).unwrap();
        payload.insert_str(1, r#""sub":"admin","#);
        let token = raw_token(&key, r#"{"alg":"EdDSA","kid":"k1"}"#, &payload);
        assert_eq!(
            v.verify_str::<Claims>(&token, at(T0)).map(|_| ()),
            Err(VerifyError::Malformed)
        );
        // Why typed: a Value keeps the last duplicate silently.
        let value: serde_json::Value = serde_json::from_str(&payload).unwrap();
        assert_eq!(value["sub"], "ada");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn leeway_boundary(leeway in 0i64..=600, skew in -700i64..=700) {
            let v = Validation::new().leeway(time::Duration::seconds(leeway));
            let exp = T0 + skew;
            let payload = json!({"iat": exp - 60, "exp": exp}).to_string();
            let result = check_payload(&payload, v);
            if T0 > exp + leeway {
                prop_assert_eq!(result, Err(VerifyError::Expired));
            } else if exp - 60 > T0 + leeway {
                prop_assert_eq!(result, Err(VerifyError::IssuedInFuture));
            } else {
                prop_assert_eq!(result, Ok(()));
            }
        }
    }
}
