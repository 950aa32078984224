//! Key rotation: [`Envelope::rotate_master`] (rewrap every data key under a new master
//! version), [`Envelope::rotate_dek`] (a new data key version for one entity), and the seal
//! counter that rotates a data key before AES-GCM's random-nonce bound.

use std::sync::Arc;

use axe_isolation::EntityId;

use crate::envelope::Envelope;
use crate::error::{CryptoError, Error};
use crate::keys::{DataKey, dek_aad};

/// Attempts to reserve a seal before giving up with [`CryptoError::KeyChurn`].
const RESERVE_ATTEMPTS: usize = 8;

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
             WHERE master_version <> $1 AND wrapped IS NOT NULL \
             ORDER BY entity, dek_version FOR UPDATE",
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
                .await
                .map_err(|e| match e {
                    CryptoError::Tampered => CryptoError::Unwrap {
                        entity: entity.clone(),
                        version,
                    },
                    other => other,
                })?;
            let new = self.provider().wrap(current, &dek, &aad).await?;
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

    /// Makes a new data key version for `entity` (one above every existing version) and
    /// makes it current: new seals use it, values sealed under older versions still open
    /// (re-seal them with [`Envelope::reencrypt`]). Returns the new current version.
    ///
    /// # Errors
    ///
    /// As [`Envelope::current_key`].
    pub async fn rotate_dek(&self, entity: &EntityId) -> Result<u32, Error> {
        let versions = self.versions(entity).await?;
        self.create_version(entity, versions.highest + 1).await?;
        let current = self.current_key(entity).await?.version();
        tracing::info!(%entity, version = current, "data key rotated");
        Ok(current)
    }

    /// The current data key with one seal reserved for the caller: seals are reserved in the
    /// key table [`seal_batch`](Envelope::seal_batch) at a time; when a reservation passes
    /// the [`seal_limit`](Envelope::seal_limit), a new version is made and used instead.
    pub(crate) async fn sealing_key(&self, entity: &EntityId) -> Result<Arc<DataKey>, Error> {
        for _ in 0..RESERVE_ATTEMPTS {
            let dek = self.current_key(entity).await?;
            if dek.take_seal() {
                return Ok(dek);
            }
            let batch = self.seal_batch.min(self.seal_limit);
            let total: Option<i64> = sqlx::query_scalar(
                "UPDATE axe_audit.entity_keys SET seals = seals + $3 \
                 WHERE entity = $1 AND dek_version = $2 AND wrapped IS NOT NULL RETURNING seals",
            )
            .bind(entity.as_str())
            .bind(i32::try_from(dek.version()).unwrap_or(i32::MAX))
            .bind(i64::try_from(batch).unwrap_or(i64::MAX))
            .fetch_optional(self.pool())
            .await?;
            match total.map(|t| u64::try_from(t).unwrap_or(u64::MAX)) {
                // Shredded meanwhile: look up the current version again.
                None => self.forget(entity),
                Some(total) if total <= self.seal_limit => {
                    dek.add_seals(batch - 1);
                    return Ok(dek);
                }
                Some(total) => {
                    tracing::info!(
                        %entity,
                        version = dek.version(),
                        seals = total,
                        "data key reached its seal limit; making a new version"
                    );
                    let versions = self.versions(entity).await?;
                    if versions.live == Some(dek.version()) {
                        self.create_version(entity, versions.highest + 1).await?;
                    }
                    self.forget_current(entity);
                }
            }
        }
        Err(CryptoError::KeyChurn {
            entity: entity.to_string(),
        }
        .into())
    }
}
