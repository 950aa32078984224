//! Crypto-shredding: [`Envelope::shred`].

use axe_isolation::EntityId;

use crate::envelope::Envelope;
use crate::error::Error;

impl Envelope {
    /// Destroys every data key of `entity` (the key-table rows and this process's cached
    /// copies): from then on its ciphertexts do not open and its blind indexes no longer match.
    /// Returns how many key versions were destroyed.
    ///
    /// Other processes drop their cached copy within the cache TTL. A later `seal` for the
    /// entity creates a fresh data key, which opens nothing sealed before.
    ///
    /// # Errors
    ///
    /// [`Error::Database`] if the delete fails.
    pub async fn shred(&self, entity: &EntityId) -> Result<u64, Error> {
        let deleted = sqlx::query("DELETE FROM axe_audit.entity_keys WHERE entity = $1")
            .bind(entity.as_str())
            .execute(self.pool())
            .await?
            .rows_affected();
        self.forget(entity);
        tracing::warn!(%entity, versions = deleted, "entity data keys shredded");
        Ok(deleted)
    }
}
