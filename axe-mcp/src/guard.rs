//! The HTTP gate in front of rmcp: session ownership (404 for foreign or unknown sessions),
//! the request body limit, the tool scope check (403 with the scope hint before any
//! transaction opens), per-principal limits on open sessions and concurrent calls, and
//! recording the owner of each new session.
//!
//! It runs after the auth and tenant layers (it reads `Principal` and `Tenancy` from the
//! request) and before rmcp, which does the protocol work.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axe_audit::{Actor, AuditLog, NewEvent, Outcome};
use axe_auth::{Error as AuthError, Principal, ProtectedResource, Rejection};
use axe_tenant::Tenancy;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::StreamExt;
use http::{HeaderValue, Method, StatusCode, header};
use http_body_util::{BodyExt, Limited};
use serde_json::{Value, json};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::binding::{BindingStore, SessionOwner};
use crate::tool::ToolSpec;

/// The session header (case-insensitive on the wire).
pub(crate) const SESSION_HEADER: &str = "mcp-session-id";

/// The gate's configuration and state, shared by every request.
pub(crate) struct Guard {
    pub(crate) bindings: Arc<dyn BindingStore>,
    /// Tool name → spec, for the scope check (empty for a raw rmcp handler).
    pub(crate) specs: HashMap<String, ToolSpec>,
    pub(crate) resource: Option<ProtectedResource>,
    pub(crate) audit: Option<AuditLog>,
    pub(crate) max_body: usize,
    pub(crate) max_sessions: usize,
    pub(crate) max_calls: usize,
    pub(crate) calls: Mutex<HashMap<(String, String), Arc<Semaphore>>>,
}

impl Guard {
    /// A permit for one more concurrent POST of `owner`, or `None` at the limit.
    fn permit(&self, owner: &SessionOwner) -> Option<OwnedSemaphorePermit> {
        let semaphore = {
            let mut calls = self
                .calls
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if calls.len() > 10_000 {
                // Forget principals with nothing in flight (only the map holds them).
                calls.retain(|_, s| Arc::strong_count(s) > 1);
            }
            calls
                .entry((owner.tid.clone(), owner.oid.clone()))
                .or_insert_with(|| Arc::new(Semaphore::new(self.max_calls)))
                .clone()
        };
        semaphore.try_acquire_owned().ok()
    }
}

/// What the gate needs to know of a JSON-RPC POST body.
struct Peek {
    method: Option<String>,
    tool: Option<String>,
}

