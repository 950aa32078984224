//! Starts the built `frame-server` example binary in dev mode on a free loopback port with
//! its data folder in a temporary directory, and talks to it over HTTP: a small JSON-RPC
//! client for the 2025-11-25 Streamable HTTP transport (initialize, session id, SSE or JSON
//! replies).
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// How long a dev start (initdb on the first run, migrations) may take.
const START_TIMEOUT: Duration = Duration::from_secs(180);

/// `target/<profile>/examples/frame-server`, next to this test binary's `deps/` folder.
pub fn binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile = exe.parent().unwrap().parent().unwrap();
    let bin = profile.join("examples").join("frame-server");
    assert!(
        bin.exists(),
        "{} is missing: run `cargo test -p axe-examples` (it builds the examples)",
        bin.display()
    );
    bin
}

/// A free loopback port (bound, then released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A temporary folder the `postgres` OS user can traverse (the server runs as `postgres`
/// when the tests run as root).
pub fn temp_dir() -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("frame-server-test-")
        .tempdir()
        .unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o711)).unwrap();
    dir
}

/// The `frame-dev-*` folders directly under `root`.
pub fn ephemeral_dirs(root: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("frame-dev-"))
        })
        .collect()
}

/// Whether a process with this id is running (exists and is not a zombie).
pub fn alive(pid: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit(')')
            .next()
            .is_some_and(|rest| !rest.trim_start().starts_with('Z'))
    })
}

