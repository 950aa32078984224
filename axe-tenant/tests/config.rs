//! Load-time validation: every refusal names the file, the YAML path, the
//! line, and the reason.
#![allow(clippy::unwrap_used, clippy::type_complexity)] // test helpers outside #[test] fns

mod common;

use axe_tenant::{ConfigErrorKind as K, Customers, DomainError};

/// A valid one-customer file; cases replace one line of it.
const BASE: &str = "\
base_domain: axelabs.ai
customers:
  - id: axe
    tenant: 122fb574-1b1d-4c59-a6b1-6a3f0d5ad0e1
    domains: [axellc.com]
    include_subdomains: false
    services: [frame]
    entities:
      - id: axe
        default: true
";

const SECOND: &str = "  - id: realchoice
    tenant: 5f0c2a9e-7d41-4e8b-9c3a-2b6d8e1f4a70
    domains: [realchoice.co.kr]
    services: [frame]
    entities:
      - id: realchoice
        default: true
";

fn with(from: &str, to: &str) -> String {
    assert!(BASE.contains(from), "{from}");
    BASE.replacen(from, to, 1)
}

fn two(edit_second: (&str, &str)) -> String {
    format!("{BASE}{}", SECOND.replacen(edit_second.0, edit_second.1, 1))
}

#[test]
fn the_base_and_the_example_file_are_valid() {
    Customers::from_yaml(BASE, "base.yaml").unwrap();
    Customers::from_yaml(&two(("", "")), "two.yaml").unwrap();
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/customers.yaml");
    let report = axe_tenant::check(example).unwrap();
    assert_eq!(
        (report.customers, report.entities, report.domains),
        (2, 2, 2)
    );
    common::fixture();
}

