use bytes::Bytes;
use http_body_util::{Either, Full};

/// The response body of [`TenantService`](super::TenantService): the inner
/// service's body (`Either::Left`), or the JSON of a
/// [`TenantRejection`](super::TenantRejection) (`Either::Right`).
///
/// An alias of [`http_body_util::Either`], the same shape as axe-auth's
/// `AuthBody`.
pub type TenantBody<B> = Either<B, Full<Bytes>>;
