//! Writing and reading the log: [`record`], [`AuditLog`], [`migrations`].
//!
//! ```no_run
//! use axe_audit::{AuditLog, NewEvent, Outcome};
//! use axe_isolation::{EntityId, Isolation};
//!
//! # async fn run(isolation: Isolation) -> Result<(), axe_audit::Error> {
//! let acme = EntityId::new("acme")?;
//! let mut tx = isolation.begin(&acme).await?;
//! // ... the effect, in the same transaction ...
//! axe_audit::record(&mut tx, NewEvent::new("contoso", "mcp.tools/call:records_put", Outcome::Ok))
//!     .await?;
//! tx.commit().await?; // the audit row commits or rolls back with the effect
//!
//! let log = AuditLog::new(isolation);
//! log.record_standalone(&acme, NewEvent::new("contoso", "mcp.tools/call:x", Outcome::Denied))
//!     .await?;
//! assert!(log.verify(&acme).await?.is_intact());
//! # Ok(())
//! # }
//! ```

use axe_isolation::{EntityId, EntityTx, Ident, Isolation, Migrations};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};
use uuid::Uuid;

use crate::chain::{GENESIS, lock_key};
use crate::error::Error;
use crate::event::{Actor, AuditEvent, NewEvent, Outcome, Source, Target, Timestamp};

/// The bookkeeping table of `axe-audit`'s migration set inside each entity schema.
pub const MIGRATIONS_TABLE: &str = "_axe_audit_migrations";

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// `axe-audit`'s per-entity migrations (the `audit_log` table, its triggers and grants), to
/// add to the [`IsolationBuilder`](axe_isolation::IsolationBuilder) with
/// `.migrations(axe_audit::migrations()?)`. They run as the owner role in each entity schema.
///
/// # Errors
///
/// [`Error::Isolation`] if the embedded set is refused (it is not).
pub fn migrations() -> Result<Migrations, Error> {
    let table =
        Ident::new(MIGRATIONS_TABLE).map_err(|source| axe_isolation::Error::InvalidName {
            what: "audit migrations table",
            source,
        })?;
    Ok(Migrations::from_migrator(&MIGRATOR)?.with_table(table))
}

/// The columns read back, in [`row_to_event`]'s order.
const COLUMNS: &str = "seq, id::text AS id, \
    (extract(epoch FROM occurred_at) * 1000000)::int8 AS occurred_us, \
    (extract(epoch FROM recorded_at) * 1000000)::int8 AS recorded_us, \
    customer, entity, actor_tid, actor_oid, actor_client_id, actor_display_name, action, \
    target_type, target_id, outcome, outcome_code, request_id, session_id, source_ip, \
    source_user_agent, via, args_digest, prev_hash, hash";

/// SQL text built here only splices [`table`] (a quoted schema name generated from a validated
/// [`EntityId`]) and constant column lists; every value is a bind parameter.
fn safe(sql: String) -> sqlx::AssertSqlSafe<String> {
    sqlx::AssertSqlSafe(sql)
}

/// `schema.audit_log`, from a validated entity id.
pub(crate) fn table(entity: &EntityId) -> String {
    format!("{}.audit_log", entity.schema().quoted())
}

/// Records `event` in the entity's chain inside the caller's transaction: the row commits or
/// rolls back with the effect it records.
///
/// Takes the entity's chain lock (transaction-scoped, [`chain::lock_key`](crate::chain::lock_key))
/// until `tx` ends, so keep the transaction short after recording; concurrent writers of one
/// entity queue, writers of different entities do not.
///
/// # Errors
///
/// [`Error::Database`] if a statement fails (e.g. the entity was not migrated with
/// [`migrations`]).
pub async fn record(tx: &mut EntityTx, event: NewEvent) -> Result<AuditEvent, Error> {
    let entity = tx.entity().clone();
    record_on(tx, &entity, event).await
}

