//! The sealed-field binary format (version 1).
//!
//! ```text
//! offset  size  field
//! 0       1     format version (1)
//! 1       4     DEK version, u32 big-endian
//! 5       12    AES-GCM nonce (random)
//! 17      n     ciphertext (n = plaintext length)
//! 17+n    16    GCM tag
//! ```
//!
//! The associated data binds the value to its place; see [`aad`].

use crate::error::Error;

/// The current format version.
pub const FORMAT_V1: u8 = 1;
/// Bytes before the ciphertext.
pub const HEADER_LEN: usize = 1 + 4 + NONCE_LEN;
/// The nonce length.
pub const NONCE_LEN: usize = 12;
/// The GCM tag length.
pub const TAG_LEN: usize = 16;

/// Why a sealed value could not be parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FormatError {
    /// Shorter than header plus tag.
    #[error("sealed value too short: {len} bytes, at least {min} needed")]
    TooShort {
        /// The length found.
        len: usize,
        /// The minimum.
        min: usize,
    },
    /// A format version this build does not know.
    #[error("unknown sealed format version {0}")]
    UnknownVersion(u8),
}

/// A parsed sealed value, borrowing its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parsed<'a> {
    /// The format version.
    pub format: u8,
    /// The DEK version that sealed it.
    pub dek_version: u32,
    /// The nonce.
    pub nonce: &'a [u8],
    /// Ciphertext followed by the tag.
    pub ciphertext: &'a [u8],
}

/// Splits a sealed value into its parts (no decryption). Never panics.
///
/// # Errors
///
/// [`FormatError`] if the bytes are too short or of an unknown version.
pub fn parse(bytes: &[u8]) -> Result<Parsed<'_>, FormatError> {
    let min = HEADER_LEN + TAG_LEN;
    let Some((&format, rest)) = bytes.split_first() else {
        return Err(FormatError::TooShort { len: 0, min });
    };
    if format != FORMAT_V1 {
        return Err(FormatError::UnknownVersion(format));
    }
    if bytes.len() < min {
        return Err(FormatError::TooShort {
            len: bytes.len(),
            min,
        });
    }
    let (version, rest) = rest.split_at(4);
    let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
    let mut v = [0u8; 4];
    v.copy_from_slice(version);
    Ok(Parsed {
        format,
        dek_version: u32::from_be_bytes(v),
        nonce,
        ciphertext,
    })
}

/// The associated data of a field: format version ‖ entity ‖ table ‖ column ‖ row id ‖ DEK
/// version, each string prefixed with its length (u32 big-endian) so no two contexts collide.
#[must_use]
pub fn aad(
    format: u8,
    entity: &str,
    table: &str,
    column: &str,
    row_id: &str,
    dek_version: u32,
) -> Vec<u8> {
    let mut out =
        Vec::with_capacity(1 + 16 + entity.len() + table.len() + column.len() + row_id.len() + 4);
    out.push(format);
    for part in [entity, table, column, row_id] {
        out.extend_from_slice(&u32::try_from(part.len()).unwrap_or(u32::MAX).to_be_bytes());
        out.extend_from_slice(part.as_bytes());
    }
    out.extend_from_slice(&dek_version.to_be_bytes());
    out
}

impl From<FormatError> for Error {
    fn from(e: FormatError) -> Self {
        Error::Crypto(crate::error::CryptoError::Format(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = parse(&bytes);
        }
    }

    #[test]
    fn parses_its_parts() {
        let mut bytes = vec![1, 0, 0, 0, 7];
        bytes.extend_from_slice(&[9; 12]);
        bytes.extend_from_slice(&[5; 16]);
        let p = parse(&bytes).unwrap();
        assert_eq!(
            (p.dek_version, p.nonce, p.ciphertext.len()),
            (7, &[9u8; 12][..], 16)
        );
        assert_eq!(
            parse(&bytes[..32]),
            Err(FormatError::TooShort { len: 32, min: 33 })
        );
        assert_eq!(parse(&[2; 40]), Err(FormatError::UnknownVersion(2)));
    }

    #[test]
    fn aad_parts_cannot_slide() {
        assert_ne!(
            aad(1, "ab", "c", "d", "e", 1),
            aad(1, "a", "bc", "d", "e", 1)
        );
    }
}
