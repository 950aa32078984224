use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{KeyPair as _, RsaKeyPair};
use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::json;
use tokio::sync::oneshot;

use super::token::TokenBuilder;
use crate::config::EntraConfigBuilder;
use crate::jwks::{Jwk, JwkSet};
use crate::{EntraConfig, JwksSettings, TenantId, TokenVersion};

/// How the issuer's JWKS endpoints answer, to test the cache's failure
/// handling.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum JwksBehavior {
    /// The keys, promptly.
    #[default]
    Normal,
    /// The keys, after a delay.
    Slow(Duration),
    /// A syntactically valid JWKS padded to about this many bytes.
    Huge(usize),
    /// A body that is not JSON.
    InvalidJson,
    /// HTTP 503.
    Down,
}

pub(super) struct SigningKey {
    pub(super) kid: String,
    pub(super) pair: RsaKeyPair,
    /// The `issuer` member published with the key; `None` = the Entra
    /// template for the endpoint's version.
    pub(super) issuer_override: Option<Option<String>>,
    /// Still published in the JWKS.
    pub(super) published: bool,
}

impl SigningKey {
    fn generate(kid: String) -> Self {
        // RSA generation only fails when the RNG does; a test cannot go on.
        let pair = RsaKeyPair::generate(KeySize::Rsa2048).expect("RSA key generation");
        SigningKey {
            kid,
            pair,
            issuer_override: None,
            published: true,
        }
    }

    fn jwk(&self, issuer_template: &str) -> Jwk {
        let public = self.pair.public_key();
        let der = public
            .as_der()
            .map(|d| d.as_ref().to_vec())
            .unwrap_or_default();
        let issuer = match &self.issuer_override {
            None => Some(issuer_template.to_owned()),
            Some(over) => over.clone(),
        };
        Jwk {
            kty: "RSA".into(),
            use_: Some("sig".into()),
            kid: Some(self.kid.clone()),
            x5t: Some(URL_SAFE_NO_PAD.encode(&self.kid)),
            n: Some(URL_SAFE_NO_PAD.encode(public.modulus().big_endian_without_leading_zero())),
            e: Some(URL_SAFE_NO_PAD.encode(public.exponent().big_endian_without_leading_zero())),
            x5c: Some(vec![STANDARD.encode(der)]),
            issuer,
            alg: None,
        }
    }
}

pub(super) struct Shared {
    pub(super) base: String,
    pub(super) keys: RwLock<Vec<SigningKey>>,
    behavior: RwLock<JwksBehavior>,
    jwks_requests: AtomicUsize,
    next_kid: AtomicUsize,
    pub(super) default_tenant: TenantId,
    pub(super) default_audience: String,
}

impl Shared {
    pub(super) fn issuer(&self, ver: TokenVersion, tid: &TenantId) -> String {
        match ver {
            TokenVersion::V1 => format!("{}/sts/{tid}/", self.base),
            TokenVersion::V2 => format!("{}/{tid}/v2.0", self.base),
        }
    }
}

/// An Entra-shaped issuer on `127.0.0.1`, for tests and dev mode.
///
/// Its authority is `http://127.0.0.1:{port}`; v2 issuers are
/// `{authority}/{tid}/v2.0`, v1 issuers `{authority}/sts/{tid}/`. It serves
/// - `GET /{tid}/v2.0/.well-known/openid-configuration`,
/// - `GET /{tid}/discovery/v2.0/keys` (keys with issuer `{authority}/{tenantid}/v2.0`),
/// - `GET /{tid}/discovery/keys` (keys with issuer `{authority}/sts/{tenantid}/`).
///
/// The server stops when the `TestIssuer` is dropped.
pub struct TestIssuer {
    pub(super) shared: Arc<Shared>,
    addr: SocketAddr,
    _shutdown: oneshot::Sender<()>,
}

impl std::fmt::Debug for TestIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestIssuer")
            .field("authority", &self.shared.base)
            .finish_non_exhaustive()
    }
}

/// Options of a [`TestIssuer`].
#[derive(Debug, Default)]
pub struct TestIssuerBuilder {
    addr: Option<SocketAddr>,
    tenant: Option<TenantId>,
    audience: Option<String>,
    key_pkcs8: Option<Vec<u8>>,
}

impl TestIssuerBuilder {
    /// Listen on this address (default `127.0.0.1:0`, an ephemeral port).
    /// Must be a loopback address.
    pub fn bind(mut self, addr: SocketAddr) -> Self {
        self.addr = Some(addr);
        self
    }

    /// The tenant tokens are minted for by default (default: a random GUID).
    pub fn default_tenant(mut self, tid: TenantId) -> Self {
        self.tenant = Some(tid);
        self
    }

    /// The `aud` of minted tokens by default (default `api://axe-test`).
    pub fn default_audience(mut self, aud: impl Into<String>) -> Self {
        self.audience = Some(aud.into());
        self
    }

