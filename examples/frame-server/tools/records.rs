//! `records_*`: a JSON document store per entity (the frame's data), in table `records` of
//! the caller's entity schema.

use axe_audit::Target;
use axe_mcp::{Tool, ToolCtx, ToolError, ToolSpec};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::validate;

/// Default page size of `records_list`.
const DEFAULT_PAGE: u32 = 20;
/// Largest page size of `records_list`.
const MAX_PAGE: u32 = 100;

/// `updated_at`/`created_at` as RFC 3339 text in UTC.
const TS: &str = r#"'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'"#;

/// Creates or replaces a record.
pub(crate) struct RecordsPut;

/// A record to store.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PutInput {
    /// The record id: 1–128 of letters, digits and `_ . : -`.
    id: String,
    /// The document: any JSON value up to 64 KiB (compact) and 32 levels deep.
    body: Value,
}

/// What was stored.
#[derive(Serialize, JsonSchema)]
pub(crate) struct PutOutput {
    /// The record id.
    id: String,
    /// The record's version: 1 when created, +1 on each replacement.
    version: i64,
    /// True when the record did not exist before.
    created: bool,
}

impl Tool for RecordsPut {
    type Input = PutInput;
    type Output = PutOutput;

    fn spec(&self) -> ToolSpec {
        ToolSpec::new(
            "records_put",
            "Stores a JSON document under an id in your entity, replacing any document with \
             that id.",
        )
        .title("Store a record")
        .destructive()
        .idempotent()
    }

    async fn call(&self, ctx: &mut ToolCtx, input: PutInput) -> Result<PutOutput, ToolError> {
        validate::record_id("id", &input.id)?;
        validate::record_body(&input.body)?;
        let (version, created): (i64, bool) = sqlx::query_as(
            "INSERT INTO records (id, body) VALUES ($1, $2) \
             ON CONFLICT (id) DO UPDATE SET body = EXCLUDED.body, \
                 version = records.version + 1, updated_at = now() \
             RETURNING version, (xmax = 0)",
        )
        .bind(&input.id)
        .bind(sqlx::types::Json(&input.body))
        .fetch_one(&mut *ctx.tx)
        .await?;
        ctx.set_target(Target::new("record", input.id.clone()));
        Ok(PutOutput {
            id: input.id,
            version,
            created,
        })
    }
}

/// Reads a record.
pub(crate) struct RecordsGet;

/// Which record.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct IdInput {
    /// The record id.
    id: String,
}

/// A stored record.
#[derive(Serialize, JsonSchema)]
pub(crate) struct Record {
    /// The record id.
    id: String,
    /// The document.
    body: Value,
    /// Its version.
    version: i64,
    /// When it was created (RFC 3339, UTC).
    created_at: String,
    /// When it was last replaced (RFC 3339, UTC).
    updated_at: String,
}

impl Tool for RecordsGet {
    type Input = IdInput;
    type Output = Record;

    fn spec(&self) -> ToolSpec {
        ToolSpec::new(
            "records_get",
            "Reads the JSON document stored under an id in your entity.",
        )
        .title("Read a record")
        .read_only()
        .idempotent()
    }

    async fn call(&self, ctx: &mut ToolCtx, input: IdInput) -> Result<Record, ToolError> {
        validate::record_id("id", &input.id)?;
        let sql = format!(
            "SELECT body, version, to_char(created_at AT TIME ZONE 'UTC', {TS}), \
                    to_char(updated_at AT TIME ZONE 'UTC', {TS}) \
             FROM records WHERE id = $1"
        );
        let row: Option<(sqlx::types::Json<Value>, i64, String, String)> =
            sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(&input.id)
                .fetch_optional(&mut *ctx.tx)
                .await?;
        ctx.set_target(Target::new("record", input.id.clone()));
        let Some((body, version, created_at, updated_at)) = row else {
            return Err(ToolError::not_found(format!(
                "no record with id {}",
                input.id
            )));
        };
        Ok(Record {
            id: input.id,
            body: body.0,
            version,
            created_at,
            updated_at,
        })
    }
}

