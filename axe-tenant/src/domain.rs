//! Domain and email normalization, and the domains no customer may claim.
//!
//! Every domain is normalized once, the same way in the configuration and in
//! a token: strip exactly one trailing dot, convert with IDNA (UTS-46,
//! strict: STD3 ASCII rules and DNS lengths) to lower-case A-labels. So
//! `AXELLC.com.`, `ａｘｅｌｌｃ．ｃｏｍ` and `axellc.com` are one domain, `리얼초이스.kr`
//! becomes `xn--oy2b27n4rck5b81l.kr`, and a Cyrillic look-alike such as
//! `аxellc.com` becomes `xn--xellc-3ve.com`, which matches nothing.
//!
//! ```
//! use axe_tenant::{DomainName, EmailAddress};
//! let d = DomainName::parse("AXELLC.com.")?;
//! assert_eq!(d.as_str(), "axellc.com");
//! assert_eq!(DomainName::parse("리얼초이스.kr")?.as_str(), "xn--oy2b27n4rck5b81l.kr");
//! assert!(DomainName::parse("axellc.com..").is_err());
//! let email = EmailAddress::parse("Someone@AxeLLC.com")?;
//! assert_eq!(email.domain().as_str(), "axellc.com");
//! assert!(d.is_within(&DomainName::parse("com")?));
//! # Ok::<(), axe_tenant::DomainError>(())
//! ```

use std::fmt;
use std::sync::Arc;

/// Why a domain or an email address was refused.
///
/// The input is not echoed: it may be an email address (PII).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DomainError {
    /// The input is empty (or only a dot).
    #[error("the domain is empty")]
    Empty,
    /// More than one trailing dot: only one (the DNS root) is stripped.
    #[error("the domain ends with more than one dot")]
    TrailingDots,
    /// IDNA (UTS-46 strict) refused the domain: a character outside the
    /// STD3 rules (space, `_`, `@`, …), an empty label, a label that starts or
    /// ends with `-`, a bad `xn--` label, or a name too long for DNS.
    #[error("the domain is not a valid internationalized domain name (UTS-46, strict)")]
    Idna,
    /// The last label is all digits: an IP address, not a domain.
    #[error("the domain ends in a numeric label (an IP address is not a domain)")]
    Numeric,
    /// An email address without exactly one `@`.
    #[error("an email address has exactly one '@'")]
    NotAnAddress,
    /// An email address whose local part is empty or holds whitespace or
    /// control characters.
    #[error("the local part of the email address is empty or has whitespace or control characters")]
    LocalPart,
}

/// A normalized domain name: lower-case A-labels, no trailing dot.
///
/// Built only by [`DomainName::parse`], so two equal names are the same
/// domain and comparisons are plain string equality.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DomainName(Arc<str>);

impl DomainName {
    /// Normalizes and validates a domain: strips exactly one trailing dot,
    /// then IDNA-converts it strictly (UTS-46) to lower-case A-labels.
    pub fn parse(input: &str) -> Result<Self, DomainError> {
        normalize_domain(input).map(|s| DomainName(Arc::from(s)))
    }

    /// The normalized name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True when `self` is `parent` or a subdomain of it, on a label boundary:
    /// `a.axellc.com` is within `axellc.com`, `evilaxellc.com` is not.
    pub fn is_within(&self, parent: &DomainName) -> bool {
        is_within(self.as_str(), parent.as_str())
    }

    /// The name and each parent, most specific first:
    /// `a.b.com` → `a.b.com`, `b.com`, `com`.
    pub fn self_and_parents(&self) -> impl Iterator<Item = &str> {
        self_and_parents(self.as_str())
    }

    /// True when the name is a public suffix (`com`, `co.kr`, `github.io`, …)
    /// by the Public Suffix List, or a single label: anyone can register
    /// below it, so it identifies nobody.
    pub fn is_public_suffix(&self) -> bool {
        psl::domain(self.as_bytes()).is_none()
    }

    /// True for a consumer mail service (gmail.com, naver.com, outlook.com, …)
    /// from [`CONSUMER_MAIL_DOMAINS`], or a subdomain of one.
    pub fn is_consumer_mail(&self) -> bool {
        self.self_and_parents()
            .any(|d| CONSUMER_MAIL_DOMAINS.contains(&d))
    }

    /// True for a domain shared by unrelated organisations, from
    /// [`SHARED_DOMAINS`] (the domain itself; its subdomains are fine).
    pub fn is_shared(&self) -> bool {
        SHARED_DOMAINS.contains(&self.as_str())
    }

    fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl fmt::Display for DomainName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for DomainName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DomainName({:?})", &*self.0)
    }
}

