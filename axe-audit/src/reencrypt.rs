//! Re-sealing an entity's values under its current data key after [`Envelope::rotate_dek`]:
//! [`Envelope::reencrypt`] and [`Envelope::spawn_reencrypt`].
//!
//! The caller names where sealed values live, as [`SealedColumn`]s (table, sealed column, and
//! the column whose text form is the row id bound into each value's AAD). The job walks each
//! table in batches, one entity transaction per batch, in row-id order; a value under an
//! older data key is opened and sealed again under the current one and written back. Values
//! already current are left alone, so a job that is interrupted can simply be run again. Old
//! versions stay readable throughout (and afterwards, until shredded).
//!
//! ```no_run
//! use axe_audit::Envelope;
//! use axe_audit::reencrypt::SealedColumn;
//! use axe_isolation::{EntityId, Isolation};
//!
//! # async fn run(envelope: Envelope, isolation: Isolation) -> Result<(), axe_audit::Error> {
//! let acme = EntityId::new("acme")?;
//! envelope.rotate_dek(&acme).await?;
//! let columns = vec![SealedColumn::new("contacts", "email", "id")?];
//! let job = envelope.spawn_reencrypt(isolation, acme, columns);
//! let mut progress = job.progress();
//! while progress.changed().await.is_ok() {
//!     let now = progress.borrow().clone();
//!     println!("{} scanned, {} re-sealed", now.scanned, now.resealed);
//! }
//! let done = job.join().await?;
//! assert!(done.finished);
//! # Ok(())
//! # }
//! ```

use axe_isolation::{EntityId, Ident, Isolation, NameError};
use tokio::sync::watch;

use crate::envelope::{Envelope, Field, open_with, seal_with};
use crate::error::{CryptoError, Error};
use crate::pii::Sealed;

/// Rows per batch (one transaction each).
const BATCH: i64 = 500;

/// A column of sealed values (`bytea`, NULL allowed) in a table of the entity's schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedColumn {
    table: Ident,
    column: Ident,
    id_column: Ident,
}

impl SealedColumn {
    /// Values in `table`.`column`, sealed with [`Field::new`]`(entity, table, column, id)`
    /// where `id` is the text form (`::text`) of `id_column`.
    ///
    /// # Errors
    ///
    /// [`NameError`] if a name is not a valid SQL identifier.
    pub fn new(table: &str, column: &str, id_column: &str) -> Result<Self, NameError> {
        Ok(Self {
            table: Ident::new(table)?,
            column: Ident::new(column)?,
            id_column: Ident::new(id_column)?,
        })
    }
}

/// How far a re-encryption job has come.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReencryptProgress {
    /// The data key version values are moved to.
    pub target_version: u32,
    /// Columns fully walked.
    pub columns_done: usize,
    /// Rows looked at.
    pub scanned: u64,
    /// Values sealed again under the target version.
    pub resealed: u64,
    /// Whether every column was walked.
    pub finished: bool,
}

/// A re-encryption job running on a tokio task.
#[derive(Debug)]
pub struct ReencryptJob {
    progress: watch::Receiver<ReencryptProgress>,
    task: tokio::task::JoinHandle<Result<ReencryptProgress, Error>>,
}

impl ReencryptJob {
    /// A receiver of progress updates (one per batch).
    #[must_use]
    pub fn progress(&self) -> watch::Receiver<ReencryptProgress> {
        self.progress.clone()
    }

    /// Waits for the job's end.
    ///
    /// # Errors
    ///
    /// As [`Envelope::reencrypt`]; a task that panicked or was cancelled is reported as
    /// [`Error::Canonical`] with that reason.
    pub async fn join(self) -> Result<ReencryptProgress, Error> {
        self.task
            .await
            .map_err(|e| Error::Canonical(format!("re-encryption task failed: {e}")))?
    }
}

impl Envelope {
    /// Runs [`Envelope::reencrypt`] on a tokio task and returns its handle.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime.
    #[must_use]
    pub fn spawn_reencrypt(
        &self,
        isolation: Isolation,
        entity: EntityId,
        columns: Vec<SealedColumn>,
    ) -> ReencryptJob {
        let (tx, rx) = watch::channel(ReencryptProgress::default());
        let envelope = self.clone();
        let task = tokio::spawn(async move {
            envelope
                .reencrypt(&isolation, &entity, &columns, |p| {
                    tx.send_replace(p.clone());
                })
                .await
        });
        ReencryptJob { progress: rx, task }
    }

    /// Seals every value of `columns` that is under an older data key version again under
    /// `entity`'s current version, batch by batch (see the [module docs](crate::reencrypt));
    /// `on_progress` is called after each batch.
    ///
    /// # Errors
    ///
    /// [`Error::Isolation`] / [`Error::Database`] (unknown table or column, no `UPDATE`
    /// right); a value that does not open ([`CryptoError::Tampered`],
    /// [`CryptoError::Shredded`]...) stops the job, with the batch it was in rolled back.
    pub async fn reencrypt(
        &self,
        isolation: &Isolation,
        entity: &EntityId,
        columns: &[SealedColumn],
        mut on_progress: impl FnMut(&ReencryptProgress),
    ) -> Result<ReencryptProgress, Error> {
        let target = self.current_key(entity).await?;
        let mut progress = ReencryptProgress {
            target_version: target.version(),
            ..ReencryptProgress::default()
        };
        let schema = entity.schema().quoted();
        for spec in columns {
            let (table, column, id) = (
                spec.table.quoted(),
                spec.column.quoted(),
                spec.id_column.quoted(),
            );
            // Only validated, quoted identifiers reach the SQL text; values are bound.
            let select = format!(
                "SELECT {id}::text, {column} FROM {schema}.{table} \
                 WHERE {column} IS NOT NULL AND ($1::text IS NULL OR {id}::text > $1) \
                 ORDER BY {id}::text LIMIT $2 FOR UPDATE"
            );
            let update = format!("UPDATE {schema}.{table} SET {column} = $1 WHERE {id}::text = $2");
            let mut after: Option<String> = None;
            loop {
                let mut tx = isolation.begin(entity).await?;
                let rows: Vec<(String, Vec<u8>)> =
                    sqlx::query_as(sqlx::AssertSqlSafe(select.clone()))
                        .bind(&after)
                        .bind(BATCH)
                        .fetch_all(&mut *tx)
                        .await?;
                let Some((last, _)) = rows.last() else {
                    break;
                };
                after = Some(last.clone());
                for (row_id, bytes) in &rows {
                    progress.scanned += 1;
                    let sealed = Sealed::from_bytes(bytes.clone());
                    let version = sealed.dek_version().map_err(CryptoError::from)?;
                    if version == target.version() {
                        continue;
                    }
                    let field =
                        Field::new(entity, spec.table.as_str(), spec.column.as_str(), row_id);
                    let old = self.data_key(entity, version).await?;
                    let plain = open_with(&old, &field, &sealed)?;
                    let again = seal_with(&target, &field, plain.expose())?;
                    sqlx::query(sqlx::AssertSqlSafe(update.clone()))
                        .bind(again.as_bytes())
                        .bind(row_id)
                        .execute(&mut *tx)
                        .await?;
                    progress.resealed += 1;
                }
                tx.commit().await?;
                on_progress(&progress);
            }
            progress.columns_done += 1;
        }
        progress.finished = true;
        on_progress(&progress);
        tracing::info!(
            %entity,
            version = progress.target_version,
            resealed = progress.resealed,
            "re-encryption finished"
        );
        Ok(progress)
    }
}
