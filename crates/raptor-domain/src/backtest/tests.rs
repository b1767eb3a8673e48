//! Hand-computed runs: each execution option, each strategy, each metric.

use chrono::{Duration, TimeZone};

use super::metrics::{compute, max_drawdown, Activity, Curve, ReturnStats};
use super::*;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 2, 21, 0, 0)
        .single()
        .expect("valid time")
}

fn bars_from_closes(closes: &[f64]) -> Vec<Bar> {
    closes
        .iter()
        .enumerate()
        .map(|(i, &c)| Bar {
            t: t0() + Duration::days(i as i64),
            open: c,
            high: c,
            low: c,
            close: c,
            volume: 1_000.0,
        })
        .collect()
}

/// Fills at the signal's own close, no costs, all in, long only: the sums below are done
/// at closes.
fn config(cash: f64) -> Config {
    with(
        cash,
        Execution {
            fill: Fill::SignalClose,
            ..Execution::default()
        },
    )
}

fn with(cash: f64, execution: Execution) -> Config {
    Config {
        initial_cash: cash,
        periods_per_year: 252.0,
        execution,
    }
}

fn close_to(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

#[test]
fn buy_and_hold_buys_whole_shares_on_the_first_close_and_marks_to_market() {
    let bars = bars_from_closes(&[10.0, 11.0, 12.1]);
    let out = run(&bars, &Strategy::BuyAndHold, &config(100.0)).expect("runs");
    let equity: Vec<f64> = out.equity_curve.iter().map(|p| p.1).collect();
    assert!(close_to(equity[0], 100.0));
    assert!(close_to(equity[1], 110.0));
    assert!(close_to(equity[2], 121.0));
    assert!(close_to(out.metrics.final_equity, 121.0));
    assert!(close_to(out.metrics.total_return, 0.21));
    assert_eq!(
        out.metrics.sharpe, None,
        "two equal returns have zero stdev"
    );
    assert_eq!(out.metrics.sortino, None, "no losing bar");
    assert_eq!(out.metrics.max_drawdown, 0.0);
    assert_eq!(out.bars_processed, 3);
    assert_eq!(out.trades.len(), 1);
    let trade = &out.trades[0];
    assert_eq!(trade.qty, 10.0);
    assert_eq!(trade.entry_price, 10.0);
    assert_eq!(trade.exit_price, 12.1);
    assert!(close_to(trade.pnl, 21.0));
    assert!(close_to(trade.return_pct, 0.21));
    assert!(trade.open_at_end);
    assert_eq!(out.metrics.win_rate, Some(1.0));
    assert_eq!(out.metrics.profit_factor, None);
}

#[test]
fn buy_and_hold_leaves_leftover_cash_uninvested() {
    // floor(100 / 30) = 3 shares, 10 cash left; 3 * 40 + 10 = 130.
    let bars = bars_from_closes(&[30.0, 40.0]);
    let out = run(&bars, &Strategy::BuyAndHold, &config(100.0)).expect("runs");
    assert_eq!(out.trades[0].qty, 3.0);
    assert!(close_to(out.metrics.final_equity, 130.0));
}

#[test]
fn buy_and_hold_without_enough_cash_for_one_share_stays_flat() {
    let bars = bars_from_closes(&[150.0, 200.0]);
    let out = run(&bars, &Strategy::BuyAndHold, &config(100.0)).expect("runs");
    assert!(out.trades.is_empty());
    assert_eq!(out.metrics.final_equity, 100.0);
    assert_eq!(out.metrics.win_rate, None);
}

#[test]
fn sma_1_2_crossover_trades_on_crossings_with_hand_computed_pnl() {
    // slow = SMA2:        -   9.5  8.5  9    11   11.5  10   9.5  9.5
    // fast vs slow:       -   <    <    >    >    <     <    >    <
    // buy 10 @ 10 (bar 3), sell @ 11 (bar 5): +10; buy 11 @ 10 (bar 7), sell @ 9 (bar 8): -11.
    let bars = bars_from_closes(&[10.0, 9.0, 8.0, 10.0, 12.0, 11.0, 9.0, 10.0, 9.0]);
    let strategy = Strategy::SmaCrossover { fast: 1, slow: 2 };
    let out = run(&bars, &strategy, &config(100.0)).expect("runs");

    assert_eq!(out.trades.len(), 2);
    let first = &out.trades[0];
    assert_eq!((first.entry_time, first.exit_time), (bars[3].t, bars[5].t));
    assert_eq!(
        (first.entry_price, first.exit_price, first.qty),
        (10.0, 11.0, 10.0)
    );
    assert!(close_to(first.pnl, 10.0));
    assert!(close_to(first.return_pct, 0.1));
    assert!(!first.open_at_end);
    let second = &out.trades[1];
    assert_eq!(
        (second.entry_time, second.exit_time),
        (bars[7].t, bars[8].t)
    );
    assert_eq!(
        (second.entry_price, second.exit_price, second.qty),
        (10.0, 9.0, 11.0)
    );
    assert!(close_to(second.pnl, -11.0));
    assert!(close_to(second.return_pct, -0.1));

    let equity: Vec<f64> = out.equity_curve.iter().map(|p| p.1).collect();
    assert_eq!(
        equity,
        vec![100.0, 100.0, 100.0, 100.0, 120.0, 110.0, 110.0, 110.0, 99.0]
    );
    let m = &out.metrics;
    assert!(close_to(m.total_return, -0.01));
    assert!(close_to(m.max_drawdown, 21.0 / 120.0));
    assert_eq!(m.trades, 2);
    assert_eq!(m.win_rate, Some(0.5));
    assert!(close_to(m.profit_factor.expect("one loser"), 10.0 / 11.0));
}

#[test]
fn sma_crossover_open_position_is_closed_at_the_last_close_for_statistics() {
    let bars = bars_from_closes(&[10.0, 9.0, 8.0, 10.0, 12.0]);
    let strategy = Strategy::SmaCrossover { fast: 1, slow: 2 };
    let out = run(&bars, &strategy, &config(100.0)).expect("runs");
    assert_eq!(out.trades.len(), 1);
    let trade = &out.trades[0];
    assert!(trade.open_at_end);
    assert_eq!((trade.exit_time, trade.exit_price), (bars[4].t, 12.0));
    assert!(close_to(trade.pnl, 20.0));
}

#[test]
fn sma_crossover_ignores_the_first_defined_bar_and_flat_prices() {
    // Fast is above slow from the first defined bar: no crossing, so no trade.
    let rising = bars_from_closes(&[1.0, 2.0, 3.0, 4.0]);
    let strategy = Strategy::SmaCrossover { fast: 1, slow: 2 };
    assert!(run(&rising, &strategy, &config(100.0))
        .expect("runs")
        .trades
        .is_empty());
    // Averages of a constant 0.1 differ only by rounding; that is not a crossing.
    let flat = bars_from_closes(&[0.1; 12]);
    let strategy = Strategy::SmaCrossover { fast: 3, slow: 5 };
    assert!(run(&flat, &strategy, &config(100.0))
        .expect("runs")
        .trades
        .is_empty());
}

#[test]
fn max_drawdown_is_the_deepest_fall_from_a_running_peak() {
    assert_eq!(max_drawdown([100.0, 120.0, 90.0, 130.0, 65.0]), 0.5);
    assert_eq!(max_drawdown([100.0, 110.0, 120.0]), 0.0);
    assert_eq!(max_drawdown([]), 0.0);
}

#[test]
fn win_rate_and_profit_factor_count_trades_by_pnl() {
    let trade = |pnl: f64| Trade {
        side: TradeSide::Long,
        entry_time: t0(),
        entry_price: 10.0,
        exit_time: t0(),
        exit_price: 10.0,
        qty: 1.0,
        fees: 0.0,
        pnl,
        return_pct: 0.0,
        open_at_end: false,
    };
    let trades = [trade(30.0), trade(-10.0), trade(10.0), trade(-10.0)];
    let curve = [(t0(), 100.0)];
    let activity = Activity {
        exposure: 0.0,
        traded: 0.0,
        fees: 0.0,
    };
    let m = compute(
        &curve.into_iter().collect::<Curve>(),
        &trades,
        &config(100.0),
        activity,
    );
    assert_eq!(m.win_rate, Some(0.5));
    assert_eq!(m.profit_factor, Some(2.0));
    assert_eq!(m.trades, 4);
}

#[test]
fn cagr_over_exactly_one_year_equals_the_total_return() {
    let start = t0();
    let bar = |t, close| Bar {
        t,
        open: close,
        high: close,
        low: close,
        close,
        volume: 1.0,
    };
    let bars = [
        bar(start, 10.0),
        bar(start + Duration::days(365) + Duration::hours(6), 12.0),
    ];
    let out = run(&bars, &Strategy::BuyAndHold, &config(100.0)).expect("runs");
    assert!(close_to(out.metrics.cagr.expect("a year elapsed"), 0.2));
    let single = run(&bars[..1], &Strategy::BuyAndHold, &config(100.0)).expect("runs");
    assert_eq!(single.metrics.cagr, None);
}

#[test]
fn sortino_and_sharpe_match_hand_computed_values() {
    // Returns 0.02, -0.01, 0.03, -0.02: mean 0.005.
    // Downside: sqrt((0.0001 + 0.0004) / 4) = 0.005 * sqrt(5), so Sortino = 1/sqrt(5).
    // Sample variance: (2 * 0.015² + 2 * 0.025²) / 3 = 0.0017 / 3.
    let mut stats = ReturnStats::default();
    for r in [0.02, -0.01, 0.03, -0.02] {
        stats.push(r);
    }
    let sortino = stats.sortino(1.0).expect("has losers");
    assert!(close_to(sortino, 1.0 / 5f64.sqrt()));
    assert!(close_to(
        stats.sortino(4.0).expect("has losers"),
        2.0 / 5f64.sqrt()
    ));
    let sharpe = stats.sharpe(1.0).expect("has variation");
    assert!((sharpe - 0.210_042).abs() < 1e-6);
}

#[test]
fn ratios_need_two_returns() {
    let mut stats = ReturnStats::default();
    stats.push(-0.1);
    assert_eq!(stats.sharpe(252.0), None);
    assert_eq!(stats.sortino(252.0), None);
}

#[test]
fn empty_bars_are_rejected() {
    let err = run(&[], &Strategy::BuyAndHold, &config(100.0)).expect_err("no bars");
    assert_eq!(err, BacktestError::NoBars);
    assert_eq!(err.to_string(), "no bars to backtest");
}

#[test]
fn invalid_strategies_are_rejected_naming_the_field() {
    let bars = bars_from_closes(&[10.0]);
    let cases = [
        (Strategy::SmaCrossover { fast: 0, slow: 5 }, "strategy.fast"),
        (Strategy::SmaCrossover { fast: 5, slow: 5 }, "strategy.slow"),
        (
            Strategy::SmaCrossover {
                fast: 5,
                slow: 10_001,
            },
            "strategy.slow",
        ),
        (
            Strategy::RsiReversion {
                period: 1,
                lower: 30.0,
                upper: 70.0,
            },
            "strategy.period",
        ),
        (
            Strategy::RsiReversion {
                period: 14,
                lower: 0.0,
                upper: 70.0,
            },
            "strategy.lower",
        ),
        (
            Strategy::RsiReversion {
                period: 14,
                lower: 30.0,
                upper: 30.0,
            },
            "strategy.upper",
        ),
        (Strategy::DonchianBreakout { period: 0 }, "strategy.period"),
    ];
    for (strategy, field) in cases {
        let err = run(&bars, &strategy, &config(100.0)).expect_err("invalid");
        let BacktestError::Invalid(input) = err else {
            panic!("{strategy:?} failed otherwise: {err}");
        };
        assert_eq!(input.field, field, "{strategy:?}: {}", input.reason);
    }
    assert_eq!(
        run(
            &bars,
            &Strategy::SmaCrossover { fast: 5, slow: 5 },
            &config(100.0)
        )
        .expect_err("invalid")
        .to_string(),
        "strategy.slow: must be greater than fast (got fast 5, slow 5)"
    );
    assert!(Strategy::SmaCrossover {
        fast: 1,
        slow: 10_000
    }
    .validate()
    .is_ok());
}

#[test]
fn non_positive_cash_is_rejected() {
    let bars = bars_from_closes(&[10.0]);
    for cash in [0.0, -5.0, f64::NAN] {
        let err = run(&bars, &Strategy::BuyAndHold, &config(cash)).expect_err("bad cash");
        assert!(matches!(err, BacktestError::NonPositiveCash(_)));
    }
}

#[test]
fn non_positive_periods_per_year_is_rejected() {
    let bars = bars_from_closes(&[10.0]);
    let cfg = Config {
        periods_per_year: 0.0,
        ..config(100.0)
    };
    let err = run(&bars, &Strategy::BuyAndHold, &cfg).expect_err("bad ppy");
    assert_eq!(err, BacktestError::NonPositivePeriodsPerYear(0.0));
}

#[test]
fn bars_out_of_order_or_repeated_are_rejected() {
    let mut bars = bars_from_closes(&[10.0, 11.0, 12.0]);
    bars[2].t = bars[1].t;
    let err = run(&bars, &Strategy::BuyAndHold, &config(100.0)).expect_err("repeated time");
    assert!(matches!(
        err,
        BacktestError::BarsOutOfOrder { index: 2, .. }
    ));
    assert!(err
        .to_string()
        .starts_with("bars must be strictly increasing in time"));
}

#[test]
fn non_finite_or_non_positive_prices_are_rejected() {
    for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        let mut bars = bars_from_closes(&[10.0, 11.0]);
        bars[1].close = bad;
        let err = run(&bars, &Strategy::BuyAndHold, &config(100.0)).expect_err("bad close");
        assert!(matches!(
            err,
            BacktestError::InvalidPrice {
                index: 1,
                price: "close",
                ..
            }
        ));
        bars[1].close = 11.0;
        bars[1].open = bad;
        let err = run(&bars, &Strategy::BuyAndHold, &config(100.0)).expect_err("bad open");
        assert!(matches!(
            err,
            BacktestError::InvalidPrice { price: "open", .. }
        ));
    }
}

