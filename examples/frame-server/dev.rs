//! Dev mode: everything on this machine, nothing to configure.
//!
//! - PostgreSQL from the machine's binaries, data in `<dev dir>/pg` (or `DATABASE_URL`);
//! - an in-process token issuer (axe-auth's `TestIssuer`) on loopback, its signing key and
//!   port kept in the dev folder so tokens stay valid across restarts;
//! - a sample `customers.yaml` with the seed's two customers on two dev tenants;
//! - a generated master key for the PII envelope, kept in the dev folder;
//! - `GET /dev/token?user=NAME` mints a token for a sample user (dev mode only: the route
//!   does not exist in production mode, and it answers loopback peers only).
//!
//! Dev mode listens on loopback only: anyone who can reach it can mint tokens.

use std::fs::OpenOptions;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use axe_audit::keys::MasterKey;
use axe_auth::test_util::TestIssuer;
use axe_auth::{ProtectedResource, TenantId, Validator};
use axe_isolation::RolePrefix;
use axe_tenant::{CustomerRegistry, Customers};
use axum::Json;
use axum::Router;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use serde_json::json;

use crate::app::{self, Data, Front};
use crate::pg;

/// The audience (Application ID URI) of dev tokens.
pub(crate) const AUDIENCE: &str = "api://frame-dev";
/// Dev tenant of customer `axe` (stands in for axellc.com's Entra tenant).
pub(crate) const AXE_TENANT: &str = "a0e0a0e0-0000-4000-8000-0000000000a1";
/// Dev tenant of customer `realchoice`.
pub(crate) const REALCHOICE_TENANT: &str = "a0e0a0e0-0000-4000-8000-0000000000b2";
/// Lifetime of the token printed at start.
const BANNER_TOKEN_LIFETIME: Duration = Duration::from_secs(8 * 3600);
/// Longest lifetime `/dev/token` mints.
const MAX_TOKEN_LIFETIME: u64 = 24 * 3600;

/// A user of the sample customers.
pub(crate) struct SampleUser {
    pub(crate) name: &'static str,
    pub(crate) display: &'static str,
    pub(crate) email: &'static str,
    pub(crate) oid: &'static str,
    pub(crate) tenant: &'static str,
    pub(crate) roles: &'static [&'static str],
    pub(crate) lands_in: &'static str,
}

/// The sample users: two customers, three entities, one admin.
pub(crate) const USERS: &[SampleUser] = &[
    SampleUser {
        name: "alice",
        display: "Alice Kim",
        email: "alice@axellc.com",
        oid: "00000000-0000-4000-8000-00000000a11c",
        tenant: AXE_TENANT,
        roles: &[],
        lands_in: "axe / entity axe",
    },
    SampleUser {
        name: "ada",
        display: "Ada Park (admin)",
        email: "ada@axellc.com",
        oid: "00000000-0000-4000-8000-000000000ada",
        tenant: AXE_TENANT,
        roles: &["Frame.Admin"],
        lands_in: "axe / entity axe, role Frame.Admin (audit_tail, audit_verify)",
    },
    SampleUser {
        name: "carol",
        display: "Carol Lee",
        email: "carol@axellc.com",
        oid: "00000000-0000-4000-8000-0000000ca201",
        tenant: AXE_TENANT,
        roles: &[],
        lands_in: "axe / entity axe_research",
    },
    SampleUser {
        name: "bob",
        display: "Bob Choi",
        email: "bob@realchoice.co.kr",
        oid: "00000000-0000-4000-8000-000000000b0b",
        tenant: REALCHOICE_TENANT,
        roles: &[],
        lands_in: "realchoice / entity realchoice",
    },
    SampleUser {
        name: "rita",
        display: "Rita Jung (admin)",
        email: "rita@realchoice.co.kr",
        oid: "00000000-0000-4000-8000-00000000417a",
        tenant: REALCHOICE_TENANT,
        roles: &["Frame.Admin"],
        lands_in: "realchoice / entity realchoice, role Frame.Admin",
    },
];

