//! The admin API's JSON input: parsing with the failing field named, and
//! the refusals the endpoints answer with.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use http::HeaderMap;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};

use super::super::wire;
use crate::config::{ConfigError, JwtConfig, JwtConfigBuilder, Logo};
use crate::handshake::HandshakeOptions;
use crate::project::{SsoProvider, Visibility};

/// Why a request is refused, before or by the service.
#[derive(Debug)]
pub(super) enum Refusal {
    /// 400 `invalid_request` about `field`.
    Field { field: String, description: String },
    /// 400 `invalid_request` naming the field of a rule.
    Config(ConfigError),
    /// 400 `invalid_request`: the body is not usable JSON.
    Malformed(String),
    /// 415: the body is declared as something else than JSON.
    NotJson,
    /// 400 `confirmation_required`.
    ConfirmationRequired,
    /// 403: the administrator lacks the role.
    Forbidden,
    /// 404.
    NotFound,
    /// 409.
    Conflict,
    /// 503: the change stands but its notifications were not queued.
    NotNotified,
    /// 503: a store, the audit sink or the notifier failed.
    Unavailable,
}

impl Refusal {
    pub(super) fn field(field: &str, description: impl Into<String>) -> Self {
        let description = description.into();
        Self::Field {
            field: field.to_owned(),
            description: format!("{field}: {description}"),
        }
    }
}

/// The longest field name repeated in an error description.
const MAX_NAME_ECHO: usize = 64;

/// Parses a JSON body into `T`, refusing unknown fields (every input type
/// denies them) and naming the field at fault. The description never
/// repeats a value sent (it could be a secret pasted in the wrong place),
/// only field names and what was expected.
pub(super) fn parse_json<T: DeserializeOwned>(headers: &HeaderMap, body: &[u8]) -> Result<T, Refusal> {
    if !wire::is_json(headers) {
        return Err(Refusal::NotJson);
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| describe(&e))?;
    de.end()
        .map_err(|_| Refusal::Malformed("the body has data after the JSON value".into()))?;
    Ok(value)
}

/// A refusal for a deserialization error, naming its field.
fn describe(e: &serde_path_to_error::Error<serde_json::Error>) -> Refusal {
    let inner = e.inner();
    let path = e.path().to_string();
    let path = (path != ".").then_some(path);
    match inner.classify() {
        serde_json::error::Category::Syntax | serde_json::error::Category::Eof | serde_json::error::Category::Io => {
            Refusal::Malformed(format!(
                "the body is not valid JSON (line {}, column {})",
                inner.line(),
                inner.column()
            ))
        }
        serde_json::error::Category::Data => {
            let message = inner.to_string();
            // serde's own messages name the field for these two.
            for kind in ["unknown field `", "missing field `"] {
                if let Some(rest) = message.strip_prefix(kind)
                    && let Some((name, _)) = rest.split_once('`')
                {
                    let name: String = name.chars().take(MAX_NAME_ECHO).collect();
                    let unknown = kind.starts_with("unknown");
                    // The path of an unknown field ends with it already; a
                    // missing one's is its parent's.
                    let at = match &path {
                        Some(p) if unknown || p.ends_with(&format!(".{name}")) => p.clone(),
                        Some(p) => format!("{p}.{name}"),
                        None => name,
                    };
                    let at: String = at.chars().take(4 * MAX_NAME_ECHO).collect();
                    let what = if unknown { "unknown field" } else { "missing field" };
                    return Refusal::field(&at, what);
                }
            }
            // Other messages may quote the value sent: keep only what was
            // expected.
            let expected = message
                .split(" at line ")
                .next()
                .and_then(|m| m.rsplit_once(", expected "))
                .map(|(_, exp)| exp.to_owned());
            let description = match expected {
                Some(exp) => format!("invalid value, expected {exp}"),
                None => "invalid value".to_owned(),
            };
            match path {
                Some(p) => Refusal::field(&p, description),
                None => Refusal::Malformed(format!("the body is not valid: {description}")),
            }
        }
    }
}

/// Refuses a non-empty body (routes that take none).
pub(super) fn no_body(body: &[u8]) -> Result<(), Refusal> {
    if body.iter().all(u8::is_ascii_whitespace) {
        Ok(())
    } else {
        Err(Refusal::Malformed("this route takes no body".into()))
    }
}

/// Accepts an empty body or an empty JSON object (routes without fields).
pub(super) fn empty_object(headers: &HeaderMap, body: &[u8]) -> Result<(), Refusal> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(());
    }
    let NoFields {} = parse_json(headers, body)?;
    Ok(())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NoFields {}

/// `Some(value)` for a field present (`Some(None)` when it is `null`),
/// `None` (by `default`) when absent.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// The fields of a JWT configuration, as created (`POST /jwt-configs`,
/// `name` and `login_url` required) or updated (`PATCH`, only the fields
/// given change; `null` clears `logout_url`, `login_button_text` and
/// `login_button_logo`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ConfigInput {
    #[serde(default, deserialize_with = "present")]
    name: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    login_url: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    logout_url: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    enabled: Option<Option<bool>>,
    #[serde(default, deserialize_with = "present")]
    show_login_button: Option<Option<bool>>,
    #[serde(default, deserialize_with = "present")]
    login_button_text: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    login_button_logo: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    cta_position: Option<Option<u32>>,
    #[serde(default, deserialize_with = "present")]
    require_login_binding: Option<Option<bool>>,
    /// How the configuration takes handshake tokens: `null` stops it.
    #[serde(default, deserialize_with = "present")]
    handshake: Option<Option<HandshakeOptions>>,
}

