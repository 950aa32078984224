//! The key hierarchy: master KEKs ([`MasterKey`], behind [`KeyProvider`]) wrap per-entity data
//! keys ([`DataKey`]); per-column keys are derived from a data key with HKDF-SHA256.
//!
//! ```
//! use axe_audit::keys::{KeyProvider, LocalKeys, MasterKey};
//!
//! let master = MasterKey::from_hex(1, &"11".repeat(32), "example").unwrap();
//! let keys = LocalKeys::new(master);
//! assert_eq!(keys.current_version(), 1);
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::Nonce as AeadNonce;
use aes_gcm::aead::{Aead, KeyInit, Payload};

type Nonce = AeadNonce<Aes256Gcm>;
use hkdf::Hkdf;
use secrecy::{ExposeSecret, SecretBox};
use sha2_v011::Sha256;
use zeroize::Zeroizing;

use crate::error::CryptoError;
use crate::format::{NONCE_LEN, TAG_LEN};

/// A 32-byte master key-encryption key and its version. Zeroized on drop; `Debug` prints only
/// the version.
pub struct MasterKey {
    version: u32,
    key: SecretBox<[u8; 32]>,
}

impl MasterKey {
    /// A master key from raw bytes.
    #[must_use]
    pub fn from_bytes(version: u32, bytes: [u8; 32]) -> Self {
        Self {
            version,
            key: SecretBox::new(Box::new(bytes)),
        }
    }

    /// A master key from 64 hex digits (surrounding whitespace ignored). `source_name` names
    /// where the text came from, for errors.
    ///
    /// # Errors
    ///
    /// [`CryptoError::InvalidMasterKey`] if the text is not 32 bytes of hex.
    pub fn from_hex(version: u32, text: &str, source_name: &str) -> Result<Self, CryptoError> {
        let text = Zeroizing::new(text.trim().to_owned());
        let mut bytes = Zeroizing::new([0u8; 32]);
        hex::decode_to_slice(text.as_bytes(), bytes.as_mut_slice()).map_err(|_| {
            CryptoError::InvalidMasterKey {
                source_name: source_name.to_owned(),
                reason: "expected 64 hex digits (32 bytes)",
            }
        })?;
        Ok(Self::from_bytes(version, *bytes))
    }

    /// Reads a key file: 32 raw bytes, or 64 hex digits.
    ///
    /// # Errors
    ///
    /// [`CryptoError::InvalidMasterKey`] if the file cannot be read or holds neither form.
    pub fn from_file(version: u32, path: impl AsRef<Path>) -> Result<Self, CryptoError> {
        let name = path.as_ref().display().to_string();
        let bytes = Zeroizing::new(std::fs::read(path.as_ref()).map_err(|_| {
            CryptoError::InvalidMasterKey {
                source_name: name.clone(),
                reason: "cannot read the file",
            }
        })?);
        if let Ok(raw) = <[u8; 32]>::try_from(bytes.as_slice()) {
            return Ok(Self::from_bytes(version, raw));
        }
        let text = std::str::from_utf8(&bytes).map_err(|_| CryptoError::InvalidMasterKey {
            source_name: name.clone(),
            reason: "neither 32 raw bytes nor 64 hex digits",
        })?;
        Self::from_hex(version, text, &name)
    }

    /// Reads 64 hex digits from the environment variable `var`.
    ///
    /// # Errors
    ///
    /// [`CryptoError::InvalidMasterKey`] if it is unset or not 32 bytes of hex.
    pub fn from_env(version: u32, var: &str) -> Result<Self, CryptoError> {
        let text =
            Zeroizing::new(
                std::env::var(var).map_err(|_| CryptoError::InvalidMasterKey {
                    source_name: var.to_owned(),
                    reason: "environment variable not set or not UTF-8",
                })?,
            );
        Self::from_hex(version, &text, var)
    }

    /// The version.
    #[must_use]
    pub fn version(&self) -> u32 {
        self.version
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MasterKey")
            .field("version", &self.version)
            .field("key", &"[redacted]")
            .finish()
    }
}

