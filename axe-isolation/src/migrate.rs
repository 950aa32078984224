//! Per-entity migrations: [`Migrations`], [`Isolation::migrate`], [`Isolation::migrate_all`].
//!
//! A migration set is a folder of plain SQL files named `<version>_<description>.sql`, as
//! `sqlx migrate` expects, written with unqualified names:
//!
//! ```text
//! migrations/
//!   0001_notes.sql      CREATE TABLE notes (id bigserial PRIMARY KEY, body text NOT NULL);
//!   0002_notes_tag.sql  ALTER TABLE notes ADD COLUMN tag text;
//! ```
//!
//! Each entity is migrated by the owner role in **one transaction**: a per-schema advisory lock
//! (sqlx's own lock is one per database), the search path set to the entity's schema, then
//! sqlx's migration machinery (the [`Migrate`] trait) with its bookkeeping table inside that
//! schema (`"ent_<id>"."_sqlx_migrations"`), each migration in a savepoint. A failure rolls the whole
//! entity back to where it was, so running again resumes; other entities are not affected.
//! After migrating, the entity role may read its bookkeeping table but not change it.
//!
//! Migration SQL can read two settings of that transaction: `current_setting('axe.entity')`
//! (the entity id) and `current_setting('axe.entity_role')` (the entity's role, which depends
//! on the [`RolePrefix`](crate::RolePrefix)), e.g. to narrow the table rights that the schema's
//! default privileges gave:
//!
//! ```sql
//! DO $$ BEGIN
//!   EXECUTE format('REVOKE UPDATE, DELETE ON audit_log FROM %I',
//!                  current_setting('axe.entity_role'));
//! END $$;
//! ```
//!
//! ```no_run
//! # async fn run(isolation: axe_isolation::Isolation) -> Result<(), axe_isolation::Error> {
//! let report = isolation.migrate_all().await?;
//! for (entity, error) in report.failed() {
//!     tracing::error!(%entity, %error, "entity left at its previous version");
//! }
//! # Ok(())
//! # }
//! ```
//!
//! Embedded sets work too: `Migrations::from_migrator(&sqlx::migrate!("migrations"))`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::path::Path;
use std::sync::Arc;

use futures_util::StreamExt;
use sqlx::PgConnection;
use sqlx::migrate::{AppliedMigration, Migrate, MigrateError, Migration, Migrator};

use crate::entity_id::EntityId;
use crate::error::Error;
use crate::ident::Ident;
use crate::isolation::Isolation;
use crate::provision::lock_entity;
use crate::sql_text::SqlText;
use crate::tx::{max_version_sql, search_path_of};

/// The default bookkeeping table of a migration set, as sqlx names it.
pub const DEFAULT_MIGRATIONS_TABLE: &str = "_sqlx_migrations";

/// A set of migrations applied in every entity's schema.
#[derive(Clone)]
pub struct Migrations {
    migrations: Arc<[Migration]>,
    table: Ident,
    expected: Option<i64>,
}

impl Migrations {
    /// Reads the SQL files of `dir` (sqlx's layout: `<version>_<description>.sql`, or
    /// `.up.sql`/`.down.sql` pairs; down migrations are ignored here).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidMigrations`] if the folder cannot be read or a migration cannot run per
    /// entity (see [`Migrations::from_vec`]).
    pub async fn from_dir(dir: impl AsRef<Path>) -> Result<Self, Error> {
        let migrator = Migrator::new(dir.as_ref())
            .await
            .map_err(|e| Error::InvalidMigrations {
                reason: format!("{}: {e}", dir.as_ref().display()),
            })?;
        Self::from_migrator(&migrator)
    }

    /// Takes the migrations of a sqlx [`Migrator`], e.g. one embedded with
    /// `sqlx::migrate!("migrations")`. Its table name and locking settings are not used.
    ///
    /// # Errors
    ///
    /// As [`Migrations::from_vec`].
    pub fn from_migrator(migrator: &Migrator) -> Result<Self, Error> {
        Self::from_vec(migrator.iter().cloned().collect())
    }

    /// Takes migrations built in code.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidMigrations`] if a migration is marked `-- no-transaction` (each entity
    /// migrates in one transaction, where e.g. `CREATE INDEX CONCURRENTLY` cannot run) or two
    /// up migrations share a version.
    pub fn from_vec(mut migrations: Vec<Migration>) -> Result<Self, Error> {
        migrations.sort();
        let mut seen = HashSet::new();
        for m in &migrations {
            if m.no_tx {
                return Err(Error::InvalidMigrations {
                    reason: format!(
                        "migration {} ({}) is marked no-transaction; entities migrate in one transaction",
                        m.version, m.description
                    ),
                });
            }
            if !m.migration_type.is_down_migration() && !seen.insert(m.version) {
                return Err(Error::InvalidMigrations {
                    reason: format!("two migrations have version {}", m.version),
                });
            }
        }
        let expected = migrations
            .iter()
            .filter(|m| !m.migration_type.is_down_migration())
            .map(|m| m.version)
            .max();
        Ok(Self {
            migrations: migrations.into(),
            table: Ident::from_validated(DEFAULT_MIGRATIONS_TABLE.to_owned()),
            expected,
        })
    }

