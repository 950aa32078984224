//! [`McpEndpoint`]: the MCP Streamable HTTP endpoint as an axum [`Router`], with its builder.
//!
//! The router holds, in this order from the outside in:
//! the RFC 9728 metadata routes (public), then for the MCP path: [`EntraAuthLayer`] (401),
//! [`TenantLayer`] (403), the session gate of the private `guard` module (404 for foreign sessions,
//! 403 for a missing tool scope, 413, 429), and rmcp's `StreamableHttpService` (Host and
//! Origin checks, protocol version, both protocol eras). With
//! [`McpEndpointBuilder::record_refusals`] a [`RefusalLayer`] goes around all of them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axe_audit::refusals::RefusalLayer;
use axe_audit::{AuditLog, Envelope};
use axe_auth::{EntraAuthLayer, ProtectedResource};
use axe_tenant::TenantLayer;
use axum::Router;
use rmcp::model::Implementation;
use rmcp::transport::streamable_http_server::session::local::{LocalSessionManager, SessionConfig};
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use tokio_util::sync::CancellationToken;

use crate::binding::{BindingStore, MemoryBindings};
use crate::error::BuildError;
use crate::guard::{Guard, gate};
use crate::handler::{Handler, Shared};
use crate::pg::PgSessionStore;
use crate::registry::Registry;
use crate::tool::Tool;

/// Default request body limit: 1 MiB.
pub const DEFAULT_MAX_BODY: usize = 1 << 20;
/// Default limit of open sessions per user.
pub const DEFAULT_MAX_SESSIONS: usize = 16;
/// Default limit of concurrent POSTs per user.
pub const DEFAULT_MAX_CALLS: usize = 8;
/// Default idle timeout of a session.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// How requests get their `Principal` and `Tenancy`.
#[derive(Clone)]
enum Front {
    Entra {
        auth: EntraAuthLayer,
        tenancy: TenantLayer,
        resource: ProtectedResource,
    },
    #[cfg(feature = "test-util")]
    Dev(Box<crate::dev::DevFront>),
}

/// A built endpoint: [`McpEndpoint::router`] to serve it, [`McpEndpoint::shutdown`] to end
/// its sessions and streams.
pub struct McpEndpoint {
    router: Router,
    shutdown: CancellationToken,
    path: String,
}

impl std::fmt::Debug for McpEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("McpEndpoint")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl McpEndpoint {
    /// A builder for an endpoint at `path` whose tools run in the entities of `audit`'s
    /// [`Isolation`](axe_isolation::Isolation) and are recorded in their audit logs.
    pub fn builder(path: impl Into<String>, audit: AuditLog) -> McpEndpointBuilder {
        McpEndpointBuilder {
            path: path.into(),
            audit,
            pii: None,
            registry: Registry::default(),
            tool_errors: Vec::new(),
            server: Implementation::new(env!("CARGO_PKG_NAME"), env!("CARGO_PKG_VERSION")),
            instructions: None,
            front: None,
            allowed_hosts: vec!["localhost".into(), "127.0.0.1".into(), "::1".into()],
            allowed_origins: Vec::new(),
            max_body: DEFAULT_MAX_BODY,
            max_sessions: DEFAULT_MAX_SESSIONS,
            max_calls: DEFAULT_MAX_CALLS,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            store: None,
            json_response: false,
            refusals: None,
        }
    }

    /// The router: mount it with `Router::merge` (its routes carry their full paths).
    pub fn router(&self) -> Router {
        self.router.clone()
    }

    /// The path the endpoint answers on.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Ends every session and open SSE stream; new requests are refused. Call it when the
    /// server starts its graceful shutdown, or the shutdown waits on open streams forever.
    pub fn shutdown(&self) {
        self.shutdown.cancel();
    }

    /// The token [`McpEndpoint::shutdown`] cancels.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }
}

/// Builds an [`McpEndpoint`]. Every limit has a safe default; what has none (the front
/// layers) must be given.
#[must_use]
pub struct McpEndpointBuilder {
    path: String,
    audit: AuditLog,
    pii: Option<Envelope>,
    registry: Registry,
    tool_errors: Vec<BuildError>,
    server: Implementation,
    instructions: Option<String>,
    front: Option<Front>,
    allowed_hosts: Vec<String>,
    allowed_origins: Vec<String>,
    max_body: usize,
    max_sessions: usize,
    max_calls: usize,
    idle_timeout: Duration,
    store: Option<PgSessionStore>,
    json_response: bool,
    refusals: Option<RefusalLayer>,
}

impl McpEndpointBuilder {
    /// Serves `tool`. A bad or duplicate name or a non-object schema fails [`build`](Self::build).
    pub fn tool<T: Tool>(mut self, tool: T) -> Self {
        if let Err(e) = self.registry.add(tool) {
            self.tool_errors.push(e);
        }
        self
    }

