//! [`Isolation::export`]: one entity's schema as a `pg_dump` archive, and [`PgDump`].
//!
//! ```no_run
//! # async fn run(isolation: axe_isolation::Isolation) -> Result<(), axe_isolation::Error> {
//! use axe_isolation::EntityId;
//!
//! let acme = EntityId::new("acme")?;
//! let mut file = tokio::fs::File::create("acme.dump").await?;
//! let bytes = isolation.export(&acme, &mut file).await?;
//! // Restore elsewhere with `pg_restore --no-owner --no-acl -d target acme.dump`.
//! # let _ = bytes;
//! # Ok(())
//! # }
//! ```

use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;
use std::process::Stdio;

use sqlx::postgres::PgSslMode;
use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::process::Command;

use crate::entity_id::EntityId;
use crate::error::Error;
use crate::isolation::Isolation;

/// How [`Isolation::export`] runs `pg_dump`: the program, and the password of the owner role
/// if the server asks for one (sqlx does not give it back from a pool).
///
/// The connection target (host or socket folder, port, user, database, TLS mode) is taken from
/// the owner pool and passed in `PG*` environment variables, never on the command line.
#[derive(Clone, Default)]
pub struct PgDump {
    program: Option<PathBuf>,
    password: Option<String>,
}

impl PgDump {
    /// `pg_dump` from `PATH`, no password (trust, peer, or a `~/.pgpass` file).
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Runs this `pg_dump` binary instead (its major version must be at least the server's).
    #[must_use]
    pub fn program(mut self, program: impl Into<PathBuf>) -> Self {
        self.program = Some(program.into());
        self
    }

    /// Passes `password` as `PGPASSWORD`.
    #[must_use]
    pub fn password(mut self, password: impl Into<String>) -> Self {
        self.password = Some(password.into());
        self
    }
}

impl fmt::Debug for PgDump {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgDump")
            .field("program", &self.program)
            .field("password", &self.password.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

fn ssl_mode(mode: PgSslMode) -> &'static str {
    match mode {
        PgSslMode::Disable => "disable",
        PgSslMode::Allow => "allow",
        PgSslMode::Prefer => "prefer",
        PgSslMode::Require => "require",
        PgSslMode::VerifyCa => "verify-ca",
        PgSslMode::VerifyFull => "verify-full",
    }
}

impl Isolation {
    /// Writes `entity`'s schema (definitions and data) to `writer` as a `pg_dump` archive in
    /// custom format (`pg_dump --format=custom --schema='"ent_<id>"'`), run as the owner role.
    /// Returns the number of bytes written.
    ///
    /// The archive holds only that schema; its grants name the entity role, so restore with
    /// `--no-owner --no-acl` into another database. On error, discard what was written.
    ///
    /// # Errors
    ///
    /// - [`Error::NoOwnerPool`] without an owner pool.
    /// - [`Error::UnknownEntity`] / [`Error::NotProvisioned`] if the schema or role is missing.
    /// - [`Error::Export`] if `pg_dump` failed, with its standard error.
    /// - [`Error::Io`] if `pg_dump` cannot be started or `writer` fails.
    pub async fn export<W>(&self, entity: &EntityId, writer: &mut W) -> Result<u64, Error>
    where
        W: AsyncWrite + Unpin + ?Sized,
    {
        let owner = self.owner_pool("export")?;
        self.check_exists(owner, entity).await?;
        let options = owner.connect_options();
        let pg_dump = &self.inner.pg_dump;

        let mut command = Command::new(
            pg_dump
                .program
                .clone()
                .unwrap_or_else(|| PathBuf::from("pg_dump")),
        );
        // A quoted pattern matches that one schema exactly; --strict-names fails if it is gone.
        let mut schema_arg = OsString::from("--schema=");
        schema_arg.push(entity.schema().quoted());
        command
            .arg("--format=custom")
            .arg(schema_arg)
            .arg("--strict-names")
            .arg("--no-password")
            .env_remove("PGSERVICE")
            .env(
                "PGHOST",
                match options.get_socket() {
                    Some(socket) => socket.as_os_str().to_owned(),
                    None => OsString::from(options.get_host()),
                },
            )
            .env("PGPORT", options.get_port().to_string())
            .env("PGUSER", options.get_username())
            .env(
                "PGDATABASE",
                options.get_database().unwrap_or(options.get_username()),
            )
            .env("PGSSLMODE", ssl_mode(options.get_ssl_mode()))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        match &pg_dump.password {
            Some(password) => command.env("PGPASSWORD", password),
            None => command.env_remove("PGPASSWORD"),
        };

        let mut child = command.spawn()?;
        let (Some(mut stdout), Some(mut stderr)) = (child.stdout.take(), child.stderr.take())
        else {
            return Err(Error::Io(std::io::Error::other("pg_dump pipes missing")));
        };
        let mut err_text = Vec::new();
        let (copied, read_err) = tokio::join!(
            tokio::io::copy(&mut stdout, &mut *writer),
            stderr.read_to_end(&mut err_text)
        );
        let status = child.wait().await?;
        read_err?;
        let bytes = copied?;
        if !status.success() {
            return Err(Error::Export {
                entity: entity.clone(),
                status,
                stderr: String::from_utf8_lossy(&err_text).trim().to_owned(),
            });
        }
        writer.flush().await?;
        tracing::info!(%entity, bytes, "entity exported");
        Ok(bytes)
    }
}
