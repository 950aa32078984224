//! Keyed digests of tool arguments: [`Envelope::args_digest`] and [`ArgsDigest`].
//!
//! An audit event never holds a tool's arguments in clear. It holds
//! `HMAC-SHA256(args key, JCS(arguments))`, where JCS is the RFC 8785 canonical JSON (key
//! order and whitespace do not matter) and the args key is
//! `HKDF-SHA256(DEK, info = "axe/v1/args")` from the entity's current data key. Without the
//! key, a digest reveals nothing and cannot be tested against guessed arguments; with it, an
//! operator can check whether a recorded call had given arguments. Shredding the entity
//! destroys the key, so its digests become unlinkable to any arguments.
//!
//! The text form is `v<DEK version>:<64 hex digits>`, so a digest names the key that made it
//! (digests of the same arguments under different DEK versions differ).
//!
//! ```no_run
//! use axe_audit::{Envelope, NewEvent, Outcome};
//! use axe_isolation::EntityId;
//!
//! # async fn run(envelope: Envelope) -> Result<(), axe_audit::Error> {
//! let acme = EntityId::new("acme")?;
//! let args = serde_json::json!({"id": 42, "email": "ada@example.com"});
//! let digest = envelope.args_digest(&acme, &args).await?;
//! let event = NewEvent::new("contoso", "mcp.tools/call:records_put", Outcome::Ok)
//!     .args_digest(digest);
//! # let _ = event;
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::str::FromStr;

use axe_isolation::EntityId;
use hmac::{Hmac, KeyInit, Mac};
use sha2_v011::Sha256;

use crate::envelope::Envelope;
use crate::error::Error;
use crate::keys::DataKey;

/// HKDF info of the args-digest key.
pub const ARGS_LABEL: &str = "axe/v1/args";

/// A keyed digest of a call's arguments and the DEK version whose key made it. `Display` and
/// `Into<String>` give `v<version>:<hex>`, the form stored in [`NewEvent::args_digest`](crate::NewEvent).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ArgsDigest {
    dek_version: u32,
    mac: [u8; 32],
}

impl ArgsDigest {
    /// The DEK version whose args key made the digest.
    #[must_use]
    pub fn dek_version(&self) -> u32 {
        self.dek_version
    }

    /// The 32-byte HMAC.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.mac
    }
}

impl fmt::Display for ArgsDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}:{}", self.dek_version, hex::encode(self.mac))
    }
}

impl fmt::Debug for ArgsDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ArgsDigest({self})")
    }
}

impl From<ArgsDigest> for String {
    fn from(digest: ArgsDigest) -> Self {
        digest.to_string()
    }
}

/// A text that is not `v<u32>:<64 hex digits>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not an args digest (expected v<DEK version>:<64 hex digits>)")]
pub struct ArgsDigestParseError;

impl FromStr for ArgsDigest {
    type Err = ArgsDigestParseError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (version, mac_hex) = text
            .strip_prefix('v')
            .and_then(|rest| rest.split_once(':'))
            .ok_or(ArgsDigestParseError)?;
        if version.is_empty() || !version.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ArgsDigestParseError);
        }
        let dek_version = version.parse().map_err(|_| ArgsDigestParseError)?;
        let mut mac = [0u8; 32];
        hex::decode_to_slice(mac_hex, &mut mac).map_err(|_| ArgsDigestParseError)?;
        Ok(Self { dek_version, mac })
    }
}

/// The digest of `args` under data key `dek` (no database): the building block of
/// [`Envelope::args_digest`].
///
/// # Errors
///
/// [`Error::Canonical`] if `args` cannot be canonicalized (e.g. a number JCS cannot represent).
pub fn args_digest_with(dek: &DataKey, args: &serde_json::Value) -> Result<ArgsDigest, Error> {
    let json =
        serde_json_canonicalizer::to_vec(args).map_err(|e| Error::Canonical(e.to_string()))?;
    let key = dek.derive_info(ARGS_LABEL);
    let Ok(mut mac) = <Hmac<Sha256> as KeyInit>::new_from_slice(key.as_slice()) else {
        // HMAC takes keys of any length; this branch is never taken.
        return Err(Error::Canonical("HMAC key refused".into()));
    };
    mac.update(&json);
    Ok(ArgsDigest {
        dek_version: dek.version(),
        mac: mac.finalize().into_bytes().into(),
    })
}

