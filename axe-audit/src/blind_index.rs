//! Blind indexes: `HMAC-SHA256(blind-index key, normalized value)`, truncated, for equality
//! search on a sealed column without decrypting it.

use hmac::{Hmac, KeyInit, Mac};
use sha2_v011::Sha256;

/// The default blind-index length in bytes (128 bits).
pub const DEFAULT_BLIND_INDEX_LEN: usize = 16;

/// `HMAC-SHA256(key, value)` truncated to `len` bytes (at most 32, at least 1).
pub(crate) fn compute(key: &[u8; 32], value: &[u8], len: usize) -> Vec<u8> {
    let Ok(mut mac) = <Hmac<Sha256> as KeyInit>::new_from_slice(key) else {
        // HMAC takes keys of any length; this branch is never taken.
        return Vec::new();
    };
    mac.update(value);
    let tag = mac.finalize().into_bytes();
    tag[..len.clamp(1, tag.len())].to_vec()
}

/// A common normalization for email addresses: trimmed and lower-cased.
#[must_use]
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}
