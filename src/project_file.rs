//! Project files: a whole project as one JSON file, secrets in clear, for
//! development, demos and tests (feature `dev-files`).
//!
//! The reference server loads one with `--project FILE`; a file that breaks
//! a rule is refused with a [`ProjectFileError`] naming the field path and
//! carrying the typed cause. A production host keeps secrets only as
//! digests, in its own database, behind
//! [`ConfigStore`](crate::project::ConfigStore).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::config::{ConfigError, JwtConfig};
use crate::handshake::{HandshakeKey, HandshakeSettings, HandshakeSetupError, HandshakeVerifier, SessionMode};
use crate::project::{Project, ProjectSettings, SsoProvider, check_provider, check_rules};
use crate::secret::{ClientId, ClientSecret, InvalidClientId, MalformedSecret};
use crate::widget::{WidgetProject, WidgetSetupError};

fn yes() -> bool {
    true
}

/// A project as a JSON file, with secrets in clear: for development and
/// demos (a production host keeps secrets only as digests, in its own
/// database, behind [`ConfigStore`](crate::project::ConfigStore)).
///
/// ```json
/// {"kb_url": "https://kb.example.com",
///  "settings": {"direct_jwt_login": true, "disable_default_login_page": false},
///  "jwt": [{"name": "Portal", "client_id": "…", "login_url": "https://app.example.com/login",
///           "logout_url": null, "primary_secret": "…43 chars…", "secondary_secret": "…",
///           "enabled": true, "show_login_button": false, "login_button_text": null, "cta_position": 0}],
///  "sso": [{"name": "Okta", "kind": "saml", "enabled": true, "cta_position": 0}]}
/// ```
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectFile {
    /// The KB's base URL (optional; a server may default it).
    #[serde(default)]
    pub kb_url: Option<String>,
    /// The toggles.
    #[serde(default)]
    pub settings: ProjectSettings,
    /// The JWT configurations.
    #[serde(default)]
    pub jwt: Vec<JwtConfigFile>,
    /// The SSO providers.
    #[serde(default)]
    pub sso: Vec<SsoProvider>,
    /// The project's widgets, if they take JWT.
    #[serde(default)]
    pub widget: Option<WidgetFile>,
}

/// The widget settings in a [`ProjectFile`]: the project id (the widget
/// token requests' client id), the shared widget client secret and the
/// JWT-enabled widget ids.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WidgetFile {
    /// The project id.
    pub client_id: String,
    /// The widget client secret, 43 base64url characters.
    pub client_secret: String,
    /// The widgets that take JWT.
    #[serde(default)]
    pub widget_ids: Vec<String>,
}

impl fmt::Debug for WidgetFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WidgetFile")
            .field("client_id", &self.client_id)
            .field("widget_ids", &self.widget_ids)
            .finish_non_exhaustive()
    }
}

/// One JWT configuration in a [`ProjectFile`].
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtConfigFile {
    /// Name.
    pub name: String,
    /// Client id (a UUID).
    pub client_id: String,
    /// Login URL.
    pub login_url: String,
    /// Logout URL.
    #[serde(default)]
    pub logout_url: Option<String>,
    /// Primary secret, 43 base64url characters.
    pub primary_secret: String,
    /// Secondary secret, 43 base64url characters.
    pub secondary_secret: String,
    /// Enabled (default true).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Login button shown (default false).
    #[serde(default)]
    pub show_login_button: bool,
    /// Login button text.
    #[serde(default)]
    pub login_button_text: Option<String>,
    /// Place on the login page.
    #[serde(default)]
    pub cta_position: u32,
    /// Require login binding (default false).
    #[serde(default)]
    pub require_login_binding: bool,
    /// Read-only: set up before the current model, kept working but not
    /// editable (default false).
    #[serde(default)]
    pub read_only: bool,
    /// Handshake tokens signed by the customer app, if this configuration
    /// takes them.
    #[serde(default)]
    pub handshake: Option<HandshakeFile>,
}

