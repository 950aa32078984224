//! RFC 9728 protected-resource metadata, and the resource a layer protects.
//!
//! A [`ProtectedResource`] describes the MCP endpoint (`/frame/mcp`), the
//! scopes clients must ask for, and which Entra tenant signs users in for it.
//! It is shared by the auth layer (for the `resource_metadata` URL of its
//! challenges) and by [`MetadataService`], which serves
//! `/.well-known/oauth-protected-resource/frame/mcp`:
//!
//! ```json
//! {
//!   "resource": "https://axe.axelabs.ai/frame/mcp",
//!   "authorization_servers": ["https://login.microsoftonline.com/{tid}/v2.0"],
//!   "scopes_supported": ["api://frame.axelabs.ai/mcp.access"],
//!   "bearer_methods_supported": ["header"],
//!   "resource_name": "Frame"
//! }
//! ```
//!
//! One server can host many customers: with [`ProtectedResource::per_host`]
//! the document is built per request from the `Host` header, each customer
//! getting its own `resource` URL and its own tenant as authorization server.

use std::convert::Infallible;
use std::fmt;
use std::future::{Ready, ready};
use std::net::IpAddr;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use serde::{Deserialize, Serialize};

use crate::TenantId;
use crate::config::{DEFAULT_AUTHORITY, check_base_url};
use crate::error::ConfigError;
use crate::tenants::TenantForHost;

/// The well-known prefix of RFC 9728.
pub const WELL_KNOWN_PREFIX: &str = "/.well-known/oauth-protected-resource";

/// The RFC 9728 document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProtectedResourceMetadata {
    /// The exact URL of the protected resource.
    pub resource: String,
    /// The authorization servers that issue tokens for it.
    pub authorization_servers: Vec<String>,
    /// The scopes a client should request, fully qualified.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes_supported: Vec<String>,
    /// How the token is presented: `header` only.
    pub bearer_methods_supported: Vec<String>,
    /// A human-readable name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_name: Option<String>,
}

/// The resource an [`EntraAuthLayer`](crate::EntraAuthLayer) protects.
///
/// ```
/// use axe_auth::ProtectedResource;
/// let resource = ProtectedResource::single(
///     "https://axe.axelabs.ai/frame/mcp",
///     "122fb574-0000-4000-8000-00000000a11c".parse()?,
/// )
/// .scope("api://frame.axelabs.ai/mcp.access")
/// .resource_name("Frame")
/// .build()?;
/// assert_eq!(
///     resource.well_known_path(),
///     "/.well-known/oauth-protected-resource/frame/mcp"
/// );
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct ProtectedResource {
    inner: Arc<Inner>,
}

struct Inner {
    path: String,
    origin: Origin,
    scopes: Vec<String>,
    resource_name: Option<String>,
    authority: String,
    max_age: Duration,
}

enum Origin {
    Fixed { origin: String, tenant: TenantId },
    PerHost(Arc<dyn TenantForHost>),
}

impl fmt::Debug for ProtectedResource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let origin = match &self.inner.origin {
            Origin::Fixed { origin, tenant } => format!("{origin} ({tenant})"),
            Origin::PerHost(_) => "per host".to_owned(),
        };
        f.debug_struct("ProtectedResource")
            .field("path", &self.inner.path)
            .field("origin", &origin)
            .field("scopes", &self.inner.scopes)
            .finish_non_exhaustive()
    }
}

/// Builds a [`ProtectedResource`].
pub struct ProtectedResourceBuilder {
    path: Result<String, ConfigError>,
    origin: Result<Origin, ConfigError>,
    scopes: Vec<String>,
    resource_name: Option<String>,
    authority: String,
    max_age: Duration,
}

impl fmt::Debug for ProtectedResourceBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProtectedResourceBuilder")
            .field("path", &self.path)
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

impl ProtectedResource {
    /// One customer: the resource is exactly `resource_url`
    /// (`https://axe.axelabs.ai/frame/mcp`) and its users sign in with
    /// `tenant`.
    pub fn single(resource_url: &str, tenant: TenantId) -> ProtectedResourceBuilder {
        let parsed = url::Url::parse(resource_url)
            .ok()
            .filter(|u| u.host_str().is_some() && matches!(u.scheme(), "https" | "http"))
            .filter(|u| u.query().is_none() && u.fragment().is_none());
        let (origin, path) = match parsed {
            Some(u) => {
                let origin = check_base_url("resource", &u.origin().ascii_serialization());
                (
                    origin.map(|origin| Origin::Fixed { origin, tenant }),
                    check_path(u.path()),
                )
            }
            None => {
                let err = ConfigError::Invalid {
                    field: "resource",
                    value: resource_url.to_owned(),
                    reason: "is not an absolute http(s) URL without query",
                };
                (Err(err.clone()), Err(err))
            }
        };
        ProtectedResourceBuilder::new(path, origin)
    }

