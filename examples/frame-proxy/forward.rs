//! The data plane: pick a color, forward the request as it streams in, hand back the response
//! as it streams out.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Request, Response, StatusCode, Version};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;

use crate::body::{SseCut, TrackedBody};
use crate::color::Color;
use crate::headers::{COLOR, SESSION, forwarded_headers, strip_hop_by_hop};
use crate::state::ProxyState;
use crate::upstream::{Lease, Paired, UpstreamError};

/// Body type of every response the proxy sends.
pub(crate) type ProxyBody = UnsyncBoxBody<Bytes, Box<dyn std::error::Error + Send + Sync>>;

/// A small plain-text response made by the proxy itself.
pub(crate) fn text(status: StatusCode, body: impl Into<Bytes>) -> Response<ProxyBody> {
    let mut response = Response::new(
        Full::new(body.into())
            .map_err(|never: Infallible| match never {})
            .boxed_unsync(),
    );
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// Why the frame server gave no response.
enum Failure {
    /// From the pooled client (HTTP/2 client connections).
    Pooled(hyper_util::client::legacy::Error),
    /// From the client connection's own upstream connection (HTTP/1.1).
    Paired(UpstreamError),
    /// No response head within `response_timeout_ms`.
    TimedOut,
}

impl Failure {
    fn is_connect(&self) -> bool {
        match self {
            Failure::Pooled(e) => e.is_connect(),
            Failure::Paired(e) => e.is_connect(),
            Failure::TimedOut => false,
        }
    }

    fn chain(&self) -> String {
        match self {
            Failure::Pooled(e) => crate::error_chain(e),
            Failure::Paired(e) => crate::error_chain(e),
            Failure::TimedOut => "no response in time".to_owned(),
        }
    }
}

/// Sends `upstream` to `color`: over the client connection's own upstream connection for
/// HTTP/1.1 clients, through the pooled client for HTTP/2 ones (`paired` is `None`). The
/// response head must arrive by `deadline`.
async fn send(
    state: &ProxyState,
    paired: Option<&Arc<Paired>>,
    color: Color,
    upstream: Request<Incoming>,
    deadline: Instant,
) -> Result<(Response<Incoming>, Option<Lease>), Failure> {
    match paired {
        Some(paired) => {
            let (response, conn) =
                paired
                    .send(color, upstream, deadline)
                    .await
                    .map_err(|e| match e {
                        UpstreamError::TimedOut => Failure::TimedOut,
                        e => Failure::Paired(e),
                    })?;
            Ok((response, Some(Lease::new(Arc::clone(paired), color, conn))))
        }
        None => {
            let response =
                tokio::time::timeout_at(deadline.into(), state.data_client.request(upstream))
                    .await
                    .map_err(|_| Failure::TimedOut)?
                    .map_err(Failure::Pooled)?;
            Ok((response, None))
        }
    }
}

/// Handles one client request; `peer_ip` is its client connection's
/// [`crate::headers::peer_ip`], `paired` holds that connection's upstream connections (used
/// for HTTP/1.x requests).
pub(crate) async fn handle(
    state: &'static Arc<ProxyState>,
    peer_ip: HeaderValue,
    paired: Arc<Paired>,
    req: Request<Incoming>,
) -> Result<Response<ProxyBody>, Infallible> {
    // HTTP/2 requests multiplex on one client connection: they use the pooled client.
    let paired = (req.version() != Version::HTTP_2).then_some(&paired);
    let started = Instant::now();
    let session = req
        .headers()
        .get(&SESSION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let color = state.routes.pick(session.as_deref());
    let method = req.method().clone();
    // For logs: the path only (a query string may carry a token).
    let target = req.uri().path_and_query().cloned();
    let path = target.as_ref().map_or("/", |p| p.path());
    let Some(guard) = state.enter(color) else {
        tracing::warn!(%method, %path, %color, "over max_in_flight; refused");
        return Ok(text(
            StatusCode::SERVICE_UNAVAILABLE,
            "frame-proxy: too many requests in flight\n",
        ));
    };

    let (mut parts, body) = req.into_parts();
    // HTTP/2 requests carry the host in the URI authority, HTTP/1.1 ones in Host.
    let host = parts.headers.get(header::HOST).cloned().or_else(|| {
        parts
            .uri
            .authority()
            .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
    });
    strip_hop_by_hop(&mut parts.headers);
    forwarded_headers(
        &mut parts.headers,
        peer_ip,
        host.clone(),
        state.config.trust_forwarded,
    );
    if let Some(host) = host {
        // The frame server sees the host the client asked for (as Caddy does by default).
        parts.headers.insert(header::HOST, host);
    }
    let backend = state.config.backend(color);
    let uri = if paired.is_some() {
        // The connection is to the backend already: origin-form, and a `Host` is required.
        if !parts.headers.contains_key(header::HOST)
            && let Ok(host) = HeaderValue::from_str(backend.authority.as_str())
        {
            parts.headers.insert(header::HOST, host);
        }
        if parts.uri.scheme().is_none() && parts.uri.authority().is_none() {
            // Origin-form already (what HTTP/1.1 clients send): forwarded as it is.
            Ok(std::mem::take(&mut parts.uri))
        } else {
            parts
                .uri
                .path_and_query()
                .map_or("/", |p| p.as_str())
                .parse()
                .map_err(http::Error::from)
        }
    } else {
        backend.uri(parts.uri.path_and_query().map_or("/", |p| p.as_str()))
    };
    parts.uri = match uri {
        Ok(uri) => uri,
        Err(_) => {
            return Ok(text(
                StatusCode::BAD_REQUEST,
                "frame-proxy: bad request target\n",
            ));
        }
    };
    // Backends are spoken to over HTTP/1.1 whatever the client used.
    parts.version = Version::HTTP_11;
    let upstream = Request::from_parts(parts, body);

    let deadline = started + state.config.response_timeout;
    let (mut response, lease) = match send(state, paired, color, upstream, deadline).await {
        Ok(answer) => answer,
        Err(Failure::TimedOut) => {
            tracing::warn!(%method, %path, %color, "frame server response timed out");
            maybe_auto_rollback(state, color, true);
            return Ok(text(
                StatusCode::GATEWAY_TIMEOUT,
                format!("frame-proxy: the {color} frame server did not answer in time\n"),
            ));
        }
        Err(error) => {
            // The error names the backend address and the kind of failure, never a header.
            tracing::warn!(%method, %path, %color, connect = error.is_connect(), error = %error.chain(), "frame server did not answer");
            maybe_auto_rollback(state, color, true);
            return Ok(text(
                StatusCode::BAD_GATEWAY,
                format!("frame-proxy: the {color} frame server did not answer\n"),
            ));
        }
    };

    let status = response.status();
    if let Some(id) = response
        .headers()
        .get(&SESSION)
        .and_then(|v| v.to_str().ok())
    {
        state.routes.affinity().learn(id, color);
    }
    if method == http::Method::DELETE
        && status.is_success()
        && let Some(session) = &session
    {
        state.routes.affinity().forget(session);
    }
    state.note_response(color);
    maybe_auto_rollback(state, color, status.is_server_error());

    strip_hop_by_hop(response.headers_mut());
    response
        .headers_mut()
        .insert(COLOR.clone(), HeaderValue::from_static(color.as_str()));
    let is_sse = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().starts_with("text/event-stream"));
    let sse = is_sse.then(|| {
        let (stream, token) = state.open_stream(color);
        SseCut::new(token, stream)
    });
    tracing::info!(
        %method,
        %path,
        status = status.as_u16(),
        %color,
        sse = is_sse,
        ms = started.elapsed().as_millis() as u64,
        "proxied"
    );
    Ok(response.map(|body| {
        TrackedBody::new(body, guard, sse, lease)
            .map_err(Into::into)
            .boxed_unsync()
    }))
}

/// Feeds passive health and starts an automatic rollback when it is due.
fn maybe_auto_rollback(state: &Arc<ProxyState>, color: Color, failed: bool) {
    if let Some((generation, reason)) = state.passive.record(color, failed) {
        let rollback = crate::swap::auto_rollback(Arc::clone(state), generation, reason);
        state.control_runtime.spawn(rollback);
    }
}
