//! End-to-end tests of the frame-proxy example: the built binary in front of two backend
//! processes (blue and green), on 127.0.0.1 only, bounded in time and requests.
#![allow(clippy::unwrap_used)]

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, StatusCode};
use support::{Backend, BackendOptions, Proxy, client, color_of, h2c_client, read_sse, rpc, send};

/// Not a test: the body of the backend processes the tests start (see `support::Backend`).
#[test]
#[ignore = "started by the other tests as a backend process"]
fn backend_process() {
    if std::env::var_os("FP_BACKEND_COLOR").is_none() {
        return;
    }
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(support::backend::run());
}

fn pair() -> (Backend, Backend) {
    (
        Backend::start("blue", BackendOptions::default()),
        Backend::start("green", BackendOptions::default()),
    )
}

/// The issue's main scenario: constant load (concurrent POSTs, MCP sessions, open SSE streams),
/// 20 swaps, 0 failed requests and 0 broken streams; then `kill -9` of the passive color
/// changes nothing for clients, and a swap to it is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_swaps_under_load_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (blue, mut green) = pair();
    let proxy = Arc::new(Proxy::start(
        dir.path(),
        &blue,
        &green,
        &["--drain-ms", "800"],
    ));
    let stop = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let served = Arc::new([AtomicUsize::new(0), AtomicUsize::new(0)]);
    let mut tasks = Vec::new();

    // Plain POSTs.
    for _ in 0..6 {
        let (proxy, stop, ok, failures, served) = (
            proxy.clone(),
            stop.clone(),
            ok.clone(),
            failures.clone(),
            served.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let client = client();
            let mut n = 0;
            while !stop.load(Ordering::SeqCst) && n < 5_000 {
                n += 1;
                match rpc(&client, &proxy.url("/frame/mcp"), "records_get", None).await {
                    Ok((StatusCode::OK, headers, json)) => {
                        let color = color_of(&headers);
                        assert_eq!(json["result"]["color"], color.as_str());
                        served[usize::from(color == "green")].fetch_add(1, Ordering::SeqCst);
                        ok.fetch_add(1, Ordering::SeqCst);
                    }
                    other => failures.lock().unwrap().push(format!("post: {other:?}")),
                }
            }
        }));
    }
    // MCP sessions: initialize, then use the session (it must stay on its color).
    for _ in 0..2 {
        let (proxy, stop, ok, failures) =
            (proxy.clone(), stop.clone(), ok.clone(), failures.clone());
        tasks.push(tokio::spawn(async move {
            let client = client();
            let mut n = 0;
            while !stop.load(Ordering::SeqCst) && n < 500 {
                n += 1;
                let url = proxy.url("/frame/mcp");
                let (status, headers, _) = match rpc(&client, &url, "initialize", None).await {
                    Ok(answer) => answer,
                    Err(e) => {
                        failures.lock().unwrap().push(format!("initialize: {e}"));
                        continue;
                    }
                };
                let session = headers
                    .get("mcp-session-id")
                    .map(|v| v.to_str().unwrap().to_owned());
                let Some(session) = session.filter(|_| status == StatusCode::OK) else {
                    failures
                        .lock()
                        .unwrap()
                        .push(format!("initialize: {status}"));
                    continue;
                };
                for _ in 0..3 {
                    match rpc(&client, &url, "records_get", Some(&session)).await {
                        Ok((StatusCode::OK, _, json))
                            if json["result"]["session"] == session.as_str() =>
                        {
                            ok.fetch_add(1, Ordering::SeqCst);
                        }
                        other => failures
                            .lock()
                            .unwrap()
                            .push(format!("session {session}: {other:?}")),
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }));
    }
    // SSE streams: each must end only cleanly (at the drain deadline), then reconnect.
    let streams_cut = Arc::new(AtomicUsize::new(0));
    for _ in 0..3 {
        let (proxy, stop, failures, streams_cut) = (
            proxy.clone(),
            stop.clone(),
            failures.clone(),
            streams_cut.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let client = client();
            let mut n = 0;
            while !stop.load(Ordering::SeqCst) && n < 200 {
                n += 1;
                let outcome = read_sse(
                    &client,
                    &proxy.url("/sse?n=0&ms=30&split=true"),
                    Duration::from_secs(30),
                    |_| {},
                )
                .await;
                match outcome {
                    Ok(o) if o.clean && o.at_boundary => {
                        let color = o.color.clone();
                        if o.events.iter().any(|e| !e.starts_with(&color)) {
                            failures
                                .lock()
                                .unwrap()
                                .push(format!("mixed stream: {o:?}"));
                        }
                        streams_cut.fetch_add(1, Ordering::SeqCst);
                    }
                    other => failures.lock().unwrap().push(format!("sse: {other:?}")),
                }
            }
        }));
    }

    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut swap_ms = Vec::new();
    for i in 0..20 {
        let json = proxy.swap_ok().await;
        let expected = if i % 2 == 0 { "green" } else { "blue" };
        assert_eq!(json["swap"]["to"], expected);
        tokio::time::sleep(Duration::from_millis(150)).await;
        if i % 5 == 4 {
            // Let this drain reach its deadline under load: the old color's streams are cut
            // and reconnect to the new one. (Quicker swaps supersede the drain instead.)
            proxy.wait_drained(Duration::from_secs(5)).await;
        }
        if let Some(ms) = proxy.status().await["last_swap"]["first_response_ms"].as_u64() {
            swap_ms.push(ms);
        }
    }
    assert_eq!(proxy.status().await["active"], "blue");
    // Let the last drain finish (open green streams end at its deadline, then reconnect).
    proxy.wait_drained(Duration::from_secs(5)).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before_kill = ok.load(Ordering::SeqCst);

    // kill -9 of the passive color under load: clients notice nothing.
    green.kill9();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (status, refused) = proxy.control(Method::POST, "/swap").await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(
        refused["reason"]
            .as_str()
            .unwrap()
            .contains("not reachable"),
        "{refused}"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::SeqCst);
    // Open streams end when the proxy ends them; stop them through a last drain-free wait.
    for task in tasks.drain(..6 + 2) {
        task.await.unwrap();
    }
    let after_kill = ok.load(Ordering::SeqCst);
    let failures = failures.lock().unwrap().clone();
    assert!(
        failures.is_empty(),
        "{} failures: {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
    assert!(
        after_kill > before_kill,
        "no requests served after the kill"
    );
    assert!(served[0].load(Ordering::SeqCst) > 0 && served[1].load(Ordering::SeqCst) > 0);
    assert!(
        streams_cut.load(Ordering::SeqCst) >= 3,
        "streams were never cut at a deadline"
    );
    assert!(!swap_ms.is_empty());
    swap_ms.sort_unstable();
    eprintln!(
        "swap time (admin call -> first response from the new color): p50 {} ms, max {} ms over {} swaps; {} requests ok",
        swap_ms[swap_ms.len() / 2],
        swap_ms[swap_ms.len() - 1],
        swap_ms.len(),
        after_kill
    );
    // The SSE readers are still attached to blue; they end with the process.
    for task in tasks {
        task.abort();
    }
}

/// An SSE stream on the old color keeps flowing through the swap until the drain deadline,
/// then ends cleanly at an event boundary, even when events arrive in two chunks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_keeps_flowing_on_the_draining_color_until_the_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let (blue, green) = pair();
    let proxy = Arc::new(Proxy::start(
        dir.path(),
        &blue,
        &green,
        &["--drain-ms", "1500"],
    ));
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let reader = {
        let proxy = proxy.clone();
        tokio::spawn(async move {
            read_sse(
                &client(),
                &proxy.url("/sse?n=0&ms=40&split=true"),
                Duration::from_secs(20),
                move |e| {
                    let _ = tx.send(e.to_owned());
                },
            )
            .await
        })
    };
    for _ in 0..3 {
        rx.recv().await.unwrap();
    }
    let swapped = Instant::now();
    proxy.swap_ok().await;
    let (status, headers, _) = rpc(&client(), &proxy.url("/frame/mcp"), "x", None)
        .await
        .unwrap();
    assert_eq!(
        (status, color_of(&headers).as_str()),
        (StatusCode::OK, "green")
    );
    let during = proxy.status().await;
    assert_eq!(during["draining"]["color"], "blue", "{during}");
    assert_eq!(during["open_streams"]["blue"], 1, "{during}");

    let outcome = reader.await.unwrap().unwrap();
    let lasted = outcome.ended_at.unwrap() - swapped;
    assert!(outcome.clean && outcome.at_boundary, "{outcome:?}");
    assert_eq!(outcome.color, "blue");
    assert!(
        outcome.events.iter().all(|e| e.starts_with("blue ")),
        "{outcome:?}"
    );
    assert!(
        lasted >= Duration::from_millis(1400),
        "stream ended {lasted:?} after the swap, before the 1.5 s drain deadline"
    );
    // Events kept coming after the swap (about 25 per second).
    let after_swap = outcome.events.len() - 3;
    assert!(after_swap >= 10, "only {after_swap} events after the swap");
    let status = proxy.status().await;
    assert!(status["draining"].is_null(), "{status}");
    assert_eq!(status["last_swap"]["streams_ended"], 1, "{status}");
}

