//! The HTTP-level record of refused requests, against a real PostgreSQL.
#![allow(clippy::unwrap_used)]

use std::convert::Infallible;
use std::net::SocketAddr;

use axe_audit::refusals::{PeerAddr, RefusalLayer, RefusalReason};
use axe_audit::{OperatorLog, Outcome};
use axe_isolation::testing::TestDb;
use http::{Request, Response, StatusCode};
use tower::{Layer, ServiceExt};

const TOKEN: &str = "eyJhbGciOiJSUzI1NiJ9.c2VjcmV0LXRva2VuLWNvbnRlbnQ.c2lnbmF0dXJl";

/// Stands for the auth and tenancy layers: refuses by path, says why on `/expired`.
async fn inner(request: Request<String>) -> Result<Response<String>, Infallible> {
    let mut response = Response::new(String::new());
    match request.uri().path() {
        "/expired" => {
            *response.status_mut() = StatusCode::UNAUTHORIZED;
            response
                .extensions_mut()
                .insert(RefusalReason::new("token_expired").customer("contoso"));
        }
        "/forbidden" => *response.status_mut() = StatusCode::FORBIDDEN,
        "/missing" => *response.status_mut() = StatusCode::NOT_FOUND,
        _ => {}
    }
    Ok(response)
}

fn request(path: &str) -> Request<String> {
    let mut request = Request::builder()
        .method("POST")
        .uri(format!("{path}?access_token={TOKEN}"))
        .header("authorization", format!("Bearer {TOKEN}"))
        .header("cookie", format!("session={TOKEN}"))
        .header("user-agent", "probe/1.0")
        .header("x-request-id", "req-77")
        .header("x-forwarded-for", "203.0.113.9")
        .body(TOKEN.to_owned())
        .unwrap();
    let peer: SocketAddr = "192.0.2.10:4433".parse().unwrap();
    request.extensions_mut().insert(PeerAddr(peer));
    request
}

async fn setup() -> (TestDb, OperatorLog) {
    let db = TestDb::new().await.unwrap();
    let log = OperatorLog::new(db.owner_pool().clone());
    log.install().await.unwrap();
    (db, log)
}

#[tokio::test]
async fn refused_requests_are_recorded_without_token_content() {
    let (db, log) = setup().await;
    let (layer, recorder) = RefusalLayer::builder(log.clone()).spawn();
    let stats = layer.stats();
    let service = layer.layer(tower::service_fn(inner));
    for path in ["/ok", "/expired", "/forbidden", "/missing"] {
        let response = service.clone().oneshot(request(path)).await.unwrap();
        assert_eq!(response.status() == StatusCode::OK, path == "/ok");
    }
    drop((service, layer));
    recorder.await.unwrap(); // drained: every queued refusal is written

    assert_eq!(
        (stats.queued(), stats.recorded(), stats.dropped()),
        (2, 2, 0)
    );
    let rows = log.tail(10).await.unwrap();
    assert_eq!(rows.len(), 2, "only the 401 and the 403: {rows:?}");
    let (expired, forbidden) = (&rows[0], &rows[1]);
    assert_eq!(expired.action, "http.refused");
    assert_eq!(
        expired.outcome,
        Outcome::DeniedWith {
            code: "token_expired".into()
        }
    );
    assert_eq!(expired.customer, "contoso");
    assert_eq!(expired.target.as_ref().unwrap().id, "401 POST /expired");
    assert_eq!(expired.request_id.as_deref(), Some("req-77"));
    assert_eq!(expired.source.user_agent.as_deref(), Some("probe/1.0"));
    // X-Forwarded-For is not trusted by default: the peer address counts.
    assert_eq!(expired.source.ip.as_deref(), Some("192.0.2.10"));
    assert_eq!(
        forbidden.outcome,
        Outcome::DeniedWith {
            code: "http_403".into()
        }
    );
    assert_eq!(forbidden.target.as_ref().unwrap().id, "403 POST /forbidden");

    // Nothing of the token anywhere in the stored rows.
    let stored: Vec<String> =
        sqlx::query_scalar("SELECT row_to_json(l)::text FROM axe_audit.operator_log l")
            .fetch_all(db.owner_pool())
            .await
            .unwrap();
    assert_eq!(stored.len(), 2);
    for row in &stored {
        for part in TOKEN.split('.') {
            assert!(!row.contains(part), "{row}");
        }
        assert!(!row.contains("access_token"), "{row}");
    }
    assert!(log.verify().await.unwrap().is_intact());
}

#[tokio::test]
async fn configured_statuses_trusted_proxy_and_custom_reason() {
    let (_db, log) = setup().await;
    let (layer, recorder) = RefusalLayer::builder(log.clone())
        .statuses([StatusCode::NOT_FOUND])
        .trust_forwarded_for(1)
        .reason(|status, _| {
            Some(RefusalReason::new(if status == StatusCode::NOT_FOUND {
                "no_route"
            } else {
                "other"
            }))
        })
        .spawn();
    let service = layer.layer(tower::service_fn(inner));
    for path in ["/expired", "/missing"] {
        service.clone().oneshot(request(path)).await.unwrap();
    }
    drop((service, layer));
    recorder.await.unwrap();
    let rows = log.tail(10).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].target.as_ref().unwrap().id, "404 POST /missing");
    assert_eq!(rows[0].outcome.code(), Some("no_route"));
    assert_eq!(rows[0].source.ip.as_deref(), Some("203.0.113.9"));
}

#[tokio::test]
async fn a_full_queue_drops_and_counts_without_delaying_responses() {
    let (_db, log) = setup().await;
    let (layer, recorder) = RefusalLayer::builder(log.clone()).capacity(1).build();
    let stats = layer.stats();
    let service = layer.layer(tower::service_fn(inner));
    // The recorder is not running yet: the first refusal fills the queue.
    for _ in 0..3 {
        let response = service.clone().oneshot(request("/expired")).await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    assert_eq!((stats.queued(), stats.dropped()), (1, 2));
    drop((service, layer));
    recorder.run().await;
    assert_eq!(stats.recorded(), 1);
    assert_eq!(log.tail(10).await.unwrap().len(), 1);
}
