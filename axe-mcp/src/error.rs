//! Errors of building an endpoint ([`BuildError`]) and of the session stores ([`StoreError`]).

/// Why an endpoint could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// A tool name breaks MCP's rule (1–128 of `A-Z a-z 0-9 _ - .`).
    #[error("tool name {0:?} is not 1-128 characters of A-Z a-z 0-9 _ - .")]
    ToolName(String),
    /// Two tools share a name.
    #[error("tool {0:?} is registered twice")]
    DuplicateTool(String),
    /// A tool's input or output type does not describe a JSON object.
    #[error(
        "the {which} schema of tool {tool:?} is not an object schema (MCP requires type: object)"
    )]
    Schema {
        /// The tool.
        tool: String,
        /// `input` or `output`.
        which: &'static str,
    },
    /// The mount path is not an absolute path without query or fragment.
    #[error("the endpoint path {0:?} must start with / and contain no ?, # or whitespace")]
    Path(String),
    /// Neither `entra(...)` nor a test front was given: the endpoint would serve anyone.
    #[error("the endpoint has no front layers: call McpEndpointBuilder::entra")]
    NoFront,
    /// A limit is zero.
    #[error("the limit {0} must be at least 1")]
    Limit(&'static str),
    /// An allowed origin is not `scheme://host[:port]`.
    #[error("allowed origin {0:?} is not scheme://host[:port]")]
    Origin(String),
}

/// A failure of a session or binding store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database refused or failed.
    #[error("session store database error")]
    Database(#[from] sqlx::Error),
    /// A stored row could not be read back.
    #[error("session store row is malformed: {0}")]
    Malformed(&'static str),
}