    /// Many customers on one server: the resource is
    /// `https://{request host}{path}` and the tenant is whatever `tenants`
    /// says for that host; requests to a host it does not know get no
    /// metadata (404) and a challenge without `resource_metadata`. Loopback
    /// hosts (dev mode) are served over `http`.
    pub fn per_host(path: &str, tenants: impl TenantForHost) -> ProtectedResourceBuilder {
        ProtectedResourceBuilder::new(check_path(path), Ok(Origin::PerHost(Arc::new(tenants))))
    }

    /// The resource's path (`/frame/mcp`).
    pub fn path(&self) -> &str {
        &self.inner.path
    }

    /// The fully qualified scopes clients are told to request.
    pub fn scopes(&self) -> &[String] {
        &self.inner.scopes
    }

    /// `/.well-known/oauth-protected-resource{path}`, where the metadata is
    /// served.
    pub fn well_known_path(&self) -> String {
        format!("{WELL_KNOWN_PREFIX}{}", self.inner.path)
    }

    /// The public origin (`https://axe.axelabs.ai`) and tenant a request is
    /// for, if any.
    fn origin_for<B>(&self, req: &Request<B>) -> Option<(String, TenantId)> {
        match &self.inner.origin {
            Origin::Fixed { origin, tenant } => Some((origin.clone(), *tenant)),
            Origin::PerHost(lookup) => {
                let host = request_host(req)?;
                let tenant = lookup.tenant_for_host(&host.name)?;
                let scheme = if host.is_loopback() { "http" } else { "https" };
                Some((format!("{scheme}://{}", host.authority), tenant))
            }
        }
    }

    /// The absolute URL of the resource this request is for.
    pub fn resource_url<B>(&self, req: &Request<B>) -> Option<String> {
        self.origin_for(req)
            .map(|(origin, _)| format!("{origin}{}", self.inner.path))
    }

    /// The absolute URL of the metadata document, for challenges.
    pub fn metadata_url<B>(&self, req: &Request<B>) -> Option<String> {
        self.origin_for(req)
            .map(|(origin, _)| format!("{origin}{}", self.well_known_path()))
    }

    /// The metadata document for this request's customer.
    pub fn metadata<B>(&self, req: &Request<B>) -> Option<ProtectedResourceMetadata> {
        let (origin, tenant) = self.origin_for(req)?;
        Some(ProtectedResourceMetadata {
            resource: format!("{origin}{}", self.inner.path),
            authorization_servers: vec![format!("{}/{tenant}/v2.0", self.inner.authority)],
            scopes_supported: self.inner.scopes.clone(),
            bearer_methods_supported: vec!["header".to_owned()],
            resource_name: self.inner.resource_name.clone(),
        })
    }

    /// A tower service answering the metadata routes: mount it at
    /// [`well_known_path`](Self::well_known_path) (and, for older clients,
    /// at [`WELL_KNOWN_PREFIX`] itself).
    pub fn metadata_service(&self) -> MetadataService {
        MetadataService {
            resource: self.clone(),
        }
    }
}

impl ProtectedResourceBuilder {
    fn new(path: Result<String, ConfigError>, origin: Result<Origin, ConfigError>) -> Self {
        ProtectedResourceBuilder {
            path,
            origin,
            scopes: Vec::new(),
            resource_name: None,
            authority: DEFAULT_AUTHORITY.to_owned(),
            max_age: Duration::from_secs(60),
        }
    }

    /// Adds a scope clients must request, fully qualified
    /// (`api://frame.axelabs.ai/mcp.access`): a bare `mcp.access` would be
    /// resolved by Entra against Microsoft Graph (AADSTS650053).
    pub fn scope(mut self, scope: impl Into<String>) -> Self {
        self.scopes.push(scope.into());
        self
    }

    /// A human-readable name for the metadata document.
    pub fn resource_name(mut self, name: impl Into<String>) -> Self {
        self.resource_name = Some(name.into());
        self
    }

    /// The Entra authority (default public cloud); must match the
    /// validator's.
    pub fn authority(mut self, url: impl Into<String>) -> Self {
        self.authority = url.into();
        self
    }

    /// `Cache-Control: max-age` of the metadata (default 60 s; claude.ai
    /// caches metadata, so keep it short).
    pub fn cache_max_age(mut self, max_age: Duration) -> Self {
        self.max_age = max_age;
        self
    }

