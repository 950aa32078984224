//! Master-key rotation: [`Envelope::rotate_master`].

use crate::envelope::Envelope;
use crate::error::{CryptoError, Error};
use crate::keys::dek_aad;

impl Envelope {
    /// Rewraps every data key that is not wrapped under the provider's current master version
    /// with that version, in one transaction; the sealed data is not touched. Returns how many
    /// data keys were rewrapped. Keep the old master version in the provider until this
    /// returns; afterwards it can be retired.
    ///
    /// # Errors
    ///
    /// [`CryptoError::UnknownMasterVersion`] if a data key is wrapped under a version the
    /// provider no longer holds, [`CryptoError::Unwrap`] if one does not unwrap (nothing is
    /// changed then), [`Error::Database`].
    pub async fn rotate_master(&self) -> Result<u64, Error> {
        let current = self.provider().current_version();
        let current_i =
            i32::try_from(current).map_err(|_| CryptoError::UnknownMasterVersion(current))?;
        let mut tx = self.pool().begin().await?;
        let rows: Vec<(String, i32, i32, Vec<u8>)> = sqlx::query_as(
            "SELECT entity, dek_version, master_version, wrapped FROM axe_audit.entity_keys \
             WHERE master_version <> $1 ORDER BY entity, dek_version FOR UPDATE",
        )
        .bind(current_i)
        .fetch_all(&mut *tx)
        .await?;
        let mut rewrapped = 0;
        for (entity, dek_version, master, wrapped) in rows {
            let version = u32::try_from(dek_version).unwrap_or(0);
            let master = u32::try_from(master).map_err(|_| CryptoError::UnknownMasterVersion(0))?;
            let aad = dek_aad(&entity, version);
            let dek = self
                .provider()
                .unwrap(master, &wrapped, &aad)
                .map_err(|e| match e {
                    CryptoError::Tampered => CryptoError::Unwrap {
                        entity: entity.clone(),
                        version,
                    },
                    other => other,
                })?;
            let new = self.provider().wrap(current, &dek, &aad)?;
            sqlx::query(
                "UPDATE axe_audit.entity_keys SET master_version = $1, wrapped = $2 \
                 WHERE entity = $3 AND dek_version = $4",
            )
            .bind(current_i)
            .bind(&new)
            .bind(&entity)
            .bind(dek_version)
            .execute(&mut *tx)
            .await?;
            rewrapped += 1;
        }
        tx.commit().await?;
        tracing::info!(master_version = current, rewrapped, "data keys rewrapped");
        Ok(rewrapped)
    }
}
