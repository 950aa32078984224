//! The frame-proxy example's unit tests (config and backend URLs, session affinity, reading a
//! challenge, the headers it adds and removes, telling HTTP/1.x from h2c, the reusing header timer).
//!
//! They live beside the code in `#[cfg(test)]` modules; this target compiles those
//! self-contained modules on their own so `cargo test` runs them. (Marking the example
//! `test = true` would run them too, but then `cargo test` stops building the example's
//! binary, which `tests/frame_proxy.rs` starts.)
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

#[path = "../frame-proxy/affinity.rs"]
mod affinity;
#[path = "../frame-proxy/challenge.rs"]
mod challenge;
#[path = "../frame-proxy/cli.rs"]
mod cli;
#[path = "../frame-proxy/color.rs"]
mod color;
#[path = "../frame-proxy/config.rs"]
mod config;
#[path = "../frame-proxy/headers.rs"]
mod headers;
#[path = "../frame-proxy/sniff.rs"]
mod sniff;
#[path = "../frame-proxy/timer.rs"]
mod timer;
