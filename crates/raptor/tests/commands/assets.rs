//! `raptor assets import`: Alpaca's asset list (a local fake speaking its wire format) into
//! the symbol catalogue, on both dialects.

use raptor_testkit::{dual_test, FakeAlpaca};
use serde_json::{json, Value};

use crate::common::{raptor, stderr, stdout, text};

const KEY: &str = "PKASSETS";
const SECRET: &str = "assets-secret-never-printed";

fn asset(symbol: &str, status: &str, fractionable: bool, name: &str) -> Value {
    json!({
        "id": format!("00000000-0000-4000-8000-{:012}", symbol.len()),
        "class": "us_equity", "exchange": "NYSE", "symbol": symbol, "name": name,
        "status": status, "tradable": status == "active", "marginable": true,
        "shortable": false, "easy_to_borrow": false, "fractionable": fractionable,
        "attributes": []
    })
}

dual_test!(
    alpacas_assets_fill_the_catalogue_by_ticker_and_a_new_import_brings_it_up_to_date,
    Head,
    |t| {
        let fake = FakeAlpaca::start(KEY, SECRET, 100, 0).await;
        let cli = raptor()
            .database(t.url())
            .env("ALPACA_API_KEY_ID", KEY)
            .env("ALPACA_API_SECRET_KEY", SECRET)
            .env("RAPTOR_ALPACA_TRADING_URL", fake.url());
        let mut unreadable = asset("NULL", "active", false, "Null Exchange Co");
        unreadable["exchange"] = Value::Null;
        fake.list_assets(vec![
            // Seeded already: it gains Alpaca's id and name.
            asset("AAPL", "active", true, "Apple Inc. Common Stock"),
            asset("ZZZT", "inactive", false, "Zed Test Corp (old listing)"),
            asset("ZZZT", "active", false, "Zed Test Corp"),
            asset("OLDD", "inactive", false, "Old Co"),
            asset("BAD TICKER", "active", false, "Spaces"),
            asset("HALT", "halted", false, "Halted Co"),
            unreadable,
        ]);
        let out = cli.run(&["assets", "import"]).await;
        assert!(out.status.success(), "{}", text(&out));
        assert!(
            stdout(&out).contains("Alpaca listed 7 assets: 2 added, 1 updated, 3 skipped"),
            "{}",
            stdout(&out)
        );
        assert!(stdout(&out).contains("\"BAD TICKER\": not a ticker"));
        assert!(stdout(&out).contains("\"HALT\": unknown status \"halted\""));
        assert!(
            stdout(&out).contains("\"NULL\": invalid type: null"),
            "{}",
            stdout(&out)
        );
        let count = |sql: &str| {
            let sql = sql.to_owned();
            async move { t.scalar(&sql).await }
        };
        assert_eq!(
            count("SELECT count(*) FROM symbols WHERE ticker = 'ZZZT' AND status = 'active' AND tradable AND NOT fractionable AND name = 'Zed Test Corp'").await,
            1
        );
        assert_eq!(
            count("SELECT count(*) FROM symbols WHERE ticker = 'OLDD' AND status = 'inactive'")
                .await,
            1
        );
        assert_eq!(
            count("SELECT count(*) FROM symbols WHERE ticker IN ('HALT', 'BAD TICKER', 'NULL')")
                .await,
            0
        );
        let aapl = count("SELECT id FROM symbols WHERE ticker = 'AAPL' AND name = 'Apple Inc. Common Stock' AND vendor_asset_id IS NOT NULL").await;

        // ZZZT becomes fractionable: one update, and AAPL keeps its row.
        fake.list_assets(vec![
            asset("AAPL", "active", true, "Apple Inc. Common Stock"),
            asset("ZZZT", "active", true, "Zed Test Corp"),
        ]);
        let out = cli.run(&["assets", "import"]).await;
        assert!(
            stdout(&out).contains("Alpaca listed 2 assets: 0 added, 1 updated, 0 skipped"),
            "{}",
            text(&out)
        );
        assert_eq!(
            count("SELECT count(*) FROM symbols WHERE ticker = 'ZZZT' AND fractionable").await,
            1
        );
        assert_eq!(
            count("SELECT id FROM symbols WHERE ticker = 'AAPL'").await,
            aapl
        );
        let again = cli.run(&["assets", "import"]).await;
        assert!(
            stdout(&again).contains("0 added, 0 updated"),
            "{}",
            text(&again)
        );
        let requests = fake.requests();
        assert!(requests
            .iter()
            .all(|(path, query)| path == "/v2/assets" && query["asset_class"] == "us_equity"));
    }
);

dual_test!(
    a_refused_key_imports_nothing_and_never_prints_the_secret,
    Head,
    |t| {
        let fake = FakeAlpaca::start(KEY, "the-right-secret", 100, 0).await;
        fake.list_assets(vec![asset("ZZZT", "active", false, "Zed Test Corp")]);
        let out = raptor()
            .database(t.url())
            .env("ALPACA_API_KEY_ID", KEY)
            .env("ALPACA_API_SECRET_KEY", SECRET)
            .env("RAPTOR_ALPACA_TRADING_URL", fake.url())
            .run(&["assets", "import"])
            .await;
        assert!(!out.status.success());
        assert!(
            stderr(&out).contains("Alpaca refused the request (403)"),
            "{}",
            stderr(&out)
        );
        assert!(!text(&out).contains(SECRET));
        assert_eq!(
            t.scalar("SELECT count(*) FROM symbols WHERE ticker = 'ZZZT'")
                .await,
            0
        );
        let keyless = raptor().database(t.url()).run(&["assets", "import"]).await;
        assert!(
            text(&keyless).contains("set ALPACA_API_KEY_ID"),
            "{}",
            text(&keyless)
        );
    }
);
