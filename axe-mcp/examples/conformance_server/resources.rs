//! The suite's resources: two static ones, a watched one for subscriptions, and the
//! `test://template/{id}/data` template.

use rmcp::ErrorData;
use rmcp::model::{ReadResourceResult, Resource, ResourceContents, ResourceTemplate};
use serde_json::json;

use crate::media::PNG;

const STATIC_TEXT: &str = "test://static-text";
const STATIC_BINARY: &str = "test://static-binary";
const WATCHED: &str = "test://watched-resource";
const TEMPLATE: &str = "test://template/{id}/data";
/// The longest template id served (a URI is client input).
const MAX_ID: usize = 128;

/// The direct resources.
pub(crate) fn list() -> Vec<Resource> {
    vec![
        Resource::new(STATIC_TEXT, "static-text")
            .with_description("A static text resource")
            .with_mime_type("text/plain"),
        Resource::new(STATIC_BINARY, "static-binary")
            .with_description("A static PNG image")
            .with_mime_type("image/png"),
        Resource::new(WATCHED, "watched-resource")
            .with_description("A resource clients may subscribe to")
            .with_mime_type("text/plain"),
    ]
}

/// The resource templates.
pub(crate) fn templates() -> Vec<ResourceTemplate> {
    vec![
        ResourceTemplate::new(TEMPLATE, "template-data")
            .with_description("JSON data for an id")
            .with_mime_type("application/json"),
    ]
}

/// Reads `uri`, or answers the JSON-RPC resource-not-found error.
pub(crate) fn read(uri: &str) -> Result<ReadResourceResult, ErrorData> {
    let contents = match uri {
        STATIC_TEXT => {
            ResourceContents::text("This is the content of the static text resource.", uri)
        }
        STATIC_BINARY => ResourceContents::blob(PNG, uri).with_mime_type("image/png"),
        WATCHED => ResourceContents::text("The watched resource has not changed.", uri),
        _ => match template_id(uri) {
            Some(id) => ResourceContents::text(
                json!({"id": id, "templateTest": true, "data": format!("Data for ID: {id}")})
                    .to_string(),
                uri,
            )
            .with_mime_type("application/json"),
            None => return Err(not_found(uri)),
        },
    };
    Ok(ReadResourceResult::new(vec![contents]))
}

/// Subscriptions are accepted for the resources this server has.
pub(crate) fn check_subscribable(uri: &str) -> Result<(), ErrorData> {
    if read(uri).is_ok() {
        Ok(())
    } else {
        Err(not_found(uri))
    }
}

/// The `{id}` of `test://template/{id}/data`: one non-empty path segment of unreserved
/// characters.
fn template_id(uri: &str) -> Option<&str> {
    let id = uri
        .strip_prefix("test://template/")?
        .strip_suffix("/data")?;
    let ok = !id.is_empty()
        && id.len() <= MAX_ID
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~'));
    ok.then_some(id)
}

fn not_found(uri: &str) -> ErrorData {
    // The URI is echoed in the data (JSON-escaped), not in the message.
    ErrorData::resource_not_found("resource not found", Some(json!({"uri": uri})))
}
