//! Per-entity migrations: failures, resumption, concurrency, the version gate, several sets.

use std::time::Duration;

use axe_isolation::testing::TestDb;
use axe_isolation::{Error, Ident, Migrations, entity_lock_key};
use sqlx::SqlSafeStr;
use sqlx::migrate::{Migration, MigrationType};
use sqlx::postgres::PgPoolOptions;

use crate::*;

#[tokio::test]
async fn a_failing_entity_leaves_the_others_migrated_and_a_rerun_resumes() -> TestResult {
    let db = TestDb::new().await?;
    let isolation = db
        .isolation_builder()
        .migrations(notes().await?)
        .migrate_concurrency(2)
        .build()
        .await?;
    for e in ["a", "b", "c"] {
        isolation.provision(&id(e)).await?;
    }
    // Something in b's way: its first migration will fail.
    sqlx::raw_sql("CREATE TABLE ent_b.notes (x int)")
        .execute(db.owner_pool())
        .await?;

    let report = isolation.migrate_all().await?;
    assert!(!report.is_success());
    assert_eq!(report.len(), 3);
    let failed: Vec<_> = report.failed().map(|(e, _)| e.clone()).collect();
    assert_eq!(failed, [id("b")]);
    assert!(matches!(
        report.get(&id("b")),
        Some(Err(Error::Migration { .. }))
    ));
    for e in ["a", "c"] {
        let Some(Ok(done)) = report.get(&id(e)) else {
            panic!("{e} should have migrated")
        };
        assert_eq!(done.sets[0].applied, [1, 2]);
        assert_eq!(done.sets[0].version, Some(2));
    }
    // b was rolled back whole: no bookkeeping table, and the gate refuses it.
    assert!(matches!(
        isolation.begin(&id("b")).await,
        Err(Error::SchemaBehind {
            current: None,
            expected: 2,
            ..
        })
    ));
    isolation.begin(&id("a")).await?.commit().await?;

    sqlx::raw_sql("DROP TABLE ent_b.notes")
        .execute(db.owner_pool())
        .await?;
    let report = isolation.migrate_all().await?;
    assert!(report.is_success());
    let applied: Vec<(String, usize)> = report
        .succeeded()
        .map(|m| (m.entity.to_string(), m.applied_count()))
        .collect();
    assert_eq!(applied, [("a".into(), 0), ("b".into(), 2), ("c".into(), 0)]);
    isolation.begin(&id("b")).await?.commit().await?;
    Ok(())
}

#[tokio::test]
async fn the_version_gate_refuses_a_lagging_entity() -> TestResult {
    let db = TestDb::new().await?;
    let old = db
        .isolation_builder()
        .migrations(notes_up_to(1).await?)
        .build()
        .await?;
    let a = id("a");
    old.provision(&a).await?;
    let done = old.migrate(&a).await?;
    assert_eq!(done.sets[0].version, Some(1));
    old.begin(&a).await?.commit().await?;

    let new = db
        .isolation_builder()
        .migrations(notes().await?)
        .build()
        .await?;
    let begun = new.begin(&a).await;
    assert!(
        matches!(&begun, Err(Error::SchemaBehind { current: Some(1), expected: 2, table, .. }) if table.as_str() == "_sqlx_migrations"),
        "{begun:?}"
    );
    assert_eq!(new.migrate(&a).await?.sets[0].applied, [2]);
    let mut tx = new.begin(&a).await?;
    sqlx::query("UPDATE notes SET tag = 'v2'")
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;

    // The bookkeeping lives in the entity's schema, not in public.
    let (inside, outside): (bool, bool) = sqlx::query_as(
        "SELECT to_regclass('ent_a._sqlx_migrations') IS NOT NULL, \
                to_regclass('public._sqlx_migrations') IS NOT NULL",
    )
    .fetch_one(db.owner_pool())
    .await?;
    assert!(inside && !outside);
    Ok(())
}