/// A configuration's handshake token settings in a [`ProjectFile`].
///
/// `{"alg": "EdDSA", "public_key_pem": "...", "issuer": null, "audience": null,
/// "session_mode": "fixed", "session_duration_minutes": null, "max_age_seconds": null,
/// "require_jti": false}`, or
/// `{"alg": "HS256", ...}` which uses the configuration's primary and
/// secondary secrets as HMAC keys.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HandshakeFile {
    /// `EdDSA` (or `Ed25519`) or `HS256`.
    pub alg: String,
    /// The customer's Ed25519 public key (SPKI PEM), for `EdDSA`.
    #[serde(default)]
    pub public_key_pem: Option<String>,
    /// Expected `iss`.
    #[serde(default)]
    pub issuer: Option<String>,
    /// Expected `aud`.
    #[serde(default)]
    pub audience: Option<String>,
    /// `fixed` (default: sessions last the session duration) or `token`
    /// (sessions bound to their token, DESIGN 3.19).
    #[serde(default)]
    pub session_mode: SessionMode,
    /// How long the sessions opened last (default 14 days).
    #[serde(default)]
    pub session_duration_minutes: Option<i64>,
    /// The largest `exp - iat` accepted.
    #[serde(default)]
    pub max_age_seconds: Option<i64>,
    /// Every token must carry a `jti`, accepted once (default false: a
    /// `jti` is optional, and accepted once when present).
    #[serde(default)]
    pub require_jti: bool,
}

impl fmt::Debug for JwtConfigFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtConfigFile")
            .field("name", &self.name)
            .field("client_id", &self.client_id)
            .field("login_url", &self.login_url)
            .finish_non_exhaustive()
    }
}

/// Why a project file is refused: the field path and its typed cause.
///
/// `Display` names the field and the problem (`jwt[2].login_url: the login
/// URL must be ...`); [`source`](std::error::Error::source) is the
/// [`ProjectFileProblem`].
#[derive(Debug, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct ProjectFileError {
    /// Where, e.g. `jwt[2].login_url` (or the JSON position, for a file
    /// that does not parse).
    pub field: String,
    /// What is wrong.
    #[source]
    pub problem: ProjectFileProblem,
}

/// What is wrong with a field of a project file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProjectFileProblem {
    /// The text is not JSON of the file's shape (unknown or mistyped
    /// fields included).
    #[error(transparent)]
    Json(serde_json::Error),
    /// A client id is not a UUID.
    #[error(transparent)]
    ClientId(InvalidClientId),
    /// A secret is not 43 base64url characters as generated.
    #[error(transparent)]
    Secret(MalformedSecret),
    /// A configuration or a project rule is broken.
    #[error(transparent)]
    Config(ConfigError),
    /// The widget settings are refused.
    #[error(transparent)]
    Widget(WidgetSetupError),
    /// The handshake settings are refused (a weak or malformed key
    /// included: [`HandshakeSetupError::Key`]).
    #[error(transparent)]
    Handshake(HandshakeSetupError),
    /// An `EdDSA` handshake has no `public_key_pem`.
    #[error("an EdDSA handshake needs the public key")]
    MissingPublicKey,
    /// The handshake `alg` is not `EdDSA`, `Ed25519` or `HS256`.
    #[error("the algorithm must be EdDSA (or Ed25519) or HS256")]
    UnknownAlgorithm,
    /// `max_age_seconds` is zero or negative.
    #[error("must be more than zero")]
    NotPositive,
}

impl ProjectFileError {
    fn new(field: impl Into<String>, problem: ProjectFileProblem) -> Self {
        Self {
            field: field.into(),
            problem,
        }
    }
}

impl ProjectFile {
    /// Parses a project file's text.
    ///
    /// # Errors
    /// [`ProjectFileError`] naming the field (or the JSON position).
    pub fn parse(text: &str) -> Result<Self, ProjectFileError> {
        serde_json::from_str(text).map_err(|e| {
            ProjectFileError::new(
                format!("line {} column {}", e.line(), e.column()),
                ProjectFileProblem::Json(e),
            )
        })
    }

