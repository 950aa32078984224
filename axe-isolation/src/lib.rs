#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
//!
//! # Modules
//!
//! | module | what it holds |
//! |---|---|
//! | [`entity_id`] | [`EntityId`], the validated entity name, and the names derived from it |
//! | [`ident`] | [`Ident`], the only kind of name that reaches SQL text; [`RolePrefix`] |
//! | [`isolation`] | [`Isolation`] and its builder |
//! | [`provision`] | `provision`, `deprovision`, `list_entities`, the per-entity lock |
//! | [`tx`] | [`EntityTx`] and `begin`, with why scoping is per transaction |
//! | [`migrate`] | per-entity migrations, the version gate's source, the report |
//! | [`guard`] | the pool hooks that reset role and search path on release |
//! | [`export`] | `export` through `pg_dump` |
//! | `testing` | a throwaway PostgreSQL for tests (feature `test-util`) |
//!
//! # Features
//!
//! | feature | what it adds |
//! |---|---|
//! | `test-util` | `testing::TestDb`: a private PostgreSQL cluster (or `DATABASE_URL`), one database per test, owner and runtime roles |

pub mod entity_id;
pub mod error;
pub mod export;
pub mod guard;
pub mod ident;
pub mod isolation;
pub mod migrate;
pub mod provision;
mod sql_text;
#[cfg(feature = "test-util")]
pub mod testing;
pub mod tx;

pub use entity_id::EntityId;
pub use error::Error;
pub use export::PgDump;
pub use ident::{Ident, NameError, RolePrefix};
pub use isolation::{Isolation, IsolationBuilder};
pub use migrate::{Migrated, MigrationReport, Migrations, SetMigrated};
pub use provision::{Deprovisioned, Provisioned, entity_lock_key};
pub use tx::EntityTx;
