#![doc = include_str!("../README.md")]
//!
//! # Features
//!
//! | feature | what it adds |
//! |---|---|
//! | `http` | `refusals`: a tower layer recording refused HTTP requests (401/403) in the operator log |
//!
//! # Modules
//!
//! | module | what it holds |
//! |---|---|
//! | [`event`] | [`NewEvent`] (what a caller records), [`AuditEvent`] (a recorded row) and their parts |
//! | [`chain`] | the hash chain: canonical JSON (RFC 8785), `hash = SHA-256(prev_hash ‖ JSON)`, the lock key |
//! | [`store`] | [`record`], [`AuditLog`] (`record_standalone`, `tail`, `query`), the migrations |
//! | [`keys`] | master keys ([`keys::MasterKey`], [`keys::KeyProvider`], [`keys::LocalKeys`]) and data keys |
//! | [`envelope`] | [`Envelope`]: seal, open, blind index, per-column keys; `seal_with`/`open_with` |
//! | [`export`] | JSONL export ([`AuditLog::export_jsonl`]) and [`export::verify_jsonl`] |
//! | [`format`](mod@format) | the versioned binary format of a sealed field and its AAD |
//! | [`pii`] | [`Pii`] (prints `[redacted]`) and [`Sealed`] |
//! | [`args_digest`] | [`ArgsDigest`]: keyed digests of tool arguments ([`Envelope::args_digest`]) |
//! | [`blind_index`] | truncated HMAC-SHA256 blind indexes |
//! | [`operator`] | [`OperatorLog`]: the chain of events that belong to no entity (`axe_audit.operator_log`) |
//! | `refusals` | (feature `http`) `RefusalLayer`: refused HTTP requests into the operator log |
//! | [`rotate`] | [`Envelope::rotate_master`] (rewrap every data key), [`Envelope::rotate_dek`] (a new data key version) and the per-key seal counter |
//! | [`reencrypt`] | [`Envelope::reencrypt`]: re-seal named columns under the current data key, with progress |
//! | [`shred`] | [`Envelope::shred`]: crypto-shredding |
//! | [`verify`] | [`AuditLog::verify`] and the [`BrokenLink`] it names |

pub mod args_digest;
pub mod blind_index;
pub mod chain;
pub mod envelope;
pub mod error;
pub mod event;
pub mod export;
pub mod format;
pub mod keys;
pub mod operator;
pub mod pii;
pub mod reencrypt;
#[cfg(feature = "http")]
pub mod refusals;
pub mod rotate;
pub mod shred;
pub mod store;
pub mod verify;

pub use args_digest::ArgsDigest;
pub use envelope::{Envelope, Field};
pub use error::{CryptoError, Error};
pub use event::{Actor, AuditEvent, NewEvent, Outcome, Source, Target, Timestamp};
pub use operator::OperatorLog;
pub use pii::{Pii, Sealed};
pub use store::{AuditLog, MIGRATIONS_TABLE, Query, migrations, record};
pub use verify::{BrokenLink, LinkFault, Verified};
