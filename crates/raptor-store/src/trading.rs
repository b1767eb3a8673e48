//! Paper trading: accounts, orders, fills, positions and the per-account kill switch.
//!
//! Every state change runs inside a write transaction that first locks the account row, so
//! two concurrent orders of one account can never both spend the same cash.

use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use raptor_domain::orders::{OrderClass, OrderStatus, OrderType, Side, TimeInForce, Trail};
use rust_decimal::Decimal;

use crate::decimal::DbDecimal;
use crate::engine::Db;
use crate::error::StoreError;
use crate::trade_updates::{self, Event, FillFacts};
use crate::tx::Tx;

/// A paper account.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Account {
    /// Row id.
    pub id: i64,
    /// Owner.
    pub user_id: i64,
    /// ISO 4217 code.
    pub currency: String,
    /// Cash.
    pub cash: DbDecimal,
    /// Cash at opening (for P&L).
    pub starting_cash: DbDecimal,
}

const ACCOUNT_COLUMNS: &str = "id, user_id, currency, cash, starting_cash";

/// A user's account.
pub async fn account_of_user(db: &Db, user_id: i64) -> Result<Option<Account>, StoreError> {
    let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM paper_accounts WHERE user_id = $1");
    Ok(on_pool!(db, pool => sqlx::query_as(&sql).bind(user_id).fetch_optional(pool).await?))
}

/// An account locked for an order, with what the order's checks need of it, read in the
/// same statement as the lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TradingAccount {
    /// The account.
    pub account: Account,
    /// Whether its kill switch is on.
    pub kill_switch: bool,
    /// How many of its orders have not ended (working, or legs held for their entry).
    pub pending_orders: i64,
    /// Its position in the order's symbol.
    pub position: Option<Position>,
}

#[derive(sqlx::FromRow)]
struct TradingAccountRow {
    #[sqlx(flatten)]
    account: Account,
    kill_switch: bool,
    pending_orders: i64,
    held_qty: Option<DbDecimal>,
    held_avg_entry_price: Option<DbDecimal>,
    held_cost_basis: Option<DbDecimal>,
}

/// [`lock_account`] for an order in `symbol`, and its kill switch, count of orders that have
/// not ended and position in `symbol`: read in one statement once the account is locked (on
/// SQLite it already is).
pub async fn lock_trading_account(
    tx: &mut Tx,
    account_id: i64,
    symbol: &str,
) -> Result<TradingAccount, StoreError> {
    let pending = &*PENDING_STATUSES;
    let held = |column: &str| {
        format!(
            "(SELECT {column} FROM positions WHERE account_id = paper_accounts.id AND symbol = $2) \
             AS held_{column}"
        )
    };
    let sql = format!(
        "SELECT {ACCOUNT_COLUMNS}, COALESCE((SELECT kill_switch FROM trading_runtime_state \
         WHERE account_id = paper_accounts.id), FALSE) AS kill_switch, \
         (SELECT count(*) FROM paper_orders WHERE account_id = paper_accounts.id \
         AND status IN {pending}) AS pending_orders, {}, {}, {} \
         FROM paper_accounts WHERE id = $1",
        held("qty"),
        held("avg_entry_price"),
        held("cost_basis"),
    );
    if tx.dialect().locks_rows() {
        lock_account(tx, account_id).await?;
    }
    let row: TradingAccountRow = on_tx!(tx, t => {
        sqlx::query_as(&sql).bind(account_id).bind(symbol).fetch_one(&mut **t).await?
    });
    let position = match (row.held_qty, row.held_avg_entry_price, row.held_cost_basis) {
        (Some(qty), Some(avg_entry_price), Some(cost_basis)) => Some(Position {
            symbol: symbol.to_owned(),
            qty,
            avg_entry_price,
            cost_basis,
        }),
        _ => None,
    };
    Ok(TradingAccount {
        account: row.account,
        kill_switch: row.kill_switch,
        pending_orders: row.pending_orders,
        position,
    })
}

/// Reads an account inside a transaction and holds it until commit. PostgreSQL needs an
/// explicit row lock; SQLite's `BEGIN IMMEDIATE` already holds the database's write lock.
pub async fn lock_account(tx: &mut Tx, account_id: i64) -> Result<Account, StoreError> {
    let sql = format!(
        "SELECT {ACCOUNT_COLUMNS} FROM paper_accounts WHERE id = $1{}",
        tx.dialect().row_lock()
    );
    let account = on_tx!(tx, t => sqlx::query_as(&sql).bind(account_id).fetch_one(&mut **t).await?);
    Ok(account)
}