#[test]
fn strategy_names_are_the_wire_tags() {
    for strategy in [
        Strategy::BuyAndHold,
        Strategy::SmaCrossover { fast: 1, slow: 2 },
        Strategy::RsiReversion {
            period: 14,
            lower: 30.0,
            upper: 70.0,
        },
        Strategy::DonchianBreakout { period: 20 },
    ] {
        let wire = serde_json::to_value(&strategy).expect("json");
        assert_eq!(wire["type"], strategy.name());
        let read: Strategy = serde_json::from_value(wire).expect("reads back");
        assert_eq!(read, strategy);
    }
}

#[test]
fn downsample_keeps_the_ends_and_evenly_spaced_points() {
    let curve: Vec<(DateTime<Utc>, f64)> = (0..11)
        .map(|i| (t0() + Duration::days(i), i as f64))
        .collect();
    let values = |c: Vec<(DateTime<Utc>, f64)>| c.into_iter().map(|p| p.1).collect::<Vec<_>>();
    assert_eq!(values(downsample(&curve, 3)), vec![0.0, 5.0, 10.0]);
    assert_eq!(
        values(downsample(&curve, 6)),
        vec![0.0, 2.0, 4.0, 6.0, 8.0, 10.0]
    );
    assert_eq!(downsample(&curve, 20), curve);
    assert_eq!(values(downsample(&curve, 1)), vec![10.0]);
    assert!(downsample(&curve, 0).is_empty());
}

