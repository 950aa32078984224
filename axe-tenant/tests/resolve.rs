//! Table tests of resolution: the edge cases of the issue.
#![allow(clippy::unwrap_used, clippy::type_complexity)] // test helpers outside #[test] fns

mod common;

use axe_auth::Principal;
use axe_tenant::{ConflictReason, CustomerSignal, EntitySignal, Resolution, UnknownReason, Via};
use common::*;

/// What a case expects, compactly.
#[derive(Debug, PartialEq)]
enum Want {
    Match(String, String, CustomerSignal, EntitySignal),
    UnknownTenant,
    NoEntity,
    DomainRequired,
    Malformed,
    Foreign(String),
    Ambiguous,
}

fn outcome(r: &Resolution) -> Want {
    match r {
        Resolution::Matched {
            customer,
            entity,
            via,
            ..
        } => Want::Match(
            customer.to_string(),
            entity.to_string(),
            via.customer,
            via.entity,
        ),
        Resolution::Unknown { reason, .. } => match reason {
            UnknownReason::UnknownTenant { .. } => Want::UnknownTenant,
            UnknownReason::NoEntity { .. } => Want::NoEntity,
            UnknownReason::EmailDomainRequired { .. } => Want::DomainRequired,
            UnknownReason::MalformedEmail { .. } => Want::Malformed,
            other => panic!("unexpected {other:?}"),
        },
        Resolution::Conflict { reason, .. } => match reason {
            ConflictReason::ForeignEmailDomain { owner } => Want::Foreign(owner.to_string()),
            ConflictReason::AmbiguousEntity { .. } => Want::Ambiguous,
            other => panic!("unexpected {other:?}"),
        },
        other => panic!("unexpected {other:?}"),
    }
}

fn m(customer: &str, entity: &str, c: CustomerSignal, e: EntitySignal) -> Want {
    Want::Match(customer.into(), entity.into(), c, e)
}

use CustomerSignal::{Tenant, TenantAllowedGuest as Guest, TenantAndEmailDomain as TenantDomain};
use EntitySignal::{Default as Dflt, EmailDomain, Role, User};

