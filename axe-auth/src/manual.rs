//! The security decisions of `axe-auth`, and why each default is what it is.
//!
//! This module has no code; it is documentation that travels with the crate.
//!
#![doc = include_str!("manual.md")]
