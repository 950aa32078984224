//! Dev mode's PostgreSQL: a cluster of the machine's PostgreSQL binaries with its data under
//! the dev folder (`pg/`), kept across restarts, or the server of `DATABASE_URL`; and the
//! database, owner role and runtime role the frame runs on.
//!
//! Written here rather than reusing axe-isolation's test harness: that cluster is private
//! to the crate's `testing` module, throwaway (a temporary folder removed at exit) and
//! reached through a random port, while dev mode needs a cluster that keeps its data.
//! The root trick is the same: PostgreSQL refuses to run as root, so as root
//! `initdb` and `pg_ctl` run as the `postgres` OS user through `runuser`.

use std::ffi::OsString;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, bail};
use axe_isolation::{Ident, guard};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, Executor, PgPool};

/// The port of the dev cluster: it listens on a Unix socket only (`listen_addresses=''`),
/// so the number just names the socket file, in a folder of its own (no clash with another
/// server). 3700 is frame-postgres's port on a customer machine.
pub(crate) const PORT: u16 = 3700;
/// The database of the frame.
pub(crate) const DATABASE: &str = "frame";
/// The owner (DDL) role: owner of the database, `CREATEROLE`, not a superuser.
pub(crate) const OWNER_ROLE: &str = "frame_owner";
/// The runtime role: `LOGIN NOINHERIT`, owns nothing; entity transactions run on it.
pub(crate) const RUNTIME_ROLE: &str = "frame_rt";

/// Where the server is and how to stop it.
#[derive(Debug)]
pub(crate) struct Server {
    /// Connect options of a role that may create roles and databases.
    pub(crate) admin: PgConnectOptions,
    /// The cluster we started (stopped on shutdown); `None` for `DATABASE_URL`.
    pub(crate) cluster: Option<Cluster>,
}

/// A cluster under the dev folder.
#[derive(Debug)]
pub(crate) struct Cluster {
    data: PathBuf,
    pub(crate) socket_dir: PathBuf,
    as_root: bool,
}

/// Where `initdb`/`pg_ctl` are: `AXE_PG_BINDIR` if set, else `PATH` (as axe-isolation's
/// test harness does).
fn tool(name: &str) -> PathBuf {
    match std::env::var_os("AXE_PG_BINDIR") {
        Some(dir) if !dir.is_empty() => Path::new(&dir).join(name),
        _ => PathBuf::from(name),
    }
}

fn is_root() -> anyhow::Result<bool> {
    let out = Command::new("id")
        .arg("-u")
        .output()
        .context("cannot run `id -u`")?;
    Ok(String::from_utf8_lossy(&out.stdout).trim() == "0")
}

/// Runs `program args`, as `postgres` through `runuser` when `as_root`; returns whether it
/// exited 0 and its output.
fn run(as_root: bool, program: &Path, args: &[OsString]) -> anyhow::Result<(bool, String)> {
    let mut command = if as_root {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    };
    let out = command
        .args(args)
        .stdin(Stdio::null())
        .output()
        .with_context(|| {
            format!(
                "cannot run {} (are the PostgreSQL server binaries on PATH, or set AXE_PG_BINDIR?)",
                program.display()
            )
        })?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok((out.status.success(), text))
}