/// Sets an account's cash.
pub async fn set_cash(
    tx: &mut Tx,
    account_id: i64,
    cash: Decimal,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    on_tx!(tx, t => {
        sqlx::query("UPDATE paper_accounts SET cash = $1, updated_at = $2 WHERE id = $3")
            .bind(DbDecimal(cash))
            .bind(now)
            .bind(account_id)
            .execute(&mut **t)
            .await?;
    });
    Ok(())
}

/// An order as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow, serde::Serialize, serde::Deserialize)]
pub struct Order {
    /// Row id.
    pub id: i64,
    /// Account.
    pub account_id: i64,
    /// The client's id (generated when the client gave none).
    pub client_order_id: String,
    /// Ticker.
    pub symbol: String,
    /// Buy or sell.
    #[sqlx(try_from = "String")]
    pub side: Side,
    /// Market, limit, stop, stop-limit.
    #[sqlx(rename = "type", try_from = "String")]
    pub order_type: OrderType,
    /// Day, GTC, IOC, FOK.
    #[sqlx(try_from = "String")]
    pub time_in_force: TimeInForce,
    /// Quantity (None for notional orders until filled).
    pub qty: Option<DbDecimal>,
    /// Amount of money (notional orders).
    pub notional: Option<DbDecimal>,
    /// Limit price.
    pub limit_price: Option<DbDecimal>,
    /// Stop price.
    pub stop_price: Option<DbDecimal>,
    /// Alpaca-style status.
    #[sqlx(try_from = "String")]
    pub status: OrderStatus,
    /// Filled quantity.
    pub filled_qty: DbDecimal,
    /// Average fill price.
    pub filled_avg_price: Option<DbDecimal>,
    /// Why it was rejected or expired.
    pub reject_reason: Option<String>,
    /// Submission time.
    pub submitted_at: DateTime<Utc>,
    /// Fill time.
    pub filled_at: Option<DateTime<Utc>>,
    /// Cancel time.
    pub canceled_at: Option<DateTime<Utc>>,
    /// Expiry time.
    pub expired_at: Option<DateTime<Utc>>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// The order this one replaced.
    pub replaces: Option<i64>,
    /// The order that replaced this one.
    pub replaced_by: Option<i64>,
    /// When it was replaced.
    pub replaced_at: Option<DateTime<Utc>>,
    /// Simple, or a parent or leg of a bracket, OCO or OTO order.
    #[sqlx(try_from = "String")]
    pub order_class: OrderClass,
    /// The parent, for a leg.
    pub parent_id: Option<i64>,
    /// A trailing stop's distance in money…
    pub trail_price: Option<DbDecimal>,
    /// …or in percent.
    pub trail_percent: Option<DbDecimal>,
    /// A trailing stop's best price so far…
    pub hwm: Option<DbDecimal>,
    /// …up to the bar that began then (None: none yet since it was placed).
    pub hwm_at: Option<DateTime<Utc>>,
    /// Whether it may fill outside the regular session.
    pub extended_hours: bool,
}

impl Order {
    /// A trailing stop's trail.
    pub fn trail(&self) -> Option<Trail> {
        match (self.trail_price, self.trail_percent) {
            (Some(price), _) => Some(Trail::Price(price.0)),
            (None, Some(percent)) => Some(Trail::Percent(percent.0)),
            (None, None) => None,
        }
    }
}

/// An order's columns. A replaced order is stored as `canceled` (it holds nothing and can no
/// longer fill) and read as `replaced`.
const ORDER_COLUMNS: &str = "id, account_id, client_order_id, symbol, side, type, time_in_force, \
    qty, notional, limit_price, stop_price, \
    CASE WHEN replaced_by IS NULL THEN status ELSE 'replaced' END AS status, filled_qty, \
    filled_avg_price, reject_reason, submitted_at, filled_at, canceled_at, expired_at, \
    updated_at, replaces, replaced_by, replaced_at, order_class, parent_id, trail_price, \
    trail_percent, hwm, hwm_at, extended_hours";

