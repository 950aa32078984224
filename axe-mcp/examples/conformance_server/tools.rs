//! The suite's tools: names, texts and data as its scenario sources require them.

use std::time::Duration;

#[allow(deprecated)] // logging and sampling are deprecated by SEP-2577 but still tested
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock,
    CreateMessageRequestParams, ElicitRequestParams, ElicitResult, ElicitationAction,
    ElicitationSchema, JsonObject, LoggingLevel, LoggingMessageNotificationParam,
    ProgressNotificationParam, ResourceContents, SamplingMessage, Tool,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer};
use serde_json::{Value, json};

use crate::handler::Conformance;
use crate::media::{PNG, WAV};

/// The pause between the notifications of the logging and progress tools (the suite asks
/// for about 50 ms, so that a client sees them arrive one by one).
const STEP: Duration = Duration::from_millis(50);

/// A JSON object literal as rmcp's object type (a non-object gives an empty object).
pub(crate) fn object(value: Value) -> JsonObject {
    match value {
        Value::Object(map) => map,
        _ => JsonObject::new(),
    }
}

fn no_arguments() -> JsonObject {
    object(json!({"type": "object", "properties": {}}))
}

fn string_argument(name: &str, description: &str) -> JsonObject {
    object(json!({
        "type": "object",
        "properties": {name: {"type": "string", "description": description}},
        "required": [name],
    }))
}

/// Every tool the suites call or list.
pub(crate) fn list() -> Vec<Tool> {
    let mut tools = base();
    tools.extend(crate::mrtr::list());
    tools
}

/// The tools of the 2025-11-25 suite.
fn base() -> Vec<Tool> {
    vec![
        Tool::new(
            "test_simple_text",
            "Returns a simple text response",
            no_arguments(),
        ),
        Tool::new("test_image_content", "Returns a PNG image", no_arguments()),
        Tool::new(
            "test_audio_content",
            "Returns a WAV audio clip",
            no_arguments(),
        ),
        Tool::new(
            "test_embedded_resource",
            "Returns an embedded text resource",
            no_arguments(),
        ),
        Tool::new(
            "test_multiple_content_types",
            "Returns text, an image and an embedded resource",
            no_arguments(),
        ),
        Tool::new(
            "test_tool_with_logging",
            "Sends three info log messages while it runs",
            no_arguments(),
        ),
        Tool::new(
            "test_logging_tool",
            "Logs once, only when the request asks for a log level (2026-07-28)",
            no_arguments(),
        ),
        Tool::new(
            "test_error_handling",
            "Always fails with a tool error",
            no_arguments(),
        ),
        Tool::new(
            "test_tool_with_progress",
            "Reports progress 0, 50 and 100 of 100",
            no_arguments(),
        ),
        Tool::new(
            "test_sampling",
            "Asks the client's model to answer a prompt",
            string_argument("prompt", "The prompt to send to the model"),
        ),
        Tool::new(
            "test_elicitation",
            "Asks the user for a username and an email address",
            string_argument("message", "The message to show the user"),
        ),
        Tool::new(
            "test_elicitation_sep1034_defaults",
            "Elicitation whose fields all have defaults (SEP-1034)",
            no_arguments(),
        ),
        Tool::new(
            "test_elicitation_sep1330_enums",
            "Elicitation with the five enum schema forms (SEP-1330)",
            no_arguments(),
        ),
        Tool::new(
            "json_schema_2020_12_tool",
            "Tool with JSON Schema 2020-12 features",
            // The suite's 0.2 fixture (SEP-1613 and SEP-2106 keywords), a superset of 0.1.16's.
            object(json!({
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "type": "object",
                "$defs": {
                    "address": {
                        "$anchor": "addressDef",
                        "type": "object",
                        "properties": {
                            "street": {"type": "string"},
                            "city": {"type": "string"},
                        },
                    },
                },
                "properties": {
                    "name": {"type": "string"},
                    "address": {"$ref": "#/$defs/address"},
                    "contactMethod": {"type": "string", "enum": ["phone", "email"]},
                    "phone": {"type": "string"},
                    "email": {"type": "string"},
                },
                "allOf": [{"anyOf": [{"required": ["phone"]}, {"required": ["email"]}]}],
                "if": {
                    "properties": {"contactMethod": {"const": "phone"}},
                    "required": ["contactMethod"],
                },
                "then": {"required": ["phone"]},
                "else": {"required": ["email"]},
                "additionalProperties": false,
            })),
        ),
        Tool::new(
            "test_reconnection",
            "Answers after a pause (SSE polling scenario)",
            no_arguments(),
        ),
        Tool::new(
            CUSTOM_HEADER,
            "Echoes a region the client also sends as the Mcp-Param-Region header (SEP-2243)",
            object(json!({
                "type": "object",
                "properties": {
                    "region": {
                        "type": "string",
                        "description": "Mirrored into the Mcp-Param-Region header",
                        "x-mcp-header": "Region",
                    },
                },
                "required": ["region"],
            })),
        ),
    ]
}