impl Envelope {
    /// `HMAC-SHA256` of the RFC 8785 canonical JSON of `args`, keyed by the args key of
    /// `entity`'s current data key (created if the entity has none yet).
    ///
    /// # Errors
    ///
    /// As [`Envelope::current_key`]; [`Error::Canonical`] for arguments JCS cannot represent.
    pub async fn args_digest(
        &self,
        entity: &EntityId,
        args: &serde_json::Value,
    ) -> Result<ArgsDigest, Error> {
        let dek = self.current_key(entity).await?;
        args_digest_with(&dek, args)
    }

    /// Whether `recorded` (an [`ArgsDigest`] in text form, as stored in an event) is the
    /// digest of `args` under the DEK version it names. `Ok(false)` for a text that is not a
    /// digest or does not match.
    ///
    /// # Errors
    ///
    /// As [`Envelope::data_key`] (after [`Envelope::shred`] the key is gone, so this fails
    /// rather than answering).
    pub async fn check_args_digest(
        &self,
        entity: &EntityId,
        args: &serde_json::Value,
        recorded: &str,
    ) -> Result<bool, Error> {
        let Ok(recorded) = recorded.parse::<ArgsDigest>() else {
            return Ok(false);
        };
        let dek = self.data_key(entity, recorded.dek_version).await?;
        let ours = args_digest_with(&dek, args)?;
        // Constant time is not needed here: both values are digests the caller may see.
        Ok(ours == recorded)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zeroize::Zeroizing;

    fn dek(version: u32, byte: u8) -> DataKey {
        DataKey::new(version, Zeroizing::new([byte; 32]))
    }

    #[test]
    fn key_order_and_whitespace_do_not_matter() {
        let a: serde_json::Value =
            serde_json::from_str(r#"{"b": [1, 2], "a": {"y": "x", "x": 1.0}}"#).unwrap();
        let b: serde_json::Value =
            serde_json::from_str(r#"{"a":{"x":1,"y":"x"},"b":[1,2]}"#).unwrap();
        let key = dek(1, 3);
        assert_eq!(
            args_digest_with(&key, &a).unwrap(),
            args_digest_with(&key, &b).unwrap()
        );
        let c = serde_json::json!({"a": {"x": 1, "y": "x"}, "b": [2, 1]});
        assert_ne!(
            args_digest_with(&key, &a).unwrap(),
            args_digest_with(&key, &c).unwrap()
        );
    }

    #[test]
    fn other_key_or_version_gives_other_digest() {
        let args = serde_json::json!({"q": "ada"});
        let one = args_digest_with(&dek(1, 3), &args).unwrap();
        assert_ne!(one, args_digest_with(&dek(1, 4), &args).unwrap());
        assert_ne!(one, args_digest_with(&dek(2, 3), &args).unwrap());
    }

    #[test]
    fn text_form_round_trips_and_hostile_text_is_refused() {
        let digest = args_digest_with(&dek(7, 3), &serde_json::json!([1])).unwrap();
        let text = String::from(digest);
        assert!(text.starts_with("v7:"));
        assert_eq!(text.len(), 3 + 64);
        assert_eq!(text.parse::<ArgsDigest>().unwrap(), digest);
        let hex64 = "ab".repeat(32);
        for bad in [
            String::new(),
            "v".into(),
            "v:".into(),
            format!("v:{hex64}"),
            format!("7:{hex64}"),
            format!("v-1:{hex64}"),
            format!("v+1:{hex64}"),
            format!("v4294967296:{hex64}"),
            format!("v1:{}", &hex64[..63]),
            format!("v1:{hex64}00"),
            format!("v1:{}zz", &hex64[..62]),
            format!("v1:{hex64}:"),
            "v1:é".into(),
        ] {
            assert!(bad.parse::<ArgsDigest>().is_err(), "{bad:?}");
        }
    }
}
