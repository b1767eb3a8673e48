//! What values an account: the account and its kill switch, its positions, its working buys
//! and its fills since a moment, read in one statement (one snapshot, so the parts always agree,
//! and one round trip), with the bars version of every symbol they name. The closes that price
//! them come from [`market::latest_bar_at`] at those versions: read once per process and
//! version, not on every valuation.

use std::collections::HashMap;
use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use raptor_domain::orders::Side;
use rust_decimal::Decimal;

use crate::decimal::DbDecimal;
use crate::dialect::account_reads;
use crate::engine::Db;
use crate::error::StoreError;
use crate::market;
use crate::trading::{Account, KillSwitch, Position, PENDING_STATUSES};

/// Rows of a book read on the calling thread from a SQLite file; a larger book (an active
/// account's day of fills) is read again on a blocking thread.
pub const INLINE_ROWS: usize = 64;

/// An account with everything that values it.
#[derive(Debug, Clone, PartialEq)]
pub struct Book {
    /// The account.
    pub account: Account,
    /// Its kill switch.
    pub kill_switch: KillSwitch,
    /// Its positions by symbol.
    pub positions: Vec<PricedPosition>,
    /// Its buy orders that have not ended.
    pub working_buys: Vec<WorkingBuy>,
    /// Its fills after the moment asked for, oldest first.
    pub fills_since: Vec<FillSince>,
}

/// A position and its symbol's stored closes.
#[derive(Debug, Clone, PartialEq)]
pub struct PricedPosition {
    /// What is held.
    pub position: Position,
    /// The latest stored close.
    pub latest_close: Option<f64>,
    /// The latest close of a bar that began before the moment asked for.
    pub close_then: Option<f64>,
}

/// The price terms of a buy order that has not ended.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkingBuy {
    /// Ticker.
    pub symbol: String,
    /// Shares (none for a notional order).
    pub qty: Option<Decimal>,
    /// Its limit.
    pub limit_price: Option<Decimal>,
    /// Its stop.
    pub stop_price: Option<Decimal>,
    /// For a market order (one waiting for its auction), its symbol's latest close.
    pub latest_close: Option<f64>,
}

/// A fill after the moment asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct FillSince {
    /// Ticker.
    pub symbol: String,
    /// Buy or sell.
    pub side: Side,
    /// Quantity.
    pub qty: Decimal,
    /// Price.
    pub price: Decimal,
    /// The symbol's latest close of a bar that began before the moment asked for.
    pub close_then: Option<f64>,
}

/// One row of the statement: `part` says which columns it fills.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct BookRow {
    pub(crate) part: String,
    pub(crate) account_id: Option<i64>,
    pub(crate) currency: Option<String>,
    pub(crate) cash: Option<Decimal>,
    pub(crate) starting_cash: Option<Decimal>,
    pub(crate) kill_switch: Option<bool>,
    pub(crate) kill_switch_reason: Option<String>,
    pub(crate) kill_switch_set_at: Option<DateTime<Utc>>,
    pub(crate) symbol: Option<String>,
    pub(crate) side: Option<String>,
    pub(crate) qty: Option<Decimal>,
    pub(crate) price: Option<Decimal>,
    pub(crate) cost_basis: Option<Decimal>,
    pub(crate) stop_price: Option<Decimal>,
    pub(crate) bars_version: Option<i64>,
    pub(crate) filled_at: Option<DateTime<Utc>>,
    pub(crate) fill_id: Option<i64>,
}

/// `$1` the user, `$2` the moment. The first branch types every column, so PostgreSQL can
/// match the bare nulls of the others. A symbol without a listing has no bars version.
static BOOK: LazyLock<String> = LazyLock::new(|| {
    let account = "(SELECT id FROM paper_accounts WHERE user_id = $1)";
    let pending = &*PENDING_STATUSES;
    format!(
        "SELECT 'account' AS part, a.id AS account_id, a.currency, a.cash, a.starting_cash, \
         k.kill_switch, k.kill_switch_reason, k.kill_switch_set_at, \
         CAST(NULL AS TEXT) AS symbol, CAST(NULL AS TEXT) AS side, \
         CAST(NULL AS NUMERIC(28,8)) AS qty, CAST(NULL AS NUMERIC(28,8)) AS price, \
         CAST(NULL AS NUMERIC(28,8)) AS cost_basis, CAST(NULL AS NUMERIC(28,8)) AS stop_price, \
         CAST(NULL AS BIGINT) AS bars_version, \
         CAST(NULL AS TIMESTAMPTZ) AS filled_at, CAST(NULL AS BIGINT) AS fill_id \
         FROM paper_accounts a LEFT JOIN trading_runtime_state k ON k.account_id = a.id \
         WHERE a.user_id = $1 \
         UNION ALL \
         SELECT 'position', NULL, NULL, NULL, NULL, NULL, NULL, NULL, p.symbol, NULL, \
         p.qty, p.avg_entry_price, p.cost_basis, NULL, s.bars_version, NULL, NULL \
         FROM positions p LEFT JOIN symbols s ON s.ticker = p.symbol \
         WHERE p.account_id = {account} \
         UNION ALL \
         SELECT 'working_buy', NULL, NULL, NULL, NULL, NULL, NULL, NULL, o.symbol, NULL, \
         o.qty, o.limit_price, NULL, o.stop_price, s.bars_version, NULL, NULL \
         FROM paper_orders o LEFT JOIN symbols s ON s.ticker = o.symbol \
         WHERE o.account_id = {account} AND o.side = 'buy' AND o.status IN {pending} \
         UNION ALL \
         SELECT 'fill', NULL, NULL, NULL, NULL, NULL, NULL, NULL, f.symbol, f.side, \
         f.qty, f.price, NULL, NULL, s.bars_version, f.filled_at, f.id \
         FROM paper_fills f LEFT JOIN symbols s ON s.ticker = f.symbol \
         WHERE f.account_id = {account} AND f.filled_at > $2"
    )
});

