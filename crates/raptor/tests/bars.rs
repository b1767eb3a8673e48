//! `raptor bars …` and `raptor backtest` as an operator runs them, on both dialects.

use std::io::Write;
use std::process::{Output, Stdio};

use raptor_testkit::{dual_test, TestApp};
use tokio::process::Command;

async fn raptor(database_url: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_raptor"))
        .env("DATABASE_URL", database_url)
        .env("RAPTOR_LOG", "warn")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .await
        .expect("run raptor")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

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
    let file = csv(&GOOD);
    let path = file.path().to_str().expect("path");
    for _ in 0..2 {
        let out = raptor(
            t.url(),
            &[
                "bars",
                "import",
                path,
                "--symbol",
                "aapl",
                "--timeframe",
                "1Min",
            ],
        )
        .await;
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert!(
            text(&out.stdout).contains("Imported 3 1Min bars for AAPL"),
            "{}",
            text(&out.stdout)
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
        let file = csv(&[
            GOOD[0],
            GOOD[1],
            "2026-03-02T14:32:00Z,101.5,99.0,100.8,101.0,700,,",
            GOOD[2],
        ]);
        let path = file.path().to_str().expect("path");
        let out = raptor(
            t.url(),
            &[
                "bars",
                "import",
                path,
                "--symbol",
                "AAPL",
                "--timeframe",
                "1Min",
                "--batch",
                "2",
            ],
        )
        .await;
        assert_eq!(out.status.code(), Some(1));
        assert!(
            text(&out.stderr).contains("line 4: prices are inconsistent"),
            "{}",
            text(&out.stderr)
        );
        // Lines 2-3 were a complete batch; the batch holding line 4 was never written.
        assert_eq!(t.scalar("SELECT count(*) FROM historical_bars").await, 2);
        let unknown = raptor(
            t.url(),
            &[
                "bars",
                "import",
                path,
                "--symbol",
                "ZZZZ",
                "--timeframe",
                "1Min",
            ],
        )
        .await;
        assert!(text(&unknown.stderr).contains("ZZZZ is not a listed symbol"));
        let timeframe = raptor(
            t.url(),
            &[
                "bars",
                "import",
                path,
                "--symbol",
                "AAPL",
                "--timeframe",
                "2Min",
            ],
        )
        .await;
        assert!(text(&timeframe.stderr).contains("accepted: 1Min, 5Min, 15Min, 1Hour, 1Day"));
    }
);

dual_test!(
    demo_data_makes_a_fresh_install_answer_historical_data,
    Head,
    |t| {
        let out = raptor(
            t.url(),
            &["bars", "demo", "--symbols", "AAPL", "--sessions", "2"],
        )
        .await;
        assert!(out.status.success(), "{}", text(&out.stderr));
        let app = TestApp::spawn(t.db().clone()).await;
        let (status, body) = app.get_json("/api/historical-data/AAPL?range=1d").await;
        assert_eq!(status, 200, "{body}");
        let bars = body["bars"].as_array().expect("bars");
        assert!(!bars.is_empty(), "{body}");
        assert!(bars.iter().all(|b| b["l"].as_f64() <= b["h"].as_f64()));
        // Deterministic: a second run rewrites the same bars.
        let before = t.scalar("SELECT count(*) FROM historical_bars").await;
        raptor(
            t.url(),
            &["bars", "demo", "--symbols", "AAPL", "--sessions", "2"],
        )
        .await;
        assert_eq!(
            t.scalar("SELECT count(*) FROM historical_bars").await,
            before
        );
        app.stop().await;

        let backtest = raptor(
            t.url(),
            &[
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
            ],
        )
        .await;
        assert!(backtest.status.success(), "{}", text(&backtest.stderr));
        assert!(
            text(&backtest.stdout).contains("total return"),
            "{}",
            text(&backtest.stdout)
        );
        let bad = raptor(
            t.url(),
            &[
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
            ],
        )
        .await;
        assert_eq!(bad.status.code(), Some(1));
        assert!(
            text(&bad.stderr).contains("strategy"),
            "{}",
            text(&bad.stderr)
        );
    }
);
