//! Criterion benchmarks for the axe crates live in `benches/benches/`; this
//! library only exists so the package has a target. Run them with
//! `cargo bench -p axe-benches`.
