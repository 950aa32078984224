//! [`Principal`]: who a validated token says the caller is.

use std::fmt;
use std::sync::Arc;
#[cfg(feature = "test-util")]
use std::time::Duration;
use std::time::SystemTime;

use serde_json::{Map, Value};

use crate::{TenantId, TokenVersion};

/// The caller, as established by a validated Entra access token.
///
/// The layer inserts it into the request extensions; read it with
/// `req.extensions().get::<Principal>()` or, with the `axum` feature, as an
/// extractor.
///
/// **Identity is `(tenant_id, object_id)`.** `preferred_username`, `upn` and
/// `email` are mutable display values (any tenant admin can set `email`: the
/// "nOAuth" flaw) and must never be used as a key or for authorization.
///
/// `Debug` prints the identity and the scopes but redacts the display fields,
/// which are PII.
#[derive(Clone)]
pub struct Principal {
    pub(crate) tenant_id: TenantId,
    pub(crate) object_id: String,
    pub(crate) subject: String,
    pub(crate) token_version: TokenVersion,
    pub(crate) client_id: String,
    pub(crate) audience: String,
    pub(crate) scopes: Vec<String>,
    pub(crate) roles: Vec<String>,
    pub(crate) name: Option<String>,
    pub(crate) preferred_username: Option<String>,
    pub(crate) upn: Option<String>,
    pub(crate) email: Option<String>,
    pub(crate) email_domain_verified: Option<bool>,
    pub(crate) email_verified: Option<bool>,
    pub(crate) expires_at: SystemTime,
    pub(crate) claims: Arc<Map<String, Value>>,
}

impl Principal {
    /// The directory that issued the token (`tid`).
    pub fn tenant_id(&self) -> TenantId {
        self.tenant_id
    }

    /// The user's or service principal's immutable object id in its tenant
    /// (`oid`).
    pub fn object_id(&self) -> &str {
        &self.object_id
    }

    /// The `sub` claim: pairwise per application, stable for this API.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// The token version (`ver`).
    pub fn token_version(&self) -> TokenVersion {
        self.token_version
    }

    /// The client application that obtained the token (`azp` in v2, `appid`
    /// in v1): for claude.ai's connector, the client id it was configured with.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The `aud` value the token was accepted for.
    pub fn audience(&self) -> &str {
        &self.audience
    }

    /// Delegated scopes (`scp`), short names as Entra issues them
    /// (`mcp.access`, not `api://…/mcp.access`).
    pub fn scopes(&self) -> &[String] {
        &self.scopes
    }

    /// App roles (`roles`), for app-only tokens and users assigned roles.
    pub fn roles(&self) -> &[String] {
        &self.roles
    }

    /// True when `scp` contains `scope` (a short name; a fully qualified
    /// `api://…/name` is reduced to its last segment before comparing).
    pub fn has_scope(&self, scope: &str) -> bool {
        let short = short_scope(scope);
        self.scopes.iter().any(|s| s == short)
    }

