//! What a reader sees on the login page.

use serde::Serialize;
use url::Url;

use crate::config::{JwtConfig, Logo, MAX_LOGIN_BUTTONS};
use crate::project::{Project, SsoKind, SsoProvider};
use crate::secret::ClientId;

/// The most SSO buttons a login page shows.
pub const MAX_SSO_BUTTONS: usize = 5;

/// The message shown when nothing can be used to sign in.
pub const NO_OPTIONS_MESSAGE: &str = "No login options are currently available.";

/// What a reader sees on the login page.
///
/// [`LoginPage::resolve`] is a pure function of the project's settings, JWT
/// configurations and SSO providers. It implements the six states of the
/// spec's table plus two more:
///
/// | toggle | JWT active | SSO active | page |
/// |---|---|---|---|
/// | OFF | no | yes | email/password form, SSO buttons |
/// | OFF | yes | yes | email/password form, SSO and JWT buttons |
/// | OFF | yes | no | email/password form, JWT buttons |
/// | ON | no | yes | SSO buttons only |
/// | ON | yes | no | domain field, JWT buttons |
/// | ON | yes | yes | domain field, JWT and SSO buttons |
/// | OFF | no | no | email/password form alone |
/// | ON | no | no | "no login options are currently available" |
///
/// ("toggle" is *Disable default login page*.) Only active configurations
/// show. JWT buttons: configurations with the button on, the first
/// [`MAX_LOGIN_BUTTONS`] by CTA position; SSO buttons: the first
/// [`MAX_SSO_BUTTONS`] by CTA position (a sixth is unreachable). The domain
/// field shows whenever the toggle is ON and a JWT configuration is active;
/// with the toggle OFF it shows when an active JWT configuration has no
/// visible button, so every active configuration stays reachable.
///
/// *Direct JWT login* ON with exactly one active JWT configuration skips the
/// page: [`LoginPage::Redirect`] to its login URL. With several, the page
/// shows JWT options only (buttons and domain field).
///
/// The login page, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginPage {
    /// Skip the page: send the reader to this login URL (Direct JWT login).
    Redirect {
        /// The configuration.
        client_id: ClientId,
        /// Its login URL.
        login_url: Url,
    },
    /// Show these options.
    Options(LoginOptions),
}

/// The options a login page shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LoginOptions {
    /// The email/password form.
    pub email_password_form: bool,
    /// The domain name field.
    pub domain_field: bool,
    /// JWT login buttons, in order.
    pub jwt_buttons: Vec<JwtButton>,
    /// SSO login buttons, in order.
    pub sso_buttons: Vec<SsoButton>,
    /// A message instead of options.
    pub message: Option<&'static str>,
}

/// A JWT login button.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JwtButton {
    /// The configuration's name.
    pub name: String,
    /// The button's text.
    pub text: String,
    /// The configuration's login URL.
    pub login_url: Url,
    /// The button's logo.
    #[serde(skip)]
    pub logo: Option<Logo>,
    /// The configuration.
    #[serde(skip)]
    pub client_id: ClientId,
}

/// An SSO login button.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SsoButton {
    /// The provider's name.
    pub name: String,
    /// SAML or OpenID.
    pub kind: SsoKind,
}

impl LoginPage {
    /// Resolves the page for `project`.
    pub fn resolve(project: &Project) -> Self {
        Self::from_parts(
            project.direct_jwt_login(),
            project.default_login_page_disabled(),
            project.jwt_configs(),
            project.sso_providers(),
        )
    }

    /// The configuration a reader without a session goes straight to under
    /// Direct JWT login: the one active JWT configuration, when Direct JWT
    /// login is on and exactly one is active. The one home of that rule.
    pub fn direct_target(project: &Project) -> Option<&JwtConfig> {
        direct_target(project.direct_jwt_login(), project.jwt_configs())
    }

