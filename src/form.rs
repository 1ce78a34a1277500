//! `application/x-www-form-urlencoded` bodies and query strings, read one
//! way for every endpoint that takes them (the code exchange, the widget
//! token request, the login forms, the callbacks).
//!
//! A parameter given twice is refused (RFC 6749 sections 3.1 and 3.2):
//! which of two values counts would otherwise be up to whoever reads the
//! form, and two readers could disagree. Values are kept exactly as sent,
//! empty ones included; a flow whose rules treat an empty value as absent
//! (the widget token request, RFC 6749 section 3.2) says so where it reads
//! the field.

use std::collections::HashMap;

/// A form (or query string) names a parameter more than once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a request parameter is given more than once")]
pub(crate) struct DuplicateParameter;

/// Parses form-urlencoded text into its parameters (`+` is a space, `%XX`
/// a byte; bytes that are not UTF-8 become U+FFFD). Empty values are kept.
///
/// # Errors
/// [`DuplicateParameter`] when a name occurs twice, whatever the values.
pub(crate) fn parse_form(body: &[u8]) -> Result<HashMap<String, String>, DuplicateParameter> {
    let mut out = HashMap::new();
    for (k, v) in url::form_urlencoded::parse(body) {
        if out.insert(k.into_owned(), v.into_owned()).is_some() {
            return Err(DuplicateParameter);
        }
    }
    Ok(out)
}

/// Takes `name` out of `form`, an empty value counting as absent.
pub(crate) fn non_empty(form: &mut HashMap<String, String>, name: &str) -> Option<String> {
    form.remove(name).filter(|v| !v.is_empty())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn a_parameter_given_twice_is_refused_whatever_its_values() {
        for body in [&b"a=1&a=2"[..], b"a=&a=2", b"a=1&a=1", b"a&a", b"a=1&b=2&a="] {
            assert_eq!(parse_form(body), Err(DuplicateParameter), "{body:?}");
        }
    }

    #[test]
    fn values_are_decoded_and_empty_ones_kept_until_a_flow_drops_them() {
        let mut f = parse_form(b"a=&b=x+y%21&c").unwrap();
        assert_eq!(f.get("a").map(String::as_str), Some(""));
        assert_eq!(f.get("b").map(String::as_str), Some("x y!"));
        assert_eq!(f.get("c").map(String::as_str), Some(""));
        assert_eq!(non_empty(&mut f, "a"), None);
        assert_eq!(non_empty(&mut f, "b").as_deref(), Some("x y!"));
        assert_eq!(non_empty(&mut f, "missing"), None);
        assert!(parse_form(b"").unwrap().is_empty());
    }
}
