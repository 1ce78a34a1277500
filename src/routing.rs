//! Domain-based reader routing: the domain a reader types on the login page
//! picks the JWT configuration to sign in with.
//!
//! Input is normalised ([`normalize_domain`]): surrounding whitespace
//! trimmed, lower-cased, one trailing dot removed, IDNA-mapped to ASCII; an
//! email address routes by its domain and a pasted URL by its host. The most
//! specific configured domain wins: the longest one that equals the input or
//! is a parent of it on a label boundary (`support.example.com` beats
//! `example.com` for `eu.support.example.com`; `badexample.com` matches
//! neither). If that most specific match is inactive the reader gets the
//! default login options — there is no fall-back to a parent.
//!
//! A lookup walks the input's labels, one hash lookup per label: its cost
//! does not grow with the number of configurations.

use std::collections::HashMap;

use crate::config::JwtConfig;
use crate::secret::ClientId;

/// The longest domain input accepted, in bytes.
pub const MAX_DOMAIN_INPUT: usize = 320;

/// Where a typed domain leads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// To this configuration's login URL.
    Config(ClientId),
    /// To the default login options (no match, or the match is inactive).
    DefaultOptions,
}

/// Why a domain input cannot be routed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DomainInputError {
    /// Nothing was typed.
    #[error("no domain was given")]
    Empty,
    /// The input is too long.
    #[error("the domain is too long")]
    TooLong,
    /// The input is not a domain name.
    #[error("this is not a domain name")]
    Invalid,
}

/// Normalises what a reader typed into the ASCII domain to route by.
///
/// ```
/// use kb_sso::routing::normalize_domain;
/// assert_eq!(normalize_domain("  Support.Example.COM. ").unwrap(), "support.example.com");
/// assert_eq!(normalize_domain("alice@Support.example.com").unwrap(), "support.example.com");
/// assert_eq!(normalize_domain("https://support.example.com/login?x=1").unwrap(), "support.example.com");
/// assert_eq!(normalize_domain("bücher.example").unwrap(), "xn--bcher-kva.example");
/// ```
///
/// # Errors
/// [`DomainInputError`] for empty, overlong or non-domain input.
pub fn normalize_domain(input: &str) -> Result<String, DomainInputError> {
    let input = input.trim();
    if input.is_empty() {
        return Err(DomainInputError::Empty);
    }
    if input.len() > MAX_DOMAIN_INPUT {
        return Err(DomainInputError::TooLong);
    }
    let host = if input.contains("://") {
        let url = url::Url::parse(input).map_err(|_| DomainInputError::Invalid)?;
        url.host_str().ok_or(DomainInputError::Invalid)?.to_owned()
    } else {
        // An email address routes by its domain.
        input.rsplit_once('@').map_or(input, |(_, d)| d).to_owned()
    };
    let host = host.strip_suffix('.').unwrap_or(&host);
    if host.is_empty() || host.contains(['*', '/', '\\', '@', ':', ' ']) || host.chars().any(char::is_whitespace) {
        return Err(DomainInputError::Invalid);
    }
    // The URL parser's host rules: UTS 46 mapping to lower-case ASCII.
    match url::Host::parse(host).map_err(|_| DomainInputError::Invalid)? {
        url::Host::Domain(d) if !d.is_empty() && !d.ends_with('.') && !d.starts_with('.') && !d.contains("..") => Ok(d),
        url::Host::Ipv4(ip) => Ok(ip.to_string()),
        _ => Err(DomainInputError::Invalid),
    }
}

/// Routes typed domains to a project's JWT configurations.
#[derive(Debug, Clone, Default)]
pub struct DomainRouter {
    by_domain: HashMap<String, (ClientId, bool)>,
}

impl DomainRouter {
    /// A router over `configs` (all of them: inactive ones still capture
    /// their domain, sending readers to the default options).
    pub fn new<'a>(configs: impl IntoIterator<Item = &'a JwtConfig>) -> Self {
        let by_domain = configs
            .into_iter()
            .map(|c| (c.domain().to_ascii_lowercase(), (c.client_id().clone(), c.is_enabled())))
            .collect();
        Self { by_domain }
    }

    /// Where `input` leads. Input that is not a domain gets the default
    /// options.
    pub fn route(&self, input: &str) -> Route {
        match normalize_domain(input) {
            Ok(domain) => self.route_normalized(&domain),
            Err(_) => Route::DefaultOptions,
        }
    }

    /// Where an already normalised domain leads: the longest configured
    /// domain equal to it or a parent of it on a label boundary.
    pub fn route_normalized(&self, domain: &str) -> Route {
        let mut candidate = domain;
        loop {
            if let Some((id, active)) = self.by_domain.get(candidate) {
                return if *active {
                    Route::Config(id.clone())
                } else {
                    Route::DefaultOptions
                };
            }
            match candidate.split_once('.') {
                Some((_, parent)) if !parent.is_empty() => candidate = parent,
                _ => return Route::DefaultOptions,
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn config(host: &str, enabled: bool) -> JwtConfig {
        JwtConfig::builder(host, format!("https://{host}/login"))
            .enabled(enabled)
            .build()
            .unwrap()
            .0
    }

    #[test]
    fn the_most_specific_domain_wins() {
        let parent = config("example.com", true);
        let support = config("support.example.com", true);
        let router = DomainRouter::new([&parent, &support]);
        for input in [
            "Support.Example.COM.",
            "alice@support.example.com",
            "eu.support.example.com",
            " support.example.com ",
            "https://support.example.com/x",
        ] {
            assert_eq!(
                router.route(input),
                Route::Config(support.client_id().clone()),
                "{input}"
            );
        }
        assert_eq!(router.route("example.com"), Route::Config(parent.client_id().clone()));
        assert_eq!(
            router.route("www.example.com"),
            Route::Config(parent.client_id().clone())
        );
        assert_eq!(router.route("badexample.com"), Route::DefaultOptions);
        assert_eq!(router.route("example.com.evil.net"), Route::DefaultOptions);
        assert_eq!(router.route("com"), Route::DefaultOptions);
    }

    #[test]
    fn an_inactive_most_specific_match_gives_the_default_options_not_the_parent() {
        let parent = config("example.com", true);
        let support = config("support.example.com", false);
        let router = DomainRouter::new([&parent, &support]);
        assert_eq!(router.route("support.example.com"), Route::DefaultOptions);
        assert_eq!(router.route("eu.support.example.com"), Route::DefaultOptions);
        assert_eq!(router.route("example.com"), Route::Config(parent.client_id().clone()));
    }

    #[test]
    fn junk_input_gets_the_default_options() {
        let router = DomainRouter::new([&config("example.com", true)]);
        for input in [
            "",
            "   ",
            "*.example.com",
            "exa mple.com",
            "a..example.com",
            ".example.com",
            "@",
            "x@",
            "http://",
            &"a".repeat(400),
        ] {
            assert_eq!(router.route(input), Route::DefaultOptions, "{input:?}");
        }
        assert_eq!(normalize_domain(""), Err(DomainInputError::Empty));
        assert_eq!(normalize_domain(&"a".repeat(400)), Err(DomainInputError::TooLong));
    }

    #[test]
    fn idna_input_matches_its_ascii_form() {
        let c = config("bücher.example", true);
        let router = DomainRouter::new([&c]);
        assert_eq!(router.route("BÜCHER.example"), Route::Config(c.client_id().clone()));
        assert_eq!(
            router.route("xn--bcher-kva.example"),
            Route::Config(c.client_id().clone())
        );
    }
}
