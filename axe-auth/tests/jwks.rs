//! The key cache against a real issuer that rotates keys and misbehaves.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, SystemTime};

use axe_auth::test_util::JwksBehavior;
use axe_auth::{Error, KeyFetchError, ManualClock, TokenVersion, Validator};
use common::*;
use serde_json::json;

fn unavailable_because(result: Result<axe_auth::Principal, Error>) -> KeyFetchError {
    match result {
        Err(Error::KeysUnavailable { source, .. }) => source,
        other => panic!("expected KeysUnavailable, got {other:?}"),
    }
}

#[tokio::test]
async fn a_down_jwks_without_cached_keys_is_unavailable_not_unauthorized() {
    let issuer = issuer().await;
    issuer.set_jwks_behavior(JwksBehavior::Down);
    let v = validator(&issuer);
    let err = unavailable_because(v.validate(&issuer.token().mint()).await);
    assert!(matches!(err, KeyFetchError::Status(503)), "{err:?}");
}

#[tokio::test]
async fn a_slow_jwks_times_out() {
    let issuer = issuer().await;
    issuer.set_jwks_behavior(JwksBehavior::Slow(Duration::from_secs(5)));
    let v = validator(&issuer);
    let started = std::time::Instant::now();
    let err = unavailable_because(v.validate(&issuer.token().mint()).await);
    assert!(
        matches!(err, KeyFetchError::Timeout(_) | KeyFetchError::Http(_)),
        "{err:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "the fetch was not bounded"
    );
}

#[tokio::test]
async fn a_huge_jwks_is_refused() {
    let issuer = issuer().await;
    issuer.set_jwks_behavior(JwksBehavior::Huge(2 * 1024 * 1024));
    let v = validator(&issuer);
    let err = unavailable_because(v.validate(&issuer.token().mint()).await);
    assert!(matches!(err, KeyFetchError::TooLarge { .. }), "{err:?}");
}

#[tokio::test]
async fn an_invalid_jwks_is_refused() {
    let issuer = issuer().await;
    issuer.set_jwks_behavior(JwksBehavior::InvalidJson);
    let v = validator(&issuer);
    let err = unavailable_because(v.validate(&issuer.token().mint()).await);
    assert!(matches!(err, KeyFetchError::InvalidDocument(_)), "{err:?}");
}

#[tokio::test]
async fn an_unreachable_authority_is_unavailable() {
    // A port nobody listens on: bind, note the port, close.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let issuer = issuer().await;
    let v = Validator::new(
        config(&issuer)
            .authority(format!("http://127.0.0.1:{port}"))
            .build()
            .unwrap(),
    );
    // The token's iss must match the configured authority to get that far.
    let tid = issuer.default_tenant();
    let token = issuer
        .token()
        .claim("iss", json!(format!("http://127.0.0.1:{port}/{tid}/v2.0")))
        .mint();
    let err = unavailable_because(v.validate(&token).await);
    assert!(matches!(err, KeyFetchError::Http(_)), "{err:?}");
}

#[tokio::test]
async fn after_a_failure_fetches_back_off_then_recover() {
    let issuer = issuer().await;
    issuer.set_jwks_behavior(JwksBehavior::Down);
    let clock = ManualClock::at(SystemTime::now());
    let v = Validator::new(config(&issuer).clock(clock.clone()).build().unwrap());
    let token = issuer.token().mint();
    unavailable_because(v.validate(&token).await);
    assert_eq!(issuer.jwks_requests(), 1);
    let err = unavailable_because(v.validate(&token).await);
    assert!(matches!(err, KeyFetchError::Backoff(_)), "{err:?}");
    assert_eq!(issuer.jwks_requests(), 1, "retried inside the back-off");
    issuer.set_jwks_behavior(JwksBehavior::Normal);
    clock.advance(Duration::from_secs(11));
    v.validate(&token).await.unwrap();
    assert_eq!(issuer.jwks_requests(), 2);
}

