//! Signing: [`TokenSigner`].

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;

use super::{Algorithm, MAX_TOKEN_LEN, SignError, SigningKey, TokenType, base64url};

#[derive(Serialize)]
struct SignHeader<'a> {
    alg: &'static str,
    typ: &'static str,
    kid: &'a str,
}

/// The length of base64url without padding of `n` bytes.
const fn base64_len(n: usize) -> usize {
    (n * 4).div_ceil(3)
}

/// Signs tokens with one key. The header is
/// `{"alg":...,"typ":...,"kid":...}`, the type being `JWT` for
/// [`sign`](Self::sign) and the given [`TokenType`] for
/// [`sign_typed`](Self::sign_typed).
///
/// The encoded header of a type is computed once and kept: for `JWT` when
/// the signer is made, for other types when [`with_token_type`](Self::with_token_type)
/// prepares them (any other type is encoded at each signing).
#[derive(Debug)]
pub struct TokenSigner {
    key: SigningKey,
    /// Prepared headers, by token type.
    headers: Vec<PreparedHeader>,
}

/// A header of one token type, encoded once.
#[derive(Debug)]
struct PreparedHeader {
    typ: TokenType,
    /// The header's base64url text: the token's first segment.
    segment: Box<str>,
    /// The length of the header's JSON.
    json_len: usize,
}

impl TokenSigner {
    /// A signer using `key`.
    #[must_use]
    pub fn new(key: SigningKey) -> Self {
        Self {
            key,
            headers: Vec::new(),
        }
        .with_token_type(TokenType::JWT)
    }

    /// Prepares the header of tokens of type `typ`, so that signing one
    /// does not encode it again. Tokens are the same either way.
    #[must_use]
    pub fn with_token_type(mut self, typ: TokenType) -> Self {
        self.prepare(typ);
        self
    }

    /// As [`with_token_type`](Self::with_token_type), in place.
    pub(crate) fn prepare(&mut self, typ: TokenType) {
        if self.prepared(typ).is_some() {
            return;
        }
        if let Ok(json) = self.header(typ) {
            self.headers.push(PreparedHeader {
                typ,
                segment: URL_SAFE_NO_PAD.encode(&json).into(),
                json_len: json.len(),
            });
        }
    }

    fn prepared(&self, typ: TokenType) -> Option<&PreparedHeader> {
        self.headers.iter().find(|h| h.typ == typ)
    }

    /// The signing key.
    #[must_use]
    pub fn key(&self) -> &SigningKey {
        &self.key
    }

    /// Signs `claims`, which must serialize to a JSON object.
    ///
    /// # Errors
    ///
    /// [`SignError::Serialize`] or [`SignError::NotAnObject`] for claims that
    /// are not a JSON object, [`SignError::TooLarge`] when the token would
    /// exceed [`MAX_TOKEN_LEN`], [`SignError::Crypto`] if signing fails.
    pub fn sign<C: Serialize + ?Sized>(&self, claims: &C) -> Result<String, SignError> {
        self.sign_typed(TokenType::JWT, claims)
    }

    /// Signs `claims` with `typ` in the header: the explicit type its
    /// verifier requires.
    ///
    /// # Errors
    ///
    /// As [`sign`](Self::sign).
    pub fn sign_typed<C: Serialize + ?Sized>(&self, typ: TokenType, claims: &C) -> Result<String, SignError> {
        self.sign_typed_with(typ, claims, &mut Vec::new())
    }

    /// [`sign_typed`](Self::sign_typed), writing the claims' JSON into
    /// `payload` (cleared first), so that a caller signing several tokens
    /// writes them all into one buffer.
    pub(crate) fn sign_typed_with<C: Serialize + ?Sized>(
        &self,
        typ: TokenType,
        claims: &C,
        payload: &mut Vec<u8>,
    ) -> Result<String, SignError> {
        let fresh;
        let (segment, json_len): (&str, usize) = match self.prepared(typ) {
            Some(h) => (&h.segment, h.json_len),
            None => {
                let json = self.header(typ)?;
                fresh = URL_SAFE_NO_PAD.encode(&json);
                (&fresh, json.len())
            }
        };
        payload.clear();
        // Room for a typical payload at once, so that writing it does not
        // grow the buffer step by step.
        payload.reserve(PAYLOAD_CAPACITY);
        serde_json::to_writer(&mut *payload, claims).map_err(|_| SignError::Serialize)?;
        if payload.first() != Some(&b'{') {
            return Err(SignError::NotAnObject);
        }
        if payload.len() > self.max_payload_len_for(json_len) {
            return Err(SignError::TooLarge);
        }
        // The token's exact length: one allocation, no larger than it,
        // each segment encoded straight into its place.
        let input_len = segment.len() + 1 + base64_len(payload.len());
        let mut token = vec![0u8; input_len + 1 + base64_len(self.signature_len())];
        let (input, signature_text) = token.split_at_mut(input_len);
        let (head, body) = input.split_at_mut(segment.len() + 1);
        head[..segment.len()].copy_from_slice(segment.as_bytes());
        head[segment.len()] = b'.';
        base64url::encode_into(payload, body).ok_or(SignError::Serialize)?;
        let signature = self.key.sign_bytes(input)?;
        signature_text[0] = b'.';
        base64url::encode_into(&signature, &mut signature_text[1..]).ok_or(SignError::Serialize)?;
        if token.len() > MAX_TOKEN_LEN {
            return Err(SignError::TooLarge);
        }
        // A header segment and base64url text: ASCII.
        String::from_utf8(token).map_err(|_| SignError::Serialize)
    }