impl Cluster {
    /// Initializes (first run) and starts the cluster under `root` (`root/data`,
    /// `root/sock`, `root/server.log`), or finds it already running.
    pub(crate) fn start(root: &Path) -> anyhow::Result<Self> {
        let as_root = is_root()?;
        let data = root.join("data");
        let socket_dir = root.join("sock");
        let log = root.join("server.log");
        std::fs::create_dir_all(&socket_dir)
            .with_context(|| format!("cannot create {}", socket_dir.display()))?;
        let root_text = root
            .to_str()
            .filter(|s| !s.contains('\''))
            .with_context(|| format!("unusable folder name {}", root.display()))?;
        if as_root {
            // The server runs as `postgres`: it owns its folder, and the folders above must
            // let it through.
            let out = Command::new("chown")
                .args(["-R", "postgres:postgres", root_text])
                .output()
                .context("cannot run chown")?;
            if !out.status.success() {
                bail!(
                    "chown of {root_text} to postgres failed (is there a `postgres` user?): {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
        }
        let cluster = Self {
            data,
            socket_dir,
            as_root,
        };
        let pg_ctl = tool("pg_ctl");
        if !cluster.data.join("PG_VERSION").exists() {
            let (ok, out) = run(
                as_root,
                &tool("initdb"),
                &[
                    "-D".into(),
                    cluster.data.clone().into(),
                    "-A".into(),
                    "trust".into(),
                    "-U".into(),
                    "postgres".into(),
                    "-E".into(),
                    "UTF8".into(),
                    "--no-locale".into(),
                ],
            )?;
            if !ok {
                bail!(
                    "initdb failed. When running as root, every folder above {root_text} must be \
                     searchable by the postgres user.\n{out}"
                );
            }
        }
        let (running, _) = run(
            as_root,
            &pg_ctl,
            &["-D".into(), cluster.data.clone().into(), "status".into()],
        )?;
        if running {
            tracing::info!("dev PostgreSQL already running");
            return Ok(cluster);
        }
        let options = format!(
            "-p {PORT} -k '{root_text}/sock' -c listen_addresses='' -c max_connections=100"
        );
        let (ok, out) = run(
            as_root,
            &pg_ctl,
            &[
                "-D".into(),
                cluster.data.clone().into(),
                "-l".into(),
                log.clone().into(),
                "-w".into(),
                "-t".into(),
                "60".into(),
                "-o".into(),
                options.into(),
                "start".into(),
            ],
        )?;
        if !ok {
            let server_log = std::fs::read_to_string(&log).unwrap_or_default();
            let tail: Vec<&str> = server_log.lines().rev().take(20).collect();
            bail!(
                "pg_ctl start failed: {out}\nlast lines of {}:\n{}",
                log.display(),
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
        tracing::info!(data = %cluster.data.display(), "dev PostgreSQL started");
        Ok(cluster)
    }

    /// Connect options of the superuser `postgres`.
    pub(crate) fn admin_options(&self) -> PgConnectOptions {
        PgConnectOptions::new()
            .socket(&self.socket_dir)
            .port(PORT)
            .username("postgres")
            .database("postgres")
    }

    /// Stops the cluster (fast: open sessions are ended, data is flushed).
    pub(crate) fn stop(&self) {
        match run(
            self.as_root,
            &tool("pg_ctl"),
            &[
                "-D".into(),
                self.data.clone().into(),
                "-m".into(),
                "fast".into(),
                "-w".into(),
                "stop".into(),
            ],
        ) {
            Ok((true, _)) => tracing::info!("dev PostgreSQL stopped"),
            Ok((false, out)) => tracing::warn!(output = %out.trim(), "pg_ctl stop failed"),
            Err(e) => tracing::warn!(error = %e, "pg_ctl stop failed"),
        }
    }
}

/// The dev server: `DATABASE_URL` if set (a role that may create roles and databases), else
/// the cluster under `root`.
pub(crate) async fn server(root: &Path) -> anyhow::Result<Server> {
    match std::env::var("DATABASE_URL") {
        Ok(url) if !url.trim().is_empty() => Ok(Server {
            admin: url
                .parse()
                .context("DATABASE_URL is not a PostgreSQL URL")?,
            cluster: None,
        }),
        _ => {
            let root = root.to_owned();
            let cluster = tokio::task::spawn_blocking(move || Cluster::start(&root))
                .await
                .context("the PostgreSQL start-up task failed")??;
            Ok(Server {
                admin: cluster.admin_options(),
                cluster: Some(cluster),
            })
        }
    }
}

/// The frame's two pools.
pub(crate) struct Pools {
    pub(crate) owner: PgPool,
    pub(crate) runtime: PgPool,
}

/// Creates (if missing) the database, the owner role and the NOINHERIT runtime role, sets
/// their password to `password`, and opens both pools (the runtime pool with axe-isolation's
/// guard).
pub(crate) async fn prepare(admin: &PgConnectOptions, password: &str) -> anyhow::Result<Pools> {
    let owner = Ident::new(OWNER_ROLE)?;
    let runtime = Ident::new(RUNTIME_ROLE)?;
    let database = Ident::new(DATABASE)?;
    let mut conn = admin
        .connect()
        .await
        .context("cannot connect to PostgreSQL as the admin role")?;
    for (role, attributes) in [(&owner, "LOGIN CREATEROLE"), (&runtime, "LOGIN NOINHERIT")] {
        let exists: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)")
                .bind(role.as_str())
                .fetch_one(&mut conn)
                .await?;
        if !exists {
            conn.execute(sqlx::AssertSqlSafe(format!(
                "CREATE ROLE {} {attributes}",
                role.quoted()
            )))
            .await?;
        }
        // The password is generated hex (see dev.rs), safe inside a literal.
        conn.execute(sqlx::AssertSqlSafe(format!(
            "ALTER ROLE {} PASSWORD '{password}'",
            role.quoted()
        )))
        .await?;
    }
    conn.execute(sqlx::AssertSqlSafe(format!(
        "ALTER ROLE {} SET search_path TO ''",
        runtime.quoted()
    )))
    .await?;
    let db_exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(database.as_str())
            .fetch_one(&mut conn)
            .await?;
    if !db_exists {
        conn.execute(sqlx::AssertSqlSafe(format!(
            "CREATE DATABASE {} OWNER {}",
            database.quoted(),
            owner.quoted()
        )))
        .await?;
    }
    conn.close().await?;

    let in_db = admin.clone().database(DATABASE);
    let mut conn = in_db.connect().await?;
    conn.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
        .await?;
    conn.close().await?;

    let owner_pool = PgPoolOptions::new()
        .max_connections(4)
        .connect_with(in_db.clone().username(OWNER_ROLE).password(password))
        .await
        .context("cannot connect as the owner role")?;
    let runtime_pool = guard::install(PgPoolOptions::new().max_connections(16))
        .connect_with(in_db.username(RUNTIME_ROLE).password(password))
        .await
        .context("cannot connect as the runtime role")?;
    Ok(Pools {
        owner: owner_pool,
        runtime: runtime_pool,
    })
}

/// Makes `dir` (the dev folder) searchable by the `postgres` user when running as root, so
/// the server can reach its own folder inside it.
pub(crate) fn open_for_server(dir: &Path) -> anyhow::Result<()> {
    if is_root()? {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o711))
            .with_context(|| format!("cannot set the mode of {}", dir.display()))?;
    }
    Ok(())
}
