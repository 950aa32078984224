//! Shared set-up: a real PostgreSQL (TestDb), a real token issuer on loopback, the endpoint
//! with a few test tools behind EntraAuthLayer and TenantLayer, served on 127.0.0.1, and a
//! small JSON-RPC client that speaks the 2025-11-25 Streamable HTTP transport.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::net::SocketAddr;
use std::time::Duration;

use axe_audit::AuditLog;
use axe_auth::test_util::TestIssuer;
use axe_auth::{EntraAuthLayer, ProtectedResource, TenantId, Validator};
use axe_isolation::testing::TestDb;
use axe_isolation::{EntityId, Isolation, Migrations};
use axe_mcp::{
    McpEndpoint, McpEndpointBuilder, PgSessionStore, Tool, ToolCtx, ToolError, ToolSpec,
};
use axe_tenant::{CustomerRegistry, Customers, TenantLayer};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub const PATH: &str = "/frame/mcp";
pub const OTHER_TENANT: &str = "0b0b0b0b-0000-4000-8000-000000000002";
pub const ALICE: &str = "00000000-0000-4000-8000-0000000000a1";
pub const BOB: &str = "00000000-0000-4000-8000-0000000000b2";
pub const ADMIN_SCOPE: &str = "api://frame-test/Frame.Admin";

// ---------------------------------------------------------------- tools

#[derive(Deserialize, JsonSchema)]
pub struct PutInput {
    pub id: String,
    pub body: String,
}

#[derive(Serialize, JsonSchema)]
pub struct PutOutput {
    pub id: String,
    pub entity: String,
}

/// Writes a note in the caller's entity.
pub struct NotesPut;

impl Tool for NotesPut {
    type Input = PutInput;
    type Output = PutOutput;
    fn spec(&self) -> ToolSpec {
        ToolSpec::new("notes_put", "Stores a note.").idempotent()
    }
    async fn call(&self, ctx: &mut ToolCtx, input: PutInput) -> Result<PutOutput, ToolError> {
        if input.id.is_empty() || input.id.len() > 64 {
            return Err(ToolError::invalid_input("id must be 1-64 bytes"));
        }
        sqlx::query(
            "INSERT INTO notes (id, body) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET body = $2",
        )
        .bind(&input.id)
        .bind(&input.body)
        .execute(&mut *ctx.tx)
        .await?;
        ctx.set_target(axe_audit::Target::new("note", input.id.clone()));
        Ok(PutOutput {
            id: input.id,
            entity: ctx.entity().to_string(),
        })
    }
}

#[derive(Deserialize, JsonSchema)]
pub struct GetInput {
    pub id: String,
}

#[derive(Serialize, JsonSchema)]
pub struct GetOutput {
    pub body: Option<String>,
}

/// Reads a note of the caller's entity.
pub struct NotesGet;

impl Tool for NotesGet {
    type Input = GetInput;
    type Output = GetOutput;
    fn spec(&self) -> ToolSpec {
        ToolSpec::new("notes_get", "Reads a note.").read_only()
    }
    async fn call(&self, ctx: &mut ToolCtx, input: GetInput) -> Result<GetOutput, ToolError> {
        let body: Option<String> = sqlx::query_scalar("SELECT body FROM notes WHERE id = $1")
            .bind(&input.id)
            .fetch_optional(&mut *ctx.tx)
            .await?;
        Ok(GetOutput { body })
    }
}

/// Writes, then fails (`fail`) or panics (`panic`): the write must roll back.
pub struct Explode;

#[derive(Deserialize, JsonSchema)]
pub struct ExplodeInput {
    pub id: String,
    pub how: String,
}

#[derive(Serialize, JsonSchema)]
pub struct Empty {}

impl Tool for Explode {
    type Input = ExplodeInput;
    type Output = Empty;
    fn spec(&self) -> ToolSpec {
        ToolSpec::new("explode", "Writes a note, then fails.").destructive()
    }
    async fn call(&self, ctx: &mut ToolCtx, input: ExplodeInput) -> Result<Empty, ToolError> {
        sqlx::query("INSERT INTO notes (id, body) VALUES ($1, 'doomed')")
            .bind(&input.id)
            .execute(&mut *ctx.tx)
            .await?;
        match input.how.as_str() {
            "panic" => panic!("tool panicked on purpose"),
            "internal" => Err(ToolError::internal(std::io::Error::other(
                "secret internal detail 12345",
            ))),
            _ => Err(ToolError::failed("boom", "the tool failed on purpose")),
        }
    }
}