/// Wraps and unwraps data keys with a master key. Implement it for a KMS; [`LocalKeys`] holds
/// the keys in process memory.
pub trait KeyProvider: Send + Sync + fmt::Debug {
    /// The master version new data keys are wrapped with.
    fn current_version(&self) -> u32;

    /// Encrypts `dek` under master `version`, binding `aad`.
    ///
    /// # Errors
    ///
    /// [`CryptoError::UnknownMasterVersion`] if the version is not held.
    fn wrap(&self, version: u32, dek: &[u8; 32], aad: &[u8]) -> Result<Vec<u8>, CryptoError>;

    /// Decrypts a wrapped data key.
    ///
    /// # Errors
    ///
    /// [`CryptoError::UnknownMasterVersion`], or [`CryptoError::Tampered`] when the wrapped
    /// bytes or `aad` do not authenticate under that master key.
    fn unwrap(
        &self,
        version: u32,
        wrapped: &[u8],
        aad: &[u8],
    ) -> Result<Zeroizing<[u8; 32]>, CryptoError>;
}

/// A boxed future of an [`AsyncKeyProvider`] call.
pub type KeyFuture<'a, T> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<T, CryptoError>> + Send + 'a>>;

/// [`KeyProvider`] for a key service reached over the network (a cloud KMS, an HSM, Vault):
/// wrapping and unwrapping are asynchronous. Give it to
/// [`Envelope::with_async_provider`](crate::Envelope::with_async_provider). Unwrapped data
/// keys are cached by the envelope, so a warm key costs no call.
///
/// ```
/// use axe_audit::CryptoError;
/// use axe_audit::keys::{AsyncKeyProvider, KeyFuture, KeyProvider, LocalKeys, MasterKey};
/// use zeroize::Zeroizing;
///
/// /// Stands for a KMS client.
/// #[derive(Debug)]
/// struct Kms(LocalKeys);
///
/// impl AsyncKeyProvider for Kms {
///     fn current_version(&self) -> u32 {
///         self.0.current_version()
///     }
///     fn wrap<'a>(&'a self, version: u32, dek: &'a [u8; 32], aad: &'a [u8]) -> KeyFuture<'a, Vec<u8>> {
///         Box::pin(async move { self.0.wrap(version, dek, aad) })
///     }
///     fn unwrap<'a>(&'a self, version: u32, wrapped: &'a [u8], aad: &'a [u8])
///         -> KeyFuture<'a, Zeroizing<[u8; 32]>> {
///         Box::pin(async move { self.0.unwrap(version, wrapped, aad) })
///     }
/// }
/// # let _ = Kms(LocalKeys::new(MasterKey::from_bytes(1, [0; 32])));
/// ```
pub trait AsyncKeyProvider: Send + Sync + fmt::Debug {
    /// The master version new data keys are wrapped with.
    fn current_version(&self) -> u32;

    /// Encrypts `dek` under master `version`, binding `aad`.
    ///
    /// # Errors
    ///
    /// [`CryptoError::UnknownMasterVersion`], or [`CryptoError::KeyService`] when the service
    /// cannot be reached or refuses.
    fn wrap<'a>(&'a self, version: u32, dek: &'a [u8; 32], aad: &'a [u8])
    -> KeyFuture<'a, Vec<u8>>;

    /// Decrypts a wrapped data key.
    ///
    /// # Errors
    ///
    /// As [`KeyProvider::unwrap`], or [`CryptoError::KeyService`].
    fn unwrap<'a>(
        &'a self,
        version: u32,
        wrapped: &'a [u8],
        aad: &'a [u8],
    ) -> KeyFuture<'a, Zeroizing<[u8; 32]>>;
}

/// A synchronous [`KeyProvider`] seen as an [`AsyncKeyProvider`] (what
/// [`Envelope::new`](crate::Envelope::new) uses).
#[derive(Debug)]
pub(crate) struct Blocking(pub(crate) std::sync::Arc<dyn KeyProvider>);

impl AsyncKeyProvider for Blocking {
    fn current_version(&self) -> u32 {
        self.0.current_version()
    }

