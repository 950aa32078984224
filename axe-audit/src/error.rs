//! The crate's [`Error`].

/// Everything that can go wrong in `axe-audit`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Beginning an entity transaction or building the migration set failed (unknown entity,
    /// schema behind, pool trouble...).
    #[error(transparent)]
    Isolation(#[from] axe_isolation::Error),
    /// A name (entity id) was not valid.
    #[error(transparent)]
    InvalidName(#[from] axe_isolation::NameError),
    /// A statement failed. An `UPDATE`/`DELETE`/`TRUNCATE` of `audit_log` ends here too
    /// (`insufficient_privilege`), as does a missing `audit_log` table (entity not migrated with
    /// [`migrations`](crate::migrations)).
    #[error("audit database error: {0}")]
    Database(#[from] sqlx::Error),
    /// A stored row cannot be read back as an event (e.g. an unknown outcome, a hash that is
    /// not 32 bytes): the table was changed outside this crate.
    #[error("audit row seq {seq} is malformed: {reason}")]
    MalformedRow {
        /// The row's `seq`.
        seq: i64,
        /// What is wrong with it.
        reason: String,
    },
    /// Sealing or opening PII failed.
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    /// Writing an export failed.
    #[error("writing the audit export failed: {0}")]
    Export(#[source] std::io::Error),
    /// The event could not be serialized to canonical JSON (should not happen for the types
    /// of this crate).
    #[error("audit event cannot be canonicalized: {0}")]
    Canonical(String),
}

/// Why sealing or opening a PII value failed. Messages never hold key material or plaintext.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CryptoError {
    /// The sealed bytes are not a sealed value (too short, unknown format version).
    #[error("malformed sealed value: {0}")]
    Format(#[from] crate::format::FormatError),
    /// Authentication failed: the value was changed, truncated or extended, moved to another
    /// row, column, table or entity, or sealed under another key.
    #[error("sealed value failed authentication (tampered, moved, or wrong key)")]
    Tampered,
    /// The entity has no data key of that version: never created (or the key table was
    /// edited by hand).
    #[error("no data key version {version} for entity {entity}")]
    NoDataKey {
        /// The entity.
        entity: String,
        /// The DEK version asked for.
        version: u32,
    },
    /// The data key version that sealed the value was destroyed by
    /// [`Envelope::shred`](crate::Envelope::shred): the value is unreadable for good.
    #[error("data key version {version} of entity {entity} was shredded")]
    Shredded {
        /// The entity.
        entity: String,
        /// The shredded DEK version.
        version: u32,
    },
    /// No seal could be reserved under the entity's current data key: it was shredded or
    /// replaced concurrently on every attempt.
    #[error("no seal could be reserved for entity {entity} (its data key keeps changing)")]
    KeyChurn {
        /// The entity.
        entity: String,
    },
    /// The key service behind an [`AsyncKeyProvider`](crate::keys::AsyncKeyProvider) could not
    /// be reached or refused the call.
    #[error("key service failed: {reason}")]
    KeyService {
        /// What failed (no key material).
        reason: String,
    },
    /// A wrapped DEK names a master key version the provider does not hold.
    #[error("master key version {0} is not available")]
    UnknownMasterVersion(u32),
    /// A wrapped DEK could not be unwrapped (wrong master key, or the row was changed).
    #[error(
        "data key version {version} of entity {entity} cannot be unwrapped (wrong master key?)"
    )]
    Unwrap {
        /// The entity.
        entity: String,
        /// The DEK version.
        version: u32,
    },
    /// A master key could not be loaded.
    #[error("invalid master key from {source_name}: {reason}")]
    InvalidMasterKey {
        /// Where it came from (file path or variable name; never the key).
        source_name: String,
        /// What is wrong.
        reason: &'static str,
    },
}