/// Bars from `(open, close)` pairs, a day apart; high and low span them.
fn bars_from(prices: &[(f64, f64)]) -> Vec<Bar> {
    prices
        .iter()
        .enumerate()
        .map(|(i, &(open, close))| Bar {
            t: t0() + Duration::days(i as i64),
            open,
            high: open.max(close),
            low: open.min(close),
            close,
            volume: 1_000.0,
        })
        .collect()
}

fn equity(out: &Outcome) -> Vec<f64> {
    out.equity_curve.iter().map(|p| p.1).collect()
}

#[test]
fn by_default_a_signal_fills_at_the_next_bars_open() {
    // The first close signals; the buy fills at bar 1's open, 11: 9 shares, 1 cash left.
    let bars = bars_from(&[(10.0, 10.0), (11.0, 12.0), (12.0, 13.0)]);
    let out = run(
        &bars,
        &Strategy::BuyAndHold,
        &with(100.0, Execution::default()),
    )
    .expect("runs");
    assert_eq!(equity(&out), vec![100.0, 109.0, 118.0]);
    let trade = &out.trades[0];
    assert_eq!(
        (trade.entry_time, trade.entry_price, trade.qty),
        (bars[1].t, 11.0, 9.0)
    );
    assert!(close_to(trade.pnl, 18.0));
    // A signal on the last bar has no next open: nothing fills.
    let out = run(
        &bars[..1],
        &Strategy::BuyAndHold,
        &with(100.0, Execution::default()),
    )
    .expect("runs");
    assert!(out.trades.is_empty());
    assert_eq!(out.metrics.final_equity, 100.0);
}