fn sample_customers() -> String {
    format!(
        "# Sample customers of frame-server's dev mode (the seed's two customers on dev tenants).\n\
         # Edit freely; delete this file to get the sample back. Schema: axe-tenant/README.md.\n\
         base_domain: axelabs.ai\n\
         customers:\n\
         \x20 - id: axe\n\
         \x20   tenant: {AXE_TENANT}\n\
         \x20   domains: [axellc.com]\n\
         \x20   services: [frame]\n\
         \x20   entities:\n\
         \x20     - {{ id: axe, default: true }}\n\
         \x20     - {{ id: axe_research, users: [{carol}] }}\n\
         \x20 - id: realchoice\n\
         \x20   tenant: {REALCHOICE_TENANT}\n\
         \x20   domains: [realchoice.co.kr]\n\
         \x20   services: [frame]\n\
         \x20   entities:\n\
         \x20     - {{ id: realchoice, default: true }}\n",
        carol = USERS[2].oid
    )
}

/// The dev folder's files.
struct Files {
    dir: PathBuf,
}

impl Files {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Reads `name`, or creates it (mode 0600) with `make()`.
    fn read_or_create(
        &self,
        name: &str,
        make: impl FnOnce() -> Vec<u8>,
    ) -> anyhow::Result<Vec<u8>> {
        let path = self.path(name);
        match std::fs::read(&path) {
            Ok(bytes) => Ok(bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let bytes = make();
                let mut f = OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(&path)
                    .with_context(|| format!("cannot create {}", path.display()))?;
                f.write_all(&bytes)?;
                f.sync_all()?;
                Ok(bytes)
            }
            Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
        }
    }
}

fn random_hex() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

/// Refuses a non-loopback address: dev mode mints tokens for anyone who reaches it.
pub(crate) fn check_loopback(listen: SocketAddr) -> anyhow::Result<()> {
    if listen.ip().is_loopback() {
        Ok(())
    } else {
        bail!(
            "dev mode listens on loopback only (got {listen}): anyone who reaches it can mint \
             tokens. Use 127.0.0.1:PORT, or run production mode with --config frame.yaml"
        )
    }
}

/// Everything dev mode started.
pub(crate) struct Dev {
    pub(crate) data: Data,
    pub(crate) router: Router,
    pub(crate) endpoint: axe_mcp::McpEndpoint,
    pub(crate) issuer: Arc<TestIssuer>,
    pub(crate) server: pg::Server,
    pub(crate) dir: PathBuf,
}

/// Sets up dev mode in `dir` for a server on `listen`.
pub(crate) async fn start(dir: &Path, listen: SocketAddr) -> anyhow::Result<Dev> {
    check_loopback(listen)?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let dir = dir
        .canonicalize()
        .with_context(|| format!("cannot resolve {}", dir.display()))?;
    pg::open_for_server(&dir)?;
    let files = Files { dir: dir.clone() };

    let server = pg::server(&dir.join("pg")).await?;
    match start_on(&server, &files, listen).await {
        Ok((data, router, endpoint, issuer)) => Ok(Dev {
            data,
            router,
            endpoint,
            issuer,
            server,
            dir,
        }),
        Err(e) => {
            // Do not leave the cluster we just started running behind a failed start.
            if let Some(cluster) = &server.cluster {
                cluster.stop();
            }
            Err(e)
        }
    }
}

