//! What an audit row holds: [`NewEvent`] (given by the caller) and [`AuditEvent`] (as
//! recorded, with its place in the chain).
//!
//! No PII in clear belongs in an event: the actor is identified by Entra's `(tid, oid)` and a
//! client id; `display_name` is an attribute for humans (not a key) and should be left `None`
//! or sealed when it is personal data; tool arguments go in as a keyed digest only.
//!
//! ```
//! use axe_audit::{NewEvent, Outcome, Actor, Target};
//!
//! let event = NewEvent::new("contoso", "mcp.tools/call:records_put", Outcome::Ok)
//!     .actor(Actor {
//!         tid: Some("72f988bf-86f1-41af-91ab-2d7cd011db47".into()),
//!         oid: Some("00000000-0000-0000-0000-000000000001".into()),
//!         ..Actor::default()
//!     })
//!     .target(Target::new("record", "42"))
//!     .request_id("req-1");
//! assert_eq!(event.action, "mcp.tools/call:records_put");
//! ```

use std::time::{SystemTime, UNIX_EPOCH};

use axe_isolation::EntityId;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A UTC instant with microsecond precision (what PostgreSQL's `timestamptz` stores), as
/// microseconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(i64);

impl Timestamp {
    /// The instant `micros` microseconds after 1970-01-01T00:00:00Z.
    #[must_use]
    pub const fn from_micros(micros: i64) -> Self {
        Self(micros)
    }

    /// Microseconds since the Unix epoch.
    #[must_use]
    pub const fn as_micros(self) -> i64 {
        self.0
    }

    /// The current time, truncated to microseconds (a clock before 1970 reads as the epoch).
    #[must_use]
    pub fn now() -> Self {
        let micros = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        Self(micros)
    }
}

/// Who acted: Entra's `(tid, oid)`, the client application, and a display name kept as an
/// attribute (never used as a key).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    /// The directory (tenant) id of the token.
    pub tid: Option<String>,
    /// The user's or service principal's object id in that directory.
    pub oid: Option<String>,
    /// The client application (`azp`/`appid`).
    pub client_id: Option<String>,
    /// A human-readable name, for display only; mutable upstream, so never a key.
    pub display_name: Option<String>,
}

/// What was acted on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    /// The kind of object (`record`, `session`, `key`...).
    #[serde(rename = "type")]
    pub kind: String,
    /// Its identifier.
    pub id: String,
}

impl Target {
    /// A target of kind `kind` with id `id`.
    #[must_use]
    pub fn new(kind: impl Into<String>, id: impl Into<String>) -> Self {
        Self {
            kind: kind.into(),
            id: id.into(),
        }
    }
}

/// How the action ended.
///
/// Serialized (and hashed) as `{"kind": <name>}`, plus `"code"` for the variants that carry
/// one: `ok`, `denied`, `invalid_input`, `error` + code, and `denied` + code for
/// [`Outcome::DeniedWith`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "OutcomeRepr", try_from = "OutcomeRepr")]
pub enum Outcome {
    /// It succeeded.
    Ok,
    /// Authorization refused it.
    Denied,
    /// The input was rejected.
    InvalidInput,
    /// It failed, with a machine-readable code.
    Error {
        /// An error code (no message text: messages may carry data).
        code: String,
    },
    /// Authentication, tenancy or authorization refused it, with a machine-readable reason
    /// code (e.g. `token_expired`); stored as outcome `denied` with that code.
    DeniedWith {
        /// The reason code (no message text).
        code: String,
    },
}

impl Outcome {
    /// The name stored in the `outcome` column.
    #[must_use]
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Denied | Self::DeniedWith { .. } => "denied",
            Self::InvalidInput => "invalid_input",
            Self::Error { .. } => "error",
        }
    }

    /// The code, for [`Outcome::Error`] and [`Outcome::DeniedWith`].
    #[must_use]
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Error { code } | Self::DeniedWith { code } => Some(code),
            _ => None,
        }
    }

    /// Rebuilds an outcome from its stored columns (`None` if `kind` is unknown, an `error`
    /// lacks its code, or `ok`/`invalid_input` has one).
    #[must_use]
    pub fn from_parts(kind: &str, code: Option<String>) -> Option<Self> {
        match (kind, code) {
            ("ok", None) => Some(Self::Ok),
            ("denied", None) => Some(Self::Denied),
            ("denied", Some(code)) => Some(Self::DeniedWith { code }),
            ("invalid_input", None) => Some(Self::InvalidInput),
            ("error", Some(code)) => Some(Self::Error { code }),
            _ => None,
        }
    }
}

