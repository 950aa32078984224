//! The manifest stored beside each entity's dump: per-table row counts and checksums, taken
//! from the same database snapshot as the dump, so a restore drill can prove the restore.
//!
//! Checksum of a table: `md5` over the sorted `md5` of every row's text form. It depends only
//! on the rows (not on their physical order, nor on collation), so the same rows restored
//! into another database give the same value.

use std::collections::BTreeMap;

use axe_isolation::EntityId;
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;

/// Format version of [`Manifest`].
pub(crate) const MANIFEST_FORMAT: u32 = 1;

/// One entity's manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Manifest {
    pub(crate) format: u32,
    pub(crate) entity: String,
    pub(crate) run_id: String,
    pub(crate) created: String,
    pub(crate) schema: String,
    /// `table name → sums`, tables of the entity's schema.
    pub(crate) tables: BTreeMap<String, TableSums>,
    /// The dump this manifest describes.
    pub(crate) dump: DumpFacts,
}

/// Row count and checksum of one table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct TableSums {
    pub(crate) rows: i64,
    pub(crate) checksum: String,
}

/// What the runner saw of the dump stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct DumpFacts {
    pub(crate) file: String,
    pub(crate) bytes: u64,
    pub(crate) sha256: String,
    pub(crate) snapshot: String,
}

/// A difference between a manifest and a restored database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Mismatch {
    pub(crate) table: String,
    pub(crate) expected: Option<TableSums>,
    pub(crate) found: Option<TableSums>,
}

/// Per-table sums of `entity`'s schema, read on `conn` (inside the caller's transaction).
pub(crate) async fn table_sums(
    conn: &mut PgConnection,
    entity: &EntityId,
) -> Result<BTreeMap<String, TableSums>, sqlx::Error> {
    // The server quotes the names (`format('%I.%I')`): no identifier is spliced by hand.
    let tables: Vec<(String, String)> = sqlx::query_as(
        "SELECT c.relname::text, format('%I.%I', n.nspname, c.relname) \
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') ORDER BY 1",
    )
    .bind(entity.schema().as_str())
    .fetch_all(&mut *conn)
    .await?;
    let mut sums = BTreeMap::new();
    for (name, qualified) in tables {
        let sql = format!(
            "SELECT count(*), md5(coalesce(string_agg(h, '' ORDER BY h), '')) \
             FROM (SELECT md5(t::text) AS h FROM ONLY {qualified} t) rows"
        );
        let (rows, checksum): (i64, String) = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .fetch_one(&mut *conn)
            .await?;
        sums.insert(name, TableSums { rows, checksum });
    }
    Ok(sums)
}

/// Differences between `expected` (the manifest) and `found` (the restore).
pub(crate) fn compare(
    expected: &BTreeMap<String, TableSums>,
    found: &BTreeMap<String, TableSums>,
) -> Vec<Mismatch> {
    let mut names: Vec<&String> = expected.keys().chain(found.keys()).collect();
    names.sort();
    names.dedup();
    names
        .into_iter()
        .filter_map(|name| {
            let e = expected.get(name);
            let f = found.get(name);
            (e != f).then(|| Mismatch {
                table: name.clone(),
                expected: e.cloned(),
                found: f.cloned(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sums(rows: i64, checksum: &str) -> TableSums {
        TableSums {
            rows,
            checksum: checksum.into(),
        }
    }

    #[test]
    fn compare_names_every_difference() {
        let expected = BTreeMap::from([
            ("a".to_owned(), sums(1, "x")),
            ("b".to_owned(), sums(2, "y")),
            ("c".to_owned(), sums(3, "z")),
        ]);
        let found = BTreeMap::from([
            ("a".to_owned(), sums(1, "x")),
            ("b".to_owned(), sums(2, "other")),
            ("d".to_owned(), sums(0, "w")),
        ]);
        let diff: Vec<String> = compare(&expected, &found)
            .into_iter()
            .map(|m| m.table)
            .collect();
        assert_eq!(diff, ["b", "c", "d"]);
        assert!(compare(&expected, &expected).is_empty());
    }
}