/// An order to store.
#[derive(Debug, Clone)]
pub struct NewOrder<'a> {
    /// Account.
    pub account_id: i64,
    /// Client id.
    pub client_order_id: &'a str,
    /// Ticker.
    pub symbol: &'a str,
    /// Side.
    pub side: Side,
    /// Type.
    pub order_type: OrderType,
    /// Time in force.
    pub time_in_force: TimeInForce,
    /// Quantity.
    pub qty: Option<Decimal>,
    /// Notional.
    pub notional: Option<Decimal>,
    /// Limit price.
    pub limit_price: Option<Decimal>,
    /// Stop price.
    pub stop_price: Option<Decimal>,
    /// Initial status (`new`, or `canceled` when it could not rest).
    pub status: OrderStatus,
    /// Why it was rejected.
    pub reject_reason: Option<&'a str>,
    /// The order it replaces.
    pub replaces: Option<i64>,
    /// Simple, or a parent or leg of a bracket, OCO or OTO order.
    pub order_class: OrderClass,
    /// The parent, for a leg.
    pub parent_id: Option<i64>,
    /// A trailing stop's trail.
    pub trail: Option<Trail>,
    /// A trailing stop's best price so far (the price when placed).
    pub hwm: Option<Decimal>,
    /// Whether it may fill in extended hours.
    pub extended_hours: bool,
    /// Set when it fills on submission: it is stored filled, and the caller must then record
    /// the fill ([`record_fill`]) and move the cash and position in the same transaction.
    pub fill: Option<Execution>,
}

/// A complete fill: quantity and price.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Execution {
    /// Quantity filled.
    pub qty: Decimal,
    /// Price filled at.
    pub price: Decimal,
}

/// Stores an order and records it as `new` (and `canceled` when it is stored so; a fill on
/// submission is recorded by [`record_fill`], with the position it left). An order
/// that replaces another (already ended as [`OrderStatus::Replaced`] in the same transaction)
/// names it, and the other is marked and recorded `replaced` first. A repeated client order id
/// is a unique violation.
pub async fn insert_order(
    tx: &mut Tx,
    o: &NewOrder<'_>,
    now: DateTime<Utc>,
) -> Result<Order, StoreError> {
    let sql = format!(
        "INSERT INTO paper_orders (account_id, client_order_id, symbol, side, type, time_in_force, \
         qty, notional, limit_price, stop_price, status, filled_qty, reject_reason, created_at, \
         submitted_at, updated_at, replaces, order_class, parent_id, trail_price, trail_percent, \
         hwm, extended_hours, filled_avg_price, filled_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, \
         $9, $10, $11, $12, $13, $14, $14, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23) \
         RETURNING {ORDER_COLUMNS}"
    );
    let order: Order = on_tx!(tx, t => {
        sqlx::query_as(&sql)
            .bind(o.account_id)
            .bind(o.client_order_id)
            .bind(o.symbol)
            .bind(o.side.as_str())
            .bind(o.order_type.as_str())
            .bind(o.time_in_force.as_str())
            .bind(o.qty.map(DbDecimal))
            .bind(o.notional.map(DbDecimal))
            .bind(o.limit_price.map(DbDecimal))
            .bind(o.stop_price.map(DbDecimal))
            .bind(if o.fill.is_some() { OrderStatus::Filled } else { o.status }.as_str())
            .bind(DbDecimal(o.fill.map_or(Decimal::ZERO, |f| f.qty)))
            .bind(o.reject_reason)
            .bind(now)
            .bind(o.replaces)
            .bind(o.order_class.as_str())
            .bind(o.parent_id)
            .bind(match o.trail { Some(Trail::Price(p)) => Some(DbDecimal(p)), _ => None })
            .bind(match o.trail { Some(Trail::Percent(p)) => Some(DbDecimal(p)), _ => None })
            .bind(o.hwm.map(DbDecimal))
            .bind(o.extended_hours)
            .bind(o.fill.map(|f| DbDecimal(f.price)))
            .bind(o.fill.map(|_| now))
            .fetch_one(&mut **t)
            .await?
    });
    if let Some(old) = o.replaces {
        // The old order ends before the new one begins, in its updates too.
        mark_replaced(tx, old, order.id, now).await?;
    }
    if matches!(order.status, OrderStatus::Canceled | OrderStatus::Filled) {
        // Refused on submission (IOC, FOK), or filled: announced as accepted first, as Alpaca
        // does; then canceled here, or filled by [`record_fill`].
        let accepted = Order {
            status: OrderStatus::New,
            canceled_at: None,
            reject_reason: None,
            filled_qty: DbDecimal(Decimal::ZERO),
            filled_avg_price: None,
            filled_at: None,
            ..order.clone()
        };
        trade_updates::record(tx, Event::New, &accepted, now, None)?;
        if order.status == OrderStatus::Canceled {
            trade_updates::record(tx, Event::Canceled, &order, now, None)?;
        }
    } else if order.status != OrderStatus::Held {
        // A held leg is announced when its parent fills and it begins to work.
        trade_updates::record(tx, Event::New, &order, now, None)?;
    }
    Ok(order)
}

