//! Creating and dropping entities: [`Isolation::provision`], [`Isolation::deprovision`],
//! [`Isolation::list_entities`].
//!
//! What `provision` sets up for entity `acme` (owner role `app_owner`, runtime role
//! `app_runtime`), in one transaction under the entity's advisory lock:
//!
//! ```sql
//! CREATE ROLE "ent_acme_rw" NOLOGIN NOINHERIT;              -- if missing
//! CREATE SCHEMA IF NOT EXISTS "ent_acme";                   -- owned by app_owner
//! REVOKE ALL ON SCHEMA "ent_acme" FROM PUBLIC;
//! GRANT USAGE ON SCHEMA "ent_acme" TO "ent_acme_rw";        -- no CREATE: DDL is the owner's
//! ALTER DEFAULT PRIVILEGES IN SCHEMA "ent_acme"
//!     GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO "ent_acme_rw";
//! ALTER DEFAULT PRIVILEGES IN SCHEMA "ent_acme"
//!     GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO "ent_acme_rw";
//! GRANT "ent_acme_rw" TO "app_runtime";                     -- NOINHERIT: usable only by SET ROLE
//! REVOKE CREATE ON SCHEMA public FROM PUBLIC;               -- if the owner owns `public`
//! ```

use sqlx::PgConnection;
use sqlx::postgres::{PgAdvisoryLock, PgAdvisoryLockKey};

use crate::entity_id::EntityId;
use crate::error::{self, Error};
use crate::isolation::Isolation;
use crate::sql_text::SqlText;

/// How often `provision` retries when another database of the cluster created the same role at
/// the same moment (roles are cluster-wide; the advisory lock is per database).
const PROVISION_ATTEMPTS: usize = 3;

/// Revokes `CREATE` on `public` from `PUBLIC` when it is granted and the owner role may (it
/// owns `public`, e.g. as database owner). Concurrent `REVOKE`s of one ACL fail with "tuple
/// concurrently updated", so the check comes first and the change runs under a database-wide
/// advisory lock (key: the bytes `axe-isol` as a big-endian `i64`).
const REVOKE_PUBLIC_CREATE: &str = ";\nDO $axe$ BEGIN \
     IF EXISTS (SELECT 1 FROM pg_namespace n, aclexplode(n.nspacl) a \
                WHERE n.nspname = 'public' AND a.grantee = 0 AND a.privilege_type = 'CREATE' \
                  AND pg_has_role(n.nspowner, 'USAGE')) THEN \
       PERFORM pg_advisory_xact_lock(7023474864601395052); \
       REVOKE CREATE ON SCHEMA public FROM PUBLIC; \
     END IF; END $axe$";

/// The advisory lock key that [`Isolation::provision`], [`Isolation::migrate`] and
/// [`Isolation::deprovision`] hold (transaction-scoped) while they work on `entity`.
///
/// Derived from the schema name with sqlx's [`PgAdvisoryLock::new`] (SHA-256), so it is stable
/// across processes and versions. Hold it yourself with `pg_advisory_xact_lock($1)` to keep
/// those operations away from an entity during maintenance.
#[must_use]
pub fn entity_lock_key(entity: &EntityId) -> i64 {
    let lock = PgAdvisoryLock::new(format!("axe-isolation:{}", entity.schema()));
    match lock.key() {
        PgAdvisoryLockKey::IntPair(hi, lo) => (i64::from(*hi) << 32) | i64::from(*lo as u32),
        PgAdvisoryLockKey::BigInt(key) => *key,
        // `PgAdvisoryLock::new` always builds a `BigInt` key; this arm only satisfies
        // `#[non_exhaustive]`.
        _ => 0x0061_7865_5f69_736f,
    }
}

/// Takes `entity`'s advisory lock until the end of the current transaction.
pub(crate) async fn lock_entity(conn: &mut PgConnection, entity: &EntityId) -> Result<(), Error> {
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(entity_lock_key(entity))
        .execute(conn)
        .await?;
    Ok(())
}

/// What [`Isolation::provision`] created (both `false`: the entity was already there, and its
/// rights were re-applied).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Provisioned {
    /// The schema was created by this call.
    pub schema_created: bool,
    /// The role was created by this call.
    pub role_created: bool,
}

/// What [`Isolation::deprovision`] dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use = "the entity's schema is gone, but its ciphertext may live on in backups: \
              crypto-shred its data key with axe-audit"]
pub struct Deprovisioned {
    /// The entity.
    pub entity: EntityId,
    /// The schema existed and was dropped with everything in it.
    pub schema_dropped: bool,
    /// The role existed and was dropped.
    pub role_dropped: bool,
}

