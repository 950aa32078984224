//! The frame's tools. Each runs in the caller's entity transaction (`ctx.tx`), so no tool can
//! name another entity's tables: the schema is chosen by the token, never by the arguments.
//! axe-mcp records each call in the entity's audit log in the same transaction.

mod audit;
mod contacts;
mod records;
mod validate;
mod whoami;

pub(crate) use audit::{AuditTail, AuditVerify};
pub(crate) use contacts::{ContactsCreate, ContactsFindByEmail, ContactsGet};
pub(crate) use records::{RecordsDelete, RecordsGet, RecordsList, RecordsPut};
pub(crate) use whoami::WhoAmI;

pub(crate) use crate::config::ADMIN_ROLE;

/// Adds every frame tool to `builder`; `admin_scope` is the fully qualified admin scope
/// (`api://…/Frame.Admin`), advertised in the 403 hint.
pub(crate) fn register(
    builder: axe_mcp::McpEndpointBuilder,
    admin_scope: &str,
) -> axe_mcp::McpEndpointBuilder {
    builder
        .tool(WhoAmI)
        .tool(RecordsPut)
        .tool(RecordsGet)
        .tool(RecordsList)
        .tool(RecordsDelete)
        .tool(ContactsCreate)
        .tool(ContactsGet)
        .tool(ContactsFindByEmail)
        .tool(AuditTail::new(admin_scope))
        .tool(AuditVerify::new(admin_scope))
}
