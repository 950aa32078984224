//! What a tool is: the [`Tool`] trait, its [`ToolSpec`] (name, description, annotations,
//! required scopes and roles) and the [`ToolError`] it may return.
//!
//! Input and output schemas are generated from the tool's `Input` and `Output` types with
//! `schemars` (JSON Schema 2020-12, as MCP requires), so they cannot drift from the code
//! that parses the arguments.

use std::borrow::Cow;
use std::future::Future;

use axe_auth::Principal;
use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::context::ToolCtx;

/// A tool the endpoint serves.
///
/// The endpoint parses the arguments into `Input` (a parse failure is answered as invalid
/// input without running the tool), opens the entity transaction, calls [`Tool::call`],
/// records the audit event in the same transaction and commits. When `call` returns an
/// error or panics, the transaction rolls back and the failure is recorded on its own.
///
/// ```
/// use axe_mcp::{Tool, ToolCtx, ToolError, ToolSpec};
/// use schemars::JsonSchema;
/// use serde::{Deserialize, Serialize};
///
/// struct Echo;
///
/// #[derive(Deserialize, JsonSchema)]
/// struct EchoInput {
///     /// The text to send back.
///     text: String,
/// }
///
/// #[derive(Serialize, JsonSchema)]
/// struct EchoOutput {
///     text: String,
/// }
///
/// impl Tool for Echo {
///     type Input = EchoInput;
///     type Output = EchoOutput;
///
///     fn spec(&self) -> ToolSpec {
///         ToolSpec::new("echo", "Returns its input.").read_only()
///     }
///
///     async fn call(&self, _ctx: &mut ToolCtx, input: EchoInput) -> Result<EchoOutput, ToolError> {
///         if input.text.len() > 1000 {
///             return Err(ToolError::invalid_input("text is longer than 1000 bytes"));
///         }
///         Ok(EchoOutput { text: input.text })
///     }
/// }
/// ```
pub trait Tool: Send + Sync + 'static {
    /// The arguments, parsed from the call's JSON `arguments` object.
    type Input: DeserializeOwned + JsonSchema + Send + 'static;
    /// The result, returned as `structuredContent` (and as its JSON text in `content`).
    type Output: Serialize + JsonSchema + Send + 'static;

    /// The tool's name, description, annotations and requirements.
    fn spec(&self) -> ToolSpec;

    /// Runs the tool inside the caller's entity transaction (`ctx.tx`).
    fn call<'a>(
        &'a self,
        ctx: &'a mut ToolCtx,
        input: Self::Input,
    ) -> impl Future<Output = Result<Self::Output, ToolError>> + Send + 'a;
}

/// Behaviour hints shown to clients (MCP `ToolAnnotations`). They are hints: clients must not
/// rely on them for security, and neither does the endpoint.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Annotations {
    /// The tool does not modify anything.
    pub read_only: bool,
    /// The tool may delete or overwrite data.
    pub destructive: bool,
    /// Calling it twice with the same arguments has the effect of calling it once.
    pub idempotent: bool,
    /// The tool reaches outside the server (other systems, the internet).
    pub open_world: bool,
}

/// A tool's name, description, annotations and the scopes or roles that may call it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolSpec {
    pub(crate) name: Cow<'static, str>,
    pub(crate) title: Option<String>,
    pub(crate) description: Cow<'static, str>,
    pub(crate) annotations: Annotations,
    pub(crate) scopes: Vec<String>,
    pub(crate) roles: Vec<String>,
}

impl ToolSpec {
    /// A tool named `name` (1–128 of `A-Z a-z 0-9 _ - .`, checked at registration) that
    /// anyone who reaches the endpoint may call.
    pub fn new(
        name: impl Into<Cow<'static, str>>,
        description: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self {
            name: name.into(),
            title: None,
            description: description.into(),
            annotations: Annotations::default(),
            scopes: Vec::new(),
            roles: Vec::new(),
        }
    }

    /// A human-readable title.
    #[must_use]
    pub fn title(mut self, title: impl Into<String>) -> Self {
        self.title = Some(title.into());
        self
    }

    /// Marks the tool read-only (and therefore not destructive).
    #[must_use]
    pub fn read_only(mut self) -> Self {
        self.annotations.read_only = true;
        self.annotations.destructive = false;
        self
    }

    /// Marks the tool destructive (it deletes or overwrites).
    #[must_use]
    pub fn destructive(mut self) -> Self {
        self.annotations.destructive = true;
        self.annotations.read_only = false;
        self
    }

    /// Marks the tool idempotent.
    #[must_use]
    pub fn idempotent(mut self) -> Self {
        self.annotations.idempotent = true;
        self
    }

    /// Marks the tool as reaching outside the server.
    #[must_use]
    pub fn open_world(mut self) -> Self {
        self.annotations.open_world = true;
        self
    }

