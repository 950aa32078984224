//! The HTTP surface: `/healthz`, `/readyz`, the MCP endpoint and its metadata, and (dev mode)
//! `/dev/token`; wrapped in request ids and an access log that never records a header, a
//! query string or a body (so no token and no personal data).

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tower::ServiceBuilder;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

use crate::app::Readiness;

/// How long `/readyz` may take before it answers 503.
const READY_TIMEOUT: Duration = Duration::from_secs(3);

const REQUEST_ID: &str = "x-request-id";

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
            .map_request(keep_only_sane_request_id)
            .layer(SetRequestIdLayer::new(
                http::HeaderName::from_static(REQUEST_ID),
                MakeRequestUuid,
            ))
            .layer(
                TraceLayer::new_for_http()
                    .make_span_with(|req: &Request| {
                        let id = req
                            .headers()
                            .get(REQUEST_ID)
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
                REQUEST_ID,
            ))),
    )
}

/// A caller's `x-request-id` is kept when it is a short token (so a proxy's id carries
/// through to the audit log); anything else is dropped and replaced by a fresh UUID, so a
/// hostile header never reaches a log line or an audit row.
fn keep_only_sane_request_id(mut req: Request) -> Request {
    let sane = |v: &HeaderValue| {
        let b = v.as_bytes();
        (1..=64).contains(&b.len())
            && b.iter()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.' | b':'))
    };
    if req.headers().get(REQUEST_ID).is_some_and(|v| !sane(v))
        || req.headers().get_all(REQUEST_ID).iter().count() > 1
    {
        req.headers_mut().remove(REQUEST_ID);
    }
    req
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

#[cfg(test)]
mod tests {
    use super::*;

    fn with_id(v: &[u8]) -> Request {
        let mut req = Request::new(axum::body::Body::empty());
        req.headers_mut()
            .insert(REQUEST_ID, HeaderValue::from_bytes(v).expect("header"));
        req
    }

    #[test]
    fn request_ids_from_callers_are_kept_only_when_sane() {
        let kept = keep_only_sane_request_id(with_id(b"proxy-1234.ab:cd"));
        assert_eq!(kept.headers()[REQUEST_ID], "proxy-1234.ab:cd");
        for bad in [
            &b"has space"[..],
            b"semi;colon",
            b"\"quoted\"",
            &[b'a'; 65][..],
            b"eyJ0eXAiOiJKV1Qi.Bearer/token=",
        ] {
            let req = keep_only_sane_request_id(with_id(bad));
            assert!(req.headers().get(REQUEST_ID).is_none(), "{bad:?}");
        }
    }
}