    /// Resolves the page from its inputs.
    pub fn from_parts(
        direct_jwt_login: bool,
        disable_default_login_page: bool,
        jwt: &[JwtConfig],
        sso: &[SsoProvider],
    ) -> Self {
        if let Some(only) = direct_target(direct_jwt_login, jwt) {
            return Self::Redirect {
                client_id: only.client_id().clone(),
                login_url: only.login_url().clone(),
            };
        }
        let active_jwt: Vec<&JwtConfig> = jwt.iter().filter(|c| c.is_enabled()).collect();
        let mut with_button: Vec<&JwtConfig> = active_jwt.iter().copied().filter(|c| c.shows_login_button()).collect();
        with_button.sort_by_key(|c| c.cta_position());
        let jwt_buttons: Vec<JwtButton> = with_button
            .into_iter()
            .take(MAX_LOGIN_BUTTONS)
            .map(|c| JwtButton {
                name: c.name().to_owned(),
                text: c.login_button_text().unwrap_or(c.name()).to_owned(),
                login_url: c.login_url().clone(),
                logo: c.login_button_logo().cloned(),
                client_id: c.client_id().clone(),
            })
            .collect();
        let every_active_has_a_button = active_jwt.len() == jwt_buttons.len();

        if direct_jwt_login && active_jwt.len() > 1 {
            // Several JWT configurations and Direct JWT login: JWT only.
            return Self::Options(LoginOptions {
                email_password_form: false,
                domain_field: true,
                jwt_buttons,
                sso_buttons: Vec::new(),
                message: None,
            });
        }

        let mut active_sso: Vec<&SsoProvider> = sso.iter().filter(|p| p.enabled).collect();
        active_sso.sort_by_key(|p| p.cta_position);
        let sso_buttons: Vec<SsoButton> = active_sso
            .into_iter()
            .take(MAX_SSO_BUTTONS)
            .map(|p| SsoButton {
                name: p.name.clone(),
                kind: p.kind,
            })
            .collect();

        let toggle_on = disable_default_login_page;
        let any_jwt = !active_jwt.is_empty();
        let domain_field = any_jwt && (toggle_on || !every_active_has_a_button);
        let nothing = !any_jwt && sso_buttons.is_empty();
        Self::Options(LoginOptions {
            email_password_form: !toggle_on,
            domain_field,
            jwt_buttons,
            sso_buttons,
            message: (toggle_on && nothing).then_some(NO_OPTIONS_MESSAGE),
        })
    }
}