/// An SSO provider as `POST /sso-providers` and `PUT /sso-providers/{name}`
/// take it.
pub(super) type SsoInput = SsoProvider;

/// A field that may be absent but not `null`.
fn not_null<T>(field: &str, value: Option<Option<T>>) -> Result<Option<T>, Refusal> {
    match value {
        Some(None) => Err(Refusal::field(field, "may not be null")),
        Some(Some(v)) => Ok(Some(v)),
        None => Ok(None),
    }
}

impl ConfigInput {
    /// Takes out the handshake field: `None` when absent, `Some(None)` to
    /// stop taking handshake tokens.
    pub(super) fn take_handshake(&mut self) -> Option<Option<HandshakeOptions>> {
        self.handshake.take()
    }

    /// Whether any field of the configuration itself (not its handshake)
    /// was given.
    pub(super) fn changes_config(&self) -> bool {
        self.name.is_some()
            || self.login_url.is_some()
            || self.logout_url.is_some()
            || self.enabled.is_some()
            || self.show_login_button.is_some()
            || self.login_button_text.is_some()
            || self.login_button_logo.is_some()
            || self.cta_position.is_some()
            || self.require_login_binding.is_some()
    }

    /// The builder of a new configuration.
    pub(super) fn into_new_builder(mut self) -> Result<JwtConfigBuilder, Refusal> {
        let name = not_null("name", self.name.take())?.ok_or_else(|| Refusal::field("name", "missing field"))?;
        let login_url = not_null("login_url", self.login_url.take())?
            .ok_or_else(|| Refusal::field("login_url", "missing field"))?;
        self.apply_to(JwtConfig::builder(name, login_url))
    }

    /// `builder` with the fields given changed.
    pub(super) fn apply_to(self, mut b: JwtConfigBuilder) -> Result<JwtConfigBuilder, Refusal> {
        if let Some(name) = not_null("name", self.name)? {
            b = b.name(name);
        }
        if let Some(url) = not_null("login_url", self.login_url)? {
            b = b.login_url(url);
        }
        match self.logout_url {
            Some(Some(url)) => b = b.logout_url(url),
            Some(None) => b = b.no_logout_url(),
            None => {}
        }
        if let Some(on) = not_null("enabled", self.enabled)? {
            b = b.enabled(on);
        }
        if let Some(on) = not_null("show_login_button", self.show_login_button)? {
            b = b.show_login_button(on);
        }
        if let Some(text) = self.login_button_text {
            b = b.login_button_text(text.unwrap_or_default());
        }
        match self.login_button_logo {
            Some(Some(text)) => b = b.login_button_logo(Some(decode_logo(&text)?)),
            Some(None) => b = b.login_button_logo(None),
            None => {}
        }
        if let Some(n) = not_null("cta_position", self.cta_position)? {
            b = b.cta_position(n);
        }
        if let Some(on) = not_null("require_login_binding", self.require_login_binding)? {
            b = b.require_login_binding(on);
        }
        Ok(b)
    }
}

/// A logo sent as a `data:` URL (`data:image/png;base64,...`) or as plain
/// base64; [`Logo::new`] decides its type (by content) and size.
fn decode_logo(text: &str) -> Result<Logo, Refusal> {
    let field = "login_button_logo";
    let data = match text.strip_prefix("data:") {
        Some(rest) => {
            let (meta, data) = rest
                .split_once(',')
                .ok_or_else(|| Refusal::field(field, "a data: URL needs a comma before its data"))?;
            if !meta.to_ascii_lowercase().ends_with(";base64") {
                return Err(Refusal::field(field, "a data: URL must be base64 (;base64,)"));
            }
            data
        }
        None => text,
    };
    let data = data.trim();
    let bytes = STANDARD
        .decode(data)
        .or_else(|_| STANDARD_NO_PAD.decode(data))
        .map_err(|_| Refusal::field(field, "not valid base64"))?;
    Logo::new(bytes).map_err(Refusal::Config)
}

/// `PUT /settings`: the toggles to set, and the confirmation a change of
/// Direct JWT login needs. A field may be absent but not `null`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SettingsInput {
    #[serde(default, deserialize_with = "present")]
    direct_jwt_login: Option<Option<bool>>,
    #[serde(default, deserialize_with = "present")]
    disable_default_login_page: Option<Option<bool>>,
    #[serde(default, deserialize_with = "present")]
    confirm: Option<Option<bool>>,
    #[serde(default, deserialize_with = "present")]
    visibility: Option<Option<Visibility>>,
    #[serde(default, deserialize_with = "present")]
    public_paths: Option<Option<Vec<String>>>,
    #[serde(default, deserialize_with = "present")]
    home_published: Option<Option<bool>>,
}

/// The checked form of a [`SettingsInput`].
pub(super) struct Settings {
    pub(super) direct_jwt_login: Option<bool>,
    pub(super) disable_default_login_page: Option<bool>,
    pub(super) confirm: bool,
    pub(super) visibility: Option<Visibility>,
    pub(super) public_paths: Option<Vec<String>>,
    pub(super) home_published: Option<bool>,
}

impl SettingsInput {
    /// The values given, with `null` refused.
    pub(super) fn check(self) -> Result<Settings, Refusal> {
        Ok(Settings {
            direct_jwt_login: not_null("direct_jwt_login", self.direct_jwt_login)?,
            disable_default_login_page: not_null("disable_default_login_page", self.disable_default_login_page)?,
            confirm: not_null("confirm", self.confirm)?.unwrap_or(false),
            visibility: not_null("visibility", self.visibility)?,
            public_paths: not_null("public_paths", self.public_paths)?,
            home_published: not_null("home_published", self.home_published)?,
        })
    }
}
