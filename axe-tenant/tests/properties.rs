//! Property tests of resolution over generated configurations.
#![allow(clippy::unwrap_used, clippy::type_complexity)] // test helpers outside #[test] fns

use axe_auth::{Principal, TenantId};
use axe_tenant::{CustomerSignal, Customers, Resolution};
use proptest::prelude::*;

const TENANTS: [&str; 8] = [
    "10000000-0000-4000-8000-000000000000",
    "20000000-0000-4000-8000-000000000000",
    "30000000-0000-4000-8000-000000000000",
    "40000000-0000-4000-8000-000000000000",
    "50000000-0000-4000-8000-000000000000",
    "60000000-0000-4000-8000-000000000000",
    "70000000-0000-4000-8000-000000000000",
    "9188040d-6c67-4c5b-b112-36a304b66dad",
];
const DOMAINS: [&str; 8] = [
    "a.example",
    "b.example",
    "c.example",
    "x.a.example",
    "d.co.kr",
    "e.co.kr",
    "리얼.kr",
    "y.b.example",
];
const EMAIL_DOMAINS: [&str; 12] = [
    "a.example",
    "B.EXAMPLE",
    "x.a.example",
    "deep.x.a.example",
    "d.co.kr.",
    "evila.example",
    "a.example.evil",
    "gmail.com",
    "리얼.kr",
    "xn--9t4b11y.kr",
    "co.kr",
    "y.b.example",
];

#[derive(Debug, Clone)]
struct Spec {
    customers: usize,
    extra_tenant: Vec<bool>,
    domain_owner: Vec<Option<usize>>,
    include_subdomains: Vec<bool>,
    require_email_domain: Vec<bool>,
    guests: Vec<Vec<bool>>,
    role_entity: Vec<bool>,
}

fn spec() -> impl Strategy<Value = Spec> {
    (1usize..=3).prop_flat_map(|n| {
        (
            Just(n),
            proptest::collection::vec(any::<bool>(), n),
            proptest::collection::vec(proptest::option::of(0..n), DOMAINS.len()),
            proptest::collection::vec(any::<bool>(), n),
            proptest::collection::vec(any::<bool>(), n),
            proptest::collection::vec(proptest::collection::vec(any::<bool>(), n), n),
            proptest::collection::vec(any::<bool>(), n),
        )
            .prop_map(
                |(
                    customers,
                    extra_tenant,
                    domain_owner,
                    include_subdomains,
                    require_email_domain,
                    guests,
                    role_entity,
                )| Spec {
                    customers,
                    extra_tenant,
                    domain_owner,
                    include_subdomains,
                    require_email_domain,
                    guests,
                    role_entity,
                },
            )
    })
}

fn yaml(s: &Spec) -> String {
    let mut out = String::from("base_domain: axelabs.ai\ncustomers:\n");
    for i in 0..s.customers {
        let domains: Vec<&str> = DOMAINS
            .iter()
            .zip(&s.domain_owner)
            .filter(|(_, o)| **o == Some(i))
            .map(|(d, _)| *d)
            .collect();
        let guests: Vec<String> = (0..s.customers)
            .filter(|&j| j != i && s.guests[i][j])
            .map(|j| format!("c{j}"))
            .collect();
        out += &format!(
            "  - id: c{i}\n    tenant: {}\n    extra_tenants: [{}]\n    domains: [{}]\n    include_subdomains: {}\n    require_email_domain: {}\n    allow_guests_from: [{}]\n    services: [frame]\n    entities:\n      - {{ id: main, default: true }}\n",
            TENANTS[i],
            if s.extra_tenant[i] {
                TENANTS[i + 3]
            } else {
                ""
            },
            domains.join(", "),
            s.include_subdomains[i],
            s.require_email_domain[i],
            guests.join(", "),
        );
        if s.role_entity[i] {
            out += "      - { id: special, roles: [R1] }\n";
        }
    }
    out
}

fn principal() -> impl Strategy<
    Value = (
        usize,
        Option<(String, usize)>,
        Option<bool>,
        Option<bool>,
        Vec<&'static str>,
    ),
> {
    (
        0..TENANTS.len(),
        proptest::option::of(("[a-zA-Z0-9.]{1,8}", 0..EMAIL_DOMAINS.len())),
        proptest::option::of(any::<bool>()),
        proptest::option::of(any::<bool>()),
        proptest::collection::vec(prop_oneof![Just("R1"), Just("R2")], 0..3),
    )
}

fn build(
    tenant: usize,
    email: &Option<(String, usize)>,
    edov: Option<bool>,
    ev: Option<bool>,
    roles: &[&str],
) -> Principal {
    let tid: TenantId = TENANTS[tenant].parse().unwrap();
    let mut b = Principal::builder(tid, "0c0c0c0c-0000-4000-8000-000000000002")
        .roles(roles.iter().copied());
    if let Some((local, d)) = email {
        b = b.email(format!("{local}@{}", EMAIL_DOMAINS[*d]));
    }
    if let Some(v) = edov {
        b = b.email_domain_verified(v);
    }
    if let Some(v) = ev {
        b = b.email_verified(v);
    }
    b.build()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Resolution never returns a customer whose tenant allow-list lacks the
    /// token's tid; an email nobody vouches for changes nothing; an email
    /// confirms the customer only when vouched for.
    #[test]
    fn resolution_respects_the_tenant_allow_list(s in spec(), p in principal()) {
        let Ok(customers) = Customers::from_yaml(&yaml(&s), "gen.yaml") else {
            // Overlapping generated domains: refused at load, nothing to resolve.
            return Ok(());
        };
        let (tenant, email, edov, ev, roles) = p;
        let tid: TenantId = TENANTS[tenant].parse().unwrap();
        let principal = build(tenant, &email, edov, ev, &roles);
        let resolution = customers.resolve(&principal);
        if let Resolution::Matched { customer, via, .. } = &resolution {
            let c = customers.customer(customer.as_str()).unwrap();
            prop_assert!(c.tenants().contains(&tid), "{customer} does not list {tid}");
            if via.customer != CustomerSignal::Tenant {
                prop_assert!(edov == Some(true) || ev == Some(true));
            }
        }
        let vouched = edov == Some(true) || ev == Some(true);
        if !vouched {
            let without_email = build(tenant, &None, edov, ev, &roles);
            prop_assert_eq!(&resolution, &customers.resolve(&without_email));
        }
        if tid.is_personal_accounts() {
            prop_assert!(matches!(resolution, Resolution::Unknown { .. }), "{:?}", resolution);
        }
    }
}
