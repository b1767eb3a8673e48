//! The bar repository: upserts never duplicate, and the last copy of a bar wins.

use chrono::{DateTime, Duration, Utc};
use raptor_domain::Timeframe;
use raptor_store::market::{self, StoredBar};
use raptor_testdb::dual_test;

fn bar(ts: DateTime<Utc>, close: f64) -> StoredBar {
    StoredBar {
        ts,
        open: close,
        high: close + 1.0,
        low: close - 1.0,
        close,
        volume: 10.0,
        trade_count: None,
        vwap: Some(close),
    }
}

/// Upserts AAPL one-minute bars in a transaction of their own.
async fn store(db: &raptor_store::Db, bars: &[StoredBar]) {
    let mut tx = db.begin().await.expect("begin");
    market::upsert_bars(&mut tx, "AAPL", Timeframe::Min1, bars)
        .await
        .expect("upsert");
    tx.commit().await.expect("commit");
}

async fn count(db: &raptor_store::Db) -> i64 {
    market::count_bars(db, "AAPL", Timeframe::Min1)
        .await
        .expect("count")
}

dual_test!(
    upserting_bars_twice_keeps_one_row_per_time_and_the_latest_values,
    Head,
    |t| {
        let start: DateTime<Utc> = "2026-03-02T14:30:00Z".parse().expect("time");
        let bars: Vec<StoredBar> = (0..2500)
            .map(|i| bar(start + Duration::minutes(i), 100.0 + i as f64))
            .collect();
        for _ in 0..2 {
            store(t.db(), &bars).await;
        }
        assert_eq!(count(t.db()).await, 2500);

        // One call carrying the same bar twice: the last copy wins, on both dialects.
        let repeated = vec![bar(start, 1.0), bar(start, 2.0)];
        let mut tx = t.db().begin().await.expect("begin");
        market::upsert_bars(&mut tx, "AAPL", Timeframe::Min1, &repeated)
            .await
            .expect("upsert");
        tx.commit().await.expect("commit");
        let stored = market::bars(
            t.db(),
            "AAPL",
            Timeframe::Min1,
            start,
            start + Duration::minutes(1),
            None,
            10,
        )
        .await
        .expect("bars");
        assert_eq!(stored.len(), 1);
        assert_eq!(
            (stored[0].close, stored[0].trade_count, stored[0].vwap),
            (2.0, None, Some(2.0))
        );
    }
);

dual_test!(
    a_large_batch_overlapping_stored_bars_updates_them_and_adds_the_rest,
    Head,
    |t| {
        // Large enough that PostgreSQL's COPY is sent in several chunks before the key
        // conflict is reported, so the fallback starts from a half-sent stream.
        let start: DateTime<Utc> = "2026-03-02T14:30:00Z".parse().expect("time");
        let first: Vec<StoredBar> = (0..30_000)
            .map(|i| bar(start + Duration::minutes(i), 100.0))
            .collect();
        let second: Vec<StoredBar> = (20_000..50_000)
            .map(|i| bar(start + Duration::minutes(i), 200.0))
            .collect();
        for batch in [&first, &second] {
            store(t.db(), batch).await;
        }
        assert_eq!(count(t.db()).await, 50_000);
        let at = |i: i64| start + Duration::minutes(i);
        for (i, close) in [
            (0, 100.0),
            (19_999, 100.0),
            (20_000, 200.0),
            (49_999, 200.0),
        ] {
            let stored = market::bars(t.db(), "AAPL", Timeframe::Min1, at(i), at(i + 1), None, 1)
                .await
                .expect("bars");
            assert_eq!(stored[0].close, close, "bar {i}");
        }
    }
);