    /// Checks every configuration and every project rule and builds the
    /// [`Project`].
    ///
    /// # Errors
    /// [`ProjectFileError`] naming the first field or rule that fails.
    pub fn into_project(self) -> Result<Project, ProjectFileError> {
        let handshakes = self.handshake_settings()?;
        let widget = self.widget_project()?;
        let err = ProjectFileError::new;
        use ProjectFileProblem as P;
        let mut jwt: Vec<JwtConfig> = Vec::with_capacity(self.jwt.len());
        for (i, c) in self.jwt.into_iter().enumerate() {
            let at = |f: &str| format!("jwt[{i}].{f}");
            let client_id = ClientId::parse(&c.client_id).map_err(|e| err(at("client_id"), P::ClientId(e)))?;
            let primary = ClientSecret::parse_generated(&c.primary_secret)
                .map_err(|e| err(at("primary_secret"), P::Secret(e)))?;
            let secondary = ClientSecret::parse_generated(&c.secondary_secret)
                .map_err(|e| err(at("secondary_secret"), P::Secret(e)))?;
            let mut builder = JwtConfig::builder(c.name, c.login_url)
                .client_id(client_id)
                .enabled(c.enabled)
                .show_login_button(c.show_login_button)
                .cta_position(c.cta_position)
                .require_login_binding(c.require_login_binding)
                .read_only(c.read_only);
            if let Some(u) = c.logout_url {
                builder = builder.logout_url(u);
            }
            if let Some(t) = c.login_button_text {
                builder = builder.login_button_text(t);
            }
            let config = builder
                .build_with_secrets(&primary, &secondary)
                .map_err(|e| err(at(e.field()), P::Config(e)))?;
            jwt.push(config);
            check_rules(&jwt).map_err(|e| err(format!("jwt[{i}]"), P::Config(e)))?;
        }
        for (i, p) in self.sso.iter().enumerate() {
            check_provider(p).map_err(|e| err(format!("sso[{i}].name"), P::Config(e)))?;
        }
        let mut project =
            Project::new(self.settings, jwt, self.sso).map_err(|e| err("project".to_owned(), P::Config(e)))?;
        for (i, id, settings) in handshakes {
            project = project
                .with_handshake(&id, settings)
                .map_err(|e| err(format!("jwt[{i}].handshake"), P::Config(e)))?;
        }
        if let Some(w) = widget {
            project = project.with_widget(w);
        }
        Ok(project)
    }
}

impl ProjectFile {
    /// The widget settings, checked.
    ///
    /// # Errors
    /// [`ProjectFileError`] naming the field that fails.
    pub fn widget_project(&self) -> Result<Option<WidgetProject>, ProjectFileError> {
        let Some(w) = &self.widget else { return Ok(None) };
        let secret = ClientSecret::parse_generated(&w.client_secret)
            .map_err(|e| ProjectFileError::new("widget.client_secret", ProjectFileProblem::Secret(e)))?;
        WidgetProject::builder(w.client_id.clone())
            .widgets(w.widget_ids.iter().cloned())
            .build_with_secret(&secret)
            .map(Some)
            .map_err(|e| ProjectFileError::new("widget.widget_ids", ProjectFileProblem::Widget(e)))
    }

    /// The handshake token settings of the file's configurations, checked:
    /// a weak or malformed public key, an unknown algorithm or an HMAC
    /// secret under 32 bytes is refused, naming the field.
    ///
    /// # Errors
    /// [`ProjectFileError`] naming the first field that fails.
    pub fn handshakes(&self) -> Result<HandshakeVerifier, ProjectFileError> {
        let mut verifier = HandshakeVerifier::new();
        for (i, id, settings) in self.handshake_settings()? {
            verifier
                .insert(id, settings)
                .map_err(|e| ProjectFileError::new(format!("jwt[{i}].handshake"), ProjectFileProblem::Handshake(e)))?;
        }
        Ok(verifier)
    }

