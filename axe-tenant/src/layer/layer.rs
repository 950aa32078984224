use tower_layer::Layer;

use super::TenantService;
use crate::{CustomerRegistry, ServiceId};

/// Builds [`TenantService`]s: see the [module documentation](crate::layer).
#[derive(Debug, Clone)]
pub struct TenantLayer {
    pub(crate) registry: CustomerRegistry,
    pub(crate) service: Option<ServiceId>,
}

impl TenantLayer {
    /// A layer over the live `registry`, taking the service from the first
    /// path segment.
    pub fn new(registry: CustomerRegistry) -> Self {
        TenantLayer {
            registry,
            service: None,
        }
    }

    /// Fixes the service instead of reading it from the path: for a layer
    /// that sees paths with the service prefix already stripped (a nested
    /// axum router). The customer must still offer it.
    pub fn service(mut self, service: ServiceId) -> Self {
        self.service = Some(service);
        self
    }
}

impl<S> Layer<S> for TenantLayer {
    type Service = TenantService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        TenantService {
            inner,
            registry: self.registry.clone(),
            service: self.service.clone(),
        }
    }
}
