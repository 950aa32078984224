//! A record of refused MCP requests in the operator log, through axe-audit's
//! [`RefusalLayer`].
//!
//! Each layer in front of the tools says why it refused in the response extensions: the
//! token layer puts its [`axe_auth::Error`], the tenancy layer its
//! [`TenantRejection`], the session gate a [`RefusalReason`]. [`refusal_reason`] turns those
//! into the reason code of the record (`expired`, `tenant_not_allowed`,
//! `session_not_found`, `rate_limited`, …), and [`refusal_layer`] is a [`RefusalLayer`]
//! builder set up for an axum server: the peer address from `ConnectInfo`, and the statuses
//! the endpoint refuses with (401, 403, 404, 413, 429). Hand the layer to
//! [`McpEndpointBuilder::record_refusals`](crate::McpEndpointBuilder::record_refusals).
//!
//! ```no_run
//! # async fn run(owner_pool: sqlx::PgPool, builder: axe_mcp::McpEndpointBuilder) {
//! use axe_audit::OperatorLog;
//!
//! let log = OperatorLog::new(owner_pool);
//! log.install().await.unwrap();
//! let (refusals, _recorder) = axe_mcp::refusal_layer(log).spawn();
//! let endpoint = builder.record_refusals(refusals).build().unwrap();
//! # let _ = endpoint;
//! # }
//! ```
//!
//! Like the layer itself, the reason codes never carry a value from the request: no token,
//! no session id, no user name.

use std::net::{IpAddr, SocketAddr};

use axe_audit::OperatorLog;
use axe_audit::refusals::{RefusalLayer, RefusalLayerBuilder, default_peer_ip};
use axe_tenant::TenantRejection;
use axum::extract::ConnectInfo;
use http::{Extensions, StatusCode};

pub use axe_audit::refusals::RefusalReason;

/// The statuses [`refusal_layer`] records: every refusal the endpoint's own layers answer
/// with. 400 (malformed JSON-RPC) and 5xx are not refusals of the caller and are left out.
pub const REFUSAL_STATUSES: [StatusCode; 5] = [
    StatusCode::UNAUTHORIZED,
    StatusCode::FORBIDDEN,
    StatusCode::NOT_FOUND,
    StatusCode::PAYLOAD_TOO_LARGE,
    StatusCode::TOO_MANY_REQUESTS,
];

/// The reason of a refused response: a [`RefusalReason`] already in the extensions (the
/// session gate's), else the [`axe_auth::Error`] of the token layer
/// ([`axe_auth::Error::code`]), else the [`TenantRejection`] of the tenancy layer
/// ([`TenantRejection::code`]). `None` leaves the record at `http_<status>`.
pub fn refusal_reason(_status: StatusCode, extensions: &Extensions) -> Option<RefusalReason> {
    if let Some(reason) = extensions.get::<RefusalReason>() {
        return Some(reason.clone());
    }
    if let Some(error) = extensions.get::<axe_auth::Error>() {
        return Some(RefusalReason::new(error.code()));
    }
    extensions
        .get::<TenantRejection>()
        .map(|rejection| RefusalReason::new(rejection.code()))
}

/// The peer's IP: axum's `ConnectInfo<SocketAddr>` (serve with
/// `into_make_service_with_connect_info::<SocketAddr>()`), else what
/// [`default_peer_ip`] finds.
pub fn connect_info_ip(extensions: &Extensions) -> Option<IpAddr> {
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0.ip())
        .or_else(|| default_peer_ip(extensions))
}

/// A [`RefusalLayer`] builder for the endpoint: [`refusal_reason`], [`connect_info_ip`] and
/// [`REFUSAL_STATUSES`]. Adjust it further (capacity, trusted proxies, request id header)
/// before `spawn()` or `build()`.
pub fn refusal_layer(log: OperatorLog) -> RefusalLayerBuilder {
    RefusalLayer::builder(log)
        .statuses(REFUSAL_STATUSES)
        .reason(refusal_reason)
        .peer_ip(connect_info_ip)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_innermost_reason_wins_and_none_is_none() {
        let mut ext = Extensions::new();
        assert!(refusal_reason(StatusCode::UNAUTHORIZED, &ext).is_none());
        ext.insert(axe_auth::Error::MissingCredentials);
        let got = refusal_reason(StatusCode::UNAUTHORIZED, &ext).unwrap();
        assert_eq!(got, RefusalReason::new("missing_credentials"));
        ext.insert(RefusalReason::new("session_not_found"));
        let got = refusal_reason(StatusCode::NOT_FOUND, &ext).unwrap();
        assert_eq!(got, RefusalReason::new("session_not_found"));
    }

    #[test]
    fn peer_ip_prefers_connect_info() {
        let mut ext = Extensions::new();
        assert_eq!(connect_info_ip(&ext), None);
        let addr: SocketAddr = "192.0.2.7:5000".parse().unwrap();
        ext.insert(ConnectInfo(addr));
        assert_eq!(connect_info_ip(&ext), Some(addr.ip()));
    }
}
