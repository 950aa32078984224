//! The endpoint over real HTTP on loopback: real tokens from a test issuer, a real
//! PostgreSQL, the 2025-11-25 transport spoken by a small JSON-RPC client.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use axe_audit::Outcome;
use axe_isolation::EntityId;
use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

fn tool_names(result: &Value) -> Vec<String> {
    result["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect()
}

async fn note_in(stack: &Stack, entity: &str, id: &str) -> Option<String> {
    let sql = format!("SELECT body FROM ent_{entity}.notes WHERE id = $1");
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(stack.db.owner_pool())
        .await
        .unwrap()
}

#[tokio::test]
async fn no_token_gets_401_with_resource_metadata() {
    let stack = stack().await;
    let mut client = stack.client(None);
    let reply = client.initialize().await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    let challenge = reply.headers["www-authenticate"].to_str().unwrap();
    assert!(challenge.starts_with("Bearer "), "{challenge}");
    assert!(
        challenge.contains(&format!(
            "resource_metadata=\"{}/.well-known/oauth-protected-resource/frame/mcp\"",
            stack.base
        )),
        "{challenge}"
    );
    // The metadata it points at is served, in the path form and the root form.
    for path in [
        "/.well-known/oauth-protected-resource/frame/mcp",
        "/.well-known/oauth-protected-resource",
    ] {
        let doc: Value = reqwest::get(format!("{}{path}", stack.base))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            doc["resource"],
            format!("{}/frame/mcp", stack.base),
            "{path}"
        );
        assert!(
            doc["authorization_servers"][0]
                .as_str()
                .unwrap()
                .starts_with(stack.issuer.authority())
        );
    }
}

#[tokio::test]
async fn a_tool_call_commits_its_effect_with_its_audit_row() {
    let stack = stack().await;
    let mut alice = stack.client(Some(stack.token_for(ALICE)));
    let init = alice.initialize().await;
    assert_eq!(init.status, StatusCode::OK, "{}", init.body);
    assert!(alice.session.is_some());

    let list = alice.request("tools/list", json!({})).await;
    assert_eq!(
        tool_names(&list.result()),
        ["explode", "notes_get", "notes_put"]
    );
    let put = &list.result()["tools"][2];
    assert_eq!(put["inputSchema"]["type"], "object");
    assert_eq!(put["annotations"]["idempotentHint"], true);
    assert!(put["outputSchema"]["properties"]["entity"].is_object());

    let reply = alice
        .call("notes_put", json!({"id": "n1", "body": "hello"}))
        .await;
    let result = reply.result();
    assert_eq!(result["isError"], false, "{result}");
    assert_eq!(
        result["structuredContent"],
        json!({"id": "n1", "entity": "axe"})
    );
    assert_eq!(note_in(&stack, "axe", "n1").await.as_deref(), Some("hello"));
    assert_eq!(note_in(&stack, "realchoice", "n1").await, None);

    let tail = stack
        .audit
        .tail(&EntityId::new("axe").unwrap(), 10)
        .await
        .unwrap();
    let last = tail.last().unwrap();
    assert_eq!(last.action, "mcp.tools/call:notes_put");
    assert_eq!(last.outcome, Outcome::Ok);
    assert_eq!(last.actor.oid.as_deref(), Some(ALICE));
    assert_eq!(last.session_id, alice.session);
    assert_eq!(last.target.as_ref().unwrap().id, "n1");
    assert_eq!(last.via.as_deref(), Some("tenant/default"));
    assert_eq!(last.source.ip.as_deref(), Some("127.0.0.1"));
    let digest = last.args_digest.as_deref().unwrap_or_default();
    assert!(!digest.is_empty() && !digest.contains("hello"));
    assert!(
        stack
            .audit
            .verify(&EntityId::new("axe").unwrap())
            .await
            .is_ok()
    );

    let got = alice.call("notes_get", json!({"id": "n1"})).await;
    assert_eq!(got.result()["structuredContent"], json!({"body": "hello"}));
}

