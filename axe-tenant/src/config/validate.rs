//! From [`RawFile`] to [`Customers`]: every check that needs more than one
//! value, with each error located in the source.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::Arc;

use axe_auth::TenantId;
use uuid::Uuid;

use super::error::{ConfigError, ConfigErrorKind};
use super::locate::{YamlPath, locate};
use super::model::{Customer, Customers, Entity};
use super::raw::{RawCustomer, RawEntity, RawFile, YAML11_BOOLEAN_WORDS, YStr};
use crate::domain::is_within;
use crate::{CustomerId, DomainName, EntityId, ServiceId};

/// Collects errors while validating one source.
struct Ctx<'a> {
    file: &'a Arc<str>,
    src: &'a str,
    errors: Vec<ConfigError>,
}

impl Ctx<'_> {
    fn err(&mut self, path: &YamlPath, kind: ConfigErrorKind) {
        self.errors
            .push(ConfigError::at(self.file, self.src, path, kind));
    }

    /// The string at `path`, unless it is an unquoted YAML 1.1 boolean word.
    fn text<'s>(&mut self, path: &YamlPath, s: &'s YStr) -> Option<&'s str> {
        let v = s.0.as_str();
        if YAML11_BOOLEAN_WORDS.contains(&v) {
            let quoted = locate(self.src, path)
                .and_then(|p| self.src.as_bytes().get(p.index))
                .is_some_and(|b| matches!(b, b'\'' | b'"' | b'!'));
            if !quoted {
                self.err(path, ConfigErrorKind::BareWord { word: v.to_owned() });
                return None;
            }
        }
        Some(v)
    }

    fn domain(&mut self, path: &YamlPath, s: &YStr) -> Option<DomainName> {
        let input = self.text(path, s)?;
        match DomainName::parse(input) {
            Ok(d) => Some(d),
            Err(reason) => {
                let input = input.to_owned();
                self.err(path, ConfigErrorKind::InvalidDomain { input, reason });
                None
            }
        }
    }

    /// A domain a customer or entity may claim: not a public suffix, not a
    /// consumer mail service, not a shared domain.
    fn claimable_domain(&mut self, path: &YamlPath, s: &YStr) -> Option<DomainName> {
        let domain = self.domain(path, s)?;
        let refusal = if domain.is_public_suffix() {
            ConfigErrorKind::PublicSuffix { domain }
        } else if domain.is_consumer_mail() {
            ConfigErrorKind::ConsumerDomain { domain }
        } else if domain.is_shared() {
            ConfigErrorKind::SharedDomain { domain }
        } else {
            return Some(domain);
        };
        self.err(path, refusal);
        None
    }

    fn id<T>(
        &mut self,
        path: &YamlPath,
        s: &YStr,
        parse: fn(&str) -> Result<T, crate::InvalidId>,
    ) -> Option<T> {
        let input = self.text(path, s)?;
        match parse(input) {
            Ok(id) => Some(id),
            Err(reason) => {
                let input = input.to_owned();
                self.err(path, ConfigErrorKind::InvalidId { input, reason });
                None
            }
        }
    }

    /// A hyphenated GUID (a tenant id or a user object id).
    fn guid(
        &mut self,
        path: &YamlPath,
        s: &YStr,
        kind: fn(String) -> ConfigErrorKind,
    ) -> Option<TenantId> {
        let input = self.text(path, s)?;
        match TenantId::parse(input) {
            Ok(t) => Some(t),
            Err(_) => {
                self.err(path, kind(input.to_owned()));
                None
            }
        }
    }
}

/// Where a domain was claimed, for duplicate and overlap checks.
struct Claim {
    customer: usize,
    path: YamlPath,
}

