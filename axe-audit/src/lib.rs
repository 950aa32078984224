#![doc = include_str!("../README.md")]
//!
//! # Modules
//!
//! | module | what it holds |
//! |---|---|
//! | [`event`] | [`NewEvent`] (what a caller records), [`AuditEvent`] (a recorded row) and their parts |
//! | [`chain`] | the hash chain: canonical JSON (RFC 8785), `hash = SHA-256(prev_hash ‖ JSON)`, the lock key |
//! | [`store`] | [`record`], [`AuditLog`] (`record_standalone`, `tail`, `query`), the migrations |
//! | [`verify`] | [`AuditLog::verify`] and the [`BrokenLink`] it names |

pub mod chain;
pub mod error;
pub mod event;
pub mod store;
pub mod verify;

pub use error::Error;
pub use event::{Actor, AuditEvent, NewEvent, Outcome, Source, Target, Timestamp};
pub use store::{AuditLog, MIGRATIONS_TABLE, Query, migrations, record};
pub use verify::{BrokenLink, LinkFault, Verified};
