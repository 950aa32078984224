//! PII envelope encryption: [`Envelope`] seals and opens fields with per-column keys derived
//! from the entity's data key, which is stored wrapped by the master key in
//! `axe_audit.entity_keys`.
//!
//! ```no_run
//! use std::sync::Arc;
//! use axe_audit::envelope::{Envelope, Field};
//! use axe_audit::keys::{LocalKeys, MasterKey};
//! use axe_isolation::EntityId;
//!
//! # async fn run(key_pool: sqlx::PgPool) -> Result<(), axe_audit::Error> {
//! let keys = LocalKeys::new(MasterKey::from_env(1, "AXE_MASTER_KEY")?);
//! let envelope = Envelope::new(Arc::new(keys), key_pool);
//! envelope.install().await?; // axe_audit.entity_keys, as a role that may create it
//!
//! let acme = EntityId::new("acme")?;
//! let field = Field::new(&acme, "contacts", "email", "42");
//! let sealed = envelope.seal(&field, b"ada@example.com").await?;
//! let email = envelope.open(&field, &sealed).await?;
//! assert_eq!(email.expose().as_slice(), b"ada@example.com");
//! # Ok(())
//! # }
//! ```

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::Nonce as AeadNonce;
use aes_gcm::aead::{Aead, Payload};

type Nonce = AeadNonce<Aes256Gcm>;
use axe_isolation::EntityId;
use sqlx::PgPool;

use crate::blind_index::{self, DEFAULT_BLIND_INDEX_LEN};
use crate::error::{CryptoError, Error};
use crate::format::{self, FORMAT_V1, HEADER_LEN, TAG_LEN};
use crate::keys::{
    AsyncKeyProvider, Blocking, DataKey, KeyProvider, dek_aad, random_key, random_nonce,
};
use crate::pii::{Pii, Sealed};

/// HKDF label of per-column encryption keys.
pub const ENC_LABEL: &str = "axe/v1/enc/";
/// HKDF label of per-column blind-index keys.
pub const BIDX_LABEL: &str = "axe/v1/bidx/";
/// The default [`Envelope::seal_limit`]: 2^31 seals per data key version.
pub const DEFAULT_SEAL_LIMIT: u64 = 1 << 31;

/// Where a value lives: it is bound to this place and opens nowhere else.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field<'a> {
    /// The entity.
    pub entity: &'a EntityId,
    /// The table.
    pub table: &'a str,
    /// The column.
    pub column: &'a str,
    /// The row's identifier.
    pub row_id: &'a str,
}

impl<'a> Field<'a> {
    /// The place `entity`.`table`.`column` of row `row_id`.
    #[must_use]
    pub fn new(entity: &'a EntityId, table: &'a str, column: &'a str, row_id: &'a str) -> Self {
        Self {
            entity,
            table,
            column,
            row_id,
        }
    }

    fn aad(&self, dek_version: u32) -> Vec<u8> {
        format::aad(
            FORMAT_V1,
            self.entity.as_str(),
            self.table,
            self.column,
            self.row_id,
            dek_version,
        )
    }
}

/// Seals `plaintext` for `field` with data key `dek` (no database): the building block of
/// [`Envelope::seal`].
///
/// # Errors
///
/// [`CryptoError::Tampered`] only if the cipher refuses the input (longer than AES-GCM allows).
pub fn seal_with(
    dek: &DataKey,
    field: &Field<'_>,
    plaintext: &[u8],
) -> Result<Sealed, CryptoError> {
    let cipher = dek.column_cipher(field.table, field.column)?;
    let nonce = random_nonce();
    let aad = field.aad(dek.version());
    let ct = cipher
        .encrypt(
            &nonce,
            Payload {
                msg: plaintext,
                aad: &aad,
            },
        )
        .map_err(|_| CryptoError::Tampered)?;
    let mut out = Vec::with_capacity(HEADER_LEN + ct.len());
    out.push(FORMAT_V1);
    out.extend_from_slice(&dek.version().to_be_bytes());
    out.extend_from_slice(nonce.as_slice());
    out.extend_from_slice(&ct);
    debug_assert_eq!(out.len(), HEADER_LEN + plaintext.len() + TAG_LEN);
    Ok(Sealed::from_bytes(out))
}