/// Two "processes" (separate Isolations and owner pools) migrate one entity at once: one
/// applies everything, the other waits on the entity's lock and then finds nothing to do.
#[tokio::test]
async fn concurrent_migrations_of_one_entity_apply_once() -> TestResult {
    let db = TestDb::new().await?;
    let second_owner = PgPoolOptions::new()
        .max_connections(2)
        .connect_with(db.owner_connect_options())
        .await?;
    let first = db
        .isolation_builder()
        .migrations(notes().await?)
        .build()
        .await?;
    let second = Isolation::builder(db.runtime_pool().clone())
        .owner(second_owner)
        .role_prefix(db.role_prefix().clone())
        .migrations(notes().await?)
        .build()
        .await?;
    let a = id("a");
    first.provision(&a).await?;

    // Hold the entity's lock so both migrations start and queue up behind it.
    let mut holder = db.owner_pool().begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(entity_lock_key(&a))
        .execute(&mut *holder)
        .await?;
    let one = tokio::spawn({
        let iso = first.clone();
        async move { iso.migrate(&id("a")).await }
    });
    let two = tokio::spawn({
        let iso = second.clone();
        async move { iso.migrate(&id("a")).await }
    });
    // Wait (bounded) until both are blocked on the lock; not a timing assertion.
    let mut waiting = 0_i64;
    for _ in 0..1000 {
        waiting = sqlx::query_scalar(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted",
        )
        .fetch_one(db.owner_pool())
        .await?;
        if waiting == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(
        waiting, 2,
        "both migrations should be waiting on the entity lock"
    );
    holder.commit().await?;

    let (one, two) = (one.await??, two.await??);
    let mut counts = [one.applied_count(), two.applied_count()];
    counts.sort_unstable();
    assert_eq!(counts, [0, 2]);
    assert_eq!(one.sets[0].version, Some(2));
    assert_eq!(two.sets[0].version, Some(2));
    Ok(())
}

/// A second migration set with its own bookkeeping table, as axe-audit adds its own.
#[tokio::test]
async fn a_second_migration_set_keeps_its_own_table() -> TestResult {
    let db = TestDb::new().await?;
    let extra = Migrations::from_vec(vec![Migration::new(
        1,
        "audit".into(),
        MigrationType::Simple,
        "CREATE TABLE audit_log (seq bigint PRIMARY KEY, what text NOT NULL); \
         CREATE TABLE audit_meta AS SELECT current_setting('axe.entity') AS entity; \
         DO $$ BEGIN \
           EXECUTE format('REVOKE UPDATE, DELETE ON audit_log FROM %I', \
                          current_setting('axe.entity_role')); \
         END $$;"
            .into_sql_str(),
        false,
    )])?
    .with_table(Ident::new("_audit_migrations")?);
    let isolation = db
        .isolation_builder()
        .migrations(notes().await?)
        .migrations(extra.clone())
        .build()
        .await?;
    let a = id("a");
    isolation.provision(&a).await?;
    let done = isolation.migrate(&a).await?;
    let tables: Vec<&str> = done.sets.iter().map(|s| s.table.as_str()).collect();
    assert_eq!(tables, ["_sqlx_migrations", "_audit_migrations"]);
    assert_eq!(done.applied_count(), 3);
    let mut tx = isolation.begin(&a).await?;
    sqlx::query("INSERT INTO audit_log (seq, what) VALUES (1, 'x')")
        .execute(&mut *tx)
        .await?;
    // The migration narrowed the entity role's rights with `axe.entity_role`.
    let update = sqlx::query("UPDATE audit_log SET what = 'y'")
        .execute(&mut *tx)
        .await
        .map_err(Error::from);
    assert!(
        matches!(update, Err(Error::PermissionDenied { .. })),
        "{update:?}"
    );
    drop(tx);
    let mut tx = isolation.begin(&a).await?;
    sqlx::query("INSERT INTO audit_log (seq, what) VALUES (1, 'x')")
        .execute(&mut *tx)
        .await?;
    let stamped: String = sqlx::query_scalar("SELECT entity FROM audit_meta")
        .fetch_one(&mut *tx)
        .await?;
    assert_eq!(stamped, "a");
    tx.commit().await?;

    let clash = db
        .isolation_builder()
        .migrations(extra.clone())
        .migrations(extra)
        .build()
        .await;
    assert!(matches!(clash, Err(Error::InvalidMigrations { .. })));
    Ok(())
}
