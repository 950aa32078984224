//! The live database: connections, the entity list, and `pg_*` tool command lines that reach
//! it with the same URL and password.

use axe_isolation::EntityId;
use sqlx::{ConnectOptions, PgConnection};
use tokio::process::Command;

use crate::config::{Database, Entities};

/// libpq variables that could point a tool at another server or file: cleared.
const PG_ENV: &[&str] = &[
    "PGSERVICE",
    "PGSERVICEFILE",
    "PGHOST",
    "PGHOSTADDR",
    "PGPORT",
    "PGDATABASE",
    "PGUSER",
    "PGPASSWORD",
    "PGPASSFILE",
    "PGOPTIONS",
];

/// One connection to the live database.
pub(crate) async fn connect(db: &Database) -> Result<PgConnection, sqlx::Error> {
    let mut options = db.options.clone();
    if let Some(password) = &db.password {
        options = options.password(password);
    }
    options.connect().await
}

/// One connection to another database of the same server (a scratch database).
pub(crate) async fn connect_to(db: &Database, name: &str) -> Result<PgConnection, sqlx::Error> {
    let mut options = db.options.clone().database(name);
    if let Some(password) = &db.password {
        options = options.password(password);
    }
    options.connect().await
}

/// `bin_dir/tool` with the password in `PGPASSWORD` (never on the command line) and every
/// other libpq variable cleared.
pub(crate) fn tool(db: &Database, name: &str) -> Command {
    let mut command = Command::new(db.tool(name));
    for var in PG_ENV {
        command.env_remove(var);
    }
    if let Some(password) = &db.password {
        command.env("PGPASSWORD", password);
    }
    command.arg("--no-password");
    command
}

/// The URL of database `name` on the live database's server.
pub(crate) fn url_of(db: &Database, name: &str) -> Result<String, String> {
    let mut url = reqwest::Url::parse(&db.url).map_err(|e| e.to_string())?;
    url.set_path(&format!("/{name}"));
    Ok(url.to_string())
}

/// The entities to back up: the configured list, or every `ent_<valid id>` schema.
///
/// `Isolation::list_entities` runs on axe-isolation's runtime pool, which refuses a superuser
/// or owner login; the backup role is one of those, so the same catalog query runs here and
/// axe-isolation's `EntityId::from_schema` decides what is an entity schema.
pub(crate) async fn entities(
    db: &Database,
    wanted: &Entities,
) -> Result<Vec<EntityId>, sqlx::Error> {
    match wanted {
        Entities::Listed(list) => Ok(list.clone()),
        Entities::All => {
            let mut conn = connect(db).await?;
            let schemas: Vec<String> = sqlx::query_scalar(
                "SELECT nspname::text FROM pg_namespace WHERE nspname LIKE 'ent\\_%' ORDER BY 1",
            )
            .fetch_all(&mut conn)
            .await?;
            Ok(schemas
                .iter()
                .filter_map(|s| EntityId::from_schema(s))
                .collect())
        }
    }
}
