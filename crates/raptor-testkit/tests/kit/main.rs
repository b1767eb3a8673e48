//! The app test kit's own guarantees.
//!
//! One test binary per crate: each binary links the whole dependency graph and starts its
//! own PostgreSQL, so one binary with a module per area builds and runs faster than many.

mod fixture;
mod problem;
