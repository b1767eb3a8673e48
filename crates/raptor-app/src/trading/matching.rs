//! The trading runtime's matching pass: resting orders fill against bars that began after
//! they were placed. Each symbol's bars are read once per pass (per timeframe, only when
//! needed) and shared by every resting order on it, so a pass costs work per symbol, not per
//! order times bars.

use chrono::{DateTime, TimeZone, Utc};
use raptor_domain::auction::Auction;
use raptor_domain::calendar::{self, Session};
use raptor_domain::orders::{OrderType, Side, Terms, TimeInForce, Trailing};
use raptor_domain::timeframe::Timeframe;
use raptor_store::market::{self, StoredBar};
use raptor_store::trading::{self, Ending, Order, TrailMark};
use raptor_store::{Db, StoreError};
use rust_decimal::Decimal;

use super::engine::{apply_fill, price, round, settle_group, terms};
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
    /// Orders that ended unfilled: day orders past their close, auction orders their auction
    /// passed by.
    pub expired: usize,
}

/// The end of the trading day an order was placed in, by `end` of a session (its regular or
/// extended close): day orders expire then.
fn day_end(submitted: DateTime<Utc>, end: fn(&Session) -> DateTime<Utc>) -> Option<DateTime<Utc>> {
    let date = submitted
        .with_timezone(&chrono_tz::America::New_York)
        .date_naive();
    let mut day = date;
    for _ in 0..10 {
        if let Some(session) = calendar::session(day) {
            if end(&session) > submitted {
                return Some(end(&session));
            }
        }
        day = day.succ_opt()?;
    }
    None
}

/// An order's life, worked out once per pass.
struct Lifetime {
    /// When it expires (day and auction orders).
    expires: Option<DateTime<Utc>>,
    /// Its bars begin after this…
    from: DateTime<Utc>,
    /// …and before this.
    horizon: DateTime<Utc>,
    /// An auction order's auction, and that auction's session.
    auction: Option<(Auction, Session)>,
}

fn lifetime(order: &Order) -> Lifetime {
    let placed = order.submitted_at;
    let day = |end| (day_end(placed, end), placed);
    let (expires, from) = match order.time_in_force {
        TimeInForce::Day if order.extended_hours => day(|s| s.extended_close),
        TimeInForce::Day => day(|s| s.close),
        TimeInForce::Opg | TimeInForce::Cls => {
            let auction = Auction::of(order.time_in_force)
                .and_then(|a| Some((a, a.session_for(placed).ok()?)));
            let Some((_, session)) = auction else {
                // Placed past its auction's cutoff in a race with the check: it never trades.
                return Lifetime {
                    expires: Some(placed),
                    from: placed,
                    horizon: placed,
                    auction: None,
                };
            };
            // Bars of the session may be stored late, so the order waits for them until the
            // next session opens. A daily bar begins at midnight, before the order may have
            // been placed: the session's bars count from then.
            let next = calendar::session(calendar::next_trading_day(session.date));
            let midnight = chrono_tz::America::New_York
                .from_local_datetime(&session.date.and_time(chrono::NaiveTime::MIN))
                .earliest()
                .map_or(session.extended_open, |t| t.with_timezone(&Utc));
            return Lifetime {
                expires: Some(next.map_or(session.close, |s| s.open)),
                from: midnight - chrono::Duration::microseconds(1),
                horizon: session.close,
                auction,
            };
        }
        _ => (None, placed),
    };
    Lifetime {
        expires,
        from,
        // Good-till-canceled orders look ten years ahead: further than any stored bar.
        horizon: expires.unwrap_or(placed + chrono::Duration::days(3650)),
        auction: None,
    }
}

/// A bar's start and prices as exact decimals, converted once per pass rather than once per
/// order.
struct PricedBar {
    ts: DateTime<Utc>,
    open: Decimal,
    high: Decimal,
    low: Decimal,
    close: Decimal,
    /// Whether any of the bar falls in a regular session: only such bars fill orders that are
    /// not for extended hours.
    regular: bool,
}