/// Waits up to 10 s for process `pid` to end (it removes its pid file just before exiting);
/// whether it did.
pub fn ended(pid: &str) -> bool {
    let started = Instant::now();
    while alive(pid) {
        if started.elapsed() > Duration::from_secs(10) {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    true
}

/// A running dev server.
pub struct Server {
    child: Option<Child>,
    pub port: u16,
    pub base: String,
    pub dev_dir: PathBuf,
    log: PathBuf,
    http: reqwest::Client,
}

impl Server {
    /// Starts dev mode with its data in `root/dev` on a free port, and waits for `/readyz`.
    pub async fn start(root: &Path) -> Self {
        Self::start_on(root, free_port()).await
    }

    pub async fn start_on(root: &Path, port: u16) -> Self {
        let dev_dir = root.join("dev");
        let mut command = Command::new(binary());
        command.arg("--dev-dir").arg(&dev_dir);
        Self::spawn(root, port, dev_dir, command).await
    }

    /// Starts `--ephemeral` dev mode with `TMPDIR=root`, so its temporary folder is the one
    /// folder `root/frame-dev-*` (found by `ephemeral_dir`).
    pub async fn start_ephemeral(root: &Path) -> Self {
        let mut command = Command::new(binary());
        command.arg("--ephemeral").env("TMPDIR", root);
        let mut server = Self::spawn(root, free_port(), PathBuf::new(), command).await;
        server.dev_dir = ephemeral_dirs(root)
            .into_iter()
            .next()
            .expect("no frame-dev-* folder");
        server
    }

    async fn spawn(root: &Path, port: u16, dev_dir: PathBuf, mut command: Command) -> Self {
        let log = root.join(format!("server-{port}-{}.log", now_ms()));
        let out = std::fs::File::create(&log).unwrap();
        let child = command
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .env_remove("DATABASE_URL")
            .env("RUST_LOG", "info,sqlx=warn,rmcp=warn")
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap();
        let mut server = Self {
            child: Some(child),
            port,
            base: format!("http://127.0.0.1:{port}"),
            dev_dir,
            log,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
        };
        server.wait_ready().await;
        server
    }

    async fn wait_ready(&mut self) {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("frame-server exited early ({status}):\n{}", self.log());
            }
            if let Ok(r) = self.http.get(format!("{}/readyz", self.base)).send().await
                && r.status() == 200
            {
                return;
            }
            assert!(
                started.elapsed() < START_TIMEOUT,
                "frame-server not ready after {START_TIMEOUT:?}:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Everything the server printed so far (stdout and stderr).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends SIGTERM and waits for the exit (the graceful shutdown has a deadline).
    pub fn stop(&mut self) -> ExitStatus {
        self.stop_with("TERM")
    }

    /// Sends `signal` (`TERM`, `INT`) and waits for the exit.
    pub fn stop_with(&mut self, signal: &str) -> ExitStatus {
        let mut child = self.child.take().expect("running");
        let _ = Command::new("kill")
            .args([&format!("-{signal}"), &child.id().to_string()])
            .status();
        let started = Instant::now();
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            if started.elapsed() > Duration::from_secs(60) {
                let _ = child.kill();
                panic!("frame-server ignored SIG{signal} for 60 s:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// A token for a sample user from the dev token endpoint.
    pub async fn token(&self, user: &str) -> String {
        self.token_with(user, 3600).await
    }

    pub async fn token_with(&self, user: &str, lifetime_secs: u64) -> String {
        let r = self
            .http
            .get(format!(
                "{}/dev/token?user={user}&lifetime_secs={lifetime_secs}",
                self.base
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let v: Value = r.json().await.unwrap();
        v["access_token"].as_str().unwrap().to_owned()
    }

    /// An initialized MCP client for `user`.
    pub async fn client(&self, user: &str) -> Client {
        let mut c = Client::new(
            &format!("{}/frame/mcp", self.base),
            Some(self.token(user).await),
        );
        let r = c.initialize().await;
        assert_eq!(r.status, 200, "{}", r.body);
        c
    }

    /// Connect options of the dev cluster's superuser (Unix socket in the dev folder).
    pub fn admin_db(&self) -> sqlx::postgres::PgConnectOptions {
        sqlx::postgres::PgConnectOptions::new()
            .socket(self.dev_dir.join("pg").join("sock"))
            .port(3700)
            .username("postgres")
            .database("frame")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.child.is_some() {
            let _ = self.stop();
        }
    }
}

fn now_ms() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis()
}

/// An HTTP reply.
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Reply {
    /// The JSON-RPC response in the body (plain JSON, or the SSE `data:` line with a result
    /// or an error).
    pub fn message(&self) -> Value {
        if let Ok(v) = serde_json::from_str::<Value>(&self.body) {
            return v;
        }
        self.body
            .lines()
            .filter_map(|l| l.strip_prefix("data:"))
            .filter_map(|d| serde_json::from_str::<Value>(d.trim()).ok())
            .find(|v| v.get("result").is_some() || v.get("error").is_some())
            .unwrap_or_else(|| panic!("no JSON-RPC response in {:?}", self.body))
    }

    /// The `result` of a successful tool call's `structuredContent`; panics on a tool error.
    pub fn ok(&self) -> Value {
        assert_eq!(self.status, 200, "{}", self.body);
        let result = &self.message()["result"];
        assert_eq!(result["isError"], json!(false), "tool failed: {result}");
        result["structuredContent"].clone()
    }

    /// The text of a tool error (`isError: true`).
    pub fn tool_error(&self) -> String {
        assert_eq!(self.status, 200, "{}", self.body);
        let result = &self.message()["result"];
        assert_eq!(result["isError"], json!(true), "tool succeeded: {result}");
        result["content"][0]["text"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    pub fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    }
}

/// A JSON-RPC client of the 2025-11-25 transport.
pub struct Client {
    http: reqwest::Client,
    url: String,
    pub token: Option<String>,
    pub session: Option<String>,
    next_id: u64,
}

impl Client {
    pub fn new(url: &str, token: Option<String>) -> Self {
        Self {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
            url: url.to_owned(),
            token,
            session: None,
            next_id: 1,
        }
    }

    pub async fn post(&self, body: &Value, extra: &[(&str, &str)]) -> Reply {
        let mut req = self
            .http
            .post(&self.url)
            .header("accept", "application/json, text/event-stream")
            .header("content-type", "application/json")
            .header("mcp-protocol-version", "2025-11-25")
            .body(body.to_string());
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        if let Some(s) = &self.session {
            req = req.header("mcp-session-id", s);
        }
        for (k, v) in extra {
            req = req.header(*k, *v);
        }
        let res = req.send().await.unwrap();
        Reply {
            status: res.status().as_u16(),
            headers: res.headers().clone(),
            body: res.text().await.unwrap(),
        }
    }

    pub async fn request(&mut self, method: &str, params: Value) -> Reply {
        let id = self.next_id;
        self.next_id += 1;
        self.post(
            &json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}),
            &[],
        )
        .await
    }

    pub async fn initialize(&mut self) -> Reply {
        let reply = self
            .request(
                "initialize",
                json!({
                    "protocolVersion": "2025-11-25",
                    "capabilities": {},
                    "clientInfo": {"name": "frame-server-tests", "version": "0"}
                }),
            )
            .await;
        if reply.status == 200 {
            self.session = reply
                .headers
                .get("mcp-session-id")
                .map(|v| v.to_str().unwrap().to_owned());
            let ack = self
                .post(
                    &json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
                    &[],
                )
                .await;
            assert_eq!(ack.status, 202, "{}", ack.body);
        }
        reply
    }

    pub async fn call(&mut self, tool: &str, args: Value) -> Reply {
        self.request("tools/call", json!({"name": tool, "arguments": args}))
            .await
    }

    /// The names of the tools `tools/list` shows this caller.
    pub async fn tool_names(&mut self) -> Vec<String> {
        let r = self.request("tools/list", json!({})).await;
        assert_eq!(r.status, 200, "{}", r.body);
        r.message()["result"]["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_owned())
            .collect()
    }
}