/// The tool whose argument a 2026-07-28 client mirrors into an `Mcp-Param-*` header; rmcp
/// checks header against body before the call reaches [`call`].
const CUSTOM_HEADER: &str = "test_custom_header";

/// The listed tool called `name` (rmcp looks a tool's schema up here to check the SEP-2243
/// `Mcp-Param-*` headers of a `tools/call`).
pub(crate) fn find(name: &str) -> Option<Tool> {
    list().into_iter().find(|tool| tool.name == name)
}

/// Runs one tool.
pub(crate) async fn call(
    server: &Conformance,
    request: CallToolRequestParams,
    context: RequestContext<RoleServer>,
) -> Result<CallToolResponse, ErrorData> {
    let client = request
        .meta
        .as_ref()
        .and_then(|m| m.client_capabilities())
        .or_else(|| context.meta.client_capabilities());
    if let Some(answer) = crate::mrtr::call(&request, client.as_ref()) {
        return answer;
    }
    let args = request.arguments.clone().unwrap_or_default();
    let result = match request.name.as_ref() {
        "test_simple_text" => text("This is a simple text response for testing."),
        "test_image_content" => {
            CallToolResult::success(vec![ContentBlock::image(PNG, "image/png")])
        }
        "test_audio_content" => {
            CallToolResult::success(vec![ContentBlock::audio(WAV, "audio/wav")])
        }
        "test_embedded_resource" => {
            CallToolResult::success(vec![ContentBlock::resource(ResourceContents::text(
                "This is an embedded resource content.",
                "test://embedded-resource",
            ))])
        }
        "test_multiple_content_types" => CallToolResult::success(vec![
            ContentBlock::text("Multiple content types test:"),
            ContentBlock::image(PNG, "image/png"),
            ContentBlock::resource(
                ResourceContents::text(
                    json!({"test": "data", "value": 123}).to_string(),
                    "test://mixed-content-resource",
                )
                .with_mime_type("application/json"),
            ),
        ]),
        "test_tool_with_logging" => with_logging(server, &context).await,
        "test_logging_tool" => per_request_logging(&request, &context).await,
        "test_error_handling" => CallToolResult::error(vec![ContentBlock::text(
            "This tool intentionally returns an error for testing",
        )]),
        "test_tool_with_progress" => with_progress(&request, &context).await,
        "test_sampling" => match required_str(&args, "prompt") {
            Ok(prompt) => sampling(prompt, &context).await,
            Err(e) => return Err(e),
        },
        "test_elicitation" => {
            let message = required_str(&args, "message")?;
            let schema = json!({
                "type": "object",
                "properties": {
                    "username": {"type": "string", "description": "User's response"},
                    "email": {"type": "string", "description": "User's email address"},
                },
                "required": ["username", "email"],
            });
            match elicit(&context, message, schema).await {
                Ok(r) => text(format!("User response: {}", describe(&r))),
                Err(e) => failure(format!("Elicitation failed: {e}")),
            }
        }
        "test_elicitation_sep1034_defaults" => {
            let schema = json!({
                "type": "object",
                "properties": {
                    "name": {"type": "string", "description": "User name", "default": "John Doe"},
                    "age": {"type": "integer", "description": "User age", "default": 30},
                    "score": {"type": "number", "description": "User score", "default": 95.5},
                    "status": {
                        "type": "string",
                        "description": "User status",
                        "enum": ["active", "inactive", "pending"],
                        "default": "active",
                    },
                    "verified": {"type": "boolean", "description": "Verification status", "default": true},
                },
            });
            elicitation_completed(&context, "Please review the defaults", schema).await
        }
        "test_elicitation_sep1330_enums" => {
            let schema = json!({
                "type": "object",
                "properties": {
                    "untitledSingle": {"type": "string", "enum": ["option1", "option2", "option3"]},
                    "titledSingle": {
                        "type": "string",
                        "oneOf": [
                            {"const": "value1", "title": "First Option"},
                            {"const": "value2", "title": "Second Option"},
                            {"const": "value3", "title": "Third Option"},
                        ],
                    },
                    "legacyEnum": {
                        "type": "string",
                        "enum": ["opt1", "opt2", "opt3"],
                        "enumNames": ["Option One", "Option Two", "Option Three"],
                    },
                    "untitledMulti": {
                        "type": "array",
                        "items": {"type": "string", "enum": ["option1", "option2", "option3"]},
                    },
                    "titledMulti": {
                        "type": "array",
                        "items": {
                            "anyOf": [
                                {"const": "value1", "title": "First Choice"},
                                {"const": "value2", "title": "Second Choice"},
                                {"const": "value3", "title": "Third Choice"},
                            ],
                        },
                    },
                },
            });
            elicitation_completed(&context, "Please pick from the enums", schema).await
        }
        "json_schema_2020_12_tool" => {
            let name = args.get("name").and_then(Value::as_str).unwrap_or("world");
            text(format!("Hello, {name}!"))
        }
        "test_reconnection" => {
            tokio::time::sleep(STEP * 2).await;
            text("Reconnection test completed")
        }
        CUSTOM_HEADER => match required_str(&args, "region") {
            Ok(region) => text(format!("Region: {region}")),
            Err(e) => return Err(e),
        },
        other => {
            return Err(ErrorData::invalid_params(
                format!("unknown tool: {other}"),
                None,
            ));
        }
    };
    Ok(result.into())
}