fn peek(body: &[u8]) -> Peek {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let method = parsed
        .as_ref()
        .and_then(|v| v.get("method"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let tool = parsed
        .as_ref()
        .and_then(|v| v.get("params"))
        .and_then(|p| p.get("name"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    Peek { method, tool }
}

/// The middleware function (`axum::middleware::from_fn_with_state`).
pub(crate) async fn gate(State(guard): State<Arc<Guard>>, req: Request, next: Next) -> Response {
    let Some(principal) = req.extensions().get::<Principal>().cloned() else {
        tracing::error!(
            "axe-mcp endpoint reached without a Principal: put it behind EntraAuthLayer"
        );
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let tenancy = req.extensions().get::<Tenancy>().cloned();
    let owner = SessionOwner::of(&principal, tenancy.as_ref());

    let session = match req.headers().get(SESSION_HEADER) {
        None => None,
        Some(v) => match v.to_str() {
            Ok(s) if !s.is_empty() && s.len() <= 256 => Some(s.to_owned()),
            _ => return session_not_found(),
        },
    };
    if let Some(id) = &session {
        match guard.bindings.owner_of(id).await {
            Ok(Some(o)) if o == owner => {}
            Ok(_) => return session_not_found(),
            Err(error) => {
                tracing::error!(error = %error, "session binding lookup failed");
                return unavailable();
            }
        }
    }

    let method = req.method().clone();
    let mut permit = None;
    let req = if method == Method::POST {
        let (parts, body) = req.into_parts();
        if let Some(len) = parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            && len > guard.max_body as u64
        {
            return too_large();
        }
        let bytes: Bytes = match Limited::new(body, guard.max_body).collect().await {
            Ok(c) => c.to_bytes(),
            Err(_) => return too_large(),
        };
        let peek = peek(&bytes);
        if peek.method.as_deref() == Some("tools/call")
            && let Some(spec) = peek.tool.as_deref().and_then(|t| guard.specs.get(t))
            && !spec.allows(&principal)
        {
            record_denied(&guard, &principal, tenancy.as_ref(), spec).await;
            let req = Request::from_parts(parts, Body::empty());
            return insufficient_scope(&guard, spec, &req);
        }
        if peek.method.as_deref() == Some("initialize") && session.is_none() {
            match guard.bindings.count_for(&owner).await {
                Ok(n) if n >= guard.max_sessions => {
                    return too_many("too many open sessions for this user; close one first");
                }
                Ok(_) => {}
                Err(error) => {
                    tracing::error!(error = %error, "session count failed");
                    return unavailable();
                }
            }
        }
        match guard.permit(&owner) {
            Some(p) => permit = Some(p),
            None => return too_many("too many concurrent requests for this user"),
        }
        Request::from_parts(parts, Body::from(bytes))
    } else {
        req
    };

    let response = next.run(req).await;

    if session.is_none()
        && response.status().is_success()
        && let Some(created) = response
            .headers()
            .get(SESSION_HEADER)
            .and_then(|v| v.to_str().ok())
        && let Err(error) = guard.bindings.bind(created, &owner).await
    {
        // Without a binding nobody can use the session: fail closed and say so.
        tracing::error!(error = %error, "could not record the session owner");
        return unavailable();
    }
    if method == Method::DELETE
        && response.status().is_success()
        && let Some(id) = &session
        && let Err(error) = guard.bindings.unbind(id).await
    {
        tracing::warn!(error = %error, "could not remove a closed session's binding");
    }

    match permit {
        // Hold the permit until the body (an SSE stream for a long call) has been sent.
        Some(permit) => response.map(|body| {
            Body::from_stream(body.into_data_stream().map(move |chunk| {
                let _held = &permit;
                chunk
            }))
        }),
        None => response,
    }
}

/// Records a call refused for a missing scope in the entity's log (best effort).
async fn record_denied(
    guard: &Guard,
    principal: &Principal,
    tenancy: Option<&Tenancy>,
    spec: &ToolSpec,
) {
    let (Some(audit), Some(tenancy)) = (&guard.audit, tenancy) else {
        return;
    };
    let Ok(entity) = axe_isolation::EntityId::new(tenancy.entity.as_str()) else {
        return;
    };
    let event = NewEvent::new(
        tenancy.customer.as_str(),
        format!("mcp.tools/call:{}", spec.name()),
        Outcome::DeniedWith {
            code: "insufficient_scope".into(),
        },
    )
    .actor(Actor {
        tid: Some(principal.tenant_id().to_string()),
        oid: Some(principal.object_id().to_owned()),
        client_id: Some(principal.client_id().to_owned()),
        display_name: principal.name().map(str::to_owned),
    })
    .via(tenancy.via.to_string());
    if let Err(error) = audit.record_standalone(&entity, event).await {
        tracing::error!(error = %error, "could not record a denied call");
    }
}

fn insufficient_scope(guard: &Guard, spec: &ToolSpec, req: &Request) -> Response {
    let mut rejection = Rejection::new(AuthError::InsufficientScope {
        required_scopes: spec.scopes().to_vec(),
        accepted_roles: spec.roles().to_vec(),
    })
    .scopes(spec.scopes().iter().cloned());
    if let Some(url) = guard.resource.as_ref().and_then(|r| r.metadata_url(req)) {
        rejection = rejection.resource_metadata(url);
    }
    rejection.into_response().map(Body::new)
}

/// One answer for an unknown, expired or foreign session (MCP: 404 tells the client to start
/// a new session).
fn session_not_found() -> Response {
    json_error(StatusCode::NOT_FOUND, -32001, "session not found")
}

fn too_large() -> Response {
    json_error(
        StatusCode::PAYLOAD_TOO_LARGE,
        -32600,
        "request body too large",
    )
}

fn too_many(message: &'static str) -> Response {
    let mut r = json_error(StatusCode::TOO_MANY_REQUESTS, -32000, message);
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    r
}

fn unavailable() -> Response {
    let mut r = json_error(
        StatusCode::SERVICE_UNAVAILABLE,
        -32603,
        "session store unavailable",
    );
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
    r
}

fn json_error(status: StatusCode, code: i64, message: &'static str) -> Response {
    let body = json!({"jsonrpc": "2.0", "id": null, "error": {"code": code, "message": message}});
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body.to_string(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peek_reads_method_and_tool_and_survives_garbage() {
        let p = peek(br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x"}}"#);
        assert_eq!(p.method.as_deref(), Some("tools/call"));
        assert_eq!(p.tool.as_deref(), Some("x"));
        for hostile in [
            &b""[..],
            b"{",
            b"[]",
            b"null",
            b"{\"method\":5}",
            b"{\"method\":\"tools/call\",\"params\":[1]}",
            b"\xff\xfe",
            b"[{\"method\":\"tools/call\",\"params\":{\"name\":\"x\"}}]",
        ] {
            let p = peek(hostile);
            assert!(p.tool.is_none() || p.method.is_none(), "{hostile:?}");
        }
    }
}