/// The user's account with everything that values it, fills counted after `since`; `None`
/// when the user has no account.
pub async fn book(db: &Db, user_id: i64, since: DateTime<Utc>) -> Result<Option<Book>, StoreError> {
    let rows = account_reads::rows(db, &BOOK, user_id, since).await?;
    let Some((mut book, versions)) = assemble(user_id, rows)? else {
        return Ok(None);
    };
    let mut closes = Closes::default();
    for p in &mut book.positions {
        let symbol = &p.position.symbol;
        p.latest_close = closes.of(db, &versions, symbol, None).await?;
        p.close_then = closes.of(db, &versions, symbol, Some(since)).await?;
    }
    for o in &mut book.working_buys {
        // Only a market order (waiting for its auction) needs its symbol's price.
        if o.limit_price.is_none() && o.stop_price.is_none() {
            o.latest_close = closes.of(db, &versions, &o.symbol, None).await?;
        }
    }
    for f in &mut book.fills_since {
        f.close_then = closes.of(db, &versions, &f.symbol, Some(since)).await?;
    }
    Ok(Some(book))
}

/// Symbols named by a book, with their bars versions (none when a symbol has no listing).
type Versions = HashMap<String, Option<i64>>;

/// The closes one valuation has looked up, by symbol and moment (`None`: the latest).
#[derive(Default)]
struct Closes(HashMap<(String, Option<DateTime<Utc>>), Option<f64>>);

impl Closes {
    /// The close of `symbol`'s newest bar before `before`: kept per process at the symbol's
    /// bars version, read every time for a symbol without a listing (once per valuation).
    async fn of(
        &mut self,
        db: &Db,
        versions: &Versions,
        symbol: &str,
        before: Option<DateTime<Utc>>,
    ) -> Result<Option<f64>, StoreError> {
        let key = (symbol.to_owned(), before);
        if let Some(close) = self.0.get(&key) {
            return Ok(*close);
        }
        let bar = match versions.get(symbol).copied().flatten() {
            Some(version) => market::latest_bar_at(db, symbol, version, before).await?,
            None => market::latest_bar_before(db, symbol, before).await?,
        };
        let close = bar.map(|b| b.close);
        self.0.insert(key, close);
        Ok(close)
    }
}

/// The book from its rows, closes not yet filled in, and the bars versions the rows read.
fn assemble(user_id: i64, rows: Vec<BookRow>) -> Result<Option<(Book, Versions)>, StoreError> {
    let malformed = |what: &str| {
        StoreError::Database(sqlx::Error::Decode(
            format!("an account book row lacks {what}").into(),
        ))
    };
    let mut account = None;
    let mut positions = Vec::new();
    let mut working_buys = Vec::new();
    let mut fills = Vec::new();
    let mut versions = Versions::new();
    for row in rows {
        let symbol = row.symbol.clone();
        if let Some(symbol) = &symbol {
            versions.insert(symbol.clone(), row.bars_version);
        }
        let symbol = || symbol.ok_or_else(|| malformed("a symbol"));
        match row.part.as_str() {
            "account" => {
                account = Some((
                    Account {
                        id: row.account_id.ok_or_else(|| malformed("its id"))?,
                        user_id,
                        currency: row.currency.ok_or_else(|| malformed("a currency"))?,
                        cash: DbDecimal(row.cash.ok_or_else(|| malformed("cash"))?),
                        starting_cash: DbDecimal(
                            row.starting_cash
                                .ok_or_else(|| malformed("starting cash"))?,
                        ),
                    },
                    KillSwitch {
                        kill_switch: row.kill_switch.unwrap_or(false),
                        kill_switch_reason: row.kill_switch_reason,
                        kill_switch_set_at: row.kill_switch_set_at,
                    },
                ));
            }
            "position" => positions.push(PricedPosition {
                position: Position {
                    symbol: symbol()?,
                    qty: DbDecimal(row.qty.ok_or_else(|| malformed("a quantity"))?),
                    avg_entry_price: DbDecimal(row.price.ok_or_else(|| malformed("a price"))?),
                    cost_basis: DbDecimal(row.cost_basis.ok_or_else(|| malformed("a cost"))?),
                },
                latest_close: None,
                close_then: None,
            }),
            "working_buy" => working_buys.push(WorkingBuy {
                symbol: symbol()?,
                qty: row.qty,
                limit_price: row.price,
                stop_price: row.stop_price,
                latest_close: None,
            }),
            "fill" => {
                let side = row.side.ok_or_else(|| malformed("a side"))?;
                let order = (row.filled_at, row.fill_id);
                fills.push((
                    order,
                    FillSince {
                        symbol: symbol()?,
                        side: side.parse().map_err(|_| malformed("a known side"))?,
                        qty: row.qty.ok_or_else(|| malformed("a quantity"))?,
                        price: row.price.ok_or_else(|| malformed("a price"))?,
                        close_then: None,
                    },
                ));
            }
            other => return Err(malformed(&format!("a known part (not {other:?})"))),
        }
    }
    let Some((account, kill_switch)) = account else {
        return Ok(None);
    };
    positions.sort_by(|a, b| a.position.symbol.cmp(&b.position.symbol));
    fills.sort_by_key(|(order, _)| *order);
    let book = Book {
        account,
        kill_switch,
        positions,
        working_buys,
        fills_since: fills.into_iter().map(|(_, fill)| fill).collect(),
    };
    Ok(Some((book, versions)))
}
