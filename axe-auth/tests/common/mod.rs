//! Shared set-up of the integration tests: a real `TestIssuer` on loopback
//! and a validator pointed at it.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::time::Duration;

use axe_auth::test_util::TestIssuer;
use axe_auth::{EntraConfigBuilder, JwksSettings, TenantId, Validator};

pub const OTHER_TENANT: &str = "0b0b0b0b-0000-4000-8000-000000000002";
pub const STRANGER_TENANT: &str = "0c0c0c0c-0000-4000-8000-000000000003";

pub fn other_tenant() -> TenantId {
    OTHER_TENANT.parse().unwrap()
}

pub fn stranger_tenant() -> TenantId {
    STRANGER_TENANT.parse().unwrap()
}

pub async fn issuer() -> TestIssuer {
    TestIssuer::start().await.expect("test issuer starts")
}

/// Accepts the issuer's default tenant and `OTHER_TENANT`, short timeouts.
pub fn config(issuer: &TestIssuer) -> EntraConfigBuilder {
    issuer
        .config_builder()
        .tenant(other_tenant())
        .audience("11111111-aaaa-4bbb-8ccc-000000000001")
        .jwks(JwksSettings {
            fetch_timeout: Duration::from_millis(800),
            retry_after_failure: Duration::from_secs(10),
            ..JwksSettings::default()
        })
}

pub fn validator(issuer: &TestIssuer) -> Validator {
    Validator::new(config(issuer).build().unwrap())
}
