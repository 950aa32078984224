#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]
//!
//! # Modules
//! - [`challenge`]: how failures are answered (401/403/503, `WWW-Authenticate`).
//! - [`jwks`]: the signing-key cache.
//! - [`metadata`]: RFC 9728 documents and the protected resource.
//! - [`manual`]: the security decisions and why.

pub mod challenge;
mod clock;
mod config;
mod error;
#[cfg(feature = "axum")]
mod extract;
mod ids;
pub mod jwks;
mod layer;
pub mod manual;
pub mod metadata;
mod principal;
mod tenants;
#[cfg(feature = "test-util")]
pub mod test_util;
mod validator;

pub use challenge::Rejection;
pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{
    DEFAULT_AUTHORITY, DEFAULT_MAX_TOKEN_BYTES, DEFAULT_V1_ISSUER_BASE, EntraConfig,
    EntraConfigBuilder, JwksSettings, RequiredPermissions,
};
pub use error::{ConfigError, Error, KeyFetchError};
#[cfg(feature = "axum")]
pub use extract::MissingPrincipal;
pub use ids::{InvalidTenantId, PERSONAL_ACCOUNTS_TENANT, TenantId, TokenVersion};
pub use jwks::JwksCache;
pub use layer::{
    AuthBody, EntraAuth, EntraAuthLayer, RequireScope, RequireScopeFuture, RequireScopeLayer,
    ResponseFuture,
};
pub use metadata::{MetadataService, ProtectedResource, ProtectedResourceBuilder};
pub use principal::Principal;
#[cfg(feature = "test-util")]
pub use principal::PrincipalBuilder;
pub use tenants::{AllowedTenants, TenantForHost};
pub use validator::Validator;
