//! End-to-end tests of the frame-server example: the real binary in dev mode on loopback,
//! its own PostgreSQL in a temporary folder, driven over HTTP as an MCP client would.
#![allow(clippy::unwrap_used)]

mod frame_server_support;

use std::time::Duration;

use frame_server_support::{Client, Server, alive, ended, ephemeral_dirs, temp_dir};
use serde_json::json;
use sqlx::{ConnectOptions, Row};

#[tokio::test(flavor = "multi_thread")]
async fn users_of_two_customers_and_two_entities_see_only_their_own_data() {
    let root = temp_dir();
    let server = Server::start(root.path()).await;
    let mut alice = server.client("alice").await; // customer axe, entity axe
    let mut carol = server.client("carol").await; // customer axe, entity axe_research
    let mut bob = server.client("bob").await; // customer realchoice

    for (client, entity, customer) in [
        (&mut alice, "axe", "axe"),
        (&mut carol, "axe_research", "axe"),
        (&mut bob, "realchoice", "realchoice"),
    ] {
        let me = client.call("whoami", json!({})).await.ok();
        assert_eq!(me["entity"], entity);
        assert_eq!(me["customer"], customer);
    }

    // The same record id in three entities holds three different documents.
    for (client, who) in [
        (&mut alice, "alice"),
        (&mut carol, "carol"),
        (&mut bob, "bob"),
    ] {
        let put = client
            .call("records_put", json!({"id": "plan", "body": {"owner": who}}))
            .await
            .ok();
        assert_eq!(put["created"], true);
        assert_eq!(put["version"], 1);
    }
    alice
        .call(
            "records_put",
            json!({"id": "alice-only", "body": [1, 2, 3]}),
        )
        .await
        .ok();
    for (client, who) in [
        (&mut alice, "alice"),
        (&mut carol, "carol"),
        (&mut bob, "bob"),
    ] {
        let got = client.call("records_get", json!({"id": "plan"})).await.ok();
        assert_eq!(got["body"]["owner"], who);
    }
    for client in [&mut carol, &mut bob] {
        let err = client
            .call("records_get", json!({"id": "alice-only"}))
            .await
            .tool_error();
        assert!(err.contains("no record"), "{err}");
        let list = client.call("records_list", json!({})).await.ok();
        let ids: Vec<&str> = list["records"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["plan"]);
        let deleted = client
            .call("records_delete", json!({"id": "alice-only"}))
            .await
            .ok();
        assert_eq!(deleted["deleted"], false);
    }
    let mine = alice
        .call("records_get", json!({"id": "alice-only"}))
        .await
        .ok();
    assert_eq!(mine["body"], json!([1, 2, 3]));

    // Contacts: sealed PII, found by email only inside the entity.
    let created = alice
        .call(
            "contacts_create",
            json!({"name": "Minji Seo", "email": "Minji.Seo@Example.COM", "phone": "+82 10 5555 0101"}),
        )
        .await
        .ok();
    let contact_id = created["id"].as_str().unwrap().to_owned();
    let found = alice
        .call(
            "contacts_find_by_email",
            json!({"email": "minji.seo@example.com"}),
        )
        .await
        .ok();
    assert_eq!(found["contacts"][0]["name"], "Minji Seo");
    assert_eq!(found["contacts"][0]["phone"], "+82 10 5555 0101");
    let got = alice
        .call("contacts_get", json!({"id": contact_id}))
        .await
        .ok();
    assert_eq!(got["email"], "Minji.Seo@Example.COM");
    for client in [&mut carol, &mut bob] {
        let none = client
            .call(
                "contacts_find_by_email",
                json!({"email": "minji.seo@example.com"}),
            )
            .await
            .ok();
        assert_eq!(none["contacts"], json!([]));
        let err = client
            .call("contacts_get", json!({"id": contact_id}))
            .await
            .tool_error();
        assert!(err.contains("no contact"), "{err}");
    }

    // PII is not readable in the database: the raw columns hold ciphertext, and the audit
    // log holds no clear text of it either.
    let mut db = server.admin_db().connect().await.unwrap();
    let row = sqlx::query(
        "SELECT name_sealed, email_sealed, phone_sealed, email_index FROM ent_axe.contacts",
    )
    .fetch_one(&mut db)
    .await
    .unwrap();
    for column in ["name_sealed", "email_sealed", "phone_sealed", "email_index"] {
        let bytes: Vec<u8> = row.get(column);
        let text = String::from_utf8_lossy(&bytes).to_lowercase();
        for clear in ["minji", "seo", "example.com", "5555"] {
            assert!(!text.contains(clear), "{column} holds {clear:?} in clear");
        }
    }
    let audit: String =
        sqlx::query_scalar("SELECT string_agg(t::text, '|') FROM ent_axe.audit_log t")
            .fetch_one(&mut db)
            .await
            .unwrap();
    assert!(audit.contains("contacts_create"), "{audit}");
    assert!(!audit.to_lowercase().contains("minji"), "{audit}");

    // The admin of axe verifies axe's chain; the log records the calls above.
    let mut ada = server.client("ada").await;
    let verified = ada.call("audit_verify", json!({})).await.ok();
    assert_eq!(verified["intact"], true);
    assert_eq!(verified["entity"], "axe");
    assert!(verified["rows"].as_u64().unwrap() >= 8, "{verified}");
    let tail = ada.call("audit_tail", json!({"n": 5})).await.ok();
    assert_eq!(tail["events"].as_array().unwrap().len(), 5);
    // rita, realchoice's admin, sees realchoice's log only.
    let mut rita = server.client("rita").await;
    let theirs = rita.call("audit_verify", json!({})).await.ok();
    assert_eq!(theirs["entity"], "realchoice");
    assert_eq!(theirs["intact"], true);
}

