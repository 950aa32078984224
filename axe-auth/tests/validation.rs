//! Every validation rule, against a real issuer on loopback (its JWKS is
//! fetched over HTTP), and the hostile tokens each rule exists for.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, SystemTime};

use axe_auth::test_util::Signing;
use axe_auth::{Error, ManualClock, RequiredPermissions, TokenVersion, Validator};
use common::*;
use serde_json::json;

macro_rules! assert_refused {
    ($validator:expr, $token:expr, $pat:pat) => {{
        let result = $validator.validate(&$token).await;
        assert!(
            matches!(result, Err($pat)),
            "expected {}, got {:?}",
            stringify!($pat),
            result
        );
        let code = result.unwrap_err().code();
        assert_eq!(
            code,
            expected_code(stringify!($pat)),
            "code of {}",
            stringify!($pat)
        );
    }};
}

/// The stable code a refusal should carry: the variant's name in snake case, with the two
/// names that would be ambiguous on their own spelled out.
fn expected_code(pattern: &str) -> String {
    let variant = pattern
        .trim_start_matches("Error::")
        .split(|c: char| !c.is_alphanumeric())
        .next()
        .unwrap_or_default();
    match variant {
        "TooLarge" => return "token_too_large".into(),
        "Malformed" => return "malformed_token".into(),
        _ => {}
    }
    let mut out = String::new();
    for (i, c) in variant.chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

#[tokio::test]
async fn a_good_v2_token_gives_the_principal() {
    let issuer = issuer().await;
    let v = validator(&issuer);
    let token = issuer
        .token()
        .object_id("oid-alice")
        .scopes(["mcp.access", "records.read"])
        .email("alice@axellc.com", Some(true))
        .mint();
    let p = v.validate(&token).await.unwrap();
    assert_eq!(p.tenant_id(), issuer.default_tenant());
    assert_eq!(p.object_id(), "oid-alice");
    assert_eq!(p.token_version(), TokenVersion::V2);
    assert_eq!(p.scopes(), ["mcp.access", "records.read"]);
    assert!(p.has_scope("api://axe-test/mcp.access"));
    assert_eq!(p.client_id(), "11111111-2222-4333-8444-555555555555");
    assert_eq!(p.email(), Some("alice@axellc.com"));
    assert_eq!(p.email_domain_verified(), Some(true));
    assert_eq!(p.audience(), issuer.default_audience());
    let debug = format!("{p:?}");
    assert!(!debug.contains("alice@axellc.com"), "PII in Debug: {debug}");
}

#[tokio::test]
async fn a_good_v1_token_gives_the_principal() {
    let issuer = issuer().await;
    let v = validator(&issuer);
    let token = issuer
        .token()
        .version(TokenVersion::V1)
        .claim("upn", json!("bob@axellc.com"))
        .mint();
    let p = v.validate(&token).await.unwrap();
    assert_eq!(p.token_version(), TokenVersion::V1);
    assert_eq!(p.client_id(), "11111111-2222-4333-8444-555555555555");
    assert_eq!(p.upn(), Some("bob@axellc.com"));
}

#[tokio::test]
async fn app_only_tokens_with_roles_are_accepted() {
    let issuer = issuer().await;
    let v = validator(&issuer);
    let token = issuer
        .token()
        .scopes(Vec::<String>::new())
        .roles(["Frame.Admin"])
        .mint();
    let p = v.validate(&token).await.unwrap();
    assert!(p.is_app_only());
    assert!(p.has_role("Frame.Admin"));
}

#[tokio::test]
async fn rs256_is_pinned_whatever_the_header_says() {
    let issuer = issuer().await;
    let v = validator(&issuer);
    for signing in [
        Signing::None,
        Signing::Hs256WithPublicKey,
        Signing::Es256,
        Signing::Ps256,
    ] {
        let token = issuer.token().signing(signing.clone()).mint();
        assert_refused!(v, token, Error::AlgorithmNotAllowed { .. });
    }
    // A header claiming RS256 over a PS256 signature still fails.
    let pss = issuer.token().signing(Signing::Ps256).mint();
    let mut parts: Vec<&str> = pss.split('.').collect();
    let good = issuer.token().mint();
    let good_header = good.split('.').next().unwrap().to_owned();
    parts[0] = &good_header;
    assert_refused!(v, parts.join("."), Error::InvalidSignature);
}

#[tokio::test]
async fn a_signature_by_another_key_is_refused() {
    let issuer = issuer().await;
    let v = validator(&issuer);
    let token = issuer.token().signing(Signing::Rs256WithForeignKey).mint();
    assert_refused!(v, token, Error::InvalidSignature);
}

#[tokio::test]
async fn kid_is_required_and_must_be_known() {
    let issuer = issuer().await;
    let v = validator(&issuer);
    assert_refused!(
        v,
        issuer.token().header("kid", serde_json::Value::Null).mint(),
        Error::MissingKid
    );
    assert_refused!(
        v,
        issuer.token().header("kid", json!("")).mint(),
        Error::MissingKid
    );
    assert_refused!(
        v,
        issuer.token().header("kid", json!(7)).mint(),
        Error::MissingKid
    );
    assert_refused!(
        v,
        issuer.token().header("kid", json!("no-such-key")).mint(),
        Error::UnknownKid { .. }
    );
}

#[tokio::test]
async fn issuer_must_match_version_and_tenant() {
    let issuer = issuer().await;
    let v = validator(&issuer);
    let tid = issuer.default_tenant();
    // A foreign authority.
    assert_refused!(
        v,
        issuer
            .token()
            .claim(
                "iss",
                json!(format!("https://login.microsoftonline.com/{tid}/v2.0"))
            )
            .mint(),
        Error::IssuerMismatch { .. }
    );
    // Another allowed tenant's issuer with this tenant's tid.
    assert_refused!(
        v,
        issuer
            .token()
            .claim(
                "iss",
                json!(issuer.issuer(TokenVersion::V2, &other_tenant()))
            )
            .mint(),
        Error::IssuerMismatch { .. }
    );
    // A v1 issuer with ver 2.0, and the reverse.
    assert_refused!(
        v,
        issuer
            .token()
            .claim("iss", json!(issuer.issuer(TokenVersion::V1, &tid)))
            .mint(),
        Error::IssuerMismatch { .. }
    );
    assert_refused!(
        v,
        issuer
            .token()
            .version(TokenVersion::V1)
            .claim("iss", json!(issuer.issuer(TokenVersion::V2, &tid)))
            .mint(),
        Error::IssuerMismatch { .. }
    );
    assert_refused!(
        v,
        issuer.token().without("iss").mint(),
        Error::MissingClaim("iss")
    );
    assert_refused!(
        v,
        issuer
            .token()
            .claim("iss", json!(format!("{}/{tid}/v2.0/", issuer.authority())))
            .mint(),
        Error::IssuerMismatch { .. }
    );
}

#[tokio::test]
async fn tid_must_be_a_guid_and_allowed() {
    let issuer = issuer().await;
    let v = validator(&issuer);
    for bad in [
        "common",
        "organizations",
        "",
        "122fb574",
        "{00000000-0000-4000-8000-000000000002}",
    ] {
        assert_refused!(
            v,
            issuer.token().claim("tid", json!(bad)).mint(),
            Error::InvalidTenantId
        );
    }
    assert_refused!(
        v,
        issuer.token().claim("tid", json!(42)).mint(),
        Error::MissingClaim("tid")
    );
    assert_refused!(
        v,
        issuer.token().without("tid").mint(),
        Error::MissingClaim("tid")
    );
    let requests = issuer.jwks_requests();
    assert_refused!(
        v,
        issuer.token().tenant(stranger_tenant()).mint(),
        Error::TenantNotAllowed { .. }
    );
    assert_eq!(
        issuer.jwks_requests(),
        requests,
        "a stranger's keys were fetched"
    );
}

#[tokio::test]
async fn another_allowed_tenant_is_accepted_with_its_own_issuer() {
    let issuer = issuer().await;
    let v = validator(&issuer);
    let p = v
        .validate(&issuer.token().tenant(other_tenant()).mint())
        .await
        .unwrap();
    assert_eq!(p.tenant_id(), other_tenant());
}

#[tokio::test]
async fn personal_accounts_are_refused_unless_enabled() {
    let issuer = issuer().await;
    let msa = axe_auth::PERSONAL_ACCOUNTS_TENANT;
    let token = issuer.token().tenant(msa).mint();
    assert_refused!(validator(&issuer), token, Error::PersonalAccount);
    let allowing = Validator::new(
        config(&issuer)
            .allow_personal_accounts(true)
            .build()
            .unwrap(),
    );
    assert_eq!(allowing.validate(&token).await.unwrap().tenant_id(), msa);
}

#[tokio::test]
async fn the_key_must_sign_for_the_tokens_issuer() {
    let issuer = issuer().await;
    let v = validator(&issuer);
    // A key published for a fixed, different tenant.
    let foreign =
        issuer.add_key_with_issuer(Some(issuer.issuer(TokenVersion::V2, &other_tenant())));
    assert_refused!(
        v,
        issuer.token().kid(&foreign).mint(),
        Error::KeyIssuerMismatch { .. }
    );
    // The same key is fine for the tenant it names.
    v.validate(&issuer.token().kid(&foreign).tenant(other_tenant()).mint())
        .await
        .unwrap();
    // A key without an issuer member.
    let bare = issuer.add_key_with_issuer(None);
    let v = validator(&issuer);
    assert_refused!(
        v,
        issuer.token().kid(&bare).mint(),
        Error::KeyIssuerMismatch { .. }
    );
}

#[tokio::test]
async fn audience_must_be_configured() {
    let issuer = issuer().await;
    let v = validator(&issuer);
    assert_refused!(
        v,
        issuer.token().audience("api://someone-else").mint(),
        Error::AudienceMismatch { .. }
    );
    assert_refused!(
        v,
        issuer
            .token()
            .audience("00000003-0000-0000-c000-000000000000")
            .mint(),
        Error::AudienceMismatch { .. }
    );
    assert_refused!(
        v,
        issuer.token().without("aud").mint(),
        Error::MissingClaim("aud")
    );
    // Each configured audience works; arrays too.
    v.validate(
        &issuer
            .token()
            .audience("11111111-aaaa-4bbb-8ccc-000000000001")
            .mint(),
    )
    .await
    .unwrap();
    v.validate(
        &issuer
            .token()
            .claim("aud", json!(["x", issuer.default_audience()]))
            .mint(),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn expiry_and_not_before_honour_the_leeway() {
    let issuer = issuer().await;
    let now = SystemTime::now();
    let clock = ManualClock::at(now);
    let v = Validator::new(config(&issuer).clock(clock.clone()).build().unwrap());
    let token = issuer
        .token()
        .issued_at(now)
        .lifetime(Duration::from_secs(600))
        .mint();
    v.validate(&token).await.unwrap();
    clock.advance(Duration::from_secs(600 + 59));
    v.validate(&token).await.unwrap();
    clock.advance(Duration::from_secs(2));
    assert_refused!(v, token, Error::Expired { .. });

    clock.set(now);
    let future = issuer
        .token()
        .issued_at(now + Duration::from_secs(120))
        .mint();
    assert_refused!(v, future, Error::NotYetValid { .. });
    clock.advance(Duration::from_secs(61));
    v.validate(&future).await.unwrap();

    assert_refused!(
        v,
        issuer.token().without("exp").mint(),
        Error::MissingClaim("exp")
    );
    assert_refused!(
        v,
        issuer.token().claim("exp", json!("soon")).mint(),
        Error::MissingClaim("exp")
    );
    v.validate(&issuer.token().without("nbf").mint())
        .await
        .unwrap();
}

#[tokio::test]
async fn leeway_is_configurable() {
    let issuer = issuer().await;
    let now = SystemTime::now();
    let clock = ManualClock::at(now + Duration::from_secs(610));
    let strict = Validator::new(
        config(&issuer)
            .leeway(Duration::ZERO)
            .clock(clock)
            .build()
            .unwrap(),
    );
    let token = issuer
        .token()
        .issued_at(now)
        .lifetime(Duration::from_secs(600))
        .mint();
    assert_refused!(strict, token, Error::Expired { .. });
}

#[tokio::test]
async fn scp_or_roles_are_required() {
    let issuer = issuer().await;
    let v = validator(&issuer);
    let nothing = issuer.token().scopes(Vec::<String>::new()).mint();
    assert_refused!(v, nothing, Error::NoPermissions { .. });
    assert_refused!(
        v,
        issuer.token().claim("scp", json!(["a"])).mint(),
        Error::MissingClaim("scp")
    );
    assert_refused!(
        v,
        issuer.token().claim("roles", json!("Admin")).mint(),
        Error::MissingClaim("roles")
    );
    let scopes_only = Validator::new(
        config(&issuer)
            .required_permissions(RequiredPermissions::Scopes)
            .build()
            .unwrap(),
    );
    let app = issuer
        .token()
        .scopes(Vec::<String>::new())
        .roles(["R"])
        .mint();
    assert_refused!(scopes_only, app, Error::NoPermissions { expected: "scp" });
    let none = Validator::new(
        config(&issuer)
            .required_permissions(RequiredPermissions::None)
            .build()
            .unwrap(),
    );
    none.validate(&nothing).await.unwrap();
}

#[tokio::test]
async fn identity_claims_are_required() {
    let issuer = issuer().await;
    let v = validator(&issuer);
    assert_refused!(
        v,
        issuer.token().without("oid").mint(),
        Error::MissingClaim("oid")
    );
    assert_refused!(
        v,
        issuer.token().without("sub").mint(),
        Error::MissingClaim("sub")
    );
    assert_refused!(
        v,
        issuer.token().without("azp").mint(),
        Error::MissingClaim("azp")
    );
    assert_refused!(
        v,
        issuer
            .token()
            .version(TokenVersion::V1)
            .without("appid")
            .mint(),
        Error::MissingClaim("appid")
    );
    assert_refused!(
        v,
        issuer.token().without("ver").mint(),
        Error::MissingClaim("ver")
    );
    assert_refused!(
        v,
        issuer.token().claim("ver", json!("3.0")).mint(),
        Error::UnsupportedVersion { .. }
    );
}

#[tokio::test]
async fn graph_tokens_with_a_nonce_are_refused() {
    let issuer = issuer().await;
    let v = validator(&issuer);
    let token = issuer.token().header("nonce", json!("abc123")).mint();
    assert_refused!(v, token, Error::GraphToken);
}

#[tokio::test]
async fn oversized_and_garbage_tokens_are_refused_before_parsing() {
    let issuer = issuer().await;
    let v = validator(&issuer);
    let huge = issuer
        .token()
        .claim("padding", json!("x".repeat(100 * 1024)))
        .mint();
    assert_refused!(v, huge, Error::TooLarge { .. });
    assert_refused!(v, "a".repeat(100_000), Error::TooLarge { .. });
    for garbage in [
        "",
        "abc",
        "a.b",
        "!!!.???.###",
        "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsifQ.%%%.sig",
        "e30.e30.e30.e30.e30",
        "bnVsbA.bnVsbA.c2ln",
    ] {
        assert_refused!(v, garbage, Error::Malformed(_));
    }
    // Valid base64 of a JSON array instead of an object.
    assert_refused!(v, "WzFd.WzFd.c2ln", Error::Malformed(_));
    // Padding characters are not base64url-no-pad.
    let good = issuer.token().mint();
    let mut parts: Vec<String> = good.split('.').map(str::to_owned).collect();
    parts[1].push('=');
    assert_refused!(v, parts.join("."), Error::Malformed(_));
}

#[tokio::test]
async fn nothing_is_fetched_for_malformed_or_unallowed_tokens() {
    let issuer = issuer().await;
    let v = validator(&issuer);
    for token in [
        issuer.token().signing(Signing::None).mint(),
        issuer.token().tenant(stranger_tenant()).mint(),
        issuer.token().header("nonce", json!("n")).mint(),
        issuer
            .token()
            .claim("iss", json!("https://evil.example/"))
            .mint(),
        "garbage".to_owned(),
    ] {
        assert!(v.validate(&token).await.is_err());
    }
    assert_eq!(issuer.jwks_requests(), 0);
}