#[test]
fn slippage_and_percent_commission_come_out_of_the_fill() {
    // Buy at 50 + 1% = 50.5 with 1% commission: floor(1000 / 51.005) = 19 shares, paying
    // 959.5 and 9.595; 30.905 cash left. Marked at 60: 30.905 + 1140.
    let execution = Execution {
        fill: Fill::SignalClose,
        slippage_bps: 100.0,
        commission: Commission::Percent {
            rate: 1.0,
            minimum: 0.0,
        },
        ..Execution::default()
    };
    let bars = bars_from_closes(&[50.0, 60.0]);
    let out = run(&bars, &Strategy::BuyAndHold, &with(1_000.0, execution)).expect("runs");
    let trade = &out.trades[0];
    assert_eq!((trade.qty, trade.entry_price), (19.0, 50.5));
    assert!(close_to(trade.fees, 9.595));
    assert!(close_to(trade.pnl, 170.905));
    assert!(close_to(out.metrics.final_equity, 1_170.905));
    assert!(close_to(out.metrics.fees, 9.595));
}

#[test]
fn a_fixed_commission_is_paid_on_entry_and_exit() {
    // SMA 1/2 buys at bar 3's close (10) and sells at bar 5's (11). With 1 a fill:
    // floor(99 / 10) = 9 shares, 9 cash left; the sale brings 99 less 1: 107.
    let execution = Execution {
        fill: Fill::SignalClose,
        commission: Commission::Fixed { amount: 1.0 },
        ..Execution::default()
    };
    let bars = bars_from_closes(&[10.0, 9.0, 8.0, 10.0, 12.0, 11.0]);
    let strategy = Strategy::SmaCrossover { fast: 1, slow: 2 };
    let out = run(&bars, &strategy, &with(100.0, execution)).expect("runs");
    assert_eq!(out.trades.len(), 1);
    let trade = &out.trades[0];
    assert_eq!((trade.qty, trade.fees), (9.0, 2.0));
    assert!(close_to(trade.pnl, 7.0));
    assert!(!trade.open_at_end);
    assert!(close_to(out.metrics.final_equity, 107.0));
}