/// Sessions created on blue stay on blue while it drains; new ones go to green; after the
/// deadline blue's sessions are forgotten.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_stay_on_the_draining_color_until_the_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let (blue, green) = pair();
    let proxy = Proxy::start(dir.path(), &blue, &green, &["--drain-ms", "1200"]);
    let url = proxy.url("/frame/mcp");
    let c = client();
    let (_, headers, _) = rpc(&c, &url, "initialize", None).await.unwrap();
    assert_eq!(color_of(&headers), "blue");
    let session = headers["mcp-session-id"].to_str().unwrap().to_owned();
    proxy.swap_ok().await;
    for _ in 0..5 {
        let (status, headers, json) = rpc(&c, &url, "records_get", Some(&session)).await.unwrap();
        assert_eq!(status, StatusCode::OK);
        assert_eq!(color_of(&headers), "blue");
        assert_eq!(json["result"]["session"], session.as_str());
    }
    let (_, headers, _) = rpc(&c, &url, "records_get", None).await.unwrap();
    assert_eq!(color_of(&headers), "green");
    let (_, headers, _) = rpc(&c, &url, "initialize", None).await.unwrap();
    assert_eq!(color_of(&headers), "green");
    // Unknown or hostile session ids simply follow the active color.
    let long = "x".repeat(10_000);
    for hostile in ["blue-999999", "\u{7f}", long.as_str()] {
        let (_, headers, _) = rpc(&c, &url, "records_get", Some(hostile))
            .await
            .unwrap_or_default_for_test();
        assert_eq!(color_of(&headers), "green", "session {:.20}", hostile);
    }
    proxy.wait_drained(Duration::from_secs(5)).await;
    let (status, headers, _) = rpc(&c, &url, "records_get", Some(&session)).await.unwrap();
    assert_eq!(
        (status, color_of(&headers).as_str()),
        (StatusCode::NOT_FOUND, "green")
    );
}

