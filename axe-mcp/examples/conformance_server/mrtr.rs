//! The multi round-trip tools of the 2026-07-28 suite (SEP-2322, `@modelcontextprotocol/
//! conformance` 0.2): instead of sending requests to the client, a tool answers
//! `resultType: "input_required"` with the requests it needs, and the client calls again with
//! `inputResponses` (and the echoed `requestState`).
//!
//! The request state here is one of a few fixed tokens naming the round; anything else is
//! refused, so a tampered state never passes.

use rmcp::ErrorData;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ClientCapabilities, ContentBlock,
    GetPromptRequestParams, GetPromptResponse, GetPromptResult, InputRequests, InputRequiredResult,
    InputResponses, PromptMessage, Role, Tool,
};
use serde_json::{Value, json};

use crate::tools::object;

const ELICITATION: &str = "test_input_required_result_elicitation";
const SAMPLING: &str = "test_input_required_result_sampling";
const LIST_ROOTS: &str = "test_input_required_result_list_roots";
const REQUEST_STATE: &str = "test_input_required_result_request_state";
const MULTIPLE: &str = "test_input_required_result_multiple_inputs";
const MULTI_ROUND: &str = "test_input_required_result_multi_round";
const TAMPERED: &str = "test_input_required_result_tampered_state";
const CAPABILITIES: &str = "test_input_required_result_capabilities";
const MISSING_CAPABILITY: &str = "test_missing_capability";
const STREAMING_ELICITATION: &str = "test_streaming_elicitation";
/// The prompt that needs input (`prompts/get`).
pub(crate) const PROMPT: &str = "test_input_required_result_prompt";

/// The tools, for `tools/list`.
pub(crate) fn list() -> Vec<Tool> {
    let none = || object(json!({"type": "object", "properties": {}}));
    vec![
        Tool::new(
            ELICITATION,
            "Asks for a name through an input request",
            none(),
        ),
        Tool::new(
            SAMPLING,
            "Asks the client's model through an input request",
            none(),
        ),
        Tool::new(
            LIST_ROOTS,
            "Asks for the client's roots through an input request",
            none(),
        ),
        Tool::new(REQUEST_STATE, "Round-trips a request state", none()),
        Tool::new(MULTIPLE, "Asks for three inputs at once", none()),
        Tool::new(MULTI_ROUND, "Asks in two rounds", none()),
        Tool::new(TAMPERED, "Refuses a request state it did not issue", none()),
        Tool::new(
            CAPABILITIES,
            "Asks only for what the client declared it can answer",
            none(),
        ),
        Tool::new(
            MISSING_CAPABILITY,
            "Needs sampling: refused (-32021) unless the client declared it",
            none(),
        ),
        Tool::new(
            STREAMING_ELICITATION,
            "Needs elicitation, asked for with an input request",
            none(),
        ),
    ]
}

fn name_request(message: &str, field: &str) -> Value {
    json!({
        "method": "elicitation/create",
        "params": {
            "message": message,
            "requestedSchema": {
                "type": "object",
                "properties": {field: {"type": "string"}},
                "required": [field],
            },
        },
    })
}

fn sampling_request(text: &str, max_tokens: u32) -> Value {
    json!({
        "method": "sampling/createMessage",
        "params": {
            "messages": [{"role": "user", "content": {"type": "text", "text": text}}],
            "maxTokens": max_tokens,
        },
    })
}

fn roots_request() -> Value {
    json!({"method": "roots/list", "params": {}})
}

/// An `input_required` answer asking for `requests` (a JSON object of input requests).
fn ask(requests: Value, state: Option<&str>) -> Result<CallToolResponse, ErrorData> {
    input_required(requests, state).map(Into::into)
}

fn input_required(requests: Value, state: Option<&str>) -> Result<InputRequiredResult, ErrorData> {
    let requests: InputRequests = serde_json::from_value(requests)
        .map_err(|e| ErrorData::internal_error(format!("bad input requests: {e}"), None))?;
    Ok(InputRequiredResult::new(
        Some(requests),
        state.map(str::to_owned),
    ))
}

fn done(text: String) -> Result<CallToolResponse, ErrorData> {
    Ok(CallToolResult::success(vec![ContentBlock::text(text)]).into())
}

fn bad_state() -> ErrorData {
    ErrorData::invalid_params("requestState is missing or not valid", None)
}

/// A string at `pointer` inside the response under `key`.
fn answer<'a>(responses: &'a InputResponses, key: &str, pointer: &str) -> Option<&'a str> {
    responses.get(key)?.pointer(pointer)?.as_str()
}

