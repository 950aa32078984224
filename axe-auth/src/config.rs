//! [`EntraConfig`]: what a validator accepts, built with [`EntraConfigBuilder`].

use std::collections::HashSet;
use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use url::Url;

use crate::clock::{Clock, SystemClock};
use crate::error::ConfigError;
use crate::tenants::AllowedTenants;
use crate::{TenantId, TokenVersion};

/// The public Entra authority.
pub const DEFAULT_AUTHORITY: &str = "https://login.microsoftonline.com";
/// The issuer base of Entra v1 tokens (`https://sts.windows.net/{tid}/`).
pub const DEFAULT_V1_ISSUER_BASE: &str = "https://sts.windows.net";
/// Tokens longer than this are refused before parsing. Entra access tokens
/// are a few KiB even with many group claims (overage moves groups out).
pub const DEFAULT_MAX_TOKEN_BYTES: usize = 16 * 1024;

/// Which permission claims a token must carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum RequiredPermissions {
    /// Delegated `scp` or application `roles` (the default): a token that
    /// grants nothing is refused.
    #[default]
    ScopesOrRoles,
    /// Only delegated tokens (`scp`), i.e. a signed-in user.
    Scopes,
    /// Only tokens with `roles`.
    Roles,
    /// No requirement (per-route checks only).
    None,
}

/// Settings of the JWKS cache. The defaults follow Microsoft's key-rollover
/// guidance.
///
/// ```
/// use std::time::Duration;
/// let settings = axe_auth::JwksSettings {
///     fetch_timeout: Duration::from_secs(3),
///     ..Default::default()
/// };
/// # let _ = settings;
/// ```
#[derive(Debug, Clone)]
pub struct JwksSettings {
    /// How often known keys are refreshed in the background (default 1 h).
    pub refresh_interval: Duration,
    /// Up to this much random delay is added to each refresh (default 5 min)
    /// so many servers do not refresh in lockstep.
    pub refresh_jitter: Duration,
    /// An unknown `kid` triggers at most one fetch per tenant per this
    /// interval (default 5 min).
    pub unknown_kid_interval: Duration,
    /// After a failed fetch, the next attempt waits this long (default 10 s).
    pub retry_after_failure: Duration,
    /// Timeout of one fetch, connect included (default 10 s).
    pub fetch_timeout: Duration,
    /// Largest JWKS document accepted (default 256 KiB).
    pub max_document_bytes: usize,
}

impl Default for JwksSettings {
    fn default() -> Self {
        JwksSettings {
            refresh_interval: Duration::from_secs(3600),
            refresh_jitter: Duration::from_secs(300),
            unknown_kid_interval: Duration::from_secs(300),
            retry_after_failure: Duration::from_secs(10),
            fetch_timeout: Duration::from_secs(10),
            max_document_bytes: 256 * 1024,
        }
    }
}

/// What a [`Validator`](crate::Validator) accepts: authority, tenants,
/// audiences, clock skew, permissions, key-cache settings.
///
/// ```
/// use axe_auth::EntraConfig;
/// let config = EntraConfig::builder()
///     .tenant("122fb574-0000-4000-8000-00000000a11c".parse()?)
///     .audience("api://frame.axelabs.ai")
///     .audience("6f1c2a3b-0000-4000-8000-000000000001")
///     .build()?;
/// assert_eq!(
///     config.issuer(axe_auth::TokenVersion::V2, &"122fb574-0000-4000-8000-00000000a11c".parse()?),
///     "https://login.microsoftonline.com/122fb574-0000-4000-8000-00000000a11c/v2.0"
/// );
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct EntraConfig {
    pub(crate) authority: String,
    pub(crate) v1_issuer_base: String,
    pub(crate) tenants: Arc<dyn AllowedTenants>,
    pub(crate) audiences: Vec<String>,
    pub(crate) leeway: Duration,
    pub(crate) permissions: RequiredPermissions,
    pub(crate) allow_personal_accounts: bool,
    pub(crate) max_token_bytes: usize,
    pub(crate) jwks: JwksSettings,
    pub(crate) clock: Arc<dyn Clock>,
}

