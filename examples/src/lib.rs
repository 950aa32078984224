//! Runnable examples of the axe SDK (this package is not published).
//!
//! Each example is a folder next to this crate's `src/` with a `main.rs` and its modules, run
//! from the repository root:
//!
//! | example | run | what it shows |
//! | --- | --- | --- |
//! | `frame-server` | `cargo run --example frame-server` | the frame MCP server: dev mode with no arguments (own PostgreSQL, dev token issuer, sample customers), production with `--config frame.yaml` |
//! | `frame-proxy` | `cargo run --example frame-proxy -- run` | blue/green selector in front of two frame servers: zero-downtime swaps, session affinity while the old color drains, SSE streams ended cleanly at the drain deadline, a loopback control API (`status`, `swap`, `rollback`) |
//! | `backup-runner` | `cargo run --example backup-runner -- --config backup.yaml run` | restic backups of the frame PostgreSQL (per entity) and folders in three tiers, retention, rotating verification, restore drills into a scratch database |
//!
//! The library part only holds documentation (and, later, code the examples share); the
//! examples' integration tests live in `examples/tests/` and start the built example binaries.
