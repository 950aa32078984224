//! [`EntityId`]: the validated name of one entity, and the names derived from it.
//!
//! ```
//! use axe_isolation::EntityId;
//!
//! let id: EntityId = "acme_kr".parse()?;
//! assert_eq!(id.schema().as_str(), "ent_acme_kr");
//! assert_eq!(id.default_role().as_str(), "ent_acme_kr_rw");
//!
//! assert!(EntityId::new("Acme").is_err());
//! assert!(EntityId::new("a\"; DROP SCHEMA x; --").is_err());
//! # Ok::<(), axe_isolation::NameError>(())
//! ```

use std::fmt;
use std::str::FromStr;

use crate::ident::{Ident, NameError, RolePrefix};

/// The longest entity id, in bytes (and characters: ids are ASCII).
///
/// `ent_` + 31 + `_rw` is 38 bytes, which leaves room under PostgreSQL's 63-byte identifier
/// limit for a [`RolePrefix`].
pub const ENTITY_ID_MAX_LEN: usize = 31;

/// Prefix of every entity schema: entity `acme` lives in schema `ent_acme`.
pub const SCHEMA_PREFIX: &str = "ent_";

/// Suffix of every entity role: entity `acme` is served by role `ent_acme_rw`.
pub const ROLE_SUFFIX: &str = "_rw";

/// The id of one entity of a customer, for example `acme_kr`.
///
/// Grammar: `[a-z][a-z0-9_]{0,30}`, and not starting with `pg_` (PostgreSQL reserves that
/// prefix for its own objects, so the id is refused even though the schema would be
/// `ent_pg_…`). Anything else is refused at construction: upper case (PostgreSQL folds unquoted
/// names, so `Acme` and `acme` would be one schema or two depending on quoting), spaces,
/// quotes, unicode, the empty string and anything longer than [`ENTITY_ID_MAX_LEN`] bytes.
///
/// Once you hold an `EntityId` it is valid, so the schema ([`EntityId::schema`]) and role
/// names derived from it are valid [`Ident`]s: they are generated, never spliced from input.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EntityId(Box<str>);

impl EntityId {
    /// Validates `id` and wraps it.
    ///
    /// # Errors
    ///
    /// A [`NameError`] saying what is wrong with the id (its text is not echoed back, since an
    /// id may come from a hostile request).
    pub fn new(id: &str) -> Result<Self, NameError> {
        validate(id)?;
        Ok(Self(id.into()))
    }

    /// The id as a string.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The entity's schema, `ent_<id>`.
    #[must_use]
    pub fn schema(&self) -> Ident {
        Ident::from_validated(format!("{SCHEMA_PREFIX}{}", self.0))
    }

    /// The entity's role without a prefix, `ent_<id>_rw`.
    ///
    /// An [`Isolation`](crate::Isolation) configured with a [`RolePrefix`] uses
    /// [`EntityId::role`] instead; ask [`Isolation::role_of`](crate::Isolation::role_of) when in
    /// doubt.
    #[must_use]
    pub fn default_role(&self) -> Ident {
        self.role(None)
    }

    /// The entity's role under an optional prefix: `<prefix>_ent_<id>_rw`.
    #[must_use]
    pub fn role(&self, prefix: Option<&RolePrefix>) -> Ident {
        match prefix {
            Some(prefix) => Ident::from_validated(format!(
                "{}_{SCHEMA_PREFIX}{}{ROLE_SUFFIX}",
                prefix.as_str(),
                self.0
            )),
            None => Ident::from_validated(format!("{SCHEMA_PREFIX}{}{ROLE_SUFFIX}", self.0)),
        }
    }

    /// The entity whose schema is `schema`, if `schema` is an entity schema (`ent_<valid id>`).
    #[must_use]
    pub fn from_schema(schema: &str) -> Option<Self> {
        schema
            .strip_prefix(SCHEMA_PREFIX)
            .and_then(|id| Self::new(id).ok())
    }
}

fn validate(id: &str) -> Result<(), NameError> {
    let bytes = id.as_bytes();
    let Some(&first) = bytes.first() else {
        return Err(NameError::Empty);
    };
    if bytes.len() > ENTITY_ID_MAX_LEN {
        return Err(NameError::TooLong {
            len: bytes.len(),
            max: ENTITY_ID_MAX_LEN,
        });
    }
    if !first.is_ascii_lowercase() {
        return Err(NameError::BadFirstChar {
            found: id.chars().next().unwrap_or_default(),
        });
    }
    if let Some((index, found)) = id
        .char_indices()
        .find(|&(_, c)| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
    {
        return Err(NameError::BadChar { index, found });
    }
    if id.starts_with("pg_") {
        return Err(NameError::ReservedPrefix { prefix: "pg_" });
    }
    Ok(())
}

impl fmt::Display for EntityId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for EntityId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("EntityId").field(&&*self.0).finish()
    }
}

impl FromStr for EntityId {
    type Err = NameError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl TryFrom<&str> for EntityId {
    type Error = NameError;

    fn try_from(value: &str) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl TryFrom<String> for EntityId {
    type Error = NameError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        validate(&value)?;
        Ok(Self(value.into_boxed_str()))
    }
}

impl AsRef<str> for EntityId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    type Check = fn(&NameError) -> bool;

