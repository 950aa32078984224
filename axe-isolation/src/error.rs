//! [`Error`]: every way this crate fails, as variants a caller can match.

use crate::entity_id::EntityId;
use crate::ident::{Ident, NameError};

/// SQLSTATE `insufficient_privilege`: PostgreSQL refused because of a missing right.
pub(crate) const INSUFFICIENT_PRIVILEGE: &str = "42501";
/// SQLSTATE `invalid_parameter_value` (what `set_config('role', …)` raises for a missing role).
pub(crate) const INVALID_PARAMETER_VALUE: &str = "22023";
/// SQLSTATE `duplicate_object` (two sessions creating one role).
pub(crate) const DUPLICATE_OBJECT: &str = "42710";
/// SQLSTATE `unique_violation` (two sessions creating one catalog row).
pub(crate) const UNIQUE_VIOLATION: &str = "23505";

/// Everything that can go wrong in `axe-isolation`.
///
/// Database errors that PostgreSQL raised because a right was missing (SQLSTATE 42501) become
/// [`Error::PermissionDenied`] when converted with `From<sqlx::Error>`, so a test or a caller
/// can tell "the wall held" from any other failure:
///
/// ```
/// # fn classify(e: sqlx::Error) -> &'static str {
/// match axe_isolation::Error::from(e) {
///     axe_isolation::Error::PermissionDenied { .. } => "refused by PostgreSQL",
///     _ => "something else",
/// }
/// # }
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A name (an entity id, a migrations table, a role prefix, the runtime role) is not valid.
    #[error("invalid {what}: {source}")]
    InvalidName {
        /// What the name was for.
        what: &'static str,
        /// The rule it broke.
        #[source]
        source: NameError,
    },

    /// Nothing of this entity exists in the database: no schema and no role. Likely cause: a
    /// typo, an entity that was never provisioned, or one that was deprovisioned.
    #[error("unknown entity `{entity}`: neither its schema nor its role exists")]
    UnknownEntity {
        /// The entity asked for.
        entity: EntityId,
    },

    /// The entity exists only in part (its schema without its role, or the reverse). Likely
    /// cause: objects dropped by hand. Run [`Isolation::provision`](crate::Isolation::provision)
    /// again: it is idempotent.
    #[error("entity `{entity}` is not provisioned: its {missing} does not exist")]
    NotProvisioned {
        /// The entity asked for.
        entity: EntityId,
        /// What is missing: `"schema"` or `"role"`.
        missing: &'static str,
    },

    /// The entity's schema has not been migrated to the version this binary expects, so
    /// `begin` refuses to serve it from a half-migrated schema. Run
    /// [`Isolation::migrate`](crate::Isolation::migrate).
    #[error(
        "schema of entity `{entity}` is behind: {table} is at {current:?}, this binary expects {expected}"
    )]
    SchemaBehind {
        /// The entity asked for.
        entity: EntityId,
        /// The migrations table that was checked.
        table: Ident,
        /// The highest applied version (`None`: no migration applied, or no table yet).
        current: Option<i64>,
        /// The highest version among the configured migrations.
        expected: i64,
    },

    /// PostgreSQL refused an operation for lack of a right (SQLSTATE 42501): the wall held, or
    /// the owner role lacks a right it needs (e.g. `CREATEROLE`).
    #[error("permission denied by PostgreSQL: {message}")]
    PermissionDenied {
        /// PostgreSQL's message.
        message: String,
        /// The database error.
        #[source]
        source: sqlx::Error,
    },

    /// The runtime pool logs in as a role that would pass the walls (a superuser, a role that
    /// inherits entity rights, a role that owns objects...). Entity transactions must run as a
    /// non-superuser `NOINHERIT` role that owns nothing.
    #[error("runtime role `{role}` is not safe to serve entities: {reason}")]
    UnsafeRuntimeRole {
        /// The runtime pool's login role.
        role: String,
        /// Which property makes it unsafe.
        reason: &'static str,
    },

    /// An existing schema of this entity is owned by another role than the owner (DDL) role,
    /// so provisioning cannot vouch for its rights.
    #[error(
        "schema of entity `{entity}` is owned by `{owner}`, not by the owner role `{expected}`"
    )]
    ForeignSchemaOwner {
        /// The entity being provisioned.
        entity: EntityId,
        /// The schema's actual owner.
        owner: String,
        /// The owner pool's role.
        expected: String,
    },

    /// A DDL operation (provision, migrate, deprovision, export) needs the owner pool, which
    /// was not configured with [`IsolationBuilder::owner`](crate::IsolationBuilder::owner).
    #[error("{operation} needs the owner (DDL) pool, and none was configured")]
    NoOwnerPool {
        /// The operation that was asked for.
        operation: &'static str,
    },

    /// A pooled connection is not neutral: another role is set, or a search path other than
    /// the empty one. Returned by [`guard::check_neutral`](crate::guard::check_neutral).
    #[error(
        "connection is not neutral: current_user={current_user}, session_user={session_user}, search_path={search_path}"
    )]
    NotNeutral {
        /// `current_user` on the connection.
        current_user: String,
        /// `session_user` on the connection.
        session_user: String,
        /// `current_setting('search_path')` on the connection.
        search_path: String,
    },

    /// Migrating one entity failed; its transaction was rolled back, so the entity is left at
    /// the version it had before.
    #[error("migrating entity `{entity}` failed: {source}")]
    Migration {
        /// The entity whose migration failed.
        entity: EntityId,
        /// sqlx's migration error (which migration, and the database error).
        #[source]
        source: sqlx::migrate::MigrateError,
    },

    /// The migration set cannot be used per entity (e.g. a `-- no-transaction` migration: each
    /// entity migrates in one transaction).
    #[error("invalid migrations: {reason}")]
    InvalidMigrations {
        /// What is wrong.
        reason: String,
    },

    /// `pg_dump` exited with an error.
    #[error("pg_dump of entity `{entity}` failed ({status}): {stderr}")]
    Export {
        /// The entity being exported.
        entity: EntityId,
        /// The exit status.
        status: std::process::ExitStatus,
        /// What `pg_dump` printed on standard error.
        stderr: String,
    },

    /// An I/O error (running `pg_dump`, writing the export).
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),

    /// The throwaway PostgreSQL of the `test-util` feature could not be set up.
    #[cfg(feature = "test-util")]
    #[error("test PostgreSQL: {reason}")]
    TestHarness {
        /// What failed, with the tool's output.
        reason: String,
    },

    /// Any other database error.
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
}

