//! PII envelope: round trips, tampering, wrong keys, shredding.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use axe_audit::envelope::{Field, blind_index_with, open_with, seal_with};
use axe_audit::keys::{DataKey, LocalKeys, MasterKey};
use axe_audit::{CryptoError, Envelope, Error, Pii, Sealed};
use axe_isolation::EntityId;
use axe_isolation::testing::TestDb;
use proptest::prelude::*;
use zeroize::Zeroizing;

fn dek(version: u32, byte: u8) -> DataKey {
    DataKey::new(version, Zeroizing::new([byte; 32]))
}

fn acme() -> EntityId {
    EntityId::new("acme").unwrap()
}

#[test]
fn round_trips_edge_sizes() {
    let entity = acme();
    let field = Field::new(&entity, "contacts", "email", "1");
    let key = dek(1, 7);
    let big = vec![0xA5u8; 1 << 20];
    for value in [&b""[..], &b"x"[..], &[0xff, 0xfe, 0x00, 0xc3][..], &big[..]] {
        let sealed = seal_with(&key, &field, value).unwrap();
        assert_eq!(sealed.as_bytes().len(), value.len() + 33);
        assert_eq!(
            open_with(&key, &field, &sealed)
                .unwrap()
                .expose()
                .as_slice(),
            value
        );
    }
}

#[test]
fn moved_ciphertext_fails() {
    let a = acme();
    let b = EntityId::new("beta").unwrap();
    let key = dek(1, 7);
    let sealed = seal_with(&key, &Field::new(&a, "contacts", "email", "1"), b"ada").unwrap();
    for other in [
        Field::new(&a, "contacts", "email", "2"),
        Field::new(&a, "contacts", "phone", "1"),
        Field::new(&a, "people", "email", "1"),
        Field::new(&b, "contacts", "email", "1"),
    ] {
        let err = open_with(&key, &other, &sealed).unwrap_err();
        assert!(matches!(err, CryptoError::Tampered), "{other:?}: {err}");
    }
}

#[test]
fn wrong_data_key_fails() {
    let entity = acme();
    let field = Field::new(&entity, "t", "c", "1");
    let sealed = seal_with(&dek(1, 7), &field, b"ada").unwrap();
    assert!(matches!(
        open_with(&dek(1, 8), &field, &sealed),
        Err(CryptoError::Tampered)
    ));
    assert!(matches!(
        open_with(&dek(2, 7), &field, &sealed),
        Err(CryptoError::NoDataKey { version: 1, .. })
    ));
}

#[test]
fn truncated_extended_and_flipped_fail_clearly() {
    let entity = acme();
    let field = Field::new(&entity, "t", "c", "1");
    let key = dek(1, 7);
    let bytes = seal_with(&key, &field, b"hello").unwrap().into_bytes();
    for len in 0..bytes.len() {
        let cut = Sealed::from_bytes(bytes[..len].to_vec());
        let err = open_with(&key, &field, &cut).unwrap_err();
        assert!(
            matches!(err, CryptoError::Format(_) | CryptoError::Tampered),
            "len {len}: {err}"
        );
    }
    let mut longer = bytes.clone();
    longer.push(0);
    let err = open_with(&key, &field, &Sealed::from_bytes(longer)).unwrap_err();
    assert!(matches!(err, CryptoError::Tampered), "{err}");
    for i in 0..bytes.len() {
        let mut flipped = bytes.clone();
        flipped[i] ^= 0x01;
        assert!(
            open_with(&key, &field, &Sealed::from_bytes(flipped)).is_err(),
            "byte {i}"
        );
    }
}

#[test]
fn pii_and_sealed_do_not_print_contents() {
    let pii = Pii::new("ada@example.com");
    assert_eq!(format!("{pii:?} {pii}"), "[redacted] [redacted]");
    let entity = acme();
    let sealed = seal_with(&dek(1, 7), &Field::new(&entity, "t", "c", "1"), b"ada").unwrap();
    assert_eq!(format!("{sealed:?}"), "Sealed(36 bytes)");
    let json = serde_json::to_string(&sealed).unwrap();
    let back: Sealed = serde_json::from_str(&json).unwrap();
    assert_eq!(back, sealed);
    assert!(!format!("{:?}", dek(1, 7)).contains("7, 7"));
}