/// Sets the legs an order held to work from `at` (its parent filled then), and records each
/// as `new`.
pub async fn release_legs(
    tx: &mut Tx,
    parent_id: i64,
    at: DateTime<Utc>,
) -> Result<Vec<Order>, StoreError> {
    let sql = format!(
        "UPDATE paper_orders SET status = 'new', submitted_at = $1, updated_at = $1 \
         WHERE parent_id = $2 AND status = 'held' RETURNING {ORDER_COLUMNS}"
    );
    let released: Vec<Order> = on_tx!(tx, t => {
        sqlx::query_as(&sql).bind(at).bind(parent_id).fetch_all(&mut **t).await?
    });
    for leg in &released {
        trade_updates::record(tx, Event::New, leg, at, None)?;
    }
    Ok(released)
}

/// The orders of `order`'s group (its parent and every leg, itself included) that have not
/// ended, inside the transaction that holds the account's lock.
pub async fn pending_group_in(tx: &mut Tx, order: &Order) -> Result<Vec<Order>, StoreError> {
    let root = order.parent_id.unwrap_or(order.id);
    let pending = &*PENDING_STATUSES;
    let sql = format!(
        "SELECT {ORDER_COLUMNS} FROM paper_orders WHERE account_id = $1 \
         AND (id = $2 OR parent_id = $2) AND status IN {pending} ORDER BY id"
    );
    Ok(on_tx!(tx, t => {
        sqlx::query_as(&sql).bind(order.account_id).bind(root).fetch_all(&mut **t).await?
    }))
}

/// Where a trailing stop has walked to: its best price after the bars up to the one that
/// began at `through`, and the stop that follows from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrailMark {
    /// The best price.
    pub hwm: Decimal,
    /// The stop.
    pub stop: Decimal,
    /// The start of the last bar walked.
    pub through: DateTime<Utc>,
}

/// The legs of the account's orders `parents`, oldest first.
pub async fn legs_of(db: &Db, account_id: i64, parents: &[i64]) -> Result<Vec<Order>, StoreError> {
    if parents.is_empty() {
        return Ok(Vec::new());
    }
    let list = (0..parents.len())
        .map(|i| format!("${}", i + 2))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "SELECT {ORDER_COLUMNS} FROM paper_orders WHERE account_id = $1 AND parent_id IN ({list}) \
         ORDER BY id"
    );
    Ok(on_pool!(db, pool => {
        let mut q = sqlx::query_as(&sql).bind(account_id);
        for id in parents {
            q = q.bind(id);
        }
        q.fetch_all(pool).await?
    }))
}

/// Moves a working trailing stop's best price and stop (no update is recorded: Alpaca sends
/// none either).
pub async fn move_trail(
    tx: &mut Tx,
    id: i64,
    mark: TrailMark,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let open = &*OPEN_STATUSES;
    let sql = format!(
        "UPDATE paper_orders SET hwm = $1, stop_price = $2, hwm_at = $3, updated_at = $4 \
         WHERE id = $5 AND status IN {open}"
    );
    on_tx!(tx, t => {
        sqlx::query(&sql)
            .bind(DbDecimal(mark.hwm))
            .bind(DbDecimal(mark.stop))
            .bind(mark.through)
            .bind(now)
            .bind(id)
            .execute(&mut **t)
            .await?;
    });
    Ok(())
}

/// An order of an account, by id.
pub async fn order(db: &Db, account_id: i64, id: i64) -> Result<Option<Order>, StoreError> {
    let sql = format!("SELECT {ORDER_COLUMNS} FROM paper_orders WHERE account_id = $1 AND id = $2");
    Ok(
        on_pool!(db, pool => sqlx::query_as(&sql).bind(account_id).bind(id).fetch_optional(pool).await?),
    )
}

/// An order inside a transaction (after the account is locked).
pub async fn order_in(tx: &mut Tx, account_id: i64, id: i64) -> Result<Option<Order>, StoreError> {
    let sql = format!("SELECT {ORDER_COLUMNS} FROM paper_orders WHERE account_id = $1 AND id = $2");
    Ok(
        on_tx!(tx, t => sqlx::query_as(&sql).bind(account_id).bind(id).fetch_optional(&mut **t).await?),
    )
}

