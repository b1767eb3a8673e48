//! The trading runtime's matching pass: resting orders fill against bars that began after
//! they were placed. Each symbol's bars are read once per pass (per timeframe, only when
//! needed) and shared by every resting order on it, so a pass costs work per symbol, not per
//! order times bars.

use chrono::{DateTime, Utc};
use raptor_domain::orders::{Side, Terms, TimeInForce};
use raptor_domain::timeframe::Timeframe;
use raptor_store::market::{self, StoredBar};
use raptor_store::trading::{self, Ending, Order};
use raptor_store::{Db, StoreError};
use rust_decimal::Decimal;

use super::engine::{apply_fill, price, round, terms};
use crate::metrics::FillTrigger;
use crate::App;

/// Bars of one timeframe read per symbol per pass (and per order when it needs more).
const BARS_PER_PASS: i64 = 50_000;

/// What a matching pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Matched {
    /// Orders filled.
    pub filled: usize,
    /// Orders rejected at fill time (cash or position gone).
    pub rejected: usize,
    /// Day orders expired.
    pub expired: usize,
}

/// The end of the trading day an order was placed in: day orders expire then.
fn day_end(submitted: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let date = submitted
        .with_timezone(&chrono_tz::America::New_York)
        .date_naive();
    let mut day = date;
    for _ in 0..10 {
        if let Some(session) = raptor_domain::calendar::session(day) {
            if session.close > submitted {
                return Some(session.close);
            }
        }
        day = day.succ_opt()?;
    }
    None
}

/// When an order expires (day orders), and the end of the bars it can fill in.
fn lifetime(order: &Order) -> (Option<DateTime<Utc>>, DateTime<Utc>) {
    let expires = (order.time_in_force == TimeInForce::Day)
        .then(|| day_end(order.submitted_at))
        .flatten();
    // Good-till-canceled orders look ten years ahead: further than any stored bar.
    let horizon = expires.unwrap_or(order.submitted_at + chrono::Duration::days(3650));
    (expires, horizon)
}

/// A bar's start and prices as exact decimals, converted once per pass rather than once per
/// order.
struct PricedBar {
    ts: DateTime<Utc>,
    open: Decimal,
    high: Decimal,
    low: Decimal,
}

fn priced(bars: Vec<StoredBar>) -> Vec<PricedBar> {
    bars.into_iter()
        .map(|b| PricedBar {
            ts: b.ts,
            open: price(b.open),
            high: price(b.high),
            low: price(b.low),
        })
        .collect()
}

/// The first bar that crosses the terms, with the price it fills at.
fn first_crossing(terms: &Terms, bars: &[PricedBar]) -> Option<(Decimal, DateTime<Utc>)> {
    bars.iter()
        .find_map(|b| terms.fill_in_bar(b.open, b.high, b.low).map(|p| (p, b.ts)))
}

/// One timeframe's bars of a symbol after the oldest resting order was placed.
struct Read {
    /// Oldest first.
    bars: Vec<PricedBar>,
    /// False when the read stopped at [`BARS_PER_PASS`]: later bars exist.
    complete: bool,
}

/// A symbol's bars for one pass, read at most once per timeframe and shared by its orders.
struct SymbolBars<'a> {
    db: &'a Db,
    symbol: &'a str,
    /// The oldest order's submission: bars must begin after it.
    after: DateTime<Utc>,
    /// The latest horizon of any order.
    end: DateTime<Utc>,
    /// By position in [`Timeframe::ALL`].
    reads: Vec<Option<Read>>,
}

impl<'a> SymbolBars<'a> {
    /// None when there are no orders to match.
    fn new(db: &'a Db, symbol: &'a str, orders: &[Order]) -> Option<Self> {
        Some(Self {
            db,
            symbol,
            after: orders.iter().map(|o| o.submitted_at).min()?,
            end: orders.iter().map(|o| lifetime(o).1).max()?,
            reads: Timeframe::ALL.iter().map(|_| None).collect(),
        })
    }

    async fn read(&mut self, index: usize, timeframe: Timeframe) -> Result<&Read, StoreError> {
        let read = match self.reads[index].take() {
            Some(read) => read,
            None => {
                let bars = market::bars(
                    self.db,
                    self.symbol,
                    timeframe,
                    self.after,
                    self.end,
                    Some(self.after),
                    BARS_PER_PASS,
                )
                .await?;
                let complete = (bars.len() as i64) < BARS_PER_PASS;
                Read {
                    bars: priced(bars),
                    complete,
                }
            }
        };
        Ok(self.reads[index].insert(read))
    }

