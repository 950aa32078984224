//! Leak tests: what one borrower of a pooled connection leaves for the next, on a pool of one
//! connection so that every borrower gets the same server session.

use axe_isolation::guard::{self, PoolGuard};
use sqlx::postgres::PgPoolOptions;

use crate::*;

/// A fixture whose `Isolation` runs on a one-connection runtime pool (guarded or not).
async fn one_connection(guarded: bool) -> anyhow::Result<(Fixture, Isolation, sqlx::PgPool)> {
    let f = fixture(&["a", "b"]).await?;
    let options = PgPoolOptions::new().max_connections(1);
    let options = if guarded {
        guard::install(options)
    } else {
        options
    };
    let pool = f.db.runtime_pool_with(options).await?;
    let isolation =
        f.db.isolation_builder_on(pool.clone())
            .migrations(notes().await?)
            .build()
            .await?;
    Ok((f, isolation, pool))
}

async fn owners(tx: &mut axe_isolation::EntityTx) -> anyhow::Result<Vec<String>> {
    Ok(sqlx::query_scalar("SELECT owner FROM notes ORDER BY id")
        .fetch_all(&mut **tx)
        .await?)
}

/// `(current_user, search_path)` of the pool's only connection, outside any entity transaction.
async fn idle_state(pool: &sqlx::PgPool) -> anyhow::Result<(String, String)> {
    let mut conn = pool.acquire().await?;
    whoami(&mut conn).await
}

#[tokio::test]
async fn a_then_b_on_one_connection_each_sees_only_itself() -> TestResult {
    let (f, isolation, pool) = one_connection(true).await?;
    let (a, b) = (id("a"), id("b"));
    let runtime = f.db.runtime_role().as_str().to_owned();

    let backend_a: i32;
    {
        let mut tx = isolation.begin(&a).await?;
        backend_a = sqlx::query_scalar("SELECT pg_backend_pid()")
            .fetch_one(&mut *tx)
            .await?;
        assert_eq!(
            whoami(&mut tx).await?,
            (
                isolation.role_of(&a).to_string(),
                "ent_a, pg_temp".to_owned()
            )
        );
        assert_eq!(owners(&mut tx).await?, ["a"]);
        tx.commit().await?;
    }
    assert_eq!(
        idle_state(&pool).await?,
        (runtime.clone(), "\"\"".to_owned())
    );

    let mut tx = isolation.begin(&b).await?;
    let backend_b: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&mut *tx)
        .await?;
    assert_eq!(backend_a, backend_b, "the test needs one server session");
    assert_eq!(
        whoami(&mut tx).await?,
        (
            isolation.role_of(&b).to_string(),
            "ent_b, pg_temp".to_owned()
        )
    );
    assert_eq!(owners(&mut tx).await?, ["b"]);
    tx.rollback().await?;
    assert_eq!(idle_state(&pool).await?, (runtime, "\"\"".to_owned()));
    Ok(())
}

#[tokio::test]
async fn a_dropped_transaction_rolls_back_and_leaves_the_connection_neutral() -> TestResult {
    let (f, isolation, pool) = one_connection(true).await?;
    let a = id("a");
    {
        let mut tx = isolation.begin(&a).await?;
        sqlx::query("INSERT INTO notes (owner, body) VALUES ('a', 'never committed')")
            .execute(&mut *tx)
            .await?;
        // dropped here without commit
    }
    let mut conn = pool.acquire().await?;
    guard::check_neutral(&mut conn).await?;
    assert_eq!(whoami(&mut conn).await?.0, f.db.runtime_role().as_str());
    drop(conn);

    let mut tx = isolation.begin(&a).await?;
    let bodies: Vec<String> = sqlx::query_scalar("SELECT body FROM notes")
        .fetch_all(&mut *tx)
        .await?;
    assert_eq!(bodies, ["secret of a"]);
    Ok(())
}

#[tokio::test]
async fn a_panic_inside_a_transaction_leaves_the_next_borrower_neutral() -> TestResult {
    let (f, isolation, pool) = one_connection(true).await?;
    let task_isolation = isolation.clone();
    let panicked = tokio::spawn(async move {
        let a = id("a");
        let mut tx = task_isolation.begin(&a).await?;
        sqlx::query("INSERT INTO notes (owner, body) VALUES ('a', 'half done')")
            .execute(&mut *tx)
            .await?;
        if tx.entity() == &a {
            panic!("tool code panicked mid-transaction");
        }
        Ok::<(), anyhow::Error>(())
    })
    .await;
    assert!(panicked.is_err_and(|e| e.is_panic()));

    assert_eq!(
        idle_state(&pool).await?,
        (f.db.runtime_role().to_string(), "\"\"".to_owned())
    );
    let mut tx = isolation.begin(&id("b")).await?;
    assert_eq!(owners(&mut tx).await?, ["b"]);
    drop(tx);
    let mut tx = isolation.begin(&id("a")).await?;
    let bodies: Vec<String> = sqlx::query_scalar("SELECT body FROM notes")
        .fetch_all(&mut *tx)
        .await?;
    assert_eq!(
        bodies,
        ["secret of a"],
        "the panicked transaction was rolled back"
    );
    Ok(())
}

