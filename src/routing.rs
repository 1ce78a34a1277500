//! Domain-based reader routing: the domain a reader types on the login page

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
/// use kb_sso::normalize_domain;
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
    // Percent-escapes are decoded by the host parser; a typed domain has
    // no business carrying them (`%2A` would smuggle in a wildcard).
    if host.contains('%') {
        return Err(DomainInputError::Invalid);
    }
    let domain = match url::Host::parse(host).map_err(|_| DomainInputError::Invalid)? {
        url::Host::Domain(d) => d,
        url::Host::Ipv4(ip) => return Ok(ip.to_string()),
        url::Host::Ipv6(_) => return Err(DomainInputError::Invalid),
    };
    // What comes out is a DNS name: letters, digits, hyphens, underscores
    // and dots; at most 253 bytes, labels of 1 to 63.
    let ok_chars = domain
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_' || b == b'.');
    let ok_labels = domain.split('.').all(|l| !l.is_empty() && l.len() <= 63);
    if !ok_chars || !ok_labels || domain.len() > 253 {
        return Err(DomainInputError::Invalid);
    }
    Ok(domain)
}

/// Domain-based reader routing: the domain a reader types on the login page
/// picks the JWT configuration to sign in with.
///
/// Input is normalised ([`normalize_domain`]): surrounding whitespace
/// trimmed, lower-cased, one trailing dot removed, IDNA-mapped to ASCII; an
/// email address routes by its domain and a pasted URL by its host. The most
/// specific configured domain wins: the longest one that equals the input or
/// is a parent of it on a label boundary (`support.example.com` beats
/// `example.com` for `eu.support.example.com`; `badexample.com` matches
/// neither). If that most specific match is inactive the reader gets the
/// default login options — there is no fall-back to a parent.
///
/// A lookup walks the input's labels, one hash lookup per label: its cost
/// does not grow with the number of configurations. [`MultiProjectRouter`]
/// does the same for many projects in one map keyed by (project, domain).
///
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
        walk_labels(domain, domain.len(), |candidate| self.by_domain.get(candidate))
    }
}

/// The label walk shared by the routers: `key` is a domain (its first
/// `domain_len` bytes) followed by a fixed suffix. Looks up `key`, then the
/// key of each parent domain on a label boundary (a suffix of `key`), and
/// answers the first hit. One hash lookup per label, no allocation.
fn walk_labels<'m>(key: &str, domain_len: usize, get: impl Fn(&str) -> Option<&'m (ClientId, bool)>) -> Route {
    let domain = key.get(..domain_len).unwrap_or("");
    let mut start = 0;
    loop {
        if let Some((id, active)) = key.get(start..).and_then(&get) {
            return if *active {
                Route::Config(id.clone())
            } else {
                Route::DefaultOptions
            };
        }
        match domain.get(start..).and_then(|d| d.split_once('.')) {
            Some((label, parent)) if !parent.is_empty() => start += label.len() + 1,
            _ => return Route::DefaultOptions,
        }
    }
}

/// The separator between a domain and its project id in
/// [`MultiProjectRouter`] keys: it never occurs in a normalised domain.
const PROJECT_SEPARATOR: char = '\0';

/// Routes typed domains for many projects at once: one map keyed by
/// (project id, domain), with the same rules as [`DomainRouter`] (most
/// specific domain wins, an inactive match gives the default options, no
/// fall-back to a parent).
///
/// A lookup walks the input's labels, one hash lookup per label, whatever
/// the number of projects or configurations.
///
/// ```
/// use kb_sso::{MultiProjectRouter, Route};
/// use kb_sso::ClientId;
/// let mut router = MultiProjectRouter::new();
/// let id = ClientId::generate();
/// router.insert("project-1", "example.com", id.clone(), true).unwrap();
/// assert_eq!(router.route("project-1", "alice@support.example.com"), Route::Config(id));
/// assert_eq!(router.route("project-2", "example.com"), Route::DefaultOptions);
/// ```
#[derive(Debug, Clone, Default)]
pub struct MultiProjectRouter {
    /// `domain` + NUL + `project id`: a parent domain's key is a suffix of
    /// its child's, so the walk slices one string.
    by_key: HashMap<Box<str>, (ClientId, bool)>,
}

impl MultiProjectRouter {
    /// An empty router.
    pub fn new() -> Self {
        Self::default()
    }

