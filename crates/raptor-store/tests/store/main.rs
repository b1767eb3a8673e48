//! The store against real databases, on SQLite and PostgreSQL.
//!
//! One test binary per crate: each binary links the whole dependency graph and starts its
//! own PostgreSQL, so one binary with a module per area builds and runs faster than many.

mod audit;
mod bars;
mod concurrent_index;
mod copy_values;
mod dialect;
mod expiry;
mod jobs;
mod migrations;
mod parity;
mod permissions;
mod traces;
