//! The JWKS cache: each allowed tenant's signing keys, fetched over HTTPS,
//! parsed once, read without locks.
//!
//! # Behaviour
//! - Keys are cached per issuer (tenant × token version: each version has
//!   its own keys endpoint, whose keys carry that version's `issuer`) and
//!   per `kid`.
//! - Reads load an [`ArcSwap`] snapshot: no lock, no I/O.
//! - Known keys are refreshed in the background once
//!   [`refresh_interval`](crate::JwksSettings::refresh_interval) (plus a random
//!   jitter) has passed; the request that notices it is not delayed.
//! - An unknown `kid` triggers at most one fetch per issuer per
//!   [`unknown_kid_interval`](crate::JwksSettings::unknown_kid_interval), and
//!   concurrent requests wait for that one fetch (single flight): a flood of
//!   random kids costs one request to Entra.
//! - A failed fetch keeps the last good keys. With no keys at all the
//!   validator answers [`Error::KeysUnavailable`] (HTTP 503).
//! - Only tenants on the allow-list are ever fetched (the validator checks
//!   before asking), responses are size-bounded and time-limited.
//!
//! We keep our own [`Jwk`] type because `jsonwebtoken`'s drops the `issuer`
//! member Entra puts on each key, which the validator must check.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use jsonwebtoken::DecodingKey;
use serde::{Deserialize, Serialize};

use crate::config::{EntraConfig, JwksSettings};
use crate::error::{Error, KeyFetchError};
use crate::{TenantId, TokenVersion};

/// A JSON Web Key Set as Entra publishes it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct JwkSet {
    /// The keys.
    pub keys: Vec<Jwk>,
}

/// One key of a JWKS, with Entra's `issuer` member.
///
/// Entra's keys have no `alg`; RS256 is implied and pinned by the validator.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwk {
    /// Key type; only `RSA` keys are used.
    pub kty: String,
    /// Intended use; keys with a `use` other than `sig` are skipped.
    #[serde(rename = "use", default, skip_serializing_if = "Option::is_none")]
    pub use_: Option<String>,
    /// Key id, matched against the token header's `kid`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    /// X.509 thumbprint (informational).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x5t: Option<String>,
    /// RSA modulus, base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<String>,
    /// RSA exponent, base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e: Option<String>,
    /// Certificate chain (informational; the validator uses `n`/`e`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x5c: Option<Vec<String>>,
    /// The issuer this key signs for, with a `{tenantid}` placeholder on
    /// multi-tenant keys (e.g. `https://login.microsoftonline.com/{tenantid}/v2.0`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// Algorithm, when present; keys naming anything but RS256 are skipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alg: Option<String>,
}

/// A parsed verification key.
pub(crate) struct VerifyingKey {
    pub(crate) key: DecodingKey,
    pub(crate) issuer: Option<String>,
}

impl VerifyingKey {
    /// True when the key's `issuer` member names `token_issuer`, after the
    /// `{tenantid}` placeholder is replaced by the token's tenant.
    pub(crate) fn signs_for(&self, token_issuer: &str, tid: &TenantId) -> bool {
        match &self.issuer {
            None => false,
            Some(template) => {
                if let Some((head, tail)) = template.split_once("{tenantid}") {
                    let tid = tid.to_string();
                    token_issuer.len() == head.len() + tid.len() + tail.len()
                        && token_issuer.starts_with(head)
                        && token_issuer[head.len()..].starts_with(tid.as_str())
                        && token_issuer.ends_with(tail)
                } else {
                    template == token_issuer
                }
            }
        }
    }
}

#[derive(Default)]
struct KeySet {
    keys: HashMap<String, Arc<VerifyingKey>>,
    /// When the background refresh is due (never, while empty).
    refresh_due: Option<SystemTime>,
}

#[derive(Default)]
struct FetchState {
    /// The last fetch triggered by an unknown kid.
    last_unknown_kid_fetch: Option<SystemTime>,
    /// The last failure, and when.
    last_failure: Option<(SystemTime, KeyFetchError)>,
}

struct Slot {
    issuer: String,
    jwks_uri: String,
    keys: ArcSwap<KeySet>,
    fetch: tokio::sync::Mutex<FetchState>,
    refreshing: AtomicBool,
}

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct SlotKey {
    tenant: TenantId,
    version: TokenVersion,
}

