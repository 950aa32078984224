//! One private PostgreSQL cluster per test process, started on first use.
//!
//! Why not `pgtemp` (0.7): it switches user with `sudo`, which this project's machines (root, no
//! sudo) do not have; it starts one server per database, so every test would pay an `initdb`;
//! and it panics instead of returning errors. What is needed is small: `initdb` and `pg_ctl`
//! through `runuser -u postgres --` when running as root (PostgreSQL refuses to run as root),
//! directly otherwise, on a Unix socket in a private folder.
//!
//! The server listens on its socket only (`listen_addresses=''`) in a folder of its own, so
//! parallel test binaries never collide: each has its own cluster, and the port (taken free from
//! the OS anyway) only names the socket file. A watchdog shell process, started before the
//! server, waits for the test process to exit (normally or killed), then stops the server
//! (`pg_ctl stop -m immediate`) and removes the folder, so repeated runs leave nothing behind.

use std::ffi::OsString;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use sqlx::postgres::PgConnectOptions;

use crate::error::Error;

/// A running private cluster.
#[derive(Debug)]
pub(crate) struct Cluster {
    socket_dir: PathBuf,
    port: u16,
}

impl Cluster {
    /// Connect options for the cluster's superuser, `postgres`, on database `postgres`.
    pub(crate) fn admin_options(&self) -> PgConnectOptions {
        PgConnectOptions::new()
            .socket(&self.socket_dir)
            .port(self.port)
            .username("postgres")
            .database("postgres")
    }
}

static CLUSTER: OnceLock<Result<Cluster, String>> = OnceLock::new();

/// The process's cluster, started on first call.
pub(crate) async fn shared() -> Result<&'static Cluster, Error> {
    let cluster = match CLUSTER.get() {
        Some(cluster) => cluster,
        None => tokio::task::spawn_blocking(|| CLUSTER.get_or_init(start))
            .await
            .map_err(|e| Error::TestHarness {
                reason: format!("cluster start-up task failed: {e}"),
            })?,
    };
    cluster.as_ref().map_err(|reason| Error::TestHarness {
        reason: reason.clone(),
    })
}

/// Where `initdb` and `pg_ctl` are: `AXE_PG_BINDIR` if set, else `PATH`.
fn tool(name: &str) -> PathBuf {
    match std::env::var_os("AXE_PG_BINDIR") {
        Some(dir) if !dir.is_empty() => Path::new(&dir).join(name),
        _ => PathBuf::from(name),
    }
}

fn is_root() -> Result<bool, String> {
    let out = Command::new("id")
        .arg("-u")
        .output()
        .map_err(|e| format!("cannot run `id -u`: {e}"))?;
    Ok(String::from_utf8_lossy(&out.stdout).trim() == "0")
}

/// Runs `program args` (as `postgres` through `runuser` when `as_root`), failing with its output.
fn run(as_root: bool, program: &Path, args: &[OsString]) -> Result<(), String> {
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
        .map_err(|e| format!("cannot run {}: {e}", program.display()))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{} failed ({}): {}{}",
            program.display(),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

fn start() -> Result<Cluster, String> {
    let as_root = is_root()?;
    let root = tempfile::Builder::new()
        .prefix("axe-isolation-pg-")
        .tempdir()
        .map_err(|e| format!("cannot create a temporary folder: {e}"))?
        .keep();
    let started = start_in(&root, as_root);
    if started.is_err() {
        // The watchdog may not be running yet; leave nothing behind.
        let _ = std::fs::remove_dir_all(&root);
    }
    started
}

fn start_in(root: &Path, as_root: bool) -> Result<Cluster, String> {
    let data = root.join("data");
    let socket_dir = root.join("sock");
    let log = root.join("server.log");
    std::fs::create_dir(&socket_dir).map_err(|e| format!("cannot create socket folder: {e}"))?;
    let root_text = root
        .to_str()
        .filter(|s| !s.contains('\''))
        .ok_or_else(|| format!("unusable temporary folder {}", root.display()))?;
    if as_root {
        let out = Command::new("chown")
            .args(["-R", "postgres:postgres", root_text])
            .output()
            .map_err(|e| format!("cannot run chown: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "chown of {root_text} to postgres failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }

    let pg_ctl = tool("pg_ctl");
    spawn_watchdog(as_root, &pg_ctl, &data, root)?;

    run(
        as_root,
        &tool("initdb"),
        &[
            "-D".into(),
            data.clone().into(),
            "-A".into(),
            "trust".into(),
            "-U".into(),
            "postgres".into(),
            "-E".into(),
            "UTF8".into(),
            "--no-locale".into(),
            "-N".into(),
        ],
    )?;

    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| format!("cannot pick a port: {e}"))?
        .port();
    // pg_ctl hands -o to a shell: the folder is quoted (and was checked to hold no quote).
    let server_options = format!(
        "-p {port} -k '{root_text}/sock' -c listen_addresses='' -c fsync=off \
         -c synchronous_commit=off -c full_page_writes=off -c autovacuum=off \
         -c max_connections=300"
    );
    let started = run(
        as_root,
        &pg_ctl,
        &[
            "-D".into(),
            data.clone().into(),
            "-l".into(),
            log.clone().into(),
            "-w".into(),
            "-t".into(),
            "60".into(),
            "-o".into(),
            server_options.into(),
            "start".into(),
        ],
    );
    if let Err(e) = started {
        let server_log = std::fs::read_to_string(&log).unwrap_or_default();
        return Err(format!("{e}\nserver log:\n{server_log}"));
    }
    tracing::debug!(root = %root.display(), port, "private PostgreSQL cluster started");
    Ok(Cluster { socket_dir, port })
}

/// Starts a detached shell that, once this process has exited, stops the cluster and removes
/// its folder.
fn spawn_watchdog(as_root: bool, pg_ctl: &Path, data: &Path, root: &Path) -> Result<(), String> {
    const SCRIPT: &str = r#"
while kill -0 "$1" 2>/dev/null; do sleep 0.2; done
if [ "$4" = 1 ]; then
  runuser -u postgres -- "$5" -D "$2" -m immediate -w stop
else
  "$5" -D "$2" -m immediate -w stop
fi
rm -rf "$3"
"#;
    Command::new("sh")
        .arg("-c")
        .arg(SCRIPT)
        .arg("axe-isolation-pg-watchdog")
        .arg(std::process::id().to_string())
        .arg(data)
        .arg(root)
        .arg(if as_root { "1" } else { "0" })
        .arg(pg_ctl)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        // Its own process group: a Ctrl-C aimed at the tests does not kill the cleaner.
        .process_group(0)
        .spawn()
        .map(drop)
        .map_err(|e| format!("cannot start the cluster watchdog: {e}"))
}
