//! [`PgSessionStore`]: sessions and their owner bindings in PostgreSQL (`axe_mcp.sessions`), so
//! a session created by one process continues on another (the blue/green swap, a replica).

use std::time::Duration;

use axe_isolation::Ident;
use rmcp::transport::streamable_http_server::session::{
    SessionState, SessionStore, SessionStoreError,
};
use sqlx::PgPool;

use crate::binding::{BindingStore, SessionOwner};
use crate::error::StoreError;

/// Sessions and bindings in `axe_mcp.sessions`.
///
/// Create the table once with [`PgSessionStore::install`] (as the owner/DDL role), then use
/// a pool of the runtime role it was granted to.
#[derive(Debug, Clone)]
pub struct PgSessionStore {
    pool: PgPool,
    idle: Duration,
}

impl PgSessionStore {
    /// A store on `pool` whose sessions expire after `idle` without a request.
    pub fn new(pool: PgPool, idle: Duration) -> Self {
        Self { pool, idle }
    }

    /// Creates schema `axe_mcp` and its table if missing (idempotent) and lets `user` read and
    /// write it. Run with a pool of the owner (DDL) role.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`] if a statement fails.
    pub async fn install(owner: &PgPool, user: &Ident) -> Result<(), StoreError> {
        let mut tx = owner.begin().await?;
        // One installer at a time: CREATE ... IF NOT EXISTS races on the catalog otherwise.
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext('axe-mcp:install'))")
            .execute(&mut *tx)
            .await?;
        sqlx::raw_sql(include_str!("../sql/sessions.sql"))
            .execute(&mut *tx)
            .await?;
        // The only spliced text is a validated `Ident` (`[a-z_][a-z0-9_]*`), quoted.
        let user = user.quoted();
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "GRANT USAGE ON SCHEMA axe_mcp TO {user}; \
             GRANT SELECT, INSERT, UPDATE, DELETE ON axe_mcp.sessions TO {user};"
        )))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Deletes sessions idle past the timeout; returns how many. Run it now and then (the
    /// lookups already ignore them).
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`].
    pub async fn sweep(&self) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "DELETE FROM axe_mcp.sessions WHERE last_seen < now() - make_interval(secs => $1)",
        )
        .bind(self.idle.as_secs_f64())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    fn idle_secs(&self) -> f64 {
        self.idle.as_secs_f64()
    }
}

#[async_trait::async_trait]
impl BindingStore for PgSessionStore {
    async fn bind(&self, session: &str, owner: &SessionOwner) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO axe_mcp.sessions (id, tid, oid, client_id, customer) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (id) DO UPDATE SET tid = $2, oid = $3, client_id = $4, customer = $5, \
             last_seen = now()",
        )
        .bind(session)
        .bind(&owner.tid)
        .bind(&owner.oid)
        .bind(&owner.client_id)
        .bind(&owner.customer)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn owner_of(&self, session: &str) -> Result<Option<SessionOwner>, StoreError> {
        let row: Option<(
            Option<String>,
            Option<String>,
            Option<String>,
            Option<String>,
        )> = sqlx::query_as(
            "UPDATE axe_mcp.sessions SET last_seen = now() \
                 WHERE id = $1 AND last_seen >= now() - make_interval(secs => $2) \
                 RETURNING tid, oid, client_id, customer",
        )
        .bind(session)
        .bind(self.idle_secs())
        .fetch_optional(&self.pool)
        .await?;
        match row {
            None => Ok(None),
            Some((Some(tid), Some(oid), Some(client_id), Some(customer))) => {
                Ok(Some(SessionOwner {
                    tid,
                    oid,
                    client_id,
                    customer,
                }))
            }
            // rmcp stored the state before the binding landed (or the binding was lost):
            // a session without an owner belongs to nobody.
            Some(_) => Ok(None),
        }
    }

    async fn unbind(&self, session: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM axe_mcp.sessions WHERE id = $1")
            .bind(session)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn count_for(&self, owner: &SessionOwner) -> Result<usize, StoreError> {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM axe_mcp.sessions WHERE tid = $1 AND oid = $2 \
             AND client_id = $3 AND customer = $4 \
             AND last_seen >= now() - make_interval(secs => $5)",
        )
        .bind(&owner.tid)
        .bind(&owner.oid)
        .bind(&owner.client_id)
        .bind(&owner.customer)
        .bind(self.idle_secs())
        .fetch_one(&self.pool)
        .await?;
        usize::try_from(n).map_err(|_| StoreError::Malformed("negative count"))
    }
}

/// rmcp's view: the client's `initialize` parameters, so another process can restore the
/// session without a new handshake.
#[async_trait::async_trait]
impl SessionStore for PgSessionStore {
    async fn load(&self, session_id: &str) -> Result<Option<SessionState>, SessionStoreError> {
        let state: Option<Option<serde_json::Value>> = sqlx::query_scalar(
            "SELECT state FROM axe_mcp.sessions WHERE id = $1 \
             AND last_seen >= now() - make_interval(secs => $2)",
        )
        .bind(session_id)
        .bind(self.idle_secs())
        .fetch_optional(&self.pool)
        .await?;
        match state.flatten() {
            None => Ok(None),
            Some(v) => Ok(Some(serde_json::from_value(v)?)),
        }
    }

    async fn store(&self, session_id: &str, state: &SessionState) -> Result<(), SessionStoreError> {
        let value = serde_json::to_value(state)?;
        sqlx::query(
            "INSERT INTO axe_mcp.sessions (id, state) VALUES ($1, $2) \
             ON CONFLICT (id) DO UPDATE SET state = $2, last_seen = now()",
        )
        .bind(session_id)
        .bind(value)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn delete(&self, session_id: &str) -> Result<(), SessionStoreError> {
        sqlx::query("DELETE FROM axe_mcp.sessions WHERE id = $1")
            .bind(session_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
