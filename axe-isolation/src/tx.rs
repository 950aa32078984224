//! [`EntityTx`]: a transaction scoped to one entity, and [`Isolation::begin`].
//!
//! ```no_run
//! # async fn run(isolation: axe_isolation::Isolation) -> Result<(), axe_isolation::Error> {
//! use axe_isolation::EntityId;
//!
//! let acme = EntityId::new("acme")?;
//! let mut tx = isolation.begin(&acme).await?;
//! // Unqualified names resolve in schema `ent_acme`, and only its tables are readable.
//! sqlx::query("INSERT INTO notes (body) VALUES ($1)")
//!     .bind("hello")
//!     .execute(&mut *tx)
//!     .await?;
//! let count: i64 = sqlx::query_scalar("SELECT count(*) FROM notes")
//!     .fetch_one(&mut *tx)
//!     .await?;
//! tx.commit().await?;
//! # let _ = count;
//! # Ok(())
//! # }
//! ```
//!
//! # How the scope is set, and why per transaction
//!
//! The first time an [`Isolation`] serves an entity, `begin` sends `BEGIN`, then one statement
//! with two bind parameters, then the first-use checks (schema present, migrations current):
//!
//! ```sql
//! SELECT set_config('role', $1, true), set_config('search_path', $2, true)
//! ```
//!
//! `set_config('role', name, true)` is what `SET LOCAL ROLE name` does (the same setting, the
//! same membership check, and it ends with the transaction); unlike `SET LOCAL ROLE` it takes
//! the role as a bind parameter. Errors there are precise: [`Error::UnknownEntity`],
//! [`Error::NotProvisioned`], [`Error::SchemaBehind`].
//!
//! Once the entity has passed, later `begin`s fold everything into the `BEGIN` round trip, so a
//! scoped transaction costs the same number of round trips as a plain one (sqlx cannot
//! pipeline a bind-parameter statement behind `BEGIN`). One simple-protocol message:
//!
//! ```sql
//! SET LOCAL ROLE "ent_acme_rw"; SET LOCAL search_path TO "ent_acme", pg_temp; BEGIN
//! ```
//!
//! The `SET LOCAL`s run in the message's implicit transaction block and the final `BEGIN` makes
//! it a regular transaction that keeps them; if a `SET` fails (the entity was deprovisioned by
//! another process), only the implicit block aborts and the connection stays clean. The names
//! in that text are generated from the validated [`EntityId`] (only `a-z`, `0-9`, `_`) and
//! quoted, never taken from input; utility `SET`s also skip the planner, which a `SELECT
//! set_config(…)` would not.
//!
//! The search path is the entity schema then `pg_temp`, so `public` is never on it and a
//! temporary table cannot shadow an entity table.
//!
//! Both settings are *local*: PostgreSQL drops them at `COMMIT` or `ROLLBACK`, so a pooled
//! connection (or a pgbouncer server connection in transaction mode) never carries one entity's
//! scope into the next borrower. This is the answer to the warning in sqlx's
//! `examples/postgres/multi-tenant` README and to the leaks of session-level `search_path`
//! libraries: nothing is set per *session*. The pool [`guard`](crate::guard) resets role and
//! search path on release as a second line.

use std::fmt;
use std::ops::{Deref, DerefMut};

use sqlx::{PgConnection, Postgres, Transaction};

use crate::entity_id::EntityId;
use crate::error::{self, Error};
use crate::isolation::Isolation;
use crate::sql_text::SqlText;

/// The statement that scopes a transaction to an entity (role, search path), one round trip.
pub(crate) const SCOPE_SQL: &str =
    "SELECT set_config('role', $1, true), set_config('search_path', $2, true)";

/// The search path of `entity`'s transactions: its schema, then `pg_temp`, spelled as
/// PostgreSQL shows it back (an [`crate::Ident`] never needs quotes inside a search path).
pub(crate) fn search_path_of(entity: &EntityId) -> String {
    format!("{}, pg_temp", entity.schema())
}

/// The folded `BEGIN` of an entity already verified: one simple-protocol message, one round
/// trip. The `SET LOCAL`s run first, in the message's implicit transaction block, and the final
/// `BEGIN` turns that block into a regular transaction that keeps them (PostgreSQL includes
/// earlier statements of the message retroactively). If a `SET` fails (the role vanished), the
/// implicit block is simply aborted and the connection is left idle, not inside a failed
/// transaction. Only generated, quoted names reach the text.
pub(crate) fn scoped_begin_sql(entity: &EntityId, role: &crate::Ident) -> SqlText {
    SqlText::new("SET LOCAL ROLE ")
        .ident(role)
        .sql("; SET LOCAL search_path TO ")
        .ident(&entity.schema())
        .sql(", pg_temp; BEGIN")
}

/// A transaction scoped to one entity: its role is the entity's role and its search path the
/// entity's schema, for the whole transaction and no longer.
///
/// Shaped like [`sqlx::Transaction`]: it derefs to the [`PgConnection`] (use `&mut *tx` as the
/// executor), [`commit`](EntityTx::commit) consumes it, and dropping it without committing
/// rolls back (the `ROLLBACK` is queued and sent when the connection is next used or returned
/// to the pool). Savepoints work as with sqlx: `sqlx::Connection::begin(&mut *tx)`.
///
/// If the code inside runs `COMMIT` or `ROLLBACK` itself, the scope ends with that
/// transaction, and what follows runs as the runtime role, which can read no entity's tables.
pub struct EntityTx {
    tx: Transaction<'static, Postgres>,
    entity: EntityId,
}

impl EntityTx {
    /// The entity this transaction is scoped to.
    #[must_use]
    pub fn entity(&self) -> &EntityId {
        &self.entity
    }

