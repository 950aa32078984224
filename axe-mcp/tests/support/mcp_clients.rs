//! The official MCP clients for tests, installed on first use: the Python SDK (`mcp` 2.3,
//! with pip) and the TypeScript SDK (1.32, with npm), into `<target>/axe-tools/` and reused
//! afterwards. Shared by axe-mcp's client tests and the frame server's (the examples package
//! includes this file by path), so both test the same client versions.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use serde_json::Value;

/// The Python SDK, as pip names it.
const PY_MCP: &str = "mcp==2.3.0";
/// The TypeScript SDK, as npm names it.
const TS_SDK: &str = "@modelcontextprotocol/sdk@1.32.2";

/// One installer at a time within a test binary.
static INSTALL: Mutex<()> = Mutex::new(());

/// `<target>/axe-tools`, next to the profile folders.
fn tools_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    // <target>/<profile>/deps/<test binary>
    exe.ancestors().nth(3).unwrap().join("axe-tools")
}

/// Installs into a fresh sibling folder, then renames it into place: a crashed install never
/// leaves a half-filled folder that looks complete.
fn install_once(dir: &Path, install: impl FnOnce(&Path)) {
    let _guard = INSTALL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if dir.exists() {
        return;
    }
    let staging = dir.with_extension(format!("staging-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging).unwrap();
    install(&staging);
    std::fs::create_dir_all(dir.parent().unwrap()).unwrap();
    if std::fs::rename(&staging, dir).is_err() {
        // Another process got there first.
        let _ = std::fs::remove_dir_all(&staging);
    }
}

/// Runs `cmd`, panics with its output unless it exits 0, returns its stdout.
pub(crate) fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The Python packages folder (for `PYTHONPATH`).
pub(crate) fn python_client() -> PathBuf {
    let dir = tools_dir().join("python-mcp-2.3.0");
    install_once(&dir, |staging| {
        run(Command::new("python3")
            .args(["-m", "pip", "install", "--quiet"])
            .args(["--disable-pip-version-check", "--target"])
            .arg(staging)
            .arg(PY_MCP));
    });
    dir
}

/// The folder holding `node_modules` with the TypeScript SDK, with a copy of the client
/// script `script` placed in it as `name` (ESM resolves packages from the script's own
/// folder, so the script must run from there).
pub(crate) fn ts_client(script: &Path, name: &str) -> PathBuf {
    let dir = tools_dir().join("ts-sdk-1.32.2");
    install_once(&dir, |staging| {
        run(Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--silent", "--prefix"])
            .arg(staging)
            .arg(TS_SDK));
    });
    std::fs::copy(script, dir.join(name)).unwrap();
    dir
}

/// The last JSON object line a client script printed: its report.
pub(crate) fn report(stdout: &str) -> Value {
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .unwrap_or_else(|| panic!("no report in {stdout:?}"));
    serde_json::from_str(line).unwrap()
}
