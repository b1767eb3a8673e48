//! The storage layer's errors.

use crate::migrate::MigrationError;
use crate::url::{DatabaseUrl, UrlError};

/// Anything that can go wrong below the HTTP edge. Messages never contain passwords.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database URL was refused.
    #[error(transparent)]
    Url(#[from] UrlError),
    /// The database could not be reached when connecting.
    #[error("could not connect to the {dialect} database at {target}: {reason}")]
    Connect {
        /// `sqlite` or `postgresql`.
        dialect: &'static str,
        /// The redacted URL.
        target: String,
        /// The driver's explanation.
        reason: String,
    },
    /// The database cannot serve right now.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// A schema migration failed or was refused.
    #[error(transparent)]
    Migration(#[from] MigrationError),
    /// A query failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

impl StoreError {
    /// Whether a unique constraint refused the write (a taken email, a reused credential id).
    pub fn is_unique_violation(&self) -> bool {
        matches!(self, StoreError::Database(err)
            if err.as_database_error().is_some_and(|e| e.is_unique_violation()))
    }

    pub(crate) fn connect(url: &DatabaseUrl, err: sqlx::Error) -> Self {
        StoreError::Connect {
            dialect: url.dialect().name(),
            target: url.redacted().to_owned(),
            reason: err.to_string(),
        }
    }
}
