//! Property tests: no byte flip survives, and for generated claim sets the
//! validator accepts exactly when every rule holds.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::OnceLock;
use std::time::{Duration, UNIX_EPOCH};

use axe_auth::test_util::{Signing, TestIssuer};
use axe_auth::{ManualClock, TokenVersion, Validator};
use common::*;
use proptest::prelude::*;
use serde_json::json;
use tokio::runtime::Runtime;

/// The fixed "now" of the validator in these tests.
const NOW: u64 = 1_900_000_000;

struct World {
    rt: Runtime,
    issuer: TestIssuer,
    validator: Validator,
    token: String,
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let (issuer, validator, token) = rt.block_on(async {
            let issuer = issuer().await;
            let clock = ManualClock::at(UNIX_EPOCH + Duration::from_secs(NOW));
            let validator = Validator::new(config(&issuer).clock(clock).build().unwrap());
            let token = issuer
                .token()
                .issued_at(UNIX_EPOCH + Duration::from_secs(NOW - 10))
                .mint();
            validator
                .validate(&token)
                .await
                .expect("the base token is valid");
            validator
                .keys()
                .prefetch(other_tenant())
                .await
                .expect("prefetch");
            (issuer, validator, token)
        });
        World {
            rt,
            issuer,
            validator,
            token,
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn any_byte_flip_is_rejected(index in any::<prop::sample::Index>(), bit in 0u8..8) {
        let w = world();
        let mut bytes = w.token.clone().into_bytes();
        let i = index.index(bytes.len());
        bytes[i] ^= 1 << bit;
        if let Ok(flipped) = String::from_utf8(bytes) {
            let result = w.rt.block_on(w.validator.validate(&flipped));
            prop_assert!(result.is_err(), "flip of bit {} at {} accepted", bit, i);
        }
    }

    #[test]
    fn truncations_and_extensions_are_rejected(cut in 1usize..64, extra in "[A-Za-z0-9_.-]{1,8}") {
        let w = world();
        let t = &w.token;
        let truncated = &t[..t.len() - cut.min(t.len() - 1)];
        prop_assert!(w.rt.block_on(w.validator.validate(truncated)).is_err());
        let extended = format!("{t}{extra}");
        prop_assert!(w.rt.block_on(w.validator.validate(&extended)).is_err());
    }
}

#[derive(Debug, Clone, Copy)]
enum Tenant {
    Default,
    OtherAllowed,
    Stranger,
    Personal,
}

#[derive(Debug, Clone, Copy)]
enum Iss {
    Right,
    OtherTenants,
    OtherVersion,
    Foreign,
}

#[derive(Debug, Clone, Copy)]
enum Aud {
    Default,
    ClientId,
    Wrong,
}

#[derive(Debug, Clone)]
struct Case {
    v1: bool,
    tenant: Tenant,
    iss: Iss,
    aud: Aud,
    exp_offset: i64,
    nbf_offset: Option<i64>,
    scp: bool,
    roles: bool,
    oid: bool,
    client: bool,
    nonce: bool,
    signing: Signing,
}

fn case() -> impl Strategy<Value = Case> {
    (
        any::<bool>(),
        prop_oneof![
            4 => Just(Tenant::Default),
            2 => Just(Tenant::OtherAllowed),
            1 => Just(Tenant::Stranger),
            1 => Just(Tenant::Personal)
        ],
        prop_oneof![
            5 => Just(Iss::Right),
            1 => Just(Iss::OtherTenants),
            1 => Just(Iss::OtherVersion),
            1 => Just(Iss::Foreign)
        ],
        prop_oneof![3 => Just(Aud::Default), 1 => Just(Aud::ClientId), 1 => Just(Aud::Wrong)],
        -200i64..3600,
        prop::option::of(-3600i64..200),
        prop::bool::weighted(0.8),
        prop::bool::weighted(0.3),
        prop::bool::weighted(0.95),
        prop::bool::weighted(0.95),
        prop::bool::weighted(0.05),
        prop_oneof![
            8 => Just(Signing::Rs256),
            1 => Just(Signing::None),
            1 => Just(Signing::Hs256WithPublicKey),
            1 => Just(Signing::Ps256)
        ],
    )
        .prop_map(
            |(
                v1,
                tenant,
                iss,
                aud,
                exp_offset,
                nbf_offset,
                scp,
                roles,
                oid,
                client,
                nonce,
                signing,
            )| Case {
                v1,
                tenant,
                iss,
                aud,
                exp_offset,
                nbf_offset,
                scp,
                roles,
                oid,
                client,
                nonce,
                signing,
            },
        )
}

impl Case {
    /// The model: what the rules say.
    fn should_accept(&self) -> bool {
        matches!(self.signing, Signing::Rs256)
            && !self.nonce
            && matches!(self.tenant, Tenant::Default | Tenant::OtherAllowed)
            && matches!(self.iss, Iss::Right)
            && !matches!(self.aud, Aud::Wrong)
            && self.exp_offset >= -60
            && self.nbf_offset.is_none_or(|n| n <= 60)
            && (self.scp || self.roles)
            && self.oid
            && self.client
    }

    fn mint(&self, issuer: &TestIssuer) -> String {
        let version = if self.v1 {
            TokenVersion::V1
        } else {
            TokenVersion::V2
        };
        let tid = match self.tenant {
            Tenant::Default => issuer.default_tenant(),
            Tenant::OtherAllowed => other_tenant(),
            Tenant::Stranger => stranger_tenant(),
            Tenant::Personal => axe_auth::PERSONAL_ACCOUNTS_TENANT,
        };
        let iss = match self.iss {
            Iss::Right => issuer.issuer(version, &tid),
            Iss::OtherTenants => issuer.issuer(
                version,
                &if matches!(self.tenant, Tenant::Default) {
                    other_tenant()
                } else {
                    issuer.default_tenant()
                },
            ),
            Iss::OtherVersion => issuer.issuer(
                if self.v1 {
                    TokenVersion::V2
                } else {
                    TokenVersion::V1
                },
                &tid,
            ),
            Iss::Foreign => format!("https://login.microsoftonline.com/{tid}/v2.0"),
        };
        let mut b = issuer
            .token()
            .version(version)
            .tenant(tid)
            .claim("iss", json!(iss))
            .claim("exp", json!(NOW as i64 + self.exp_offset))
            .signing(self.signing.clone());
        b = match self.nbf_offset {
            Some(n) => b.claim("nbf", json!(NOW as i64 + n)),
            None => b.without("nbf"),
        };
        b = match self.aud {
            Aud::Default => b,
            Aud::ClientId => b.audience("11111111-aaaa-4bbb-8ccc-000000000001"),
            Aud::Wrong => b.audience("api://not-us"),
        };
        if !self.scp {
            b = b.scopes(Vec::<String>::new());
        }
        if self.roles {
            b = b.roles(["Frame.Reader"]);
        }
        if !self.oid {
            b = b.without("oid");
        }
        if !self.client {
            b = b.without(if self.v1 { "appid" } else { "azp" });
        }
        if self.nonce {
            b = b.header("nonce", json!("graph"));
        }
        b.mint()
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 384, ..ProptestConfig::default() })]

    #[test]
    fn acceptance_iff_the_rules_hold(c in case()) {
        let w = world();
        let token = c.mint(&w.issuer);
        let result = w.rt.block_on(w.validator.validate(&token));
        prop_assert_eq!(
            result.is_ok(),
            c.should_accept(),
            "case {:?} gave {:?}",
            c,
            result.err()
        );
    }
}
