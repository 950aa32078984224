use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::{Either, Full};

use super::TenantBody;
use crate::{ConflictReason, Resolution, RouteError, UnknownReason};

/// Why the [`TenantLayer`](super::TenantLayer) refused a request: one variant
/// per check. The response body names the check, never another customer.
///
/// Attached to the refusal's response extensions, so an outer layer can
/// count, log or replace refusals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum TenantRejection {
    /// No `Principal` in the request: the layer is not behind axe-auth's
    /// `EntraAuthLayer`. 500.
    #[error("no authenticated principal: the tenant layer must run after the auth layer")]
    MissingPrincipal,
    /// The token's tenant belongs to no customer. 403.
    #[error("the token's tenant is not a customer of this service")]
    UnknownTenant,
    /// No entity of the customer matches the token. 403.
    #[error("no entity of this customer is mapped to the user")]
    NoEntity,
    /// The customer requires a vouched email in its domains; the token has
    /// none. 403.
    #[error("this customer requires a verified email address in its own domains")]
    EmailDomainRequired,
    /// The token vouches for an email address that does not parse. 403.
    #[error("the token's email address is malformed")]
    MalformedEmail,
    /// The vouched email domain belongs to another customer than the token's
    /// tenant. 403.
    #[error("the token's email domain belongs to a different customer than its tenant")]
    EmailDomainConflict,
    /// The token maps to more than one entity. 403.
    #[error("the user is mapped to more than one entity")]
    AmbiguousEntity,
    /// The request's host serves no customer. 403.
    #[error("this host serves no customer")]
    UnknownHost,
    /// The request's host serves another customer than the token's. 403.
    #[error("this host serves a different customer than the one the token belongs to")]
    HostMismatch,
    /// The customer does not offer the service in the path. 404.
    #[error("no such service for this customer")]
    UnknownService,
}

impl TenantRejection {
    /// The status code: 500 for [`MissingPrincipal`](Self::MissingPrincipal),
    /// 404 for [`UnknownService`](Self::UnknownService), else 403.
    pub fn status(&self) -> StatusCode {
        match self {
            TenantRejection::MissingPrincipal => StatusCode::INTERNAL_SERVER_ERROR,
            TenantRejection::UnknownService => StatusCode::NOT_FOUND,
            _ => StatusCode::FORBIDDEN,
        }
    }

    /// The stable code in the body's `error` member.
    pub fn code(&self) -> &'static str {
        match self {
            TenantRejection::MissingPrincipal => "server_error",
            TenantRejection::UnknownTenant => "unknown_tenant",
            TenantRejection::NoEntity => "no_entity",
            TenantRejection::EmailDomainRequired => "email_domain_required",
            TenantRejection::MalformedEmail => "malformed_email",
            TenantRejection::EmailDomainConflict => "email_domain_conflict",
            TenantRejection::AmbiguousEntity => "ambiguous_entity",
            TenantRejection::UnknownHost => "unknown_host",
            TenantRejection::HostMismatch => "host_mismatch",
            TenantRejection::UnknownService => "unknown_service",
        }
    }

    /// The JSON body: `{"error": code, "error_description": text}`. A
    /// misconfiguration is described to the client only as such.
    pub fn body_text(&self) -> String {
        match self {
            TenantRejection::MissingPrincipal => {
                Self::body_json(self.code(), "the server is misconfigured")
            }
            _ => Self::body_json(self.code(), &self.to_string()),
        }
    }

    pub(crate) fn body_json(code: &str, description: &str) -> String {
        serde_json::json!({ "error": code, "error_description": description }).to_string()
    }

    /// The response, with the rejection in its extensions.
    pub fn into_http_response<B>(self) -> Response<TenantBody<B>> {
        let mut res: Response<TenantBody<B>> =
            Response::new(Either::Right(Full::new(Bytes::from(self.body_text()))));
        *res.status_mut() = self.status();
        res.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        res.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        res.extensions_mut().insert(self);
        res
    }

    /// The rejection for a resolution that is not `Matched`.
    pub fn from_resolution(resolution: &Resolution) -> Option<Self> {
        Some(match resolution {
            Resolution::Matched { .. } => return None,
            Resolution::Unknown { reason, .. } => match reason {
                UnknownReason::UnknownTenant { .. } => TenantRejection::UnknownTenant,
                UnknownReason::EmailDomainRequired { .. } => TenantRejection::EmailDomainRequired,
                UnknownReason::MalformedEmail { .. } => TenantRejection::MalformedEmail,
                UnknownReason::NoEntity { .. } => TenantRejection::NoEntity,
            },
            Resolution::Conflict { reason, .. } => match reason {
                ConflictReason::ForeignEmailDomain { .. } => TenantRejection::EmailDomainConflict,
                ConflictReason::AmbiguousEntity { .. } => TenantRejection::AmbiguousEntity,
            },
        })
    }
}

impl From<RouteError> for TenantRejection {
    fn from(e: RouteError) -> Self {
        match e {
            RouteError::UnknownHost => TenantRejection::UnknownHost,
            RouteError::UnknownService => TenantRejection::UnknownService,
        }
    }
}