/// Only for admins (scope or app role).
pub struct AdminOnly;

impl Tool for AdminOnly {
    type Input = Empty2;
    type Output = Empty;
    fn spec(&self) -> ToolSpec {
        ToolSpec::new("admin_only", "Admins only.")
            .read_only()
            .requires_scope(ADMIN_SCOPE)
            .requires_role("Frame.Admin")
    }
    async fn call(&self, _ctx: &mut ToolCtx, _input: Empty2) -> Result<Empty, ToolError> {
        Ok(Empty {})
    }
}

#[derive(Deserialize, JsonSchema)]
pub struct Empty2 {}

// ---------------------------------------------------------------- the stack

pub struct Stack {
    pub db: TestDb,
    pub issuer: TestIssuer,
    pub isolation: Isolation,
    pub audit: AuditLog,
    pub base: String,
    pub endpoint: McpEndpoint,
}

pub fn other_tenant() -> TenantId {
    OTHER_TENANT.parse().unwrap()
}

fn customers(issuer: &TestIssuer) -> Customers {
    let yaml = format!(
        r#"
base_domain: axelabs.ai
customers:
  - id: axe
    tenant: {}
    domains: [axellc.com]
    services: [frame]
    entities:
      - {{ id: axe, default: true }}
  - id: realchoice
    tenant: {OTHER_TENANT}
    domains: [realchoice.co.kr]
    services: [frame]
    entities:
      - {{ id: realchoice, default: true }}
"#,
        issuer.default_tenant()
    );
    Customers::from_yaml(&yaml, "customers.yaml").unwrap()
}

pub async fn isolation(db: &TestDb) -> Isolation {
    let notes = Migrations::from_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/migrations"))
        .await
        .unwrap();
    let isolation = db
        .isolation_builder()
        .migrations(axe_audit::migrations().unwrap())
        .migrations(notes)
        .build()
        .await
        .unwrap();
    for e in ["axe", "realchoice"] {
        let id = EntityId::new(e).unwrap();
        isolation.provision(&id).await.unwrap();
        isolation.migrate(&id).await.unwrap();
    }
    isolation
}

/// The endpoint builder with the test tools and the Entra front, before `build`.
pub fn builder(
    issuer: &TestIssuer,
    isolation: &Isolation,
    resource_url: &str,
) -> McpEndpointBuilder {
    let registry = CustomerRegistry::new(customers(issuer));
    let validator = Validator::new(
        issuer
            .config_builder()
            .tenant(other_tenant())
            .leeway(Duration::ZERO)
            .build()
            .unwrap(),
    );
    let resource = ProtectedResource::single(resource_url, issuer.default_tenant())
        .scope(format!("api://{}/mcp.access", issuer.default_audience()))
        .authority(issuer.authority())
        .build()
        .unwrap();
    McpEndpoint::builder(PATH, AuditLog::new(isolation.clone()))
        .tool(NotesPut)
        .tool(NotesGet)
        .tool(Explode)
        .tool(AdminOnly)
        .entra(
            EntraAuthLayer::new(validator, resource.clone()),
            TenantLayer::new(registry).allow_loopback_hosts(true),
            resource,
        )
}

/// Binds a loopback port first (the resource URL needs it), then serves what `make` builds.
pub async fn serve_with(make: impl FnOnce(&str) -> McpEndpoint) -> (String, McpEndpoint) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let endpoint = make(&format!("{base}{PATH}"));
    let app = endpoint.router();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    (base, endpoint)
}

pub async fn stack() -> Stack {
    stack_with(|b| b).await
}

pub async fn stack_with(tune: impl FnOnce(McpEndpointBuilder) -> McpEndpointBuilder) -> Stack {
    let db = TestDb::new().await.unwrap();
    let issuer = TestIssuer::start().await.unwrap();
    let isolation = isolation(&db).await;
    let envelope = envelope(&db).await;
    let (base, endpoint) = serve_with(|url| {
        tune(builder(&issuer, &isolation, url).pii(envelope))
            .build()
            .unwrap()
    })
    .await;
    Stack {
        audit: AuditLog::new(isolation.clone()),
        db,
        issuer,
        isolation,
        base,
        endpoint,
    }
}

