//! axe-tenant: resolving a token and routing a host with 10 and with 10,000
//! customers. The lookups are hash maps, so the two should cost the same
//! (goal: the 10,000 case within 1.5× of the 10 case).
//!
//! `cargo bench -p axe-benches --bench tenant`
//!
//! - `resolve/{n}`: `Customers::resolve` for a user with a verified email
//!   and an app role (tenant, domain owner, role lookups), cycling through
//!   64 users spread over all customers.
//! - `route/{n}`: `Customers::route` for a `Host` with port and upper case.
//!
//! Customer ids are zero-padded so both sizes hash and normalize inputs of
//! the same length.

use std::hint::black_box;

use axe_auth::{Principal, TenantId};
use axe_tenant::Customers;
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};

fn tenant(i: usize) -> String {
    format!("{:08x}-0000-4000-8000-{:012x}", i + 1, i)
}

fn customers(n: usize) -> Customers {
    let mut yaml = String::from("base_domain: axelabs.ai\ncustomers:\n");
    for i in 0..n {
        yaml += &format!(
            "  - id: c{i:05}\n    tenant: {}\n    domains: [c{i:05}.example, c{i:05}-corp.co.kr]\n    \
             include_subdomains: true\n    services: [frame]\n    entities:\n      \
             - {{ id: main, default: true }}\n      - {{ id: lab, roles: [Lab.Member] }}\n",
            tenant(i)
        );
    }
    Customers::from_yaml(&yaml, "bench.yaml").expect("the generated file is valid")
}

fn users(n: usize) -> Vec<Principal> {
    (0..64)
        .map(|k| {
            let i = (k * 7919) % n;
            let tid: TenantId = tenant(i).parse().expect("a valid tenant id");
            Principal::builder(tid, "0c0c0c0c-0000-4000-8000-000000000002")
                .email(format!("someone@mail.C{i:05}.example"))
                .email_domain_verified(true)
                .roles(["Other", "Lab.Member"])
                .build()
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("tenant");
    for n in [10, 10_000] {
        let customers = customers(n);
        let users = users(n);
        let hosts: Vec<String> = (0..64)
            .map(|k| format!("C{:05}.AxeLabs.ai:443", (k * 7919) % n))
            .collect();
        group.bench_with_input(BenchmarkId::new("resolve", n), &n, |b, _| {
            let mut k = 0;
            b.iter(|| {
                k = (k + 1) % users.len();
                black_box(customers.resolve(black_box(&users[k])))
            })
        });
        group.bench_with_input(BenchmarkId::new("route", n), &n, |b, _| {
            let mut k = 0;
            b.iter(|| {
                k = (k + 1) % hosts.len();
                black_box(customers.route(black_box(&hosts[k]), "/frame/mcp"))
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
