//! An HTTP-level record of refused requests (feature `http`): [`RefusalLayer`] sits outside
//! the authentication and tenancy layers and, for every response whose status is one of a
//! configured set (401 and 403 by default), records an `http.refused` event in the
//! [`OperatorLog`](crate::OperatorLog).
//!
//! ```no_run
//! use std::convert::Infallible;
//! use axe_audit::OperatorLog;
//! use axe_audit::refusals::{RefusalLayer, RefusalReason};
//! use tower::Layer;
//!
//! # async fn run(owner_pool: sqlx::PgPool) {
//! let (layer, _recorder) = RefusalLayer::builder(OperatorLog::new(owner_pool)).spawn();
//! // Stands for the auth layer: it refuses and says why in the response extensions.
//! let auth = tower::service_fn(|_request: http::Request<String>| async {
//!     let mut response = http::Response::new(String::new());
//!     *response.status_mut() = http::StatusCode::UNAUTHORIZED;
//!     response.extensions_mut().insert(RefusalReason::new("token_missing"));
//!     Ok::<_, Infallible>(response)
//! });
//! let service = layer.layer(auth); // outermost
//! # let _ = service;
//! # }
//! ```
//!
//! What a row holds: action `http.refused`; outcome `denied` with the reason code an inner
//! layer put into the response extensions as a [`RefusalReason`] (or `http_<status>` without
//! one); target `http` / `"<status> <method> <path>"` (the path without its query string,
//! at most 256 bytes); the request id header (`x-request-id` by default, at most 128 bytes); the
//! user agent (at most 256 bytes); the client IP from a [`PeerAddr`] or
//! [`std::net::SocketAddr`] request extension (or a function of your choosing, e.g. for axum's
//! `ConnectInfo`), or from `X-Forwarded-For` only when the proxies in front are declared
//! trusted. The layer never reads the `Authorization` header, cookies, the query string or
//! the body, so no token reaches the log.
//!
//! Recording never delays or fails the response: the layer hands the record to a bounded
//! queue and returns; a [`RefusalRecorder`] task writes the queue to the operator log. When
//! the queue is full the record is dropped, counted ([`RefusalStats::dropped`]) and a warning
//! without request content is logged.

mod future;
mod layer;
mod recorder;
mod service;

use std::net::{IpAddr, SocketAddr};

use axe_isolation::EntityId;
use http::{Extensions, HeaderMap, HeaderValue, Method, StatusCode, Uri};

pub use future::ResponseFuture;
pub use layer::{RefusalLayer, RefusalLayerBuilder};
pub use recorder::{RefusalRecorder, RefusalStats};
pub use service::RefusalService;

use crate::event::{NewEvent, Outcome, Source, Target, Timestamp};

/// The action of a refusal event.
pub const REFUSED_ACTION: &str = "http.refused";

/// Longest path kept, in bytes.
const MAX_PATH: usize = 256;
/// Longest user agent kept, in bytes.
const MAX_USER_AGENT: usize = 256;
/// Longest request id kept, in bytes.
const MAX_REQUEST_ID: usize = 128;

/// Why an inner layer refused a request, put into the response's extensions for
/// [`RefusalLayer`] to record. Carries a machine-readable code only, never message text.
///
/// ```
/// use axe_audit::refusals::RefusalReason;
///
/// let mut response = http::Response::new(());
/// *response.status_mut() = http::StatusCode::UNAUTHORIZED;
/// response.extensions_mut().insert(RefusalReason::new("token_expired").customer("contoso"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RefusalReason {
    /// The reason code, e.g. `token_expired`, `unknown_tenant`.
    pub code: &'static str,
    /// The customer the request was resolved to, if the refusal came after resolution.
    pub customer: Option<String>,
    /// The entity the request was aimed at, if known.
    pub entity: Option<EntityId>,
}

impl RefusalReason {
    /// A reason with code `code`.
    #[must_use]
    pub fn new(code: &'static str) -> Self {
        Self {
            code,
            customer: None,
            entity: None,
        }
    }

    /// Sets the customer.
    #[must_use]
    pub fn customer(mut self, customer: impl Into<String>) -> Self {
        self.customer = Some(customer.into());
        self
    }

    /// Sets the entity.
    #[must_use]
    pub fn entity(mut self, entity: EntityId) -> Self {
        self.entity = Some(entity);
        self
    }
}

/// The peer's socket address as a request extension, for servers that do not use axum's
/// `ConnectInfo` (a bare [`SocketAddr`] extension is read too).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerAddr(pub SocketAddr);

/// The client IP from a [`PeerAddr`] or [`SocketAddr`] request extension.
#[must_use]
pub fn default_peer_ip(extensions: &Extensions) -> Option<IpAddr> {
    extensions
        .get::<PeerAddr>()
        .map(|p| p.0.ip())
        .or_else(|| extensions.get::<SocketAddr>().map(SocketAddr::ip))
}

/// The [`RefusalReason`] in the response extensions, if any.
#[must_use]
pub fn default_reason(_status: StatusCode, extensions: &Extensions) -> Option<RefusalReason> {
    extensions.get::<RefusalReason>().cloned()
}

