//! [`Isolation`] and its [`IsolationBuilder`]: the handle every operation goes through.
//!
//! ```no_run
//! use axe_isolation::{guard, EntityId, Isolation, Migrations};
//! use sqlx::postgres::PgPoolOptions;
//!
//! # async fn run() -> Result<(), axe_isolation::Error> {
//! // The runtime pool logs in as a NOINHERIT role that owns nothing; the guard resets role and
//! // search path whenever a connection goes back to the pool.
//! let runtime = guard::install(PgPoolOptions::new())
//!     .connect("postgres://app_runtime@db/frame")
//!     .await?;
//! let owner = PgPoolOptions::new()
//!     .max_connections(2)
//!     .connect("postgres://app_owner@db/frame")
//!     .await?;
//!
//! let isolation = Isolation::builder(runtime)
//!     .owner(owner)
//!     .migrations(Migrations::from_dir("migrations").await?)
//!     .build()
//!     .await?;
//!
//! let acme = EntityId::new("acme")?;
//! isolation.provision(&acme).await?;
//! isolation.migrate(&acme).await?;
//! # Ok(())
//! # }
//! ```

use std::collections::HashSet;
use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};

use sqlx::PgPool;

use crate::entity_id::EntityId;
use crate::error::Error;
use crate::export::PgDump;
use crate::ident::{Ident, RolePrefix};
use crate::migrate::Migrations;

/// Default number of entities [`Isolation::migrate_all`] migrates at once.
pub const DEFAULT_MIGRATE_CONCURRENCY: usize = 4;

/// Schema-per-entity isolation over sqlx pools.
///
/// Cheap to clone (one `Arc`). Holds:
/// - the **runtime pool**, logged in as a non-superuser `NOINHERIT` role that owns nothing:
///   [`Isolation::begin`] hands out [`EntityTx`](crate::EntityTx)s on it;
/// - optionally the **owner pool**, logged in as the DDL role (`CREATEROLE`, ideally the
///   database owner): [`provision`](Isolation::provision), [`migrate`](Isolation::migrate),
///   [`deprovision`](Isolation::deprovision) and [`export`](Isolation::export) use it. A
///   serving process that never changes schemas can leave it out.
#[derive(Clone)]
pub struct Isolation {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) runtime: PgPool,
    pub(crate) owner: Option<PgPool>,
    pub(crate) runtime_role: Ident,
    pub(crate) prefix: Option<RolePrefix>,
    pub(crate) migrations: Vec<Migrations>,
    pub(crate) concurrency: usize,
    pub(crate) pg_dump: PgDump,
    /// Entities seen provisioned and at the expected versions by this process: `begin` skips
    /// the checks for them (schemas only move forward; `deprovision` removes the entry).
    pub(crate) current: RwLock<HashSet<EntityId>>,
}

impl Isolation {
    /// Starts configuring an `Isolation` whose entity transactions run on `runtime`.
    pub fn builder(runtime: PgPool) -> IsolationBuilder {
        IsolationBuilder {
            runtime,
            owner: None,
            prefix: None,
            migrations: Vec::new(),
            concurrency: DEFAULT_MIGRATE_CONCURRENCY,
            pg_dump: PgDump::default(),
        }
    }

    /// The role that serves `entity`: `ent_<id>_rw`, or `<prefix>_ent_<id>_rw` with a
    /// [`RolePrefix`].
    #[must_use]
    pub fn role_of(&self, entity: &EntityId) -> Ident {
        entity.role(self.inner.prefix.as_ref())
    }

    /// The runtime pool's login role.
    #[must_use]
    pub fn runtime_role(&self) -> &Ident {
        &self.inner.runtime_role
    }

    /// The runtime pool. Connections taken from it directly are neutral (no entity role, empty
    /// search path) and cannot read any entity's tables: use [`Isolation::begin`].
    #[must_use]
    pub fn runtime_pool(&self) -> &PgPool {
        &self.inner.runtime
    }

    /// The configured migration sets, in the order they are applied.
    #[must_use]
    pub fn migrations(&self) -> &[Migrations] {
        &self.inner.migrations
    }