    /// Routes `domain` (normalised with [`normalize_domain`]) in `project`
    /// to `client_id`; an inactive entry still captures its domain.
    /// Replaces an earlier entry for the same project and domain.
    ///
    /// # Errors
    /// [`DomainInputError`] when `domain` is not a domain name.
    pub fn insert(
        &mut self,
        project: &str,
        domain: &str,
        client_id: ClientId,
        active: bool,
    ) -> Result<(), DomainInputError> {
        let domain = normalize_domain(domain)?;
        self.by_key.insert(
            format!("{domain}{PROJECT_SEPARATOR}{project}").into_boxed_str(),
            (client_id, active),
        );
        Ok(())
    }

    /// Adds every configuration of `project`, as [`DomainRouter::new`] does.
    pub fn insert_configs<'a>(&mut self, project: &str, configs: impl IntoIterator<Item = &'a JwtConfig>) {
        for c in configs {
            let key = format!("{}{PROJECT_SEPARATOR}{project}", c.domain().to_ascii_lowercase());
            self.by_key
                .insert(key.into_boxed_str(), (c.client_id().clone(), c.is_enabled()));
        }
    }

    /// Removes every domain of `project` (one pass over the map).
    pub fn remove_project(&mut self, project: &str) {
        let tail = format!("{PROJECT_SEPARATOR}{project}");
        self.by_key
            .retain(|k, _| !k.ends_with(&tail) || k[..k.len() - tail.len()].contains(PROJECT_SEPARATOR));
    }

    /// Number of (project, domain) entries.
    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    /// Whether the router holds nothing.
    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    /// Where `input` leads in `project`. Input that is not a domain gets
    /// the default options.
    pub fn route(&self, project: &str, input: &str) -> Route {
        match normalize_domain(input) {
            Ok(domain) => self.route_normalized(project, &domain),
            Err(_) => Route::DefaultOptions,
        }
    }

    /// Where an already normalised domain leads in `project`.
    pub fn route_normalized(&self, project: &str, domain: &str) -> Route {
        if domain.contains(PROJECT_SEPARATOR) {
            return Route::DefaultOptions;
        }
        let key = format!("{domain}{PROJECT_SEPARATOR}{project}");
        walk_labels(&key, domain.len(), |candidate| self.by_key.get(candidate))
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
    fn the_multi_project_router_keeps_projects_apart_and_follows_the_same_rules() {
        let parent = config("example.com", true);
        let support = config("support.example.com", false);
        let other = config("example.com", true);
        let mut router = MultiProjectRouter::new();
        router.insert_configs("p1", [&parent, &support]);
        router.insert_configs("p2", [&other]);
        assert_eq!(router.len(), 3);
        assert_eq!(
            router.route("p1", "www.example.com"),
            Route::Config(parent.client_id().clone())
        );
        assert_eq!(router.route("p1", "eu.support.example.com"), Route::DefaultOptions);
        assert_eq!(
            router.route("p2", "eu.support.example.com"),
            Route::Config(other.client_id().clone())
        );
        assert_eq!(router.route("p3", "example.com"), Route::DefaultOptions);
        assert_eq!(router.route("p1", "badexample.com"), Route::DefaultOptions);
        assert_eq!(router.route("p1", "com"), Route::DefaultOptions);
        // A project id that looks like a domain suffix does not leak across.
        assert_eq!(router.route("", "example.com"), Route::DefaultOptions);
        router.remove_project("p1");
        assert_eq!(router.route("p1", "www.example.com"), Route::DefaultOptions);
        assert_eq!(router.len(), 1);
        assert!(
            router
                .insert("p1", "*.example.com", ClientId::generate(), true)
                .is_err()
        );
    }

    proptest::proptest! {
        #[test]
        fn both_routers_agree(
            domains in proptest::collection::vec("[a-c]{1,2}(\\.[a-c]{1,2}){0,2}", 1..6),
            enabled in proptest::collection::vec(proptest::bool::ANY, 6),
            input in "([a-c]{1,2}\\.){0,3}[a-c]{1,2}",
        ) {
            let configs: Vec<JwtConfig> = domains.iter().zip(&enabled).map(|(d, e)| config(d, *e)).collect();
            let single = DomainRouter::new(&configs);
            let mut multi = MultiProjectRouter::new();
            multi.insert_configs("p", &configs);
            multi.insert_configs("q", [&config(&input, true)]);
            proptest::prop_assert_eq!(single.route(&input), multi.route("p", &input));
        }
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
