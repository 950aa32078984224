//! [`Tenancy`]: what the [`TenantLayer`](crate::TenantLayer) decided for a
//! request, in its extensions.

use crate::{CustomerId, EntityId, ServiceId, Via};

/// The customer, entity and service of a request, decided by the
/// [`TenantLayer`](crate::TenantLayer) from the validated token and the
/// request's host and path.
///
/// Read it with `req.extensions().get::<Tenancy>()` or, with the `axum`
/// feature, as an extractor. `via` and `generation` belong in the audit
/// record of whatever the request does.
///
/// ```
/// use axe_tenant::{CustomerSignal, EntitySignal, Tenancy, Via};
/// let t = Tenancy::new(
///     "axe".parse()?,
///     "axe".parse()?,
///     "frame".parse()?,
///     Via::new(CustomerSignal::TenantAndEmailDomain, EntitySignal::Default),
///     1,
/// );
/// assert_eq!(t.via.to_string(), "tenant+email_domain/default");
/// # Ok::<(), axe_tenant::InvalidId>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Tenancy {
    /// The customer (from the token, confirmed by the host).
    pub customer: CustomerId,
    /// The entity inside the customer: the schema the request may touch.
    pub entity: EntityId,
    /// The service (from the path, or fixed by the layer).
    pub service: ServiceId,
    /// Which signals decided.
    pub via: Via,
    /// The generation of the configuration that decided.
    pub generation: u64,
}

impl Tenancy {
    /// Builds a tenancy directly: for tests and for callers that decide
    /// tenancy without the layer.
    pub fn new(
        customer: CustomerId,
        entity: EntityId,
        service: ServiceId,
        via: Via,
        generation: u64,
    ) -> Self {
        Tenancy {
            customer,
            entity,
            service,
            via,
            generation,
        }
    }
}
