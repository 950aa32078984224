//! What dev and production mode share: the data layer (isolation, PII envelope, audit,
//! session store), the MCP endpoint with the frame's tools, and readiness.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use axe_audit::keys::{LocalKeys, MasterKey};
use axe_audit::{AuditLog, Envelope};
use axe_auth::{EntraAuthLayer, ProtectedResource, Validator};
use axe_isolation::{EntityId, Ident, Isolation, Migrations, RolePrefix};
use axe_mcp::{McpEndpoint, PgSessionStore};
use axe_tenant::{CustomerRegistry, TenantLayer};
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::tools;

/// The frame's own per-entity migrations (records, contacts), embedded in the binary.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("frame-server/migrations");
/// Their bookkeeping table in each entity schema (axe-audit's set has its own).
const MIGRATIONS_TABLE: &str = "_frame_migrations";
/// How long an MCP session lives without a request.
const SESSION_IDLE: Duration = Duration::from_secs(30 * 60);

/// The database side, ready to serve.
pub(crate) struct Data {
    pub(crate) isolation: Isolation,
    pub(crate) envelope: Envelope,
    pub(crate) store: PgSessionStore,
    pub(crate) entities: Vec<EntityId>,
}

/// Every entity of every customer in `registry`.
fn entities(registry: &CustomerRegistry) -> anyhow::Result<Vec<EntityId>> {
    let snapshot = registry.snapshot();
    let mut out = Vec::new();
    for customer in snapshot.iter() {
        for entity in customer.entities() {
            out.push(EntityId::new(entity.id().as_str()).context("entity id")?);
        }
    }
    Ok(out)
}

/// Builds the isolation over the two pools, provisions and migrates every entity of
/// `registry`, installs the key table and the session store, and loads the master key.
pub(crate) async fn open_data(
    owner: PgPool,
    runtime: PgPool,
    prefix: Option<RolePrefix>,
    master_key: MasterKey,
    registry: &CustomerRegistry,
) -> anyhow::Result<Data> {
    let frame = Migrations::from_migrator(&MIGRATOR)?.with_table(Ident::new(MIGRATIONS_TABLE)?);
    let mut builder = Isolation::builder(runtime.clone())
        .owner(owner.clone())
        .migrations(axe_audit::migrations()?)
        .migrations(frame);
    if let Some(prefix) = prefix {
        builder = builder.role_prefix(prefix);
    }
    let isolation = builder
        .build()
        .await
        .context("the database roles are not safe to serve from")?;
    let entities = entities(registry)?;
    for entity in &entities {
        isolation
            .provision(entity)
            .await
            .with_context(|| format!("cannot provision entity {entity}"))?;
        let migrated = isolation
            .migrate(entity)
            .await
            .with_context(|| format!("cannot migrate entity {entity}"))?;
        if migrated.applied_count() > 0 {
            tracing::info!(%entity, applied = migrated.applied_count(), "migrations applied");
        }
    }
    let envelope = Envelope::new(Arc::new(LocalKeys::new(master_key)), owner.clone());
    envelope
        .install()
        .await
        .context("cannot install the key table")?;
    PgSessionStore::install(&owner, isolation.runtime_role())
        .await
        .context("cannot install the session store")?;
    let store = PgSessionStore::new(runtime, SESSION_IDLE);
    Ok(Data {
        isolation,
        envelope,
        store,
        entities,
    })
}

/// How the endpoint is reached and who may sign in.
pub(crate) struct Front {
    pub(crate) validator: Validator,
    pub(crate) resource: ProtectedResource,
    pub(crate) registry: CustomerRegistry,
    /// Dev mode: the tenant layer accepts loopback hosts.
    pub(crate) loopback_hosts: bool,
    /// Host names the MCP endpoint answers to (empty: loopback only).
    pub(crate) allowed_hosts: Vec<String>,
    pub(crate) allowed_origins: Vec<String>,
    pub(crate) admin_scope: String,
}

/// The MCP endpoint with the frame's tools.
pub(crate) fn endpoint(data: &Data, front: Front) -> anyhow::Result<McpEndpoint> {
    let tenant = TenantLayer::new(front.registry).allow_loopback_hosts(front.loopback_hosts);
    let mut builder = McpEndpoint::builder(
        crate::config::MCP_PATH,
        AuditLog::new(data.isolation.clone()),
    )
    .pii(data.envelope.clone())
    .server_info("frame-server", env!("CARGO_PKG_VERSION"))
    .instructions(
        "The frame: a JSON record store (records_*) and a contact book with encrypted \
             personal data (contacts_*) for your organisation. Everything you do is in your \
             own entity and recorded in its audit log.",
    )
    .entra(
        EntraAuthLayer::new(front.validator, front.resource.clone()),
        tenant,
        front.resource,
    )
    .session_store(data.store.clone())
    // Plain JSON for calls that send no notification first: friendlier to curl.
    .json_response(true)
    .allowed_origins(front.allowed_origins);
    if !front.allowed_hosts.is_empty() {
        builder = builder.allowed_hosts(front.allowed_hosts);
    }
    Ok(tools::register(builder, &front.admin_scope).build()?)
}

/// What `/readyz` checks: the database answers, the master key unwraps every entity's data
/// key, and every entity's schema is at the binary's migration versions (axe-isolation's
/// version gate refuses `begin` otherwise). The proxy's swap waits for it.
pub(crate) struct Readiness {
    isolation: Isolation,
    envelope: Envelope,
    entities: Vec<EntityId>,
    draining: AtomicBool,
}

impl Readiness {
    pub(crate) fn new(data: &Data) -> Self {
        Self {
            isolation: data.isolation.clone(),
            envelope: data.envelope.clone(),
            entities: data.entities.clone(),
            draining: AtomicBool::new(false),
        }
    }

    /// From now on `/readyz` answers 503 (shutdown has begun).
    pub(crate) fn drain(&self) {
        self.draining.store(true, Ordering::SeqCst);
    }

    /// `(ready, report)`. The report names checks and entities, never a key or a row.
    pub(crate) async fn check(&self) -> (bool, Value) {
        if self.draining.load(Ordering::SeqCst) {
            return (false, json!({"ready": false, "reason": "shutting down"}));
        }
        let database = sqlx::query_scalar::<_, i32>("SELECT 1")
            .fetch_one(self.isolation.runtime_pool())
            .await
            .is_ok();
        let mut keys_ok = database;
        let mut migrations_ok = database;
        let mut problems = Vec::new();
        if database {
            for entity in &self.entities {
                if self.envelope.current_key(entity).await.is_err() {
                    keys_ok = false;
                    problems.push(format!("{entity}: data key unavailable"));
                }
                match self.isolation.begin(entity).await {
                    Ok(tx) => {
                        let _ = tx.rollback().await;
                    }
                    Err(e) => {
                        migrations_ok = false;
                        problems.push(format!("{entity}: {e}"));
                    }
                }
            }
        }
        let ready = database && keys_ok && migrations_ok;
        (
            ready,
            json!({
                "ready": ready,
                "checks": {"database": database, "keys": keys_ok, "migrations": migrations_ok},
                "entities": self.entities.len(),
                "problems": problems,
            }),
        )
    }
}
