//! axe-mcp: one `tools/call` through the whole stack vs the same tool on bare rmcp.
//!
//! `cargo bench -p axe-benches --bench mcp -- --warm-up-time 2 --measurement-time 8`
//!
//! - `mcp/axe_full_stack`: a session's `tools/call notes_put` (an upsert of one row) through
//!   `EntraAuthLayer` (RS256 validation of a real token), `TenantLayer`, the session-binding
//!   gate, rmcp, the entity transaction (`SET LOCAL ROLE` + `search_path`), the audit record
//!   in the same transaction (hash chain under the entity lock, args digest) and the commit.
//! - `mcp/rmcp_only`: the same upsert in a plain sqlx transaction, from a bare rmcp
//!   `StreamableHttpService` with no auth, tenancy, binding or audit.
//!
//! Both run in this process on 127.0.0.1 against one private PostgreSQL, driven by one
//! keep-alive HTTP/1.1 client, one call at a time; a call's time includes reading the SSE
//! response to its end. The ratio of the two is the cost of the axe layers.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axe_audit::{AuditLog, Envelope, keys::LocalKeys, keys::MasterKey};
use axe_auth::test_util::TestIssuer;
use axe_auth::{EntraAuthLayer, ProtectedResource, Validator};
use axe_isolation::testing::TestDb;
use axe_isolation::{EntityId, Migrations};
use axe_mcp::{McpEndpoint, Tool, ToolCtx, ToolError, ToolSpec};
use axe_tenant::{CustomerRegistry, Customers, TenantLayer};
use axum::serve::ListenerExt;
use criterion::{Criterion, criterion_group, criterion_main};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ServerCapabilities, ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData, RoleServer, ServerHandler};
use serde_json::json;

fn must<T, E: std::fmt::Display>(r: Result<T, E>, what: &str) -> T {
    match r {
        Ok(v) => v,
        Err(e) => panic!("{what}: {e}"),
    }
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct PutInput {
    id: String,
    body: String,
}

#[derive(serde::Serialize, schemars::JsonSchema)]
struct PutOutput {
    id: String,
}

struct NotesPut;

impl Tool for NotesPut {
    type Input = PutInput;
    type Output = PutOutput;
    fn spec(&self) -> ToolSpec {
        ToolSpec::new("notes_put", "Stores a note.")
    }
    async fn call(&self, ctx: &mut ToolCtx, input: PutInput) -> Result<PutOutput, ToolError> {
        sqlx::query(
            "INSERT INTO notes (id, body) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET body = $2",
        )
        .bind(&input.id)
        .bind(&input.body)
        .execute(&mut *ctx.tx)
        .await?;
        Ok(PutOutput { id: input.id })
    }
}

/// The same tool on bare rmcp: a plain transaction on the owner pool.
#[derive(Clone)]
struct Bare {
    pool: sqlx::PgPool,
}

impl ServerHandler for Bare {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let args = request.arguments.unwrap_or_default();
        let id = args
            .get("id")
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_owned();
        let body = args
            .get("body")
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_owned();
        let fail = |e: sqlx::Error| ErrorData::internal_error(e.to_string(), None);
        let mut tx = self.pool.begin().await.map_err(fail)?;
        sqlx::query("INSERT INTO ent_axe.notes (id, body) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET body = $2")
            .bind(&id)
            .bind(&body)
            .execute(&mut *tx)
            .await
            .map_err(fail)?;
        tx.commit().await.map_err(fail)?;
        Ok(CallToolResult::structured(json!({ "id": id })).into())
    }
}

async fn serve(app: axum::Router) -> String {
    let listener = must(tokio::net::TcpListener::bind("127.0.0.1:0").await, "bind");
    let base = format!("http://{}", must(listener.local_addr(), "addr"));
    tokio::spawn(serve_on(listener, app));
    base
}

/// Serves with `TCP_NODELAY`: an SSE answer goes out in several small writes, and without it
/// Nagle's algorithm and the client's delayed ACK add ~40 ms to each call.
async fn serve_on(listener: tokio::net::TcpListener, app: axum::Router) {
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let _ = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await;
}

struct Session {
    http: reqwest::Client,
    url: String,
    token: Option<String>,
    id: String,
    n: AtomicU64,
}

