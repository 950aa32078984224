//! Where a value stands in the YAML source: [`YamlPath`] and [`locate`].
//!
//! The parser reports a position only with an error, so `locate` walks the
//! document with the same parser that produced the values and fails on
//! purpose at the node the path names; the error carries that node's line,
//! column and byte offset. It costs one parse per reported error and is never
//! on a request path. Using the same parser means no second parser can
//! disagree about where (or what) a node is.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// One step of a [`YamlPath`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Seg {
    /// A mapping key.
    Key(&'static str),
    /// A sequence index.
    Index(usize),
}

/// A path into the document, displayed as `customers[1].domains[0]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct YamlPath(Vec<Seg>);

impl YamlPath {
    /// The document root.
    pub(crate) fn root() -> Self {
        YamlPath(Vec::new())
    }

    /// This path and then `key`.
    pub(crate) fn key(&self, key: &'static str) -> Self {
        let mut v = self.0.clone();
        v.push(Seg::Key(key));
        YamlPath(v)
    }

    /// This path and then `[index]`.
    pub(crate) fn index(&self, index: usize) -> Self {
        let mut v = self.0.clone();
        v.push(Seg::Index(index));
        YamlPath(v)
    }
}

impl fmt::Display for YamlPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str(".");
        }
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                Seg::Key(k) if i == 0 => f.write_str(k)?,
                Seg::Key(k) => write!(f, ".{k}")?,
                Seg::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

/// A position in the source: one-based line and column, and byte offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Position {
    pub(crate) line: usize,
    pub(crate) column: usize,
    pub(crate) index: usize,
}

const FOUND: &str = "axe-tenant: located";

/// The position of the node at `path` in `src`, if there is one.
pub(crate) fn locate(src: &str, path: &YamlPath) -> Option<Position> {
    let de = serde_norway::Deserializer::from_str(src);
    match (Probe { path: &path.0 }).deserialize(de) {
        Ok(()) => None,
        Err(e) if e.to_string().contains(FOUND) => e.location().map(|l| Position {
            line: l.line(),
            column: l.column(),
            index: l.index(),
        }),
        Err(_) => None,
    }
}

struct Probe<'p> {
    path: &'p [Seg],
}

impl<'de> DeserializeSeed<'de> for Probe<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl Probe<'_> {
    fn here<E: de::Error>(&self) -> Result<(), E> {
        if self.path.is_empty() {
            Err(E::custom(FOUND))
        } else {
            Ok(())
        }
    }
}

macro_rules! scalar_visits {
    ($($name:ident: $ty:ty),*) => {
        $(fn $name<E: de::Error>(self, _: $ty) -> Result<(), E> { self.here() })*
    };
}

impl<'de> Visitor<'de> for Probe<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML node")
    }

    scalar_visits!(visit_bool: bool, visit_i64: i64, visit_u64: u64, visit_i128: i128,
        visit_u128: u128, visit_f64: f64, visit_str: &str);

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.here()
    }

    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        self.here()
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        self.here()?;
        let (Seg::Index(want), rest) = (&self.path[0], &self.path[1..]) else {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            return Ok(());
        };
        let mut i = 0;
        loop {
            if i == *want {
                seq.next_element_seed(Probe { path: rest })?;
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                return Ok(());
            }
            if seq.next_element::<IgnoredAny>()?.is_none() {
                return Ok(());
            }
            i += 1;
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        self.here()?;
        let (Seg::Key(want), rest) = (&self.path[0], &self.path[1..]) else {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            return Ok(());
        };
        while let Some(key) = map.next_key::<serde_norway::Value>()? {
            if key.as_str() == Some(want) {
                map.next_value_seed(Probe { path: rest })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: &str = "base_domain: axelabs.ai\ncustomers:\n  - id: axe\n    domains: [axellc.com, 'no']\n  - id: b\n    domains:\n      - b.example\n";

    #[test]
    fn paths_display_like_serde_paths() {
        let p = YamlPath::root()
            .key("customers")
            .index(1)
            .key("domains")
            .index(0);
        assert_eq!(p.to_string(), "customers[1].domains[0]");
        assert_eq!(YamlPath::root().to_string(), ".");
    }

    #[test]
    fn locates_scalars_in_block_and_flow_style() {
        let at = |p: &YamlPath| locate(SRC, p).map(|p| (p.line, p.column));
        let customers = YamlPath::root().key("customers");
        assert_eq!(at(&YamlPath::root().key("base_domain")), Some((1, 14)));
        assert_eq!(at(&customers.index(0).key("id")), Some((3, 9)));
        assert_eq!(
            at(&customers.index(0).key("domains").index(0)),
            Some((4, 15))
        );
        assert_eq!(
            at(&customers.index(1).key("domains").index(0)),
            Some((7, 9))
        );
        assert_eq!(at(&customers.index(2)), None);
        assert_eq!(at(&customers.index(0).key("nope")), None);
        let quoted = locate(SRC, &customers.index(0).key("domains").index(1)).unwrap();
        assert_eq!(&SRC[quoted.index..quoted.index + 1], "'");
    }
}
