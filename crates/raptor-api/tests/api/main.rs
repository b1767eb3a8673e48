//! The API over real HTTP, on SQLite and PostgreSQL.
//!
//! One test binary per crate: each binary links the whole dependency graph and starts its
//! own PostgreSQL, so one binary with a module per area builds and runs faster than many.

mod alpaca;
mod alpaca_sdk;
mod auctions;
mod audit;
mod auth;
mod backtests;
mod billing;
mod browser;
mod contract;
mod cookies;
mod credential_changes;
mod customers;
mod edge;
mod email_link;
mod health;
mod hygiene;
mod identity_text;
mod inbound;
mod jobs;
mod lockout;
mod mail;
mod market;
mod marketing;
mod metrics;
mod order_classes;
mod outbox;
mod ownership;
mod permissions;
mod settings;
mod streams;
mod support;
mod sweeps;
mod trading;
mod v2;
mod webhooks;