    fn wrap<'a>(
        &'a self,
        version: u32,
        dek: &'a [u8; 32],
        aad: &'a [u8],
    ) -> KeyFuture<'a, Vec<u8>> {
        let result = self.0.wrap(version, dek, aad);
        Box::pin(std::future::ready(result))
    }

    fn unwrap<'a>(
        &'a self,
        version: u32,
        wrapped: &'a [u8],
        aad: &'a [u8],
    ) -> KeyFuture<'a, Zeroizing<[u8; 32]>> {
        let result = self.0.unwrap(version, wrapped, aad);
        Box::pin(std::future::ready(result))
    }
}

/// Master keys held in memory (from key files or the environment); the highest version is
/// current. Older versions stay to unwrap data keys wrapped before a rotation.
#[derive(Debug)]
pub struct LocalKeys {
    keys: BTreeMap<u32, MasterKey>,
}

impl LocalKeys {
    /// A provider with one master key.
    #[must_use]
    pub fn new(key: MasterKey) -> Self {
        let mut keys = BTreeMap::new();
        keys.insert(key.version, key);
        Self { keys }
    }

    /// Adds another version (a higher version becomes current).
    #[must_use]
    pub fn with(mut self, key: MasterKey) -> Self {
        self.keys.insert(key.version, key);
        self
    }

    fn cipher(&self, version: u32) -> Result<Aes256Gcm, CryptoError> {
        let key = self
            .keys
            .get(&version)
            .ok_or(CryptoError::UnknownMasterVersion(version))?;
        Aes256Gcm::new_from_slice(key.key.expose_secret()).map_err(|_| CryptoError::Tampered)
    }
}

impl KeyProvider for LocalKeys {
    fn current_version(&self) -> u32 {
        self.keys.keys().next_back().copied().unwrap_or(0)
    }

    fn wrap(&self, version: u32, dek: &[u8; 32], aad: &[u8]) -> Result<Vec<u8>, CryptoError> {
        aead_seal(&self.cipher(version)?, dek, aad)
    }

    fn unwrap(
        &self,
        version: u32,
        wrapped: &[u8],
        aad: &[u8],
    ) -> Result<Zeroizing<[u8; 32]>, CryptoError> {
        let plain = aead_open(&self.cipher(version)?, wrapped, aad)?;
        let mut out = Zeroizing::new([0u8; 32]);
        if plain.len() != 32 {
            return Err(CryptoError::Tampered);
        }
        out.copy_from_slice(&plain);
        Ok(out)
    }
}

/// `nonce ‖ ciphertext ‖ tag` with a random nonce.
pub(crate) fn aead_seal(
    cipher: &Aes256Gcm,
    msg: &[u8],
    aad: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let nonce = random_nonce();
    let ct = cipher
        .encrypt(&nonce, Payload { msg, aad })
        .map_err(|_| CryptoError::Tampered)?;
    let mut out = Vec::with_capacity(NONCE_LEN + ct.len());
    out.extend_from_slice(nonce.as_slice());
    out.extend_from_slice(&ct);
    Ok(out)
}

/// Opens [`aead_seal`]'s output.
pub(crate) fn aead_open(
    cipher: &Aes256Gcm,
    bytes: &[u8],
    aad: &[u8],
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    if bytes.len() < NONCE_LEN + TAG_LEN {
        return Err(CryptoError::Tampered);
    }
    let (nonce, ct) = bytes.split_at(NONCE_LEN);
    let nonce = Nonce::try_from(nonce).map_err(|_| CryptoError::Tampered)?;
    cipher
        .decrypt(&nonce, Payload { msg: ct, aad })
        .map(Zeroizing::new)
        .map_err(|_| CryptoError::Tampered)
}

pub(crate) fn random_nonce() -> Nonce {
    use aes_gcm::aead::Generate;
    Nonce::generate()
}

/// A random 32-byte key.
pub(crate) fn random_key() -> Zeroizing<[u8; 32]> {
    use aes_gcm::aead::Generate;
    let key = aes_gcm::Key::<Aes256Gcm>::generate();
    let mut out = Zeroizing::new([0u8; 32]);
    out.copy_from_slice(key.as_slice());
    out
}

