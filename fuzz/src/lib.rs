//! The fuzz targets' bodies, shared with the stable seed-corpus test of the main
//! workspace (`tests/fuzz_bodies_over_seed_corpus.rs` includes `bodies.rs` by path).

#[path = "bodies.rs"]
mod bodies;
pub use bodies::*;
