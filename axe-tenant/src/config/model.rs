//! The validated model: [`Customers`], [`Customer`], [`Entity`].
//!
//! Every value was checked at load and every lookup the request path needs
//! is a hash map, so resolving costs the same with 10 customers or 10,000.

use std::collections::HashMap;
use std::fmt;

use axe_auth::TenantId;
use uuid::Uuid;

use crate::domain::self_and_parents;
use crate::{CustomerId, DomainName, EntityId, ServiceId};

/// A validated `customers.yaml`: the customers, their tenants, domains,
/// services and entities, indexed for constant-cost lookups.
///
/// Obtain one with [`Customers::from_path`] or [`Customers::from_yaml`];
/// serve it through a [`CustomerRegistry`](crate::CustomerRegistry), which
/// stamps each activated configuration with a [`generation`](Self::generation).
#[derive(Clone)]
pub struct Customers {
    pub(crate) base_domain: DomainName,
    pub(crate) customers: Vec<Customer>,
    pub(crate) by_id: HashMap<CustomerId, usize>,
    pub(crate) by_tenant: HashMap<TenantId, usize>,
    pub(crate) by_domain: HashMap<Box<str>, usize>,
    pub(crate) generation: u64,
}

/// One customer: served at `{id}.{base_domain}`, signed in through its Entra
/// tenant(s).
#[derive(Clone)]
pub struct Customer {
    pub(crate) id: CustomerId,
    pub(crate) host: Box<str>,
    pub(crate) tenants: Vec<TenantId>,
    pub(crate) domains: Vec<DomainName>,
    pub(crate) include_subdomains: bool,
    pub(crate) require_email_domain: bool,
    pub(crate) guests_from: Vec<CustomerId>,
    pub(crate) services: Vec<ServiceId>,
    pub(crate) entities: Vec<Entity>,
    pub(crate) default_entity: Option<usize>,
    pub(crate) by_user: HashMap<Uuid, usize>,
    pub(crate) by_role: HashMap<Box<str>, usize>,
    pub(crate) by_entity_domain: HashMap<Box<str>, usize>,
}

/// An entity of a customer (a schema of its database) and the rules that map
/// users to it.
#[derive(Clone)]
pub struct Entity {
    pub(crate) id: EntityId,
    pub(crate) default: bool,
    pub(crate) domains: Vec<DomainName>,
    pub(crate) users: Vec<Uuid>,
    pub(crate) roles: Vec<Box<str>>,
}

impl Customers {
    /// The domain customers are served under (`axelabs.ai`).
    pub fn base_domain(&self) -> &DomainName {
        &self.base_domain
    }

    /// The generation this configuration was activated as by a
    /// [`CustomerRegistry`](crate::CustomerRegistry): 1 for the first, one
    /// more for each swap. 0 for a configuration never activated.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Every customer, in file order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &Customer> {
        self.customers.iter()
    }

    /// The number of customers.
    pub fn len(&self) -> usize {
        self.customers.len()
    }

    /// True when the file lists no customer.
    pub fn is_empty(&self) -> bool {
        self.customers.is_empty()
    }

    /// The customer with this id.
    pub fn customer(&self, id: &str) -> Option<&Customer> {
        self.by_id.get(id).map(|&i| &self.customers[i])
    }

    /// The customer whose tenant (or one of whose extra tenants) is `tenant`.
    pub fn customer_for_tenant(&self, tenant: &TenantId) -> Option<&Customer> {
        self.by_tenant.get(tenant).map(|&i| &self.customers[i])
    }

    /// The customer that claims `domain`: exactly, or as a parent domain
    /// when that customer includes subdomains. Label boundaries only.
    pub fn customer_for_domain(&self, domain: &DomainName) -> Option<&Customer> {
        self.domain_owner(domain.as_str())
            .map(|i| &self.customers[i])
    }

    /// The customer served at `host` (`axe.axelabs.ai`). The host must be
    /// normalized: lower case, no port, no trailing dot (see
    /// [`normalize_host`](crate::normalize_host)).
    pub fn customer_for_host(&self, host: &str) -> Option<&Customer> {
        let label = host
            .strip_suffix(self.base_domain.as_str())?
            .strip_suffix('.')?;
        if label.is_empty() || label.contains('.') {
            return None;
        }
        self.customer(label)
    }

    pub(crate) fn domain_owner(&self, domain: &str) -> Option<usize> {
        self_and_parents(domain).enumerate().find_map(|(depth, d)| {
            let &i = self.by_domain.get(d)?;
            (depth == 0 || self.customers[i].include_subdomains).then_some(i)
        })
    }
}

