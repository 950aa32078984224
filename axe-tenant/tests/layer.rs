//! The tower layer: host/path routing, refusals as JSON, the extractor.
#![allow(clippy::unwrap_used, clippy::type_complexity)] // test helpers outside #[test] fns

mod common;

use std::convert::Infallible;

use axe_auth::Principal;
use axe_tenant::{CustomerRegistry, Tenancy, TenantLayer, TenantRejection};
use common::*;
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use tower::{ServiceBuilder, ServiceExt};

async fn call(
    layer: TenantLayer,
    uri: &str,
    host: Option<&str>,
    principal: Option<Principal>,
) -> (StatusCode, String, Option<Tenancy>, Option<TenantRejection>) {
    let svc = ServiceBuilder::new()
        .layer(layer)
        .service_fn(|req: Request<String>| async move {
            let t = req.extensions().get::<Tenancy>().cloned();
            let mut res = Response::new(http_body_util::Full::new(bytes::Bytes::from("inner")));
            res.extensions_mut().insert(t);
            Ok::<_, Infallible>(res)
        });
    let mut req = Request::builder().uri(uri);
    if let Some(h) = host {
        req = req.header(http::header::HOST, h);
    }
    let mut req = req.body(String::new()).unwrap();
    if let Some(p) = principal {
        req.extensions_mut().insert(p);
    }
    let res = svc.oneshot(req).await.unwrap();
    let status = res.status();
    let tenancy = res.extensions().get::<Option<Tenancy>>().cloned().flatten();
    let rejection = res.extensions().get::<TenantRejection>().copied();
    if rejection.is_some() {
        assert_eq!(
            res.headers()[http::header::CONTENT_TYPE],
            "application/json"
        );
    }
    let body = res.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        String::from_utf8(body.to_vec()).unwrap(),
        tenancy,
        rejection,
    )
}

fn layer() -> TenantLayer {
    TenantLayer::new(CustomerRegistry::new(fixture()))
}