    /// The largest claims JSON, in bytes, that [`sign_typed`](Self::sign_typed)
    /// with `typ` turns into a token of at most [`MAX_TOKEN_LEN`] bytes:
    /// what an issuer checks a request against before promising a token.
    #[must_use]
    pub fn max_payload_len(&self, typ: TokenType) -> usize {
        match self.prepared(typ) {
            Some(h) => self.max_payload_len_for(h.json_len),
            None => self.header(typ).map_or(0, |h| self.max_payload_len_for(h.len())),
        }
    }

    fn header(&self, typ: TokenType) -> Result<Vec<u8>, SignError> {
        serde_json::to_vec(&SignHeader {
            alg: self.key.algorithm().as_str(),
            typ: typ.as_str(),
            kid: self.key.kid(),
        })
        .map_err(|_| SignError::Serialize)
    }

    /// The length of a signature of this signer's algorithm.
    fn signature_len(&self) -> usize {
        match self.key.algorithm() {
            Algorithm::EdDSA => 64,
            Algorithm::HS256 => 32,
        }
    }

    /// The largest payload whose token, with a header of `header_len`
    /// bytes, fits in [`MAX_TOKEN_LEN`]: `header.payload.signature`, each
    /// base64url.
    fn max_payload_len_for(&self, header_len: usize) -> usize {
        let signature = base64_len(self.signature_len());
        let fixed = base64_len(header_len) + 2 + signature;
        let room = MAX_TOKEN_LEN.saturating_sub(fixed);
        // The largest n with base64_len(n) <= room.
        let mut n = room * 3 / 4;
        while n > 0 && base64_len(n) > room {
            n -= 1;
        }
        n
    }
}

