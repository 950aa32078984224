//! [`ConfigError`]: why a `customers.yaml` was refused, and where.

use std::fmt;
use std::io;
use std::sync::Arc;

use axe_auth::TenantId;

use super::locate::{Position, YamlPath, locate};
use crate::{DomainError, DomainName, InvalidId};

/// A `customers.yaml` that cannot be activated: the file, the YAML path and
/// position of the offending node, and the reason ([`ConfigErrorKind`]).
///
/// `Display` reads `customers.yaml:12:9: customers[1].domains[0]: the domain
/// co.kr is a public suffix …`. This is a configuration error, raised before
/// anything is served; request-time refusals are
/// [`TenantRejection`](crate::TenantRejection)s.
#[derive(Debug)]
pub struct ConfigError(Box<Inner>);

#[derive(Debug)]
struct Inner {
    file: Arc<str>,
    path: String,
    position: Option<Position>,
    kind: ConfigErrorKind,
}

impl ConfigError {
    pub(crate) fn new(
        file: &Arc<str>,
        path: String,
        position: Option<Position>,
        kind: ConfigErrorKind,
    ) -> Self {
        ConfigError(Box::new(Inner {
            file: Arc::clone(file),
            path,
            position,
            kind,
        }))
    }

    /// An error at `path`, located in `src`.
    pub(crate) fn at(file: &Arc<str>, src: &str, path: &YamlPath, kind: ConfigErrorKind) -> Self {
        Self::new(file, path.to_string(), locate(src, path), kind)
    }

    /// The file name (or the name given to an in-memory source).
    pub fn file(&self) -> &str {
        &self.0.file
    }

    /// The YAML path of the offending node, such as `customers[1].domains[0]`;
    /// `.` for the document itself.
    pub fn path(&self) -> &str {
        &self.0.path
    }

    /// The one-based line of the offending node, when known.
    pub fn line(&self) -> Option<usize> {
        self.0.position.map(|p| p.line)
    }

    /// The one-based column of the offending node, when known.
    pub fn column(&self) -> Option<usize> {
        self.0.position.map(|p| p.column)
    }

    /// Why the file was refused.
    pub fn kind(&self) -> &ConfigErrorKind {
        &self.0.kind
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.0;
        match i.position {
            Some(p) => write!(f, "{}:{}:{}: ", i.file, p.line, p.column)?,
            None => write!(f, "{}: ", i.file)?,
        }
        write!(f, "{}: {}", i.path, i.kind)
    }
}

impl std::error::Error for ConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.0.kind {
            ConfigErrorKind::Io(e) => Some(e),
            _ => None,
        }
    }
}

