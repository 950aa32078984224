//! What a tool receives: [`ToolCtx`] (the signed-in principal, the tenancy, the entity
//! transaction, the audit log, the PII envelope, progress and cancellation).

use axe_audit::{AuditLog, Envelope, Target};
use axe_auth::Principal;
use axe_isolation::{EntityId, EntityTx};
use axe_tenant::Tenancy;
use rmcp::model::{ProgressNotificationParam, ProgressToken};
use rmcp::{Peer, RoleServer};
use tokio_util::sync::CancellationToken;

use crate::tool::ToolError;

/// The context of one tool call.
///
/// Everything the tool touches in the database goes through [`ToolCtx::tx`]: a transaction
/// scoped to the caller's entity (its role and schema), which the endpoint commits together
/// with the audit row when the tool returns `Ok`, and rolls back otherwise.
#[non_exhaustive]
pub struct ToolCtx {
    /// The signed-in user (or application), from this request's own token.
    pub principal: Principal,
    /// The customer and entity the request was resolved to.
    pub tenancy: Tenancy,
    /// The transaction in the entity's scope. Use it as a sqlx executor: `&mut *ctx.tx`.
    pub tx: EntityTx,
    /// The audit logs (for tools that read the log; the call itself is recorded for you).
    pub audit: AuditLog,
    /// Reports progress to the client, when it asked for it.
    pub progress: Progress,
    /// Cancelled when the client cancels the request or the server shuts down.
    pub cancellation: CancellationToken,
    pii: Option<Envelope>,
    target: Option<Target>,
    session_id: Option<String>,
}

impl ToolCtx {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        principal: Principal,
        tenancy: Tenancy,
        tx: EntityTx,
        audit: AuditLog,
        pii: Option<Envelope>,
        progress: Progress,
        cancellation: CancellationToken,
        session_id: Option<String>,
    ) -> Self {
        Self {
            principal,
            tenancy,
            tx,
            audit,
            progress,
            cancellation,
            pii,
            target: None,
            session_id,
        }
    }

    /// The entity the transaction is scoped to.
    pub fn entity(&self) -> &EntityId {
        self.tx.entity()
    }

    /// The PII envelope, to seal and open fields of this entity.
    ///
    /// # Errors
    ///
    /// [`ToolError::Internal`] when the endpoint was built without one.
    pub fn pii(&self) -> Result<&Envelope, ToolError> {
        self.pii.as_ref().ok_or_else(|| {
            ToolError::internal(std::io::Error::other(
                "this endpoint has no PII envelope configured",
            ))
        })
    }

    /// Names what the call acted on, for its audit event (`records`/`id`, …).
    pub fn set_target(&mut self, target: Target) {
        self.target = Some(target);
    }

    /// The MCP session the call belongs to, if the client uses sessions.
    pub fn session_id(&self) -> Option<&str> {
        self.session_id.as_deref()
    }

    pub(crate) fn into_parts(self) -> (EntityTx, Option<Target>) {
        (self.tx, self.target)
    }
}

/// Sends `notifications/progress` for the current call, if the client sent a progress token.
#[derive(Clone)]
pub struct Progress {
    peer: Option<(Peer<RoleServer>, ProgressToken)>,
}

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Progress")
            .field("requested", &self.peer.is_some())
            .finish()
    }
}

impl Progress {
    pub(crate) fn new(peer: Peer<RoleServer>, token: Option<ProgressToken>) -> Self {
        Self {
            peer: token.map(|t| (peer, t)),
        }
    }

    /// A reporter that sends nothing (the client did not ask).
    pub fn none() -> Self {
        Self { peer: None }
    }

    /// True when the client asked for progress.
    pub fn requested(&self) -> bool {
        self.peer.is_some()
    }

    /// Reports `progress` (increasing) out of `total`, if known. A failure to send (the
    /// client went away) is ignored: progress is advisory.
    pub async fn report(&self, progress: f64, total: Option<f64>, message: Option<&str>) {
        let Some((peer, token)) = &self.peer else {
            return;
        };
        let mut param = ProgressNotificationParam::new(token.clone(), progress);
        param.total = total;
        param.message = message.map(str::to_owned);
        if peer.notify_progress(param).await.is_err() {
            tracing::debug!("progress notification not delivered");
        }
    }
}
