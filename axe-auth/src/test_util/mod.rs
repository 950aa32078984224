//! Test support (feature `test-util`): [`TestIssuer`], an Entra-shaped
//! token issuer on a loopback port.
//!
//! It generates RSA keys, serves the OpenID configuration and both JWKS
//! endpoints with Entra's per-key `issuer` member, mints v1 and v2 tokens for
//! any tenant, user, scopes and roles, rotates keys, misbehaves on request
//! (slow, huge, invalid, down), and mints the hostile variants a validator
//! must refuse ([`Signing`]).
//!
//! ```
//! use axe_auth::test_util::TestIssuer;
//! use axe_auth::{EntraAuthLayer, Validator};
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let issuer = TestIssuer::start().await?;
//! let tid = issuer.default_tenant();
//! let validator = Validator::new(issuer.config_builder().build()?);
//! let token = issuer.token().scopes(["mcp.access"]).mint();
//! let principal = validator.validate(&token).await?;
//! assert_eq!(principal.tenant_id(), tid);
//! # Ok(()) }
//! ```
//!
//! Never use it in production: anyone holding the issuer can mint tokens.

mod issuer;
mod token;

pub use issuer::{JwksBehavior, TestIssuer, TestIssuerBuilder};
pub use token::{Signing, TokenBuilder};