#[tokio::test]
async fn last_good_keys_keep_working_when_the_jwks_goes_down() {
    let issuer = issuer().await;
    let clock = ManualClock::at(SystemTime::now());
    let v = Validator::new(config(&issuer).clock(clock.clone()).build().unwrap());
    let token = issuer.token().lifetime(Duration::from_secs(86_400)).mint();
    v.validate(&token).await.unwrap();
    issuer.set_jwks_behavior(JwksBehavior::Down);
    // Past the hourly refresh: the background refresh fails, keys stay.
    clock.advance(Duration::from_secs(2 * 3600));
    for _ in 0..3 {
        v.validate(&token).await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        issuer.jwks_requests() >= 2,
        "no background refresh was tried"
    );
    assert!(v.keys().has_keys(issuer.default_tenant(), TokenVersion::V2));
    // An unknown kid while down is "unknown", not "unavailable".
    let kid = issuer.rotate();
    let fresh = issuer.token().kid(&kid).mint();
    assert!(matches!(
        v.validate(&fresh).await,
        Err(Error::UnknownKid { .. })
    ));
}

#[tokio::test]
async fn a_flood_of_unknown_kids_costs_one_fetch() {
    let issuer = issuer().await;
    let v = validator(&issuer);
    v.validate(&issuer.token().mint()).await.unwrap();
    let before = issuer.jwks_requests();
    let mut tasks = Vec::new();
    for i in 0..300 {
        let token = issuer
            .token()
            .header("kid", json!(format!("random-{i}")))
            .mint();
        let v = v.clone();
        tasks.push(tokio::spawn(async move { v.validate(&token).await }));
    }
    for t in tasks {
        assert!(matches!(t.await.unwrap(), Err(Error::UnknownKid { .. })));
    }
    let fetched = issuer.jwks_requests() - before;
    assert!(fetched <= 1, "{fetched} fetches for a kid flood");
}

#[tokio::test]
async fn a_cold_cache_under_load_fetches_once() {
    let issuer = issuer().await;
    let v = validator(&issuer);
    let token = issuer.token().mint();
    let mut tasks = Vec::new();
    for _ in 0..100 {
        let (v, token) = (v.clone(), token.clone());
        tasks.push(tokio::spawn(async move { v.validate(&token).await }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(issuer.jwks_requests(), 1);
}

#[tokio::test]
async fn key_rotation_old_tokens_work_until_their_key_leaves_new_ones_at_once() {
    let issuer = issuer().await;
    let clock = ManualClock::at(SystemTime::now());
    let v = Validator::new(config(&issuer).clock(clock.clone()).build().unwrap());
    let old_kid = issuer.current_kid();
    let old = issuer.token().lifetime(Duration::from_secs(86_400)).mint();
    v.validate(&old).await.unwrap();

    let new_kid = issuer.rotate();
    let new = issuer.token().lifetime(Duration::from_secs(86_400)).mint();
    assert_ne!(old_kid, new_kid);
    // Unknown kid → one refresh → accepted at once.
    v.validate(&new).await.unwrap();
    v.validate(&old).await.unwrap();

    // The old key leaves the JWKS; once the cache refreshes (hourly), old
    // tokens are refused while new ones keep working.
    issuer.retire(&old_kid);
    v.validate(&old).await.unwrap();
    let before = issuer.jwks_requests();
    clock.advance(Duration::from_secs(3600 + 301));
    v.validate(&new).await.unwrap(); // notices the refresh is due
    for _ in 0..100 {
        if issuer.jwks_requests() > before
            && !v.keys().has_keys(issuer.default_tenant(), TokenVersion::V1)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(matches!(
        v.validate(&old).await,
        Err(Error::UnknownKid { .. })
    ));
    v.validate(&new).await.unwrap();
}

#[tokio::test]
async fn prefetch_warms_both_versions_and_refuses_strangers() {
    let issuer = issuer().await;
    let v = validator(&issuer);
    v.keys().prefetch(issuer.default_tenant()).await.unwrap();
    assert!(v.keys().has_keys(issuer.default_tenant(), TokenVersion::V1));
    assert!(v.keys().has_keys(issuer.default_tenant(), TokenVersion::V2));
    assert_eq!(issuer.jwks_requests(), 2);
    v.validate(&issuer.token().mint()).await.unwrap();
    v.validate(&issuer.token().version(TokenVersion::V1).mint())
        .await
        .unwrap();
    assert_eq!(issuer.jwks_requests(), 2);
    assert!(matches!(
        v.keys().prefetch(stranger_tenant()).await,
        Err(Error::TenantNotAllowed { .. })
    ));
}
