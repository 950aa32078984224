//! Resolution: from a validated token ([`Principal`]) to a customer and an
//! entity, or a refusal.
//!
//! The order, and why:
//!
//! 1. **The tenant decides the customer.** The `tid` claim names the
//!    directory that signed the token; it is the one signal nobody but that
//!    directory controls. A `tid` no customer lists is [`Resolution::Unknown`],
//!    whatever the email says.
//! 2. **The email domain is a consistency check, trusted only when vouched
//!    for.** The `email` claim can be set by any tenant admin (the "nOAuth"
//!    flaw); it counts only when the token says its domain is verified
//!    (`xms_edov: true`) or the address is (`email_verified: true`). A vouched
//!    domain owned by *another* customer is a [`Resolution::Conflict`] unless
//!    this customer lists that one in `allow_guests_from`. A vouched address
//!    that does not parse is refused rather than ignored. `upn` and
//!    `preferred_username` are never used.
//! 3. **The entity**, first match wins: the user's `oid` (`users`), an app
//!    role (`roles`; two roles naming two entities is a conflict), the vouched
//!    email domain when it is the customer's own (`domains`), the default
//!    entity. No match is [`Resolution::Unknown`].
//!
//! ```
//! use axe_auth::{Principal, TenantId};
//! use axe_tenant::{Customers, Resolution};
//! let customers = Customers::from_yaml(r#"
//! base_domain: axelabs.ai
//! customers:
//!   - id: axe
//!     tenant: 122fb574-1b1d-4c59-a6b1-6a3f0d5ad0e1
//!     domains: [axellc.com]
//!     services: [frame]
//!     entities: [{ id: axe, default: true }]
//! "#, "customers.yaml")?;
//! let tid: TenantId = "122fb574-1b1d-4c59-a6b1-6a3f0d5ad0e1".parse()?;
//! let user = Principal::builder(tid, "7d1a6c1e-2f5b-4b7e-9a7c-3f2e1d0c9b8a")
//!     .email("someone@AXELLC.com")
//!     .email_domain_verified(true)
//!     .build();
//! let Resolution::Matched { customer, entity, via, .. } = customers.resolve(&user) else {
//!     panic!("expected a match");
//! };
//! assert_eq!((customer.as_str(), entity.as_str()), ("axe", "axe"));
//! assert_eq!(via.to_string(), "tenant+email_domain/default");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;

use axe_auth::{Principal, TenantId};

use crate::config::{Customer, Customers};
use crate::domain::email_domain;
use crate::{CustomerId, EntityId};

/// The outcome of [`Customers::resolve`]. Anything but `Matched` must be
/// refused (the [`TenantLayer`](crate::TenantLayer) answers 403).
///
/// Every variant carries the `generation` of the configuration that decided,
/// for the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Resolution {
    /// The token maps to this customer and entity.
    Matched {
        /// The customer.
        customer: CustomerId,
        /// The entity inside the customer.
        entity: EntityId,
        /// Which signals decided.
        via: Via,
        /// The configuration generation.
        generation: u64,
    },
    /// The token maps to no customer, or to no entity of its customer.
    Unknown {
        /// Why.
        reason: UnknownReason,
        /// The configuration generation.
        generation: u64,
    },
    /// The token's signals disagree.
    Conflict {
        /// The customer the token's tenant belongs to.
        customer: CustomerId,
        /// What disagrees.
        reason: ConflictReason,
        /// The configuration generation.
        generation: u64,
    },
}

impl Resolution {
    /// The generation of the configuration that decided.
    pub fn generation(&self) -> u64 {
        match self {
            Resolution::Matched { generation, .. }
            | Resolution::Unknown { generation, .. }
            | Resolution::Conflict { generation, .. } => *generation,
        }
    }

    /// The matched customer, only for [`Resolution::Matched`].
    pub fn customer(&self) -> Option<&CustomerId> {
        match self {
            Resolution::Matched { customer, .. } => Some(customer),
            _ => None,
        }
    }
}

/// Why a token resolved to nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum UnknownReason {
    /// No customer lists the token's tenant.
    UnknownTenant {
        /// The token's `tid`.
        tenant: TenantId,
    },
    /// The customer requires a vouched email in its own domains (or an
    /// allowed guest customer's), and the token has none.
    EmailDomainRequired {
        /// The customer.
        customer: CustomerId,
    },
    /// The token vouches for an email address that does not parse.
    MalformedEmail {
        /// The customer.
        customer: CustomerId,
    },
    /// No entity rule matches and the customer has no default entity.
    NoEntity {
        /// The customer.
        customer: CustomerId,
    },
}

/// What disagrees in a [`Resolution::Conflict`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConflictReason {
    /// The vouched email domain belongs to another customer, and this one
    /// does not allow guests from it.
    ForeignEmailDomain {
        /// The customer that owns the domain (for logs; never sent to the
        /// caller).
        owner: CustomerId,
    },
    /// Rules of one tier map the token to more than one entity (two app
    /// roles mapped to two entities).
    AmbiguousEntity {
        /// The tier.
        signal: EntitySignal,
        /// Two of the entities it maps to.
        entities: [EntityId; 2],
    },
}

/// Which signals decided a [`Resolution::Matched`]; it goes into the audit
/// log. `Display`s as `customer/entity`, e.g. `tenant+email_domain/role`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Via {
    /// What decided the customer.
    pub customer: CustomerSignal,
    /// What decided the entity.
    pub entity: EntitySignal,
}

impl Via {
    /// Builds a `Via` (for tests and for callers that decide tenancy
    /// themselves).
    pub fn new(customer: CustomerSignal, entity: EntitySignal) -> Self {
        Via { customer, entity }
    }
}

