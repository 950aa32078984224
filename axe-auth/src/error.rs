//! The crate's error types.
//!
//! [`Error`] says which validation rule refused a request; [`KeyFetchError`]
//! why the signing keys of a tenant could not be had; [`ConfigError`] what is
//! wrong with a configuration before anything is served. The mapping to HTTP
//! answers lives in [`challenge`](crate::challenge), nowhere else.
//!
//! `Display` of these errors may name claim values that are not secret (a
//! tenant id, an issuer, an algorithm) and is meant for logs; it never
//! contains the token. The text sent to clients is
//! [`Error::description`], a fixed sentence per rule.

use std::time::SystemTime;

use crate::TenantId;

/// Why a request was not authenticated.
///
/// Variants carry what was compared, so a log line says which rule failed
/// and against what. Marked `#[non_exhaustive]`: new rules may be added.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No `Authorization: Bearer` header: the client does not know yet that
    /// it must sign in. Answered with 401 and the metadata URL, no `error`.
    #[error("no bearer token in the request")]
    MissingCredentials,

    /// An `Authorization: Bearer` header whose value is empty or not valid
    /// header text.
    #[error("the bearer credential is empty or not valid text")]
    MalformedCredentials,

    /// The token is larger than the configured limit (16 KiB by default);
    /// it was refused before any parsing.
    #[error("token is {size} bytes, over the {limit}-byte limit")]
    TooLarge {
        /// Size of the presented token.
        size: usize,
        /// The configured limit.
        limit: usize,
    },

    /// Not a JWS compact serialization: wrong number of segments, bad
    /// base64url, or a header or payload that is not the expected JSON.
    #[error("malformed token: {0}")]
    Malformed(&'static str),

    /// The header names an algorithm other than RS256 (`none`, HS256 with
    /// the public key as secret, ES256, PS256, ...). RS256 is pinned by us:
    /// Entra's JWKS has no `alg` to trust.
    #[error("algorithm {got:?} is not accepted, only RS256")]
    AlgorithmNotAllowed {
        /// The header's `alg`.
        got: String,
    },

    /// The header has no `kid`: the key cannot be chosen.
    #[error("token header has no kid")]
    MissingKid,

    /// The header has a `nonce`: a Microsoft Graph token, which only Graph
    /// can validate and which was never meant for this API.
    #[error("token header carries a nonce: a Microsoft Graph token, not for this API")]
    GraphToken,

    /// A required claim is absent or has the wrong type.
    #[error("claim {0:?} is missing or malformed")]
    MissingClaim(&'static str),

    /// `ver` is neither `1.0` nor `2.0`.
    #[error("unsupported token version {got:?}")]
    UnsupportedVersion {
        /// The `ver` claim.
        got: String,
    },

    /// `tid` is not a GUID.
    #[error("tid is not a GUID")]
    InvalidTenantId,

    /// `tid` is not on the allow-list: no keys of it are ever fetched.
    #[error("tenant {tenant_id} is not allowed")]
    TenantNotAllowed {
        /// The token's tenant.
        tenant_id: TenantId,
    },

    /// A Microsoft personal account (tenant `9188040d-…`), refused unless
    /// enabled.
    #[error("personal Microsoft accounts are not accepted")]
    PersonalAccount,

    /// `iss` is not the issuer that the token's version and `tid` require:
    /// another tenant's issuer with this `tid`, a v1 issuer on a v2 token, a
    /// foreign authority.
    #[error("issuer mismatch: expected {expected:?}, got {got:?}")]
    IssuerMismatch {
        /// The issuer derived from `ver` and `tid`.
        expected: String,
        /// The token's `iss`.
        got: String,
    },

    /// No key with this `kid` in the tenant's JWKS, even after the refresh
    /// the rate limit allowed.
    #[error("no signing key {kid:?} for issuer {issuer:?}")]
    UnknownKid {
        /// The header's `kid`.
        kid: String,
        /// The issuer whose keys were searched.
        issuer: String,
    },

    /// The key that matched `kid` carries an `issuer` member that does not
    /// match the token's `iss` (after `{tenantid}` → `tid`), or none at all.
    #[error("signing key issuer mismatch: key is for {key_issuer:?}, token from {token_issuer:?}")]
    KeyIssuerMismatch {
        /// The key's `issuer` member, if any.
        key_issuer: Option<String>,
        /// The token's `iss`.
        token_issuer: String,
    },

    /// The RS256 signature does not verify with the key.
    #[error("signature does not verify")]
    InvalidSignature,

    /// `aud` is none of the configured client id and App ID URIs.
    #[error("audience {got:?} is not accepted")]
    AudienceMismatch {
        /// The token's `aud` values.
        got: Vec<String>,
    },

    /// `exp` is in the past (beyond the leeway).
    #[error("token expired at {exp:?} (now {now:?})")]
    Expired {
        /// The validator's clock.
        now: SystemTime,
        /// The token's `exp`.
        exp: SystemTime,
    },

    /// `nbf` is in the future (beyond the leeway).
    #[error("token not valid before {nbf:?} (now {now:?})")]
    NotYetValid {
        /// The validator's clock.
        now: SystemTime,
        /// The token's `nbf`.
        nbf: SystemTime,
    },

    /// Neither `scp` nor `roles`: the token grants nothing (or a kind is
    /// required that the token lacks).
    #[error("token has no {expected}")]
    NoPermissions {
        /// What was required: "scp or roles", "scp", "roles".
        expected: &'static str,
    },

    /// The token is valid but lacks a scope or role a route requires.
    /// Answered 403 `insufficient_scope`.
    #[error("token lacks a required scope or role")]
    InsufficientScope {
        /// The scopes a client should request (fully qualified).
        required_scopes: Vec<String>,
        /// App roles that would also have been accepted.
        accepted_roles: Vec<String>,
    },

    /// The tenant's signing keys could not be fetched and none are cached.
    /// Answered 503: the server cannot judge the token, the client is not
    /// at fault.
    #[error("no signing keys for issuer {issuer:?}: {source}")]
    KeysUnavailable {
        /// The issuer whose keys were wanted.
        issuer: String,
        /// Why fetching failed.
        #[source]
        source: KeyFetchError,
    },
}

impl Error {
    /// A stable, machine-readable name of the rule that refused the token
    /// (`expired`, `audience_mismatch`, …), for audit records and metrics. It
    /// names the rule, never a value from the token.
    pub fn code(&self) -> &'static str {
        match self {
            Error::MissingCredentials => "missing_credentials",
            Error::MalformedCredentials => "malformed_credentials",
            Error::TooLarge { .. } => "token_too_large",
            Error::Malformed(_) => "malformed_token",
            Error::AlgorithmNotAllowed { .. } => "algorithm_not_allowed",
            Error::MissingKid => "missing_kid",
            Error::GraphToken => "graph_token",
            Error::MissingClaim(_) => "missing_claim",
            Error::UnsupportedVersion { .. } => "unsupported_version",
            Error::InvalidTenantId => "invalid_tenant_id",
            Error::TenantNotAllowed { .. } => "tenant_not_allowed",
            Error::PersonalAccount => "personal_account",
            Error::IssuerMismatch { .. } => "issuer_mismatch",
            Error::UnknownKid { .. } => "unknown_kid",
            Error::KeyIssuerMismatch { .. } => "key_issuer_mismatch",
            Error::InvalidSignature => "invalid_signature",
            Error::AudienceMismatch { .. } => "audience_mismatch",
            Error::Expired { .. } => "expired",
            Error::NotYetValid { .. } => "not_yet_valid",
            Error::NoPermissions { .. } => "no_permissions",
            Error::InsufficientScope { .. } => "insufficient_scope",
            Error::KeysUnavailable { .. } => "keys_unavailable",
        }
    }

    /// The RFC 6750 error code for the `WWW-Authenticate` header, or `None`
    /// when the request carried no credentials (no code then, per RFC 6750
    /// §3.1) or the server is at fault.
    pub fn oauth_error_code(&self) -> Option<&'static str> {
        match self {
            Error::MissingCredentials | Error::KeysUnavailable { .. } => None,
            Error::InsufficientScope { .. } => Some("insufficient_scope"),
            _ => Some("invalid_token"),
        }
    }

    /// A short, fixed sentence for the client (`error_description` and the
    /// JSON body). It never contains anything taken from the token.
    pub fn description(&self) -> &'static str {
        match self {
            Error::MissingCredentials => "authentication required",
            Error::MalformedCredentials => "the bearer credential is malformed",
            Error::TooLarge { .. } => "the token is too large",
            Error::Malformed(_) => "the token is malformed",
            Error::AlgorithmNotAllowed { .. } => "the token's signing algorithm is not accepted",
            Error::MissingKid => "the token has no key id",
            Error::GraphToken => "the token is for another resource (Microsoft Graph)",
            Error::MissingClaim(_) => "the token lacks a required claim",
            Error::UnsupportedVersion { .. } => "the token version is not supported",
            Error::InvalidTenantId => "the token's tenant id is malformed",
            Error::TenantNotAllowed { .. } => "the token's tenant is not accepted here",
            Error::PersonalAccount => "personal Microsoft accounts are not accepted",
            Error::IssuerMismatch { .. } => "the token's issuer is not accepted",
            Error::UnknownKid { .. } => "the token's signing key is unknown",
            Error::KeyIssuerMismatch { .. } => "the token's signing key belongs to another issuer",
            Error::InvalidSignature => "the token's signature is invalid",
            Error::AudienceMismatch { .. } => "the token is for another audience",
            Error::Expired { .. } => "the token has expired",
            Error::NotYetValid { .. } => "the token is not valid yet",
            Error::NoPermissions { .. } => "the token grants no scopes or roles",
            Error::InsufficientScope { .. } => "the token lacks a required scope",
            Error::KeysUnavailable { .. } => "signing keys are temporarily unavailable",
        }
    }
}