/// An order of an account, by client order id.
pub async fn order_by_client_id(
    db: &Db,
    account_id: i64,
    client_order_id: &str,
) -> Result<Option<Order>, StoreError> {
    let sql = format!(
        "SELECT {ORDER_COLUMNS} FROM paper_orders WHERE account_id = $1 AND client_order_id = $2"
    );
    Ok(on_pool!(db, pool => {
        sqlx::query_as(&sql).bind(account_id).bind(client_order_id).fetch_optional(pool).await?
    }))
}

/// Which orders to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderFilter {
    /// Still working.
    Open,
    /// Done: filled, canceled, expired, rejected.
    Closed,
    /// Everything.
    All,
}

/// `('new', 'accepted', 'partially_filled')`: the SQL list of open statuses, built from the
/// domain's one definition ([`OrderStatus::is_open`]).
static OPEN_STATUSES: LazyLock<String> = LazyLock::new(|| {
    let quoted: Vec<String> = OrderStatus::open().map(|s| format!("'{s}'")).collect();
    format!("({})", quoted.join(", "))
});

/// Open statuses and `held`: orders that have not ended ([`OrderStatus::is_pending`]).
pub(crate) static PENDING_STATUSES: LazyLock<String> = LazyLock::new(|| {
    let quoted: Vec<String> = OrderStatus::ALL
        .iter()
        .filter(|s| s.is_pending())
        .map(|s| format!("'{s}'"))
        .collect();
    format!("({})", quoted.join(", "))
});

/// Which of an account's orders to list, and in what order.
#[derive(Debug, Clone)]
pub struct OrderQuery<'a> {
    /// Open, closed or all.
    pub filter: OrderFilter,
    /// Only these tickers (empty: all).
    pub symbols: &'a [String],
    /// Only this side.
    pub side: Option<Side>,
    /// Only orders submitted after this time.
    pub after: Option<DateTime<Utc>>,
    /// Only orders submitted until this time.
    pub until: Option<DateTime<Utc>>,
    /// Oldest first instead of newest first.
    pub ascending: bool,
    /// At most this many.
    pub limit: i64,
}

impl<'a> OrderQuery<'a> {
    /// The newest `limit` orders passing `filter`, of any symbol and side.
    pub fn newest(filter: OrderFilter, limit: i64) -> Self {
        Self {
            filter,
            symbols: &[],
            side: None,
            after: None,
            until: None,
            ascending: false,
            limit,
        }
    }
}

/// An account's orders as `query` asks.
pub async fn orders(
    db: &Db,
    account_id: i64,
    query: &OrderQuery<'_>,
) -> Result<Vec<Order>, StoreError> {
    // Held legs are listed with the open orders, as Alpaca lists them.
    let open = &*PENDING_STATUSES;
    let status = match query.filter {
        OrderFilter::Open => format!(" AND status IN {open}"),
        OrderFilter::Closed => format!(" AND status NOT IN {open}"),
        OrderFilter::All => String::new(),
    };
    let symbol_list = (0..query.symbols.len())
        .map(|i| format!("${}", i + 6))
        .collect::<Vec<_>>()
        .join(", ");
    let symbol_filter = if query.symbols.is_empty() {
        String::new()
    } else {
        format!(" AND symbol IN ({symbol_list})")
    };
    let direction = if query.ascending { "ASC" } else { "DESC" };
    let sql = format!(
        "SELECT {ORDER_COLUMNS} FROM paper_orders WHERE account_id = $1{status}{symbol_filter} \
         AND ($3 IS NULL OR side = $3) AND ($4 IS NULL OR submitted_at > $4) \
         AND ($5 IS NULL OR submitted_at <= $5) \
         ORDER BY submitted_at {direction}, id {direction} LIMIT $2"
    );
    Ok(on_pool!(db, pool => {
        let mut q = sqlx::query_as(&sql)
            .bind(account_id)
            .bind(query.limit)
            .bind(query.side.map(Side::as_str))
            .bind(query.after)
            .bind(query.until);
        for symbol in query.symbols {
            q = q.bind(symbol);
        }
        q.fetch_all(pool).await?
    }))
}

/// An account's working orders inside a transaction (to reserve their cash).
pub async fn open_orders_in(tx: &mut Tx, account_id: i64) -> Result<Vec<Order>, StoreError> {
    let open = &*OPEN_STATUSES;
    let sql = format!(
        "SELECT {ORDER_COLUMNS} FROM paper_orders WHERE account_id = $1 AND status IN {open}"
    );
    Ok(on_tx!(tx, t => sqlx::query_as(&sql).bind(account_id).fetch_all(&mut **t).await?))
}

