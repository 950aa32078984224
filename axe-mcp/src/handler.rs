//! The rmcp `ServerHandler` behind an endpoint: lists the tools the caller may call and runs
//! a call in the caller's entity transaction with its audit record.

use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use axe_audit::{Actor, AuditLog, Envelope, NewEvent, Outcome, Source, Target};
use axe_auth::Principal;
use axe_tenant::Tenancy;
use axum::extract::ConnectInfo;
use futures::FutureExt;
use http::request::Parts;
use rmcp::model::{
    CacheScope, CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock,
    Implementation, ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler};
use serde_json::Value;

use crate::context::{Progress, ToolCtx};
use crate::registry::{Entry, Registry};
use crate::tool::ToolError;

/// The longest user agent kept in an audit event.
const USER_AGENT_MAX: usize = 256;

/// What every handler instance shares.
pub(crate) struct Shared {
    pub(crate) registry: Registry,
    pub(crate) audit: AuditLog,
    pub(crate) pii: Option<Envelope>,
    pub(crate) server: Implementation,
    pub(crate) instructions: Option<String>,
}

/// One rmcp handler (rmcp makes one per session; they are cheap clones of [`Shared`]).
#[derive(Clone)]
pub(crate) struct Handler {
    pub(crate) shared: Arc<Shared>,
}

/// The caller of a request, from the HTTP parts rmcp hands over.
struct Caller<'a> {
    parts: &'a Parts,
    principal: &'a Principal,
    tenancy: &'a Tenancy,
}

fn caller(context: &RequestContext<RoleServer>) -> Result<Caller<'_>, ErrorData> {
    // Both are put there by the auth and tenant layers in front of the endpoint; their
    // absence is a wiring bug, not a client error.
    let missing = || ErrorData::internal_error("the request carries no principal or tenancy", None);
    let parts = context.extensions.get::<Parts>().ok_or_else(missing)?;
    let principal = parts.extensions.get::<Principal>().ok_or_else(missing)?;
    let tenancy = parts.extensions.get::<Tenancy>().ok_or_else(missing)?;
    Ok(Caller {
        parts,
        principal,
        tenancy,
    })
}

impl ServerHandler for Handler {
    fn get_info(&self) -> ServerConfig {
        let mut config = ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(self.shared.server.clone());
        if let Some(i) = &self.shared.instructions {
            config = config.with_instructions(i.clone());
        }
        config
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let caller = caller(&context)?;
        let tools = self
            .shared
            .registry
            .visible_to(caller.principal)
            .map(Entry::descriptor)
            .collect();
        // The list depends on the caller's scopes and roles: never cache it for others.
        Ok(ListToolsResult::with_all_items(tools).with_cache_scope(CacheScope::Private))
    }

    /// rmcp looks the schema up here to check a 2026-07-28 `tools/call`'s `Mcp-Param-*`
    /// headers (SEP-2243) against its arguments before the call runs. Every registered tool
    /// is found: the schema is no secret, and the caller's rights are checked by the gate
    /// and by [`Self::call_tool`].
    fn get_tool(&self, name: &str) -> Option<rmcp::model::Tool> {
        self.shared.registry.get(name).map(Entry::descriptor)
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let caller = caller(&context)?;
        let Some(entry) = self.shared.registry.get(&request.name) else {
            return Err(ErrorData::invalid_params(
                format!("unknown tool: {}", request.name),
                None,
            ));
        };
        if !entry.spec.allows(caller.principal) {
            // The HTTP gate answers 403 before rmcp sees the call; this covers a call that
            // reached the handler another way (e.g. inside a batch).
            return Err(ErrorData::invalid_params(
                "the token lacks the scope or role this tool requires",
                None,
            ));
        }
        let progress_token = request
            .meta
            .as_ref()
            .and_then(|m| m.get_progress_token())
            .or_else(|| context.meta.get_progress_token());
        let progress = Progress::new(context.peer.clone(), progress_token);
        let args = Value::Object(request.arguments.unwrap_or_default());
        let call = Call {
            shared: &self.shared,
            entry,
            caller: &caller,
        };
        Ok(call.run(args, progress, context.ct.clone()).await.into())
    }
}

/// One `tools/call`, from the open transaction to the answer.
struct Call<'a> {
    shared: &'a Shared,
    entry: &'a Entry,
    caller: &'a Caller<'a>,
}