dual_test!(
    two_writers_racing_for_the_same_bars_both_land_and_the_later_wins,
    Head,
    |t| {
        let start: DateTime<Utc> = "2026-03-02T14:30:00Z".parse().expect("time");
        let batch = move |from: i64, to: i64, close: f64| -> Vec<StoredBar> {
            (from..to)
                .map(|i| bar(start + Duration::minutes(i), close))
                .collect()
        };
        let mut first = t.db().begin().await.expect("begin");
        market::upsert_bars(&mut first, "AAPL", Timeframe::Min1, &batch(0, 3_000, 100.0))
            .await
            .expect("first upsert");
        // The second writer cannot see the first's uncommitted bars, so on PostgreSQL it
        // starts a plain COPY that has to wait on the key, and fails over once they commit.
        let db = t.db().clone();
        let second = tokio::spawn(async move {
            let mut tx = db.begin().await.expect("begin");
            market::upsert_bars(
                &mut tx,
                "AAPL",
                Timeframe::Min1,
                &batch(2_000, 5_000, 200.0),
            )
            .await
            .expect("second upsert");
            tx.commit().await.expect("commit");
        });
        if t.dialect() == raptor_testdb::Dialect::Postgres {
            // Wait until the second writer is blocked on the first one's keys.
            let waiting = "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' \
                           AND datname = current_database()";
            while t.scalar(waiting).await == 0 {
                tokio::task::yield_now().await;
            }
        }
        first.commit().await.expect("commit");
        second.await.expect("second writer");
        assert_eq!(count(t.db()).await, 5_000);
        let at = |i: i64| start + Duration::minutes(i);
        for (i, close) in [(1_999, 100.0), (2_000, 200.0), (4_999, 200.0)] {
            let stored = market::bars(t.db(), "AAPL", Timeframe::Min1, at(i), at(i + 1), None, 1)
                .await
                .expect("bars");
            assert_eq!(stored[0].close, close, "bar {i}");
        }
    }
);

dual_test!(
    the_latest_bar_is_the_newest_of_any_timeframe_and_the_finer_on_a_tie,
    Head,
    |t| {
        let db = t.db();
        assert_eq!(market::latest_bar(db, "AAPL").await.expect("read"), None);
        let day: DateTime<Utc> = "2026-03-02T05:00:00Z".parse().expect("time");
        let minute: DateTime<Utc> = "2026-03-02T20:59:00Z".parse().expect("time");
        let put = |timeframe, bars: Vec<StoredBar>| async move {
            let mut tx = db.begin().await.expect("begin");
            market::upsert_bars(&mut tx, "AAPL", timeframe, &bars)
                .await
                .expect("upsert");
            tx.commit().await.expect("commit");
        };
        put(
            Timeframe::Day1,
            vec![bar(day - Duration::days(1), 90.0), bar(day, 100.0)],
        )
        .await;
        put(
            Timeframe::Min1,
            vec![bar(day, 101.0), bar(minute - Duration::minutes(1), 104.0)],
        )
        .await;
        let latest = market::latest_bar(db, "AAPL").await.expect("read");
        assert_eq!(
            latest.map(|b| b.close),
            Some(104.0),
            "the newest start wins"
        );

        put(Timeframe::Hour1, vec![bar(minute, 105.0)]).await;
        put(Timeframe::Min1, vec![bar(minute, 106.0)]).await;
        let latest = market::latest_bar(db, "AAPL").await.expect("read");
        assert_eq!(latest.map(|b| b.close), Some(106.0), "the finer on a tie");
        assert_eq!(market::latest_bar(db, "MSFT").await.expect("read"), None);
    }
);

dual_test!(
    every_bar_write_moves_the_symbols_bars_version_and_only_its,
    Head,
    |t| {
        let version = |ticker| async move {
            market::bars_version(t.db(), ticker)
                .await
                .expect("read")
                .expect("listed")
        };
        let (aapl, msft) = (version("AAPL").await, version("MSFT").await);
        let start: DateTime<Utc> = "2026-03-02T14:30:00Z".parse().expect("time");
        store(t.db(), &[bar(start, 1.0)]).await;
        let moved = version("AAPL").await;
        assert_eq!(moved.listing, aapl.listing);
        assert!(moved.version > aapl.version, "{moved:?} after {aapl:?}");
        assert_eq!(
            version("MSFT").await,
            msft,
            "another symbol's pages still hold"
        );
        store(t.db(), &[bar(start, 1.0)]).await;
        assert!(
            version("AAPL").await.version > moved.version,
            "a rewrite moves it too"
        );
        assert_eq!(
            market::bars_version(t.db(), "NOPE").await.expect("read"),
            None,
            "not listed"
        );
    }
);