impl fmt::Debug for EntraConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EntraConfig")
            .field("authority", &self.authority)
            .field("v1_issuer_base", &self.v1_issuer_base)
            .field("audiences", &self.audiences)
            .field("leeway", &self.leeway)
            .field("permissions", &self.permissions)
            .field("allow_personal_accounts", &self.allow_personal_accounts)
            .field("max_token_bytes", &self.max_token_bytes)
            .field("jwks", &self.jwks)
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}

impl EntraConfig {
    /// Starts a builder with Microsoft's public cloud as authority.
    pub fn builder() -> EntraConfigBuilder {
        EntraConfigBuilder::default()
    }

    /// The authority, without trailing slash (`https://login.microsoftonline.com`).
    pub fn authority(&self) -> &str {
        &self.authority
    }

    /// The accepted audiences.
    pub fn audiences(&self) -> &[String] {
        &self.audiences
    }

    /// The issuer a token of version `ver` from tenant `tid` must carry.
    pub fn issuer(&self, ver: TokenVersion, tid: &TenantId) -> String {
        match ver {
            TokenVersion::V1 => format!("{}/{tid}/", self.v1_issuer_base),
            TokenVersion::V2 => format!("{}/{tid}/v2.0", self.authority),
        }
    }

    /// Where the signing keys for tokens of version `ver` from `tid` are
    /// published. Each version's endpoint lists keys whose `issuer` member
    /// has that version's form.
    pub fn jwks_uri(&self, ver: TokenVersion, tid: &TenantId) -> String {
        match ver {
            TokenVersion::V1 => format!("{}/{tid}/discovery/keys", self.authority),
            TokenVersion::V2 => format!("{}/{tid}/discovery/v2.0/keys", self.authority),
        }
    }

    /// The authorization server of a tenant, as RFC 9728 metadata names it.
    pub fn authorization_server(&self, tid: &TenantId) -> String {
        format!("{}/{tid}/v2.0", self.authority)
    }

    /// The configured clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }
}

/// Builds an [`EntraConfig`]; [`build`](Self::build) checks it.
#[derive(Default)]
pub struct EntraConfigBuilder {
    authority: Option<String>,
    v1_issuer_base: Option<String>,
    fixed_tenants: HashSet<TenantId>,
    tenants: Option<Arc<dyn AllowedTenants>>,
    audiences: Vec<String>,
    leeway: Option<Duration>,
    permissions: RequiredPermissions,
    allow_personal_accounts: bool,
    max_token_bytes: Option<usize>,
    jwks: JwksSettings,
    clock: Option<Arc<dyn Clock>>,
}

impl fmt::Debug for EntraConfigBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EntraConfigBuilder")
            .field("authority", &self.authority)
            .field("fixed_tenants", &self.fixed_tenants)
            .field("audiences", &self.audiences)
            .finish_non_exhaustive()
    }
}

impl EntraConfigBuilder {
    /// Accepts tokens of this tenant. May be called several times.
    pub fn tenant(mut self, tid: TenantId) -> Self {
        self.fixed_tenants.insert(tid);
        self
    }

    /// Accepts tokens of every tenant `policy` allows, decided per token
    /// (e.g. a hot-reloaded customer list). Combined with
    /// [`tenant`](Self::tenant): a tenant is allowed if either allows it.
    pub fn allowed_tenants(mut self, policy: impl AllowedTenants) -> Self {
        self.tenants = Some(Arc::new(policy));
        self
    }

    /// Accepts tokens whose `aud` is this value: the API's client id (v2
    /// tokens) or an Application ID URI (v1 tokens, e.g.
    /// `api://frame.axelabs.ai`). Give every form the app registration has.
    pub fn audience(mut self, aud: impl Into<String>) -> Self {
        self.audiences.push(aud.into());
        self
    }