impl AsRef<str> for DomainName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for DomainName {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// An email address whose domain is normalized ([`DomainName`]).
///
/// The local part is kept as given (it is case-sensitive by RFC 5321 and
/// never used for decisions). `Debug` redacts it: an address is PII.
#[derive(Clone, PartialEq, Eq)]
pub struct EmailAddress {
    local: Box<str>,
    domain: DomainName,
}

impl EmailAddress {
    /// Parses `local@domain`: exactly one `@`, a non-empty local part without
    /// whitespace or control characters, and a domain that
    /// [`DomainName::parse`] accepts.
    pub fn parse(input: &str) -> Result<Self, DomainError> {
        let (local, domain) = split_address(input)?;
        Ok(EmailAddress {
            local: local.into(),
            domain: DomainName::parse(domain)?,
        })
    }

    /// The local part, as given (PII).
    pub fn local_part(&self) -> &str {
        &self.local
    }

    /// The normalized domain.
    pub fn domain(&self) -> &DomainName {
        &self.domain
    }
}

impl fmt::Debug for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmailAddress")
            .field("local", &"[redacted]")
            .field("domain", &self.domain)
            .finish()
    }
}

/// Normalizes a domain to lower-case A-labels without the trailing dot.
///
/// Idempotent: normalizing the output again gives the output.
pub fn normalize_domain(input: &str) -> Result<String, DomainError> {
    let stripped = input.strip_suffix('.').unwrap_or(input);
    if stripped.is_empty() {
        return Err(DomainError::Empty);
    }
    if stripped.ends_with('.') {
        return Err(DomainError::TrailingDots);
    }
    let ascii = idna::domain_to_ascii_strict(stripped).map_err(|_| DomainError::Idna)?;
    if ascii.is_empty() {
        return Err(DomainError::Empty);
    }
    let last = ascii.rsplit('.').next().unwrap_or(&ascii);
    if last.bytes().all(|b| b.is_ascii_digit()) {
        return Err(DomainError::Numeric);
    }
    Ok(ascii)
}

/// Splits and checks `local@domain` (the domain not yet normalized).
fn split_address(input: &str) -> Result<(&str, &str), DomainError> {
    let mut parts = input.split('@');
    let (Some(local), Some(domain), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(DomainError::NotAnAddress);
    };
    if local.is_empty() || local.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(DomainError::LocalPart);
    }
    Ok((local, domain))
}

/// The normalized domain of an email address, with the checks of
/// [`EmailAddress::parse`] and without keeping the (PII) local part.
pub(crate) fn email_domain(input: &str) -> Result<String, DomainError> {
    split_address(input).and_then(|(_, domain)| normalize_domain(domain))
}

/// `child` equals `parent` or ends with `.parent`. Both normalized.
pub(crate) fn is_within(child: &str, parent: &str) -> bool {
    match child.strip_suffix(parent) {
        Some("") => true,
        Some(rest) => rest.ends_with('.'),
        None => false,
    }
}

/// `a.b.com` → `a.b.com`, `b.com`, `com`.
pub(crate) fn self_and_parents(name: &str) -> impl Iterator<Item = &str> {
    let mut next = Some(name);
    std::iter::from_fn(move || {
        let current = next?;
        next = current.split_once('.').map(|(_, rest)| rest);
        Some(current)
    })
}

/// Consumer mail services: anyone can get an address there, so such a domain
/// says nothing about which customer a user belongs to. Refused in
/// `customers.yaml`, with their subdomains.
pub const CONSUMER_MAIL_DOMAINS: &[&str] = &[
    // Global
    "gmail.com",
    "googlemail.com",
    "outlook.com",
    "outlook.kr",
    "hotmail.com",
    "hotmail.co.kr",
    "live.com",
    "live.co.kr",
    "msn.com",
    "passport.com",
    "yahoo.com",
    "yahoo.co.kr",
    "yahoo.co.jp",
    "ymail.com",
    "rocketmail.com",
    "icloud.com",
    "me.com",
    "mac.com",
    "aol.com",
    "proton.me",
    "protonmail.com",
    "protonmail.ch",
    "pm.me",
    "tutanota.com",
    "tuta.io",
    "zoho.com",
    "zohomail.com",
    "gmx.com",
    "gmx.net",
    "mail.com",
    "fastmail.com",
    "hey.com",
    "yandex.com",
    "yandex.ru",
    "mail.ru",
    // Korea
    "naver.com",
    "daum.net",
    "hanmail.net",
    "kakao.com",
    "nate.com",
    "korea.com",
    // China, Japan
    "qq.com",
    "foxmail.com",
    "163.com",
    "126.com",
    "yeah.net",
    "sina.com",
    "sohu.com",
    // Europe
    "gmx.de",
    "web.de",
    "t-online.de",
    "freenet.de",
    "orange.fr",
    "free.fr",
    "laposte.net",
    "libero.it",
    "btinternet.com",
];

