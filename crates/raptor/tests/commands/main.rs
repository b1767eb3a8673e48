//! The `raptor` binary, run as operators run it.
//!
//! One test binary per crate: each binary links the whole dependency graph and starts its
//! own PostgreSQL, so one binary with a module per area builds and runs faster than many.

mod assets;
mod audit;
mod bars;
mod check;
mod cli;
mod cluster;
mod common;
mod copy;
mod jobs;
mod mail;
mod metrics;
mod roles;
mod runbook;
mod smoke;
mod stream;