    /// Commits the transaction.
    ///
    /// # Errors
    ///
    /// The database error, converted ([`Error::PermissionDenied`] for SQLSTATE 42501, e.g. a
    /// deferred constraint trigger that was refused).
    pub async fn commit(self) -> Result<(), Error> {
        self.tx.commit().await.map_err(Error::from)
    }

    /// Rolls the transaction back now (dropping it does the same, a little later).
    ///
    /// # Errors
    ///
    /// The database error, converted.
    pub async fn rollback(self) -> Result<(), Error> {
        self.tx.rollback().await.map_err(Error::from)
    }
}

impl Deref for EntityTx {
    type Target = PgConnection;

    fn deref(&self) -> &PgConnection {
        &self.tx
    }
}

impl DerefMut for EntityTx {
    fn deref_mut(&mut self) -> &mut PgConnection {
        &mut self.tx
    }
}

impl AsMut<PgConnection> for EntityTx {
    fn as_mut(&mut self) -> &mut PgConnection {
        &mut self.tx
    }
}

impl fmt::Debug for EntityTx {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EntityTx")
            .field("entity", &self.entity)
            .finish_non_exhaustive()
    }
}

impl Isolation {
    /// Begins a transaction scoped to `entity` on the runtime pool.
    ///
    /// The first time this `Isolation` serves an entity it also checks that the entity's schema
    /// exists and, for each configured migration set, that the schema is at the expected
    /// version (one or two more round trips, once per entity per process).
    ///
    /// # Errors
    ///
    /// - [`Error::UnknownEntity`] / [`Error::NotProvisioned`]: the schema or role is missing.
    /// - [`Error::SchemaBehind`]: the schema is behind a migration set (the version gate).
    /// - [`Error::PermissionDenied`]: the runtime role is not a member of the entity's role
    ///   (provisioned for another runtime role).
    /// - [`Error::Database`]: anything else, such as a pool timeout.
    pub async fn begin(&self, entity: &EntityId) -> Result<EntityTx, Error> {
        let role = self.role_of(entity);
        let tx = if self.is_current(entity) {
            match self
                .inner
                .runtime
                .begin_with(scoped_begin_sql(entity, &role).build())
                .await
            {
                Ok(tx) => tx,
                Err(e) => {
                    // Changed behind this process's back (deprovisioned?): verify again next time.
                    self.mark_current(entity, false);
                    return Err(self.scope_error(entity, e).await);
                }
            }
        } else {
            self.begin_first(entity, &role).await?
        };
        tracing::trace!(%entity, "entity transaction begun");
        Ok(EntityTx {
            tx,
            entity: entity.clone(),
        })
    }

    /// `begin` for an entity this `Isolation` has not verified yet: bind parameters, precise
    /// errors, then the first-use checks.
    async fn begin_first(
        &self,
        entity: &EntityId,
        role: &crate::Ident,
    ) -> Result<Transaction<'static, Postgres>, Error> {
        let mut tx = self.inner.runtime.begin().await?;
        let scoped = sqlx::query(SCOPE_SQL)
            .bind(role.as_str())
            .bind(search_path_of(entity))
            .execute(&mut *tx)
            .await;
        if let Err(e) = scoped {
            drop(tx);
            return Err(self.scope_error(entity, e).await);
        }
        self.check_current(entity, &mut tx).await?;
        self.mark_current(entity, true);
        Ok(tx)
    }

    /// Explains a failed scope statement.
    async fn scope_error(&self, entity: &EntityId, e: sqlx::Error) -> Error {
        if error::sqlstate(&e).as_deref() == Some(error::INVALID_PARAMETER_VALUE) {
            // `set_config('role', …)` on a role that does not exist.
            if let Err(explained) = self.check_exists(&self.inner.runtime, entity).await {
                return explained;
            }
        }
        Error::from(e)
    }

    /// The first-use checks: schema present, every migration set at its expected version.
    async fn check_current(&self, entity: &EntityId, conn: &mut PgConnection) -> Result<(), Error> {
        let schema = entity.schema();
        let schema_exists: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)")
                .bind(schema.as_str())
                .fetch_one(&mut *conn)
                .await?;
        if !schema_exists {
            return Err(Error::NotProvisioned {
                entity: entity.clone(),
                missing: "schema",
            });
        }
        for set in &self.inner.migrations {
            let Some(expected) = set.expected_version() else {
                continue;
            };
            let current = crate::migrate::current_version(conn, &schema, set.table()).await?;
            if current.is_none_or(|v| v < expected) {
                return Err(Error::SchemaBehind {
                    entity: entity.clone(),
                    table: set.table().clone(),
                    current,
                    expected,
                });
            }
        }
        Ok(())
    }
}

/// `SELECT max(version) FROM "<schema>"."<table>" WHERE success` (not cached as a prepared
/// statement: it is different for every entity and runs once per entity).
pub(crate) fn max_version_sql(schema: &crate::Ident, table: &crate::Ident) -> SqlText {
    SqlText::new("SELECT max(version) FROM ")
        .ident(schema)
        .sql(".")
        .ident(table)
        .sql(" WHERE success")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folded_begin_text() -> Result<(), crate::NameError> {
        let id = EntityId::new("acme")?;
        let sql = scoped_begin_sql(&id, &id.default_role());
        assert_eq!(
            sql.as_str(),
            "SET LOCAL ROLE \"ent_acme_rw\"; SET LOCAL search_path TO \"ent_acme\", pg_temp; BEGIN"
        );
        assert_eq!(search_path_of(&id), "ent_acme, pg_temp");
        Ok(())
    }
}
