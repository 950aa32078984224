//! The audit log against a real PostgreSQL, as the non-superuser runtime role.
#![allow(clippy::unwrap_used)]

use axe_audit::{Actor, AuditLog, LinkFault, NewEvent, Outcome, Query, Target};
use axe_isolation::EntityId;
use axe_isolation::testing::TestDb;

async fn setup(entities: &[&str]) -> (TestDb, AuditLog, Vec<EntityId>) {
    let db = TestDb::new().await.unwrap();
    let isolation = db
        .isolation_builder()
        .migrations(axe_audit::migrations().unwrap())
        .build()
        .await
        .unwrap();
    let mut ids = Vec::new();
    for name in entities {
        let id = EntityId::new(name).unwrap();
        isolation.provision(&id).await.unwrap();
        isolation.migrate(&id).await.unwrap();
        ids.push(id);
    }
    (db, AuditLog::new(isolation), ids)
}

fn event(action: &str) -> NewEvent {
    NewEvent::new("contoso", action, Outcome::Ok)
        .actor(Actor {
            tid: Some("tid-1".into()),
            oid: Some("oid-1".into()),
            client_id: Some("client".into()),
            display_name: None,
        })
        .target(Target::new("record", "1"))
        .request_id("req")
}

#[tokio::test]
async fn records_chain_and_read_back() {
    let (_db, log, ids) = setup(&["acme"]).await;
    let acme = &ids[0];
    let first = log.record_standalone(acme, event("a.one")).await.unwrap();
    let second = log
        .record_standalone(
            acme,
            NewEvent::new("contoso", "a.two", Outcome::Error { code: "E42".into() }),
        )
        .await
        .unwrap();
    assert_eq!((first.seq, second.seq), (1, 2));
    assert_eq!(first.prev_hash, [0; 32]);
    assert_eq!(second.prev_hash, first.hash);
    assert_eq!(first.id.get_version_num(), 7);

    let tail = log.tail(acme, 10).await.unwrap();
    assert_eq!(tail, vec![first.clone(), second.clone()]);
    let by_action = log
        .query(acme, &Query::new().action("a.two"))
        .await
        .unwrap();
    assert_eq!(by_action, vec![second.clone()]);
    let by_actor = log
        .query(acme, &Query::new().actor("tid-1", "oid-1"))
        .await
        .unwrap();
    assert_eq!(by_actor, vec![first.clone()]);
    let in_time = log
        .query(
            acme,
            &Query::new().between(first.occurred_at, second.occurred_at),
        )
        .await
        .unwrap();
    assert_eq!(in_time, vec![first.clone()]);
    assert!(first.to_json_line().unwrap().contains("\"seq\":1"));

    let report = log.verify(acme).await.unwrap();
    assert!(report.is_intact());
    assert_eq!((report.rows, report.head), (2, second.hash));
}

#[tokio::test]
async fn runtime_role_cannot_update_delete_or_truncate() {
    let (_db, log, ids) = setup(&["acme"]).await;
    let acme = &ids[0];
    log.record_standalone(acme, event("a")).await.unwrap();
    for sql in [
        "UPDATE audit_log SET action = 'x'",
        "DELETE FROM audit_log",
        "TRUNCATE audit_log",
    ] {
        let mut tx = log.isolation().begin(acme).await.unwrap();
        let err = sqlx::query(sql).execute(&mut *tx).await.unwrap_err();
        let code = err
            .as_database_error()
            .and_then(|e| e.code())
            .map(|c| c.into_owned());
        assert_eq!(code.as_deref(), Some("42501"), "{sql}: {err}");
        // Refused by the revoked privilege already, before any trigger.
        assert!(
            err.to_string().contains("permission denied"),
            "{sql}: {err}"
        );
    }
    let mut tx = log.isolation().begin(acme).await.unwrap();
    let rights: (bool, bool, bool, bool, bool) = sqlx::query_as(
        "SELECT has_table_privilege('audit_log', 'INSERT'), \
                has_table_privilege('audit_log', 'SELECT'), \
                has_table_privilege('audit_log', 'UPDATE'), \
                has_table_privilege('audit_log', 'DELETE'), \
                has_table_privilege('audit_log', 'TRUNCATE')",
    )
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    drop(tx);
    assert_eq!(rights, (true, true, false, false, false));
    assert!(log.verify(acme).await.unwrap().is_intact());
}

