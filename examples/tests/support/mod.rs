//! Test harness for frame-proxy: small frame-like backends (each in its own process, so a
//! test can `kill -9` one), the proxy binary itself, and HTTP helpers. Loopback only.

#![allow(dead_code)]

pub(crate) mod backend;
pub(crate) mod raw;

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// HTTP/1.1 client of the tests.
pub(crate) type TestClient = Client<HttpConnector, Full<Bytes>>;

/// A pooled HTTP/1.1 client.
pub(crate) fn client() -> TestClient {
    Client::builder(TokioExecutor::new()).build_http()
}

/// An HTTP/2 prior-knowledge (h2c) client.
pub(crate) fn h2c_client() -> TestClient {
    Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build_http()
}

/// `target/<profile>/` of the running test binary.
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    // target/<profile>/deps/frame_proxy-<hash>
    exe.parent().unwrap().parent().unwrap().to_path_buf()
}

/// The built example binary.
pub(crate) fn proxy_bin() -> PathBuf {
    let bin = profile_dir().join("examples").join("frame-proxy");
    assert!(
        bin.exists(),
        "{} is missing: run `cargo test -p axe-examples` (it builds the examples) or `cargo build --example frame-proxy`",
        bin.display()
    );
    bin
}

/// Kills a child process for good when dropped.
pub(crate) struct Reaper(pub Child);

impl Drop for Reaper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A test backend process (see `backend.rs`).
pub(crate) struct Backend {
    pub(crate) port: u16,
    pub(crate) color: &'static str,
    process: Reaper,
}

/// Options of a backend process.
#[derive(Default, Clone)]
pub(crate) struct BackendOptions {
    /// Answer 401 without `resource_metadata` in the challenge.
    pub(crate) no_metadata: bool,
    /// Accept session ids of any color (a shared session store).
    pub(crate) shared_sessions: bool,
    /// Accepted bearer tokens (default: client-token, probe-secret).
    pub(crate) tokens: Option<String>,
}

impl Backend {
    /// Starts a backend of `color` in a child process of this test binary.
    pub(crate) fn start(color: &'static str, options: BackendOptions) -> Backend {
        let mut command = Command::new(std::env::current_exe().unwrap());
        command
            .args([
                "--exact",
                "backend_process",
                "--include-ignored",
                "--nocapture",
                "--test-threads",
                "1",
            ])
            .env("FP_BACKEND_COLOR", color)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        if options.no_metadata {
            command.env("FP_NO_METADATA", "1");
        }
        if options.shared_sessions {
            command.env("FP_SHARED_SESSIONS", "1");
        }
        if let Some(tokens) = &options.tokens {
            command.env("FP_TOKENS", tokens);
        }
        let mut child = command.spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let process = Reaper(child);
        let port = read_line_with(stdout, "BACKEND_PORT=", Duration::from_secs(20))
            .trim()
            .parse()
            .unwrap();
        Backend {
            port,
            color,
            process,
        }
    }

    /// `http://127.0.0.1:port`.
    pub(crate) fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `kill -9`.
    pub(crate) fn kill9(&mut self) {
        self.process.0.kill().unwrap();
        self.process.0.wait().unwrap();
    }

    /// Calls one of the backend's `/admin/...` switches directly.
    pub(crate) async fn admin(&self, path: &str) {
        let (status, _, _) = send(
            &client(),
            Method::POST,
            &format!("{}/admin/{path}", self.url()),
            &[],
            Bytes::new(),
        )
        .await
        .unwrap();
        assert_eq!(status, StatusCode::OK, "admin {path}");
    }
}

/// Reads lines of `pipe` in a thread until one contains `marker`; returns the text after it.
/// The rest of the pipe is drained in the background so the child never blocks on it.
fn read_line_with(pipe: impl Read + Send + 'static, marker: &str, limit: Duration) -> String {
    let (tx, rx) = std::sync::mpsc::channel();
    let wanted = marker.to_owned();
    std::thread::spawn(move || {
        let marker = wanted;
        let mut sent = false;
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            if !sent && let Some(pos) = line.find(&marker) {
                let _ = tx.send(line[pos + marker.len()..].to_owned());
                sent = true;
            }
        }
    });
    rx.recv_timeout(limit)
        .unwrap_or_else(|_| panic!("no line with {marker} within {limit:?}"))
}