    /// Where and when an order fills: the first crossing in the narrowest timeframe that has
    /// bars in its window (after it was placed, before its horizon), as if read for it alone.
    async fn fill(
        &mut self,
        order: &Order,
        terms: &Terms,
        horizon: DateTime<Utc>,
    ) -> Result<Option<(Decimal, DateTime<Utc>)>, StoreError> {
        let (db, symbol) = (self.db, self.symbol);
        for (index, timeframe) in Timeframe::ALL.into_iter().enumerate() {
            let read = self.read(index, timeframe).await?;
            let from = read.bars.partition_point(|b| b.ts <= order.submitted_at);
            let to = read.bars.partition_point(|b| b.ts < horizon).max(from);
            let own = &read.bars[from..to];
            // What was read is the start of this order's own bars, so a crossing there is the
            // first one.
            if let Some(found) = first_crossing(terms, own) {
                return Ok(Some(found));
            }
            if read.complete {
                if own.is_empty() {
                    continue;
                }
                return Ok(None);
            }
            // The shared read stopped at its limit before this order's window ended: read the
            // order's own bars, as the pass did before bars were shared.
            let bars = market::bars(
                db,
                symbol,
                timeframe,
                order.submitted_at,
                horizon,
                Some(order.submitted_at),
                BARS_PER_PASS,
            )
            .await?;
            if bars.is_empty() {
                continue;
            }
            return Ok(first_crossing(terms, &priced(bars)));
        }
        Ok(None)
    }
}

/// Fills resting orders on `symbol` against bars that began after they were placed, oldest
/// order first, and expires day orders whose trading day has ended.
pub async fn match_symbol(app: &App, symbol: &str) -> Result<Matched, StoreError> {
    let db = &app.db;
    let mut matched = Matched::default();
    let now = app.now();
    let orders = trading::open_orders_for_symbol(db, symbol).await?;
    let Some(mut bars) = SymbolBars::new(db, symbol, &orders) else {
        return Ok(matched);
    };
    for order in &orders {
        let terms = terms(order);
        let (expires, horizon) = lifetime(order);
        let fill = bars.fill(order, &terms, horizon).await?;
        let expired = expires.is_some_and(|end| end <= now);
        if fill.is_none() && !expired {
            // Nothing to write: keep the pass from taking a write lock per resting order.
            continue;
        }
        let mut tx = db.begin().await?;
        let account = trading::lock_account(&mut tx, order.account_id).await?;
        // Re-read under the lock: it may have been canceled or filled meanwhile.
        let Some(current) = trading::order_in(&mut tx, order.account_id, order.id).await? else {
            continue;
        };
        if !current.status.is_open() {
            continue;
        }
        let filled_before = matched.filled;
        match fill {
            Some((fill_price, at)) => {
                let qty = current.qty.map_or(Decimal::ZERO, |q| q.0);
                let affordable = match terms.side {
                    // Its own reservation is released by filling, so compare with all cash.
                    Side::Buy => round(qty * fill_price) <= account.cash.0,
                    Side::Sell => trading::position_in(&mut tx, account.id, &current.symbol)
                        .await?
                        .is_some_and(|p| p.qty.0 >= qty),
                };
                if affordable {
                    apply_fill(
                        &mut tx,
                        &account,
                        &current,
                        qty,
                        fill_price,
                        at.max(current.submitted_at),
                    )
                    .await?;
                    matched.filled += 1;
                } else {
                    trading::end_order(
                        &mut tx,
                        current.id,
                        Ending::Rejected,
                        Some("insufficient buying power or position at fill"),
                        now,
                    )
                    .await?;
                    matched.rejected += 1;
                }
            }
            None => {
                trading::end_order(
                    &mut tx,
                    current.id,
                    Ending::Expired,
                    Some("day order not filled by the close"),
                    now,
                )
                .await?;
                matched.expired += 1;
            }
        }
        tx.commit().await?;
        if matched.filled > filled_before {
            app.metrics.filled(FillTrigger::Bar, 1);
        }
    }
    Ok(matched)
}

/// Runs [`match_symbol`] for every symbol with working orders.
pub async fn match_all(app: &App) -> Result<Matched, StoreError> {
    let mut total = Matched::default();
    for symbol in trading::symbols_with_open_orders(&app.db).await? {
        let m = match_symbol(app, &symbol).await?;
        total.filled += m.filled;
        total.rejected += m.rejected;
        total.expired += m.expired;
    }
    Ok(total)
}
