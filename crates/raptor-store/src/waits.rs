//! How long write transactions wait to begin: on PostgreSQL for a pooled connection when every
//! one is busy, and on SQLite for the process's turn to write, its writer connection and the
//! single write lock. sqlx counts no
//! waiters, so [`Db::begin`] times itself and keeps the times here, as histogram buckets of
//! plain atomics.
//!
//! [`Db::begin`]: crate::Db::begin

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the buckets, in seconds; a last bucket takes the rest.
pub const WAIT_BUCKETS: [f64; 8] = [0.0005, 0.001, 0.005, 0.025, 0.1, 0.5, 2.5, 10.0];

/// Waits recorded so far; shared by every clone of a [`crate::Db`].
#[derive(Debug, Default)]
pub(crate) struct BeginWaits {
    /// One count per bound of [`WAIT_BUCKETS`], then one for longer waits.
    buckets: [AtomicU64; WAIT_BUCKETS.len() + 1],
    micros: AtomicU64,
}

impl BeginWaits {
    pub(crate) fn record(&self, waited: Duration) {
        let seconds = waited.as_secs_f64();
        let bucket = WAIT_BUCKETS
            .iter()
            .position(|bound| seconds <= *bound)
            .unwrap_or(WAIT_BUCKETS.len());
        self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(waited.as_micros()).unwrap_or(u64::MAX);
        self.micros.fetch_add(micros, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> WaitHistogram {
        let buckets: Vec<(f64, u64)> = WAIT_BUCKETS
            .iter()
            .copied()
            .chain([f64::INFINITY])
            .zip(&self.buckets)
            .map(|(bound, count)| (bound, count.load(Ordering::Relaxed)))
            .collect();
        // Keep the count equal to the buckets' total even while waits are being recorded.
        let count = buckets.iter().map(|(_, n)| n).sum();
        WaitHistogram {
            buckets,
            count,
            sum_seconds: self.micros.load(Ordering::Relaxed) as f64 / 1e6,
        }
    }
}

/// A copy of the recorded waits.
#[derive(Debug, Clone, PartialEq)]
pub struct WaitHistogram {
    /// `(upper bound in seconds, waits in this bucket alone)`, the last bound infinite.
    pub buckets: Vec<(f64, u64)>,
    /// Waits recorded.
    pub count: u64,
    /// Their total, in seconds.
    pub sum_seconds: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_wait_lands_in_the_first_bucket_that_holds_it() {
        let waits = BeginWaits::default();
        waits.record(Duration::from_micros(200));
        waits.record(Duration::from_millis(30));
        waits.record(Duration::from_secs(60));
        let seen = waits.snapshot();
        assert_eq!(seen.count, 3);
        let nonzero: Vec<(f64, u64)> = seen.buckets.into_iter().filter(|(_, n)| *n > 0).collect();
        assert_eq!(nonzero, vec![(0.0005, 1), (0.1, 1), (f64::INFINITY, 1)]);
        assert!(
            (seen.sum_seconds - 60.0302).abs() < 1e-9,
            "{}",
            seen.sum_seconds
        );
    }
}