impl fmt::Display for Via {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.customer.as_str(), self.entity.as_str())
    }
}

/// What decided the customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CustomerSignal {
    /// The tenant alone: the token vouches for no email, or its domain is
    /// nobody's.
    Tenant,
    /// The tenant, confirmed by a vouched email in the customer's own domain.
    TenantAndEmailDomain,
    /// The tenant, with a vouched email of a customer listed in
    /// `allow_guests_from`.
    TenantAllowedGuest,
}

impl CustomerSignal {
    /// A short stable name: `tenant`, `tenant+email_domain`, `tenant+guest`.
    pub fn as_str(&self) -> &'static str {
        match self {
            CustomerSignal::Tenant => "tenant",
            CustomerSignal::TenantAndEmailDomain => "tenant+email_domain",
            CustomerSignal::TenantAllowedGuest => "tenant+guest",
        }
    }
}

/// What decided the entity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EntitySignal {
    /// The user's object id (`users`).
    User,
    /// An app role (`roles`).
    Role,
    /// The vouched email domain (`domains`).
    EmailDomain,
    /// The customer's default entity.
    Default,
}

impl EntitySignal {
    /// A short stable name: `user`, `role`, `email_domain`, `default`.
    pub fn as_str(&self) -> &'static str {
        match self {
            EntitySignal::User => "user",
            EntitySignal::Role => "role",
            EntitySignal::EmailDomain => "email_domain",
            EntitySignal::Default => "default",
        }
    }
}

/// The email signal of a token, once judged.
enum Email {
    /// No vouched email.
    None,
    /// Vouched, domain (normalized) owned by the tenant's customer.
    Own(String),
    /// Vouched, domain owned by this other customer (index).
    Foreign(usize),
    /// Vouched, domain owned by nobody.
    Unclaimed,
}

impl Customers {
    /// Resolves a validated token to a customer and an entity. Fails closed:
    /// see the [module documentation](crate::resolve) for the order of
    /// signals. Constant cost in the number of customers.
    pub fn resolve(&self, principal: &Principal) -> Resolution {
        let generation = self.generation;
        let tenant = principal.tenant_id();
        let Some(&ci) = self.by_tenant.get(&tenant) else {
            return Resolution::Unknown {
                reason: UnknownReason::UnknownTenant { tenant },
                generation,
            };
        };
        let customer = &self.customers[ci];
        let unknown = |reason| Resolution::Unknown { reason, generation };
        let conflict = |reason| Resolution::Conflict {
            customer: customer.id.clone(),
            reason,
            generation,
        };

        let vouched = principal.email_domain_verified() == Some(true)
            || principal.email_verified() == Some(true);
        let email = match principal.email() {
            Some(raw) if vouched => match email_domain(raw) {
                Err(_) => {
                    return unknown(UnknownReason::MalformedEmail {
                        customer: customer.id.clone(),
                    });
                }
                Ok(domain) => match self.domain_owner(&domain) {
                    Some(owner) if owner == ci => Email::Own(domain),
                    Some(owner) => Email::Foreign(owner),
                    None => Email::Unclaimed,
                },
            },
            _ => Email::None,
        };

        let customer_signal = match &email {
            Email::Own(_) => CustomerSignal::TenantAndEmailDomain,
            Email::Foreign(owner) => {
                let owner = &self.customers[*owner].id;
                if !customer.guests_from.contains(owner) {
                    return conflict(ConflictReason::ForeignEmailDomain {
                        owner: owner.clone(),
                    });
                }
                CustomerSignal::TenantAllowedGuest
            }
            Email::None | Email::Unclaimed => {
                if customer.require_email_domain {
                    return unknown(UnknownReason::EmailDomainRequired {
                        customer: customer.id.clone(),
                    });
                }
                CustomerSignal::Tenant
            }
        };

        let own_domain = match &email {
            Email::Own(domain) => Some(domain.as_str()),
            _ => None,
        };
        match entity_for(customer, principal, own_domain) {
            Ok(Some((ei, signal))) => Resolution::Matched {
                customer: customer.id.clone(),
                entity: customer.entities[ei].id.clone(),
                via: Via::new(customer_signal, signal),
                generation,
            },
            Ok(None) => unknown(UnknownReason::NoEntity {
                customer: customer.id.clone(),
            }),
            Err(reason) => conflict(reason),
        }
    }
}

/// The entity tiers, first match wins.
fn entity_for(
    customer: &Customer,
    principal: &Principal,
    own_domain: Option<&str>,
) -> Result<Option<(usize, EntitySignal)>, ConflictReason> {
    if let Ok(oid) = uuid::Uuid::try_parse(principal.object_id())
        && let Some(&ei) = customer.by_user.get(&oid)
    {
        return Ok(Some((ei, EntitySignal::User)));
    }

    let mut by_role: Option<usize> = None;
    for role in principal.roles() {
        let Some(&ei) = customer.by_role.get(role.as_str()) else {
            continue;
        };
        match by_role {
            Some(first) if first != ei => {
                return Err(ConflictReason::AmbiguousEntity {
                    signal: EntitySignal::Role,
                    entities: [
                        customer.entities[first].id.clone(),
                        customer.entities[ei].id.clone(),
                    ],
                });
            }
            _ => by_role = Some(ei),
        }
    }
    if let Some(ei) = by_role {
        return Ok(Some((ei, EntitySignal::Role)));
    }

    if let Some(ei) = own_domain.and_then(|d| customer.entity_for_domain(d)) {
        return Ok(Some((ei, EntitySignal::EmailDomain)));
    }

    Ok(customer
        .default_entity
        .map(|ei| (ei, EntitySignal::Default)))
}
