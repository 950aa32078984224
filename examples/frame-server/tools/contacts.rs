//! `contacts_*`: people of the entity, with name, email and phone sealed by axe-audit's PII
//! envelope. The database holds ciphertext bound to (entity, table, column, row id) and, for
//! the email, a blind index (an HMAC keyed from the entity's data key) for equality search.

use axe_audit::blind_index::normalize_email;
use axe_audit::{Envelope, Field, Sealed, Target};
use axe_isolation::EntityId;
use axe_mcp::{Tool, ToolCtx, ToolError, ToolSpec};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::validate;

const TABLE: &str = "contacts";
/// Most contacts `contacts_find_by_email` returns.
const MAX_MATCHES: i64 = 50;

/// Adds a contact.
pub(crate) struct ContactsCreate;

/// A new contact.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateInput {
    /// Full name, 1–200 characters.
    name: String,
    /// Email address (searchable with `contacts_find_by_email`).
    email: String,
    /// Phone number: digits, spaces and `+ - ( ) .`, up to 32 characters.
    #[serde(default)]
    phone: Option<String>,
}

/// The new contact's id.
#[derive(Serialize, JsonSchema)]
pub(crate) struct CreateOutput {
    /// The contact id (a UUID).
    id: String,
}

/// A contact, opened.
#[derive(Serialize, JsonSchema)]
pub(crate) struct Contact {
    /// The contact id.
    id: String,
    /// Full name.
    name: String,
    /// Email address.
    email: String,
    /// Phone number, if given.
    phone: Option<String>,
    /// When it was added (RFC 3339, UTC).
    created_at: String,
}

async fn seal(
    pii: &Envelope,
    entity: &EntityId,
    column: &str,
    id: &str,
    value: &str,
) -> Result<Vec<u8>, ToolError> {
    Ok(pii
        .seal(&Field::new(entity, TABLE, column, id), value.as_bytes())
        .await?
        .into_bytes())
}

async fn open(
    pii: &Envelope,
    entity: &EntityId,
    column: &str,
    id: &str,
    sealed: Vec<u8>,
) -> Result<String, ToolError> {
    let clear = pii
        .open(
            &Field::new(entity, TABLE, column, id),
            &Sealed::from_bytes(sealed),
        )
        .await?;
    String::from_utf8(clear.into_inner()).map_err(ToolError::internal)
}

async fn email_index(pii: &Envelope, entity: &EntityId, email: &str) -> Result<Vec<u8>, ToolError> {
    Ok(pii
        .blind_index(entity, TABLE, "email", normalize_email(email).as_bytes())
        .await?)
}

impl Tool for ContactsCreate {
    type Input = CreateInput;
    type Output = CreateOutput;

    fn spec(&self) -> ToolSpec {
        ToolSpec::new(
            "contacts_create",
            "Adds a contact (name, email, optional phone) to your entity. The personal data is \
             stored encrypted.",
        )
        .title("Add a contact")
    }

    async fn call(&self, ctx: &mut ToolCtx, input: CreateInput) -> Result<CreateOutput, ToolError> {
        validate::name(&input.name)?;
        validate::email(&input.email)?;
        if let Some(phone) = &input.phone {
            validate::phone(phone)?;
        }
        let id = Uuid::new_v4();
        let id_text = id.to_string();
        let entity = ctx.entity().clone();
        let pii = ctx.pii()?.clone();
        let name = seal(&pii, &entity, "name", &id_text, input.name.trim()).await?;
        let email = seal(&pii, &entity, "email", &id_text, &input.email).await?;
        let index = email_index(&pii, &entity, &input.email).await?;
        let phone = match &input.phone {
            Some(p) => Some(seal(&pii, &entity, "phone", &id_text, p).await?),
            None => None,
        };
        sqlx::query(
            "INSERT INTO contacts (id, name_sealed, email_sealed, email_index, phone_sealed) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id)
        .bind(name)
        .bind(email)
        .bind(index)
        .bind(phone)
        .execute(&mut *ctx.tx)
        .await?;
        ctx.set_target(Target::new("contact", id_text.clone()));
        Ok(CreateOutput { id: id_text })
    }
}

type Row = (Uuid, Vec<u8>, Vec<u8>, Option<Vec<u8>>, String);

const SELECT: &str = "SELECT id, name_sealed, email_sealed, phone_sealed, \
    to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') FROM contacts";

async fn open_row(pii: &Envelope, entity: &EntityId, row: Row) -> Result<Contact, ToolError> {
    let (id, name, email, phone, created_at) = row;
    let id = id.to_string();
    Ok(Contact {
        name: open(pii, entity, "name", &id, name).await?,
        email: open(pii, entity, "email", &id, email).await?,
        phone: match phone {
            Some(p) => Some(open(pii, entity, "phone", &id, p).await?),
            None => None,
        },
        id,
        created_at,
    })
}

/// Reads a contact.
pub(crate) struct ContactsGet;

/// Which contact.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct GetInput {
    /// The contact id (a UUID).
    id: String,
}

impl Tool for ContactsGet {
    type Input = GetInput;
    type Output = Contact;

    fn spec(&self) -> ToolSpec {
        ToolSpec::new("contacts_get", "Reads a contact of your entity by its id.")
            .title("Read a contact")
            .read_only()
            .idempotent()
    }

    async fn call(&self, ctx: &mut ToolCtx, input: GetInput) -> Result<Contact, ToolError> {
        let id = Uuid::parse_str(&input.id)
            .map_err(|_| ToolError::invalid_input("id must be a UUID"))?;
        let row: Option<Row> =
            sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT} WHERE id = $1")))
                .bind(id)
                .fetch_optional(&mut *ctx.tx)
                .await?;
        ctx.set_target(Target::new("contact", id.to_string()));
        let row = row.ok_or_else(|| ToolError::not_found(format!("no contact with id {id}")))?;
        let entity = ctx.entity().clone();
        open_row(ctx.pii()?, &entity, row).await
    }
}

/// Finds contacts by email.
pub(crate) struct ContactsFindByEmail;

/// The address to look for.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct FindInput {
    /// The email address (compared case-insensitively, after IDNA normalization of the
    /// domain).
    email: String,
}

/// The matching contacts.
#[derive(Serialize, JsonSchema)]
pub(crate) struct FindOutput {
    /// Contacts with that email, oldest first (at most 50).
    contacts: Vec<Contact>,
}

impl Tool for ContactsFindByEmail {
    type Input = FindInput;
    type Output = FindOutput;

    fn spec(&self) -> ToolSpec {
        ToolSpec::new(
            "contacts_find_by_email",
            "Finds the contacts of your entity with this email address.",
        )
        .title("Find contacts by email")
        .read_only()
        .idempotent()
    }

    async fn call(&self, ctx: &mut ToolCtx, input: FindInput) -> Result<FindOutput, ToolError> {
        validate::email(&input.email)?;
        let entity = ctx.entity().clone();
        let pii = ctx.pii()?.clone();
        let index = email_index(&pii, &entity, &input.email).await?;
        let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{SELECT} WHERE email_index = $1 ORDER BY created_at, id LIMIT $2"
        )))
        .bind(index)
        .bind(MAX_MATCHES)
        .fetch_all(&mut *ctx.tx)
        .await?;
        let mut contacts = Vec::with_capacity(rows.len());
        for row in rows {
            contacts.push(open_row(&pii, &entity, row).await?);
        }
        Ok(FindOutput { contacts })
    }
}