#[test]
fn refusal_table() {
    type Check = fn(&K) -> bool;
    let cases: Vec<(&str, String, &str, usize, Check)> = vec![
        (
            "unknown key",
            with(
                "    include_subdomains: false",
                "    include_subdomain: true",
            ),
            "customers[0]",
            6,
            |k| matches!(k, K::UnknownKey { key } if key == "include_subdomain"),
        ),
        (
            "unknown top-level key",
            format!("{BASE}customer: []\n"),
            ".",
            11,
            |k| matches!(k, K::UnknownKey { key } if key == "customer"),
        ),
        (
            "unknown entity key",
            with("        default: true", "        defualt: true"),
            "customers[0].entities[0]",
            10,
            |k| matches!(k, K::UnknownKey { .. }),
        ),
        (
            "duplicate key",
            with(
                "    services: [frame]",
                "    services: [frame]\n    services: [frame]",
            ),
            "customers[0]",
            3,
            |k| matches!(k, K::DuplicateKey { key } if key == "services"),
        ),
        (
            "YAML 1.1 no as bool",
            with("include_subdomains: false", "include_subdomains: no"),
            "customers[0].include_subdomains",
            6,
            |k| matches!(k, K::Yaml { .. }),
        ),
        (
            "YAML 1.1 on as bool",
            with("default: true", "default: on"),
            "customers[0].entities[0].default",
            10,
            |k| matches!(k, K::Yaml { .. }),
        ),
        (
            "quoted bool",
            with("default: true", "default: \"true\""),
            "customers[0].entities[0].default",
            10,
            |k| matches!(k, K::Yaml { .. }),
        ),
        (
            "bare no as id",
            with("  - id: axe", "  - id: no"),
            "customers[0].id",
            3,
            |k| matches!(k, K::BareWord { word } if word == "no"),
        ),
        (
            "bare ON as service",
            with("services: [frame]", "services: [frame, ON]"),
            "customers[0].services[1]",
            7,
            |k| matches!(k, K::BareWord { word } if word == "ON"),
        ),
        (
            "bare true as a string",
            with("services: [frame]", "services: [true]"),
            "customers[0].services[0]",
            7,
            |k| matches!(k, K::Yaml { message } if message.contains("boolean")),
        ),
        (
            "null as a string",
            with("  - id: axe", "  - id: ~"),
            "customers[0].id",
            3,
            |k| matches!(k, K::Yaml { message } if message.contains("null")),
        ),
        (
            "number as a string",
            with("services: [frame]", "services: [0x10]"),
            "customers[0].services[0]",
            7,
            |k| matches!(k, K::Yaml { .. }),
        ),
        (
            "bad customer id",
            with("  - id: axe", "  - id: Axe"),
            "customers[0].id",
            3,
            |k| matches!(k, K::InvalidId { input, .. } if input == "Axe"),
        ),
        (
            "customer id with a dot",
            with("  - id: axe", "  - id: a.xe"),
            "customers[0].id",
            3,
            |k| matches!(k, K::InvalidId { .. }),
        ),
        (
            "bad entity id",
            with("      - id: axe", "      - id: 1axe"),
            "customers[0].entities[0].id",
            9,
            |k| matches!(k, K::InvalidId { .. }),
        ),
        (
            "tenant not a GUID",
            with(
                "tenant: 122fb574-1b1d-4c59-a6b1-6a3f0d5ad0e1",
                "tenant: 122fb574-…",
            ),
            "customers[0].tenant",
            4,
            |k| matches!(k, K::InvalidTenantId { .. }),
        ),
        (
            "tenant common",
            with(
                "tenant: 122fb574-1b1d-4c59-a6b1-6a3f0d5ad0e1",
                "tenant: common",
            ),
            "customers[0].tenant",
            4,
            |k| matches!(k, K::InvalidTenantId { .. }),
        ),
        (
            "personal accounts tenant",
            with(
                "122fb574-1b1d-4c59-a6b1-6a3f0d5ad0e1",
                "9188040d-6c67-4c5b-b112-36a304b66dad",
            ),
            "customers[0].tenant",
            4,
            |k| matches!(k, K::PersonalAccountsTenant { .. }),
        ),
        (
            "public suffix com",
            with("[axellc.com]", "[com]"),
            "customers[0].domains[0]",
            5,
            |k| matches!(k, K::PublicSuffix { domain } if domain.as_str() == "com"),
        ),
        (
            "public suffix co.kr",
            with("[axellc.com]", "[axellc.com, CO.KR.]"),
            "customers[0].domains[1]",
            5,
            |k| matches!(k, K::PublicSuffix { domain } if domain.as_str() == "co.kr"),
        ),
        (
            "consumer gmail",
            with("[axellc.com]", "[gmail.com]"),
            "customers[0].domains[0]",
            5,
            |k| matches!(k, K::ConsumerDomain { .. }),
        ),
        (
            "consumer naver, fullwidth",
            with("[axellc.com]", "[ｎａｖｅｒ.com]"),
            "customers[0].domains[0]",
            5,
            |k| matches!(k, K::ConsumerDomain { domain } if domain.as_str() == "naver.com"),
        ),
        (
            "consumer subdomain",
            with("[axellc.com]", "[mail.outlook.com]"),
            "customers[0].domains[0]",
            5,
            |k| matches!(k, K::ConsumerDomain { .. }),
        ),
        (
            "onmicrosoft.com",
            with("[axellc.com]", "[onmicrosoft.com]"),
            "customers[0].domains[0]",
            5,
            |k| matches!(k, K::SharedDomain { .. }),
        ),
        (
            "two trailing dots",
            with("[axellc.com]", "[axellc.com..]"),
            "customers[0].domains[0]",
            5,
            |k| {
                matches!(
                    k,
                    K::InvalidDomain {
                        reason: DomainError::TrailingDots,
                        ..
                    }
                )
            },
        ),
        (
            "underscore",
            with("[axellc.com]", "[axel_lc.com]"),
            "customers[0].domains[0]",
            5,
            |k| {
                matches!(
                    k,
                    K::InvalidDomain {
                        reason: DomainError::Idna,
                        ..
                    }
                )
            },
        ),
        (
            "duplicate domain after normalization",
            with("[axellc.com]", "[axellc.com, AXELLC.com.]"),
            "customers[0].domains[1]",
            5,
            |k| matches!(k, K::DuplicateDomain { first, .. } if first == "customers[0].domains[0]"),
        ),
        (
            "domain claimed by two customers",
            two(("[realchoice.co.kr]", "[realchoice.co.kr, ａｘｅｌｌｃ.com]")),
            "customers[1].domains[1]",
            13,
            |k| matches!(k, K::DuplicateDomain { first, .. } if first == "customers[0].domains[0]"),
        ),
        (
            "overlapping domains",
            two(("[realchoice.co.kr]", "[realchoice.co.kr, lab.axellc.com]"))
                .replace("include_subdomains: false", "include_subdomains: true"),
            "customers[1].domains[1]",
            13,
            |k| matches!(k, K::OverlappingDomain { other, .. } if other.as_str() == "axellc.com"),
        ),
        (
            "duplicate customer id",
            two(("id: realchoice", "id: axe")),
            "customers[1].id",
            11,
            |k| matches!(k, K::DuplicateCustomer { first, .. } if first == "customers[0].id"),
        ),
        (
            "duplicate tenant",
            two((
                "5f0c2a9e-7d41-4e8b-9c3a-2b6d8e1f4a70",
                "122FB574-1B1D-4C59-A6B1-6A3F0D5AD0E1",
            )),
            "customers[1].tenant",
            12,
            |k| matches!(k, K::DuplicateTenant { first, .. } if first == "customers[0].tenant"),
        ),
        (
            "duplicate entity id",
            with(
                "        default: true",
                "        default: true\n      - id: axe\n        roles: [X]",
            ),
            "customers[0].entities[1].id",
            11,
            |k| matches!(k, K::DuplicateEntity { .. }),
        ),
        (
            "two defaults",
            with(
                "        default: true",
                "        default: true\n      - id: two\n        default: true",
            ),
            "customers[0].entities[1].default",
            12,
            |k| matches!(k, K::MultipleDefaults { .. }),
        ),
        (
            "no default and no rule",
            with("        default: true", "        default: false"),
            "customers[0].entities[0]",
            9,
            |k| matches!(k, K::EntityWithoutRule { id } if id == "axe"),
        ),
        (
            "no entities",
            with(
                "    entities:\n      - id: axe\n        default: true",
                "    entities: []",
            ),
            "customers[0].entities",
            8,
            |k| matches!(k, K::NoEntities),
        ),
        (
            "no services",
            with("services: [frame]", "services: []"),
            "customers[0].services",
            7,
            |k| matches!(k, K::NoServices),
        ),
        (
            "user not a GUID",
            with(
                "        default: true",
                "        users: [someone@axellc.com]",
            ),
            "customers[0].entities[0].users[0]",
            10,
            |k| matches!(k, K::InvalidObjectId { .. }),
        ),
        (
            "role with a space",
            with("        default: true", "        roles: ['Lab Member']"),
            "customers[0].entities[0].roles[0]",
            10,
            |k| matches!(k, K::InvalidRole { .. }),
        ),
        (
            "one role, two entities",
            with(
                "        default: true",
                "        roles: [R]\n      - id: b\n        roles: [R]",
            ),
            "customers[0].entities[1].roles[0]",
            12,
            |k| matches!(k, K::DuplicateRule { first, .. } if first == "customers[0].entities[0].roles[0]"),
        ),
        (
            "entity domain outside the customer",
            with("        default: true", "        domains: [lab.axellc.com]"),
            "customers[0].entities[0].domains[0]",
            10,
            |k| matches!(k, K::EntityDomainOutsideCustomer { .. }),
        ),
        (
            "guest of an unknown customer",
            with(
                "    services: [frame]",
                "    services: [frame]\n    allow_guests_from: [nobody]",
            ),
            "customers[0].allow_guests_from[0]",
            8,
            |k| matches!(k, K::UnknownCustomer { id } if id == "nobody"),
        ),
        (
            "guest of itself",
            with(
                "    services: [frame]",
                "    services: [frame]\n    allow_guests_from: [axe]",
            ),
            "customers[0].allow_guests_from[0]",
            8,
            |k| matches!(k, K::GuestOfItself),
        ),
        (
            "missing tenant",
            with("    tenant: 122fb574-1b1d-4c59-a6b1-6a3f0d5ad0e1\n", ""),
            "customers[0]",
            3,
            |k| matches!(k, K::Yaml { message } if message.contains("tenant")),
        ),
        (
            "syntax",
            with("    domains: [axellc.com]", "    domains: [axellc.com"),
            ".",
            6,
            |k| matches!(k, K::Yaml { .. }),
        ),
        ("two documents", format!("{BASE}---\n{BASE}"), ".", 0, |k| {
            matches!(k, K::Yaml { .. })
        }),
    ];
    let mut failures = Vec::new();
    for (name, src, path, line, check) in cases {
        match Customers::from_yaml(&src, "customers.yaml") {
            Ok(_) => failures.push(format!("{name}: accepted")),
            Err(e) => {
                let got_line = e.line().unwrap_or(0);
                if e.path() != path
                    || got_line != line
                    || !check(e.kind())
                    || e.file() != "customers.yaml"
                {
                    failures.push(format!(
                        "{name}: want {path} line {line}; got {} line {got_line}: {:?} ({e})",
                        e.path(),
                        e.kind()
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn quoted_yaml11_words_are_strings() {
    let src = with(
        "services: [frame]",
        "services: [frame, 'on', \"yes\", !!str off]",
    )
    .replacen("  - id: axe", "  - id: \"no\"", 1);
    let customers = Customers::from_yaml(&src, "x.yaml").unwrap();
    let no = customers.customer("no").unwrap();
    let services: Vec<_> = no.services().iter().map(|s| s.as_str()).collect();
    assert_eq!(services, ["frame", "on", "yes", "off"]);
}

#[test]
fn check_reports_every_error_in_order() {
    let src = with("[axellc.com]", "[com, gmail.com]").replacen("  - id: axe", "  - id: no", 1);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("customers.yaml");
    std::fs::write(&path, src).unwrap();
    let errors = axe_tenant::check(&path).unwrap_err();
    let lines: Vec<_> = errors
        .iter()
        .map(|e| (e.line(), e.path().to_owned()))
        .collect();
    assert_eq!(
        lines,
        [
            (Some(3), "customers[0].id".to_owned()),
            (Some(5), "customers[0].domains[0]".to_owned()),
            (Some(5), "customers[0].domains[1]".to_owned()),
        ]
    );
    let shown = errors[1].to_string();
    assert!(
        shown.starts_with(&format!(
            "{}:5:15: customers[0].domains[0]: ",
            path.display()
        )),
        "{shown}"
    );
    let missing = axe_tenant::check(dir.path().join("nope.yaml")).unwrap_err();
    assert!(matches!(missing[0].kind(), K::Io(_)));
}
