//! [`TenantLayer`]: the tower middleware that maps each authenticated request
//! to a [`Tenancy`](crate::Tenancy), or refuses it.
//!
//! Put it *inside* axe-auth's `EntraAuthLayer` (which puts the `Principal`
//! into the request extensions) and *outside* the routes it protects, on the
//! full path (in axum, layer the outer `Router`, not a nested one, whose paths
//! have the prefix stripped; or fix the service with
//! [`TenantLayer::service`]). For each request it:
//!
//! 1. reads the `Principal`; none is a wiring bug: **500**, logged at `error`
//!    (not 401: a client cannot fix it by signing in again);
//! 2. resolves it ([`Customers::resolve`](crate::Customers::resolve)) on one
//!    snapshot of the configuration; `Unknown`/`Conflict` → **403**;
//! 3. routes the host (URI authority, else `Host`) and path
//!    `/{service}/…`; a host that is not `{customer}.{base_domain}` → **403**
//!    `unknown_host`; a host of another customer than the token's → **403**
//!    `host_mismatch`; a service the customer does not offer → **404**;
//! 4. inserts the [`Tenancy`](crate::Tenancy) and calls the inner service.
//!
//! Refusals answer JSON `{"error": "<code>", "error_description": "…"}` that
//! say which check failed and never name another customer; the
//! [`TenantRejection`] is also put into the response extensions, so an outer
//! layer can log it or replace the response.
//!
//! ```
//! use axe_tenant::{CustomerRegistry, Customers, TenantLayer};
//! use tower::ServiceBuilder;
//! # let yaml = "base_domain: axelabs.ai\ncustomers: []\n";
//! let registry = CustomerRegistry::new(Customers::from_yaml(yaml, "customers.yaml")?);
//! let svc = ServiceBuilder::new()
//!     // .layer(axe_auth::EntraAuthLayer::new(...))
//!     .layer(TenantLayer::new(registry))
//!     .service_fn(|req: http::Request<String>| async move {
//!         let tenancy = req.extensions().get::<axe_tenant::Tenancy>().cloned();
//!         Ok::<_, std::convert::Infallible>(http::Response::new(format!("{tenancy:?}")))
//!     });
//! # let _ = svc;
//! # Ok::<(), axe_tenant::ConfigError>(())
//! ```

mod body;
mod future;
#[allow(clippy::module_inception)]
mod layer;
mod rejection;
mod service;

pub use body::TenantBody;
pub use future::ResponseFuture;
pub use layer::TenantLayer;
pub use rejection::TenantRejection;
pub use service::TenantService;