impl Session {
    async fn open(url: String, token: Option<String>) -> Session {
        let http = reqwest::Client::new();
        let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": {"name": "bench", "version": "0"}}});
        let mut req = http
            .post(&url)
            .header("accept", "application/json, text/event-stream")
            .header("content-type", "application/json")
            .body(init.to_string());
        if let Some(t) = &token {
            req = req.bearer_auth(t);
        }
        let res = must(req.send().await, "initialize");
        assert!(res.status().is_success(), "initialize: {}", res.status());
        let id = match res
            .headers()
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
        {
            Some(id) => id.to_owned(),
            None => panic!("no session id"),
        };
        let _ = res.text().await;
        let s = Session {
            http,
            url,
            token,
            id,
            n: AtomicU64::new(1),
        };
        let ack = s
            .post(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
            .await;
        assert_eq!(ack, 202);
        s
    }

    async fn post(&self, body: serde_json::Value) -> u16 {
        let mut req = self
            .http
            .post(&self.url)
            .header("accept", "application/json, text/event-stream")
            .header("content-type", "application/json")
            .header("mcp-protocol-version", "2025-11-25")
            .header("mcp-session-id", &self.id)
            .body(body.to_string());
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        let res = must(req.send().await, "post");
        let status = res.status().as_u16();
        let text = must(res.text().await, "body");
        assert!(!text.contains("\"isError\":true"), "{text}");
        status
    }

    async fn call(&self) {
        let n = self.n.fetch_add(1, Ordering::Relaxed);
        let status = self
            .post(json!({"jsonrpc": "2.0", "id": n, "method": "tools/call",
                "params": {"name": "notes_put", "arguments": {"id": format!("n{}", n % 100), "body": "bench"}}}))
            .await;
        assert_eq!(status, 200);
    }
}

fn bench(c: &mut Criterion) {
    let rt = must(tokio::runtime::Runtime::new(), "runtime");
    let (full, bare, _keep) = rt.block_on(async {
        let db = must(TestDb::new().await, "testdb");
        let issuer = must(TestIssuer::start().await, "issuer");
        let notes = must(
            Migrations::from_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../axe-mcp/tests/migrations")).await,
            "migrations",
        );
        let isolation = must(
            db.isolation_builder()
                .migrations(must(axe_audit::migrations(), "audit migrations"))
                .migrations(notes)
                .build()
                .await,
            "isolation",
        );
        let axe = must(EntityId::new("axe"), "entity");
        must(isolation.provision(&axe).await, "provision");
        must(isolation.migrate(&axe).await, "migrate");
        let envelope = Envelope::new(
            Arc::new(LocalKeys::new(MasterKey::from_bytes(1, [7; 32]))),
            db.owner_pool().clone(),
        );
        must(envelope.install().await, "envelope");

        let yaml = format!(
            "base_domain: axelabs.ai\ncustomers:\n  - id: axe\n    tenant: {}\n    domains: [axellc.com]\n    services: [frame]\n    entities:\n      - {{ id: axe, default: true }}\n",
            issuer.default_tenant()
        );
        let registry = CustomerRegistry::new(must(Customers::from_yaml(&yaml, "customers.yaml"), "yaml"));
        let listener = must(tokio::net::TcpListener::bind("127.0.0.1:0").await, "bind");
        let base = format!("http://{}", must(listener.local_addr(), "addr"));
        let resource = must(
            ProtectedResource::single(&format!("{base}/frame/mcp"), issuer.default_tenant())
                .scope(format!("api://{}/mcp.access", issuer.default_audience()))
                .build(),
            "resource",
        );
        let validator = Validator::new(must(issuer.config_builder().build(), "config"));
        let endpoint = must(
            McpEndpoint::builder("/frame/mcp", AuditLog::new(isolation.clone()))
                .tool(NotesPut)
                .pii(envelope)
                .entra(
                    EntraAuthLayer::new(validator, resource.clone()),
                    TenantLayer::new(registry).allow_loopback_hosts(true),
                    resource,
                )
                .max_concurrent_calls_per_user(64)
                .build(),
            "endpoint",
        );
        tokio::spawn(serve_on(listener, endpoint.router()));
        let token = issuer.token().mint();
        let full = Session::open(format!("{base}/frame/mcp"), Some(token)).await;

        let pool = db.owner_pool().clone();
        let bare_service = StreamableHttpService::new(
            move || Ok(Bare { pool: pool.clone() }),
            Arc::new(LocalSessionManager::default()),
            StreamableHttpServerConfig::default(),
        );
        let bare_base = serve(axum::Router::new().route_service("/mcp", bare_service)).await;
        let bare = Session::open(format!("{bare_base}/mcp"), None).await;
        (full, bare, (db, issuer, endpoint))
    });

    let mut group = c.benchmark_group("mcp");
    group.bench_function("axe_full_stack", |b| b.to_async(&rt).iter(|| full.call()));
    group.bench_function("rmcp_only", |b| b.to_async(&rt).iter(|| bare.call()));
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
