//! Data key lifecycle against a real PostgreSQL: shredding tombstones, the seal counter,
//! data key rotation with background re-encryption.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use axe_audit::envelope::Field;
use axe_audit::keys::{LocalKeys, MasterKey};
use axe_audit::reencrypt::SealedColumn;
use axe_audit::{AuditLog, CryptoError, Envelope, Error, NewEvent, OperatorLog, Outcome, Sealed};
use axe_isolation::EntityId;
use axe_isolation::testing::TestDb;

fn keys(byte: u8) -> Arc<LocalKeys> {
    Arc::new(LocalKeys::new(MasterKey::from_bytes(1, [byte; 32])))
}

async fn setup() -> (TestDb, AuditLog, Envelope, EntityId) {
    let db = TestDb::new().await.unwrap();
    let isolation = db
        .isolation_builder()
        .migrations(axe_audit::migrations().unwrap())
        .build()
        .await
        .unwrap();
    let acme = EntityId::new("acme").unwrap();
    isolation.provision(&acme).await.unwrap();
    isolation.migrate(&acme).await.unwrap();
    let envelope = Envelope::new(keys(1), db.owner_pool().clone());
    envelope.install().await.unwrap();
    OperatorLog::new(db.owner_pool().clone())
        .install()
        .await
        .unwrap();
    (db, AuditLog::new(isolation), envelope, acme)
}

fn versions(sealed: &[Sealed]) -> Vec<u32> {
    sealed.iter().map(|s| s.dek_version().unwrap()).collect()
}

#[tokio::test]
async fn the_audit_chain_still_verifies_after_shred() {
    let (db, log, envelope, acme) = setup().await;
    let field = Field::new(&acme, "contacts", "email", "1");
    let sealed = envelope.seal(&field, b"ada@example.com").await.unwrap();
    for i in 0..3 {
        let digest = envelope
            .args_digest(
                &acme,
                &serde_json::json!({"email": "ada@example.com", "i": i}),
            )
            .await
            .unwrap();
        log.record_standalone(
            &acme,
            NewEvent::new("contoso", "mcp.tools/call:put", Outcome::Ok).args_digest(digest),
        )
        .await
        .unwrap();
    }
    let before = log.verify(&acme).await.unwrap();

    let (shredded, event) = envelope.shred_audited(&acme, "contoso").await.unwrap();
    assert_eq!((shredded, event.action.as_str()), (1, "axe.keys/shred"));

    let after = log.verify(&acme).await.unwrap();
    assert!(after.is_intact());
    assert_eq!(after, before);
    assert!(
        OperatorLog::new(db.owner_pool().clone())
            .verify()
            .await
            .unwrap()
            .is_intact()
    );
    // The tombstone: a clear "shredded", also for a process that starts afterwards.
    let fresh = Envelope::new(keys(1), db.owner_pool().clone());
    let err = fresh.open(&field, &sealed).await.unwrap_err();
    assert!(
        matches!(err, Error::Crypto(CryptoError::Shredded { version: 1, .. })),
        "{err}"
    );
    let (wrapped_left,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM axe_audit.entity_keys WHERE entity = 'acme' AND wrapped IS NOT NULL",
    )
    .fetch_one(db.owner_pool())
    .await
    .unwrap();
    assert_eq!(wrapped_left, 0);

    // Sealing again makes version 2; master rotation skips the tombstone.
    let again = fresh.seal(&field, b"new").await.unwrap();
    assert_eq!(again.dek_version().unwrap(), 2);
    let rotated = Envelope::new(
        Arc::new(
            LocalKeys::new(MasterKey::from_bytes(1, [1; 32]))
                .with(MasterKey::from_bytes(2, [2; 32])),
        ),
        db.owner_pool().clone(),
    );
    assert_eq!(rotated.rotate_master().await.unwrap(), 1);
    assert_eq!(
        rotated
            .open(&field, &again)
            .await
            .unwrap()
            .expose()
            .as_slice(),
        b"new"
    );
}

#[tokio::test]
async fn the_seal_limit_forces_new_versions() {
    let (db, _log, envelope, acme) = setup().await;
    let envelope = envelope.seal_limit(4).seal_batch(2);
    let mut sealed = Vec::new();
    for i in 0..10 {
        let row = i.to_string();
        let field = Field::new(&acme, "t", "c", &row);
        sealed.push(envelope.seal(&field, row.as_bytes()).await.unwrap());
    }
    assert_eq!(versions(&sealed), [1, 1, 1, 1, 2, 2, 2, 2, 3, 3]);
    // Every value still opens, in another process too.
    let other = Envelope::new(keys(1), db.owner_pool().clone());
    for (i, value) in sealed.iter().enumerate() {
        let row = i.to_string();
        let field = Field::new(&acme, "t", "c", &row);
        assert_eq!(
            other.open(&field, value).await.unwrap().expose(),
            row.as_bytes()
        );
    }
    // The counts are in the key table (a failed reservation over the limit counts too).
    let counts: Vec<(i32, i64)> = sqlx::query_as(
        "SELECT dek_version, seals FROM axe_audit.entity_keys WHERE entity = 'acme' ORDER BY 1",
    )
    .fetch_all(db.owner_pool())
    .await
    .unwrap();
    assert_eq!(counts, [(1, 6), (2, 6), (3, 2)]);

    // A second process shares the count: it cannot seal under version 3 past the limit.
    let second = Envelope::new(keys(1), db.owner_pool().clone())
        .seal_limit(4)
        .seal_batch(2);
    let field = Field::new(&acme, "t", "c", "x");
    let mut more = Vec::new();
    for _ in 0..3 {
        more.push(second.seal(&field, b"x").await.unwrap());
    }
    assert_eq!(versions(&more), [3, 3, 4]);
}