impl PricedBar {
    /// Whether an order trades on this bar: extended-hours orders on any stored bar, others
    /// only on bars of the regular session.
    fn trades(&self, extended_hours: bool) -> bool {
        extended_hours || self.regular
    }
}

/// Prices a read of one timeframe's bars, oldest first, and tells regular-session bars from
/// pre-market and after-hours ones. Daily and longer bars summarise sessions: all regular.
fn priced(bars: Vec<StoredBar>, timeframe: Timeframe) -> Vec<PricedBar> {
    let length = timeframe.duration();
    let intraday = length < chrono::Duration::days(1);
    let mut session: Option<(chrono::NaiveDate, Option<Session>)> = None;
    bars.into_iter()
        .map(|b| {
            let regular = !intraday || {
                let date =
                    b.ts.with_timezone(&chrono_tz::America::New_York)
                        .date_naive();
                if session.as_ref().is_none_or(|(day, _)| *day != date) {
                    session = Some((date, calendar::session(date)));
                }
                session
                    .as_ref()
                    .and_then(|(_, s)| s.as_ref())
                    .is_some_and(|s| b.ts < s.close && b.ts + length > s.open)
            };
            PricedBar {
                ts: b.ts,
                open: price(b.open),
                high: price(b.high),
                low: price(b.low),
                close: price(b.close),
                regular,
            }
        })
        .collect()
}

/// The first bar the order trades on that crosses its terms, with the price it fills at.
fn first_crossing(
    terms: &Terms,
    extended_hours: bool,
    bars: &[PricedBar],
) -> Option<(Decimal, DateTime<Utc>)> {
    bars.iter()
        .filter(|b| b.trades(extended_hours))
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
    /// The earliest start of any order's bars: bars must begin after it.
    after: DateTime<Utc>,
    /// The latest horizon of any order.
    end: DateTime<Utc>,
    /// By position in [`Timeframe::ALL`].
    reads: Vec<Option<Read>>,
}

impl<'a> SymbolBars<'a> {
    /// None when there are no orders to match.
    fn new(db: &'a Db, symbol: &'a str, lives: &[Lifetime]) -> Option<Self> {
        Some(Self {
            db,
            symbol,
            after: lives.iter().map(|l| l.from).min()?,
            end: lives.iter().map(|l| l.horizon).max()?,
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
                    bars: priced(bars, timeframe),
                    complete,
                }
            }
        };
        Ok(self.reads[index].insert(read))
    }

    /// Where and when an order fills, as `scan` finds it in the bars that began after `from`
    /// and before `horizon`: those of the narrowest timeframe that has any, as if read for the
    /// order alone. `scan` may be shown a first part of them before all of them; it answers
    /// afresh each time.
    async fn fill<F>(
        &mut self,
        from: DateTime<Utc>,
        horizon: DateTime<Utc>,
        mut scan: F,
    ) -> Result<Option<(Decimal, DateTime<Utc>)>, StoreError>
    where
        F: FnMut(&[PricedBar], Timeframe) -> Option<(Decimal, DateTime<Utc>)> + Send,
    {
        let (db, symbol) = (self.db, self.symbol);
        for (index, timeframe) in Timeframe::ALL.into_iter().enumerate() {
            let read = self.read(index, timeframe).await?;
            let start = read.bars.partition_point(|b| b.ts <= from);
            let to = read.bars.partition_point(|b| b.ts < horizon).max(start);
            let own = &read.bars[start..to];
            // What was read is the start of this order's own bars, so a crossing there is the
            // first one.
            if let Some(found) = scan(own, timeframe) {
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
                from,
                horizon,
                Some(from),
                BARS_PER_PASS,
            )
            .await?;
            if bars.is_empty() {
                continue;
            }
            return Ok(scan(&priced(bars, timeframe), timeframe));
        }
        Ok(None)
    }
}