#[tokio::test(flavor = "multi_thread")]
async fn admin_tools_are_refused_to_a_normal_user_with_a_scope_hint() {
    let root = temp_dir();
    let server = Server::start(root.path()).await;
    let mut alice = server.client("alice").await;
    let names = alice.tool_names().await;
    for tool in [
        "whoami",
        "records_put",
        "records_get",
        "records_list",
        "records_delete",
        "contacts_create",
        "contacts_get",
        "contacts_find_by_email",
    ] {
        assert!(
            names.iter().any(|n| n == tool),
            "{tool} missing in {names:?}"
        );
    }
    assert!(!names.iter().any(|n| n.starts_with("audit_")), "{names:?}");
    for tool in ["audit_verify", "audit_tail"] {
        let r = alice.call(tool, json!({})).await;
        assert_eq!(r.status, 403, "{}", r.body);
        let challenge = r.header("www-authenticate");
        assert!(challenge.contains("insufficient_scope"), "{challenge}");
        assert!(
            challenge.contains("api://frame-dev/Frame.Admin"),
            "{challenge}"
        );
    }
    let mut ada = server.client("ada").await;
    assert!(ada.tool_names().await.iter().any(|n| n == "audit_verify"));
}

#[tokio::test(flavor = "multi_thread")]
async fn restart_keeps_data_keys_and_tokens() {
    let root = temp_dir();
    let mut server = Server::start(root.path()).await;
    let token = server.token("bob").await;
    let mut bob = Client::new(&format!("{}/frame/mcp", server.base), Some(token.clone()));
    bob.initialize().await;
    bob.call("records_put", json!({"id": "kept", "body": {"n": 1}}))
        .await
        .ok();
    let contact = bob
        .call(
            "contacts_create",
            json!({"name": "Jiho Han", "email": "jiho@realchoice.co.kr"}),
        )
        .await
        .ok();
    let status = server.stop();
    assert!(
        status.success(),
        "graceful shutdown failed: {status}\n{}",
        server.log()
    );
    assert!(server.log().contains("shutting down"), "{}", server.log());

    let port = server.port;
    drop(server);
    let server = Server::start_on(root.path(), port).await;
    // The token minted before the restart still validates (key and issuer port kept), the
    // data is there, and the contact opens (master key kept).
    let mut bob = Client::new(&format!("{}/frame/mcp", server.base), Some(token));
    assert_eq!(bob.initialize().await.status, 200);
    let got = bob.call("records_get", json!({"id": "kept"})).await.ok();
    assert_eq!(got["body"], json!({"n": 1}));
    let opened = bob
        .call("contacts_get", json!({"id": contact["id"]}))
        .await
        .ok();
    assert_eq!(opened["name"], "Jiho Han");
    let verified = server
        .client("rita")
        .await
        .call("audit_verify", json!({}))
        .await
        .ok();
    assert_eq!(verified["intact"], true);
}