impl Call<'_> {
    async fn run(
        &self,
        args: Value,
        progress: Progress,
        cancellation: tokio_util::sync::CancellationToken,
    ) -> CallToolResult {
        let request_id = header(self.caller.parts, "x-request-id");
        let entity = match axe_isolation::EntityId::new(self.caller.tenancy.entity.as_str()) {
            Ok(e) => e,
            Err(_) => {
                return self.internal("entity id refused by axe-isolation", request_id.as_deref());
            }
        };
        let digest = match &self.shared.pii {
            Some(pii) => pii
                .args_digest(&entity, &args)
                .await
                .ok()
                .map(|d| d.to_string()),
            None => None,
        };
        let event = |outcome: Outcome, target: Option<Target>| {
            let mut e = self.event(outcome);
            if let Some(t) = target {
                e = e.target(t);
            }
            if let Some(d) = &digest {
                e = e.args_digest(d.clone());
            }
            e
        };

        let tx = match self.shared.audit.isolation().begin(&entity).await {
            Ok(tx) => tx,
            Err(error) => {
                tracing::error!(error = %error, "could not open the entity transaction");
                return self.internal(
                    "could not open the entity transaction",
                    request_id.as_deref(),
                );
            }
        };
        let mut ctx = ToolCtx::new(
            self.caller.principal.clone(),
            self.caller.tenancy.clone(),
            tx,
            self.shared.audit.clone(),
            self.shared.pii.clone(),
            progress,
            cancellation.clone(),
            header(self.caller.parts, "mcp-session-id"),
        );

        let outcome = {
            let run = AssertUnwindSafe(self.entry.call(&mut ctx, args)).catch_unwind();
            tokio::select! {
                r = run => match r {
                    Ok(r) => r,
                    Err(_) => Err(ToolError::failed("panic", "the tool failed")),
                },
                () = cancellation.cancelled() => Err(ToolError::failed("cancelled", "the call was cancelled")),
            }
        };
        let (mut tx, target) = ctx.into_parts();

        match outcome {
            Ok(value) => {
                let recorded = axe_audit::record(&mut tx, event(Outcome::Ok, target.clone())).await;
                let committed = match recorded {
                    Ok(_) => tx.commit().await.map_err(axe_audit::Error::from),
                    Err(e) => Err(e),
                };
                match committed {
                    Ok(()) => CallToolResult::structured(value),
                    Err(error) => {
                        tracing::error!(error = %error, "audit record or commit failed; call rolled back");
                        self.record_failure(
                            &entity,
                            event(
                                Outcome::Error {
                                    code: "commit".into(),
                                },
                                target,
                            ),
                        )
                        .await;
                        self.internal("the change could not be saved", request_id.as_deref())
                    }
                }
            }
            Err(error) => {
                drop(tx); // rolls back
                let outcome = match &error {
                    ToolError::InvalidInput(_) => Outcome::InvalidInput,
                    ToolError::Denied(_) => Outcome::Denied,
                    other => Outcome::Error {
                        code: other.code().to_owned(),
                    },
                };
                self.record_failure(&entity, event(outcome, target)).await;
                match error {
                    ToolError::Internal(source) => {
                        // The error's text may carry data; its type and chain depth do not.
                        tracing::error!(tool = %self.entry.spec.name, error_type = %short_type(&*source), "tool failed");
                        self.internal("the tool failed", request_id.as_deref())
                    }
                    ToolError::Failed { code: "panic", .. } => {
                        tracing::error!(tool = %self.entry.spec.name, "tool panicked; rolled back");
                        self.internal("the tool failed", request_id.as_deref())
                    }
                    shown => CallToolResult::error(vec![ContentBlock::text(shown.to_string())]),
                }
            }
        }
    }

    /// The audit event of this call, without outcome details.
    fn event(&self, outcome: Outcome) -> NewEvent {
        let p = self.caller.principal;
        let parts = self.caller.parts;
        let ip = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip().to_string());
        let user_agent = header(parts, "user-agent").map(|mut ua| {
            truncate(&mut ua, USER_AGENT_MAX);
            ua
        });
        let mut event = NewEvent::new(
            self.caller.tenancy.customer.as_str(),
            format!("mcp.tools/call:{}", self.entry.spec.name),
            outcome,
        )
        .actor(Actor {
            tid: Some(p.tenant_id().to_string()),
            oid: Some(p.object_id().to_owned()),
            client_id: Some(p.client_id().to_owned()),
            display_name: p.name().map(str::to_owned),
        })
        .source(Source { ip, user_agent })
        .via(self.caller.tenancy.via.to_string());
        if let Some(id) = header(parts, "x-request-id") {
            event = event.request_id(id);
        }
        if let Some(id) = header(parts, "mcp-session-id") {
            event = event.session_id(id);
        }
        event
    }

    /// Records a failed call in its own transaction; a failure to record is logged (the
    /// caller already gets an error).
    async fn record_failure(&self, entity: &axe_isolation::EntityId, event: NewEvent) {
        if let Err(error) = self.shared.audit.record_standalone(entity, event).await {
            tracing::error!(error = %error, "could not record the failed call in the audit log");
        }
    }

    /// The answer for failures whose details stay on the server.
    fn internal(&self, what: &str, request_id: Option<&str>) -> CallToolResult {
        let text = match request_id {
            Some(id) => format!("{what} (request {id})"),
            None => what.to_owned(),
        };
        CallToolResult::error(vec![ContentBlock::text(text)])
    }
}

/// A header's value, if it is visible ASCII and at most 256 bytes (ids and user agents; a
/// longer or binary value is dropped rather than stored).
fn header(parts: &Parts, name: &str) -> Option<String> {
    let v = parts.headers.get(name)?.to_str().ok()?;
    (v.len() <= 1024).then(|| v.to_owned())
}

fn truncate(s: &mut String, max: usize) {
    if s.len() > max {
        let mut cut = max;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
}

/// The last path segment of an error's type name (e.g. `Error`): safe to log.
fn short_type(error: &(dyn std::error::Error + Send + Sync)) -> String {
    // `type_name_of_val` of a trait object names the trait, so describe it by its Debug
    // variant name instead: the text before the first `(` or `{` or space.
    let debug = format!("{error:?}");
    debug
        .split(|c: char| c == '(' || c == '{' || c.is_whitespace())
        .next()
        .unwrap_or("error")
        .chars()
        .take(64)
        .collect()
}
