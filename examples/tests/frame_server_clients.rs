//! The frame server driven by the official MCP clients over loopback: the Python SDK (`mcp`
//! 2.3, legacy and auto mode) and the TypeScript SDK (1.32), as users of two customers. Each
//! client lists the tools, asks `whoami`, stores and reads a record, and is refused the other
//! customer's record; the test then finds each record in its own entity schema only.
//!
//! The clients are installed on first use (pip and npm reach their registries) into
//! `<target>/axe-tools/` (the same folder axe-mcp's client tests use), and reused afterwards.
#![allow(clippy::unwrap_used)]

mod frame_server_support;
#[path = "../../axe-mcp/tests/support/mcp_clients.rs"]
mod mcp_clients;

use std::path::Path;
use std::process::Command;

use frame_server_support::{Server, temp_dir};
use mcp_clients::{python_client, report, run, ts_client};
use serde_json::{Value, json};
use sqlx::ConnectOptions;

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

    let ts = ts_client(
        Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/frame_server_clients/ts_client.mjs"
        )),
        "frame_ts_client.mjs",
    );
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
    let axe = record_ids(&mut db, "ent_axe").await;
    assert_eq!(axe, "alice-secret,py-auto,py-legacy");
    let realchoice = record_ids(&mut db, "ent_realchoice").await;
    assert_eq!(realchoice, "bob-secret,ts-1");
}

/// The record ids in `schema` (a fixed name of this test), sorted, comma-separated.
async fn record_ids(db: &mut sqlx::PgConnection, schema: &str) -> String {
    let sql = format!("SELECT coalesce(string_agg(id, ',' ORDER BY id), '') FROM {schema}.records");
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .fetch_one(db)
        .await
        .unwrap()
}
