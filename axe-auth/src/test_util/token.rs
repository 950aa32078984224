use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, EcdsaKeyPair, KeyPair as _};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};

use super::issuer::Shared;
use crate::{TenantId, TokenVersion};

/// How a minted token is signed: correctly, or in one of the ways an
/// attacker would try.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Signing {
    /// RS256 with the issuer's key (the default).
    #[default]
    Rs256,
    /// `alg: none`, empty signature replaced by `sig` so the token still has
    /// three non-empty segments.
    None,
    /// HS256 keyed with the RSA public key (SPKI DER) of the current key:
    /// the classic algorithm confusion.
    Hs256WithPublicKey,
    /// ES256 with a fresh P-256 key.
    Es256,
    /// PS256 with the issuer's own RSA key.
    Ps256,
    /// RS256 with a fresh key the JWKS does not know, under the current kid.
    Rs256WithForeignKey,
}

/// Builds one token. Start with
/// [`TestIssuer::token`](super::TestIssuer::token).
///
/// Every claim can be set, replaced or removed, so each validation rule can
/// be broken on purpose.
#[derive(Clone)]
pub struct TokenBuilder {
    shared: Arc<Shared>,
    version: TokenVersion,
    tenant: TenantId,
    header: Map<String, Value>,
    claims: Map<String, Value>,
    removed: Vec<String>,
    issued_at: SystemTime,
    lifetime: Duration,
    signing: Signing,
    kid: Option<String>,
}

impl std::fmt::Debug for TokenBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenBuilder")
            .field("version", &self.version)
            .field("tenant", &self.tenant)
            .field("signing", &self.signing)
            .finish_non_exhaustive()
    }
}

impl TokenBuilder {
    pub(super) fn new(shared: Arc<Shared>) -> Self {
        let tenant = shared.default_tenant;
        let mut claims = Map::new();
        claims.insert("aud".into(), json!(shared.default_audience));
        claims.insert("oid".into(), json!("00000000-0000-4000-8000-0000000000a1"));
        claims.insert("sub".into(), json!("test-subject-a1"));
        claims.insert("scp".into(), json!("mcp.access"));
        claims.insert("name".into(), json!("Test User"));
        claims.insert("preferred_username".into(), json!("user@example.test"));
        TokenBuilder {
            shared,
            version: TokenVersion::V2,
            tenant,
            header: Map::new(),
            claims,
            removed: Vec::new(),
            issued_at: SystemTime::now(),
            lifetime: Duration::from_secs(3600),
            signing: Signing::Rs256,
            kid: None,
        }
    }

    /// Token version (default v2): decides `ver`, the `iss` form, and
    /// whether the client id goes into `azp` (v2) or `appid` (v1).
    pub fn version(mut self, v: TokenVersion) -> Self {
        self.version = v;
        self
    }

    /// Tenant (`tid`, and the `iss` derived from it).
    pub fn tenant(mut self, tid: TenantId) -> Self {
        self.tenant = tid;
        self
    }

    /// The user's object id (`oid`).
    pub fn object_id(self, oid: impl Into<String>) -> Self {
        self.claim("oid", json!(oid.into()))
    }

    /// Delegated scopes (`scp`, space-separated). An empty list removes `scp`.
    pub fn scopes<I: IntoIterator<Item = S>, S: Into<String>>(self, scopes: I) -> Self {
        let joined = scopes
            .into_iter()
            .map(Into::into)
            .collect::<Vec<String>>()
            .join(" ");
        if joined.is_empty() {
            self.without("scp")
        } else {
            self.claim("scp", json!(joined))
        }
    }

    /// App roles (`roles`).
    pub fn roles<I: IntoIterator<Item = S>, S: Into<String>>(self, roles: I) -> Self {
        let roles: Vec<String> = roles.into_iter().map(Into::into).collect();
        self.claim("roles", json!(roles))
    }

    /// `aud`.
    pub fn audience(self, aud: impl Into<String>) -> Self {
        self.claim("aud", json!(aud.into()))
    }

    /// `email` (and `xms_edov` when `domain_verified` is given).
    pub fn email(self, email: impl Into<String>, domain_verified: Option<bool>) -> Self {
        let b = self.claim("email", json!(email.into()));
        match domain_verified {
            Some(v) => b.claim("xms_edov", json!(v)),
            None => b,
        }
    }

    /// Sets any claim, overriding the defaults (e.g. `iss`, `tid`, `ver`).
    pub fn claim(mut self, name: impl Into<String>, value: Value) -> Self {
        let name = name.into();
        self.removed.retain(|r| *r != name);
        self.claims.insert(name, value);
        self
    }

    /// Removes a claim, including the computed ones (`iss`, `tid`, `ver`,
    /// `exp`, `azp`, ...).
    pub fn without(mut self, name: impl Into<String>) -> Self {
        let name = name.into();
        self.claims.remove(&name);
        self.removed.push(name);
        self
    }