    /// The PII envelope tools reach through `ctx.pii()`; also keys the audit args digest.
    pub fn pii(mut self, envelope: Envelope) -> Self {
        self.pii = Some(envelope);
        self
    }

    /// The name and version the server reports (default: this crate's).
    pub fn server_info(mut self, name: impl Into<String>, version: impl Into<String>) -> Self {
        self.server = Implementation::new(name, version);
        self
    }

    /// Instructions for the model, sent at initialization.
    pub fn instructions(mut self, text: impl Into<String>) -> Self {
        self.instructions = Some(text.into());
        self
    }

    /// Puts the endpoint behind Entra sign-in: `auth` validates the token (401 with
    /// `resource_metadata`), `tenancy` resolves customer and entity (403), and `resource`
    /// is served at its well-known paths (path form and root form).
    pub fn entra(
        mut self,
        auth: EntraAuthLayer,
        tenancy: TenantLayer,
        resource: ProtectedResource,
    ) -> Self {
        self.front = Some(Front::Entra {
            auth,
            tenancy,
            resource,
        });
        self
    }

    /// Puts the endpoint behind a [`DevFront`](crate::DevFront) (fixed principal for loopback
    /// peers) instead of Entra: tests and the conformance server only.
    #[cfg(feature = "test-util")]
    pub fn dev_front(mut self, front: crate::dev::DevFront) -> Self {
        self.front = Some(Front::Dev(Box::new(front)));
        self
    }

    /// Host names (with optional `:port`) the endpoint answers to (DNS-rebinding
    /// protection). Default: loopback names only.
    pub fn allowed_hosts(mut self, hosts: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.allowed_hosts = hosts.into_iter().map(Into::into).collect();
        self
    }

    /// Browser origins (`scheme://host[:port]`) allowed to call; a request with any other
    /// `Origin` gets 403. Default: none (requests without `Origin`, as non-browser clients
    /// send them, are served).
    pub fn allowed_origins(mut self, origins: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.allowed_origins = origins.into_iter().map(Into::into).collect();
        self
    }

    /// The largest request body accepted (default [`DEFAULT_MAX_BODY`]); larger gets 413.
    pub fn max_body_bytes(mut self, bytes: usize) -> Self {
        self.max_body = bytes;
        self
    }

    /// Open sessions per user (default [`DEFAULT_MAX_SESSIONS`]); one more gets 429.
    pub fn max_sessions_per_user(mut self, n: usize) -> Self {
        self.max_sessions = n;
        self
    }

    /// Concurrent POSTs per user (default [`DEFAULT_MAX_CALLS`]); one more gets 429.
    pub fn max_concurrent_calls_per_user(mut self, n: usize) -> Self {
        self.max_calls = n;
        self
    }

    /// How long a session lives without a request (default [`DEFAULT_IDLE_TIMEOUT`]).
    pub fn idle_timeout(mut self, idle: Duration) -> Self {
        self.idle_timeout = idle;
        self
    }

    /// Keeps sessions and their owners in PostgreSQL, so another process sharing the store
    /// continues them. Default: this process's memory.
    pub fn session_store(mut self, store: PgSessionStore) -> Self {
        self.store = Some(store);
        self
    }

    /// Answers plain JSON instead of an SSE stream when a call sends no notification first.
    pub fn json_response(mut self, on: bool) -> Self {
        self.json_response = on;
        self
    }

    /// Records every refused request to the MCP path (401, 403, 404 for a foreign session,
    /// 413, 429) in the operator log, with the reason code of the layer that refused. Build
    /// the layer with [`refusal_layer`](crate::refusal_layer); it sits outside the token
    /// layer, so refusals without a valid token are recorded too. Default: not recorded.
    pub fn record_refusals(mut self, layer: RefusalLayer) -> Self {
        self.refusals = Some(layer);
        self
    }

    /// Builds the endpoint.
    ///
    /// # Errors
    ///
    /// The first tool registration error; a bad path, origin or zero limit.
    pub fn build(self) -> Result<McpEndpoint, BuildError> {
        self.assemble(|shared| {
            move || {
                Ok(Handler {
                    shared: shared.clone(),
                })
            }
        })
    }

    /// Builds the endpoint around a raw rmcp handler instead of registered tools: the same
    /// gate, limits and front layers, for test servers (the conformance server) that need
    /// protocol features tools do not cover.
    ///
    /// # Errors
    ///
    /// As [`McpEndpointBuilder::build`].
    #[cfg(feature = "test-util")]
    pub fn build_with_handler<H, F>(self, factory: F) -> Result<McpEndpoint, BuildError>
    where
        H: rmcp::ServerHandler,
        F: Fn() -> H + Send + Sync + 'static,
    {
        self.assemble(move |_| move || Ok(factory()))
    }