    /// Sign with this RSA key (PKCS#8 DER), e.g. one persisted by a dev
    /// server across restarts, instead of a fresh one.
    pub fn signing_key_pkcs8(mut self, der: Vec<u8>) -> Self {
        self.key_pkcs8 = Some(der);
        self
    }

    /// Starts the issuer.
    pub async fn start(self) -> std::io::Result<TestIssuer> {
        let addr = self
            .addr
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)));
        if !addr.ip().is_loopback() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "a test issuer listens on loopback only",
            ));
        }
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let first = match self.key_pkcs8 {
            Some(der) => SigningKey {
                kid: kid_for(&der),
                pair: RsaKeyPair::from_pkcs8(&der).map_err(|e| {
                    std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string())
                })?,
                issuer_override: None,
                published: true,
            },
            None => SigningKey::generate("test-key-1".into()),
        };
        let shared = Arc::new(Shared {
            base: format!("http://{addr}"),
            keys: RwLock::new(vec![first]),
            behavior: RwLock::new(JwksBehavior::Normal),
            jwks_requests: AtomicUsize::new(0),
            next_kid: AtomicUsize::new(2),
            default_tenant: self
                .tenant
                .unwrap_or_else(|| TenantId::from(uuid::Uuid::new_v4())),
            default_audience: self.audience.unwrap_or_else(|| "api://axe-test".into()),
        });
        let app = Router::new()
            .fallback(serve)
            .with_state(Arc::clone(&shared));
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
        Ok(TestIssuer {
            shared,
            addr,
            _shutdown: tx,
        })
    }
}

fn kid_for(der: &[u8]) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, der);
    format!("dev-{}", &URL_SAFE_NO_PAD.encode(digest.as_ref())[..16])
}

impl TestIssuer {
    /// Starts an issuer with default options.
    pub async fn start() -> std::io::Result<TestIssuer> {
        TestIssuer::builder().start().await
    }

