//! Crypto-shredding: [`Envelope::shred`].

use axe_isolation::EntityId;

use crate::envelope::Envelope;
use crate::error::Error;
use crate::event::{AuditEvent, NewEvent, Outcome, Target};
use crate::operator::record_operator;

/// Overwrites the wrapped keys, keeping a tombstone per version.
const SHRED_SQL: &str = "UPDATE axe_audit.entity_keys SET wrapped = NULL, shredded_at = now() \
     WHERE entity = $1 AND wrapped IS NOT NULL";

impl Envelope {
    /// Destroys every data key of `entity` (the wrapped keys in the key table and this
    /// process's cached copies): from then on its ciphertexts do not open and its blind
    /// indexes and args digests no longer match. Returns how many key versions were destroyed.
    ///
    /// Each destroyed version stays in the key table as a tombstone (`wrapped` NULL,
    /// `shredded_at` set): opening a value sealed under it fails with
    /// [`CryptoError::Shredded`](crate::CryptoError::Shredded), and the version number is
    /// never reused. A later `seal` for the entity creates a fresh data key one version
    /// above, which opens nothing sealed before. Other processes drop their cached copy within
    /// the cache TTL (5 minutes by default): shred before the data is needed gone, or run
    /// every process with a short TTL.
    ///
    /// # Errors
    ///
    /// [`Error::Database`] if the update fails.
    pub async fn shred(&self, entity: &EntityId) -> Result<u64, Error> {
        let deleted = sqlx::query(SHRED_SQL)
            .bind(entity.as_str())
            .execute(self.pool())
            .await?
            .rows_affected();
        self.forget(entity);
        tracing::warn!(%entity, versions = deleted, "entity data keys shredded");
        Ok(deleted)
    }

    /// [`Envelope::shred`] and an operator audit event (`axe.keys/shred`, target the entity)
    /// in one transaction on the envelope's pool: the keys are gone if and only if the event
    /// is recorded. The operator log must be installed in the same database.
    ///
    /// # Errors
    ///
    /// [`Error::Database`] if a statement fails (nothing is destroyed then).
    pub async fn shred_audited(
        &self,
        entity: &EntityId,
        customer: &str,
    ) -> Result<(u64, AuditEvent), Error> {
        let mut tx = self.pool().begin().await?;
        let deleted = sqlx::query(SHRED_SQL)
            .bind(entity.as_str())
            .execute(&mut *tx)
            .await?
            .rows_affected();
        let event = NewEvent::new(customer, "axe.keys/shred", Outcome::Ok)
            .target(Target::new("entity", entity.as_str()));
        let row = record_operator(&mut tx, Some(entity), event).await?;
        tx.commit().await?;
        self.forget(entity);
        tracing::warn!(%entity, versions = deleted, seq = row.seq, "entity data keys shredded (audited)");
        Ok((deleted, row))
    }
}
