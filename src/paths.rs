//! The endpoint paths of the reference HTTP surface, shared by the KB
//! site and identity server handlers and by the customer-app side
//! (`client`), so that both ends name each path once.

/// Code generation URL.
pub const GENERATE_CODE: &str = "/api/jwt/generate-code";
/// Code generation URL, the legacy spelling.
pub const GENERATE_CODE_ALIAS: &str = "/jwt/generateCode";
/// Back-channel code exchange.
pub const TOKEN: &str = "/api/jwt/token";
/// Callback URL: the customer app sends the reader here with the code.
pub const AUTHORIZE: &str = "/jwt/authorize";
/// Ends the reader's session.
pub const LOGOUT: &str = "/jwt/logout";
/// The token signer's public keys.
pub const JWKS: &str = "/.well-known/jwks.json";
/// The reader's login page.
pub const LOGIN: &str = "/login";
/// The login page's domain field posts here.
pub const LOGIN_DOMAIN: &str = "/login/domain";
/// Widget token requests (`grant_type=Widget`).
pub const WIDGET_TOKEN: &str = "/api/jwt/widget-token";
/// Handshake tokens signed by the customer app arrive here.
pub const HANDSHAKE_CALLBACK: &str = "/api/auth/jwt/callback";
/// The public page a reader lands on after logging out without a logout
/// URL.
pub const SIGNED_OUT: &str = "/jwt/signed-out";