/// The client address `hops` entries from the right of the `X-Forwarded-For` headers (1 = the
/// entry the nearest trusted proxy appended). `None` when the headers hold fewer entries or
/// that entry is not an IP address (with or without a port).
#[must_use]
pub fn forwarded_for(headers: &HeaderMap, hops: usize) -> Option<IpAddr> {
    if hops == 0 {
        return None;
    }
    let mut entries = Vec::new();
    for value in headers.get_all("x-forwarded-for") {
        let text = value.to_str().ok()?;
        entries.extend(text.split(',').map(str::trim));
    }
    let entry = *entries.get(entries.len().checked_sub(hops)?)?;
    entry
        .parse::<IpAddr>()
        .ok()
        .or_else(|| entry.parse::<SocketAddr>().ok().map(|s| s.ip()))
}

/// What is kept of a request until its response is known (cheap clones only).
#[derive(Debug)]
pub(crate) struct Captured {
    at: Timestamp,
    method: Method,
    uri: Uri,
    user_agent: Option<HeaderValue>,
    request_id: Option<HeaderValue>,
    ip: Option<IpAddr>,
}

/// A refused request on its way to the recorder.
#[derive(Debug)]
pub(crate) struct Refusal {
    captured: Captured,
    status: StatusCode,
    reason: Option<RefusalReason>,
}

/// `text` cut to at most `max` bytes at a character boundary.
fn truncate(text: &str, max: usize) -> String {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

fn header_text(value: Option<&HeaderValue>, max: usize) -> Option<String> {
    value
        .and_then(|v| v.to_str().ok())
        .filter(|t| !t.is_empty())
        .map(|t| truncate(t, max))
}

impl Refusal {
    /// The operator-log event and the entity it is about.
    pub(crate) fn into_event(self) -> (Option<EntityId>, NewEvent) {
        let Captured {
            at,
            method,
            uri,
            user_agent,
            request_id,
            ip,
        } = self.captured;
        let code = self.reason.as_ref().map_or_else(
            || format!("http_{}", self.status.as_u16()),
            |r| r.code.to_owned(),
        );
        let (customer, entity) = self.reason.map_or((None, None), |r| (r.customer, r.entity));
        let target = format!(
            "{} {} {}",
            self.status.as_u16(),
            method,
            truncate(uri.path(), MAX_PATH)
        );
        let mut event = NewEvent::new(
            customer.unwrap_or_default(),
            REFUSED_ACTION,
            Outcome::DeniedWith { code },
        )
        .occurred_at(at)
        .target(Target::new("http", target))
        .source(Source {
            ip: ip.map(|ip| ip.to_string()),
            user_agent: header_text(user_agent.as_ref(), MAX_USER_AGENT),
        });
        event.request_id = header_text(request_id.as_ref(), MAX_REQUEST_ID);
        (entity, event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for v in values {
            map.append("x-forwarded-for", HeaderValue::from_str(v).unwrap());
        }
        map
    }

    #[test]
    fn forwarded_for_takes_the_trusted_hop_and_refuses_garbage() {
        let h = headers(&["203.0.113.7, 10.0.0.1", "198.51.100.2"]);
        assert_eq!(forwarded_for(&h, 1), Some("198.51.100.2".parse().unwrap()));
        assert_eq!(forwarded_for(&h, 2), Some("10.0.0.1".parse().unwrap()));
        assert_eq!(forwarded_for(&h, 3), Some("203.0.113.7".parse().unwrap()));
        assert_eq!(forwarded_for(&h, 4), None);
        assert_eq!(forwarded_for(&h, 0), None);
        assert_eq!(
            forwarded_for(&headers(&["[2001:db8::1]:443"]), 1),
            Some("2001:db8::1".parse().unwrap())
        );
        assert_eq!(
            forwarded_for(&headers(&["192.0.2.1:8080"]), 1),
            Some("192.0.2.1".parse().unwrap())
        );
        for bad in [
            "",
            ",",
            "not-an-ip",
            "1.2.3.4.5",
            "999.1.1.1",
            "1.2.3.4, ",
            "unknown",
        ] {
            assert_eq!(forwarded_for(&headers(&[bad]), 1), None, "{bad:?}");
        }
        let mut map = HeaderMap::new();
        map.append(
            "x-forwarded-for",
            HeaderValue::from_bytes(b"1.2.3.4\xff").unwrap(),
        );
        assert_eq!(forwarded_for(&map, 1), None);
        assert_eq!(forwarded_for(&HeaderMap::new(), 1), None);
    }

    #[test]
    fn truncation_respects_char_boundaries() {
        assert_eq!(truncate("abc", 2), "ab");
        assert_eq!(truncate("aé", 2), "a");
        assert_eq!(truncate("", 5), "");
    }

    #[test]
    fn event_has_no_query_and_bounded_fields() {
        let refusal = Refusal {
            captured: Captured {
                at: Timestamp::from_micros(5),
                method: Method::POST,
                uri: "/mcp/x?access_token=secret".parse().unwrap(),
                user_agent: Some(HeaderValue::from_str(&"u".repeat(1000)).unwrap()),
                request_id: Some(HeaderValue::from_static("req-9")),
                ip: Some("192.0.2.1".parse().unwrap()),
            },
            status: StatusCode::FORBIDDEN,
            reason: None,
        };
        let (entity, event) = refusal.into_event();
        assert_eq!(entity, None);
        assert_eq!(event.target.unwrap().id, "403 POST /mcp/x");
        assert_eq!(
            event.outcome,
            Outcome::DeniedWith {
                code: "http_403".into()
            }
        );
        assert_eq!(event.source.user_agent.unwrap().len(), MAX_USER_AGENT);
        assert_eq!(event.request_id.as_deref(), Some("req-9"));
        assert_eq!(event.occurred_at, Timestamp::from_micros(5));
    }
}
