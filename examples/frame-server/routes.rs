//! The HTTP surface: `/healthz`, `/readyz`, the MCP endpoint and its metadata, and (dev mode)
//! `/dev/token`; wrapped in request ids and an access log that never records a header, a
//! query string or a body (so no token and no personal data).

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tower::ServiceBuilder;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

use crate::app::Readiness;
use crate::request_id;

/// How long `/readyz` may take before it answers 503.
const READY_TIMEOUT: Duration = Duration::from_secs(3);

/// The whole router: health, readiness, `mcp` (endpoint + metadata) and `extra` (dev routes).
pub(crate) fn router(mcp: Router, ready: Arc<Readiness>, extra: Option<Router>) -> Router {
    let mut app = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz).with_state(ready))
        .merge(mcp);
    if let Some(extra) = extra {
        app = app.merge(extra);
    }
    app.layer(
        ServiceBuilder::new()
            .map_request(request_id::keep_only_sane)
            .layer(SetRequestIdLayer::new(
                http::HeaderName::from_static(request_id::HEADER),
                MakeRequestUuid,
            ))
            .layer(
                TraceLayer::new_for_http()
                    .make_span_with(|req: &Request| {
                        let id = req
                            .headers()
                            .get(request_id::HEADER)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("-");
                        // The path only: the query may carry anything.
                        tracing::info_span!(
                            "request",
                            method = %req.method(),
                            path = %req.uri().path(),
                            request_id = %id,
                        )
                    })
                    .on_request(())
                    .on_response(DefaultOnResponse::new().level(Level::INFO)),
            )
            .layer(PropagateRequestIdLayer::new(http::HeaderName::from_static(
                request_id::HEADER,
            ))),
    )
}

/// The process is up.
async fn healthz() -> &'static str {
    "ok\n"
}

/// Ready to serve (see [`Readiness`]).
async fn readyz(State(ready): State<Arc<Readiness>>) -> Response {
    let (ok, report) = match tokio::time::timeout(READY_TIMEOUT, ready.check()).await {
        Ok(r) => r,
        Err(_) => (
            false,
            serde_json::json!({"ready": false, "reason": "checks timed out"}),
        ),
    };
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        [(http::header::CACHE_CONTROL, "no-store")],
        axum::Json(report),
    )
        .into_response()
}
