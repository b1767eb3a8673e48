//! Raptor's domain: pure types that make wrong states unrepresentable, with no I/O.

mod identity;
mod role;

pub use identity::{DisplayName, Email, InvalidInput};
pub use role::{Role, UnknownRole};
