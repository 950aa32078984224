//! The frame server driven by the official MCP clients over loopback: the Python SDK (`mcp`
//! 2.3, legacy and auto mode) and the TypeScript SDK (1.32), as users of two customers. Each
//! client lists the tools, asks `whoami`, stores and reads a record, and is refused the other
//! customer's record; the test then finds each record in its own entity schema only.
//!
//! The clients are installed on first use (pip and npm reach their registries) into
//! `<target>/axe-tools/` (the same folder axe-mcp's client tests use), and reused afterwards.
#![allow(clippy::unwrap_used)]

mod frame_server_support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use frame_server_support::{Server, temp_dir};
use serde_json::{Value, json};
use sqlx::ConnectOptions;

const PY_MCP: &str = "mcp==2.3.0";
const TS_SDK: &str = "@modelcontextprotocol/sdk@1.32.2";

/// One installer at a time within this test binary.
static INSTALL: Mutex<()> = Mutex::new(());

/// `<target>/axe-tools`, next to the profile folders.
fn tools_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    // <target>/<profile>/deps/<test binary>
    exe.ancestors().nth(3).unwrap().join("axe-tools")
}

/// Installs into a fresh sibling folder, then renames it into place, so a crashed install
/// never leaves a half-filled folder that looks complete.
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
    if std::fs::rename(&staging, dir).is_err() {
        let _ = std::fs::remove_dir_all(&staging);
    }
}

fn run(cmd: &mut Command) -> String {
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

fn python_client() -> PathBuf {
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

fn ts_client() -> PathBuf {
    let dir = tools_dir().join("ts-sdk-1.32.2");
    install_once(&dir, |staging| {
        run(Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--silent", "--prefix"])
            .arg(staging)
            .arg(TS_SDK));
    });
    // ESM resolves packages from the script's own folder: run a copy placed beside them.
    std::fs::copy(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/frame_server_clients/ts_client.mjs"
        ),
        dir.join("frame_ts_client.mjs"),
    )
    .unwrap();
    dir
}

fn report(stdout: &str) -> Value {
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .unwrap_or_else(|| panic!("no report in {stdout:?}"));
    serde_json::from_str(line).unwrap()
}

fn check(report: &Value, entity: &str, customer: &str, own_id: &str, from: &str) {
    let tools: Vec<&str> = report["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    for tool in [
        "whoami",
        "records_put",
        "records_get",
        "contacts_find_by_email",
    ] {
        assert!(tools.contains(&tool), "{tool} missing from {tools:?}");
    }
    assert_eq!(report["whoami"]["entity"], entity, "{report}");
    assert_eq!(report["whoami"]["customer"], customer, "{report}");
    assert_eq!(report["put_error"], false, "{report}");
    assert_eq!(report["got"]["id"], own_id, "{report}");
    assert_eq!(report["got"]["body"], json!({ "from": from }), "{report}");
    assert_eq!(
        report["other_error"], true,
        "another entity's record was readable: {report}"
    );
    assert_eq!(
        report["bad_error"], true,
        "an empty id was accepted: {report}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn python_and_typescript_clients_of_two_customers_see_only_their_own_data() {
    let root = temp_dir();
    let server = Server::start(root.path()).await;
    let url = format!("{}/frame/mcp", server.base);
    // A record of each customer that the other one's client then asks for.
    let mut alice = server.client("alice").await; // customer axe, entity axe
    let mut bob = server.client("bob").await; // customer realchoice
    alice
        .call("records_put", json!({"id": "alice-secret", "body": 1}))
        .await
        .ok();
    bob.call("records_put", json!({"id": "bob-secret", "body": 2}))
        .await
        .ok();

    let py = python_client();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/frame_server_clients/python_client.py"
    );
    let alice_token = server.token("alice").await;
    for mode in ["legacy", "auto"] {
        let own = format!("py-{mode}");
        let out = run(Command::new("python3")
            .env("PYTHONPATH", &py)
            .arg(script)
            .args([&url, &alice_token, mode, &own, "bob-secret"]));
        check(&report(&out), "axe", "axe", &own, "python");
    }

    let ts = ts_client();
    let bob_token = server.token("bob").await;
    let out = run(Command::new("node")
        .current_dir(&ts)
        .arg("frame_ts_client.mjs")
        .args([&url, &bob_token, "ts-1", "alice-secret"]));
    check(
        &report(&out),
        "realchoice",
        "realchoice",
        "ts-1",
        "typescript",
    );

    // In the database each record is in its own entity's schema only.
    let mut db = server.admin_db().connect().await.unwrap();
    let axe: String = sqlx::query_scalar(
        "SELECT coalesce(string_agg(id, ',' ORDER BY id), '') FROM ent_axe.records",
    )
    .fetch_one(&mut db)
    .await
    .unwrap();
    assert_eq!(axe, "alice-secret,py-auto,py-legacy");
    let realchoice: String = sqlx::query_scalar(
        "SELECT coalesce(string_agg(id, ',' ORDER BY id), '') FROM ent_realchoice.records",
    )
    .fetch_one(&mut db)
    .await
    .unwrap();
    assert_eq!(realchoice, "bob-secret,ts-1");
}
