#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
//!
//! # Modules
//!
//! | module | what it holds |
//! |---|---|
//! | [`endpoint`] | [`McpEndpoint`] and its builder: the router, limits, shutdown |
//! | [`tool`] | [`Tool`], [`ToolSpec`], [`Annotations`], [`ToolError`] |
//! | [`context`] | [`ToolCtx`] (principal, tenancy, entity transaction, audit, PII, progress, cancellation) |
//! | [`binding`] | [`SessionOwner`], [`BindingStore`], [`MemoryBindings`]: sessions bound to their creator |
//! | [`pg`] | [`PgSessionStore`]: sessions and bindings shared through PostgreSQL |
//! | [`error`] | [`BuildError`], [`StoreError`] |
//! | `guard` (private) | the HTTP gate: 404 for foreign sessions, 403 for a missing tool scope, 413, 429 |
//! | `handler` (private) | the rmcp handler: `tools/list` per caller, `tools/call` in the entity transaction |

pub mod binding;
pub mod context;
#[cfg(feature = "test-util")]
pub mod dev;
pub mod endpoint;
pub mod error;
mod guard;
mod handler;
pub mod pg;
pub mod refusals;
mod registry;
pub mod tool;

pub use binding::{BindingStore, MemoryBindings, SessionOwner};
pub use context::{Progress, ToolCtx};
#[cfg(feature = "test-util")]
pub use dev::DevFront;
pub use endpoint::{McpEndpoint, McpEndpointBuilder};
pub use error::{BuildError, StoreError};
pub use pg::PgSessionStore;
pub use refusals::{refusal_layer, refusal_reason};
pub use tool::{Annotations, Tool, ToolError, ToolSpec};

/// Re-exported so tools can name the cancellation token type without a direct dependency.
pub use tokio_util::sync::CancellationToken;
