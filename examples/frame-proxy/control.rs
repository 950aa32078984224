//! The control API: `GET /status`, `POST /swap`, `POST /rollback`, on a loopback address only.
//!
//! Three guards: the address is refused at startup unless it is loopback; each connection's
//! peer must be loopback; a request carrying `Origin` (a browser page on the machine trying a
//! cross-site POST) is refused.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use serde_json::json;
use tokio::net::TcpListener;

use crate::color::Color;
use crate::forward::{ProxyBody, text};
use crate::state::ProxyState;
use crate::swap::{self, Kind};

fn json_response(status: StatusCode, value: &serde_json::Value) -> Response<ProxyBody> {
    let mut response = Response::new(
        Full::new(bytes::Bytes::from(format!("{value}\n")))
            .map_err(|never: Infallible| match never {})
            .boxed_unsync(),
    );
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// The `status` document.
pub(crate) fn status(state: &ProxyState) -> serde_json::Value {
    let routes = state.routes.load();
    let now = std::time::Instant::now();
    let per_color =
        |f: &dyn Fn(Color) -> usize| json!({"blue": f(Color::Blue), "green": f(Color::Green)});
    json!({
        "active": routes.active,
        "draining": routes.draining.map(|d| json!({
            "color": d.color,
            "deadline_in_ms": d.deadline.saturating_duration_since(now).as_millis() as u64,
        })),
        "in_flight": per_color(&|c| state.in_flight(c)),
        "open_streams": per_color(&|c| state.open_streams(c)),
        "sessions_tracked": state.routes.affinity().len(),
        "last_swap": state.last_swap(),
        "backends": {
            "blue": state.config.backend(Color::Blue).authority.as_str(),
            "green": state.config.backend(Color::Green).authority.as_str(),
        },
    })
}

async fn route(state: Arc<ProxyState>, req: Request<Incoming>) -> Response<ProxyBody> {
    if req.headers().contains_key(header::ORIGIN) {
        return text(
            StatusCode::FORBIDDEN,
            "frame-proxy control API: requests from browsers (with Origin) are refused\n",
        );
    }
    let kind = match (req.method(), req.uri().path()) {
        (&Method::GET, "/status") => return json_response(StatusCode::OK, &status(&state)),
        (&Method::POST, "/swap") => Kind::Swap,
        (&Method::POST, "/rollback") => Kind::Rollback,
        (_, "/status" | "/swap" | "/rollback") => {
            return text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
        }
        _ => return text(StatusCode::NOT_FOUND, "unknown control path\n"),
    };
    match swap::flip(&state, kind, None).await {
        Ok(record) => json_response(StatusCode::OK, &json!({"ok": true, "swap": record})),
        Err(reason) => json_response(
            StatusCode::CONFLICT,
            &json!({"ok": false, "reason": reason}),
        ),
    }
}

/// Serves the control API until shutdown.
pub(crate) async fn serve(listener: TcpListener, state: Arc<ProxyState>) {
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    tracing::warn!(error = %e, "control accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = state.shutdown.fired() => return,
        };
        if !is_loopback(peer) {
            tracing::warn!(%peer, "control connection from a non-loopback peer refused");
            continue;
        }
        let state = Arc::clone(&state);
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let state = Arc::clone(&state);
                async move { Ok::<_, Infallible>(route(state, req).await) }
            });
            let result = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(std::time::Duration::from_secs(10))
                .serve_connection(TokioIo::new(stream), service)
                .await;
            if let Err(e) = result {
                tracing::debug!(error = %e, "control connection ended");
            }
        });
    }
}

fn is_loopback(peer: SocketAddr) -> bool {
    match peer.ip() {
        std::net::IpAddr::V4(v4) => v4.is_loopback(),
        std::net::IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}
