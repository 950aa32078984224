use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::AUTHORIZATION;
use http::{Request, Response};
use http_body_util::Full;
use tower_service::Service;

use super::body::AuthBody;
use super::future::ResponseFuture;
use crate::challenge::Rejection;
use crate::error::Error;
use crate::{ProtectedResource, Validator};

/// The service made by [`EntraAuthLayer`](super::EntraAuthLayer).
#[derive(Debug, Clone)]
pub struct EntraAuth<S> {
    inner: S,
    validator: Validator,
    resource: ProtectedResource,
}

impl<S> EntraAuth<S> {
    /// Wraps `inner`.
    pub fn new(inner: S, validator: Validator, resource: ProtectedResource) -> Self {
        EntraAuth {
            inner,
            validator,
            resource,
        }
    }
}

/// The credential of a request: `Ok(None)` without an `Authorization:
/// Bearer` header (another scheme counts as none, RFC 6750 §3.1).
pub(crate) fn bearer_token<B>(req: &Request<B>) -> Result<Option<&str>, Error> {
    let mut values = req.headers().get_all(AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(Error::MalformedCredentials);
    }
    let value = value.to_str().map_err(|_| Error::MalformedCredentials)?;
    let Some((scheme, rest)) = value.split_once(' ') else {
        return if value.eq_ignore_ascii_case("bearer") {
            Err(Error::MalformedCredentials)
        } else {
            Ok(None)
        };
    };
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Ok(None);
    }
    let token = rest.trim_matches(' ');
    if token.is_empty() || token.contains(' ') {
        return Err(Error::MalformedCredentials);
    }
    Ok(Some(token))
}

/// Builds the rejection response for a request to `resource`.
pub(crate) fn reject<B>(
    error: Error,
    resource: &ProtectedResource,
    req: &Request<B>,
) -> Response<Full<Bytes>> {
    log_rejection(&error);
    let mut rejection = Rejection::new(error).scopes(resource.scopes().iter().cloned());
    if let Some(url) = resource.metadata_url(req) {
        rejection = rejection.resource_metadata(url);
    }
    rejection.into_response()
}

fn log_rejection(error: &Error) {
    match error {
        Error::MissingCredentials => tracing::debug!("request without credentials"),
        Error::KeysUnavailable { .. } => tracing::warn!(reason = %error, "token not judged"),
        _ => tracing::info!(reason = %error, "token refused"),
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for EntraAuth<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone,
{
    type Response = Response<AuthBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S, ReqBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        // Take the service that was driven to readiness; leave a clone.
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        let token = match bearer_token(&req) {
            Ok(Some(token)) => token.to_owned(),
            Ok(None) => {
                return ResponseFuture::rejected(reject(
                    Error::MissingCredentials,
                    &self.resource,
                    &req,
                ));
            }
            Err(e) => return ResponseFuture::rejected(reject(e, &self.resource, &req)),
        };
        let validator = self.validator.clone();
        let validation = Box::pin(async move { validator.validate(&token).await });
        ResponseFuture::validating(validation, req, inner, self.resource.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(values: &[&str]) -> Request<()> {
        let mut b = Request::builder();
        for v in values {
            b = b.header(AUTHORIZATION, *v);
        }
        b.body(()).unwrap()
    }

    #[test]
    fn bearer_parsing() {
        assert_eq!(bearer_token(&req(&[])).unwrap(), None);
        assert_eq!(bearer_token(&req(&["Bearer abc"])).unwrap(), Some("abc"));
        assert_eq!(bearer_token(&req(&["bearer  abc "])).unwrap(), Some("abc"));
        assert_eq!(bearer_token(&req(&["Basic dXNlcg=="])).unwrap(), None);
        assert_eq!(bearer_token(&req(&["Negotiate"])).unwrap(), None);
        for bad in ["Bearer", "Bearer ", "Bearer a b"] {
            assert!(bearer_token(&req(&[bad])).is_err(), "{bad:?}");
        }
        assert!(bearer_token(&req(&["Bearer a", "Bearer b"])).is_err());
        let mut r = req(&[]);
        r.headers_mut().insert(
            AUTHORIZATION,
            http::HeaderValue::from_bytes(b"Bearer \xff").unwrap(),
        );
        assert!(bearer_token(&r).is_err());
    }
}
