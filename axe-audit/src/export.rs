//! JSONL export of a chain, and its verification by an outsider.
//!
//! [`AuditLog::export_jsonl`] (and [`OperatorLog::export_jsonl`]) stream a log in `seq` order
//! as one RFC 8785 canonical JSON object per line, `\n`-terminated, each holding every field
//! of the row including `prev_hash` and `hash` (hex). [`verify_jsonl`] reads such a stream
//! and re-checks the chain without a database: a copy kept elsewhere anchors the log against
//! a later rewrite, and anyone can check it with the crate (or by hand: `hash =
//! SHA-256(prev_hash ‖ JCS(view))`, see [`chain`](crate::chain)).
//!
//! ```
//! use axe_audit::chain::GENESIS;
//! use axe_audit::export::{verify_jsonl, write_line};
//! use axe_audit::{AuditEvent, NewEvent, Outcome};
//! use axe_isolation::EntityId;
//!
//! let acme = EntityId::new("acme").unwrap();
//! let first = AuditEvent::chained(NewEvent::new("c", "a", Outcome::Ok), &acme, 1, GENESIS).unwrap();
//! let mut out = Vec::new();
//! write_line(&mut out, &first).unwrap();
//! let verified = verify_jsonl(out.as_slice()).unwrap();
//! assert!(verified.is_intact());
//! assert_eq!((verified.rows, verified.head), (1, first.hash));
//! ```

use std::io::BufRead;

use axe_isolation::EntityId;
use futures_util::TryStreamExt;
use sqlx::PgConnection;
use tokio::io::{AsyncWrite, AsyncWriteExt};

use crate::error::Error;
use crate::event::AuditEvent;
use crate::operator::OperatorLog;
use crate::store::{AuditLog, row_to_event, select_all_sql, table};
use crate::verify::{Verified, Walker};

/// The longest line [`verify_jsonl`] accepts, in bytes (a row is far smaller).
pub const MAX_LINE: usize = 1 << 20;

/// Why a JSONL stream could not be read as a chain. Chain faults (a changed row, a missing
/// or reordered `seq`) are not errors: they are reported in [`Verified::broken`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JsonlError {
    /// Reading the stream failed.
    #[error("reading the export failed: {0}")]
    Io(#[from] std::io::Error),
    /// A line is not an audit row in canonical form.
    #[error("export line {line}: {reason}")]
    Line {
        /// The 1-based line number.
        line: u64,
        /// What is wrong (never the line's content).
        reason: &'static str,
    },
}

/// `row` as one canonical JSON line (with `\n`).
///
/// # Errors
///
/// [`Error::Canonical`] if serialization fails.
pub fn to_line(row: &AuditEvent) -> Result<Vec<u8>, Error> {
    let mut line =
        serde_json_canonicalizer::to_vec(row).map_err(|e| Error::Canonical(e.to_string()))?;
    line.push(b'\n');
    Ok(line)
}

/// Writes `row` as one canonical JSON line to a blocking writer.
///
/// # Errors
///
/// [`Error::Canonical`]; an I/O failure as [`Error::Export`].
pub fn write_line(out: &mut impl std::io::Write, row: &AuditEvent) -> Result<(), Error> {
    out.write_all(&to_line(row)?).map_err(Error::Export)
}

/// Streams every row of `table` in `seq` order to `out`; returns the number of rows.
async fn export_table<W>(conn: &mut PgConnection, table: &str, out: &mut W) -> Result<u64, Error>
where
    W: AsyncWrite + Unpin + ?Sized,
{
    let sql = select_all_sql(table);
    let mut rows = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch(conn);
    let mut n = 0;
    while let Some(row) = rows.try_next().await? {
        let line = to_line(&row_to_event(&row)?)?;
        out.write_all(&line).await.map_err(Error::Export)?;
        n += 1;
    }
    out.flush().await.map_err(Error::Export)?;
    Ok(n)
}

impl AuditLog {
    /// Streams `entity`'s log to `out` as JSONL (see the [module docs](self)), in `seq`
    /// order, from one consistent snapshot; rows are read as they are written, never all held
    /// in memory. Returns how many rows were written. Give a buffered writer.
    ///
    /// # Errors
    ///
    /// As [`AuditLog::tail`]; [`Error::Export`] when writing fails.
    pub async fn export_jsonl<W>(&self, entity: &EntityId, out: &mut W) -> Result<u64, Error>
    where
        W: AsyncWrite + Unpin + ?Sized,
    {
        let mut tx = self.isolation().begin(entity).await?;
        let n = export_table(&mut tx, &table(entity), out).await?;
        tx.commit().await?;
        Ok(n)
    }
}

impl OperatorLog {
    /// Streams the operator log to `out` as JSONL, as [`AuditLog::export_jsonl`] does.
    ///
    /// # Errors
    ///
    /// [`Error::Database`], [`Error::MalformedRow`], [`Error::Export`].
    pub async fn export_jsonl<W>(&self, out: &mut W) -> Result<u64, Error>
    where
        W: AsyncWrite + Unpin + ?Sized,
    {
        let mut tx = self.pool().begin().await?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *tx)
            .await?;
        let n = export_table(&mut tx, crate::operator::TABLE, out).await?;
        tx.commit().await?;
        Ok(n)
    }
}

/// Reads a JSONL export and walks its chain from `seq` 1, as
/// [`AuditLog::verify`] does on the database: the result names the first broken link (a
/// changed row, a missing or reordered `seq`, a `prev_hash` that does not follow). Compare
/// `head` with an anchor kept elsewhere to see a cut-off tail.
///
/// Each line must be the canonical (RFC 8785) JSON of a row exactly as exported: extra
/// fields, other whitespace, a missing final newline (a truncated export) or a line longer
/// than [`MAX_LINE`] are errors.
///
/// # Errors
///
/// [`JsonlError::Io`] if reading fails, [`JsonlError::Line`] for a line that is not a row.
pub fn verify_jsonl(mut input: impl BufRead) -> Result<Verified, JsonlError> {
    let mut walker = Walker::new();
    let mut line = Vec::new();
    let mut number = 0_u64;
    loop {
        line.clear();
        number += 1;
        let limit = u64::try_from(MAX_LINE + 1).unwrap_or(u64::MAX);
        let read = std::io::Read::take(&mut input, limit).read_until(b'\n', &mut line)?;
        if read == 0 {
            return Ok(walker.finish(None));
        }
        let bad = |reason| JsonlError::Line {
            line: number,
            reason,
        };
        if line.last() != Some(&b'\n') {
            return Err(bad(if line.len() > MAX_LINE {
                "line too long"
            } else {
                "no final newline (truncated export?)"
            }));
        }
        let row: AuditEvent =
            serde_json::from_slice(&line[..line.len() - 1]).map_err(|_| bad("not an audit row"))?;
        let canonical = to_line(&row).map_err(|_| bad("not an audit row"))?;
        if canonical != line {
            return Err(bad("not in canonical form (changed or extra fields?)"));
        }
        if let Some(broken) = walker.step(&row).map_err(|_| bad("not an audit row"))? {
            return Ok(walker.finish(Some(broken)));
        }
    }
}