/// What dev mode runs on the server: roles and pools, keys, customers, issuer, endpoint.
async fn start_on(
    server: &pg::Server,
    files: &Files,
    listen: SocketAddr,
) -> anyhow::Result<(Data, Router, axe_mcp::McpEndpoint, Arc<TestIssuer>)> {
    let password = files.read_or_create("db-password", || random_hex().into_bytes())?;
    let password = String::from_utf8(password).context("db-password is not text")?;
    let pools = pg::prepare(&server.admin, password.trim()).await?;

    let master = files.read_or_create("master.key", || random_hex().into_bytes())?;
    drop(master);
    let master_key = MasterKey::from_file(1, files.path("master.key"))?;

    let customers_path = files.path("customers.yaml");
    files.read_or_create("customers.yaml", || sample_customers().into_bytes())?;
    let registry = CustomerRegistry::new(
        Customers::from_path(&customers_path).map_err(|e| anyhow::anyhow!("{e}"))?,
    );

    let issuer = Arc::new(start_issuer(files).await?);
    let data = app::open_data(
        pools.owner,
        pools.runtime,
        Some(RolePrefix::new("frame")?),
        master_key,
        &registry,
    )
    .await?;

    let validator = Validator::new(
        issuer
            .config_builder()
            .allowed_tenants(registry.clone())
            // One clock for issuer and server: a small leeway lets expiry be tried quickly.
            .leeway(Duration::from_secs(5))
            .build()?,
    );
    let resource_url = format!("http://{listen}{}", crate::config::MCP_PATH);
    let resource = ProtectedResource::single(&resource_url, issuer.default_tenant())
        .scope(format!("{AUDIENCE}/mcp.access"))
        .resource_name("frame (dev)")
        .authority(issuer.authority())
        .build()?;
    let endpoint = app::endpoint(
        &data,
        Front {
            validator,
            resource,
            registry,
            loopback_hosts: true,
            allowed_hosts: Vec::new(),
            allowed_origins: Vec::new(),
            admin_scope: format!("{AUDIENCE}/{}", crate::tools::ADMIN_ROLE),
        },
    )?;
    let router = Router::new()
        .route("/dev/token", get(token))
        .with_state(Arc::clone(&issuer));
    Ok((data, router, endpoint, issuer))
}

/// The issuer, on the port and with the key of the last run (both kept in the dev folder).
async fn start_issuer(files: &Files) -> anyhow::Result<TestIssuer> {
    let tenant: TenantId = AXE_TENANT.parse()?;
    // The signing key: generated once (by a throwaway issuer) and kept, so the kid and the
    // signatures of tokens minted earlier stay valid.
    let key = match std::fs::read(files.path("issuer-key.pk8")) {
        Ok(der) => der,
        Err(_) => {
            let fresh = TestIssuer::builder().start().await?;
            files.read_or_create("issuer-key.pk8", || fresh.signing_key_pkcs8())?
        }
    };
    let port: Option<u16> = std::fs::read_to_string(files.path("issuer.port"))
        .ok()
        .and_then(|p| p.trim().parse().ok());
    let make = |port: u16| {
        TestIssuer::builder()
            .bind(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port))
            .default_tenant(tenant)
            .default_audience(AUDIENCE)
            .signing_key_pkcs8(key.clone())
            .start()
    };
    let issuer = match port {
        Some(p) => match make(p).await {
            Ok(i) => i,
            Err(e) => {
                tracing::warn!(port = p, error = %e, "the dev issuer's port is taken; tokens minted before this restart will not validate");
                make(0).await?
            }
        },
        None => make(0).await?,
    };
    std::fs::write(files.path("issuer.port"), issuer.addr().port().to_string())?;
    Ok(issuer)
}

/// A token for `user`, valid for `lifetime`.
pub(crate) fn mint(
    issuer: &TestIssuer,
    user: &SampleUser,
    lifetime: Duration,
) -> anyhow::Result<String> {
    Ok(issuer
        .token()
        .tenant(user.tenant.parse()?)
        .object_id(user.oid)
        .email(user.email, Some(true))
        .claim("name", json!(user.display))
        .claim("preferred_username", json!(user.email))
        .roles(user.roles.iter().copied())
        .lifetime(lifetime)
        .mint())
}

#[derive(Deserialize)]
struct TokenQuery {
    user: Option<String>,
    lifetime_secs: Option<u64>,
}

