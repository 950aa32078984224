//! [`DevFront`]: a stand-in for the auth and tenant layers in tests and in the conformance
//! server, which sends no token. Every request from a loopback peer is treated as one fixed
//! principal and tenancy; any other peer is refused. Feature `test-util` only: it must never
//! face a network.

use std::net::SocketAddr;

use axe_auth::Principal;
use axe_tenant::Tenancy;
use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::StatusCode;

/// A fixed principal and tenancy for loopback peers.
///
/// Serve the router with `into_make_service_with_connect_info::<SocketAddr>()`: without the
/// peer address every request is refused.
#[derive(Debug, Clone)]
pub struct DevFront {
    principal: Principal,
    tenancy: Tenancy,
}

impl DevFront {
    /// Requests from loopback peers run as `principal` in `tenancy`.
    pub fn new(principal: Principal, tenancy: Tenancy) -> Self {
        Self { principal, tenancy }
    }
}

/// The middleware function.
pub(crate) async fn dev_front(
    State(front): State<DevFront>,
    mut req: Request,
    next: Next,
) -> Response {
    let loopback = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .is_some_and(|ConnectInfo(addr)| addr.ip().is_loopback());
    if !loopback {
        return (
            StatusCode::FORBIDDEN,
            "the dev front serves loopback peers only",
        )
            .into_response();
    }
    req.extensions_mut().insert(front.principal);
    req.extensions_mut().insert(front.tenancy);
    next.run(req).await
}
