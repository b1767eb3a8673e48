//! The app test kit: a real Raptor server on a free port, browser-like clients, headless
//! Chromium, a software passkey, local fakes of Alpaca and Postmark, and the pinned Python
//! clients of the contract tests. It builds on the database kit, `raptor-testdb`, whose items
//! it re-exports so an API test needs one import.

pub mod accounts;
mod alpaca;
mod app;
mod chromium;
mod fixture;
mod inbox;
mod passkey;
mod postmark;
mod proxy;
pub mod python;
mod serve;
mod streams;

pub use alpaca::FakeAlpaca;
pub use app::{assert_problem, Browser, Reply, TestApp, TestAppBuilder, PROBLEM_JSON};
pub use chromium::Chromium;
pub use fixture::AppFixture;
pub use passkey::SoftAuthenticator;
pub use postmark::{FakePostmark, PostmarkFailure};
pub use proxy::TcpProxy;
pub use raptor_testdb::{
    admin_url, dual_test, now, server_addr, Dialect, PgCluster, Start, TestDb,
};
pub use serve::ServeProcess;
pub use streams::{AlpacaStream, EventStream, Received, ServerEvent};
