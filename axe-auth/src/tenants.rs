//! Which Entra tenants a server accepts, and which tenant serves which host.
//!
//! Both are traits so a multi-customer server can answer from its live,
//! hot-reloaded customer list (`axe-tenant` implements them); a fixed set or a
//! closure works too.

use std::collections::HashSet;
use std::sync::Arc;

use crate::TenantId;

/// Decides whether tokens of a tenant are accepted at all.
///
/// Only allowed tenants' keys are ever fetched, so a token naming any other
/// `tid` costs no network call.
///
/// ```
/// use std::collections::HashSet;
/// use axe_auth::{AllowedTenants, TenantId};
/// let tid: TenantId = "122fb574-0000-4000-8000-00000000a11c".parse()?;
/// let allowed: HashSet<TenantId> = [tid].into();
/// assert!(allowed.is_allowed(&tid));
/// # Ok::<(), axe_auth::InvalidTenantId>(())
/// ```
pub trait AllowedTenants: Send + Sync + 'static {
    /// True when tokens issued by `tenant` may be accepted.
    fn is_allowed(&self, tenant: &TenantId) -> bool;
}

impl AllowedTenants for HashSet<TenantId> {
    fn is_allowed(&self, tenant: &TenantId) -> bool {
        self.contains(tenant)
    }
}

impl<F> AllowedTenants for F
where
    F: Fn(&TenantId) -> bool + Send + Sync + 'static,
{
    fn is_allowed(&self, tenant: &TenantId) -> bool {
        self(tenant)
    }
}

impl<T: AllowedTenants + ?Sized> AllowedTenants for Arc<T> {
    fn is_allowed(&self, tenant: &TenantId) -> bool {
        (**self).is_allowed(tenant)
    }
}

/// Maps the host a request was sent to (`axe.axelabs.ai`) to the Entra
/// tenant of the customer served there, for per-customer RFC 9728 metadata.
///
/// The host handed in is already normalized: lower case, no port, no
/// trailing dot. Return `None` for a host that serves no customer; the
/// metadata route then answers 404.
///
/// ```
/// use axe_auth::{TenantForHost, TenantId};
/// let tid: TenantId = "122fb574-0000-4000-8000-00000000a11c".parse()?;
/// let lookup = move |host: &str| (host == "axe.axelabs.ai").then_some(tid);
/// assert_eq!(lookup.tenant_for_host("axe.axelabs.ai"), Some(tid));
/// assert_eq!(lookup.tenant_for_host("evil.example"), None);
/// # Ok::<(), axe_auth::InvalidTenantId>(())
/// ```
pub trait TenantForHost: Send + Sync + 'static {
    /// The tenant whose users sign in for resources on `host`.
    fn tenant_for_host(&self, host: &str) -> Option<TenantId>;
}

impl<F> TenantForHost for F
where
    F: Fn(&str) -> Option<TenantId> + Send + Sync + 'static,
{
    fn tenant_for_host(&self, host: &str) -> Option<TenantId> {
        self(host)
    }
}

impl<T: TenantForHost + ?Sized> TenantForHost for Arc<T> {
    fn tenant_for_host(&self, host: &str) -> Option<TenantId> {
        (**self).tenant_for_host(host)
    }
}