#[test]
fn blind_index_is_keyed_and_truncated() {
    let a = blind_index_with(&dek(1, 7), "contacts", "email", b"ada@example.com", 16);
    let b = blind_index_with(&dek(1, 7), "contacts", "email", b"ada@example.com", 16);
    let other_key = blind_index_with(&dek(1, 8), "contacts", "email", b"ada@example.com", 16);
    let other_column = blind_index_with(&dek(1, 7), "contacts", "email2", b"ada@example.com", 16);
    assert_eq!(a, b);
    assert_eq!(a.len(), 16);
    assert_ne!(a, other_key);
    assert_ne!(a, other_column);
}

proptest! {
    #[test]
    fn prop_round_trip(value in proptest::collection::vec(any::<u8>(), 0..512),
                       row in "[a-z0-9]{0,12}", key_byte in any::<u8>()) {
        let entity = acme();
        let field = Field::new(&entity, "t", "c", &row);
        let key = dek(3, key_byte);
        let sealed = seal_with(&key, &field, &value).unwrap();
        let opened = open_with(&key, &field, &sealed).unwrap();
        prop_assert_eq!(opened.expose(), &value);
    }

    #[test]
    fn prop_any_tamper_fails(value in proptest::collection::vec(any::<u8>(), 0..64),
                             index in any::<usize>(), bit in 0u8..8) {
        let entity = acme();
        let field = Field::new(&entity, "t", "c", "1");
        let key = dek(1, 9);
        let mut bytes = seal_with(&key, &field, &value).unwrap().into_bytes();
        let i = index % bytes.len();
        bytes[i] ^= 1 << bit;
        prop_assert!(open_with(&key, &field, &Sealed::from_bytes(bytes)).is_err());
    }

    #[test]
    fn prop_random_bytes_never_open_or_panic(bytes in proptest::collection::vec(any::<u8>(), 0..128)) {
        let entity = acme();
        let field = Field::new(&entity, "t", "c", "1");
        prop_assert!(open_with(&dek(1, 9), &field, &Sealed::from_bytes(bytes)).is_err());
    }
}

fn master(byte: u8) -> MasterKey {
    MasterKey::from_bytes(1, [byte; 32])
}

#[tokio::test]
async fn envelope_round_trip_wrong_master_and_shred() {
    let db = TestDb::new().await.unwrap();
    let pool = db.owner_pool().clone();
    let envelope = Envelope::new(Arc::new(LocalKeys::new(master(1))), pool.clone());
    envelope.install().await.unwrap();
    envelope.install().await.unwrap(); // idempotent
    let entity = acme();
    let field = Field::new(&entity, "contacts", "email", "42");

    let sealed = envelope.seal(&field, b"ada@example.com").await.unwrap();
    let opened = envelope.open(&field, &sealed).await.unwrap();
    assert_eq!(opened.expose().as_slice(), b"ada@example.com");
    let index = envelope
        .blind_index(&entity, "contacts", "email", b"ada@example.com")
        .await
        .unwrap();

    // Another process with the wrong master key cannot unwrap the data key.
    let wrong = Envelope::new(Arc::new(LocalKeys::new(master(2))), pool.clone());
    let err = wrong.open(&field, &sealed).await.unwrap_err();
    assert!(
        matches!(err, Error::Crypto(CryptoError::Unwrap { version: 1, .. })),
        "{err}"
    );

    // A second process with the right key opens it (from the key table, not a cache).
    let other = Envelope::new(Arc::new(LocalKeys::new(master(1))), pool.clone());
    assert_eq!(
        other
            .open(&field, &sealed)
            .await
            .unwrap()
            .expose()
            .as_slice(),
        b"ada@example.com"
    );

    assert_eq!(envelope.shred(&entity).await.unwrap(), 1);
    assert_eq!(envelope.shred(&entity).await.unwrap(), 0);
    let err = envelope.open(&field, &sealed).await.unwrap_err();
    assert!(
        matches!(err, Error::Crypto(CryptoError::Shredded { version: 1, .. })),
        "{err}"
    );
    let after = envelope
        .blind_index(&entity, "contacts", "email", b"ada@example.com")
        .await
        .unwrap();
    assert_ne!(after, index);
    // That call made a fresh key one version up; the old value still fails as shredded,
    // in this process and in one that never saw the old key.
    assert_eq!(envelope.current_key(&entity).await.unwrap().version(), 2);
    let fresh = Envelope::new(Arc::new(LocalKeys::new(master(1))), pool.clone());
    for e in [&envelope, &fresh] {
        let err = e.open(&field, &sealed).await.unwrap_err();
        assert!(
            matches!(err, Error::Crypto(CryptoError::Shredded { version: 1, .. })),
            "{err}"
        );
    }
}