/// A PII envelope with a fixed test master key.
pub async fn envelope(db: &TestDb) -> axe_audit::Envelope {
    let keys = axe_audit::keys::LocalKeys::new(axe_audit::keys::MasterKey::from_bytes(1, [7; 32]));
    let envelope = axe_audit::Envelope::new(std::sync::Arc::new(keys), db.owner_pool().clone());
    envelope.install().await.unwrap();
    envelope
}

/// A PostgreSQL session store on the runtime pool, installed by the owner.
pub async fn pg_store(db: &TestDb, idle: Duration) -> PgSessionStore {
    PgSessionStore::install(db.owner_pool(), db.runtime_role())
        .await
        .unwrap();
    PgSessionStore::new(db.runtime_pool().clone(), idle)
}

impl Stack {
    pub fn token_for(&self, oid: &str) -> String {
        self.issuer.token().object_id(oid).mint()
    }

    pub fn client(&self, token: Option<String>) -> Client {
        Client::new(&format!("{}{PATH}", self.base), token)
    }
}

// ---------------------------------------------------------------- the client

pub struct Reply {
    pub status: reqwest::StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Reply {
    /// The JSON-RPC message of the body (plain JSON or the first SSE `data:` that holds a
    /// response).
    pub fn message(&self) -> Value {
        if let Ok(v) = serde_json::from_str::<Value>(&self.body) {
            return v;
        }
        for line in self.body.lines() {
            if let Some(data) = line.strip_prefix("data:")
                && let Ok(v) = serde_json::from_str::<Value>(data.trim())
                && (v.get("result").is_some() || v.get("error").is_some())
            {
                return v;
            }
        }
        panic!("no JSON-RPC message in {:?}", self.body);
    }

    pub fn result(&self) -> Value {
        let m = self.message();
        m.get("result")
            .cloned()
            .unwrap_or_else(|| panic!("no result: {m}"))
    }
}

pub struct Client {
    pub http: reqwest::Client,
    pub url: String,
    pub token: Option<String>,
    pub session: Option<String>,
    pub protocol: String,
    next_id: u64,
}

impl Client {
    pub fn new(url: &str, token: Option<String>) -> Self {
        Self {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
            url: url.to_owned(),
            token,
            session: None,
            protocol: "2025-11-25".into(),
            next_id: 1,
        }
    }

    pub fn post_raw(&self, body: &Value) -> reqwest::RequestBuilder {
        let mut req = self
            .http
            .post(&self.url)
            .header("accept", "application/json, text/event-stream")
            .header("content-type", "application/json")
            .header("mcp-protocol-version", &self.protocol)
            .body(body.to_string());
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        if let Some(s) = &self.session {
            req = req.header("mcp-session-id", s);
        }
        req
    }

    pub async fn send(&self, req: reqwest::RequestBuilder) -> Reply {
        let res = req.send().await.unwrap();
        Reply {
            status: res.status(),
            headers: res.headers().clone(),
            body: res.text().await.unwrap(),
        }
    }

    pub async fn request(&mut self, method: &str, params: Value) -> Reply {
        let id = self.next_id;
        self.next_id += 1;
        let body = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        self.send(self.post_raw(&body)).await
    }

    pub async fn notify(&self, method: &str) -> Reply {
        let body = json!({"jsonrpc": "2.0", "method": method});
        self.send(self.post_raw(&body)).await
    }

    /// `initialize` + `notifications/initialized`; keeps the session id.
    pub async fn initialize(&mut self) -> Reply {
        let reply = self
            .request(
                "initialize",
                json!({
                    "protocolVersion": self.protocol,
                    "capabilities": {},
                    "clientInfo": {"name": "axe-mcp-tests", "version": "0"}
                }),
            )
            .await;
        if reply.status.is_success() {
            self.session = reply
                .headers
                .get("mcp-session-id")
                .map(|v| v.to_str().unwrap().to_owned());
            let ack = self.notify("notifications/initialized").await;
            assert_eq!(ack.status, reqwest::StatusCode::ACCEPTED, "{}", ack.body);
        }
        reply
    }

    pub async fn call(&mut self, tool: &str, args: Value) -> Reply {
        self.request("tools/call", json!({"name": tool, "arguments": args}))
            .await
    }
}
