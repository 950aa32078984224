//! Readiness checks a swap runs against the passive color before sending it any traffic.
//!
//! `/readyz` must answer 200 N times in a row; then an MCP-level probe: with a probe token,
//! `initialize` + `notifications/initialized` + `tools/list` must succeed; without one, the
//! unauthenticated MCP endpoint must answer 401 with a `WWW-Authenticate` naming
//! `resource_metadata`, and that metadata document must be served.

use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full, Limited};

use crate::challenge::resource_metadata;
use crate::color::Color;
use crate::state::ProxyState;

/// Largest probe response read.
const MAX_PROBE_BODY: usize = 1024 * 1024;
/// Deadline of one probe request.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);
/// MCP protocol revision the probe speaks (sessions and `initialize`).
const PROBE_PROTOCOL: &str = "2025-11-25";

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

async fn send(
    state: &ProxyState,
    color: Color,
    method: Method,
    path: &str,
    headers: &[(header::HeaderName, HeaderValue)],
    body: Bytes,
) -> Result<Answer, String> {
    let backend = state.config.backend(color);
    let uri = backend
        .uri(path)
        .map_err(|_| format!("`{path}` is not a valid path"))?;
    let mut request = Request::builder().method(method.clone()).uri(uri);
    for (name, value) in headers {
        request = request.header(name, value.clone());
    }
    let request = request
        .body(Full::new(body))
        .map_err(|e| format!("cannot build the probe request: {e}"))?;
    let what = format!("{color} ({}) {method} {path}", backend.authority);
    let response = tokio::time::timeout(PROBE_TIMEOUT, state.probe_client.request(request))
        .await
        .map_err(|_| format!("{what}: no answer within {} s", PROBE_TIMEOUT.as_secs()))?
        .map_err(|e| {
            if e.is_connect() {
                format!("{what}: not reachable ({})", crate::error_chain(&e))
            } else {
                format!("{what}: failed ({})", crate::error_chain(&e))
            }
        })?;
    let (parts, body) = response.into_parts();
    let body = tokio::time::timeout(PROBE_TIMEOUT, Limited::new(body, MAX_PROBE_BODY).collect())
        .await
        .map_err(|_| {
            format!(
                "{what}: body not complete within {} s",
                PROBE_TIMEOUT.as_secs()
            )
        })?
        .map_err(|e| format!("{what}: reading the body failed ({e})"))?
        .to_bytes();
    Ok(Answer {
        status: parts.status,
        headers: parts.headers,
        body,
    })
}

/// `/readyz` answers 200 `ready_checks` times in a row.
pub(crate) async fn readyz(state: &ProxyState, color: Color, checks: u32) -> Result<(), String> {
    let path = state.config.readyz_path.clone();
    for i in 1..=checks {
        let answer = send(state, color, Method::GET, &path, &[], Bytes::new()).await?;
        if answer.status != StatusCode::OK {
            return Err(format!(
                "{color} {path} answered {} on check {i} of {checks}",
                answer.status
            ));
        }
        if i < checks {
            tokio::time::sleep(state.config.ready_interval).await;
        }
    }
    Ok(())
}

/// The MCP-level probe (see the module docs).
pub(crate) async fn mcp(state: &ProxyState, color: Color) -> Result<(), String> {
    match state.config.probe_token.clone() {
        Some(token) => mcp_with_token(state, color, token).await,
        None => mcp_unauthenticated(state, color).await,
    }
}

fn json_headers(
    token: Option<&HeaderValue>,
    session: Option<&HeaderValue>,
) -> Vec<(header::HeaderName, HeaderValue)> {
    let mut headers = vec![
        (
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        ),
        (
            header::ACCEPT,
            HeaderValue::from_static("application/json, text/event-stream"),
        ),
        (
            header::HeaderName::from_static("mcp-protocol-version"),
            HeaderValue::from_static(PROBE_PROTOCOL),
        ),
    ];
    if let Some(token) = token {
        headers.push((header::AUTHORIZATION, token.clone()));
    }
    if let Some(session) = session {
        headers.push((
            header::HeaderName::from_static("mcp-session-id"),
            session.clone(),
        ));
    }
    headers
}

/// The JSON-RPC message of a response, whether sent as JSON or as an SSE `data:` line.
fn rpc_result(answer: &Answer) -> Option<serde_json::Value> {
    let is_sse = answer
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    let text = std::str::from_utf8(&answer.body).ok()?;
    let message: serde_json::Value = if is_sse {
        text.lines()
            .filter_map(|line| line.strip_prefix("data:"))
            .filter_map(|data| serde_json::from_str::<serde_json::Value>(data.trim()).ok())
            .find(|v| v.get("id").is_some())?
    } else {
        serde_json::from_str(text).ok()?
    };
    message.get("result").cloned()
}

