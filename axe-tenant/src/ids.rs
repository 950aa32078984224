//! Validated identifier newtypes: [`CustomerId`], [`EntityId`] and [`ServiceId`].
//!
//! Once you hold one, it is valid for the place it ends up in: a customer id
//! is a DNS label (it becomes `{customer}.{base_domain}`), an entity id is a
//! PostgreSQL-safe name (it becomes a schema name in `axe-isolation`), a
//! service id is a path segment (`/{service}/…`). Parsing never lower-cases or
//! trims: a configuration must spell an id canonically.
//!
//! ```
//! use axe_tenant::{CustomerId, EntityId, ServiceId};
//! let customer: CustomerId = "realchoice".parse()?;
//! let entity: EntityId = "sales_kr".parse()?;
//! let service: ServiceId = "frame".parse()?;
//! assert_eq!(customer.as_str(), "realchoice");
//! assert!("Axe".parse::<CustomerId>().is_err());
//! assert!("1sales".parse::<EntityId>().is_err());
//! # let _ = (entity, service);
//! # Ok::<(), axe_tenant::InvalidId>(())
//! ```

use std::borrow::Borrow;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

/// Which identifier failed to parse, in an [`InvalidId`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum IdKind {
    /// A [`CustomerId`].
    Customer,
    /// An [`EntityId`].
    Entity,
    /// A [`ServiceId`].
    Service,
}

impl fmt::Display for IdKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IdKind::Customer => "customer id",
            IdKind::Entity => "entity id",
            IdKind::Service => "service id",
        })
    }
}

/// The error of parsing an identifier: which kind, and the rule it broke.
///
/// The input is not echoed: it may come from a request path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a valid {kind}: {rule}")]
pub struct InvalidId {
    /// The identifier kind.
    pub kind: IdKind,
    /// The rule that was broken, in words.
    pub rule: &'static str,
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $kind:expr, $check:path) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(Arc<str>);

        impl $name {
            /// Parses and validates an identifier.
            pub fn parse(s: &str) -> Result<Self, InvalidId> {
                $check(s).map_err(|rule| InvalidId { kind: $kind, rule })?;
                Ok($name(Arc::from(s)))
            }

            /// The identifier as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = InvalidId;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), &*self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                &*self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                &*self.0 == *other
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                $name::parse(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

id_type!(
    /// A customer: a DNS label (`[a-z0-9]`, inner `-`, at most 63 characters,
    /// lower case only, no `xn--`-style `??--` prefix), so that
    /// `{customer}.{base_domain}` is a valid host.
    CustomerId,
    IdKind::Customer,
    check_dns_label
);

id_type!(
    /// An entity inside a customer: `[a-z][a-z0-9_]{0,30}`, usable as (part of)
    /// a PostgreSQL schema name.
    ///
    /// `axe-isolation` has its own `EntityId` with the same rule; convert by
    /// string: `axe_isolation::EntityId::from_str(tenancy.entity.as_str())`
    /// cannot fail for an id that came from here.
    EntityId,
    IdKind::Entity,
    check_entity
);

id_type!(
    /// A service offered to a customer, the first path segment of its URLs
    /// (`/frame/mcp` → `frame`): `[a-z][a-z0-9-]{0,62}`, not ending in `-`.
    ServiceId,
    IdKind::Service,
    check_service
);

fn check_dns_label(s: &str) -> Result<(), &'static str> {
    let b = s.as_bytes();
    if b.is_empty() || b.len() > 63 {
        return Err("a DNS label has 1 to 63 characters");
    }
    if !b
        .iter()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
    {
        return Err("a DNS label has only a-z, 0-9 and '-' (lower case)");
    }
    if b[0] == b'-' || b[b.len() - 1] == b'-' {
        return Err("a DNS label neither starts nor ends with '-'");
    }
    if b.len() >= 4 && b[2] == b'-' && b[3] == b'-' {
        return Err("'-' in both the third and fourth place is reserved (xn--)");
    }
    Ok(())
}

fn check_entity(s: &str) -> Result<(), &'static str> {
    let b = s.as_bytes();
    if b.is_empty() || b.len() > 31 {
        return Err("an entity id has 1 to 31 characters");
    }
    if !b[0].is_ascii_lowercase() {
        return Err("an entity id starts with a lower-case letter a-z");
    }
    if !b
        .iter()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_')
    {
        return Err("an entity id has only a-z, 0-9 and '_'");
    }
    Ok(())
}

fn check_service(s: &str) -> Result<(), &'static str> {
    let b = s.as_bytes();
    if b.is_empty() || b.len() > 63 {
        return Err("a service id has 1 to 63 characters");
    }
    if !b[0].is_ascii_lowercase() {
        return Err("a service id starts with a lower-case letter a-z");
    }
    if !b
        .iter()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
    {
        return Err("a service id has only a-z, 0-9 and '-'");
    }
    if b[b.len() - 1] == b'-' {
        return Err("a service id does not end with '-'");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn customer_ids_are_dns_labels() {
        for good in ["axe", "realchoice", "a", "0", "a-b", "x1", &"a".repeat(63)] {
            assert!(CustomerId::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "Axe",
            "-axe",
            "axe-",
            "xn--axe",
            "ab--c",
            "a.b",
            "a_b",
            "ａxe",
            " axe",
            &"a".repeat(64),
        ] {
            assert!(CustomerId::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn entity_ids_follow_the_schema_rule() {
        for good in ["axe", "sales_kr", "a", &format!("a{}", "0".repeat(30))] {
            assert!(EntityId::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "1a",
            "_a",
            "A",
            "a-b",
            "a b",
            &format!("a{}", "0".repeat(31)),
        ] {
            assert!(EntityId::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn service_ids_are_path_segments() {
        for good in ["frame", "blue-print", "s3"] {
            assert!(ServiceId::parse(good).is_ok(), "{good}");
        }
        for bad in ["", "Frame", "3s", "fr%61me", "frame-", "a/b", ".well-known"] {
            assert!(ServiceId::parse(bad).is_err(), "{bad:?}");
        }
    }

    proptest! {
        #[test]
        fn entity_id_accepts_exactly_the_regex(s in "\\PC{0,40}") {
            let re_ok = {
                let b = s.as_bytes();
                !b.is_empty() && b.len() <= 31 && b[0].is_ascii_lowercase()
                    && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_')
            };
            prop_assert_eq!(EntityId::parse(&s).is_ok(), re_ok);
        }

        #[test]
        fn valid_ids_round_trip(s in "[a-z][a-z0-9_]{0,30}") {
            let id = EntityId::parse(&s).unwrap();
            prop_assert_eq!(EntityId::parse(id.as_str()).unwrap(), id);
        }
    }
}
