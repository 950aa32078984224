use tower_layer::Layer;

use super::service::EntraAuth;
use crate::{ProtectedResource, Validator};

/// Validates `Authorization: Bearer` Entra tokens in front of a service.
///
/// A valid token puts a [`Principal`](crate::Principal) into the request's
/// extensions and calls the inner service; anything else is answered by the
/// layer itself (see [`challenge`](crate::challenge)): 401 with the RFC 9728
/// `resource_metadata` URL of `resource`, 403, or 503.
#[derive(Debug, Clone)]
pub struct EntraAuthLayer {
    validator: Validator,
    resource: ProtectedResource,
}

impl EntraAuthLayer {
    /// A layer validating with `validator`, challenging for `resource`.
    pub fn new(validator: Validator, resource: ProtectedResource) -> Self {
        EntraAuthLayer {
            validator,
            resource,
        }
    }
}

impl<S> Layer<S> for EntraAuthLayer {
    type Service = EntraAuth<S>;

    fn layer(&self, inner: S) -> Self::Service {
        EntraAuth::new(inner, self.validator.clone(), self.resource.clone())
    }
}