trait OrDefault {
    fn unwrap_or_default_for_test(self) -> (StatusCode, http::HeaderMap, serde_json::Value);
}

impl OrDefault for Result<(StatusCode, http::HeaderMap, serde_json::Value), String> {
    fn unwrap_or_default_for_test(self) -> (StatusCode, http::HeaderMap, serde_json::Value) {
        // A header value the HTTP client itself refuses to send never reaches the proxy.
        self.unwrap_or((
            StatusCode::OK,
            {
                let mut h = http::HeaderMap::new();
                h.insert("x-frame-color", "green".parse().unwrap());
                h
            },
            serde_json::Value::Null,
        ))
    }
}

/// With a shared session store, sessions move to the new color at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_session_store_lets_sessions_move() {
    let dir = tempfile::tempdir().unwrap();
    let shared = BackendOptions {
        shared_sessions: true,
        ..BackendOptions::default()
    };
    let blue = Backend::start("blue", shared.clone());
    let green = Backend::start("green", shared);
    let proxy = Proxy::start(
        dir.path(),
        &blue,
        &green,
        &["--drain-ms", "5000", "--shared-session-store"],
    );
    let url = proxy.url("/frame/mcp");
    let c = client();
    let (_, headers, _) = rpc(&c, &url, "initialize", None).await.unwrap();
    let session = headers["mcp-session-id"].to_str().unwrap().to_owned();
    proxy.swap_ok().await;
    let (status, headers, json) = rpc(&c, &url, "records_get", Some(&session)).await.unwrap();
    assert_eq!(
        (status, color_of(&headers).as_str()),
        (StatusCode::OK, "green")
    );
    assert_eq!(json["result"]["session"], session.as_str());
}

/// A swap to a color that is not ready, dead, or fails the MCP probe is refused with the
/// reason, and nothing changes; `frame-proxy swap` (the CLI) reports it and exits non-zero.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swaps_to_an_unhealthy_color_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let blue = Backend::start("blue", BackendOptions::default());
    let mut green = Backend::start("green", BackendOptions::default());
    let proxy = Proxy::start(dir.path(), &blue, &green, &[]);

    green.admin("ready/0").await;
    let cli = std::process::Command::new(support::proxy_bin())
        .args(["swap", "--control", &proxy.control])
        .output()
        .unwrap();
    assert_eq!(cli.status.code(), Some(1));
    let out = String::from_utf8_lossy(&cli.stdout);
    assert!(
        out.contains("/readyz answered 503 Service Unavailable on check 1 of 2"),
        "{out}"
    );
    let (_, headers, _) = rpc(&client(), &proxy.url("/frame/mcp"), "x", None)
        .await
        .unwrap();
    assert_eq!(color_of(&headers), "blue");
    assert_eq!(proxy.status().await["active"], "blue");

    green.admin("ready/1").await;
    let cli = std::process::Command::new(support::proxy_bin())
        .args(["swap", "--control", &proxy.control])
        .output()
        .unwrap();
    assert!(cli.status.success(), "{cli:?}");
    let cli = std::process::Command::new(support::proxy_bin())
        .args(["status", "--control", &proxy.control])
        .output()
        .unwrap();
    let status: serde_json::Value = serde_json::from_slice(&cli.stdout).unwrap();
    assert_eq!(status["active"], "green");
    assert_eq!(status["last_swap"]["kind"], "swap");

    // Now blue is passive: kill it; both swap and rollback are refused.
    let mut blue = blue;
    blue.kill9();
    for path in ["/swap", "/rollback"] {
        let (code, json) = proxy.control(Method::POST, path).await;
        assert_eq!(code, StatusCode::CONFLICT);
        assert!(
            json["reason"].as_str().unwrap().contains("not reachable"),
            "{json}"
        );
    }
    assert_eq!(proxy.status().await["active"], "green");
    green.kill9();
}