#[test]
fn a_fraction_of_equity_or_a_fixed_quantity_is_bought() {
    let bars = bars_from_closes(&[30.0, 40.0]);
    let sized = |sizing| Execution {
        fill: Fill::SignalClose,
        sizing,
        ..Execution::default()
    };
    // Half of 1000 buys 16 at 30: 520 cash, then 520 + 640.
    let half = run(
        &bars,
        &Strategy::BuyAndHold,
        &with(1_000.0, sized(Sizing::Fraction { fraction: 0.5 })),
    )
    .expect("runs");
    assert_eq!(equity(&half), vec![1_000.0, 1_160.0]);
    let five = run(
        &bars,
        &Strategy::BuyAndHold,
        &with(1_000.0, sized(Sizing::Quantity { qty: 5.0 })),
    )
    .expect("runs");
    assert_eq!(equity(&five), vec![1_000.0, 1_050.0]);
}

#[test]
fn long_short_reverses_where_long_only_goes_flat() {
    // SMA 1/2: long at bar 3 (10 shares at 10), the cross below at bar 5 (11) sells them and,
    // long/short, sells 10 short at 11: 220 cash, −10 shares. Bar 6 closes at 9: 220 − 90.
    let bars = bars_from_closes(&[10.0, 9.0, 8.0, 10.0, 12.0, 11.0, 9.0]);
    let strategy = Strategy::SmaCrossover { fast: 1, slow: 2 };
    let both = Execution {
        fill: Fill::SignalClose,
        direction: Direction::LongShort,
        ..Execution::default()
    };
    let out = run(&bars, &strategy, &with(100.0, both)).expect("runs");
    assert_eq!(
        equity(&out),
        vec![100.0, 100.0, 100.0, 100.0, 120.0, 110.0, 130.0]
    );
    let sides: Vec<_> = out
        .trades
        .iter()
        .map(|t| (t.side, t.entry_price, t.exit_price, t.qty, t.open_at_end))
        .collect();
    assert_eq!(
        sides,
        vec![
            (TradeSide::Long, 10.0, 11.0, 10.0, false),
            (TradeSide::Short, 11.0, 9.0, 10.0, true),
        ]
    );
    assert!(close_to(out.trades[1].pnl, 20.0));
    let m = &out.metrics;
    // Held at the close of bars 3 to 6; fills of 100, 110 and 110 over a mean equity of 760/7.
    assert!(close_to(m.exposure, 4.0 / 7.0));
    assert!(close_to(m.turnover, 320.0 * 7.0 / 760.0));

    let long_only = run(&bars, &strategy, &config(100.0)).expect("runs");
    assert_eq!(long_only.trades.len(), 1);
    assert_eq!(long_only.metrics.final_equity, 110.0);
}

