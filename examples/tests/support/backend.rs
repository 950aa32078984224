//! A small frame-like backend for the proxy tests: `/readyz`, an MCP-ish endpoint that hands
//! out `Mcp-Session-Id`s and refuses sessions of the other color (as a frame server without a
//! shared store does), its protected-resource metadata, SSE endpoints, and `/admin/*` switches.
//! Configured by environment variables; prints `BACKEND_PORT=<port>` once listening.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use tokio::sync::Notify;

struct Backend {
    color: String,
    ready: AtomicBool,
    fail: AtomicBool,
    no_metadata: bool,
    shared_sessions: bool,
    tokens: Vec<String>,
    sessions: AtomicU64,
    release: Notify,
}

type Shared = Arc<Backend>;

/// Runs the backend until the process is killed.
pub(crate) async fn run() {
    let color = std::env::var("FP_BACKEND_COLOR").unwrap();
    let tokens = std::env::var("FP_TOKENS").unwrap_or_else(|_| "client-token,probe-secret".into());
    let state = Arc::new(Backend {
        color,
        ready: AtomicBool::new(true),
        fail: AtomicBool::new(false),
        no_metadata: std::env::var_os("FP_NO_METADATA").is_some(),
        shared_sessions: std::env::var_os("FP_SHARED_SESSIONS").is_some(),
        tokens: tokens.split(',').map(str::to_owned).collect(),
        sessions: AtomicU64::new(0),
        release: Notify::new(),
    });
    let app = Router::new()
        .route("/readyz", get(readyz))
        .route("/frame/mcp", post(mcp).delete(mcp_delete))
        .route(
            "/.well-known/oauth-protected-resource/frame/mcp",
            get(metadata),
        )
        .route("/sse", get(sse))
        .route("/sse-gated", get(sse_gated))
        .route("/echo", post(echo))
        .route("/admin/{switch}/{value}", post(admin))
        .route("/admin/release", post(release))
        .with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    println!("BACKEND_PORT={}", listener.local_addr().unwrap().port());
    axum::serve(listener, app).await.unwrap();
}

async fn readyz(State(s): State<Shared>) -> StatusCode {
    if s.ready.load(Ordering::SeqCst) {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    }
}

async fn admin(State(s): State<Shared>, Path((switch, value)): Path<(String, u8)>) -> StatusCode {
    let flag = match switch.as_str() {
        "ready" => &s.ready,
        "fail" => &s.fail,
        _ => return StatusCode::NOT_FOUND,
    };
    flag.store(value == 1, Ordering::SeqCst);
    StatusCode::OK
}

async fn release(State(s): State<Shared>) -> StatusCode {
    s.release.notify_waiters();
    StatusCode::OK
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

fn json(status: StatusCode, value: serde_json::Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        value.to_string(),
    )
        .into_response()
}

async fn mcp(State(s): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let auth = header_str(&headers, "authorization");
    let Some(token) = auth.strip_prefix("Bearer ") else {
        let challenge = if s.no_metadata {
            "Bearer realm=\"frame\"".to_owned()
        } else {
            "Bearer resource_metadata=\"https://frame.test/.well-known/oauth-protected-resource/frame/mcp\"".to_owned()
        };
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, challenge)],
        )
            .into_response();
    };
    if !s.tokens.iter().any(|t| t == token) {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer error=\"invalid_token\"")],
        )
            .into_response();
    }
    if s.fail.load(Ordering::SeqCst) {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    let request: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let method = request["method"].as_str().unwrap_or("");
    let session = header_str(&headers, "mcp-session-id");
    if !session.is_empty() && !s.shared_sessions && !session.starts_with(&format!("{}-", s.color)) {
        return json(
            StatusCode::NOT_FOUND,
            serde_json::json!({"error": "unknown session"}),
        );
    }
    let id = request["id"].clone();
    match method {
        "initialize" => {
            let n = s.sessions.fetch_add(1, Ordering::SeqCst);
            let mut response = json(
                StatusCode::OK,
                serde_json::json!({"jsonrpc": "2.0", "id": id, "result": {
                    "protocolVersion": "2025-11-25", "capabilities": {},
                    "serverInfo": {"name": format!("frame-{}", s.color), "version": "0"}}}),
            );
            response.headers_mut().insert(
                "mcp-session-id",
                format!("{}-{n}", s.color).parse().unwrap(),
            );
            response
        }
        m if m.starts_with("notifications/") => StatusCode::ACCEPTED.into_response(),
        "tools/list" => json(
            StatusCode::OK,
            serde_json::json!({"jsonrpc": "2.0", "id": id, "result": {"tools": []}}),
        ),
        _ => json(
            StatusCode::OK,
            serde_json::json!({"jsonrpc": "2.0", "id": id, "result": {
                "color": s.color,
                "session": session,
                "x_forwarded_for": header_str(&headers, "x-forwarded-for"),
                "x_forwarded_proto": header_str(&headers, "x-forwarded-proto"),
                "x_forwarded_host": header_str(&headers, "x-forwarded-host"),
                "host": header_str(&headers, "host"),
                "connection": header_str(&headers, "connection"),
            }}),
        ),
    }
}

async fn mcp_delete() -> StatusCode {
    StatusCode::ACCEPTED
}

async fn metadata() -> Response {
    json(
        StatusCode::OK,
        serde_json::json!({
            "resource": "https://frame.test/frame/mcp",
            "authorization_servers": ["https://login.microsoftonline.com/00000000-0000-0000-0000-000000000000/v2.0"],
        }),
    )
}

#[derive(serde::Deserialize)]
struct SseParams {
    /// Events to send; 0 = until the client goes away.
    n: u64,
    /// Pause between events.
    ms: u64,
    /// Send each event in two chunks (a cut must wait for the second).
    #[serde(default)]
    split: bool,
}

fn sse_response(body: Body) -> Response {
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

async fn sse(State(s): State<Shared>, Query(p): Query<SseParams>) -> Response {
    let color = s.color.clone();
    let stream = futures_util::stream::unfold(0u64, move |i| {
        let color = color.clone();
        async move {
            if p.n != 0 && i >= 2 * p.n {
                return None;
            }
            let event = i / 2;
            let chunk = if i % 2 == 0 {
                tokio::time::sleep(Duration::from_millis(p.ms)).await;
                if p.split {
                    format!("id: {event}\ndata: {color} ")
                } else {
                    format!("id: {event}\ndata: {color} {event}\n\n")
                }
            } else if p.split {
                tokio::time::sleep(Duration::from_millis(p.ms / 2)).await;
                format!("{event}\n\n")
            } else {
                String::new()
            };
            Some((Ok::<_, Infallible>(Bytes::from(chunk)), i + 1))
        }
    });
    sse_response(Body::from_stream(stream))
}

async fn sse_gated(State(s): State<Shared>) -> Response {
    let first = Bytes::from(format!("data: {} first\n\n", s.color));
    let color = s.color.clone();
    let stream = futures_util::stream::unfold(0u8, move |step| {
        let s = Arc::clone(&s);
        let first = first.clone();
        let color = color.clone();
        async move {
            match step {
                0 => Some((Ok::<_, Infallible>(first), 1)),
                1 => {
                    // Register before anyone can release, then wait.
                    let released = s.release.notified();
                    released.await;
                    Some((Ok(Bytes::from(format!("data: {color} second\n\n"))), 2))
                }
                _ => None,
            }
        }
    });
    sse_response(Body::from_stream(stream))
}

async fn echo(body: Body) -> Response {
    (StatusCode::OK, body).into_response()
}