impl fmt::Debug for Customers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Customers")
            .field("base_domain", &self.base_domain)
            .field("generation", &self.generation)
            .field("customers", &self.customers)
            .finish()
    }
}

impl Customer {
    /// The customer id (a DNS label).
    pub fn id(&self) -> &CustomerId {
        &self.id
    }

    /// The host the customer is served at: `{id}.{base_domain}`.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The customer's Entra tenant (`tenant` in the file).
    pub fn tenant(&self) -> TenantId {
        self.tenants[0]
    }

    /// Every tenant whose tokens resolve to this customer: `tenant`, then
    /// `extra_tenants`.
    pub fn tenants(&self) -> &[TenantId] {
        &self.tenants
    }

    /// The customer's email domains, normalized.
    pub fn domains(&self) -> &[DomainName] {
        &self.domains
    }

    /// Whether subdomains of [`domains`](Self::domains) belong to the
    /// customer too.
    pub fn include_subdomains(&self) -> bool {
        self.include_subdomains
    }

    /// Whether a token must carry a vouched email in one of the customer's
    /// domains (or of a customer in `allow_guests_from`).
    pub fn require_email_domain(&self) -> bool {
        self.require_email_domain
    }

    /// Customers whose users may sign in through this customer's tenant as
    /// guests.
    pub fn allow_guests_from(&self) -> &[CustomerId] {
        &self.guests_from
    }

    /// The services offered (`frame`, …).
    pub fn services(&self) -> &[ServiceId] {
        &self.services
    }

    /// True when the customer offers `service`.
    pub fn offers(&self, service: &str) -> bool {
        self.services.iter().any(|s| s == service)
    }

    /// The entities, in file order.
    pub fn entities(&self) -> &[Entity] {
        &self.entities
    }

    /// The entity marked `default: true`, if any.
    pub fn default_entity(&self) -> Option<&Entity> {
        self.default_entity.map(|i| &self.entities[i])
    }

    /// The entity with this id.
    pub fn entity(&self, id: &str) -> Option<&Entity> {
        self.entities.iter().find(|e| e.id == id)
    }

    /// The entity whose `domains` rule matches `domain` (most specific
    /// first; parents only when the customer includes subdomains).
    pub(crate) fn entity_for_domain(&self, domain: &str) -> Option<usize> {
        self_and_parents(domain).enumerate().find_map(|(depth, d)| {
            let &i = self.by_entity_domain.get(d)?;
            (depth == 0 || self.include_subdomains).then_some(i)
        })
    }
}

impl fmt::Debug for Customer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Customer")
            .field("id", &self.id)
            .field("tenants", &self.tenants)
            .field("domains", &self.domains)
            .field("include_subdomains", &self.include_subdomains)
            .field("services", &self.services)
            .field("entities", &self.entities)
            .finish_non_exhaustive()
    }
}

impl Entity {
    /// The entity id.
    pub fn id(&self) -> &EntityId {
        &self.id
    }

    /// Whether users no rule maps elsewhere land here.
    pub fn is_default(&self) -> bool {
        self.default
    }

    /// Email domains mapped to this entity.
    pub fn domains(&self) -> &[DomainName] {
        &self.domains
    }

    /// User object ids (`oid`) mapped to this entity.
    pub fn users(&self) -> &[Uuid] {
        &self.users
    }

    /// App roles mapped to this entity.
    pub fn roles(&self) -> impl ExactSizeIterator<Item = &str> {
        self.roles.iter().map(|r| &**r)
    }
}

impl fmt::Debug for Entity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Entity")
            .field("id", &self.id)
            .field("default", &self.default)
            .field("domains", &self.domains)
            .field("users", &self.users.len())
            .field("roles", &self.roles)
            .finish()
    }
}