pub(crate) fn validate(
    file: &Arc<str>,
    src: &str,
    raw: RawFile,
) -> Result<Customers, Vec<ConfigError>> {
    let mut cx = Ctx {
        file,
        src,
        errors: Vec::new(),
    };
    let root = YamlPath::root();
    let base_domain = cx.domain(&root.key("base_domain"), &raw.base_domain);

    let list = root.key("customers");
    let mut customers = Vec::with_capacity(raw.customers.len());
    let mut by_id: HashMap<CustomerId, usize> = HashMap::new();
    let mut id_paths: HashMap<CustomerId, YamlPath> = HashMap::new();
    let mut by_tenant: HashMap<TenantId, (usize, YamlPath)> = HashMap::new();
    let mut claims: HashMap<DomainName, Claim> = HashMap::new();
    // Guests are checked once every id is known.
    let mut guest_refs: Vec<(usize, YamlPath, String)> = Vec::new();

    for (ci, rc) in raw.customers.iter().enumerate() {
        let at = list.index(ci);
        let Some(customer) = customer(&mut cx, &at, rc, base_domain.as_ref()) else {
            continue;
        };
        let index = customers.len();

        let id_path = at.key("id");
        match id_paths.entry(customer.id.clone()) {
            Entry::Occupied(first) => {
                let first = first.get().to_string();
                let id = customer.id.to_string();
                cx.err(&id_path, ConfigErrorKind::DuplicateCustomer { id, first });
                continue;
            }
            Entry::Vacant(v) => {
                v.insert(id_path);
            }
        }

        for (ti, tenant) in customer.tenants.iter().enumerate() {
            let path = if ti == 0 {
                at.key("tenant")
            } else {
                at.key("extra_tenants").index(ti - 1)
            };
            match by_tenant.entry(*tenant) {
                Entry::Occupied(first) => {
                    let first = first.get().1.to_string();
                    cx.err(
                        &path,
                        ConfigErrorKind::DuplicateTenant {
                            tenant: *tenant,
                            first,
                        },
                    );
                }
                Entry::Vacant(v) => {
                    v.insert((index, path));
                }
            }
        }

        for (di, domain) in customer.domains.iter().enumerate() {
            let path = at.key("domains").index(di);
            if let Some(first) = claims.get(domain) {
                let first = first.path.to_string();
                cx.err(
                    &path,
                    ConfigErrorKind::DuplicateDomain {
                        domain: domain.clone(),
                        first,
                    },
                );
                continue;
            }
            claims.insert(
                domain.clone(),
                Claim {
                    customer: index,
                    path,
                },
            );
        }

        for (gi, g) in rc.allow_guests_from.iter().enumerate() {
            let path = at.key("allow_guests_from").index(gi);
            if let Some(v) = cx.text(&path, g) {
                guest_refs.push((index, path, v.to_owned()));
            }
        }

        by_id.insert(customer.id.clone(), index);
        customers.push(customer);
    }

    // Overlaps: a domain below another customer's domain that includes its
    // subdomains would match both.
    for (domain, claim) in &claims {
        for parent in domain.self_and_parents().skip(1) {
            let Ok(parent) = DomainName::parse(parent) else {
                continue;
            };
            if let Some(other) = claims.get(&parent)
                && other.customer != claim.customer
                && customers[other.customer].include_subdomains
            {
                let first = other.path.to_string();
                cx.err(
                    &claim.path,
                    ConfigErrorKind::OverlappingDomain {
                        domain: domain.clone(),
                        other: parent,
                        first,
                    },
                );
            }
        }
    }

    for (index, path, id) in guest_refs {
        match by_id.get(id.as_str()) {
            Some(&g) if g == index => cx.err(&path, ConfigErrorKind::GuestOfItself),
            Some(&g) => {
                let gid = customers[g].id.clone();
                customers[index].guests_from.push(gid);
            }
            None => cx.err(&path, ConfigErrorKind::UnknownCustomer { id }),
        }
    }

    if !cx.errors.is_empty() {
        cx.errors
            .sort_by_key(|e| (e.line().unwrap_or(usize::MAX), e.column()));
        return Err(cx.errors);
    }
    let Some(base_domain) = base_domain else {
        // Unreachable: a bad base domain recorded an error.
        return Err(cx.errors);
    };
    Ok(Customers {
        base_domain,
        by_id,
        by_tenant: by_tenant.into_iter().map(|(t, (i, _))| (t, i)).collect(),
        by_domain: claims
            .into_iter()
            .map(|(d, c)| (Box::from(d.as_str()), c.customer))
            .collect(),
        customers,
        generation: 0,
    })
}