    /// True when `roles` contains `role` (exact, case-sensitive).
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }

    /// True when the token meets a requirement of the form "one of `scopes` or one of
    /// `roles`" (scopes compared as in [`Principal::has_scope`]); an empty requirement is
    /// always met. This is the rule of `RequireScopeLayer` and of axe-mcp's tool specs.
    pub fn satisfies<S: AsRef<str>, R: AsRef<str>>(&self, scopes: &[S], roles: &[R]) -> bool {
        (scopes.is_empty() && roles.is_empty())
            || scopes.iter().any(|s| self.has_scope(s.as_ref()))
            || roles.iter().any(|r| self.has_role(r.as_ref()))
    }

    /// True for a token issued to an application acting as itself
    /// (client-credentials flow: roles, no scopes).
    pub fn is_app_only(&self) -> bool {
        self.scopes.is_empty()
    }

    /// Display name (`name`). Display only: PII, mutable.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// `preferred_username` (v2). Display only: PII, mutable, not unique.
    pub fn preferred_username(&self) -> Option<&str> {
        self.preferred_username.as_deref()
    }

    /// `upn` (v1, and v2 when configured). Display only: PII, mutable.
    pub fn upn(&self) -> Option<&str> {
        self.upn.as_deref()
    }

    /// `email`. Display only: PII; can be set by any tenant admin, so it
    /// proves nothing unless [`email_domain_verified`](Self::email_domain_verified)
    /// or [`email_verified`](Self::email_verified) is true.
    pub fn email(&self) -> Option<&str> {
        self.email.as_deref()
    }

    /// The best address-like display value: `email`, else `preferred_username`,
    /// else `upn`.
    pub fn display_email(&self) -> Option<&str> {
        self.email().or(self.preferred_username()).or(self.upn())
    }

    /// `xms_edov`: the email's domain is verified by the tenant that owns it.
    pub fn email_domain_verified(&self) -> Option<bool> {
        self.email_domain_verified
    }

    /// `email_verified`, when the token carries it.
    pub fn email_verified(&self) -> Option<bool> {
        self.email_verified
    }

    /// When the token expires (`exp`).
    pub fn expires_at(&self) -> SystemTime {
        self.expires_at
    }

    /// Every claim of the token, for claims this type does not model.
    pub fn claims(&self) -> &Map<String, Value> {
        &self.claims
    }

    /// One claim by name.
    pub fn claim(&self, name: &str) -> Option<&Value> {
        self.claims.get(name)
    }
}

/// `api://app/mcp.access` → `mcp.access`; a short name is returned as is.
pub(crate) fn short_scope(scope: &str) -> &str {
    match scope.rfind('/') {
        Some(i) => &scope[i + 1..],
        None => scope,
    }
}

impl fmt::Debug for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redacted = |o: &Option<String>| o.as_ref().map(|_| "[redacted]");
        f.debug_struct("Principal")
            .field("tenant_id", &self.tenant_id)
            .field("object_id", &self.object_id)
            .field("token_version", &self.token_version)
            .field("client_id", &self.client_id)
            .field("scopes", &self.scopes)
            .field("roles", &self.roles)
            .field("name", &redacted(&self.name))
            .field("preferred_username", &redacted(&self.preferred_username))
            .field("upn", &redacted(&self.upn))
            .field("email", &redacted(&self.email))
            .field("email_domain_verified", &self.email_domain_verified)
            .field("email_verified", &self.email_verified)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// Builds a [`Principal`] without a token, for tests and for trusted
/// in-process callers (a conformance server, a CLI acting as a fixed user).
///
/// Only with the `test-util` feature: production code gets principals from
/// the validator.
///
/// ```
/// use axe_auth::{Principal, TenantId};
/// let tid: TenantId = "122fb574-0000-4000-8000-00000000a11c".parse()?;
/// let p = Principal::builder(tid, "00000000-0000-0000-0000-0000000000a1")
///     .email("someone@axellc.com")
///     .email_domain_verified(true)
///     .scopes(["mcp.access"])
///     .build();
/// assert!(p.has_scope("api://frame/mcp.access"));
/// # Ok::<(), axe_auth::InvalidTenantId>(())
/// ```
#[cfg(feature = "test-util")]
#[derive(Debug, Clone)]
pub struct PrincipalBuilder {
    inner: Principal,
}

#[cfg(feature = "test-util")]
impl Principal {
    /// Starts a [`PrincipalBuilder`] for `(tenant_id, object_id)`: a v2 user
    /// token with client id `test-client`, no scopes or roles, valid for an
    /// hour.
    pub fn builder(tenant_id: TenantId, object_id: impl Into<String>) -> PrincipalBuilder {
        let object_id = object_id.into();
        PrincipalBuilder {
            inner: Principal {
                tenant_id,
                subject: object_id.clone(),
                object_id,
                token_version: TokenVersion::V2,
                client_id: "test-client".to_owned(),
                audience: "test-audience".to_owned(),
                scopes: Vec::new(),
                roles: Vec::new(),
                name: None,
                preferred_username: None,
                upn: None,
                email: None,
                email_domain_verified: None,
                email_verified: None,
                expires_at: SystemTime::now() + Duration::from_secs(3600),
                claims: Arc::new(Map::new()),
            },
        }
    }
}