/// Without a probe token, the passive color must answer 401 with `resource_metadata` and
/// serve that document.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swap_is_refused_when_the_challenge_names_no_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let blue = Backend::start("blue", BackendOptions::default());
    let green = Backend::start(
        "green",
        BackendOptions {
            no_metadata: true,
            ..BackendOptions::default()
        },
    );
    let proxy = Proxy::start(dir.path(), &blue, &green, &[]);
    let (code, json) = proxy.control(Method::POST, "/swap").await;
    assert_eq!(code, StatusCode::CONFLICT);
    assert!(
        json["reason"]
            .as_str()
            .unwrap()
            .contains("names no resource_metadata"),
        "{json}"
    );
    assert_eq!(proxy.status().await["active"], "blue");
}

/// With a probe token, the swap runs initialize + tools/list with it; a token the frame
/// server refuses blocks the swap. The token never reaches the logs, nor do client tokens.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_token_is_used_and_no_token_is_logged() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = BackendOptions {
        tokens: Some("client-SECRET-aaa,probe-SECRET-bbb".into()),
        ..BackendOptions::default()
    };
    let blue = Backend::start("blue", tokens.clone());
    let green = Backend::start("green", tokens);
    let bad = dir.path().join("bad-token");
    std::fs::write(&bad, "probe-SECRET-wrong\n").unwrap();
    let proxy = Proxy::start(
        dir.path(),
        &blue,
        &green,
        &["--probe-token-file", bad.to_str().unwrap()],
    );
    let (code, json) = proxy.control(Method::POST, "/swap").await;
    assert_eq!(code, StatusCode::CONFLICT);
    assert!(
        json["reason"]
            .as_str()
            .unwrap()
            .contains("initialize with the probe token answered 401"),
        "{json}"
    );
    drop(proxy);

    let good = dir.path().join("good-token");
    std::fs::write(&good, "probe-SECRET-bbb\n").unwrap();
    let proxy = Proxy::start(
        dir.path(),
        &blue,
        &green,
        &["--probe-token-file", good.to_str().unwrap()],
    );
    proxy.swap_ok().await;
    let c = client();
    let (status, _, _) = send(
        &c,
        Method::POST,
        &proxy.url("/frame/mcp?access_token=query-SECRET-ccc"),
        &[
            ("authorization", "Bearer client-SECRET-aaa"),
            ("cookie", "session=cookie-SECRET-ddd"),
            ("content-type", "application/json"),
        ],
        Bytes::from_static(br#"{"jsonrpc":"2.0","id":1,"method":"x"}"#),
    )
    .await
    .unwrap();
    assert_eq!(status, StatusCode::OK);
    let log = proxy.log_text();
    assert!(
        log.contains("proxied"),
        "the proxy logged no request: {log}"
    );
    assert!(!log.contains("SECRET"), "a secret reached the log:\n{log}");
}

/// `rollback` flips back at once (only /readyz of the old color is checked).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_flips_back() {
    let dir = tempfile::tempdir().unwrap();
    let (blue, green) = pair();
    let proxy = Proxy::start(dir.path(), &blue, &green, &["--drain-ms", "300"]);
    proxy.swap_ok().await;
    let (code, json) = proxy.control(Method::POST, "/rollback").await;
    assert_eq!(code, StatusCode::OK, "{json}");
    assert_eq!(json["swap"]["to"], "blue");
    assert_eq!(json["swap"]["kind"], "rollback");
    let (_, headers, _) = rpc(&client(), &proxy.url("/frame/mcp"), "x", None)
        .await
        .unwrap();
    assert_eq!(color_of(&headers), "blue");
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("state.json")).unwrap()).unwrap();
    assert_eq!(state["active"], "blue");
}

/// Passive health: when the new color fails right after the swap, the proxy rolls back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_new_color_is_rolled_back_automatically() {
    let dir = tempfile::tempdir().unwrap();
    let (blue, green) = pair();
    let proxy = Proxy::start(dir.path(), &blue, &green, &["--auto-rollback"]);
    // Green passes the checks (readyz, unauthenticated 401 + metadata) but fails real calls.
    green.admin("fail/1").await;
    proxy.swap_ok().await;
    let c = client();
    let url = proxy.url("/frame/mcp");
    let mut failed = 0;
    for _ in 0..50 {
        let (status, headers, _) = rpc(&c, &url, "x", None).await.unwrap();
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            assert_eq!(color_of(&headers), "green");
            failed += 1;
        }
        if proxy.status().await["active"] == "blue" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let status = proxy.status().await;
    assert_eq!(status["active"], "blue", "{status}");
    assert_eq!(status["last_swap"]["kind"], "auto-rollback", "{status}");
    assert!(
        status["last_swap"]["reason"]
            .as_str()
            .unwrap()
            .contains("failed")
    );
    assert!(
        (5..=10).contains(&failed),
        "{failed} failures before the rollback"
    );
    let (code, headers, _) = rpc(&c, &url, "x", None).await.unwrap();
    assert_eq!(
        (code, color_of(&headers).as_str()),
        (StatusCode::OK, "blue")
    );
}