/// One customer, checked on its own. `None` when anything in it is wrong
/// (the errors are in `cx`).
fn customer(
    cx: &mut Ctx<'_>,
    at: &YamlPath,
    rc: &RawCustomer,
    base: Option<&DomainName>,
) -> Option<Customer> {
    let before = cx.errors.len();
    let id = cx.id(&at.key("id"), &rc.id, CustomerId::parse);
    let host = match (&id, base) {
        (Some(id), Some(base)) => {
            let host = format!("{id}.{base}");
            if host.len() > 253 {
                cx.err(
                    &at.key("id"),
                    ConfigErrorKind::HostTooLong { host: host.clone() },
                );
            }
            Some(host)
        }
        _ => None,
    };

    let mut tenants = Vec::new();
    let tenant_paths = std::iter::once((at.key("tenant"), &rc.tenant)).chain(
        rc.extra_tenants
            .iter()
            .enumerate()
            .map(|(i, t)| (at.key("extra_tenants").index(i), t)),
    );
    for (path, raw) in tenant_paths {
        let Some(tenant) = cx.guid(&path, raw, |input| ConfigErrorKind::InvalidTenantId {
            input,
        }) else {
            continue;
        };
        if tenant.is_personal_accounts() {
            cx.err(&path, ConfigErrorKind::PersonalAccountsTenant { tenant });
        } else if let Some(first) = tenants.iter().position(|t| *t == tenant) {
            let first = if first == 0 {
                at.key("tenant")
            } else {
                at.key("extra_tenants").index(first - 1)
            };
            let first = first.to_string();
            cx.err(&path, ConfigErrorKind::DuplicateTenant { tenant, first });
        } else {
            tenants.push(tenant);
        }
    }

    let mut domains: Vec<DomainName> = Vec::new();
    let mut domain_paths: HashMap<DomainName, YamlPath> = HashMap::new();
    for (i, d) in rc.domains.iter().enumerate() {
        let path = at.key("domains").index(i);
        let Some(d) = cx.claimable_domain(&path, d) else {
            continue;
        };
        if let Some(first) = domain_paths.get(&d) {
            let first = first.to_string();
            cx.err(&path, ConfigErrorKind::DuplicateDomain { domain: d, first });
        } else {
            domain_paths.insert(d.clone(), path);
            domains.push(d);
        }
    }

    let mut services: Vec<ServiceId> = Vec::new();
    if rc.services.is_empty() {
        cx.err(&at.key("services"), ConfigErrorKind::NoServices);
    }
    for (i, s) in rc.services.iter().enumerate() {
        let path = at.key("services").index(i);
        if let Some(s) = cx.id(&path, s, ServiceId::parse) {
            if services.contains(&s) {
                cx.err(
                    &path,
                    ConfigErrorKind::DuplicateService {
                        service: s.to_string(),
                    },
                );
            } else {
                services.push(s);
            }
        }
    }

    let entities = entities(cx, at, rc, &domains);

    if cx.errors.len() > before {
        return None;
    }
    let (id, host, entities) = (id?, host?, entities?);
    Some(Customer {
        id,
        host: host.into(),
        tenants,
        domains,
        include_subdomains: rc.include_subdomains,
        require_email_domain: rc.require_email_domain,
        guests_from: Vec::new(),
        services,
        default_entity: entities.entities.iter().position(|e| e.default),
        entities: entities.entities,
        by_user: entities.by_user,
        by_role: entities.by_role,
        by_entity_domain: entities.by_domain,
    })
}

struct Entities {
    entities: Vec<Entity>,
    by_user: HashMap<Uuid, usize>,
    by_role: HashMap<Box<str>, usize>,
    by_domain: HashMap<Box<str>, usize>,
}