/// What a pass found for one order.
struct Found {
    /// Where and when it fills.
    fill: Option<(Decimal, DateTime<Utc>)>,
    /// An auction order whose auction priced beyond its limit: it will not fill.
    missed_auction: bool,
    /// A trailing stop: where its walk got to before it filled or the bars ran out, if it
    /// walked any bar.
    trail: Option<TrailMark>,
}

impl Found {
    /// Processing order within a pass: earliest fill first, so of two exits of one group the
    /// one that crossed first fills and cancels the other; at the same bar a stop goes first
    /// (the conservative reading of a bar that reached both). Orders that do not fill last.
    fn rank(&self, order: &Order) -> impl Ord {
        let stop = matches!(
            order.order_type,
            OrderType::Stop | OrderType::StopLimit | OrderType::TrailingStop
        );
        (
            self.fill.is_none(),
            self.fill.map(|(_, at)| at),
            !stop,
            order.submitted_at,
            order.id,
        )
    }
}

/// Finds an order's fill: the first crossing of its terms; for a trailing stop, a walk from
/// where the last pass left it ([`Trailing`]).
async fn find(
    bars: &mut SymbolBars<'_>,
    order: &Order,
    life: &Lifetime,
    now: DateTime<Utc>,
) -> Result<Found, StoreError> {
    let horizon = life.horizon;
    let (Some(trail), Some(hwm)) = (order.trail(), order.hwm) else {
        let terms = terms(order);
        if let Some((auction, session)) = &life.auction {
            return find_auction(bars, order, *auction, session, life, now).await;
        }
        let fill = bars
            .fill(order.submitted_at, horizon, |own, _| {
                first_crossing(&terms, order.extended_hours, own)
            })
            .await?;
        return Ok(Found {
            fill,
            missed_auction: false,
            trail: None,
        });
    };
    let start = Trailing {
        side: order.side,
        trail,
        mark: hwm.0,
    };
    // `hwm_at` is the end of the last bar walked: bars beginning then or later are new, and
    // shorter bars inside one already walked (imported later) are not walked again.
    let from = order.hwm_at.map_or(order.submitted_at, |end| {
        (end - chrono::Duration::microseconds(1)).max(order.submitted_at)
    });
    let mut walked = None;
    let fill = bars
        .fill(from, horizon, |own, timeframe| {
            let mut walk = start;
            walked = None;
            for bar in own.iter().filter(|b| b.trades(order.extended_hours)) {
                if let Some(price) = walk.step(bar.open, bar.high, bar.low) {
                    return Some((price, bar.ts));
                }
                walked = Some(TrailMark {
                    hwm: walk.mark,
                    stop: walk.stop(),
                    through: bar.ts + timeframe.duration(),
                });
            }
            None
        })
        .await?;
    Ok(Found {
        trail: walked,
        missed_auction: false,
        fill,
    })
}

/// The price of an auction in the stored bars: the open of the session's first regular bar
/// (opening) or the close of its last (closing, once the session is over), from the finest
/// timeframe that has bars of the session; a daily bar stands for the whole session.
fn auction_price(
    auction: Auction,
    session: &Session,
    now: DateTime<Utc>,
    own: &[PricedBar],
    timeframe: Timeframe,
) -> Option<Decimal> {
    let daily = timeframe == Timeframe::Day1;
    let on_date = |b: &PricedBar| {
        b.ts.with_timezone(&chrono_tz::America::New_York)
            .date_naive()
            == session.date
    };
    let first = |b: &&PricedBar| {
        if daily {
            on_date(b)
        } else {
            b.ts >= session.open && b.ts < session.close
        }
    };
    // Only the bar that ends at the close carries the closing price: an earlier last bar is
    // a session stored in part.
    let last = |b: &&PricedBar| {
        if daily {
            on_date(b)
        } else {
            b.ts < session.close && b.ts + timeframe.duration() >= session.close
        }
    };
    match auction {
        Auction::Opening => own.iter().find(first).map(|b| b.open),
        Auction::Closing if now >= session.close => own.iter().find(last).map(|b| b.close),
        Auction::Closing => None,
    }
}