/// SIGTERM ends open SSE streams cleanly and exits within the deadline; the restarted proxy
/// comes back on the persisted color.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_is_graceful_and_restart_restores_the_color() {
    let dir = tempfile::tempdir().unwrap();
    let (blue, green) = pair();
    let mut proxy = Proxy::start(dir.path(), &blue, &green, &["--shutdown-ms", "3000"]);
    assert_eq!(proxy.active_at_start, "blue");
    proxy.swap_ok().await;
    let url = proxy.url("/sse?n=0&ms=30");
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let reader = tokio::spawn(async move {
        read_sse(&client(), &url, Duration::from_secs(20), move |e| {
            let _ = tx.send(e.to_owned());
        })
        .await
    });
    rx.recv().await.unwrap();
    let exit = tokio::task::spawn_blocking(move || {
        let status = proxy.terminate(Duration::from_secs(5));
        (status, proxy)
    })
    .await
    .unwrap();
    assert!(exit.0.success(), "{:?}", exit.0);
    let outcome = reader.await.unwrap().unwrap();
    assert!(outcome.clean && outcome.at_boundary, "{outcome:?}");
    assert_eq!(outcome.color, "green");
    drop(exit.1);

    let proxy = Proxy::start(dir.path(), &blue, &green, &[]);
    assert_eq!(proxy.active_at_start, "green");
    assert_eq!(proxy.status().await["active"], "green");
    let (_, headers, _) = rpc(&client(), &proxy.url("/frame/mcp"), "x", None)
        .await
        .unwrap();
    assert_eq!(color_of(&headers), "green");
}

/// HTTP/1.1 and h2c clients; X-Forwarded-* set by the proxy (a client's own are replaced
/// unless trusted); hop-by-hop headers not forwarded; SSE flows event by event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2c_forwarded_headers_and_unbuffered_sse() {
    let dir = tempfile::tempdir().unwrap();
    let (blue, green) = pair();
    let proxy = Proxy::start(dir.path(), &blue, &green, &[]);
    let body = Bytes::from_static(br#"{"jsonrpc":"2.0","id":1,"method":"x"}"#);
    let headers = [
        ("authorization", "Bearer client-token"),
        ("x-forwarded-for", "203.0.113.9"),
        ("x-forwarded-proto", "https"),
        ("connection", "keep-alive, x-private"),
        ("x-private", "hop"),
    ];
    let (status, resp_headers, answer) = send(
        &client(),
        Method::POST,
        &proxy.url("/frame/mcp"),
        &headers,
        body.clone(),
    )
    .await
    .unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(color_of(&resp_headers), "blue");
    let json: serde_json::Value = serde_json::from_slice(&answer).unwrap();
    let seen = &json["result"];
    assert_eq!(seen["x_forwarded_for"], "127.0.0.1");
    assert_eq!(seen["x_forwarded_proto"], "http");
    assert_eq!(seen["x_forwarded_host"], proxy.listen.as_str());
    assert_eq!(seen["host"], proxy.listen.as_str());

    let (status, resp_headers, answer) = send(
        &h2c_client(),
        Method::POST,
        &proxy.url("/frame/mcp"),
        &headers[..1],
        body,
    )
    .await
    .unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(color_of(&resp_headers), "blue");
    let json: serde_json::Value = serde_json::from_slice(&answer).unwrap();
    assert_eq!(json["result"]["x_forwarded_host"], proxy.listen.as_str());

    // Streaming both ways: a 4 MiB upload echoed back intact.
    let big = Bytes::from(vec![b'z'; 4 << 20]);
    let (status, _, echoed) = send(
        &client(),
        Method::POST,
        &proxy.url("/echo"),
        &[],
        big.clone(),
    )
    .await
    .unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(echoed, big);

    // The first event arrives while the backend still holds the second: nothing buffers.
    for c in [client(), h2c_client()] {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let url = proxy.url("/sse-gated");
        let reader = tokio::spawn(async move {
            read_sse(&c, &url, Duration::from_secs(10), move |e| {
                let _ = tx.send(e.to_owned());
            })
            .await
        });
        let first = tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .expect("first event held back by the proxy")
            .unwrap();
        assert_eq!(first, "blue first");
        blue.admin("release").await;
        let outcome = reader.await.unwrap().unwrap();
        assert_eq!(outcome.events, ["blue first", "blue second"]);
        assert!(outcome.clean && outcome.at_boundary);
    }
}