fn entities(
    cx: &mut Ctx<'_>,
    at: &YamlPath,
    rc: &RawCustomer,
    customer_domains: &[DomainName],
) -> Option<Entities> {
    let before = cx.errors.len();
    let list = at.key("entities");
    if rc.entities.is_empty() {
        cx.err(&list, ConfigErrorKind::NoEntities);
    }
    let mut out = Entities {
        entities: Vec::new(),
        by_user: HashMap::new(),
        by_role: HashMap::new(),
        by_domain: HashMap::new(),
    };
    let mut ids: HashMap<EntityId, YamlPath> = HashMap::new();
    let mut rules: HashMap<String, YamlPath> = HashMap::new();
    let mut default_at: Option<YamlPath> = None;

    for (ei, re) in rc.entities.iter().enumerate() {
        let eat = list.index(ei);
        let index = out.entities.len();
        let Some(entity) = entity(cx, &eat, re, rc.include_subdomains, customer_domains) else {
            continue;
        };
        let id_path = eat.key("id");
        if let Some(first) = ids.get(&entity.id) {
            let (id, first) = (entity.id.to_string(), first.to_string());
            cx.err(&id_path, ConfigErrorKind::DuplicateEntity { id, first });
            continue;
        }
        ids.insert(entity.id.clone(), id_path);
        if entity.default {
            match &default_at {
                Some(first) => {
                    let first = first.to_string();
                    cx.err(
                        &eat.key("default"),
                        ConfigErrorKind::MultipleDefaults { first },
                    );
                }
                None => default_at = Some(eat.key("default")),
            }
        }

        let mut rule = |cx: &mut Ctx<'_>, key: String, path: YamlPath| -> bool {
            if let Some(first) = rules.get(&key) {
                let first = first.to_string();
                cx.err(&path, ConfigErrorKind::DuplicateRule { rule: key, first });
                false
            } else {
                rules.insert(key, path);
                true
            }
        };
        for (i, u) in entity.users.iter().enumerate() {
            if rule(cx, format!("user {u}"), eat.key("users").index(i)) {
                out.by_user.insert(*u, index);
            }
        }
        for (i, r) in entity.roles.iter().enumerate() {
            if rule(cx, format!("role {r}"), eat.key("roles").index(i)) {
                out.by_role.insert(r.clone(), index);
            }
        }
        for (i, d) in entity.domains.iter().enumerate() {
            if rule(cx, format!("domain {d}"), eat.key("domains").index(i)) {
                out.by_domain.insert(Box::from(d.as_str()), index);
            }
        }
        out.entities.push(entity);
    }
    (cx.errors.len() == before).then_some(out)
}

fn entity(
    cx: &mut Ctx<'_>,
    at: &YamlPath,
    re: &RawEntity,
    include_subdomains: bool,
    customer_domains: &[DomainName],
) -> Option<Entity> {
    let before = cx.errors.len();
    let id = cx.id(&at.key("id"), &re.id, EntityId::parse);

    let mut users = Vec::new();
    for (i, u) in re.users.iter().enumerate() {
        let path = at.key("users").index(i);
        if let Some(u) = cx.guid(&path, u, |input| ConfigErrorKind::InvalidObjectId { input }) {
            users.push(u.as_uuid());
        }
    }

    let mut roles: Vec<Box<str>> = Vec::new();
    for (i, r) in re.roles.iter().enumerate() {
        let path = at.key("roles").index(i);
        let Some(r) = cx.text(&path, r) else { continue };
        if r.is_empty() || r.chars().any(|c| c.is_whitespace() || c.is_control()) {
            cx.err(
                &path,
                ConfigErrorKind::InvalidRole {
                    input: r.to_owned(),
                },
            );
        } else {
            roles.push(r.into());
        }
    }

    let mut domains = Vec::new();
    for (i, d) in re.domains.iter().enumerate() {
        let path = at.key("domains").index(i);
        let Some(d) = cx.claimable_domain(&path, d) else {
            continue;
        };
        let covered = customer_domains
            .iter()
            .any(|c| *c == d || (include_subdomains && is_within(d.as_str(), c.as_str())));
        if covered {
            domains.push(d);
        } else {
            cx.err(
                &path,
                ConfigErrorKind::EntityDomainOutsideCustomer { domain: d },
            );
        }
    }

    let id = id?;
    if !re.default && re.users.is_empty() && re.roles.is_empty() && re.domains.is_empty() {
        cx.err(
            at,
            ConfigErrorKind::EntityWithoutRule { id: id.to_string() },
        );
    }
    (cx.errors.len() == before).then_some(Entity {
        id,
        default: re.default,
        domains,
        users,
        roles,
    })
}