    pub(crate) fn owner_pool(&self, operation: &'static str) -> Result<&PgPool, Error> {
        self.inner
            .owner
            .as_ref()
            .ok_or(Error::NoOwnerPool { operation })
    }

    pub(crate) fn is_current(&self, entity: &EntityId) -> bool {
        self.inner
            .current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(entity)
    }

    pub(crate) fn mark_current(&self, entity: &EntityId, current: bool) {
        let mut set = self
            .inner
            .current
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if current {
            set.insert(entity.clone());
        } else {
            set.remove(entity);
        }
    }

    /// Tells whether `entity`'s schema and role exist: `Ok(())` if both, else the matching
    /// error ([`Error::UnknownEntity`] or [`Error::NotProvisioned`]).
    pub(crate) async fn check_exists(&self, pool: &PgPool, entity: &EntityId) -> Result<(), Error> {
        let (schema, role): (bool, bool) = sqlx::query_as(
            "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1), \
                    EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $2)",
        )
        .bind(entity.schema().as_str())
        .bind(self.role_of(entity).as_str())
        .fetch_one(pool)
        .await?;
        match (schema, role) {
            (true, true) => Ok(()),
            (false, false) => Err(Error::UnknownEntity {
                entity: entity.clone(),
            }),
            (false, true) => Err(Error::NotProvisioned {
                entity: entity.clone(),
                missing: "schema",
            }),
            (true, false) => Err(Error::NotProvisioned {
                entity: entity.clone(),
                missing: "role",
            }),
        }
    }
}

impl fmt::Debug for Isolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Isolation")
            .field("runtime_role", &self.inner.runtime_role)
            .field("owner_pool", &self.inner.owner.is_some())
            .field("role_prefix", &self.inner.prefix)
            .field("migrations", &self.inner.migrations)
            .field("concurrency", &self.inner.concurrency)
            .finish_non_exhaustive()
    }
}

/// Configures an [`Isolation`]; [`IsolationBuilder::build`] checks the roles before use.
#[must_use]
pub struct IsolationBuilder {
    runtime: PgPool,
    owner: Option<PgPool>,
    prefix: Option<RolePrefix>,
    migrations: Vec<Migrations>,
    concurrency: usize,
    pg_dump: PgDump,
}

impl IsolationBuilder {
    /// The owner (DDL) pool, for provisioning, migrations, deprovisioning and export.
    pub fn owner(mut self, owner: PgPool) -> Self {
        self.owner = Some(owner);
        self
    }

    /// Prefixes entity role names (`<prefix>_ent_<id>_rw`), for clusters that hold several
    /// databases with the same entities (see [`RolePrefix`]).
    pub fn role_prefix(mut self, prefix: RolePrefix) -> Self {
        self.prefix = Some(prefix);
        self
    }

    /// Adds a migration set, applied in each entity's schema after the sets added before it.
    /// Each set keeps its own bookkeeping table ([`Migrations::with_table`]); `begin` refuses
    /// an entity that is behind on any set.
    pub fn migrations(mut self, migrations: Migrations) -> Self {
        self.migrations.push(migrations);
        self
    }

    /// How many entities [`Isolation::migrate_all`] migrates at once (at least 1; default
    /// [`DEFAULT_MIGRATE_CONCURRENCY`]). Each holds one owner-pool connection.
    pub fn migrate_concurrency(mut self, concurrency: usize) -> Self {
        self.concurrency = concurrency.max(1);
        self
    }

    /// How [`Isolation::export`] runs `pg_dump`.
    pub fn pg_dump(mut self, pg_dump: PgDump) -> Self {
        self.pg_dump = pg_dump;
        self
    }