/// Why a `customers.yaml` was refused. Each variant says what was compared.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigErrorKind {
    /// The file could not be read.
    #[error("cannot read the file: {0}")]
    Io(#[source] io::Error),
    /// Reload was asked of a registry built from memory, with no file.
    #[error("this registry was not loaded from a file, so it cannot reload")]
    NoSource,
    /// The YAML parser refused the document: syntax, a value of the wrong
    /// type (`include_subdomains: no`, an unquoted `true` where a string is
    /// expected), a missing key, more than one document.
    #[error("{message}")]
    Yaml {
        /// The parser's message.
        message: String,
    },
    /// A key the schema does not have: most often a typo (`domian:`), which
    /// must not silently drop a rule.
    #[error("unknown key `{key}` (see the customers.yaml schema in the axe-tenant README)")]
    UnknownKey {
        /// The key as written.
        key: String,
    },
    /// The same key twice in one mapping.
    #[error("the key `{key}` appears twice")]
    DuplicateKey {
        /// The key.
        key: String,
    },
    /// An unquoted YAML 1.1 boolean word (`no`, `on`, `yes`, `off`, `y`, `n`)
    /// where a string is expected: YAML 1.1 tools read it as a boolean.
    #[error(
        "the bare word `{word}` is a boolean in YAML 1.1; quote it (\"{word}\") if you mean the string"
    )]
    BareWord {
        /// The word.
        word: String,
    },
    /// A domain that does not normalize (IDNA strict, one trailing dot).
    #[error("`{input}` is not a valid domain: {reason}")]
    InvalidDomain {
        /// The value as written.
        input: String,
        /// Why.
        reason: DomainError,
    },
    /// A domain on the Public Suffix List (`com`, `co.kr`): anyone can
    /// register below it.
    #[error("the domain {domain} is a public suffix; name the organisation's own domain")]
    PublicSuffix {
        /// The normalized domain.
        domain: DomainName,
    },
    /// A consumer mail domain (gmail.com, naver.com, …) or a subdomain of
    /// one: anyone can have an address there.
    #[error(
        "the domain {domain} belongs to a consumer mail service; anyone can have an address there"
    )]
    ConsumerDomain {
        /// The normalized domain.
        domain: DomainName,
    },
    /// A domain shared by unrelated organisations (`onmicrosoft.com`).
    #[error("the domain {domain} is shared by every Entra tenant; name the tenant's own subdomain")]
    SharedDomain {
        /// The normalized domain.
        domain: DomainName,
    },
    /// The same domain (after normalization) claimed twice.
    #[error("the domain {domain} is already claimed at {first}")]
    DuplicateDomain {
        /// The normalized domain.
        domain: DomainName,
        /// The YAML path of the first claim.
        first: String,
    },
    /// A domain inside another customer's domain that includes its
    /// subdomains (or the reverse): one address would match two customers.
    #[error("the domain {domain} overlaps {other}, claimed with its subdomains at {first}")]
    OverlappingDomain {
        /// The normalized domain at this path.
        domain: DomainName,
        /// The other claim's domain.
        other: DomainName,
        /// The YAML path of the other claim.
        first: String,
    },
    /// An entity's domain that is not one of its customer's domains (or a
    /// subdomain of one, when the customer includes subdomains): the rule
    /// could never apply.
    #[error(
        "the entity domain {domain} is not one of the customer's domains (nor, with include_subdomains, below one)"
    )]
    EntityDomainOutsideCustomer {
        /// The normalized domain.
        domain: DomainName,
    },
    /// A customer id, entity id or service id that breaks its rule.
    #[error("`{input}`: {reason}")]
    InvalidId {
        /// The value as written.
        input: String,
        /// The rule broken.
        reason: InvalidId,
    },
    /// `{id}.{base_domain}` is longer than DNS allows (253).
    #[error("the host {host} is longer than 253 characters")]
    HostTooLong {
        /// The host.
        host: String,
    },
    /// A customer id used twice.
    #[error("the customer id `{id}` is already used at {first}")]
    DuplicateCustomer {
        /// The id.
        id: String,
        /// The YAML path of the first use.
        first: String,
    },
    /// A tenant id that is not a hyphenated GUID.
    #[error("`{input}` is not a tenant id (a hyphenated GUID)")]
    InvalidTenantId {
        /// The value as written.
        input: String,
    },
    /// The tenant of Microsoft personal accounts: anyone can sign in there.
    #[error(
        "the tenant {tenant} is Microsoft's personal-accounts tenant: anyone can sign in there"
    )]
    PersonalAccountsTenant {
        /// The tenant.
        tenant: TenantId,
    },
    /// A tenant listed twice (in one customer or two): the tenant decides the
    /// customer, so it may belong to one only.
    #[error("the tenant {tenant} is already listed at {first}")]
    DuplicateTenant {
        /// The tenant.
        tenant: TenantId,
        /// The YAML path of the first listing.
        first: String,
    },
    /// A customer without services: no URL would serve it.
    #[error("a customer offers at least one service")]
    NoServices,
    /// A service listed twice in one customer.
    #[error("the service `{service}` is listed twice")]
    DuplicateService {
        /// The service.
        service: String,
    },
    /// `allow_guests_from` names a customer that does not exist.
    #[error("`allow_guests_from` names `{id}`, which is not a customer here")]
    UnknownCustomer {
        /// The id as written.
        id: String,
    },
    /// `allow_guests_from` names the customer itself.
    #[error("a customer cannot list itself in `allow_guests_from`")]
    GuestOfItself,
    /// A customer without entities: nobody could be mapped.
    #[error("a customer has at least one entity")]
    NoEntities,
    /// An entity id used twice in one customer.
    #[error("the entity id `{id}` is already used at {first}")]
    DuplicateEntity {
        /// The id.
        id: String,
        /// The YAML path of the first use.
        first: String,
    },
    /// Two entities of one customer marked `default: true`.
    #[error("a second default entity; the first is at {first}")]
    MultipleDefaults {
        /// The YAML path of the first default.
        first: String,
    },
    /// An entity with no `default`, `domains`, `users` or `roles`: no rule
    /// maps anyone to it.
    #[error(
        "the entity `{id}` has no default and no rule (domains, users or roles): nobody maps to it"
    )]
    EntityWithoutRule {
        /// The entity id.
        id: String,
    },
    /// A user object id that is not a hyphenated GUID.
    #[error("`{input}` is not a user object id (a hyphenated GUID)")]
    InvalidObjectId {
        /// The value as written.
        input: String,
    },
    /// A role name that is empty or holds whitespace.
    #[error("`{input}` is not an app role value (non-empty, no whitespace)")]
    InvalidRole {
        /// The value as written.
        input: String,
    },
    /// The same user, role or entity domain mapped to two entities of one
    /// customer.
    #[error("`{rule}` already maps to another entity at {first}")]
    DuplicateRule {
        /// The user object id, role or domain.
        rule: String,
        /// The YAML path of the first mapping.
        first: String,
    },
}

impl ConfigErrorKind {
    /// Classifies a serde_norway error message (with its path prefix and
    /// position suffix already removed).
    pub(crate) fn from_parser_message(message: &str) -> Self {
        if let Some(rest) = message.strip_prefix("unknown field `")
            && let Some((key, _)) = rest.split_once('`')
        {
            return ConfigErrorKind::UnknownKey {
                key: key.to_owned(),
            };
        }
        if let Some(rest) = message.strip_prefix("duplicate field `")
            && let Some((key, _)) = rest.split_once('`')
        {
            return ConfigErrorKind::DuplicateKey {
                key: key.to_owned(),
            };
        }
        ConfigErrorKind::Yaml {
            message: message.to_owned(),
        }
    }
}

/// Turns a parser error into a [`ConfigError`], splitting serde_norway's
/// `path: message at line L column C` into its parts.
pub(crate) fn from_parser(file: &Arc<str>, e: &serde_norway::Error) -> ConfigError {
    let position = e.location().map(|l| Position {
        line: l.line(),
        column: l.column(),
        index: l.index(),
    });
    let mut text = e.to_string();
    if let Some(p) = position {
        let suffix = format!(" at line {} column {}", p.line, p.column);
        if let Some(stripped) = text.strip_suffix(&suffix) {
            text = stripped.to_owned();
        }
    }
    let (path, message) = match text.split_once(": ") {
        Some((p, m)) if !p.is_empty() && !p.contains(' ') => (p.to_owned(), m.to_owned()),
        _ => (".".to_owned(), text),
    };
    ConfigError::new(
        file,
        path,
        position,
        ConfigErrorKind::from_parser_message(&message),
    )
}