async fn mcp_with_token(
    state: &ProxyState,
    color: Color,
    token: HeaderValue,
) -> Result<(), String> {
    let path = state.config.mcp_path.clone();
    let initialize = serde_json::json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {
            "protocolVersion": PROBE_PROTOCOL,
            "capabilities": {},
            "clientInfo": {"name": "frame-proxy-probe", "version": env!("CARGO_PKG_VERSION")}
        }
    });
    let answer = send(
        state,
        color,
        Method::POST,
        &path,
        &json_headers(Some(&token), None),
        Bytes::from(initialize.to_string()),
    )
    .await?;
    if answer.status != StatusCode::OK {
        return Err(format!(
            "{color} MCP initialize with the probe token answered {}",
            answer.status
        ));
    }
    if rpc_result(&answer).is_none() {
        return Err(format!(
            "{color} MCP initialize returned no JSON-RPC result"
        ));
    }
    let session = answer.headers.get("mcp-session-id").cloned();
    let notified = serde_json::json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    let answer = send(
        state,
        color,
        Method::POST,
        &path,
        &json_headers(Some(&token), session.as_ref()),
        Bytes::from(notified.to_string()),
    )
    .await?;
    if !answer.status.is_success() {
        return Err(format!(
            "{color} MCP notifications/initialized answered {}",
            answer.status
        ));
    }
    let list = serde_json::json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {}});
    let answer = send(
        state,
        color,
        Method::POST,
        &path,
        &json_headers(Some(&token), session.as_ref()),
        Bytes::from(list.to_string()),
    )
    .await?;
    let tools = rpc_result(&answer)
        .and_then(|r| r.get("tools").map(serde_json::Value::is_array))
        .unwrap_or(false);
    if answer.status != StatusCode::OK || !tools {
        return Err(format!(
            "{color} MCP tools/list answered {} without a tool list",
            answer.status
        ));
    }
    if let Some(session) = session {
        // Best effort: end the probe's session so it does not linger on the frame server.
        let headers = json_headers(Some(&token), Some(&session));
        let _ = send(state, color, Method::DELETE, &path, &headers, Bytes::new()).await;
    }
    Ok(())
}

async fn mcp_unauthenticated(state: &ProxyState, color: Color) -> Result<(), String> {
    let path = state.config.mcp_path.clone();
    let initialize = serde_json::json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": PROBE_PROTOCOL, "capabilities": {},
                   "clientInfo": {"name": "frame-proxy-probe", "version": env!("CARGO_PKG_VERSION")}}
    });
    let answer = send(
        state,
        color,
        Method::POST,
        &path,
        &json_headers(None, None),
        Bytes::from(initialize.to_string()),
    )
    .await?;
    if answer.status != StatusCode::UNAUTHORIZED {
        return Err(format!(
            "{color} {path} without a token answered {} (expected 401)",
            answer.status
        ));
    }
    let challenge = answer
        .headers
        .get(header::WWW_AUTHENTICATE)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| format!("{color} {path} answered 401 without WWW-Authenticate"))?;
    let url = resource_metadata(challenge).ok_or_else(|| {
        format!("{color} {path}: the WWW-Authenticate challenge names no resource_metadata")
    })?;
    let url: http::Uri = url
        .parse()
        .map_err(|_| format!("{color}: resource_metadata is not a URL"))?;
    let metadata_path = url
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .filter(|p| p.starts_with('/'))
        .ok_or_else(|| format!("{color}: resource_metadata has no path"))?;
    // The URL names the public host; the document is fetched from the frame server itself.
    let answer = send(state, color, Method::GET, &metadata_path, &[], Bytes::new()).await?;
    if answer.status != StatusCode::OK {
        return Err(format!(
            "{color} resource metadata {metadata_path} answered {}",
            answer.status
        ));
    }
    let document: serde_json::Value = serde_json::from_slice(&answer.body)
        .map_err(|_| format!("{color} resource metadata {metadata_path} is not JSON"))?;
    if !document
        .get("resource")
        .is_some_and(serde_json::Value::is_string)
    {
        return Err(format!(
            "{color} resource metadata {metadata_path} has no `resource`"
        ));
    }
    Ok(())
}