/// Direct JWT login's target: on, and exactly one active configuration.
fn direct_target(direct_jwt_login: bool, jwt: &[JwtConfig]) -> Option<&JwtConfig> {
    let mut active = jwt.iter().filter(|c| c.is_enabled());
    match (direct_jwt_login, active.next(), active.next()) {
        (true, Some(only), None) => Some(only),
        _ => None,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn jwt(i: u32, enabled: bool, button: bool) -> JwtConfig {
        let mut b = JwtConfig::builder(format!("JWT {i}"), format!("https://app{i}.example.com/login"))
            .enabled(enabled)
            .cta_position(i);
        if button {
            b = b.show_login_button(true).login_button_text(format!("Sign in {i}"));
        }
        b.build().unwrap().0
    }

    fn sso(i: u32, enabled: bool) -> SsoProvider {
        SsoProvider {
            name: format!("SSO {i}"),
            kind: if i.is_multiple_of(2) {
                SsoKind::Saml
            } else {
                SsoKind::Openid
            },
            enabled,
            cta_position: i,
        }
    }

    fn options(toggle: bool, jwt: &[JwtConfig], sso: &[SsoProvider]) -> LoginOptions {
        match LoginPage::from_parts(false, toggle, jwt, sso) {
            LoginPage::Options(o) => o,
            LoginPage::Redirect { .. } => panic!("redirect"),
        }
    }

    #[test]
    fn state_1_toggle_off_sso_only_shows_the_form_and_sso_buttons() {
        let o = options(false, &[jwt(0, false, true)], &[sso(0, true)]);
        assert!(o.email_password_form && !o.domain_field && o.jwt_buttons.is_empty());
        assert_eq!(o.sso_buttons.len(), 1);
        assert_eq!(o.message, None);
    }

    #[test]
    fn state_2_toggle_off_jwt_and_sso_shows_the_form_and_both_buttons() {
        let o = options(false, &[jwt(0, true, true)], &[sso(0, true)]);
        assert!(o.email_password_form);
        assert_eq!((o.jwt_buttons.len(), o.sso_buttons.len()), (1, 1));
        assert!(!o.domain_field, "every active configuration has a button");
    }

    #[test]
    fn state_3_toggle_off_jwt_only_shows_the_form_and_jwt_buttons() {
        let o = options(false, &[jwt(0, true, true)], &[sso(0, false)]);
        assert!(o.email_password_form && o.sso_buttons.is_empty());
        assert_eq!(o.jwt_buttons.len(), 1);
    }

    #[test]
    fn state_4_toggle_on_sso_only_shows_sso_buttons_only() {
        let o = options(true, &[], &[sso(0, true)]);
        assert!(!o.email_password_form && !o.domain_field && o.jwt_buttons.is_empty());
        assert_eq!(o.sso_buttons.len(), 1);
        assert_eq!(o.message, None);
    }

    #[test]
    fn state_5_toggle_on_jwt_only_shows_domain_field_and_jwt_buttons() {
        let o = options(true, &[jwt(0, true, true)], &[]);
        assert!(!o.email_password_form && o.domain_field && o.sso_buttons.is_empty());
        assert_eq!(o.jwt_buttons.len(), 1);
    }

    #[test]
    fn state_6_toggle_on_jwt_and_sso_shows_domain_field_and_both_buttons() {
        let o = options(true, &[jwt(0, true, true)], &[sso(0, true)]);
        assert!(!o.email_password_form && o.domain_field);
        assert_eq!((o.jwt_buttons.len(), o.sso_buttons.len()), (1, 1));
    }

    #[test]
    fn toggle_off_and_nothing_active_shows_the_form_alone() {
        let o = options(false, &[jwt(0, false, true)], &[sso(0, false)]);
        assert!(o.email_password_form && !o.domain_field);
        assert!(o.jwt_buttons.is_empty() && o.sso_buttons.is_empty() && o.message.is_none());
    }

    #[test]
    fn toggle_on_and_nothing_active_shows_the_no_options_message() {
        let o = options(true, &[jwt(0, false, true)], &[sso(0, false)]);
        assert!(!o.email_password_form && !o.domain_field);
        assert_eq!(o.message, Some(NO_OPTIONS_MESSAGE));
    }

    #[test]
    fn toggle_off_shows_the_domain_field_when_an_active_config_has_no_button() {
        let o = options(false, &[jwt(0, true, true), jwt(1, true, false)], &[]);
        assert!(o.domain_field);
        let five: Vec<_> = (0..5).map(|i| jwt(i, true, i < 3)).collect();
        let o = options(false, &five, &[]);
        assert_eq!(o.jwt_buttons.len(), 3);
        assert!(o.domain_field, "the two without a button stay reachable");
    }

    #[test]
    fn buttons_follow_cta_position_and_the_limits() {
        let jwts: Vec<_> = [4, 1, 3, 0].iter().map(|&i| jwt(i, true, true)).collect();
        let o = options(true, &jwts, &(0..7).rev().map(|i| sso(i, true)).collect::<Vec<_>>());
        let names: Vec<_> = o.jwt_buttons.iter().map(|b| b.name.as_str()).collect();
        assert_eq!(names, ["JWT 0", "JWT 1", "JWT 3"]);
        let names: Vec<_> = o.sso_buttons.iter().map(|b| b.name.as_str()).collect();
        assert_eq!(names, ["SSO 0", "SSO 1", "SSO 2", "SSO 3", "SSO 4"]);
    }

    #[test]
    fn direct_jwt_login_with_one_active_config_redirects() {
        let c = jwt(0, true, false);
        let page = LoginPage::from_parts(true, false, &[c.clone(), jwt(1, false, true)], &[sso(0, true)]);
        assert_eq!(
            page,
            LoginPage::Redirect {
                client_id: c.client_id().clone(),
                login_url: c.login_url().clone()
            }
        );
    }

    #[test]
    fn direct_jwt_login_with_several_active_configs_shows_jwt_options_only() {
        let page = LoginPage::from_parts(true, false, &[jwt(0, true, true), jwt(1, true, false)], &[sso(0, true)]);
        let LoginPage::Options(o) = page else { panic!("options") };
        assert!(!o.email_password_form && o.domain_field && o.sso_buttons.is_empty());
        assert_eq!(o.jwt_buttons.len(), 1);
    }

    #[test]
    fn direct_jwt_login_without_active_jwt_falls_back_to_the_table() {
        let page = LoginPage::from_parts(true, false, &[], &[sso(0, true)]);
        let LoginPage::Options(o) = page else { panic!("options") };
        assert!(o.email_password_form);
        assert_eq!(o.sso_buttons.len(), 1);
    }
}

/// What a renderer needs besides the options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderContext {
    /// The KB path to return to after sign-in (already checked), passed on
    /// as `redirectPath`.
    pub redirect_path: String,
    /// Where the domain field posts (`POST`, field `domain`).
    pub domain_action: String,
    /// Where the email/password form posts, when the host serves it;
    /// `None` leaves the form out (no dead controls).
    pub password_action: Option<String>,
    /// Where an SSO button starts sign-in (`GET`, with `provider`, `kind`
    /// and `redirectPath`), when the host serves SSO; `None` leaves the SSO
    /// buttons out.
    pub sso_start: Option<String>,
    /// The KB's name, in the page's title and heading ("Sign in to
    /// Acme Docs").
    pub site_name: String,
    /// What the reader typed in the domain field, kept after a domain
    /// that matched nothing.
    pub domain_value: String,
    /// Why the domain typed matched nothing, shown beside the field.
    pub domain_error: Option<String>,
}

