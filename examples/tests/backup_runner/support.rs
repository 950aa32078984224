//! Test set-up: a real PostgreSQL (axe-isolation's `TestDb`), real restic repositories in a
//! temporary folder, and the built `backup-runner` example binary.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Output;

use axe_isolation::EntityId;
use axe_isolation::testing::TestDb;
use sqlx::Executor;

pub(crate) const PASSWORD: &str = "correct horse battery staple";

/// The example binary that `cargo test` built beside the test binary.
pub(crate) fn binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    // target/<profile>/deps/backup_runner-… → target/<profile>/examples/backup-runner
    let profile_dir = exe.parent().unwrap().parent().unwrap();
    let bin = profile_dir.join("examples").join("backup-runner");
    assert!(
        bin.exists(),
        "{} is missing: run `cargo test -p axe-examples` (which builds examples), not only `--test`",
        bin.display()
    );
    bin
}

/// restic must be installed (`apt-get install restic`; `.ci/run` does it).
pub(crate) fn require_restic() {
    let ok = std::process::Command::new("restic")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(ok, "restic is not installed: apt-get install -y restic");
}

/// One test's world: database, folder, password file.
pub(crate) struct World {
    pub(crate) db: TestDb,
    pub(crate) dir: tempfile::TempDir,
    pub(crate) password_file: PathBuf,
}

/// What goes into a config file.
#[derive(Clone)]
pub(crate) struct Setup {
    pub(crate) entities: String,
    pub(crate) ring: Option<String>,
    pub(crate) ring_retention: Option<String>,
    pub(crate) ring_options: Vec<String>,
    pub(crate) cold: Option<(String, Option<PathBuf>)>,
    pub(crate) local_retention: Option<String>,
    pub(crate) bin_dir: Option<PathBuf>,
    pub(crate) globals: &'static str,
    pub(crate) folders: Vec<PathBuf>,
    pub(crate) cycle: u32,
    pub(crate) webhook: Option<String>,
}

impl Default for Setup {
    fn default() -> Self {
        Self {
            entities: "all".into(),
            ring: None,
            ring_retention: None,
            ring_options: Vec::new(),
            cold: None,
            local_retention: None,
            bin_dir: None,
            globals: "full",
            folders: Vec::new(),
            cycle: 7,
            webhook: None,
        }
    }
}