    /// Sets a header member (e.g. `nonce`, `typ`, or `kid` to a bogus value).
    pub fn header(mut self, name: impl Into<String>, value: Value) -> Self {
        self.header.insert(name.into(), value);
        self
    }

    /// Issue time (`iat`, `nbf`); `exp` is this plus the lifetime.
    pub fn issued_at(mut self, t: SystemTime) -> Self {
        self.issued_at = t;
        self
    }

    /// Lifetime (default one hour).
    pub fn lifetime(mut self, d: Duration) -> Self {
        self.lifetime = d;
        self
    }

    /// Signs with the key `kid` (which may be retired or have an odd issuer).
    pub fn kid(mut self, kid: impl Into<String>) -> Self {
        self.kid = Some(kid.into());
        self
    }

    /// How to sign.
    pub fn signing(mut self, s: Signing) -> Self {
        self.signing = s;
        self
    }

    fn full_claims(&self) -> Map<String, Value> {
        let secs = |t: SystemTime| {
            t.duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0)
        };
        let mut c = Map::new();
        c.insert(
            "iss".into(),
            json!(self.shared.issuer(self.version, &self.tenant)),
        );
        c.insert("tid".into(), json!(self.tenant.to_string()));
        c.insert("ver".into(), json!(self.version.as_str()));
        c.insert("iat".into(), json!(secs(self.issued_at)));
        c.insert("nbf".into(), json!(secs(self.issued_at)));
        c.insert("exp".into(), json!(secs(self.issued_at + self.lifetime)));
        let client_claim = match self.version {
            TokenVersion::V2 => "azp",
            TokenVersion::V1 => "appid",
        };
        c.insert(
            client_claim.into(),
            json!("11111111-2222-4333-8444-555555555555"),
        );
        for (k, v) in &self.claims {
            c.insert(k.clone(), v.clone());
        }
        for r in &self.removed {
            c.remove(r);
        }
        c
    }

    /// The claims the token will carry.
    pub fn claims(&self) -> Map<String, Value> {
        self.full_claims()
    }

    /// Signs and returns the compact token.
    pub fn mint(&self) -> String {
        let keys = self.shared.keys.read().unwrap_or_else(|e| e.into_inner());
        let key = match &self.kid {
            Some(kid) => keys.iter().find(|k| &k.kid == kid),
            None => keys.iter().rev().find(|k| k.published),
        }
        .or_else(|| keys.last());
        let Some(key) = key else {
            return String::new();
        };
        let alg = match self.signing {
            Signing::Rs256 | Signing::Rs256WithForeignKey => "RS256",
            Signing::None => "none",
            Signing::Hs256WithPublicKey => "HS256",
            Signing::Es256 => "ES256",
            Signing::Ps256 => "PS256",
        };
        let mut header = Map::new();
        header.insert("typ".into(), json!("JWT"));
        header.insert("alg".into(), json!(alg));
        header.insert("kid".into(), json!(key.kid));
        header.insert("x5t".into(), json!(URL_SAFE_NO_PAD.encode(&key.kid)));
        for (k, v) in &self.header {
            if v.is_null() {
                header.remove(k);
            } else {
                header.insert(k.clone(), v.clone());
            }
        }
        let signed = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(Value::Object(header).to_string()),
            URL_SAFE_NO_PAD.encode(Value::Object(self.full_claims()).to_string())
        );
        let rng = SystemRandom::new();
        let sig: Vec<u8> = match self.signing {
            Signing::Rs256 => rsa_sign(&key.pair, &signature::RSA_PKCS1_SHA256, &signed),
            Signing::Ps256 => rsa_sign(&key.pair, &signature::RSA_PSS_SHA256, &signed),
            Signing::Rs256WithForeignKey => {
                let foreign = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
                    .expect("RSA key generation");
                rsa_sign(&foreign, &signature::RSA_PKCS1_SHA256, &signed)
            }
            Signing::None => b"sig".to_vec(),
            Signing::Hs256WithPublicKey => {
                let der = key
                    .pair
                    .public_key()
                    .as_der()
                    .map(|d| d.as_ref().to_vec())
                    .unwrap_or_default();
                let k = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &der);
                aws_lc_rs::hmac::sign(&k, signed.as_bytes())
                    .as_ref()
                    .to_vec()
            }
            Signing::Es256 => {
                let pair = EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_FIXED_SIGNING)
                    .expect("EC key generation");
                pair.sign(&rng, signed.as_bytes())
                    .map(|s| s.as_ref().to_vec())
                    .unwrap_or_default()
            }
        };
        format!("{signed}.{}", URL_SAFE_NO_PAD.encode(sig))
    }
}

fn rsa_sign(
    pair: &aws_lc_rs::rsa::KeyPair,
    alg: &'static dyn signature::RsaEncoding,
    signed: &str,
) -> Vec<u8> {
    let rng = SystemRandom::new();
    let mut sig = vec![0; pair.public_modulus_len()];
    match pair.sign(alg, &rng, signed.as_bytes(), &mut sig) {
        Ok(()) => sig,
        Err(_) => Vec::new(),
    }
}