#[tokio::test]
async fn master_rotation_keeps_every_value_readable() {
    let db = TestDb::new().await.unwrap();
    let pool = db.owner_pool().clone();
    let v1 = Envelope::new(Arc::new(LocalKeys::new(master(1))), pool.clone());
    v1.install().await.unwrap();
    let a = acme();
    let b = EntityId::new("beta").unwrap();
    let fa = Field::new(&a, "contacts", "email", "1");
    let fb = Field::new(&b, "contacts", "phone", "2");
    let sa = v1.seal(&fa, b"ada").await.unwrap();
    let sb = v1.seal(&fb, b"+1 555").await.unwrap();

    let both = Envelope::new(
        Arc::new(LocalKeys::new(master(1)).with(MasterKey::from_bytes(2, [2; 32]))),
        pool.clone(),
    );
    assert_eq!(both.rotate_master().await.unwrap(), 2);
    assert_eq!(both.rotate_master().await.unwrap(), 0);

    // Only the new master version is needed from now on.
    let v2 = Envelope::new(
        Arc::new(LocalKeys::new(MasterKey::from_bytes(2, [2; 32]))),
        pool.clone(),
    );
    assert_eq!(v2.open(&fa, &sa).await.unwrap().expose().as_slice(), b"ada");
    assert_eq!(
        v2.open(&fb, &sb).await.unwrap().expose().as_slice(),
        b"+1 555"
    );
    let old_only = Envelope::new(Arc::new(LocalKeys::new(master(1))), pool);
    let err = old_only.open(&fa, &sa).await.unwrap_err();
    assert!(
        matches!(err, Error::Crypto(CryptoError::UnknownMasterVersion(2))),
        "{err}"
    );
}

#[tokio::test]
async fn args_digest_is_canonical_per_entity_and_dies_with_the_key() {
    let db = TestDb::new().await.unwrap();
    let envelope = Envelope::new(Arc::new(LocalKeys::new(master(1))), db.owner_pool().clone());
    envelope.install().await.unwrap();
    let a = acme();
    let b = EntityId::new("beta").unwrap();
    let args: serde_json::Value =
        serde_json::from_str(r#"{"id": 42, "contact": {"name": "Ada", "email": "ada@x"}}"#)
            .unwrap();
    let reordered: serde_json::Value =
        serde_json::from_str(r#"{"contact":{"email":"ada@x","name":"Ada"},"id":42}"#).unwrap();

    let digest = envelope.args_digest(&a, &args).await.unwrap();
    assert_eq!(envelope.args_digest(&a, &reordered).await.unwrap(), digest);
    let text = digest.to_string();
    // Only the key version and the MAC (hex can spell "ada" by chance, so check the shape).
    let (version, mac) = text.split_once(':').unwrap();
    assert_eq!(version, "v1");
    assert!(
        mac.len() == 64 && mac.bytes().all(|b| b.is_ascii_hexdigit()),
        "{text}"
    );
    assert!(
        envelope
            .check_args_digest(&a, &reordered, &text)
            .await
            .unwrap()
    );
    assert!(
        !envelope
            .check_args_digest(&a, &serde_json::json!({"id": 43}), &text)
            .await
            .unwrap()
    );
    assert!(
        !envelope
            .check_args_digest(&a, &args, "garbage")
            .await
            .unwrap()
    );
    // Another process with the same master key gets the same digest from the key table.
    let other = Envelope::new(Arc::new(LocalKeys::new(master(1))), db.owner_pool().clone());
    assert_eq!(other.args_digest(&a, &args).await.unwrap(), digest);

    let digest_b = envelope.args_digest(&b, &args).await.unwrap();
    assert_ne!(digest_b.as_bytes(), digest.as_bytes());

    // It fits the event's field.
    let event =
        axe_audit::NewEvent::new("contoso", "x", axe_audit::Outcome::Ok).args_digest(digest);
    assert_eq!(event.args_digest.as_deref(), Some(text.as_str()));

    envelope.shred(&a).await.unwrap();
    let after = envelope.args_digest(&a, &args).await.unwrap();
    assert_ne!(after.as_bytes(), digest.as_bytes());
    assert_eq!(after.dek_version(), 2);
    let err = envelope
        .check_args_digest(&a, &args, &text)
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Crypto(CryptoError::Shredded { version: 1, .. })),
        "{err}"
    );
}