/// Every working order on a symbol, oldest first (for the trading runtime).
pub async fn open_orders_for_symbol(db: &Db, symbol: &str) -> Result<Vec<Order>, StoreError> {
    let open = &*OPEN_STATUSES;
    let sql = format!(
        "SELECT {ORDER_COLUMNS} FROM paper_orders WHERE symbol = $1 AND status IN {open} \
         ORDER BY submitted_at, id"
    );
    Ok(on_pool!(db, pool => sqlx::query_as(&sql).bind(symbol).fetch_all(pool).await?))
}

/// Symbols with working orders (for the trading runtime).
pub async fn symbols_with_open_orders(db: &Db) -> Result<Vec<String>, StoreError> {
    let open = &*OPEN_STATUSES;
    let sql =
        format!("SELECT DISTINCT symbol FROM paper_orders WHERE status IN {open} ORDER BY symbol");
    Ok(on_pool!(db, pool => sqlx::query_scalar(&sql).fetch_all(pool).await?))
}

/// Marks a working order completely filled: status, quantity, price and time; the order as
/// filled. [`record_fill`] then records the fill.
pub async fn fill_order(
    tx: &mut Tx,
    order: &Order,
    qty: Decimal,
    price: Decimal,
    at: DateTime<Utc>,
) -> Result<Order, StoreError> {
    let sql = format!(
        // A notional order keeps its notional and no qty (the schema holds exactly one); what
        // it bought is its filled_qty.
        "UPDATE paper_orders SET status = 'filled', filled_qty = $1, \
         filled_avg_price = $2, filled_at = $3, updated_at = $3 WHERE id = $4 \
         RETURNING {ORDER_COLUMNS}"
    );
    Ok(on_tx!(tx, t => {
        sqlx::query_as(&sql)
            .bind(DbDecimal(qty))
            .bind(DbDecimal(price))
            .bind(at)
            .bind(order.id)
            .fetch_one(&mut **t)
            .await?
    }))
}

/// Records the fill of an order stored filled (by [`fill_order`], or by [`insert_order`] when
/// it filled on submission): the fill row, and the `fill` update with the position the fill left
/// (`position_qty`).
pub async fn record_fill(
    tx: &mut Tx,
    filled: &Order,
    fill: Execution,
    at: DateTime<Utc>,
    position_qty: Decimal,
) -> Result<(), StoreError> {
    let fill_id: i64 = on_tx!(tx, t => {
        sqlx::query_scalar(
            "INSERT INTO paper_fills (order_id, account_id, symbol, side, qty, price, filled_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        )
        .bind(filled.id)
        .bind(filled.account_id)
        .bind(&filled.symbol)
        .bind(filled.side.as_str())
        .bind(DbDecimal(fill.qty))
        .bind(DbDecimal(fill.price))
        .bind(at)
        .fetch_one(&mut **t)
        .await?
    });
    let facts = FillFacts {
        fill_id,
        qty: fill.qty,
        price: fill.price,
        position_qty,
    };
    trade_updates::record(tx, Event::Fill, filled, at, Some(facts))
}

/// How a working order ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// Canceled by its owner.
    Canceled,
    /// A day order past its close.
    Expired,
    /// Refused at fill time.
    Rejected,
    /// Replaced by a new order: stored as canceled, recorded `replaced` by [`insert_order`]
    /// once the new order exists.
    Replaced,
}

/// Ends a working order and records the update; false when it was no longer working.
pub async fn end_order(
    tx: &mut Tx,
    id: i64,
    ending: Ending,
    reason: Option<&str>,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let open = &*PENDING_STATUSES;
    let sql = format!(
        "UPDATE paper_orders SET status = $1, reject_reason = COALESCE($2, reject_reason), \
         canceled_at = CASE WHEN $1 = 'canceled' THEN $3 ELSE canceled_at END, \
         expired_at = CASE WHEN $1 = 'expired' THEN $3 ELSE expired_at END, updated_at = $3 \
         WHERE id = $4 AND status IN {open} RETURNING {ORDER_COLUMNS}"
    );
    let (stored, event) = match ending {
        Ending::Replaced => (OrderStatus::Canceled, None),
        Ending::Expired => (OrderStatus::Expired, Some(Event::Expired)),
        Ending::Rejected => (OrderStatus::Rejected, Some(Event::Rejected)),
        Ending::Canceled => (OrderStatus::Canceled, Some(Event::Canceled)),
    };
    let ended: Option<Order> = on_tx!(tx, t => {
        sqlx::query_as(&sql).bind(stored.as_str()).bind(reason).bind(now).bind(id).fetch_optional(&mut **t).await?
    });
    let Some(ended) = ended else {
        return Ok(false);
    };
    if let Some(event) = event {
        trade_updates::record(tx, event, &ended, now, None)?;
    }
    Ok(true)
}