#[test]
fn rsi_reversion_buys_oversold_and_sells_overbought() {
    // Changes +1, −1, −1, +1, +2 with Wilder's period 2:
    // bar 2: gain 0.5, loss 0.5, RSI 50; bar 3: gain 0.25, loss 0.75, RSI 25;
    // bar 4: gain 0.625, loss 0.375, RSI 62.5; bar 5: gain 1.3125, loss 0.1875, RSI 87.5.
    let bars = bars_from_closes(&[10.0, 11.0, 10.0, 9.0, 10.0, 12.0]);
    let rsi = |lower, upper| Strategy::RsiReversion {
        period: 2,
        lower,
        upper,
    };
    let out = run(&bars, &rsi(30.0, 80.0), &config(100.0)).expect("runs");
    assert_eq!(out.trades.len(), 1);
    let trade = &out.trades[0];
    // 11 shares at 9 (1 cash left), sold at 12.
    assert_eq!(
        (trade.entry_time, trade.exit_time, trade.qty),
        (bars[3].t, bars[5].t, 11.0)
    );
    assert!(close_to(out.metrics.final_equity, 133.0));
    // An RSI of exactly 25 is not below 25, and 87.5 is not above 90.
    let out = run(&bars, &rsi(25.0, 90.0), &config(100.0)).expect("runs");
    assert!(out.trades.is_empty());
}

#[test]
fn donchian_breakout_trades_closes_beyond_the_channel_of_the_bars_before() {
    // (high, low, close); period 2.
    let hlc = [
        (10.0, 9.0, 9.5),
        (11.0, 9.5, 10.5),
        (12.0, 11.0, 11.5), // above 11, the high of bars 0–1: long
        (12.5, 11.5, 11.8), // inside 9.5–12
        (11.6, 10.8, 10.9), // below 11, the low of bars 2–3: flat
    ];
    let bars: Vec<Bar> = hlc
        .iter()
        .enumerate()
        .map(|(i, &(high, low, close))| Bar {
            t: t0() + Duration::days(i as i64),
            open: close,
            high,
            low,
            close,
            volume: 1.0,
        })
        .collect();
    let out = run(
        &bars,
        &Strategy::DonchianBreakout { period: 2 },
        &config(100.0),
    )
    .expect("runs");
    assert_eq!(out.trades.len(), 1);
    let trade = &out.trades[0];
    assert_eq!(
        (trade.entry_time, trade.exit_time, trade.qty),
        (bars[2].t, bars[4].t, 8.0)
    );
    // 8 shares at 11.5, 8 cash left; sold at 10.9.
    assert!(close_to(trade.pnl, -4.8));
    assert!(close_to(out.metrics.final_equity, 95.2));
}