/// The serialized shape of [`Outcome`].
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct OutcomeRepr {
    kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    code: Option<String>,
}

impl From<Outcome> for OutcomeRepr {
    fn from(outcome: Outcome) -> Self {
        Self {
            kind: outcome.as_str().to_owned(),
            code: outcome.code().map(str::to_owned),
        }
    }
}

impl TryFrom<OutcomeRepr> for Outcome {
    type Error = String;

    fn try_from(repr: OutcomeRepr) -> Result<Self, String> {
        let kind = repr.kind;
        Self::from_parts(&kind, repr.code).ok_or_else(|| format!("invalid outcome {kind:?}"))
    }
}

/// Where the request came from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    /// The client's IP address as seen by the server.
    pub ip: Option<String>,
    /// The `User-Agent` header.
    pub user_agent: Option<String>,
}

/// An event as the caller describes it; [`record`](crate::record) adds id, sequence number,
/// recording time, entity and chain hashes.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct NewEvent {
    /// When the action happened (default: when the event was built).
    pub occurred_at: Timestamp,
    /// The customer (DNS label) the request was resolved to.
    pub customer: String,
    /// Who acted.
    pub actor: Actor,
    /// What was done, e.g. `mcp.tools/call:records_put`.
    pub action: String,
    /// What it was done to.
    pub target: Option<Target>,
    /// How it ended.
    pub outcome: Outcome,
    /// The request id (trace correlation).
    pub request_id: Option<String>,
    /// The MCP session id.
    pub session_id: Option<String>,
    /// Where the request came from.
    pub source: Source,
    /// How the tenancy was resolved (axe-tenant's resolution signal).
    pub via: Option<String>,
    /// A keyed digest (HMAC) of the arguments, hex; never the arguments themselves.
    pub args_digest: Option<String>,
}

impl NewEvent {
    /// An event for `customer`, `action` and `outcome`, occurring now; the other parts empty.
    #[must_use]
    pub fn new(customer: impl Into<String>, action: impl Into<String>, outcome: Outcome) -> Self {
        Self {
            occurred_at: Timestamp::now(),
            customer: customer.into(),
            actor: Actor::default(),
            action: action.into(),
            target: None,
            outcome,
            request_id: None,
            session_id: None,
            source: Source::default(),
            via: None,
            args_digest: None,
        }
    }

    /// Sets when the action happened.
    #[must_use]
    pub fn occurred_at(mut self, at: Timestamp) -> Self {
        self.occurred_at = at;
        self
    }

    /// Sets the actor.
    #[must_use]
    pub fn actor(mut self, actor: Actor) -> Self {
        self.actor = actor;
        self
    }

    /// Sets the target.
    #[must_use]
    pub fn target(mut self, target: Target) -> Self {
        self.target = Some(target);
        self
    }

    /// Sets the request id.
    #[must_use]
    pub fn request_id(mut self, id: impl Into<String>) -> Self {
        self.request_id = Some(id.into());
        self
    }

    /// Sets the MCP session id.
    #[must_use]
    pub fn session_id(mut self, id: impl Into<String>) -> Self {
        self.session_id = Some(id.into());
        self
    }

    /// Sets the request's source.
    #[must_use]
    pub fn source(mut self, source: Source) -> Self {
        self.source = source;
        self
    }

    /// Sets the tenancy resolution signal.
    #[must_use]
    pub fn via(mut self, via: impl Into<String>) -> Self {
        self.via = Some(via.into());
        self
    }

    /// Sets the arguments' keyed digest (hex).
    #[must_use]
    pub fn args_digest(mut self, digest: impl Into<String>) -> Self {
        self.args_digest = Some(digest.into());
        self
    }
}

