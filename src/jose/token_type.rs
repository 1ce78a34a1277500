//! The explicit type of a token, its `typ` header.

use std::fmt;

/// The explicit type of a token (its `typ` header, RFC 8725 section 3.11).
///
/// A protocol gives each kind of token it issues a type of its own
/// ([`TokenType::new`]) and makes its verifier require it
/// ([`Validation::token_type`]), so a token of one kind is never accepted as
/// another even when one key signs them all.
///
/// [`TokenSigner::sign`] writes the generic [`TokenType::JWT`], for tokens
/// whose reader expects nothing more. Types compare ASCII case-insensitively,
/// and a type without `/` is read as `application/<typ>` (RFC 7515 section
/// 4.1.9).
///
/// [`Validation::token_type`]: super::Validation::token_type
/// [`TokenSigner::sign`]: super::TokenSigner::sign
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenType(&'static str);

impl TokenType {
    /// The generic `JWT`.
    pub const JWT: Self = Self("JWT");

    /// A token type named `name`, the media type without its
    /// `application/` prefix (as RFC 7515 recommends for `typ`), e.g.
    /// `example.id+jwt`.
    #[must_use]
    pub const fn new(name: &'static str) -> Self {
        Self(name)
    }

    /// The header value.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        self.0
    }

    /// Whether a header's `typ` names this type: ASCII case-insensitive,
    /// with an optional `application/` prefix.
    pub(super) fn matches(self, typ: &str) -> bool {
        let short = match typ.get(..12) {
            Some(prefix) if prefix.eq_ignore_ascii_case("application/") => &typ[12..],
            _ => typ,
        };
        short.eq_ignore_ascii_case(self.0)
    }
}

impl fmt::Display for TokenType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::jose::test_support::*;
    use crate::jose::{Validation, VerifyError};

    #[test]
    fn a_required_type_matches_case_insensitively_with_or_without_application() {
        let key = ed_key("k1");
        let payload = format!(r#"{{"exp":{},"iat":{T0}}}"#, T0 + 60);
        let v = verifier(&[&key], Validation::new().token_type(TokenType::new("kb-sso.id+jwt")));
        let with_typ = |typ: &str| raw_token(&key, &format!(r#"{{"alg":"EdDSA","kid":"k1","typ":{typ}}}"#), &payload);
        for ok in [
            r#""kb-sso.id+jwt""#,
            r#""KB-SSO.ID+JWT""#,
            r#""application/kb-sso.id+jwt""#,
        ] {
            assert_eq!(check(&v, &with_typ(ok), T0), Ok(()), "{ok}");
        }
        for bad in [
            r#""JWT""#,
            r#""kb-sso.widget+jwt""#,
            r#""text/kb-sso.id+jwt""#,
            "1",
            "null",
            r#"["kb-sso.id+jwt"]"#,
        ] {
            assert_eq!(check(&v, &with_typ(bad), T0), Err(VerifyError::WrongType), "{bad}");
        }
        let untyped = raw_token(&key, r#"{"alg":"EdDSA","kid":"k1"}"#, &payload);
        assert_eq!(check(&v, &untyped, T0), Err(VerifyError::WrongType));
        // No type required: any `typ`, of any JSON type, or none is fine.
        let any = verifier(&[&key], Validation::new());
        assert_eq!(check(&any, &with_typ("{}"), T0), Ok(()));
        assert_eq!(check(&any, &untyped, T0), Ok(()));
    }
}
