//! Wall tests: inside entity A's transaction, as the runtime role, PostgreSQL refuses to reach B.

use axe_isolation::{EntityTx, Error};

use crate::*;

/// Runs `sql` in a fresh transaction of `entity` and returns the converted error, if any.
async fn attempt(
    isolation: &Isolation,
    entity: &str,
    sql: &'static str,
) -> anyhow::Result<Result<(), Error>> {
    let mut tx = isolation.begin(&id(entity)).await?;
    Ok(sqlx::raw_sql(sql)
        .execute(&mut *tx)
        .await
        .map(drop)
        .map_err(Error::from))
}

fn refused(result: Result<(), Error>) {
    assert!(
        matches!(&result, Err(e) if e.is_permission_denied()),
        "expected PostgreSQL to refuse, got {result:?}"
    );
}

#[tokio::test]
async fn another_entitys_tables_are_refused() -> TestResult {
    let f = fixture(&["a", "b"]).await?;
    refused(attempt(&f.isolation, "a", "SELECT * FROM ent_b.notes").await?);
    refused(
        attempt(
            &f.isolation,
            "a",
            "INSERT INTO ent_b.notes (owner, body) VALUES ('a', 'x')",
        )
        .await?,
    );
    refused(attempt(&f.isolation, "a", "DELETE FROM ent_b.notes").await?);
    // A schema without USAGE is skipped on the search path: B's table is simply not found.
    let via_path = attempt(
        &f.isolation,
        "a",
        "SET LOCAL search_path = ent_b; SELECT * FROM notes",
    )
    .await?;
    assert!(via_path.is_err(), "{via_path:?}");
    Ok(())
}

#[tokio::test]
async fn reset_role_leaves_the_runtime_role_with_no_rights() -> TestResult {
    let f = fixture(&["a", "b"]).await?;
    let mut tx: EntityTx = f.isolation.begin(&id("a")).await?;
    sqlx::query("RESET ROLE").execute(&mut *tx).await?;
    assert_eq!(whoami(&mut tx).await?.0, f.db.runtime_role().as_str());
    let read_b = sqlx::query("SELECT * FROM ent_b.notes")
        .fetch_all(&mut *tx)
        .await
        .map(drop)
        .map_err(Error::from);
    refused(read_b);
    drop(tx);

    // Neither B nor even A: NOINHERIT, and nothing granted to the runtime role itself.
    refused(attempt(&f.isolation, "a", "RESET ROLE; SELECT * FROM ent_a.notes").await?);
    refused(
        attempt(
            &f.isolation,
            "a",
            "SELECT set_config('role', 'none', true); SELECT * FROM ent_b.notes",
        )
        .await?,
    );
    Ok(())
}

#[tokio::test]
async fn creating_objects_is_refused_in_public_and_in_the_entity_schema() -> TestResult {
    let f = fixture(&["a"]).await?;
    refused(attempt(&f.isolation, "a", "CREATE TABLE public.planted (i int)").await?);
    refused(
        attempt(
            &f.isolation,
            "a",
            "CREATE FUNCTION public.f() RETURNS int LANGUAGE sql AS 'SELECT 1'",
        )
        .await?,
    );
    refused(attempt(&f.isolation, "a", "CREATE TABLE planted (i int)").await?);
    refused(attempt(&f.isolation, "a", "CREATE SCHEMA planted").await?);
    refused(
        attempt(
            &f.isolation,
            "a",
            "RESET ROLE; CREATE TABLE public.planted (i int)",
        )
        .await?,
    );
    refused(attempt(&f.isolation, "a", "DROP TABLE notes").await?);
    Ok(())
}

#[tokio::test]
async fn the_entity_role_cannot_forge_its_migration_bookkeeping() -> TestResult {
    let f = fixture(&["a"]).await?;
    refused(attempt(&f.isolation, "a", "DELETE FROM _sqlx_migrations").await?);
    refused(
        attempt(
            &f.isolation,
            "a",
            "UPDATE _sqlx_migrations SET version = 99",
        )
        .await?,
    );
    attempt(
        &f.isolation,
        "a",
        "SELECT max(version) FROM _sqlx_migrations",
    )
    .await??;
    Ok(())
}

/// The documented limit: SQL that itself switches role reaches another entity. The runtime
/// role has to be a member of every entity role to switch into it, so this cannot be walled;
/// it is why SQL text must never be built from request data.
#[tokio::test]
async fn known_limit_sql_that_runs_set_role_passes_the_wall() -> TestResult {
    let f = fixture(&["a", "b"]).await?;
    let b_role = f.isolation.role_of(&id("b"));
    let mut tx = f.isolation.begin(&id("a")).await?;
    sqlx::query("SELECT set_config('role', $1, true)")
        .bind(b_role.as_str())
        .execute(&mut *tx)
        .await?;
    let stolen: Vec<String> = sqlx::query_scalar("SELECT body FROM ent_b.notes")
        .fetch_all(&mut *tx)
        .await?;
    assert_eq!(stolen, ["secret of b"]);
    Ok(())
}

#[tokio::test]
async fn build_refuses_runtime_roles_that_would_pass_the_walls() -> TestResult {
    let db = axe_isolation::testing::TestDb::new().await?;

    // The owner role as runtime role: CREATEROLE (and owner of schemas).
    let built = Isolation::builder(db.owner_pool().clone()).build().await;
    assert!(
        matches!(built, Err(Error::UnsafeRuntimeRole { .. })),
        "{built:?}"
    );

    // A runtime role that inherits would hold every entity's rights without SET ROLE.
    let alter = format!("ALTER ROLE {} INHERIT", db.runtime_role().quoted());
    sqlx::raw_sql(sqlx::AssertSqlSafe(alter))
        .execute(db.owner_pool())
        .await?;
    let built = db.isolation().await;
    assert!(
        matches!(&built, Err(Error::UnsafeRuntimeRole { reason, .. }) if reason.contains("INHERIT")),
        "{built:?}"
    );
    Ok(())
}
