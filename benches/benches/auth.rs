//! axe-auth against the raw RS256 verify and against a peer middleware, on
//! the same token, in one run.
//!
//! `cargo bench -p axe-benches --bench auth`
//!
//! - `raw_jsonwebtoken_decode`: `jsonwebtoken::decode` with a pre-parsed key
//!   and RS256/aud/iss/exp checks: the floor.
//! - `axe_validate_warm`: `Validator::validate` with the keys cached.
//! - `axe_layer_oneshot`: the whole `EntraAuthLayer` around a trivial service.
//! - `peer_layer_oneshot`: `tower-oauth2-resource-server` 0.12 around the
//!   same service, with the same JWKS (static), RS256 only, iss and aud.

use std::convert::Infallible;

use axe_auth::test_util::TestIssuer;
use axe_auth::{EntraAuthLayer, ProtectedResource, TokenVersion, Validator};
use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use http::{Request, Response, header};
use http_body_util::Full;
use tower::{Layer, ServiceExt, service_fn};
use tower_oauth2_resource_server::server::OAuth2ResourceServer;
use tower_oauth2_resource_server::tenant::TenantConfiguration;
use tower_oauth2_resource_server::validation::ClaimsValidationSpec;

async fn ok(_req: Request<Full<Bytes>>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::new(Bytes::from_static(b"ok"))))
}

fn request(token: &str) -> Request<Full<Bytes>> {
    Request::post("/frame/mcp")
        .header(header::HOST, "axe.axelabs.ai")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Full::new(Bytes::new()))
        .expect("request")
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let issuer: TestIssuer = rt.block_on(TestIssuer::start()).expect("issuer");
    let tid = issuer.default_tenant();
    let token = issuer
        .token()
        .scopes(["mcp.access"])
        .email("someone@axellc.com", Some(true))
        .mint();
    let iss = issuer.issuer(TokenVersion::V2, &tid);
    let aud = issuer.default_audience().to_owned();

    // The floor: jsonwebtoken with a key parsed once.
    let jwks = issuer.jwks(TokenVersion::V2);
    let jwk = &jwks.keys[0];
    let key = jsonwebtoken::DecodingKey::from_rsa_components(
        jwk.n.as_deref().expect("n"),
        jwk.e.as_deref().expect("e"),
    )
    .expect("key");
    let mut raw_validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    raw_validation.set_audience(&[&aud]);
    raw_validation.set_issuer(&[&iss]);

    let validator = Validator::new(issuer.config_builder().build().expect("config"));
    rt.block_on(validator.validate(&token)).expect("warm");
    let resource = ProtectedResource::single("https://axe.axelabs.ai/frame/mcp", tid)
        .scope("api://axe-test/mcp.access")
        .authority(issuer.authority())
        .build()
        .expect("resource");
    let axe_service = EntraAuthLayer::new(validator.clone(), resource).layer(service_fn(ok));

    let peer = rt.block_on(async {
        let tenant =
            TenantConfiguration::static_builder(serde_json::to_string(&jwks).expect("jwks json"))
                .audiences(std::slice::from_ref(&aud))
                .claims_validation(
                    ClaimsValidationSpec::new()
                        .iss(&iss)
                        .aud(&vec![aud.clone()])
                        .exp(true)
                        .nbf(true),
                )
                .allowed_algorithms(&[jsonwebtoken::Algorithm::RS256])
                .build()
                .expect("peer tenant");
        <OAuth2ResourceServer>::builder()
            .add_tenant(tenant)
            .build()
            .await
            .expect("peer")
    });
    let peer_service = peer.into_layer().layer(service_fn(ok));
    // Both must accept the token before we time them.
    let status = rt
        .block_on(peer_service.clone().oneshot(request(&token)))
        .expect("peer call")
        .status();
    assert_eq!(status, 200, "the peer refused the token");
    let status = rt
        .block_on(axe_service.clone().oneshot(request(&token)))
        .expect("axe call")
        .status();
    assert_eq!(status, 200, "axe refused the token");

    let mut g = c.benchmark_group("auth");
    g.bench_function("raw_jsonwebtoken_decode", |b| {
        b.iter(|| {
            jsonwebtoken::decode::<serde_json::Value>(&token, &key, &raw_validation)
                .expect("raw decode")
        })
    });
    g.bench_function("axe_validate_warm", |b| {
        b.to_async(&rt)
            .iter(|| async { validator.validate(&token).await.expect("valid") })
    });
    g.bench_function("axe_layer_oneshot", |b| {
        b.to_async(&rt).iter(|| async {
            axe_service
                .clone()
                .oneshot(request(&token))
                .await
                .expect("call")
        })
    });
    g.bench_function("peer_layer_oneshot", |b| {
        b.to_async(&rt).iter(|| async {
            peer_service
                .clone()
                .oneshot(request(&token))
                .await
                .expect("call")
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
