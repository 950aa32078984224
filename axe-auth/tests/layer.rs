//! The tower layer in an axum app over real HTTP answers: challenges,
//! extractor, per-route scopes, metadata, and no token in bodies or logs.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use axe_auth::test_util::{JwksBehavior, TestIssuer};
use axe_auth::{EntraAuthLayer, Principal, ProtectedResource, RequireScopeLayer, TenantId};
use axum::Router;
use axum::body::Body;
use axum::routing::{get, post};
use common::*;
use http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

const SCOPE: &str = "api://frame.axelabs.ai/mcp.access";
const ADMIN_SCOPE: &str = "api://frame.axelabs.ai/frame.admin";

fn resource(tid: TenantId) -> ProtectedResource {
    ProtectedResource::single("https://axe.axelabs.ai/frame/mcp", tid)
        .scope(SCOPE)
        .resource_name("Frame")
        .build()
        .unwrap()
}

async fn whoami(p: Principal) -> String {
    tracing::info!("handler runs");
    format!("{}/{}", p.tenant_id(), p.object_id())
}

async fn maybe(p: Option<Principal>) -> String {
    p.map(|p| p.object_id().to_owned())
        .unwrap_or_else(|| "anonymous".into())
}

fn app(issuer: &TestIssuer) -> Router {
    let resource = resource(issuer.default_tenant());
    let admin = Router::new().route("/frame/admin", get(whoami)).layer(
        RequireScopeLayer::new(resource.clone())
            .scope(ADMIN_SCOPE)
            .role("Frame.Admin"),
    );
    Router::new()
        .route("/frame/mcp", post(whoami))
        .merge(admin)
        .layer(EntraAuthLayer::new(validator(issuer), resource.clone()))
        .route("/open", get(maybe))
        .route("/unprotected-extractor", get(whoami))
        .route_service(&resource.well_known_path(), resource.metadata_service())
}

struct Answer {
    status: StatusCode,
    challenge: Option<String>,
    body: String,
}