    /// Uses `table` as the bookkeeping table in each entity schema, so several sets (the
    /// application's, `axe-audit`'s...) can live side by side.
    #[must_use]
    pub fn with_table(mut self, table: Ident) -> Self {
        self.table = table;
        self
    }

    /// The bookkeeping table's name (inside each entity schema).
    #[must_use]
    pub fn table(&self) -> &Ident {
        &self.table
    }

    /// The highest version of the set: the version `begin` requires (`None` for an empty set).
    #[must_use]
    pub fn expected_version(&self) -> Option<i64> {
        self.expected
    }

    /// The migrations, in version order.
    pub fn iter(&self) -> impl Iterator<Item = &Migration> {
        self.migrations.iter()
    }
}

impl fmt::Debug for Migrations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Migrations")
            .field("table", &self.table)
            .field("count", &self.migrations.len())
            .field("expected", &self.expected)
            .finish()
    }
}

/// What migrating one entity did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migrated {
    /// The entity.
    pub entity: EntityId,
    /// One entry per migration set, in order.
    pub sets: Vec<SetMigrated>,
}

impl Migrated {
    /// How many migrations were applied, over all sets (0: it was already current).
    #[must_use]
    pub fn applied_count(&self) -> usize {
        self.sets.iter().map(|s| s.applied.len()).sum()
    }
}

/// What migrating one entity did for one migration set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetMigrated {
    /// The set's bookkeeping table.
    pub table: Ident,
    /// Versions applied by this run, in order.
    pub applied: Vec<i64>,
    /// The schema's version for this set after the run.
    pub version: Option<i64>,
}

/// The outcome of [`Isolation::migrate_all`]: one result per entity, in entity order.
#[derive(Debug)]
pub struct MigrationReport {
    results: BTreeMap<EntityId, Result<Migrated, Error>>,
}

impl MigrationReport {
    /// `true` if every entity migrated.
    #[must_use]
    pub fn is_success(&self) -> bool {
        self.results.values().all(Result::is_ok)
    }

    /// The entities that failed, with why. They were left at their previous version.
    pub fn failed(&self) -> impl Iterator<Item = (&EntityId, &Error)> {
        self.results
            .iter()
            .filter_map(|(e, r)| r.as_ref().err().map(|err| (e, err)))
    }

    /// The entities that migrated (or were already current), with what was applied.
    pub fn succeeded(&self) -> impl Iterator<Item = &Migrated> {
        self.results.values().filter_map(|r| r.as_ref().ok())
    }

    /// The result for one entity, if it was part of the run.
    #[must_use]
    pub fn get(&self, entity: &EntityId) -> Option<&Result<Migrated, Error>> {
        self.results.get(entity)
    }

    /// Every result, in entity order.
    pub fn iter(&self) -> impl Iterator<Item = (&EntityId, &Result<Migrated, Error>)> {
        self.results.iter()
    }

    /// How many entities were part of the run.
    #[must_use]
    pub fn len(&self) -> usize {
        self.results.len()
    }

    /// `true` if there were no entities.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.results.is_empty()
    }
}

impl Isolation {
    /// Applies the pending migrations of every configured set to `entity`'s schema, as the
    /// owner role, in one transaction under the entity's advisory lock. A concurrent call for
    /// the same entity (another process, too) waits for the lock, then finds the migrations
    /// applied and applies nothing.
    ///
    /// # Errors
    ///
    /// - [`Error::NoOwnerPool`] without an owner pool.
    /// - [`Error::UnknownEntity`] / [`Error::NotProvisioned`] if the schema is missing.
    /// - [`Error::Migration`] if a migration failed (or an applied one was changed); the
    ///   entity is left as it was.
    pub async fn migrate(&self, entity: &EntityId) -> Result<Migrated, Error> {
        let owner = self.owner_pool("migrate")?;
        let schema = entity.schema();
        let role = self.role_of(entity);

        let mut tx = owner.begin().await?;
        lock_entity(&mut tx, entity).await?;
        let schema_exists: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)")
                .bind(schema.as_str())
                .fetch_one(&mut *tx)
                .await?;
        if !schema_exists {
            drop(tx);
            self.check_exists(owner, entity).await?;
            return Err(Error::NotProvisioned {
                entity: entity.clone(),
                missing: "schema",
            });
        }
        sqlx::query(
            "SELECT set_config('search_path', $1, true), set_config('axe.entity', $2, true), \
                    set_config('axe.entity_role', $3, true)",
        )
        .bind(search_path_of(entity))
        .bind(entity.as_str())
        .bind(role.as_str())
        .execute(&mut *tx)
        .await?;