    /// The authority (default `https://login.microsoftonline.com`): a
    /// sovereign cloud's, or a test issuer's. Plain `http` only for loopback.
    pub fn authority(mut self, url: impl Into<String>) -> Self {
        self.authority = Some(url.into());
        self
    }

    /// The base of v1 issuers (default `https://sts.windows.net`). Plain
    /// `http` only for loopback.
    pub fn v1_issuer_base(mut self, url: impl Into<String>) -> Self {
        self.v1_issuer_base = Some(url.into());
        self
    }

    /// Clock skew tolerated on `exp` and `nbf` (default 60 s, at most 5 min).
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = Some(leeway);
        self
    }

    /// Which permission claims are required (default: `scp` or `roles`).
    pub fn required_permissions(mut self, p: RequiredPermissions) -> Self {
        self.permissions = p;
        self
    }

    /// Accepts Microsoft personal accounts (tenant
    /// [`PERSONAL_ACCOUNTS_TENANT`](crate::PERSONAL_ACCOUNTS_TENANT)) as if
    /// allowed. Off by default: anyone can create such an account.
    pub fn allow_personal_accounts(mut self, allow: bool) -> Self {
        self.allow_personal_accounts = allow;
        self
    }

    /// Largest token accepted, in bytes (default 16 KiB).
    pub fn max_token_bytes(mut self, n: usize) -> Self {
        self.max_token_bytes = Some(n);
        self
    }

    /// Key-cache settings.
    pub fn jwks(mut self, settings: JwksSettings) -> Self {
        self.jwks = settings;
        self
    }

    /// The clock (default: the system clock).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Some(Arc::new(clock));
        self
    }

    /// Checks the settings and builds the configuration.
    pub fn build(self) -> Result<EntraConfig, ConfigError> {
        let authority = check_base_url(
            "authority",
            self.authority.as_deref().unwrap_or(DEFAULT_AUTHORITY),
        )?;
        let v1_issuer_base = check_base_url(
            "v1_issuer_base",
            self.v1_issuer_base
                .as_deref()
                .unwrap_or(DEFAULT_V1_ISSUER_BASE),
        )?;
        if self.audiences.is_empty() {
            return Err(ConfigError::Missing { field: "audience" });
        }
        for aud in &self.audiences {
            if aud.trim().is_empty() || aud.trim() != aud {
                return Err(ConfigError::Invalid {
                    field: "audience",
                    value: aud.clone(),
                    reason: "must be a non-empty value without surrounding spaces",
                });
            }
        }
        let tenants: Arc<dyn AllowedTenants> = match (self.tenants, self.fixed_tenants.is_empty()) {
            (None, true) => return Err(ConfigError::Missing { field: "tenant" }),
            (None, false) => Arc::new(self.fixed_tenants),
            (Some(policy), true) => policy,
            (Some(policy), false) => {
                let fixed = self.fixed_tenants;
                Arc::new(move |t: &TenantId| fixed.contains(t) || policy.is_allowed(t))
            }
        };
        let leeway = self.leeway.unwrap_or(Duration::from_secs(60));
        if leeway > Duration::from_secs(300) {
            return Err(ConfigError::Invalid {
                field: "leeway",
                value: format!("{leeway:?}"),
                reason: "is more than 5 minutes of clock skew",
            });
        }
        let max_token_bytes = self.max_token_bytes.unwrap_or(DEFAULT_MAX_TOKEN_BYTES);
        if !(1024..=1024 * 1024).contains(&max_token_bytes) {
            return Err(ConfigError::Invalid {
                field: "max_token_bytes",
                value: max_token_bytes.to_string(),
                reason: "must be between 1 KiB and 1 MiB",
            });
        }
        let j = &self.jwks;
        if j.unknown_kid_interval.is_zero() || j.fetch_timeout.is_zero() {
            return Err(ConfigError::Invalid {
                field: "jwks",
                value: format!("{j:?}"),
                reason: "intervals and timeouts must be non-zero",
            });
        }
        Ok(EntraConfig {
            authority,
            v1_issuer_base,
            tenants,
            audiences: self.audiences,
            leeway,
            permissions: self.permissions,
            allow_personal_accounts: self.allow_personal_accounts,
            max_token_bytes,
            jwks: self.jwks,
            clock: self.clock.unwrap_or_else(|| Arc::new(SystemClock)),
        })
    }
}

