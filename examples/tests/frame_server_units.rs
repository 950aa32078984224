//! The frame-server example's unit tests (config parsing, input checks, request ids).
//!
//! They live beside the code in `#[cfg(test)]` modules; this target compiles those
//! self-contained modules on their own so `cargo test` runs them. (Marking the example
//! `test = true` would run them too, but then `cargo test` stops building the example's
//! binary, which the end-to-end tests start.)
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

#[path = "../frame-server/config.rs"]
mod config;
#[path = "../frame-server/request_id.rs"]
mod request_id;
#[path = "../frame-server/tools/validate.rs"]
mod validate;