/// Opens `sealed` for `field` with data key `dek` (which must be the version the value names).
///
/// # Errors
///
/// [`CryptoError::Format`] for bytes that are not a sealed value; [`CryptoError::Tampered`]
/// when authentication fails (changed, moved, other key); [`CryptoError::NoDataKey`] when
/// `dek` is not the version the value names.
pub fn open_with(
    dek: &DataKey,
    field: &Field<'_>,
    sealed: &Sealed,
) -> Result<Pii<Vec<u8>>, CryptoError> {
    let parsed = format::parse(sealed.as_bytes())?;
    if parsed.dek_version != dek.version() {
        return Err(CryptoError::NoDataKey {
            entity: field.entity.to_string(),
            version: parsed.dek_version,
        });
    }
    let cipher = dek.column_cipher(field.table, field.column)?;
    let nonce = Nonce::try_from(parsed.nonce).map_err(|_| CryptoError::Tampered)?;
    let aad = field.aad(parsed.dek_version);
    cipher
        .decrypt(
            &nonce,
            Payload {
                msg: parsed.ciphertext,
                aad: &aad,
            },
        )
        .map(Pii::new)
        .map_err(|_| CryptoError::Tampered)
}

/// The blind index of `normalized` in `table`.`column` under `dek`, `len` bytes.
#[must_use]
pub fn blind_index_with(
    dek: &DataKey,
    table: &str,
    column: &str,
    normalized: &[u8],
    len: usize,
) -> Vec<u8> {
    let key = dek.derive(BIDX_LABEL, table, column);
    blind_index::compute(&key, normalized, len)
}

type CacheKey = (String, u32);

/// An entity's data key versions.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Versions {
    /// The highest version that is not shredded.
    pub(crate) live: Option<u32>,
    /// The highest version, shredded or not (0 if none).
    pub(crate) highest: u32,
}

#[derive(Default)]
struct Cache {
    keys: HashMap<CacheKey, (Arc<DataKey>, Instant)>,
    current: HashMap<String, (u32, Instant)>,
}

/// Seals and opens PII fields; keeps unwrapped data keys in a bounded cache with a short TTL.
#[derive(Clone)]
pub struct Envelope {
    provider: Arc<dyn AsyncKeyProvider>,
    pool: PgPool,
    cache: Arc<Mutex<Cache>>,
    ttl: Duration,
    capacity: usize,
    blind_index_len: usize,
    pub(crate) seal_limit: u64,
    pub(crate) seal_batch: u64,
}

impl std::fmt::Debug for Envelope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Envelope")
            .field("provider", &self.provider)
            .field("ttl", &self.ttl)
            .field("capacity", &self.capacity)
            .field("seal_limit", &self.seal_limit)
            .finish_non_exhaustive()
    }
}

impl Envelope {
    /// An envelope over `provider`, keeping wrapped data keys in `axe_audit.entity_keys`
    /// through `pool` (a role that may read and write that table; not the entity roles).
    /// Defaults: cache TTL 5 minutes, 1,024 keys, blind indexes of 16 bytes, a new data key
    /// version after 2^31 seals, nonces reserved 1,024 at a time.
    #[must_use]
    pub fn new(provider: Arc<dyn KeyProvider>, pool: PgPool) -> Self {
        Self::with_async_provider(Arc::new(Blocking(provider)), pool)
    }

    /// As [`Envelope::new`], with a key service whose calls are asynchronous (a KMS).
    #[must_use]
    pub fn with_async_provider(provider: Arc<dyn AsyncKeyProvider>, pool: PgPool) -> Self {
        Self {
            provider,
            pool,
            cache: Arc::default(),
            ttl: Duration::from_secs(300),
            capacity: 1024,
            blind_index_len: DEFAULT_BLIND_INDEX_LEN,
            seal_limit: DEFAULT_SEAL_LIMIT,
            seal_batch: 1024,
        }
    }

    /// How many values one data key version may seal before [`Envelope::seal`] moves the
    /// entity to a new version (default 2^31, half of AES-GCM's bound of 2^32 random nonces
    /// per key; at least 1). Counted in the key table, so every process shares the count.
    #[must_use]
    pub fn seal_limit(mut self, limit: u64) -> Self {
        self.seal_limit = limit.clamp(1, i64::MAX as u64);
        self
    }

    /// How many seals a process reserves in the key table at once (default 1,024, at least
    /// 1). Reserved and unused seals (a process that exits, a key dropped from the cache)
    /// count as used: the count errs on the safe side.
    #[must_use]
    pub fn seal_batch(mut self, batch: u64) -> Self {
        self.seal_batch = batch.clamp(1, i64::MAX as u64);
        self
    }

