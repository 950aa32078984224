//! The unit tests inside the backup-runner example's modules.
//!
//! `test = true` on the example would make `cargo test` build only its test harness and not
//! the plain binary that `tests/backup_runner` starts; so the example's modules (all but
//! `main.rs`) are compiled a second time here, at this test crate's root, where their
//! `crate::` paths resolve as in the example.
#![allow(clippy::unwrap_used, dead_code, unreachable_pub, missing_docs)]

#[path = "../backup-runner/config.rs"]
mod config;
#[path = "../backup-runner/db.rs"]
mod db;
#[path = "../backup-runner/drill.rs"]
mod drill;
#[path = "../backup-runner/manifest.rs"]
mod manifest;
#[path = "../backup-runner/progress.rs"]
mod progress;
#[path = "../backup-runner/report.rs"]
mod report;
#[path = "../backup-runner/restic.rs"]
mod restic;
#[path = "../backup-runner/run.rs"]
mod run;
#[path = "../backup-runner/stream.rs"]
mod stream;
#[path = "../backup-runner/verify.rs"]
mod verify;
#[path = "../backup-runner/webhook.rs"]
mod webhook;