    /// Accepts a token carrying this delegated scope. Give it fully qualified
    /// (`api://…/Frame.Write`), as it is advertised in the 403 hint; it is compared by its
    /// short name with the token's `scp`. Scopes and roles are alternatives: any one of them
    /// admits the caller.
    #[must_use]
    pub fn requires_scope(mut self, scope: impl Into<String>) -> Self {
        self.scopes.push(scope.into());
        self
    }

    /// Accepts a token carrying this app role (`roles` claim).
    #[must_use]
    pub fn requires_role(mut self, role: impl Into<String>) -> Self {
        self.roles.push(role.into());
        self
    }

    /// The tool's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The annotations.
    pub fn annotations(&self) -> Annotations {
        self.annotations
    }

    /// The scopes that admit a caller (fully qualified).
    pub fn scopes(&self) -> &[String] {
        &self.scopes
    }

    /// The app roles that admit a caller.
    pub fn roles(&self) -> &[String] {
        &self.roles
    }

    /// True when `principal` may call the tool: no requirement, or one of the scopes, or one
    /// of the roles.
    pub fn allows(&self, principal: &Principal) -> bool {
        principal.satisfies(&self.scopes, &self.roles)
    }
}

/// Checks a tool name against MCP's rule: 1–128 characters of `A-Z a-z 0-9 _ - .`.
pub(crate) fn valid_name(name: &str) -> bool {
    (1..=128).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// Why a tool call failed. The endpoint turns it into a `CallToolResult` with
/// `isError: true`, rolls the transaction back and records the failure.
///
/// Only [`ToolError::InvalidInput`], [`ToolError::NotFound`], [`ToolError::Denied`] and
/// [`ToolError::Failed`] messages reach the caller; an [`ToolError::Internal`] error is
/// logged by its type (never its text, which may carry data) and the caller sees a fixed
/// sentence with the request reference.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ToolError {
    /// The arguments are wrong; the message says how (shown to the caller).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// The thing asked for does not exist in the caller's entity (shown to the caller).
    #[error("not found: {0}")]
    NotFound(String),
    /// The caller may not do this (shown to the caller).
    #[error("denied: {0}")]
    Denied(String),
    /// A failure the caller should see, with a machine-readable code for the audit log.
    #[error("{message}")]
    Failed {
        /// Stored in the audit event's outcome (`error` + code).
        code: &'static str,
        /// Shown to the caller; must not contain internals.
        message: String,
    },
    /// Anything else (database, bugs). Not shown to the caller.
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl ToolError {
    /// [`ToolError::InvalidInput`].
    pub fn invalid_input(message: impl Into<String>) -> Self {
        Self::InvalidInput(message.into())
    }

    /// [`ToolError::NotFound`].
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::NotFound(message.into())
    }

    /// [`ToolError::Denied`].
    pub fn denied(message: impl Into<String>) -> Self {
        Self::Denied(message.into())
    }

    /// [`ToolError::Failed`].
    pub fn failed(code: &'static str, message: impl Into<String>) -> Self {
        Self::Failed {
            code,
            message: message.into(),
        }
    }

    /// [`ToolError::Internal`].
    pub fn internal(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Internal(Box::new(error))
    }

    /// The audit outcome code of this error.
    pub(crate) fn code(&self) -> &'static str {
        match self {
            Self::InvalidInput(_) => "invalid_input",
            Self::NotFound(_) => "not_found",
            Self::Denied(_) => "denied",
            Self::Failed { code, .. } => code,
            Self::Internal(_) => "internal",
        }
    }
}

impl From<axe_isolation::Error> for ToolError {
    fn from(error: axe_isolation::Error) -> Self {
        Self::internal(error)
    }
}

impl From<axe_audit::Error> for ToolError {
    fn from(error: axe_audit::Error) -> Self {
        Self::internal(error)
    }
}

impl From<sqlx::Error> for ToolError {
    fn from(error: sqlx::Error) -> Self {
        Self::internal(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_mcp_rule() {
        assert!(valid_name("records_put"));
        assert!(valid_name("a.b-c_D9"));
        assert!(!valid_name(""));
        assert!(!valid_name("has space"));
        assert!(!valid_name("slash/name"));
        assert!(!valid_name("ünicode"));
        assert!(!valid_name(&"x".repeat(129)));
        assert!(valid_name(&"x".repeat(128)));
    }

    #[test]
    fn read_only_and_destructive_exclude_each_other() {
        let s = ToolSpec::new("t", "d").destructive().read_only();
        assert!(s.annotations().read_only && !s.annotations().destructive);
        let s = ToolSpec::new("t", "d").read_only().destructive();
        assert!(!s.annotations().read_only && s.annotations().destructive);
    }
}