#[test]
fn calmar_is_cagr_over_the_deepest_drawdown() {
    let bars = bars_from_closes(&[10.0, 9.0, 8.0, 10.0, 12.0, 11.0, 9.0, 10.0, 9.0]);
    let strategy = Strategy::SmaCrossover { fast: 1, slow: 2 };
    let m = run(&bars, &strategy, &config(100.0)).expect("runs").metrics;
    // 99 after 8 days: (0.99)^(365.25 / 8) − 1.
    let cagr = 0.99_f64.powf(365.25 / 8.0) - 1.0;
    assert!(close_to(m.cagr.expect("a span"), cagr));
    assert!(close_to(
        m.calmar.expect("a drawdown"),
        cagr / (21.0 / 120.0)
    ));
    let rising = run(
        &bars_from_closes(&[1.0, 2.0]),
        &Strategy::BuyAndHold,
        &config(10.0),
    )
    .expect("runs")
    .metrics;
    assert_eq!(rising.calmar, None, "no drawdown");
}

#[test]
fn a_benchmark_is_compared_on_the_bars_both_series_have() {
    let at = |days: i64| t0() + Duration::days(days);
    // The run: returns +10% then −10%. The benchmark: +10% then 0 on the shared days; its bar
    // on day 1.5 is not on the run's curve, and the run's day 3 is not in the benchmark.
    let curve = [
        (at(0), 100.0),
        (at(1), 110.0),
        (at(2), 99.0),
        (at(3), 500.0),
    ];
    let benchmark: Vec<Bar> = [
        (at(0), 50.0),
        (at(1), 55.0),
        (at(1) + Duration::hours(12), 1_000.0),
        (at(2), 55.0),
    ]
    .iter()
    .map(|&(t, close)| Bar {
        t,
        open: close,
        high: close,
        low: close,
        close,
        volume: 1.0,
    })
    .collect();
    let versus = compare("SPY", &curve[..3], -0.01, &benchmark, 252.0).expect("compared");
    assert_eq!(versus.symbol, "SPY");
    assert!(close_to(versus.total_return, 0.1));
    assert!(close_to(versus.excess_return, -0.11));
    // Covariance sum (0.1)(0.05) + (−0.1)(−0.05) = 0.01 over variance sum 2 × 0.05² = 0.005.
    assert!(close_to(versus.beta.expect("beta"), 2.0));
    // (0 − 2 × 0.05) × 252.
    assert!(close_to(versus.alpha.expect("alpha"), -25.2));
    let unmatched = compare("SPY", &curve[3..], 4.0, &benchmark, 252.0).expect("compared");
    assert_eq!((unmatched.beta, unmatched.alpha), (None, None));
    assert!(compare("SPY", &curve, 0.0, &[], 252.0).is_none());
}

/// Equal within a relative 1e-9 (absolute near zero).
fn agrees(ours: f64, theirs: f64) -> bool {
    (ours - theirs).abs() <= 1e-9 * ours.abs().max(theirs.abs()).max(1.0)
}