impl Default for RenderContext {
    fn default() -> Self {
        Self {
            redirect_path: "/".to_owned(),
            domain_action: "/login/domain".to_owned(),
            password_action: None,
            sso_start: None,
            site_name: "the knowledge base".to_owned(),
            domain_value: String::new(),
            domain_error: None,
        }
    }
}

/// Turns [`LoginOptions`] into an HTML page. Hosts replace it to match
/// their look; [`HtmlLoginRenderer`] is a plain, accessible default.
pub trait LoginPageRenderer: Send + Sync + std::fmt::Debug {
    /// The whole HTML document.
    fn render(&self, options: &LoginOptions, context: &RenderContext) -> String;
}

/// The default renderer: a page that works without JavaScript, labels
/// every field, shows each button's text and logo, and escapes all
/// configured or reader-supplied text.
#[derive(Debug, Clone, Copy, Default)]
pub struct HtmlLoginRenderer;

impl LoginPageRenderer for HtmlLoginRenderer {
    fn render(&self, options: &LoginOptions, context: &RenderContext) -> String {
        let e = escape_html;
        let back = e(&context.redirect_path);
        // Each way in is a section; sections are separated by "or".
        let mut sections: Vec<String> = Vec::new();
        if let Some(message) = options.message {
            sections.push(format!("<p class=\"message\" role=\"status\">{}</p>\n", e(message)));
        }
        if let Some(action) = context
            .password_action
            .as_deref()
            .filter(|_| options.email_password_form)
        {
            sections.push(format!(
                concat!(
                    "<form class=\"password\" method=\"post\" action=\"{action}\">\n",
                    "<input type=\"hidden\" name=\"redirectPath\" value=\"{back}\">\n",
                    "<label for=\"email\">Email</label>\n",
                    "<input id=\"email\" name=\"email\" type=\"email\" autocomplete=\"username\" required>\n",
                    "<label for=\"password\">Password</label>\n",
                    "<input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required>\n",
                    "<button type=\"submit\">Sign in</button>\n",
                    "</form>\n"
                ),
                action = e(action),
                back = back
            ));
        }
        let sso_buttons: &[SsoButton] = if context.sso_start.is_some() {
            &options.sso_buttons
        } else {
            &[]
        };
        if !options.jwt_buttons.is_empty() || !sso_buttons.is_empty() {
            let mut body = String::from("<ul class=\"providers\">\n");
            for b in &options.jwt_buttons {
                let href = crate::redirect::append_query(&b.login_url, &[("redirectPath", &context.redirect_path)]);
                let logo = b.logo.as_ref().map_or(String::new(), |l| {
                    format!(
                        "<img src=\"{}\" alt=\"\" width=\"20\" height=\"20\"> ",
                        e(&l.data_url())
                    )
                });
                // The configuration's name goes with its button, as readers
                // see it in the spec, unless the button already says it.
                let name = if b.name == b.text {
                    String::new()
                } else {
                    format!(" <span class=\"config\">({})</span>", e(&b.name))
                };
                body.push_str(&format!(
                    "<li><a class=\"button jwt\" href=\"{}\">{logo}{}{name}</a></li>\n",
                    e(href.as_str()),
                    e(&b.text)
                ));
            }
            let start = context.sso_start.as_deref().unwrap_or_default();
            for b in sso_buttons {
                let kind = match b.kind {
                    crate::project::SsoKind::Saml => "saml",
                    crate::project::SsoKind::Openid => "openid",
                };
                let query = url::form_urlencoded::Serializer::new(String::new())
                    .append_pair("provider", &b.name)
                    .append_pair("kind", kind)
                    .append_pair("redirectPath", &context.redirect_path)
                    .finish();
                body.push_str(&format!(
                    "<li><a class=\"button sso {kind}\" href=\"{}?{}\">Sign in with {}</a></li>\n",
                    e(start),
                    e(&query),
                    e(&b.name)
                ));
            }
            body.push_str("</ul>\n");
            sections.push(body);
        }
        if options.domain_field {
            // A domain that matched nothing: the typed text stays, the
            // reason is announced and tied to the field.
            let (error, invalid, described) = match &context.domain_error {
                Some(m) => (
                    format!("<p class=\"error\" id=\"domain-error\" role=\"alert\">{}</p>\n", e(m)),
                    " aria-invalid=\"true\" autofocus",
                    "domain-hint domain-error",
                ),
                None => (String::new(), "", "domain-hint"),
            };
            sections.push(format!(
                concat!(
                    "<form class=\"domain\" method=\"post\" action=\"{action}\">\n",
                    "<input type=\"hidden\" name=\"redirectPath\" value=\"{back}\">\n",
                    "<label for=\"domain\">Domain name</label>\n",
                    "<p class=\"hint\" id=\"domain-hint\">Your organisation's domain, or your work email address.</p>\n",
                    "{error}",
                    "<input id=\"domain\" name=\"domain\" type=\"text\" inputmode=\"email\" autocomplete=\"email\" ",
                    "autocapitalize=\"none\" spellcheck=\"false\" value=\"{value}\" ",
                    "aria-describedby=\"{described}\"{invalid} placeholder=\"example.com\" required>\n",
                    "<button type=\"submit\">Continue</button>\n",
                    "</form>\n"
                ),
                action = e(&context.domain_action),
                back = back,
                error = error,
                value = e(&context.domain_value),
                described = described,
                invalid = invalid,
            ));
        }
        if sections.is_empty() {
            // Every option the page had is one this host does not serve.
            sections.push(format!(
                "<p class=\"message\" role=\"status\">{}</p>\n",
                e(NO_OPTIONS_MESSAGE)
            ));
        }
        let body = sections.join("<p class=\"or\"><span>or</span></p>\n");
        format!(
            concat!(
                "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n",
                "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n",
                "<title>Sign in \u{b7} {site}</title>\n<style>{css}</style>\n</head>\n<body>\n<main>\n",
                "<h1>Sign in to {site}</h1>\n{body}</main>\n</body>\n</html>\n"
            ),
            css = PAGE_STYLE,
            site = e(&context.site_name),
            body = body
        )
    }
}