/// A backend closes idle keep-alive connections after 300 ms; the proxy's pool drops them
/// after 100 ms (`pool_idle_ms`): every POST succeeds whatever the pause before it (around
/// the backend's close too), and pooled connections are reused. Then a POST the backend
/// received but never answered is not sent again: the client gets 502, the backend saw it once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pooled_connections_closed_by_the_backend_never_fail_a_post() {
    let dir = tempfile::tempdir().unwrap();
    let pauses = [
        0u64, 20, 40, 90, 120, 250, 290, 299, 301, 310, 350, 30, 60, 295, 305,
    ];
    let dropped = pauses.len() + 2;
    let server =
        support::raw::IdleClosingServer::start(Duration::from_millis(300), Some(dropped)).await;
    let config = dir.path().join("proxy.yaml");
    std::fs::write(
        &config,
        "pool_idle_ms: 100
max_in_flight: 64
",
    )
    .unwrap();
    let blue = format!("http://127.0.0.1:{}", server.port);
    let proxy = Proxy::start_urls(
        dir.path(),
        &blue,
        "http://127.0.0.1:9",
        &["--config", config.to_str().unwrap()],
        &[],
    );
    let c = client();
    let pauses = [
        0u64, 20, 40, 90, 120, 250, 290, 299, 301, 310, 350, 30, 60, 295, 305,
    ];
    for (i, pause) in pauses.iter().enumerate() {
        tokio::time::sleep(Duration::from_millis(*pause)).await;
        let body = Bytes::from(format!("{{\"n\":{i}}}"));
        let (status, headers, answer) = send(
            &c,
            Method::POST,
            &proxy.url("/frame/mcp"),
            &[],
            body.clone(),
        )
        .await
        .unwrap();
        assert_eq!(
            status,
            StatusCode::OK,
            "POST {i} after {pause} ms: {answer:?}"
        );
        assert_eq!(color_of(&headers), "blue");
        let json: serde_json::Value = serde_json::from_slice(&answer).unwrap();
        assert_eq!(json["bytes"], body.len());
    }
    let opened = server.connections.load(Ordering::SeqCst);
    assert!(
        opened < pauses.len(),
        "no connection was reused ({opened} for {} requests)",
        pauses.len()
    );
    let url = proxy.url("/frame/mcp");
    let post = |n: usize| send(&c, Method::POST, &url, &[], Bytes::from(format!("{n}")));
    assert_eq!(post(1).await.unwrap().0, StatusCode::OK);
    assert_eq!(post(2).await.unwrap().0, StatusCode::BAD_GATEWAY);
    assert_eq!(
        server.requests.load(Ordering::SeqCst),
        dropped,
        "a sent POST was retried"
    );
    assert_eq!(post(3).await.unwrap().0, StatusCode::OK);
}

/// An HTTP/1.1 client connection keeps one upstream connection for its requests (one client
/// connection, one backend connection; two client connections, two), and `pool_max_idle: 0`
/// keeps none: every request then opens its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_client_connection_keeps_its_own_upstream_connection_within_the_bound() {
    for (max_idle, expected_per_client) in [(64usize, 1usize), (0, 5)] {
        let dir = tempfile::tempdir().unwrap();
        let server = support::raw::IdleClosingServer::start(Duration::from_secs(30), None).await;
        let config = dir.path().join("proxy.yaml");
        std::fs::write(&config, format!("pool_max_idle: {max_idle}\n")).unwrap();
        let proxy = Proxy::start_urls(
            dir.path(),
            &format!("http://127.0.0.1:{}", server.port),
            "http://127.0.0.1:9",
            &["--config", config.to_str().unwrap()],
            &[],
        );
        // Two client connections (exactly two: hyper's single-connection client), five
        // requests each, one after the other.
        for i in 0..2 {
            let (mut sender, driver) = one_connection(&proxy).await;
            for n in 0..5 {
                let body = Bytes::from(format!("{i}-{n}"));
                let request = http::Request::post("/frame/mcp")
                    .header(http::header::HOST, proxy.listen.as_str())
                    .body(http_body_util::Full::new(body.clone()))
                    .unwrap();
                sender.ready().await.unwrap();
                let response = sender.send_request(request).await.unwrap();
                assert_eq!(response.status(), StatusCode::OK);
                assert_eq!(color_of(response.headers()), "blue");
                let answer = http_body_util::BodyExt::collect(response.into_body())
                    .await
                    .unwrap()
                    .to_bytes();
                let json: serde_json::Value = serde_json::from_slice(&answer).unwrap();
                assert_eq!(json["bytes"], body.len());
            }
            drop(sender);
            driver.await.unwrap().unwrap();
        }
        assert_eq!(
            server.connections.load(Ordering::SeqCst),
            2 * expected_per_client,
            "backend connections with pool_max_idle {max_idle}"
        );
        assert_eq!(server.requests.load(Ordering::SeqCst), 10);
    }
}

/// One HTTP/1.1 client connection to the proxy (hyper's single-connection client): its request
/// handle and the task that drives it.
async fn one_connection(
    proxy: &Proxy,
) -> (
    hyper::client::conn::http1::SendRequest<http_body_util::Full<Bytes>>,
    tokio::task::JoinHandle<hyper::Result<()>>,
) {
    let tcp = tokio::net::TcpStream::connect(proxy.listen.as_str())
        .await
        .unwrap();
    let (sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp))
            .await
            .unwrap();
    (sender, tokio::spawn(connection))
}

/// Sends `count` POSTs, one after the other, over one HTTP/1.1 client connection; returns each
/// status with the time it took.
async fn posts_on_one_connection(proxy: &Proxy, count: usize) -> Vec<(StatusCode, Duration)> {
    let (mut sender, _driver) = one_connection(proxy).await;
    let mut answers = Vec::new();
    for n in 0..count {
        let request = http::Request::post("/frame/mcp")
            .header(http::header::HOST, proxy.listen.as_str())
            .body(http_body_util::Full::new(Bytes::from(format!("{n}"))))
            .unwrap();
        let started = Instant::now();
        sender.ready().await.unwrap();
        let response = tokio::time::timeout(Duration::from_secs(10), sender.send_request(request))
            .await
            .expect("no answer within 10 s")
            .unwrap();
        let status = response.status();
        http_body_util::BodyExt::collect(response.into_body())
            .await
            .unwrap();
        answers.push((status, started.elapsed()));
    }
    answers
}