    /// Checks the configuration and puts the router together; `make` turns the shared
    /// state into rmcp's per-session handler factory.
    fn assemble<H, F, M>(mut self, make: M) -> Result<McpEndpoint, BuildError>
    where
        H: rmcp::ServerHandler,
        F: Fn() -> Result<H, std::io::Error> + Send + Sync + 'static,
        M: FnOnce(Arc<Shared>) -> F,
    {
        if let Some(e) = self.tool_errors.drain(..).next() {
            return Err(e);
        }
        check_path(&self.path)?;
        for (name, n) in [
            ("max_body_bytes", self.max_body),
            ("max_sessions_per_user", self.max_sessions),
            ("max_concurrent_calls_per_user", self.max_calls),
        ] {
            if n == 0 {
                return Err(BuildError::Limit(name));
            }
        }
        for o in &self.allowed_origins {
            check_origin(o)?;
        }
        let front = self.front.clone().ok_or(BuildError::NoFront)?;

        let shutdown = CancellationToken::new();
        let mut config = StreamableHttpServerConfig::default()
            .with_allowed_hosts(self.allowed_hosts.clone())
            .with_allowed_origins(self.allowed_origins.clone())
            .enforce_origin_validation()
            .with_max_request_body_bytes(self.max_body)
            .with_json_response(self.json_response)
            .with_cancellation_token(shutdown.clone());
        let bindings: Arc<dyn BindingStore> = match &self.store {
            Some(store) => {
                config.session_store = Some(Arc::new(store.clone()));
                Arc::new(store.clone())
            }
            None => Arc::new(MemoryBindings::new(self.idle_timeout)),
        };
        let mut session_config = SessionConfig::default();
        session_config.keep_alive = Some(self.idle_timeout);
        let mut manager = LocalSessionManager::default();
        manager.session_config = session_config;

        let registry = std::mem::take(&mut self.registry);
        let specs = registry.specs();
        let shared = Arc::new(Shared {
            registry,
            audit: self.audit.clone(),
            pii: self.pii.clone(),
            server: self.server.clone(),
            instructions: self.instructions.clone(),
        });
        let service = StreamableHttpService::new(make(shared), Arc::new(manager), config);

        let resource = match &front {
            Front::Entra { resource, .. } => Some(resource.clone()),
            #[cfg(feature = "test-util")]
            Front::Dev(_) => None,
        };
        let guard = Arc::new(Guard {
            bindings,
            specs,
            resource: resource.clone(),
            audit: Some(self.audit.clone()),
            max_body: self.max_body,
            max_sessions: self.max_sessions,
            max_calls: self.max_calls,
            calls: Mutex::new(HashMap::new()),
        });

        let mcp = Router::new()
            .route_service(&self.path, service)
            .layer(axum::middleware::from_fn_with_state(guard, gate));
        let router = match front {
            Front::Entra {
                auth,
                tenancy,
                resource,
            } => {
                let metadata = resource.metadata_service();
                let mcp = mcp.layer(tenancy).layer(auth);
                let mut router =
                    Router::new().route_service(&resource.well_known_path(), metadata.clone());
                if resource.well_known_path() != axe_auth::metadata::WELL_KNOWN_PREFIX {
                    router = router.route_service(axe_auth::metadata::WELL_KNOWN_PREFIX, metadata);
                }
                router.merge(mcp)
            }
            #[cfg(feature = "test-util")]
            Front::Dev(dev) => mcp.layer(axum::middleware::from_fn_with_state(
                *dev,
                crate::dev::dev_front,
            )),
        };
        let router = match self.refusals.take() {
            Some(layer) => router.route_layer(layer),
            None => router,
        };
        Ok(McpEndpoint {
            router,
            shutdown,
            path: self.path,
        })
    }
}

fn check_path(path: &str) -> Result<(), BuildError> {
    let ok = path.starts_with('/')
        && !path.contains(['?', '#'])
        && !path.chars().any(char::is_whitespace)
        && !path.contains("//");
    if ok {
        Ok(())
    } else {
        Err(BuildError::Path(path.to_owned()))
    }
}

fn check_origin(origin: &str) -> Result<(), BuildError> {
    let bad = || BuildError::Origin(origin.to_owned());
    let (scheme, rest) = origin.split_once("://").ok_or_else(bad)?;
    if !matches!(scheme, "http" | "https") || rest.is_empty() || rest.contains(['/', '?', '#', ' '])
    {
        return Err(bad());
    }
    Ok(())
}