/// Domains shared by unrelated organisations although they are not on the
/// Public Suffix List: every Entra tenant gets `{name}.onmicrosoft.com`.
/// The domain itself is refused; a tenant's own subdomain is fine.
pub const SHARED_DOMAINS: &[&str] = &["onmicrosoft.com", "mail.onmicrosoft.com"];

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn norm(s: &str) -> Result<String, DomainError> {
        normalize_domain(s)
    }

    #[test]
    fn normalization_table() {
        let ok = [
            ("axellc.com", "axellc.com"),
            ("AXELLC.COM", "axellc.com"),
            ("AxeLLC.com.", "axellc.com"),
            ("ａｘｅｌｌｃ.ｃｏｍ", "axellc.com"),
            ("ａｘｅｌｌｃ．ｃｏｍ", "axellc.com"),
            ("리얼초이스.kr", "xn--oy2b27n4rck5b81l.kr"),
            ("리얼초이스.kr.", "xn--oy2b27n4rck5b81l.kr"),
            ("XN--OY2B27N4RCK5B81L.KR", "xn--oy2b27n4rck5b81l.kr"),
            ("realchoice.co.kr", "realchoice.co.kr"),
            // Cyrillic 'а' (U+0430): a different domain, never axellc.com.
            ("аxellc.com", "xn--xellc-3ve.com"),
        ];
        for (input, want) in ok {
            assert_eq!(norm(input).as_deref(), Ok(want), "{input:?}");
        }
        let bad = [
            ("", DomainError::Empty),
            (".", DomainError::Empty),
            ("axellc.com..", DomainError::TrailingDots),
            ("a..com", DomainError::Idna),
            (" axellc.com", DomainError::Idna),
            ("axel_lc.com", DomainError::Idna),
            ("-axellc.com", DomainError::Idna),
            ("a@b.com", DomainError::Idna),
            ("xn--zz.com", DomainError::Idna),
            ("1.2.3.4", DomainError::Numeric),
            ("[::1]", DomainError::Idna),
        ];
        for (input, want) in bad {
            assert_eq!(norm(input), Err(want), "{input:?}");
        }
    }

    #[test]
    fn label_boundaries() {
        assert!(is_within("axellc.com", "axellc.com"));
        assert!(is_within("mail.axellc.com", "axellc.com"));
        assert!(!is_within("evilaxellc.com", "axellc.com"));
        assert!(!is_within("axellc.com.evil", "axellc.com"));
        assert!(!is_within("com", "axellc.com"));
        let parents: Vec<_> = self_and_parents("a.b.com").collect();
        assert_eq!(parents, ["a.b.com", "b.com", "com"]);
    }

    #[test]
    fn public_suffixes_and_consumer_domains() {
        let d = |s: &str| DomainName::parse(s).unwrap();
        for s in [
            "com",
            "co.kr",
            "kr",
            "github.io",
            "localhost",
            "xn--3e0b707e",
        ] {
            assert!(d(s).is_public_suffix(), "{s}");
        }
        for s in ["axellc.com", "realchoice.co.kr", "xn--oy2b27n4rck5b81l.kr"] {
            assert!(!d(s).is_public_suffix(), "{s}");
        }
        for s in ["gmail.com", "NAVER.com", "mail.naver.com", "hanmail.net."] {
            assert!(d(s).is_consumer_mail(), "{s}");
        }
        assert!(!d("evilgmail.com").is_consumer_mail());
        assert!(d("onmicrosoft.com").is_shared());
        assert!(!d("axellc.onmicrosoft.com").is_shared());
    }

    #[test]
    fn email_addresses() {
        let e = EmailAddress::parse("Someone@AXELLC.com.").unwrap();
        assert_eq!(e.domain().as_str(), "axellc.com");
        assert_eq!(e.local_part(), "Someone");
        assert!(!format!("{e:?}").contains("Someone"));
        for bad in [
            "",
            "axellc.com",
            "@axellc.com",
            "a@b@axellc.com",
            "a b@axellc.com",
            "a@",
            "a@axellc.com..",
            "a\n@axellc.com",
        ] {
            assert!(EmailAddress::parse(bad).is_err(), "{bad:?}");
        }
    }

    proptest! {
        #[test]
        fn normalization_is_idempotent(s in "\\PC{0,40}") {
            if let Ok(once) = normalize_domain(&s) {
                prop_assert_eq!(normalize_domain(&once), Ok(once.clone()));
            }
        }

        #[test]
        fn normalization_is_idempotent_on_domain_like_input(
            labels in proptest::collection::vec("[a-zA-Z0-9ａ-ｚ가-힣а-я-]{1,12}", 1..4),
            dot in proptest::bool::ANY,
        ) {
            let s = format!("{}{}", labels.join("."), if dot { "." } else { "" });
            if let Ok(once) = normalize_domain(&s) {
                prop_assert_eq!(normalize_domain(&once), Ok(once.clone()));
                prop_assert!(once.is_ascii());
                prop_assert_eq!(once.to_ascii_lowercase(), once.clone());
                prop_assert!(!once.ends_with('.'));
            }
        }

        #[test]
        fn is_within_agrees_with_label_split(
            child in "[a-z]{1,3}(\\.[a-z]{1,3}){0,3}",
            parent in "[a-z]{1,3}(\\.[a-z]{1,3}){0,2}",
        ) {
            let expected = self_and_parents(&child).any(|p| p == parent);
            prop_assert_eq!(is_within(&child, &parent), expected);
        }
    }
}