impl From<sqlx::Error> for Error {
    fn from(error: sqlx::Error) -> Self {
        if sqlstate(&error).as_deref() == Some(INSUFFICIENT_PRIVILEGE) {
            let message = match &error {
                sqlx::Error::Database(db) => db.message().to_owned(),
                other => other.to_string(),
            };
            return Error::PermissionDenied {
                message,
                source: error,
            };
        }
        Error::Database(error)
    }
}

impl From<NameError> for Error {
    /// A refused entity id (the common case: `EntityId::new(input)?` in a function returning
    /// this crate's `Error`).
    fn from(source: NameError) -> Self {
        Error::InvalidName {
            what: "entity id",
            source,
        }
    }
}

impl Error {
    /// `true` if PostgreSQL refused for lack of a right (SQLSTATE 42501), whatever the variant
    /// that carries it.
    #[must_use]
    pub fn is_permission_denied(&self) -> bool {
        match self {
            Error::PermissionDenied { .. } => true,
            Error::Database(e) => sqlstate(e).as_deref() == Some(INSUFFICIENT_PRIVILEGE),
            Error::Migration {
                source:
                    sqlx::migrate::MigrateError::Execute(e)
                    | sqlx::migrate::MigrateError::ExecuteMigration(e, _),
                ..
            } => sqlstate(e).as_deref() == Some(INSUFFICIENT_PRIVILEGE),
            _ => false,
        }
    }
}

/// The SQLSTATE of a database error.
pub(crate) fn sqlstate(error: &sqlx::Error) -> Option<String> {
    match error {
        sqlx::Error::Database(db) => db.code().map(|c| c.into_owned()),
        _ => None,
    }
}