async fn record_on(
    conn: &mut PgConnection,
    entity: &EntityId,
    event: NewEvent,
) -> Result<AuditEvent, Error> {
    record_in(
        conn,
        &table(entity),
        lock_key(entity),
        entity.as_str(),
        event,
    )
    .await
}

/// Appends `event` to the chain in `table` under advisory lock `lock`.
pub(crate) async fn record_in(
    conn: &mut PgConnection,
    table: &str,
    lock: i64,
    entity: &str,
    event: NewEvent,
) -> Result<AuditEvent, Error> {
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(lock)
        .execute(&mut *conn)
        .await?;
    let last: Option<(i64, Vec<u8>)> = sqlx::query_as(safe(format!(
        "SELECT seq, hash FROM {table} ORDER BY seq DESC LIMIT 1"
    )))
    .fetch_optional(&mut *conn)
    .await?;
    let (seq, prev_hash) = match last {
        None => (1, GENESIS),
        Some((seq, hash)) => {
            let prev = <[u8; 32]>::try_from(hash.as_slice()).map_err(|_| Error::MalformedRow {
                seq,
                reason: "hash is not 32 bytes".into(),
            })?;
            (seq + 1, prev)
        }
    };
    let row = AuditEvent::chained_for(event, entity, seq, prev_hash)?;
    insert(conn, table, &row).await?;
    tracing::debug!(table, entity, seq, action = %row.action, "audit event recorded");
    Ok(row)
}

async fn insert(conn: &mut PgConnection, table: &str, row: &AuditEvent) -> Result<(), Error> {
    let sql = format!(
        "INSERT INTO {table} (seq, id, occurred_at, recorded_at, customer, entity, actor_tid, \
         actor_oid, actor_client_id, actor_display_name, action, target_type, target_id, \
         outcome, outcome_code, request_id, session_id, source_ip, source_user_agent, via, \
         args_digest, prev_hash, hash) VALUES ($1, $2::uuid, \
         'epoch'::timestamptz + $3 * interval '1 microsecond', \
         'epoch'::timestamptz + $4 * interval '1 microsecond', \
         $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23)"
    );
    sqlx::query(safe(sql))
        .bind(row.seq)
        .bind(row.id.hyphenated().to_string())
        .bind(row.occurred_at.as_micros())
        .bind(row.recorded_at.as_micros())
        .bind(&row.customer)
        .bind(&row.entity)
        .bind(&row.actor.tid)
        .bind(&row.actor.oid)
        .bind(&row.actor.client_id)
        .bind(&row.actor.display_name)
        .bind(&row.action)
        .bind(row.target.as_ref().map(|t| t.kind.as_str()))
        .bind(row.target.as_ref().map(|t| t.id.as_str()))
        .bind(row.outcome.as_str())
        .bind(row.outcome.code())
        .bind(&row.request_id)
        .bind(&row.session_id)
        .bind(&row.source.ip)
        .bind(&row.source.user_agent)
        .bind(&row.via)
        .bind(&row.args_digest)
        .bind(row.prev_hash.as_slice())
        .bind(row.hash.as_slice())
        .execute(conn)
        .await?;
    Ok(())
}

fn malformed(seq: i64, reason: &str) -> Error {
    Error::MalformedRow {
        seq,
        reason: reason.to_owned(),
    }
}