    /// Checks the configuration and the roles, and builds the [`Isolation`].
    ///
    /// # Errors
    ///
    /// - [`Error::UnsafeRuntimeRole`] if the runtime pool's role is a superuser, inherits
    ///   rights (`INHERIT`), bypasses row security, has `CREATEROLE`, owns a schema or a table,
    ///   can become a superuser or the owner role, or is the owner role itself: any of these
    ///   would pass the walls.
    /// - [`Error::InvalidName`] if the runtime role's name is not an [`Ident`] (it is granted
    ///   entity roles in SQL text).
    /// - [`Error::InvalidMigrations`] if two migration sets share a bookkeeping table.
    /// - [`Error::Database`] if a pool cannot be reached.
    pub async fn build(self) -> Result<Isolation, Error> {
        let mut tables = HashSet::new();
        for set in &self.migrations {
            if !tables.insert(set.table().clone()) {
                return Err(Error::InvalidMigrations {
                    reason: format!("two migration sets use the table {}", set.table()),
                });
            }
        }

        let owner_role: Option<String> = match &self.owner {
            Some(owner) => Some(
                sqlx::query_scalar("SELECT session_user::text")
                    .fetch_one(owner)
                    .await?,
            ),
            None => None,
        };
        let runtime_role = check_runtime_role(&self.runtime, owner_role.as_deref()).await?;

        Ok(Isolation {
            inner: Arc::new(Inner {
                runtime: self.runtime,
                owner: self.owner,
                runtime_role,
                prefix: self.prefix,
                migrations: self.migrations,
                concurrency: self.concurrency,
                pg_dump: self.pg_dump,
                current: RwLock::new(HashSet::new()),
            }),
        })
    }
}

impl fmt::Debug for IsolationBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IsolationBuilder")
            .field("owner_pool", &self.owner.is_some())
            .field("role_prefix", &self.prefix)
            .field("migrations", &self.migrations)
            .field("concurrency", &self.concurrency)
            .finish_non_exhaustive()
    }
}

#[derive(sqlx::FromRow)]
struct RuntimeRoleFacts {
    role: String,
    rolsuper: bool,
    rolinherit: bool,
    rolbypassrls: bool,
    rolcreaterole: bool,
    owns_objects: bool,
    can_become_superuser: bool,
    can_become_owner: bool,
}

async fn check_runtime_role(runtime: &PgPool, owner_role: Option<&str>) -> Result<Ident, Error> {
    let facts: RuntimeRoleFacts = sqlx::query_as(
        "SELECT r.rolname::text AS role, r.rolsuper, r.rolinherit, r.rolbypassrls, r.rolcreaterole, \
                (EXISTS (SELECT 1 FROM pg_namespace n WHERE n.nspowner = r.oid) \
                 OR EXISTS (SELECT 1 FROM pg_class c WHERE c.relowner = r.oid \
                            AND c.relnamespace <> pg_my_temp_schema())) AS owns_objects, \
                EXISTS (SELECT 1 FROM pg_roles s WHERE s.rolsuper AND s.oid <> r.oid \
                        AND pg_has_role(r.oid, s.oid, 'MEMBER')) AS can_become_superuser, \
                COALESCE($1::text IS NOT NULL AND pg_has_role(r.oid, $1::text, 'MEMBER'), false) \
                    AS can_become_owner \
         FROM pg_roles r WHERE r.rolname = session_user",
    )
    .bind(owner_role)
    .fetch_one(runtime)
    .await?;

    let unsafe_because = |reason| Error::UnsafeRuntimeRole {
        role: facts.role.clone(),
        reason,
    };
    if facts.rolsuper {
        return Err(unsafe_because("it is a superuser, which passes every wall"));
    }
    if facts.rolinherit {
        return Err(unsafe_because(
            "it has INHERIT, so it would hold every entity's rights without SET ROLE; \
             ALTER ROLE ... NOINHERIT",
        ));
    }
    if facts.rolbypassrls {
        return Err(unsafe_because("it has BYPASSRLS"));
    }
    if facts.rolcreaterole {
        return Err(unsafe_because(
            "it has CREATEROLE, so it could grant itself other roles",
        ));
    }
    if owner_role == Some(facts.role.as_str()) {
        return Err(unsafe_because("it is the owner (DDL) role"));
    }
    if facts.owns_objects {
        return Err(unsafe_because(
            "it owns a schema or a table, and an owner passes the grants",
        ));
    }
    if facts.can_become_superuser {
        return Err(unsafe_because("it is a member of a superuser role"));
    }
    if facts.can_become_owner {
        return Err(unsafe_because("it is a member of the owner (DDL) role"));
    }
    Ident::new(&facts.role).map_err(|source| Error::InvalidName {
        what: "runtime role name",
        source,
    })
}