/// A recorded audit row: the caller's event plus its identity and its link in the entity's
/// chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// A UUIDv7 (time-ordered) id.
    pub id: Uuid,
    /// The position in the entity's chain: 1, 2, 3... without gaps.
    pub seq: i64,
    /// When the action happened.
    pub occurred_at: Timestamp,
    /// When the row was written.
    pub recorded_at: Timestamp,
    /// The customer.
    pub customer: String,
    /// The entity whose log holds the row.
    pub entity: String,
    /// Who acted.
    pub actor: Actor,
    /// What was done.
    pub action: String,
    /// What it was done to.
    pub target: Option<Target>,
    /// How it ended.
    pub outcome: Outcome,
    /// The request id.
    pub request_id: Option<String>,
    /// The MCP session id.
    pub session_id: Option<String>,
    /// Where the request came from.
    pub source: Source,
    /// How the tenancy was resolved.
    pub via: Option<String>,
    /// The arguments' keyed digest.
    pub args_digest: Option<String>,
    /// The previous row's `hash` (32 zero bytes for seq 1), hex.
    #[serde(with = "hex_array")]
    pub prev_hash: [u8; 32],
    /// `SHA-256(prev_hash ‖ canonical JSON of this event)`, hex.
    #[serde(with = "hex_array")]
    pub hash: [u8; 32],
}

impl AuditEvent {
    /// Builds the row for `event` at `seq` in `entity`'s chain after `prev_hash`; the hash is
    /// computed here.
    ///
    /// # Errors
    ///
    /// [`Error::Canonical`](crate::Error::Canonical) if the event cannot be serialized.
    pub fn chained(
        event: NewEvent,
        entity: &EntityId,
        seq: i64,
        prev_hash: [u8; 32],
    ) -> Result<Self, crate::Error> {
        Self::chained_for(event, entity.as_str(), seq, prev_hash)
    }

    /// As [`AuditEvent::chained`], with the entity as text (the operator log uses the
    /// affected entity, or an empty string).
    ///
    /// # Errors
    ///
    /// [`Error::Canonical`](crate::Error::Canonical) if the event cannot be serialized.
    pub fn chained_for(
        event: NewEvent,
        entity: &str,
        seq: i64,
        prev_hash: [u8; 32],
    ) -> Result<Self, crate::Error> {
        let mut row = Self {
            id: Uuid::now_v7(),
            seq,
            occurred_at: event.occurred_at,
            recorded_at: Timestamp::now(),
            customer: event.customer,
            entity: entity.to_owned(),
            actor: event.actor,
            action: event.action,
            target: event.target,
            outcome: event.outcome,
            request_id: event.request_id,
            session_id: event.session_id,
            source: event.source,
            via: event.via,
            args_digest: event.args_digest,
            prev_hash,
            hash: [0; 32],
        };
        row.hash = crate::chain::link_hash(&row)?;
        Ok(row)
    }

    /// The event as one line of RFC 8785 canonical JSON, without the newline: a line of
    /// [`export`](crate::export)'s JSONL.
    ///
    /// # Errors
    ///
    /// [`Error::Canonical`](crate::Error::Canonical) if serialization fails.
    pub fn to_json_line(&self) -> Result<String, crate::Error> {
        serde_json_canonicalizer::to_string(self)
            .map_err(|e| crate::Error::Canonical(e.to_string()))
    }
}

mod hex_array {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(bytes: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(bytes))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        let text = String::deserialize(d)?;
        let mut out = [0u8; 32];
        hex::decode_to_slice(text, &mut out).map_err(serde::de::Error::custom)?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcome_json_round_trips_and_refuses_nonsense() {
        for (outcome, json) in [
            (Outcome::Ok, r#"{"kind":"ok"}"#),
            (Outcome::Denied, r#"{"kind":"denied"}"#),
            (
                Outcome::DeniedWith { code: "c".into() },
                r#"{"code":"c","kind":"denied"}"#,
            ),
            (Outcome::InvalidInput, r#"{"kind":"invalid_input"}"#),
            (
                Outcome::Error { code: "E".into() },
                r#"{"code":"E","kind":"error"}"#,
            ),
        ] {
            let text = serde_json_canonicalizer::to_string(&outcome).unwrap();
            assert_eq!(text, json);
            assert_eq!(serde_json::from_str::<Outcome>(json).unwrap(), outcome);
        }
        for bad in [
            r#"{"kind":"error"}"#,
            r#"{"kind":"ok","code":"x"}"#,
            r#"{"kind":"nope"}"#,
            r#"{"kind":"ok","extra":1}"#,
            r#"{"code":"x"}"#,
            r#""ok""#,
            "null",
        ] {
            assert!(serde_json::from_str::<Outcome>(bad).is_err(), "{bad}");
        }
    }
}