#[tokio::test]
async fn matched_requests_get_a_tenancy() {
    for host in [
        "axe.axelabs.ai",
        "AXE.AxeLabs.ai",
        "axe.axelabs.ai.",
        "axe.axelabs.ai:443",
        "Axe.AxeLabs.AI.:8443",
    ] {
        let (status, body, tenancy, _) = call(
            layer(),
            "/frame/mcp",
            Some(host),
            Some(verified(AXE_TID, "x@axellc.com")),
        )
        .await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, "inner"), "{host}");
        let t = tenancy.unwrap();
        assert_eq!(
            (t.customer.as_str(), t.entity.as_str(), t.service.as_str()),
            ("axe", "axe", "frame")
        );
        assert_eq!(t.via.to_string(), "tenant+email_domain/default");
        assert_eq!(t.generation, 1);
    }
    // An absolute-form URI's authority wins over the Host header.
    let (status, ..) = call(
        layer(),
        "https://axe.axelabs.ai/frame",
        Some("realchoice.axelabs.ai"),
        Some(verified(AXE_TID, "x@axellc.com")),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn refusals_say_which_check_failed() {
    let axe = || Some(verified(AXE_TID, "x@axellc.com"));
    let cases: Vec<(
        &str,
        Option<&str>,
        Option<Principal>,
        StatusCode,
        TenantRejection,
    )> = vec![
        (
            "/frame/mcp",
            Some("axe.axelabs.ai"),
            None,
            StatusCode::INTERNAL_SERVER_ERROR,
            TenantRejection::MissingPrincipal,
        ),
        (
            "/frame/mcp",
            Some("axe.axelabs.ai"),
            Some(verified(UNKNOWN_TID, "x@axellc.com")),
            StatusCode::FORBIDDEN,
            TenantRejection::UnknownTenant,
        ),
        (
            "/frame/mcp",
            Some("axe.axelabs.ai"),
            Some(verified(AXE_TID, "x@realchoice.co.kr")),
            StatusCode::FORBIDDEN,
            TenantRejection::EmailDomainConflict,
        ),
        (
            "/frame/mcp",
            Some("axe.axelabs.ai"),
            Some(verified(AXE_TID, "x@@axellc.com")),
            StatusCode::FORBIDDEN,
            TenantRejection::MalformedEmail,
        ),
        (
            "/frame/mcp",
            Some("strict.axelabs.ai"),
            Some(verified(STRICT_TID, "x@strict.example")),
            StatusCode::FORBIDDEN,
            TenantRejection::NoEntity,
        ),
        (
            "/frame/mcp",
            Some("partner.axelabs.ai"),
            Some(verified(PARTNER_TID, "x@gmail.com")),
            StatusCode::FORBIDDEN,
            TenantRejection::EmailDomainRequired,
        ),
        (
            "/frame/mcp",
            Some("axe.axelabs.ai"),
            Some(
                Principal::builder(tid(AXE_TID), SOME_OID)
                    .roles(["Lab.Member", "Ops.Admin"])
                    .build(),
            ),
            StatusCode::FORBIDDEN,
            TenantRejection::AmbiguousEntity,
        ),
        (
            "/frame/mcp",
            Some("realchoice.axelabs.ai"),
            axe(),
            StatusCode::FORBIDDEN,
            TenantRejection::HostMismatch,
        ),
        (
            "/frame/mcp",
            Some("evil.example"),
            axe(),
            StatusCode::FORBIDDEN,
            TenantRejection::UnknownHost,
        ),
        (
            "/frame/mcp",
            Some("x.axe.axelabs.ai"),
            axe(),
            StatusCode::FORBIDDEN,
            TenantRejection::UnknownHost,
        ),
        (
            "/frame/mcp",
            Some("axe.axelabs.ai.."),
            axe(),
            StatusCode::FORBIDDEN,
            TenantRejection::UnknownHost,
        ),
        (
            "/frame/mcp",
            Some("127.0.0.1:3710"),
            axe(),
            StatusCode::FORBIDDEN,
            TenantRejection::UnknownHost,
        ),
        (
            "/frame/mcp",
            None,
            axe(),
            StatusCode::FORBIDDEN,
            TenantRejection::UnknownHost,
        ),
        (
            "/blueprint/x",
            Some("axe.axelabs.ai"),
            axe(),
            StatusCode::NOT_FOUND,
            TenantRejection::UnknownService,
        ),
        (
            "/Frame/mcp",
            Some("axe.axelabs.ai"),
            axe(),
            StatusCode::NOT_FOUND,
            TenantRejection::UnknownService,
        ),
        (
            "/fr%61me/mcp",
            Some("axe.axelabs.ai"),
            axe(),
            StatusCode::NOT_FOUND,
            TenantRejection::UnknownService,
        ),
        (
            "/",
            Some("axe.axelabs.ai"),
            axe(),
            StatusCode::NOT_FOUND,
            TenantRejection::UnknownService,
        ),
    ];
    for (uri, host, principal, status, rejection) in cases {
        let (got_status, body, tenancy, got) = call(layer(), uri, host, principal).await;
        assert_eq!(
            (got_status, got),
            (status, Some(rejection)),
            "{uri} {host:?}"
        );
        assert!(tenancy.is_none());
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(json["error"], rejection.code(), "{body}");
        // No other customer's name, and no address, ever reaches the body.
        for leak in ["realchoice", "partner", "strict", "axellc", "x@"] {
            assert!(!body.contains(leak), "{uri} {host:?}: {body}");
        }
    }
}

#[tokio::test]
async fn a_fixed_service_ignores_the_path() {
    let fixed = layer().service("frame".parse().unwrap());
    let (status, _, tenancy, _) = call(
        fixed,
        "/mcp",
        Some("axe.axelabs.ai"),
        Some(verified(AXE_TID, "x@axellc.com")),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(tenancy.unwrap().service.as_str(), "frame");
    let blueprint = layer().service("blueprint".parse().unwrap());
    let (status, ..) = call(
        blueprint,
        "/mcp",
        Some("axe.axelabs.ai"),
        Some(verified(AXE_TID, "x@axellc.com")),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_registry_answers_axe_auth() {
    use axe_auth::{AllowedTenants, TenantForHost};
    let registry = CustomerRegistry::new(fixture());
    assert!(registry.is_allowed(&tid(AXE_TID)));
    assert!(registry.is_allowed(&tid(PARTNER_TID_2)));
    assert!(!registry.is_allowed(&tid(UNKNOWN_TID)));
    assert_eq!(
        registry.tenant_for_host("realchoice.axelabs.ai"),
        Some(tid(REALCHOICE_TID))
    );
    assert_eq!(
        registry.tenant_for_host("partner.axelabs.ai"),
        Some(tid(PARTNER_TID))
    );
    assert_eq!(registry.tenant_for_host("nobody.axelabs.ai"), None);
    assert_eq!(registry.tenant_for_host("axelabs.ai"), None);
    // Usable where axe-auth wants a trait object.
    let _: std::sync::Arc<dyn AllowedTenants> = std::sync::Arc::new(registry.clone());
    let _: std::sync::Arc<dyn TenantForHost> = std::sync::Arc::new(registry);
}

#[cfg(feature = "axum")]
#[tokio::test]
async fn axum_extractor() {
    use axum::Router;
    use axum::routing::get;

    async fn required(t: Tenancy) -> String {
        format!("{}/{}/{}", t.customer, t.entity, t.service)
    }
    async fn optional(t: Option<Tenancy>) -> String {
        format!("{}", t.is_some())
    }
    let app = Router::new()
        .route("/frame/mcp", get(required))
        .route("/frame/opt", get(optional))
        .layer(TenantLayer::new(CustomerRegistry::new(fixture())));
    let bare = Router::new()
        .route("/frame/mcp", get(required))
        .route("/frame/opt", get(optional));

    let req = |uri: &str, p: Option<Principal>| {
        let mut r = Request::builder()
            .uri(uri)
            .header("host", "axe.axelabs.ai")
            .body(axum::body::Body::empty())
            .unwrap();
        if let Some(p) = p {
            r.extensions_mut().insert(p);
        }
        r
    };
    let text = |res: axum::response::Response| async move {
        let status = res.status();
        (
            status,
            String::from_utf8(res.into_body().collect().await.unwrap().to_bytes().to_vec())
                .unwrap(),
        )
    };
    let p = || {
        Some(
            Principal::builder(tid(AXE_TID), SOME_OID)
                .roles(["Lab.Member"])
                .build(),
        )
    };
    assert_eq!(
        text(app.clone().oneshot(req("/frame/mcp", p())).await.unwrap()).await,
        (StatusCode::OK, "axe/lab/frame".into())
    );
    assert_eq!(
        text(app.clone().oneshot(req("/frame/opt", p())).await.unwrap()).await,
        (StatusCode::OK, "true".into())
    );
    let (status, body) = text(
        app.oneshot(req(
            "/frame/mcp",
            Some(verified(UNKNOWN_TID, "x@axellc.com")),
        ))
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(body.contains("unknown_tenant"));
    // Without the layer: the extractor is a 500, the optional one is None.
    let (status, _) = text(bare.clone().oneshot(req("/frame/mcp", p())).await.unwrap()).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        text(bare.oneshot(req("/frame/opt", p())).await.unwrap()).await,
        (StatusCode::OK, "false".into())
    );
}

#[cfg(feature = "axum")]
#[test]
fn rejection_into_response_for_axum() {
    use axum::response::IntoResponse;
    let res = TenantRejection::HostMismatch.into_response();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        res.extensions().get::<TenantRejection>(),
        Some(&TenantRejection::HostMismatch)
    );
}