#[tokio::test(flavor = "multi_thread")]
async fn http_surface_inputs_pagination_and_expiry() {
    let root = temp_dir();
    let server = Server::start(root.path()).await;
    let http = reqwest::Client::new();

    let health = http
        .get(format!("{}/healthz", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let ready: serde_json::Value = http
        .get(format!("{}/readyz", server.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        ready["checks"],
        json!({"database": true, "keys": true, "migrations": true})
    );

    for path in [
        "/.well-known/oauth-protected-resource/frame/mcp",
        "/.well-known/oauth-protected-resource",
    ] {
        let meta: serde_json::Value = http
            .get(format!("{}{path}", server.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            meta["resource"],
            format!("{}/frame/mcp", server.base),
            "{path}"
        );
        assert_eq!(
            meta["scopes_supported"],
            json!(["api://frame-dev/mcp.access"])
        );
    }

    // No token: 401 with the metadata URL; a request id on every answer, a hostile one
    // replaced.
    let mut anonymous = Client::new(&format!("{}/frame/mcp", server.base), None);
    let r = anonymous.initialize().await;
    assert_eq!(r.status, 401);
    assert!(r.header("www-authenticate").contains("resource_metadata="));
    assert!(!r.header("x-request-id").is_empty());
    let r = anonymous
        .post(&json!({}), &[("x-request-id", "evil id; with spaces")])
        .await;
    assert_ne!(r.header("x-request-id"), "evil id; with spaces");
    let r = anonymous
        .post(&json!({}), &[("x-request-id", "proxy-42")])
        .await;
    assert_eq!(r.header("x-request-id"), "proxy-42");

    // The dev token endpoint refuses unknown users and silly lifetimes.
    for query in [
        "user=mallory",
        "",
        "user=alice&lifetime_secs=0",
        "user=alice&lifetime_secs=999999999",
    ] {
        let r = http
            .get(format!("{}/dev/token?{query}", server.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{query}");
    }

    // Inputs are validated with messages that name the argument.
    let mut alice = server.client("alice").await;
    let cases = [
        ("records_put", json!({"id": "has space", "body": 1}), "id"),
        (
            "records_put",
            json!({"id": "x".repeat(129), "body": 1}),
            "id",
        ),
        (
            "records_put",
            json!({"id": "big", "body": "y".repeat(70_000)}),
            "body",
        ),
        ("records_list", json!({"limit": 1000}), "limit"),
        (
            "records_list",
            json!({"cursor": "'; DROP TABLE records; --"}),
            "cursor",
        ),
        (
            "contacts_create",
            json!({"name": "A", "email": "not-an-email"}),
            "email",
        ),
        (
            "contacts_create",
            json!({"name": " ", "email": "a@b.co"}),
            "name",
        ),
        (
            "contacts_create",
            json!({"name": "A", "email": "a@b.co", "phone": "call me"}),
            "phone",
        ),
        ("contacts_get", json!({"id": "../../etc/passwd"}), "id"),
        ("audit_tail", json!({}), ""),
    ];
    for (tool, args, word) in cases {
        if tool == "audit_tail" {
            continue;
        }
        let err = alice.call(tool, args.clone()).await.tool_error();
        assert!(err.contains(word), "{tool} {args}: {err}");
    }
    let unknown_field = alice
        .call("records_get", json!({"id": "a", "entity": "realchoice"}))
        .await;
    let text = unknown_field.body.to_lowercase();
    assert!(
        text.contains("entity") || text.contains("unknown"),
        "{}",
        unknown_field.body
    );

    // Pagination: 5 records, pages of 2.
    for i in 0..5 {
        alice
            .call("records_put", json!({"id": format!("page-{i}"), "body": i}))
            .await
            .ok();
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut args = json!({"prefix": "page-", "limit": 2});
        if let Some(c) = &cursor {
            args["cursor"] = json!(c);
        }
        let page = alice.call("records_list", args).await.ok();
        for r in page["records"].as_array().unwrap() {
            seen.push(r["id"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, ["page-0", "page-1", "page-2", "page-3", "page-4"]);

    // A token that expires mid-session: the next request gets 401 (dev leeway is 5 s).
    let short = server.token_with("alice", 2).await;
    let mut client = Client::new(&format!("{}/frame/mcp", server.base), Some(short));
    assert_eq!(client.initialize().await.status, 200);
    client.call("whoami", json!({})).await.ok();
    tokio::time::sleep(Duration::from_secs(9)).await;
    let r = client.call("whoami", json!({})).await;
    assert_eq!(r.status, 401, "{}", r.body);
    assert!(r.header("www-authenticate").contains("invalid_token"));
}

fn postmaster_pid(dev_dir: &std::path::Path) -> String {
    let file = dev_dir.join("pg").join("data").join("postmaster.pid");
    let text = std::fs::read_to_string(&file).unwrap();
    text.lines().next().unwrap().trim().to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_stops_the_dev_postgres_and_ephemeral_mode_removes_its_folder() {
    // Default dev mode: Ctrl-C (SIGINT) stops the cluster it started; the data stays.
    let root = temp_dir();
    let mut server = Server::start(root.path()).await;
    let pid = postmaster_pid(&server.dev_dir);
    assert!(alive(&pid), "postmaster {pid} not running");
    let status = server.stop_with("INT");
    assert!(status.success(), "{status}\n{}", server.log());
    assert!(
        server.log().contains("dev PostgreSQL stopped"),
        "{}",
        server.log()
    );
    assert!(ended(&pid), "postmaster {pid} survived the server");
    let data = server.dev_dir.join("pg").join("data");
    assert!(!data.join("postmaster.pid").exists());
    assert!(data.join("PG_VERSION").exists(), "persistent data removed");
    drop(server);

    // --ephemeral: a working server in a temporary folder, gone after Ctrl-C.
    let mut server = Server::start_ephemeral(root.path()).await;
    let dir = server.dev_dir.clone();
    let pid = postmaster_pid(&dir);
    assert!(alive(&pid));
    let mut alice = server.client("alice").await;
    assert_eq!(alice.call("whoami", json!({})).await.ok()["entity"], "axe");
    let status = server.stop_with("INT");
    assert!(status.success(), "{status}\n{}", server.log());
    assert!(ended(&pid), "postmaster {pid} survived the server");
    assert!(!dir.exists(), "{} left behind", dir.display());
    assert!(ephemeral_dirs(root.path()).is_empty());
    assert!(
        server.log().contains("temporary dev folder removed"),
        "{}",
        server.log()
    );
}
