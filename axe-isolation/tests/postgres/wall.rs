//! Wall tests: inside entity A's transaction, as the runtime role, PostgreSQL refuses to reach B.

use axe_isolation::{EntityTx, Error};

use crate::*;

/// What `sql` did in a transaction of an entity, begun both ways `begin` has.
#[derive(Debug)]
struct Outcomes {
    /// From an `Isolation` that served the entity before: the folded one-round-trip `BEGIN`.
    folded: Result<(), Error>,
    /// From a fresh `Isolation`: `BEGIN`, the bind-parameter scope statement, the checks.
    first_use: Result<(), Error>,
}

impl Outcomes {
    fn ok(self) -> Result<(), Error> {
        self.folded.and(self.first_use)
    }
}

/// Runs `sql` in a transaction of `entity` from `isolation`; returns the converted error.
async fn run_in(
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

/// Runs `sql` in a transaction of `entity` begun both ways: from the fixture's `Isolation`
/// (which seeded the entity, so its `begin` is the folded one) and from a fresh one.
async fn attempt(f: &Fixture, entity: &str, sql: &'static str) -> anyhow::Result<Outcomes> {
    let folded = run_in(&f.isolation, entity, sql).await?;
    let fresh =
        f.db.isolation_builder()
            .migrations(notes().await?)
            .build()
            .await?;
    let first_use = run_in(&fresh, entity, sql).await?;
    Ok(Outcomes { folded, first_use })
}

fn refused(outcomes: Outcomes) {
    for result in [&outcomes.folded, &outcomes.first_use] {
        assert!(
            matches!(result, Err(e) if e.is_permission_denied()),
            "expected PostgreSQL to refuse on both begin paths, got {outcomes:?}"
        );
    }
}

fn refused_once(result: Result<(), Error>) {
    assert!(
        matches!(&result, Err(e) if e.is_permission_denied()),
        "expected PostgreSQL to refuse, got {result:?}"
    );
}

#[tokio::test]
async fn another_entitys_tables_are_refused() -> TestResult {
    let f = fixture(&["a", "b"]).await?;
    refused(attempt(&f, "a", "SELECT * FROM ent_b.notes").await?);
    refused(
        attempt(
            &f,
            "a",
            "INSERT INTO ent_b.notes (owner, body) VALUES ('a', 'x')",
        )
        .await?,
    );
    refused(attempt(&f, "a", "DELETE FROM ent_b.notes").await?);
    // A schema without USAGE is skipped on the search path: B's table is simply not found.
    let via_path = attempt(
        &f,
        "a",
        "SET LOCAL search_path = ent_b; SELECT * FROM notes",
    )
    .await?;
    assert!(
        via_path.folded.is_err() && via_path.first_use.is_err(),
        "{via_path:?}"
    );
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
    refused_once(read_b);
    drop(tx);

    // Neither B nor even A: NOINHERIT, and nothing granted to the runtime role itself.
    refused(attempt(&f, "a", "RESET ROLE; SELECT * FROM ent_a.notes").await?);
    refused(
        attempt(
            &f,
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
    refused(attempt(&f, "a", "CREATE TABLE public.planted (i int)").await?);
    refused(
        attempt(
            &f,
            "a",
            "CREATE FUNCTION public.f() RETURNS int LANGUAGE sql AS 'SELECT 1'",
        )
        .await?,
    );
    refused(attempt(&f, "a", "CREATE TABLE planted (i int)").await?);
    refused(attempt(&f, "a", "CREATE SCHEMA planted").await?);
    refused(attempt(&f, "a", "RESET ROLE; CREATE TABLE public.planted (i int)").await?);
    refused(attempt(&f, "a", "DROP TABLE notes").await?);
    Ok(())
}

#[tokio::test]
async fn the_entity_role_cannot_forge_its_migration_bookkeeping() -> TestResult {
    let f = fixture(&["a"]).await?;
    refused(attempt(&f, "a", "DELETE FROM _sqlx_migrations").await?);
    refused(attempt(&f, "a", "UPDATE _sqlx_migrations SET version = 99").await?);
    attempt(&f, "a", "SELECT max(version) FROM _sqlx_migrations")
        .await?
        .ok()?;
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

/// Runs `sql` (with `{rt}` replaced by the quoted runtime role) as the harness's administrative
/// login, which may do what the owner role may not (make a role a superuser).
async fn as_admin(db: &axe_isolation::testing::TestDb, sql: &str) -> anyhow::Result<()> {
    use sqlx::{ConnectOptions, Connection};
    let mut conn = db.admin_connect_options().connect().await?;
    let sql = sql.replace("{rt}", &db.runtime_role().quoted());
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .execute(&mut conn)
        .await?;
    conn.close().await?;
    Ok(())
}

/// Each property that would let the runtime role pass the walls, one at a time: `build`
/// refuses it and names it, and accepts the same role again once the property is undone.
#[tokio::test]
async fn build_refuses_each_unsafe_runtime_role_property() -> TestResult {
    let db = axe_isolation::testing::TestDb::new().await?;
    let super_role = format!("{}_su", db.runtime_role().as_str());
    let owner = db.owner_role().quoted();
    let cases: [(String, &str, String); 6] = [
        (
            "ALTER ROLE {rt} SUPERUSER".into(),
            "superuser",
            "ALTER ROLE {rt} NOSUPERUSER".into(),
        ),
        (
            "ALTER ROLE {rt} BYPASSRLS".into(),
            "BYPASSRLS",
            "ALTER ROLE {rt} NOBYPASSRLS".into(),
        ),
        (
            "ALTER ROLE {rt} CREATEROLE".into(),
            "CREATEROLE",
            "ALTER ROLE {rt} NOCREATEROLE".into(),
        ),
        (
            format!(
                "CREATE ROLE \"{super_role}\" NOLOGIN SUPERUSER; GRANT \"{super_role}\" TO {{rt}}"
            ),
            "member of a superuser role",
            format!("DROP ROLE \"{super_role}\""),
        ),
        (
            format!("GRANT {owner} TO {{rt}}"),
            "member of the owner",
            format!("REVOKE {owner} FROM {{rt}}"),
        ),
        (
            "CREATE SCHEMA planted AUTHORIZATION {rt}".into(),
            "owns a schema",
            "DROP SCHEMA planted".into(),
        ),
    ];

    db.isolation().await?;
    for (make_unsafe, reason_names, undo) in cases {
        as_admin(&db, &make_unsafe).await?;
        let built = db.isolation().await;
        assert!(
            matches!(
                &built,
                Err(Error::UnsafeRuntimeRole { role, reason })
                    if role == db.runtime_role().as_str() && reason.contains(reason_names)
            ),
            "after `{make_unsafe}`: {built:?}"
        );
        as_admin(&db, &undo).await?;
        db.isolation().await?;
    }
    Ok(())
}