/// Reads one row selected with [`COLUMNS`].
pub(crate) fn row_to_event(row: &PgRow) -> Result<AuditEvent, Error> {
    let seq: i64 = row.try_get("seq")?;
    let id: String = row.try_get("id")?;
    let id = Uuid::parse_str(&id).map_err(|_| malformed(seq, "id is not a UUID"))?;
    let target = match (
        row.try_get::<Option<String>, _>("target_type")?,
        row.try_get::<Option<String>, _>("target_id")?,
    ) {
        (Some(kind), Some(id)) => Some(Target { kind, id }),
        (None, None) => None,
        _ => return Err(malformed(seq, "target has a type or an id but not both")),
    };
    let outcome: String = row.try_get("outcome")?;
    let outcome = Outcome::from_parts(&outcome, row.try_get("outcome_code")?)
        .ok_or_else(|| malformed(seq, "unknown outcome"))?;
    let hash_of = |name: &str| -> Result<[u8; 32], Error> {
        let bytes: Vec<u8> = row.try_get(name)?;
        <[u8; 32]>::try_from(bytes.as_slice())
            .map_err(|_| malformed(seq, &format!("{name} is not 32 bytes")))
    };
    Ok(AuditEvent {
        id,
        seq,
        occurred_at: Timestamp::from_micros(row.try_get("occurred_us")?),
        recorded_at: Timestamp::from_micros(row.try_get("recorded_us")?),
        customer: row.try_get("customer")?,
        entity: row.try_get("entity")?,
        actor: Actor {
            tid: row.try_get("actor_tid")?,
            oid: row.try_get("actor_oid")?,
            client_id: row.try_get("actor_client_id")?,
            display_name: row.try_get("actor_display_name")?,
        },
        action: row.try_get("action")?,
        target,
        outcome,
        request_id: row.try_get("request_id")?,
        session_id: row.try_get("session_id")?,
        source: Source {
            ip: row.try_get("source_ip")?,
            user_agent: row.try_get("source_user_agent")?,
        },
        via: row.try_get("via")?,
        args_digest: row.try_get("args_digest")?,
        prev_hash: hash_of("prev_hash")?,
        hash: hash_of("hash")?,
    })
}

/// A filter for [`AuditLog::query`]; every `None` matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Query {
    /// Only this actor directory.
    pub actor_tid: Option<String>,
    /// Only this actor object id.
    pub actor_oid: Option<String>,
    /// Only this action.
    pub action: Option<String>,
    /// Only events that occurred at or after this instant.
    pub since: Option<Timestamp>,
    /// Only events that occurred before this instant.
    pub until: Option<Timestamp>,
    /// Only rows after this `seq` (for paging).
    pub after_seq: Option<i64>,
    /// At most this many rows (default and cap: 10,000).
    pub limit: Option<i64>,
}

impl Query {
    /// A filter that matches everything.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Only events of actor `(tid, oid)`.
    #[must_use]
    pub fn actor(mut self, tid: impl Into<String>, oid: impl Into<String>) -> Self {
        self.actor_tid = Some(tid.into());
        self.actor_oid = Some(oid.into());
        self
    }

    /// Only events with this action.
    #[must_use]
    pub fn action(mut self, action: impl Into<String>) -> Self {
        self.action = Some(action.into());
        self
    }

    /// Only events that occurred in `[since, until)`.
    #[must_use]
    pub fn between(mut self, since: Timestamp, until: Timestamp) -> Self {
        self.since = Some(since);
        self.until = Some(until);
        self
    }

    /// Only rows after `seq`.
    #[must_use]
    pub fn after_seq(mut self, seq: i64) -> Self {
        self.after_seq = Some(seq);
        self
    }

    /// At most `limit` rows.
    #[must_use]
    pub fn limit(mut self, limit: i64) -> Self {
        self.limit = Some(limit);
        self
    }
}

/// The most rows one [`AuditLog::query`] returns.
const MAX_QUERY_ROWS: i64 = 10_000;

/// Entity audit logs reached through an [`Isolation`] (always as the entity role).
#[derive(Debug, Clone)]
pub struct AuditLog {
    isolation: Isolation,
}

impl AuditLog {
    /// Audit logs of the entities of `isolation`, whose migration sets must include
    /// [`migrations`].
    #[must_use]
    pub fn new(isolation: Isolation) -> Self {
        Self { isolation }
    }

    /// The [`Isolation`] this log works through.
    #[must_use]
    pub fn isolation(&self) -> &Isolation {
        &self.isolation
    }