/// Session-level `SET` inside a transaction survives its `COMMIT`: the guard resets it.
#[tokio::test]
async fn the_guard_resets_a_session_level_set_made_inside_a_transaction() -> TestResult {
    let (f, isolation, pool) = one_connection(true).await?;
    let a = id("a");
    let mut tx = isolation.begin(&a).await?;
    sqlx::query("SELECT set_config('role', $1, false), set_config('search_path', 'ent_a', false)")
        .bind(isolation.role_of(&a).as_str())
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    assert_eq!(
        idle_state(&pool).await?,
        (f.db.runtime_role().to_string(), "\"\"".to_owned())
    );
    Ok(())
}

/// Without the guard the session-level setting does leak to plain pool users, but every
/// `EntityTx` is still scoped correctly: the local settings win inside the transaction.
#[tokio::test]
async fn without_the_guard_a_session_set_leaks_to_the_pool_but_not_into_entity_transactions()
-> TestResult {
    let (_f, isolation, pool) = one_connection(false).await?;
    let (a, b) = (id("a"), id("b"));
    let mut tx = isolation.begin(&a).await?;
    sqlx::query("SELECT set_config('role', $1, false), set_config('search_path', 'ent_a', false)")
        .bind(isolation.role_of(&a).as_str())
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;

    let leaked = idle_state(&pool).await?;
    assert_eq!(
        leaked,
        (isolation.role_of(&a).to_string(), "ent_a".to_owned())
    );
    {
        let mut conn = pool.acquire().await?;
        let err = guard::check_neutral(&mut conn).await;
        assert!(matches!(err, Err(axe_isolation::Error::NotNeutral { .. })));
    }

    let mut tx = isolation.begin(&b).await?;
    assert_eq!(whoami(&mut tx).await?.0, isolation.role_of(&b).as_str());
    assert_eq!(owners(&mut tx).await?, ["b"]);
    Ok(())
}

#[tokio::test]
async fn a_plain_pool_connection_cannot_read_any_entity() -> TestResult {
    let f = fixture(&["a"]).await?;
    let mut conn = f.db.runtime_pool().acquire().await?;
    let err = sqlx::query("SELECT * FROM ent_a.notes")
        .fetch_all(&mut *conn)
        .await
        .map_err(axe_isolation::Error::from);
    assert!(
        matches!(err, Err(axe_isolation::Error::PermissionDenied { .. })),
        "{err:?}"
    );
    Ok(())
}

/// After the first `begin`, an entity's `begin` is folded into one round trip; it is scoped
/// the same way, and if the entity vanished meanwhile (deprovisioned by another process) it
/// fails with a named error and the one pooled connection stays usable, even without the guard.
#[tokio::test]
async fn the_folded_begin_is_scoped_and_survives_a_vanished_entity() -> TestResult {
    let (f, isolation, pool) = one_connection(false).await?;
    let (a, b) = (id("a"), id("b"));
    for _ in 0..3 {
        let mut tx = isolation.begin(&a).await?;
        assert_eq!(
            whoami(&mut tx).await?,
            (
                isolation.role_of(&a).to_string(),
                "ent_a, pg_temp".to_owned()
            )
        );
        assert_eq!(owners(&mut tx).await?, ["a"]);
        tx.commit().await?;
    }

    // Another process drops `a`; this Isolation still believes it current.
    let _ = f.isolation.deprovision(&a).await?;
    let begun = isolation.begin(&a).await;
    assert!(
        matches!(begun, Err(axe_isolation::Error::UnknownEntity { .. })),
        "{begun:?}"
    );

    let mut conn = pool.acquire().await?;
    assert_eq!(whoami(&mut conn).await?.0, f.db.runtime_role().as_str());
    // Answering at all proves it is not stuck inside a failed transaction.
    sqlx::query("SELECT 1").execute(&mut *conn).await?;
    drop(conn);
    let mut tx = isolation.begin(&b).await?;
    assert_eq!(owners(&mut tx).await?, ["b"]);
    tx.commit().await?;
    Ok(())
}

#[tokio::test]
async fn a_pool_checked_before_acquire_hands_out_neutral_connections() -> TestResult {
    let f = fixture(&["a"]).await?;
    let options = PoolGuard::new()
        .check_before_acquire(true)
        .apply(PgPoolOptions::new().max_connections(1));
    let pool = f.db.runtime_pool_with(options).await?;
    let isolation = f.db.isolation_builder_on(pool.clone()).build().await?;
    for _ in 0..3 {
        let mut tx = isolation.begin(&id("a")).await?;
        assert_eq!(owners(&mut tx).await?, ["a"]);
        tx.commit().await?;
        let mut conn = pool.acquire().await?;
        guard::check_neutral(&mut conn).await?;
    }
    Ok(())
}
