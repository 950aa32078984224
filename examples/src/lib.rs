//! Runnable examples of the axe SDK. This library holds no code: each example is an
//! `[[example]]` target of this package, a folder with a `main.rs` and its modules.
//!
//! | example | run it with | what it is |
//! |---|---|---|
//! | `frame-server` | `cargo run --example frame-server` | the frame MCP server: dev mode with no arguments (own PostgreSQL, dev token issuer, sample customers), production with `--config frame.yaml` |
//!
//! The integration tests under `examples/tests/` start the built example binaries
//! (`target/<profile>/examples/<name>`) and drive them over HTTP.
