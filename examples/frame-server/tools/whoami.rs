//! `whoami`: who the server thinks the caller is, and where their data lives.

use std::time::UNIX_EPOCH;

use axe_mcp::{Tool, ToolCtx, ToolError, ToolSpec};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Returns the caller's identity and tenancy.
pub(crate) struct WhoAmI;

/// No arguments.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct WhoAmIInput {}

/// The caller as the server sees it.
#[derive(Serialize, JsonSchema)]
pub(crate) struct WhoAmIOutput {
    /// The Entra tenant (directory) that signed the token.
    tenant_id: String,
    /// The user's object id in that tenant: the identity the server keys on.
    object_id: String,
    /// A display email (upn/email/preferred_username); display only, never a key.
    display_email: Option<String>,
    /// The customer the token resolved to.
    customer: String,
    /// The entity (database schema) the caller's tools run in.
    entity: String,
    /// Which signals decided the customer and entity (`tenant+email_domain/default`, …).
    resolved_via: String,
    /// The delegated scopes of the token (`scp`).
    scopes: Vec<String>,
    /// The app roles of the token (`roles`).
    roles: Vec<String>,
    /// When the token expires (seconds since the Unix epoch).
    token_expires_at: i64,
}

impl Tool for WhoAmI {
    type Input = WhoAmIInput;
    type Output = WhoAmIOutput;

    fn spec(&self) -> ToolSpec {
        ToolSpec::new(
            "whoami",
            "Shows who you are signed in as (tenant, object id, roles) and which customer and \
             entity your data lives in.",
        )
        .title("Who am I")
        .read_only()
        .idempotent()
    }

    async fn call(
        &self,
        ctx: &mut ToolCtx,
        _input: WhoAmIInput,
    ) -> Result<WhoAmIOutput, ToolError> {
        let p = &ctx.principal;
        Ok(WhoAmIOutput {
            tenant_id: p.tenant_id().to_string(),
            object_id: p.object_id().to_owned(),
            display_email: p.display_email().map(str::to_owned),
            customer: ctx.tenancy.customer.to_string(),
            entity: ctx.entity().to_string(),
            resolved_via: ctx.tenancy.via.to_string(),
            scopes: p.scopes().to_vec(),
            roles: p.roles().to_vec(),
            token_expires_at: p
                .expires_at()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX)),
        })
    }
}
