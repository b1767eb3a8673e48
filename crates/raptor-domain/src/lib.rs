//! Raptor's domain: pure types that make wrong states unrepresentable, with no I/O.

pub mod auction;
pub mod backtest;
pub mod calendar;
pub mod decimal;
mod identity;
pub mod jobs;
pub mod mail_auth;
pub mod orders;
mod permission;
mod role;
pub mod text;
pub mod timeframe;
pub mod walk;

pub use backtest::{Bar, Strategy};
pub use calendar::Session;
pub use identity::{DisplayName, Email, InvalidInput, UnknownUserStatus, UserStatus};
pub use jobs::JobState;
pub use mail_auth::{sender_verdict, SenderVerdict};
pub use permission::{Permission, UnknownPermission, STEP_UP_WINDOW};
pub use role::{Role, UnknownRole};
pub use timeframe::{bucket_start, Range, Timeframe, UnknownRange, UnknownTimeframe};