fn text(t: impl Into<String>) -> CallToolResult {
    CallToolResult::success(vec![ContentBlock::text(t)])
}

fn failure(t: impl Into<String>) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(t)])
}

/// A required string argument, or the JSON-RPC invalid-params error.
fn required_str<'a>(args: &'a JsonObject, name: &str) -> Result<&'a str, ErrorData> {
    args.get(name).and_then(Value::as_str).ok_or_else(|| {
        ErrorData::invalid_params(format!("argument {name:?} (a string) is required"), None)
    })
}

#[allow(deprecated)]
async fn with_logging(
    server: &Conformance,
    context: &RequestContext<RoleServer>,
) -> CallToolResult {
    let steps = [
        "Tool execution started",
        "Tool processing data",
        "Tool execution completed",
    ];
    for (i, message) in steps.into_iter().enumerate() {
        if i > 0 {
            tokio::time::sleep(STEP).await;
        }
        if server.logs_at(LoggingLevel::Info) {
            let note = LoggingMessageNotificationParam::new(LoggingLevel::Info, json!(message))
                .with_logger("test_tool_with_logging");
            if let Err(error) = context.peer.notify_logging_message(note).await {
                return failure(format!("could not send a log message: {error}"));
            }
        }
    }
    text("Tool with logging completed")
}

/// On the 2026-07-28 leg a request carries its own log level in `_meta`; without one the
/// server sends no log message.
#[allow(deprecated)]
async fn per_request_logging(
    request: &CallToolRequestParams,
    context: &RequestContext<RoleServer>,
) -> CallToolResult {
    let level = request
        .meta
        .as_ref()
        .and_then(|m| m.log_level())
        .or_else(|| context.meta.log_level());
    if let Some(level) = level
        && severity_allows(level)
    {
        let note = LoggingMessageNotificationParam::new(
            LoggingLevel::Info,
            json!("test_logging_tool ran"),
        )
        .with_logger("test_logging_tool");
        if let Err(error) = context.peer.notify_logging_message(note).await {
            return failure(format!("could not send a log message: {error}"));
        }
    }
    text("Logging tool completed")
}

/// Whether an info message passes `level`.
#[allow(deprecated)]
fn severity_allows(level: LoggingLevel) -> bool {
    matches!(level, LoggingLevel::Debug | LoggingLevel::Info)
}

async fn with_progress(
    request: &CallToolRequestParams,
    context: &RequestContext<RoleServer>,
) -> CallToolResult {
    let token = request
        .meta
        .as_ref()
        .and_then(|m| m.get_progress_token())
        .or_else(|| context.meta.get_progress_token());
    for (i, progress) in [0.0, 50.0, 100.0].into_iter().enumerate() {
        if i > 0 {
            tokio::time::sleep(STEP).await;
        }
        if let Some(token) = &token {
            let note = ProgressNotificationParam::new(token.clone(), progress).with_total(100.0);
            if let Err(error) = context.peer.notify_progress(note).await {
                return failure(format!("could not send progress: {error}"));
            }
        }
    }
    text("Tool with progress completed")
}

#[allow(deprecated)]
async fn sampling(prompt: &str, context: &RequestContext<RoleServer>) -> CallToolResult {
    let params = CreateMessageRequestParams::new(vec![SamplingMessage::user_text(prompt)], 100);
    match context.peer.create_message(params).await {
        Ok(reply) => {
            let answer = reply
                .message
                .content
                .first()
                .and_then(|c| c.as_text())
                .map(|t| t.text.clone())
                .unwrap_or_default();
            text(format!("LLM response: {answer}"))
        }
        Err(error) => failure(format!("Sampling failed: {error}")),
    }
}

async fn elicit(
    context: &RequestContext<RoleServer>,
    message: &str,
    schema: Value,
) -> Result<ElicitResult, String> {
    let requested_schema: ElicitationSchema =
        serde_json::from_value(schema).map_err(|e| format!("bad schema: {e}"))?;
    context
        .peer
        .create_elicitation(ElicitRequestParams::FormElicitationParams {
            meta: None,
            message: message.to_owned(),
            requested_schema,
        })
        .await
        .map_err(|e| e.to_string())
}

async fn elicitation_completed(
    context: &RequestContext<RoleServer>,
    message: &str,
    schema: Value,
) -> CallToolResult {
    match elicit(context, message, schema).await {
        Ok(r) => text(format!("Elicitation completed: {}", describe(&r))),
        Err(e) => failure(format!("Elicitation failed: {e}")),
    }
}

fn describe(result: &ElicitResult) -> String {
    let action = match result.action {
        ElicitationAction::Accept => "accept",
        ElicitationAction::Decline => "decline",
        ElicitationAction::Cancel => "cancel",
        _ => "other",
    };
    let content = result.content.clone().unwrap_or(Value::Null);
    format!("action={action}, content={content}")
}
