//! `audit_tail` and `audit_verify`: the entity's audit log, for the app role `Frame.Admin`
//! (or the delegated scope of the same name) only. A caller without either gets HTTP 403
//! `insufficient_scope` with the scope hint from axe-mcp before anything runs.

use axe_audit::verify::LinkFault;
use axe_mcp::{Tool, ToolCtx, ToolError, ToolSpec};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::ADMIN_ROLE;

/// Most events `audit_tail` returns.
const MAX_TAIL: u32 = 200;

/// The last events of the caller's entity's audit log.
pub(crate) struct AuditTail {
    admin_scope: String,
}

impl AuditTail {
    pub(crate) fn new(admin_scope: &str) -> Self {
        Self {
            admin_scope: admin_scope.to_owned(),
        }
    }
}

/// How many events.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TailInput {
    /// Number of events, 1–200 (default 20).
    #[serde(default)]
    n: Option<u32>,
}

/// One audit event, without personal data (the log never holds any in clear).
#[derive(Serialize, JsonSchema)]
pub(crate) struct EventView {
    /// Position in the entity's chain (1, 2, 3, … without gaps).
    seq: i64,
    /// When it happened (microseconds since the Unix epoch).
    occurred_at_us: i64,
    /// The actor's tenant and object id.
    actor_tid: Option<String>,
    /// The actor's object id.
    actor_oid: Option<String>,
    /// What was done (`tools/call records_put`, …).
    action: String,
    /// What it was done to (`record:invoice-1`).
    target: Option<String>,
    /// `ok`, `denied` or `error`, with the error code.
    outcome: String,
    /// The request id (the `x-request-id` of the HTTP request).
    request_id: Option<String>,
    /// The row's hash (hex).
    hash: String,
}

/// The events, oldest first.
#[derive(Serialize, JsonSchema)]
pub(crate) struct TailOutput {
    /// The entity whose log this is.
    entity: String,
    /// The events.
    events: Vec<EventView>,
}

impl Tool for AuditTail {
    type Input = TailInput;
    type Output = TailOutput;

    fn spec(&self) -> ToolSpec {
        ToolSpec::new(
            "audit_tail",
            "Shows the last events of your entity's audit log (Frame.Admin only).",
        )
        .title("Audit log tail")
        .read_only()
        .idempotent()
        .requires_role(ADMIN_ROLE)
        .requires_scope(self.admin_scope.clone())
    }

    async fn call(&self, ctx: &mut ToolCtx, input: TailInput) -> Result<TailOutput, ToolError> {
        let n = input.n.unwrap_or(20);
        if !(1..=MAX_TAIL).contains(&n) {
            return Err(ToolError::invalid_input(format!(
                "n must be between 1 and {MAX_TAIL}"
            )));
        }
        let entity = ctx.entity().clone();
        let events = ctx.audit.tail(&entity, i64::from(n)).await?;
        Ok(TailOutput {
            entity: entity.to_string(),
            events: events
                .into_iter()
                .map(|e| EventView {
                    seq: e.seq,
                    occurred_at_us: e.occurred_at.as_micros(),
                    actor_tid: e.actor.tid,
                    actor_oid: e.actor.oid,
                    action: e.action,
                    target: e.target.map(|t| format!("{}:{}", t.kind, t.id)),
                    outcome: match e.outcome.code() {
                        Some(code) => format!("{}:{code}", e.outcome.as_str()),
                        None => e.outcome.as_str().to_owned(),
                    },
                    request_id: e.request_id,
                    hash: hex::encode(e.hash),
                })
                .collect(),
        })
    }
}

/// Walks the caller's entity's audit chain.
pub(crate) struct AuditVerify {
    admin_scope: String,
}

impl AuditVerify {
    pub(crate) fn new(admin_scope: &str) -> Self {
        Self {
            admin_scope: admin_scope.to_owned(),
        }
    }
}

/// No arguments.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct VerifyInput {}

/// The first broken link.
#[derive(Serialize, JsonSchema)]
pub(crate) struct Broken {
    /// Where the chain breaks.
    seq: i64,
    /// How: `missing_seq`, `prev_hash_mismatch` or `hash_mismatch`.
    fault: String,
}

/// The verdict.
#[derive(Serialize, JsonSchema)]
pub(crate) struct VerifyOutput {
    /// The entity whose log was walked.
    entity: String,
    /// True when every link holds.
    intact: bool,
    /// Rows checked.
    rows: u64,
    /// The hash of the last good row (hex); keep it elsewhere to detect truncation later.
    head: String,
    /// The first broken link, if any.
    broken: Option<Broken>,
}

impl Tool for AuditVerify {
    type Input = VerifyInput;
    type Output = VerifyOutput;

    fn spec(&self) -> ToolSpec {
        ToolSpec::new(
            "audit_verify",
            "Checks your entity's audit log hash chain from the first row and names the first \
             broken link (Frame.Admin only).",
        )
        .title("Verify the audit log")
        .read_only()
        .idempotent()
        .requires_role(ADMIN_ROLE)
        .requires_scope(self.admin_scope.clone())
    }

    async fn call(
        &self,
        ctx: &mut ToolCtx,
        _input: VerifyInput,
    ) -> Result<VerifyOutput, ToolError> {
        let entity = ctx.entity().clone();
        let verified = ctx.audit.verify(&entity).await?;
        Ok(VerifyOutput {
            entity: entity.to_string(),
            intact: verified.is_intact(),
            rows: verified.rows,
            head: hex::encode(verified.head),
            broken: verified.broken.map(|b| Broken {
                seq: b.seq,
                fault: match b.fault {
                    LinkFault::MissingSeq { .. } => "missing_seq",
                    LinkFault::PrevHashMismatch => "prev_hash_mismatch",
                    LinkFault::HashMismatch => "hash_mismatch",
                    _ => "other",
                }
                .to_owned(),
            }),
        })
    }
}