/// Runs `request` if it names one of these tools; `client` is what the client declared in
/// the request's `_meta`.
pub(crate) fn call(
    request: &CallToolRequestParams,
    client: Option<&ClientCapabilities>,
) -> Option<Result<CallToolResponse, ErrorData>> {
    let empty = InputResponses::new();
    let responses = request.input_responses.as_ref().unwrap_or(&empty);
    let state = request.request_state.as_deref();
    let has = |key: &str| responses.contains_key(key);
    Some(match request.name.as_ref() {
        ELICITATION => match answer(responses, "user_name", "/content/name") {
            Some(name) => done(format!("Hello, {name}!")),
            None => ask(
                json!({"user_name": name_request("What is your name?", "name")}),
                None,
            ),
        },
        SAMPLING => match answer(responses, "capital_question", "/content/text") {
            Some(text) => done(format!("Sampling response: {text}")),
            None if has("capital_question") => done("Sampling response received".to_owned()),
            None => ask(
                json!({"capital_question": sampling_request("What is the capital of France?", 100)}),
                None,
            ),
        },
        LIST_ROOTS => match responses.get("client_roots").and_then(|r| r.get("roots")) {
            Some(Value::Array(roots)) => {
                let uris: Vec<&str> = roots
                    .iter()
                    .filter_map(|r| r.get("uri").and_then(Value::as_str))
                    .collect();
                done(format!("Client roots: {}", uris.join(", ")))
            }
            _ => ask(json!({"client_roots": roots_request()}), None),
        },
        REQUEST_STATE => {
            if has("confirm") {
                if state == Some("request-state-1") {
                    done("Confirmed: state-ok".to_owned())
                } else {
                    Err(bad_state())
                }
            } else {
                let confirm = json!({
                    "method": "elicitation/create",
                    "params": {
                        "message": "Please confirm",
                        "requestedSchema": {
                            "type": "object",
                            "properties": {"ok": {"type": "boolean"}},
                            "required": ["ok"],
                        },
                    },
                });
                ask(json!({"confirm": confirm}), Some("request-state-1"))
            }
        }
        MULTIPLE => {
            let all = ["user_name", "greeting", "client_roots"]
                .iter()
                .all(|k| has(k));
            if all {
                if state == Some("multiple-inputs-1") {
                    done("Received all three inputs".to_owned())
                } else {
                    Err(bad_state())
                }
            } else {
                ask(
                    json!({
                        "user_name": name_request("What is your name?", "name"),
                        "greeting": sampling_request("Generate a greeting", 50),
                        "client_roots": roots_request(),
                    }),
                    Some("multiple-inputs-1"),
                )
            }
        }
        MULTI_ROUND => match (state, has("step1"), has("step2")) {
            (Some("multi-round-2"), _, true) => {
                let color = answer(responses, "step2", "/content/color").unwrap_or("unknown");
                done(format!("Both steps completed; favorite color: {color}"))
            }
            (Some("multi-round-1"), true, _) => ask(
                json!({"step2": name_request("Step 2: What is your favorite color?", "color")}),
                Some("multi-round-2"),
            ),
            (None, false, false) => ask(
                json!({"step1": name_request("Step 1: What is your name?", "name")}),
                Some("multi-round-1"),
            ),
            _ => Err(bad_state()),
        },
        // The state carries no data, so comparing it with the token issued is its integrity
        // check: a changed token is refused.
        TAMPERED => match state {
            Some("tampered-state-1") if has("confirm") => done("state-ok".to_owned()),
            None if responses.is_empty() => ask(
                json!({"confirm": name_request("Please confirm", "ok")}),
                Some("tampered-state-1"),
            ),
            _ => Err(bad_state()),
        },
        CAPABILITIES => {
            if !responses.is_empty() {
                return Some(done(format!("Received {} input(s)", responses.len())));
            }
            let mut requests = serde_json::Map::new();
            if client.is_some_and(|c| c.sampling.is_some()) {
                requests.insert("question".into(), sampling_request("Say hello", 20));
            }
            if client.is_some_and(|c| c.elicitation.is_some()) {
                requests.insert(
                    "user_name".into(),
                    name_request("What is your name?", "name"),
                );
            }
            if requests.is_empty() {
                done("The client declared neither sampling nor elicitation".to_owned())
            } else {
                ask(Value::Object(requests), None)
            }
        }
        MISSING_CAPABILITY => match (
            client.is_some_and(|c| c.sampling.is_some()),
            responses.is_empty(),
        ) {
            (false, _) => Err(missing("sampling")),
            (true, true) => ask(json!({"question": sampling_request("Say hello", 20)}), None),
            (true, false) => done("Sampling answered".to_owned()),
        },
        STREAMING_ELICITATION => match (
            client.is_some_and(|c| c.elicitation.is_some()),
            responses.is_empty(),
        ) {
            (false, _) => Err(missing("elicitation")),
            (true, true) => ask(
                json!({"user_name": name_request("What is your name?", "name")}),
                None,
            ),
            (true, false) => done("Elicitation answered".to_owned()),
        },
        _ => return None,
    })
}

/// MissingRequiredClientCapabilityError (-32021) naming `capability`.
fn missing(capability: &str) -> ErrorData {
    match serde_json::from_value::<ClientCapabilities>(json!({capability: {}})) {
        Ok(required) => ErrorData::missing_required_client_capability(required),
        Err(e) => ErrorData::internal_error(format!("bad capability: {e}"), None),
    }
}

/// `prompts/get` for [`PROMPT`]: asks for a context first, then renders with it.
pub(crate) fn prompt(request: &GetPromptRequestParams) -> Result<GetPromptResponse, ErrorData> {
    let empty = InputResponses::new();
    let responses = request.input_responses.as_ref().unwrap_or(&empty);
    match answer(responses, "user_context", "/content/context") {
        Some(context) => Ok(GetPromptResult::new(vec![PromptMessage::new_text(
            Role::User,
            format!("Answer with this context in mind: {context}"),
        )])
        .into()),
        None => input_required(
            json!({"user_context": name_request("What context should the prompt use?", "context")}),
            None,
        )
        .map(Into::into),
    }
}