    /// Options.
    pub fn builder() -> TestIssuerBuilder {
        TestIssuerBuilder::default()
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The authority (`http://127.0.0.1:{port}`).
    pub fn authority(&self) -> &str {
        &self.shared.base
    }

    /// The base of v1 issuers (`{authority}/sts`).
    pub fn v1_issuer_base(&self) -> String {
        format!("{}/sts", self.shared.base)
    }

    /// The issuer of tokens of `ver` for `tid`.
    pub fn issuer(&self, ver: TokenVersion, tid: &TenantId) -> String {
        self.shared.issuer(ver, tid)
    }

    /// The default tenant of minted tokens.
    pub fn default_tenant(&self) -> TenantId {
        self.shared.default_tenant
    }

    /// The default audience of minted tokens.
    pub fn default_audience(&self) -> &str {
        &self.shared.default_audience
    }

    /// An [`EntraConfigBuilder`] pointed at this issuer, accepting its default
    /// tenant and audience, with a fetch timeout of 2 s.
    pub fn config_builder(&self) -> EntraConfigBuilder {
        let jwks = JwksSettings {
            fetch_timeout: Duration::from_secs(2),
            ..JwksSettings::default()
        };
        EntraConfig::builder()
            .authority(self.authority())
            .v1_issuer_base(self.v1_issuer_base())
            .tenant(self.default_tenant())
            .audience(self.default_audience())
            .jwks(jwks)
    }

    /// Starts a token for the default tenant, as a v2 user token with scope
    /// `mcp.access`, valid for an hour. See [`TokenBuilder`].
    pub fn token(&self) -> TokenBuilder {
        TokenBuilder::new(Arc::clone(&self.shared))
    }

    /// The kid new tokens are signed with (the newest published key).
    pub fn current_kid(&self) -> String {
        let keys = self.shared.keys.read().unwrap_or_else(|e| e.into_inner());
        keys.iter()
            .rev()
            .find(|k| k.published)
            .map(|k| k.kid.clone())
            .unwrap_or_default()
    }

    /// Every kid the JWKS currently publishes.
    pub fn published_kids(&self) -> Vec<String> {
        let keys = self.shared.keys.read().unwrap_or_else(|e| e.into_inner());
        keys.iter()
            .filter(|k| k.published)
            .map(|k| k.kid.clone())
            .collect()
    }

    /// Adds a new key and signs new tokens with it; old keys stay published
    /// until [`retire`](Self::retire)d. Returns the new kid.
    pub fn rotate(&self) -> String {
        let n = self.shared.next_kid.fetch_add(1, Ordering::SeqCst);
        let key = SigningKey::generate(format!("test-key-{n}"));
        let kid = key.kid.clone();
        self.shared
            .keys
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .push(key);
        kid
    }

    /// Removes `kid` from the JWKS (tokens can still be signed with it, to
    /// test that they are refused).
    pub fn retire(&self, kid: &str) {
        let mut keys = self.shared.keys.write().unwrap_or_else(|e| e.into_inner());
        for k in keys.iter_mut().filter(|k| k.kid == kid) {
            k.published = false;
        }
    }

    /// Adds a published key whose `issuer` member is `issuer` (`None`: no
    /// member at all) instead of the Entra template, for tests of the key
    /// issuer binding. New tokens keep using the current key; sign with this
    /// one through [`TokenBuilder::kid`]. Returns its kid.
    pub fn add_key_with_issuer(&self, issuer: Option<String>) -> String {
        let n = self.shared.next_kid.fetch_add(1, Ordering::SeqCst);
        let mut key = SigningKey::generate(format!("odd-key-{n}"));
        key.issuer_override = Some(issuer);
        let kid = key.kid.clone();
        // Inserted first so `current_kid` keeps naming the normal key.
        self.shared
            .keys
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(0, key);
        kid
    }

    /// The current signing key as PKCS#8 DER, to persist it.
    pub fn signing_key_pkcs8(&self) -> Vec<u8> {
        let keys = self.shared.keys.read().unwrap_or_else(|e| e.into_inner());
        keys.iter()
            .rev()
            .find(|k| k.published)
            .and_then(|k| k.pair.as_der().ok())
            .map(|d| d.as_ref().to_vec())
            .unwrap_or_default()
    }

    /// Makes the JWKS endpoints misbehave (or behave again).
    pub fn set_jwks_behavior(&self, behavior: JwksBehavior) {
        *self
            .shared
            .behavior
            .write()
            .unwrap_or_else(|e| e.into_inner()) = behavior;
    }

    /// How many JWKS requests the issuer has answered (or refused) so far.
    pub fn jwks_requests(&self) -> usize {
        self.shared.jwks_requests.load(Ordering::SeqCst)
    }

    /// The JWKS document for `ver`, as served.
    pub fn jwks(&self, ver: TokenVersion) -> JwkSet {
        let template = match ver {
            TokenVersion::V1 => format!("{}/sts/{{tenantid}}/", self.shared.base),
            TokenVersion::V2 => format!("{}/{{tenantid}}/v2.0", self.shared.base),
        };
        jwks_doc(&self.shared, &template)
    }
}

fn jwks_doc(shared: &Shared, template: &str) -> JwkSet {
    let keys = shared.keys.read().unwrap_or_else(|e| e.into_inner());
    JwkSet {
        keys: keys
            .iter()
            .filter(|k| k.published)
            .map(|k| k.jwk(template))
            .collect(),
    }
}

async fn serve(State(shared): State<Arc<Shared>>, uri: Uri) -> Response {
    let path = uri.path();
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let Some(tid) = segments.first().and_then(|t| TenantId::parse(t).ok()) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    match &segments[1..] {
        ["discovery", "v2.0", "keys"] => {
            jwks_response(&shared, &format!("{}/{{tenantid}}/v2.0", shared.base)).await
        }
        ["discovery", "keys"] => {
            jwks_response(&shared, &format!("{}/sts/{{tenantid}}/", shared.base)).await
        }
        ["v2.0", ".well-known", "openid-configuration"] => {
            let base = &shared.base;
            let doc = json!({
                "issuer": format!("{base}/{tid}/v2.0"),
                "authorization_endpoint": format!("{base}/{tid}/oauth2/v2.0/authorize"),
                "token_endpoint": format!("{base}/{tid}/oauth2/v2.0/token"),
                "jwks_uri": format!("{base}/{tid}/discovery/v2.0/keys"),
                "response_types_supported": ["code"],
                "subject_types_supported": ["pairwise"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "code_challenge_methods_supported": ["S256"],
                "tenant_region_scope": "test",
            });
            Response::builder()
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(doc.to_string()))
                .unwrap_or_default()
        }
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn jwks_response(shared: &Shared, template: &str) -> Response {
    shared.jwks_requests.fetch_add(1, Ordering::SeqCst);
    let behavior = shared
        .behavior
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let json_response = |body: String| {
        Response::builder()
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body))
            .unwrap_or_default()
    };
    match behavior {
        JwksBehavior::Normal => {
            json_response(serde_json::to_string(&jwks_doc(shared, template)).unwrap_or_default())
        }
        JwksBehavior::Slow(delay) => {
            tokio::time::sleep(delay).await;
            json_response(serde_json::to_string(&jwks_doc(shared, template)).unwrap_or_default())
        }
        JwksBehavior::Huge(size) => {
            let mut doc = serde_json::to_value(jwks_doc(shared, template)).unwrap_or_default();
            doc["padding"] = json!("x".repeat(size));
            json_response(doc.to_string())
        }
        JwksBehavior::InvalidJson => json_response("{\"keys\": [".to_owned()),
        JwksBehavior::Down => StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
}