/// vectorbt's portfolio simulator on generated bars, for every strategy and each execution
/// option it shares with the engine (`scripts/backtest/vectorbt_fixtures.py` writes the
/// fixture): the same trades, and the same final equity, within 1e-9.
#[test]
fn runs_match_vectorbt_trade_for_trade() {
    let fixture: serde_json::Value = serde_json::from_str(include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/vectorbt.json"
    )))
    .expect("the fixture is JSON");
    let number = |v: &serde_json::Value| v.as_f64().expect("a number");
    let bars: Vec<Bar> = fixture["bars"]
        .as_array()
        .expect("bars")
        .iter()
        .map(|b| Bar {
            t: b["t"].as_str().expect("t").parse().expect("a time"),
            open: number(&b["open"]),
            high: number(&b["high"]),
            low: number(&b["low"]),
            close: number(&b["close"]),
            volume: 0.0,
        })
        .collect();
    let cases = fixture["cases"].as_array().expect("cases");
    assert!(cases.len() >= 9, "the fixture covers every strategy");
    for case in cases {
        let strategy: Strategy =
            serde_json::from_value(case["strategy"].clone()).expect("strategy");
        let execution: Execution =
            serde_json::from_value(case["execution"].clone()).expect("execution");
        let name = format!("{strategy:?} under {execution:?}");
        let out = run(
            &bars,
            &strategy,
            &with(number(&fixture["initial_cash"]), execution),
        )
        .expect("runs");
        let theirs = case["trades"].as_array().expect("trades");
        assert_eq!(out.trades.len(), theirs.len(), "{name}");
        for (ours, theirs) in out.trades.iter().zip(theirs) {
            let at = |field: &str| bars[theirs[field].as_u64().expect("an index") as usize].t;
            assert_eq!(
                (
                    json_side(ours.side),
                    ours.entry_time,
                    ours.exit_time,
                    ours.open_at_end
                ),
                (
                    theirs["side"].as_str().expect("side"),
                    at("entry_bar"),
                    at("exit_bar"),
                    theirs["open_at_end"].as_bool().expect("open")
                ),
                "{name}: {ours:?}"
            );
            for (field, value) in [
                ("entry_price", ours.entry_price),
                ("exit_price", ours.exit_price),
                ("qty", ours.qty),
                ("fees", ours.fees),
                ("pnl", ours.pnl),
            ] {
                assert!(
                    agrees(value, number(&theirs[field])),
                    "{name}: {field} {value} against vectorbt's {}",
                    theirs[field]
                );
            }
        }
        assert!(
            agrees(out.metrics.final_equity, number(&case["final_equity"])),
            "{name}: final equity {} against vectorbt's {}",
            out.metrics.final_equity,
            case["final_equity"]
        );
    }
}

fn json_side(side: TradeSide) -> &'static str {
    match side {
        TradeSide::Long => "long",
        TradeSide::Short => "short",
    }
}

#[test]
fn an_equal_weight_portfolio_sums_its_runs_over_every_bar_time() {
    // 200 split in two. A: 10 shares at 10, worth 100, 110, 120. B begins a day later: 5
    // shares at 20, worth 100 then 50; before its first bar it counts its 100 in cash.
    let a = bars_from_closes(&[10.0, 11.0, 12.0]);
    let b: Vec<Bar> = bars_from_closes(&[20.0, 20.0, 10.0])[1..].to_vec();
    let each = config(100.0);
    let runs = [
        run(&a, &Strategy::BuyAndHold, &each).expect("runs"),
        run(&b, &Strategy::BuyAndHold, &each).expect("runs"),
    ];
    let portfolio = combine(&[&runs[0], &runs[1]], &config(200.0));
    let equity: Vec<f64> = portfolio.equity_curve.iter().map(|p| p.1).collect();
    assert_eq!(equity, vec![200.0, 210.0, 170.0]);
    let m = &portfolio.metrics;
    assert!(close_to(m.total_return, -0.15));
    assert!(close_to(m.max_drawdown, 40.0 / 210.0));
    assert_eq!((m.trades, m.exposure), (2, 1.0));
    // Fills of 100 and 100 over a mean equity of 580 / 3.
    assert!(close_to(m.turnover, 200.0 * 3.0 / 580.0));
}

#[test]
fn a_short_that_loses_more_than_the_equity_has_no_growth_rate() {
    // SMA 1/2 over 10, 11, 9, 30: above at bar 1, below at bar 2 (short floor(100 / 9) = 11
    // at 9: 199 cash), above at bar 3 (covered at 30: 199 − 330 = −131, nothing left to buy).
    let both = Execution {
        fill: Fill::SignalClose,
        direction: Direction::LongShort,
        ..Execution::default()
    };
    let out = run(
        &bars_from_closes(&[10.0, 11.0, 9.0, 30.0]),
        &Strategy::SmaCrossover { fast: 1, slow: 2 },
        &with(100.0, both),
    )
    .expect("runs");
    assert_eq!(out.trades.len(), 1);
    assert_eq!(out.trades[0].side, TradeSide::Short);
    let m = &out.metrics;
    assert!(close_to(m.final_equity, -131.0));
    assert_eq!((m.cagr, m.calmar), (None, None));
    assert!(close_to(m.total_return, -2.31));
}