/// Names the order that replaced `id` and records the `replaced` update.
async fn mark_replaced(
    tx: &mut Tx,
    id: i64,
    by: i64,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let sql = format!(
        "UPDATE paper_orders SET replaced_by = $1, replaced_at = $2, updated_at = $2 \
         WHERE id = $3 RETURNING {ORDER_COLUMNS}"
    );
    let replaced: Order = on_tx!(tx, t => {
        sqlx::query_as(&sql).bind(by).bind(now).bind(id).fetch_one(&mut **t).await?
    });
    trade_updates::record(tx, Event::Replaced, &replaced, now, None)
}

/// A holding.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Position {
    /// Ticker.
    pub symbol: String,
    /// Quantity held.
    pub qty: DbDecimal,
    /// Average entry price.
    pub avg_entry_price: DbDecimal,
    /// Total cost of what is held.
    pub cost_basis: DbDecimal,
}

/// A position inside a transaction.
pub async fn position_in(
    tx: &mut Tx,
    account_id: i64,
    symbol: &str,
) -> Result<Option<Position>, StoreError> {
    Ok(on_tx!(tx, t => {
        sqlx::query_as("SELECT symbol, qty, avg_entry_price, cost_basis FROM positions WHERE account_id = $1 AND symbol = $2")
            .bind(account_id)
            .bind(symbol)
            .fetch_optional(&mut **t)
            .await?
    }))
}

/// An account's positions by symbol.
pub async fn positions(db: &Db, account_id: i64) -> Result<Vec<Position>, StoreError> {
    Ok(on_pool!(db, pool => {
        sqlx::query_as("SELECT symbol, qty, avg_entry_price, cost_basis FROM positions WHERE account_id = $1 ORDER BY symbol")
            .bind(account_id)
            .fetch_all(pool)
            .await?
    }))
}

/// Writes a position; a zero quantity removes it.
pub async fn save_position(
    tx: &mut Tx,
    account_id: i64,
    p: &Position,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    on_tx!(tx, t => {
        if p.qty.0.is_zero() {
            sqlx::query("DELETE FROM positions WHERE account_id = $1 AND symbol = $2")
                .bind(account_id)
                .bind(&p.symbol)
                .execute(&mut **t)
                .await?;
        } else {
            sqlx::query(
                "INSERT INTO positions (account_id, symbol, qty, avg_entry_price, cost_basis, created_at, \
                 updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6) ON CONFLICT (account_id, symbol) DO UPDATE \
                 SET qty = excluded.qty, avg_entry_price = excluded.avg_entry_price, \
                 cost_basis = excluded.cost_basis, updated_at = excluded.updated_at",
            )
            .bind(account_id)
            .bind(&p.symbol)
            .bind(p.qty)
            .bind(p.avg_entry_price)
            .bind(p.cost_basis)
            .bind(now)
            .execute(&mut **t)
            .await?;
        }
    });
    Ok(())
}

/// The kill switch: whether it is on, why, since when.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct KillSwitch {
    /// On or off.
    pub kill_switch: bool,
    /// Why.
    pub kill_switch_reason: Option<String>,
    /// Since when.
    pub kill_switch_set_at: Option<DateTime<Utc>>,
}

/// An account's kill switch.
pub async fn kill_switch(db: &Db, account_id: i64) -> Result<KillSwitch, StoreError> {
    let row: Option<KillSwitch> = on_pool!(db, pool => {
        sqlx::query_as("SELECT kill_switch, kill_switch_reason, kill_switch_set_at FROM trading_runtime_state WHERE account_id = $1")
            .bind(account_id)
            .fetch_optional(pool)
            .await?
    });
    Ok(row.unwrap_or(KillSwitch {
        kill_switch: false,
        kill_switch_reason: None,
        kill_switch_set_at: None,
    }))
}