/// The style of every page the KB site serves itself (the login page,
/// its error and "continue" pages): one font for text, fields and
/// buttons; a focus ring that shows on light and dark controls alike
/// (a dark outline with a white inner ring); margins down to 320 px.
/// Text colours meet WCAG AA contrast on their backgrounds (#234 on white
/// 12.6:1, white on #234 12.6:1, #555 on white 7.5:1, #8a1c1c on #fdecec
/// 7.0:1).
pub(crate) const PAGE_STYLE: &str = "*{box-sizing:border-box}\
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;font-size:1rem;line-height:1.4;background:#f5f6f8;color:#1b1f24;margin:0;padding:1rem}\
button,input{font:inherit}\
main{max-width:24rem;margin:3rem auto;background:#fff;padding:1.5rem;border-radius:8px;box-shadow:0 1px 4px #0002}\
h1{font-size:1.4rem;margin-top:0}label{display:block;margin:.8rem 0 .2rem;font-weight:600}\
input[type=email],input[type=password],input[type=text]{width:100%;padding:.5rem;border:1px solid #767676;border-radius:4px}\
button,.button{display:flex;gap:.5rem;align-items:center;justify-content:center;width:100%;\
margin-top:.8rem;padding:.6rem;border:1px solid #234;border-radius:4px;background:#234;color:#fff;text-decoration:none;cursor:pointer}\
button:hover,.button:hover{background:#345}.button.sso{background:#fff;color:#234}.button.sso:hover{background:#eef1f5}\
:focus-visible{outline:3px solid #0b57d0;outline-offset:2px;box-shadow:0 0 0 2px #fff}\
input:focus-visible{outline-offset:0}\
ul.providers{list-style:none;padding:0;margin:0}\
.message{padding:1rem;background:#fff4e5;border-left:4px solid #f0a020}\
.error{margin:0 0 .3rem;padding:.4rem .6rem;background:#fdecec;color:#8a1c1c;border-left:4px solid #b42318}\
[aria-invalid=true]{border-color:#b42318}\
.hint{margin:0 0 .3rem;color:#555;font-size:.9rem}\
.or{display:flex;align-items:center;gap:.6rem;color:#555;margin:1.2rem 0}.or::before,.or::after{content:\"\";flex:1;border-top:1px solid #ccd}\
@media (max-width:30rem){body{padding:.75rem}main{margin:1rem auto;padding:1.25rem}}";