/// The capacity a payload buffer starts with: the claims of a typical
/// `id_token` fit.
const PAYLOAD_CAPACITY: usize = 512;

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::jose::test_support::*;
    use crate::jose::{Verified, VerifyError};
    use ed25519_dalek::pkcs8::{DecodePrivateKey as _, EncodePrivateKey as _};
    use serde_json::json;

    #[test]
    fn eddsa_round_trip() {
        let key = ed_key("ed-1");
        let claims = id_claims(T0);
        let token = TokenSigner::new(ed_key("ed-1")).sign(&claims);
        // A different key with the same kid does not verify.
        assert_eq!(
            check(&verifier(&[&key], full_validation()), &token.unwrap(), T0),
            Err(VerifyError::BadSignature)
        );
        let signer = TokenSigner::new(key);
        let token = signer.sign(&claims).unwrap();
        assert_eq!(header_of(&token), json!({"alg": "EdDSA", "typ": "JWT", "kid": "ed-1"}));
        let v = verifier(&[signer.key()], full_validation());
        let verified: Verified<Claims> = v.verify_str(&token, at(T0 + 10)).unwrap();
        assert_eq!(verified.kid(), "ed-1");
        assert_eq!(verified.jti(), Some("j-1"));
        assert_eq!(verified.expires_at(), at(T0 + 900));
        assert_eq!(verified.claims(), &claims);
        assert_eq!(verified.into_claims(), claims);
    }

    #[test]
    fn hs256_round_trip() {
        let signer = TokenSigner::new(SigningKey::hs256("hs-1", SECRET).unwrap());
        let claims = id_claims(T0);
        let token = signer.sign(&claims).unwrap();
        assert_eq!(header_of(&token), json!({"alg": "HS256", "typ": "JWT", "kid": "hs-1"}));
        let v = verifier(&[signer.key()], full_validation());
        let verified: Verified<Claims> = v.verify_str(&token, at(T0)).unwrap();
        assert_eq!(verified.into_claims(), claims);
        // Another secret does not verify.
        let other = SigningKey::hs256("hs-1", &[7u8; 32]).unwrap();
        assert_eq!(
            check(&verifier(&[&other], full_validation()), &token, T0),
            Err(VerifyError::BadSignature)
        );
    }

    #[test]
    fn a_token_holds_no_more_memory_than_its_length() {
        let claims = serde_json::json!({"sub": "ada", "exp": 1, "pad": "x".repeat(100)});
        for key in [ed_key("k1"), SigningKey::hs256("k1", SECRET).unwrap()] {
            let token = TokenSigner::new(key).sign(&claims).unwrap();
            assert_eq!(token.capacity(), token.len());
        }
    }

    #[test]
    fn interoperates_with_jsonwebtoken() {
        let claims = id_claims(T0);
        let jwt_validation = |alg| {
            let mut v = jsonwebtoken::Validation::new(alg);
            v.validate_exp = false;
            v.set_audience(&[AUD]);
            v
        };
        // Ours -> jsonwebtoken::decode, both algorithms.
        let ed = ed_key("ed-1");
        let ed_decoding = jsonwebtoken::DecodingKey::from_ed_der(ed.verification_key().ed25519_public_key().unwrap());
        let token = TokenSigner::new(ed).sign(&claims).unwrap();
        let decoded =
            jsonwebtoken::decode::<Claims>(&token, &ed_decoding, &jwt_validation(jsonwebtoken::Algorithm::EdDSA))
                .unwrap();
        assert_eq!(decoded.claims, claims);
        assert_eq!(decoded.header.kid.as_deref(), Some("ed-1"));
        let hs = SigningKey::hs256("hs", SECRET).unwrap();
        let token = TokenSigner::new(hs).sign(&claims).unwrap();
        let decoded = jsonwebtoken::decode::<Claims>(
            &token,
            &jsonwebtoken::DecodingKey::from_secret(SECRET),
            &jwt_validation(jsonwebtoken::Algorithm::HS256),
        )
        .unwrap();
        assert_eq!(decoded.claims, claims);

        // jsonwebtoken::encode -> ours, both algorithms.
        let ed = ed_key("ed-2");
        let pem = ed.to_pkcs8_pem().unwrap();
        let der = ed25519_dalek::SigningKey::from_pkcs8_pem(&pem)
            .unwrap()
            .to_pkcs8_der()
            .unwrap();
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
        header.kid = Some("ed-2".into());
        let token = jsonwebtoken::encode(
            &header,
            &claims,
            &jsonwebtoken::EncodingKey::from_ed_der(der.as_bytes()),
        )
        .unwrap();
        let hs = SigningKey::hs256("hs", SECRET).unwrap();
        let v = verifier(&[&ed, &hs], full_validation());
        let got: Verified<Claims> = v.verify_str(&token, at(T0)).unwrap();
        assert_eq!(got.claims(), &claims);
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
        header.kid = Some("hs".into());
        let token = jsonwebtoken::encode(&header, &claims, &jsonwebtoken::EncodingKey::from_secret(SECRET)).unwrap();
        assert_eq!(check(&v, &token, T0), Ok(()));
    }

    #[test]
    fn max_payload_len_is_the_exact_boundary_of_sign_typed() {
        for key in [ed_key("k1"), SigningKey::hs256("a-longer-key-id", SECRET).unwrap()] {
            let signer = TokenSigner::new(key);
            let typ = TokenType::new("kb-sso.widget+jwt");
            let max = signer.max_payload_len(typ);
            // `{"p":"..."}` is 8 bytes around the padding.
            let claims = |n: usize| json!({ "p": "x".repeat(n - 8) });
            let token = signer.sign_typed(typ, &claims(max)).unwrap();
            assert!(token.len() <= MAX_TOKEN_LEN && token.len() > MAX_TOKEN_LEN - 4);
            assert_eq!(signer.sign_typed(typ, &claims(max + 1)), Err(SignError::TooLarge));
        }
    }

    #[test]
    fn signer_needs_a_json_object() {
        let signer = TokenSigner::new(SigningKey::hs256("h", SECRET).unwrap());
        assert_eq!(signer.sign("just a string"), Err(SignError::NotAnObject));
        assert_eq!(signer.sign(&[1, 2]), Err(SignError::NotAnObject));
        assert!(signer.sign(&json!({})).is_ok());
    }
}