impl World {
    pub(crate) async fn new() -> World {
        require_restic();
        let db = TestDb::new().await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let password_file = dir.path().join("restic.pass");
        std::fs::write(&password_file, format!("{PASSWORD}\n")).unwrap();
        World {
            db,
            dir,
            password_file,
        }
    }

    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A URL for the runner: the cluster's superuser on this test's database (a backup role
    /// must read every schema, and a drill must create databases).
    pub(crate) fn database_url(&self) -> String {
        let options = self.db.owner_connect_options();
        let db = self.db.database_name();
        match std::env::var("DATABASE_URL") {
            Ok(url) if !url.trim().is_empty() => {
                let mut url = reqwest::Url::parse(&url).unwrap();
                url.set_path(&format!("/{db}"));
                url.to_string()
            }
            _ => {
                let socket = options.get_socket().unwrap().display().to_string();
                format!(
                    "postgres://postgres@localhost/{db}?host={socket}&port={}",
                    options.get_port()
                )
            }
        }
    }

    /// Provisions `entity` with a `notes` table of `rows` rows of ~`width` bytes each.
    pub(crate) async fn entity_with_rows(&self, entity: &str, rows: i64, width: i32) {
        let isolation = self.db.isolation().await.unwrap();
        let id = EntityId::new(entity).unwrap();
        isolation.provision(&id).await.unwrap();
        let schema = id.schema();
        let sql = format!(
            "CREATE TABLE {s}.notes (id bigint PRIMARY KEY, body text NOT NULL);
             CREATE TABLE {s}.tags (note bigint REFERENCES {s}.notes, tag text);
             INSERT INTO {s}.notes SELECT g, (SELECT string_agg(md5(g::text || '-' || x::text), '')
                 FROM generate_series(1, greatest(1, {width} / 32)) x) FROM generate_series(1, {rows}) g;
             INSERT INTO {s}.tags SELECT g, 'tag' || (g % 7) FROM generate_series(1, {rows}, 3) g;",
            s = schema.quoted()
        );
        self.db
            .owner_pool()
            .execute(sqlx::AssertSqlSafe(sql))
            .await
            .unwrap();
    }

    /// Writes a config file for `setup`; returns its path.
    pub(crate) fn config(&self, name: &str, setup: &Setup) -> PathBuf {
        let pw = self.password_file.display();
        let mut y = String::new();
        writeln!(y, "database:\n  url: \"{}\"", self.database_url()).unwrap();
        if let Some(bin) = &setup.bin_dir {
            writeln!(y, "  bin-dir: {}", bin.display()).unwrap();
        }
        writeln!(y, "  globals: {}", setup.globals).unwrap();
        writeln!(y, "entities: {}", setup.entities).unwrap();
        if !setup.folders.is_empty() {
            writeln!(y, "folders:").unwrap();
            for f in &setup.folders {
                writeln!(y, "  - {}", f.display()).unwrap();
            }
        }
        writeln!(y, "host: testhost\ntiers:\n  local:").unwrap();
        writeln!(y, "    repository: {}", self.path("local").display()).unwrap();
        writeln!(y, "    password-file: {pw}").unwrap();
        if let Some(r) = &setup.local_retention {
            writeln!(y, "    retention: {r}").unwrap();
        }
        if let Some(ring) = &setup.ring {
            writeln!(
                y,
                "  ring:\n    repository: \"{ring}\"\n    password-file: {pw}"
            )
            .unwrap();
            if let Some(r) = &setup.ring_retention {
                writeln!(y, "    retention: {r}").unwrap();
            }
            if !setup.ring_options.is_empty() {
                writeln!(y, "    options:").unwrap();
                for o in &setup.ring_options {
                    writeln!(y, "      - \"{o}\"").unwrap();
                }
            }
        }
        if let Some((repo, mount)) = &setup.cold {
            writeln!(
                y,
                "  cold:\n    repository: {repo}\n    password-file: {pw}"
            )
            .unwrap();
            if let Some(m) = mount {
                writeln!(y, "    mount: {}", m.display()).unwrap();
            }
        }
        writeln!(y, "check:\n  cycle: {}", setup.cycle).unwrap();
        writeln!(y, "state-dir: {}", self.path("state").display()).unwrap();
        if let Some(url) = &setup.webhook {
            writeln!(y, "webhook:\n  url: {url}\n  on: [failed, degraded]").unwrap();
        }
        writeln!(y, "lock-wait-seconds: 20").unwrap();
        let file = self.path(name);
        std::fs::write(&file, y).unwrap();
        file
    }

    /// Runs the example with `--config config args…`.
    pub(crate) async fn runner(&self, config: &Path, args: &[&str]) -> Output {
        runner_raw(&[&["--config", config.to_str().unwrap()], args].concat()).await
    }

    /// The report file the runner writes.
    pub(crate) fn report(&self) -> serde_json::Value {
        let bytes = std::fs::read(self.path("state").join("report.json")).unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }
}

/// Runs the example with exactly `args`.
pub(crate) async fn runner_raw(args: &[&str]) -> Output {
    tokio::process::Command::new(binary())
        .args(args)
        .env("RUST_LOG", "info")
        .output()
        .await
        .unwrap()
}

/// Text of an output, for assertion messages.
pub(crate) fn text(out: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `restic snapshots --json` of `repo` (straight from restic, not through the runner).
pub(crate) fn snapshots(repo: &Path, password_file: &Path) -> Vec<serde_json::Value> {
    let out = std::process::Command::new("restic")
        .arg("--repo")
        .arg(repo)
        .arg("--password-file")
        .arg(password_file)
        .args(["snapshots", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Runs restic with `args` on `repo`, feeding `stdin`; panics on failure.
pub(crate) fn restic(repo: &Path, password_file: &Path, args: &[&str], stdin: &[u8]) {
    use std::io::Write;
    let mut child = std::process::Command::new("restic")
        .arg("--repo")
        .arg(repo)
        .arg("--password-file")
        .arg(password_file)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "restic {args:?}: {}", text(&out));
}

/// Tags of a snapshot as strings.
pub(crate) fn tags(snapshot: &serde_json::Value) -> Vec<String> {
    snapshot["tags"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|t| t.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Snapshots of `repo` tagged `kind:<kind>`.
pub(crate) fn count_kind(repo: &Path, password_file: &Path, kind: &str) -> usize {
    let tag = format!("kind:{kind}");
    snapshots(repo, password_file)
        .iter()
        .filter(|s| tags(s).contains(&tag))
        .count()
}

/// A folder with a `pg_dump` wrapper whose body is `body` (`$REAL` is the real pg_dump).
pub(crate) fn pg_dump_wrapper(dir: &Path, body: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let real = which("pg_dump");
    let bin = dir.join("wrapped-bin");
    std::fs::create_dir_all(&bin).unwrap();
    let script = bin.join("pg_dump");
    std::fs::write(
        &script,
        format!("#!/bin/sh\nREAL='{}'\n{body}\n", real.display()),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    bin
}

fn which(tool: &str) -> PathBuf {
    let out = std::process::Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .unwrap();
    let path = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert!(!path.is_empty(), "{tool} not on PATH");
    PathBuf::from(path)
}

/// Bytes under `dir`, recursively.
pub(crate) fn dir_size(dir: &Path) -> u64 {
    let mut total = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let meta = entry.metadata().unwrap();
        if meta.is_dir() {
            total += dir_size(&entry.path());
        } else {
            total += meta.len();
        }
    }
    total
}

/// A ring peer on loopback: `sshd` on a free 127.0.0.1 port whose only key may run one forced
/// command, `rclone serve restic --stdio --append-only <dir>`: the client can add to the
/// repository but not delete from it. Stopped on drop.
pub(crate) struct SshRing {
    sshd: std::process::Child,
    pub(crate) dir: PathBuf,
    /// `rclone.program` for restic: the ssh command reaching the forced command.
    pub(crate) program: String,
}

impl SshRing {
    pub(crate) fn start(base: &Path) -> SshRing {
        use std::process::Command;
        for tool in ["sshd", "ssh-keygen", "rclone"] {
            let found = Command::new("sh")
                .args([
                    "-c",
                    &format!("command -v {tool} || test -x /usr/sbin/{tool}"),
                ])
                .output()
                .unwrap();
            assert!(
                found.status.success(),
                "{tool} is missing: apt-get install -y openssh-server rclone"
            );
        }
        let root = base.join("ssh");
        let dir = base.join("ring-data");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::create_dir_all(&dir).unwrap();
        // sshd refuses to start without its privilege-separation folder.
        std::fs::create_dir_all("/run/sshd").unwrap();
        for key in ["host", "user"] {
            let out = Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-f"])
                .arg(root.join(key))
                .output()
                .unwrap();
            assert!(out.status.success(), "{}", text(&out));
        }
        let user_pub = std::fs::read_to_string(root.join("user.pub")).unwrap();
        std::fs::write(
            root.join("authorized_keys"),
            format!(
                "command=\"rclone serve restic --stdio --append-only {}\",restrict {}",
                dir.display(),
                user_pub.trim()
            ),
        )
        .unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let config = root.join("sshd_config");
        std::fs::write(
            &config,
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {r}/host\nAuthorizedKeysFile {r}/authorized_keys\n\
                 PidFile {r}/sshd.pid\nStrictModes no\nUsePAM no\nPasswordAuthentication no\n\
                 KbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\n",
                r = root.display()
            ),
        )
        .unwrap();
        let host_pub = std::fs::read_to_string(root.join("host.pub")).unwrap();
        std::fs::write(
            root.join("known_hosts"),
            format!("[127.0.0.1]:{port} {}", host_pub.trim()),
        )
        .unwrap();
        let sshd = Command::new("/usr/sbin/sshd")
            .arg("-D")
            .arg("-e")
            .arg("-f")
            .arg(&config)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Wait until it listens.
        let mut tries = 0;
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(tries < 100, "sshd did not start");
            std::thread::sleep(std::time::Duration::from_millis(50));
            tries += 1;
        }
        let user =
            String::from_utf8(Command::new("id").arg("-un").output().unwrap().stdout).unwrap();
        let program = format!(
            "ssh -p {port} -i {r}/user -o BatchMode=yes -o IdentitiesOnly=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile={r}/known_hosts {}@127.0.0.1",
            user.trim(),
            r = root.display()
        );
        SshRing { sshd, dir, program }
    }

    /// Runs restic on the ring through ssh; returns the output.
    pub(crate) fn restic(&self, password_file: &Path, args: &[&str]) -> Output {
        std::process::Command::new("restic")
            .args(["--repo", "rclone:ring", "--password-file"])
            .arg(password_file)
            .arg("--option")
            .arg(format!("rclone.program={}", self.program))
            .args(args)
            .output()
            .unwrap()
    }
}

impl Drop for SshRing {
    fn drop(&mut self) {
        let _ = self.sshd.kill();
        let _ = self.sshd.wait();
    }
}
