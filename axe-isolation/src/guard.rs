//! The pool guard: the second line behind per-transaction scoping.
//!
//! [`EntityTx`](crate::EntityTx) sets role and search path *locally*, so they end with the
//! transaction. But code inside a transaction can run a session-level `SET ROLE` or
//! `SET search_path`, and that survives the `COMMIT`; sqlx does not reset a connection when it
//! goes back to the pool (it only pings it). The guard closes that gap:
//!
//! - on connect, the search path is set to empty (`public` is never on it);
//! - on release, one round trip runs `RESET ROLE; SET search_path TO ''` and reads back
//!   `current_user`, `session_user` and the search path; a connection that is still not
//!   neutral is closed instead of pooled;
//! - optionally ([`PoolGuard::check_before_acquire`]), the same check before a connection is
//!   handed out (one more round trip per acquire).
//!
//! ```no_run
//! use axe_isolation::guard::PoolGuard;
//! use sqlx::postgres::PgPoolOptions;
//!
//! # async fn run() -> Result<(), sqlx::Error> {
//! let runtime = PoolGuard::new()
//!     .apply(PgPoolOptions::new().max_connections(16))
//!     .connect("postgres://app_runtime@db/frame")
//!     .await?;
//! # Ok(())
//! # }
//! ```
//!
//! `apply` sets the pool's `after_connect`, `after_release` and (if asked) `before_acquire`
//! hooks, replacing any set before; to combine with hooks of your own, call [`reset`] and
//! [`check_neutral`] from them.

use sqlx::postgres::PgPoolOptions;
use sqlx::{Executor, PgConnection, Row};

use crate::error::Error;

/// `current_setting('search_path')` of a neutral connection: the empty path.
pub const NEUTRAL_SEARCH_PATH: &str = "\"\"";

const NEUTRALIZE_SQL: &str = "SET search_path TO ''";

const RESET_SQL: &str = "RESET ROLE; SET search_path TO ''; \
     SELECT current_user::text, session_user::text, current_setting('search_path')";

const CHECK_SQL: &str =
    "SELECT current_user::text, session_user::text, current_setting('search_path')";

/// Configures the pool hooks; see the [module docs](self).
#[derive(Debug, Clone, Copy, Default)]
#[must_use]
pub struct PoolGuard {
    check_before_acquire: bool,
}

impl PoolGuard {
    /// Reset on release, no check before acquire.
    pub fn new() -> Self {
        Self::default()
    }

    /// Also checks, before handing out an idle connection, that it is neutral (and closes it
    /// if not). Costs one round trip per acquire; the reset on release makes it a belt and
    /// braces.
    pub fn check_before_acquire(mut self, check: bool) -> Self {
        self.check_before_acquire = check;
        self
    }

    /// Installs the hooks on `options`.
    pub fn apply(self, options: PgPoolOptions) -> PgPoolOptions {
        let options = options
            .after_connect(|conn, _meta| {
                Box::pin(async move {
                    conn.execute(NEUTRALIZE_SQL).await?;
                    Ok(())
                })
            })
            .after_release(|conn, _meta| {
                Box::pin(async move {
                    match reset(conn).await {
                        Ok(()) => Ok(true),
                        Err(Error::NotNeutral { .. }) => Ok(false),
                        Err(Error::Database(e)) => Err(e),
                        Err(other) => Err(sqlx::Error::Protocol(other.to_string())),
                    }
                })
            });
        if self.check_before_acquire {
            options.before_acquire(|conn, _meta| {
                Box::pin(async move {
                    match check_neutral(conn).await {
                        Ok(()) => Ok(true),
                        Err(Error::NotNeutral { .. }) => Ok(false),
                        Err(Error::Database(e)) => Err(e),
                        Err(other) => Err(sqlx::Error::Protocol(other.to_string())),
                    }
                })
            })
        } else {
            options
        }
    }
}

/// Installs the default [`PoolGuard`] on `options`.
pub fn install(options: PgPoolOptions) -> PgPoolOptions {
    PoolGuard::new().apply(options)
}

/// Resets role and search path on `conn`, then checks it is neutral (one round trip).
///
/// # Errors
///
/// [`Error::NotNeutral`] if it still is not (for instance a session authorization that
/// `RESET ROLE` does not undo); [`Error::Database`] if the statements failed (e.g. the
/// connection is inside an aborted transaction).
pub async fn reset(conn: &mut PgConnection) -> Result<(), Error> {
    let rows = sqlx::raw_sql(RESET_SQL).fetch_all(&mut *conn).await?;
    let Some(row) = rows.last() else {
        return Err(Error::Database(sqlx::Error::RowNotFound));
    };
    neutral_or_error(row.try_get(0)?, row.try_get(1)?, row.try_get(2)?)
}

/// Checks that `conn` is neutral: no role set (`current_user = session_user`) and the empty
/// search path.
///
/// # Errors
///
/// [`Error::NotNeutral`] with what was found; [`Error::Database`] if the check failed.
pub async fn check_neutral(conn: &mut PgConnection) -> Result<(), Error> {
    let (current_user, session_user, search_path): (String, String, String) =
        sqlx::query_as(CHECK_SQL).fetch_one(conn).await?;
    neutral_or_error(current_user, session_user, search_path)
}

fn neutral_or_error(
    current_user: String,
    session_user: String,
    search_path: String,
) -> Result<(), Error> {
    if current_user == session_user && search_path == NEUTRAL_SEARCH_PATH {
        Ok(())
    } else {
        tracing::warn!(%current_user, %session_user, %search_path, "pooled connection is not neutral");
        Err(Error::NotNeutral {
            current_user,
            session_user,
            search_path,
        })
    }
}
