//! Bar series loaded for backtests, kept in memory for the runs that ask for them again.
//!
//! A series is kept under its symbol's listing and bars version (see
//! `raptor_store::market::BarsVersion`), which every write of the symbol's bars moves in the
//! writing transaction, on whichever process wrote them. A run reads the version first (one
//! indexed row) and takes the kept series only when it was loaded at that version, so a
//! re-import anywhere is seen at once. Older versions of a symbol can never be asked for
//! again: they are dropped when a newer one is kept. Past the byte budget, the series used
//! longest ago go first.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, Utc};
use raptor_domain::backtest::Bar;
use raptor_domain::Timeframe;

/// A loaded series, oldest bar first, shared by every run reading it.
pub type Series = Arc<[Bar]>;

/// The default budget, 256 MiB: about 4.8 million bars.
pub const DEFAULT_BYTES: usize = 256 << 20;

/// Most series kept, whatever their size.
const MAX_SERIES: usize = 256;

/// What a series holds: one symbol's bars of a timeframe in `[start, end)`, as stored at a
/// bars version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeriesKey {
    /// The symbol's listing.
    pub listing: i64,
    /// Its bars version when the series was read.
    pub version: i64,
    /// The bars' timeframe.
    pub timeframe: Timeframe,
    /// The first instant asked for.
    pub start: DateTime<Utc>,
    /// The end asked for (excluded).
    pub end: DateTime<Utc>,
}

/// Series by what they hold, within a byte budget.
#[derive(Debug)]
pub struct SeriesCache {
    budget: usize,
    /// Least recently used first.
    kept: Mutex<VecDeque<(SeriesKey, Series)>>,
}

impl Default for SeriesCache {
    fn default() -> Self {
        Self::new(DEFAULT_BYTES)
    }
}

impl SeriesCache {
    /// A cache holding at most `budget` bytes of bars (0 keeps nothing).
    pub fn new(budget: usize) -> Self {
        Self {
            budget,
            kept: Mutex::default(),
        }
    }

    /// The series kept under `key`, now the most recently used.
    pub fn get(&self, key: &SeriesKey) -> Option<Series> {
        let mut kept = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
        let at = kept.iter().position(|(k, _)| k == key)?;
        let entry = kept.remove(at)?;
        let series = entry.1.clone();
        kept.push_back(entry);
        Some(series)
    }

    /// Keeps `series` under `key`, dropping the symbol's older versions and then, past the
    /// budget, the least recently used. A series larger than the budget, or of a version older
    /// than one kept, is not kept.
    pub fn put(&self, key: SeriesKey, series: Series) {
        if bytes(&series) > self.budget {
            return;
        }
        let mut kept = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
        let newer_or_same =
            |k: &SeriesKey| k.listing == key.listing && (k.version > key.version || *k == key);
        if kept.iter().any(|(k, _)| newer_or_same(k)) {
            return;
        }
        kept.retain(|(k, _)| k.listing != key.listing || k.version >= key.version);
        kept.push_back((key, series));
        let mut total: usize = kept.iter().map(|(_, s)| bytes(s)).sum();
        while total > self.budget || kept.len() > MAX_SERIES {
            let Some((_, dropped)) = kept.pop_front() else {
                break;
            };
            total -= bytes(&dropped);
        }
    }

    /// Bytes of bars kept.
    pub fn bytes(&self) -> usize {
        let kept = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
        kept.iter().map(|(_, s)| bytes(s)).sum()
    }
}

fn bytes(series: &Series) -> usize {
    std::mem::size_of_val::<[Bar]>(series)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(listing: i64, version: i64, start: i64) -> SeriesKey {
        SeriesKey {
            listing,
            version,
            timeframe: Timeframe::Min1,
            start: DateTime::from_timestamp(start, 0).unwrap_or_default(),
            end: DateTime::from_timestamp(start + 60_000, 0).unwrap_or_default(),
        }
    }

    fn series(len: usize) -> Series {
        let bar = Bar {
            t: DateTime::UNIX_EPOCH,
            open: 1.0,
            high: 1.0,
            low: 1.0,
            close: 1.0,
            volume: 1.0,
        };
        vec![bar; len].into()
    }

    #[test]
    fn a_series_is_found_only_at_the_version_and_range_it_was_read_at() {
        let cache = SeriesCache::new(1 << 20);
        cache.put(key(1, 5, 0), series(3));
        assert_eq!(cache.get(&key(1, 5, 0)).map(|s| s.len()), Some(3));
        assert!(cache.get(&key(1, 6, 0)).is_none());
        assert!(cache.get(&key(1, 5, 60)).is_none());
        assert!(cache.get(&key(2, 5, 0)).is_none());
    }

    #[test]
    fn a_newer_version_drops_the_older_ones_of_that_symbol_only() {
        let cache = SeriesCache::new(1 << 20);
        cache.put(key(1, 5, 0), series(3));
        cache.put(key(1, 5, 60), series(3));
        cache.put(key(2, 5, 0), series(3));
        cache.put(key(1, 7, 0), series(4));
        assert!(cache.get(&key(1, 5, 0)).is_none());
        assert!(cache.get(&key(1, 5, 60)).is_none());
        assert!(cache.get(&key(2, 5, 0)).is_some());
        assert!(cache.get(&key(1, 7, 0)).is_some());
        // A slow reader finishing a load of an older version does not bring it back.
        cache.put(key(1, 5, 0), series(3));
        assert!(cache.get(&key(1, 5, 0)).is_none());
        assert!(cache.get(&key(1, 7, 0)).is_some());
    }

    #[test]
    fn past_the_budget_the_least_recently_used_goes_first() {
        let one = bytes(&series(100));
        let cache = SeriesCache::new(3 * one);
        cache.put(key(1, 1, 0), series(100));
        cache.put(key(2, 1, 0), series(100));
        cache.put(key(3, 1, 0), series(100));
        assert!(cache.get(&key(1, 1, 0)).is_some());
        cache.put(key(4, 1, 0), series(100));
        assert!(
            cache.get(&key(2, 1, 0)).is_none(),
            "the least recently used"
        );
        for kept in [1, 3, 4] {
            assert!(cache.get(&key(kept, 1, 0)).is_some(), "series {kept}");
        }
        assert_eq!(cache.bytes(), 3 * one);
        cache.put(key(5, 1, 0), series(301));
        assert!(cache.get(&key(5, 1, 0)).is_none(), "larger than the budget");
        assert_eq!(cache.bytes(), 3 * one);
    }

    #[test]
    fn a_zero_budget_keeps_nothing() {
        let cache = SeriesCache::new(0);
        cache.put(key(1, 1, 0), series(1));
        assert!(cache.get(&key(1, 1, 0)).is_none());
    }
}
