//! [`Principal`] as an axum extractor (feature `axum`).
//!
//! The extractor reads the principal the [`EntraAuthLayer`](crate::EntraAuthLayer)
//! put into the request. Used on a route the layer does not cover, it
//! rejects with the same 401 `WWW-Authenticate: Bearer` answer as a request
//! without credentials; `Option<Principal>` never rejects.

use axum_core::extract::{FromRequestParts, OptionalFromRequestParts};
use axum_core::response::{IntoResponse, Response};
use http::request::Parts;

use crate::Principal;
use crate::challenge::Rejection;
use crate::error::Error;

/// The rejection of the [`Principal`] extractor: no authenticated principal.
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct MissingPrincipal;

impl MissingPrincipal {
    /// Always 401.
    pub fn status(&self) -> http::StatusCode {
        http::StatusCode::UNAUTHORIZED
    }

    /// The JSON body text.
    pub fn body_text(&self) -> String {
        Rejection::new(Error::MissingCredentials)
            .body_json()
            .to_string()
    }
}

impl std::fmt::Display for MissingPrincipal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("no authenticated principal")
    }
}

impl std::error::Error for MissingPrincipal {}

impl IntoResponse for MissingPrincipal {
    fn into_response(self) -> Response {
        Rejection::new(Error::MissingCredentials)
            .into_response()
            .map(axum_core::body::Body::new)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Principal {
    type Rejection = MissingPrincipal;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Principal>()
            .cloned()
            .ok_or(MissingPrincipal)
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for Principal {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(parts.extensions.get::<Principal>().cloned())
    }
}