#[tokio::test]
async fn rotate_dek_and_reencrypt_in_the_background() {
    let (db, log, envelope, acme) = setup().await;
    let schema = acme.schema().quoted();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "CREATE TABLE {schema}.contacts (id bigint PRIMARY KEY, email bytea)"
    )))
    .execute(db.owner_pool())
    .await
    .unwrap();
    let rows = 1_203_i64;
    for id in 1..=rows {
        let row = id.to_string();
        let field = Field::new(&acme, "contacts", "email", &row);
        let value = if id == 7 {
            None
        } else {
            Some(
                envelope
                    .seal(&field, format!("c{id}@x").as_bytes())
                    .await
                    .unwrap(),
            )
        };
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO {schema}.contacts (id, email) VALUES ($1, $2)"
        )))
        .bind(id)
        .bind(value.as_ref().map(Sealed::as_bytes))
        .execute(db.owner_pool())
        .await
        .unwrap();
    }
    let outside = Field::new(&acme, "notes", "body", "1");
    let old_value = envelope.seal(&outside, b"old").await.unwrap();
    assert_eq!(old_value.dek_version().unwrap(), 1);

    assert_eq!(envelope.rotate_dek(&acme).await.unwrap(), 2);
    let column = SealedColumn::new("contacts", "email", "id").unwrap();
    let job = envelope.spawn_reencrypt(log.isolation().clone(), acme.clone(), vec![column.clone()]);
    let mut progress = job.progress();
    let mut seen = Vec::new();
    while progress.changed().await.is_ok() {
        seen.push(progress.borrow_and_update().clone());
    }
    let done = job.join().await.unwrap();
    assert!(done.finished);
    assert_eq!(
        (done.target_version, done.scanned, done.resealed),
        (2, 1202, 1202)
    );
    assert!(seen.windows(2).all(|w| w[0].scanned <= w[1].scanned));

    let stored: Vec<(i64, Option<Vec<u8>>)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT id, email FROM {schema}.contacts ORDER BY id"
    )))
    .fetch_all(db.owner_pool())
    .await
    .unwrap();
    for (id, bytes) in stored {
        let Some(bytes) = bytes else {
            assert_eq!(id, 7);
            continue;
        };
        let sealed = Sealed::from_bytes(bytes);
        assert_eq!(sealed.dek_version().unwrap(), 2);
        let row = id.to_string();
        let field = Field::new(&acme, "contacts", "email", &row);
        assert_eq!(
            envelope.open(&field, &sealed).await.unwrap().expose(),
            format!("c{id}@x").as_bytes()
        );
    }
    // The old version stays readable for what was not named.
    assert_eq!(
        envelope.open(&outside, &old_value).await.unwrap().expose(),
        b"old"
    );
    // Running it again changes nothing.
    let again = envelope
        .reencrypt(
            log.isolation(),
            &acme,
            std::slice::from_ref(&column),
            |_| {},
        )
        .await
        .unwrap();
    assert_eq!((again.scanned, again.resealed), (1202, 0));

    // A value that does not open stops the job and its batch is rolled back.
    envelope.rotate_dek(&acme).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE {schema}.contacts SET email = set_byte(email, 20, get_byte(email, 20) # 1) WHERE id = 3"
    )))
    .execute(db.owner_pool())
    .await
    .unwrap();
    let err = envelope
        .reencrypt(log.isolation(), &acme, &[column], |_| {})
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Crypto(CryptoError::Tampered)), "{err}");
    let (v1,): (Vec<u8>,) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT email FROM {schema}.contacts WHERE id = 1"
    )))
    .fetch_one(db.owner_pool())
    .await
    .unwrap();
    assert_eq!(Sealed::from_bytes(v1).dek_version().unwrap(), 2);

    for bad in [
        ("contacts;", "email", "id"),
        ("t", "", "id"),
        ("t", "c", "a b"),
    ] {
        assert!(SealedColumn::new(bad.0, bad.1, bad.2).is_err(), "{bad:?}");
    }
}
