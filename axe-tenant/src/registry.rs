//! [`CustomerRegistry`]: the live configuration, shared by the tenant layer
//! and axe-auth, swapped atomically on reload.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use arc_swap::ArcSwap;
use axe_auth::{AllowedTenants, Principal, TenantForHost, TenantId};

use crate::config::{self, ConfigError, Customers};
use crate::{Resolution, Route, RouteError};

/// The live, hot-reloadable customer configuration: a cheap-to-clone handle.
///
/// Readers never lock: each call works on one consistent snapshot (an
/// [`ArcSwap`] load), so a request never sees half of an old file and half of
/// a new one. A reload parses and validates the whole new file first and
/// swaps only if it is valid; otherwise the last good configuration stays
/// active and the error is logged and returned. Each activated configuration
/// gets the next [`generation`](Self::generation), starting at 1.
///
/// Hand the same handle to axe-auth: it implements [`AllowedTenants`] (the
/// tenants of every customer) and [`TenantForHost`] (`{customer}.{base}` → that
/// customer's tenant, for per-customer RFC 9728 metadata).
///
/// ```no_run
/// use std::time::Duration;
/// use axe_tenant::{CustomerRegistry, TenantLayer};
/// # async fn run() -> Result<(), axe_tenant::ConfigError> {
/// let registry = CustomerRegistry::load("/etc/axe/customers.yaml")?;
/// let _watch = registry.watch(Duration::from_secs(5)); // poll the file
/// let tenant_layer = TenantLayer::new(registry.clone());
/// // axe_auth::EntraConfig::builder()...allowed_tenants(registry.clone())
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct CustomerRegistry {
    inner: Arc<Inner>,
}

struct Inner {
    current: ArcSwap<Customers>,
    source: Option<PathBuf>,
    name: Arc<str>,
    /// Held while a new configuration is parsed and swapped in, so
    /// generations are assigned in order. Readers never take it.
    reload: Mutex<ReloadState>,
}

struct ReloadState {
    /// The bytes of the active file, to skip a reload that changes nothing.
    last_bytes: Option<Vec<u8>>,
}

/// What [`CustomerRegistry::reload`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reload {
    /// The file has the same bytes as the active configuration: nothing
    /// changed.
    Unchanged {
        /// The active generation.
        generation: u64,
    },
    /// A new configuration is active.
    Swapped {
        /// Its generation.
        generation: u64,
    },
}

impl Reload {
    /// The generation active after the reload.
    pub fn generation(&self) -> u64 {
        match self {
            Reload::Unchanged { generation } | Reload::Swapped { generation } => *generation,
        }
    }
}