    /// Checks and builds.
    pub fn build(self) -> Result<ProtectedResource, ConfigError> {
        let path = self.path?;
        let origin = self.origin?;
        if self.scopes.is_empty() {
            // Without an advertised scope Entra fails with AADSTS900144.
            return Err(ConfigError::Missing { field: "scope" });
        }
        for s in &self.scopes {
            let qualified = s.rfind('/').is_some_and(|i| i > 0 && i + 1 < s.len());
            if !qualified
                || s.chars()
                    .any(|c| c.is_whitespace() || c == '"' || c.is_control())
            {
                return Err(ConfigError::Invalid {
                    field: "scope",
                    value: s.clone(),
                    reason: "must be fully qualified, e.g. api://<app id uri>/mcp.access",
                });
            }
        }
        let authority = check_base_url("authority", &self.authority)?;
        Ok(ProtectedResource {
            inner: Arc::new(Inner {
                path,
                origin,
                scopes: self.scopes,
                resource_name: self.resource_name,
                authority,
                max_age: self.max_age,
            }),
        })
    }
}

fn check_path(path: &str) -> Result<String, ConfigError> {
    let ok = path.starts_with('/')
        && path.len() > 1
        && !path.ends_with('/')
        && !path.contains("//")
        && path
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/-._~".contains(&b));
    if ok {
        Ok(path.to_owned())
    } else {
        Err(ConfigError::Invalid {
            field: "path",
            value: path.to_owned(),
            reason: "must be an absolute path like /frame/mcp (unreserved characters, no trailing slash)",
        })
    }
}

/// A request's host, normalized.
pub(crate) struct RequestHost {
    /// Lower case, no port, no trailing dot (IPv6 without brackets).
    pub(crate) name: String,
    /// As it goes into a URL: name plus port, IPv6 bracketed.
    pub(crate) authority: String,
}

impl RequestHost {
    fn is_loopback(&self) -> bool {
        self.name == "localhost" || self.name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
    }
}

/// Reads the host from `Host` (HTTP/1.1) or the URI authority (HTTP/2),
/// refusing anything that is not a plain host name, IPv4, or bracketed IPv6
/// with an optional port: the value ends up inside URLs and headers.
pub(crate) fn request_host<B>(req: &Request<B>) -> Option<RequestHost> {
    let raw = match req.headers().get(header::HOST) {
        Some(v) => v.to_str().ok()?,
        None => req.uri().authority()?.as_str(),
    };
    let raw = raw.trim();
    let (host, port) = if let Some(rest) = raw.strip_prefix('[') {
        let (h, after) = rest.split_once(']')?;
        h.parse::<std::net::Ipv6Addr>().ok()?;
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':')?),
        };
        (h.to_ascii_lowercase(), port)
    } else {
        let (h, port) = match raw.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (raw, None),
        };
        let h = h.strip_suffix('.').unwrap_or(h).to_ascii_lowercase();
        let valid = !h.is_empty()
            && h.len() <= 253
            && h.split('.').all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && !l.starts_with('-')
                    && !l.ends_with('-')
                    && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            });
        if !valid {
            return None;
        }
        (h, port)
    };
    if let Some(p) = port {
        p.parse::<u16>().ok().filter(|p| *p != 0)?;
    }
    let bracketed = if host.contains(':') {
        format!("[{host}]")
    } else {
        host.clone()
    };
    let authority = match port {
        Some(p) => format!("{bracketed}:{p}"),
        None => bracketed,
    };
    Some(RequestHost {
        name: host,
        authority,
    })
}

/// Serves the RFC 9728 document of a [`ProtectedResource`].
///
/// `GET`/`HEAD` answer the JSON with a short `Cache-Control` and
/// `Access-Control-Allow-Origin: *` (browser-based clients read it
/// cross-origin); `OPTIONS` answers the CORS preflight; other methods get
/// 405; a host that serves no customer gets 404.
#[derive(Debug, Clone)]
pub struct MetadataService {
    resource: ProtectedResource,
}

impl MetadataService {
    /// Answers one request.
    pub fn respond<B>(&self, req: &Request<B>) -> Response<Full<Bytes>> {
        let mut resp = match *req.method() {
            Method::OPTIONS => {
                let mut r = Response::new(Full::new(Bytes::new()));
                *r.status_mut() = StatusCode::NO_CONTENT;
                r.headers_mut().insert(
                    header::ACCESS_CONTROL_ALLOW_METHODS,
                    HeaderValue::from_static("GET, HEAD, OPTIONS"),
                );
                r.headers_mut().insert(
                    header::ACCESS_CONTROL_ALLOW_HEADERS,
                    HeaderValue::from_static("*"),
                );
                r.headers_mut().insert(
                    header::ACCESS_CONTROL_MAX_AGE,
                    HeaderValue::from_static("86400"),
                );
                r
            }
            Method::GET | Method::HEAD => match self.resource.metadata(req) {
                Some(doc) => {
                    let body = serde_json::to_vec(&doc).unwrap_or_default();
                    let mut r = if req.method() == Method::HEAD {
                        Response::new(Full::new(Bytes::new()))
                    } else {
                        Response::new(Full::new(Bytes::from(body)))
                    };
                    r.headers_mut().insert(
                        header::CONTENT_TYPE,
                        HeaderValue::from_static("application/json"),
                    );
                    let cc = format!("public, max-age={}", self.resource.inner.max_age.as_secs());
                    if let Ok(v) = HeaderValue::from_str(&cc) {
                        r.headers_mut().insert(header::CACHE_CONTROL, v);
                    }
                    r.headers_mut()
                        .insert(header::VARY, HeaderValue::from_static("Host"));
                    r
                }
                None => status_json(StatusCode::NOT_FOUND, "unknown resource"),
            },
            _ => {
                let mut r = status_json(StatusCode::METHOD_NOT_ALLOWED, "method not allowed");
                r.headers_mut().insert(
                    header::ALLOW,
                    HeaderValue::from_static("GET, HEAD, OPTIONS"),
                );
                r
            }
        };
        resp.headers_mut().insert(
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            HeaderValue::from_static("*"),
        );
        resp
    }
}

