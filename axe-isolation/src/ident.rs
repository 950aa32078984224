//! [`Ident`]: the only kind of name that this crate lets into SQL text, and [`RolePrefix`].
//!
//! PostgreSQL cannot take an identifier (a schema, a role, a table name) as a bind parameter in
//! DDL or in `SET ROLE`, so some SQL text must contain names. This crate builds such text only
//! from `&'static str` fragments and `Ident`s, the way sqlx only accepts `&'static str` or an
//! explicit `AssertSqlSafe`. An `Ident` is `[a-z_][a-z0-9_]*`, at most 63 bytes: it cannot
//! contain a quote, so quoting it (which this crate does anyway) can never be escaped from.

use std::fmt;

/// PostgreSQL's identifier limit (`NAMEDATALEN - 1`), in bytes.
pub const IDENT_MAX_LEN: usize = 63;

/// The longest [`RolePrefix`], in bytes.
pub const ROLE_PREFIX_MAX_LEN: usize = 20;

/// Why a name was refused. The refused text itself is not echoed back: it may be hostile or
/// very long. Each variant names the first rule the name broke.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NameError {
    /// The name is empty.
    #[error("name is empty")]
    Empty,
    /// The name is longer than allowed (`len` and `max` in bytes).
    #[error("name is {len} bytes long, the limit is {max}")]
    TooLong {
        /// The length of the refused name, in bytes.
        len: usize,
        /// The limit that applies to this kind of name.
        max: usize,
    },
    /// The first character is not allowed there (entity ids start with `a`-`z`).
    #[error("name starts with {found:?}, which is not allowed there")]
    BadFirstChar {
        /// The refused first character.
        found: char,
    },
    /// A character outside `a`-`z`, `0`-`9` and `_` (upper case, quotes, spaces, unicode...).
    #[error("name has {found:?} at byte {index}; only a-z, 0-9 and _ are allowed")]
    BadChar {
        /// Byte offset of the refused character.
        index: usize,
        /// The refused character.
        found: char,
    },
    /// The name starts with a prefix PostgreSQL reserves (`pg_`).
    #[error("name starts with the reserved prefix {prefix:?}")]
    ReservedPrefix {
        /// The reserved prefix.
        prefix: &'static str,
    },
}

/// A validated SQL identifier: `[a-z_][a-z0-9_]*`, 1 to 63 bytes.
///
/// Schema and role names are `Ident`s generated from an [`EntityId`](crate::EntityId); other
/// names that reach SQL text (a migrations table, the runtime role) are validated into one.
///
/// ```
/// use axe_isolation::Ident;
///
/// let table = Ident::new("_audit_migrations")?;
/// assert_eq!(table.quoted(), "\"_audit_migrations\"");
/// assert!(Ident::new("Robert'); DROP TABLE students;--").is_err());
/// # Ok::<(), axe_isolation::NameError>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ident(Box<str>);

impl Ident {
    /// Validates `name` as an identifier.
    ///
    /// # Errors
    ///
    /// A [`NameError`] naming the first rule `name` breaks.
    pub fn new(name: &str) -> Result<Self, NameError> {
        validate_ident(name, IDENT_MAX_LEN)?;
        Ok(Self(name.into()))
    }

    /// Wraps a name built by this crate from already validated parts.
    pub(crate) fn from_validated(name: String) -> Self {
        debug_assert!(validate_ident(&name, IDENT_MAX_LEN).is_ok(), "{name}");
        Self(name.into_boxed_str())
    }

    /// The bare name, as PostgreSQL stores it (for bind parameters and catalog look-ups).
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name as a quoted SQL identifier: `"name"`.
    #[must_use]
    pub fn quoted(&self) -> String {
        let mut out = String::with_capacity(self.0.len() + 2);
        out.push('"');
        // An Ident cannot hold a quote; doubling one is the SQL escape, kept as a second lock.
        for c in self.0.chars() {
            if c == '"' {
                out.push('"');
            }
            out.push(c);
        }
        out.push('"');
        out
    }
}

fn validate_ident(name: &str, max: usize) -> Result<(), NameError> {
    let Some(first) = name.chars().next() else {
        return Err(NameError::Empty);
    };
    if name.len() > max {
        return Err(NameError::TooLong {
            len: name.len(),
            max,
        });
    }
    if !(first.is_ascii_lowercase() || first == '_') {
        return Err(NameError::BadFirstChar { found: first });
    }
    if let Some((index, found)) = name
        .char_indices()
        .find(|&(_, c)| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
    {
        return Err(NameError::BadChar { index, found });
    }
    Ok(())
}

impl fmt::Display for Ident {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Ident {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Ident").field(&&*self.0).finish()
    }
}

impl AsRef<str> for Ident {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// A prefix for entity role names: `<prefix>_ent_<id>_rw`.
///
/// Roles are cluster-wide in PostgreSQL while schemas belong to one database, so two databases
/// of one cluster that both hold entity `acme` (two deployments, or many test databases) would
/// share role `ent_acme_rw` without a prefix, and deprovisioning one would break the other.
/// Grammar: `[a-z][a-z0-9_]{0,19}`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct RolePrefix(Box<str>);

impl RolePrefix {
    /// Validates `prefix`.
    ///
    /// # Errors
    ///
    /// A [`NameError`] naming the first rule `prefix` breaks.
    pub fn new(prefix: &str) -> Result<Self, NameError> {
        validate_ident(prefix, ROLE_PREFIX_MAX_LEN)?;
        if prefix.starts_with('_') {
            return Err(NameError::BadFirstChar { found: '_' });
        }
        if prefix.starts_with("pg_") {
            return Err(NameError::ReservedPrefix { prefix: "pg_" });
        }
        Ok(Self(prefix.into()))
    }

    /// The prefix as a string.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RolePrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for RolePrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("RolePrefix").field(&&*self.0).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idents() {
        assert!(Ident::new("_sqlx_migrations").is_ok());
        assert!(Ident::new(&"a".repeat(63)).is_ok());
        assert!(matches!(
            Ident::new(&"a".repeat(64)),
            Err(NameError::TooLong { len: 64, max: 63 })
        ));
        assert!(matches!(Ident::new(""), Err(NameError::Empty)));
        assert!(matches!(
            Ident::new("a\"b"),
            Err(NameError::BadChar {
                index: 1,
                found: '"'
            })
        ));
        assert!(matches!(
            Ident::new("Ab"),
            Err(NameError::BadFirstChar { found: 'A' })
        ));
    }

    #[test]
    fn quoting_doubles_quotes() {
        // Not constructible through `new`; checks the second lock on its own.
        let odd = Ident(Box::from("a\"b"));
        assert_eq!(odd.quoted(), "\"a\"\"b\"");
    }

    #[test]
    fn role_prefixes() {
        assert!(RolePrefix::new("t0a1b2c3").is_ok());
        assert!(RolePrefix::new("_x").is_err());
        assert!(RolePrefix::new("pg_x").is_err());
        assert!(RolePrefix::new(&"a".repeat(21)).is_err());
        assert!(RolePrefix::new("A").is_err());
    }
}