#[tokio::test]
async fn another_users_or_an_unknown_session_gets_the_same_404() {
    let stack = stack().await;
    let mut alice = stack.client(Some(stack.token_for(ALICE)));
    alice.initialize().await;
    let alices = alice.session.clone().unwrap();

    let mut bob = stack.client(Some(stack.token_for(BOB)));
    bob.session = Some(alices.clone());
    let stolen = bob.call("notes_get", json!({"id": "n1"})).await;
    assert_eq!(stolen.status, StatusCode::NOT_FOUND);

    let mut ghost = stack.client(Some(stack.token_for(ALICE)));
    ghost.session = Some("00000000000000000000000000000000".into());
    let unknown = ghost.call("notes_get", json!({"id": "n1"})).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(stolen.body, unknown.body, "one answer for both");

    for hostile in ["", &"x".repeat(300)] {
        let mut h = stack.client(Some(stack.token_for(ALICE)));
        h.session = Some(hostile.to_owned());
        let r = h.call("notes_get", json!({"id": "n1"})).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{hostile:?}");
    }

    // Alice still has her session.
    let ok = alice.call("notes_get", json!({"id": "n1"})).await;
    assert_eq!(ok.status, StatusCode::OK);
}

#[tokio::test]
async fn delete_ends_the_session_and_its_binding() {
    let stack = stack().await;
    let mut alice = stack.client(Some(stack.token_for(ALICE)));
    alice.initialize().await;
    let mut del = alice
        .http
        .delete(&alice.url)
        .bearer_auth(alice.token.as_ref().unwrap());
    del = del
        .header("mcp-session-id", alice.session.as_ref().unwrap())
        .header("mcp-protocol-version", "2025-11-25");
    let deleted = alice.send(del).await;
    assert!(deleted.status.is_success(), "{}", deleted.status);
    let after = alice.call("notes_get", json!({"id": "n1"})).await;
    assert_eq!(after.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn protocol_and_origin_checks() {
    let stack = stack_with(|b| b.allowed_origins(["https://claude.ai"])).await;
    let mut alice = stack.client(Some(stack.token_for(ALICE)));
    alice.initialize().await;

    alice.protocol = "1999-01-01".into();
    let bad = alice.call("notes_get", json!({"id": "x"})).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.body);
    alice.protocol = "2025-11-25".into();

    let body = json!({"jsonrpc": "2.0", "id": 9, "method": "tools/list"});
    let foreign = alice
        .send(
            alice
                .post_raw(&body)
                .header("origin", "https://evil.example"),
        )
        .await;
    assert_eq!(foreign.status, StatusCode::FORBIDDEN, "{}", foreign.body);
    let allowed = alice
        .send(alice.post_raw(&body).header("origin", "https://claude.ai"))
        .await;
    assert_eq!(allowed.status, StatusCode::OK, "{}", allowed.body);
}

#[tokio::test]
async fn a_missing_scope_is_403_with_the_hint_before_any_transaction() {
    let stack = stack().await;
    let mut alice = stack.client(Some(stack.token_for(ALICE)));
    alice.initialize().await;
    let before = stack
        .audit
        .tail(&EntityId::new("axe").unwrap(), 100)
        .await
        .unwrap()
        .len();
    let refused = alice.call("admin_only", json!({})).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let challenge = refused.headers["www-authenticate"].to_str().unwrap();
    assert!(
        challenge.contains("error=\"insufficient_scope\""),
        "{challenge}"
    );
    assert!(challenge.contains(ADMIN_SCOPE), "{challenge}");
    assert!(challenge.contains("resource_metadata="), "{challenge}");
    let tail = stack
        .audit
        .tail(&EntityId::new("axe").unwrap(), 100)
        .await
        .unwrap();
    assert_eq!(tail.len(), before + 1);
    assert_eq!(
        tail.last().unwrap().outcome,
        Outcome::DeniedWith {
            code: "insufficient_scope".into()
        }
    );

    // An admin (app role) sees it listed and may call it.
    let admin_token = stack
        .issuer
        .token()
        .object_id(BOB)
        .roles(["Frame.Admin"])
        .mint();
    let mut admin = stack.client(Some(admin_token));
    admin.initialize().await;
    let list = admin.request("tools/list", json!({})).await;
    assert!(tool_names(&list.result()).contains(&"admin_only".to_owned()));
    let ok = admin.call("admin_only", json!({})).await;
    assert_eq!(ok.result()["isError"], false);
}

#[tokio::test]
async fn a_failing_or_panicking_tool_rolls_back_and_records_the_failure() {
    let stack = stack().await;
    let axe = EntityId::new("axe").unwrap();
    let mut alice = stack.client(Some(stack.token_for(ALICE)));
    alice.initialize().await;
    for (how, id, code, shown) in [
        ("fail", "f1", "boom", "the tool failed on purpose"),
        ("panic", "p1", "panic", "the tool failed"),
        ("internal", "i1", "internal", "the tool failed"),
    ] {
        let reply = alice.call("explode", json!({"id": id, "how": how})).await;
        let result = reply.result();
        assert_eq!(result["isError"], true, "{how}: {result}");
        let text = result["content"][0]["text"].as_str().unwrap();
        assert!(text.contains(shown), "{how}: {text}");
        assert!(!text.contains("secret") && !text.contains("12345") && !text.contains("panicked"));
        assert_eq!(
            note_in(&stack, "axe", id).await,
            None,
            "{how}: the write rolled back"
        );
        let last = stack.audit.tail(&axe, 1).await.unwrap().pop().unwrap();
        assert_eq!(last.action, "mcp.tools/call:explode");
        assert_eq!(last.outcome, Outcome::Error { code: code.into() }, "{how}");
    }
    // Invalid arguments: the tool does not run; the caller learns what is wrong.
    let bad = alice.call("notes_put", json!({"id": 5})).await;
    let result = bad.result();
    assert_eq!(result["isError"], true);
    assert!(
        result["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("invalid input")
    );
    assert_eq!(
        stack.audit.tail(&axe, 1).await.unwrap()[0].outcome,
        Outcome::InvalidInput
    );
    // The chain survived all of it.
    assert!(stack.audit.verify(&axe).await.is_ok());
    // And the session is still usable.
    let ok = alice
        .call("notes_put", json!({"id": "ok", "body": "b"}))
        .await;
    assert_eq!(ok.result()["isError"], false);
}

#[tokio::test]
async fn customers_see_only_their_own_entity() {
    let stack = stack().await;
    let mut alice = stack.client(Some(stack.token_for(ALICE)));
    alice.initialize().await;
    alice
        .call("notes_put", json!({"id": "same", "body": "axe data"}))
        .await;

    let other = stack
        .issuer
        .token()
        .tenant(other_tenant())
        .object_id("00000000-0000-4000-8000-0000000000c3")
        .mint();
    let mut carol = stack.client(Some(other));
    let init = carol.initialize().await;
    assert_eq!(init.status, StatusCode::OK, "{}", init.body);
    let got = carol.call("notes_get", json!({"id": "same"})).await;
    assert_eq!(got.result()["structuredContent"], json!({"body": null}));
    let put = carol
        .call("notes_put", json!({"id": "same", "body": "rc data"}))
        .await;
    assert_eq!(put.result()["structuredContent"]["entity"], "realchoice");
    assert_eq!(
        note_in(&stack, "axe", "same").await.as_deref(),
        Some("axe data")
    );
    assert_eq!(
        note_in(&stack, "realchoice", "same").await.as_deref(),
        Some("rc data")
    );

    // Carol cannot use Alice's session either (other customer).
    carol.session = alice.session.clone();
    assert_eq!(
        carol.call("notes_get", json!({"id": "same"})).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn an_expired_token_mid_session_gets_401() {
    let stack = stack().await;
    let short = stack
        .issuer
        .token()
        .object_id(ALICE)
        .issued_at(std::time::SystemTime::now() - Duration::from_secs(10))
        .lifetime(Duration::from_secs(12))
        .mint();
    let mut alice = stack.client(Some(short));
    assert_eq!(alice.initialize().await.status, StatusCode::OK);
    // The test validator has no leeway: 3 seconds later the token has expired.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let late = alice.call("notes_get", json!({"id": "x"})).await;
    assert_eq!(late.status, StatusCode::UNAUTHORIZED);
    assert!(
        late.headers["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("invalid_token")
    );
}

#[tokio::test]
async fn limits_answer_413_and_429() {
    let stack = stack_with(|b| b.max_body_bytes(4096).max_sessions_per_user(2)).await;
    let mut alice = stack.client(Some(stack.token_for(ALICE)));
    alice.initialize().await;
    let big = alice
        .call("notes_put", json!({"id": "big", "body": "x".repeat(5000)}))
        .await;
    assert_eq!(big.status, StatusCode::PAYLOAD_TOO_LARGE);

    let mut second = stack.client(Some(stack.token_for(ALICE)));
    assert_eq!(second.initialize().await.status, StatusCode::OK);
    let mut third = stack.client(Some(stack.token_for(ALICE)));
    let refused = third.initialize().await;
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(refused.headers.contains_key("retry-after"));
    // Another user is not affected.
    let mut bob = stack.client(Some(stack.token_for(BOB)));
    assert_eq!(bob.initialize().await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_session_continues_on_a_second_instance_sharing_the_postgres_store() {
    let db = axe_isolation::testing::TestDb::new().await.unwrap();
    let issuer = axe_auth::test_util::TestIssuer::start().await.unwrap();
    let isolation = isolation(&db).await;
    let store = pg_store(&db, Duration::from_secs(600)).await;
    let (first, _e1) = serve_with(|url| {
        builder(&issuer, &isolation, url)
            .session_store(store.clone())
            .build()
            .unwrap()
    })
    .await;
    let (second, _e2) = serve_with(|url| {
        builder(&issuer, &isolation, url)
            .session_store(store.clone())
            .build()
            .unwrap()
    })
    .await;

    let token = issuer.token().object_id(ALICE).mint();
    let mut alice = Client::new(&format!("{first}{PATH}"), Some(token.clone()));
    assert_eq!(alice.initialize().await.status, StatusCode::OK);
    let put = alice
        .call("notes_put", json!({"id": "n", "body": "from one"}))
        .await;
    assert_eq!(put.result()["isError"], false);

    // Same session id, other process.
    alice.url = format!("{second}{PATH}");
    let got = alice.call("notes_get", json!({"id": "n"})).await;
    assert_eq!(got.status, StatusCode::OK, "{}", got.body);
    assert_eq!(
        got.result()["structuredContent"],
        json!({"body": "from one"})
    );

    // Bob cannot take it over on either instance.
    let mut bob = Client::new(
        &format!("{second}{PATH}"),
        Some(issuer.token().object_id(BOB).mint()),
    );
    bob.session = alice.session.clone();
    assert_eq!(
        bob.call("notes_get", json!({"id": "n"})).await.status,
        StatusCode::NOT_FOUND
    );
    drop(db);
}

#[tokio::test]
async fn an_idle_session_expires_into_the_same_404() {
    let stack = stack_with(|b| b.idle_timeout(Duration::from_secs(1))).await;
    let mut alice = stack.client(Some(stack.token_for(ALICE)));
    alice.initialize().await;
    assert_eq!(
        alice.call("notes_get", json!({"id": "x"})).await.status,
        StatusCode::OK
    );
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let late = alice.call("notes_get", json!({"id": "x"})).await;
    assert_eq!(late.status, StatusCode::NOT_FOUND);
    // A new session works.
    alice.session = None;
    assert_eq!(alice.initialize().await.status, StatusCode::OK);
}

#[tokio::test]
async fn shutdown_ends_an_open_sse_stream() {
    let stack = stack().await;
    let mut alice = stack.client(Some(stack.token_for(ALICE)));
    alice.initialize().await;
    let res = alice
        .http
        .get(&alice.url)
        .bearer_auth(alice.token.as_ref().unwrap())
        .header("accept", "text/event-stream")
        .header("mcp-session-id", alice.session.as_ref().unwrap())
        .header("mcp-protocol-version", "2025-11-25")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let mut res = res;
    // The stream stays open while the server runs...
    let open = tokio::time::timeout(Duration::from_millis(500), async {
        while let Ok(Some(_)) = res.chunk().await {}
    })
    .await;
    assert!(open.is_err(), "the stream ended on its own");
    // ...and ends promptly once the endpoint shuts down.
    stack.endpoint.shutdown();
    let ended = tokio::time::timeout(Duration::from_secs(5), async {
        while let Ok(Some(_)) = res.chunk().await {}
    })
    .await;
    assert!(
        ended.is_ok(),
        "the SSE stream was still open 5 s after shutdown"
    );
}