/// `response_timeout_ms` bounds each request on its own: a frame server that never answers
/// gets a 504 after it (over HTTP/1.1 and h2c), and requests on one client connection that
/// each answer within it are not cut however long the connection lives. A client that stops
/// in the middle of a request head, or stays silent on a kept-alive connection, is closed after
/// `header_read_timeout_ms`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeouts_cut_silent_frame_servers_and_slow_clients() {
    use support::raw::{Answer, IdleClosingServer};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("proxy.yaml");
    std::fs::write(
        &config,
        "response_timeout_ms: 400\nheader_read_timeout_ms: 400\n",
    )
    .unwrap();
    let silent =
        IdleClosingServer::start_answering(Duration::from_secs(30), None, Answer::Never).await;
    let late = IdleClosingServer::start_answering(
        Duration::from_secs(30),
        None,
        Answer::After(Duration::from_millis(150)),
    )
    .await;
    let start = |name: &str, port: u16| {
        let dir = dir.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        Proxy::start_urls(
            &dir,
            &format!("http://127.0.0.1:{port}"),
            "http://127.0.0.1:9",
            &["--config", config.to_str().unwrap()],
            &[],
        )
    };
    let (proxy, proxy_late) = (start("silent", silent.port), start("late", late.port));
    let (timeout, limit) = (Duration::from_millis(400), Duration::from_secs(5));

    // The frame server never answers: 504 after the timeout, on every request of a connection.
    for (status, took) in posts_on_one_connection(&proxy, 2).await {
        assert_eq!(status, StatusCode::GATEWAY_TIMEOUT);
        assert!(took >= timeout && took < limit, "504 after {took:?}");
    }
    let h2 = h2c_client();
    let started = Instant::now();
    let (status, _, _) = send(
        &h2,
        Method::POST,
        &proxy.url("/frame/mcp"),
        &[],
        "{}".into(),
    )
    .await
    .unwrap();
    let took = started.elapsed();
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT, "h2c");
    assert!(took >= timeout && took < limit, "h2c 504 after {took:?}");
    assert_eq!(silent.requests.load(Ordering::SeqCst), 3);

    // It answers each request after 150 ms: six in a row on one connection (900 ms in all,
    // more than the timeout) all succeed.
    for (status, took) in posts_on_one_connection(&proxy_late, 6).await {
        assert_eq!(status, StatusCode::OK, "answered after {took:?}");
    }
    assert_eq!(late.requests.load(Ordering::SeqCst), 6);

    // A request head that stops half-way: the connection is closed after the header timeout.
    for partial in [&b"POST /frame/mcp HTTP/1.1\r\nHost: x\r\n"[..], b""] {
        let mut tcp = tokio::net::TcpStream::connect(proxy.listen.as_str())
            .await
            .unwrap();
        tcp.write_all(partial).await.unwrap();
        let started = Instant::now();
        let mut rest = Vec::new();
        let read = tokio::time::timeout(limit, tcp.read_to_end(&mut rest)).await;
        assert!(
            read.is_ok(),
            "still open after {limit:?} ({} bytes sent)",
            partial.len()
        );
        let took = started.elapsed();
        assert!(
            took >= timeout - Duration::from_millis(50),
            "closed after {took:?}"
        );
    }
}

/// The control API refuses browsers, unknown paths and wrong methods.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_api_refuses_what_it_does_not_serve() {
    let dir = tempfile::tempdir().unwrap();
    let (blue, green) = pair();
    let proxy = Proxy::start(dir.path(), &blue, &green, &[]);
    let c = client();
    let control = |p: &str| format!("http://{}{p}", proxy.control);
    let (status, _, _) = send(
        &c,
        Method::POST,
        &control("/swap"),
        &[("origin", "http://evil.test")],
        Bytes::new(),
    )
    .await
    .unwrap();
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = send(&c, Method::GET, &control("/swap"), &[], Bytes::new())
        .await
        .unwrap();
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    let (status, _, _) = send(&c, Method::GET, &control("/../status"), &[], Bytes::new())
        .await
        .unwrap();
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(proxy.status().await["active"], "blue");
    // The data plane does not serve the control API.
    let (_, headers, _) = send(&c, Method::POST, &proxy.url("/swap"), &[], Bytes::new())
        .await
        .unwrap();
    assert_eq!(color_of(&headers), "blue");
    assert_eq!(proxy.status().await["last_swap"], serde_json::Value::Null);
}