dual_test!(
    the_engines_bars_are_the_stored_bars_of_the_range_oldest_first,
    Head,
    |t| {
        let start: DateTime<Utc> = "2026-03-02T14:30:00Z".parse().expect("time");
        let at = |i: i64| start + Duration::minutes(i);
        // Stored newest first, with a gap: the engine reads them by time, gap and all. Every
        // field differs from the others, so a swapped column shows.
        let bars: Vec<StoredBar> = (0..40)
            .rev()
            .filter(|i| !(15..18).contains(i))
            .map(|i| StoredBar {
                open: 100.25 + i as f64,
                volume: 1_000.0 + i as f64,
                ..bar(at(i), 100.0 + i as f64)
            })
            .collect();
        store(t.db(), &bars).await;
        let read = |from: i64, to: i64, most: usize| async move {
            market::engine_bars(t.db(), "AAPL", Timeframe::Min1, at(from), at(to), most)
                .await
                .expect("engine bars")
        };
        let stored = market::bars(t.db(), "AAPL", Timeframe::Min1, at(10), at(30), None, 100)
            .await
            .expect("bars");
        let engine = read(10, 30, 100).await.expect("under the most");
        assert_eq!(engine.len(), 17, "20 minutes less the 3 missing");
        assert_eq!(stored.len(), engine.len());
        for (engine, stored) in engine.iter().zip(&stored) {
            assert_eq!(
                (engine.t, engine.open, engine.high, engine.low),
                (stored.ts, stored.open, stored.high, stored.low)
            );
            assert_eq!((engine.close, engine.volume), (stored.close, stored.volume));
        }
        assert!(engine.windows(2).all(|w| w[0].t < w[1].t), "oldest first");
        assert_eq!(
            read(10, 30, 17).await.map(|b| b.len()),
            Some(17),
            "as many as the most"
        );
        assert!(read(10, 30, 16).await.is_none(), "one more than the most");
        assert_eq!(
            read(40, 50, 0).await.map(|b| b.len()),
            Some(0),
            "none after the last"
        );
        let other = market::engine_bars(t.db(), "AAPL", Timeframe::Min5, at(0), at(40), 100)
            .await
            .expect("engine bars");
        assert_eq!(
            other.map(|b| b.len()),
            Some(0),
            "another timeframe holds none"
        );
    }
);

dual_test!(a_long_range_loads_every_bar_once_in_order, Head, |t| {
    // Past two of the loader's blocks of 65,536 bars, and long enough to be read in pieces at
    // once where there are cores for them: none lost, doubled or reordered where one block or
    // piece ends and the next begins.
    const BARS: i64 = 140_000;
    let start: DateTime<Utc> = "2020-01-02T00:00:00Z".parse().expect("time");
    let at = |i: i64| start + Duration::minutes(i);
    let bars: Vec<StoredBar> = (0..BARS).map(|i| bar(at(i), i as f64)).collect();
    store(t.db(), &bars).await;
    let read = |from: i64, most: usize| async move {
        market::engine_bars(t.db(), "AAPL", Timeframe::Min1, at(from), at(BARS), most)
            .await
            .expect("engine bars")
    };
    let all = read(0, BARS as usize).await.expect("as many as the most");
    assert_eq!(all.len() as i64, BARS);
    for (i, bar) in all.iter().enumerate() {
        assert_eq!((bar.t, bar.close), (at(i as i64), i as f64), "bar {i}");
    }
    let from_the_middle = read(BARS / 2 + 7, BARS as usize).await.expect("fewer");
    assert_eq!(from_the_middle[..], all[(BARS / 2 + 7) as usize..]);
    // Each half of the range under the most, the whole over it.
    assert!(read(0, BARS as usize - 1).await.is_none(), "one too many");
    assert!(read(0, 100_000).await.is_none(), "each half under the most");
    let again = read(0, BARS as usize).await.expect("as many as the most");
    assert_eq!(
        again[..],
        all[..],
        "a load stopped half-way leaves the pool sound"
    );
});

dual_test!(
    a_symbol_read_by_ticker_is_the_listing_as_the_catalogue_lists_it,
    Head,
    |t| {
        // Each flag told apart from the other, and from the seeded listings' true and true.
        t.execute("UPDATE symbols SET tradable = false WHERE ticker = 'AAPL'")
            .await;
        t.execute("UPDATE symbols SET fractionable = false WHERE ticker = 'MSFT'")
            .await;
        t.execute("UPDATE symbols SET status = 'inactive' WHERE ticker = 'GOOGL'")
            .await;
        let listed = market::listed_symbols(t.db()).await.expect("listed");
        assert!(!listed.is_empty(), "the head schema lists symbols");
        for symbol in &listed {
            let read = market::symbol(t.db(), &symbol.ticker)
                .await
                .expect("read")
                .expect("listed");
            assert_eq!(&read, symbol);
        }
        assert_eq!(market::symbol(t.db(), "NOPE").await.expect("read"), None);
        assert_eq!(
            market::symbol(t.db(), "GOOGL").await.expect("read"),
            None,
            "a listing no longer active is not read"
        );
        assert_eq!(
            market::symbol(t.db(), "aapl").await.expect("read"),
            None,
            "tickers are exact"
        );
    }
);
