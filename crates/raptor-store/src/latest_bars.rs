//! The latest bar of each symbol, kept per process under the symbol's bars version
//! ([`crate::market::BarsVersion`]). An order's price and an account's valuation ask for the
//! same few bars many times a second; each is a seek in every timeframe, and the answer changes
//! only when the symbol's bars are written, which moves the version in the writing transaction.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use chrono::{DateTime, Utc};

use crate::market::StoredBar;

/// Moments kept per symbol: "now" and the last close, with room for a day's change of it.
const MOMENTS_PER_SYMBOL: usize = 4;

/// The newest bar before a moment (`None`: any time) of each symbol, at one version each.
#[derive(Debug, Default)]
pub(crate) struct LatestBars {
    kept: Mutex<HashMap<String, Kept>>,
}

/// What is kept of one symbol: its newest version seen, and the answers read at it.
#[derive(Debug)]
struct Kept {
    version: i64,
    bars: Vec<(Option<DateTime<Utc>>, Option<StoredBar>)>,
}

impl LatestBars {
    /// The bar kept for `symbol` before `before` at `version` exactly; `None` when none is.
    pub(crate) fn get(
        &self,
        symbol: &str,
        version: i64,
        before: Option<DateTime<Utc>>,
    ) -> Option<Option<StoredBar>> {
        let kept = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
        let of_symbol = kept.get(symbol).filter(|k| k.version == version)?;
        of_symbol
            .bars
            .iter()
            .find(|(at, _)| *at == before)
            .map(|(_, bar)| bar.clone())
    }

    /// Keeps `bar`, read after `version` was: a newer version drops what the older ones kept,
    /// and a reader of an older one finishing late keeps nothing.
    pub(crate) fn put(
        &self,
        symbol: &str,
        version: i64,
        before: Option<DateTime<Utc>>,
        bar: Option<StoredBar>,
    ) {
        let mut kept = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
        let of_symbol = kept.entry(symbol.to_owned()).or_insert_with(|| Kept {
            version,
            bars: Vec::new(),
        });
        if version < of_symbol.version {
            return;
        }
        if version > of_symbol.version {
            *of_symbol = Kept {
                version,
                bars: Vec::new(),
            };
        }
        of_symbol.bars.retain(|(at, _)| *at != before);
        if of_symbol.bars.len() == MOMENTS_PER_SYMBOL {
            of_symbol.bars.remove(0);
        }
        of_symbol.bars.push((before, bar));
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn bar(close: f64) -> Option<StoredBar> {
        Some(StoredBar {
            ts: Utc.with_ymd_and_hms(2026, 1, 2, 15, 0, 0).unwrap(),
            open: close,
            high: close,
            low: close,
            close,
            volume: 1.0,
            trade_count: None,
            vwap: None,
        })
    }

    #[test]
    fn an_answer_is_kept_for_its_version_and_moment_only() {
        let kept = LatestBars::default();
        let close = Utc.with_ymd_and_hms(2026, 1, 2, 21, 0, 0).unwrap();
        kept.put("AAPL", 5, None, bar(10.0));
        kept.put("AAPL", 5, Some(close), None);
        assert_eq!(kept.get("AAPL", 5, None), Some(bar(10.0)));
        assert_eq!(kept.get("AAPL", 5, Some(close)), Some(None));
        assert_eq!(kept.get("AAPL", 6, None), None, "another version");
        assert_eq!(
            kept.get("AAPL", 5, Some(Utc::now())),
            None,
            "another moment"
        );
        assert_eq!(kept.get("MSFT", 5, None), None, "another symbol");
    }

    #[test]
    fn a_newer_version_replaces_the_older_and_a_late_older_reader_keeps_nothing() {
        let kept = LatestBars::default();
        kept.put("AAPL", 5, None, bar(10.0));
        kept.put("AAPL", 7, None, bar(12.0));
        assert_eq!(kept.get("AAPL", 5, None), None);
        kept.put("AAPL", 6, None, bar(11.0));
        assert_eq!(kept.get("AAPL", 6, None), None);
        assert_eq!(kept.get("AAPL", 7, None), Some(bar(12.0)));
    }

    #[test]
    fn a_symbol_keeps_a_few_moments_the_oldest_going_first() {
        let kept = LatestBars::default();
        let moments: Vec<_> = (1..=5)
            .map(|day| Utc.with_ymd_and_hms(2026, 1, day, 21, 0, 0).unwrap())
            .collect();
        for (n, at) in moments.iter().enumerate() {
            kept.put("AAPL", 5, Some(*at), bar(n as f64));
        }
        assert_eq!(kept.get("AAPL", 5, Some(moments[0])), None);
        for (n, at) in moments.iter().enumerate().skip(1) {
            assert_eq!(kept.get("AAPL", 5, Some(*at)), Some(bar(n as f64)));
        }
    }
}
