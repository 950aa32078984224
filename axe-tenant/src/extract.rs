//! [`Tenancy`] as an axum extractor (feature `axum`).

use axum_core::extract::{FromRequestParts, OptionalFromRequestParts};
use axum_core::response::{IntoResponse, Response};
use http::StatusCode;
use http::request::Parts;

use crate::{Tenancy, TenantRejection};

/// The rejection of the [`Tenancy`] extractor: the request has no tenancy,
/// because the handler is not behind a [`TenantLayer`](crate::TenantLayer).
/// A wiring bug, answered with 500; use `Option<Tenancy>` for routes that
/// work with and without one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the request has no Tenancy: is the handler behind a TenantLayer?")]
#[non_exhaustive]
pub struct MissingTenancy;

impl MissingTenancy {
    /// 500.
    pub fn status(&self) -> StatusCode {
        StatusCode::INTERNAL_SERVER_ERROR
    }

    /// The JSON body sent.
    pub fn body_text(&self) -> String {
        TenantRejection::body_json("server_error", "the server is misconfigured")
    }
}

impl IntoResponse for MissingTenancy {
    fn into_response(self) -> Response {
        tracing::error!("{self}");
        json_response(self.status(), self.body_text())
    }
}

impl IntoResponse for TenantRejection {
    fn into_response(self) -> Response {
        let mut res = json_response(self.status(), self.body_text());
        res.extensions_mut().insert(self);
        res
    }
}

fn json_response(status: StatusCode, body: String) -> Response {
    (
        status,
        [(http::header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

impl<S: Send + Sync> FromRequestParts<S> for Tenancy {
    type Rejection = MissingTenancy;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Tenancy>()
            .cloned()
            .ok_or(MissingTenancy)
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for Tenancy {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(parts.extensions.get::<Tenancy>().cloned())
    }
}