impl Isolation {
    /// Creates `entity`'s schema and role, and the rights between them and the runtime role.
    ///
    /// Idempotent (a second call re-applies the rights and creates nothing) and safe to run
    /// concurrently, from several processes too: the work happens in one transaction under
    /// the entity's advisory lock. Run migrations afterwards with [`Isolation::migrate`].
    ///
    /// # Errors
    ///
    /// - [`Error::NoOwnerPool`] without an owner pool.
    /// - [`Error::ForeignSchemaOwner`] if `ent_<id>` exists and belongs to another role.
    /// - [`Error::PermissionDenied`] if the owner role may not create roles or schemas.
    pub async fn provision(&self, entity: &EntityId) -> Result<Provisioned, Error> {
        let mut attempt = 1;
        loop {
            match self.try_provision(entity).await {
                Err(Error::Database(e))
                    if attempt < PROVISION_ATTEMPTS
                        && matches!(
                            error::sqlstate(&e).as_deref(),
                            Some(error::DUPLICATE_OBJECT | error::UNIQUE_VIOLATION)
                        ) =>
                {
                    tracing::debug!(%entity, error = %e, "provision raced another database; retrying");
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    async fn try_provision(&self, entity: &EntityId) -> Result<Provisioned, Error> {
        let owner = self.owner_pool("provision")?;
        let schema = entity.schema();
        let role = self.role_of(entity);

        let mut tx = owner.begin().await?;
        lock_entity(&mut tx, entity).await?;
        let (role_exists, schema_owner, me): (bool, Option<String>, String) = sqlx::query_as(
            "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1), \
                    (SELECT pg_get_userbyid(nspowner)::text FROM pg_namespace WHERE nspname = $2), \
                    current_user::text",
        )
        .bind(role.as_str())
        .bind(schema.as_str())
        .fetch_one(&mut *tx)
        .await?;
        if let Some(found) = &schema_owner
            && *found != me
        {
            return Err(Error::ForeignSchemaOwner {
                entity: entity.clone(),
                owner: found.clone(),
                expected: me,
            });
        }
        if !role_exists {
            let create = SqlText::new("CREATE ROLE ")
                .ident(&role)
                .sql(" NOLOGIN NOINHERIT");
            sqlx::raw_sql(create.build()).execute(&mut *tx).await?;
        }
        let rights = SqlText::new("CREATE SCHEMA IF NOT EXISTS ")
            .ident(&schema)
            .sql(";\nREVOKE ALL ON SCHEMA ")
            .ident(&schema)
            .sql(" FROM PUBLIC;\nGRANT USAGE ON SCHEMA ")
            .ident(&schema)
            .sql(" TO ")
            .ident(&role)
            .sql(";\nALTER DEFAULT PRIVILEGES IN SCHEMA ")
            .ident(&schema)
            .sql(" GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO ")
            .ident(&role)
            .sql(";\nALTER DEFAULT PRIVILEGES IN SCHEMA ")
            .ident(&schema)
            .sql(" GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO ")
            .ident(&role)
            .sql(";\nGRANT ")
            .ident(&role)
            .sql(" TO ")
            .ident(&self.inner.runtime_role)
            .sql(REVOKE_PUBLIC_CREATE);
        sqlx::raw_sql(rights.build()).execute(&mut *tx).await?;
        tx.commit().await?;

        let provisioned = Provisioned {
            schema_created: schema_owner.is_none(),
            role_created: !role_exists,
        };
        tracing::info!(%entity, ?provisioned, "entity provisioned");
        Ok(provisioned)
    }

    /// Drops `entity`'s schema (with every table in it) and its role. Idempotent.
    ///
    /// This removes the live data only. Backups and exports still hold it: crypto-shred the
    /// entity's data key with `axe-audit` so the ciphertext there becomes unreadable.
    ///
    /// # Errors
    ///
    /// - [`Error::NoOwnerPool`] without an owner pool.
    /// - [`Error::Database`] if the role still has rights elsewhere (another database of the
    ///   cluster uses the same role name: see [`RolePrefix`](crate::RolePrefix)).
    pub async fn deprovision(&self, entity: &EntityId) -> Result<Deprovisioned, Error> {
        let owner = self.owner_pool("deprovision")?;
        let schema = entity.schema();
        let role = self.role_of(entity);

        let mut tx = owner.begin().await?;
        lock_entity(&mut tx, entity).await?;
        let (schema_exists, role_exists): (bool, bool) = sqlx::query_as(
            "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1), \
                    EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $2)",
        )
        .bind(schema.as_str())
        .bind(role.as_str())
        .fetch_one(&mut *tx)
        .await?;
        if schema_exists {
            let drop = SqlText::new("DROP SCHEMA ").ident(&schema).sql(" CASCADE");
            sqlx::raw_sql(drop.build()).execute(&mut *tx).await?;
        }
        if role_exists {
            let drop = SqlText::new("DROP ROLE ").ident(&role);
            sqlx::raw_sql(drop.build()).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        self.mark_current(entity, false);
        tracing::info!(
            %entity,
            schema_dropped = schema_exists,
            role_dropped = role_exists,
            "entity deprovisioned; crypto-shred its data key with axe-audit"
        );
        Ok(Deprovisioned {
            entity: entity.clone(),
            schema_dropped: schema_exists,
            role_dropped: role_exists,
        })
    }

    /// Every entity with a schema in this database (`ent_<valid id>`), in order.
    ///
    /// # Errors
    ///
    /// [`Error::Database`] if the runtime pool cannot be reached.
    pub async fn list_entities(&self) -> Result<Vec<EntityId>, Error> {
        let schemas: Vec<String> = sqlx::query_scalar(
            "SELECT nspname::text FROM pg_namespace WHERE nspname LIKE 'ent\\_%' ORDER BY 1",
        )
        .fetch_all(&self.inner.runtime)
        .await?;
        Ok(schemas
            .iter()
            .filter_map(|s| EntityId::from_schema(s))
            .collect())
    }
}