/// Column ciphers by `(table, column)`.
type ColumnCiphers = std::collections::HashMap<(Box<str>, Box<str>), std::sync::Arc<Aes256Gcm>>;

/// Column ciphers kept per data key (bounded; the `aes-gcm` `zeroize` feature wipes them).
const MAX_COLUMN_CIPHERS: usize = 64;

/// A per-entity data key (DEK) and its version, unwrapped. Zeroized on drop. It keeps the
/// AES-GCM ciphers of the columns it sealed or opened (at most 64), so a warm key costs no
/// HKDF derivation or key schedule per field.
pub struct DataKey {
    version: u32,
    key: Zeroizing<[u8; 32]>,
    ciphers: std::sync::Mutex<ColumnCiphers>,
    /// Seals reserved in the key table and not used yet by this process.
    budget: std::sync::atomic::AtomicU64,
}

impl DataKey {
    /// A data key from its bytes.
    #[must_use]
    pub fn new(version: u32, key: Zeroizing<[u8; 32]>) -> Self {
        Self {
            version,
            key,
            ciphers: std::sync::Mutex::default(),
            budget: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Takes one reserved seal; `false` when none is left.
    pub(crate) fn take_seal(&self) -> bool {
        use std::sync::atomic::Ordering;
        self.budget
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
            .is_ok()
    }

    /// Adds reserved seals.
    pub(crate) fn add_seals(&self, n: u64) {
        self.budget
            .fetch_add(n, std::sync::atomic::Ordering::AcqRel);
    }

    /// The AES-256-GCM cipher of `table`.`column` (derived once, then cached).
    pub(crate) fn column_cipher(
        &self,
        table: &str,
        column: &str,
    ) -> Result<std::sync::Arc<Aes256Gcm>, CryptoError> {
        let mut ciphers = self
            .ciphers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(cipher) = ciphers.get(&(Box::from(table), Box::from(column))) {
            return Ok(std::sync::Arc::clone(cipher));
        }
        let key = self.derive(crate::envelope::ENC_LABEL, table, column);
        let cipher = std::sync::Arc::new(
            Aes256Gcm::new_from_slice(key.as_slice()).map_err(|_| CryptoError::Tampered)?,
        );
        if ciphers.len() >= MAX_COLUMN_CIPHERS {
            ciphers.clear();
        }
        ciphers.insert(
            (Box::from(table), Box::from(column)),
            std::sync::Arc::clone(&cipher),
        );
        Ok(cipher)
    }

    /// The DEK version.
    #[must_use]
    pub fn version(&self) -> u32 {
        self.version
    }

    /// The per-column key: `HKDF-SHA256(DEK, info = label ‖ table ‖ "/" ‖ column)`, with
    /// `label` `axe/v1/enc/` for encryption and `axe/v1/bidx/` for blind indexes.
    pub(crate) fn derive(&self, label: &str, table: &str, column: &str) -> Zeroizing<[u8; 32]> {
        self.derive_info(&format!("{label}{table}/{column}"))
    }

    /// `HKDF-SHA256(DEK, info)`: a key of its own for each distinct `info`.
    pub(crate) fn derive_info(&self, info: &str) -> Zeroizing<[u8; 32]> {
        let hk = Hkdf::<Sha256>::new(None, self.key.as_slice());
        let mut out = Zeroizing::new([0u8; 32]);
        // 32 bytes is far below HKDF-SHA256's limit (255 × 32): this cannot fail.
        let _ = hk.expand(info.as_bytes(), out.as_mut_slice());
        out
    }
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DataKey")
            .field("version", &self.version)
            .field("key", &"[redacted]")
            .finish()
    }
}

/// The AAD of a wrapped DEK: `"axe/v1/dek" ‖ len(entity) ‖ entity ‖ dek_version`.
pub(crate) fn dek_aad(entity: &str, version: u32) -> Vec<u8> {
    let mut out = b"axe/v1/dek".to_vec();
    out.extend_from_slice(
        &u32::try_from(entity.len())
            .unwrap_or(u32::MAX)
            .to_be_bytes(),
    );
    out.extend_from_slice(entity.as_bytes());
    out.extend_from_slice(&version.to_be_bytes());
    out
}