/// The cache of signing keys for the tenants a validator accepts.
///
/// Cheap to clone (an `Arc` inside). Built by
/// [`Validator::new`](crate::Validator::new); exposed so operators can warm
/// it at start-up ([`prefetch`](Self::prefetch)) and readiness checks can ask
/// whether keys are loaded ([`has_keys`](Self::has_keys)).
#[derive(Clone)]
pub struct JwksCache {
    inner: Arc<Inner>,
}

struct Inner {
    config: EntraConfig,
    http: reqwest::Client,
    slots: ArcSwap<HashMap<SlotKey, Arc<Slot>>>,
    slots_write: std::sync::Mutex<()>,
}

impl fmt::Debug for JwksCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let slots = self.inner.slots.load();
        f.debug_struct("JwksCache")
            .field(
                "issuers",
                &slots
                    .values()
                    .map(|s| s.issuer.as_str())
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl JwksCache {
    /// A cache fetching keys as `config` says.
    pub fn new(config: EntraConfig) -> Self {
        let http = reqwest::Client::builder()
            .timeout(config.jwks.fetch_timeout)
            .connect_timeout(config.jwks.fetch_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("axe-auth/", env!("CARGO_PKG_VERSION")))
            .build()
            // Building a client fails only when the TLS backend cannot
            // initialise; fall back to the defaults rather than panic.
            .unwrap_or_default();
        JwksCache {
            inner: Arc::new(Inner {
                config,
                http,
                slots: ArcSwap::from_pointee(HashMap::new()),
                slots_write: std::sync::Mutex::new(()),
            }),
        }
    }

    /// Fetches the keys of `tenant` for both token versions now, so the first
    /// request does not wait. Refuses tenants that are not allowed.
    pub async fn prefetch(&self, tenant: TenantId) -> Result<(), Error> {
        if !self.inner.config.tenants.is_allowed(&tenant) {
            return Err(Error::TenantNotAllowed { tenant_id: tenant });
        }
        for version in [TokenVersion::V2, TokenVersion::V1] {
            let slot = self.slot(tenant, version);
            self.fetch_into(&slot).await?;
        }
        Ok(())
    }

    /// True when keys for `tenant` and `version` are cached.
    pub fn has_keys(&self, tenant: TenantId, version: TokenVersion) -> bool {
        self.inner
            .slots
            .load()
            .get(&SlotKey { tenant, version })
            .is_some_and(|s| !s.keys.load().keys.is_empty())
    }

    /// The key `kid` of `tenant`'s `version` issuer: from the cache, or
    /// after the one fetch the rate limit allows.
    pub(crate) async fn key(
        &self,
        tenant: TenantId,
        version: TokenVersion,
        kid: &str,
    ) -> Result<Arc<VerifyingKey>, Error> {
        let slot = self.slot(tenant, version);
        let snapshot = slot.keys.load();
        if let Some(key) = snapshot.keys.get(kid) {
            let key = Arc::clone(key);
            self.maybe_refresh_in_background(&slot, snapshot.refresh_due);
            return Ok(key);
        }
        drop(snapshot);
        self.fetch_for_unknown_kid(&slot, kid).await
    }

    fn slot(&self, tenant: TenantId, version: TokenVersion) -> Arc<Slot> {
        let key = SlotKey { tenant, version };
        if let Some(slot) = self.inner.slots.load().get(&key) {
            return Arc::clone(slot);
        }
        // Slots are created once per (allowed tenant, version); the write
        // lock only serialises creation, never I/O.
        let _guard = self
            .inner
            .slots_write
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let current = self.inner.slots.load_full();
        if let Some(slot) = current.get(&key) {
            return Arc::clone(slot);
        }
        let slot = Arc::new(Slot {
            issuer: self.inner.config.issuer(version, &tenant),
            jwks_uri: self.inner.config.jwks_uri(version, &tenant),
            keys: ArcSwap::from_pointee(KeySet::default()),
            fetch: tokio::sync::Mutex::new(FetchState::default()),
            refreshing: AtomicBool::new(false),
        });
        let mut next = HashMap::clone(&current);
        next.insert(key, Arc::clone(&slot));
        self.inner.slots.store(Arc::new(next));
        slot
    }

    async fn fetch_for_unknown_kid(
        &self,
        slot: &Arc<Slot>,
        kid: &str,
    ) -> Result<Arc<VerifyingKey>, Error> {
        let mut state = slot.fetch.lock().await;
        // Whoever held the lock before us may have fetched the key already.
        if let Some(key) = slot.keys.load().keys.get(kid) {
            return Ok(Arc::clone(key));
        }
        let now = self.inner.config.clock.now();
        let settings = &self.inner.config.jwks;
        let have_keys = !slot.keys.load().keys.is_empty();
        if let Some((at, err)) = &state.last_failure
            && within(now, *at, settings.retry_after_failure)
        {
            return Err(if have_keys {
                self.unknown_kid(slot, kid)
            } else {
                Error::KeysUnavailable {
                    issuer: slot.issuer.clone(),
                    source: KeyFetchError::Backoff(Box::new(err.clone())),
                }
            });
        }
        if have_keys
            && let Some(at) = state.last_unknown_kid_fetch
            && within(now, at, settings.unknown_kid_interval)
        {
            return Err(self.unknown_kid(slot, kid));
        }
        if have_keys {
            state.last_unknown_kid_fetch = Some(now);
        }
        match self.fetch_locked(slot, &mut state).await {
            Ok(()) => slot
                .keys
                .load()
                .keys
                .get(kid)
                .cloned()
                .ok_or_else(|| self.unknown_kid(slot, kid)),
            Err(e) if have_keys => {
                tracing::warn!(issuer = %slot.issuer, error = %e, "JWKS refresh failed, keeping last good keys");
                Err(self.unknown_kid(slot, kid))
            }
            Err(e) => Err(Error::KeysUnavailable {
                issuer: slot.issuer.clone(),
                source: e,
            }),
        }
    }

    fn unknown_kid(&self, slot: &Slot, kid: &str) -> Error {
        Error::UnknownKid {
            kid: kid.to_owned(),
            issuer: slot.issuer.clone(),
        }
    }

    fn maybe_refresh_in_background(&self, slot: &Arc<Slot>, due: Option<SystemTime>) {
        let Some(due) = due else { return };
        if self.inner.config.clock.now() < due {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if slot.refreshing.swap(true, Ordering::AcqRel) {
            return;
        }
        let cache = self.clone();
        let slot = Arc::clone(slot);
        runtime.spawn(async move {
            let result = cache.fetch_into(&slot).await;
            if let Err(e) = result {
                tracing::warn!(issuer = %slot.issuer, error = %e, "background JWKS refresh failed, keeping last good keys");
            }
            slot.refreshing.store(false, Ordering::Release);
        });
    }

    /// Fetches into `slot`, taking its fetch lock (for prefetch and the
    /// background refresh).
    async fn fetch_into(&self, slot: &Arc<Slot>) -> Result<(), Error> {
        let mut state = slot.fetch.lock().await;
        self.fetch_locked(slot, &mut state)
            .await
            .map_err(|source| Error::KeysUnavailable {
                issuer: slot.issuer.clone(),
                source,
            })
    }

    async fn fetch_locked(&self, slot: &Slot, state: &mut FetchState) -> Result<(), KeyFetchError> {
        let settings = &self.inner.config.jwks;
        let result = fetch_jwks(&self.inner.http, &slot.jwks_uri, settings).await;
        let now = self.inner.config.clock.now();
        match result {
            Ok(set) => {
                let keys = parse_keys(&set);
                if keys.is_empty() {
                    let err = KeyFetchError::InvalidDocument("no usable RSA signing keys".into());
                    state.last_failure = Some((now, err.clone()));
                    return Err(err);
                }
                tracing::debug!(issuer = %slot.issuer, keys = keys.len(), "JWKS fetched");
                slot.keys.store(Arc::new(KeySet {
                    keys,
                    refresh_due: Some(now + settings.refresh_interval + jitter(settings)),
                }));
                state.last_failure = None;
                Ok(())
            }
            Err(err) => {
                // Keep the last good keys; retry the background refresh after
                // the failure back-off rather than a whole interval later.
                let current = slot.keys.load();
                if !current.keys.is_empty() {
                    slot.keys.store(Arc::new(KeySet {
                        keys: current.keys.clone(),
                        refresh_due: Some(now + settings.retry_after_failure),
                    }));
                }
                state.last_failure = Some((now, err.clone()));
                Err(err)
            }
        }
    }
}

fn within(now: SystemTime, at: SystemTime, window: Duration) -> bool {
    now.duration_since(at).map(|d| d < window).unwrap_or(true)
}

fn jitter(settings: &JwksSettings) -> Duration {
    let max = settings.refresh_jitter.as_millis() as u64;
    if max == 0 {
        return Duration::ZERO;
    }
    Duration::from_millis(rand::random_range(0..max))
}

/// Keeps the usable keys of a set: RSA, for signatures, with a kid, RS256 if
/// an `alg` is named. Each is decoded once, here.
fn parse_keys(set: &JwkSet) -> HashMap<String, Arc<VerifyingKey>> {
    let mut keys = HashMap::new();
    for jwk in &set.keys {
        if jwk.kty != "RSA"
            || jwk.use_.as_deref().is_some_and(|u| u != "sig")
            || jwk.alg.as_deref().is_some_and(|a| a != "RS256")
        {
            continue;
        }
        let (Some(kid), Some(n), Some(e)) = (&jwk.kid, &jwk.n, &jwk.e) else {
            continue;
        };
        let Ok(key) = DecodingKey::from_rsa_components(n, e) else {
            continue;
        };
        keys.insert(
            kid.clone(),
            Arc::new(VerifyingKey {
                key,
                issuer: jwk.issuer.clone(),
            }),
        );
    }
    keys
}

async fn fetch_jwks(
    http: &reqwest::Client,
    uri: &str,
    settings: &JwksSettings,
) -> Result<JwkSet, KeyFetchError> {
    let limit = settings.max_document_bytes;
    let fetch = async {
        let mut resp = http
            .get(uri)
            .header(http::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| KeyFetchError::Http(e.without_url().to_string()))?;
        if !resp.status().is_success() {
            return Err(KeyFetchError::Status(resp.status().as_u16()));
        }
        if resp.content_length().is_some_and(|n| n > limit as u64) {
            return Err(KeyFetchError::TooLarge { limit });
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| KeyFetchError::Http(e.without_url().to_string()))?
        {
            if body.len() + chunk.len() > limit {
                return Err(KeyFetchError::TooLarge { limit });
            }
            body.extend_from_slice(&chunk);
        }
        serde_json::from_slice::<JwkSet>(&body)
            .map_err(|e| KeyFetchError::InvalidDocument(e.to_string()))
    };
    // reqwest's own timeout covers the whole request too; this outer one
    // also bounds a body that trickles in byte by byte.
    tokio::time::timeout(settings.fetch_timeout, fetch)
        .await
        .unwrap_or(Err(KeyFetchError::Timeout(settings.fetch_timeout)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tid() -> TenantId {
        "122fb574-0000-4000-8000-00000000a11c".parse().unwrap()
    }

    #[test]
    fn key_issuer_template_matches_only_its_tenant() {
        let k = VerifyingKey {
            key: DecodingKey::from_rsa_raw_components(&[1], &[1]),
            issuer: Some("https://login.microsoftonline.com/{tenantid}/v2.0".into()),
        };
        let iss = format!("https://login.microsoftonline.com/{}/v2.0", tid());
        assert!(k.signs_for(&iss, &tid()));
        let other: TenantId = "00000000-0000-4000-8000-000000000002".parse().unwrap();
        assert!(!k.signs_for(&iss, &other));
        assert!(!k.signs_for(&format!("https://sts.windows.net/{}/", tid()), &tid()));
        assert!(!k.signs_for(&format!("{iss}x"), &tid()));
        let fixed = VerifyingKey {
            key: DecodingKey::from_rsa_raw_components(&[1], &[1]),
            issuer: Some(iss.clone()),
        };
        assert!(fixed.signs_for(&iss, &tid()));
        let none = VerifyingKey {
            key: DecodingKey::from_rsa_raw_components(&[1], &[1]),
            issuer: None,
        };
        assert!(!none.signs_for(&iss, &tid()));
    }

    #[test]
    fn unusable_keys_are_skipped() {
        let doc = r#"{"keys":[
            {"kty":"EC","kid":"ec","crv":"P-256","x":"AA","y":"AA"},
            {"kty":"RSA","use":"enc","kid":"enc","n":"AQAB","e":"AQAB"},
            {"kty":"RSA","kid":"ps","alg":"PS256","n":"AQAB","e":"AQAB"},
            {"kty":"RSA","n":"AQAB","e":"AQAB"},
            {"kty":"RSA","kid":"bad-b64","n":"!!","e":"AQAB"},
            {"kty":"RSA","kid":"good","use":"sig","n":"AQAB","e":"AQAB","issuer":"x"}
        ]}"#;
        let set: JwkSet = serde_json::from_str(doc).unwrap();
        let keys = parse_keys(&set);
        assert_eq!(keys.keys().collect::<Vec<_>>(), vec!["good"]);
    }
}