#[cfg(feature = "test-util")]
impl PrincipalBuilder {
    /// Sets the `sub` claim.
    pub fn subject(mut self, v: impl Into<String>) -> Self {
        self.inner.subject = v.into();
        self
    }
    /// Sets the token version.
    pub fn token_version(mut self, v: TokenVersion) -> Self {
        self.inner.token_version = v;
        self
    }
    /// Sets the client id (`azp`/`appid`).
    pub fn client_id(mut self, v: impl Into<String>) -> Self {
        self.inner.client_id = v.into();
        self
    }
    /// Sets the audience.
    pub fn audience(mut self, v: impl Into<String>) -> Self {
        self.inner.audience = v.into();
        self
    }
    /// Sets the delegated scopes (short names).
    pub fn scopes<I: IntoIterator<Item = S>, S: Into<String>>(mut self, v: I) -> Self {
        self.inner.scopes = v.into_iter().map(Into::into).collect();
        self
    }
    /// Sets the app roles.
    pub fn roles<I: IntoIterator<Item = S>, S: Into<String>>(mut self, v: I) -> Self {
        self.inner.roles = v.into_iter().map(Into::into).collect();
        self
    }
    /// Sets the display name.
    pub fn name(mut self, v: impl Into<String>) -> Self {
        self.inner.name = Some(v.into());
        self
    }
    /// Sets `preferred_username`.
    pub fn preferred_username(mut self, v: impl Into<String>) -> Self {
        self.inner.preferred_username = Some(v.into());
        self
    }
    /// Sets `upn`.
    pub fn upn(mut self, v: impl Into<String>) -> Self {
        self.inner.upn = Some(v.into());
        self
    }
    /// Sets `email`.
    pub fn email(mut self, v: impl Into<String>) -> Self {
        self.inner.email = Some(v.into());
        self
    }
    /// Sets `xms_edov`.
    pub fn email_domain_verified(mut self, v: bool) -> Self {
        self.inner.email_domain_verified = Some(v);
        self
    }
    /// Sets `email_verified`.
    pub fn email_verified(mut self, v: bool) -> Self {
        self.inner.email_verified = Some(v);
        self
    }
    /// Sets the expiry.
    pub fn expires_at(mut self, v: SystemTime) -> Self {
        self.inner.expires_at = v;
        self
    }
    /// Sets an extra claim.
    pub fn claim(mut self, name: impl Into<String>, value: Value) -> Self {
        Arc::make_mut(&mut self.inner.claims).insert(name.into(), value);
        self
    }
    /// Finishes the principal.
    pub fn build(self) -> Principal {
        self.inner
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_scope_strips_the_resource() {
        assert_eq!(short_scope("api://abc/mcp.access"), "mcp.access");
        assert_eq!(short_scope("mcp.access"), "mcp.access");
        assert_eq!(
            short_scope("https://axellc.com/frame/mcp.access"),
            "mcp.access"
        );
    }

    #[cfg(feature = "test-util")]
    #[test]
    fn satisfies_one_scope_or_one_role() {
        let tid: TenantId = "122fb574-0000-4000-8000-00000000a11c".parse().unwrap();
        let p = Principal::builder(tid, "oid")
            .scopes(["records.read"])
            .roles(["Frame.Admin"])
            .build();
        let none: [&str; 0] = [];
        assert!(p.satisfies(&none, &none), "no requirement");
        assert!(p.satisfies(&["api://frame/records.read"], &none));
        assert!(p.satisfies(&["records.write"], &["Frame.Admin"]));
        assert!(!p.satisfies(&["records.write"], &none));
        assert!(
            !p.satisfies(&none, &["frame.admin"]),
            "roles are case-sensitive"
        );
        assert!(
            !p.satisfies(&["api://frame/records"], &none),
            "no prefix match"
        );
    }
}