/// A key service reached asynchronously (stands for a KMS client): counts calls and can be
/// taken offline.
#[derive(Debug)]
struct Kms {
    keys: LocalKeys,
    calls: std::sync::atomic::AtomicUsize,
    offline: std::sync::atomic::AtomicBool,
}

impl Kms {
    fn new(byte: u8) -> Self {
        Self {
            keys: LocalKeys::new(master(byte)),
            calls: std::sync::atomic::AtomicUsize::new(0),
            offline: std::sync::atomic::AtomicBool::new(false),
        }
    }

    async fn call<T>(&self, f: impl FnOnce() -> Result<T, CryptoError>) -> Result<T, CryptoError> {
        use std::sync::atomic::Ordering;
        tokio::task::yield_now().await;
        self.calls.fetch_add(1, Ordering::SeqCst);
        if self.offline.load(Ordering::SeqCst) {
            return Err(CryptoError::KeyService {
                reason: "unreachable".into(),
            });
        }
        f()
    }
}

impl axe_audit::keys::AsyncKeyProvider for Kms {
    fn current_version(&self) -> u32 {
        use axe_audit::keys::KeyProvider;
        self.keys.current_version()
    }

    fn wrap<'a>(
        &'a self,
        version: u32,
        dek: &'a [u8; 32],
        aad: &'a [u8],
    ) -> axe_audit::keys::KeyFuture<'a, Vec<u8>> {
        use axe_audit::keys::KeyProvider;
        Box::pin(self.call(move || self.keys.wrap(version, dek, aad)))
    }

    fn unwrap<'a>(
        &'a self,
        version: u32,
        wrapped: &'a [u8],
        aad: &'a [u8],
    ) -> axe_audit::keys::KeyFuture<'a, Zeroizing<[u8; 32]>> {
        use axe_audit::keys::KeyProvider;
        Box::pin(self.call(move || self.keys.unwrap(version, wrapped, aad)))
    }
}

#[tokio::test]
async fn an_async_key_service_plugs_in() {
    use std::sync::atomic::Ordering;
    let db = TestDb::new().await.unwrap();
    let kms = Arc::new(Kms::new(1));
    let envelope = Envelope::with_async_provider(kms.clone(), db.owner_pool().clone());
    envelope.install().await.unwrap();
    let entity = acme();
    let field = Field::new(&entity, "contacts", "email", "1");
    let sealed = envelope.seal(&field, b"ada").await.unwrap();
    assert_eq!(
        envelope
            .open(&field, &sealed)
            .await
            .unwrap()
            .expose()
            .as_slice(),
        b"ada"
    );
    let calls = kms.calls.load(Ordering::SeqCst);
    assert!(calls >= 1);
    // Interoperable with the synchronous provider holding the same master key.
    let local = Envelope::new(Arc::new(LocalKeys::new(master(1))), db.owner_pool().clone());
    assert_eq!(
        local
            .open(&field, &sealed)
            .await
            .unwrap()
            .expose()
            .as_slice(),
        b"ada"
    );

    // Offline: a warm key needs no call; a cold one fails with a clear error.
    kms.offline.store(true, Ordering::SeqCst);
    assert!(envelope.open(&field, &sealed).await.is_ok());
    assert_eq!(kms.calls.load(Ordering::SeqCst), calls);
    let cold = Envelope::with_async_provider(kms.clone(), db.owner_pool().clone());
    let err = cold.open(&field, &sealed).await.unwrap_err();
    assert!(
        matches!(err, Error::Crypto(CryptoError::KeyService { .. })),
        "{err}"
    );
    kms.offline.store(false, Ordering::SeqCst);
    assert!(cold.open(&field, &sealed).await.is_ok());
}
