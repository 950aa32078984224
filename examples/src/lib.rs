//! Runnable examples of the axe SDK (not published).
//!
//! Each example is a folder with a `main.rs` and its modules, run from the repository root:
//!
//! | example | run | what it shows |
//! |---|---|---|
//! | `backup-runner` | `cargo run --example backup-runner -- --config backup.yaml run` | restic backups of the frame PostgreSQL (per entity) and folders in three tiers, retention, rotating verification, restore drills into a scratch database |
//!
//! The library part of this package only holds documentation (and, later, code that several
//! examples share).