    /// Records `event` in its own transaction: for denied or failed requests, whose effect
    /// transaction (if any) rolled back.
    ///
    /// # Errors
    ///
    /// [`Error::Isolation`] if the entity cannot be entered; [`Error::Database`] otherwise.
    pub async fn record_standalone(
        &self,
        entity: &EntityId,
        event: NewEvent,
    ) -> Result<AuditEvent, Error> {
        let mut tx = self.isolation.begin(entity).await?;
        let row = record(&mut tx, event).await?;
        tx.commit().await?;
        Ok(row)
    }

    /// The last `n` rows of `entity`'s log, oldest first.
    ///
    /// # Errors
    ///
    /// As [`AuditLog::record_standalone`], or [`Error::MalformedRow`].
    pub async fn tail(&self, entity: &EntityId, n: i64) -> Result<Vec<AuditEvent>, Error> {
        let mut tx = self.isolation.begin(entity).await?;
        let sql = format!(
            "SELECT * FROM (SELECT {COLUMNS} FROM {} ORDER BY seq DESC LIMIT $1) t ORDER BY seq",
            table(entity)
        );
        let rows = sqlx::query(safe(sql))
            .bind(n.clamp(0, MAX_QUERY_ROWS))
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        rows.iter().map(row_to_event).collect()
    }

    /// The rows of `entity`'s log that match `query`, in `seq` order.
    ///
    /// # Errors
    ///
    /// As [`AuditLog::tail`].
    pub async fn query(&self, entity: &EntityId, query: &Query) -> Result<Vec<AuditEvent>, Error> {
        let mut tx = self.isolation.begin(entity).await?;
        let sql = format!(
            "SELECT {COLUMNS} FROM {} WHERE ($1::text IS NULL OR actor_tid = $1) \
             AND ($2::text IS NULL OR actor_oid = $2) AND ($3::text IS NULL OR action = $3) \
             AND ($4::int8 IS NULL OR occurred_at >= 'epoch'::timestamptz + $4 * interval '1 microsecond') \
             AND ($5::int8 IS NULL OR occurred_at < 'epoch'::timestamptz + $5 * interval '1 microsecond') \
             AND ($6::int8 IS NULL OR seq > $6) ORDER BY seq LIMIT $7",
            table(entity)
        );
        let rows = sqlx::query(safe(sql))
            .bind(&query.actor_tid)
            .bind(&query.actor_oid)
            .bind(&query.action)
            .bind(query.since.map(Timestamp::as_micros))
            .bind(query.until.map(Timestamp::as_micros))
            .bind(query.after_seq)
            .bind(
                query
                    .limit
                    .unwrap_or(MAX_QUERY_ROWS)
                    .clamp(0, MAX_QUERY_ROWS),
            )
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        rows.iter().map(row_to_event).collect()
    }

    /// Rows of `entity` with `seq > after`, at most `limit`, in order (used by `verify`).
    pub(crate) async fn page(
        &self,
        entity: &EntityId,
        after: i64,
        limit: i64,
    ) -> Result<Vec<AuditEvent>, Error> {
        let mut tx = self.isolation.begin(entity).await?;
        let rows = page_in(&mut tx, &table(entity), after, limit).await?;
        tx.commit().await?;
        Ok(rows)
    }
}

/// Every row of `table` in `seq` order.
pub(crate) fn select_all_sql(table: &str) -> String {
    format!("SELECT {COLUMNS} FROM {table} ORDER BY seq")
}

/// Rows of `table` with `seq > after`, at most `limit`, in order.
pub(crate) async fn page_in(
    conn: &mut PgConnection,
    table: &str,
    after: i64,
    limit: i64,
) -> Result<Vec<AuditEvent>, Error> {
    let sql = format!("SELECT {COLUMNS} FROM {table} WHERE seq > $1 ORDER BY seq LIMIT $2");
    let rows = sqlx::query(safe(sql))
        .bind(after)
        .bind(limit)
        .fetch_all(conn)
        .await?;
    rows.iter().map(row_to_event).collect()
}