#[tokio::test]
async fn triggers_block_the_owner_and_verify_catches_an_edit() {
    let (db, log, ids) = setup(&["acme"]).await;
    let acme = &ids[0];
    for i in 0..5 {
        log.record_standalone(acme, event(&format!("a.{i}")))
            .await
            .unwrap();
    }
    let owner = db.owner_pool();
    // The owner holds every right on its table, yet the triggers refuse.
    for sql in [
        "UPDATE ent_acme.audit_log SET action = 'x' WHERE seq = 3",
        "DELETE FROM ent_acme.audit_log WHERE seq = 3",
        "TRUNCATE ent_acme.audit_log",
    ] {
        let err = sqlx::query(sql).execute(owner).await.unwrap_err();
        assert!(err.to_string().contains("append-only"), "{sql}: {err}");
    }
    // An owner that disables the triggers can edit; verify names the row.
    sqlx::raw_sql(
        "ALTER TABLE ent_acme.audit_log DISABLE TRIGGER USER; \
         UPDATE ent_acme.audit_log SET action = 'forged' WHERE seq = 3; \
         ALTER TABLE ent_acme.audit_log ENABLE TRIGGER USER;",
    )
    .execute(owner)
    .await
    .unwrap();
    let report = log.verify(acme).await.unwrap();
    let broken = report.broken.unwrap();
    assert_eq!((broken.seq, broken.fault), (3, LinkFault::HashMismatch));
    assert_eq!(report.rows, 2);

    // A deleted row is a missing seq.
    sqlx::raw_sql(
        "ALTER TABLE ent_acme.audit_log DISABLE TRIGGER USER; \
         DELETE FROM ent_acme.audit_log WHERE seq IN (2, 3); \
         ALTER TABLE ent_acme.audit_log ENABLE TRIGGER USER;",
    )
    .execute(owner)
    .await
    .unwrap();
    let broken = log.verify(acme).await.unwrap().broken.unwrap();
    assert_eq!(broken.seq, 2);
    assert_eq!(broken.fault, LinkFault::MissingSeq { found: 4 });
}

#[tokio::test]
async fn concurrent_writers_give_gapless_chains() {
    let (_db, log, ids) = setup(&["one", "two"]).await;
    let mut tasks = Vec::new();
    for task in 0..16 {
        let log = log.clone();
        let entity = ids[task % 2].clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..5 {
                let mut tx = log.isolation().begin(&entity).await.unwrap();
                axe_audit::record(&mut tx, event(&format!("t{task}.{i}")))
                    .await
                    .unwrap();
                tx.commit().await.unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    for entity in &ids {
        let report = log.verify(entity).await.unwrap();
        assert!(report.is_intact(), "{entity}: {report:?}");
        assert_eq!(report.rows, 40);
        let seqs: Vec<i64> = log
            .tail(entity, 100)
            .await
            .unwrap()
            .iter()
            .map(|e| e.seq)
            .collect();
        assert_eq!(seqs, (1..=40).collect::<Vec<_>>());
    }
}

#[tokio::test]
async fn a_rolled_back_effect_takes_its_audit_row_with_it() {
    let (db, log, ids) = setup(&["acme"]).await;
    let acme = &ids[0];
    sqlx::query("CREATE TABLE ent_acme.notes (body text NOT NULL)")
        .execute(db.owner_pool())
        .await
        .unwrap();

    let mut tx = log.isolation().begin(acme).await.unwrap();
    sqlx::query("INSERT INTO notes (body) VALUES ('kept')")
        .execute(&mut *tx)
        .await
        .unwrap();
    axe_audit::record(&mut tx, event("notes.put"))
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let mut tx = log.isolation().begin(acme).await.unwrap();
    sqlx::query("INSERT INTO notes (body) VALUES ('dropped')")
        .execute(&mut *tx)
        .await
        .unwrap();
    axe_audit::record(&mut tx, event("notes.put"))
        .await
        .unwrap();
    tx.rollback().await.unwrap();

    let mut tx = log.isolation().begin(acme).await.unwrap();
    let notes: i64 = sqlx::query_scalar("SELECT count(*) FROM notes")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    drop(tx);
    assert_eq!(notes, 1);
    let report = log.verify(acme).await.unwrap();
    assert!(report.is_intact());
    assert_eq!(report.rows, 1);
    // The next row takes seq 2: the rolled-back row left no gap.
    let next = log.record_standalone(acme, event("x")).await.unwrap();
    assert_eq!(next.seq, 2);
}