/// Why a tenant's JWKS could not be fetched or used.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum KeyFetchError {
    /// Connecting or reading failed (DNS, refused, reset, TLS).
    #[error("request failed: {0}")]
    Http(String),
    /// The endpoint did not answer within the timeout.
    #[error("timed out after {0:?}")]
    Timeout(std::time::Duration),
    /// The endpoint answered with a non-success status.
    #[error("unexpected status {0}")]
    Status(u16),
    /// The body exceeded the configured size limit.
    #[error("response exceeds {limit} bytes")]
    TooLarge {
        /// The configured limit.
        limit: usize,
    },
    /// The body is not a JWKS document.
    #[error("invalid JWKS document: {0}")]
    InvalidDocument(String),
    /// A previous fetch failed recently; the retry is held back to protect
    /// the endpoint (and us) from hammering.
    #[error("held back after a recent failure: {0}")]
    Backoff(Box<KeyFetchError>),
}

/// A configuration that cannot be served. Returned by builders before any
/// request is handled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A required setting was not given.
    #[error("{field}: required")]
    Missing {
        /// The builder setting.
        field: &'static str,
    },
    /// A setting has a value that cannot work.
    #[error("{field}: {value:?} {reason}")]
    Invalid {
        /// The builder setting.
        field: &'static str,
        /// The offending value.
        value: String,
        /// Why it was refused.
        reason: &'static str,
    },
}