/// Lists records a page at a time.
pub(crate) struct RecordsList;

/// Which page.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListInput {
    /// Only ids that start with this text.
    #[serde(default)]
    prefix: Option<String>,
    /// The `next_cursor` of the previous page; leave out for the first page.
    #[serde(default)]
    cursor: Option<String>,
    /// Records per page, 1–100 (default 20).
    #[serde(default)]
    limit: Option<u32>,
}

/// One entry of a page.
#[derive(Serialize, JsonSchema)]
pub(crate) struct ListEntry {
    /// The record id.
    id: String,
    /// Its version.
    version: i64,
    /// When it was last replaced (RFC 3339, UTC).
    updated_at: String,
}

/// A page of records, in id order.
#[derive(Serialize, JsonSchema)]
pub(crate) struct ListOutput {
    /// The records of this page.
    records: Vec<ListEntry>,
    /// Pass as `cursor` for the next page; absent on the last page.
    next_cursor: Option<String>,
}

impl Tool for RecordsList {
    type Input = ListInput;
    type Output = ListOutput;

    fn spec(&self) -> ToolSpec {
        ToolSpec::new(
            "records_list",
            "Lists the record ids of your entity in id order, a page at a time (use \
             next_cursor for the next page).",
        )
        .title("List records")
        .read_only()
        .idempotent()
    }

    async fn call(&self, ctx: &mut ToolCtx, input: ListInput) -> Result<ListOutput, ToolError> {
        let limit = input.limit.unwrap_or(DEFAULT_PAGE);
        if !(1..=MAX_PAGE).contains(&limit) {
            return Err(ToolError::invalid_input(format!(
                "limit must be between 1 and {MAX_PAGE}"
            )));
        }
        if let Some(cursor) = &input.cursor {
            validate::record_id("cursor", cursor)?;
        }
        if let Some(prefix) = &input.prefix
            && !prefix.is_empty()
        {
            validate::record_id("prefix", prefix)?;
        }
        // One more than the page, to know whether another page follows (keyset pagination:
        // stable under concurrent inserts, no OFFSET scan).
        let sql = format!(
            "SELECT id, version, to_char(updated_at AT TIME ZONE 'UTC', {TS}) FROM records \
             WHERE ($1::text IS NULL OR id > $1) AND ($2::text IS NULL OR starts_with(id, $2)) \
             ORDER BY id LIMIT $3"
        );
        let mut rows: Vec<(String, i64, String)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(&input.cursor)
            .bind(&input.prefix)
            .bind(i64::from(limit) + 1)
            .fetch_all(&mut *ctx.tx)
            .await?;
        let more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        let next_cursor = more.then(|| rows.last().map(|r| r.0.clone())).flatten();
        Ok(ListOutput {
            records: rows
                .into_iter()
                .map(|(id, version, updated_at)| ListEntry {
                    id,
                    version,
                    updated_at,
                })
                .collect(),
            next_cursor,
        })
    }
}

/// Deletes a record.
pub(crate) struct RecordsDelete;

/// What was deleted.
#[derive(Serialize, JsonSchema)]
pub(crate) struct DeleteOutput {
    /// The record id.
    id: String,
    /// False when there was no such record.
    deleted: bool,
}

impl Tool for RecordsDelete {
    type Input = IdInput;
    type Output = DeleteOutput;

    fn spec(&self) -> ToolSpec {
        ToolSpec::new(
            "records_delete",
            "Deletes the record with this id from your entity.",
        )
        .title("Delete a record")
        .destructive()
        .idempotent()
    }

    async fn call(&self, ctx: &mut ToolCtx, input: IdInput) -> Result<DeleteOutput, ToolError> {
        validate::record_id("id", &input.id)?;
        let done = sqlx::query("DELETE FROM records WHERE id = $1")
            .bind(&input.id)
            .execute(&mut *ctx.tx)
            .await?;
        ctx.set_target(Target::new("record", input.id.clone()));
        Ok(DeleteOutput {
            id: input.id,
            deleted: done.rows_affected() > 0,
        })
    }
}