/// A running frame-proxy.
pub(crate) struct Proxy {
    pub(crate) listen: String,
    pub(crate) control: String,
    pub(crate) active_at_start: String,
    pub(crate) log: PathBuf,
    process: Reaper,
}

impl Proxy {
    /// Starts the proxy in front of `blue` and `green` with its state in `dir`.
    pub(crate) fn start(dir: &Path, blue: &Backend, green: &Backend, extra: &[&str]) -> Proxy {
        Self::start_with_env(dir, blue, green, extra, &[])
    }

    /// Same, with environment variables.
    pub(crate) fn start_with_env(
        dir: &Path,
        blue: &Backend,
        green: &Backend,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Proxy {
        Self::start_urls(dir, &blue.url(), &green.url(), extra, env)
    }

    /// Starts the proxy in front of any two backend URLs.
    pub(crate) fn start_urls(
        dir: &Path,
        blue: &str,
        green: &str,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Proxy {
        let state = dir.join("state.json");
        let mut args: Vec<String> = vec![
            "run".into(),
            "--listen".into(),
            "127.0.0.1:0".into(),
            "--control".into(),
            "127.0.0.1:0".into(),
            "--blue".into(),
            blue.to_owned(),
            "--green".into(),
            green.to_owned(),
            "--state-file".into(),
            state.display().to_string(),
            "--ready-checks".into(),
            "2".into(),
            "--ready-interval-ms".into(),
            "10".into(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        let log = dir.join(format!("proxy-{}.log", std::process::id()));
        let log_file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap();
        let mut command = Command::new(proxy_bin());
        command
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log_file))
            .env("FRAME_PROXY_LOG", "debug");
        for (k, v) in env {
            command.env(k, v);
        }
        let mut child = command.spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let process = Reaper(child);
        let line = read_line_with(stdout, "frame-proxy listening on ", Duration::from_secs(20));
        // "<listen> control <control> active <color>"
        let words: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(words.len(), 5, "startup line: {line}");
        Proxy {
            listen: words[0].to_owned(),
            control: words[2].to_owned(),
            active_at_start: words[4].to_owned(),
            log,
            process,
        }
    }

    /// `http://listen/path`.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.listen)
    }

    /// Calls the control API; returns status and JSON.
    pub(crate) async fn control(
        &self,
        method: Method,
        path: &str,
    ) -> (StatusCode, serde_json::Value) {
        let (status, _, body) = send(
            &client(),
            method,
            &format!("http://{}{path}", self.control),
            &[],
            Bytes::new(),
        )
        .await
        .unwrap();
        (status, serde_json::from_slice(&body).unwrap())
    }

    /// `GET /status`.
    pub(crate) async fn status(&self) -> serde_json::Value {
        let (status, json) = self.control(Method::GET, "/status").await;
        assert_eq!(status, StatusCode::OK);
        json
    }

    /// `POST /swap`, asserting it succeeded.
    pub(crate) async fn swap_ok(&self) -> serde_json::Value {
        let (status, json) = self.control(Method::POST, "/swap").await;
        assert_eq!(status, StatusCode::OK, "swap: {json}");
        json
    }

    /// Waits until the drain of the last swap is over.
    pub(crate) async fn wait_drained(&self, limit: Duration) {
        let until = Instant::now() + limit;
        loop {
            if self.status().await["draining"].is_null() {
                return;
            }
            assert!(Instant::now() < until, "drain did not end within {limit:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// SIGTERM, then the exit status (within `limit`).
    pub(crate) fn terminate(&mut self, limit: Duration) -> std::process::ExitStatus {
        let pid = self.process.0.id().to_string();
        let ok = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(ok.success());
        let until = Instant::now() + limit;
        loop {
            if let Some(status) = self.process.0.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < until,
                "proxy did not exit within {limit:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Everything the proxy logged so far.
    pub(crate) fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap()
    }
}

/// Sends one request and reads the whole answer.
pub(crate) async fn send(
    client: &TestClient,
    method: Method,
    url: &str,
    headers: &[(&str, &str)],
    body: Bytes,
) -> Result<(StatusCode, HeaderMap, Bytes), String> {
    let mut request = Request::builder().method(method).uri(url);
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let request = request.body(Full::new(body)).map_err(|e| e.to_string())?;
    let response = tokio::time::timeout(Duration::from_secs(10), client.request(request))
        .await
        .map_err(|_| "timeout".to_string())?
        .map_err(|e| format!("{e:?}"))?;
    let (parts, body) = response.into_parts();
    let body = tokio::time::timeout(Duration::from_secs(10), body.collect())
        .await
        .map_err(|_| "body timeout".to_string())?
        .map_err(|e| format!("{e:?}"))?
        .to_bytes();
    Ok((parts.status, parts.headers, body))
}

/// The color header of a response.
pub(crate) fn color_of(headers: &HeaderMap) -> String {
    headers
        .get("x-frame-color")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned()
}

/// An MCP-ish JSON-RPC POST through the proxy.
pub(crate) async fn rpc(
    client: &TestClient,
    url: &str,
    method: &str,
    session: Option<&str>,
) -> Result<(StatusCode, HeaderMap, serde_json::Value), String> {
    let body = serde_json::json!({"jsonrpc": "2.0", "id": 7, "method": method, "params": {}});
    let mut headers = vec![
        ("content-type", "application/json"),
        ("authorization", "Bearer client-token"),
    ];
    if let Some(session) = session {
        headers.push(("mcp-session-id", session));
    }
    let (status, headers, body) = send(
        client,
        Method::POST,
        url,
        &headers,
        Bytes::from(body.to_string()),
    )
    .await?;
    let json = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
    Ok((status, headers, json))
}

/// How an SSE stream went.
#[derive(Debug, Default)]
pub(crate) struct SseOutcome {
    /// The `data:` payload of each complete event, in order.
    pub(crate) events: Vec<String>,
    /// The color header of the response.
    pub(crate) color: String,
    /// The body ended without an error.
    pub(crate) clean: bool,
    /// The bytes received end at an event boundary (no half event).
    pub(crate) at_boundary: bool,
    /// When the stream ended.
    pub(crate) ended_at: Option<Instant>,
}

/// Opens `url` as an SSE stream and reads it to its end (or `limit`), calling `on_event`
/// after each complete event.
pub(crate) async fn read_sse(
    client: &TestClient,
    url: &str,
    limit: Duration,
    mut on_event: impl FnMut(&str),
) -> Result<SseOutcome, String> {
    let request = Request::builder()
        .uri(url)
        .header("accept", "text/event-stream")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let response = tokio::time::timeout(Duration::from_secs(10), client.request(request))
        .await
        .map_err(|_| "timeout".to_string())?
        .map_err(|e| format!("{e:?}"))?;
    if response.status() != StatusCode::OK {
        return Err(format!("status {}", response.status()));
    }
    let mut outcome = SseOutcome {
        color: color_of(response.headers()),
        ..SseOutcome::default()
    };
    let mut body = response.into_body();
    let mut buffer = String::new();
    let until = tokio::time::Instant::now() + limit;
    loop {
        let frame = match tokio::time::timeout_at(until, body.frame()).await {
            Err(_) => return Err(format!("stream still open after {limit:?}")),
            Ok(None) => {
                outcome.clean = true;
                break;
            }
            Ok(Some(Err(e))) => {
                outcome.clean = false;
                let _ = e;
                break;
            }
            Ok(Some(Ok(frame))) => frame,
        };
        if let Ok(data) = frame.into_data() {
            buffer.push_str(std::str::from_utf8(&data).unwrap());
            while let Some(end) = buffer.find("\n\n") {
                let event: String = buffer.drain(..end + 2).collect();
                let data: Vec<&str> = event
                    .lines()
                    .filter_map(|l| l.strip_prefix("data: "))
                    .collect();
                let data = data.join("\n");
                on_event(&data);
                outcome.events.push(data);
            }
        }
    }
    outcome.at_boundary = buffer.is_empty();
    outcome.ended_at = Some(Instant::now());
    Ok(outcome)
}