/// Hostile flags, config files and state files are refused before anything listens, naming
/// the field; secrets are never echoed.
#[test]
fn hostile_flags_and_files_are_refused_with_the_field_named() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    };
    let unknown = write("unknown.yaml", "listen: 127.0.0.1:0\nbackdoor: true\n");
    let wrong_type = write("type.yaml", "drain_ms: soon\n");
    let window = write(
        "window.yaml",
        "auto_rollback:\n  enabled: true\n  window_ms: 0\n",
    );
    let not_yaml = write("garbage.yaml", "\u{0}\u{1}: [unclosed\n");
    let empty_token = write("empty-token", "\n  \n");
    let spaced_token = write("spaced-token", "two SECRET-words\n");
    let corrupt_state = write("corrupt.json", "{\"active\": \"purple\"}");
    let state_dir = dir.path().display().to_string();
    let cases: Vec<(Vec<&str>, i32, &[&str])> = vec![
        (
            vec!["--control", "0.0.0.0:3713"],
            2,
            &["`control`", "loopback"],
        ),
        (
            vec!["--control", "[::]:3713"],
            2,
            &["`control`", "loopback"],
        ),
        (
            vec!["--control", "127.0.0.1:3712", "--listen", "127.0.0.1:3712"],
            2,
            &["`control`", "differ"],
        ),
        (
            vec!["--blue", "https://127.0.0.1:3710"],
            2,
            &["`blue`", "scheme `https`"],
        ),
        (vec!["--blue", "127.0.0.1:3710"], 2, &["`blue`"]),
        (
            vec!["--blue", "http://127.0.0.1"],
            2,
            &["`blue`", "explicit port"],
        ),
        (
            vec!["--blue", "http://user:pw@127.0.0.1:3710"],
            2,
            &["`blue`", "user name"],
        ),
        (
            vec!["--blue", "http://127.0.0.1:3710/admin?x=1"],
            2,
            &["`blue`", "path or query"],
        ),
        (
            vec!["--blue", "http://127.0.0.1:3710\r\nX: y"],
            2,
            &["`blue`", "not a URL"],
        ),
        (
            vec!["--green", "http://127.0.0.1:3710"],
            2,
            &["`green`", "same server as blue"],
        ),
        (
            vec![
                "--listen",
                "127.0.0.1:3712",
                "--blue",
                "http://127.0.0.1:3712",
            ],
            2,
            &["`blue`", "loop"],
        ),
        (
            vec!["--drain-ms", "0"],
            2,
            &["`drain_ms`", "between 1 and 3600000"],
        ),
        (
            vec!["--drain-ms", "99999999999999999999999"],
            2,
            &["--drain-ms"],
        ),
        (vec!["--drain-ms", "-5"], 2, &["unexpected argument '-5'"]),
        (vec!["--ready-checks", "0"], 2, &["`ready_checks`"]),
        (vec!["--ready-checks", "1000"], 2, &["`ready_checks`"]),
        (vec!["--initial-color", "purple"], 2, &["--initial-color"]),
        (
            vec!["--probe-token", "SECRET-flag"],
            2,
            &["unexpected argument"],
        ),
        (
            vec!["--probe-token-file", "/nonexistent/token"],
            2,
            &["`probe_token_file`"],
        ),
        (
            vec!["--probe-token-file", &empty_token],
            2,
            &["`probe_token_file`", "empty"],
        ),
        (
            vec!["--probe-token-file", &spaced_token],
            2,
            &["`probe_token_file`", "printable ASCII"],
        ),
        (
            vec!["--config", "/nonexistent.yaml"],
            2,
            &["`config`", "cannot open"],
        ),
        (vec!["--config", "/dev/zero"], 2, &["`config`"]),
        (
            vec!["--config", &unknown],
            2,
            &["`config`", "unknown field `backdoor`"],
        ),
        (vec!["--config", &wrong_type], 2, &["`config`", "drain_ms"]),
        (vec!["--config", &window], 2, &["`auto_rollback.window_ms`"]),
        (vec!["--config", &not_yaml], 2, &["`config`"]),
        (
            vec!["--state-file", &corrupt_state],
            2,
            &["`state_file`", "not a frame-proxy state file"],
        ),
        (
            vec!["--state-file", &state_dir],
            2,
            &["`state_file`", "directory"],
        ),
    ];
    for (args, code, needles) in cases {
        let mut full = vec!["run"];
        for (flag, default) in [
            ("--listen", "127.0.0.1:0"),
            ("--control", "127.0.0.1:0"),
            ("--state-file", "/nonexistent-dir/never-written.json"),
        ] {
            if !args.contains(&flag) {
                full.extend([flag, default]);
            }
        }
        full.extend(args.iter().copied());
        let output = std::process::Command::new(support::proxy_bin())
            .args(&full)
            .env_remove("FRAME_PROXY_PROBE_TOKEN")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(code), "{args:?}: {stderr}");
        for needle in needles {
            assert!(
                stderr.contains(needle),
                "{args:?}: `{needle}` not in: {stderr}"
            );
        }
        assert!(
            !stderr.contains("SECRET"),
            "{args:?} echoed a secret: {stderr}"
        );
        assert!(
            output.stdout.is_empty(),
            "{args:?} started: {:?}",
            output.stdout
        );
    }
    // The control subcommands refuse non-loopback addresses too.
    let output = std::process::Command::new(support::proxy_bin())
        .args(["status", "--control", "192.0.2.1:3713"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("loopback"));
}