/// Turns an account's kill switch on or off.
pub async fn set_kill_switch(
    tx: &mut Tx,
    account_id: i64,
    on: bool,
    reason: Option<&str>,
    by: i64,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    on_tx!(tx, t => {
        sqlx::query(
            "INSERT INTO trading_runtime_state (account_id, kill_switch, kill_switch_reason, \
             kill_switch_set_at, kill_switch_set_by_user_id, updated_at) VALUES ($1, $2, $3, $4, $5, $4) \
             ON CONFLICT (account_id) DO UPDATE SET kill_switch = excluded.kill_switch, \
             kill_switch_reason = excluded.kill_switch_reason, kill_switch_set_at = excluded.kill_switch_set_at, \
             kill_switch_set_by_user_id = excluded.kill_switch_set_by_user_id, updated_at = excluded.updated_at",
        )
        .bind(account_id)
        .bind(on)
        .bind(reason)
        .bind(now)
        .bind(by)
        .execute(&mut **t)
        .await?;
    });
    Ok(())
}

/// A fill as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Fill {
    /// The fill's row id.
    pub id: i64,
    /// The order it filled.
    pub order_id: i64,
    /// Ticker.
    pub symbol: String,
    /// Buy or sell.
    #[sqlx(try_from = "String")]
    pub side: Side,
    /// Quantity filled.
    pub qty: DbDecimal,
    /// Price filled at.
    pub price: DbDecimal,
    /// When.
    pub filled_at: DateTime<Utc>,
}

const FILL_COLUMNS: &str = "id, order_id, symbol, side, qty, price, filled_at";

/// An account's fills after `after`, oldest first.
pub async fn fills_after(
    db: &Db,
    account_id: i64,
    after: DateTime<Utc>,
) -> Result<Vec<Fill>, StoreError> {
    let sql = format!(
        "SELECT {FILL_COLUMNS} FROM paper_fills \
         WHERE account_id = $1 AND filled_at > $2 ORDER BY filled_at, id"
    );
    Ok(on_pool!(db, pool => {
        sqlx::query_as(&sql)
        .bind(account_id)
        .bind(after)
        .fetch_all(pool)
        .await?
    }))
}

/// Empties an account for a fresh start: its orders, fills and positions are deleted and its
/// cash and starting cash set to `cash`. The caller locks the account first.
pub async fn reset(
    tx: &mut Tx,
    account_id: i64,
    cash: Decimal,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    on_tx!(tx, t => {
        for table in ["trade_updates", "paper_fills", "positions", "paper_orders"] {
            sqlx::query(&format!("DELETE FROM {table} WHERE account_id = $1"))
                .bind(account_id)
                .execute(&mut **t)
                .await?;
        }
        sqlx::query(
            "UPDATE paper_accounts SET cash = $1, starting_cash = $1, updated_at = $2 WHERE id = $3",
        )
        .bind(DbDecimal(cash))
        .bind(now)
        .bind(account_id)
        .execute(&mut **t)
        .await?;
    });
    Ok(())
}

/// Which of an account's fills to page through.
#[derive(Debug, Clone, Copy)]
pub struct FillPage {
    /// Only fills after this time.
    pub after: Option<DateTime<Utc>>,
    /// Only fills until this time.
    pub until: Option<DateTime<Utc>>,
    /// Resume past this fill (its time and id), in the page's direction.
    pub past: Option<(DateTime<Utc>, i64)>,
    /// Oldest first instead of newest first.
    pub ascending: bool,
    /// At most this many.
    pub limit: i64,
}

/// A page of an account's fills.
pub async fn fill_page(db: &Db, account_id: i64, page: FillPage) -> Result<Vec<Fill>, StoreError> {
    let (direction, beyond) = if page.ascending {
        ("ASC", ">")
    } else {
        ("DESC", "<")
    };
    let sql = format!(
        "SELECT {FILL_COLUMNS} FROM paper_fills \
         WHERE account_id = $1 AND ($2 IS NULL OR filled_at > $2) \
         AND ($3 IS NULL OR filled_at <= $3) \
         AND ($4 IS NULL OR filled_at {beyond} $4 OR (filled_at = $4 AND id {beyond} $5)) \
         ORDER BY filled_at {direction}, id {direction} LIMIT $6"
    );
    Ok(on_pool!(db, pool => {
        sqlx::query_as(&sql)
            .bind(account_id)
            .bind(page.after)
            .bind(page.until)
            .bind(page.past.map(|p| p.0))
            .bind(page.past.map(|p| p.1))
            .bind(page.limit)
            .fetch_all(pool)
            .await?
    }))
}

/// When an account was opened.
pub async fn opened_at(db: &Db, account_id: i64) -> Result<DateTime<Utc>, StoreError> {
    Ok(on_pool!(db, pool => {
        sqlx::query_scalar("SELECT created_at FROM paper_accounts WHERE id = $1")
            .bind(account_id)
            .fetch_one(pool)
            .await?
    }))
}
