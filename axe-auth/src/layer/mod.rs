//! The tower middleware: [`EntraAuthLayer`] validates the bearer token of
//! every request and puts the [`Principal`](crate::Principal) into its
//! extensions; [`RequireScopeLayer`] adds a per-route scope or role
//! requirement answered with 403 `insufficient_scope`.
//!
//! ```
//! use axe_auth::{EntraAuthLayer, EntraConfig, ProtectedResource, Validator};
//! use tower::ServiceBuilder;
//! # fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let tid = "122fb574-0000-4000-8000-00000000a11c".parse()?;
//! let validator = Validator::new(
//!     EntraConfig::builder().tenant(tid).audience("api://frame.axelabs.ai").build()?,
//! );
//! let resource = ProtectedResource::single("https://axe.axelabs.ai/frame/mcp", tid)
//!     .scope("api://frame.axelabs.ai/mcp.access")
//!     .build()?;
//! let stack = ServiceBuilder::new()
//!     .layer(EntraAuthLayer::new(validator, resource))
//!     .service_fn(|req: http::Request<String>| async move {
//!         let who = req.extensions().get::<axe_auth::Principal>().map(|p| p.object_id().to_owned());
//!         Ok::<_, std::convert::Infallible>(http::Response::new(format!("{who:?}")))
//!     });
//! # let _ = stack; Ok(()) }
//! ```

mod body;
mod future;
#[allow(clippy::module_inception)]
mod layer;
mod require_scope;
mod service;

pub use body::AuthBody;
pub use future::ResponseFuture;
pub use layer::EntraAuthLayer;
pub use require_scope::{RequireScope, RequireScopeFuture, RequireScopeLayer};
pub use service::EntraAuth;