impl CustomerRegistry {
    /// Loads and validates `customers.yaml` and activates it as generation 1.
    /// [`reload`](Self::reload) and [`watch`](Self::watch) re-read this file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        let path = path.as_ref();
        let name: Arc<str> = Arc::from(path.display().to_string());
        let bytes = std::fs::read(path).map_err(|e| config::io_error(&name, e))?;
        let customers = config::parse_bytes(&bytes, &name).map_err(config::first)?;
        Ok(Self::build(
            customers,
            Some(path.to_owned()),
            name,
            Some(bytes),
        ))
    }

    /// A registry over a configuration built in memory, as generation 1. It
    /// has no file: [`reload`](Self::reload) fails with
    /// [`ConfigErrorKind::NoSource`](crate::ConfigErrorKind::NoSource); use
    /// [`replace`](Self::replace).
    pub fn new(customers: Customers) -> Self {
        Self::build(customers, None, Arc::from("<memory>"), None)
    }

    fn build(
        mut customers: Customers,
        source: Option<PathBuf>,
        name: Arc<str>,
        bytes: Option<Vec<u8>>,
    ) -> Self {
        customers.generation = 1;
        CustomerRegistry {
            inner: Arc::new(Inner {
                current: ArcSwap::from_pointee(customers),
                source,
                name,
                reload: Mutex::new(ReloadState { last_bytes: bytes }),
            }),
        }
    }

    /// The active configuration. Hold it for as long as one decision needs a
    /// consistent view; it is not updated by later reloads.
    pub fn snapshot(&self) -> Arc<Customers> {
        self.inner.current.load_full()
    }

    /// The active generation.
    pub fn generation(&self) -> u64 {
        self.inner.current.load().generation
    }

    /// The file this registry reloads from, if any.
    pub fn source(&self) -> Option<&Path> {
        self.inner.source.as_deref()
    }

    /// [`Customers::resolve`] on the active configuration.
    pub fn resolve(&self, principal: &Principal) -> Resolution {
        self.inner.current.load().resolve(principal)
    }

    /// [`Customers::route`] on the active configuration.
    pub fn route(&self, host: &str, path: &str) -> Result<Route, RouteError> {
        self.inner.current.load().route(host, path)
    }

    pub(crate) fn load_guard(&self) -> arc_swap::Guard<Arc<Customers>> {
        self.inner.current.load()
    }

    /// Re-reads the file, validates it fully, and swaps it in. On any error
    /// the active configuration stays, the error is logged at `warn` and
    /// returned. A file with unchanged bytes is not parsed again.
    pub fn reload(&self) -> Result<Reload, ConfigError> {
        let Some(path) = &self.inner.source else {
            return Err(config::no_source());
        };
        let name = &self.inner.name;
        let mut state = self.lock();
        let outcome = std::fs::read(path)
            .map_err(|e| vec![config::io_error(name, e)])
            .and_then(|bytes| {
                if state.last_bytes.as_deref() == Some(bytes.as_slice()) {
                    return Ok(None);
                }
                config::parse_bytes(&bytes, name).map(|c| Some((c, bytes)))
            });
        match outcome {
            Ok(None) => Ok(Reload::Unchanged {
                generation: self.generation(),
            }),
            Ok(Some((customers, bytes))) => {
                state.last_bytes = Some(bytes);
                let generation = self.activate(customers);
                tracing::info!(file = %name, generation, "customers.yaml: new configuration active");
                Ok(Reload::Swapped { generation })
            }
            Err(errors) => {
                let active = self.generation();
                for e in &errors {
                    tracing::warn!(
                        file = %name,
                        active_generation = active,
                        error = %e,
                        "customers.yaml refused; keeping the last good configuration",
                    );
                }
                Err(config::first(errors))
            }
        }
    }

    /// Activates a configuration built in memory (already validated, since a
    /// [`Customers`] only comes from validation). Returns its generation.
    pub fn replace(&self, customers: Customers) -> u64 {
        let mut state = self.lock();
        state.last_bytes = None;
        self.activate(customers)
    }

    /// Validates YAML text and activates it, or keeps the active
    /// configuration and returns the error.
    pub fn replace_yaml(&self, src: &str) -> Result<u64, ConfigError> {
        let customers = Customers::from_yaml(src, &self.inner.name)?;
        Ok(self.replace(customers))
    }

    /// Stamps and stores; the caller holds the reload lock.
    fn activate(&self, mut customers: Customers) -> u64 {
        let generation = self.inner.current.load().generation + 1;
        customers.generation = generation;
        self.inner.current.store(Arc::new(customers));
        generation
    }

    fn lock(&self) -> MutexGuard<'_, ReloadState> {
        // A panic while holding the lock left no partial state: the swap is
        // one store.
        self.inner
            .reload
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl std::fmt::Debug for CustomerRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let current = self.inner.current.load();
        f.debug_struct("CustomerRegistry")
            .field("source", &self.inner.source)
            .field("generation", &current.generation)
            .field("customers", &current.len())
            .finish()
    }
}

impl AllowedTenants for CustomerRegistry {
    fn is_allowed(&self, tenant: &TenantId) -> bool {
        self.inner
            .current
            .load()
            .customer_for_tenant(tenant)
            .is_some()
    }
}

impl TenantForHost for CustomerRegistry {
    fn tenant_for_host(&self, host: &str) -> Option<TenantId> {
        self.inner
            .current
            .load()
            .customer_for_host(host)
            .map(|c| c.tenant())
    }
}
