//! The operator log: events that belong to no entity's log (refused sign-ins, provisioning,
//! shredding, key rotation), in `axe_audit.operator_log`, with its own chain and the same
//! append-only rules as the per-entity logs.

use axe_isolation::EntityId;
use sha2_v011::{Digest, Sha256};
use sqlx::{PgConnection, PgPool};

use crate::error::Error;
use crate::event::{AuditEvent, NewEvent};
use crate::store::{page_in, record_in};
use crate::verify::{PAGE, Verified, walk};

/// The operator log table.
pub(crate) const TABLE: &str = "axe_audit.operator_log";

/// The advisory lock key of the operator chain: the first 8 bytes of
/// `SHA-256("axe-audit:operator")`, big-endian.
#[must_use]
pub fn operator_lock_key() -> i64 {
    let digest = Sha256::digest(b"axe-audit:operator");
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(bytes)
}

/// The operator log, reached through a pool whose role may `INSERT` and `SELECT` on
/// `axe_audit.operator_log` (the triggers refuse changes even to its owner).
#[derive(Debug, Clone)]
pub struct OperatorLog {
    pool: PgPool,
}

impl OperatorLog {
    /// The operator log through `pool`.
    #[must_use]
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    pub(crate) fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Creates schema `axe_audit`, the table and its triggers if missing (idempotent; run it
    /// with the owner role).
    ///
    /// # Errors
    ///
    /// [`Error::Database`] if the statements fail.
    pub async fn install(&self) -> Result<(), Error> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(operator_lock_key())
            .execute(&mut *tx)
            .await?;
        sqlx::raw_sql(include_str!("../sql/operator_log.sql"))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records `event` (about `entity`, if any) in its own transaction.
    ///
    /// # Errors
    ///
    /// [`Error::Database`] if a statement fails.
    pub async fn record(
        &self,
        entity: Option<&EntityId>,
        event: NewEvent,
    ) -> Result<AuditEvent, Error> {
        let mut tx = self.pool.begin().await?;
        let row = record_operator(&mut tx, entity, event).await?;
        tx.commit().await?;
        Ok(row)
    }

    /// The last `n` rows, oldest first.
    ///
    /// # Errors
    ///
    /// [`Error::Database`], [`Error::MalformedRow`].
    pub async fn tail(&self, n: i64) -> Result<Vec<AuditEvent>, Error> {
        let mut conn = self.pool.acquire().await?;
        let max: Option<i64> = sqlx::query_scalar("SELECT max(seq) FROM axe_audit.operator_log")
            .fetch_one(&mut *conn)
            .await?;
        let after = max.unwrap_or(0).saturating_sub(n.max(0));
        page_in(&mut conn, TABLE, after, n.clamp(0, 10_000)).await
    }

    /// Walks the operator chain and names the first broken link (see
    /// [`AuditLog::verify`](crate::AuditLog::verify)).
    ///
    /// # Errors
    ///
    /// [`Error::Database`], [`Error::MalformedRow`].
    pub async fn verify(&self) -> Result<Verified, Error> {
        let verified = walk(|after| async move {
            let mut conn = self.pool.acquire().await?;
            page_in(&mut conn, TABLE, after, PAGE).await
        })
        .await?;
        if let Some(broken) = verified.broken {
            tracing::warn!(seq = broken.seq, fault = ?broken.fault, "operator chain broken");
        }
        Ok(verified)
    }
}

/// Records `event` in the operator log inside the caller's transaction (same database).
///
/// # Errors
///
/// [`Error::Database`] if a statement fails.
pub async fn record_operator(
    conn: &mut PgConnection,
    entity: Option<&EntityId>,
    event: NewEvent,
) -> Result<AuditEvent, Error> {
    let name = entity.map_or("", EntityId::as_str);
    record_in(conn, TABLE, operator_lock_key(), name, event).await
}