/// Finds an auction order's fill: at the auction's price when that is at or better than its
/// limit (any price for a market order), at the auction's time.
async fn find_auction(
    bars: &mut SymbolBars<'_>,
    order: &Order,
    auction: Auction,
    session: &Session,
    life: &Lifetime,
    now: DateTime<Utc>,
) -> Result<Found, StoreError> {
    let at = auction.at(session);
    let priced = bars
        .fill(life.from, life.horizon, |own, timeframe| {
            auction_price(auction, session, now, own, timeframe).map(|p| (p, at))
        })
        .await?;
    let within = |p: Decimal| match (order.limit_price, order.side) {
        (None, _) => true,
        (Some(limit), Side::Buy) => p <= limit.0,
        (Some(limit), Side::Sell) => p >= limit.0,
    };
    Ok(Found {
        fill: priced.filter(|(p, _)| within(*p)),
        missed_auction: priced.is_some_and(|(p, _)| !within(p)),
        trail: None,
    })
}

/// Fills resting orders on `symbol` against bars that began after they were placed, oldest
/// order first, and expires day orders whose trading day has ended.
pub async fn match_symbol(app: &App, symbol: &str) -> Result<Matched, StoreError> {
    let db = &app.db;
    let mut matched = Matched::default();
    let now = app.now();
    let orders = trading::open_orders_for_symbol(db, symbol).await?;
    let lives: Vec<Lifetime> = orders.iter().map(lifetime).collect();
    let Some(mut bars) = SymbolBars::new(db, symbol, &lives) else {
        return Ok(matched);
    };
    let mut found = Vec::with_capacity(orders.len());
    for (order, life) in orders.iter().zip(&lives) {
        let expires = life.expires;
        found.push((order, expires, find(&mut bars, order, life, now).await?));
    }
    found.sort_by_cached_key(|(order, _, found)| found.rank(order));
    for (order, expires, found) in found {
        let Found {
            fill,
            missed_auction,
            trail,
        } = found;
        let expired = expires.is_some_and(|end| end <= now);
        if fill.is_none() && !expired && !missed_auction && trail.is_none() {
            // Nothing to write: keep the pass from taking a write lock per resting order.
            continue;
        }
        let mut tx = db.begin().await?;
        let account = trading::lock_account(&mut tx, order.account_id).await?;
        // Re-read under the lock: it may have been canceled or filled meanwhile.
        let Some(current) = trading::order_in(&mut tx, order.account_id, order.id).await? else {
            continue;
        };
        // Canceled or filled meanwhile, or another pass moved its trail.
        if !current.status.is_open() || current.hwm_at != order.hwm_at {
            continue;
        }
        let filled_before = matched.filled;
        match fill {
            Some((fill_price, at)) => {
                if let Some(mark) = trail {
                    // Where the stop stood when it was reached.
                    trading::move_trail(&mut tx, current.id, mark, now).await?;
                }
                let qty = current.qty.map_or(Decimal::ZERO, |q| q.0);
                let affordable = match current.side {
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
                    settle_group(&mut tx, &current, false, now).await?;
                    matched.rejected += 1;
                }
            }
            None if missed_auction => {
                trading::end_order(
                    &mut tx,
                    current.id,
                    Ending::Canceled,
                    Some("the auction priced beyond its limit"),
                    now,
                )
                .await?;
                matched.expired += 1;
            }
            None if expired => {
                // Alpaca cancels what its auction did not fill.
                let (ending, reason) = match current.time_in_force {
                    TimeInForce::Opg | TimeInForce::Cls => {
                        (Ending::Canceled, "no stored bar priced its auction")
                    }
                    _ => (Ending::Expired, "day order not filled by the close"),
                };
                trading::end_order(&mut tx, current.id, ending, Some(reason), now).await?;
                settle_group(&mut tx, &current, false, now).await?;
                matched.expired += 1;
            }
            None => {
                if let Some(mark) = trail {
                    trading::move_trail(&mut tx, current.id, mark, now).await?;
                }
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
