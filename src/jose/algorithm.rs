//! The signature algorithms, each pinned to its keys.

use std::fmt;

/// A signature algorithm. Each key has exactly one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Algorithm {
    /// Ed25519 signatures (RFC 8037). Header name `EdDSA`; `Ed25519`
    /// (RFC 9864) is accepted as the same algorithm.
    EdDSA,
    /// HMAC with SHA-256 over a shared secret.
    HS256,
}

impl Algorithm {
    /// The JOSE name written in the headers of tokens signed here.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::EdDSA => "EdDSA",
            Self::HS256 => "HS256",
        }
    }

    /// Reads a header's `alg`: the algorithm and the name as written.
    pub(super) fn from_header_name(name: &str) -> Option<(Self, &'static str)> {
        match name {
            "EdDSA" => Some((Self::EdDSA, "EdDSA")),
            "Ed25519" => Some((Self::EdDSA, "Ed25519")),
            "HS256" => Some((Self::HS256, "HS256")),
            _ => None,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(Algorithm::EdDSA.to_string(), "EdDSA");
        assert_eq!(Algorithm::HS256.to_string(), "HS256");
        assert_eq!(
            Algorithm::from_header_name("Ed25519"),
            Some((Algorithm::EdDSA, "Ed25519"))
        );
        assert_eq!(Algorithm::from_header_name("eddsa"), None);
        assert_eq!(Algorithm::from_header_name("none"), None);
    }
}
