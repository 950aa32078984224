//! A throwaway PostgreSQL for tests (feature `test-util`): every test gets its own database,
//! an owner (DDL) role and a runtime role, and no mock anywhere.
//!
//! ```no_run
//! use axe_isolation::testing::TestDb;
//! use axe_isolation::EntityId;
//!
//! #[tokio::test]
//! async fn notes_stay_with_their_entity() -> Result<(), axe_isolation::Error> {
//!     let db = TestDb::new().await?;
//!     let isolation = db.isolation().await?;
//!     let acme = EntityId::new("acme")?;
//!     isolation.provision(&acme).await?;
//!     let mut tx = isolation.begin(&acme).await?; // runs as the runtime role
//!     let who: String = sqlx::query_scalar("SELECT current_user::text")
//!         .fetch_one(&mut *tx)
//!         .await?;
//!     assert_eq!(who, isolation.role_of(&acme).as_str());
//!     Ok(())
//! }
//! # fn main() {}
//! ```
//!
//! Where the server comes from:
//! - `DATABASE_URL`, if set: a server you run, reached as a role that may create roles and
//!   databases. Each test's database and roles are dropped when its [`TestDb`] is dropped.
//! - otherwise a private cluster, started once per test process from the machine's `initdb`
//!   and `pg_ctl` (from `PATH`, or the folder in `AXE_PG_BINDIR`), as the `postgres` OS user
//!   through `runuser` when the tests run as root. It listens on a Unix socket in a temporary
//!   folder, and is stopped and removed when the test process exits.
//!
//! Roles: each database gets its own owner role (`LOGIN CREATEROLE`, owner of the database)
//! and runtime role (`LOGIN NOINHERIT`, not a superuser, owns nothing), and its own
//! [`RolePrefix`] for entity roles, so tests never share a role even on one cluster. A test
//! run as a superuser would prove nothing: a superuser passes every wall.

mod cluster;

use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, Executor, PgPool};

use crate::error::Error;
use crate::guard;
use crate::ident::{Ident, RolePrefix};
use crate::isolation::{Isolation, IsolationBuilder};
use crate::sql_text::SqlText;

/// Connections in each of [`TestDb`]'s two pools.
pub const TEST_POOL_SIZE: u32 = 4;

/// One test's database, with its owner and runtime pools. Dropping it drops the database and
/// its roles.
#[derive(Debug)]
pub struct TestDb {
    admin: PgConnectOptions,
    database: Ident,
    tag: Ident,
    owner_role: Ident,
    runtime_role: Ident,
    prefix: RolePrefix,
    owner_options: PgConnectOptions,
    runtime_options: PgConnectOptions,
    owner: PgPool,
    runtime: PgPool,
}

impl TestDb {
    /// Creates a fresh database, its roles and its pools (the runtime pool with the
    /// [`guard`] installed).
    ///
    /// # Errors
    ///
    /// [`Error::TestHarness`] if no server can be started; [`Error::Database`] if the set-up
    /// statements fail (e.g. `DATABASE_URL`'s role may not create roles).
    pub async fn new() -> Result<Self, Error> {
        let admin = match std::env::var("DATABASE_URL") {
            Ok(url) if !url.trim().is_empty() => url.parse::<PgConnectOptions>()?,
            _ => cluster::shared().await?.admin_options(),
        };

        let tag = unique_tag();
        let name = |suffix: &str| Ident::new(&format!("{tag}{suffix}"));
        let bad = |source| Error::InvalidName {
            what: "test name",
            source,
        };
        let database = Ident::new(&format!("axe_{tag}")).map_err(bad)?;
        let owner_role = name("_owner").map_err(bad)?;
        let runtime_role = name("_rt").map_err(bad)?;
        let password = Ident::new(&format!("p{:016x}{:016x}", random(), random())).map_err(bad)?;
        let prefix = RolePrefix::new(&tag).map_err(bad)?;
        let tag = Ident::new(&tag).map_err(bad)?;

        let mut conn = admin.connect().await?;
        let roles = SqlText::new("CREATE ROLE ")
            .ident(&owner_role)
            .sql(" LOGIN CREATEROLE PASSWORD ")
            .literal(&password)
            .sql("; CREATE ROLE ")
            .ident(&runtime_role)
            .sql(" LOGIN NOINHERIT PASSWORD ")
            .literal(&password)
            .sql("; ALTER ROLE ")
            .ident(&runtime_role)
            .sql(" SET search_path TO ''");
        sqlx::raw_sql(roles.build()).execute(&mut conn).await?;
        let create = SqlText::new("CREATE DATABASE ")
            .ident(&database)
            .sql(" OWNER ")
            .ident(&owner_role);
        conn.execute(create.build()).await?;
        conn.close().await?;

        let in_db = admin.clone().database(database.as_str());
        let mut conn = in_db.connect().await?;
        // PostgreSQL 15 already does this for new databases; older servers do not.
        conn.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
            .await?;
        conn.close().await?;

        let owner_options = in_db
            .clone()
            .username(owner_role.as_str())
            .password(password.as_str());
        let runtime_options = in_db
            .clone()
            .username(runtime_role.as_str())
            .password(password.as_str());
        let owner = PgPoolOptions::new()
            .max_connections(TEST_POOL_SIZE)
            .connect_with(owner_options.clone())
            .await?;
        let runtime = guard::install(PgPoolOptions::new().max_connections(TEST_POOL_SIZE))
            .connect_with(runtime_options.clone())
            .await?;
        tracing::debug!(%database, "test database created");
        Ok(Self {
            admin,
            database,
            tag,
            owner_role,
            runtime_role,
            prefix,
            owner_options,
            runtime_options,
            owner,
            runtime,
        })
    }