/// `GET /dev/token?user=alice[&lifetime_secs=3600]`: a token for a sample user. Loopback
/// peers only (dev mode also listens on loopback only).
async fn token(
    State(issuer): State<Arc<TestIssuer>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Query(q): Query<TokenQuery>,
) -> Response {
    if !peer.ip().is_loopback() {
        return (
            StatusCode::FORBIDDEN,
            Json(json!({"error": "loopback_only"})),
        )
            .into_response();
    }
    let names: Vec<&str> = USERS.iter().map(|u| u.name).collect();
    let Some(user) = q
        .user
        .as_deref()
        .and_then(|n| USERS.iter().find(|u| u.name == n))
    else {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "unknown_user", "error_description": "pass ?user=NAME", "users": names})),
        )
            .into_response();
    };
    let lifetime = q.lifetime_secs.unwrap_or(3600);
    if !(1..=MAX_TOKEN_LIFETIME).contains(&lifetime) {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "bad_lifetime", "error_description": format!("lifetime_secs must be 1 to {MAX_TOKEN_LIFETIME}")})),
        )
            .into_response();
    }
    match mint(&issuer, user, Duration::from_secs(lifetime)) {
        Ok(token) => (
            [(http::header::CACHE_CONTROL, "no-store")],
            Json(json!({
                "user": user.name,
                "email": user.email,
                "lands_in": user.lands_in,
                "token_type": "Bearer",
                "expires_in": lifetime,
                "access_token": token,
            })),
        )
            .into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// What to print once the server listens: a token, a curl line, an Inspector command and
/// what to do next.
pub(crate) fn banner(dev: &Dev, listen: SocketAddr) -> anyhow::Result<String> {
    let base = format!("http://{listen}");
    let url = format!("{base}{}", crate::config::MCP_PATH);
    let token = mint(&dev.issuer, &USERS[0], BANNER_TOKEN_LIFETIME)?;
    let users: String = USERS
        .iter()
        .map(|u| format!("    {:<6} {:<22} {}\n", u.name, u.email, u.lands_in))
        .collect();
    let database = match &dev.server.cluster {
        Some(c) => format!(
            "psql -h {} -p {} -U postgres {}",
            c.socket_dir.display(),
            pg::PORT,
            pg::DATABASE
        ),
        None => "DATABASE_URL (database `frame`)".to_owned(),
    };
    Ok(format!(
        r#"
frame-server is ready (dev mode: loopback only, dev token issuer, sample customers).

  MCP endpoint  {url}
  health        {base}/healthz   readiness: {base}/readyz
  dev data      {dir}   (delete this folder to start over)
  database      {database}

Sample users (customer / entity):
{users}
1. A token for alice, valid 8 hours (tokens survive restarts of the server):

export TOKEN='{token}'

2. Call a tool with curl (stateless MCP 2026-07-28 request, no session needed):

curl -s {url} -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' -H 'MCP-Protocol-Version: 2026-07-28' -H 'Mcp-Method: tools/call' -H 'Mcp-Name: whoami' -d '{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"whoami","arguments":{{}},"_meta":{{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{{}},"io.modelcontextprotocol/clientInfo":{{"name":"curl","version":"0"}}}}}}}}'

3. List the tools with the MCP Inspector CLI (1.0.3 must run from inside a node_modules folder):

mkdir -p /tmp/mcp-inspector && cd /tmp/mcp-inspector && npm init -y >/dev/null && npm install @modelcontextprotocol/inspector-cli@1.0.3
cd /tmp/mcp-inspector/node_modules && npx mcp-inspector-cli --cli {url} --transport http --header "Authorization: Bearer $TOKEN" --method tools/list

4. A token for another sample user (alice, ada, carol, bob, rita):

export TOKEN=$(curl -s '{base}/dev/token?user=bob' | sed -E 's/.*"access_token":"([^"]+)".*/\1/')

Next: store a record (records_put), add a contact (contacts_create), and as ada run
audit_verify. For real Entra sign-in (claude.ai Custom Connector), run production mode:
cargo run --example frame-server -- --config frame.yaml   (see examples/frame-server/frame.example.yaml)
Stop with Ctrl-C.
"#,
        dir = dev.dir.display(),
    ))
}
