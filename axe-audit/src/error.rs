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
    /// The event could not be serialized to canonical JSON (should not happen for the types
    /// of this crate).
    #[error("audit event cannot be canonicalized: {0}")]
    Canonical(String),
}