/// Escapes text for HTML element content and quoted attribute values.
pub(crate) fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod render_tests {
    use super::*;

    #[test]
    fn configured_and_reader_text_is_escaped() {
        let (c, _) = JwtConfig::builder("<script>x</script>", "https://app.example.com/login")
            .show_login_button(true)
            .login_button_text("Sign in \"<b>\" & go")
            .build()
            .unwrap();
        let sso = SsoProvider {
            name: "O'kta <i>".into(),
            kind: SsoKind::Saml,
            enabled: true,
            cta_position: 0,
        };
        let LoginPage::Options(o) = LoginPage::from_parts(false, false, &[c], &[sso]) else {
            panic!("options")
        };
        let ctx = RenderContext {
            redirect_path: "/docs?a=\"><script>".into(),
            password_action: Some("/login/password".into()),
            sso_start: Some("/sso/start".into()),
            ..RenderContext::default()
        };
        let html = HtmlLoginRenderer.render(&o, &ctx);
        assert!(!html.contains("<script>"), "{html}");
        assert!(!html.contains("<b>") && !html.contains("<i>"));
        assert!(html.contains("Sign in &quot;&lt;b&gt;&quot; &amp; go"));
        assert!(html.contains("O&#39;kta &lt;i&gt;"));
        assert!(html.contains("<label for=\"email\">") && html.contains("<label for=\"password\">"));
        assert!(html.contains("href=\"/sso/start?provider="), "{html}");
    }

    /// A control the host does not serve is left out: no password form
    /// without its action, no SSO button without a start URL, and the
    /// configuration's name beside its button's text.
    #[test]
    fn only_served_controls_are_rendered() {
        let (c, _) = JwtConfig::builder("Acme staff", "https://app.example.com/login")
            .show_login_button(true)
            .login_button_text("Continue with Acme")
            .build()
            .unwrap();
        let sso = SsoProvider {
            name: "Okta".into(),
            kind: SsoKind::Openid,
            enabled: true,
            cta_position: 0,
        };
        let LoginPage::Options(o) = LoginPage::from_parts(false, false, &[c], std::slice::from_ref(&sso)) else {
            panic!("options")
        };
        assert!(o.email_password_form && o.sso_buttons.len() == 1);
        let html = HtmlLoginRenderer.render(&o, &RenderContext::default());
        assert!(!html.contains("type=\"password\""), "{html}");
        assert!(!html.contains("Okta") && !html.contains("/sso/"), "{html}");
        assert!(
            html.contains("Continue with Acme <span class=\"config\">(Acme staff)</span>"),
            "{html}"
        );
        // Only an SSO provider and nothing served: the message, not an empty page.
        let LoginPage::Options(o) = LoginPage::from_parts(false, false, &[], &[sso]) else {
            panic!("options")
        };
        let html = HtmlLoginRenderer.render(&o, &RenderContext::default());
        assert!(html.contains(NO_OPTIONS_MESSAGE) && !html.contains("<form"), "{html}");
    }

    #[test]
    fn the_message_state_reads_clearly() {
        let LoginPage::Options(o) = LoginPage::from_parts(false, true, &[], &[]) else {
            panic!("options")
        };
        let html = HtmlLoginRenderer.render(&o, &RenderContext::default());
        assert!(html.contains(NO_OPTIONS_MESSAGE));
        assert!(!html.contains("<form"));
    }
}