async fn call(app: &Router, method: &str, path: &str, token: Option<&str>) -> Answer {
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header(header::HOST, "axe.axelabs.ai");
    if let Some(t) = token {
        req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    let resp = app
        .clone()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let challenge = resp
        .headers()
        .get(header::WWW_AUTHENTICATE)
        .map(|v| v.to_str().unwrap().to_owned());
    let body = String::from_utf8(
        resp.into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec(),
    )
    .unwrap();
    Answer {
        status,
        challenge,
        body,
    }
}

const METADATA_URL: &str = "https://axe.axelabs.ai/.well-known/oauth-protected-resource/frame/mcp";

#[tokio::test]
async fn no_credentials_get_401_with_resource_metadata_and_no_error() {
    let issuer = issuer().await;
    let app = app(&issuer);
    let a = call(&app, "POST", "/frame/mcp", None).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        a.challenge.unwrap(),
        format!(r#"Bearer resource_metadata="{METADATA_URL}", scope="{SCOPE}""#)
    );
    let body: Value = serde_json::from_str(&a.body).unwrap();
    assert_eq!(body["error"], "unauthorized");
}

#[tokio::test]
async fn another_auth_scheme_counts_as_no_credentials() {
    let issuer = issuer().await;
    let app = app(&issuer);
    let req = Request::post("/frame/mcp")
        .header(header::HOST, "axe.axelabs.ai")
        .header(header::AUTHORIZATION, "Basic dXNlcjpwdw==")
        .body(Body::empty())
        .unwrap();
    let resp = app.oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert!(
        !resp.headers()[header::WWW_AUTHENTICATE]
            .to_str()
            .unwrap()
            .contains("error=")
    );
}

#[tokio::test]
async fn a_bad_token_gets_invalid_token_and_nothing_of_it_is_echoed() {
    let issuer = issuer().await;
    let app = app(&issuer);
    let token = issuer
        .token()
        .audience("api://someone-else-SECRETMARK")
        .mint();
    let a = call(&app, "POST", "/frame/mcp", Some(&token)).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    let challenge = a.challenge.unwrap();
    assert!(
        challenge.starts_with(r#"Bearer error="invalid_token", error_description=""#),
        "{challenge}"
    );
    assert!(challenge.contains(&format!(r#"resource_metadata="{METADATA_URL}""#)));
    for piece in token.split('.') {
        assert!(!a.body.contains(piece) && !challenge.contains(piece));
    }
    assert!(!a.body.contains("SECRETMARK") && !challenge.contains("SECRETMARK"));
    let body: Value = serde_json::from_str(&a.body).unwrap();
    assert_eq!(body["error"], "invalid_token");
}

#[tokio::test]
async fn a_good_token_reaches_the_handler_with_its_principal() {
    let issuer = issuer().await;
    let app = app(&issuer);
    let token = issuer.token().object_id("oid-1").mint();
    let a = call(&app, "POST", "/frame/mcp", Some(&token)).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.body, format!("{}/oid-1", issuer.default_tenant()));
}

#[tokio::test]
async fn a_missing_route_scope_gets_403_with_the_scope_hint() {
    let issuer = issuer().await;
    let app = app(&issuer);
    let user = issuer.token().mint();
    let a = call(&app, "GET", "/frame/admin", Some(&user)).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    let challenge = a.challenge.unwrap();
    assert!(
        challenge.contains(r#"error="insufficient_scope""#),
        "{challenge}"
    );
    assert!(
        challenge.contains(&format!(r#"scope="{ADMIN_SCOPE}""#)),
        "{challenge}"
    );
    let admin = issuer.token().scopes(["mcp.access", "frame.admin"]).mint();
    assert_eq!(
        call(&app, "GET", "/frame/admin", Some(&admin)).await.status,
        StatusCode::OK
    );
    let role = issuer.token().roles(["Frame.Admin"]).mint();
    assert_eq!(
        call(&app, "GET", "/frame/admin", Some(&role)).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn no_keys_at_all_is_503_not_401() {
    let issuer = issuer().await;
    issuer.set_jwks_behavior(JwksBehavior::Down);
    let app = app(&issuer);
    let a = call(&app, "POST", "/frame/mcp", Some(&issuer.token().mint())).await;
    assert_eq!(a.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(a.challenge.is_none());
}

#[tokio::test]
async fn the_extractor_rejects_like_the_layer_where_the_layer_is_absent() {
    let issuer = issuer().await;
    let app = app(&issuer);
    let a = call(&app, "GET", "/unprotected-extractor", None).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert!(a.challenge.unwrap().starts_with("Bearer"));
    let open = call(&app, "GET", "/open", None).await;
    assert_eq!(
        (open.status, open.body.as_str()),
        (StatusCode::OK, "anonymous")
    );
}

#[tokio::test]
async fn metadata_is_served_with_short_cache_and_cors() {
    let issuer = issuer().await;
    let app = app(&issuer);
    let req = Request::get("/.well-known/oauth-protected-resource/frame/mcp")
        .header(header::HOST, "axe.axelabs.ai")
        .body(Body::empty())
        .unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()[header::CACHE_CONTROL], "public, max-age=60");
    assert_eq!(resp.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
    let doc: Value =
        serde_json::from_slice(&resp.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(doc["resource"], "https://axe.axelabs.ai/frame/mcp");
    assert_eq!(
        doc["authorization_servers"][0],
        format!(
            "https://login.microsoftonline.com/{}/v2.0",
            issuer.default_tenant()
        )
    );
    assert_eq!(doc["scopes_supported"][0], SCOPE);
    assert_eq!(doc["bearer_methods_supported"][0], "header");
    assert_eq!(doc["resource_name"], "Frame");
    let preflight = Request::options("/.well-known/oauth-protected-resource/frame/mcp")
        .body(Body::empty())
        .unwrap();
    let resp = app.clone().oneshot(preflight).await.unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let post = Request::post("/.well-known/oauth-protected-resource/frame/mcp")
        .body(Body::empty())
        .unwrap();
    assert_eq!(
        app.oneshot(post).await.unwrap().status(),
        StatusCode::METHOD_NOT_ALLOWED
    );
}

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "current_thread")]
async fn no_token_reaches_a_log_line() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let issuer = issuer().await;
    let app = app(&issuer);
    let good = issuer.token().email("carol@axellc.com", Some(true)).mint();
    let bad = issuer.token().audience("api://wrong").mint();
    let expired = issuer
        .token()
        .issued_at(std::time::SystemTime::now() - std::time::Duration::from_secs(7200))
        .mint();
    for t in [&good, &bad, &expired] {
        call(&app, "POST", "/frame/mcp", Some(t)).await;
    }
    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("token refused"), "nothing logged: {logs}");
    // The handler's log line sits inside the principal's span.
    let handler_line = logs
        .lines()
        .find(|l| l.contains("handler runs"))
        .expect("the handler logged");
    assert!(
        handler_line.contains("principal{tid=")
            && handler_line.contains("oid=\"00000000-0000-4000-8000-0000000000a1\""),
        "{handler_line}"
    );
    for t in [&good, &bad, &expired] {
        for piece in t.split('.') {
            assert!(!logs.contains(piece), "a token segment reached the logs");
        }
    }
    assert!(!logs.contains("carol@axellc.com"), "PII reached the logs");
}
