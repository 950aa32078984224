//! Host and path routing: `https://{customer}.{base_domain}/{service}/…` →
//! ([`CustomerId`], [`ServiceId`]).
//!
//! ```
//! use axe_tenant::{Customers, RouteError, normalize_host};
//! let customers = Customers::from_yaml(r#"
//! base_domain: axelabs.ai
//! customers:
//!   - id: axe
//!     tenant: 122fb574-1b1d-4c59-a6b1-6a3f0d5ad0e1
//!     services: [frame]
//!     entities: [{ id: axe, default: true }]
//! "#, "customers.yaml")?;
//! assert_eq!(normalize_host("AXE.axelabs.ai.:443").as_deref(), Some("axe.axelabs.ai"));
//! let route = customers.route("Axe.AxeLabs.AI:8443", "/frame/mcp")?;
//! assert_eq!((route.customer.as_str(), route.service.as_str()), ("axe", "frame"));
//! assert_eq!(customers.route("axe.axelabs.ai", "/blueprint/"), Err(RouteError::UnknownService));
//! assert_eq!(customers.route("evil.example", "/frame/mcp"), Err(RouteError::UnknownHost));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use crate::config::{Customer, Customers};
use crate::{CustomerId, ServiceId};

/// Where a request was sent: the customer of its host and the service of its
/// path.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Route {
    /// The customer named by the host.
    pub customer: CustomerId,
    /// The service named by the first path segment.
    pub service: ServiceId,
}

/// Why a host and path name no service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RouteError {
    /// The host is malformed or is not `{customer}.{base_domain}` for a
    /// configured customer.
    #[error("the host serves no customer")]
    UnknownHost,
    /// The path's first segment is not a service of that customer.
    #[error("the customer offers no such service")]
    UnknownService,
}

/// Normalizes a `Host` header value (or URI authority): drops the port,
/// strips exactly one trailing dot, lower-cases. Returns `None` for a
/// malformed host, an IP literal, or a non-ASCII host (a Host header carries
/// A-labels).
pub fn normalize_host(host: &str) -> Option<String> {
    if host.starts_with('[') {
        return None;
    }
    let name = match host.rsplit_once(':') {
        Some((name, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => name,
        Some(_) => return None,
        None => host,
    };
    let name = name.strip_suffix('.').unwrap_or(name);
    let ok = !name.is_empty()
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    ok.then(|| name.to_ascii_lowercase())
}

/// The first segment of a path: `/frame/mcp` → `frame`.
pub(crate) fn first_segment(path: &str) -> &str {
    let rest = path.strip_prefix('/').unwrap_or(path);
    rest.split(['/', '?']).next().unwrap_or("")
}

impl Customers {
    /// Routes a raw `Host` value and a request path to a customer and one of
    /// its services.
    pub fn route(&self, host: &str, path: &str) -> Result<Route, RouteError> {
        let customer = self.customer_for_raw_host(host)?;
        let service = service_of(customer, first_segment(path))?;
        Ok(Route {
            customer: customer.id.clone(),
            service,
        })
    }

    /// The customer named by a raw (not yet normalized) host value.
    pub(crate) fn customer_for_raw_host(&self, host: &str) -> Result<&Customer, RouteError> {
        let host = normalize_host(host).ok_or(RouteError::UnknownHost)?;
        self.customer_for_host(&host).ok_or(RouteError::UnknownHost)
    }
}

/// The service `segment` names, if `customer` offers it.
pub(crate) fn service_of(customer: &Customer, segment: &str) -> Result<ServiceId, RouteError> {
    customer
        .services
        .iter()
        .find(|s| *s == segment)
        .cloned()
        .ok_or(RouteError::UnknownService)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn host_normalization_table() {
        let cases = [
            ("axe.axelabs.ai", Some("axe.axelabs.ai")),
            ("AXE.AxeLabs.AI", Some("axe.axelabs.ai")),
            ("axe.axelabs.ai.", Some("axe.axelabs.ai")),
            ("axe.axelabs.ai:443", Some("axe.axelabs.ai")),
            ("axe.axelabs.ai.:8443", Some("axe.axelabs.ai")),
            ("axe.axelabs.ai..", None),
            ("axe.axelabs.ai:", None),
            ("axe.axelabs.ai:https", None),
            ("[::1]:3710", None),
            ("axe..axelabs.ai", None),
            ("axe_1.axelabs.ai", None),
            ("리얼초이스.axelabs.ai", None),
            ("", None),
            (":443", None),
        ];
        for (input, want) in cases {
            assert_eq!(normalize_host(input).as_deref(), want, "{input:?}");
        }
    }

    #[test]
    fn first_segments() {
        assert_eq!(first_segment("/frame/mcp"), "frame");
        assert_eq!(first_segment("/frame"), "frame");
        assert_eq!(first_segment("/frame?x=1"), "frame");
        assert_eq!(first_segment("/"), "");
        assert_eq!(first_segment(""), "");
    }

    proptest! {
        #[test]
        fn host_normalization_is_idempotent(s in "[a-zA-Z0-9.:\\-]{0,30}") {
            if let Some(once) = normalize_host(&s) {
                prop_assert_eq!(normalize_host(&once), Some(once.clone()));
            }
        }
    }
}