/// Checks an authority-like base URL: https (or http on loopback), no query,
/// no fragment, no credentials; returns it without trailing slash.
pub(crate) fn check_base_url(field: &'static str, raw: &str) -> Result<String, ConfigError> {
    let invalid = |reason| ConfigError::Invalid {
        field,
        value: raw.to_owned(),
        reason,
    };
    let url = Url::parse(raw).map_err(|_| invalid("is not an absolute URL"))?;
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("must not have a query or fragment"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid("must not carry credentials"));
    }
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(&url) => {}
        "http" => return Err(invalid("uses plain http on a non-loopback host")),
        _ => return Err(invalid("must be an https URL")),
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tid() -> TenantId {
        "122fb574-0000-4000-8000-00000000a11c".parse().unwrap()
    }

    #[test]
    fn base_urls_must_be_https_or_loopback_http() {
        assert_eq!(
            check_base_url("authority", "https://login.microsoftonline.us/").unwrap(),
            "https://login.microsoftonline.us"
        );
        assert!(check_base_url("authority", "http://127.0.0.1:8080").is_ok());
        assert!(check_base_url("authority", "http://[::1]:8080").is_ok());
        assert!(check_base_url("authority", "http://localhost:1").is_ok());
        for bad in [
            "http://login.microsoftonline.com",
            "http://127.0.0.1.evil.example",
            "ftp://x",
            "login.microsoftonline.com",
            "https://user:pw@login.microsoftonline.com",
            "https://login.microsoftonline.com/?x=1",
            "",
        ] {
            assert!(check_base_url("authority", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn builder_requires_tenant_and_audience() {
        assert_eq!(
            EntraConfig::builder().audience("a").build().unwrap_err(),
            ConfigError::Missing { field: "tenant" }
        );
        assert_eq!(
            EntraConfig::builder().tenant(tid()).build().unwrap_err(),
            ConfigError::Missing { field: "audience" }
        );
        assert!(
            EntraConfig::builder()
                .tenant(tid())
                .audience(" a")
                .build()
                .is_err()
        );
        assert!(
            EntraConfig::builder()
                .tenant(tid())
                .audience("a")
                .leeway(Duration::from_secs(3600))
                .build()
                .is_err()
        );
    }

    #[test]
    fn issuers_per_version() {
        let c = EntraConfig::builder()
            .tenant(tid())
            .audience("a")
            .build()
            .unwrap();
        assert_eq!(
            c.issuer(TokenVersion::V1, &tid()),
            "https://sts.windows.net/122fb574-0000-4000-8000-00000000a11c/"
        );
        assert_eq!(
            c.jwks_uri(TokenVersion::V2, &tid()),
            "https://login.microsoftonline.com/122fb574-0000-4000-8000-00000000a11c/discovery/v2.0/keys"
        );
    }

    #[test]
    fn combined_tenant_policies() {
        let other: TenantId = "00000000-0000-4000-8000-000000000002".parse().unwrap();
        let c = EntraConfig::builder()
            .tenant(tid())
            .allowed_tenants(move |t: &TenantId| *t == other)
            .audience("a")
            .build()
            .unwrap();
        assert!(c.tenants.is_allowed(&tid()));
        assert!(c.tenants.is_allowed(&other));
        assert!(
            !c.tenants
                .is_allowed(&"00000000-0000-4000-8000-000000000003".parse().unwrap())
        );
    }
}