        let mut sets = Vec::with_capacity(self.inner.migrations.len());
        for set in &self.inner.migrations {
            let applied =
                apply_set(&mut tx, &schema, set)
                    .await
                    .map_err(|source| Error::Migration {
                        entity: entity.clone(),
                        source,
                    })?;
            // The entity role may read its bookkeeping (the version gate) but not forge it.
            let lock_down = SqlText::new("REVOKE ALL ON TABLE ")
                .ident(&schema)
                .sql(".")
                .ident(set.table())
                .sql(" FROM ")
                .ident(&role)
                .sql("; GRANT SELECT ON TABLE ")
                .ident(&schema)
                .sql(".")
                .ident(set.table())
                .sql(" TO ")
                .ident(&role);
            sqlx::raw_sql(lock_down.build()).execute(&mut *tx).await?;
            let version = current_version(&mut tx, &schema, set.table()).await?;
            sets.push(SetMigrated {
                table: set.table().clone(),
                applied,
                version,
            });
        }
        tx.commit().await?;
        self.mark_current(entity, true);
        let migrated = Migrated {
            entity: entity.clone(),
            sets,
        };
        tracing::info!(%entity, applied = migrated.applied_count(), "entity migrated");
        Ok(migrated)
    }

    /// Migrates every entity of [`Isolation::list_entities`], at most
    /// [`migrate_concurrency`](crate::IsolationBuilder::migrate_concurrency) at a time, each in
    /// its own transaction. One entity's failure does not stop the others: read the report.
    ///
    /// # Errors
    ///
    /// Only if the entities cannot be listed or there is no owner pool; per-entity failures are
    /// in the [`MigrationReport`].
    pub async fn migrate_all(&self) -> Result<MigrationReport, Error> {
        self.owner_pool("migrate_all")?;
        let entities = self.list_entities().await?;
        let results = futures_util::stream::iter(entities)
            .map(|entity| async move {
                let result = self.migrate(&entity).await;
                if let Err(error) = &result {
                    tracing::warn!(%entity, %error, "entity migration failed");
                }
                (entity, result)
            })
            .buffer_unordered(self.inner.concurrency)
            .collect::<BTreeMap<_, _>>()
            .await;
        Ok(MigrationReport { results })
    }
}

/// Applies the pending up migrations of `set` in `schema`, on a connection that is inside the
/// entity's transaction; returns the versions applied.
///
/// This is what sqlx's `Migrator::run` does, minus its per-database lock and through the public
/// `Migrate` trait (its future is `Send`, which `Migrator::run` over `Acquire` is not): the
/// bookkeeping table is created if missing, a dirty or changed migration is refused, and each
/// pending migration runs in a savepoint (sqlx nests its `BEGIN` in our transaction).
async fn apply_set(
    conn: &mut PgConnection,
    schema: &Ident,
    set: &Migrations,
) -> Result<Vec<i64>, MigrateError> {
    let table = format!("{}.{}", schema.quoted(), set.table().quoted());
    conn.ensure_migrations_table(&table).await?;
    if let Some(version) = conn.dirty_version(&table).await? {
        return Err(MigrateError::Dirty(version));
    }
    let recorded: HashMap<i64, AppliedMigration> = conn
        .list_applied_migrations(&table)
        .await?
        .into_iter()
        .map(|m| (m.version, m))
        .collect();
    let known: HashSet<i64> = set.iter().map(|m| m.version).collect();
    if let Some(missing) = recorded
        .keys()
        .copied()
        .filter(|v| !known.contains(v))
        .min()
    {
        return Err(MigrateError::VersionMissing(missing));
    }
    let mut applied = Vec::new();
    for migration in set.iter().filter(|m| !m.migration_type.is_down_migration()) {
        match recorded.get(&migration.version) {
            Some(done) if done.checksum != migration.checksum => {
                return Err(MigrateError::VersionMismatch(migration.version));
            }
            Some(_) => {}
            None => {
                conn.apply(&table, migration).await?;
                applied.push(migration.version);
            }
        }
    }
    Ok(applied)
}

async fn table_exists(
    conn: &mut PgConnection,
    schema: &Ident,
    table: &Ident,
) -> Result<bool, Error> {
    let exists: bool = sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
        .bind(format!("{}.{}", schema.quoted(), table.quoted()))
        .fetch_one(conn)
        .await?;
    Ok(exists)
}

/// The highest successfully applied version in `schema.table` (`None`: no table, or empty).
pub(crate) async fn current_version(
    conn: &mut PgConnection,
    schema: &Ident,
    table: &Ident,
) -> Result<Option<i64>, Error> {
    if !table_exists(conn, schema, table).await? {
        return Ok(None);
    }
    let version: Option<i64> = sqlx::query_scalar(max_version_sql(schema, table).build())
        .persistent(false)
        .fetch_one(conn)
        .await?;
    Ok(version)
}
