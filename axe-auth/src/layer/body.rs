use bytes::Bytes;
use http_body_util::{Either, Full};

/// The response body of the auth middleware: the inner service's body
/// (`Either::Left`), or the JSON of a rejection (`Either::Right`).
///
/// An alias of [`http_body_util::Either`], so other layers of the same shape
/// (axe-tenant's) share the type.
pub type AuthBody<B> = Either<B, Full<Bytes>>;