    /// The database's name.
    #[must_use]
    pub fn database_name(&self) -> &str {
        self.database.as_str()
    }

    /// The pool of the owner (DDL) role: owner of the database, `CREATEROLE`, not a superuser.
    #[must_use]
    pub fn owner_pool(&self) -> &PgPool {
        &self.owner
    }

    /// The pool of the runtime role (`NOINHERIT`, owns nothing), with the guard installed.
    #[must_use]
    pub fn runtime_pool(&self) -> &PgPool {
        &self.runtime
    }

    /// The owner role's name.
    #[must_use]
    pub fn owner_role(&self) -> &Ident {
        &self.owner_role
    }

    /// The runtime role's name.
    #[must_use]
    pub fn runtime_role(&self) -> &Ident {
        &self.runtime_role
    }

    /// The entity role prefix of this database.
    #[must_use]
    pub fn role_prefix(&self) -> &RolePrefix {
        &self.prefix
    }

    /// Connect options of the owner role, for pools or connections of your own.
    #[must_use]
    pub fn owner_connect_options(&self) -> PgConnectOptions {
        self.owner_options.clone()
    }

    /// Connect options of the harness's administrative login on this test's database: the
    /// private cluster's superuser `postgres`, or the role of `DATABASE_URL`.
    ///
    /// For set-up that the owner role may not do, such as making the runtime role a superuser
    /// to check that [`IsolationBuilder::build`] refuses it. Never run the code under test on
    /// it: a superuser passes every wall.
    #[must_use]
    pub fn admin_connect_options(&self) -> PgConnectOptions {
        self.admin.clone().database(self.database.as_str())
    }

    /// Connect options of the runtime role, for pools of your own (e.g. one connection, with
    /// or without the guard).
    #[must_use]
    pub fn runtime_connect_options(&self) -> PgConnectOptions {
        self.runtime_options.clone()
    }

    /// A new runtime pool built from `options` (nothing installed: add the guard with
    /// [`guard::install`] if you want it).
    ///
    /// # Errors
    ///
    /// [`Error::Database`] if it cannot connect.
    pub async fn runtime_pool_with(&self, options: PgPoolOptions) -> Result<PgPool, Error> {
        Ok(options.connect_with(self.runtime_options.clone()).await?)
    }

    /// An [`IsolationBuilder`] over the runtime pool, with the owner pool and the role prefix
    /// set; add migrations and build.
    pub fn isolation_builder(&self) -> IsolationBuilder {
        self.isolation_builder_on(self.runtime.clone())
    }

    /// Like [`TestDb::isolation_builder`], over another runtime pool of this database (see
    /// [`TestDb::runtime_pool_with`]).
    pub fn isolation_builder_on(&self, runtime: PgPool) -> IsolationBuilder {
        Isolation::builder(runtime)
            .owner(self.owner.clone())
            .role_prefix(self.prefix.clone())
    }

    /// An [`Isolation`] over this database, without migrations.
    ///
    /// # Errors
    ///
    /// As [`IsolationBuilder::build`].
    pub async fn isolation(&self) -> Result<Isolation, Error> {
        self.isolation_builder().build().await
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let admin = self.admin.clone();
        let database = self.database.clone();
        let tag = self.tag.clone();
        let owner_role = self.owner_role.clone();
        let runtime_role = self.runtime_role.clone();
        // Async work in a drop: a short-lived thread with its own runtime.
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(drop_database(
                admin,
                database,
                tag,
                owner_role,
                runtime_role,
            ))
        });
        match cleanup.join() {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::warn!(%error, "test database cleanup failed"),
            Err(_) => tracing::warn!("test database cleanup panicked"),
        }
    }
}

async fn drop_database(
    admin: PgConnectOptions,
    database: Ident,
    tag: Ident,
    owner_role: Ident,
    runtime_role: Ident,
) -> Result<(), Error> {
    let mut conn = admin.connect().await?;
    let drop_db = SqlText::new("DROP DATABASE IF EXISTS ")
        .ident(&database)
        .sql(" WITH (FORCE)");
    conn.execute(drop_db.build()).await?;
    let entity_roles: Vec<String> = sqlx::query_scalar(
        "SELECT rolname::text FROM pg_roles WHERE starts_with(rolname, $1 || '_ent_')",
    )
    .bind(tag.as_str())
    .fetch_all(&mut conn)
    .await?;
    for role in entity_roles {
        if let Ok(role) = Ident::new(&role) {
            let drop_role = SqlText::new("DROP ROLE IF EXISTS ").ident(&role);
            conn.execute(drop_role.build()).await?;
        }
    }
    for role in [&runtime_role, &owner_role] {
        let drop_role = SqlText::new("DROP ROLE IF EXISTS ").ident(role);
        conn.execute(drop_role.build()).await?;
    }
    conn.close().await?;
    Ok(())
}

fn random() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    RandomState::new().hash_one((
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        nanos,
    ))
}

/// `t` and 10 hex digits: short enough for `<tag>_ent_<31>_rw` to fit in 63 bytes.
fn unique_tag() -> String {
    format!("t{:010x}", random() & 0xff_ffff_ffff)
}
