//! The endpoint driven by the official MCP clients over loopback: the Python SDK (`mcp` 2.3,
//! legacy and auto mode) and the TypeScript SDK (1.32). Each lists the tools, calls one, and
//! the test then finds the effect in the entity schema and its row in the audit log.
//!
//! The clients are installed on first use (pip and npm reach their registries) into
//! `<target>/axe-tools/`, and reused afterwards.
#![allow(clippy::unwrap_used)]

mod common;
#[path = "support/mcp_clients.rs"]
mod mcp_clients;

use std::path::Path;
use std::process::Command;

use axe_audit::Outcome;
use axe_isolation::EntityId;
use common::*;
use mcp_clients::{python_client, report, run, ts_client};
use serde_json::{Value, json};

async fn check_effect(stack: &Stack, note: &str, body: &str) {
    let sql = "SELECT body FROM ent_axe.notes WHERE id = $1";
    let stored: Option<String> = sqlx::query_scalar(sql)
        .bind(note)
        .fetch_optional(stack.db.owner_pool())
        .await
        .unwrap();
    assert_eq!(stored.as_deref(), Some(body));
    let events = stack
        .audit
        .query(
            &EntityId::new("axe").unwrap(),
            &axe_audit::Query::new().action("mcp.tools/call:notes_put"),
        )
        .await
        .unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.outcome == Outcome::Ok && e.target.as_ref().is_some_and(|t| t.id == note)),
        "no audit row for {note}"
    );
    assert!(
        stack
            .audit
            .verify(&EntityId::new("axe").unwrap())
            .await
            .is_ok()
    );
}

fn expect_report(report: &Value, note: &str, body: &str) {
    assert_eq!(
        report["tools"],
        json!(["explode", "notes_get", "notes_put"]),
        "{report}"
    );
    assert_eq!(
        report["put"],
        json!({"id": note, "entity": "axe"}),
        "{report}"
    );
    assert_eq!(report["put_error"], false);
    assert_eq!(report["got"], json!({"body": body}), "{report}");
    assert_eq!(report["bad_error"], true, "{report}");
}

#[tokio::test(flavor = "multi_thread")]
async fn python_client_legacy_and_auto_mode() {
    let packages = tokio::task::spawn_blocking(python_client).await.unwrap();
    let stack = stack().await;
    let url = format!("{}{PATH}", stack.base);
    for mode in ["legacy", "auto"] {
        let note = format!("py-{mode}");
        let token = stack.token_for(ALICE);
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/clients/python_client.py"
        );
        let packages = packages.clone();
        let (url, note2) = (url.clone(), note.clone());
        let stdout = tokio::task::spawn_blocking(move || {
            run(Command::new("python3")
                .arg(script)
                .args([url.as_str(), token.as_str(), mode, note2.as_str()])
                .env("PYTHONPATH", &packages))
        })
        .await
        .unwrap();
        let body = format!("from python {mode}");
        let report = report(&stdout);
        expect_report(&report, &note, &body);
        // legacy negotiates the handshake era; auto discovers the stateless 2026-07-28 era.
        let expected = if mode == "legacy" {
            "2025-11-25"
        } else {
            "2026-07-28"
        };
        assert_eq!(report["protocol"], expected, "{report}");
        if mode == "auto" {
            // The list depends on the caller's roles: it must not be cached for others.
            assert_eq!(report["tools_cache_scope"], "private", "{report}");
        }
        check_effect(&stack, &note, &body).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn typescript_client() {
    let dir = tokio::task::spawn_blocking(|| {
        ts_client(
            Path::new(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/clients/ts_client.mjs"
            )),
            "ts_client.mjs",
        )
    })
    .await
    .unwrap();
    let stack = stack().await;
    let url = format!("{}{PATH}", stack.base);
    let token = stack.token_for(ALICE);
    let stdout = tokio::task::spawn_blocking(move || {
        run(Command::new("node").arg(dir.join("ts_client.mjs")).args([
            url.as_str(),
            token.as_str(),
            "ts-1",
        ]))
    })
    .await
    .unwrap();
    let report = report(&stdout);
    expect_report(&report, "ts-1", "from typescript");
    assert!(
        report["session"].is_string(),
        "the TS client used a session: {report}"
    );
    check_effect(&stack, "ts-1", "from typescript").await;
}
