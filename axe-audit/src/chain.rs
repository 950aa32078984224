//! The hash chain.
//!
//! Each row's `hash` is `SHA-256(prev_hash ‖ canonical JSON of the row)`, where the JSON is
//! the row without `prev_hash` and `hash`, canonicalized per RFC 8785 (JCS, with the
//! maintained `serde_json_canonicalizer` crate): sorted keys, no whitespace, ECMAScript number
//! formatting. Timestamps are integers (microseconds since the epoch) so they survive the
//! round trip through `timestamptz` exactly. The first row's `prev_hash` is [`GENESIS`].
//!
//! ```
//! use axe_audit::chain::{GENESIS, link_hash};
//! use axe_audit::{AuditEvent, NewEvent, Outcome};
//! use axe_isolation::EntityId;
//!
//! let entity = EntityId::new("acme").unwrap();
//! let row = AuditEvent::chained(NewEvent::new("contoso", "login", Outcome::Ok), &entity, 1, GENESIS)
//!     .unwrap();
//! assert_eq!(link_hash(&row).unwrap(), row.hash);
//! ```

use axe_isolation::EntityId;
use serde::Serialize;
use sha2_v011::{Digest, Sha256};

use crate::error::Error;
use crate::event::{Actor, AuditEvent, Outcome, Source, Target};

/// The `prev_hash` of an entity's first row.
pub const GENESIS: [u8; 32] = [0; 32];

/// The hashed view of a row: everything but `prev_hash` and `hash`.
#[derive(Serialize)]
struct Canonical<'a> {
    v: u8,
    id: String,
    seq: i64,
    occurred_at_us: i64,
    recorded_at_us: i64,
    customer: &'a str,
    entity: &'a str,
    actor: &'a Actor,
    action: &'a str,
    target: Option<&'a Target>,
    outcome: &'a Outcome,
    request_id: Option<&'a str>,
    session_id: Option<&'a str>,
    source: &'a Source,
    via: Option<&'a str>,
    args_digest: Option<&'a str>,
}

/// The RFC 8785 canonical JSON of `row` (without `prev_hash` and `hash`).
///
/// # Errors
///
/// [`Error::Canonical`] if serialization fails.
pub fn canonical_json(row: &AuditEvent) -> Result<Vec<u8>, Error> {
    let view = Canonical {
        v: 1,
        id: row.id.hyphenated().to_string(),
        seq: row.seq,
        occurred_at_us: row.occurred_at.as_micros(),
        recorded_at_us: row.recorded_at.as_micros(),
        customer: &row.customer,
        entity: &row.entity,
        actor: &row.actor,
        action: &row.action,
        target: row.target.as_ref(),
        outcome: &row.outcome,
        request_id: row.request_id.as_deref(),
        session_id: row.session_id.as_deref(),
        source: &row.source,
        via: row.via.as_deref(),
        args_digest: row.args_digest.as_deref(),
    };
    serde_json_canonicalizer::to_vec(&view).map_err(|e| Error::Canonical(e.to_string()))
}

/// `SHA-256(row.prev_hash ‖ canonical_json(row))`: the hash `row` must carry.
///
/// # Errors
///
/// [`Error::Canonical`] if serialization fails.
pub fn link_hash(row: &AuditEvent) -> Result<[u8; 32], Error> {
    let json = canonical_json(row)?;
    let mut hasher = Sha256::new();
    hasher.update(row.prev_hash);
    hasher.update(&json);
    Ok(hasher.finalize().into())
}

/// The transaction-scoped advisory lock key that serializes writers of `entity`'s chain: the
/// first 8 bytes of `SHA-256("axe-audit:" ‖ schema)`, big-endian. Distinct from
/// `axe_isolation::entity_lock_key`, so recording does not wait for migrations.
#[must_use]
pub fn lock_key(entity: &EntityId) -> i64 {
    let digest = Sha256::digest(format!("axe-audit:{}", entity.schema()).as_bytes());
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::NewEvent;

    #[test]
    fn canonical_json_is_sorted_and_compact() {
        let entity = EntityId::new("acme").unwrap();
        let row = AuditEvent::chained(
            NewEvent::new("contoso", "login", Outcome::Error { code: "E1".into() }),
            &entity,
            1,
            GENESIS,
        )
        .unwrap();
        let json = String::from_utf8(canonical_json(&row).unwrap()).unwrap();
        assert!(json.starts_with("{\"action\":\"login\",\"actor\":{"));
        assert!(!json.contains(' '));
        assert!(json.contains("\"outcome\":{\"code\":\"E1\",\"kind\":\"error\"}"));
    }

    #[test]
    fn any_change_changes_the_hash() {
        let entity = EntityId::new("acme").unwrap();
        let row =
            AuditEvent::chained(NewEvent::new("c", "a", Outcome::Ok), &entity, 1, GENESIS).unwrap();
        let mut other = row.clone();
        other.action = "b".into();
        assert_ne!(link_hash(&other).unwrap(), row.hash);
        let mut other = row.clone();
        other.prev_hash[0] = 1;
        assert_ne!(link_hash(&other).unwrap(), row.hash);
    }

    #[test]
    fn lock_keys_differ_per_entity() {
        let a = EntityId::new("a").unwrap();
        let b = EntityId::new("b").unwrap();
        assert_ne!(lock_key(&a), lock_key(&b));
        assert_ne!(lock_key(&a), axe_isolation::entity_lock_key(&a));
    }
}