fn status_json(status: StatusCode, msg: &str) -> Response<Full<Bytes>> {
    let body = serde_json::json!({ "error": msg }).to_string();
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

impl<B> tower_service::Service<Request<B>> for MetadataService {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        ready(Ok(self.respond(&req)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tid() -> TenantId {
        "122fb574-0000-4000-8000-00000000a11c".parse().unwrap()
    }

    fn req(host: &str) -> Request<()> {
        Request::builder()
            .uri("/.well-known/oauth-protected-resource/frame/mcp")
            .header(header::HOST, host)
            .body(())
            .unwrap()
    }

    #[test]
    fn hosts_are_normalized_and_hostile_ones_refused() {
        let h = request_host(&req("AXE.AxeLabs.AI.:443")).unwrap();
        assert_eq!(h.name, "axe.axelabs.ai");
        assert_eq!(h.authority, "axe.axelabs.ai:443");
        let h = request_host(&req("[::1]:3710")).unwrap();
        assert_eq!(
            (h.name.as_str(), h.authority.as_str()),
            ("::1", "[::1]:3710")
        );
        assert!(h.is_loopback());
        for bad in [
            "",
            "a..b",
            "a.b:0",
            "a.b:99999",
            "a\"b",
            "a/b",
            "a b",
            "user@host",
            "[::1",
            "[zz]:1",
            "-a.b",
            "a.b:x",
            "a.b:1:2",
            "..",
        ] {
            assert!(request_host(&req(bad)).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn per_host_metadata_names_that_customers_tenant() {
        let other: TenantId = "00000000-0000-4000-8000-000000000002".parse().unwrap();
        let t = tid();
        let resource = ProtectedResource::per_host("/frame/mcp", move |h: &str| match h {
            "axe.axelabs.ai" => Some(t),
            "realchoice.axelabs.ai" => Some(other),
            _ => None,
        })
        .scope("api://frame/mcp.access")
        .build()
        .unwrap();
        let doc = resource.metadata(&req("realchoice.axelabs.ai")).unwrap();
        assert_eq!(doc.resource, "https://realchoice.axelabs.ai/frame/mcp");
        assert_eq!(
            doc.authorization_servers,
            vec![format!("https://login.microsoftonline.com/{other}/v2.0")]
        );
        assert!(resource.metadata(&req("evil.example")).is_none());
        let svc = resource.metadata_service();
        assert_eq!(svc.respond(&req("evil.example")).status(), 404);
        let ok = svc.respond(&req("axe.axelabs.ai"));
        assert_eq!(ok.status(), 200);
        assert_eq!(ok.headers()[header::CACHE_CONTROL], "public, max-age=60");
        assert_eq!(ok.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
    }

    #[test]
    fn builder_refuses_bare_scopes_and_bad_paths() {
        let b = || ProtectedResource::single("https://axe.axelabs.ai/frame/mcp", tid());
        assert_eq!(
            b().build().unwrap_err(),
            ConfigError::Missing { field: "scope" }
        );
        assert!(b().scope("mcp.access").build().is_err());
        assert!(b().scope("api://x/").build().is_err());
        assert!(b().scope("api://x/a b").build().is_err());
        assert!(b().scope("api://x/mcp.access").build().is_ok());
        for bad in [
            "axe.axelabs.ai/frame/mcp",
            "https://axe.axelabs.ai/frame/mcp?x=1",
            "http://axe.axelabs.ai/frame/mcp",
            "https://axe.axelabs.ai/",
            "https://axe.axelabs.ai/frame/mcp/",
        ] {
            assert!(
                ProtectedResource::single(bad, tid())
                    .scope("api://x/mcp.access")
                    .build()
                    .is_err(),
                "{bad}"
            );
        }
    }
}