    /// Each configuration's handshake settings, with its index.
    fn handshake_settings(&self) -> Result<Vec<(usize, ClientId, HandshakeSettings)>, ProjectFileError> {
        use ProjectFileProblem as P;
        let mut out = Vec::new();
        for (i, c) in self.jwt.iter().enumerate() {
            let Some(h) = &c.handshake else { continue };
            let at = |f: &str| format!("jwt[{i}].handshake.{f}");
            let err = ProjectFileError::new;
            let key = match h.alg.as_str() {
                "EdDSA" | "Ed25519" => {
                    let pem = h
                        .public_key_pem
                        .as_deref()
                        .ok_or_else(|| err(at("public_key_pem"), P::MissingPublicKey))?;
                    HandshakeKey::ed25519_from_spki_pem(pem)
                        .map_err(|e| err(at("public_key_pem"), P::Handshake(e.into())))?
                }
                "HS256" => {
                    let primary = ClientSecret::new(c.primary_secret.clone());
                    let secondary = ClientSecret::new(c.secondary_secret.clone());
                    HandshakeKey::hs256(&primary, Some(&secondary))
                        .map_err(|e| err(format!("jwt[{i}].primary_secret"), P::Handshake(e.into())))?
                }
                _ => return Err(err(at("alg"), P::UnknownAlgorithm)),
            };
            let mut b = HandshakeSettings::builder(key)
                .enabled(c.enabled)
                .session_mode(h.session_mode)
                .require_jti(h.require_jti);
            if let Some(iss) = &h.issuer {
                b = b.issuer(iss.clone());
            }
            if let Some(aud) = &h.audience {
                b = b.audience(aud.clone());
            }
            if let Some(m) = h.session_duration_minutes {
                b = b.session_duration(time::Duration::minutes(m));
            }
            if let Some(a) = h.max_age_seconds {
                if a <= 0 {
                    return Err(err(at("max_age_seconds"), P::NotPositive));
                }
                b = b.max_token_age(time::Duration::seconds(a));
            }
            let settings = b
                .build()
                .map_err(|e| err(format!("jwt[{i}].handshake"), P::Handshake(e)))?;
            let id = ClientId::parse(&c.client_id).map_err(|e| err(format!("jwt[{i}].client_id"), P::ClientId(e)))?;
            out.push((i, id, settings));
        }
        Ok(out)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn file_config(i: usize, host: &str) -> String {
        let id = ClientId::generate();
        let p = ClientSecret::generate();
        let s = ClientSecret::generate();
        format!(
            r#"{{"name":"c{i}","client_id":"{id}","login_url":"https://{host}/login","primary_secret":"{}","secondary_secret":"{}"}}"#,
            p.expose(),
            s.expose()
        )
    }

    #[test]
    fn project_files_name_the_field_that_breaks_a_rule() {
        let ok = format!(r#"{{"jwt":[{}]}}"#, file_config(0, "a.example.com"));
        assert_eq!(
            ProjectFile::parse(&ok)
                .unwrap()
                .into_project()
                .unwrap()
                .jwt_configs()
                .len(),
            1
        );
        let dup = format!(
            r#"{{"jwt":[{},{}]}}"#,
            file_config(0, "a.example.com"),
            file_config(1, "A.Example.com")
        );
        let e = ProjectFile::parse(&dup).unwrap().into_project().unwrap_err();
        assert_eq!(e.field, "jwt[1]");
        assert!(
            matches!(&e.problem, ProjectFileProblem::Config(ConfigError::DuplicateDomain(d)) if d == "a.example.com"),
            "{e:?}"
        );
        assert!(e.to_string().starts_with("jwt[1]: "), "{e}");
        assert!(e.to_string().contains("a.example.com"), "{e}");
        let weak = ok.replace(r#""primary_secret":""#, r#""primary_secret":"short","x":""#);
        assert!(ProjectFile::parse(&weak).is_err(), "unknown field refused");
        let id = ClientId::generate();
        let weak = format!(
            r#"{{"jwt":[{{"name":"n","client_id":"{id}","login_url":"https://a.example.com/","primary_secret":"short","secondary_secret":"{}"}}]}}"#,
            ClientSecret::generate().expose()
        );
        let e = ProjectFile::parse(&weak).unwrap().into_project().unwrap_err();
        assert_eq!(e.field, "jwt[0].primary_secret");
        assert!(
            matches!(e.problem, ProjectFileProblem::Secret(MalformedSecret)),
            "{e:?}"
        );
        let source = std::error::Error::source(&e).map(ToString::to_string);
        assert_eq!(
            source,
            Some(MalformedSecret.to_string()),
            "the typed cause is the source"
        );
    }

    #[test]
    fn handshake_problems_keep_their_typed_cause() {
        let file = |handshake: &str| {
            format!(
                r#"{{"jwt":[{}]}}"#,
                file_config(0, "a.example.com").replace('}', &format!(r#","handshake":{handshake}}}"#))
            )
        };
        let problem = |handshake: &str| ProjectFile::parse(&file(handshake)).unwrap().handshakes().unwrap_err();
        let e = problem(r#"{"alg":"EdDSA","public_key_pem":"not a pem"}"#);
        assert_eq!(e.field, "jwt[0].handshake.public_key_pem");
        assert!(
            matches!(e.problem, ProjectFileProblem::Handshake(HandshakeSetupError::Key(_))),
            "{e:?}"
        );
        let e = problem(r#"{"alg":"EdDSA"}"#);
        assert!(matches!(e.problem, ProjectFileProblem::MissingPublicKey), "{e:?}");
        let e = problem(r#"{"alg":"RS256"}"#);
        assert_eq!(e.field, "jwt[0].handshake.alg");
        assert!(matches!(e.problem, ProjectFileProblem::UnknownAlgorithm), "{e:?}");
        let e = problem(r#"{"alg":"HS256","max_age_seconds":0}"#);
        assert_eq!(
            e.to_string(),
            "jwt[0].handshake.max_age_seconds: must be more than zero"
        );
        let e = ProjectFile::parse("{").unwrap_err();
        assert!(matches!(e.problem, ProjectFileProblem::Json(_)), "{e:?}");
        assert_eq!(e.field, "line 1 column 1");
    }
}
