//! The file as written: serde structs that refuse unknown keys, and a string
//! type that refuses scalars YAML resolves to something else.
//!
//! Validation ([`super::validate`]) turns these into the checked model.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, Unexpected, Visitor};

/// The top level of `customers.yaml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawFile {
    pub(crate) base_domain: YStr,
    pub(crate) customers: Vec<RawCustomer>,
}

/// One entry of `customers`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCustomer {
    pub(crate) id: YStr,
    pub(crate) tenant: YStr,
    #[serde(default)]
    pub(crate) extra_tenants: Vec<YStr>,
    #[serde(default)]
    pub(crate) domains: Vec<YStr>,
    #[serde(default)]
    pub(crate) include_subdomains: bool,
    #[serde(default)]
    pub(crate) require_email_domain: bool,
    #[serde(default)]
    pub(crate) allow_guests_from: Vec<YStr>,
    pub(crate) services: Vec<YStr>,
    pub(crate) entities: Vec<RawEntity>,
}

/// One entry of a customer's `entities`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawEntity {
    pub(crate) id: YStr,
    #[serde(default)]
    pub(crate) default: bool,
    #[serde(default)]
    pub(crate) domains: Vec<YStr>,
    #[serde(default)]
    pub(crate) users: Vec<YStr>,
    #[serde(default)]
    pub(crate) roles: Vec<YStr>,
}

/// A string scalar. Unlike `String`, it refuses a plain scalar that YAML
/// resolves to a boolean, a null or a number (`true`, `~`, `null`, `0x10`,
/// `1e3`): where a string is meant, such a value must be quoted. The YAML
/// 1.1 words that 1.2 reads as strings (`no`, `on`, …) are checked later,
/// where the source position is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct YStr(pub(crate) String);

impl<'de> Deserialize<'de> for YStr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(YStrVisitor)
    }
}

struct YStrVisitor;

impl YStrVisitor {
    fn refuse<E: de::Error>(&self, found: Unexpected<'_>) -> E {
        E::invalid_type(found, self)
    }
}

impl<'de> Visitor<'de> for YStrVisitor {
    type Value = YStr;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string (quote it if YAML would read it as a boolean, null or number)")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<YStr, E> {
        Ok(YStr(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<YStr, E> {
        Ok(YStr(v))
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<YStr, E> {
        Err(self.refuse(Unexpected::Bool(v)))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<YStr, E> {
        Err(self.refuse(Unexpected::Signed(v)))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<YStr, E> {
        Err(self.refuse(Unexpected::Unsigned(v)))
    }

    fn visit_i128<E: de::Error>(self, _: i128) -> Result<YStr, E> {
        Err(self.refuse(Unexpected::Other("integer")))
    }

    fn visit_u128<E: de::Error>(self, _: u128) -> Result<YStr, E> {
        Err(self.refuse(Unexpected::Other("integer")))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<YStr, E> {
        Err(self.refuse(Unexpected::Float(v)))
    }

    fn visit_unit<E: de::Error>(self) -> Result<YStr, E> {
        Err(self.refuse(Unexpected::Other("null (an empty value, `~` or `null`)")))
    }

    fn visit_none<E: de::Error>(self) -> Result<YStr, E> {
        self.visit_unit()
    }
}

/// Plain scalars that YAML 1.1 (PyYAML, Ruby, older tools, and people) reads
/// as booleans, while YAML 1.2 reads them as strings: `country: NO` is
/// `false` to one reader and `"NO"` to another. Refused unless quoted.
pub(crate) const YAML11_BOOLEAN_WORDS: &[&str] = &[
    "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "on", "On", "ON", "off", "Off",
    "OFF",
];