    /// How long an unwrapped data key stays cached.
    #[must_use]
    pub fn cache_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// At most this many unwrapped data keys in the cache (at least 1).
    #[must_use]
    pub fn cache_capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity.max(1);
        self
    }

    /// The blind-index length in bytes (1 to 32).
    #[must_use]
    pub fn blind_index_len(mut self, len: usize) -> Self {
        self.blind_index_len = len.clamp(1, 32);
        self
    }

    /// Creates schema `axe_audit` and the key table if missing (idempotent; needs a role that
    /// may create them, e.g. the owner role).
    ///
    /// # Errors
    ///
    /// [`Error::Database`] if the statements fail.
    pub async fn install(&self) -> Result<(), Error> {
        sqlx::raw_sql(include_str!("../sql/entity_keys.sql"))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub(crate) fn provider(&self) -> &dyn AsyncKeyProvider {
        self.provider.as_ref()
    }

    pub(crate) fn pool(&self) -> &PgPool {
        &self.pool
    }

    fn cache(&self) -> MutexGuard<'_, Cache> {
        self.cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Forgets which version is current for `entity` (after a new version was made).
    pub(crate) fn forget_current(&self, entity: &EntityId) {
        self.cache().current.remove(entity.as_str());
    }

    pub(crate) fn forget(&self, entity: &EntityId) {
        let mut cache = self.cache();
        cache.keys.retain(|(e, _), _| e != entity.as_str());
        cache.current.remove(entity.as_str());
    }

    fn remember(&self, entity: &EntityId, key: Arc<DataKey>) {
        let now = Instant::now();
        let mut cache = self.cache();
        if cache.keys.len() >= self.capacity {
            let ttl = self.ttl;
            cache
                .keys
                .retain(|_, (_, at)| now.duration_since(*at) < ttl);
            if cache.keys.len() >= self.capacity
                && let Some(victim) = cache.keys.keys().next().cloned()
            {
                cache.keys.remove(&victim);
            }
        }
        cache
            .keys
            .insert((entity.as_str().to_owned(), key.version()), (key, now));
    }

    /// The data key `version` of `entity` (cached, or unwrapped from the key table).
    ///
    /// # Errors
    ///
    /// [`CryptoError::Shredded`] if it was shredded, [`CryptoError::NoDataKey`] if it never
    /// existed;
    /// [`CryptoError::Unwrap`] with a wrong master key; [`Error::Database`].
    pub async fn data_key(&self, entity: &EntityId, version: u32) -> Result<Arc<DataKey>, Error> {
        let cache_key = (entity.as_str().to_owned(), version);
        if let Some((key, at)) = self.cache().keys.get(&cache_key)
            && at.elapsed() < self.ttl
        {
            return Ok(Arc::clone(key));
        }
        let version_i = i32::try_from(version).map_err(|_| CryptoError::NoDataKey {
            entity: entity.to_string(),
            version,
        })?;
        let row: Option<(i32, Option<Vec<u8>>)> = sqlx::query_as(
            "SELECT master_version, wrapped FROM axe_audit.entity_keys \
             WHERE entity = $1 AND dek_version = $2",
        )
        .bind(entity.as_str())
        .bind(version_i)
        .fetch_optional(&self.pool)
        .await?;
        let (master, wrapped) = match row {
            None => {
                return Err(CryptoError::NoDataKey {
                    entity: entity.to_string(),
                    version,
                }
                .into());
            }
            Some((_, None)) => {
                return Err(CryptoError::Shredded {
                    entity: entity.to_string(),
                    version,
                }
                .into());
            }
            Some((master, Some(wrapped))) => (master, wrapped),
        };
        let master = u32::try_from(master).map_err(|_| CryptoError::UnknownMasterVersion(0))?;
        let dek = self
            .provider
            .unwrap(master, &wrapped, &dek_aad(entity.as_str(), version))
            .await
            .map_err(|e| match e {
                CryptoError::Tampered => CryptoError::Unwrap {
                    entity: entity.to_string(),
                    version,
                },
                other => other,
            })?;
        let key = Arc::new(DataKey::new(version, dek));
        self.remember(entity, Arc::clone(&key));
        Ok(key)
    }

    /// The entity's current data key: its highest version that is not shredded, created
    /// (one above any shredded version, so versions are never reused) if there is none.
    ///
    /// # Errors
    ///
    /// As [`Envelope::data_key`].
    pub async fn current_key(&self, entity: &EntityId) -> Result<Arc<DataKey>, Error> {
        let cached = self
            .cache()
            .current
            .get(entity.as_str())
            .filter(|(_, at)| at.elapsed() < self.ttl)
            .map(|(v, _)| *v);
        if let Some(version) = cached {
            return self.data_key(entity, version).await;
        }
        let mut versions = self.versions(entity).await?;
        if versions.live.is_none() {
            self.create_version(entity, versions.highest + 1).await?;
            versions = self.versions(entity).await?;
        }
        let version = versions.live.ok_or_else(|| CryptoError::NoDataKey {
            entity: entity.to_string(),
            version: versions.highest + 1,
        })?;
        self.cache()
            .current
            .insert(entity.as_str().to_owned(), (version, Instant::now()));
        self.data_key(entity, version).await
    }

    /// The entity's highest live and highest overall data key versions.
    pub(crate) async fn versions(&self, entity: &EntityId) -> Result<Versions, Error> {
        let (live, highest): (Option<i32>, i32) = sqlx::query_as(
            "SELECT max(dek_version) FILTER (WHERE wrapped IS NOT NULL), \
             coalesce(max(dek_version), 0) FROM axe_audit.entity_keys WHERE entity = $1",
        )
        .bind(entity.as_str())
        .fetch_one(&self.pool)
        .await?;
        Ok(Versions {
            live: live.and_then(|v| u32::try_from(v).ok()),
            highest: u32::try_from(highest).unwrap_or(0),
        })
    }

    /// Creates data key `version` of `entity` with a fresh random key, unless another
    /// process just did.
    pub(crate) async fn create_version(
        &self,
        entity: &EntityId,
        version: u32,
    ) -> Result<(), Error> {
        let version_i = i32::try_from(version).map_err(|_| CryptoError::NoDataKey {
            entity: entity.to_string(),
            version,
        })?;
        let master = self.provider.current_version();
        let dek = random_key();
        let wrapped = self
            .provider
            .wrap(master, &dek, &dek_aad(entity.as_str(), version))
            .await?;
        let created = sqlx::query(
            "INSERT INTO axe_audit.entity_keys (entity, dek_version, master_version, wrapped) \
             VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        )
        .bind(entity.as_str())
        .bind(version_i)
        .bind(i32::try_from(master).unwrap_or(i32::MAX))
        .bind(&wrapped)
        .execute(&self.pool)
        .await?
        .rows_affected();
        self.forget_current(entity);
        if created == 1 {
            tracing::info!(%entity, version, "data key version created");
        }
        Ok(())
    }

    /// Seals `plaintext` for `field` with the entity's current data key, counting the seal
    /// against the key's [`seal_limit`](Envelope::seal_limit) (a new version is made when it
    /// is reached).
    ///
    /// # Errors
    ///
    /// As [`Envelope::current_key`].
    pub async fn seal(&self, field: &Field<'_>, plaintext: &[u8]) -> Result<Sealed, Error> {
        let dek = self.sealing_key(field.entity).await?;
        Ok(seal_with(&dek, field, plaintext)?)
    }

    /// Opens `sealed` for `field` with the data key version it names.
    ///
    /// # Errors
    ///
    /// [`CryptoError::Format`], [`CryptoError::Tampered`], [`CryptoError::Shredded`] (after
    /// [`Envelope::shred`]), [`CryptoError::NoDataKey`], [`CryptoError::Unwrap`],
    /// [`Error::Database`].
    pub async fn open(&self, field: &Field<'_>, sealed: &Sealed) -> Result<Pii<Vec<u8>>, Error> {
        let version = sealed.dek_version().map_err(CryptoError::from)?;
        let dek = self.data_key(field.entity, version).await?;
        Ok(open_with(&dek, field, sealed)?)
    }

    /// The blind index of an already normalized value (e.g.
    /// [`normalize_email`](crate::blind_index::normalize_email)) for equality search.
    ///
    /// # Errors
    ///
    /// As [`Envelope::current_key`].
    pub async fn blind_index(
        &self,
        entity: &EntityId,
        table: &str,
        column: &str,
        normalized: &[u8],
    ) -> Result<Vec<u8>, Error> {
        let dek = self.current_key(entity).await?;
        Ok(blind_index_with(
            &dek,
            table,
            column,
            normalized,
            self.blind_index_len,
        ))
    }
}
