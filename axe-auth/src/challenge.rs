//! The one place where authentication failures become HTTP answers.
//!
//! | failure | status | `WWW-Authenticate` |
//! |---|---|---|
//! | no credentials | 401 | `Bearer resource_metadata="…", scope="…"` (no `error`, RFC 6750 §3.1) |
//! | a bad token (any validation rule) | 401 | `Bearer error="invalid_token", error_description="…", resource_metadata="…", scope="…"` |
//! | a valid token without a required scope | 403 | `Bearer error="insufficient_scope", scope="<fully qualified>", resource_metadata="…"` |
//! | no signing keys could be fetched | 503 | none; `Retry-After` |
//!
//! The body is JSON `{"error": …, "error_description": …}`. The description is
//! [`Error::description`]: a fixed sentence, never anything from the token.
//! The typed [`Error`] rides along in the response extensions, so a tracing or
//! metrics layer further out can see why a request was refused.
//!
//! Advertising the fully qualified scopes (`api://…/mcp.access`) on every
//! challenge is what keeps claude.ai from asking Entra for a bare scope
//! (AADSTS650053) or no scope at all (AADSTS900144).

use bytes::Bytes;
use http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{Response, StatusCode};
use http_body_util::Full;

use crate::error::Error;

/// An authentication or authorization failure, ready to be answered.
///
/// ```
/// use axe_auth::{Error, Rejection};
/// let r = Rejection::new(Error::MissingCredentials)
///     .resource_metadata("https://axe.axelabs.ai/.well-known/oauth-protected-resource/frame/mcp")
///     .scopes(["api://frame.axelabs.ai/mcp.access".to_owned()]);
/// assert_eq!(r.status(), 401);
/// assert_eq!(
///     r.www_authenticate().unwrap(),
///     r#"Bearer resource_metadata="https://axe.axelabs.ai/.well-known/oauth-protected-resource/frame/mcp", scope="api://frame.axelabs.ai/mcp.access""#
/// );
/// ```
#[derive(Debug, Clone)]
pub struct Rejection {
    error: Error,
    resource_metadata: Option<String>,
    scopes: Vec<String>,
}

impl Rejection {
    /// A rejection for `error`, without metadata URL or scope hint yet.
    pub fn new(error: Error) -> Self {
        Rejection {
            error,
            resource_metadata: None,
            scopes: Vec::new(),
        }
    }

    /// Names the RFC 9728 metadata document (an absolute URL) in the
    /// challenge.
    pub fn resource_metadata(mut self, url: impl Into<String>) -> Self {
        self.resource_metadata = Some(url.into());
        self
    }

    /// The fully qualified scopes to advertise. For
    /// [`Error::InsufficientScope`] its own `required_scopes` take
    /// precedence.
    pub fn scopes(mut self, scopes: impl IntoIterator<Item = String>) -> Self {
        self.scopes = scopes.into_iter().collect();
        self
    }

    /// The failure.
    pub fn error(&self) -> &Error {
        &self.error
    }

    /// The HTTP status: 401, 403 or 503.
    pub fn status(&self) -> StatusCode {
        match self.error {
            Error::InsufficientScope { .. } => StatusCode::FORBIDDEN,
            Error::KeysUnavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::UNAUTHORIZED,
        }
    }

    /// The `WWW-Authenticate` value, `None` for 503.
    pub fn www_authenticate(&self) -> Option<String> {
        if matches!(self.error, Error::KeysUnavailable { .. }) {
            return None;
        }
        let mut params: Vec<(&str, String)> = Vec::new();
        if let Some(code) = self.error.oauth_error_code() {
            params.push(("error", code.to_owned()));
            params.push(("error_description", self.error.description().to_owned()));
        }
        if let Some(url) = &self.resource_metadata {
            params.push(("resource_metadata", url.clone()));
        }
        let scopes = match &self.error {
            Error::InsufficientScope {
                required_scopes, ..
            } if !required_scopes.is_empty() => required_scopes.join(" "),
            _ => self.scopes.join(" "),
        };
        if !scopes.is_empty() {
            params.push(("scope", scopes));
        }
        let mut out = String::from("Bearer");
        for (i, (name, value)) in params.iter().enumerate() {
            out.push_str(if i == 0 { " " } else { ", " });
            out.push_str(name);
            out.push_str("=\"");
            push_quoted(&mut out, value);
            out.push('"');
        }
        Some(out)
    }

