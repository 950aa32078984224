//! The operator log and audited shredding.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use axe_audit::envelope::Field;
use axe_audit::keys::{LocalKeys, MasterKey};
use axe_audit::{CryptoError, Envelope, Error, LinkFault, NewEvent, OperatorLog, Outcome};
use axe_isolation::EntityId;
use axe_isolation::testing::TestDb;

#[tokio::test]
async fn operator_log_chains_refuses_changes_and_records_shredding() {
    let db = TestDb::new().await.unwrap();
    let pool = db.owner_pool().clone();
    let log = OperatorLog::new(pool.clone());
    log.install().await.unwrap();
    log.install().await.unwrap(); // idempotent

    let first = log
        .record(
            None,
            NewEvent::new("contoso", "auth.signin", Outcome::Denied),
        )
        .await
        .unwrap();
    assert_eq!((first.seq, first.entity.as_str()), (1, ""));

    let envelope = Envelope::new(
        Arc::new(LocalKeys::new(MasterKey::from_bytes(1, [1; 32]))),
        pool.clone(),
    );
    envelope.install().await.unwrap();
    let acme = EntityId::new("acme").unwrap();
    let field = Field::new(&acme, "contacts", "email", "1");
    let sealed = envelope.seal(&field, b"ada").await.unwrap();
    let (deleted, event) = envelope.shred_audited(&acme, "contoso").await.unwrap();
    assert_eq!(
        (deleted, event.seq, event.action.as_str()),
        (1, 2, "axe.keys/shred")
    );
    assert_eq!(event.prev_hash, first.hash);
    let err = envelope.open(&field, &sealed).await.unwrap_err();
    assert!(
        matches!(err, Error::Crypto(CryptoError::Shredded { version: 1, .. })),
        "{err}"
    );

    assert_eq!(log.tail(10).await.unwrap(), vec![first, event]);
    assert!(log.verify().await.unwrap().is_intact());

    for sql in [
        "UPDATE axe_audit.operator_log SET action = 'x'",
        "DELETE FROM axe_audit.operator_log",
        "TRUNCATE axe_audit.operator_log",
    ] {
        let err = sqlx::query(sql).execute(&pool).await.unwrap_err();
        assert!(err.to_string().contains("append-only"), "{sql}: {err}");
    }
    sqlx::raw_sql(
        "ALTER TABLE axe_audit.operator_log DISABLE TRIGGER USER; \
         UPDATE axe_audit.operator_log SET customer = 'forged' WHERE seq = 1; \
         ALTER TABLE axe_audit.operator_log ENABLE TRIGGER USER;",
    )
    .execute(&pool)
    .await
    .unwrap();
    let broken = log.verify().await.unwrap().broken.unwrap();
    assert_eq!((broken.seq, broken.fault), (1, LinkFault::HashMismatch));
}
