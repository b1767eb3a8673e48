//! `raptor bars …` and `raptor backtest` as an operator runs them, on both dialects.

use std::io::Write;

use crate::common::{raptor, stderr, stdout};
use raptor_testkit::{dual_test, TestApp};

fn csv(rows: &[&str]) -> tempfile::NamedTempFile {
    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    writeln!(
        file,
        "timestamp,open,high,low,close,volume,trade_count,vwap"
    )
    .expect("write");
    for row in rows {
        writeln!(file, "{row}").expect("write");
    }
    file
}

const GOOD: [&str; 3] = [
    "2026-03-02T14:30:00Z,100.0,101.0,99.5,100.5,1200,10,100.2",
    "2026-03-02T14:31:00Z,100.5,102.0,100.0,101.5,900,8,101.0",
    "2026-03-02T14:32:00Z,101.5,101.5,100.8,101.0,700,,",
];

dual_test!(importing_a_csv_twice_stores_each_bar_once, Head, |t| {
    let cli = raptor().database(t.url());
    let file = csv(&GOOD);
    let path = file.path().to_str().expect("path");
    for _ in 0..2 {
        let out = cli
            .run(&[
                "bars",
                "import",
                path,
                "--symbol",
                "aapl",
                "--timeframe",
                "1Min",
            ])
            .await;
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(
            stdout(&out).contains("Imported 3 1Min bars for AAPL"),
            "{}",
            stdout(&out)
        );
    }
    assert_eq!(
        t.scalar("SELECT count(*) FROM historical_bars WHERE symbol = 'AAPL'")
            .await,
        3
    );
    assert_eq!(
        t.scalar("SELECT count(*) FROM historical_bars WHERE trade_count IS NULL")
            .await,
        1
    );
});

dual_test!(
    a_bad_row_stops_the_import_before_its_batch_is_written,
    Head,
    |t| {
        let cli = raptor().database(t.url());
        let file = csv(&[
            GOOD[0],
            GOOD[1],
            "2026-03-02T14:32:00Z,101.5,99.0,100.8,101.0,700,,",
            GOOD[2],
        ]);
        let path = file.path().to_str().expect("path");
        let out = cli
            .run(&[
                "bars",
                "import",
                path,
                "--symbol",
                "AAPL",
                "--timeframe",
                "1Min",
                "--batch",
                "2",
            ])
            .await;
        assert_eq!(out.status.code(), Some(1));
        assert!(
            stderr(&out).contains("line 4: prices are inconsistent"),
            "{}",
            stderr(&out)
        );
        // Lines 2-3 were a complete batch; the batch holding line 4 was never written.
        assert_eq!(t.scalar("SELECT count(*) FROM historical_bars").await, 2);
        let unknown = cli
            .run(&[
                "bars",
                "import",
                path,
                "--symbol",
                "ZZZZ",
                "--timeframe",
                "1Min",
            ])
            .await;
        assert!(stderr(&unknown).contains("ZZZZ is not a listed symbol"));
        let timeframe = cli
            .run(&[
                "bars",
                "import",
                path,
                "--symbol",
                "AAPL",
                "--timeframe",
                "2Min",
            ])
            .await;
        assert!(stderr(&timeframe).contains("accepted: 1Min, 5Min, 15Min, 1Hour, 1Day"));
    }
);

dual_test!(
    demo_data_makes_a_fresh_install_answer_historical_data,
    Head,
    |t| {
        // The demo fills today's session up to now: minutes before this one are settled.
        let settled = chrono::Utc::now().format("%Y-%m-%dT%H:%M:00+00:00");
        let cli = raptor().database(t.url());
        let out = cli
            .run(&["bars", "demo", "--symbols", "AAPL", "--sessions", "2"])
            .await;
        assert!(out.status.success(), "{}", stderr(&out));
        let app = TestApp::spawn(t.db().clone()).await;
        let (status, body) = app.get_json("/api/historical-data/AAPL?range=1d").await;
        assert_eq!(status, 200, "{body}");
        let bars = body["bars"].as_array().expect("bars");
        assert!(!bars.is_empty(), "{body}");
        assert!(bars.iter().all(|b| b["l"].as_f64() <= b["h"].as_f64()));
        // Deterministic: a second run rewrites the same bars. If today's session is open, it
        // also adds the minutes that passed in between, so the settled minutes are compared.
        let minutes = format!(
            "SELECT count(*) * 1000000000 + CAST(sum(close) * 100 AS BIGINT) FROM historical_bars \
             WHERE timeframe = '1Min' AND ts < '{settled}'"
        );
        let before = t.scalar(&minutes).await;
        assert!(before > 0, "no settled minute bars before {settled}");
        cli.run(&["bars", "demo", "--symbols", "AAPL", "--sessions", "2"])
            .await;
        assert_eq!(t.scalar(&minutes).await, before);
        app.stop().await;

        let backtest = cli
            .run(&[
                "backtest",
                "--symbol",
                "AAPL",
                "--timeframe",
                "1Min",
                "--start",
                "2020-01-01",
                "--end",
                "2030-01-01",
                "--fast",
                "5",
                "--slow",
                "20",
            ])
            .await;
        assert!(backtest.status.success(), "{}", stderr(&backtest));
        assert!(
            stdout(&backtest).contains("total return"),
            "{}",
            stdout(&backtest)
        );
        let bad = cli
            .run(&[
                "backtest",
                "--symbol",
                "AAPL",
                "--start",
                "2020-01-01",
                "--end",
                "2030-01-01",
                "--fast",
                "30",
                "--slow",
                "5",
            ])
            .await;
        assert_eq!(bad.status.code(), Some(1));
        assert!(stderr(&bad).contains("strategy"), "{}", stderr(&bad));

        // A sweep on every core: fast 2, 4, …, 10 against slow 20 and 30.
        let sweep = |grid: &'static str| {
            let cli = &cli;
            async move {
                cli.run(&[
                    "sweep",
                    "--symbol",
                    "AAPL",
                    "--timeframe",
                    "1Min",
                    "--start",
                    "2020-01-01",
                    "--end",
                    "2030-01-01",
                    "--grid",
                    grid,
                    "--grid",
                    "slow=20,30",
                    "--top",
                    "3",
                    "--execution",
                    r#"{"commission":{"type":"fixed","amount":1}}"#,
                ])
                .await
            }
        };
        let swept = sweep("fast=2:10:2").await;
        assert!(swept.status.success(), "{}", stderr(&swept));
        let printed = stdout(&swept);
        assert!(printed.contains("10 runs over"), "{printed}");
        // A header and the best three.
        let ranks: Vec<&str> = printed
            .lines()
            .skip_while(|l| !l.starts_with("rank"))
            .skip(1)
            .filter_map(|l| l.split_whitespace().next())
            .collect();
        assert_eq!(ranks, ["1", "2", "3"], "{printed}");
        let refused = sweep("fast=40:50:5").await;
        assert_eq!(refused.status.code(), Some(1));
        assert!(stderr(&refused).contains("grid"), "{}", stderr(&refused));
    }
);