#[test]
fn resolution_table() {
    let customers = fixture();
    let roles = |tenant: &str, roles: &[&str]| {
        Principal::builder(tid(tenant), SOME_OID)
            .roles(roles.iter().copied())
            .build()
    };
    let cases: Vec<(&str, Principal, Want)> = vec![
        // Case, fullwidth, trailing dots.
        (
            "plain",
            verified(AXE_TID, "someone@axellc.com"),
            m("axe", "axe", TenantDomain, Dflt),
        ),
        (
            "uppercase",
            verified(AXE_TID, "SOMEONE@AXELLC.COM"),
            m("axe", "axe", TenantDomain, Dflt),
        ),
        (
            "fullwidth",
            verified(AXE_TID, "someone@ａｘｅｌｌｃ．ｃｏｍ"),
            m("axe", "axe", TenantDomain, Dflt),
        ),
        (
            "one trailing dot",
            verified(AXE_TID, "someone@axellc.com."),
            m("axe", "axe", TenantDomain, Dflt),
        ),
        (
            "two trailing dots",
            verified(AXE_TID, "someone@axellc.com.."),
            Want::Malformed,
        ),
        (
            "two @",
            verified(AXE_TID, "a@b@axellc.com"),
            Want::Malformed,
        ),
        ("no @", verified(AXE_TID, "axellc.com"), Want::Malformed),
        // IDN.
        (
            "IDN",
            verified(REALCHOICE_TID, "대표@리얼초이스.kr"),
            m("realchoice", "realchoice", TenantDomain, Dflt),
        ),
        (
            "IDN as A-label",
            verified(REALCHOICE_TID, "x@XN--OY2B27N4RCK5B81L.KR"),
            m("realchoice", "realchoice", TenantDomain, Dflt),
        ),
        // Cyrillic look-alikes match nothing: no confirmation, and no conflict either.
        (
            "cyrillic a, own tenant",
            verified(AXE_TID, "someone@аxellc.com"),
            m("axe", "axe", Tenant, Dflt),
        ),
        (
            "cyrillic c, other tenant",
            verified(AXE_TID, "x@realchoiсe.co.kr"),
            m("axe", "axe", Tenant, Dflt),
        ),
        (
            "cyrillic, unknown tenant",
            verified(UNKNOWN_TID, "someone@аxellc.com"),
            Want::UnknownTenant,
        ),
        // evil-prefix domains are other domains.
        (
            "evil prefix",
            verified(REALCHOICE_TID, "x@evilrealchoice.co.kr"),
            m("realchoice", "realchoice", Tenant, Dflt),
        ),
        (
            "evil prefix of another",
            verified(REALCHOICE_TID, "x@evilaxellc.com"),
            m("realchoice", "realchoice", Tenant, Dflt),
        ),
        (
            "evil suffix",
            verified(AXE_TID, "x@axellc.com.evil.example"),
            m("axe", "axe", Tenant, Dflt),
        ),
        // Subdomains: with opt-in (realchoice) and without (axe).
        (
            "subdomain, opted in",
            verified(REALCHOICE_TID, "x@mail.realchoice.co.kr"),
            m("realchoice", "realchoice", TenantDomain, Dflt),
        ),
        (
            "entity domain",
            verified(REALCHOICE_TID, "x@seoul.realchoice.co.kr"),
            m("realchoice", "seoul", TenantDomain, EmailDomain),
        ),
        (
            "below entity domain",
            verified(REALCHOICE_TID, "x@a.seoul.realchoice.co.kr"),
            m("realchoice", "seoul", TenantDomain, EmailDomain),
        ),
        (
            "subdomain, not opted in",
            verified(AXE_TID, "x@mail.axellc.com"),
            m("axe", "axe", Tenant, Dflt),
        ),
        (
            "other's subdomain, not opted in",
            verified(REALCHOICE_TID, "x@mail.axellc.com"),
            m("realchoice", "realchoice", Tenant, Dflt),
        ),
        (
            "other's subdomain, opted in",
            verified(AXE_TID, "x@mail.realchoice.co.kr"),
            Want::Foreign("realchoice".into()),
        ),
        // Guests.
        (
            "guest of another customer",
            verified(AXE_TID, "x@realchoice.co.kr"),
            Want::Foreign("realchoice".into()),
        ),
        (
            "guest, allowed",
            verified(PARTNER_TID, "x@axellc.com"),
            m("partner", "partner", Guest, Dflt),
        ),
        (
            "guest, allowed one way only",
            verified(AXE_TID, "x@partner.example"),
            Want::Foreign("partner".into()),
        ),
        (
            "guest from a consumer domain",
            verified(AXE_TID, "x@gmail.com"),
            m("axe", "axe", Tenant, Dflt),
        ),
        (
            "guest, domain required",
            verified(PARTNER_TID, "x@gmail.com"),
            Want::DomainRequired,
        ),
        (
            "extra tenant",
            verified(PARTNER_TID_2, "x@partner.example"),
            m("partner", "partner", TenantDomain, Dflt),
        ),
        // Unverified email never decides: no confirmation, no entity, no conflict, no customer.
        (
            "unverified own domain",
            unverified(AXE_TID, "x@axellc.com"),
            m("axe", "axe", Tenant, Dflt),
        ),
        (
            "unverified entity domain",
            unverified(REALCHOICE_TID, "x@seoul.realchoice.co.kr"),
            m("realchoice", "realchoice", Tenant, Dflt),
        ),
        (
            "unverified other's domain",
            unverified(AXE_TID, "x@realchoice.co.kr"),
            m("axe", "axe", Tenant, Dflt),
        ),
        (
            "unverified, unknown tenant",
            unverified(UNKNOWN_TID, "x@axellc.com"),
            Want::UnknownTenant,
        ),
        (
            "unverified, domain required",
            unverified(PARTNER_TID, "x@partner.example"),
            Want::DomainRequired,
        ),
        (
            "unverified malformed is ignored",
            unverified(AXE_TID, "a@@b"),
            m("axe", "axe", Tenant, Dflt),
        ),
        (
            "edov false",
            Principal::builder(tid(AXE_TID), SOME_OID)
                .email("x@realchoice.co.kr")
                .email_domain_verified(false)
                .email_verified(false)
                .build(),
            m("axe", "axe", Tenant, Dflt),
        ),
        (
            "email_verified true",
            Principal::builder(tid(AXE_TID), SOME_OID)
                .email("x@realchoice.co.kr")
                .email_verified(true)
                .build(),
            Want::Foreign("realchoice".into()),
        ),
        // Unknown tenant, whatever else.
        (
            "unknown tenant",
            verified(UNKNOWN_TID, "x@axellc.com"),
            Want::UnknownTenant,
        ),
        (
            "personal accounts",
            verified("9188040d-6c67-4c5b-b112-36a304b66dad", "x@outlook.com"),
            Want::UnknownTenant,
        ),
        // Entity rules.
        (
            "role",
            roles(AXE_TID, &["Lab.Member"]),
            m("axe", "lab", Tenant, Role),
        ),
        (
            "unmapped role",
            roles(AXE_TID, &["Other"]),
            m("axe", "axe", Tenant, Dflt),
        ),
        (
            "two roles, one entity",
            roles(AXE_TID, &["Ops.Admin", "Other", "Ops.Admin"]),
            m("axe", "ops", Tenant, Role),
        ),
        (
            "two roles, two entities",
            roles(AXE_TID, &["Lab.Member", "Ops.Admin"]),
            Want::Ambiguous,
        ),
        (
            "user beats role",
            Principal::builder(tid(AXE_TID), OPS_OID)
                .roles(["Lab.Member"])
                .build(),
            m("axe", "ops", Tenant, User),
        ),
        (
            "user oid in upper case",
            Principal::builder(tid(AXE_TID), OPS_OID.to_uppercase()).build(),
            m("axe", "ops", Tenant, User),
        ),
        (
            "entity by verified domain",
            Principal::builder(tid(REALCHOICE_TID), SOME_OID)
                .email("x@seoul.realchoice.co.kr")
                .email_domain_verified(true)
                .build(),
            m("realchoice", "seoul", TenantDomain, EmailDomain),
        ),
        (
            "no default, no rule",
            roles(STRICT_TID, &[]),
            Want::NoEntity,
        ),
        (
            "no default, role",
            roles(STRICT_TID, &["Only.Role"]),
            m("strict", "only", Tenant, Role),
        ),
        (
            "roles are case-sensitive",
            roles(STRICT_TID, &["only.role"]),
            Want::NoEntity,
        ),
    ];
    let mut failures = Vec::new();
    for (name, principal, want) in cases {
        let got = outcome(&customers.resolve(&principal));
        if got != want {
            failures.push(format!("{name}: want {want:?}, got {got:?}"));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn via_names_are_stable() {
    assert_eq!(Via::new(Tenant, Dflt).to_string(), "tenant/default");
    assert_eq!(
        Via::new(TenantDomain, EmailDomain).to_string(),
        "tenant+email_domain/email_domain"
    );
    assert_eq!(Via::new(Guest, User).to_string(), "tenant+guest/user");
    assert_eq!(Via::new(Tenant, Role).to_string(), "tenant/role");
}

#[test]
fn every_resolution_carries_the_generation() {
    let registry = axe_tenant::CustomerRegistry::new(fixture());
    registry.replace(fixture());
    for p in [
        verified(AXE_TID, "x@axellc.com"),
        verified(UNKNOWN_TID, "x@axellc.com"),
        verified(AXE_TID, "x@realchoice.co.kr"),
    ] {
        assert_eq!(registry.resolve(&p).generation(), 2);
    }
}

#[test]
fn lookups_by_domain_host_and_tenant() {
    let c = fixture();
    let d = |s: &str| axe_tenant::DomainName::parse(s).unwrap();
    assert_eq!(
        c.customer_for_domain(&d("axellc.com"))
            .map(|c| c.id().as_str()),
        Some("axe")
    );
    assert_eq!(
        c.customer_for_domain(&d("a.axellc.com"))
            .map(|c| c.id().as_str()),
        None
    );
    assert_eq!(
        c.customer_for_domain(&d("a.b.realchoice.co.kr"))
            .map(|c| c.id().as_str()),
        Some("realchoice")
    );
    assert_eq!(
        c.customer_for_domain(&d("co.kr")).map(|c| c.id().as_str()),
        None
    );
    assert_eq!(
        c.customer_for_host("axe.axelabs.ai").map(|c| c.tenant()),
        Some(tid(AXE_TID))
    );
    assert!(c.customer_for_host("x.axe.axelabs.ai").is_none());
    assert!(c.customer_for_host("axelabs.ai").is_none());
    assert!(c.customer_for_host("axe.evilaxelabs.ai").is_none());
    assert_eq!(
        c.customer_for_tenant(&tid(PARTNER_TID_2))
            .map(|c| c.id().as_str()),
        Some("partner")
    );
    let rc = c.customer("realchoice").unwrap();
    assert_eq!(rc.domains()[1].as_str(), "xn--oy2b27n4rck5b81l.kr");
    assert!(rc.offers("blueprint"));
}
