//! [`Pii`] (plaintext personal data that never prints) and [`Sealed`] (its encrypted form).
//!
//! ```
//! use axe_audit::Pii;
//!
//! let email = Pii::new("ada@example.com".to_owned());
//! assert_eq!(format!("{email} {email:?}"), "[redacted] [redacted]");
//! assert_eq!(email.expose(), "ada@example.com");
//! ```

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::format::{self, FormatError};

/// Plaintext personal data: `Debug` and `Display` print `[redacted]`; read it with
/// [`Pii::expose`]. Not `Serialize`, so it cannot slip into a log or a JSON body by accident.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Pii<T>(T);

impl<T> Pii<T> {
    /// Wraps a value.
    pub fn new(value: T) -> Self {
        Self(value)
    }

    /// The plaintext.
    pub fn expose(&self) -> &T {
        &self.0
    }

    /// Unwraps the plaintext.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> fmt::Debug for Pii<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl<T> fmt::Display for Pii<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// A sealed field in the [`format`](mod@crate::format) (store it as `bytea`; serde gives base64).
#[derive(Clone, PartialEq, Eq)]
pub struct Sealed(Vec<u8>);

impl Sealed {
    /// Takes stored bytes as they are (checked when opened; see [`Sealed::parse`]).
    #[must_use]
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    /// The stored bytes.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Unwraps the bytes.
    #[must_use]
    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }

    /// The DEK version that sealed it.
    ///
    /// # Errors
    ///
    /// [`FormatError`] if the bytes are not a sealed value.
    pub fn dek_version(&self) -> Result<u32, FormatError> {
        Ok(format::parse(&self.0)?.dek_version)
    }

    /// Checks the framing (no decryption).
    ///
    /// # Errors
    ///
    /// [`FormatError`] if the bytes are not a sealed value.
    pub fn parse(&self) -> Result<format::Parsed<'_>, FormatError> {
        format::parse(&self.0)
    }
}

impl fmt::Debug for Sealed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sealed({} bytes)", self.0.len())
    }
}

impl Serialize for Sealed {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for Sealed {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        STANDARD
            .decode(text)
            .map(Self)
            .map_err(serde::de::Error::custom)
    }
}
