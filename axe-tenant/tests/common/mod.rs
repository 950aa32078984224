//! Fixtures shared by the integration tests.
#![allow(dead_code, unreachable_pub)]

use axe_auth::{Principal, TenantId};
use axe_tenant::Customers;

pub const AXE_TID: &str = "122fb574-1b1d-4c59-a6b1-6a3f0d5ad0e1";
pub const REALCHOICE_TID: &str = "5f0c2a9e-7d41-4e8b-9c3a-2b6d8e1f4a70";
pub const PARTNER_TID: &str = "7a7a7a7a-0000-4000-8000-000000000003";
pub const PARTNER_TID_2: &str = "7a7a7a7a-0000-4000-8000-000000000004";
pub const STRICT_TID: &str = "5757e575-0000-4000-8000-000000000005";
pub const UNKNOWN_TID: &str = "deadbeef-0000-4000-8000-000000000009";
pub const OPS_OID: &str = "0b0b0b0b-0000-4000-8000-000000000001";
pub const SOME_OID: &str = "0c0c0c0c-0000-4000-8000-000000000002";

/// Four customers covering every rule kind.
pub const FIXTURE: &str = r#"
base_domain: axelabs.ai
customers:
  - id: axe
    tenant: 122fb574-1b1d-4c59-a6b1-6a3f0d5ad0e1
    domains: [axellc.com]
    services: [frame]
    entities:
      - id: axe
        default: true
      - id: lab
        roles: [Lab.Member]
      - id: ops
        users: [0b0b0b0b-0000-4000-8000-000000000001]
        roles: [Ops.Admin]
  - id: realchoice
    tenant: 5f0c2a9e-7d41-4e8b-9c3a-2b6d8e1f4a70
    domains: [realchoice.co.kr, 리얼초이스.kr]
    include_subdomains: true
    services: [frame, blueprint]
    entities:
      - id: realchoice
        default: true
      - id: seoul
        domains: [seoul.realchoice.co.kr]
  - id: partner
    tenant: 7a7a7a7a-0000-4000-8000-000000000003
    extra_tenants: [7a7a7a7a-0000-4000-8000-000000000004]
    domains: [partner.example]
    require_email_domain: true
    allow_guests_from: [axe]
    services: [frame]
    entities:
      - id: partner
        default: true
  - id: strict
    tenant: 5757e575-0000-4000-8000-000000000005
    domains: [strict.example]
    services: [frame]
    entities:
      - id: only
        roles: [Only.Role]
"#;

pub fn fixture() -> Customers {
    Customers::from_yaml(FIXTURE, "fixture.yaml").expect("the fixture is valid")
}

pub fn tid(s: &str) -> TenantId {
    s.parse().expect("a valid tenant id")
}

/// A user of `tenant` with a verified (`xms_edov`) email.
pub fn verified(tenant: &str, email: &str) -> Principal {
    Principal::builder(tid(tenant), SOME_OID)
        .email(email)
        .email_domain_verified(true)
        .build()
}

/// A user of `tenant` whose email nobody vouches for.
pub fn unverified(tenant: &str, email: &str) -> Principal {
    Principal::builder(tid(tenant), SOME_OID)
        .email(email)
        .build()
}
