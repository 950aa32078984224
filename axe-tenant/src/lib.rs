#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]

mod config;
mod domain;
#[cfg(feature = "axum")]
mod extract;
pub mod host;
mod ids;
pub mod layer;
mod registry;
mod reload;
pub mod resolve;
mod tenancy;

pub use config::{CheckReport, ConfigError, ConfigErrorKind, Customer, Customers, Entity, check};
pub use domain::{
    CONSUMER_MAIL_DOMAINS, DomainError, DomainName, EmailAddress, SHARED_DOMAINS, normalize_domain,
};
#[cfg(feature = "axum")]
pub use extract::MissingTenancy;
pub use host::{Route, RouteError, normalize_host};
pub use ids::{CustomerId, EntityId, IdKind, InvalidId, ServiceId};
pub use layer::{TenantLayer, TenantRejection};
pub use registry::{CustomerRegistry, Reload};
pub use reload::WatchHandle;
pub use resolve::{ConflictReason, CustomerSignal, EntitySignal, Resolution, UnknownReason, Via};
pub use tenancy::Tenancy;