    /// The JSON body.
    pub fn body_json(&self) -> serde_json::Value {
        let code = match &self.error {
            Error::MissingCredentials => "unauthorized",
            Error::KeysUnavailable { .. } => "temporarily_unavailable",
            e => e.oauth_error_code().unwrap_or("invalid_token"),
        };
        serde_json::json!({
            "error": code,
            "error_description": self.error.description(),
        })
    }

    /// The whole response, with the [`Error`] in its extensions.
    pub fn into_response(self) -> Response<Full<Bytes>> {
        let body = Bytes::from(self.body_json().to_string());
        let mut resp = Response::new(Full::new(body));
        *resp.status_mut() = self.status();
        let headers = resp.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Some(value) = self.www_authenticate()
            && let Ok(value) = HeaderValue::from_str(&value)
        {
            headers.insert(WWW_AUTHENTICATE, value);
        }
        if matches!(self.error, Error::KeysUnavailable { .. }) {
            headers.insert(RETRY_AFTER, HeaderValue::from_static("10"));
        }
        resp.extensions_mut().insert(self.error);
        resp
    }
}

/// Appends `value` as the inside of an RFC 9110 quoted-string: `"` and `\`
/// are escaped, control characters dropped (they cannot appear in a header).
fn push_quoted(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() || !c.is_ascii() => {}
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_codes() {
        assert_eq!(Rejection::new(Error::MissingCredentials).status(), 401);
        assert_eq!(Rejection::new(Error::InvalidSignature).status(), 401);
        let r = Rejection::new(Error::InsufficientScope {
            required_scopes: vec!["api://x/mcp.admin".into()],
            accepted_roles: vec![],
        })
        .scopes(["api://x/mcp.access".to_owned()]);
        assert_eq!(r.status(), 403);
        assert_eq!(
            r.www_authenticate().unwrap(),
            r#"Bearer error="insufficient_scope", error_description="the token lacks a required scope", scope="api://x/mcp.admin""#
        );
        let unavailable = Rejection::new(Error::KeysUnavailable {
            issuer: "x".into(),
            source: crate::KeyFetchError::Status(500),
        });
        assert_eq!(unavailable.status(), 503);
        assert!(unavailable.www_authenticate().is_none());
        let resp = unavailable.into_response();
        assert_eq!(resp.headers()[RETRY_AFTER], "10");
    }

    #[test]
    fn missing_credentials_have_no_error_code() {
        let h = Rejection::new(Error::MissingCredentials)
            .resource_metadata("https://a/.well-known/oauth-protected-resource")
            .www_authenticate()
            .unwrap();
        assert!(!h.contains("error"), "{h}");
        assert!(h.starts_with("Bearer resource_metadata=\""));
    }

    #[test]
    fn values_are_quoted_and_escaped() {
        let h = Rejection::new(Error::InvalidSignature)
            .resource_metadata("https://a/\"x\\y\r\nSet-Cookie: z")
            .www_authenticate()
            .unwrap();
        assert!(
            h.contains(r#"resource_metadata="https://a/\"x\\ySet-Cookie: z""#),
            "{h}"
        );
        assert!(HeaderValue::from_str(&h).is_ok());
    }

    #[test]
    fn body_never_contains_token_derived_text() {
        let r = Rejection::new(Error::AudienceMismatch {
            got: vec!["secret-audience-from-token".into()],
        });
        let body = r.body_json().to_string();
        assert!(!body.contains("secret-audience-from-token"));
        assert!(!r.www_authenticate().unwrap().contains("secret-audience"));
    }
}
