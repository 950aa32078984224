//! Database tests of axe-isolation, against a real PostgreSQL (the crate's own harness): one
//! test binary, so one private cluster for all of them; each test has its own database.

mod export;
mod interleave;
mod leak;
mod migrate;
mod provision;
mod wall;

use axe_isolation::testing::TestDb;
use axe_isolation::{EntityId, Isolation, Migrations};

pub(crate) type TestResult = Result<(), anyhow::Error>;

pub(crate) fn id(s: &str) -> EntityId {
    match EntityId::new(s) {
        Ok(id) => id,
        Err(e) => panic!("test id {s:?}: {e}"),
    }
}

/// The `notes` migration set (versions 1 and 2).
pub(crate) async fn notes() -> anyhow::Result<Migrations> {
    Ok(Migrations::from_dir(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/migrations/notes"
    ))
    .await?)
}

/// The `notes` set cut at `version`.
pub(crate) async fn notes_up_to(version: i64) -> anyhow::Result<Migrations> {
    let all = notes().await?;
    Ok(Migrations::from_vec(
        all.iter()
            .filter(|m| m.version <= version)
            .cloned()
            .collect(),
    )?)
}

/// A database with `entities` provisioned and migrated, each holding one note
/// `owner = <id>`, `body = "secret of <id>"`.
pub(crate) struct Fixture {
    pub(crate) db: TestDb,
    pub(crate) isolation: Isolation,
}

pub(crate) async fn fixture(entities: &[&str]) -> anyhow::Result<Fixture> {
    let db = TestDb::new().await?;
    let isolation = db
        .isolation_builder()
        .migrations(notes().await?)
        .build()
        .await?;
    seed(&isolation, entities).await?;
    Ok(Fixture { db, isolation })
}

pub(crate) async fn seed(isolation: &Isolation, entities: &[&str]) -> anyhow::Result<()> {
    for e in entities {
        let e = id(e);
        isolation.provision(&e).await?;
        isolation.migrate(&e).await?;
        let mut tx = isolation.begin(&e).await?;
        sqlx::query("INSERT INTO notes (owner, body) VALUES ($1, $2)")
            .bind(e.as_str())
            .bind(format!("secret of {e}"))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
    }
    Ok(())
}

/// `(current_user, search_path)` on a connection.
pub(crate) async fn whoami(conn: &mut sqlx::PgConnection) -> anyhow::Result<(String, String)> {
    Ok(
        sqlx::query_as("SELECT current_user::text, current_setting('search_path')")
            .fetch_one(conn)
            .await?,
    )
}
