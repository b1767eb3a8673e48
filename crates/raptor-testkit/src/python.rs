//! The pinned Python clients of the contract tests (schemathesis, openapi-spec-validator),
//! from the workspace's `.venv` that `scripts/python/setup` makes.

use std::path::PathBuf;

const HOW_TO_INSTALL: &str = "contract tests need the pinned Python tools: run ./scripts/test \
(it runs scripts/python/setup), or scripts/python/setup on its own";

/// The path of `tool` in the workspace's `.venv/bin`.
///
/// # Panics
/// When the virtual environment or the tool is missing: the message says how to get it.
pub fn tool(name: &str) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../.venv/bin")
        .join(name);
    assert!(
        path.is_file(),
        "{} not found. {HOW_TO_INSTALL}",
        path.display()
    );
    path
}
