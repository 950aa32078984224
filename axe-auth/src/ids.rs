//! Validated identifier newtypes: [`TenantId`] and [`TokenVersion`].
//!
//! Once you hold a `TenantId`, it is a well-formed GUID in canonical form
//! (lower-case, hyphenated), so it can be compared, hashed and put into URLs
//! without further checks.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The tenant of Microsoft personal accounts (outlook.com, live.com, ...).
///
/// Tokens from this tenant are refused unless
/// [`EntraConfigBuilder::allow_personal_accounts`](crate::EntraConfigBuilder::allow_personal_accounts)
/// is set: anyone on the internet can get such a token.
pub const PERSONAL_ACCOUNTS_TENANT: TenantId =
    TenantId(uuid::uuid!("9188040d-6c67-4c5b-b112-36a304b66dad"));

/// A Microsoft Entra tenant id (the `tid` claim): a GUID.
///
/// Parsing accepts exactly the hyphenated 36-character form, in any case, and
/// stores it canonically; braces, URNs and the 32-digit simple form are refused
/// because Entra never emits them and an issuer URL built from them would not
/// match.
///
/// ```
/// use axe_auth::TenantId;
/// let tid: TenantId = "122FB574-0000-4000-8000-00000000A11C".parse()?;
/// assert_eq!(tid.to_string(), "122fb574-0000-4000-8000-00000000a11c");
/// assert!("not-a-guid".parse::<TenantId>().is_err());
/// # Ok::<(), axe_auth::InvalidTenantId>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TenantId(uuid::Uuid);

/// The error of parsing a [`TenantId`]: the input is not a hyphenated GUID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "not a tenant id (expected a hyphenated GUID such as 122fb574-9b3c-4c1a-8d2e-000000000000)"
)]
pub struct InvalidTenantId;

impl TenantId {
    /// Parses a tenant id from its hyphenated GUID form.
    pub fn parse(s: &str) -> Result<Self, InvalidTenantId> {
        if s.len() != 36 {
            return Err(InvalidTenantId);
        }
        uuid::Uuid::try_parse(s)
            .map(TenantId)
            .map_err(|_| InvalidTenantId)
    }

    /// The GUID as a [`uuid::Uuid`].
    pub fn as_uuid(&self) -> uuid::Uuid {
        self.0
    }

    /// True for the Microsoft personal-accounts tenant.
    pub fn is_personal_accounts(&self) -> bool {
        *self == PERSONAL_ACCOUNTS_TENANT
    }
}

impl From<uuid::Uuid> for TenantId {
    fn from(u: uuid::Uuid) -> Self {
        TenantId(u)
    }
}

impl FromStr for TenantId {
    type Err = InvalidTenantId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0.hyphenated(), f)
    }
}

impl fmt::Debug for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TenantId({})", self.0.hyphenated())
    }
}

impl Serialize for TenantId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for TenantId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        TenantId::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// The version of an Entra access token, from its `ver` claim.
///
/// The version is chosen by the API's app registration
/// (`accessTokenAcceptedVersion`), not by the client, and decides the issuer
/// form: v1 `https://sts.windows.net/{tid}/`, v2
/// `https://login.microsoftonline.com/{tid}/v2.0`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TokenVersion {
    /// `ver: "1.0"`.
    #[serde(rename = "1.0")]
    V1,
    /// `ver: "2.0"`.
    #[serde(rename = "2.0")]
    V2,
}

impl TokenVersion {
    /// The `ver` claim value of this version.
    pub fn as_str(&self) -> &'static str {
        match self {
            TokenVersion::V1 => "1.0",
            TokenVersion::V2 => "2.0",
        }
    }
}

impl fmt::Display for TokenVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn tenant_id_accepts_only_hyphenated_guids() {
        for good in [
            "122fb574-0000-4000-8000-00000000a11c",
            "122FB574-0000-4000-8000-00000000A11C",
        ] {
            assert!(TenantId::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "common",
            "organizations",
            "122fb574000040008000000000000a11c",
            "{122fb574-0000-4000-8000-00000000a11c}",
            "urn:uuid:122fb574-0000-4000-8000-00000000a11c",
            "122fb574-0000-4000-8000-00000000a11g",
            "122fb574-0000-4000-8000-00000000a11c ",
            " 122fb574-0000-4000-8000-00000000a11",
            "122fb574_0000_4000_8000_00000000a11c",
            "١٢٢fb574-0000-4000-8000-00000000a11",
        ] {
            assert_eq!(TenantId::parse(bad), Err(InvalidTenantId), "{bad:?}");
        }
    }

    #[test]
    fn personal_accounts_tenant_is_recognised() {
        let t: TenantId = "9188040D-6C67-4C5B-B112-36A304B66DAD".parse().unwrap();
        assert!(t.is_personal_accounts());
    }

    proptest! {
        #[test]
        fn tenant_id_parse_display_round_trips(bytes in any::<[u8; 16]>()) {
            let u = uuid::Uuid::from_bytes(bytes);
            let t = TenantId::parse(&u.hyphenated().to_string()).unwrap();
            prop_assert_eq!(TenantId::parse(&t.to_string()).unwrap(), t);
            let upper = u.hyphenated().to_string().to_uppercase();
            prop_assert_eq!(TenantId::parse(&upper).unwrap(), t);
        }

        #[test]
        fn tenant_id_parse_never_panics(s in "\\PC{0,64}") {
            let _ = TenantId::parse(&s);
        }
    }
}