    #[test]
    fn hostile_ids_are_refused() {
        let long = "a".repeat(64);
        let cases: &[(&str, Check)] = &[
            ("a\"; DROP SCHEMA x; --", |e| {
                matches!(e, NameError::BadChar { found: '"', .. })
            }),
            ("Acme", |e| {
                matches!(e, NameError::BadFirstChar { found: 'A' })
            }),
            ("acMe", |e| matches!(e, NameError::BadChar { index: 2, .. })),
            (&long, |e| {
                matches!(e, NameError::TooLong { len: 64, max: 31 })
            }),
            ("", |e| matches!(e, NameError::Empty)),
            ("caf\u{e9}", |e| matches!(e, NameError::BadChar { .. })),
            ("\u{1F600}", |e| matches!(e, NameError::BadFirstChar { .. })),
            ("pg_catalog", |e| {
                matches!(e, NameError::ReservedPrefix { prefix: "pg_" })
            }),
            ("1abc", |e| {
                matches!(e, NameError::BadFirstChar { found: '1' })
            }),
            ("_abc", |e| {
                matches!(e, NameError::BadFirstChar { found: '_' })
            }),
            ("a b", |e| {
                matches!(
                    e,
                    NameError::BadChar {
                        index: 1,
                        found: ' '
                    }
                )
            }),
            ("a-b", |e| {
                matches!(e, NameError::BadChar { found: '-', .. })
            }),
            ("a.b", |e| {
                matches!(e, NameError::BadChar { found: '.', .. })
            }),
            ("a'b", |e| {
                matches!(e, NameError::BadChar { found: '\'', .. })
            }),
            ("a\0", |e| {
                matches!(e, NameError::BadChar { found: '\0', .. })
            }),
        ];
        for (input, check) in cases {
            match EntityId::new(input) {
                Ok(id) => panic!("accepted hostile id {id:?}"),
                Err(e) => assert!(check(&e), "wrong error for {input:?}: {e:?}"),
            }
            assert!(input.parse::<EntityId>().is_err());
            assert!(EntityId::try_from(input.to_string()).is_err());
        }
    }

    #[test]
    fn boundaries() {
        assert!(EntityId::new("a").is_ok());
        assert!(EntityId::new(&"a".repeat(31)).is_ok());
        assert!(EntityId::new(&"a".repeat(32)).is_err());
        assert!(EntityId::new("pg").is_ok());
        assert!(EntityId::new("pgx").is_ok());
        assert!(EntityId::new("a_pg_").is_ok());
    }

    #[test]
    fn derived_names() -> Result<(), NameError> {
        let id = EntityId::new("acme")?;
        assert_eq!(id.schema().as_str(), "ent_acme");
        assert_eq!(id.default_role().as_str(), "ent_acme_rw");
        let prefix = RolePrefix::new("t1234")?;
        assert_eq!(id.role(Some(&prefix)).as_str(), "t1234_ent_acme_rw");
        assert_eq!(EntityId::from_schema("ent_acme"), Some(id));
        assert_eq!(EntityId::from_schema("acme"), None);
        assert_eq!(EntityId::from_schema("ent_Acme"), None);
        Ok(())
    }

    fn valid_id() -> impl Strategy<Value = String> {
        "[a-z][a-z0-9_]{0,30}".prop_filter("pg_ prefix is reserved", |s| !s.starts_with("pg_"))
    }

    proptest! {
        #[test]
        fn valid_ids_round_trip(s in valid_id()) {
            let id = EntityId::new(&s).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(id.as_str(), s.as_str());
            prop_assert_eq!(id.to_string(), s.clone());
            prop_assert_eq!(EntityId::from_schema(id.schema().as_str()), Some(id.clone()));
            // Every derived name is a valid identifier within PostgreSQL's limit.
            let longest = RolePrefix::new("abcdefghijklmnopqrst").map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert!(id.role(Some(&longest)).as_str().len() <= 63);
            prop_assert!(Ident::new(id.role(Some(&longest)).as_str()).is_ok());
            prop_assert!(Ident::new(id.schema().as_str()).is_ok());
        }

        #[test]
        fn parser_agrees_with_the_grammar(s in "\\PC{0,40}") {
            let grammar = s.len() <= 31
                && !s.is_empty()
                && s.as_bytes()[0].is_ascii_lowercase()
                && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
                && !s.starts_with("pg_");
            prop_assert_eq!(EntityId::new(&s).is_ok(), grammar);
        }

        #[test]
        fn near_misses_are_refused(s in valid_id(), pos in 0usize..32, c in "[^a-z0-9_]") {
            let mut chars: Vec<char> = s.chars().collect();
            let pos = pos.min(chars.len());
            chars.insert(pos, c.chars().next().unwrap_or('!'));
            let hostile: String = chars.into_iter().collect();
            prop_assert!(EntityId::new(&hostile).is_err());
        }
    }
}
